//! Incremental sync of one or many sources into a database ([`SyncStore`]).
//!
//! Per source, the database keeps a cursor: the newest creation time seen,
//! minus a look-back (default one day, because chats close and get rated
//! after they start). A run asks for conversations created at or after the
//! cursor, upserts them by (vendor, account, id) in batches, and records its
//! progress in the same transaction as each batch. The cursor itself moves
//! only when a run has fetched its whole window with no shortfall, in the
//! transaction that closes the run. So a run killed at any point (kill -9
//! included) loses nothing and duplicates nothing: the next run asks for the
//! same window again and upserts over what the killed run wrote.
//!
//! Sources run concurrently (one tokio task each); one writer thread owns the
//! database connection and applies every batch in order.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use connector_core::{Connector, Conversation, Error, Include, Query, Result};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::pull::{Live, PullReport, shortfalls};
use crate::store::{RunEnd, RunStatus, SyncState, SyncStore};

/// The default look-back: one day.
pub const DEFAULT_LOOKBACK: chrono::Duration = chrono::Duration::days(1);

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
            .finish()
    }
}

impl Source {
    /// A source named after its vendor, with messages and summaries, from the
    /// beginning, with the default look-back.
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
    pub live: Arc<Live>,
}

/// Builds every source's connector, so a configuration mistake is reported
/// before anything is fetched.
///
/// # Errors
/// The first [`Error::UnknownVendor`] or [`Error::Config`] (its text names
/// the vendor and field; the caller adds the source name), or
/// [`Error::SyncSource`] for a name two sources share.
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
        match connector_core::connect(
            &source.vendor,
            source.config.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ) {
            Ok(c) => out.push(Prepared {
                source,
                connector: Arc::from(c),
                live: Live::shared(),
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
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { batch_size: 100 }
    }
}

/// What one source's run did, and its state afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The pull: counts, reported totals, shortfalls, error.
    pub pull: PullReport,
    /// The sync state after the run (`None` if the database failed).
    pub state: Option<SyncState>,
}

enum Cmd {
    Begin {
        source: String,
        vendor: String,
        account: String,
        since: Option<DateTime<Utc>>,
        reply: oneshot::Sender<Result<SyncState>>,
    },
    Batch {
        source: String,
        conversations: Vec<Conversation>,
        messages: u64,
        reply: oneshot::Sender<Result<()>>,
    },
    Finish {
        source: String,
        end: RunEnd,
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
                since,
                reply,
            } => {
                let _ = reply.send(store.begin_run(&source, &vendor, &account, since));
            }
            Cmd::Batch {
                source,
                conversations,
                messages,
                reply,
            } => {
                let _ = reply.send(store.upsert_for_source(&source, &conversations, messages));
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
    let mut report = PullReport {
        source: source.name.clone(),
        vendor: info.vendor.to_owned(),
        account: info.account.clone(),
        window: Default::default(),
        conversations: 0,
        messages: 0,
        stats: Default::default(),
        limit_reached: false,
        shortfalls: vec![],
        error: None,
        error_kind: None,
        elapsed_secs: 0.0,
    };
    let fail = |report: &mut PullReport, e: Error| {
        report.error_kind = Some(e.kind());
        report.error = Some(format!("source {}: {e}", source.name));
    };
    let state = db
        .call(|reply| Cmd::Begin {
            source: source.name.clone(),
            vendor: info.vendor.to_owned(),
            account: info.account.clone(),
            since: source.since,
            reply,
        })
        .await;
    let state = match state {
        Ok(s) => s,
        Err(e) => {
            fail(&mut report, e);
            return SourceReport {
                pull: report,
                state: None,
            };
        }
    };
    let mut query = Query::new().created(state.last_window_since, None);
    query.include = source.include;
    query.page_size = source.page_size;
    report.window = query.window;
    tracing::info!(source = %source.name, vendor = info.vendor, since = ?query.window.since, "sync run starts");

    let result: Result<()> = async {
        let mut stream = connector.conversations(&query);
        let mut batch: Vec<Conversation> = Vec::with_capacity(options.batch_size);
        let mut batch_messages = 0u64;
        let mut ended: Result<()> = Ok(());
        loop {
            let next = stream.next().await;
            let done = match next {
                Some(Ok(c)) => {
                    let m = c.messages.len() as u64;
                    report.conversations += 1;
                    report.messages += m;
                    live.add(1, m);
                    batch_messages += m;
                    batch.push(c);
                    false
                }
                Some(Err(e)) => {
                    ended = Err(e);
                    true
                }
                None => true,
            };
            if !batch.is_empty() && (done || batch.len() >= options.batch_size.max(1)) {
                let conversations = std::mem::take(&mut batch);
                let messages = std::mem::take(&mut batch_messages);
                db.call(|reply| Cmd::Batch {
                    source: source.name.clone(),
                    conversations,
                    messages,
                    reply,
                })
                .await?;
            }
            if done {
                return ended;
            }
        }
    }
    .await;
    report.stats = connector.stats();
    let (status, complete) = match result {
        Err(e) => {
            fail(&mut report, e);
            (RunStatus::Error, false)
        }
        Ok(()) => {
            report.shortfalls = shortfalls(&report.stats, false);
            if report.shortfalls.is_empty() {
                (RunStatus::Ok, true)
            } else {
                (RunStatus::Incomplete, false)
            }
        }
    };
    report.elapsed_secs = started.elapsed().as_secs_f64();
    let state = db
        .call(|reply| Cmd::Finish {
            source: source.name.clone(),
            end: RunEnd {
                status,
                error: report.error.clone(),
                complete,
                lookback: source.lookback,
                reported_total: report.stats.reported_total,
                reported_messages: report.stats.reported_messages,
                shortfalls: report.shortfalls.clone(),
            },
            reply,
        })
        .await;
    match state {
        Ok(s) => SourceReport {
            pull: report,
            state: Some(s),
        },
        Err(e) => {
            if report.error.is_none() {
                fail(&mut report, e);
            }
            SourceReport {
                pull: report,
                state: None,
            }
        }
    }
}
