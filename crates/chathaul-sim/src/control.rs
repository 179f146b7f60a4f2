//! The control endpoints under `/_sim/`: the simulated clock and armed
//! failures. They take no credentials and no vendor path starts with `/_sim`,
//! so they never collide with what a connector requests.

use axum::http::{Method, Request};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::http::{Params, Reply};
use crate::server::Shared;

fn bad_request(message: String) -> Reply {
    Reply::json(400, &json!({"error": "bad request", "message": message}))
}

fn clock(now: DateTime<Utc>) -> Reply {
    Reply::json(200, &json!({"now": crate::format_instant(now)}))
}

/// A whole number parameter (may be negative); `None` when absent.
fn signed(p: &Params, name: &str) -> Result<Option<i64>, Reply> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad_request(format!("parameter {name}: `{v}` is not a whole number"))),
    }
}

/// A unit the clock moves by: its parameter name and its length.
type Unit = (&'static str, fn(i64) -> Option<Duration>);

/// `POST /_sim/advance?days=&hours=&minutes=&seconds=`: the sum of them.
fn advance(shared: &Shared, p: &Params) -> Result<Reply, Reply> {
    let units: [Unit; 4] = [
        ("days", Duration::try_days),
        ("hours", Duration::try_hours),
        ("minutes", Duration::try_minutes),
        ("seconds", Duration::try_seconds),
    ];
    let mut by = Duration::zero();
    let mut given = false;
    for (name, unit) in units {
        if let Some(n) = signed(p, name)? {
            given = true;
            by = unit(n)
                .and_then(|d| by.checked_add(&d))
                .ok_or_else(|| bad_request(format!("parameter {name}: {n} is too large")))?;
        }
    }
    if !given {
        return Err(bad_request(
            "say how far: days=, hours=, minutes= or seconds= (whole numbers, summed)".into(),
        ));
    }
    Ok(clock(shared.advance(by)))
}

/// `POST /_sim/clock?now=`: sets the clock.
fn set_clock(shared: &Shared, p: &Params) -> Result<Reply, Reply> {
    let text = p
        .get("now")
        .ok_or_else(|| bad_request("parameter now is missing".into()))?;
    let now = crate::parse_instant(text).map_err(|e| bad_request(format!("parameter now: {e}")))?;
    shared.set_now(now);
    Ok(clock(now))
}

/// `POST /_sim/fail?next=N[&vendor=][&account=]`.
fn fail(shared: &Shared, p: &Params) -> Result<Reply, Reply> {
    let next = match p.get("next") {
        None | Some("") => return Err(bad_request("parameter next is missing".into())),
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            bad_request(format!(
                "parameter next: `{v}` is not a whole number of requests"
            ))
        })?,
    };
    let vendor = p.get("vendor").filter(|v| !v.is_empty());
    let account = match p.get("account") {
        None | Some("") => None,
        Some(v) => Some(v.trim().parse::<usize>().map_err(|_| {
            bad_request(format!("parameter account: `{v}` is not an account index"))
        })?),
    };
    shared
        .fail_next(next, vendor, account)
        .map_err(|e| bad_request(e.to_string()))?;
    Ok(Reply::json(
        200,
        &json!({"armed": next, "vendor": vendor, "account": account}),
    ))
}

/// `POST /_sim/corrupt?vendor=&id=&field=&value=[&account=]`.
fn corrupt(shared: &Shared, p: &Params) -> Result<Reply, Reply> {
    let required = |name: &str| {
        p.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad_request(format!("parameter {name} is missing")))
    };
    let (vendor, id, field) = (required("vendor")?, required("id")?, required("field")?);
    let value = p.get("value").unwrap_or("");
    let account = match p.get("account") {
        None | Some("") => None,
        Some(v) => Some(v.trim().parse::<usize>().map_err(|_| {
            bad_request(format!("parameter account: `{v}` is not an account index"))
        })?),
    };
    shared
        .corrupt(vendor, account, id, field, value)
        .map_err(|e| bad_request(e.to_string()))?;
    Ok(Reply::json(
        200,
        &json!({"corrupt": {"vendor": vendor, "account": account, "id": id, "field": field, "value": value}}),
    ))
}

fn method_not_allowed(allow: &'static str) -> Reply {
    Reply::json(
        405,
        &json!({"error": "method not allowed", "message": format!("use {allow}")}),
    )
    .with_header("allow", allow)
}

/// Answers a request under `/_sim/`.
pub(crate) fn handle<B>(shared: &Shared, req: &Request<B>) -> Reply {
    let p = Params::parse(req.uri().query());
    let method = req.method();
    let result = match req.uri().path() {
        "/_sim/clock" if method == Method::GET => Ok(clock(shared.now())),
        "/_sim/clock" if method == Method::POST => set_clock(shared, &p),
        "/_sim/clock" => Ok(method_not_allowed("GET, POST")),
        "/_sim/advance" if method == Method::POST => advance(shared, &p),
        "/_sim/advance" => Ok(method_not_allowed("POST")),
        "/_sim/fail" if method == Method::POST => fail(shared, &p),
        "/_sim/fail" => Ok(method_not_allowed("POST")),
        "/_sim/corrupt" if method == Method::POST => corrupt(shared, &p),
        "/_sim/corrupt" => Ok(method_not_allowed("POST")),
        other => Ok(Reply::json(
            404,
            &json!({
                "error": "not found",
                "message": format!("no control endpoint {other}: GET or POST /_sim/clock, POST /_sim/advance, POST /_sim/fail, POST /_sim/corrupt"),
            }),
        )),
    };
    match result {
        Ok(r) | Err(r) => r,
    }
}
