//! The fake vendor's API on 127.0.0.1, from a seeded dataset, with the
//! ground truth built from the generated records (never by parsing what is
//! served): basic auth, page numbers (`size` at most 50), `total`s, the
//! filters the connector pushes down, a messages endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, TimeZone, Utc};
use connector_core::{
    Agent, Channel, Conversation, Message, MessageKind, Rating, RawJson, Role, Satisfaction,
    Sender, Status,
};
use connector_testkit::{Dataset, TestServer};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const ACCOUNT: &str = "demo";
const PASSWORD: &str = "fake-demo-s3cret";
const TEXTS: &[&str] = &[
    "你好,在吗?",
    "Xin chào, tôi cần hỗ trợ",
    "ok 👍",
    "",
    "thanks!",
];

struct Record {
    json: Value,
    messages: Vec<Value>,
    truth: Conversation,
}

/// A running fake API; it stops when dropped.
pub struct FakeServer {
    url: String,
    records: Arc<Vec<Record>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn generate(d: Dataset) -> Vec<Record> {
    let mut r = rand::rngs::StdRng::seed_from_u64(d.seed);
    let mut at = Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
    let agents = [("a1", "Ana"), ("a2", "Bảo"), ("a3", "李雷"), ("a4", "Kim")];
    (0..d.conversations as u64)
        .map(|i| {
            let id = 1000 + 3 * i + r.random_range(0..3);
            at += Duration::seconds(r.random_range(600..20_000));
            let ended = r
                .random_bool(0.8)
                .then(|| at + Duration::seconds(r.random_range(60..3600)));
            let agent = r
                .random_bool(0.85)
                .then(|| agents[r.random_range(0..agents.len())]);
            let customer = format!(
                "c{}",
                r.random_range(0..(d.conversations as u64 / 3).max(1))
            );
            let channel = ["web", "email", "phone"][r.random_range(0..3)];
            let stars = r.random_bool(0.6).then(|| r.random_range(1..=5u64));
            let json = json!({
                "id": id,
                "channel": channel,
                "agent": agent.map(|(a, n)| json!({"id": a, "name": n})),
                "customer": customer,
                "started_at": stamp(at),
                "ended_at": ended.map(stamp),
                "rating": stamp_rating(stars),
            });
            let count = r.random_range(0..=2 * d.messages);
            let messages: Vec<(Value, DateTime<Utc>, bool, &str)> = (0..count)
                .map(|k| {
                    let sent = at + Duration::seconds(10 * k as i64 + r.random_range(0..10));
                    let by_agent = r.random_bool(0.5);
                    let text = TEXTS[r.random_range(0..TEXTS.len())];
                    let m = json!({
                        "id": id * 1000 + k as u64 + 1,
                        "from": if by_agent { "agent" } else { "customer" },
                        "text": text,
                        "at": stamp(sent),
                    });
                    (m, sent, by_agent, text)
                })
                .collect();
            let mut truth = Conversation::new("fake", ACCOUNT, id.to_string());
            truth.channel = Some(match channel {
                "web" => Channel::Web,
                "email" => Channel::Email,
                _ => Channel::Phone,
            });
            truth.agent = agent.map(|(a, n)| Agent {
                id: Some(a.into()),
                name: Some(n.into()),
                ..Agent::default()
            });
            truth.agents = truth.agent.iter().cloned().collect();
            truth.customer.id = Some(customer);
            truth.created_at = Some(at);
            truth.ended_at = ended;
            truth.status = Some(if ended.is_some() {
                Status::Closed
            } else {
                Status::Open
            });
            truth.rating = Some(match stars {
                None => Rating::unrated(),
                Some(s) => Rating {
                    satisfaction: match s {
                        1 | 2 => Satisfaction::Dissatisfied,
                        3 => Satisfaction::Neutral,
                        _ => Satisfaction::Satisfied,
                    },
                    score: Some(s.to_string()),
                    ..Rating::unrated()
                },
            });
            truth.set_messages(
                messages
                    .iter()
                    .map(|(m, sent, by_agent, text)| Message {
                        id: Some(m["id"].to_string()),
                        sender: Sender {
                            role: if *by_agent {
                                Role::Agent
                            } else {
                                Role::Customer
                            },
                            id: None,
                            name: None,
                        },
                        kind: Some(MessageKind::Text),
                        text: (!text.is_empty()).then(|| (*text).to_owned()),
                        sent_at: Some(*sent),
                        read: None,
                        attachments: Vec::new(),
                        raw: RawJson::from(m.clone()),
                    })
                    .collect(),
            );
            truth.raw = RawJson::from(json.clone());
            Record {
                json,
                messages: messages.into_iter().map(|(m, ..)| m).collect(),
                truth,
            }
        })
        .collect()
}

/// Stars as some servers send them: a number, or its text.
fn stamp_rating(stars: Option<u64>) -> Value {
    match stars {
        Some(s) if s % 2 == 0 => Value::from(s.to_string()),
        Some(s) => Value::from(s),
        None => Value::Null,
    }
}

impl FakeServer {
    /// Serves `dataset` on a free loopback port.
    pub async fn start(dataset: Dataset) -> Self {
        let records = Arc::new(generate(dataset));
        let api = Router::new()
            .route("/v1/conversations.json", get(list))
            .route("/v1/conversations/{file}", get(one))
            .route("/v1/conversations/{id}/messages.json", get(messages))
            .with_state(records.clone());
        let app = Router::new().nest("/api", api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, records, task }
    }
}

impl TestServer for FakeServer {
    fn config(&self) -> Vec<(String, String)> {
        [
            ("base_url", self.url.as_str()),
            ("account", ACCOUNT),
            ("password", PASSWORD),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
    }

    fn truth(&self) -> Vec<Conversation> {
        self.records.iter().map(|r| r.truth.clone()).collect()
    }
}

type Records = State<Arc<Vec<Record>>>;
type Params = Query<HashMap<String, String>>;

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `None` when the basic credentials are right.
fn refused(headers: &HeaderMap) -> Option<Response> {
    use base64_basic::encode;
    let want = format!("Basic {}", encode(&format!("{ACCOUNT}:{PASSWORD}")));
    let got = headers.get("authorization").and_then(|v| v.to_str().ok());
    (got != Some(want.as_str())).then(|| error(StatusCode::UNAUTHORIZED, "unauthorized"))
}

/// `page` and `size` (at most 50), or what is wrong with them.
fn paging(p: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let number = |key: &str, default: usize| match p.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("bad {key}")),
    };
    Ok((number("page", 1)?, number("size", 20)?.min(50)))
}

fn page_of<'a>(items: impl Iterator<Item = &'a Value>, page: usize, size: usize) -> Vec<Value> {
    items.skip((page - 1) * size).take(size).cloned().collect()
}

async fn list(State(records): Records, headers: HeaderMap, Query(p): Params) -> Response {
    if let Some(r) = refused(&headers) {
        return r;
    }
    let time = |key: &str| match p.get(key) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| format!("bad {key}")),
    };
    let ((page, size), since, until) = match (paging(&p), time("since"), time("until")) {
        (Ok(paging), Ok(s), Ok(u)) => (paging, s, u),
        (Err(m), ..) | (_, Err(m), _) | (.., Err(m)) => {
            return error(StatusCode::BAD_REQUEST, &m);
        }
    };
    let matching: Vec<&Record> = records
        .iter()
        .filter(|r| {
            let t = r.truth.created_at;
            since.is_none_or(|s| t >= Some(s))
                && until.is_none_or(|u| t.is_some_and(|t| t < u))
                && p.get("agent")
                    .is_none_or(|a| r.json["agent"]["id"] == a.as_str())
                && p.get("customer")
                    .is_none_or(|c| r.json["customer"] == c.as_str())
        })
        .collect();
    let items = page_of(matching.iter().map(|r| &r.json), page, size);
    Json(json!({"conversations": items, "total": matching.len()})).into_response()
}

fn find<'a>(records: &'a [Record], id: &str) -> Option<&'a Record> {
    let id: u64 = id.parse().ok()?;
    records.iter().find(|r| r.json["id"] == id)
}

async fn one(State(records): Records, headers: HeaderMap, Path(file): Path<String>) -> Response {
    if let Some(r) = refused(&headers) {
        return r;
    }
    let id = file.strip_suffix(".json").unwrap_or(&file);
    match find(&records, id) {
        Some(r) => Json(json!({"conversation": r.json})).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such conversation"),
    }
}

async fn messages(
    State(records): Records,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Params,
) -> Response {
    if let Some(r) = refused(&headers) {
        return r;
    }
    let (page, size) = match paging(&p) {
        Ok(v) => v,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    match find(&records, &id) {
        Some(r) => Json(json!({
            "messages": page_of(r.messages.iter(), page, size),
            "total": r.messages.len(),
        }))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such conversation"),
    }
}

/// Standard base64, for the expected basic-auth header.
mod base64_basic {
    pub fn encode(text: &str) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in text.as_bytes().chunks(3) {
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
}
