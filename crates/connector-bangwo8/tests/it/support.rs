//! A scripted Bangwo8 server on 127.0.0.1:0 and helpers to build a connector
//! against it and pull from it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use connector_bangwo8::{Bangwo8Config, Bangwo8Connector};
use connector_core::futures::StreamExt;
use connector_core::http::HttpSettings;
use connector_core::{Connector, Conversation, Error, Query};
use serde_json::Value;

/// The password every test uses; it must never show up in output.
pub const SECRET: &str = "pw-Bangwo8-s3cr3t-do-not-leak";
/// The account every test uses.
pub const ACCOUNT: &str = "admin@example.cn";

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            body: body.into(),
        }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

/// The scripted server: answers are keyed by path and `page` parameter.
#[derive(Clone, Default)]
pub struct Fake {
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    /// Every request as `path?query`, in arrival order.
    pub log: Arc<Mutex<Vec<String>>>,
    /// Every Authorization header seen.
    pub auth: Arc<Mutex<Vec<String>>>,
}

fn key(path: &str, page: Option<&str>) -> String {
    match page {
        None | Some("1") => path.to_owned(),
        Some(p) => format!("{path}?page={p}"),
    }
}

impl Fake {
    /// Scripts the answer for page 1 (or the page-less endpoint) of `path`.
    pub fn on(&self, path: &str, reply: Reply) -> &Self {
        self.replies.lock().unwrap().insert(key(path, None), reply);
        self
    }
    /// Scripts the answer for page `page` of `path`.
    pub fn on_page(&self, path: &str, page: u32, reply: Reply) -> &Self {
        self.replies
            .lock()
            .unwrap()
            .insert(key(path, Some(&page.to_string())), reply);
        self
    }
    /// The requests made so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    /// Starts serving; returns the base URL.
    pub async fn start(&self) -> String {
        let app = Router::new().fallback(answer).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/b8")
    }
}

async fn answer(State(fake): State<Fake>, req: Request) -> Response {
    let path = req
        .uri()
        .path()
        .strip_prefix("/b8")
        .unwrap_or(req.uri().path())
        .to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    fake.log.lock().unwrap().push(if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    });
    if let Some(a) = req.headers().get(header::AUTHORIZATION) {
        fake.auth
            .lock()
            .unwrap()
            .push(a.to_str().unwrap_or("").to_owned());
    }
    let page = query.split('&').find_map(|kv| kv.strip_prefix("page="));
    let reply = fake.replies.lock().unwrap().get(&key(&path, page)).cloned();
    match reply {
        None => (
            StatusCode::NOT_FOUND,
            format!("nothing scripted for {path} page {page:?}"),
        )
            .into_response(),
        Some(r) => (
            StatusCode::from_u16(r.status).unwrap(),
            [(header::CONTENT_TYPE, "application/json")],
            r.body,
        )
            .into_response(),
    }
}

/// A connector for `base_url` with the test credentials and fast retries.
pub fn connector(base_url: &str) -> Bangwo8Connector {
    let http = HttpSettings {
        max_attempts: 3,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(10),
        ..HttpSettings::default()
    };
    Bangwo8Connector::new(
        Bangwo8Config::new(ACCOUNT, SECRET)
            .with_base_url(base_url)
            .with_http(http),
    )
    .unwrap()
}

/// Everything a query yields, errors included, in order.
pub async fn pull(c: &Bangwo8Connector, q: &Query) -> Vec<Result<Conversation, Error>> {
    c.conversations(q).collect().await
}

/// Everything a query yields, which must all be conversations.
pub async fn pull_ok(c: &Bangwo8Connector, q: &Query) -> Vec<Conversation> {
    pull(c, q)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("unexpected error: {e}")))
        .collect()
}

/// The fixture directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    connector_testkit::fixture(fixtures(), name)
}

/// A fixture read as JSON (for fixtures that are valid JSON).
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A listing page with these sessions, a count and a next link (on www.bangwo8.com, as the API sends it).
pub fn listing(chats: Vec<Value>, count: Option<u64>, next: bool) -> String {
    serde_json::json!({
        "chats": chats,
        "count": count,
        "next_page": next.then_some("https://www.bangwo8.com/api/v1/imchat/histories.json?per_page=100&page=2"),
        "previous_page": null,
    })
    .to_string()
}

/// A chat-records page with these messages.
pub fn records(r_id: &str, contents: Vec<Value>, count: Option<u64>, next: bool) -> String {
    serde_json::json!({
        "im_chatrecords": {"r_id": r_id, "contents": contents},
        "count": count,
        "next_page": next.then(|| format!("https://www.bangwo8.com/api/v1/imchat/chatrecords/{r_id}.json?page=2")),
        "previous_page": null,
    })
    .to_string()
}

/// An empty listing page.
pub fn empty_listing() -> String {
    listing(Vec::new(), None, false)
}

/// Snapshots a value with the shared settings.
#[macro_export]
macro_rules! snap {
    ($name:expr, $value:expr) => {{
        let mut settings = connector_testkit::snapshot_settings();
        settings.set_snapshot_path("../snapshots");
        settings.bind(|| {
            insta::assert_yaml_snapshot!($name, connector_testkit::snapshot_value(&$value))
        })
    }};
}
