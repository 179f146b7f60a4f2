//! `plan()` and `pull_partition()`: the engine's partitions, for runners that
//! spread accounts and time windows over threads, processes or a cluster.

use std::collections::BTreeMap;

use chathaul::arrow::{conversations_schema, messages_schema};
use chathaul::chrono::{DateTime, Utc};
use chathaul::partition::{Partition, Span, cut, pull_partition as pull_one};
use chathaul::sync::prepare;
use chathaul::utc_instant::format;
use chathaul::{Error, Include, ProgressCounters};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::PyTable;

use crate::convert::to_py;
use crate::errors::to_pyerr;
use crate::runtime::{runtime, wait};
use crate::sync::SourceSpec;

/// A partition as Python hands it back (the fields `plan()` gave).
#[derive(FromPyObject)]
pub(crate) struct PartitionSpec {
    #[pyo3(item)]
    index: usize,
    #[pyo3(item)]
    source: String,
    #[pyo3(item)]
    vendor: String,
    #[pyo3(item)]
    account: String,
    #[pyo3(item)]
    config: BTreeMap<String, String>,
    #[pyo3(item)]
    since: String,
    #[pyo3(item)]
    until: String,
    #[pyo3(item)]
    messages: bool,
    #[pyo3(item)]
    summaries: bool,
    #[pyo3(item, default)]
    page_size: Option<u32>,
}

fn instant(name: &str, text: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::Query(format!(
                "partition {name} `{text}` is not an RFC 3339 instant"
            ))
        })
}

impl PartitionSpec {
    fn into_partition(self) -> Result<Partition, Error> {
        Ok(Partition {
            index: self.index,
            since: instant("since", &self.since)?,
            until: instant("until", &self.until)?,
            source: self.source,
            vendor: self.vendor,
            account: self.account,
            config: self.config.into_iter().collect(),
            include: Include {
                messages: self.messages,
                summaries: self.summaries,
            },
            page_size: self.page_size,
        })
    }
}

/// Cuts every source's `[since, until)` into windows of `every` (`7d`,
/// `12h`): one dict per partition, window by window, each window's sources
/// in the order given. Every source's connector is built first, so a
/// configuration mistake raises here, naming the source.
#[pyfunction]
pub(crate) fn plan<'py>(
    py: Python<'py>,
    sources: Vec<SourceSpec>,
    since: &str,
    until: &str,
    every: &str,
) -> PyResult<Bound<'py, PyList>> {
    let every = chathaul::config::parse_duration(every)
        .map_err(|m| to_pyerr(py, &Error::Query(format!("every {m}"))))?;
    let sources = sources
        .into_iter()
        .map(SourceSpec::into_source)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| to_pyerr(py, &e))?;
    let prepared = py
        .detach(|| {
            // Clients may spawn onto the runtime when they are built.
            let _enter = runtime().enter();
            prepare(sources)
        })
        .map_err(|(name, e)| {
            let err = to_pyerr(py, &e);
            // Name the source, keeping the exception's class and details.
            let _ = err.value(py).setattr("source", name);
            err
        })?;
    let spans = prepared
        .iter()
        .map(|p| Span::of(p, since, until))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| to_pyerr(py, &e))?;
    let parts = cut(&spans, every).map_err(|e| to_pyerr(py, &e))?;
    let out = PyList::empty(py);
    for p in parts {
        let d = PyDict::new(py);
        d.set_item("index", p.index)?;
        d.set_item("source", &p.source)?;
        d.set_item("vendor", &p.vendor)?;
        d.set_item("account", &p.account)?;
        let config = PyDict::new(py);
        for (k, v) in &p.config {
            config.set_item(k, v)?;
        }
        d.set_item("config", config)?;
        d.set_item("since", format(&p.since))?;
        d.set_item("until", format(&p.until))?;
        d.set_item("messages", p.include.messages)?;
        d.set_item("summaries", p.include.summaries)?;
        d.set_item("page_size", p.page_size)?;
        out.append(d)?;
    }
    Ok(out)
}

/// Pulls one partition into the two tables, built in Rust: returns
/// `(conversations, messages, report)` with two `pyarrow.Table`s; the report
/// has the counts, the connector's counters, any shortfall, and
/// `started_at`/`ended_at` (RFC 3339). All or nothing: a failure raises and
/// returns no rows. Waits with the GIL released; Ctrl-C cancels it.
/// `seed_rate`: a rate to start paced at (requests per second), as an earlier
/// partition of the account learned it in another process.
#[pyfunction]
#[pyo3(signature = (partition, *, batch_rows = 4096, seed_rate = None))]
pub(crate) fn pull_partition<'py>(
    py: Python<'py>,
    partition: PartitionSpec,
    batch_rows: usize,
    seed_rate: Option<f64>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let partition = partition.into_partition().map_err(|e| to_pyerr(py, &e))?;
    let live = ProgressCounters::default();
    let pulled = wait(py, async {
        // The connector is built inside the runtime: clients may spawn onto it.
        pull_one(&partition, batch_rows, &live, seed_rate).await
    })?
    .map_err(|e| to_pyerr(py, &e))?;
    let report = to_py(py, &pulled.report)?;
    report.set_item("complete", pulled.report.complete())?;
    report.set_item("started_at", format(&pulled.started_at))?;
    report.set_item("ended_at", format(&pulled.ended_at))?;
    let conversations =
        PyTable::try_new(pulled.conversations, conversations_schema())?.into_pyarrow(py)?;
    let messages = PyTable::try_new(pulled.messages, messages_schema())?.into_pyarrow(py)?;
    Ok((conversations, messages, report))
}
