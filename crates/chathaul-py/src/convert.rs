//! Conversions between Python values and the model's JSON form, and the
//! parsing of query arguments.

use chathaul::Error;
use chathaul::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chathaul::time::{Tz, local_to_utc};
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

/// Parses an instant given as text: RFC 3339 with an offset (`2024-01-01T08:00:00+08:00`,
/// `...Z`), a date-time without an offset (read in `zone`, the connector's
/// wall clock), or a date (local midnight in `zone`).
pub(crate) fn parse_instant(name: &str, text: &str, zone: Tz) -> Result<DateTime<Utc>, Error> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
            return Ok(local_to_utc(naive, zone));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(local_to_utc(date.and_time(NaiveTime::MIN), zone));
    }
    Err(Error::Query(format!(
        "{name} `{text}` is not a time: use a datetime, a date, or an ISO 8601 string such as 2024-01-31T08:00:00+08:00 or 2024-01-31"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_with_offsets_dates_and_local_times() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_instant("since", "2024-01-01T08:00:00+08:00", sh).unwrap(),
            utc("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_instant("since", "2024-01-01T00:00:00Z", sh).unwrap(),
            utc("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_instant("since", "2024-01-01", sh).unwrap(),
            utc("2023-12-31T16:00:00Z")
        );
        assert_eq!(
            parse_instant("since", "2024-01-01T10:30:00", sh).unwrap(),
            utc("2024-01-01T02:30:00Z")
        );
        assert_eq!(
            parse_instant("since", "2024-01-01 10:30:00.5", sh).unwrap(),
            utc("2024-01-01T02:30:00.5Z")
        );
        let err = parse_instant("until", "last week", sh)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid query: until `last week` is not a time"),
            "{err}"
        );
    }
}
