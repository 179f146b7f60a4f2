//! The HTTP server: one listener, every vendor under its path prefix, and the
//! adversity layer (latency, per-account rate limit, faults) in front of it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Request, Response};
use axum::routing::get;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::data::{self, stream};
use crate::http::{Params, Reply};
use crate::{Fault, SimOptions, SimStats, bangwo8, caresoft, kf5};

/// Everything a request needs, shared by all connections.
pub(crate) struct Shared {
    pub opts: SimOptions,
    pub bangwo8: bangwo8::Data,
    pub kf5: kf5::Data,
    pub caresoft: caresoft::Data,
    counters: Counters,
    limiter: Mutex<HashMap<String, (u64, u32)>>,
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

impl Shared {
    pub(crate) fn new(opts: SimOptions) -> Self {
        Self {
            bangwo8: bangwo8::Data::new(&opts),
            kf5: kf5::Data::new(&opts),
            caresoft: caresoft::Data::new(&opts),
            opts,
            counters: Counters::default(),
            limiter: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    pub(crate) fn stats(&self) -> SimStats {
        let c = &self.counters;
        SimStats {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
            per_vendor: crate::VENDORS
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

async fn bw_list(AxState(s): AxState<St>, h: HeaderMap, RawQuery(q): RawQuery) -> Response<Body> {
    done(
        bangwo8::check_auth(&h, true)
            .map_or_else(|| bangwo8::list(&s.bangwo8, None, &params(q)), Err),
    )
}

async fn bw_agent_list(
    AxState(s): AxState<St>,
    Path(file): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    done(bangwo8::check_auth(&h, true).map_or_else(
        || match file.strip_suffix(".json") {
            Some(agent) => bangwo8::list(&s.bangwo8, Some(agent), &params(q)),
            None => Err(not_found()),
        },
        Err,
    ))
}

async fn bw_records(
    AxState(s): AxState<St>,
    Path(file): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    done(
        bangwo8::check_auth(&h, false)
            .map_or_else(|| bangwo8::chatrecords(&s.bangwo8, &file, &params(q)), Err),
    )
}

async fn bw_summary(
    AxState(s): AxState<St>,
    Path(file): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    done(
        bangwo8::check_auth(&h, false)
            .map_or_else(|| bangwo8::summary(&s.bangwo8, &file, &params(q)), Err),
    )
}

async fn kf5_list(AxState(s): AxState<St>, h: HeaderMap, RawQuery(q): RawQuery) -> Response<Body> {
    done(kf5::check_auth(&h).map_or_else(|| kf5::list(&s.kf5, &params(q)), Err))
}

async fn kf5_detail(
    AxState(s): AxState<St>,
    Path(file): Path<String>,
    h: HeaderMap,
) -> Response<Body> {
    done(kf5::check_auth(&h).map_or_else(|| kf5::detail(&s.kf5, &file), Err))
}

async fn cs_list(AxState(s): AxState<St>, h: HeaderMap, RawQuery(q): RawQuery) -> Response<Body> {
    done(caresoft::check_auth(&h).map_or_else(|| caresoft::list(&s.caresoft, &params(q)), Err))
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
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let c = &shared.counters;
    let n = c.next.fetch_add(1, Ordering::Relaxed);
    c.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path();
    if let Some(k) = crate::VENDORS.iter().position(|v| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(v))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) {
        c.per_vendor[k].fetch_add(1, Ordering::Relaxed);
    }
    let opts = &shared.opts;
    let mut r = data::rng(opts.seed, 0, n, stream::REQUEST);
    let delay = opts.latency + opts.jitter.mul_f64(r.random::<f64>());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(limit) = opts.rate_limit
        && let Some(account) = crate::http::account_key(req.headers())
        && let Some(wait) = shared.throttle(account, limit)
    {
        c.throttled.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "error": "Too Many Requests",
            "message": format!("rate limit exceeded: at most {limit} requests per second per account"),
        });
        return Ok(Reply::json(429, &body)
            .with_header("retry-after", wait.to_string())
            .into_response());
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
        Some(Fault::Status500) => {
            let body =
                serde_json::json!({"error": "Internal Server Error", "message": "服务器内部错误"});
            return Ok(Reply::json(500, &body).into_response());
        }
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
