//! Fault soak of the sync engine: three sources sync into one SQLite
//! database while the simulator injects faults at 10–30 %. A run whose retry
//! budget runs out leaves correct rows and its cursor where it was (nothing
//! is skipped later); the next run completes the database to exactly the
//! truth: one row per (vendor, account, id), every message once.
//!
//! `CHATHAUL_SYNC_SOAK_CASES` sets the number of cases (default 6).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chathaul::sync::{Prepared, Source, SyncOptions, sync};
use chathaul::{ProgressCounters, SqliteStore, SyncStore};
use chathaul_reliability::{VENDORS, connector, fast_http};
use chathaul_sim::{Fault, SimOptions, Simulator};
use connector_core::Conversation;
use connector_testkit::assert_same_conversations;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    conversations: usize,
    fault_rate: f64,
    faults: Vec<Fault>,
    batch_size: usize,
    page_size: u32,
    first_attempts: u32,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        5usize..30,
        0.10f64..=0.30,
        proptest::sample::subsequence(Fault::DEFAULT.to_vec(), 1..=Fault::DEFAULT.len()),
        1usize..20,
        1u32..40,
        prop_oneof![Just(1u32), Just(2), Just(12)],
    )
        .prop_map(
            |(seed, conversations, fault_rate, faults, batch_size, page_size, first_attempts)| {
                Case {
                    seed,
                    conversations,
                    fault_rate,
                    faults,
                    batch_size,
                    page_size,
                    first_attempts,
                }
            },
        )
}

fn prepared(sim: &Simulator, attempts: u32, page_size: u32) -> Vec<Prepared> {
    VENDORS
        .iter()
        .map(|vendor| {
            let mut source = Source::new(*vendor, sim.config(vendor));
            source.page_size = Some(page_size);
            Prepared {
                source,
                connector: Arc::from(
                    connector(vendor, sim.config(vendor), fast_http(attempts)).unwrap(),
                ),
                live: ProgressCounters::shared(),
            }
        })
        .collect()
}

async fn run_case(c: &Case, failed_runs: &mut u64) {
    let sim = Simulator::start(SimOptions {
        seed: c.seed,
        conversations: c.conversations,
        messages: 3,
        fault_rate: c.fault_rate,
        faults: c.faults.clone(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let truth: Vec<Conversation> = VENDORS.iter().flat_map(|v| sim.truth(v)).collect();
    let by_key: BTreeMap<(String, String), &Conversation> = truth
        .iter()
        .map(|c| ((c.vendor.clone(), c.id.clone()), c))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("soak.sqlite");
    let options = SyncOptions {
        batch_size: c.batch_size,
        now: Some(sim.now()),
        ..SyncOptions::default()
    };

    // First run, with the case's retry budget (1 attempt: any fault fails it).
    let reports = sync(&db, prepared(&sim, c.first_attempts, c.page_size), options)
        .await
        .unwrap();
    let store = SqliteStore::open(&db).unwrap();
    for r in &reports {
        let state = r.state.as_ref().unwrap();
        if let Some(e) = &r.pull.error {
            *failed_runs += 1;
            // A failed run says what failed, and holds its cursor.
            assert!(e.contains(&format!("source {}", state.source)), "{e}");
            assert!(e.contains(&format!("{}: ", state.vendor)), "{e}");
            assert_eq!(state.last_status, "error");
            assert_eq!(
                state.cursor, None,
                "{}: the cursor moved after a failure",
                state.source
            );
        } else {
            assert_eq!(state.last_status, "ok", "{:?}", r.pull.shortfalls);
            assert!(state.cursor.is_some());
        }
    }
    // Whatever was stored is correct and unduplicated.
    let stored = store.conversations().unwrap();
    for s in &stored {
        let want = by_key
            .get(&(s.vendor.clone(), s.id.clone()))
            .unwrap_or_else(|| panic!("{} {} is not in the truth", s.vendor, s.id));
        assert_same_conversations(std::slice::from_ref(s), &[(*want).clone()]);
    }
    drop(store);

    // The next run (a sane retry budget) completes it exactly.
    let reports = sync(&db, prepared(&sim, 12, c.page_size), options)
        .await
        .unwrap();
    for r in &reports {
        assert_eq!(r.pull.error, None);
    }
    let store = SqliteStore::open(&db).unwrap();
    assert_same_conversations(&store.conversations().unwrap(), &truth);
    let messages: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        messages as usize,
        truth.iter().map(|c| c.messages.len()).sum::<usize>()
    );
    assert!(
        store
            .states()
            .unwrap()
            .iter()
            .all(|s| s.last_status == "ok")
    );
}

#[test]
fn syncs_through_faults_store_exactly_the_truth_once_a_run_completes() {
    let cases: u32 = std::env::var("CHATHAUL_SYNC_SOAK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 16,
        ..Config::default()
    });
    let failed = std::sync::Mutex::new(0u64);
    let result = runner.run(&case(), |c| {
        let mut n = 0;
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), run_case(&c, &mut n)).await
        })
        .expect("a case hung");
        *failed.lock().unwrap() += n;
        Ok(())
    });
    eprintln!(
        "sync soak: {cases} cases, {} first runs ended in a specific error and were completed by the next",
        failed.lock().unwrap()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
