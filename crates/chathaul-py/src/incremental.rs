//! `Connector.incremental(state, ...)`: one incremental run of a source with
//! its state in JSON, for callers that keep state themselves (the dlt
//! source): batches of conversations (dicts, or the two Arrow tables) and
//! records set aside, then the state for the next run.

use std::sync::Arc;

use chathaul::arrow::{conversations_schema, messages_schema, to_record_batches};
use chathaul::incremental::{
    DEFAULT_CONCURRENCY, IncrementalOptions, IncrementalRun, IncrementalState, RunBatch, RunOutcome,
};
use chathaul::{BadRecord, Connector, Error, Include};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::PyTable;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::convert::to_py;
use crate::errors::to_pyerr;
use crate::runtime::{POLL, runtime};

/// What the task running an incremental run sends.
enum Msg {
    /// A batch, and the state as of it.
    Batch(RunBatch, Box<IncrementalState>),
    /// The end.
    Done(Box<RunOutcome>),
}

/// A batch as `(conversations, messages, rejects)`: two `pyarrow.Table`s
/// and a list of dicts.
type BatchTables<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// The options of an incremental run as Python gives them.
pub(crate) struct RunSpec {
    pub options: IncrementalOptions,
    pub state: IncrementalState,
    pub now: Option<chathaul::chrono::DateTime<chathaul::chrono::Utc>>,
    pub batch_size: usize,
}

impl RunSpec {
    /// Reads the options (durations like `1d`, `12h`; instants in RFC 3339
    /// or as local dates in the connector's zone); `state_of` names whose
    /// state `state` is, for its errors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn parse(
        zone: chathaul::time::Tz,
        state_of: &str,
        state: Option<&str>,
        since: Option<&str>,
        lookback: &str,
        revisit_for: &str,
        full_refresh_every: Option<&str>,
        rating_window: Option<&str>,
        include: Include,
        page_size: Option<u32>,
        on_bad_record: &str,
        now: Option<&str>,
        batch_size: usize,
    ) -> Result<RunSpec, Error> {
        let duration = |name: &str, text: &str| {
            chathaul::config::parse_duration(text).map_err(|m| Error::Query(format!("{name}: {m}")))
        };
        let state = match state {
            Some(text) => IncrementalState::from_json(text, state_of)?,
            None => IncrementalState::default(),
        };
        let since = since
            .map(|t| crate::convert::parse_instant("since", t, zone))
            .transpose()?;
        let now = now
            .map(|t| crate::convert::parse_instant("now", t, zone))
            .transpose()?;
        let options = IncrementalOptions {
            since,
            lookback: duration("lookback", lookback)?,
            revisit_for: duration("revisit_for", revisit_for)?,
            full_refresh_every: full_refresh_every
                .map(|t| duration("full_refresh_every", t))
                .transpose()?,
            rating_window: rating_window
                .map(|t| duration("rating_window", t))
                .transpose()?,
            include,
            page_size,
            on_bad_record: on_bad_record.parse::<BadRecord>()?,
            concurrency: DEFAULT_CONCURRENCY,
        };
        Ok(RunSpec {
            options,
            state,
            now,
            batch_size: batch_size.max(1),
        })
    }
}

/// One incremental run: iterate for its batches (dicts with
/// `conversations` and `rejects`); `state` is the state as of the batches
/// yielded so far, and once the run is over the state for the next run.
#[pyclass(module = "chathaul._native", name = "IncrementalRun")]
pub(crate) struct PyIncrementalRun {
    rx: Option<mpsc::Receiver<Msg>>,
    task: Option<AbortHandle>,
    state: IncrementalState,
    outcome: Option<Box<RunOutcome>>,
}

impl PyIncrementalRun {
    pub(crate) fn start(conn: Arc<dyn Connector>, spec: RunSpec) -> Self {
        let (tx, rx) = mpsc::channel(2);
        let state = spec.state.clone();
        let task = runtime().spawn(async move {
            let mut run = IncrementalRun::start(conn.as_ref(), &spec.options, spec.state, spec.now);
            while let Some(batch) = run.next_batch(spec.batch_size).await {
                let state = Box::new(run.state().clone());
                if tx.send(Msg::Batch(batch, state)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Done(Box::new(run.finish()))).await;
        });
        Self {
            rx: Some(rx),
            task: Some(task.abort_handle()),
            state,
            outcome: None,
        }
    }

    /// Waits for the next batch (the GIL released, Ctrl-C checked): `None`
    /// once the run is over, its error raised if it failed.
    fn receive(&mut self, py: Python<'_>) -> PyResult<Option<RunBatch>> {
        loop {
            let Some(rx) = self.rx.as_mut() else {
                return Ok(None);
            };
            let got = py.detach(|| {
                runtime().block_on(async { tokio::time::timeout(POLL, rx.recv()).await })
            });
            match got {
                Ok(Some(Msg::Batch(batch, state))) => {
                    self.state = *state;
                    return Ok(Some(batch));
                }
                Ok(Some(Msg::Done(outcome))) => {
                    self.stop();
                    self.state = outcome.state.clone();
                    let error = outcome.error.as_ref().map(|e| to_pyerr(py, e));
                    self.outcome = Some(outcome);
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(None),
                    };
                }
                Ok(None) => {
                    self.stop();
                    let e = Error::Internal {
                        context: "the incremental run stopped".into(),
                        source: None,
                    };
                    return Err(to_pyerr(py, &e));
                }
                Err(_elapsed) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.stop();
                        return Err(interrupt);
                    }
                }
            }
        }
    }

    fn stop(&mut self) {
        self.rx = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for PyIncrementalRun {
    fn drop(&mut self) {
        self.stop();
    }
}

#[pymethods]
impl PyIncrementalRun {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(batch) = self.receive(py)? else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        let conversations = PyList::empty(py);
        for c in &batch.conversations {
            conversations.append(to_py(py, c)?)?;
        }
        d.set_item("conversations", conversations)?;
        d.set_item("rejects", to_py(py, &batch.rejects)?)?;
        Ok(Some(d.into_any()))
    }

    /// The next batch as the two Arrow tables of the facade's schema (built
    /// in Rust, as `pull()` builds them) and the records set aside:
    /// `(conversations, messages, rejects)`, or `None` once the run is over.
    /// Batches taken this way and through iteration are the same batches:
    /// each is handed out once.
    fn next_tables<'py>(&mut self, py: Python<'py>) -> PyResult<Option<BatchTables<'py>>> {
        let Some(batch) = self.receive(py)? else {
            return Ok(None);
        };
        let (conversations, messages) = py
            .detach(|| to_record_batches(&batch.conversations))
            .map_err(|e| to_pyerr(py, &e))?;
        let conversations =
            PyTable::try_new(vec![conversations], conversations_schema())?.into_pyarrow(py)?;
        let messages = PyTable::try_new(vec![messages], messages_schema())?.into_pyarrow(py)?;
        Ok(Some((conversations, messages, to_py(py, &batch.rejects)?)))
    }

    /// The state as of the batches yielded so far (a dict, JSON-ready);
    /// once the run is over, the state to hand to the next run (its cursor
    /// moved if the run was complete).
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.state)
    }

    /// What the run did (a dict), once it is over; else `None`.
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(o) = &self.outcome else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("changes", to_py(py, &o.report)?)?;
        d.set_item("plan", to_py(py, &o.plan)?)?;
        d.set_item("stats", to_py(py, &o.stats)?)?;
        d.set_item("shortfalls", to_py(py, &o.shortfalls)?)?;
        d.set_item("complete", o.complete)?;
        d.set_item("error", o.error.as_ref().map(|e| e.to_string()))?;
        Ok(Some(d.into_any()))
    }

    /// Whether the run is over and fetched everything it set out to.
    #[getter]
    fn complete(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.complete)
    }

    /// Stops the run and cancels the work behind it (the state stays as of
    /// the batches yielded).
    fn close(&mut self) {
        self.stop();
    }
}
