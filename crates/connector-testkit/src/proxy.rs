//! A mangling proxy: put in front of any vendor's server, it passes
//! requests on and misbehaves as asked — repeated, shuffled and cycled
//! pages, redirects to another host, a 200 that is not the envelope, an
//! error status, faults on a share of requests. It knows a listing page by
//! the vendor's endpoint descriptions (path, page parameter, records key),
//! so it works for every vendor on the listing engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use connector_core::listing::{Endpoint, Paging, RecordsAt};
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// How a [`Proxy`] misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Mangle {
    /// It passes everything on.
    None,
    /// Every listing page after the first is the first page.
    RepeatFirstPage,
    /// Every listing page after the first is the first page, its records in
    /// reverse order.
    RepeatFirstPageShuffled,
    /// Listing pages 1 and 2 served in a cycle: page 3 is page 1, page 4 is
    /// page 2, …
    CycleTwoPages,
    /// Listing page `page` is a redirect (302) to the same path and query
    /// on `to` (an origin: `http://127.0.0.1:PORT`).
    RedirectPage {
        /// The page redirected.
        page: u32,
        /// The origin redirected to.
        to: String,
    },
    /// Listing page 1 is answered 200 with this body.
    FirstPageBody(Vec<u8>),
    /// Listing page 1 is answered with this status (and a JSON error body).
    FirstPageStatus(u16),
    /// More than this many requests in one second are answered 429 with
    /// `Retry-After: 1`, as a server's rate limit does.
    RateLimit(u32),
    /// A share (`rate`, 0..=1) of all requests gets a fault: 500, 502 or
    /// 503, 429 with `Retry-After: 0`, a 200 HTML page, a body cut short, or
    /// a connection closed mid-answer. Drawn from `seed`.
    Faults {
        /// The share of requests.
        rate: f64,
        /// The seed of the draw.
        seed: u64,
    },
}

/// One request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The path.
    pub path: String,
    /// The raw query.
    pub query: String,
    /// The listing endpoint it asked for, if any (its path).
    pub listing: Option<String>,
    /// The page number asked for, on a page-number listing.
    pub page: Option<u32>,
}

/// A listing page the proxy passed on unmangled.
#[derive(Debug, Clone)]
pub struct Served {
    /// The query string it was asked with (which listing of several it is
    /// on: the parameters a vendor pushes down differ between them).
    pub query: String,
    /// The page asked for (1 for a listing without page numbers).
    pub page: u32,
    /// The records of the page, as the server sent them.
    pub records: Vec<Value>,
}

struct State {
    upstream: String,
    base_path: String,
    listings: Vec<Endpoint>,
    mangle: Mangle,
    client: reqwest::Client,
    hits: Mutex<Vec<Hit>>,
    served: Mutex<Vec<Served>>,
    faults: AtomicU64,
    throttled: AtomicU64,
    draw: Mutex<rand::rngs::StdRng>,
    /// The second of the last request and the requests in it.
    second: Mutex<(u64, u32)>,
}

/// A running proxy on 127.0.0.1; it stops when dropped.
pub struct Proxy {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("mangle", &self.state.mangle)
            .finish()
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream_base_url` (a vendor's base URL,
    /// `http://127.0.0.1:PORT/kf5`), knowing the listing `endpoints`.
    ///
    /// # Panics
    /// When the base URL is not a URL or no loopback port can be bound (a
    /// test setup error).
    pub async fn start(upstream_base_url: &str, endpoints: Vec<Endpoint>, mangle: Mangle) -> Self {
        let base = url::Url::parse(upstream_base_url).expect("a base URL");
        let seed = match mangle {
            Mangle::Faults { seed, .. } => seed,
            _ => 0,
        };
        let state = Arc::new(State {
            upstream: base.origin().ascii_serialization(),
            base_path: base.path().trim_end_matches('/').to_owned(),
            listings: endpoints,
            mangle,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a reqwest client"),
            hits: Mutex::default(),
            served: Mutex::default(),
            faults: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            second: Mutex::new((0, 0)),
            draw: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let state = shared.clone();
            async move { answer(&state, &uri, &headers).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("an address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// The base URL to give the connector: the upstream's, on this proxy.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.state.base_path)
    }

    /// Every request so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.state.hits).clone()
    }

    /// The requests for listing pages so far.
    pub fn listing_hits(&self) -> usize {
        lock(&self.state.hits)
            .iter()
            .filter(|h| h.listing.is_some())
            .count()
    }

    /// The listing pages passed on unmangled (successful answers only), in
    /// the order they were answered.
    pub fn served(&self) -> Vec<Served> {
        lock(&self.state.served).clone()
    }

    /// The faults injected so far.
    pub fn faults(&self) -> u64 {
        self.state.faults.load(Ordering::Relaxed)
    }

    /// The requests answered 429 for going over the rate limit so far.
    pub fn throttled(&self) -> u64 {
        self.state.throttled.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn reply(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

const HTML: &str =
    "<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1></body></html>";

/// A body that sends `head` and then fails: the connection is cut.
fn cut_after(head: Bytes) -> Body {
    let parts = [
        Ok(head),
        Err(std::io::Error::other("connection cut by the proxy")),
    ];
    Body::from_stream(futures::stream::iter(parts))
}

async fn answer(state: &State, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let listing = state
        .listings
        .iter()
        .find(|e| path.strip_prefix(&state.base_path) == Some(e.path.as_str()));
    let page_param = listing.and_then(|e| match e.paging {
        Paging::Numbers(n) => Some(n.page_param),
        _ => None,
    });
    let page = page_param.map(|p| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == p)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1)
    });
    lock(&state.hits).push(Hit {
        path: path.clone(),
        query: query.clone(),
        listing: listing.map(|e| e.path.clone()),
        page,
    });
    let number = page.unwrap_or(1);
    // What to ask upstream: the page mangled, or as asked.
    let mut asked = page;
    let mut fault = None;
    match (&state.mangle, listing) {
        (Mangle::Faults { rate, .. }, _) => {
            let mut draw = lock(&state.draw);
            if draw.random_bool(rate.clamp(0.0, 1.0)) {
                fault = Some(draw.random_range(0..7u8));
            }
        }
        (Mangle::RateLimit(per_second), _) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut second = lock(&state.second);
            if second.0 != now {
                *second = (now, 0);
            }
            second.1 += 1;
            if second.1 > *per_second {
                state.throttled.fetch_add(1, Ordering::Relaxed);
                return Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header(header::RETRY_AFTER, "1")
                    .body(Body::from(r#"{"error":"rate limited"}"#))
                    .unwrap_or_else(|_| Response::new(Body::empty()));
            }
        }
        (Mangle::FirstPageStatus(status), Some(_)) if number == 1 => {
            let body = format!(r#"{{"error":"refused by the proxy","status":{status}}}"#);
            return reply(*status, "application/json", body);
        }
        (Mangle::FirstPageBody(body), Some(_)) if number == 1 => {
            return reply(200, "application/json", body.clone());
        }
        (Mangle::RedirectPage { page: p, to }, Some(_)) if number == *p => {
            let location = format!("{to}{}", uri.path_and_query().map_or("", |p| p.as_str()));
            return Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .unwrap_or_else(|_| Response::new(Body::empty()));
        }
        (Mangle::RepeatFirstPage | Mangle::RepeatFirstPageShuffled, Some(_)) if number > 1 => {
            asked = Some(1);
        }
        (Mangle::CycleTwoPages, Some(_)) if number > 2 => {
            asked = Some(2 - number % 2);
        }
        _ => {}
    }
    match fault {
        Some(0) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            return reply(500, "application/json", r#"{"error":"internal error"}"#);
        }
        Some(1) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            return reply(502, "text/html", HTML);
        }
        Some(2) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            return reply(503, "text/html", HTML);
        }
        Some(3) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header(header::RETRY_AFTER, "0")
                .body(Body::from(r#"{"error":"slow down"}"#))
                .unwrap_or_else(|_| Response::new(Body::empty()));
        }
        Some(4) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            return reply(200, "text/html", HTML);
        }
        _ => {}
    }
    // Forward, with the page asked for rewritten when mangling.
    let asked_with = query.clone();
    let query = match (asked, page, page_param) {
        (Some(a), Some(p), Some(param)) if a != p => {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    url::form_urlencoded::parse(query.as_bytes())
                        .filter(|(k, _)| k != param)
                        .chain([(param.into(), a.to_string().into())]),
                )
                .finish()
        }
        _ => query,
    };
    let target = if query.is_empty() {
        format!("{}{path}", state.upstream)
    } else {
        format!("{}{path}?{query}", state.upstream)
    };
    let mut request = state.client.get(target);
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let (status, body) = match request.send().await {
        Ok(r) => (r.status().as_u16(), r.bytes().await.unwrap_or_default()),
        Err(_) => return reply(502, "text/plain", "upstream unreachable"),
    };
    match fault {
        Some(5) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            let half = body.slice(..body.len() / 2);
            return Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(cut_after(half))
                .unwrap_or_else(|_| Response::new(Body::empty()));
        }
        Some(6) => {
            state.faults.fetch_add(1, Ordering::Relaxed);
            return Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(cut_after(Bytes::new()))
                .unwrap_or_else(|_| Response::new(Body::empty()));
        }
        _ => {}
    }
    let records_key = listing.map(|e| e.records);
    let body = match (&state.mangle, records_key) {
        (Mangle::RepeatFirstPageShuffled, Some(RecordsAt::List(key))) if number > 1 => {
            reversed(&body, key).unwrap_or(body)
        }
        _ => body,
    };
    if let (Some(at), 200, Mangle::None | Mangle::Faults { .. } | Mangle::RateLimit(_)) =
        (records_key, status, &state.mangle)
        && let Some(records) = records_of(&body, at)
    {
        lock(&state.served).push(Served {
            query: asked_with,
            page: number,
            records,
        });
    }
    reply(status, "application/json; charset=utf-8", body)
}

/// Where `key` (a key or a dotted path) is in a body, as a JSON pointer.
fn pointer(key: &str) -> String {
    format!("/{}", key.replace('.', "/"))
}

/// The records of a listing body, parsed.
fn records_of(body: &[u8], at: RecordsAt) -> Option<Vec<Value>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    match (v.pointer_mut(&pointer(at.key()))?.take(), at) {
        (Value::Array(items), RecordsAt::List(_)) => Some(items),
        (Value::Null, RecordsAt::List(_)) => Some(Vec::new()),
        (one, RecordsAt::One(_)) => Some(vec![one]),
        _ => None,
    }
}

/// A listing body with its records in reverse order.
fn reversed(body: &[u8], key: &str) -> Option<Bytes> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.pointer_mut(&pointer(key))?.as_array_mut()?.reverse();
    serde_json::to_vec(&v).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_under_a_key_or_a_dotted_path() {
        let body = br#"{"chats":[{"id":1},{"id":2}],"page":{"items":[{"id":3}]}}"#;
        let ids = |records: Option<Vec<Value>>| -> Vec<Value> {
            records
                .unwrap()
                .into_iter()
                .map(|r| r["id"].clone())
                .collect()
        };
        assert_eq!(ids(records_of(body, RecordsAt::List("chats"))), [1, 2]);
        assert_eq!(ids(records_of(body, RecordsAt::List("page.items"))), [3]);
        assert_eq!(records_of(body, RecordsAt::List("page.none")), None);
        let reversed = reversed(body, "chats").unwrap();
        assert_eq!(ids(records_of(&reversed, RecordsAt::List("chats"))), [2, 1]);
    }
}
