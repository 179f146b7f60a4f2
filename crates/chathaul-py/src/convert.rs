//! Conversions between Python values and the model's JSON form, and the
//! parsing of query arguments.

use chathaul::Error;
use chathaul::chrono::{DateTime, Utc};
use chathaul::time::Tz;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

/// Builds the Python value of a JSON value: dicts (key order kept), lists,
/// str, int, float, bool and None.
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// The JSON form of any serializable model value, as Python objects.
pub(crate) fn to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(value).map_err(|e| {
        let context = "cannot convert a value for Python";
        crate::errors::to_pyerr(py, &Error::internal(context, e))
    })?;
    json_to_py(py, &v)
}

/// Parses a query's time argument with the engine's one parser
/// ([`chathaul::config::parse_instant`]), naming the argument in the error.
pub(crate) fn parse_instant(name: &str, text: &str, zone: Tz) -> Result<DateTime<Utc>, Error> {
    chathaul::config::parse_instant(text, zone).map_err(|e| Error::Query(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_argument_and_the_forms() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            parse_instant("since", "2024-01-01 10:30:00.5", sh).unwrap(),
            DateTime::parse_from_rfc3339("2024-01-01T02:30:00.5Z").unwrap()
        );
        let err = parse_instant("until", "last week", sh)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid query: until: `last week` is not a time: use RFC 3339"),
            "{err}"
        );
    }
}
