//! `connect()`, the connector object, the conversation iterator and `pull()`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chathaul::arrow::{BatchBuilder, conversations_schema, messages_schema};
use chathaul::sink::{PartitionBy, Sink};
use chathaul::time::{Tz, parse_zone};
use chathaul::{
    BadRecord, Channel, Connector, Conversation, Error, Format, Include, ProgressCounters,
    PullReport, Query, Rejected, TimeField, Window,
};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::convert::{parse_instant, to_py};
use crate::errors::to_pyerr;
use crate::incremental::{PyIncrementalRun, RunSpec};
use crate::runtime::{POLL, runtime, wait, wait_ticking};

/// How many conversations the producer task may run ahead of the consumer.
const AHEAD: usize = 64;

/// Builds a connector from its vendor name and config (missing fields come
/// from `CHATHAUL_<VENDOR>_<FIELD>` environment variables, then defaults).
#[pyfunction]
#[pyo3(signature = (vendor, config = None))]
pub(crate) fn connect(
    py: Python<'_>,
    vendor: &str,
    config: Option<BTreeMap<String, String>>,
) -> PyResult<PyConnector> {
    let config = config.unwrap_or_default();
    let made = py.detach(|| -> Result<PyConnector, Error> {
        let factory = chathaul::find(vendor)?;
        let resolved = factory.resolve(&config)?;
        let zone = match resolved.get("timezone") {
            Some(name) => parse_zone(factory.name, name)?,
            None => Tz::UTC,
        };
        // Clients may spawn onto the runtime when they are built.
        let _enter = runtime().enter();
        let inner: Arc<dyn Connector> = Arc::from((factory.build)(&resolved)?);
        Ok(PyConnector { inner, zone })
    });
    made.map_err(|e| to_pyerr(py, &e))
}

/// A connector to one vendor account.
#[pyclass(module = "chathaul._native", name = "Connector", frozen)]
pub(crate) struct PyConnector {
    inner: Arc<dyn Connector>,
    zone: Tz,
}

impl PyConnector {
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        by: &str,
        agent: Option<String>,
        customer: Option<String>,
        channel: Option<&str>,
        messages: bool,
        summaries: bool,
        limit: Option<u64>,
        page_size: Option<u32>,
    ) -> Result<Query, Error> {
        let field: TimeField = by.parse()?;
        let since = since
            .map(|t| parse_instant("since", t, self.zone))
            .transpose()?;
        let until = until
            .map(|t| parse_instant("until", t, self.zone))
            .transpose()?;
        if limit == Some(0) {
            return Err(Error::Query("limit must be at least 1".into()));
        }
        let q = Query {
            window: Window {
                field,
                since,
                until,
            },
            agent,
            customer,
            channel: channel.map(Channel::parse),
            include: Include {
                messages,
                summaries,
            },
            page_size,
            limit,
            on_bad_record: BadRecord::Fail,
        };
        q.validate()?;
        Ok(q)
    }

    /// The report of a pull that ran to its end: counts, the connector's
    /// counters, shortfalls, time.
    fn report<'py>(
        &self,
        py: Python<'py>,
        q: &Query,
        (conversations, messages): (u64, u64),
        started: Instant,
    ) -> PyResult<Bound<'py, PyDict>> {
        let info = self.inner.info();
        let stats = self.inner.stats();
        let limit_reached = q.limit.is_some_and(|l| conversations >= l);
        let report = PyDict::new(py);
        report.set_item("vendor", info.vendor)?;
        report.set_item("account", &info.account)?;
        report.set_item("conversations", conversations)?;
        report.set_item("messages", messages)?;
        report.set_item("limit_reached", limit_reached)?;
        report.set_item(
            "shortfalls",
            chathaul::pull::shortfalls(&stats, limit_reached),
        )?;
        report.set_item("stats", to_py(py, &stats)?)?;
        report.set_item("elapsed_secs", started.elapsed().as_secs_f64())?;
        Ok(report)
    }

    /// The report of a pull into files that ran to its end, with the keys
    /// of [`PyConnector::report`].
    fn report_of<'py>(&self, py: Python<'py>, pulled: &PullReport) -> PyResult<Bound<'py, PyDict>> {
        let report = PyDict::new(py);
        report.set_item("vendor", &pulled.vendor)?;
        report.set_item("account", &pulled.account)?;
        report.set_item("conversations", pulled.conversations)?;
        report.set_item("messages", pulled.messages)?;
        report.set_item("limit_reached", pulled.limit_reached)?;
        report.set_item("shortfalls", &pulled.shortfalls)?;
        report.set_item("stats", to_py(py, &pulled.stats)?)?;
        report.set_item("elapsed_secs", pulled.elapsed_secs)?;
        Ok(report)
    }
}

#[pymethods]
impl PyConnector {
    /// The vendor name.
    #[getter]
    fn vendor(&self) -> &'static str {
        self.inner.info().vendor
    }

    /// The account (tenant) this connector reads.
    #[getter]
    fn account(&self) -> String {
        self.inner.info().account.clone()
    }

    /// The base URL requests go to.
    #[getter]
    fn base_url(&self) -> String {
        self.inner.info().base_url.clone()
    }

    /// The IANA zone of the vendor's wall clock (dates and naive times in
    /// queries are read in it).
    #[getter]
    fn timezone(&self) -> String {
        self.zone.name().to_owned()
    }

    /// What the connector can do.
    #[getter]
    fn capabilities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.info().capabilities)
    }

    /// The counters of everything this connector pulled so far.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.stats())
    }

    /// Streams the conversations that match the query, as dicts in the JSON
    /// contract. The work runs on the global runtime; the iterator waits with
    /// the GIL released.
    #[pyo3(signature = (*, since = None, until = None, by = "created", agent = None, customer = None, channel = None, messages = true, summaries = true, limit = None, page_size = None))]
    #[allow(clippy::too_many_arguments)]
    fn conversations(
        &self,
        py: Python<'_>,
        since: Option<&str>,
        until: Option<&str>,
        by: &str,
        agent: Option<String>,
        customer: Option<String>,
        channel: Option<&str>,
        messages: bool,
        summaries: bool,
        limit: Option<u64>,
        page_size: Option<u32>,
    ) -> PyResult<ConversationIterator> {
        let q = self
            .query(
                since, until, by, agent, customer, channel, messages, summaries, limit, page_size,
            )
            .map_err(|e| to_pyerr(py, &e))?;
        Ok(ConversationIterator {
            running: RunningQuery::start(self.inner.clone(), q),
            yielded: 0,
            messages: 0,
        })
    }

    /// Fetches one conversation by id, as a dict in the JSON contract.
    #[pyo3(signature = (id, *, messages = true, summaries = true))]
    fn conversation<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        messages: bool,
        summaries: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let id = id.to_owned();
        let task = runtime().spawn(async move {
            inner
                .conversation(
                    &id,
                    Include {
                        messages,
                        summaries,
                    },
                )
                .await
        });
        let abort = task.abort_handle();
        let got = wait(py, task).inspect_err(|_| abort.abort())?;
        match got {
            Ok(Ok(c)) => to_py(py, &c),
            Ok(Err(e)) => Err(to_pyerr(py, &e)),
            Err(join) => Err(to_pyerr(
                py,
                &Error::internal("the fetch task failed", join),
            )),
        }
    }

    /// Pulls the conversations that match the query into the two Arrow
    /// tables of the facade's schema, built in Rust: returns
    /// `(conversations, messages, report)` with two `pyarrow.Table`s.
    /// `progress(conversations, messages)` is called about every 50 ms.
    /// `on_bad_record` (`"fail"` or `"skip"`) says what a record that cannot
    /// be decoded does: end the pull with its error, or be set aside in the
    /// report's `rejects`.
    #[pyo3(signature = (*, since = None, until = None, by = "created", agent = None, customer = None, channel = None, messages = true, summaries = true, limit = None, page_size = None, on_bad_record = "fail", progress = None, batch_rows = 4096))]
    #[allow(clippy::too_many_arguments)]
    fn pull<'py>(
        &self,
        py: Python<'py>,
        since: Option<&str>,
        until: Option<&str>,
        by: &str,
        agent: Option<String>,
        customer: Option<String>,
        channel: Option<&str>,
        messages: bool,
        summaries: bool,
        limit: Option<u64>,
        page_size: Option<u32>,
        on_bad_record: &str,
        progress: Option<Bound<'py, PyAny>>,
        batch_rows: usize,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let q = self
            .query(
                since, until, by, agent, customer, channel, messages, summaries, limit, page_size,
            )
            .and_then(|mut q| {
                q.on_bad_record = on_bad_record.parse::<BadRecord>()?;
                Ok(q)
            })
            .map_err(|e| to_pyerr(py, &e))?;
        let started = Instant::now();
        let batch_rows = batch_rows.max(1);
        let mut builder = BatchBuilder::new();
        let mut conversation_batches = Vec::new();
        let mut message_batches = Vec::new();
        let mut running = RunningQuery::start(self.inner.clone(), q.clone());
        let counts = running.run(py, progress.as_ref(), |c| {
            builder.append(c);
            if builder.conversation_rows() >= batch_rows {
                let (cb, mb) = builder.finish()?;
                conversation_batches.push(cb);
                message_batches.push(mb);
            }
            Ok(())
        })?;
        if builder.conversation_rows() > 0 || conversation_batches.is_empty() {
            let (cb, mb) = builder.finish().map_err(|e| to_pyerr(py, &e))?;
            conversation_batches.push(cb);
            message_batches.push(mb);
        }
        let report = self.report(py, &q, counts, started)?;
        report.set_item("rejects", to_py(py, &running.rejects)?)?;
        let conversations =
            PyTable::try_new(conversation_batches, conversations_schema())?.into_pyarrow(py)?;
        let messages = PyTable::try_new(message_batches, messages_schema())?.into_pyarrow(py)?;
        Ok((conversations, messages, report.into_any()))
    }

    /// One incremental run of this account from `state` (the JSON text of
    /// the last run's state; `None` for the first run): the same change
    /// tracking as `sync` (cursor, revisits, full re-reads, bad records set
    /// aside), its state kept by the caller.
    #[pyo3(signature = (state = None, *, since = None, lookback = "1d", revisit_for = "14d", full_refresh_every = None, rating_window = None, messages = true, summaries = true, page_size = None, on_bad_record = "skip", now = None, batch_size = 100))]
    #[allow(clippy::too_many_arguments)]
    fn incremental(
        &self,
        py: Python<'_>,
        state: Option<&str>,
        since: Option<&str>,
        lookback: &str,
        revisit_for: &str,
        full_refresh_every: Option<&str>,
        rating_window: Option<&str>,
        messages: bool,
        summaries: bool,
        page_size: Option<u32>,
        on_bad_record: &str,
        now: Option<&str>,
        batch_size: usize,
    ) -> PyResult<PyIncrementalRun> {
        let info = self.inner.info();
        let spec = RunSpec::parse(
            self.zone,
            &format!("{} account `{}`", info.vendor, info.account),
            state,
            since,
            lookback,
            revisit_for,
            full_refresh_every,
            rating_window,
            Include {
                messages,
                summaries,
            },
            page_size,
            on_bad_record,
            now,
            batch_size,
        )
        .map_err(|e| to_pyerr(py, &e))?;
        Ok(PyIncrementalRun::start(self.inner.clone(), spec))
    }

    /// Pulls the conversations that match the query into files, as the
    /// command line's `pull -o` does: `path`'s extension picks the format
    /// (`.jsonl`, `.csv`, `.parquet`, `.sqlite`); with `partition_by`
    /// (`"day"` or `"month"`), `path` is a folder of hive-partitioned
    /// Parquet. `on_bad_record` (`"fail"` or `"skip"`) says what a record
    /// that cannot be decoded does: end the pull, or be set aside, as the
    /// command line's. Returns the report (as `pull`'s) with `files`, the
    /// files written, `rejects`, the records set aside, and `rejects_at`,
    /// where they were kept (`NAME.rejects.jsonl`, or a database's
    /// `rejects` table). A pull that fails leaves a partitioned folder as
    /// it was.
    #[pyo3(signature = (path, *, partition_by = None, since = None, until = None, by = "created", agent = None, customer = None, channel = None, messages = true, summaries = true, limit = None, page_size = None, on_bad_record = "fail", progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn pull_to<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        partition_by: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        by: &str,
        agent: Option<String>,
        customer: Option<String>,
        channel: Option<&str>,
        messages: bool,
        summaries: bool,
        limit: Option<u64>,
        page_size: Option<u32>,
        on_bad_record: &str,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opened = || -> Result<(Query, Format, Box<dyn Sink>), Error> {
            let mut q = self.query(
                since, until, by, agent, customer, channel, messages, summaries, limit, page_size,
            )?;
            q.on_bad_record = on_bad_record.parse::<BadRecord>()?;
            match partition_by {
                Some(unit) => {
                    let unit: PartitionBy = unit.parse()?;
                    let sink = chathaul::sink::open_partitioned(&path, unit, &q)?;
                    Ok((q, Format::Parquet, sink))
                }
                None => {
                    let format = Format::of(Some(&path))?;
                    Ok((q, format, chathaul::sink::open(Some(&path))?))
                }
            }
        };
        let (q, format, mut sink) = opened().map_err(|e| to_pyerr(py, &e))?;
        let info = self.inner.info();
        // The pull is the command line's (`chathaul::pull`), records set
        // aside included; only the error is raised rather than reported.
        let mut pulled = PullReport::new(info.vendor, info, q.window);
        let live = ProgressCounters::default();
        let report_progress = || match &progress {
            Some(cb) => cb.call1(live.get()).map(drop),
            None => Ok(()),
        };
        let result = wait_ticking(
            py,
            chathaul::pull::pull_into(self.inner.as_ref(), &q, sink.as_mut(), &live, &mut pulled),
            &report_progress,
        )?;
        // A database keeps what was upserted; files stay unfinished (a
        // partitioned folder as it was).
        let files = if result.is_ok() || format == Format::Sqlite {
            py.detach(|| sink.finish())
        } else {
            Ok(vec![])
        };
        // Kept even when the pull failed, as the command line keeps them.
        let rejects_at = py
            .detach(|| chathaul::pull::keep_rejects(&path, format, &pulled))
            .map_err(|e| to_pyerr(py, &e))?;
        result.map_err(|e| to_pyerr(py, &e))?;
        let files = files.map_err(|e| to_pyerr(py, &e))?;
        report_progress()?;
        let report = self.report_of(py, &pulled)?;
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        report.set_item("files", files)?;
        report.set_item("rejects", to_py(py, &pulled.rejects)?)?;
        report.set_item("rejects_at", rejects_at.map(|at| at.to_string()))?;
        Ok(report)
    }

    fn __repr__(&self) -> String {
        let info = self.inner.info();
        format!(
            "<chathaul.Connector {} account={:?} base_url={:?}>",
            info.vendor, info.account, info.base_url
        )
    }
}

/// A query running in the background: its conversations are produced by a
/// task on the global runtime, at most [`AHEAD`] ahead of the consumer;
/// dropping it cancels the task.
pub(crate) struct RunningQuery {
    rx: Option<mpsc::Receiver<Result<Conversation, Error>>>,
    task: Option<AbortHandle>,
    /// The account, and whether records that cannot be decoded are set
    /// aside (`on_bad_record = skip`) rather than ending the query.
    account: String,
    skips_bad_records: bool,
    /// The records set aside so far.
    rejects: Vec<Rejected>,
}

/// What one wait on a [`RunningQuery`] gave.
enum Step<T> {
    /// An item.
    Item(T),
    /// The stream failed.
    Failed(Error),
    /// The stream ended.
    Done,
    /// Nothing yet: time to run the signal handlers.
    Tick,
}

impl RunningQuery {
    fn start(conn: Arc<dyn Connector>, q: Query) -> Self {
        let (tx, rx) = mpsc::channel(AHEAD);
        let account = conn.info().account.clone();
        let skips_bad_records = q.skips_bad_records();
        let task = runtime().spawn(async move {
            let mut stream = conn.conversations(&q);
            while let Some(item) = stream.next().await {
                // A record set aside does not end the stream; any other error does.
                let stop = match &item {
                    Err(Error::Rejected { .. }) => !skips_bad_records,
                    other => other.is_err(),
                };
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        Self {
            rx: Some(rx),
            task: Some(task.abort_handle()),
            account,
            skips_bad_records,
            rejects: Vec::new(),
        }
    }

    fn close(&mut self) {
        self.rx = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Waits up to [`POLL`] for the next conversation (call with the GIL released).
    fn next_blocking(&mut self) -> Step<Conversation> {
        let Some(rx) = self.rx.as_mut() else {
            return Step::Done;
        };
        let got = runtime().block_on(async { tokio::time::timeout(POLL, rx.recv()).await });
        match got {
            Ok(Some(Ok(c))) => Step::Item(c),
            Ok(Some(Err(e))) => Step::Failed(e),
            Ok(None) => Step::Done,
            Err(_elapsed) => Step::Tick,
        }
    }

    /// Hands conversations to `each` for up to [`POLL`] (call with the GIL
    /// released): `Tick` when the time is up, `Done` or `Failed` (the
    /// stream's error or `each`'s) at the end.
    fn drain_blocking(
        &mut self,
        mut each: impl FnMut(&Conversation) -> Result<(), Error>,
    ) -> Step<()> {
        let Some(rx) = self.rx.as_mut() else {
            return Step::Done;
        };
        let (account, rejects) = (&self.account, &mut self.rejects);
        runtime().block_on(async {
            let deadline = tokio::time::Instant::now() + POLL;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Ok(c))) => {
                        if let Err(e) = each(&c) {
                            return Step::Failed(e);
                        }
                    }
                    Ok(Some(Err(e @ Error::Rejected { .. }))) if self.skips_bad_records => {
                        rejects.push(Rejected::from_error(&e, account, None));
                    }
                    Ok(Some(Err(e))) => return Step::Failed(e),
                    Ok(None) => return Step::Done,
                    Err(_elapsed) => return Step::Tick,
                }
            }
        })
    }
}

impl RunningQuery {
    /// Runs the query to its end, handing each conversation to `each` with
    /// the GIL released; about every [`POLL`] it runs Python's signal
    /// handlers (Ctrl-C cancels the query) and calls
    /// `progress(conversations, messages)`. Returns the counts.
    fn run(
        &mut self,
        py: Python<'_>,
        progress: Option<&Bound<'_, PyAny>>,
        mut each: impl FnMut(&Conversation) -> Result<(), Error> + Send,
    ) -> PyResult<(u64, u64)> {
        let (mut conversations, mut messages) = (0u64, 0u64);
        loop {
            let step = py.detach(|| {
                self.drain_blocking(|c| {
                    each(c)?;
                    conversations += 1;
                    messages += c.messages.len() as u64;
                    Ok(())
                })
            });
            match step {
                Step::Done => break,
                Step::Failed(e) => {
                    self.close();
                    return Err(to_pyerr(py, &e));
                }
                Step::Tick | Step::Item(()) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.close();
                        return Err(interrupt);
                    }
                    if let Some(cb) = progress {
                        cb.call1((conversations, messages))?;
                    }
                }
            }
        }
        if let Some(cb) = progress {
            cb.call1((conversations, messages))?;
        }
        Ok((conversations, messages))
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.close();
    }
}

/// An iterator over the conversations of one query (dicts in the JSON
/// contract); closing or dropping it cancels the work behind it.
#[pyclass(module = "chathaul._native", name = "ConversationIterator")]
pub(crate) struct ConversationIterator {
    running: RunningQuery,
    yielded: u64,
    messages: u64,
}

#[pymethods]
impl ConversationIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            match py.detach(|| self.running.next_blocking()) {
                Step::Item(c) => {
                    self.yielded += 1;
                    self.messages += c.messages.len() as u64;
                    return Ok(Some(to_py(py, &c)?));
                }
                Step::Failed(e) => {
                    self.running.close();
                    return Err(to_pyerr(py, &e));
                }
                Step::Done => {
                    self.running.close();
                    return Ok(None);
                }
                Step::Tick => {
                    if let Err(interrupt) = py.check_signals() {
                        self.running.close();
                        return Err(interrupt);
                    }
                }
            }
        }
    }

    /// Conversations yielded so far.
    #[getter]
    fn count(&self) -> u64 {
        self.yielded
    }

    /// Messages in the conversations yielded so far.
    #[getter]
    fn message_count(&self) -> u64 {
        self.messages
    }

    /// Stops the stream and cancels the work behind it.
    fn close(&mut self) {
        self.running.close();
    }
}
