//! The HTTP server: one listener, every vendor's accounts under their path
//! prefixes, the control endpoints under `/_sim/`, and the adversity layer
//! (latency, per-account rate limit, faults) in front of the vendors.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Request, Response, Uri};
use axum::routing::get;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::data::{self, AccountSpec, stream};
use crate::http::{Params, Reply};
use crate::{Fault, SimError, SimOptions, SimStats, VENDORS, bangwo8, caresoft, kf5};

/// One account of every vendor: its datasets and what is in flight to it.
pub(crate) struct Account {
    pub bangwo8: bangwo8::Data,
    pub kf5: kf5::Data,
    pub caresoft: caresoft::Data,
    /// Requests in flight per vendor (in [`VENDORS`] order).
    in_flight: [AtomicU64; 3],
}

impl Account {
    fn new(opts: &SimOptions, index: usize) -> Self {
        let spec = AccountSpec::new(opts, index);
        Self {
            bangwo8: bangwo8::Data::new(spec.clone()),
            kf5: kf5::Data::new(spec.clone()),
            caresoft: caresoft::Data::new(spec),
            in_flight: Default::default(),
        }
    }
}

/// The next `left` vendor requests that match get a 500.
#[derive(Debug)]
struct FailRule {
    vendor: Option<usize>,
    account: Option<usize>,
    left: u64,
}

/// A record served corrupted: in every answer of `vendor` (and `account`,
/// when given) whose `chats` array or `chat` object holds the record with
/// this id, `field` (a dotted path: `created_at`, `messages.0.created_at`)
/// is replaced by the string `value`.
#[derive(Debug, Clone)]
struct Corruption {
    vendor: usize,
    account: Option<usize>,
    id: String,
    field: String,
    value: String,
}

/// The id of a served record, as text, whatever the vendor calls it.
fn record_id(record: &serde_json::Value) -> Option<String> {
    ["r_id", "id", "conversation_id"]
        .iter()
        .find_map(|k| match record.get(k)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Applies the corruptions to a JSON body; `None` when nothing matched.
fn corrupted(body: &[u8], rules: &[Corruption]) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut hit = false;
    let mut apply = |record: &mut serde_json::Value| {
        let Some(id) = record_id(record) else { return };
        for r in rules.iter().filter(|r| r.id == id) {
            // Down the path to the last step's parent (an array index is a
            // number), then set the last step.
            let steps: Vec<&str> = r.field.split('.').collect();
            let Some((last, parents)) = steps.split_last() else {
                continue;
            };
            let mut at = Some(&mut *record);
            for step in parents {
                at = at.and_then(|v| match step.parse::<usize>() {
                    Ok(i) if v.is_array() => v.get_mut(i),
                    _ => v.get_mut(*step),
                });
            }
            let value = serde_json::Value::String(r.value.clone());
            match at {
                Some(serde_json::Value::Object(obj)) => {
                    obj.insert((*last).to_owned(), value);
                    hit = true;
                }
                Some(serde_json::Value::Array(items)) => {
                    if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                        *slot = value;
                        hit = true;
                    }
                }
                _ => {}
            }
        }
    };
    if let Some(items) = value.get_mut("chats").and_then(|c| c.as_array_mut()) {
        items.iter_mut().for_each(&mut apply);
    }
    if let Some(one) = value.get_mut("chat") {
        apply(one);
    }
    hit.then(|| serde_json::to_vec(&value).ok()).flatten()
}

/// Everything a request needs, shared by all connections.
pub(crate) struct Shared {
    pub opts: SimOptions,
    pub accounts: Vec<Account>,
    /// The simulated current time, in microseconds since the Unix epoch.
    clock: AtomicI64,
    counters: Counters,
    limiter: Mutex<HashMap<String, (u64, u32)>>,
    failures: Mutex<Vec<FailRule>>,
    corruptions: Mutex<Vec<Corruption>>,
    epoch: Instant,
}

#[derive(Default)]
struct Counters {
    next: AtomicU64,
    requests: AtomicU64,
    throttled: AtomicU64,
    faults: AtomicU64,
    per_vendor: [AtomicU64; 3],
}

/// The account of a request, put into its extensions once its path has been
/// read.
#[derive(Debug, Clone, Copy)]
struct AccountIndex(usize);

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Shared {
    pub(crate) fn new(opts: SimOptions) -> Self {
        let accounts = (0..opts.accounts.max(1))
            .map(|k| Account::new(&opts, k))
            .collect();
        Self {
            accounts,
            clock: AtomicI64::new(micros(opts.initial_now())),
            opts,
            counters: Counters::default(),
            limiter: Mutex::new(HashMap::new()),
            failures: Mutex::new(Vec::new()),
            corruptions: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        }
    }

    /// The simulated current time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.clock.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Sets the simulated current time.
    pub(crate) fn set_now(&self, now: DateTime<Utc>) {
        self.clock.store(micros(now), Ordering::SeqCst);
    }

    /// Moves the clock by `by` (back when negative); the new time.
    pub(crate) fn advance(&self, by: chrono::Duration) -> DateTime<Utc> {
        let step = by
            .num_microseconds()
            .unwrap_or(if by < chrono::Duration::zero() {
                i64::MIN
            } else {
                i64::MAX
            });
        let mut current = self.clock.load(Ordering::SeqCst);
        loop {
            let next = current.saturating_add(step);
            match self.clock.compare_exchange_weak(
                current,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    return DateTime::from_timestamp_micros(next)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Arms a failure: the next `n` vendor requests matching `vendor` and
    /// `account` (any when `None`) answer 500.
    pub(crate) fn fail_next(
        &self,
        n: u64,
        vendor: Option<&str>,
        account: Option<usize>,
    ) -> Result<(), SimError> {
        let vendor = vendor
            .map(|v| {
                VENDORS
                    .iter()
                    .position(|known| *known == v)
                    .ok_or_else(|| SimError::UnknownVendor(v.to_owned()))
            })
            .transpose()?;
        if let Some(a) = account
            && a >= self.accounts.len()
        {
            return Err(SimError::UnknownAccount {
                index: a,
                accounts: self.accounts.len(),
            });
        }
        if n > 0 {
            self.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(FailRule {
                    vendor,
                    account,
                    left: n,
                });
        }
        Ok(())
    }

    /// Serves the record `id` of `vendor` (of `account`, or of every
    /// account) with `field` replaced by the string `value`, in every
    /// listing and detail answer that holds it, from now on.
    pub(crate) fn corrupt(
        &self,
        vendor: &str,
        account: Option<usize>,
        id: &str,
        field: &str,
        value: &str,
    ) -> Result<(), SimError> {
        let vendor = VENDORS
            .iter()
            .position(|known| *known == vendor)
            .ok_or_else(|| SimError::UnknownVendor(vendor.to_owned()))?;
        if let Some(a) = account
            && a >= self.accounts.len()
        {
            return Err(SimError::UnknownAccount {
                index: a,
                accounts: self.accounts.len(),
            });
        }
        self.corruptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Corruption {
                vendor,
                account,
                id: id.to_owned(),
                field: field.to_owned(),
                value: value.to_owned(),
            });
        Ok(())
    }

    /// The corruptions that apply to `vendor`'s `account`.
    fn corruptions_for(&self, vendor: usize, account: usize) -> Vec<Corruption> {
        self.corruptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|c| c.vendor == vendor && c.account.is_none_or(|a| a == account))
            .cloned()
            .collect()
    }

    /// Whether a request to `vendor`'s `account` is one of the failures armed.
    fn take_failure(&self, vendor: usize, account: usize) -> bool {
        let mut rules = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let hit = rules.iter_mut().find(|r| {
            r.vendor.is_none_or(|v| v == vendor) && r.account.is_none_or(|a| a == account)
        });
        let Some(rule) = hit else {
            return false;
        };
        rule.left -= 1;
        rules.retain(|r| r.left > 0);
        true
    }

    pub(crate) fn stats(&self) -> SimStats {
        let c = &self.counters;
        SimStats {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
            per_vendor: VENDORS
                .iter()
                .zip(&c.per_vendor)
                .map(|(v, n)| ((*v).to_owned(), n.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// Counts a request against its account's one-second window; `Some(secs)`
    /// (the whole seconds to wait) when it is over the limit.
    fn throttle(&self, account: String, limit: u32) -> Option<u64> {
        let elapsed = self.epoch.elapsed();
        let window = elapsed.as_secs();
        let mut map = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        let slot = map.entry(account).or_insert((window, 0));
        if slot.0 != window {
            *slot = (window, 0);
        }
        if slot.1 >= limit {
            let left = Duration::from_secs(window + 1).saturating_sub(elapsed);
            return Some(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        slot.1 += 1;
        None
    }
}

type St = Arc<Shared>;

fn params(q: Option<String>) -> Params {
    Params::parse(q.as_deref())
}

fn done(r: Result<Reply, Reply>) -> Response<Body> {
    match r {
        Ok(r) | Err(r) => r.into_response(),
    }
}

async fn bw_list(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let d = &s.accounts[a].bangwo8;
    done(
        bangwo8::check_auth(d, &h, true)
            .map_or_else(|| bangwo8::list(d, s.now(), None, &params(q)), Err),
    )
}

async fn bw_agent_list(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    Path(file): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let d = &s.accounts[a].bangwo8;
    done(bangwo8::check_auth(d, &h, true).map_or_else(
        || match file.strip_suffix(".json") {
            Some(agent) => bangwo8::list(d, s.now(), Some(agent), &params(q)),
            None => Err(not_found()),
        },
        Err,
    ))
}

async fn bw_records(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    Path(file): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let d = &s.accounts[a].bangwo8;
    done(
        bangwo8::check_auth(d, &h, false)
            .map_or_else(|| bangwo8::chatrecords(d, s.now(), &file, &params(q)), Err),
    )
}

async fn bw_summary(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    Path(file): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let d = &s.accounts[a].bangwo8;
    done(
        bangwo8::check_auth(d, &h, false)
            .map_or_else(|| bangwo8::summary(d, s.now(), &file, &params(q)), Err),
    )
}

async fn kf5_list(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let d = &s.accounts[a].kf5;
    done(kf5::check_auth(d, &h).map_or_else(|| kf5::list(d, s.now(), &params(q)), Err))
}

async fn kf5_detail(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    Path(file): Path<String>,
    h: HeaderMap,
) -> Response<Body> {
    let d = &s.accounts[a].kf5;
    done(kf5::check_auth(d, &h).map_or_else(|| kf5::detail(d, s.now(), &file), Err))
}

async fn cs_list(
    AxState(s): AxState<St>,
    Extension(AccountIndex(a)): Extension<AccountIndex>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let d = &s.accounts[a].caresoft;
    done(caresoft::check_auth(d, &h).map_or_else(|| caresoft::list(d, s.now(), &params(q)), Err))
}

fn not_found() -> Reply {
    Reply::text(404, "text/plain; charset=utf-8", "404 page not found")
}

fn router(shared: St) -> Router {
    Router::new()
        .route("/bangwo8/api/v1/imchat/histories.json", get(bw_list))
        .route(
            "/bangwo8/api/v1/imchat/histories/{file}",
            get(bw_agent_list),
        )
        .route("/bangwo8/api/v1/imchat/chatrecords/{file}", get(bw_records))
        .route("/bangwo8/api/v1/servicesummary/{file}", get(bw_summary))
        .route("/kf5/apiv2/chats.json", get(kf5_list))
        .route("/kf5/apiv2/chats/{file}", get(kf5_detail))
        .route("/caresoft/api/v1/chats", get(cs_list))
        .fallback(|| async { not_found().into_response() })
        .with_state(shared)
}

/// Which vendor and account a path is for, and the path the vendor routes
/// know: account 0 lives at `/{vendor}/…`, account `k` ≥ 1 at `/{vendor}/{k}/…`
/// (the segment is removed before routing).
fn vendor_account(path: &str, accounts: usize) -> Option<(usize, usize, Option<String>)> {
    let (k, rest) = VENDORS.iter().enumerate().find_map(|(k, v)| {
        let rest = path.strip_prefix('/')?.strip_prefix(v)?;
        (rest.is_empty() || rest.starts_with('/')).then_some((k, rest))
    })?;
    let account = rest.strip_prefix('/').and_then(|r| {
        let (segment, tail) = r.split_once('/').map_or((r, ""), |(s, t)| (s, t));
        let index: usize = segment
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| segment.parse().ok())??;
        (index >= 1 && index < accounts).then(|| (index, format!("/{}/{tail}", VENDORS[k])))
    });
    Some(match account {
        Some((index, path)) => (k, index, Some(path)),
        None => (k, 0, None),
    })
}

/// `uri` with its path replaced by `path`, the query kept.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    Uri::builder().path_and_query(pq).build().ok()
}

/// Decrements a counter of requests in flight when the request is answered.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The error a dropped connection is made of: hyper closes the connection
/// without answering when the service fails.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault injected: connection dropped")
    }
}

impl std::error::Error for Dropped {}

const HTML_ERROR: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>系统繁忙</title></head>\
<body><h1>系统繁忙,请稍后再试</h1><p>The service is temporarily unavailable. Please try again later.</p>\
<hr><center>nginx</center></body></html>\n";

/// HTTP 500 with a JSON error body (a fault, or a failure armed through `/_sim/fail`).
fn server_error() -> Reply {
    let body = serde_json::json!({"error": "Internal Server Error", "message": "服务器内部错误"});
    Reply::json(500, &body)
}

fn status_page(status: u16, reason: &str) -> Reply {
    let body = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    Reply::text(status, "text/html", body)
}

/// Slices for a slow drip: about 20 pieces, 100 ms apart.
const DRIP_PIECES: usize = 20;
const DRIP_PAUSE: Duration = Duration::from_millis(100);

async fn handle(
    shared: St,
    router: Router,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path();
    if path == "/_sim" || path.starts_with("/_sim/") {
        // The control endpoints: no credentials, no adversity, not counted.
        return Ok(crate::control::handle(&shared, &req).into_response());
    }
    let c = &shared.counters;
    let n = c.next.fetch_add(1, Ordering::Relaxed);
    c.requests.fetch_add(1, Ordering::Relaxed);
    let (target, rewritten) = match vendor_account(path, shared.accounts.len()) {
        Some((k, account, rewritten)) => (Some((k, account)), rewritten),
        None => (None, None),
    };
    let mut in_flight_before = 0;
    let mut _in_flight = None;
    if let Some((k, account)) = target {
        c.per_vendor[k].fetch_add(1, Ordering::Relaxed);
        let counter = &shared.accounts[account].in_flight[k];
        in_flight_before = counter.fetch_add(1, Ordering::SeqCst);
        _in_flight = Some(InFlight(counter));
        if let Some(p) = rewritten
            && let Some(uri) = with_path(req.uri(), &p)
        {
            *req.uri_mut() = uri;
        }
        req.extensions_mut().insert(AccountIndex(account));
    }
    let opts = &shared.opts;
    let mut r = data::rng(opts.seed, 0, n, stream::REQUEST);
    let crowd = u32::try_from(in_flight_before).unwrap_or(u32::MAX);
    let delay = opts.latency
        + opts.jitter.mul_f64(r.random::<f64>())
        + opts.latency_per_in_flight.saturating_mul(crowd);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((k, account)) = target
        && shared.take_failure(k, account)
    {
        c.faults.fetch_add(1, Ordering::Relaxed);
        return Ok(server_error().into_response());
    }
    if let Some(limit) = opts.rate_limit
        && let Some((k, account)) = target
        && let Some(claimed) = crate::http::account_key(req.headers())
        && let Some(wait) = shared.throttle(format!("{k}/{account}/{claimed}"), limit)
    {
        c.throttled.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "error": "Too Many Requests",
            "message": format!("rate limit exceeded: at most {limit} requests per second per account"),
        });
        let reply = Reply::json(429, &body);
        let reply = if opts.retry_after {
            reply.with_header("retry-after", wait.to_string())
        } else {
            reply
        };
        return Ok(reply.into_response());
    }
    let fault = (opts.fault_rate > 0.0
        && !opts.faults.is_empty()
        && r.random_bool(opts.fault_rate.clamp(0.0, 1.0)))
    .then(|| opts.faults[r.random_range(0..opts.faults.len())]);
    if fault.is_some() {
        c.faults.fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(Fault::Drop) => return Err(Dropped),
        Some(Fault::Status500) => return Ok(server_error().into_response()),
        Some(Fault::Status502) => return Ok(status_page(502, "Bad Gateway").into_response()),
        Some(Fault::Status503) => {
            return Ok(status_page(503, "Service Temporarily Unavailable").into_response());
        }
        Some(Fault::Html) => {
            return Ok(Reply::text(200, "text/html; charset=utf-8", HTML_ERROR).into_response());
        }
        Some(Fault::Truncate | Fault::SlowDrip) | None => {}
    }
    let res = match router.oneshot(req.map(Body::new)).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let rules = target.map_or_else(Vec::new, |(k, account)| shared.corruptions_for(k, account));
    let res = if rules.is_empty() {
        res
    } else {
        let (mut parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|_| Dropped)?;
        let bytes = match corrupted(&bytes, &rules) {
            Some(changed) => {
                parts.headers.insert(
                    axum::http::header::CONTENT_LENGTH,
                    axum::http::HeaderValue::from(changed.len()),
                );
                bytes::Bytes::from(changed)
            }
            None => bytes,
        };
        Response::from_parts(parts, Body::from(bytes))
    };
    match fault {
        Some(Fault::Truncate) => {
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(|_| Dropped)?;
            let half = bytes.slice(..bytes.len() / 2);
            // The pause lets the head and the first half reach the client
            // before the error makes hyper cut the connection.
            let first = futures::stream::once(async move { Ok::<_, std::io::Error>(half) });
            let cut = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::other("fault injected: body truncated"))
            });
            Ok(Response::from_parts(
                parts,
                Body::from_stream(first.chain(cut)),
            ))
        }
        Some(Fault::SlowDrip) => {
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(|_| Dropped)?;
            let size = bytes.len().div_ceil(DRIP_PIECES).max(1);
            let drip = futures::stream::unfold((bytes, true), move |(rest, first)| async move {
                if rest.is_empty() {
                    return None;
                }
                if !first {
                    tokio::time::sleep(DRIP_PAUSE).await;
                }
                let mut rest = rest;
                let piece = rest.split_to(size.min(rest.len()));
                Some((Ok::<_, Infallible>(piece), (rest, false)))
            });
            Ok(Response::from_parts(parts, Body::from_stream(drip)))
        }
        _ => Ok(res),
    }
}

/// Binds `127.0.0.1:port` and serves until the returned task is aborted
/// (aborting it drops every open connection too).
pub(crate) async fn serve(
    shared: St,
    port: u16,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    let app = router(shared.clone());
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else {
                        // Out of file descriptors or similar: back off a little.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let (shared, app) = (shared.clone(), app.clone());
                    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), app.clone(), req));
                    conns.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(tcp), svc)
                            .await;
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Ok((addr, task))
}
