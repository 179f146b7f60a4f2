//! Partitions: the unit of work when many accounts and long histories are
//! spread over workers (threads, processes, a Dask or Ray cluster).
//!
//! A [`Partition`] is one source (a vendor account) over one window of
//! creation times, `[since, until)`. [`plan`] cuts every source's window into
//! consecutive windows of a fixed length; [`pull_partition`] pulls one into
//! the two Arrow tables. A partition is small enough to retry alone and
//! idempotent: pulling it again gives the same rows (as of the vendor's
//! present), so a runner that retries a failed partition replaces its output,
//! never appends to it.
//!
//! A partition carries the connector configuration it was planned with,
//! exactly as given: a field left out (a password, a token) is resolved from
//! the environment (`CHATHAUL_<VENDOR>_<FIELD>`) where the partition is
//! pulled, so secrets need not travel with the work. Its `Debug` shows the
//! configuration's keys, never its values.

use chrono::{DateTime, Utc};
use connector_core::{Connector, Error, Include, Query, Result, TimeField, Window};
use futures::StreamExt;

use crate::arrow::BatchBuilder;
use crate::pull::{ProgressCounters, PullReport, shortfalls};
use crate::sync::{Prepared, Source};

/// The most partitions one [`plan`] makes: a window cut finer than this is a
/// mistake in `every` (seconds for days), not a plan.
pub const MAX_PARTITIONS: usize = 1_000_000;

/// One source over one window of creation times: the unit of work that a
/// runner schedules, retries and writes alone.
#[derive(Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its position in the plan (0-based), stable for the same arguments.
    pub index: usize,
    /// The source's name (unique within the plan).
    pub source: String,
    /// The vendor (`kf5`).
    pub vendor: String,
    /// The account the source's connector reads (as the connector names it).
    pub account: String,
    /// The connector's key/values as given; fields left out are read from
    /// the environment where the partition is pulled.
    pub config: Vec<(String, String)>,
    /// Inclusive start of the creation-time window.
    pub since: DateTime<Utc>,
    /// Exclusive end of the creation-time window.
    pub until: DateTime<Utc>,
    /// Messages and summaries.
    pub include: Include,
    /// Records per page to ask for.
    pub page_size: Option<u32>,
}

impl std::fmt::Debug for Partition {
    // The config may hold secrets: only its keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("index", &self.index)
            .field("source", &self.source)
            .field("vendor", &self.vendor)
            .field("account", &self.account)
            .field(
                "config_keys",
                &self
                    .config
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("since", &self.since)
            .field("until", &self.until)
            .field("include", &self.include)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl std::fmt::Display for Partition {
    /// `kf5/acme [2024-01-01T00:00:00Z, 2024-01-08T00:00:00Z)`: what and
    /// where, never a config value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use connector_core::model::utc_instant::format;
        write!(
            f,
            "{}/{} [{}, {})",
            self.vendor,
            self.account,
            format(&self.since),
            format(&self.until)
        )
    }
}

impl Partition {
    /// The key of the account whose rate budget this partition spends:
    /// `vendor/account`. Partitions with the same key share one budget.
    pub fn account_key(&self) -> String {
        format!("{}/{}", self.vendor, self.account)
    }

    /// The partition's query: its window on creation times, what to include.
    pub fn query(&self) -> Query {
        let mut query = Query::new();
        query.window = Window {
            field: TimeField::Created,
            since: Some(self.since),
            until: Some(self.until),
        };
        query.include = self.include;
        query.page_size = self.page_size;
        query
    }
}

/// One source's whole window, before it is cut: the source, the account its
/// connector reads, and `[since, until)` in UTC.
#[derive(Debug, Clone)]
pub struct Span {
    /// The source.
    pub source: Source,
    /// The account its connector reads ([`connector_core::ConnectorInfo::account`]).
    pub account: String,
    /// Inclusive start.
    pub since: DateTime<Utc>,
    /// Exclusive end.
    pub until: DateTime<Utc>,
}

impl Span {
    /// The span of a prepared source (its connector built, so its account
    /// known) over `since` and `until` read as the command line reads them:
    /// RFC 3339, or a date or local time on the source's wall clock (its
    /// `timezone`, else the vendor's). The source's own `since`, when set,
    /// is a lower bound.
    ///
    /// # Errors
    /// [`Error::Query`] for a time that does not parse or an empty window
    /// (one emptied by the source's own `since` is not an error: it has no
    /// partitions); the [`Error::UnknownVendor`] or [`Error::Config`] of a
    /// `timezone` that is not an IANA name.
    pub fn of(prepared: &Prepared, since: &str, until: &str) -> Result<Span> {
        let source = &prepared.source;
        let zone = crate::config::zone_of(&source.vendor, &source.config)?;
        let parse = |name: &str, text: &str| {
            crate::config::parse_instant(text, zone)
                .map_err(|m| Error::Query(format!("source {}: {name}: {m}", source.name)))
        };
        let start = parse("since", since)?;
        let end = parse("until", until)?;
        if start >= end {
            return Err(Error::Query(format!(
                "source {}: the window [{since}, {until}) is empty: until must be after since",
                source.name
            )));
        }
        Ok(Span {
            source: source.clone(),
            account: prepared.connector.info().account.clone(),
            since: source.since.map_or(start, |floor| start.max(floor)),
            until: end,
        })
    }
}

/// Builds every source's connector (so a configuration mistake is reported
/// before any work is handed out), then [`cut`]s each source's
/// `[since, until)` ([`Span::of`]) into windows of length `every`.
///
/// Secrets not given may come from this process's environment for that
/// check; the partitions carry only what was given.
///
/// # Errors
/// As [`prepare`](crate::sync::prepare) (a name two sources share, a
/// connector's config), [`Span::of`] and [`cut`].
pub fn plan(
    sources: Vec<Source>,
    since: &str,
    until: &str,
    every: chrono::Duration,
) -> Result<Vec<Partition>> {
    let prepared = crate::sync::prepare(sources).map_err(|(_, e)| e)?;
    let spans = prepared
        .iter()
        .map(|p| Span::of(p, since, until))
        .collect::<Result<Vec<_>>>()?;
    cut(&spans, every)
}

/// Cuts every span into windows of length `every` (the last one shorter
/// when `every` does not divide it) and returns the partitions window by
/// window, each window's sources in the order given: a runner that takes
/// them in order spreads consecutive work over accounts.
///
/// # Errors
/// [`Error::Query`] for an `every` that is not positive, or a plan of more
/// than [`MAX_PARTITIONS`] partitions.
pub fn cut(spans: &[Span], every: chrono::Duration) -> Result<Vec<Partition>> {
    if every <= chrono::Duration::zero() {
        return Err(Error::Query(format!(
            "every must be a positive duration, not {}",
            duration_text(every)
        )));
    }
    let mut total: usize = 0;
    for span in spans {
        let length = (span.until - span.since).max(chrono::Duration::zero());
        // Whole windows, plus one for a remainder; in i128 so no span overflows.
        let (length, step) = (
            i128::from(length.num_milliseconds()),
            i128::from(every.num_milliseconds().max(1)),
        );
        let windows = (length + step - 1) / step;
        total = usize::try_from(windows)
            .ok()
            .and_then(|w| total.checked_add(w))
            .filter(|t| *t <= MAX_PARTITIONS)
            .ok_or_else(|| {
                Error::Query(format!(
                    "every {} cuts the window into more than {MAX_PARTITIONS} partitions",
                    duration_text(every)
                ))
            })?;
    }
    let mut windows: Vec<std::collections::VecDeque<(DateTime<Utc>, DateTime<Utc>)>> = spans
        .iter()
        .map(|span| {
            let mut out = std::collections::VecDeque::new();
            let mut at = span.since;
            while at < span.until {
                let next = (at + every).min(span.until);
                out.push_back((at, next));
                at = next;
            }
            out
        })
        .collect();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        for (span, queue) in spans.iter().zip(windows.iter_mut()) {
            if let Some((since, until)) = queue.pop_front() {
                out.push(Partition {
                    index: out.len(),
                    source: span.source.name.clone(),
                    vendor: span.source.vendor.clone(),
                    account: span.account.clone(),
                    config: span.source.config.clone(),
                    since,
                    until,
                    include: span.source.include,
                    page_size: span.source.page_size,
                });
            }
        }
    }
    Ok(out)
}

/// `90s`, or `250ms` for a duration of less than a whole second.
fn duration_text(d: chrono::Duration) -> String {
    if d.num_milliseconds() % 1000 == 0 {
        format!("{}s", d.num_seconds())
    } else {
        format!("{}ms", d.num_milliseconds())
    }
}

/// One partition, pulled: the two tables, the report, and when the pull ran.
#[derive(Debug, Clone)]
pub struct PartitionPull {
    /// The `conversations` table, in batches of at most the rows asked for.
    pub conversations: Vec<arrow::array::RecordBatch>,
    /// The `messages` table, batch `i` holding the messages of the
    /// conversations of `conversations[i]`.
    pub messages: Vec<arrow::array::RecordBatch>,
    /// Counts, the connector's counters and any shortfall (a pull that
    /// failed is an error, never a report).
    pub report: PullReport,
    /// When the pull started (after the connector was built).
    pub started_at: DateTime<Utc>,
    /// When the pull ended.
    pub ended_at: DateTime<Utc>,
}

/// Pulls one partition into Arrow batches of at most `batch_rows`
/// conversations. The connector is built here, from the partition's config
/// and this process's environment for the fields it leaves out. With
/// `seed_rate` (requests per second: what an earlier partition of the same
/// account learned, in another process) the account starts paced at that
/// rate, unless this process has learned one already
/// ([`Connector::seed_rate`]).
///
/// All or nothing: a failure returns the error and no rows, so the runner
/// retries the partition whole. A pull that ends but fetched less than the
/// vendor reported is returned with its shortfalls in the report.
///
/// # Errors
/// The connector's [`Error::Config`] or [`Error::UnknownVendor`]; any error
/// that ended the pull (auth, rate limit after retries, decode, API,
/// transport), naming vendor, endpoint and page; [`Error::Internal`] if Arrow
/// refused a batch.
pub async fn pull_partition(
    partition: &Partition,
    batch_rows: usize,
    live: &ProgressCounters,
    seed_rate: Option<f64>,
) -> Result<PartitionPull> {
    let connector = connector_core::connect(
        &partition.vendor,
        partition
            .config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    if let Some(rate) = seed_rate {
        connector.seed_rate(rate);
    }
    pull_partition_with(partition, connector.as_ref(), batch_rows, live).await
}

/// [`pull_partition`] through a connector the caller built. Its counters
/// are the report's: give it a connector of its own.
///
/// # Errors
/// As [`pull_partition`], but for building the connector.
pub async fn pull_partition_with(
    partition: &Partition,
    connector: &dyn Connector,
    batch_rows: usize,
    live: &ProgressCounters,
) -> Result<PartitionPull> {
    let started = std::time::Instant::now();
    let started_at = Utc::now();
    let query = partition.query();
    query.validate()?;
    let batch_rows = batch_rows.max(1);
    let mut builder = BatchBuilder::new();
    let (mut conversations, mut messages) = (Vec::new(), Vec::new());
    let (mut n_conversations, mut n_messages) = (0u64, 0u64);
    let mut stream = connector.conversations(&query);
    while let Some(item) = stream.next().await {
        let c = item?;
        let m = c.messages.len() as u64;
        n_conversations += 1;
        n_messages += m;
        live.add(1, m);
        builder.append(&c);
        if builder.conversation_rows() >= batch_rows {
            let (cb, mb) = builder.finish()?;
            conversations.push(cb);
            messages.push(mb);
        }
    }
    drop(stream);
    if builder.conversation_rows() > 0 || conversations.is_empty() {
        let (cb, mb) = builder.finish()?;
        conversations.push(cb);
        messages.push(mb);
    }
    let stats = connector.stats();
    let report = PullReport {
        source: partition.source.clone(),
        vendor: partition.vendor.clone(),
        account: partition.account.clone(),
        window: query.window,
        conversations: n_conversations,
        messages: n_messages,
        shortfalls: shortfalls(&stats, false),
        stats,
        limit_reached: false,
        // A partition is all or nothing: its query fails on a bad record.
        rejects: Vec::new(),
        error: None,
        error_kind: None,
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    Ok(PartitionPull {
        conversations,
        messages,
        report,
        started_at,
        ended_at: Utc::now(),
    })
}
