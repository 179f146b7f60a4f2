//! End to end against the `chathaul-sim` CareSoft simulator: what the
//! connector pulls must equal the simulator's ground truth, field by field.

use std::collections::BTreeMap;
use std::time::Duration;

use chathaul_sim::{SimOptions, Simulator};
use connector_caresoft::{CaresoftConfig, CaresoftConnector, VENDOR};
use connector_core::{Channel, Connector, Conversation, Error, Include, Query, registry};
use connector_testkit::{assert_same_conversations, without_messages};

use crate::pull;

async fn sim(conversations: usize, fault_rate: f64) -> Simulator {
    Simulator::start(SimOptions {
        seed: 7,
        conversations,
        fault_rate,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The connector the registry builds from the simulator's config, with
/// `extra` key/values and fast retries.
fn connect(sim: &Simulator, extra: &[(&str, &str)]) -> CaresoftConnector {
    let mut values = sim.config(VENDOR);
    values.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let resolved = registry::find(VENDOR).unwrap().resolve(values).unwrap();
    let mut config = CaresoftConfig::from_resolved(&resolved).unwrap();
    config.http.min_backoff = Duration::from_millis(5);
    config.http.max_backoff = Duration::from_millis(50);
    CaresoftConnector::new(config).unwrap()
}

/// The truth as a pull without messages sees it, filtered by `q`.
fn truth(sim: &Simulator, q: &Query) -> Vec<Conversation> {
    sim.truth(VENDOR)
        .iter()
        .map(without_messages)
        .filter(|c| q.matches(c))
        .collect()
}

fn per_channel(cs: &[Conversation]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in cs {
        *m.entry(
            c.channel
                .as_ref()
                .map_or("none".to_owned(), |ch| ch.to_string()),
        )
        .or_insert(0) += 1;
    }
    m
}

/// The window `[a, b)` between the creation (or end) times of two truth records.
fn window_of(
    cs: &[Conversation],
    ended: bool,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let mut times: Vec<_> = cs
        .iter()
        .filter_map(|c| if ended { c.ended_at } else { c.created_at })
        .collect();
    times.sort();
    (times[times.len() / 4], times[times.len() * 3 / 4])
}

#[tokio::test]
async fn full_pull_returns_all_three_types_and_equals_the_truth() {
    let sim = sim(120, 0.0).await;
    let c = connect(&sim, &[]);
    let pulled = pull(&c, &Query::new()).await.unwrap();
    let want = truth(&sim, &Query::new());
    assert_eq!(want.len(), 120);
    assert_same_conversations(&pulled, &want);
    let channels = per_channel(&pulled);
    assert_eq!(
        channels.keys().collect::<Vec<_>>(),
        ["facebook", "web", "zalo"],
        "{channels:?}"
    );
    // Listing order: live chat, then Facebook, then Zalo.
    let order: Vec<_> = pulled.iter().map(|c| c.channel.clone().unwrap()).collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|ch| {
        [Channel::Web, Channel::Facebook, Channel::Zalo]
            .iter()
            .position(|x| x == ch)
    });
    assert_eq!(order, sorted);
    assert!(
        pulled
            .iter()
            .all(|c| c.account == "demo" && !c.raw.is_null())
    );
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (3, 120, Some(120))
    );
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
}

#[tokio::test]
async fn created_window_equals_the_filtered_truth() {
    let sim = sim(150, 0.0).await;
    let c = connect(&sim, &[]);
    let (since, until) = window_of(&sim.truth(VENDOR), false);
    let q = Query::new().created(Some(since), Some(until));
    let want = truth(&sim, &q);
    assert!((60..=90).contains(&want.len()), "{}", want.len());
    let pulled = pull(&c, &q).await.unwrap();
    assert_same_conversations(&pulled, &want);
}

#[tokio::test]
async fn ended_window_equals_the_filtered_truth() {
    let sim = sim(150, 0.0).await;
    let c = connect(&sim, &[]);
    let (since, until) = window_of(&sim.truth(VENDOR), true);
    let q = Query::new().ended(Some(since), Some(until));
    let want = truth(&sim, &q);
    assert!((60..=90).contains(&want.len()), "{}", want.len());
    let pulled = pull(&c, &q).await.unwrap();
    assert_same_conversations(&pulled, &want);
    // Half-open: the end of the window is outside it.
    assert!(
        pulled
            .iter()
            .all(|c| c.ended_at.unwrap() >= since && c.ended_at.unwrap() < until)
    );
}

#[tokio::test]
async fn more_than_500_of_one_type_are_paged_500_at_a_time() {
    let sim = sim(1200, 0.0).await;
    let c = connect(&sim, &[]);
    let want = truth(&sim, &Query::new());
    let counts = per_channel(&want);
    assert!(counts["web"] > 500, "{counts:?}");
    let pulled = pull(&c, &Query::new()).await.unwrap();
    assert_same_conversations(&pulled, &want);
    let pages: u64 = counts
        .values()
        .map(|&n| (n as u64).div_ceil(500).max(1))
        .sum();
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (pages, 1200, Some(1200))
    );
    assert_eq!(
        stats.http.requests, pages,
        "one request per page, no extra page after numFound"
    );
}

#[tokio::test]
async fn ten_percent_faults_still_give_exactly_the_truth() {
    let sim = sim(150, 0.10).await;
    let c = connect(&sim, &[("max_attempts", "10")]);
    let q = Query {
        page_size: Some(20),
        ..Query::new()
    };
    let pulled = pull(&c, &q).await.unwrap();
    assert_same_conversations(&pulled, &truth(&sim, &Query::new()));
    let stats = c.stats();
    assert!(
        stats.http.retries > 0,
        "10% faults over {} requests caused no retry",
        stats.http.requests
    );
    assert!(sim.stats().faults > 0);
    assert_eq!(stats.listed, 150);
    assert!(stats.shortfalls.is_empty(), "{:?}", stats.shortfalls);
}

#[tokio::test]
async fn bad_token_is_an_authentication_error_naming_caresoft_without_the_token() {
    let sim = sim(20, 0.0).await;
    let secret = "caresoft-wrong-token-31337";
    let c = connect(&sim, &[("token", secret)]);
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
        text.starts_with("caresoft: authentication failed"),
        "{text}"
    );
    assert!(
        !text.contains(secret) && !format!("{e:?}").contains(secret),
        "{text}"
    );
    assert!(!format!("{c:?}").contains(secret));
    assert_eq!(e.kind(), "auth");
}

#[tokio::test]
async fn agent_id_customer_and_channel_filters_equal_the_truth() {
    let sim = sim(150, 0.0).await;
    let c = connect(&sim, &[]);
    let all = truth(&sim, &Query::new());
    // An agent id is pushed down as assignees[] and trusted: compare with the
    // truth filtered by that agent's e-mail.
    let agent = sim
        .agents(VENDOR)
        .into_iter()
        .find(|a| {
            all.iter()
                .any(|c| c.agent.as_ref().and_then(|x| x.email.as_deref()) == Some(&a.email))
        })
        .unwrap();
    let by_id = pull(
        &c,
        &Query {
            agent: Some(agent.id.to_string()),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    let by_email = truth(
        &sim,
        &Query {
            agent: Some(agent.email.clone()),
            ..Query::new()
        },
    );
    assert!(!by_email.is_empty());
    assert_same_conversations(&by_id, &by_email);
    let by_email_pulled = pull(
        &c,
        &Query {
            agent: Some(agent.email.clone()),
            ..Query::new()
        },
    )
    .await
    .unwrap();
    assert_same_conversations(&by_email_pulled, &by_email);
    // Customer id.
    let customer = all[0].customer.id.clone().unwrap();
    let q = Query {
        customer: Some(customer),
        ..Query::new()
    };
    let pulled = pull(&c, &q).await.unwrap();
    assert!(!pulled.is_empty());
    assert_same_conversations(&pulled, &truth(&sim, &q));
    // Channel.
    let q = Query {
        channel: Some(Channel::Zalo),
        ..Query::new()
    };
    let pulled = pull(&c, &q).await.unwrap();
    assert!(!pulled.is_empty());
    assert_same_conversations(&pulled, &truth(&sim, &q));
}

#[tokio::test]
async fn configured_types_limit_the_listing() {
    let sim = sim(100, 0.0).await;
    let c = connect(&sim, &[("conversation_types", "facebook,zalo")]);
    let pulled = pull(&c, &Query::new()).await.unwrap();
    let want: Vec<_> = truth(&sim, &Query::new())
        .into_iter()
        .filter(|c| c.channel != Some(Channel::Web))
        .collect();
    assert!(!want.is_empty());
    assert_same_conversations(&pulled, &want);
}

#[tokio::test]
async fn messages_asked_for_are_not_fetched_nor_invented() {
    let sim = sim(30, 0.0).await;
    let c = connect(&sim, &[]);
    let pulled = pull(&c, &Query::new().with_messages(true).with_summaries(true))
        .await
        .unwrap();
    assert_same_conversations(&pulled, &truth(&sim, &Query::new()));
    assert!(
        pulled
            .iter()
            .all(|c| !c.messages_fetched && c.messages.is_empty() && c.summary.is_none())
    );
}

#[tokio::test]
async fn one_conversation_by_id_equals_its_truth() {
    let sim = sim(60, 0.0).await;
    let c = connect(&sim, &[]);
    let all = truth(&sim, &Query::new());
    let zalo = all
        .iter()
        .find(|c| c.channel == Some(Channel::Zalo))
        .unwrap();
    let got = c.conversation(&zalo.id, Include::NONE).await.unwrap();
    assert_same_conversations(&[got], std::slice::from_ref(zalo));
}

#[tokio::test]
async fn a_server_rate_limit_is_honoured_and_a_client_rate_limit_avoids_it() {
    let sim = Simulator::start(SimOptions {
        seed: 11,
        conversations: 60,
        rate_limit: Some(8),
        ..Default::default()
    })
    .await
    .unwrap();
    let want = truth(&sim, &Query::new());
    // Pages of 5: about 15 requests in a quick sequence, over the server's 8/s.
    let q = Query {
        page_size: Some(5),
        ..Query::new()
    };
    let c = connect(&sim, &[]);
    assert_same_conversations(&pull(&c, &q).await.unwrap(), &want);
    assert!(c.stats().http.throttled > 0, "{:?}", c.stats());
    // A client-side limit under the server's: no 429 at all.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let c = connect(&sim, &[("rate_limit", "6")]);
    assert_same_conversations(&pull(&c, &q).await.unwrap(), &want);
    assert_eq!(c.stats().http.throttled, 0, "{:?}", c.stats());
}
