use std::time::{Duration, Instant};

use connector_testkit::assert_same_conversations;
use rand::{Rng, SeedableRng};

use crate::common::{Backend, all_truth, assert_ok, chathaul, sim, three_source_config};

crate::suite!(sqlite, crate::common::Backend::Sqlite =>
    a_sync_killed_with_sigkill_at_random_points_resumes_to_exactly_the_truth);
crate::suite!(postgres, crate::common::Backend::Postgres =>
    a_sync_killed_with_sigkill_at_random_points_resumes_to_exactly_the_truth);

/// A sync killed with SIGKILL at random points, then rerun, ends with the
/// database equal to the truth: nothing lost, nothing duplicated.
fn a_sync_killed_with_sigkill_at_random_points_resumes_to_exactly_the_truth(backend: Backend) {
    // Latency and one request at a time make a full run take a few seconds,
    // so the kills land mid-run (a killed run leaves the cursor where it was,
    // so every rerun starts the whole window again).
    let sim = sim(60, 25);
    let dir = tempfile::tempdir().unwrap();
    let tdb = backend.fresh(dir.path(), "kill.sqlite");
    let env = three_source_config(
        &sim,
        &dir.path().join("chathaul.toml"),
        &[("concurrency", "1")],
    );
    let seed: u64 = rand::rng().random();
    eprintln!("kill points seed: {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let command = || {
        let mut c = chathaul(dir.path());
        c.args(["sync", "--db", &tdb.arg, "--batch-size", "4", "--quiet"])
            .envs(env.clone());
        c
    };
    let mut killed_mid_run = 0;
    for _ in 0..4 {
        let mut child = command().spawn().unwrap();
        let wait = Duration::from_millis(rng.random_range(100..1500));
        let started = Instant::now();
        while started.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        // Whatever the kill left is a readable database without duplicates.
        if tdb.exists() {
            let store = tdb.open();
            let stored = store.conversations().unwrap();
            let mut keys: Vec<_> = stored.iter().map(|c| (&c.vendor, &c.id)).collect();
            keys.dedup();
            assert_eq!(keys.len(), stored.len());
        }
    }
    assert!(
        killed_mid_run >= 2,
        "only {killed_mid_run} kills landed mid-run: the simulator is too fast for this test"
    );

    let out = command().output().unwrap();
    assert_ok(&out);
    let store = tdb.open();
    let truth = all_truth(&sim);
    assert_same_conversations(&store.conversations().unwrap(), &truth);
    let messages = tdb.count("SELECT count(*) FROM messages");
    assert_eq!(
        messages as usize,
        truth.iter().map(|c| c.messages.len()).sum::<usize>(),
        "no duplicate message rows"
    );
    let dupes = tdb.count("SELECT count(*) FROM (SELECT vendor, account, id FROM conversations GROUP BY 1, 2, 3 HAVING count(*) > 1) d");
    assert_eq!(dupes, 0);
    assert!(
        store
            .states()
            .unwrap()
            .iter()
            .all(|s| s.last_status == "ok" && s.cursor.is_some())
    );
}
