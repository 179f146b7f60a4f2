//! Fault soak: each connector pulls from the simulator while it injects
//! 429s, 5xx, dropped connections, truncated bodies and HTML pages; the
//! result equals the truth exactly, or ends in an error that says what failed.
//!
//! `CHATHAUL_SOAK_CASES` sets the number of cases (default 12; each case runs
//! all three vendors at once). The figures (seeds, requests, faults) are
//! printed and written to `$CARGO_TARGET_TMPDIR/soak-summary.txt`.

use std::sync::Mutex;
use std::time::Duration;

use chathaul_reliability::{VENDORS, check_against_truth, connector, fast_http, pull};
use chathaul_sim::{Fault, SimOptions, Simulator};
use connector_core::Query;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    conversations: usize,
    messages: usize,
    page_size: u32,
    fault_rate: f64,
    faults: Vec<Fault>,
    rate_limit: Option<u32>,
    attempts: u32,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        5usize..40,
        1usize..6,
        1u32..60,
        0.10f64..=0.30,
        proptest::sample::subsequence(Fault::DEFAULT.to_vec(), 1..=Fault::DEFAULT.len()),
        prop_oneof![3 => Just(None), 1 => (20u32..60).prop_map(Some)],
        prop_oneof![4 => Just(12u32), 1 => 2u32..4],
    )
        .prop_map(
            |(
                seed,
                conversations,
                messages,
                page_size,
                fault_rate,
                faults,
                rate_limit,
                attempts,
            )| {
                Case {
                    seed,
                    conversations,
                    messages,
                    page_size,
                    fault_rate,
                    faults,
                    rate_limit,
                    attempts,
                }
            },
        )
}

#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    seeds: Vec<u64>,
    requests: u64,
    faults: u64,
    throttled: u64,
    pulls: u64,
    pulls_in_error: u64,
    conversations: u64,
}

async fn run_case(c: &Case, tally: &Mutex<Tally>) {
    let sim = Simulator::start(SimOptions {
        seed: c.seed,
        conversations: c.conversations,
        messages: c.messages,
        fault_rate: c.fault_rate,
        faults: c.faults.clone(),
        rate_limit: c.rate_limit,
        ..SimOptions::default()
    })
    .await
    .expect("the simulator starts");
    let query = Query {
        page_size: Some(c.page_size),
        ..Query::new().with_messages(true).with_summaries(true)
    };
    let pulls = VENDORS.map(|vendor| {
        let (sim, query) = (&sim, &query);
        async move {
            let conn = connector(vendor, sim.config(vendor), fast_http(c.attempts)).unwrap();
            // Generous: a case takes well under a second unless a 429 pauses it.
            let pulled = pull(conn.as_ref(), query, Duration::from_secs(60)).await;
            (vendor, pulled)
        }
    });
    let results = futures::future::join_all(pulls).await;
    let stats = sim.stats();
    // A failed check must not poison the tally for the shrinking runs.
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    t.cases += 1;
    t.seeds.push(c.seed);
    t.requests += stats.requests;
    t.faults += stats.faults;
    t.throttled += stats.throttled;
    for (vendor, pulled) in results {
        let truth = sim.truth(vendor);
        let failed = check_against_truth(vendor, &pulled, &truth);
        t.pulls += 1;
        t.pulls_in_error += u64::from(failed);
        t.conversations += pulled.ok().len() as u64;
        // With a dozen attempts per request, 30 % faults cannot exhaust the
        // retries in practice (0.3^12): such a pull must succeed.
        if c.attempts >= 12 {
            assert!(
                !failed,
                "{vendor}: failed despite {} attempts: {:?}",
                c.attempts,
                pulled.errors().first().map(|e| e.to_string())
            );
        }
    }
}

/// The seeds tried: all of them up to 20, else the first 20 and a count.
fn seeds(all: &[u64]) -> String {
    let shown: Vec<String> = all.iter().take(20).map(u64::to_string).collect();
    match all.len() {
        n if n > 20 => format!("{}, … {} more", shown.join(", "), n - 20),
        _ => shown.join(", "),
    }
}

#[test]
fn pulls_through_injected_faults_equal_the_truth_or_say_what_failed() {
    let cases: u32 = std::env::var("CHATHAUL_SOAK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tally = Mutex::new(Tally::default());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Shrinking reruns whole pulls: a few steps are enough to simplify.
        max_shrink_iters: 16,
        ..Config::default()
    });
    let result = runner.run(&case(), |c| {
        rt.block_on(run_case(&c, &tally));
        Ok(())
    });
    let t = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let summary = format!(
        "fault soak: {} cases (seeds {}), {} pulls ({} ended in a specific error), {} conversations checked, \
         {} requests served, {} faults injected, {} answered 429",
        t.cases,
        seeds(&t.seeds),
        t.pulls,
        t.pulls_in_error,
        t.conversations,
        t.requests,
        t.faults,
        t.throttled
    );
    eprintln!("{summary}");
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak-summary.txt"),
        format!("{summary}\n"),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(t.faults > 0, "faults were injected");
}
