//! Rows per second into SQLite and into Postgres for the same sync, and the
//! peak RSS of the process that writes them (issue 20).
//!
//! The data is pulled once from an in-process simulator through
//! `chathaul::connect` (KF5, messages included) into a recorded JSONL file.
//! Then, for each backend, a child process (`chathaul-bench-store-write`,
//! measured by [`run_measured`]) reads that file and writes it into a fresh
//! database through the engine's store API exactly as a sync run does:
//! [`SyncStore::begin_run`], one [`SyncStore::write_batch`] transaction per
//! batch of [`SyncOptions::default`]'s `batch_size` conversations, and
//! [`SyncStore::finish_run`]. The child times the store calls only (opening
//! the database included, reading and decoding the file not), so the figure
//! is the database's, not the network's nor the JSON decoder's.
//!
//! Postgres runs in a throwaway cluster (`chathaul-test-postgres`) set back
//! to the server's durable defaults (`fsync`, `full_page_writes`,
//! `synchronous_commit` on), one fresh database per measurement; SQLite is
//! a fresh file in the scratch folder.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chathaul::incremental::{ChangeReport, RunBatch};
use chathaul::store::{RunEnd, RunStatus};
use chathaul::{Conversation, Database, Query, SyncOptions, SyncStore};
use chathaul_sim::{SimOptions, Simulator};
use chathaul_test_postgres::PostgresServer;
use futures::StreamExt;

use crate::util::{ChildRun, clip, run_measured};

/// The vendor whose conversations are recorded.
pub const VENDOR: &str = "kf5";
/// Mean messages per conversation of the datasets.
pub const MESSAGES_MEAN: usize = 50;
/// The source name the child's runs are recorded under.
const SOURCE: &str = "bench";
/// The child program's name (beside `chathaul-bench`).
pub const CHILD: &str = "chathaul-bench-store-write";

/// The message counts measured.
pub fn sizes(tiny: bool) -> &'static [u64] {
    if tiny {
        &[2_000]
    } else {
        &[100_000, 1_000_000]
    }
}

/// What the child reports (one JSON object in its result file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// Conversations written.
    pub conversations: u64,
    /// Messages written.
    pub messages: u64,
    /// Transactions (batches) written.
    pub batches: u64,
    /// Seconds spent in the store's calls (open, begin, batches, finish).
    pub store_secs: f64,
    /// Conversations of the vendor and account in the database afterwards,
    /// as the store counts them.
    pub stored: u64,
}

impl Written {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "conversations": self.conversations,
            "messages": self.messages,
            "batches": self.batches,
            "store_secs": self.store_secs,
            "stored": self.stored,
        })
    }

    fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the child's result: {e}"))?;
        let n = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("the child's result has no `{k}`: {}", clip(text, 200)))
        };
        Ok(Self {
            conversations: n("conversations")?,
            messages: n("messages")?,
            batches: n("batches")?,
            stored: n("stored")?,
            store_secs: v
                .get("store_secs")
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| {
                    format!(
                        "the child's result has no `store_secs`: {}",
                        clip(text, 200)
                    )
                })?,
        })
    }
}

/// One measured write.
#[derive(Debug, Clone)]
pub struct Row {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The messages asked of the simulator.
    pub target_messages: u64,
    /// What the child wrote.
    pub written: Written,
    /// The child process, measured.
    pub run: ChildRun,
}

impl Row {
    /// Conversations plus messages written per second of store time.
    pub fn rows_per_sec(&self) -> f64 {
        (self.written.conversations + self.written.messages) as f64
            / self.written.store_secs.max(1e-9)
    }
}

/// Pulls KF5 conversations from an in-process simulator into `path` (one
/// conversation a line, messages inline) until they hold `target_messages`
/// messages; returns the conversations and messages recorded.
///
/// # Errors
/// When the simulator does not start, the pull fails or the file cannot be
/// written.
pub fn record(path: &Path, target_messages: u64) -> Result<(u64, u64), String> {
    // The simulator's mean is a target, not exact (its long tail is drawn):
    // the dataset is larger than needed and the pull stops at the target.
    let conversations = target_messages as usize * 2 / MESSAGES_MEAN + 20;
    let sim = Simulator::start_blocking(SimOptions {
        conversations,
        messages: MESSAGES_MEAN,
        ..SimOptions::default()
    })
    .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let config = sim.config(VENDOR);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    let counts = rt.block_on(async {
        let conn = chathaul::connect(VENDOR, config.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| format!("{VENDOR}: {e}"))?;
        let query = Query::new().with_messages(true);
        let mut stream = conn.conversations(&query);
        let (mut convs, mut msgs) = (0u64, 0u64);
        while msgs < target_messages {
            let Some(c) = stream.next().await else { break };
            let c = c.map_err(|e| format!("{VENDOR}: recording pull: {e}"))?;
            convs += 1;
            msgs += c.messages.len() as u64;
            serde_json::to_writer(&mut out, &c)
                .and_then(|()| out.write_all(b"\n").map_err(serde_json::Error::io))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok::<_, String>((convs, msgs))
    })?;
    out.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    drop(sim);
    Ok(counts)
}

/// The child's work: reads the recorded conversations in `input` and
/// writes them into `database` as a sync run does, timing the store calls.
///
/// # Errors
/// A line that is not a conversation (with its line number), a record of
/// another vendor or account, or the store's error.
pub fn write_recorded(input: &Path, database: &str) -> Result<Written, String> {
    let database = Database::parse(database).map_err(|e| e.to_string())?;
    let file =
        std::fs::File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
    let mut lines = BufReader::new(file).lines().enumerate();
    let batch_size = SyncOptions::default().batch_size;
    let mut written = Written::default();
    let mut store_time = Duration::ZERO;
    let mut timed = |f: &mut dyn FnMut() -> chathaul::Result<()>| {
        let t = Instant::now();
        let r = f();
        store_time += t.elapsed();
        r.map_err(|e| e.to_string())
    };
    let mut next_batch = || -> Result<Vec<Conversation>, String> {
        let mut batch = Vec::with_capacity(batch_size);
        while batch.len() < batch_size {
            let Some((i, line)) = lines.next() else { break };
            let line = line.map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let c: Conversation = serde_json::from_str(&line).map_err(|e| {
                format!(
                    "{} line {}: not a conversation: {e}",
                    input.display(),
                    i + 1
                )
            })?;
            batch.push(c);
        }
        Ok(batch)
    };
    let mut batch = next_batch()?;
    let Some(first) = batch.first() else {
        return Err(format!("{} holds no conversation", input.display()));
    };
    let (vendor, account) = (first.vendor.clone(), first.account.clone());
    let mut store: Option<Box<dyn SyncStore>> = None;
    timed(&mut || {
        store = Some(database.open()?);
        Ok(())
    })?;
    let mut store = store.ok_or("the store did not open")?;
    let mut state = None;
    timed(&mut || {
        state = Some(store.begin_run(SOURCE, &vendor, &account)?);
        Ok(())
    })?;
    while !batch.is_empty() {
        if let Some(c) = batch
            .iter()
            .find(|c| c.vendor != vendor || c.account != account)
        {
            return Err(format!(
                "{}: conversation {} is of {}/{}, the file began with {vendor}/{account}",
                input.display(),
                c.id,
                c.vendor,
                c.account
            ));
        }
        let messages: u64 = batch.iter().map(|c| c.messages.len() as u64).sum();
        written.conversations += batch.len() as u64;
        written.messages += messages;
        written.batches += 1;
        let run_batch = RunBatch {
            conversations: std::mem::take(&mut batch),
            messages,
            ..RunBatch::default()
        };
        timed(&mut || store.write_batch(SOURCE, &run_batch))?;
        drop(run_batch);
        batch = next_batch()?;
    }
    let end = RunEnd {
        status: RunStatus::Ok,
        error: None,
        state: state.unwrap_or_default(),
        window_since: None,
        report: ChangeReport::default(),
        reported_total: None,
        reported_messages: None,
        shortfalls: Vec::new(),
    };
    let mut stored = 0;
    timed(&mut || {
        stored = store.finish_run(SOURCE, &end)?.stored;
        Ok(())
    })?;
    written.stored = stored;
    written.store_secs = store_time.as_secs_f64();
    Ok(written)
}

/// The child program: `chathaul-bench-store-write INPUT DATABASE RESULT`
/// writes [`write_recorded`]'s figures to `RESULT` as JSON; exits 1 with the
/// error on standard error.
pub fn child_main(args: &[String]) -> i32 {
    let [input, database, result] = args else {
        eprintln!("usage: {CHILD} RECORDED.jsonl DATABASE RESULT.json");
        return 2;
    };
    match write_recorded(Path::new(input), database) {
        Ok(w) => match std::fs::write(result, w.to_json().to_string()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{CHILD}: cannot write {result}: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("{CHILD}: {e}");
            1
        }
    }
}

/// A Postgres cluster of the test harness with the server's durable
/// defaults back on (the harness turns them off to speed up tests).
fn durable_server() -> Result<(PostgresServer, String), String> {
    let server = PostgresServer::start().map_err(|e| e.to_string())?;
    // ALTER SYSTEM cannot run in a transaction block: one statement a call.
    for setting in ["fsync", "full_page_writes", "synchronous_commit"] {
        server
            .psql("postgres", &format!("ALTER SYSTEM SET {setting} = on"))
            .map_err(|e| e.to_string())?;
    }
    server
        .psql("postgres", "SELECT pg_reload_conf()")
        .map_err(|e| e.to_string())?;
    let settings = server
        .psql(
            "postgres",
            "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings \
             WHERE name IN ('fsync', 'full_page_writes', 'synchronous_commit', 'shared_buffers', 'server_version')",
        )
        .map_err(|e| e.to_string())?;
    Ok((server, settings.trim().to_owned()))
}

/// Records each size once and writes it into SQLite and into Postgres, each
/// in its own child process.
///
/// # Errors
/// When the recording, the server or a child fails (the child's error).
pub fn run(child: &Path, scratch: &Path, tiny: bool) -> Result<(Vec<Row>, String), String> {
    if !child.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build -p chathaul-bench`",
            child.display()
        ));
    }
    let (server, settings) = durable_server()?;
    let mut rows = Vec::new();
    for &n in sizes(tiny) {
        let recorded = scratch.join(format!("recorded-{n}.jsonl"));
        eprintln!("chathaul-bench: store writes: recording {n} messages …");
        let (convs, msgs) = record(&recorded, n)?;
        for backend in ["sqlite", "postgres"] {
            let sqlite_file = scratch.join(format!("store-{n}.sqlite"));
            let (target, pg) = if backend == "sqlite" {
                (sqlite_file.display().to_string(), None)
            } else {
                let db = server.create_database();
                (db.url(), Some(db))
            };
            let result = scratch.join("store-write-result.json");
            let _ = std::fs::remove_file(&result);
            eprintln!("chathaul-bench: store writes: {n} messages into {backend} …");
            let run = run_measured(
                child,
                &[
                    recorded.display().to_string(),
                    target,
                    result.display().to_string(),
                ],
                &[],
                scratch,
            );
            // Free the disk before anything can fail.
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_file.display()));
            }
            if let Some(db) = &pg {
                let _ = server.psql("postgres", &format!("DROP DATABASE \"{}\"", db.name));
            }
            if !run.ok {
                return Err(format!(
                    "{n} messages into {backend}: {}",
                    clip(&run.stderr, 500)
                ));
            }
            let text = std::fs::read_to_string(&result)
                .map_err(|e| format!("cannot read {}: {e}", result.display()))?;
            let written = Written::from_json(&text)?;
            if (written.conversations, written.messages, written.stored) != (convs, msgs, convs) {
                return Err(format!(
                    "{n} messages into {backend}: recorded {convs} conversations and {msgs} messages, \
                     the child wrote {} and {} and the store holds {} conversations",
                    written.conversations, written.messages, written.stored
                ));
            }
            rows.push(Row {
                backend,
                target_messages: n,
                written,
                run,
            });
        }
        let _ = std::fs::remove_file(&recorded);
    }
    Ok((rows, settings))
}

fn rss(run: &ChildRun) -> String {
    run.max_rss_mb.map_or("?".into(), |m| format!("{m:.0}"))
}

/// The report's section: the prose and the table.
///
/// # Errors
/// As [`run`].
pub fn section(exe_dir: &Path, scratch: &Path, tiny: bool) -> Result<String, String> {
    let child: PathBuf = exe_dir.join(CHILD);
    let (rows, settings) = run(&child, scratch, tiny)?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "The same sync written into a fresh SQLite file and into a fresh Postgres database, so that the database is \
         measured and not the network. The data is pulled once from the simulator ({VENDOR}, {MESSAGES_MEAN} messages \
         per conversation on average, a long tail of hundreds) through `chathaul::connect` into a recorded JSONL file, until it holds the size's messages (whole \
         conversations, so a few more). \
         Then, per backend, a child process (`{CHILD}`) reads that file and writes it through the engine's store API \
         as `sync` does: `begin_run`, one `write_batch` transaction per {batch} conversations (the sync's default \
         batch; Postgres: binary `COPY` into staging tables, then upserts; SQLite: prepared upserts, WAL), \
         `finish_run`. **Rows** are conversations + messages; **rows/s** divides them by the time spent in the store's \
         calls (opening and creating the schema included; reading and decoding the file excluded). Wall time and peak \
         RSS (`/usr/bin/time`, %M) are the child's whole process (decoding the file included); the Postgres server \
         runs in its own processes (not in the child's RSS or CPU), on the same 2 cores. The counts written are checked against the recording and against \
         the conversations the store reports. Postgres: a throwaway cluster (`chathaul-test-postgres`) with the \
         server's durable defaults turned back on ({settings}); SQLite: `synchronous=NORMAL` in WAL mode, the \
         store's settings.\n",
        batch = SyncOptions::default().batch_size,
    );
    let _ = writeln!(
        s,
        "| messages | backend | conversations | rows | transactions | store s | rows/s | messages/s | Postgres / SQLite rows/s | child wall s | child CPU s | peak RSS MB |"
    );
    let _ = writeln!(
        s,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let ratio = if r.backend == "postgres" {
            rows.iter()
                .find(|o| o.backend == "sqlite" && o.target_messages == r.target_messages)
                .map_or("?".into(), |o| {
                    format!("{:.2}", r.rows_per_sec() / o.rows_per_sec().max(1e-9))
                })
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2} | {:.0} | {:.0} | {} | {:.2} | {} | {} |",
            r.written.messages,
            r.backend,
            r.written.conversations,
            r.written.conversations + r.written.messages,
            r.written.batches,
            r.written.store_secs,
            r.rows_per_sec(),
            r.written.messages as f64 / r.written.store_secs.max(1e-9),
            ratio,
            r.run.wall,
            r.run.cpu.map_or("?".into(), |c| format!("{c:.2}")),
            rss(&r.run),
        );
    }
    if let Some(short) = rows.iter().find(|r| r.written.messages < r.target_messages) {
        let _ = writeln!(
            s,
            "\nThe simulator's dataset ran out at {} of the {} messages asked.",
            short.written.messages, short.target_messages
        );
    }
    let sizes = sizes(tiny);
    if sizes.len() > 1 {
        let (lo, hi) = (sizes[0], sizes[sizes.len() - 1]);
        let _ = writeln!(
            s,
            "\nPeak RSS growth from {lo} to {hi} messages ({:.0}× the data):\n",
            hi as f64 / lo as f64
        );
        let _ = writeln!(s, "| backend | peak RSS × | rows/s × |");
        let _ = writeln!(s, "|---|---:|---:|");
        for backend in ["sqlite", "postgres"] {
            let get = |n: u64| {
                rows.iter()
                    .find(|r| r.backend == backend && r.target_messages == n)
            };
            if let (Some(a), Some(b)) = (get(lo), get(hi)) {
                let growth = match (a.run.max_rss_mb, b.run.max_rss_mb) {
                    (Some(x), Some(y)) => format!("{:.2}", y / x),
                    _ => "?".into(),
                };
                let _ = writeln!(
                    s,
                    "| {backend} | {growth} | {:.2} |",
                    b.rows_per_sec() / a.rows_per_sec().max(1e-9)
                );
            }
        }
    }
    Ok(s)
}
