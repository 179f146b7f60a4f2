//! A tiny KF5 stand-in on 127.0.0.1:0: serves fixture pages or a generated
//! listing (with a page-size cap), chat details, checks basic auth, and logs
//! every request.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use connector_core::http::HttpSettings;
use connector_kf5::{Kf5Config, Kf5Connector};
use serde_json::{Value, json};

pub const EMAIL: &str = "agent@acme.cn";
pub const PASSWORD: &str = "pw-s3cret-hunter2";

/// What `/apiv2/chats.json` serves.
pub enum Listing {
    /// Page n is the n-th document; later pages are `{"chats": []}`.
    Pages(Vec<Value>),
    /// Chats served `min(per_page, cap)` at a time (`per_page` defaults to
    /// 100), filtered by `visitor_id` and `user_id`.
    Dataset { chats: Vec<Value>, cap: usize },
}

pub struct Server {
    pub url: String,
    state: Arc<Shared>,
}

struct Shared {
    listing: Listing,
    details: HashMap<String, Value>,
    authorization: String,
    detail_delay: bool,
    log: Mutex<Vec<(String, BTreeMap<String, String>)>>,
}

/// Standard base64 (padded), to build the expected Authorization header.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

pub fn fixtures_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

pub fn read_fixture(name: &str) -> Value {
    let text = connector_testkit::fixture(fixtures_dir(), name);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every chat detail the fixtures hold, by id: `chats_id_*.json` documents
/// (`{"chat": ...}`) and bare `chat_*.json` records.
pub fn fixture_details() -> HashMap<String, Value> {
    let mut details = HashMap::new();
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let chat = if name.starts_with("chats_id_") {
            read_fixture(&name)["chat"].clone()
        } else if name.starts_with("chat_") {
            read_fixture(&name)
        } else {
            continue;
        };
        let id = match &chat["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        details.insert(id, chat);
    }
    details
}

pub struct Builder {
    listing: Listing,
    details: HashMap<String, Value>,
    authorization: String,
    detail_delay: bool,
}

impl Builder {
    pub fn details(mut self, details: HashMap<String, Value>) -> Self {
        self.details = details;
        self
    }
    pub fn authorization(mut self, header: String) -> Self {
        self.authorization = header;
        self
    }
    /// Answers detail requests for lower ids later, so completion order is
    /// the reverse of listing order.
    pub fn detail_delay(mut self) -> Self {
        self.detail_delay = true;
        self
    }

    pub async fn start(self) -> Server {
        let state = Arc::new(Shared {
            listing: self.listing,
            details: self.details,
            authorization: self.authorization,
            detail_delay: self.detail_delay,
            log: Mutex::default(),
        });
        let app = Router::new()
            .route("/apiv2/chats.json", get(list))
            .route("/apiv2/chats/{file}", get(detail))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, state }
    }
}

impl Server {
    pub fn builder(listing: Listing) -> Builder {
        Builder {
            listing,
            details: HashMap::new(),
            authorization: basic(EMAIL, PASSWORD),
            detail_delay: false,
        }
    }

    /// The requests served so far: path and query.
    pub fn log(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.state.log.lock().unwrap().clone()
    }

    /// The `page` numbers asked of the listing, in order.
    pub fn list_pages(&self) -> Vec<u32> {
        self.log()
            .into_iter()
            .filter(|(p, _)| p == "/apiv2/chats.json")
            .map(|(_, q)| q.get("page").map_or(1, |p| p.parse().unwrap()))
            .collect()
    }

    /// A connector for this server (account `acme`, fast retries).
    pub fn connector(&self) -> Kf5Connector {
        Kf5Connector::new(self.config()).unwrap()
    }

    pub fn config(&self) -> Kf5Config {
        Kf5Config::new("acme", EMAIL, PASSWORD)
            .with_base_url(&self.url)
            .with_http(fast_http())
    }
}

pub fn fast_http() -> HttpSettings {
    HttpSettings {
        max_attempts: 5,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        ..HttpSettings::default()
    }
}

fn gate(
    s: &Shared,
    headers: &HeaderMap,
    path: String,
    query: &HashMap<String, String>,
) -> Option<Response> {
    s.log.lock().unwrap().push((
        path,
        query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    ));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (auth != s.authorization).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Couldn't authenticate you"})),
        )
            .into_response()
    })
}

async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = gate(&s, &headers, "/apiv2/chats.json".into(), &q) {
        return r;
    }
    let page: usize = q.get("page").map_or(1, |p| p.parse().unwrap());
    match &s.listing {
        Listing::Pages(pages) => {
            Json(pages.get(page - 1).cloned().unwrap_or(json!({"chats": []}))).into_response()
        }
        Listing::Dataset { chats, cap } => {
            let per_page: usize = q.get("per_page").map_or(100, |p| p.parse().unwrap());
            let size = per_page.min(*cap);
            let start = (page - 1) * size;
            // Honours the customer filters (not the dates: the client must
            // apply the window exactly whatever the server does).
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let matching = chats.iter().filter(|c| {
                ["visitor_id", "user_id"]
                    .iter()
                    .all(|k| q.get(*k).is_none_or(|want| text(&c[*k]) == *want))
            });
            let items: Vec<Value> = matching.skip(start).take(size).cloned().collect();
            Json(json!({ "chats": items })).into_response()
        }
    }
}

async fn detail(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    UrlPath(file): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = gate(&s, &headers, format!("/apiv2/chats/{file}"), &q) {
        return r;
    }
    let id = file.strip_suffix(".json").unwrap_or(&file);
    if s.detail_delay {
        let n: u64 = id.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(40u64.saturating_sub(n % 40))).await;
    }
    match s.details.get(id) {
        Some(chat) => Json(json!({ "chat": chat })).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "Not Found"}))).into_response(),
    }
}
