//! The in-process simulators of every vendor, served from the global runtime.

use std::sync::Mutex;
use std::time::Duration;

use chathaul::chrono::{self, DateTime, NaiveDate, Utc};
use chathaul::{Conversation, Error};
use chathaul_sim::{Fault, SimError, SimOptions, Simulator, VENDORS};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::to_py;
use crate::errors::to_pyerr;
use crate::runtime::{runtime, wait};

/// The simulators of every vendor on one port of 127.0.0.1, with a seeded
/// dataset and its ground truth. Stops on `close()`.
#[pyclass(module = "chathaul._native", name = "Simulator", frozen)]
pub(crate) struct PySimulator {
    inner: Mutex<Option<Simulator>>,
    opts: SimOptions,
    /// The clock when it was closed: the truth after `close()` is as of then.
    closed_at: Mutex<Option<DateTime<Utc>>>,
}

impl PySimulator {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&Simulator) -> T) -> PyResult<T> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(sim) => Ok(f(sim)),
            None => Err(to_pyerr(
                py,
                &Error::Closed {
                    what: "simulator".into(),
                },
            )),
        }
    }

    fn check_vendor(py: Python<'_>, vendor: &str) -> PyResult<()> {
        if VENDORS.contains(&vendor) {
            Ok(())
        } else {
            let known = VENDORS.iter().map(|v| v.to_string()).collect();
            Err(to_pyerr(
                py,
                &Error::UnknownVendor {
                    name: vendor.to_owned(),
                    known,
                },
            ))
        }
    }
}

fn config_error(field: &str, message: String) -> Error {
    Error::config("simulator", field, message)
}

/// A refusal of the simulator's controls as the error Python sees.
fn sim_error(e: SimError) -> Error {
    match e {
        SimError::UnknownVendor(name) => Error::UnknownVendor {
            name,
            known: VENDORS.iter().map(|v| v.to_string()).collect(),
        },
        e @ SimError::UnknownAccount { .. } => config_error("account", e.to_string()),
        e => config_error("now", e.to_string()),
    }
}

impl PySimulator {
    fn check_account(&self, py: Python<'_>, account: usize) -> PyResult<()> {
        if account < self.opts.accounts.max(1) {
            Ok(())
        } else {
            Err(to_pyerr(
                py,
                &sim_error(SimError::UnknownAccount {
                    index: account,
                    accounts: self.opts.accounts.max(1),
                }),
            ))
        }
    }

    /// The clock: the server's while it runs, the last one after.
    fn clock(&self) -> DateTime<Utc> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(sim) => sim.now(),
            None => self
                .closed_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| self.opts.initial_now()),
        }
    }
}

#[pymethods]
impl PySimulator {
    /// Starts the simulators.
    #[new]
    #[pyo3(signature = (*, seed = 42, conversations = 200, messages = 12, start = "2024-01-01", days = 90, now = None, accounts = 1, latency_ms = 0.0, jitter_ms = 0.0, latency_per_in_flight_ms = 0.0, rate_limit = None, retry_after = true, fault_rate = 0.0, faults = None, port = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        seed: u64,
        conversations: usize,
        messages: usize,
        start: &str,
        days: u32,
        now: Option<&str>,
        accounts: usize,
        latency_ms: f64,
        jitter_ms: f64,
        latency_per_in_flight_ms: f64,
        rate_limit: Option<u32>,
        retry_after: bool,
        fault_rate: f64,
        faults: Option<Vec<String>>,
        port: u16,
    ) -> PyResult<Self> {
        let opts = (|| -> Result<SimOptions, Error> {
            let start = NaiveDate::parse_from_str(start.trim(), "%Y-%m-%d").map_err(|_| {
                config_error("start", format!("`{start}` is not a date (YYYY-MM-DD)"))
            })?;
            let now = now
                .map(chathaul_sim::parse_instant)
                .transpose()
                .map_err(sim_error)?;
            if accounts == 0 {
                return Err(config_error(
                    "accounts",
                    "0 accounts: a simulator serves at least one per vendor".into(),
                ));
            }
            let ms = |field: &str, v: f64| {
                if v.is_finite() && v >= 0.0 {
                    Ok(Duration::from_secs_f64(v / 1000.0))
                } else {
                    Err(config_error(
                        field,
                        format!("{v} is not a non-negative number of milliseconds"),
                    ))
                }
            };
            if !(0.0..=1.0).contains(&fault_rate) {
                return Err(config_error(
                    "fault_rate",
                    format!("{fault_rate} is not between 0 and 1"),
                ));
            }
            let faults = match faults {
                None => Fault::DEFAULT.to_vec(),
                Some(names) => names
                    .iter()
                    .map(|n| n.parse::<Fault>().map_err(|m| config_error("faults", m)))
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(SimOptions {
                seed,
                conversations,
                messages,
                start,
                days,
                now,
                accounts,
                latency: ms("latency_ms", latency_ms)?,
                jitter: ms("jitter_ms", jitter_ms)?,
                latency_per_in_flight: ms("latency_per_in_flight_ms", latency_per_in_flight_ms)?,
                rate_limit,
                retry_after,
                fault_rate,
                faults,
                port,
            })
        })()
        .map_err(|e| to_pyerr(py, &e))?;
        let started = wait(py, Simulator::start(opts.clone()))?;
        let sim = started.map_err(|e| {
            to_pyerr(
                py,
                &Error::Io {
                    context: "starting the simulator".into(),
                    source: e,
                },
            )
        })?;
        Ok(Self {
            inner: Mutex::new(Some(sim)),
            opts,
            closed_at: Mutex::new(None),
        })
    }

    /// The vendors it serves.
    #[getter]
    fn vendors(&self) -> Vec<&'static str> {
        VENDORS.to_vec()
    }

    /// `http://127.0.0.1:PORT`.
    #[getter]
    fn url(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| format!("http://{}", s.addr()))
    }

    /// The seed of its dataset.
    #[getter]
    fn seed(&self) -> u64 {
        self.opts.seed
    }

    /// Conversations per vendor.
    #[getter]
    fn conversations(&self) -> usize {
        self.opts.conversations
    }

    /// The first local day of data (`YYYY-MM-DD`).
    #[getter]
    fn start(&self) -> String {
        self.opts.start.to_string()
    }

    /// The span of the data, in days.
    #[getter]
    fn days(&self) -> u32 {
        self.opts.days
    }

    /// Accounts per vendor.
    #[getter]
    fn accounts(&self) -> usize {
        self.opts.accounts.max(1)
    }

    /// The simulated current time, RFC 3339 in UTC.
    #[getter]
    fn now(&self) -> String {
        chathaul_sim::format_instant(self.clock())
    }

    /// Sets the simulated current time (RFC 3339, or a date for its midnight UTC).
    fn set_now(&self, py: Python<'_>, now: &str) -> PyResult<String> {
        let at = chathaul_sim::parse_instant(now).map_err(|e| to_pyerr(py, &sim_error(e)))?;
        self.with(py, |s| s.set_now(at))?;
        Ok(chathaul_sim::format_instant(at))
    }

    /// Moves the simulated clock by this many microseconds (back when
    /// negative); the new time, RFC 3339 in UTC.
    fn advance(&self, py: Python<'_>, microseconds: i64) -> PyResult<String> {
        let now = self.with(py, |s| {
            s.advance(chrono::Duration::microseconds(microseconds))
        })?;
        Ok(chathaul_sim::format_instant(now))
    }

    /// Makes the next `n` vendor requests answer HTTP 500 (only those to
    /// `vendor` and/or `account` when given).
    #[pyo3(signature = (n, vendor = None, account = None))]
    fn fail_next(
        &self,
        py: Python<'_>,
        n: u64,
        vendor: Option<&str>,
        account: Option<usize>,
    ) -> PyResult<()> {
        self.with(py, |s| s.fail_next(n, vendor, account))?
            .map_err(|e| to_pyerr(py, &sim_error(e)))
    }

    /// Serves the record `id` of `vendor` with `field` (a dotted path such
    /// as `created_at` or `messages.0.created_at`) replaced by the string
    /// `value`, in every answer that holds it (of `account`, or of every
    /// account).
    #[pyo3(signature = (vendor, id, field, value, account = None))]
    fn corrupt(
        &self,
        py: Python<'_>,
        vendor: &str,
        id: &str,
        field: &str,
        value: &str,
        account: Option<usize>,
    ) -> PyResult<()> {
        self.with(py, |s| s.corrupt(vendor, account, id, field, value))?
            .map_err(|e| to_pyerr(py, &sim_error(e)))
    }

    /// Whether it is still serving.
    #[getter]
    fn running(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The base URL of an account of one vendor: `http://127.0.0.1:PORT/kf5`
    /// (account 0), `http://127.0.0.1:PORT/kf5/2` (account 2).
    #[pyo3(signature = (vendor, account = 0))]
    fn base_url(&self, py: Python<'_>, vendor: &str, account: usize) -> PyResult<String> {
        Self::check_vendor(py, vendor)?;
        self.check_account(py, account)?;
        self.with(py, |s| s.base_url_for(vendor, account))
    }

    /// The complete connector config of an account of a vendor (0: the demo
    /// account), ready for `connect(vendor, **config)`.
    #[pyo3(signature = (vendor, account = 0))]
    fn config<'py>(
        &self,
        py: Python<'py>,
        vendor: &str,
        account: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        Self::check_vendor(py, vendor)?;
        self.check_account(py, account)?;
        let pairs = self.with(py, |s| s.config_for(vendor, account))?;
        let d = PyDict::new(py);
        for (k, v) in pairs {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The ground truth of an account of one vendor (or of every vendor,
    /// sorted by vendor then id) as of the simulated clock: what a perfect
    /// pull with messages and summaries returns, as dicts in the JSON
    /// contract.
    #[pyo3(signature = (vendor = None, account = 0))]
    fn truth<'py>(
        &self,
        py: Python<'py>,
        vendor: Option<&str>,
        account: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let vendors: Vec<&str> = match vendor {
            Some(v) => {
                Self::check_vendor(py, v)?;
                vec![v]
            }
            None => VENDORS.to_vec(),
        };
        self.check_account(py, account)?;
        let opts = self.opts.clone();
        let now = self.clock();
        let all: Vec<Conversation> = py.detach(|| {
            let mut sorted = vendors.clone();
            sorted.sort_unstable();
            sorted
                .iter()
                .flat_map(|v| chathaul_sim::account_truth(&opts, v, account, now))
                .collect()
        });
        let out = PyList::empty(py);
        for c in &all {
            out.append(to_py(py, c)?)?;
        }
        Ok(out)
    }

    /// Request counters so far: requests, throttled, faults, per vendor.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.with(py, |s| s.stats())?;
        let d = PyDict::new(py);
        d.set_item("requests", stats.requests)?;
        d.set_item("throttled", stats.throttled)?;
        d.set_item("faults", stats.faults)?;
        d.set_item("per_vendor", stats.per_vendor)?;
        Ok(d)
    }

    /// Stops serving (idempotent).
    fn close(&self, py: Python<'_>) {
        let sim = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sim) = sim {
            *self.closed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(sim.now());
            // The server runs on the global runtime; dropping it aborts the task.
            let _enter = runtime().enter();
            py.detach(move || drop(sim));
        }
    }

    fn __repr__(&self) -> String {
        let addr = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.addr().to_string());
        match addr {
            Some(a) => format!(
                "<chathaul.Simulator http://{a} seed={} conversations={} per vendor>",
                self.opts.seed, self.opts.conversations
            ),
            None => format!("<chathaul.Simulator closed seed={}>", self.opts.seed),
        }
    }
}
