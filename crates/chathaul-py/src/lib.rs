#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod connector;
mod convert;
mod errors;
mod incremental;
mod partition;
mod runtime;
mod sim;
mod sync;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::to_pyerr;

/// The registered connectors, sorted by name: one dict each with `name`,
/// `description`, `capabilities` and `fields` (name, required, secret,
/// default, env, help).
#[pyfunction]
fn connectors(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    chathaul::registry::check_registry().map_err(|e| to_pyerr(py, &e))?;
    let out = PyList::empty(py);
    for factory in chathaul::connectors() {
        let d = PyDict::new(py);
        d.set_item("name", factory.name)?;
        d.set_item("description", factory.description)?;
        let caps = serde_json::to_value(factory.capabilities).map_err(|e| {
            let context = format!("cannot describe the capabilities of {}", factory.name);
            to_pyerr(py, &chathaul::Error::internal(context, e))
        })?;
        d.set_item("capabilities", convert::json_to_py(py, &caps)?)?;
        let fields = PyList::empty(py);
        for field in factory.all_fields() {
            let f = PyDict::new(py);
            f.set_item("name", field.name)?;
            f.set_item("required", field.required)?;
            f.set_item("secret", field.secret)?;
            f.set_item("default", field.default)?;
            f.set_item("env", factory.env_var(field.name))?;
            f.set_item("help", field.help)?;
            fields.append(f)?;
        }
        d.set_item("fields", fields)?;
        out.append(d)?;
    }
    Ok(out)
}

/// The vendor crates this build links, by name.
#[pyfunction]
fn linked_vendors() -> Vec<&'static str> {
    chathaul::LINKED_VENDORS.to_vec()
}

/// The stable name of every error kind the Rust side can raise
/// (`chathaul::ErrorKind::ALL`): each must have a class in `chathaul.errors`.
#[pyfunction]
fn error_kinds() -> Vec<&'static str> {
    chathaul::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect()
}

/// The Arrow schemas of the two tables, `(conversations, messages)`, as
/// `pyarrow.Schema`s.
#[pyfunction]
fn schemas(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>)> {
    let c = pyo3_arrow::PySchema::new(chathaul::arrow::conversations_schema()).into_pyarrow(py)?;
    let m = pyo3_arrow::PySchema::new(chathaul::arrow::messages_schema()).into_pyarrow(py)?;
    Ok((c, m))
}

/// The Python module `chathaul._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(connectors, m)?)?;
    m.add_function(wrap_pyfunction!(linked_vendors, m)?)?;
    m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(connector::connect, m)?)?;
    m.add_class::<connector::PyConnector>()?;
    m.add_class::<connector::ConversationIterator>()?;
    m.add_class::<incremental::PyIncrementalRun>()?;
    m.add_class::<sim::PySimulator>()?;
    m.add_function(wrap_pyfunction!(sync::sync, m)?)?;
    m.add_function(wrap_pyfunction!(sync::load_config, m)?)?;
    m.add_function(wrap_pyfunction!(sync::database_location, m)?)?;
    m.add_function(wrap_pyfunction!(schemas, m)?)?;
    m.add_function(wrap_pyfunction!(partition::plan, m)?)?;
    m.add_function(wrap_pyfunction!(partition::pull_partition, m)?)?;
    Ok(())
}
