//! KF5's own behaviours, against a stand-in server: its stop rule (a short
//! page ends the listing only when at most 100 were asked), what it pushes
//! down (widened local dates, a customer as visitor and as linked user), a
//! list item's messages completed from the chat's detail, and errors that
//! name KF5's fields and pages. What every vendor does is the conformance
//! suite's (`main.rs`).

use chrono::{DateTime, Utc};
use connector_core::{Connector, Error, Include, Query};
use connector_kf5::{Kf5Config, Kf5Connector};
use serde_json::{Value, json};

use crate::server::{EMAIL, Listing, Server, basic, fast_http, fixture_details, read_fixture};
use crate::{pull, pull_ok};

/// `n` chats with ascending ids, one a day from 2020-01-01 08:00 Shanghai
/// time, visitors cycling over 5, each with a message unless `bare`.
fn dataset(n: usize, bare: bool) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let day = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(i as u64 - 1);
            let created = format!("{day} 08:00:00");
            let mut chat = json!({
                "id": i, "type": "chat", "started_by": "visitor", "status": "close", "agent_id": 7,
                "rating": null, "visitor_id": 100 + i % 5, "user_id": 900 + i % 3,
                "created_at": created, "assigned_at": created, "end_at": format!("{day} 09:00:00"),
            });
            if !bare {
                chat["messages"] = json!([{"id": i * 10, "chat_id": i, "type": "chat.msg", "name": "v", "msg": format!("m{i}"),
                    "upload_id": null, "is_read": 1, "created_at": created, "upload": null}]);
            }
            chat
        })
        .collect()
}

/// The listing was read to page `last` (which ended it), and at most
/// `ahead` pages past it were asked for: pages after the second are read
/// ahead, in a window that doubles after each page that did not end the
/// listing (after page 2: pages 3 and 4; after page 3: up to page 7).
fn assert_asked_through(server: &Server, last: u32, ahead: u32) {
    let mut asked = server.list_pages();
    asked.sort_unstable();
    asked.dedup();
    assert_eq!(
        asked[..last as usize],
        (1..=last).collect::<Vec<_>>(),
        "{asked:?}"
    );
    assert!(asked.len() as u32 <= last + ahead, "{asked:?}");
}

fn ids(cs: &[connector_core::Conversation]) -> Vec<u64> {
    cs.iter().map(|c| c.id.parse().unwrap()).collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_short_page_ends_the_listing_when_at_most_100_were_asked() {
    let server = Server::builder(Listing::Dataset {
        chats: dataset(250, false),
        cap: 100,
    })
    .start()
    .await;
    let got = pull_ok(
        &server.connector(),
        &Query {
            page_size: Some(100),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(got.len(), 250);
    assert_asked_through(&server, 3, 1);

    let server = Server::builder(Listing::Dataset {
        chats: dataset(25, false),
        cap: 100,
    })
    .start()
    .await;
    let got = pull_ok(
        &server.connector(),
        &Query {
            page_size: Some(10),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), (1..=25).collect::<Vec<_>>());
    assert_asked_through(&server, 3, 1);
}

#[tokio::test]
async fn per_page_500_against_a_server_capping_at_100_still_returns_everything() {
    let server = Server::builder(Listing::Dataset {
        chats: dataset(250, false),
        cap: 100,
    })
    .start()
    .await;
    let got = pull_ok(
        &server.connector(),
        &Query {
            page_size: Some(500),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), (1..=250).collect::<Vec<_>>());
    // Pages of 100, 100, 50 are all "short" of 500: only the empty page 4
    // ends it (with pages 5 to 7 perhaps asked for ahead of it).
    assert_asked_through(&server, 4, 3);
    assert!(
        server
            .log()
            .iter()
            .all(|(_, q)| q.get("per_page").map(String::as_str) == Some("500"))
    );
}

#[tokio::test]
async fn created_window_is_pushed_down_widened_then_applied_exactly() {
    // The server ignores the dates: the client must apply the window exactly.
    let server = Server::builder(Listing::Dataset {
        chats: dataset(60, false),
        cap: 100,
    })
    .start()
    .await;
    // [2020-01-10 08:00 Shanghai, 2020-01-20 08:00 Shanghai): chats 10..=19.
    let q = Query::new().created(
        Some(utc("2020-01-10T00:00:00Z")),
        Some(utc("2020-01-20T00:00:00Z")),
    );
    let got = pull_ok(&server.connector(), &q).await;
    assert_eq!(ids(&got), (10..=19).collect::<Vec<_>>());
    let (_, params) = &server.log()[0];
    assert_eq!(params.get("start").map(String::as_str), Some("2020-01-09"));
    assert_eq!(params.get("end").map(String::as_str), Some("2020-01-21"));
    assert!(!params.contains_key("visitor_id") && !params.contains_key("user_id"));
}

#[tokio::test]
async fn a_numeric_customer_matches_the_visitor_or_the_linked_user() {
    // Visitors are 100 + i % 5, users 900 + i % 3; chat 9's visitor is 104,
    // and user 904 does not exist: make chat 9's user 102 so that "102" is
    // the visitor of chats 2, 7, 12, … and the linked user of chat 9.
    let mut chats = dataset(30, true);
    chats[8]["user_id"] = json!(102);
    let server = Server::builder(Listing::Dataset { chats, cap: 100 })
        .start()
        .await;
    let c = server.connector();
    let got = pull_ok(
        &c,
        &Query {
            customer: Some("102".into()),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(
        ids(&got),
        [2, 7, 9, 12, 17, 22, 27],
        "merged in ascending id order"
    );
    let listed: Vec<_> = server
        .log()
        .into_iter()
        .map(|(_, q)| (q.get("visitor_id").cloned(), q.get("user_id").cloned()))
        .collect();
    assert!(
        listed.contains(&(Some("102".into()), None))
            && listed.contains(&(None, Some("102".into()))),
        "{listed:?}"
    );
    assert_eq!(c.stats().listed, 7);

    // A chat both listings return comes once.
    let mut chats = dataset(10, true);
    chats[1]["user_id"] = json!(102);
    let server = Server::builder(Listing::Dataset { chats, cap: 100 })
        .start()
        .await;
    let got = pull_ok(
        &server.connector(),
        &Query {
            customer: Some("102".into()),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), [2, 7]);

    // A user id alone.
    let got = pull_ok(
        &server.connector(),
        &Query {
            customer: Some("901".into()),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), [1, 4, 7, 10]);
    assert!(
        got.iter()
            .all(|c| c.customer.user_id.as_deref() == Some("901"))
    );
}

#[tokio::test]
async fn an_end_time_window_is_not_pushed_down_but_applied() {
    let server = Server::builder(Listing::Dataset {
        chats: dataset(30, false),
        cap: 100,
    })
    .start()
    .await;
    // Ends at 09:00 Shanghai = 01:00Z; [2020-01-05T01:00Z, 2020-01-07T01:00Z) holds chats 5 and 6.
    let q = Query::new().ended(
        Some(utc("2020-01-05T01:00:00Z")),
        Some(utc("2020-01-07T01:00:00Z")),
    );
    let got = pull_ok(&server.connector(), &q).await;
    assert_eq!(ids(&got), [5, 6]);
    assert!(
        server
            .log()
            .iter()
            .all(|(_, q)| !q.contains_key("start") && !q.contains_key("end"))
    );
}

#[tokio::test]
async fn detail_fetches_run_concurrently_and_keep_listing_order() {
    let chats = dataset(40, true);
    let details = dataset(40, false)
        .into_iter()
        .map(|c| (c["id"].to_string(), c))
        .collect();
    let server = Server::builder(Listing::Dataset { chats, cap: 100 })
        .details(details)
        .detail_delay()
        .start()
        .await;
    let c = server.connector();
    let started = std::time::Instant::now();
    let got = pull_ok(&c, &Query::new().with_messages(true)).await;
    assert_eq!(ids(&got), (1..=40).collect::<Vec<_>>());
    for conv in &got {
        assert_eq!(conv.messages.len(), 1);
        assert_eq!(
            conv.messages[0].text.as_deref(),
            Some(format!("m{}", conv.id).as_str())
        );
        assert!(conv.raw.field("messages").is_none());
    }
    // 40 detail requests of up to 40 ms each, 8 in flight: well under their serial sum.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(c.stats().messages, 40);
}

#[tokio::test]
async fn a_malformed_created_at_ends_the_stream_naming_field_page_and_endpoint() {
    let page1 = read_fixture("chats_null_agent.json");
    let page2 = read_fixture("chats_malformed_created_at.json");
    let page3 = read_fixture("chats_rating_strings.json");
    let server = Server::builder(Listing::Pages(vec![page1, page2, page3]))
        .start()
        .await;
    let out = pull(
        &server.connector(),
        &Query {
            page_size: Some(2),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(
        out.len(),
        3,
        "two chats of page 1, then the error, then nothing"
    );
    assert_eq!(out[0].as_ref().unwrap().id, "1201");
    let e = out[2].as_ref().unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("kf5: cannot decode /apiv2/chats.json page 2: at chats[1].created_at: expected a date-time"),
        "{text}"
    );
    assert_eq!(server.list_pages(), [1, 2]);
}

#[tokio::test]
async fn chats_null_mid_listing_is_an_error_not_the_end() {
    let server = Server::builder(Listing::Pages(vec![
        json!({"chats": [{"id": 1}, {"id": 2}]}),
        json!({"chats": null}),
        json!({"chats": [{"id": 5}]}),
    ]))
    .start()
    .await;
    let q = Query {
        page_size: Some(2),
        ..Query::new()
    };
    let out = pull(&server.connector(), &q).await;
    assert_eq!(out.len(), 3, "page 1's chats, then the error, then nothing");
    let e = out[2].as_ref().unwrap_err();
    assert!(matches!(e, Error::Field { page: 2, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "kf5: /apiv2/chats.json page 2: field `chats`: null instead of a list of chats \
         (an empty listing is `[]`)"
    );
}

#[tokio::test]
async fn a_chat_without_id_is_a_field_error() {
    let server = Server::builder(Listing::Pages(vec![
        json!({"chats": [{"id": 1}, {"id": "", "type": "chat"}]}),
    ]))
    .start()
    .await;
    let out = pull(&server.connector(), &Query::new()).await;
    let e = out.last().unwrap().as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "kf5: /apiv2/chats.json page 1: field `chats[1].id`: missing"
    );
}

#[tokio::test]
async fn a_failed_detail_stands_in_its_conversations_place_and_the_stream_goes_on() {
    // Chat 1 has a detail fixture; chat 2 answers 404; chat 3 carries its messages.
    let page = json!({"chats": [{"id": 1, "type": "chat"}, {"id": 2, "type": "chat"}, {"id": 3, "type": "chat", "messages": []}]});
    let server = Server::builder(Listing::Pages(vec![page]))
        .details(fixture_details())
        .start()
        .await;
    let out = pull(&server.connector(), &Query::new().with_messages(true)).await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].as_ref().unwrap().id, "1");
    let e = out[1].as_ref().unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("kf5: /apiv2/chats/2.json page 0: HTTP 404"),
        "{e}"
    );
    assert_eq!(out[2].as_ref().unwrap().id, "3");
    let e = server
        .connector()
        .conversation("2", Include::NONE)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
}

#[tokio::test]
async fn a_detail_for_another_chat_is_an_error() {
    let page = json!({"chats": [{"id": 7, "type": "chat"}]});
    let details = [("7".to_owned(), json!({"id": 8, "messages": []}))].into();
    let server = Server::builder(Listing::Pages(vec![page]))
        .details(details)
        .start()
        .await;
    let out = pull(&server.connector(), &Query::new().with_messages(true)).await;
    let e = out[0].as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "kf5: /apiv2/chats/7.json page 0: field `chat.id`: is `8`, expected `7`"
    );
}

#[tokio::test]
async fn the_api_token_authenticates_as_email_slash_token() {
    let token = "tok-0123456789abcdef";
    let server = Server::builder(Listing::Pages(vec![read_fixture(
        "chats_rating_strings.json",
    )]))
    .authorization(basic(&format!("{EMAIL}/token"), token))
    .start()
    .await;
    let c = Kf5Connector::new(
        Kf5Config::new("acme", EMAIL, "unused")
            .with_api_token(token)
            .with_base_url(&server.url)
            .with_http(fast_http()),
    )
    .unwrap();
    assert_eq!(pull_ok(&c, &Query::new()).await.len(), 5);
    assert!(!format!("{c:?}").contains(token));
    // Through the registry, with the token from key/values.
    let factory = connector_core::registry::find("kf5").unwrap();
    let cfg = factory
        .resolve([
            ("base_url", server.url.as_str()),
            ("email", EMAIL),
            ("api_token", token),
            ("max_attempts", "1"),
        ])
        .unwrap();
    let c = (factory.build)(&cfg).unwrap();
    assert_eq!(c.info().account, "127.0.0.1");
    assert_eq!(pull_ok(c.as_ref(), &Query::new()).await.len(), 5);
}

#[tokio::test]
async fn a_malformed_message_stands_in_its_conversations_place() {
    let page = read_fixture("chats_malformed_message.json");
    let server = Server::builder(Listing::Pages(vec![page])).start().await;
    let c = server.connector();
    let out = pull(&c, &Query::new().with_messages(true)).await;
    assert_eq!(out.len(), 2);
    let e = out[0].as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with("kf5: cannot decode /apiv2/chats.json page 1: at chats[0].messages[1].created_at: expected a date-time"),
        "{e}"
    );
    assert_eq!(out[1].as_ref().unwrap().messages.len(), 1);
    // Without messages the chat is fine: messages are only read when asked for.
    let out = pull_ok(&c, &Query::new()).await;
    assert_eq!(out.len(), 2);
}
