//! Server modes for pacing tests: 429 without `Retry-After`, latency that
//! grows with the requests in flight, and failures armed on demand.

use std::time::{Duration, Instant};

use chathaul_sim::{SimError, SimOptions};
use serde_json::Value;

use crate::*;

const KF5_LIST: &str = "/apiv2/chats.json?per_page=1";

#[tokio::test]
async fn a_429_can_come_without_retry_after() {
    for retry_after in [true, false] {
        let sim = sim(SimOptions {
            rate_limit: Some(1),
            retry_after,
            ..SimOptions::default()
        })
        .await;
        let mut throttled = None;
        for _ in 0..4 {
            let (status, headers, body) = get_raw(&sim, "kf5", KF5_LIST, KF5).await;
            if status == 429 {
                throttled = Some((headers, body));
            }
        }
        let (headers, body) = throttled.expect("four requests at one per second: a 429");
        assert!(body.contains("rate limit"), "{body}");
        assert_eq!(
            headers.contains_key("retry-after"),
            retry_after,
            "{headers:?}"
        );
    }
}

/// The time each of `n` concurrent requests to the demo KF5 account takes.
async fn concurrent(sim: &chathaul_sim::Simulator, n: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = format!("{}{KF5_LIST}", sim.base_url("kf5"));
            tokio::spawn(async move {
                let t = Instant::now();
                let (status, _, _) = get_url(&url, KF5).await;
                assert_eq!(status, 200);
                t.elapsed()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_grows_with_the_requests_in_flight() {
    // 200 ms for every request, plus a second per request already in flight
    // to the same account when it arrives.
    let sim = sim(SimOptions {
        latency: Duration::from_millis(200),
        latency_per_in_flight: Duration::from_secs(1),
        ..SimOptions::default()
    })
    .await;
    // One at a time nothing else is in flight: the base latency only.
    for _ in 0..3 {
        let alone = concurrent(&sim, 1).await[0];
        assert!(alone >= Duration::from_millis(200), "{alone:?}");
        assert!(alone < Duration::from_millis(1200), "alone: {alone:?}");
    }
    // Four at once: the later arrivals wait a second more per earlier one
    // still in flight (each stays at least the 200 ms base).
    let mut crowd = concurrent(&sim, 4).await;
    crowd.sort();
    assert!(crowd[3] >= Duration::from_millis(1200), "{crowd:?}");
    // Another account is not slowed by the first one's crowd.
    let two = sim_two_accounts().await;
    let url = |k: usize| format!("{}{KF5_LIST}", two.base_url_for("kf5", k));
    let busy = tokio::spawn({
        let url = url(0);
        async move { get_url(&url, KF5).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let config = two.config_for("kf5", 1);
    let t = Instant::now();
    assert_eq!(get_url(&url(1), cred_of("kf5", &config)).await.0, 200);
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(busy.await.unwrap(), 200);
}

async fn sim_two_accounts() -> chathaul_sim::Simulator {
    sim(SimOptions {
        accounts: 2,
        latency: Duration::from_millis(400),
        latency_per_in_flight: Duration::from_secs(1),
        ..SimOptions::default()
    })
    .await
}

#[tokio::test]
async fn armed_failures_fail_exactly_the_next_matching_requests() {
    let sim = sim(SimOptions {
        accounts: 2,
        ..SimOptions::default()
    })
    .await;
    let status = |vendor: &'static str, path: &'static str, cred: Cred<'static>| {
        let sim = &sim;
        async move { get_raw(sim, vendor, path, cred).await.0 }
    };
    sim.fail_next(2, Some("kf5"), None).unwrap();
    assert_eq!(
        status("bangwo8", "/api/v1/imchat/histories.json", BW8).await,
        200
    );
    let (code, _, body) = get_raw(&sim, "kf5", KF5_LIST, KF5).await;
    assert_eq!(code, 500);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "Internal Server Error");
    assert_eq!(status("kf5", KF5_LIST, KF5).await, 500);
    assert_eq!(status("kf5", KF5_LIST, KF5).await, 200);
    assert_eq!(sim.stats().faults, 2);

    // Any vendor, then one account only, over HTTP.
    sim.fail_next(1, None, None).unwrap();
    assert_eq!(status("caresoft", "/api/v1/chats", CS).await, 500);
    assert_eq!(status("caresoft", "/api/v1/chats", CS).await, 200);
    let base = format!("http://{}", sim.addr());
    let res = crate::client()
        .post(format!("{base}/_sim/fail?next=1&vendor=bangwo8&account=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let armed: Value = res.json().await.unwrap();
    assert_eq!(
        armed,
        serde_json::json!({"armed": 1, "vendor": "bangwo8", "account": 1})
    );
    assert_eq!(
        status("bangwo8", "/api/v1/imchat/histories.json", BW8).await,
        200
    );
    let second = sim.config_for("bangwo8", 1);
    let url = format!(
        "{}/api/v1/imchat/histories.json",
        sim.base_url_for("bangwo8", 1)
    );
    assert_eq!(get_url(&url, cred_of("bangwo8", &second)).await.0, 500);
    assert_eq!(get_url(&url, cred_of("bangwo8", &second)).await.0, 200);

    // What it refuses, and says why.
    assert_eq!(
        sim.fail_next(1, Some("zendesk"), None),
        Err(SimError::UnknownVendor("zendesk".into()))
    );
    assert_eq!(
        sim.fail_next(1, None, Some(2)).unwrap_err().to_string(),
        "no account 2: the simulator serves accounts 0 to 1 of each vendor"
    );
    for (query, needle) in [
        ("next=1&vendor=zendesk", "unknown vendor `zendesk`"),
        ("next=1&account=7", "no account 7"),
        ("next=many", "parameter next"),
        ("vendor=kf5", "parameter next is missing"),
    ] {
        let res = crate::client()
            .post(format!("{base}/_sim/fail?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
    // Nothing is left armed.
    for _ in 0..3 {
        assert_eq!(status("kf5", KF5_LIST, KF5).await, 200);
    }
}

#[tokio::test]
async fn the_new_modes_are_off_by_default() {
    let opts = SimOptions::default();
    assert!(opts.retry_after);
    assert_eq!(opts.latency_per_in_flight, Duration::ZERO);
    assert_eq!(opts.accounts, 1);
    assert_eq!(opts.now, None);
}

#[tokio::test]
async fn a_corrupted_record_is_served_malformed_in_every_answer_that_holds_it() {
    let sim = default_sim().await;
    let listing = |body: &str| -> Vec<Value> {
        let v: Value = serde_json::from_str(body).unwrap();
        v["chats"].as_array().unwrap().clone()
    };
    let (_, _, before) = get_raw(&sim, "kf5", "/apiv2/chats.json?per_page=10", KF5).await;
    let chats = listing(&before);
    let id = chats[3]["id"].to_string().trim_matches('"').to_owned();
    sim.corrupt("kf5", None, &id, "created_at", "not a time")
        .unwrap();
    let (_, _, after) = get_raw(&sim, "kf5", "/apiv2/chats.json?per_page=10", KF5).await;
    let changed = listing(&after);
    assert_eq!(changed.len(), chats.len());
    assert_eq!(changed[3]["created_at"], "not a time");
    // Only that record, only that field.
    for (i, (a, b)) in chats.iter().zip(&changed).enumerate() {
        if i != 3 {
            assert_eq!(a, b, "record {i}");
        }
    }
    let mut expected = chats[3].clone();
    expected["created_at"] = "not a time".into();
    assert_eq!(changed[3], expected);
    let (_, _, detail) = get_raw(&sim, "kf5", &format!("/apiv2/chats/{id}.json"), KF5).await;
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["chat"]["created_at"], "not a time");
    // A path reaches into the record: the first message's time.
    sim.corrupt("kf5", None, &id, "messages.0.created_at", "later")
        .unwrap();
    let (_, _, detail) = get_raw(&sim, "kf5", &format!("/apiv2/chats/{id}.json"), KF5).await;
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["chat"]["messages"][0]["created_at"], "later");
    assert_eq!(detail["chat"]["created_at"], "not a time");

    // Over HTTP, for a Bangwo8 session (ids as numbers or strings).
    let (_, _, sessions) = get_raw(&sim, "bangwo8", "/api/v1/imchat/histories.json", BW8).await;
    let first = listing(&sessions)[0]["r_id"]
        .to_string()
        .trim_matches('"')
        .to_owned();
    let base = format!("http://{}", sim.addr());
    let res = crate::client()
        .post(format!(
            "{base}/_sim/corrupt?vendor=bangwo8&id={first}&field=start_time&value=yesterday"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, _, sessions) = get_raw(&sim, "bangwo8", "/api/v1/imchat/histories.json", BW8).await;
    assert_eq!(listing(&sessions)[0]["start_time"], "yesterday");
    for (query, needle) in [
        ("vendor=zendesk&id=1&field=x", "unknown vendor `zendesk`"),
        ("vendor=kf5&field=x", "parameter id is missing"),
        ("vendor=kf5&id=1", "parameter field is missing"),
        ("vendor=kf5&id=1&field=x&account=3", "no account 3"),
    ] {
        let res = crate::client()
            .post(format!("{base}/_sim/corrupt?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
}
