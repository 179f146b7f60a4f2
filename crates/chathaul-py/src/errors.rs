//! Rust errors → the Python exceptions of `chathaul.errors`, raised with the
//! Rust error's message and its details (vendor, endpoint, page, path,
//! status, retry-after, database, file) as attributes.
//!
//! The class of each kind is chosen in one place, the table in
//! `python/chathaul/errors.py`: this side asks `error_class(kind)` for it.

use chathaul::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The keyword details of an error (from its innermost cause).
fn details<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kind", e.kind().as_str())?;
    d.set_item("vendor", e.vendor())?;
    match e.root() {
        Error::Unauthenticated {
            endpoint, status, ..
        } => {
            d.set_item("endpoint", endpoint)?;
            d.set_item("status", status)?;
        }
        Error::RateLimited {
            endpoint,
            page,
            retry_after,
            ..
        } => {
            d.set_item("endpoint", endpoint)?;
            d.set_item("page", page)?;
            d.set_item("retry_after", retry_after.map(|r| r.as_secs_f64()))?;
        }
        Error::Api {
            endpoint,
            page,
            status,
            code,
            ..
        } => {
            d.set_item("endpoint", endpoint)?;
            d.set_item("page", page)?;
            d.set_item("status", status)?;
            d.set_item("code", code)?;
        }
        Error::Paging { endpoint, page, .. } | Error::Transport { endpoint, page, .. } => {
            d.set_item("endpoint", endpoint)?;
            d.set_item("page", page)?;
        }
        Error::Decode {
            endpoint,
            page,
            path,
            ..
        } => {
            d.set_item("endpoint", endpoint)?;
            d.set_item("page", page)?;
            d.set_item("path", path)?;
        }
        Error::Field {
            endpoint,
            page,
            field,
            ..
        } => {
            d.set_item("endpoint", endpoint)?;
            d.set_item("page", page)?;
            d.set_item("path", field)?;
        }
        Error::Config { field, .. } => d.set_item("field", field)?,
        Error::ConfigFile { path, .. } => d.set_item("file", path.display().to_string())?,
        Error::SyncSource { name, .. } => d.set_item("source", name)?,
        Error::StoredState { path, .. } => d.set_item("path", path)?,
        Error::DatabaseUrl { location, .. } => d.set_item("location", location)?,
        Error::Store {
            backend, location, ..
        } => {
            d.set_item("backend", backend)?;
            d.set_item("location", location)?;
        }
        Error::Sink { format, path, .. } => {
            d.set_item("format", format)?;
            d.set_item("path", path.as_ref().map(|p| p.display().to_string()))?;
        }
        Error::FeatureDisabled { feature, .. } => d.set_item("feature", feature)?,
        _ => {}
    }
    Ok(d)
}

/// The Python exception for a chathaul error.
pub(crate) fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    let message = e.to_string();
    let build = || -> PyResult<PyErr> {
        let module = py.import("chathaul.errors")?;
        let class = module.call_method1("error_class", (e.kind().as_str(),))?;
        let instance = class.call((message.as_str(),), Some(&details(py, e)?))?;
        Ok(PyErr::from_value(instance))
    };
    // Only when the package is broken (the module imported on its own):
    // still raise, with the same message.
    build().unwrap_or_else(|_| PyRuntimeError::new_err(message.clone()))
}
