//! End to end against the simulator (`chathaul-sim`): what the connector
//! pulls equals the simulator's ground truth, field by field.

use chathaul_sim::{Fault, SimOptions, Simulator};
use chrono::{DateTime, Duration, Utc};
use connector_core::{Connector, Conversation, Error, Include, Query};
use connector_kf5::{Kf5Config, Kf5Connector, VENDOR};
use connector_testkit::{assert_same_conversations, without_messages};

use crate::server::fast_http;
use crate::{pull, pull_ok};

/// The simulator's demo API token (the config it prints carries the password).
const SIM_API_TOKEN: &str = "kf5-demo-token";

async fn sim(conversations: usize, messages: usize) -> Simulator {
    Simulator::start(SimOptions {
        seed: 7,
        conversations,
        messages,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A connector built the way a user builds one: the registry resolves the
/// simulator's config; retries are made fast for the tests.
fn connector(config: Vec<(String, String)>) -> Kf5Connector {
    let resolved = connector_core::registry::find(VENDOR)
        .unwrap()
        .resolve(config)
        .unwrap();
    let mut config = Kf5Config::from_resolved(&resolved).unwrap();
    // Keep the resolved settings (rate_limit, concurrency); retry fast.
    let fast = fast_http();
    config.http.max_attempts = 10;
    config.http.min_backoff = fast.min_backoff;
    config.http.max_backoff = fast.max_backoff;
    Kf5Connector::new(config).unwrap()
}

fn stripped(truth: &[Conversation]) -> Vec<Conversation> {
    truth.iter().map(without_messages).collect()
}

#[tokio::test]
async fn a_full_pull_with_messages_equals_the_ground_truth() {
    let sim = sim(120, 10).await;
    let c = connector(sim.config(VENDOR));
    let pulled = pull_ok(&c, &Query::new().with_messages(true)).await;
    let truth = sim.truth(VENDOR);
    assert_eq!(truth.len(), 120);
    assert_same_conversations(&pulled, &truth);
    // Listing order is ascending id.
    let ids: Vec<u64> = pulled.iter().map(|c| c.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let stats = c.stats();
    assert_eq!(stats.listed, 120);
    assert_eq!(
        stats.messages,
        truth.iter().map(|t| t.messages.len() as u64).sum::<u64>()
    );
    assert_eq!((stats.reported_total, stats.shortfalls.len()), (None, 0));
    // One by id, too.
    let one = c
        .conversation(
            &truth[5].id,
            Include {
                messages: true,
                summaries: false,
            },
        )
        .await
        .unwrap();
    assert_same_conversations(&[one], &truth[5..6]);
}

#[tokio::test]
async fn a_pull_without_messages_fetches_no_details() {
    let sim = sim(80, 6).await;
    let c = connector(sim.config(VENDOR));
    let pulled = pull_ok(&c, &Query::new()).await;
    assert_same_conversations(&pulled, &stripped(&sim.truth(VENDOR)));
    assert_eq!(
        c.stats().http.requests,
        1,
        "80 chats: one short page of 100"
    );
}

#[tokio::test]
async fn windowed_pulls_equal_the_filtered_ground_truth() {
    let sim = sim(150, 4).await;
    let truth = sim.truth(VENDOR);
    let c = connector(sim.config(VENDOR));
    let created: Vec<DateTime<Utc>> = truth.iter().filter_map(|t| t.created_at).collect();
    let (first, last) = (
        *created.iter().min().unwrap(),
        *created.iter().max().unwrap(),
    );
    let span = last - first;
    let at = |f: i32| first + span * f / 10;
    let windows = [
        Query::new().created(Some(at(2)), Some(at(5))),
        Query::new().created(Some(at(7)), None),
        Query::new().created(None, Some(at(1))),
        // Bounds exactly on a chat's creation instant: since inclusive, until exclusive.
        Query::new().created(Some(created[40]), Some(created[90])),
        // A window of a day and a half: local midnights inside.
        Query::new().created(
            Some(at(3) - Duration::hours(18)),
            Some(at(3) + Duration::hours(18)),
        ),
        Query::new().ended(Some(at(4)), Some(at(6))),
        Query {
            page_size: Some(7),
            ..Query::new().created(Some(at(1)), Some(at(9)))
        },
    ];
    for q in windows {
        let q = q.with_messages(true);
        let want: Vec<Conversation> = truth.iter().filter(|t| q.matches(t)).cloned().collect();
        assert!(!want.is_empty(), "{q:?} selects nothing");
        let pulled = pull_ok(&c, &q).await;
        assert_same_conversations(&pulled, &want);
    }
}

#[tokio::test]
async fn customer_and_agent_filters_equal_the_filtered_ground_truth() {
    let sim = sim(150, 3).await;
    let truth = sim.truth(VENDOR);
    let c = connector(sim.config(VENDOR));
    let visitor = truth[10].customer.id.clone().unwrap();
    let user = truth
        .iter()
        .find_map(|t| t.customer.user_id.clone())
        .unwrap();
    let agent = truth
        .iter()
        .find_map(|t| t.agent.as_ref()?.id.clone())
        .unwrap();
    let queries = [visitor, user, "no-such-visitor".to_owned()]
        .map(|customer| Query {
            customer: Some(customer),
            ..Query::new()
        })
        .into_iter()
        .chain([Query {
            agent: Some(agent),
            ..Query::new()
        }]);
    for q in queries {
        let want: Vec<Conversation> = truth
            .iter()
            .filter(|t| q.matches(t))
            .map(without_messages)
            .collect();
        let pulled = pull_ok(&c, &q).await;
        assert_same_conversations(&pulled, &want);
    }
}

#[tokio::test]
async fn a_last_page_exactly_per_page_long_ends_after_one_empty_page() {
    let sim = sim(200, 2).await;
    let c = connector(sim.config(VENDOR));
    let pulled = pull_ok(&c, &Query::new()).await;
    assert_same_conversations(&pulled, &stripped(&sim.truth(VENDOR)));
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.http.requests),
        (3, 200, 3),
        "pages 1 and 2 full, page 3 empty"
    );
    assert_eq!(sim.stats().requests, 3);
}

#[tokio::test]
async fn per_page_500_against_the_capping_server_returns_everything() {
    let sim = sim(250, 2).await;
    let c = connector(sim.config(VENDOR));
    let pulled = pull_ok(
        &c,
        &Query {
            page_size: Some(500),
            ..Query::new()
        },
    )
    .await;
    assert_same_conversations(&pulled, &stripped(&sim.truth(VENDOR)));
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed),
        (4, 250),
        "pages of 100, 100, 50 and an empty one"
    );
}

#[tokio::test]
async fn ten_percent_faults_still_give_exactly_the_ground_truth() {
    let sim = Simulator::start(SimOptions {
        seed: 11,
        conversations: 120,
        messages: 6,
        fault_rate: 0.1,
        faults: Fault::DEFAULT.to_vec(),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = connector(sim.config(VENDOR));
    let pulled = pull_ok(
        &c,
        &Query {
            page_size: Some(20),
            ..Query::new().with_messages(true)
        },
    )
    .await;
    assert_same_conversations(&pulled, &sim.truth(VENDOR));
    assert!(sim.stats().faults > 0, "the simulator injected no fault");
    assert!(c.stats().http.retries > 0);
}

#[tokio::test]
async fn bad_credentials_are_an_authentication_error_naming_kf5_without_the_secret() {
    let sim = sim(10, 2).await;
    let secret = "wrong-but-secret-pw-123";
    let config: Vec<(String, String)> = sim
        .config(VENDOR)
        .into_iter()
        .map(|(k, v)| {
            if k == "password" {
                (k, secret.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let c = connector(config);
    let out = pull(&c, &Query::new()).await;
    assert_eq!(out.len(), 1);
    let e = out[0].as_ref().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthenticated {
                vendor: "kf5",
                status: 401,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.starts_with("kf5: authentication failed"), "{text}");
    for shown in [
        text,
        format!("{e:?}"),
        format!("{c:?}"),
        format!("{:?}", c.config()),
    ] {
        assert!(!shown.contains(secret), "the secret leaked: {shown}");
    }
}

#[tokio::test]
async fn the_api_token_authenticates() {
    let sim = sim(30, 3).await;
    let config: Vec<(String, String)> = sim
        .config(VENDOR)
        .into_iter()
        .map(|(k, v)| {
            if k == "password" {
                ("api_token".to_owned(), SIM_API_TOKEN.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let c = connector(config);
    let pulled = pull_ok(&c, &Query::new().with_messages(true)).await;
    assert_same_conversations(&pulled, &sim.truth(VENDOR));
    // A wrong token is refused.
    let config: Vec<(String, String)> = sim
        .config(VENDOR)
        .into_iter()
        .map(|(k, v)| {
            if k == "password" {
                ("api_token".to_owned(), "nope".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let out = pull(&connector(config), &Query::new()).await;
    assert!(matches!(out[0], Err(Error::Unauthenticated { .. })));
}

#[tokio::test]
async fn a_server_rate_limit_is_honoured_and_a_client_rate_limit_avoids_it() {
    let sim = Simulator::start(SimOptions {
        seed: 5,
        conversations: 40,
        messages: 3,
        rate_limit: Some(8),
        ..Default::default()
    })
    .await
    .unwrap();
    let truth = sim.truth(VENDOR);
    // No client-side limit: the burst of detail requests meets 429s, whose
    // Retry-After is honoured.
    let c = connector(sim.config(VENDOR));
    let pulled = pull_ok(&c, &Query::new().with_messages(true)).await;
    assert_same_conversations(&pulled, &truth);
    assert!(c.stats().http.throttled > 0, "{:?}", c.stats());
    // A client-side limit under the server's: no 429 at all.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut config = sim.config(VENDOR);
    config.push(("rate_limit".to_owned(), "6".to_owned()));
    let c = connector(config);
    let pulled = pull_ok(&c, &Query::new().with_messages(true)).await;
    assert_same_conversations(&pulled, &truth);
    assert_eq!(c.stats().http.throttled, 0, "{:?}", c.stats());
}
