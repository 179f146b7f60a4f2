//! Bangwo8's own paging, push-down and error behaviours through the real
//! HTTP path, against the scripted server: a listing ends on `count` (counted
//! as records arrive) whatever `next_page` says, pages are asked by number
//! on the configured host, filters go down as the API takes them, and a
//! refused listing says it needs an administrator.

use chrono::{DateTime, Utc};
use connector_core::{BadRecord, Connector, Error, Include, Query};
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

fn page_size(n: u32) -> Query {
    Query {
        page_size: Some(n),
        ..Query::new()
    }
}

#[tokio::test]
async fn the_reported_count_ends_a_listing_although_next_page_is_set() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(listing(chats(1..=3), Some(5), true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(listing(chats(4..=5), Some(5), true)),
        );
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &page_size(3)).await;
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
async fn a_null_next_page_or_an_empty_page_ends_a_listing() {
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
    assert_eq!(fake.requests().len(), 3, "{:?}", fake.requests());
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
    // 08:00–10:00 Shanghai = 00:00–02:00 UTC. Blanks around the filters are
    // not part of them: they go down trimmed, as the exact filter compares.
    let q = Query {
        agent: Some(" 7".into()),
        customer: Some(" u1 ".into()),
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
async fn messages_of_every_page_come_by_page_number_on_the_configured_host() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=3), Some(3), false)),
    );
    for i in 1..=3u32 {
        let path = format!("/api/v1/imchat/chatrecords/{i}.json");
        let msg = |n: u32| json!({"spokesman": "u", "spokesman_identity": 2, "msg": format!("{i}-{n}"), "create_time": format!("2017-8-23 12:23:{n:02}")});
        fake.on(
            &path,
            Reply::json(records(&i.to_string(), vec![msg(1), msg(2)], Some(3), true)),
        );
        fake.on_page(
            &path,
            2,
            Reply::json(records(&i.to_string(), vec![msg(3)], Some(3), true)),
        );
    }
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &Query::new().with_messages(true)).await;
    assert_eq!(ids(&got), ["1", "2", "3"]);
    for conv in &got {
        let texts: Vec<_> = conv
            .messages
            .iter()
            .map(|m| m.text.clone().unwrap())
            .collect();
        assert_eq!(texts, [1, 2, 3].map(|n| format!("{}-{n}", conv.id)));
    }
    let s = c.stats();
    assert_eq!((s.messages, s.reported_messages), (9, Some(9)));
    assert!(s.shortfalls.is_empty(), "{:?}", s.shortfalls);
    // Pages 2 were asked by number on the configured host (never by the
    // www.bangwo8.com `next_page`), and the count ended each session's.
    let mut asked: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.contains("chatrecords"))
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        (1..=3)
            .flat_map(|i| [1, 2]
                .map(|p| format!("/api/v1/imchat/chatrecords/{i}.json?page={p}&per_page=100")))
            .collect::<Vec<_>>()
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
    let got = pull(&c, &page_size(2)).await;
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
    assert_eq!(
        e,
        "bangwo8: cannot decode /api/v1/servicesummary/1.json page 0: at ?: expected `,` or `}` at line 1 column 17"
    );
    // Not retried: it is the body, not the transport.
    assert_eq!(fake.requests().len(), 2, "{:?}", fake.requests());
}

#[tokio::test]
async fn a_refused_listing_says_it_needs_an_administrator_without_the_password() {
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
    // Messages are open to any agent: a refusal there adds nothing.
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=1), Some(1), false)),
    )
    .on(
        "/api/v1/imchat/chatrecords/1.json",
        Reply::status(403, r#"{"error":"no"}"#),
    );
    let c = connector(&fake.start().await);
    let got = pull(&c, &Query::new().with_messages(true)).await;
    let e = got[0].as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with("bangwo8: authentication failed (/api/v1/imchat/chatrecords/1.json")
            && !e.contains("administrator"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_sessions_and_messages_are_set_aside_under_skip_and_the_pull_goes_on() {
    let fake = Fake::default();
    let mut sessions = chats(1..=4);
    sessions[1]["start_time"] = json!("yesterday");
    // The rejected record's text is kept: never with the password in it.
    sessions[1]["uname"] = json!(SECRET);
    fake.on(HISTORIES, Reply::json(listing(sessions, Some(4), false)));
    for i in [1, 4] {
        fake.on(
            &format!("/api/v1/imchat/chatrecords/{i}.json"),
            Reply::json(records(&i.to_string(), vec![], Some(0), false)),
        );
    }
    fake.on(
        "/api/v1/imchat/chatrecords/3.json",
        Reply::json(records(
            "3",
            vec![json!({"spokesman_identity": 1, "create_time": "later"})],
            Some(1),
            false,
        )),
    );
    let c = connector(&fake.start().await);
    let q = Query::new()
        .with_messages(true)
        .on_bad_record(BadRecord::Skip);
    let got = pull(&c, &q).await;
    let seen: Vec<String> = got
        .iter()
        .map(|r| match r {
            Ok(c) => format!("{} ({} messages)", c.id, c.messages.len()),
            Err(Error::Rejected { error, .. }) => {
                let place = error.place().unwrap();
                format!(
                    "rejected {} p{} {}",
                    place.endpoint,
                    place.page,
                    place.path.unwrap_or("")
                )
            }
            Err(e) => panic!("{e}"),
        })
        .collect();
    // In the listing's order, the session that does not decode at the
    // page's end; session 3, whose message does not decode, in its place.
    assert_eq!(
        seen,
        [
            "1 (0 messages)",
            "rejected /api/v1/imchat/chatrecords/3.json p1 im_chatrecords.contents[0].create_time",
            "4 (0 messages)",
            "rejected /api/v1/imchat/histories.json p1 chats[1].start_time",
        ]
    );
    let raws: Vec<&str> = got
        .iter()
        .filter_map(|r| match r {
            Err(Error::Rejected { raw, .. }) => Some(raw.as_str()),
            _ => None,
        })
        .collect();
    // Session 3 is set aside with its session record (what a rerun lists).
    assert!(raws[0].contains(r#""r_id":3"#), "{}", raws[0]);
    assert!(
        raws[1].contains(r#""start_time":"yesterday""#),
        "{}",
        raws[1]
    );
    assert!(!raws[1].contains(SECRET), "{}", raws[1]);
    // No request for the session set aside at listing time.
    assert!(
        !fake.requests().iter().any(|r| r.contains("chatrecords/2")),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn completing_a_listed_session_fetches_its_messages_and_summary_never_the_listing() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(listing(chats(1..=2), Some(2), false)),
    )
    .on(
        "/api/v1/imchat/chatrecords/2.json",
        Reply::json(records(
            "2",
            vec![json!({"spokesman_identity": 1, "msg": "你好", "create_time": "2017-8-23 12:24:00"})],
            Some(1),
            false,
        )),
    )
    .on(
        "/api/v1/servicesummary/2.json",
        Reply::json(fixture("summary_doc_example_200.json")),
    );
    let c = connector(&fake.start().await);
    let listed = pull_ok(&c, &Query::new()).await;
    let before = fake.requests().len();
    let done = c.complete(listed[1].clone(), Include::ALL).await.unwrap();
    assert_eq!(done.id, "2");
    assert!(done.messages_fetched);
    assert_eq!(done.messages.len(), 1);
    assert_eq!(done.messages[0].text.as_deref(), Some("你好"));
    assert_eq!(done.summary.as_ref().unwrap().fields.len(), 4);
    let mut asked: Vec<String> = fake.requests()[before..].to_vec();
    asked.sort();
    assert_eq!(
        asked,
        [
            "/api/v1/imchat/chatrecords/2.json?page=1&per_page=100",
            "/api/v1/servicesummary/2.json?servicesummary_type=1"
        ]
    );
    // Nothing asked for: nothing fetched.
    let same = c.complete(listed[0].clone(), Include::NONE).await.unwrap();
    assert_eq!(same, listed[0]);
    assert_eq!(fake.requests().len(), before + 2);
}
