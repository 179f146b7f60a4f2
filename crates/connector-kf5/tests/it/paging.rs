//! Paging, filters and concurrency through the real HTTP path, against a
//! counting test server.

use chrono::{DateTime, Utc};
use connector_core::{Connector, Query};
use serde_json::{Value, json};

use crate::pull_ok;
use crate::server::{Listing, Server};

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

fn ids(cs: &[connector_core::Conversation]) -> Vec<u64> {
    cs.iter().map(|c| c.id.parse().unwrap()).collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_last_page_exactly_per_page_long_still_ends_with_one_empty_page() {
    let server = Server::builder(Listing::Dataset {
        chats: dataset(200, false),
        cap: 100,
    })
    .start()
    .await;
    let c = server.connector();
    let got = pull_ok(&c, &Query::new()).await;
    assert_eq!(ids(&got), (1..=200).collect::<Vec<_>>());
    assert_eq!(
        server.list_pages(),
        [1, 2, 3],
        "pages 1 and 2 are full, page 3 is empty, no page 4"
    );
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.http.requests),
        (3, 200, 3)
    );
    assert!(
        server
            .log()
            .iter()
            .all(|(_, q)| q.get("per_page").map(String::as_str) == Some("100"))
    );
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
    assert_eq!(server.list_pages(), [1, 2, 3]);

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
    assert_eq!(server.list_pages(), [1, 2, 3]);
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
    // Pages of 100, 100, 50 are all "short" of 500: only the empty page 4 ends it.
    assert_eq!(server.list_pages(), [1, 2, 3, 4]);
    assert!(
        server
            .log()
            .iter()
            .all(|(_, q)| q.get("per_page").map(String::as_str) == Some("500"))
    );
}

#[tokio::test]
async fn limit_stops_the_listing_early() {
    let server = Server::builder(Listing::Dataset {
        chats: dataset(250, true),
        cap: 100,
    })
    .start()
    .await;
    let got = pull_ok(
        &server.connector(),
        &Query {
            limit: Some(5),
            page_size: Some(3),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(ids(&got), [1, 2, 3, 4, 5]);
    assert!(server.list_pages().len() <= 3, "{:?}", server.list_pages());
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
