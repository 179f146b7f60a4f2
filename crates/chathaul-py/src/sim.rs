//! The in-process simulators of every vendor, served from the global runtime.

use std::sync::Mutex;
use std::time::Duration;

use chathaul::chrono::NaiveDate;
use chathaul::{Conversation, Error};
use chathaul_sim::{Fault, SimOptions, Simulator, VENDORS};
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
}

impl PySimulator {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&Simulator) -> T) -> PyResult<T> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(sim) => Ok(f(sim)),
            None => Err(to_pyerr(
                py,
                &Error::Other("the simulator is closed".into()),
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

#[pymethods]
impl PySimulator {
    /// Starts the simulators.
    #[new]
    #[pyo3(signature = (*, seed = 42, conversations = 200, messages = 12, start = "2024-01-01", days = 90, latency_ms = 0.0, jitter_ms = 0.0, rate_limit = None, fault_rate = 0.0, faults = None, port = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        seed: u64,
        conversations: usize,
        messages: usize,
        start: &str,
        days: u32,
        latency_ms: f64,
        jitter_ms: f64,
        rate_limit: Option<u32>,
        fault_rate: f64,
        faults: Option<Vec<String>>,
        port: u16,
    ) -> PyResult<Self> {
        let opts = (|| -> Result<SimOptions, Error> {
            let start = NaiveDate::parse_from_str(start.trim(), "%Y-%m-%d").map_err(|_| {
                config_error("start", format!("`{start}` is not a date (YYYY-MM-DD)"))
            })?;
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
                latency: ms("latency_ms", latency_ms)?,
                jitter: ms("jitter_ms", jitter_ms)?,
                rate_limit,
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

    /// Whether it is still serving.
    #[getter]
    fn running(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The base URL of one vendor: `http://127.0.0.1:PORT/kf5`.
    fn base_url(&self, py: Python<'_>, vendor: &str) -> PyResult<String> {
        Self::check_vendor(py, vendor)?;
        self.with(py, |s| s.base_url(vendor))
    }

    /// The complete connector config of a vendor's demo account, ready for
    /// `connect(vendor, **config)`.
    fn config<'py>(&self, py: Python<'py>, vendor: &str) -> PyResult<Bound<'py, PyDict>> {
        Self::check_vendor(py, vendor)?;
        let pairs = self.with(py, |s| s.config(vendor))?;
        let d = PyDict::new(py);
        for (k, v) in pairs {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The ground truth of one vendor (or of all, sorted by vendor then id):
    /// what a perfect pull with messages and summaries returns, as dicts in
    /// the JSON contract.
    #[pyo3(signature = (vendor = None))]
    fn truth<'py>(&self, py: Python<'py>, vendor: Option<&str>) -> PyResult<Bound<'py, PyList>> {
        let vendors: Vec<&str> = match vendor {
            Some(v) => {
                Self::check_vendor(py, v)?;
                vec![v]
            }
            None => VENDORS.to_vec(),
        };
        let opts = self.opts.clone();
        let all: Vec<Conversation> = py.detach(|| {
            let mut sorted = vendors.clone();
            sorted.sort_unstable();
            sorted
                .iter()
                .flat_map(|v| chathaul_sim::truth(&opts, v))
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
