//! `chathaul sync` killed with SIGKILL at 20+ moments, each followed by a
//! rerun that must leave the database equal to the truth, with no duplicate
//! and no missing row — on SQLite and on Postgres; corrupt and foreign
//! databases are refused untouched.
//!
//! (crates/chathaul-cli/tests/e2e/kill.rs kills four times and checks once at
//! the end; here every moment gets its own check, and the moments are aimed
//! at database writes too, by killing as soon as a write lands: the WAL file
//! grows (SQLite), a batch's commit shows (Postgres).)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use chathaul::chrono::{self, DateTime, Utc};
use chathaul::incremental::{Finality, finality};
use chathaul::{Database, SqliteStore, SyncStore};
use chathaul_reliability::chathaul_bin;
use chathaul_sim::{SimOptions, Simulator};
use chathaul_test_postgres::PostgresServer;
use connector_core::Conversation;
use connector_testkit::assert_same_conversations;
use rand::{Rng, SeedableRng};

fn chathaul(dir: &Path) -> Command {
    let mut c = Command::new(chathaul_bin());
    c.env_clear().current_dir(dir);
    c
}

/// A config file with the simulator's three vendors; secrets in the environment.
fn config(
    sim: &Simulator,
    path: &Path,
    lookback: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut toml = format!("lookback = \"{lookback}\"\n");
    let mut env = Vec::new();
    for vendor in chathaul_sim::VENDORS {
        toml.push_str(&format!(
            "\n[[source]]\nname = \"{vendor}-demo\"\nvendor = \"{vendor}\"\n[source.config]\n"
        ));
        for (k, v) in extra {
            toml.push_str(&format!("{k} = \"{v}\"\n"));
        }
        for (k, v) in sim.config(vendor) {
            if matches!(k.as_str(), "password" | "token") {
                let var = format!("TEST_{}_{}", vendor.to_uppercase(), k.to_uppercase());
                toml.push_str(&format!("{k} = \"${{{var}}}\"\n"));
                env.push((var, v));
            } else {
                toml.push_str(&format!("{k} = \"{v}\"\n"));
            }
        }
    }
    std::fs::write(path, toml).unwrap();
    env
}

fn truth(sim: &Simulator) -> Vec<Conversation> {
    chathaul_sim::VENDORS
        .iter()
        .flat_map(|v| sim.truth(v))
        .collect()
}

fn count(store: &SqliteStore, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The database a kill test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A database of one backend in `dir` (SQLite) or on the shared server.
struct KillDb {
    backend: Backend,
    /// What `--db` gets.
    arg: String,
    path: PathBuf,
    postgres: Option<String>,
}

impl KillDb {
    fn new(backend: Backend, dir: &Path) -> KillDb {
        match backend {
            Backend::Sqlite => KillDb {
                backend,
                arg: "kill.sqlite".into(),
                path: dir.join("kill.sqlite"),
                postgres: None,
            },
            Backend::Postgres => {
                let pg = PostgresServer::shared().create_database();
                KillDb {
                    backend,
                    arg: pg.url(),
                    path: PathBuf::new(),
                    postgres: Some(pg.name),
                }
            }
        }
    }

    fn psql(&self, sql: &str) -> String {
        PostgresServer::shared()
            .psql(self.postgres.as_deref().unwrap(), sql)
            .unwrap()
    }

    fn exists(&self) -> bool {
        match self.backend {
            Backend::Sqlite => self.path.exists(),
            Backend::Postgres => {
                self.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'chathaul'") == "1"
            }
        }
    }

    fn open(&self) -> Box<dyn SyncStore> {
        let location = match self.backend {
            Backend::Sqlite => self.path.display().to_string(),
            Backend::Postgres => self.arg.clone(),
        };
        Database::parse(&location).unwrap().open_existing().unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        match self.backend {
            Backend::Sqlite => count(&SqliteStore::open(&self.path).unwrap(), sql),
            Backend::Postgres => self
                .psql(&format!("SET search_path TO chathaul; {sql}"))
                .parse()
                .unwrap(),
        }
    }

    /// Empty: the next run is a first run.
    fn remove(&self) {
        match self.backend {
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = self.path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            Backend::Postgres => {
                self.psql("DROP SCHEMA IF EXISTS chathaul CASCADE");
            }
        }
    }

    /// Every cursor cleared: the next run fetches and rewrites everything.
    fn clear_cursors(&self) {
        match self.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&self.path).unwrap();
                c.execute("UPDATE sync_state SET cursor = NULL", [])
                    .unwrap();
            }
            Backend::Postgres => {
                self.psql("UPDATE chathaul.sync_state SET cursor = NULL");
            }
        }
    }

    /// Something that changes with every write: the WAL file's size and
    /// time (SQLite); the rows and the progress recorded, which one batch's
    /// commit moves (Postgres).
    fn write_stamp(&self) -> Option<String> {
        match self.backend {
            Backend::Sqlite => wal_stamp(&self.path).map(|s| format!("{s:?}")),
            Backend::Postgres => self.exists().then(|| {
                self.psql(
                    "SELECT (SELECT count(*) FROM chathaul.conversations)
                          + (SELECT coalesce(sum(rows_fetched), 0) FROM chathaul.sync_state)",
                )
            }),
        }
    }
}

/// The database equals the truth: every conversation, field by field, each
/// once; every message once; every source ok; for SQLite, WAL mode and
/// integrity intact.
#[track_caller]
fn assert_db_is_truth(db: &KillDb, truth: &[Conversation], moment: &str) {
    let store = db.open();
    assert_same_conversations(&store.conversations().unwrap(), truth);
    let messages: usize = truth.iter().map(|c| c.messages.len()).sum();
    assert_eq!(
        db.count("SELECT count(*) FROM messages") as usize,
        messages,
        "{moment}: message rows"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM (SELECT 1 FROM messages GROUP BY vendor, account, conversation_id, seq HAVING count(*) > 1) d"
        ),
        0,
        "{moment}: duplicate messages"
    );
    if db.backend == Backend::Sqlite {
        let sqlite = SqliteStore::open(&db.path).unwrap();
        let mode: String = sqlite
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal", "{moment}");
        let check: String = sqlite
            .connection()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{moment}");
    }
    for s in store.states().unwrap() {
        assert_eq!(s.last_status, "ok", "{moment}: {}", s.source);
        assert!(s.cursor.is_some(), "{moment}: {}", s.source);
    }
}

#[track_caller]
fn assert_ok(out: &Output, moment: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{moment}: stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The WAL file's size and modification time (a write changes one of them).
fn wal_stamp(db: &Path) -> Option<(u64, std::time::SystemTime)> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let m = std::fs::metadata(PathBuf::from(wal)).ok()?;
    Some((m.len(), m.modified().ok()?))
}

#[derive(Debug, Default)]
struct Seen {
    before_any_row: u32,
    mid_run: u32,
    after_the_run: u32,
    on_a_write: u32,
}

#[test]
fn sync_killed_at_22_moments_then_rerun_always_equals_the_truth() {
    killed_at_22_moments(Backend::Sqlite);
}

#[test]
fn sync_into_postgres_killed_at_22_moments_then_rerun_always_equals_the_truth() {
    killed_at_22_moments(Backend::Postgres);
}

fn killed_at_22_moments(backend: Backend) {
    // Latency and one request at a time stretch a run to about a second, so
    // kills land during fetches; --batch-size 1 makes a commit per
    // conversation, so they land during writes and commits too.
    let sim = Simulator::start_blocking(SimOptions {
        seed: 23,
        conversations: 12,
        messages: 4,
        latency: Duration::from_millis(6),
        ..SimOptions::default()
    })
    .unwrap();
    let truth = truth(&sim);
    let dir = tempfile::tempdir().unwrap();
    let slow = config(
        &sim,
        &dir.path().join("slow.toml"),
        "1d",
        &[("concurrency", "1")],
    );
    let fast = config(&sim, &dir.path().join("fast.toml"), "1d", &[]);
    chathaul_bin(); // built before anything is timed
    let db = KillDb::new(backend, dir.path());
    let sync = |cfg: &str, env: &[(String, String)]| {
        let mut c = chathaul(dir.path());
        c.args([
            "sync",
            "--config",
            cfg,
            "--db",
            &db.arg,
            "--batch-size",
            "1",
            "--quiet",
        ])
        .envs(env.iter().cloned());
        c
    };

    // How long an uninterrupted slow run takes.
    let started = Instant::now();
    assert_ok(&sync("slow.toml", &slow).output().unwrap(), "a full run");
    let full = started.elapsed();
    assert_db_is_truth(&db, &truth, "a full run");

    let seed: u64 = std::env::var("CHATHAUL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!(
        "{backend:?} kill moments seed: {seed} (set CHATHAUL_KILL_SEED to replay); a full run takes {full:?}"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut seen = Seen::default();
    let moments = 22;
    for m in 0..moments {
        // Half the moments start from an empty database (a first run, every
        // conversation written), half re-sync a complete one from the start
        // (its cursors cleared), so every conversation is fetched again and
        // upserted over its row: kills land in those rewrites too.
        if m % 2 == 0 {
            db.remove();
        } else {
            db.clear_cursors();
        }
        let on_write = m % 3 == 2;
        let wait = full.mul_f64(rng.random_range(0.0..1.1));
        let mut child = sync("slow.toml", &slow).spawn().unwrap();
        let began = Instant::now();
        let before = db.write_stamp();
        let mut wrote = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if on_write && began.elapsed() > wait / 4 && db.write_stamp() != before {
                wrote = true;
                break;
            }
            if !on_write && began.elapsed() >= wait {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let moment = format!("moment {m} (seed {seed}, after {:?})", began.elapsed());
        // What the kill left opens, holds no duplicate, and is consistent.
        if db.exists() {
            let rows = db.count("SELECT count(*) FROM conversations");
            let keys = db.count(
                "SELECT count(*) FROM (SELECT DISTINCT vendor, account, id FROM conversations) d",
            );
            assert_eq!(rows, keys, "{moment}: duplicate rows");
            let running = db
                .open()
                .states()
                .unwrap()
                .iter()
                .any(|s| s.last_status == "running");
            match () {
                _ if finished => seen.after_the_run += 1,
                _ if rows == 0 => seen.before_any_row += 1,
                _ if running => seen.mid_run += 1,
                _ => seen.after_the_run += 1,
            }
        } else {
            seen.before_any_row += 1;
        }
        seen.on_a_write += u32::from(wrote);
        // The rerun (at full speed) completes and the database is the truth.
        assert_ok(&sync("fast.toml", &fast).output().unwrap(), &moment);
        assert_db_is_truth(&db, &truth, &moment);
    }
    eprintln!("{backend:?}: {moments} kill moments: {seen:?}");
    assert!(
        seen.mid_run + seen.on_a_write >= 8,
        "too few kills landed mid-run: {seen:?}"
    );
}

/// The ids in the revisit set, per source.
fn revisit_ids(store: &dyn SyncStore) -> BTreeSet<(String, String)> {
    let mut ids = BTreeSet::new();
    for s in store.states().unwrap() {
        let state = store.incremental_state(&s.source).unwrap().unwrap();
        ids.extend(state.pending.into_keys().map(|id| (s.source.clone(), id)));
    }
    ids
}

/// The stored conversations that can still change at `now`, per source.
fn pending_of(stored: &[Conversation], now: DateTime<Utc>) -> BTreeSet<(String, String)> {
    stored
        .iter()
        .filter(|c| {
            let window = chathaul::find(&c.vendor)
                .unwrap()
                .capabilities
                .changes
                .rating_window_days;
            matches!(
                finality(
                    c,
                    now,
                    chrono::Duration::days(i64::from(window)),
                    chathaul::sync::DEFAULT_REVISIT_FOR
                ),
                Finality::Pending(_)
            )
        })
        .map(|c| (format!("{}-demo", c.vendor), c.id.clone()))
        .collect()
}

#[test]
fn sync_killed_during_and_between_runs_over_30_simulated_days_keeps_data_and_revisits_in_step() {
    killed_over_30_days(Backend::Sqlite);
}

#[test]
fn sync_into_postgres_killed_during_and_between_runs_over_30_simulated_days_keeps_data_and_revisits_in_step()
 {
    killed_over_30_days(Backend::Postgres);
}

fn killed_over_30_days(backend: Backend) {
    // The clock starts ten days into the data and moves three days between
    // runs (ten steps, 30 days): chats open for days, late ratings and long
    // sessions are revisited while runs are killed. Latency and one request
    // at a time stretch a run so kills land in it; --batch-size 1 makes a
    // commit per conversation.
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let sim = Simulator::start_blocking(SimOptions {
        seed: 29,
        conversations: 45,
        messages: 3,
        start,
        days: 45,
        now: Some(start.and_hms_opt(0, 0, 0).unwrap().and_utc() + chrono::Duration::days(10)),
        latency: Duration::from_millis(4),
        ..SimOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let slow = config(
        &sim,
        &dir.path().join("slow.toml"),
        "1d",
        &[("concurrency", "1")],
    );
    let fast = config(&sim, &dir.path().join("fast.toml"), "1d", &[]);
    chathaul_bin(); // built before anything is timed
    let db = KillDb::new(backend, dir.path());
    let sync = |cfg: &str, env: &[(String, String)], now: DateTime<Utc>| {
        let mut c = chathaul(dir.path());
        c.args([
            "sync",
            "--config",
            cfg,
            "--db",
            &db.arg,
            "--batch-size",
            "1",
            "--quiet",
            "--now",
            &chathaul_sim::format_instant(now),
        ])
        .envs(env.iter().cloned());
        c
    };
    let seed: u64 = std::env::var("CHATHAUL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // How long a first, uninterrupted slow run takes: the longest of all.
    let started = Instant::now();
    let probe = dir.path().join("probe");
    std::fs::create_dir(&probe).unwrap();
    let mut c = chathaul(&probe);
    c.args([
        "sync",
        "--config",
        "../slow.toml",
        "--db",
        "probe.sqlite",
        "--quiet",
        "--now",
        &chathaul_sim::format_instant(sim.now()),
    ])
    .envs(slow.iter().cloned());
    assert_ok(&c.output().unwrap(), "a probe run");
    let full = started.elapsed();
    eprintln!(
        "kill moments seed: {seed} (set CHATHAUL_KILL_SEED to replay); a first run takes {full:?}"
    );

    let (mut mid_run, mut between, mut revisited) = (0u32, 0u32, 0u64);
    for step in 0..10 {
        let now = sim.now();
        for k in 0..2 {
            let moment = format!("step {step} kill {k} at {now} (seed {seed})");
            let mut child = sync("slow.toml", &slow, now).spawn().unwrap();
            // The first kill at a random moment (often after the run: between
            // runs), the second on the n-th write to the database (in the run).
            let wait = full.mul_f64(rng.random_range(0.0..1.0));
            let writes = rng.random_range(1..=6);
            let began = Instant::now();
            let mut stamp = db.write_stamp();
            let mut seen_writes = 0;
            while child.try_wait().unwrap().is_none() {
                if k == 0 && began.elapsed() >= wait {
                    break;
                }
                let now_stamp = db.write_stamp();
                if now_stamp != stamp {
                    stamp = now_stamp;
                    seen_writes += 1;
                    if k == 1 && seen_writes >= writes {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let finished = child.try_wait().unwrap().is_some();
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            if !db.exists() {
                mid_run += 1;
                continue;
            }
            // What the kill left: no duplicate, every revisit row a stored
            // conversation, every stored conversation that can still change
            // in the revisit set (data and revisits move together).
            let store = db.open();
            let rows = db.count("SELECT count(*) FROM conversations");
            let keys = db.count(
                "SELECT count(*) FROM (SELECT DISTINCT vendor, account, id FROM conversations) d",
            );
            assert_eq!(rows, keys, "{moment}: duplicate rows");
            let orphans = db.count(
                "SELECT count(*) FROM revisits r WHERE NOT EXISTS (SELECT 1 FROM conversations c
                     WHERE c.vendor = r.vendor AND c.account = r.account AND c.id = r.id)",
            );
            assert_eq!(orphans, 0, "{moment}: revisits of nothing stored");
            let stored = store.conversations().unwrap();
            let must = pending_of(&stored, now);
            let have = revisit_ids(store.as_ref());
            let lost: Vec<_> = must.difference(&have).collect();
            assert!(
                lost.is_empty(),
                "{moment}: pending but not revisited: {lost:?}"
            );
            let running = store
                .states()
                .unwrap()
                .iter()
                .any(|s| s.last_status == "running");
            if running && !finished {
                mid_run += 1;
            } else {
                between += 1;
            }
        }
        // The rerun completes: the database is the truth as of now, and the
        // revisit set exactly what can still change.
        let moment = format!("step {step} rerun at {now} (seed {seed})");
        assert_ok(&sync("fast.toml", &fast, now).output().unwrap(), &moment);
        let truth = truth(&sim);
        assert_db_is_truth(&db, &truth, &moment);
        let store = db.open();
        assert_eq!(
            revisit_ids(store.as_ref()),
            pending_of(&truth, now),
            "{moment}"
        );
        revisited += store
            .states()
            .unwrap()
            .iter()
            .filter_map(|s| s.last_run.as_ref().map(|r| r.revisited))
            .sum::<u64>();
        drop(store);
        sim.advance(chrono::Duration::days(3));
    }
    eprintln!(
        "{backend:?}: {mid_run} kills mid-run, {between} between runs, {revisited} revisits by the reruns"
    );
    assert!(mid_run >= 5, "too few kills landed mid-run: {mid_run}");
    assert!(
        revisited > 0,
        "nothing was revisited: the scenario has no change"
    );
}

/// Runs the binary on `db` and checks the file is refused and left as it was.
fn assert_refused(dir: &Path, db: &str, env: &[(String, String)], needle: &str) {
    let path = dir.join(db);
    let before = std::fs::read(&path).unwrap();
    for args in [
        vec!["sync", "--config", "c.toml", "--db", db],
        vec!["sync", "--status", "--config", "c.toml", "--db", db],
    ] {
        let out = chathaul(dir)
            .args(&args)
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{db} {args:?}: accepted");
        assert!(stderr.contains(needle), "{db} {args:?}: {stderr}");
        assert!(
            stderr.contains(db),
            "{db}: the error names the file: {stderr}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{db} {args:?}: the file changed"
        );
    }
}

#[test]
fn corrupt_and_foreign_databases_are_refused_and_left_untouched() {
    let sim = Simulator::start_blocking(SimOptions {
        seed: 5,
        conversations: 30,
        messages: 3,
        ..SimOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = config(&sim, &dir.path().join("c.toml"), "1d", &[]);

    // Not a database at all.
    std::fs::write(
        dir.path().join("notes.sqlite"),
        "my notes, not a database\n",
    )
    .unwrap();
    assert_refused(dir.path(), "notes.sqlite", &env, "not a SQLite database");

    // Another application's SQLite database.
    {
        let c = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
        c.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ann');")
            .unwrap();
    }
    assert_refused(dir.path(), "app.db", &env, "chathaul did not create");

    // A chathaul database whose pages were overwritten with garbage.
    let out = chathaul(dir.path())
        .args(["sync", "--config", "c.toml", "--db", "good.sqlite"])
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert_ok(&out, "a first sync");
    // Fold the WAL into the file, as a closed database has it.
    {
        let c = rusqlite::Connection::open(dir.path().join("good.sqlite")).unwrap();
        let _: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
    }
    let good = std::fs::read(dir.path().join("good.sqlite")).unwrap();
    assert!(good.len() > 8 * 4096, "{} bytes", good.len());
    let mut garbled = good.clone();
    for b in &mut garbled[100..] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(dir.path().join("garbled.sqlite"), &garbled).unwrap();
    assert_refused(
        dir.path(),
        "garbled.sqlite",
        &env,
        "database garbled.sqlite",
    );

    // The same database cut in half (a copy interrupted midway).
    std::fs::write(dir.path().join("half.sqlite"), &good[..good.len() / 2]).unwrap();
    assert_refused(dir.path(), "half.sqlite", &env, "database half.sqlite");
}

/// The files in `dir` whose names end with one of `exts`.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_or_killed_pull_never_leaves_a_file_that_looks_whole() {
    // Faults on every other request and one attempt each: the pull fails.
    let faulty = Simulator::start_blocking(SimOptions {
        seed: 3,
        conversations: 40,
        messages: 3,
        fault_rate: 0.5,
        ..SimOptions::default()
    })
    .unwrap();
    // Latency: a pull takes long enough to be killed midway.
    let slow = Simulator::start_blocking(SimOptions {
        seed: 3,
        conversations: 40,
        messages: 3,
        latency: Duration::from_millis(10),
        ..SimOptions::default()
    })
    .unwrap();
    chathaul_bin();
    for ext in ["jsonl", "csv", "parquet"] {
        let dir = tempfile::tempdir().unwrap();
        let pull = |sim: &Simulator, attempts: &str| {
            let mut c = chathaul(dir.path());
            c.args(["pull", "bangwo8", "--messages", "--page-size", "5", "-o"])
                .arg(format!("out.{ext}"))
                .args([
                    "-c",
                    &format!("max_attempts={attempts}"),
                    "-c",
                    "concurrency=1",
                ]);
            for (k, v) in sim.config("bangwo8") {
                c.args(["-c", &format!("{k}={v}")]);
            }
            c
        };
        let out = pull(&faulty, "1").output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{ext}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let left = files(dir.path());
        assert!(
            left.iter().all(|f| !f.ends_with(&format!(".{ext}"))),
            "{ext}: a failed pull left {left:?}"
        );

        let mut child = pull(&slow, "6").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{ext}: the pull ended before the kill"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let left = files(dir.path());
        assert!(
            left.iter().all(|f| !f.ends_with(&format!(".{ext}"))),
            "{ext}: a killed pull left {left:?}"
        );
        // And a pull that completes leaves the whole file(s).
        let out = pull(&slow, "6").output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            files(dir.path())
                .iter()
                .any(|f| f.ends_with(&format!(".{ext}")))
        );
    }
}

/// Two `chathaul sync` processes on one database at once.
fn two_syncs_at_once(fresh: bool) {
    let sim = Simulator::start_blocking(SimOptions {
        seed: 31,
        conversations: 15,
        messages: 3,
        latency: Duration::from_millis(3),
        ..SimOptions::default()
    })
    .unwrap();
    let truth = truth(&sim);
    let dir = tempfile::tempdir().unwrap();
    let env = config(&sim, &dir.path().join("c.toml"), "1d", &[]);
    chathaul_bin();
    let command = || {
        let mut c = chathaul(dir.path());
        c.args([
            "sync",
            "--config",
            "c.toml",
            "--db",
            "both.sqlite",
            "--batch-size",
            "2",
            "--quiet",
        ])
        .envs(env.iter().cloned());
        c
    };
    let db = dir.path().join("both.sqlite");
    if !fresh {
        assert_ok(&command().output().unwrap(), "a first sync");
        // Both runs fetch and rewrite everything, interleaving their batches.
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("UPDATE sync_state SET cursor = NULL", [])
            .unwrap();
    }
    let spawn = || {
        command()
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        assert_ok(&child.wait_with_output().unwrap(), "a concurrent sync");
    }
    let db = KillDb {
        backend: Backend::Sqlite,
        arg: "both.sqlite".into(),
        path: db,
        postgres: None,
    };
    assert_db_is_truth(&db, &truth, "two concurrent syncs");
}

#[test]
fn two_syncs_at_once_on_one_database_both_finish_and_it_equals_the_truth() {
    two_syncs_at_once(false);
}

#[test]
fn two_syncs_at_once_creating_one_new_database_both_finish() {
    two_syncs_at_once(true);
}
