//! Paging, push-down, exact filtering, errors and secrets through the real
//! HTTP path, against the loopback stand-in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use connector_caresoft::ConversationType::{self, LiveChat};
use connector_core::{Channel, Connector, Error, Include, Query, Status};
use serde_json::{Value, json};

use crate::server::{self, Params, page_of, param};
use crate::{connector, pull, pull_until_error};

const ALL: &[ConversationType] = &ConversationType::ALL;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A record with the given id, local start time and agent e-mail.
fn rec(id: &str, start: &str, agent: &str) -> Value {
    json!({
        "conversation_id": id, "customer_id": 1000, "cus_name": "khách", "cus_email": "",
        "start_time": start, "end_time": start, "agent_email": agent, "agent_name": "x",
        "waitTime": "00:00:01", "answer_time": "00:00:02", "chat_duration": 3,
        "chat_status": "LBL_CHAT_STATUS_MEET"
    })
}

/// `n` records of one type, ids `{prefix}-{i}`, one a minute from 2023-04-22 00:00 local.
fn records(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            rec(
                &format!("{prefix}-{i}"),
                &format!("2023-04-22 {:02}:{:02}:00", (i / 60) % 24, i % 60),
                "a@x.vn",
            )
        })
        .collect()
}

/// A stand-in serving a different listing per conversation type.
async fn per_type(live: Vec<Value>, fb: Vec<Value>, zalo: Vec<Value>) -> server::Server {
    server::serve(move |p| {
        let recs = match param(p, "conversation_type").as_deref() {
            Some("0") => &live,
            Some("1") => &fb,
            Some("3") => &zalo,
            _ => return (400, r#"{"code":"BAD_TYPE"}"#.into()),
        };
        (200, page_of(recs, p))
    })
    .await
}

fn ids(v: &[connector_core::Conversation]) -> Vec<String> {
    v.iter().map(|c| c.id.clone()).collect()
}

#[tokio::test]
async fn every_type_is_listed_in_order_and_tagged_with_its_channel() {
    let srv = per_type(records("web", 2), records("fb", 1), records("zalo", 2)).await;
    let c = connector(&srv.base_url, ALL);
    let got = pull(&c, &Query::new()).await.unwrap();
    assert_eq!(ids(&got), ["web-0", "web-1", "fb-0", "zalo-0", "zalo-1"]);
    let channels: Vec<_> = got.iter().map(|c| c.channel.clone().unwrap()).collect();
    assert_eq!(
        channels,
        [
            Channel::Web,
            Channel::Web,
            Channel::Facebook,
            Channel::Zalo,
            Channel::Zalo
        ]
    );
    // conversation_type is always sent; page always goes with count.
    for p in srv.requests() {
        assert!(
            param(&p, "conversation_type").is_some() && param(&p, "page").is_some(),
            "{p:?}"
        );
        assert_eq!(param(&p, "count").as_deref(), Some("500"));
    }
    // The types are listed concurrently: one request each, in any order.
    let mut pages = srv.pages();
    pages.sort();
    assert_eq!(
        pages,
        [
            ("0".into(), "1".into()),
            ("1".into(), "1".into()),
            ("3".into(), "1".into())
        ]
    );
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (3, 5, Some(5))
    );
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
}

#[tokio::test]
async fn pages_of_500_until_num_found() {
    let srv = per_type(records("web", 1203), vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(&c, &Query::new()).await.unwrap();
    assert_eq!(got.len(), 1203);
    assert_eq!(got[1202].id, "web-1202");
    // 3 * 500 >= 1203: no fourth request (2 and 3 are fetched together).
    let mut pages: Vec<_> = srv.pages().into_iter().map(|(_, p)| p).collect();
    pages.sort();
    assert_eq!(pages, ["1", "2", "3"]);
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (3, 1203, Some(1203))
    );
}

#[tokio::test]
async fn smaller_pages_when_asked_and_an_empty_page_ends_a_listing_without_total() {
    let recs = records("web", 7);
    let srv = server::serve(move |p| {
        // No numFound at all: only an empty page ends the listing.
        let mut v: Value = serde_json::from_str(&page_of(&recs, p)).unwrap();
        v.as_object_mut().unwrap().remove("numFound");
        (200, v.to_string())
    })
    .await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(
        &c,
        &Query {
            page_size: Some(3),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 7);
    let pages: Vec<_> = srv
        .requests()
        .iter()
        .map(|p| (param(p, "page").unwrap(), param(p, "count").unwrap()))
        .collect();
    let want: Vec<(String, String)> = ["1", "2", "3", "4"]
        .iter()
        .map(|p| (p.to_string(), "3".to_string()))
        .collect();
    assert_eq!(pages, want);
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (4, 7, None)
    );
}

#[tokio::test]
async fn created_window_is_pushed_down_widened_and_applied_exactly() {
    // The stand-in ignores the filters: the client must apply the window itself.
    let srv = per_type(records("web", 180), vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    // 01:00 to 02:00 local (UTC+7) is 18:00 to 19:00 UTC the day before.
    let q = Query::new().created(
        Some(utc("2023-04-21T18:00:00Z")),
        Some(utc("2023-04-21T19:00:00Z")),
    );
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(got.len(), 60);
    assert_eq!(
        (got[0].id.as_str(), got[59].id.as_str()),
        ("web-60", "web-119")
    );
    let p = &srv.requests()[0];
    assert_eq!(
        param(p, "start_time_since").as_deref(),
        Some("2023-04-20T18:00:00Z")
    );
    assert_eq!(
        param(p, "start_time_to").as_deref(),
        Some("2023-04-22T19:00:00Z")
    );
    assert_eq!(param(p, "end_time_since"), None);
}

#[tokio::test]
async fn ended_window_uses_end_time_params() {
    let srv = per_type(records("web", 10), vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let q = Query::new().ended(Some(utc("2023-04-21T17:05:00Z")), None);
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(ids(&got).first().map(String::as_str), Some("web-5"));
    assert_eq!(got.len(), 5);
    let p = &srv.requests()[0];
    assert_eq!(
        param(p, "end_time_since").as_deref(),
        Some("2023-04-20T17:05:00Z")
    );
    assert_eq!(
        (param(p, "end_time_to"), param(p, "start_time_since")),
        (None, None)
    );
}

fn agent_listing(p: &Params) -> (u16, String) {
    let all = vec![
        rec("a-1", "2023-04-22 10:00:00", "an@x.vn"),
        rec("b-1", "2023-04-22 10:01:00", "binh@x.vn"),
    ];
    // The stand-in knows agent 42 is an@x.vn and customer 7 owns b-1.
    let recs: Vec<Value> = match (
        param(p, "assignees[]").as_deref(),
        param(p, "customers[]").as_deref(),
    ) {
        (Some("42"), _) => all
            .into_iter()
            .filter(|r| r["agent_email"] == "an@x.vn")
            .collect(),
        (_, Some("7")) => {
            let mut r = all[1].clone();
            r["customer_id"] = json!(7);
            vec![r]
        }
        _ => all,
    };
    (200, page_of(&recs, p))
}

#[tokio::test]
async fn agent_id_is_pushed_down_as_assignees_and_trusted() {
    let srv = server::serve(agent_listing).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(
        &c,
        &Query {
            agent: Some("42".into()),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&got), ["a-1"]);
    assert_eq!(
        param(&srv.requests()[0], "assignees[]").as_deref(),
        Some("42")
    );
}

#[tokio::test]
async fn agent_email_is_matched_on_the_client() {
    let srv = server::serve(agent_listing).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(
        &c,
        &Query {
            agent: Some("binh@x.vn".into()),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&got), ["b-1"]);
    assert_eq!(param(&srv.requests()[0], "assignees[]"), None);
}

#[tokio::test]
async fn customer_id_is_pushed_down_and_checked() {
    let srv = server::serve(agent_listing).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(
        &c,
        &Query {
            customer: Some("7".into()),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&got), ["b-1"]);
    assert_eq!(got[0].customer.id.as_deref(), Some("7"));
    assert_eq!(
        param(&srv.requests()[0], "customers[]").as_deref(),
        Some("7")
    );
}

#[tokio::test]
async fn channel_filter_chooses_the_types_queried() {
    let srv = per_type(records("web", 2), records("fb", 2), records("zalo", 2)).await;
    let c = connector(&srv.base_url, ALL);
    let got = pull(
        &c,
        &Query {
            channel: Some(Channel::Facebook),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&got), ["fb-0", "fb-1"]);
    assert_eq!(srv.pages(), [("1".into(), "1".into())]);
    let got = pull(
        &c,
        &Query {
            channel: Some(Channel::Wechat),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert!(got.is_empty());
    assert_eq!(
        srv.requests().len(),
        1,
        "a channel CareSoft does not serve queries nothing"
    );
}

#[tokio::test]
async fn limit_stops_the_pull() {
    let srv = per_type(records("web", 30), records("fb", 30), vec![]).await;
    let c = connector(&srv.base_url, ALL);
    let got = pull(
        &c,
        &Query {
            limit: Some(4),
            page_size: Some(10),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&got), ["web-0", "web-1", "web-2", "web-3"]);
    assert_eq!(srv.pages(), [("0".into(), "1".into())]);
}

#[tokio::test]
async fn a_code_other_than_ok_is_an_error_carrying_it_and_ends_the_stream() {
    let recs = records("web", 5);
    let srv = server::serve(move |p| match param(p, "page").as_deref() {
        Some("2") => (
            200,
            r#"{"code":"RATE_LIMIT_EXCEEDED","message":"Vượt quá giới hạn"}"#.into(),
        ),
        _ => (200, page_of(&recs, p)),
    })
    .await;
    let c = connector(&srv.base_url, ALL);
    let (got, err) = pull_until_error(
        &c,
        &Query {
            page_size: Some(2),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), ["web-0", "web-1"]);
    let err = err.unwrap();
    assert!(
        matches!(&err, Error::Api { code: Some(code), page: 2, .. } if code == "RATE_LIMIT_EXCEEDED"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "caresoft: /api/v1/chats page 2: HTTP 200 code RATE_LIMIT_EXCEEDED: Vượt quá giới hạn"
    );
    // Pages 2 and 3 (numFound 5) are fetched together, the other types
    // alongside; nothing of them is yielded after the error (checked by
    // `pull_until_error`), and nothing is asked for past numFound.
    let pages = srv.pages();
    assert!(pages.contains(&("0".into(), "2".into())), "{pages:?}");
    assert!(
        pages
            .iter()
            .all(|(_, p)| ["1", "2", "3"].contains(&p.as_str())),
        "{pages:?}"
    );
}

#[tokio::test]
async fn malformed_wait_time_names_field_page_and_endpoint() {
    let mut recs = records("web", 4);
    recs[3]["waitTime"] = json!("8 giây");
    let srv = per_type(recs, vec![], vec![]).await;
    let c = connector(&srv.base_url, ALL);
    let (got, err) = pull_until_error(
        &c,
        &Query {
            page_size: Some(2),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), ["web-0", "web-1"]);
    let e = err.unwrap().to_string();
    assert!(
        e == "caresoft: cannot decode /api/v1/chats page 2: at chats[1].waitTime: \
              expected a duration like 00:01:05 (HH:MM:SS) or seconds, got `8 giây`",
        "{e}"
    );
    // Two pages of type 0 (numFound 4); at most page 1 of the other, empty
    // types, which are listed alongside.
    let pages = srv.pages();
    let live: Vec<_> = pages.iter().filter(|(t, _)| t == "0").collect();
    assert_eq!(live, [&("0".into(), "1".into()), &("0".into(), "2".into())]);
    assert!(pages.iter().all(|(t, p)| t == "0" || p == "1"), "{pages:?}");
}

#[tokio::test]
async fn missing_conversation_id_is_a_field_error() {
    let srv = per_type(
        vec![json!({"conversation_id": "", "cus_name": "x"})],
        vec![],
        vec![],
    )
    .await;
    let c = connector(&srv.base_url, ALL);
    let e = pull(&c, &Query::new()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "caresoft: /api/v1/chats page 1: field `chats[0].conversation_id`: missing"
    );
}

#[tokio::test]
async fn a_page_that_repeats_is_an_error_not_a_loop() {
    let recs = records("web", 2);
    // Ignores `page` and reports more than it serves.
    let srv = server::serve(move |_| {
        (
            200,
            json!({"code": "OK", "numFound": 10, "chats": recs}).to_string(),
        )
    })
    .await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let (got, err) = pull_until_error(
        &c,
        &Query {
            page_size: Some(2),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(got.len(), 2);
    assert!(err.unwrap().to_string().contains("page 2 repeats page 1"));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let recs = records("web", 3);
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let srv = server::serve(move |p| {
        // Every other request fails with 503.
        if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            (503, "<html>busy</html>".into())
        } else {
            (200, page_of(&recs, p))
        }
    })
    .await;
    let c = connector(&srv.base_url, ALL);
    let got = pull(&c, &Query::new()).await.unwrap();
    assert_eq!(
        got.len(),
        9,
        "three types, each served the same three records"
    );
    let stats = c.stats();
    assert_eq!((stats.http.requests, stats.http.retries), (6, 3));
}

#[tokio::test]
async fn bad_token_is_an_authentication_error_without_the_token() {
    let srv = per_type(records("web", 1), vec![], vec![]).await;
    let secret = "cs-wrong-0a1b2c3d4e5f";
    let config =
        connector_caresoft::CaresoftConfig::new("acme", secret).with_base_url(&srv.base_url);
    let c = connector_caresoft::CaresoftConnector::new(config).unwrap();
    let e = pull(&c, &Query::new()).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthenticated {
                vendor: "caresoft",
                status: 401,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("caresoft: authentication failed (/api/v1/chats, HTTP 401)"),
        "{text}"
    );
    assert!(!text.contains(secret) && !format!("{e:?}").contains(secret));
    assert!(!format!("{c:?}").contains(secret));
}

#[tokio::test]
async fn unknown_status_is_kept_and_missed_chats_are_missed() {
    let mut a = rec("a", "2023-04-22 10:00:00", "");
    a["chat_status"] = json!("LBL_CHAT_STATUS_MISS");
    let mut b = rec("b", "2023-04-22 10:00:00", "x@x.vn");
    b["chat_status"] = json!("LBL_CHAT_STATUS_SPAM");
    let srv = per_type(vec![a, b], vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(&c, &Query::new()).await.unwrap();
    assert_eq!(got[0].status, Some(Status::Missed));
    assert_eq!(
        got[1].status,
        Some(Status::Other("LBL_CHAT_STATUS_SPAM".into()))
    );
}

/// Counts WARN events from this crate.
struct WarnCounter(Arc<AtomicUsize>);

impl tracing::Subscriber for WarnCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let m = e.metadata();
        if *m.level() == tracing::Level::WARN && m.target().starts_with("connector_caresoft") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn messages_are_not_invented_and_the_warning_comes_once() {
    let srv = per_type(records("web", 2), vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let warns = Arc::new(AtomicUsize::new(0));
    let _guard = tracing::subscriber::set_default(WarnCounter(warns.clone()));
    let q = Query::new().with_messages(true);
    for _ in 0..3 {
        let got = pull(&c, &q).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(
            got.iter()
                .all(|c| !c.messages_fetched && c.messages.is_empty())
        );
    }
    assert_eq!(warns.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().messages, 0);
    // A query without messages does not warn at all on a fresh connector.
    let fresh = connector(&srv.base_url, &[LiveChat]);
    pull(&fresh, &Query::new()).await.unwrap();
    assert_eq!(warns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_conversation_by_id() {
    let srv = server::serve(|p| {
        let recs = match (
            param(p, "conversation_type").as_deref(),
            param(p, "conversation_id").as_deref(),
        ) {
            (Some("1"), Some("fb-9")) => vec![rec("fb-9", "2023-04-22 10:00:00", "a@x.vn")],
            _ => vec![],
        };
        (200, page_of(&recs, p))
    })
    .await;
    let c = connector(&srv.base_url, ALL);
    let got = c.conversation("fb-9", Include::NONE).await.unwrap();
    assert_eq!(
        (got.id.as_str(), got.channel),
        ("fb-9", Some(Channel::Facebook))
    );
    assert_eq!(
        srv.pages(),
        [("0".into(), "1".into()), ("1".into(), "1".into())]
    );
    let e = c.conversation("nope", Include::NONE).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
    assert!(e.to_string().contains("no conversation `nope`"), "{e}");
}

/// A stand-in answering every request after `delay`, counting how many
/// requests it holds at once: `(base_url, most at once, requests)`.
async fn slow_server(
    delay: std::time::Duration,
    per_type: Vec<Value>,
) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<Params>>>) {
    use axum::extract::{Query as Q, State};
    #[derive(Clone)]
    struct St {
        recs: Arc<Vec<Value>>,
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        log: Arc<std::sync::Mutex<Vec<Params>>>,
        delay: std::time::Duration,
    }
    async fn chats(
        State(st): State<St>,
        Q(p): Q<Params>,
    ) -> ([(&'static str, &'static str); 1], String) {
        st.log.lock().unwrap().push(p.clone());
        let now = st.now.fetch_add(1, Ordering::SeqCst) + 1;
        st.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(st.delay).await;
        st.now.fetch_sub(1, Ordering::SeqCst);
        (
            [("content-type", "application/json")],
            page_of(&st.recs, &p),
        )
    }
    let st = St {
        recs: Arc::new(per_type),
        now: Arc::default(),
        most: Arc::default(),
        log: Arc::default(),
        delay,
    };
    let (most, log) = (st.most.clone(), st.log.clone());
    let app = axum::Router::new()
        .route("/caresoft/api/v1/chats", axum::routing::get(chats))
        .with_state(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/caresoft"), most, log)
}

#[tokio::test]
async fn the_pages_of_one_type_are_fetched_concurrently_in_order() {
    // 6 pages of 10, each answered after 100 ms.
    let (base, most, log) =
        slow_server(std::time::Duration::from_millis(100), records("web", 60)).await;
    let c = connector(&base, &[LiveChat]);
    let q = Query {
        page_size: Some(10),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    let want: Vec<String> = (0..60).map(|i| format!("web-{i}")).collect();
    assert_eq!(ids(&got), want, "page order kept");
    let most = most.load(Ordering::SeqCst);
    assert!(
        most > 1,
        "the server never held more than {most} request at once"
    );
    // Page 1 alone, page 2 alone (a server ignoring `page` is caught there),
    // then pages 3 to 6 at once, within the client's in-flight bound (8).
    assert!(most <= 4, "{most} requests at once");
    let pages: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|p| param(p, "page").unwrap())
        .collect();
    assert_eq!(pages[..2], ["1", "2"]);
    let mut rest = pages[2..].to_vec();
    rest.sort();
    assert_eq!(rest, ["3", "4", "5", "6"]);
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (6, 60, Some(60))
    );
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
}

#[tokio::test]
async fn pages_and_types_are_fetched_concurrently_in_order() {
    // 6 pages of 10 per type, each answered after 100 ms.
    let (base, most, log) =
        slow_server(std::time::Duration::from_millis(100), records("r", 60)).await;
    let c = connector(&base, ALL);
    let q = Query {
        page_size: Some(10),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    // Every type's 60 records, types in order 0, 1, 3, each in page order.
    assert_eq!(got.len(), 180);
    let want: Vec<String> = (0..3)
        .flat_map(|_| (0..60).map(|i| format!("r-{i}")))
        .collect();
    assert_eq!(ids(&got), want);
    let channels: Vec<_> = got.iter().map(|c| c.channel.clone().unwrap()).collect();
    assert_eq!(channels[0], Channel::Web);
    assert_eq!(channels[60], Channel::Facebook);
    assert_eq!(channels[179], Channel::Zalo);
    let most = most.load(Ordering::SeqCst);
    assert!(
        most > 1,
        "the server never held more than {most} request at once"
    );
    // Within the client's in-flight bound (8), and no page past numFound.
    assert!(most <= 8, "{most} requests at once");
    let mut pages: Vec<(String, String)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|p| {
            (
                param(p, "conversation_type").unwrap(),
                param(p, "page").unwrap(),
            )
        })
        .collect();
    pages.sort();
    let want: Vec<(String, String)> = ["0", "1", "3"]
        .iter()
        .flat_map(|t| (1..=6).map(move |n| (t.to_string(), n.to_string())))
        .collect();
    assert_eq!(pages, want);
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.http.requests),
        (18, 180, 18)
    );
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
}

#[tokio::test]
async fn with_a_limit_pages_are_fetched_one_at_a_time() {
    let (base, most, log) =
        slow_server(std::time::Duration::from_millis(20), records("r", 60)).await;
    let c = connector(&base, ALL);
    let q = Query {
        page_size: Some(10),
        limit: Some(25),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    let want: Vec<String> = (0..25).map(|i| format!("r-{i}")).collect();
    assert_eq!(ids(&got), want);
    assert_eq!(most.load(Ordering::SeqCst), 1);
    let pages: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|p| {
            (
                param(p, "conversation_type").unwrap(),
                param(p, "page").unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ["1", "2", "3"]
        .iter()
        .map(|n| ("0".to_string(), n.to_string()))
        .collect();
    assert_eq!(pages, want);
}

#[tokio::test]
async fn an_empty_page_before_num_found_ends_the_listing_with_a_shortfall() {
    // numFound promises 6 pages of 10; page 3 comes back empty.
    let recs = records("web", 60);
    let srv = server::serve(move |p| match param(p, "page").as_deref() {
        Some("3") => (
            200,
            json!({"code": "OK", "numFound": 60, "chats": []}).to_string(),
        ),
        _ => (200, page_of(&recs, p)),
    })
    .await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let q = Query {
        page_size: Some(10),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    let want: Vec<String> = (0..20).map(|i| format!("web-{i}")).collect();
    assert_eq!(ids(&got), want, "nothing after the empty page");
    let stats = c.stats();
    // Pages fetched ahead past the empty one are not counted as listed.
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (3, 20, Some(60))
    );
    assert_eq!(
        stats.shortfalls,
        [
            "/api/v1/chats conversation_type 0: the vendor reported 60 chats (numFound), 20 were listed"
        ]
    );
}
