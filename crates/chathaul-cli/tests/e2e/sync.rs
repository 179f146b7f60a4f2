use chathaul::chrono::Duration;
use chathaul::{Conversation, SqliteStore, TimeField};
use connector_testkit::assert_same_conversations;

use crate::common::{Backend, all_truth, assert_ok, chathaul, sim, text, three_source_config};

/// The sync tests on every backend: adding one is one line.
macro_rules! sync_suite {
    ($module:ident, $backend:expr) => {
        crate::suite!($module, $backend =>
            a_config_with_three_sources_syncs_all_and_a_second_run_fetches_only_the_lookback_window,
            a_sync_through_injected_faults_still_equals_the_truth,
            one_failing_source_does_not_stop_the_others_and_its_error_is_recorded,
        );
    };
}
sync_suite!(sqlite, crate::common::Backend::Sqlite);
sync_suite!(postgres, crate::common::Backend::Postgres);

fn a_config_with_three_sources_syncs_all_and_a_second_run_fetches_only_the_lookback_window(
    backend: Backend,
) {
    let sim = sim(50, 0);
    let dir = tempfile::tempdir().unwrap();
    let tdb = backend.fresh(dir.path(), "chats.sqlite");
    let env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let run = || {
        chathaul(dir.path())
            .args(["sync", "--db", &tdb.arg])
            .envs(env.clone())
            .output()
            .unwrap()
    };

    let first = run();
    assert_ok(&first);
    let (_, stderr) = text(&first);
    assert!(
        stderr.contains(&format!(
            "synced 3/3 sources into {}: 150 conversations",
            tdb.shown
        )),
        "{stderr}"
    );
    let truth = all_truth(&sim);
    assert_same_conversations(&tdb.open().conversations().unwrap(), &truth);

    let second = run();
    assert_ok(&second);
    let store = tdb.open();
    assert_same_conversations(&store.conversations().unwrap(), &truth);
    let rows = tdb.count("SELECT count(*) FROM conversations");
    let messages = tdb.count("SELECT count(*) FROM messages");
    assert_eq!(rows, 150, "no duplicates");
    assert_eq!(
        messages as usize,
        truth.iter().map(|c| c.messages.len()).sum::<usize>()
    );

    for state in store.states().unwrap() {
        let vendor_truth: Vec<_> = truth.iter().filter(|c| c.vendor == state.vendor).collect();
        // Each source's cursor follows the time its vendor declares: the
        // end for Bangwo8 and CareSoft (their history lists what is over),
        // the creation for KF5.
        let field = chathaul::find(&state.vendor)
            .unwrap()
            .capabilities
            .changes
            .cursor;
        assert_eq!(state.cursor_field, field, "{}", state.source);
        let at = |c: &Conversation| match field {
            TimeField::Created => c.created_at,
            TimeField::Ended => c.ended_at,
        };
        let newest = vendor_truth.iter().filter_map(|c| at(c)).max().unwrap();
        let since = newest - Duration::days(1);
        // The second run listed [newest seen - 1 day, ...) (Bangwo8's sessions without an
        // end time come from a creation-time listing too) and, nothing having changed,
        // fetched none of it again.
        assert_eq!(state.last_window_since, Some(since), "{}", state.source);
        assert_eq!(state.cursor, Some(since), "{}", state.source);
        let in_window = vendor_truth
            .iter()
            .filter(|c| at(c).is_some_and(|t| t >= since))
            .count() as u64;
        let listed = state.last_run.as_ref().unwrap().listed;
        assert!(
            listed >= in_window,
            "{}: {listed} listed, {in_window} in the window",
            state.source,
        );
        assert!(
            listed < 50,
            "{}: the look-back window is not everything",
            state.source
        );
        assert_eq!(state.rows_fetched, 0, "{}", state.source);
        assert_eq!((state.pending, state.rejects), (0, 0), "{}", state.source);
        assert_eq!(state.last_status, "ok");
        assert_eq!(state.stored, 50);
        assert!(state.shortfalls.is_empty());
    }

    // --status shows each source's cursor, run, rows and shortfall.
    let status = chathaul(dir.path())
        .args(["sync", "--status", "--db", &tdb.arg])
        .output()
        .unwrap();
    assert_ok(&status);
    let (stdout, _) = text(&status);
    for vendor in chathaul_sim::VENDORS {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{vendor}-demo ")))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains(" ok ") && line.ends_with("none"), "{line}");
    }
    let status = chathaul(dir.path())
        .args(["sync", "--status", "--json", "--db", &tdb.arg])
        .output()
        .unwrap();
    let states: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(states.as_array().unwrap().len(), 3);
    // Bangwo8 and CareSoft report totals; the sync state keeps them.
    let reported: Vec<bool> = states
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reported_total"].is_u64())
        .collect();
    assert_eq!(reported, [true, true, false]);
}

#[test]
fn the_demo_syncs_three_vendors_and_reports_well_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = chathaul(dir.path())
        .args(["demo", "--db", "demo.sqlite"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("synced 3/3 sources into demo.sqlite: 600 conversations"),
        "{stderr}"
    );
    for needle in [
        "Conversations and messages by vendor and channel",
        "first response",
        "bangwo8",
        "caresoft",
        "kf5",
        "zalo",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    let store = SqliteStore::open(&dir.path().join("demo.sqlite")).unwrap();
    let n: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM conversations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 600);
    let summaries: i64 = store
        .connection()
        .query_row(
            "SELECT count(*) FROM conversations WHERE summary_template IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(summaries > 0, "the demo fetches summaries");
}

#[test]
fn pull_takes_its_config_from_a_sync_config_file() {
    let sim = sim(20, 0);
    let dir = tempfile::tempdir().unwrap();
    let env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let out = chathaul(dir.path())
        .args([
            "pull",
            "caresoft",
            "--from",
            "chathaul.toml",
            "--source",
            "caresoft-demo",
            "-o",
            "cs.jsonl",
        ])
        .envs(env.clone())
        .output()
        .unwrap();
    assert_ok(&out);
    let got: Vec<chathaul::Conversation> = std::fs::read_to_string(dir.path().join("cs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_same_conversations(&got, &sim.truth("caresoft"));

    let out = chathaul(dir.path())
        .args([
            "pull",
            "kf5",
            "--from",
            "chathaul.toml",
            "--source",
            "caresoft-demo",
        ])
        .envs(env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("source `caresoft-demo` is a caresoft source, not kf5")
    );
}

fn a_sync_through_injected_faults_still_equals_the_truth(backend: Backend) {
    let sim = chathaul_sim::Simulator::start_blocking(chathaul_sim::SimOptions {
        seed: 11,
        conversations: 30,
        messages: 4,
        fault_rate: 0.05,
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tdb = backend.fresh(dir.path(), "f.sqlite");
    let env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let out = chathaul(dir.path())
        .args(["sync", "--db", &tdb.arg, "--json"])
        .envs(env)
        .output()
        .unwrap();
    assert_ok(&out);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let retries: u64 = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pull"]["stats"]["http"]["retries"].as_u64().unwrap())
        .sum();
    assert!(retries > 0, "faults were injected and retried");
    let store = tdb.open();
    assert_same_conversations(
        &store.conversations().unwrap(),
        &crate::common::all_truth(&sim),
    );
}

fn one_failing_source_does_not_stop_the_others_and_its_error_is_recorded(backend: Backend) {
    let sim = sim(20, 0);
    let dir = tempfile::tempdir().unwrap();
    let tdb = backend.fresh(dir.path(), "s.sqlite");
    let mut env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    for (k, v) in &mut env {
        if k == "TEST_CARESOFT_TOKEN" {
            *v = "revoked-token".into();
        }
    }
    let out = chathaul(dir.path())
        .args(["sync", "--db", &tdb.arg])
        .envs(env)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("synced 2/3 sources"), "{stderr}");
    let states = tdb.open().states().unwrap();
    let cs = states.iter().find(|s| s.source == "caresoft-demo").unwrap();
    assert_eq!(cs.last_status, "error");
    assert_eq!(cs.cursor, None);
    let err = cs.last_error.clone().unwrap();
    assert!(
        err.starts_with("source caresoft-demo: caresoft: authentication failed (/api/v1/"),
        "{err}"
    );
    assert!(!err.contains("revoked-token"));
    for s in states.iter().filter(|s| s.source != "caresoft-demo") {
        assert_eq!(
            (s.last_status.as_str(), s.stored),
            ("ok", 20),
            "{}",
            s.source
        );
    }
}
