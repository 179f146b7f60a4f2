//! A tiny CareSoft stand-in on 127.0.0.1:0 for the HTTP-path tests: it checks
//! the bearer token, records every request's query, and answers with whatever
//! the test's handler says.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The token the stand-in accepts.
pub const TOKEN: &str = "test-token-7f3a9c";

/// One request's query parameters, in order.
pub type Params = Vec<(String, String)>;

type Handler = dyn Fn(&Params) -> (u16, String) + Send + Sync;

#[derive(Clone)]
struct AppState {
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Params>>>,
}

/// A running stand-in.
pub struct Server {
    /// The base URL to configure (`http://127.0.0.1:PORT/caresoft`).
    pub base_url: String,
    log: Arc<Mutex<Vec<Params>>>,
}

impl Server {
    /// Every request's query parameters so far, in arrival order.
    pub fn requests(&self) -> Vec<Params> {
        self.log.lock().unwrap().clone()
    }

    /// `(conversation_type, page)` of every request so far.
    pub fn pages(&self) -> Vec<(String, String)> {
        self.requests()
            .iter()
            .map(|p| {
                (
                    param(p, "conversation_type").unwrap_or_default(),
                    param(p, "page").unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// The first value of a parameter.
pub fn param(params: &Params, key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// A page of `records` (slice `page`/`count` of them), as the API would send it.
pub fn page_of(records: &[serde_json::Value], params: &Params) -> String {
    let page: usize = param(params, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let count: usize = param(params, "count")
        .and_then(|p| p.parse().ok())
        .unwrap_or(20);
    let start = ((page - 1) * count).min(records.len());
    let end = (start + count).min(records.len());
    serde_json::json!({"code": "OK", "numFound": records.len(), "chats": &records[start..end]})
        .to_string()
}

/// Starts a stand-in serving `GET /caresoft/api/v1/chats` with `handler`.
pub async fn serve(handler: impl Fn(&Params) -> (u16, String) + Send + Sync + 'static) -> Server {
    let log = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        handler: Arc::new(handler),
        log: log.clone(),
    };
    let app = Router::new()
        .route("/caresoft/api/v1/chats", get(chats))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base_url: format!("http://{addr}/caresoft"),
        log,
    }
}

async fn chats(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"code":"UNAUTHORIZED","message":"Token không hợp lệ"}"#,
        )
            .into_response();
    }
    st.log.lock().unwrap().push(params.clone());
    let (status, body) = (st.handler)(&params);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}
