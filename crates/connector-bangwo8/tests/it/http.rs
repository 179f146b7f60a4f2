//! Paging, pushdown, errors, authentication, concurrency and counters through
//! the real HTTP path, against the scripted server.

use chrono::{DateTime, Utc};
use connector_core::http::HttpSettings;
use connector_core::{Connector, Error, Query};
use serde_json::{Value, json};

use crate::support::*;

const HISTORIES: &str = "/api/v1/imchat/histories.json";

fn chats(ids: std::ops::RangeInclusive<u32>) -> Vec<Value> {
    ids.map(
        |i| json!({"r_id": i, "type": "2", "support_id": "7", "start_time": "2017-8-23 12:23:12"}),
    )
    .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ids(v: &[connector_core::Conversation]) -> Vec<String> {
    v.iter().map(|c| c.id.clone()).collect()
}

#[tokio::test]
async fn stops_when_the_reported_count_is_reached_although_next_page_is_set() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=3), Some(5), true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(listing(chats(4..=5), Some(5), true)),
        );
    let c = connector(&fake.start().await);
    let got = pull_ok(
        &c,
        &Query {
            page_size: Some(3),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), ["1", "2", "3", "4", "5"]);
    assert_eq!(
        fake.requests(),
        [
            format!("{HISTORIES}?page=1&per_page=3"),
            format!("{HISTORIES}?page=2&per_page=3")
        ]
    );
    let s = c.stats();
    assert_eq!((s.pages, s.listed, s.reported_total), (2, 5, Some(5)));
    assert!(s.shortfalls.is_empty());
}

#[tokio::test]
async fn stops_on_a_null_next_page_and_on_an_empty_page() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=2), None, true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(listing(chats(3..=4), None, false)),
        );
    let c = connector(&fake.start().await);
    assert_eq!(ids(&pull_ok(&c, &Query::new()).await), ["1", "2", "3", "4"]);
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(c.stats().reported_total, None);

    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=2), None, true)))
        .on_page(HISTORIES, 2, Reply::json(listing(vec![], None, true)));
    let c = connector(&fake.start().await);
    assert_eq!(ids(&pull_ok(&c, &Query::new()).await), ["1", "2"]);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_server_serving_fewer_than_asked_is_read_to_the_end() {
    // Asked for 100 a page, the server sends 2 at a time: the count, not
    // page × per_page, decides the end.
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=2), Some(5), true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(listing(chats(3..=4), Some(5), true)),
        )
        .on_page(
            HISTORIES,
            3,
            Reply::json(listing(chats(5..=5), Some(5), false)),
        );
    let c = connector(&fake.start().await);
    assert_eq!(
        ids(&pull_ok(&c, &Query::new()).await),
        ["1", "2", "3", "4", "5"]
    );
}

#[tokio::test]
async fn a_repeated_page_is_an_error_not_a_loop() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=2), None, true)))
        .on_page(HISTORIES, 2, Reply::json(listing(chats(1..=2), None, true)));
    let c = connector(&fake.start().await);
    let got = pull(&c, &Query::new()).await;
    assert_eq!(got.len(), 3);
    let e = got[2].as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "bangwo8: /api/v1/imchat/histories.json page 2: page 2 repeats page 1; stopping instead of looping"
    );
}

#[tokio::test]
async fn windows_agent_and_customer_are_pushed_down_then_applied_exactly() {
    let fake = Fake::default();
    let path = "/api/v1/imchat/histories/7.json";
    // The server returns whole local days; the exact filter keeps the window.
    let day = vec![
        json!({"r_id": 1, "support_id": 7, "uname": "u1", "start_time": "2017-08-23 07:59:59"}),
        json!({"r_id": 2, "support_id": 7, "uname": "u1", "start_time": "2017-08-23 08:00:00"}),
        json!({"r_id": 3, "support_id": 7, "uname": "u1", "start_time": "2017-08-23 09:59:59"}),
        json!({"r_id": 4, "support_id": 7, "uname": "u1", "start_time": "2017-08-23 10:00:00"}),
        json!({"r_id": 5, "support_id": 8, "uname": "u1", "start_time": "2017-08-23 09:00:00"}),
        json!({"r_id": 6, "support_id": 7, "uname": "u2", "start_time": "2017-08-23 09:00:00"}),
    ];
    fake.on(path, Reply::json(listing(day, Some(6), false)));
    let c = connector(&fake.start().await);
    // 08:00–10:00 Shanghai = 00:00–02:00 UTC.
    let q = Query {
        agent: Some("7".into()),
        customer: Some("u1".into()),
        ..Query::new()
    }
    .created(
        Some(utc("2017-08-23T00:00:00Z")),
        Some(utc("2017-08-23T02:00:00Z")),
    );
    assert_eq!(ids(&pull_ok(&c, &q).await), ["2", "3"]);
    assert_eq!(
        fake.requests(),
        [format!(
            "{path}?uname=u1&servicestart_start=2017-08-23&servicestart_end=2017-08-23&page=1&per_page=100"
        )]
    );

    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(vec![], Some(0), false)));
    let c = connector(&fake.start().await);
    let q = Query::new().ended(Some(utc("2017-08-22T16:00:00Z")), None);
    pull_ok(&c, &q).await;
    assert_eq!(
        fake.requests(),
        [format!(
            "{HISTORIES}?serviceend_start=2017-08-23&serviceend_end=2099-12-31&page=1&per_page=100"
        )]
    );
}

#[tokio::test]
async fn limit_is_honoured_without_fetching_messages_beyond_it() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=3), Some(6), true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(listing(chats(4..=6), Some(6), false)),
        );
    for i in 1..=6 {
        fake.on(
            &format!("/api/v1/imchat/chatrecords/{i}.json"),
            Reply::json(records(&i.to_string(), vec![], Some(0), false)),
        );
    }
    let c = connector(&fake.start().await);
    let got = pull_ok(
        &c,
        &Query {
            limit: Some(2),
            ..Query::new().with_messages(true)
        },
    )
    .await;
    assert_eq!(ids(&got), ["1", "2"]);
    let fetched: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.contains("chatrecords"))
        .collect();
    assert!(
        fetched.len() <= 3,
        "messages fetched for sessions past the limit: {fetched:?}"
    );
    assert!(
        !fake.requests().iter().any(|r| r.contains("page=2")),
        "{:?}",
        fake.requests()
    );
    assert_eq!(
        c.stats().reported_total,
        None,
        "a listing not walked to its end reports no total"
    );
}

#[tokio::test]
async fn messages_of_all_pages_fetched_concurrently_in_listing_order() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=6), Some(6), false)),
    );
    for i in 1..=6u32 {
        let path = format!("/api/v1/imchat/chatrecords/{i}.json");
        let msg = |n: u32| json!({"spokesman": "u", "spokesman_identity": 2, "msg": format!("{i}-{n}"), "create_time": "2017-8-23 12:23:12"});
        // Earlier sessions answer more slowly: order must still follow the listing.
        let delay = u64::from(7 - i) * 60;
        fake.on(
            &path,
            Reply::json(records(&i.to_string(), vec![msg(1), msg(2)], Some(3), true))
                .delayed(delay),
        );
        fake.on_page(
            &path,
            2,
            Reply::json(records(&i.to_string(), vec![msg(3)], Some(3), true)),
        );
    }
    let c = connector(&fake.start().await);
    let started = std::time::Instant::now();
    let got = pull_ok(&c, &Query::new().with_messages(true)).await;
    let elapsed = started.elapsed();
    assert_eq!(ids(&got), ["1", "2", "3", "4", "5", "6"]);
    for conv in &got {
        let texts: Vec<_> = conv
            .messages
            .iter()
            .map(|m| m.text.clone().unwrap())
            .collect();
        assert_eq!(texts, [1, 2, 3].map(|n| format!("{}-{n}", conv.id)));
    }
    // Sequential would take 60 × (6+5+…+1) = 1260 ms; concurrent about 360 ms.
    assert!(
        elapsed.as_millis() < 1000,
        "took {elapsed:?}: messages were not fetched concurrently"
    );
    let s = c.stats();
    assert_eq!((s.messages, s.reported_messages), (18, Some(18)));
    assert!(s.shortfalls.is_empty(), "{:?}", s.shortfalls);
    // Pages were asked by number on the configured host, never via next_page.
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.contains("chatrecords") && r.contains("page=2"))
            .count(),
        6
    );
}

#[tokio::test]
async fn missing_r_id_is_an_error_naming_field_page_and_endpoint_and_ends_the_stream() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=2), Some(4), true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(fixture("histories_missing_r_id.json")),
        )
        .on_page(
            HISTORIES,
            3,
            Reply::json(listing(chats(5..=6), Some(4), false)),
        );
    let c = connector(&fake.start().await);
    let got = pull(
        &c,
        &Query {
            page_size: Some(2),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(got.len(), 3, "two sessions, then the error, then nothing");
    let e = got[2].as_ref().unwrap_err();
    assert_eq!(
        e.to_string(),
        "bangwo8: /api/v1/imchat/histories.json page 2: field `chats[1].r_id`: missing"
    );
    assert_eq!(e.kind(), "decode");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_malformed_date_is_an_error_naming_field_page_and_endpoint() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(fixture("histories_bad_date.json")));
    let c = connector(&fake.start().await);
    let got = pull(&c, &Query::new()).await;
    assert_eq!(got.len(), 1);
    let e = got[0].as_ref().unwrap_err().to_string();
    // The core clips long messages (to 60 bytes), so only the start is certain.
    assert!(
        e.starts_with("bangwo8: cannot decode /api/v1/imchat/histories.json page 1: at chats[0].start_time: expected a date-time"),
        "{e}"
    );
}

#[tokio::test]
async fn a_message_error_takes_its_sessions_place_and_the_stream_goes_on() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=3), Some(3), false)),
    )
    .on(
        "/api/v1/imchat/chatrecords/1.json",
        Reply::json(records("1", vec![], Some(0), false)),
    )
    .on(
        "/api/v1/imchat/chatrecords/2.json",
        Reply::json(records(
            "2",
            vec![json!({"spokesman_identity": 1, "create_time": "yesterday"})],
            Some(1),
            false,
        )),
    )
    .on(
        "/api/v1/imchat/chatrecords/3.json",
        Reply::json(records("3", vec![], Some(0), false)),
    );
    let c = connector(&fake.start().await);
    let got = pull(&c, &Query::new().with_messages(true)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].as_ref().unwrap().id, "1");
    let e = got[1].as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with("bangwo8: cannot decode /api/v1/imchat/chatrecords/2.json page 1: at im_chatrecords.contents[0].create_time: expected a date-time"),
        "{e}"
    );
    assert_eq!(got[2].as_ref().unwrap().id, "3");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_with_the_attempts() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::status(503, "busy"));
    let c = connector(&fake.start().await);
    let got = pull(&c, &Query::new()).await;
    assert_eq!(got.len(), 1);
    let e = got[0].as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "3 attempts failed; last error: bangwo8: /api/v1/imchat/histories.json page 1: HTTP 503: busy"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_summary_body_that_is_not_json_even_relaxed_is_a_clear_decode_error() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=1), Some(1), false)),
    )
    .on(
        "/api/v1/servicesummary/1.json",
        Reply::json(r#"{"status":"200" "message":"x"}"#),
    );
    let c = connector(&fake.start().await);
    let got = pull(&c, &Query::new().with_summaries(true)).await;
    let e = got[0].as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with(
            "bangwo8: cannot decode /api/v1/servicesummary/1.json page 0: at .: expected `,` or `}`"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn bad_credentials_are_an_authentication_error_without_the_password() {
    for (status, says) in [
        (401, "credentials were refused"),
        (403, "lacks the permission"),
    ] {
        let fake = Fake::default();
        fake.on(
            HISTORIES,
            Reply::status(status, r#"{"error":"Couldn't authenticate you"}"#),
        );
        let c = connector(&fake.start().await);
        let got = pull(&c, &Query::new()).await;
        assert_eq!(got.len(), 1);
        let e = got[0].as_ref().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Unauthenticated {
                    vendor: "bangwo8",
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with("bangwo8: authentication failed (/api/v1/imchat/histories.json"),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
        // The docs: listing needs an administrator account.
        assert!(
            text.ends_with("listing sessions needs a Bangwo8 administrator account"),
            "{text}"
        );
        assert!(!text.contains(SECRET) && !format!("{e:?}").contains(SECRET));
        assert_eq!(
            fake.requests().len(),
            1,
            "authentication errors are not retried"
        );
        // Basic auth, account:password.
        let sent = fake.auth.lock().unwrap()[0].clone();
        assert!(sent.starts_with("Basic "), "{sent}");
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let c = connector("http://127.0.0.1:9/b8");
    assert!(!format!("{c:?}").contains(SECRET));
    let cfg = connector_bangwo8::Bangwo8Config::new(ACCOUNT, SECRET);
    let dbg = format!("{cfg:?}");
    assert!(
        !dbg.contains(SECRET) && dbg.contains("[REDACTED]") && dbg.contains(ACCOUNT),
        "{dbg}"
    );
}

#[tokio::test]
async fn message_fetches_stay_within_the_in_flight_bound() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=10), Some(10), false)),
    );
    for i in 1..=10u32 {
        let path = format!("/api/v1/imchat/chatrecords/{i}.json");
        fake.on(
            &path,
            Reply::json(records(&i.to_string(), vec![], Some(0), false)).delayed(50),
        );
        fake.on(
            &format!("/api/v1/servicesummary/{i}.json"),
            Reply::json(fixture("summary_doc_example_120002.json")).delayed(50),
        );
    }
    let c = connector_with(
        &fake.start().await,
        HttpSettings {
            max_in_flight: 3,
            ..fast_http()
        },
    );
    let got = pull_ok(&c, &Query::new().with_messages(true).with_summaries(true)).await;
    assert_eq!(got.len(), 10);
    let max = fake.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max),
        "at most 3 requests in flight, and more than one: saw {max}"
    );
}
