//! `sync()`: the facade's incremental sync into a SQLite or Postgres database.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chathaul::sync::{Prepared, Source, SyncOptions, prepare};
use chathaul::{Database, Error, Include, ProgressCounters};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::to_py;
use crate::errors::to_pyerr;
use crate::runtime::POLL;

/// One source as Python gives it.
#[derive(FromPyObject)]
pub(crate) struct SourceSpec {
    #[pyo3(item)]
    vendor: String,
    #[pyo3(item)]
    config: BTreeMap<String, String>,
    #[pyo3(item, default)]
    name: Option<String>,
    #[pyo3(item, default)]
    since: Option<String>,
    #[pyo3(item, default)]
    lookback: Option<String>,
    #[pyo3(item, default)]
    messages: Option<bool>,
    #[pyo3(item, default)]
    summaries: Option<bool>,
    #[pyo3(item, default)]
    page_size: Option<u32>,
    #[pyo3(item, default)]
    revisit_for: Option<String>,
    #[pyo3(item, default)]
    full_refresh_every: Option<String>,
    #[pyo3(item, default)]
    rating_window: Option<String>,
    #[pyo3(item, default)]
    on_bad_record: Option<String>,
}

impl SourceSpec {
    pub(crate) fn into_source(self) -> Result<Source, Error> {
        let config: Vec<(String, String)> = self.config.into_iter().collect();
        let mut source = Source::new(self.vendor.clone(), config);
        if let Some(name) = self.name {
            source.name = name;
        }
        if let Some(since) = self.since {
            let zone = chathaul::config::zone_of(&self.vendor, &source.config)?;
            let name = format!("source {}: since", source.name);
            source.since = Some(crate::convert::parse_instant(&name, &since, zone)?);
        }
        if let Some(lookback) = self.lookback {
            source.lookback = chathaul::config::parse_duration(&lookback)
                .map_err(|m| Error::Query(format!("source {}: lookback {m}", source.name)))?;
        }
        source.include = Include {
            messages: self.messages.unwrap_or(true),
            summaries: self.summaries.unwrap_or(true),
        };
        source.page_size = self.page_size;
        let duration = |key: &str, text: &str| {
            chathaul::config::parse_duration(text)
                .map_err(|m| Error::Query(format!("source {}: {key} {m}", source.name)))
        };
        if let Some(d) = &self.revisit_for {
            source.revisit_for = duration("revisit_for", d)?;
        }
        source.full_refresh_every = self
            .full_refresh_every
            .as_deref()
            .map(|d| duration("full_refresh_every", d))
            .transpose()?;
        source.rating_window = self
            .rating_window
            .as_deref()
            .map(|d| duration("rating_window", d))
            .transpose()?;
        if let Some(what) = &self.on_bad_record {
            source.on_bad_record = what.parse().map_err(|_| {
                Error::Query(format!(
                    "source {}: on_bad_record `{what}`: expected `skip` or `fail`",
                    source.name
                ))
            })?;
        }
        Ok(source)
    }
}

/// The sources and database a sync config file names (the database as
/// shown: a path, or a URL without its password).
#[pyfunction]
pub(crate) fn load_config<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Bound<'py, PyList>, Option<String>)> {
    let cfg = chathaul::config::load(&path).map_err(|e| to_pyerr(py, &e))?;
    let out = PyList::empty(py);
    for s in &cfg.sources {
        let d = PyDict::new(py);
        d.set_item("name", &s.name)?;
        d.set_item("vendor", &s.vendor)?;
        let config = PyDict::new(py);
        for (k, v) in &s.config {
            config.set_item(k, v)?;
        }
        d.set_item("config", config)?;
        d.set_item("since", s.since.map(|t| chathaul::utc_instant::format(&t)))?;
        d.set_item("lookback", format!("{}s", s.lookback.num_seconds()))?;
        d.set_item("messages", s.include.messages)?;
        d.set_item("summaries", s.include.summaries)?;
        d.set_item("page_size", s.page_size)?;
        d.set_item("revisit_for", format!("{}s", s.revisit_for.num_seconds()))?;
        d.set_item(
            "full_refresh_every",
            s.full_refresh_every
                .map(|d| format!("{}s", d.num_seconds())),
        )?;
        d.set_item(
            "rating_window",
            s.rating_window.map(|d| format!("{}s", d.num_seconds())),
        )?;
        d.set_item("on_bad_record", s.on_bad_record.as_str())?;
        out.append(d)?;
    }
    Ok((out, cfg.db.map(|d| d.to_string())))
}

/// The database a sync goes into: `db` (a path or a `postgresql://` URL)
/// when given, else the `db` of the config file at `config`, else
/// `chathaul.sqlite`.
fn resolve_database(db: Option<&str>, config: Option<&std::path::Path>) -> Result<Database, Error> {
    if let Some(db) = db {
        return Database::parse(db);
    }
    if let Some(config) = config
        && let Some(db) = chathaul::config::database(config)?
    {
        return Ok(db);
    }
    Ok(Database::Sqlite(PathBuf::from("chathaul.sqlite")))
}

/// The database a sync with these arguments goes into, as shown (a path,
/// or a URL without its password).
#[pyfunction]
#[pyo3(signature = (db, config = None))]
pub(crate) fn database_location(
    py: Python<'_>,
    db: Option<String>,
    config: Option<PathBuf>,
) -> PyResult<String> {
    resolve_database(db.as_deref(), config.as_deref())
        .map(|d| d.to_string())
        .map_err(|e| to_pyerr(py, &e))
}

/// Syncs the sources into `db` (a SQLite path or a `postgresql://` URL;
/// when `None`, the `db` of the config file at `config`, else
/// `chathaul.sqlite`), concurrently: one report dict per source, in order.
/// `progress(conversations, messages)` is called about every 50 ms with the
/// totals over all sources.
#[pyfunction]
#[pyo3(signature = (sources, db, *, config = None, progress = None, batch_size = 100, now = None, full_refresh = false))]
// Python's keyword arguments, one parameter each.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sync<'py>(
    py: Python<'py>,
    sources: Vec<SourceSpec>,
    db: Option<String>,
    config: Option<PathBuf>,
    progress: Option<Bound<'py, PyAny>>,
    batch_size: usize,
    now: Option<&str>,
    full_refresh: bool,
) -> PyResult<Bound<'py, PyList>> {
    let db = resolve_database(db.as_deref(), config.as_deref()).map_err(|e| to_pyerr(py, &e))?;
    let now = now
        // Sources may be in different zones: a local time is read in UTC.
        .map(|t| crate::convert::parse_instant("now", t, chathaul::time::Tz::UTC))
        .transpose()
        .map_err(|e| to_pyerr(py, &e))?;
    let sources = sources
        .into_iter()
        .map(SourceSpec::into_source)
        .collect::<Result<Vec<_>, _>>();
    let mut sources = sources.map_err(|e| to_pyerr(py, &e))?;
    if full_refresh {
        for s in &mut sources {
            s.full_refresh_every = Some(chathaul::chrono::Duration::zero());
        }
    }
    if sources.is_empty() {
        return Err(to_pyerr(py, &Error::Query("no sources to sync".into())));
    }
    // The sync runs on a runtime of its own, shut down on Ctrl-C:
    // `chathaul::sync` spawns a task per source, which dropping its future
    // alone would not cancel. (Everything else uses the global runtime.)
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("chathaul-sync")
        .build()
        .map_err(|e| {
            let context = "cannot start the sync runtime".to_owned();
            to_pyerr(py, &Error::Io { context, source: e })
        })?;
    let prepared: Vec<Prepared> = py
        .detach(|| {
            let _enter = rt.enter();
            prepare(sources)
        })
        .map_err(|(name, e)| {
            let err = to_pyerr(py, &e);
            // Name the source, keeping the exception's class and details.
            let _ = err.value(py).setattr("source", name);
            err
        })?;
    let live: Vec<Arc<ProgressCounters>> = prepared.iter().map(|p| p.live.clone()).collect();
    let options = SyncOptions {
        batch_size: batch_size.max(1),
        now,
        ..SyncOptions::default()
    };
    let wal = db
        .path()
        .map(|p| PathBuf::from(format!("{}-wal", p.display())));
    let mut task = rt.spawn(async move { chathaul::sync_to(&db, prepared, options).await });
    let totals = || {
        live.iter()
            .map(|l| l.get())
            .fold((0, 0), |(c, m), (c2, m2)| (c + c2, m + m2))
    };
    let done = loop {
        let step = py.detach(|| rt.block_on(async { tokio::time::timeout(POLL, &mut task).await }));
        match step {
            Ok(joined) => break joined,
            Err(_elapsed) => {
                if let Err(interrupt) = py.check_signals() {
                    // Cancels every source task. Each batch already written is
                    // a whole transaction with its cursor; the database
                    // writer finishes the one in hand.
                    py.detach(move || {
                        rt.shutdown_timeout(Duration::from_secs(5));
                        if let Some(wal) = &wal {
                            wait_for_close(wal);
                        }
                    });
                    return Err(interrupt);
                }
                if let Some(cb) = &progress {
                    cb.call1(totals())?;
                }
            }
        }
    };
    if let Some(cb) = &progress {
        cb.call1(totals())?;
    }
    let reports = match done {
        Ok(Ok(reports)) => reports,
        Ok(Err(e)) => return Err(to_pyerr(py, &e)),
        Err(join) => {
            return Err(to_pyerr(py, &Error::internal("the sync task failed", join)));
        }
    };
    let out = PyList::empty(py);
    for r in &reports {
        let d = to_py(py, r)?;
        d.set_item("complete", r.pull.complete())?;
        out.append(d)?;
    }
    Ok(out)
}

/// Waits (up to two seconds) until the database writer of a cancelled sync
/// has closed the database: in WAL mode the last connection to close removes
/// the `-wal` file. Until then, opening the file with another SQLite library
/// in this process (Python's `sqlite3`) could break SQLite's locking.
/// A stopgap until `chathaul::sync` can be cancelled and joined.
fn wait_for_close(wal: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while wal.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}
