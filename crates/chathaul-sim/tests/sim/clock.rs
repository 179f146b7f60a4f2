//! The simulated clock: what each vendor serves, and what the truth says, as
//! of an instant; and how moving the clock changes both.

use chathaul_sim::{SimOptions, Simulator, VENDORS};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Shanghai;
use connector_core::{Conversation, Satisfaction, Status};
use serde_json::Value;

use crate::*;

/// A month of chats, busy enough that some are open at any instant.
fn month() -> SimOptions {
    SimOptions {
        conversations: 400,
        days: 30,
        ..SimOptions::default()
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn messages_of(body: &Value) -> Vec<Value> {
    body["chat"]["messages"].as_array().unwrap().clone()
}

/// The final truth (at the default clock) of the demo account.
fn final_truth(opts: &SimOptions, vendor: &str) -> Vec<Conversation> {
    chathaul_sim::truth(opts, vendor).collect()
}

/// Every clock the listing tests look at: before the data, inside long chats,
/// after the last start, and the default.
fn clocks(opts: &SimOptions) -> Vec<DateTime<Utc>> {
    let kf5 = final_truth(opts, "kf5");
    let long = kf5
        .iter()
        .find(|c| c.ended_at.unwrap() - c.created_at.unwrap() >= Duration::days(5))
        .expect("a KF5 chat open five days or more");
    vec![
        at("2023-12-31T00:00:00Z"),
        at("2024-01-03T05:30:00Z"),
        long.created_at.unwrap() + Duration::days(2),
        at("2024-01-17T13:07:11Z"),
        at("2024-01-30T15:00:00Z"),
        at("2024-02-04T00:00:00Z"),
        opts.initial_now(),
    ]
}

#[tokio::test]
async fn every_vendor_serves_its_truth_at_every_clock() {
    let opts = month();
    let sim = sim(opts.clone()).await;
    let mut sizes: Vec<Vec<usize>> = Vec::new();
    for now in clocks(&opts) {
        sim.set_now(now);
        assert_eq!(sim.now(), now);
        let mut row = Vec::new();
        for vendor in VENDORS {
            let truth = sim.truth(vendor);
            assert_eq!(
                truth,
                chathaul_sim::truth_at(&opts, vendor, now).collect::<Vec<_>>(),
                "{vendor} at {now}: the server's truth is the free function's"
            );
            let config = sim.config(vendor);
            let served = list_all(&sim.base_url(vendor), vendor, cred_of(vendor, &config)).await;
            assert_eq!(served, listed_raws(vendor, &truth), "{vendor} at {now}");
            row.push(truth.len());
            // Nothing from after the clock shows.
            for c in &truth {
                assert!(c.created_at.unwrap() <= now, "{vendor} {} at {now}", c.id);
                assert!(c.ended_at.is_none_or(|t| t <= now), "{vendor} {}", c.id);
                let rated = c.rating.as_ref().and_then(|r| r.rated_at);
                assert!(rated.is_none_or(|t| t <= now), "{vendor} {}", c.id);
                assert!(c.messages.iter().all(|m| m.sent_at.unwrap() <= now));
            }
        }
        // KF5 details (open chats and a sample) and Bangwo8 message pages
        // equal the truth's messages.
        let kf5 = sim.truth("kf5");
        for c in kf5
            .iter()
            .filter(|c| c.status == Some(Status::Open))
            .chain(kf5.iter().step_by(25))
        {
            let body = get_json(
                &sim,
                "kf5",
                &format!("/apiv2/chats/{}.json", c.id),
                KF5,
                200,
            )
            .await;
            let raws: Vec<Value> = c.messages.iter().map(|m| m.raw.to_value()).collect();
            assert_eq!(messages_of(&body), raws, "kf5 {} at {now}", c.id);
        }
        for c in sim.truth("bangwo8").iter().step_by(20) {
            let path = format!("/api/v1/imchat/chatrecords/{}.json?per_page=1000", c.id);
            let body = get_json(&sim, "bangwo8", &path, BW8, 200).await;
            let raws: Vec<Value> = c.messages.iter().map(|m| m.raw.to_value()).collect();
            assert_eq!(body["im_chatrecords"]["contents"], Value::Array(raws));
        }
        sizes.push(row);
    }
    // Before the data nothing exists; then the lists only grow; at the
    // default clock every conversation is there.
    assert_eq!(sizes[0], vec![0, 0, 0]);
    for w in sizes.windows(2) {
        assert!(w[0].iter().zip(&w[1]).all(|(a, b)| a <= b), "{sizes:?}");
    }
    assert_eq!(sizes.last().unwrap(), &vec![400, 400, 400]);
    assert!(sizes[3].iter().all(|&n| n > 150 && n < 300), "{sizes:?}");
}

#[tokio::test]
async fn kf5_chats_open_for_days_gain_messages_then_close_and_are_rated_later() {
    let opts = month();
    let truth = final_truth(&opts, "kf5");
    let long: Vec<&Conversation> = truth
        .iter()
        .filter(|c| c.ended_at.unwrap() - c.created_at.unwrap() >= Duration::days(5))
        .collect();
    assert!(long.len() >= 3, "{} chats open 5+ days", long.len());
    // The one with the most messages: its messages are spread over its days.
    let chat = long.iter().max_by_key(|c| c.messages.len()).unwrap();
    let (created, ended) = (chat.created_at.unwrap(), chat.ended_at.unwrap());
    let sent: Vec<DateTime<Utc>> = chat.messages.iter().map(|m| m.sent_at.unwrap()).collect();
    assert!(
        sent.iter().any(|t| *t > created + Duration::days(1))
            && sent.iter().any(|t| *t < created + Duration::days(1)),
        "messages over the chat's days: {sent:?}"
    );
    let sim = sim(SimOptions {
        now: Some(created + Duration::hours(12)),
        ..opts.clone()
    })
    .await;
    let detail = format!("/apiv2/chats/{}.json", chat.id);
    let first = get_json(&sim, "kf5", &detail, KF5, 200).await;
    assert_eq!(first["chat"]["status"], "open");
    assert_eq!(first["chat"]["end_at"], Value::Null);
    assert_eq!(first["chat"]["rating"], Value::Null);
    let early = messages_of(&first);
    // A day later: more messages, the earlier ones unchanged.
    sim.advance(Duration::days(1));
    let later = messages_of(&get_json(&sim, "kf5", &detail, KF5, 200).await);
    assert!(
        later.len() > early.len(),
        "{} then {}",
        early.len(),
        later.len()
    );
    assert_eq!(later[..early.len()], early[..]);
    // The listing shows it open too, and the truth says open.
    let listed = list_all(&sim.base_url("kf5"), "kf5", KF5).await;
    let item = listed.iter().find(|c| text(&c["id"]) == chat.id).unwrap();
    assert_eq!(item["status"], "open");
    let now_truth = sim.truth("kf5");
    let seen = now_truth.iter().find(|c| c.id == chat.id).unwrap();
    assert_eq!(seen.status, Some(Status::Open));
    assert_eq!((seen.ended_at, seen.messages.len()), (None, later.len()));
    // Past its end: closed with every message.
    sim.set_now(ended + Duration::seconds(1));
    let closed = get_json(&sim, "kf5", &detail, KF5, 200).await;
    assert_ne!(closed["chat"]["status"], "open");
    assert_eq!(
        closed["chat"]["end_at"],
        crate::local(ended, Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    );
    assert_eq!(messages_of(&closed).len(), chat.messages.len());

    // Ratings two days or more after the end: null a day after the end,
    // given by the default clock.
    let mut late = Vec::new();
    for c in truth
        .iter()
        .filter(|c| c.raw.field("rating").is_some_and(|r| !r.is_null()))
    {
        sim.set_now(c.ended_at.unwrap() + Duration::days(1));
        let body = get_json(
            &sim,
            "kf5",
            &format!("/apiv2/chats/{}.json", c.id),
            KF5,
            200,
        )
        .await;
        assert_ne!(body["chat"]["status"], "open", "{}", c.id);
        if body["chat"]["rating"].is_null() {
            late.push(c);
        }
    }
    assert!(
        late.len() >= 10,
        "{} KF5 chats rated two days or more after the end",
        late.len()
    );
    let c = late[0];
    sim.set_now(c.ended_at.unwrap() + Duration::days(1));
    let then = sim.truth("kf5").into_iter().find(|x| x.id == c.id).unwrap();
    assert_eq!(
        then.rating.as_ref().unwrap().satisfaction,
        Satisfaction::Unrated
    );
    assert_eq!(then.raw.field("rating"), Some(Value::Null));
    assert_eq!(then.status, c.status, "closed before it is rated");
    sim.set_now(c.ended_at.unwrap() + Duration::days(6));
    let body = get_json(
        &sim,
        "kf5",
        &format!("/apiv2/chats/{}.json", c.id),
        KF5,
        200,
    )
    .await;
    assert_eq!(Some(body["chat"]["rating"].clone()), c.raw.field("rating"));
}

#[tokio::test]
async fn bangwo8_lists_a_long_session_only_once_it_ended() {
    let opts = month();
    let truth = final_truth(&opts, "bangwo8");
    let long: Vec<&Conversation> = truth
        .iter()
        .filter(|c| {
            c.ended_at
                .is_some_and(|e| e - c.created_at.unwrap() > Duration::days(1))
        })
        .collect();
    assert!(long.len() >= 5, "{} sessions longer than a day", long.len());
    let session = long
        .iter()
        .find(|c| c.summary.is_some() && c.messages.len() > 4)
        .expect("a long session with a summary");
    let (created, ended) = (session.created_at.unwrap(), session.ended_at.unwrap());
    let sim = sim(SimOptions {
        now: Some(created + Duration::hours(20)),
        ..opts.clone()
    })
    .await;
    let ids = |chats: &[Value]| chats.iter().map(|c| text(&c["r_id"])).collect::<Vec<_>>();
    let start_day = crate::local(created, Shanghai).date();
    let day_filter = format!(
        "/api/v1/imchat/histories.json?servicestart_start={start_day}&servicestart_end={start_day}"
    );
    // Going on: not in the history, not on its start day either.
    let all = list_all(&sim.base_url("bangwo8"), "bangwo8", BW8).await;
    assert!(!ids(&all).contains(&session.id));
    let body = get_json(&sim, "bangwo8", &day_filter, BW8, 200).await;
    assert!(!ids(body["chats"].as_array().unwrap()).contains(&session.id));
    assert!(!sim.truth("bangwo8").iter().any(|c| c.id == session.id));
    // Its messages so far can be read by id; its summary is not filled yet.
    let records = format!(
        "/api/v1/imchat/chatrecords/{}.json?per_page=1000",
        session.id
    );
    let so_far = get_json(&sim, "bangwo8", &records, BW8, 200).await;
    let so_far = so_far["im_chatrecords"]["contents"]
        .as_array()
        .unwrap()
        .clone();
    let all_raws: Vec<Value> = session.messages.iter().map(|m| m.raw.to_value()).collect();
    assert!(so_far.len() < all_raws.len());
    assert_eq!(so_far[..], all_raws[..so_far.len()]);
    let summary = format!(
        "/api/v1/servicesummary/{}.json?servicesummary_type=1",
        session.id
    );
    let body = get_json(&sim, "bangwo8", &summary, BW8, 200).await;
    assert_eq!(body["status"], "120002");

    // Ended: listed, on its start day and on its end day, with every message.
    sim.set_now(ended);
    let all = list_all(&sim.base_url("bangwo8"), "bangwo8", BW8).await;
    assert!(ids(&all).contains(&session.id));
    let body = get_json(&sim, "bangwo8", &day_filter, BW8, 200).await;
    assert!(ids(body["chats"].as_array().unwrap()).contains(&session.id));
    let end_day = crate::local(ended, Shanghai).date();
    assert!(end_day > start_day);
    let by_end = format!(
        "/api/v1/imchat/histories.json?serviceend_start={end_day}&serviceend_end={end_day}&per_page=500"
    );
    let body = get_json(&sim, "bangwo8", &by_end, BW8, 200).await;
    assert!(ids(body["chats"].as_array().unwrap()).contains(&session.id));
    let body = get_json(&sim, "bangwo8", &records, BW8, 200).await;
    assert_eq!(body["im_chatrecords"]["contents"], Value::Array(all_raws));
    let body = get_json(&sim, "bangwo8", &summary, BW8, 200).await;
    assert_eq!(body["status"], "200");
}

#[tokio::test]
async fn bangwo8_ratings_come_days_after_the_end() {
    let opts = month();
    let truth = final_truth(&opts, "bangwo8");
    let late: Vec<&Conversation> = truth
        .iter()
        .filter(|c| {
            let r = c.rating.as_ref().unwrap();
            r.rated_at
                .is_some_and(|t| t - c.ended_at.unwrap() >= Duration::days(2))
        })
        .collect();
    assert!(late.len() >= 10, "{} late ratings", late.len());
    let c = late[0];
    let rated = c.rating.as_ref().unwrap().rated_at.unwrap();
    let sim = sim(SimOptions {
        now: Some(c.ended_at.unwrap() + Duration::days(1)),
        ..opts.clone()
    })
    .await;
    let find = |chats: Vec<Value>| {
        chats
            .into_iter()
            .find(|x| text(&x["r_id"]) == c.id)
            .unwrap()
    };
    let before = find(list_all(&sim.base_url("bangwo8"), "bangwo8", BW8).await);
    assert_eq!(text(&before["evaluate"]), "0");
    assert_eq!(
        (
            before["evaluate_time"].as_str(),
            before["evaluate_remark"].as_str()
        ),
        (Some(""), Some(""))
    );
    // Everything else about the session is already final.
    assert_eq!(before["end_time"], c.raw.to_value()["end_time"]);
    assert_eq!(
        before["servicer_msg_count"],
        c.raw.to_value()["servicer_msg_count"]
    );
    sim.set_now(rated);
    let after = find(list_all(&sim.base_url("bangwo8"), "bangwo8", BW8).await);
    assert_eq!(after, c.raw.to_value());
    assert_ne!(text(&after["evaluate"]), "0");
    // Most ratings still come within minutes of the end.
    let rated_all: Vec<&Conversation> = truth
        .iter()
        .filter(|c| c.rating.as_ref().unwrap().rated_at.is_some())
        .collect();
    let soon = rated_all
        .iter()
        .filter(|c| {
            c.rating.as_ref().unwrap().rated_at.unwrap() - c.ended_at.unwrap()
                < Duration::minutes(10)
        })
        .count();
    assert!(
        soon * 2 > rated_all.len(),
        "{soon} of {} rated within minutes",
        rated_all.len()
    );
}

#[tokio::test]
async fn caresoft_lists_a_conversation_once_it_ended() {
    let opts = month();
    let truth = final_truth(&opts, "caresoft");
    let c = truth
        .iter()
        .find(|c| c.ended_at.unwrap() - c.created_at.unwrap() > Duration::minutes(10))
        .unwrap();
    let sim = sim(SimOptions {
        now: Some(c.created_at.unwrap() + Duration::minutes(5)),
        ..opts.clone()
    })
    .await;
    let ty = match c.channel.as_ref().unwrap().as_str() {
        "web" => 0,
        "facebook" => 1,
        _ => 3,
    };
    let by_id = format!(
        "/api/v1/chats?conversation_type={ty}&conversation_id={}",
        c.id
    );
    let body = get_json(&sim, "caresoft", &by_id, CS, 200).await;
    assert_eq!(body["numFound"], 0, "going on: not in the history");
    sim.set_now(c.ended_at.unwrap());
    let body = get_json(&sim, "caresoft", &by_id, CS, 200).await;
    assert_eq!(body["numFound"], 1);
    assert_eq!(body["chats"][0], c.raw.to_value());
}

#[tokio::test]
async fn filters_apply_to_what_the_vendor_shows_at_the_clock() {
    let opts = month();
    let now = at("2024-01-17T13:07:11Z");
    let sim = sim(SimOptions {
        now: Some(now),
        ..opts.clone()
    })
    .await;
    let day = |t: DateTime<Utc>| crate::local(t, Shanghai).date();
    let today = day(now);
    let yesterday = today - chrono::Days::new(1);

    // Bangwo8: sessions that ended by now on those days, and nothing later.
    let truth = sim.truth("bangwo8");
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| c.ended_at.is_some_and(|e| day(e) >= yesterday))
        .map(|c| c.id.as_str())
        .collect();
    assert!(!want.is_empty());
    let path = format!(
        "/api/v1/imchat/histories.json?serviceend_start={yesterday}&serviceend_end={today}&per_page=500"
    );
    let body = get_json(&sim, "bangwo8", &path, BW8, 200).await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["r_id"]))
        .collect();
    assert_eq!(got, want);
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| day(c.created_at.unwrap()) >= yesterday)
        .map(|c| c.id.as_str())
        .collect();
    let path = format!("/api/v1/imchat/histories.json?servicestart_start={yesterday}&per_page=500");
    let body = get_json(&sim, "bangwo8", &path, BW8, 200).await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["r_id"]))
        .collect();
    assert_eq!(got, want);
    assert_eq!(body["count"], want.len());

    // KF5: created on those days by now, open ones included.
    let truth = sim.truth("kf5");
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| day(c.created_at.unwrap()) >= yesterday)
        .map(|c| c.id.as_str())
        .collect();
    let path = format!(
        "/apiv2/chats.json?start={yesterday}&end={}",
        today + chrono::Days::new(5)
    );
    let body = get_json(&sim, "kf5", &path, KF5, 200).await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    assert_eq!(got, want);
    let visitor = truth.last().unwrap().customer.id.clone().unwrap();
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| c.customer.id.as_deref() == Some(visitor.as_str()))
        .map(|c| c.id.as_str())
        .collect();
    let body = get_json(
        &sim,
        "kf5",
        &format!("/apiv2/chats.json?visitor_id={visitor}"),
        KF5,
        200,
    )
    .await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    assert_eq!(got, want);

    // CareSoft: the end-time filter up to a future instant gives what ended by now.
    let truth = sim.truth("caresoft");
    let since = now - Duration::days(1);
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| c.channel.as_ref().unwrap().as_str() == "web" && c.ended_at.unwrap() >= since)
        .map(|c| c.id.as_str())
        .collect();
    assert!(!want.is_empty());
    let path = format!(
        "/api/v1/chats?end_time_since={}&end_time_to=2030-01-01T00:00:00Z&count=500&page=1",
        since.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let body = get_json(&sim, "caresoft", &path, CS, 200).await;
    let got: Vec<&str> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    assert_eq!(body["numFound"], want.len());
}

#[tokio::test]
async fn chats_that_do_not_exist_yet_are_not_found() {
    let opts = month();
    let truth = final_truth(&opts, "kf5");
    let bw = final_truth(&opts, "bangwo8");
    let sim = sim(SimOptions {
        now: Some(truth[200].created_at.unwrap() - Duration::seconds(1)),
        ..opts.clone()
    })
    .await;
    get_json(
        &sim,
        "kf5",
        &format!("/apiv2/chats/{}.json", truth[200].id),
        KF5,
        404,
    )
    .await;
    get_json(
        &sim,
        "kf5",
        &format!("/apiv2/chats/{}.json", truth[199].id),
        KF5,
        200,
    )
    .await;
    sim.set_now(bw[300].created_at.unwrap() - Duration::seconds(1));
    let path = format!("/api/v1/imchat/chatrecords/{}.json", bw[300].id);
    get_json(&sim, "bangwo8", &path, BW8, 404).await;
    sim.advance(Duration::seconds(1));
    get_json(&sim, "bangwo8", &path, BW8, 200).await;
}

#[test]
fn the_default_clock_sees_every_conversation_final() {
    let opts = SimOptions::default();
    assert_eq!(opts.initial_now(), at("2024-04-30T00:00:00Z"));
    let later = opts.initial_now() + Duration::days(1000);
    for vendor in VENDORS {
        let now: Vec<_> = chathaul_sim::truth(&opts, vendor).collect();
        assert_eq!(now.len(), 200, "{vendor}");
        let forever: Vec<_> = chathaul_sim::truth_at(&opts, vendor, later).collect();
        assert_eq!(
            now, forever,
            "{vendor}: nothing changes after the default clock"
        );
        assert!(now.iter().all(|c| c.status != Some(Status::Open)));
    }
    // Most chats are short and final within minutes, as in real accounts.
    for vendor in ["bangwo8", "kf5"] {
        let truth: Vec<_> = chathaul_sim::truth(
            &SimOptions {
                conversations: 2000,
                ..opts.clone()
            },
            vendor,
        )
        .collect();
        let short = truth
            .iter()
            .filter(|c| {
                c.ended_at
                    .is_some_and(|e| e - c.created_at.unwrap() < Duration::hours(1))
            })
            .count();
        assert!(
            short * 100 > truth.len() * 75,
            "{vendor}: {short} of {} under an hour",
            truth.len()
        );
    }
}

#[tokio::test]
async fn the_clock_is_controlled_over_http_without_credentials() {
    let sim = default_sim().await;
    let base = format!("http://{}", sim.addr());
    let post = |path: &str| crate::client().post(format!("{base}{path}")).send();
    let clock = url_json(&format!("{base}/_sim/clock"), Cred::None, 200).await;
    assert_eq!(clock, serde_json::json!({"now": "2024-04-30T00:00:00Z"}));
    let res = post("/_sim/advance?hours=2&minutes=30").await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["now"], "2024-04-30T02:30:00Z");
    assert_eq!(sim.now(), at("2024-04-30T02:30:00Z"));
    let body: Value = post("/_sim/advance?days=-100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["now"], "2024-01-21T02:30:00Z");
    // The vendors see it at once.
    let kf5 = list_all(&sim.base_url("kf5"), "kf5", KF5).await;
    assert_eq!(kf5.len(), sim.truth("kf5").len());
    assert!(kf5.len() < 200);
    let body: Value = post("/_sim/clock?now=2024-02-01T08:00:00%2B08:00")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["now"], "2024-02-01T00:00:00Z");
    let body: Value = post("/_sim/clock?now=2024-03-01")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["now"], "2024-03-01T00:00:00Z");
    // Bad requests say what was wrong.
    for (path, status, needle) in [
        ("/_sim/advance?hours=two", 400, "parameter hours"),
        ("/_sim/advance", 400, "days=, hours="),
        (
            "/_sim/clock?now=2024-03-01T08:00:00",
            400,
            "is not an instant",
        ),
        ("/_sim/clock", 400, "parameter now"),
        ("/_sim/rewind", 404, "no control endpoint /_sim/rewind"),
    ] {
        let res = post(path).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let res = crate::client()
        .get(format!("{base}/_sim/advance?hours=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(
        sim.now(),
        at("2024-03-01T00:00:00Z"),
        "failed calls left the clock alone"
    );
    // Control calls are not vendor requests.
    let stats = sim.stats();
    assert_eq!(stats.requests, stats.per_vendor.values().sum::<u64>());
}

#[test]
fn the_clock_moves_a_blocking_simulator_from_any_thread() {
    let sim = Simulator::start_blocking(SimOptions {
        now: Some(at("2024-01-10T00:00:00Z")),
        ..SimOptions::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = rt
        .block_on(list_all(&sim.base_url("kf5"), "kf5", KF5))
        .len();
    std::thread::scope(|s| {
        s.spawn(|| sim.advance(Duration::days(10)));
    });
    assert_eq!(sim.now(), at("2024-01-20T00:00:00Z"));
    let after = rt
        .block_on(list_all(&sim.base_url("kf5"), "kf5", KF5))
        .len();
    assert!(after > before, "{before} then {after}");
    assert_eq!(after, sim.truth("kf5").len());
    let clock = rt.block_on(url_json(
        &format!("http://{}/_sim/clock", sim.addr()),
        Cred::None,
        200,
    ));
    assert_eq!(clock["now"], "2024-01-20T00:00:00Z");
}
