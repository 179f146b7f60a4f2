//! End to end against the simulator (`chathaul-sim`): what the connector
//! pulls equals the simulator's ground truth, field by field.

use std::time::Duration;

use chathaul_sim::{Fault, SimOptions, Simulator};
use chrono::{DateTime, Utc};
use connector_bangwo8::{Bangwo8Config, Bangwo8Connector, VENDOR};
use connector_core::registry::find;
use connector_core::{Connector, Conversation, Error, Query};
use connector_testkit::{assert_same_conversations, without_messages, without_summary};

use crate::support::pull;

async fn sim(opts: SimOptions) -> Simulator {
    Simulator::start(opts).await.expect("the simulator starts")
}

fn small(seed: u64, conversations: usize) -> SimOptions {
    SimOptions {
        seed,
        conversations,
        messages: 8,
        ..SimOptions::default()
    }
}

/// The connector as a user builds it: the simulator's config through the
/// registry, then (for speed) short backoffs.
fn connect(sim: &Simulator, extra: &[(&str, &str)]) -> Bangwo8Connector {
    let mut values = sim.config(VENDOR);
    values.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let resolved = find(VENDOR).unwrap().resolve(values).unwrap();
    let cfg = Bangwo8Config::from_resolved(&resolved).unwrap();
    let mut http = cfg.http.clone();
    http.min_backoff = Duration::from_millis(5);
    http.max_backoff = Duration::from_millis(50);
    Bangwo8Connector::new(cfg.with_http(http)).unwrap()
}

async fn pull_all(c: &Bangwo8Connector, q: &Query) -> Vec<Conversation> {
    pull(c, q)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("unexpected error: {e}")))
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The truth as a pull without includes sees it.
fn bare(truth: &[Conversation]) -> Vec<Conversation> {
    truth
        .iter()
        .map(|c| without_summary(&without_messages(c)))
        .collect()
}

#[tokio::test]
async fn full_pull_with_messages_and_summaries_equals_the_truth() {
    let sim = sim(small(7, 120)).await;
    let c = connect(&sim, &[]);
    let got = pull_all(
        &c,
        &Query {
            page_size: Some(25),
            ..Query::new().with_messages(true).with_summaries(true)
        },
    )
    .await;
    let truth = sim.truth(VENDOR);
    assert_eq!(got.len(), 120);
    assert_same_conversations(&got, &truth);
    // Listing order is the API's: ascending ids.
    let ids: Vec<u64> = got.iter().map(|c| c.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Completeness counters: 120 listed in 5 pages of 25, the vendor's totals match.
    let s = c.stats();
    assert_eq!((s.pages, s.listed, s.reported_total), (5, 120, Some(120)));
    let messages: u64 = truth.iter().map(|c| c.messages.len() as u64).sum();
    assert_eq!(
        (s.messages, s.reported_messages),
        (messages, Some(messages))
    );
    assert!(s.shortfalls.is_empty(), "{:?}", s.shortfalls);
    assert!(truth.iter().any(|c| c.summary.is_some()) && truth.iter().any(|c| c.summary.is_none()));
    // Every request the connector made reached the simulator: none went to
    // www.bangwo8.com, where the served next_page links point.
    assert_eq!(s.http.requests, sim.stats().per_vendor[VENDOR]);
    assert_eq!(s.http.requests, sim.stats().requests);
}

#[tokio::test]
async fn listing_alone_equals_the_truth_without_messages() {
    let sim = sim(small(11, 150)).await;
    let c = connect(&sim, &[]);
    let got = pull_all(&c, &Query::new()).await;
    assert_same_conversations(&got, &bare(&sim.truth(VENDOR)));
    // 150 at the default page size of 100: two listing requests, nothing else.
    assert_eq!(c.stats().http.requests, 2);
}

#[tokio::test]
async fn windows_on_start_and_end_time_equal_the_filtered_truth() {
    let sim = sim(small(3, 150)).await;
    let truth = bare(&sim.truth(VENDOR));
    // Windows that cut through local days on both sides (Shanghai is UTC+8).
    let windows = [
        Query::new().created(
            Some(utc("2024-01-20T03:30:00Z")),
            Some(utc("2024-02-11T17:45:00Z")),
        ),
        Query::new().ended(
            Some(utc("2024-01-20T03:30:00Z")),
            Some(utc("2024-02-11T17:45:00Z")),
        ),
        Query::new().created(None, Some(utc("2024-02-01T12:00:00Z"))),
        Query::new().ended(Some(utc("2024-03-01T15:59:59Z")), None),
    ];
    for q in windows {
        let c = connect(&sim, &[]);
        let got = pull_all(&c, &q).await;
        let want: Vec<_> = truth.iter().filter(|t| q.matches(t)).cloned().collect();
        assert!(
            !want.is_empty() && want.len() < truth.len(),
            "{q:?} selects {} of {}",
            want.len(),
            truth.len()
        );
        assert_same_conversations(&got, &want);
        // The pushdown made the server do the coarse work.
        assert!(
            c.stats().listed < truth.len() as u64,
            "{q:?}: {} listed",
            c.stats().listed
        );
    }
}

#[tokio::test]
async fn per_agent_and_per_customer_pulls() {
    let sim = sim(small(5, 150)).await;
    let truth = sim.truth(VENDOR);
    let agent = sim.agents(VENDOR)[0].id.to_string();
    let c = connect(&sim, &[]);
    let q = Query {
        agent: Some(agent.clone()),
        ..Query::new().with_messages(true)
    };
    let got = pull_all(&c, &q).await;
    let want: Vec<_> = truth
        .iter()
        .filter(|t| q.matches(t))
        .map(without_summary)
        .collect();
    assert!(!want.is_empty());
    assert_same_conversations(&got, &want);
    assert_eq!(
        c.stats().listed,
        want.len() as u64,
        "the agent's own listing was used"
    );

    let customer = truth[0].customer.id.clone().unwrap();
    let c = connect(&sim, &[]);
    let q = Query {
        customer: Some(customer),
        ..Query::new()
    };
    let got = pull_all(&c, &q).await;
    let want: Vec<_> = bare(&truth).into_iter().filter(|t| q.matches(t)).collect();
    assert!(!want.is_empty());
    assert_same_conversations(&got, &want);
    assert_eq!(c.stats().listed, want.len() as u64, "uname was pushed down");
}

#[tokio::test]
async fn faults_and_throttling_at_ten_percent_still_give_exactly_the_truth() {
    let opts = SimOptions {
        fault_rate: 0.10,
        faults: vec![
            Fault::Status500,
            Fault::Status502,
            Fault::Status503,
            Fault::Drop,
            Fault::Truncate,
            Fault::Html,
        ],
        rate_limit: Some(40),
        ..small(13, 80)
    };
    let sim = sim(opts).await;
    let c = connect(&sim, &[("max_attempts", "10")]);
    let got = pull_all(
        &c,
        &Query {
            page_size: Some(20),
            ..Query::new().with_messages(true).with_summaries(true)
        },
    )
    .await;
    assert_same_conversations(&got, &sim.truth(VENDOR));
    let (s, served) = (c.stats(), sim.stats());
    assert!(served.faults > 0, "faults were injected: {served:?}");
    assert!(served.throttled > 0, "429s were sent: {served:?}");
    assert!(s.http.retries >= served.faults, "{s:?} {served:?}");
    assert!(s.shortfalls.is_empty(), "{:?}", s.shortfalls);
}

#[tokio::test]
async fn bad_credentials_give_an_authentication_error_without_the_password() {
    let sim = sim(small(1, 10)).await;
    let wrong = "not-the-Password-42";
    let c = connect(&sim, &[("password", wrong)]);
    let got = pull(&c, &Query::new()).await;
    assert_eq!(got.len(), 1);
    let e = got[0].as_ref().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthenticated {
                vendor: "bangwo8",
                status: 401,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.starts_with("bangwo8: authentication failed"), "{text}");
    assert!(
        !text.contains(wrong) && !format!("{e:?}").contains(wrong),
        "{text}"
    );
    assert!(!format!("{c:?}").contains(wrong));
    assert_eq!(
        sim.stats().requests,
        1,
        "an authentication error is not retried"
    );
}

#[tokio::test]
async fn one_conversation_by_id_equals_its_truth() {
    let sim = sim(small(9, 60)).await;
    let truth = sim.truth(VENDOR);
    let c = connect(&sim, &[]);
    let want = &truth[41];
    let got = c
        .conversation(&want.id, connector_core::Include::ALL)
        .await
        .unwrap();
    assert_same_conversations(&[got], std::slice::from_ref(want));
}
