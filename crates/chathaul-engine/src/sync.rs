//! Incremental sync of one or many sources into a database ([`SyncStore`]).
//!
//! Each source's run is an [`IncrementalRun`]: the listing from the
//! source's cursor on the time its vendor's sync follows, revisits of the
//! conversations that can still change, and, when due, a full re-read (see
//! [`crate::incremental`]). Every batch moves the data, the revisit set and
//! the records set aside in one transaction; the cursor moves only when a
//! run has fetched its whole window with no shortfall, in the transaction
//! that closes the run. So a run killed at any point (kill -9 included)
//! loses nothing and duplicates nothing: the next run asks for the same
//! window again, upserts over what the killed run wrote, and revisits what
//! is still pending.
//!
//! Sources run concurrently (one tokio task each); one writer thread owns the
//! database connection and applies every batch in order.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use connector_core::{BadRecord, Connector, Error, Include, Result, Window};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::incremental::{
    ChangeReport, IncrementalOptions, IncrementalRun, IncrementalState, RunBatch, RunPlan,
};
pub use crate::incremental::{DEFAULT_LOOKBACK, DEFAULT_REVISIT_FOR};
use crate::pull::{ProgressCounters, PullReport};
use crate::store::{RunEnd, RunStatus, SyncState, SyncStore};

/// One source to sync: a named connector configuration and what to fetch.
#[derive(Clone)]
pub struct Source {
    /// A name unique within the database (the sync state is kept under it).
    pub name: String,
    /// The vendor (`kf5`).
    pub vendor: String,
    /// The connector's key/values; missing ones come from the environment.
    pub config: Vec<(String, String)>,
    /// Where the first run starts (`None`: the vendor's whole history).
    pub since: Option<DateTime<Utc>>,
    /// How far before the newest creation time seen the next run starts.
    pub lookback: chrono::Duration,
    /// Messages and summaries.
    pub include: Include,
    /// Records per page to ask for.
    pub page_size: Option<u32>,
    /// How long after its creation a conversation that is not final is
    /// revisited (default 14 days).
    pub revisit_for: chrono::Duration,
    /// How often everything is re-read from `since` (`None`: never after
    /// the first run).
    pub full_refresh_every: Option<chrono::Duration>,
    /// How long after its end an unrated conversation is revisited for a
    /// rating (`None`: the vendor's declared window).
    pub rating_window: Option<chrono::Duration>,
    /// What to do with a record that cannot be decoded: set it aside in
    /// `rejects` and go on (the default for sync), or end the run.
    pub on_bad_record: BadRecord,
}

impl std::fmt::Debug for Source {
    // The config may hold secrets: only its keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("vendor", &self.vendor)
            .field(
                "config_keys",
                &self
                    .config
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("since", &self.since)
            .field("lookback", &self.lookback)
            .field("include", &self.include)
            .field("revisit_for", &self.revisit_for)
            .field("full_refresh_every", &self.full_refresh_every)
            .field("rating_window", &self.rating_window)
            .field("on_bad_record", &self.on_bad_record)
            .finish()
    }
}

impl Source {
    /// A source named after its vendor, with messages and summaries, from the
    /// beginning, with the default look-back and revisit horizon, no
    /// periodic full re-read, the vendor's rating window, and bad records
    /// set aside.
    pub fn new(vendor: impl Into<String>, config: Vec<(String, String)>) -> Self {
        let vendor = vendor.into();
        Self {
            name: vendor.clone(),
            vendor,
            config,
            since: None,
            lookback: DEFAULT_LOOKBACK,
            include: Include::ALL,
            page_size: None,
            revisit_for: DEFAULT_REVISIT_FOR,
            full_refresh_every: None,
            rating_window: None,
            on_bad_record: BadRecord::Skip,
        }
    }

    /// The options of this source's incremental runs.
    pub fn incremental_options(&self, concurrency: usize) -> IncrementalOptions {
        IncrementalOptions {
            since: self.since,
            lookback: self.lookback,
            revisit_for: self.revisit_for,
            full_refresh_every: self.full_refresh_every,
            rating_window: self.rating_window,
            include: self.include,
            page_size: self.page_size,
            on_bad_record: self.on_bad_record,
            concurrency,
        }
    }
}

/// A source with its connector built (configuration checked) and its live counters.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The source.
    pub source: Source,
    /// Its connector.
    pub connector: Arc<dyn Connector>,
    /// Its live counters.
    pub live: Arc<ProgressCounters>,
}

/// Builds every source's connector, so a configuration mistake is reported
/// before anything is fetched.
///
/// # Errors
/// The first [`Error::UnknownVendor`] or [`Error::Config`] (its text names
/// the vendor and field; the caller adds the source name), or
/// [`Error::SyncSource`] for a name two sources share or an option out of
/// range (a `revisit_for` of zero, a negative window).
pub fn prepare(sources: Vec<Source>) -> std::result::Result<Vec<Prepared>, (String, Error)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for source in sources {
        if !seen.insert(source.name.clone()) {
            let e = Error::SyncSource {
                name: source.name.clone(),
                problem: "is the name of two sources: give each its own name".to_owned(),
            };
            return Err((source.name, e));
        }
        let zero = chrono::Duration::zero();
        let problem = if source.revisit_for <= zero {
            Some("revisit_for must be longer than zero")
        } else if source.full_refresh_every.is_some_and(|d| d < zero) {
            Some("full_refresh_every must not be negative")
        } else if source.rating_window.is_some_and(|d| d < zero) {
            Some("rating_window must not be negative")
        } else if source.lookback < zero {
            Some("lookback must not be negative")
        } else {
            None
        };
        if let Some(problem) = problem {
            let e = Error::SyncSource {
                name: source.name.clone(),
                problem: format!("has a bad option: {problem}"),
            };
            return Err((source.name, e));
        }
        match connector_core::connect(
            &source.vendor,
            source.config.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ) {
            Ok(c) => out.push(Prepared {
                source,
                connector: Arc::from(c),
                live: ProgressCounters::shared(),
            }),
            Err(e) => return Err((source.name, e)),
        }
    }
    Ok(out)
}

/// Tuning of a sync run.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// Conversations per transaction.
    pub batch_size: usize,
    /// Completions and fetches by id in flight at once, per source.
    pub concurrency: usize,
    /// The instant the runs reason about (which conversations are final,
    /// which expired, when a full re-read is due); `None`: the system clock.
    /// Set it to replay, or to sync a simulator whose clock differs.
    pub now: Option<DateTime<Utc>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: crate::incremental::DEFAULT_CONCURRENCY,
            now: None,
        }
    }
}

/// What one source's run did, and its state afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The pull: counts, reported totals, shortfalls, records set aside, error.
    pub pull: PullReport,
    /// What the change tracking did: revisits, changes, expiries.
    pub changes: ChangeReport,
    /// What the run planned (`None` if it never started).
    pub plan: Option<RunPlan>,
    /// The sync state after the run (`None` if the database failed).
    pub state: Option<SyncState>,
}

impl SourceReport {
    /// One line: the pull's, then the change tracking's.
    pub fn summary_line(&self) -> String {
        if self.plan.is_none() {
            return self.pull.summary_line();
        }
        format!("{}; {}", self.pull.summary_line(), self.changes.summary())
    }
}

enum Cmd {
    Begin {
        source: String,
        vendor: String,
        account: String,
        reply: oneshot::Sender<Result<IncrementalState>>,
    },
    Batch {
        source: String,
        batch: RunBatch,
        reply: oneshot::Sender<Result<()>>,
    },
    Finish {
        source: String,
        end: Box<RunEnd>,
        reply: oneshot::Sender<Result<SyncState>>,
    },
}

fn writer(mut store: Box<dyn SyncStore>, rx: std::sync::mpsc::Receiver<Cmd>) {
    for cmd in rx {
        match cmd {
            Cmd::Begin {
                source,
                vendor,
                account,
                reply,
            } => {
                let _ = reply.send(store.begin_run(&source, &vendor, &account));
            }
            Cmd::Batch {
                source,
                batch,
                reply,
            } => {
                let _ = reply.send(store.write_batch(&source, &batch));
            }
            Cmd::Finish { source, end, reply } => {
                let _ = reply.send(store.finish_run(&source, &end));
            }
        }
    }
}
#[derive(Clone)]
struct WriterHandle(std::sync::mpsc::Sender<Cmd>);

impl WriterHandle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd) -> Result<T> {
        let stopped = || Error::Internal {
            context: "the database writer stopped".to_owned(),
            source: None,
        };
        let (tx, rx) = oneshot::channel();
        self.0.send(make(tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// Syncs every prepared source into the SQLite database at `db` (created if
/// missing), concurrently. Returns one report per source, in the order given.
///
/// # Errors
/// Only when the database cannot be opened (a foreign or corrupt file is
/// refused); a source's own failure is in its report.
#[cfg(feature = "sqlite")]
pub async fn sync(
    db: &std::path::Path,
    sources: Vec<Prepared>,
    options: SyncOptions,
) -> Result<Vec<SourceReport>> {
    let store = crate::store::SqliteStore::open(db)?;
    sync_into(Box::new(store), sources, options).await
}

/// Syncs every prepared source into `db` — a SQLite file or a Postgres
/// database, its tables created or migrated as needed — concurrently.
/// Returns one report per source, in the order given.
///
/// # Errors
/// Only when the database cannot be opened (unreachable, a login refused, a
/// foreign file or schema); a source's own failure is in its report.
pub async fn sync_to(
    db: &crate::store::Database,
    sources: Vec<Prepared>,
    options: SyncOptions,
) -> Result<Vec<SourceReport>> {
    let db = db.clone();
    let store = tokio::task::spawn_blocking(move || db.open())
        .await
        .map_err(|e| Error::internal("opening the database", e))??;
    sync_into(store, sources, options).await
}

/// Syncs every prepared source into `store`, concurrently. Returns one
/// report per source, in the order given.
///
/// # Errors
/// Only when the writer thread cannot be started, or a source's task or the
/// writer panicked; a source's own failure is in its report.
pub async fn sync_into(
    store: Box<dyn SyncStore>,
    sources: Vec<Prepared>,
    options: SyncOptions,
) -> Result<Vec<SourceReport>> {
    let location = store.location();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer_thread = std::thread::Builder::new()
        .name("chathaul-db-writer".into())
        .spawn(move || writer(store, rx))
        .map_err(|e| Error::Io {
            context: "cannot start the database writer".into(),
            source: e,
        })?;
    let handle = WriterHandle(tx);
    // A JoinSet aborts every source task when it is dropped: if this future
    // is dropped (Ctrl-C, a timeout), no source keeps fetching and writing in
    // the background; the writer then sees its channel close and stops after
    // the batch in hand (each batch is one transaction).
    let mut tasks = tokio::task::JoinSet::new();
    let count = sources.len();
    for (i, p) in sources.into_iter().enumerate() {
        let handle = handle.clone();
        tasks.spawn(async move { (i, run_source(p, handle, options).await) });
    }
    drop(handle);
    let mut reports: Vec<Option<SourceReport>> = (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, r)) => reports[i] = Some(r),
            Err(e) => return Err(Error::internal("a sync task failed", e)),
        }
    }
    let reports: Vec<SourceReport> = reports.into_iter().flatten().collect();
    tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .map_err(|e| Error::internal(format!("database {location}: waiting for the writer"), e))?
        .map_err(|_| Error::Internal {
            context: format!("database {location}: the writer panicked"),
            source: None,
        })?;
    Ok(reports)
}

async fn run_source(p: Prepared, db: WriterHandle, options: SyncOptions) -> SourceReport {
    let started = std::time::Instant::now();
    let Prepared {
        source,
        connector,
        live,
    } = p;
    let info = connector.info().clone();
    let mut report = PullReport::new(&source.name, &info, Window::default());
    let fail = |report: &mut PullReport, e: &Error| {
        report.error_kind = Some(e.kind());
        report.error = Some(format!("source {}: {e}", source.name));
    };
    let state = db
        .call(|reply| Cmd::Begin {
            source: source.name.clone(),
            vendor: info.vendor.to_owned(),
            account: info.account.clone(),
            reply,
        })
        .await;
    let state = match state {
        Ok(s) => s,
        Err(e) => {
            fail(&mut report, &e);
            return SourceReport {
                pull: report,
                changes: ChangeReport::default(),
                plan: None,
                state: None,
            };
        }
    };
    let run_options = source.incremental_options(options.concurrency);
    let mut run = IncrementalRun::start(connector.as_ref(), &run_options, state, options.now);
    let plan = run.plan().clone();
    report.window = Window {
        field: plan.field,
        since: plan.since,
        until: None,
    };
    tracing::info!(source = %source.name, vendor = info.vendor, since = ?plan.since, full = plan.full, "sync run starts");

    let mut write_error = None;
    while let Some(batch) = run.next_batch(options.batch_size).await {
        let (n, m) = (batch.conversations.len() as u64, batch.messages);
        let rejects = batch.rejects.clone();
        let written = db
            .call(|reply| Cmd::Batch {
                source: source.name.clone(),
                batch,
                reply,
            })
            .await;
        if let Err(e) = written {
            write_error = Some(e);
            break;
        }
        report.conversations += n;
        report.messages += m;
        report.rejects.extend(rejects);
        live.add(n, m);
    }
    let outcome = run.finish();
    report.stats = outcome.stats.clone();
    report.shortfalls = outcome.shortfalls.clone();
    let error = write_error.or(outcome.error);
    let (status, state) = match &error {
        Some(e) => {
            fail(&mut report, e);
            (RunStatus::Error, outcome.state)
        }
        None if !outcome.complete => (RunStatus::Incomplete, outcome.state),
        None => (RunStatus::Ok, outcome.state),
    };
    report.elapsed_secs = started.elapsed().as_secs_f64();
    let end = RunEnd {
        status,
        error: report.error.clone(),
        state,
        window_since: plan.since,
        report: outcome.report.clone(),
        reported_total: report.stats.reported_total,
        reported_messages: report.stats.reported_messages,
        shortfalls: report.shortfalls.clone(),
    };
    let state = db
        .call(|reply| Cmd::Finish {
            source: source.name.clone(),
            end: Box::new(end),
            reply,
        })
        .await;
    let state = match state {
        Ok(s) => Some(s),
        Err(e) => {
            if report.error.is_none() {
                fail(&mut report, &e);
            }
            None
        }
    };
    SourceReport {
        pull: report,
        changes: outcome.report,
        plan: Some(plan),
        state,
    }
}
