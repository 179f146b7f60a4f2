//! CareSoft's own behaviours, against a loopback stand-in (and the
//! simulator, where it knows what the records cannot show): every
//! configured conversation type listed and stamped with its channel, pages
//! of up to 500 until `numFound`, what a query pushes down (widened UTC
//! windows, agent and customer ids, the channel choosing the types), the
//! envelope's error codes, a conversation by id, and messages asked for but
//! never invented. What every vendor does is the conformance suite's
//! (`main.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chathaul_sim::{SimOptions, Simulator};
use chrono::{DateTime, Utc};
use connector_caresoft::ConversationType::{self, Facebook, LiveChat, Zalo};
use connector_caresoft::{CaresoftConfig, CaresoftConnector, VENDOR};
use connector_core::listing::READ_AHEAD;
use connector_core::{BadRecord, Channel, Connector, Error, Include, Query, registry};
use connector_testkit::{assert_same_conversations, without_messages};
use futures::StreamExt;
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

/// `(conversation_type, page)` of every request, sorted.
fn sorted_pages(srv: &server::Server) -> Vec<(String, String)> {
    let mut pages = srv.pages();
    pages.sort();
    pages
}

fn pair(t: &str, p: &str) -> (String, String) {
    (t.to_owned(), p.to_owned())
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
    // One request per type: each numFound is reached on its first page.
    assert_eq!(
        sorted_pages(&srv),
        [pair("0", "1"), pair("1", "1"), pair("3", "1")]
    );
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (3, 5, Some(5))
    );
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
}

#[tokio::test]
async fn configured_types_are_the_ones_listed() {
    let srv = per_type(records("web", 2), records("fb", 1), records("zalo", 2)).await;
    let c = connector(&srv.base_url, &[Zalo, Facebook]);
    let got = pull(&c, &Query::new()).await.unwrap();
    assert_eq!(ids(&got), ["fb-0", "zalo-0", "zalo-1"]);
    assert_eq!(sorted_pages(&srv), [pair("1", "1"), pair("3", "1")]);
}

#[tokio::test]
async fn pages_of_500_until_num_found() {
    let srv = per_type(records("web", 1203), vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let got = pull(&c, &Query::new()).await.unwrap();
    assert_eq!(got.len(), 1203);
    assert_eq!(got[1202].id, "web-1202");
    // 1203 records listed after page 3: no fourth request.
    assert_eq!(
        sorted_pages(&srv),
        [pair("0", "1"), pair("0", "2"), pair("0", "3")]
    );
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
    let q = Query {
        page_size: Some(3),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(got.len(), 7);
    // Pages 1 to 4 (3, 3, 1 and none), and a few read ahead past the end.
    let asked: Vec<u32> = srv
        .requests()
        .iter()
        .map(|p| {
            assert_eq!(param(p, "count").as_deref(), Some("3"));
            param(p, "page").unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(asked[..2], [1, 2]);
    let mut sorted = asked.clone();
    sorted.sort_unstable();
    assert_eq!(sorted[..4], [1, 2, 3, 4]);
    assert!(asked.len() <= 4 + READ_AHEAD, "{asked:?}");
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (4, 7, None)
    );
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
    // Pages fetched ahead past the empty one are not counted.
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (3, 20, Some(60))
    );
    assert_eq!(
        stats.shortfalls,
        ["/api/v1/chats (conversation_type=0): the vendor reported 60 records, 20 were listed"]
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
async fn an_agent_id_is_pushed_down_trimmed_as_assignees_and_trusted() {
    let srv = server::serve(agent_listing).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    for agent in ["42", " 42 "] {
        let q = Query {
            agent: Some(agent.into()),
            ..Query::new()
        };
        let got = pull(&c, &q).await.unwrap();
        assert_eq!(ids(&got), ["a-1"], "{agent:?}");
        let last = srv.requests().pop().unwrap();
        assert_eq!(param(&last, "assignees[]").as_deref(), Some("42"));
    }
}

#[tokio::test]
async fn an_agent_email_is_matched_on_the_client() {
    let srv = server::serve(agent_listing).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let q = Query {
        agent: Some("binh@x.vn".into()),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(ids(&got), ["b-1"]);
    assert_eq!(param(&srv.requests()[0], "assignees[]"), None);
}

#[tokio::test]
async fn a_customer_id_is_pushed_down_and_checked() {
    let srv = server::serve(agent_listing).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let q = Query {
        customer: Some("7".into()),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(ids(&got), ["b-1"]);
    assert_eq!(got[0].customer.id.as_deref(), Some("7"));
    assert_eq!(
        param(&srv.requests()[0], "customers[]").as_deref(),
        Some("7")
    );
}

/// Against the simulator, which knows its agents' ids: an agent id pushed
/// down gives what that agent's e-mail selects.
#[tokio::test]
async fn an_agent_id_gives_what_the_agents_email_selects() {
    let sim = Simulator::start(SimOptions {
        seed: 7,
        conversations: 150,
        ..Default::default()
    })
    .await
    .unwrap();
    let values = sim.config(VENDOR);
    let resolved = registry::find(VENDOR).unwrap().resolve(values).unwrap();
    let c = CaresoftConnector::new(CaresoftConfig::from_resolved(&resolved).unwrap()).unwrap();
    let all: Vec<_> = sim.truth(VENDOR).iter().map(without_messages).collect();
    let email = |c: &connector_core::Conversation| c.agent.as_ref().and_then(|a| a.email.clone());
    let agent = sim
        .agents(VENDOR)
        .into_iter()
        .find(|a| all.iter().any(|c| email(c).as_deref() == Some(&a.email)))
        .unwrap();
    let q = Query {
        agent: Some(agent.id.to_string()),
        ..Query::new()
    };
    let by_id = pull(&c, &q).await.unwrap();
    let by_email: Vec<_> = all
        .iter()
        .filter(|c| email(c).as_deref() == Some(&agent.email))
        .cloned()
        .collect();
    assert!(!by_email.is_empty());
    assert_same_conversations(&by_id, &by_email);
}

#[tokio::test]
async fn the_channel_chooses_the_types_listed() {
    let srv = per_type(records("web", 2), records("fb", 2), records("zalo", 2)).await;
    let c = connector(&srv.base_url, ALL);
    let q = Query {
        channel: Some(Channel::Facebook),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(ids(&got), ["fb-0", "fb-1"]);
    assert_eq!(srv.pages(), [pair("1", "1")]);
    let q = Query {
        channel: Some(Channel::Wechat),
        ..Query::new()
    };
    assert!(pull(&c, &q).await.unwrap().is_empty());
    assert_eq!(
        srv.requests().len(),
        1,
        "a channel CareSoft does not serve asks for nothing"
    );
}

#[tokio::test]
async fn a_limit_is_met_without_asking_the_later_types() {
    let srv = per_type(records("web", 30), records("fb", 30), vec![]).await;
    let c = connector(&srv.base_url, ALL);
    let q = Query {
        limit: Some(4),
        page_size: Some(10),
        ..Query::new()
    };
    let got = pull(&c, &q).await.unwrap();
    assert_eq!(ids(&got), ["web-0", "web-1", "web-2", "web-3"]);
    assert_eq!(srv.pages(), [pair("0", "1")]);
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
    let q = Query {
        page_size: Some(2),
        ..Query::new()
    };
    let (got, err) = pull_until_error(&c, &q).await;
    assert_eq!(ids(&got), ["web-0", "web-1"]);
    let err = err.unwrap();
    assert!(
        matches!(&err, Error::Api { code: Some(code), page: 2, status: 200, .. } if code == "RATE_LIMIT_EXCEEDED"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "caresoft: /api/v1/chats page 2: HTTP 200 code RATE_LIMIT_EXCEEDED: Vượt quá giới hạn"
    );
    // Nothing asked for past numFound's three pages.
    let pages = srv.pages();
    assert!(pages.contains(&pair("0", "2")), "{pages:?}");
    assert!(
        pages
            .iter()
            .all(|(_, p)| ["1", "2", "3"].contains(&p.as_str())),
        "{pages:?}"
    );
}

#[tokio::test]
async fn a_malformed_duration_names_field_page_and_endpoint() {
    let mut recs = records("web", 4);
    recs[3]["waitTime"] = json!("8 giây");
    let srv = per_type(recs, vec![], vec![]).await;
    let c = connector(&srv.base_url, ALL);
    let q = Query {
        page_size: Some(2),
        ..Query::new()
    };
    let (got, err) = pull_until_error(&c, &q).await;
    assert_eq!(ids(&got), ["web-0", "web-1"]);
    assert_eq!(
        err.unwrap().to_string(),
        "caresoft: cannot decode /api/v1/chats page 2: at chats[1].waitTime: \
         expected a duration like 00:01:05 (HH:MM:SS) or seconds, got `8 giây`"
    );
    let live: Vec<_> = srv.pages().into_iter().filter(|(t, _)| t == "0").collect();
    assert_eq!(live, [pair("0", "1"), pair("0", "2")]);
}

#[tokio::test]
async fn a_record_without_conversation_id_is_a_field_error() {
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
async fn one_conversation_by_id_asks_each_type_in_turn() {
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
    assert_eq!(srv.pages(), [pair("0", "1"), pair("1", "1")]);
    let e = c.conversation("nope", Include::NONE).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "caresoft: /api/v1/chats page 0: HTTP 404: no conversation `nope` among the configured conversation types"
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
    // Nor is a request spent on them: one page per pull.
    assert_eq!(srv.requests().len(), 4);
}

#[tokio::test]
async fn bad_records_are_set_aside_under_skip_and_every_type_is_still_listed() {
    let mut live = records("web", 4);
    live[1]["waitTime"] = json!("8 giây");
    live[2]["conversation_id"] = json!("");
    let srv = per_type(live, records("fb", 2), vec![]).await;
    let c = connector(&srv.base_url, ALL);
    let q = Query {
        page_size: Some(3),
        ..Query::new().on_bad_record(BadRecord::Skip)
    };
    let items: Vec<_> = c.conversations(&q).collect().await;
    // Each page's good records in order, then (at the page's end) the ones
    // set aside; the next page and the next type are still read.
    let seen: Vec<String> = items
        .iter()
        .map(|r| match r {
            Ok(c) => c.id.clone(),
            Err(Error::Rejected { error, .. }) => {
                let place = error.place().unwrap();
                format!("rejected p{} {}", place.page, place.path.unwrap_or(""))
            }
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            "web-0",
            "rejected p1 chats[1].waitTime",
            "rejected p1 chats[2].conversation_id",
            "web-3",
            "fb-0",
            "fb-1"
        ]
    );
    let Err(Error::Rejected { raw, .. }) = &items[1] else {
        panic!("{:?}", items[1])
    };
    assert!(raw.contains(r#""waitTime":"8 giây""#), "{raw}");
    // Counted as listed: numFound is met, no shortfall.
    let stats = c.stats();
    assert_eq!(stats.listed, 6);
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
    // Under fail (the default) the same record fails its page and ends the
    // pull.
    let (got, err) = pull_until_error(
        &c,
        &Query {
            page_size: Some(3),
            ..Query::new()
        },
    )
    .await;
    assert!(got.is_empty(), "{:?}", ids(&got));
    assert!(
        err.unwrap()
            .to_string()
            .contains("page 1: at chats[1].waitTime")
    );
}

#[tokio::test]
async fn completing_a_listed_conversation_adds_nothing_and_asks_nothing() {
    let srv = per_type(records("web", 2), vec![], vec![]).await;
    let c = connector(&srv.base_url, &[LiveChat]);
    let listed = pull(&c, &Query::new()).await.unwrap();
    let requests = srv.requests().len();
    for conversation in listed {
        let done = c
            .complete(conversation.clone(), Include::ALL)
            .await
            .unwrap();
        assert_eq!(done, conversation);
        assert!(!done.messages_fetched && done.messages.is_empty());
    }
    assert_eq!(srv.requests().len(), requests);
}
