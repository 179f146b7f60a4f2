//! Rust errors → the Python exceptions of `chathaul.errors`, picked by
//! [`chathaul::Error::kind`], raised with the Rust error's message and its
//! details (vendor, endpoint, page, path, status, retry-after) as attributes.

use chathaul::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The class name in `chathaul.errors` for an error kind.
pub(crate) fn class_for(kind: &str) -> &'static str {
    match kind {
        "auth" => "AuthError",
        "rate_limit" => "RateLimitError",
        "decode" => "DecodeError",
        "api" | "paging" => "ApiError",
        "transport" => "TransportError",
        "config" | "query" => "ConfigError",
        _ => "Error",
    }
}

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
        _ => {}
    }
    Ok(d)
}

/// The Python exception for a chathaul error.
pub(crate) fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    let message = e.to_string();
    let build = || -> PyResult<PyErr> {
        let module = py.import("chathaul.errors")?;
        let class = module.getattr(class_for(e.kind().as_str()))?;
        let instance = class.call((message.as_str(),), Some(&details(py, e)?))?;
        Ok(PyErr::from_value(instance))
    };
    // Only when the package is broken (the module imported on its own):
    // still raise, with the same message.
    build().unwrap_or_else(|_| PyRuntimeError::new_err(message.clone()))
}
