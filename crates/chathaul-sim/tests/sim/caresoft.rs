use chathaul_sim::SimOptions;
use connector_core::{Channel, Conversation, Status};
use serde_json::Value;

use crate::*;

const LIST: &str = "/api/v1/chats";

fn conv_ids(body: &Value) -> Vec<String> {
    body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap().to_owned())
        .collect()
}

fn ids_where(truth: &[Conversation], f: impl Fn(&Conversation) -> bool) -> Vec<String> {
    truth
        .iter()
        .filter(|c| f(c))
        .map(|c| c.id.clone())
        .collect()
}

fn z(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test]
async fn auth_is_a_bearer_token() {
    let sim = default_sim().await;
    let body = get_json(&sim, "caresoft", LIST, Cred::None, 401).await;
    assert_ne!(body["code"], "OK");
    get_json(&sim, "caresoft", LIST, Cred::Bearer("wrong"), 401).await;
    get_json(
        &sim,
        "caresoft",
        LIST,
        Cred::Basic("demo", "caresoft-demo-token"),
        401,
    )
    .await;
    let body = get_json(&sim, "caresoft", LIST, CS, 200).await;
    assert_eq!(body["code"], "OK");
    assert_eq!(
        sim.config("caresoft"),
        vec![
            ("base_url".to_owned(), sim.base_url("caresoft")),
            ("domain".to_owned(), "demo".to_owned()),
            ("token".to_owned(), "caresoft-demo-token".to_owned()),
        ]
    );
}

#[tokio::test]
async fn live_chat_only_unless_a_type_is_asked_for() {
    let sim = default_sim().await;
    let truth = sim.truth("caresoft");
    let of = |ch: Channel| ids_where(&truth, |c| c.channel == Some(ch.clone()));
    let all = |path: String| {
        let sim = &sim;
        async move {
            let mut out = Vec::new();
            for page in 1.. {
                let body = get_json(
                    sim,
                    "caresoft",
                    &format!("{path}&count=25&page={page}"),
                    CS,
                    200,
                )
                .await;
                let ids = conv_ids(&body);
                if ids.is_empty() {
                    break;
                }
                out.extend(ids);
            }
            out
        }
    };
    let web = all(format!("{LIST}?")).await;
    assert_eq!(web, of(Channel::Web));
    assert_eq!(
        all(format!("{LIST}?conversation_type=0")).await,
        of(Channel::Web)
    );
    assert_eq!(
        all(format!("{LIST}?conversation_type=1")).await,
        of(Channel::Facebook)
    );
    assert_eq!(
        all(format!("{LIST}?conversation_type=3")).await,
        of(Channel::Zalo)
    );
    assert!(!of(Channel::Facebook).is_empty() && !of(Channel::Zalo).is_empty());
    let body = get_json(&sim, "caresoft", LIST, CS, 200).await;
    assert_eq!(body["numFound"], of(Channel::Web).len());
    // A bad value is a non-OK code; a malformed one a 400.
    let body = get_json(
        &sim,
        "caresoft",
        &format!("{LIST}?conversation_type=2"),
        CS,
        200,
    )
    .await;
    assert_eq!(body["code"], "INVALID_PARAMETER");
    let body = get_json(
        &sim,
        "caresoft",
        &format!("{LIST}?conversation_type=zalo"),
        CS,
        400,
    )
    .await;
    assert_ne!(body["code"], "OK");
}

#[tokio::test]
async fn count_is_capped_at_500() {
    let sim = sim(SimOptions {
        conversations: 1200,
        ..SimOptions::default()
    })
    .await;
    let body = get_json(
        &sim,
        "caresoft",
        &format!("{LIST}?count=1000&page=1"),
        CS,
        200,
    )
    .await;
    let found = body["numFound"].as_u64().unwrap();
    assert!(found > 500, "{found} live chats");
    assert_eq!(conv_ids(&body).len(), 500);
    let page2 = get_json(
        &sim,
        "caresoft",
        &format!("{LIST}?count=1000&page=2"),
        CS,
        200,
    )
    .await;
    assert_eq!(conv_ids(&page2).len() as u64, (found - 500).min(500));
    let small = get_json(&sim, "caresoft", &format!("{LIST}?count=7&page=3"), CS, 200).await;
    assert_eq!(conv_ids(&small), conv_ids(&body)[14..21].to_vec());
}

#[tokio::test]
async fn time_filters_are_utc_instants_inclusive_at_both_ends() {
    let sim = default_sim().await;
    let truth = sim.truth("caresoft");
    let web: Vec<&Conversation> = truth
        .iter()
        .filter(|c| c.channel == Some(Channel::Web))
        .collect();
    let (a, b) = (web[5].created_at.unwrap(), web[12].created_at.unwrap());
    let path = format!(
        "{LIST}?start_time_since={}&start_time_to={}&count=500&page=1",
        z(a),
        z(b)
    );
    let body = get_json(&sim, "caresoft", &path, CS, 200).await;
    let want: Vec<String> = web[5..=12].iter().map(|c| c.id.clone()).collect();
    assert_eq!(conv_ids(&body), want, "both ends included");
    // One second inside on each side excludes the ends.
    let inner = chrono::Duration::seconds(1);
    let path = format!(
        "{LIST}?start_time_since={}&start_time_to={}&count=500&page=1",
        z(a + inner),
        z(b - inner)
    );
    let body = get_json(&sim, "caresoft", &path, CS, 200).await;
    assert_eq!(conv_ids(&body), want[1..want.len() - 1].to_vec());
    // The record's local time is Asia/Ho_Chi_Minh: UTC+7.
    let raw = web[5].raw.to_value();
    let local_start = raw["start_time"].as_str().unwrap();
    assert_eq!(
        local(a, chrono_tz::Asia::Ho_Chi_Minh)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        local_start
    );
    let end = web[7].ended_at.unwrap();
    let path = format!(
        "{LIST}?end_time_since={}&end_time_to={}&count=500&page=1",
        z(end),
        z(end)
    );
    let body = get_json(&sim, "caresoft", &path, CS, 200).await;
    assert_eq!(
        conv_ids(&body),
        ids_where(&truth, |c| c.channel == Some(Channel::Web)
            && c.ended_at == Some(end))
    );
    let body = get_json(
        &sim,
        "caresoft",
        &format!("{LIST}?start_time_since=2024-01-01 00:00:00"),
        CS,
        400,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("start_time_since")
    );
}

#[tokio::test]
async fn array_and_scalar_filters() {
    let sim = default_sim().await;
    let truth = sim.truth("caresoft");
    let agents = sim.agents("caresoft");
    let web = |c: &Conversation| c.channel == Some(Channel::Web);
    let list = |q: String| {
        let sim = &sim;
        async move {
            conv_ids(
                &get_json(
                    sim,
                    "caresoft",
                    &format!("{LIST}?count=500&page=1&{q}"),
                    CS,
                    200,
                )
                .await,
            )
        }
    };
    let (a1, a2) = (&agents[0], &agents[1]);
    let want = ids_where(&truth, |c| {
        web(c)
            && c.agent
                .as_ref()
                .and_then(|a| a.email.as_deref())
                .is_some_and(|e| e == a1.email || e == a2.email)
    });
    assert!(!want.is_empty());
    assert_eq!(
        list(format!("assignees[]={}&assignees[]={}", a1.id, a2.id)).await,
        want
    );
    assert_eq!(
        list(format!(
            "assignees%5B%5D={}&assignees%5B%5D={}",
            a1.id, a2.id
        ))
        .await,
        want
    );

    let group = &agents[0];
    let want = ids_where(&truth, |c| {
        web(c) && c.agent.as_ref().and_then(|a| a.group.as_deref()) == Some(group.group.as_str())
    });
    assert_eq!(list(format!("groups[]={}", group.group_id)).await, want);

    let customer = truth
        .iter()
        .find(|c| web(c))
        .unwrap()
        .customer
        .id
        .clone()
        .unwrap();
    let want = ids_where(&truth, |c| {
        web(c) && c.customer.id.as_deref() == Some(customer.as_str())
    });
    assert_eq!(
        list(format!("customers[]={customer}&customers[]=1")).await,
        want
    );

    let service = truth.iter().find(|c| web(c)).unwrap().raw.to_value()["service_id"]
        .as_u64()
        .unwrap();
    let want = ids_where(&truth, |c| {
        web(c) && c.raw.to_value()["service_id"] == service
    });
    assert_eq!(list(format!("services[]={service}")).await, want);

    let missed = ids_where(&truth, |c| web(c) && c.status == Some(Status::Missed));
    assert!(!missed.is_empty());
    assert_eq!(list("chat_status=0".into()).await, missed);
    let met = ids_where(&truth, |c| web(c) && c.status == Some(Status::Closed));
    assert_eq!(list("chat_status=1".into()).await, met);

    let ticketed = truth.iter().find(|c| web(c) && c.ticket.is_some()).unwrap();
    let no = ticketed.ticket.as_ref().unwrap().number.clone().unwrap();
    assert_eq!(
        list(format!("ticket_no={no}")).await,
        vec![ticketed.id.clone()]
    );
    assert_eq!(
        list(format!("conversation_id={}", ticketed.id)).await,
        vec![ticketed.id.clone()]
    );
    let zalo = truth
        .iter()
        .find(|c| c.channel == Some(Channel::Zalo))
        .unwrap();
    assert_eq!(
        list(format!("conversation_type=3&conversation_id={}", zalo.id)).await,
        vec![zalo.id.clone()]
    );
    // Inbound and outbound split the live chats between them.
    let inbound = list("chat_type=0".into()).await;
    let outbound = list("chat_type=1".into()).await;
    assert!(!inbound.is_empty() && !outbound.is_empty());
    let mut both: Vec<String> = inbound.into_iter().chain(outbound).collect();
    both.sort();
    assert_eq!(both, ids_where(&truth, web));
    let body = get_json(&sim, "caresoft", &format!("{LIST}?chat_type=2"), CS, 200).await;
    assert_eq!(body["code"], "INVALID_PARAMETER");
    get_json(&sim, "caresoft", &format!("{LIST}?assignees[]=x"), CS, 400).await;
}

#[tokio::test]
async fn durations_and_missed_chats() {
    let truth: Vec<_> = chathaul_sim::truth(&SimOptions::default(), "caresoft").collect();
    let hms = |v: &Value| {
        let parts: Vec<u64> = v
            .as_str()
            .unwrap()
            .split(':')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(parts.len(), 3, "{v}");
        parts[0] * 3600 + parts[1] * 60 + parts[2]
    };
    for c in &truth {
        assert!(!c.messages_fetched && c.messages.is_empty());
        assert_eq!(
            (c.vendor.as_str(), c.account.as_str()),
            ("caresoft", "demo")
        );
        assert!(c.raw.to_value()["chat_duration"].is_u64());
        assert_eq!(
            c.metrics.duration_secs,
            c.raw.to_value()["chat_duration"].as_u64()
        );
        assert_eq!(
            c.metrics.wait_secs,
            Some(hms(&c.raw.to_value()["waitTime"]))
        );
        if c.status == Some(Status::Missed) {
            assert_eq!(c.raw.to_value()["chat_status"], "LBL_CHAT_STATUS_MISS");
            assert_eq!(c.raw.to_value()["meet_time"], Value::Null);
            assert_eq!(c.raw.to_value()["agent_name"], "");
            assert_eq!(c.answered_at, None);
        } else {
            let talk = hms(&c.raw.to_value()["answer_time"]);
            assert_eq!(c.metrics.talk_secs, Some(talk));
            let meet_to_end = (c.ended_at.unwrap() - c.answered_at.unwrap()).num_seconds() as u64;
            assert_eq!(talk, meet_to_end, "answer_time is meet to end");
        }
    }
    let ids: Vec<&str> = truth.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by id");
    assert!(truth.iter().any(|c| {
        c.customer
            .name
            .as_deref()
            .is_some_and(|n| n.contains('ễ') || n.contains('ầ'))
    }));
    assert!(
        truth
            .iter()
            .any(|c| c.raw.to_value()["cus_email"] == "" && c.customer.email.is_none())
    );
}

#[tokio::test]
async fn records_have_the_documented_fields() {
    let sim = default_sim().await;
    let body = get_json(&sim, "caresoft", &format!("{LIST}?count=5&page=1"), CS, 200).await;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["code", "numFound", "chats"]);
    let documented = [
        "ticket_id",
        "ticket_no",
        "customer_id",
        "group_name",
        "conversation_id",
        "cus_email",
        "cus_name",
        "cus_phone",
        "start_time",
        "end_time",
        "chat_duration",
        "agent_email",
        "agent_name",
        "ring_time",
        "meet_time",
        "waitTime",
        "answer_time",
        "chat_status",
        "landing_page",
        "referrer",
        "is_trigger",
        "facebook_page_id",
        "service_id",
    ];
    for c in body["chats"].as_array().unwrap() {
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, documented);
        let id = c["conversation_id"].as_str().unwrap();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert_eq!(parts[0].len(), 14, "{id}: yyyyMMddHHmmss");
        assert_eq!(
            parts[0],
            c["start_time"]
                .as_str()
                .unwrap()
                .replace(['-', ' ', ':'], "")
        );
    }
}

#[tokio::test]
async fn a_type_only_listing_pages_like_the_general_filter() {
    // A listing filtered by type (and start time) alone is served from the
    // per-type index; any other filter takes the general scan. Both must
    // give the same pages and totals.
    let sim = sim(SimOptions {
        conversations: 700,
        ..SimOptions::default()
    })
    .await;
    let no_op = "end_time_since=2000-01-01T00:00:00Z";
    for ctype in [0, 1, 3] {
        for page in 1..=4 {
            let fast = format!("{LIST}?conversation_type={ctype}&count=97&page={page}");
            let general = format!("{fast}&{no_op}");
            let a = get_json(&sim, "caresoft", &fast, CS, 200).await;
            let b = get_json(&sim, "caresoft", &general, CS, 200).await;
            assert_eq!(a["numFound"], b["numFound"], "type {ctype} page {page}");
            assert_eq!(a["chats"], b["chats"], "type {ctype} page {page}");
            assert!(a["numFound"].as_u64().unwrap() > 0);
        }
    }
}
