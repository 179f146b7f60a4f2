//! One pull: a connector's conversations for a query, into a [`Sink`], with
//! a report that sets the vendor's reported totals beside what was fetched.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use connector_core::{Connector, ConnectorInfo, Error, ErrorKind, PullStats, Query, Window};
use futures::StreamExt;
use serde::Serialize;

use crate::incremental::Rejected;
use crate::sink::{Format, Sink};

/// What a pull or a sync run has fetched so far, counted as it goes, for
/// progress displays (shared with the display's thread).
#[derive(Debug, Default)]
pub struct ProgressCounters {
    /// Conversations fetched so far.
    pub conversations: AtomicU64,
    /// Messages fetched so far.
    pub messages: AtomicU64,
}

/// The former name of [`ProgressCounters`].
#[deprecated(note = "renamed to ProgressCounters")]
pub type Live = ProgressCounters;

impl ProgressCounters {
    /// A new set of counters, shareable.
    pub fn shared() -> Arc<ProgressCounters> {
        Arc::new(ProgressCounters::default())
    }

    pub(crate) fn add(&self, conversations: u64, messages: u64) {
        self.conversations
            .fetch_add(conversations, Ordering::Relaxed);
        self.messages.fetch_add(messages, Ordering::Relaxed);
    }

    /// (conversations, messages) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.conversations.load(Ordering::Relaxed),
            self.messages.load(Ordering::Relaxed),
        )
    }
}

/// What a pull (or one source of a sync) fetched, and whether that is all of
/// what was asked for.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// The source's name (the vendor name for a plain pull).
    pub source: String,
    /// The vendor.
    pub vendor: String,
    /// The account.
    pub account: String,
    /// The window asked for.
    pub window: Window,
    /// Conversations fetched (after the exact client-side filter).
    pub conversations: u64,
    /// Messages fetched.
    pub messages: u64,
    /// The connector's counters: requests, retries, pages, reported totals.
    pub stats: PullStats,
    /// Whether the pull stopped at the query's limit.
    pub limit_reached: bool,
    /// Every difference between what the vendor reported and what was fetched.
    pub shortfalls: Vec<String>,
    /// The records set aside because they could not be decoded (with
    /// `on_bad_record = skip`).
    pub rejects: Vec<Rejected>,
    /// The error that ended the pull early, naming source, vendor, endpoint and page.
    pub error: Option<String>,
    /// The error's kind ([`Error::kind`]; serialized as its stable name).
    pub error_kind: Option<ErrorKind>,
    /// Seconds the pull took.
    pub elapsed_secs: f64,
}

impl PullReport {
    /// An empty report of `source` (a connector's `info`) over `window`.
    pub fn new(source: &str, info: &ConnectorInfo, window: Window) -> PullReport {
        PullReport {
            source: source.to_owned(),
            vendor: info.vendor.to_owned(),
            account: info.account.clone(),
            window,
            conversations: 0,
            messages: 0,
            stats: PullStats::default(),
            limit_reached: false,
            shortfalls: vec![],
            rejects: vec![],
            error: None,
            error_kind: None,
            elapsed_secs: 0.0,
        }
    }

    /// Whether everything asked for was fetched: no error, no shortfall.
    pub fn complete(&self) -> bool {
        self.error.is_none() && self.shortfalls.is_empty()
    }

    /// One line: what was fetched, beside what the vendor reported.
    pub fn summary_line(&self) -> String {
        let mut s = format!(
            "{} ({}/{}, {}): {} conversations, {} messages, {} pages, {} requests ({} retries) in {:.1}s",
            self.source,
            self.vendor,
            self.account,
            window_text(&self.window),
            self.conversations,
            self.messages,
            self.stats.pages,
            self.stats.http.requests,
            self.stats.http.retries,
            self.elapsed_secs
        );
        let http = &self.stats.http;
        if http.throttled > 0 || http.rate.is_some() {
            s.push_str(&format!(
                "; {} throttled, {:.1}s paused, ended at {} in flight{}",
                http.throttled,
                http.paused_secs,
                http.concurrency,
                http.rate
                    .map(|r| format!(" and {r:.2} requests/s"))
                    .unwrap_or_default()
            ));
        }
        if let Some(t) = self.stats.reported_total {
            s.push_str(&format!(
                "; vendor reported {t}, listed {}",
                self.stats.listed
            ));
        }
        if let Some(m) = self.stats.reported_messages {
            s.push_str(&format!("; messages reported {m}"));
        }
        if self.limit_reached {
            s.push_str("; stopped at --limit");
        }
        if !self.rejects.is_empty() {
            s.push_str(&format!(
                "; {} record(s) set aside (rejects): {}",
                self.rejects.len(),
                self.rejects
                    .iter()
                    .take(3)
                    .map(|r| format!("{} page {} at {}", r.endpoint, r.page, r.path))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            if self.rejects.len() > 3 {
                s.push_str("; …");
            }
        }
        if !self.shortfalls.is_empty() {
            s.push_str(&format!(
                "; INCOMPLETE: {} shortfall(s): {}",
                self.shortfalls.len(),
                self.shortfalls.join("; ")
            ));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("; FAILED: {e}"));
        }
        s
    }
}

/// A window as text: `created in [2024-03-01T00:00:00Z, 2024-04-01T00:00:00Z)`,
/// `created since 2024-03-01T00:00:00Z`, or `all`.
pub fn window_text(w: &Window) -> String {
    use connector_core::model::utc_instant::format;
    let field = match w.field {
        connector_core::TimeField::Created => "created",
        connector_core::TimeField::Ended => "ended",
    };
    match (w.since, w.until) {
        (None, None) => "all".to_owned(),
        (Some(s), None) => format!("{field} since {}", format(&s)),
        (None, Some(u)) => format!("{field} before {}", format(&u)),
        (Some(s), Some(u)) => format!("{field} in [{}, {})", format(&s), format(&u)),
    }
}

/// The differences between what a vendor reported and what was fetched.
/// A pull cut short by its limit lists fewer than the total by design, so the
/// listing total is only checked on a pull that walked to the end.
pub fn shortfalls(stats: &PullStats, limit_reached: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !limit_reached
        && let Some(total) = stats.reported_total
        && total != stats.listed
    {
        out.push(format!(
            "the vendor reported {total} conversations, {} were listed",
            stats.listed
        ));
    }
    out.extend(stats.shortfalls.iter().cloned());
    out
}

/// Pulls `query` from `connector` into `sink`. The sink is not finished
/// here; an error ends the pull and is recorded in the report (what was
/// fetched before it stays written). With `query.on_bad_record = skip`, a
/// record that cannot be decoded is set aside in the report's `rejects`
/// and the pull goes on.
pub async fn pull(
    source: &str,
    connector: &dyn Connector,
    query: &Query,
    sink: &mut dyn Sink,
    live: &ProgressCounters,
) -> PullReport {
    let mut report = PullReport::new(source, connector.info(), query.window);
    if let Err(e) = pull_into(connector, query, sink, live, &mut report).await {
        report.error_kind = Some(e.kind());
        report.error = Some(format!("source {source}: {e}"));
    }
    report
}

/// [`pull`] for a caller that wants the error itself (to raise it with its
/// details): counts, records set aside, counters, shortfalls and time go
/// into `report` (made by [`PullReport::new`]) as the pull goes, and the
/// error that ended it is returned, not recorded.
///
/// # Errors
/// The query's, the connector's or the sink's error that ended the pull.
pub async fn pull_into(
    connector: &dyn Connector,
    query: &Query,
    sink: &mut dyn Sink,
    live: &ProgressCounters,
    report: &mut PullReport,
) -> Result<(), Error> {
    let started = Instant::now();
    let account = &connector.info().account;
    let result: Result<(), Error> = async {
        query.validate()?;
        let mut stream = connector.conversations(query);
        while let Some(item) = stream.next().await {
            let c = match item {
                Err(e @ Error::Rejected { .. }) if query.skips_bad_records() => {
                    report.rejects.push(Rejected::from_error(&e, account, None));
                    continue;
                }
                other => other?,
            };
            sink.write(&c)?;
            report.conversations += 1;
            report.messages += c.messages.len() as u64;
            live.add(1, c.messages.len() as u64);
        }
        Ok(())
    }
    .await;
    report.limit_reached = query.limit.is_some_and(|l| report.conversations >= l);
    report.stats = connector.stats();
    if result.is_ok() {
        report.shortfalls = shortfalls(&report.stats, report.limit_reached);
    }
    report.elapsed_secs = started.elapsed().as_secs_f64();
    result
}

/// Where [`keep_rejects`] kept a pull's records set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectsKept {
    /// In the `rejects` table of this SQLite database (the pull's output).
    Table(PathBuf),
    /// In this JSONL file, one [`Rejected`] a line.
    File(PathBuf),
}

impl std::fmt::Display for RejectsKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectsKept::Table(db) => write!(f, "{} (table rejects)", db.display()),
            RejectsKept::File(file) => write!(f, "{}", file.display()),
        }
    }
}

/// Keeps the records a pull into `output` (in `format`) set aside, beside
/// what it wrote: in the database's `rejects` table when the output is a
/// SQLite database, else in `NAME.rejects.jsonl` next to the output
/// (`out.jsonl`, `out.conversations.csv` and a partitioned folder `lake`
/// give `out.rejects.jsonl`, `lake.rejects.jsonl`), one JSON object a line.
/// `None` when nothing was set aside.
///
/// # Errors
/// [`Error::Io`] naming the file that cannot be written; [`Error::Store`]
/// for a database that cannot take them.
pub fn keep_rejects(
    output: &Path,
    format: Format,
    report: &PullReport,
) -> Result<Option<RejectsKept>, Error> {
    if report.rejects.is_empty() {
        return Ok(None);
    }
    if format == Format::Sqlite {
        return keep_in_database(output, report).map(Some);
    }
    let stem = output
        .file_stem()
        .map_or_else(|| "chathaul".into(), |s| s.to_string_lossy().into_owned());
    let stem = stem
        .strip_suffix(".conversations")
        .unwrap_or(&stem)
        .to_owned();
    let file = output.with_file_name(format!("{stem}.rejects.jsonl"));
    let mut text = String::new();
    for r in &report.rejects {
        let line = serde_json::to_string(r)
            .map_err(|e| Error::internal("cannot write a rejected record as JSON", e))?;
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&file, text).map_err(|e| Error::Io {
        context: format!("cannot write {}", file.display()),
        source: e,
    })?;
    Ok(Some(RejectsKept::File(file)))
}

#[cfg(feature = "sqlite")]
fn keep_in_database(db: &Path, report: &PullReport) -> Result<RejectsKept, Error> {
    use crate::store::SyncStore as _;
    let mut store = crate::store::SqliteStore::open(db)?;
    store.add_rejects(&report.source, &report.rejects)?;
    Ok(RejectsKept::Table(db.to_owned()))
}

#[cfg(not(feature = "sqlite"))]
fn keep_in_database(_db: &Path, _report: &PullReport) -> Result<RejectsKept, Error> {
    Err(Error::FeatureDisabled {
        feature: "sqlite",
        what: "keeping rejected records in a SQLite database".into(),
    })
}
