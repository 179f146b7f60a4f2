//! The client's pacing against local servers on 127.0.0.1:0, in real time:
//! a rate limit the client is not told (10 and 20 requests per second, with
//! and without `Retry-After`), a throttling code in a 200 body, a seeded
//! rate, and a server whose latency grows with the requests in flight.
//!
//! A client without pacing (8 in flight, every 429 pausing the account and
//! then refilling it all at once) gets about 45 % of its requests refused by
//! the limited server here; these short pulls allow 15 %.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connector_core::Error;
use connector_core::http::{Auth, HttpClient, HttpSettings, Request};
use futures::StreamExt;
use serde_json::{Value, json};

/// A server allowing `limit` requests per one-second window (counted from
/// its start); over it, 429 with `Retry-After` (the whole seconds left, at
/// least 1) when `retry_after`.
#[derive(Clone)]
struct Limited {
    limit: u32,
    retry_after: bool,
    epoch: Instant,
    window: Arc<Mutex<(u64, u32)>>,
    accepted: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

async fn limited(State(s): State<Limited>) -> Response {
    let elapsed = s.epoch.elapsed();
    let refused_for = {
        let mut w = s.window.lock().unwrap();
        let window = elapsed.as_secs();
        if w.0 != window {
            *w = (window, 0);
        }
        if w.1 >= s.limit {
            Some(
                Duration::from_secs(window + 1)
                    .saturating_sub(elapsed)
                    .as_secs_f64()
                    .ceil()
                    .max(1.0),
            )
        } else {
            w.1 += 1;
            None
        }
    };
    match refused_for {
        Some(secs) => {
            s.refused.fetch_add(1, Ordering::SeqCst);
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            if s.retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
            }
            r
        }
        None => {
            s.accepted.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"ok": true})).into_response()
        }
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn account() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("acct-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// Default settings (the user configured nothing) with quick backoffs.
fn defaults() -> HttpSettings {
    HttpSettings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_attempts: 20,
        ..HttpSettings::default()
    }
}

/// `n` GETs through `c`, 64 outstanding at a time (as a connector's
/// `buffered` fetches do); the time they took.
async fn pull(c: &HttpClient, n: usize) -> Duration {
    let start = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| async move {
            c.get_json::<Value>(&Request::new("/x", "/x").page(i as u32))
                .await
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        r.unwrap();
    }
    start.elapsed()
}

async fn against_a_limit(limit: u32, retry_after: bool) {
    let state = Limited {
        limit,
        retry_after,
        epoch: Instant::now(),
        window: Arc::default(),
        accepted: Arc::default(),
        refused: Arc::default(),
    };
    let base = serve(
        Router::new()
            .route("/x", get(limited))
            .with_state(state.clone()),
    )
    .await;
    let c = HttpClient::new("testvendor", &account(), &base, Auth::None, defaults()).unwrap();
    let n = 10 * limit as usize;
    let took = pull(&c, n).await;
    let accepted = state.accepted.load(Ordering::SeqCst);
    let refused = state.refused.load(Ordering::SeqCst);
    let case = format!(
        "{limit}/s, Retry-After {retry_after}: {n} requests in {took:?}, {refused} refused; {:?}",
        c.stats()
    );
    assert_eq!(accepted, n as u64, "{case}");
    let share = refused as f64 / (accepted + refused) as f64;
    // The first throttle costs the burst slow start had in flight (up to
    // about ten on a busy machine); after it, next to none.
    assert!(share <= 0.15, "429 share {share:.3}; {case}");
    let achieved = n as f64 / took.as_secs_f64() / f64::from(limit);
    assert!(
        achieved >= 0.8,
        "achieved {achieved:.3} of the limit; {case}"
    );
    // What was learned is visible.
    let stats = c.stats();
    assert_eq!(stats.throttled, refused, "{case}");
    let rate = stats.rate.expect("a learned rate");
    assert!(
        rate > 0.8 * f64::from(limit) && rate < 1.2 * f64::from(limit),
        "{case}"
    );
    assert!(stats.paused_secs >= 1.0, "{case}");
    assert!(stats.concurrency >= 1, "{case}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisclosed_limit_of_10_per_second_with_retry_after() {
    against_a_limit(10, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisclosed_limit_of_10_per_second_without_retry_after() {
    against_a_limit(10, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisclosed_limit_of_20_per_second_with_retry_after() {
    against_a_limit(20, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisclosed_limit_of_20_per_second_without_retry_after() {
    against_a_limit(20, false).await;
}

#[tokio::test]
async fn a_throttling_code_in_a_200_body_paces_the_account_like_a_429() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/x",
        get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    axum::Json(json!({"code": "TOO_FREQUENT"}))
                } else {
                    axum::Json(json!({"code": "OK", "n": n}))
                }
            }
        }),
    );
    let base = serve(app).await;
    let c = HttpClient::new("testvendor", &account(), &base, Auth::None, defaults()).unwrap();
    let req = Request::new("/x", "/x").page(1);
    let start = Instant::now();
    let r = c
        .get_with(&req, |ctx, body| {
            let v: Value = ctx.decode_body(body)?;
            if v["code"] == "TOO_FREQUENT" {
                return Err(Error::RateLimited {
                    vendor: ctx.vendor,
                    endpoint: ctx.endpoint.clone(),
                    page: ctx.page,
                    retry_after: Some(Duration::from_millis(700)),
                });
            }
            Ok(v)
        })
        .await
        .unwrap();
    assert_eq!(r.value["n"], 1);
    assert!(start.elapsed() >= Duration::from_millis(690));
    let stats = c.stats();
    assert_eq!((stats.requests, stats.retries, stats.throttled), (2, 1, 1));
    assert!(stats.paused_secs >= 0.69, "{stats:?}");
}

#[tokio::test]
async fn an_initial_rate_paces_from_the_first_request_and_is_reported() {
    let app = Router::new().route("/x", get(|| async { axum::Json(json!(1)) }));
    let base = serve(app).await;
    let settings = HttpSettings {
        initial_rate: Some(5.0),
        ..defaults()
    };
    let acct = account();
    let c = HttpClient::new("testvendor", &acct, &base, Auth::None, settings).unwrap();
    let took = pull(&c, 6).await;
    assert!(took >= Duration::from_millis(980), "{took:?}");
    let rate = c.pacing().rate.unwrap();
    assert!((rate - 5.0).abs() < 0.01, "{rate}");
    // Another client of the same account shares its pacing; another
    // account has its own.
    let same = HttpClient::new("testvendor", &acct, &base, Auth::None, defaults()).unwrap();
    assert!((same.pacing().rate.unwrap() - 5.0).abs() < 0.01);
    let other = HttpClient::new("testvendor", &account(), &base, Auth::None, defaults()).unwrap();
    assert_eq!(other.pacing().rate, None);
}

/// Latency 20 ms plus 2 ms per request in flight: throughput grows with
/// concurrency, more and more slowly. The pull ends within 1.5x the time
/// the best fixed concurrency (64, the ceiling) would take in theory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_that_grows_with_load_settles_near_the_best_concurrency() {
    let in_flight = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let app = Router::new().route(
        "/x",
        get(move || {
            let (f, p) = (f.clone(), p.clone());
            async move {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 + 2 * now)).await;
                f.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!(1))
            }
        }),
    );
    let base = serve(app).await;
    let c = HttpClient::new("testvendor", &account(), &base, Auth::None, defaults()).unwrap();
    let n = 1500;
    let took = pull(&c, n).await;
    let best = Duration::from_millis(20 + 2 * 64).mul_f64(n as f64 / 64.0);
    assert!(
        took.as_secs_f64() <= 1.5 * best.as_secs_f64(),
        "{took:?} against {best:?} in theory at 64; peak {} in flight; {:?}",
        peak.load(Ordering::SeqCst),
        c.stats()
    );
    assert!(c.stats().concurrency >= 16, "{:?}", c.stats());
}

/// `adaptive_concurrency=false`: the first wave already has `concurrency`
/// requests in flight at the server (the adaptive default starts at two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_concurrency_sends_its_whole_window_at_once() {
    let in_flight = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let app = Router::new().route(
        "/x",
        get(move || {
            let (f, p) = (f.clone(), p.clone());
            async move {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                // Long enough for the whole window to arrive on a busy machine.
                tokio::time::sleep(Duration::from_millis(300)).await;
                f.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!(1))
            }
        }),
    );
    let base = serve(app).await;
    let fixed = HttpSettings {
        max_in_flight: 16,
        adaptive_concurrency: false,
        ..defaults()
    };
    let c = HttpClient::new("testvendor", &account(), &base, Auth::None, fixed).unwrap();
    pull(&c, 16).await;
    assert_eq!(peak.load(Ordering::SeqCst), 16, "{:?}", c.stats());
    assert_eq!(c.stats().concurrency, 16);
    // The adaptive default, same ceiling: two, then four, then eight.
    peak.store(0, Ordering::SeqCst);
    let adaptive = HttpSettings {
        max_in_flight: 16,
        ..defaults()
    };
    let c = HttpClient::new("testvendor", &account(), &base, Auth::None, adaptive).unwrap();
    pull(&c, 16).await;
    assert!(peak.load(Ordering::SeqCst) <= 8, "{:?}", c.stats());
}
