#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, Uri, header};
use bytes::Bytes;
use connector_core::http::HttpSettings;
use connector_core::registry::find;
use connector_core::{Connector, Conversation, Error, Query, Result};
use futures::StreamExt;

// The vendor crates are named so their registrations are linked.
pub use connector_bangwo8 as bangwo8;
pub use connector_caresoft as caresoft;
pub use connector_kf5 as kf5;

/// The three vendors, in the simulator's order.
pub const VENDORS: [&str; 3] = ["bangwo8", "caresoft", "kf5"];

/// HTTP settings for tests: millisecond backoffs, short timeouts, `attempts`
/// attempts per request.
pub fn fast_http(attempts: u32) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        max_attempts: attempts,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
        ..HttpSettings::default()
    }
}

/// Builds `vendor`'s connector the way a user does (key/values through the
/// registry), then replaces its HTTP settings with `http`.
///
/// # Errors
/// The connector's own [`Error::Config`].
pub fn connector(
    vendor: &str,
    values: Vec<(String, String)>,
    http: HttpSettings,
) -> Result<Box<dyn Connector>> {
    let resolved = find(vendor)?.resolve(values)?;
    Ok(match vendor {
        "bangwo8" => Box::new(bangwo8::Bangwo8Connector::new(
            bangwo8::Bangwo8Config::from_resolved(&resolved)?.with_http(http),
        )?),
        "kf5" => Box::new(kf5::Kf5Connector::new(
            kf5::Kf5Config::from_resolved(&resolved)?.with_http(http),
        )?),
        "caresoft" => Box::new(caresoft::CaresoftConnector::new(
            caresoft::CaresoftConfig::from_resolved(&resolved)?.with_http(http),
        )?),
        other => {
            return Err(Error::UnknownVendor {
                name: other.to_owned(),
                known: vec!["bangwo8".into(), "caresoft".into(), "kf5".into()],
            });
        }
    })
}

/// Everything one pull yielded, in order, and whether it ran out of time.
#[derive(Debug)]
pub struct Pulled {
    /// Each item of the stream.
    pub items: Vec<Result<Conversation>>,
    /// `true` when the pull did not end within the time allowed.
    pub timed_out: bool,
}

impl Pulled {
    /// The conversations.
    pub fn ok(&self) -> Vec<Conversation> {
        self.items
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect()
    }

    /// The errors.
    pub fn errors(&self) -> Vec<&Error> {
        self.items.iter().filter_map(|r| r.as_ref().err()).collect()
    }
}

/// Pulls `query` to the end of the stream, giving up after `limit` (a hang is
/// reported as `timed_out`, not waited for). A stream is read for at most
/// 100 000 items (a listing that never ends counts as a hang).
pub async fn pull(c: &dyn Connector, query: &Query, limit: Duration) -> Pulled {
    let mut items = Vec::new();
    let run = async {
        let mut stream = c.conversations(query);
        while let Some(item) = stream.next().await {
            items.push(item);
            if items.len() > 100_000 {
                return false;
            }
        }
        true
    };
    let finished = tokio::time::timeout(limit, run).await.unwrap_or(false);
    Pulled {
        items,
        timed_out: !finished,
    }
}

/// Checks that an error says what failed: it names the vendor, an endpoint
/// (a path) and a page; returns what is missing.
pub fn error_is_specific(e: &Error, vendor: &str) -> std::result::Result<(), String> {
    let text = e.to_string();
    let mut missing = Vec::new();
    if !text.contains(&format!("{vendor}: ")) {
        missing.push("the vendor");
    }
    if !text.contains('/') {
        missing.push("the endpoint");
    }
    if !matches!(e.root(), Error::Unauthenticated { .. }) && !text.contains(" page ") {
        missing.push("the page");
    }
    if text.contains('\n') || text.contains('\r') {
        missing.push("a single line (it has line breaks)");
    }
    if text.len() > 2_000 {
        missing.push("brevity (over 2000 characters)");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("error lacks {}: {text}", missing.join(", ")))
    }
}

/// Checks a pull against the truth: with no error, the conversations equal
/// the truth exactly; with errors, each error names what failed, and every
/// conversation that did arrive is complete, correct and not duplicated.
/// Returns whether the pull ended in an error.
///
/// # Panics
/// When the pull is silently short, duplicated, wrong, or its error is vague.
pub fn check_against_truth(vendor: &str, pulled: &Pulled, truth: &[Conversation]) -> bool {
    assert!(!pulled.timed_out, "{vendor}: the pull hung");
    let ok = pulled.ok();
    let errors = pulled.errors();
    if errors.is_empty() {
        connector_testkit::assert_same_conversations(&ok, truth);
        return false;
    }
    for e in &errors {
        if let Err(why) = error_is_specific(e, vendor) {
            panic!("{vendor}: {why}");
        }
    }
    let by_id: BTreeMap<&str, &Conversation> = truth.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for c in &ok {
        assert!(
            seen.insert(c.id.clone()),
            "{vendor}: conversation {} came twice",
            c.id
        );
        let want = by_id
            .get(c.id.as_str())
            .unwrap_or_else(|| panic!("{vendor}: conversation {} is not in the truth", c.id));
        connector_testkit::assert_same_conversations(std::slice::from_ref(c), &[(*want).clone()]);
    }
    true
}

/// One request a [`HostileServer`] received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The path.
    pub path: String,
    /// The raw query.
    pub query: String,
    /// The `Authorization` header, if any (tests check where credentials went).
    pub authorization: Option<String>,
}

impl Hit {
    /// A query parameter's value.
    pub fn param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_owned())
        })
    }

    /// The `page` parameter (1 when absent).
    pub fn page(&self) -> u32 {
        self.param("page").and_then(|p| p.parse().ok()).unwrap_or(1)
    }
}

/// What a [`HostileServer`] answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status and a body with a content type.
    Body {
        /// HTTP status.
        status: u16,
        /// Content-Type.
        content_type: &'static str,
        /// The bytes, sent as they are.
        body: Bytes,
    },
    /// 200 with a JSON-looking body that never ends.
    Endless,
    /// 200 with the head sent and then nothing, forever.
    Stall,
    /// 200 with a body that trickles one byte every 50 ms, forever (always
    /// under any size cap, never done).
    Trickle,
    /// A redirect (302) to this location.
    Redirect(String),
    /// A status with extra headers and a body.
    WithHeaders {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(&'static str, String)>,
        /// The body.
        body: Bytes,
    },
}

impl Reply {
    /// 200 with a JSON value.
    pub fn json(v: &serde_json::Value) -> Self {
        Self::bytes(serde_json::to_vec(v).expect("JSON serializes"))
    }

    /// 200 with raw bytes declared as JSON.
    pub fn bytes(b: impl Into<Bytes>) -> Self {
        Reply::Body {
            status: 200,
            content_type: "application/json; charset=utf-8",
            body: b.into(),
        }
    }

    fn into_response(self) -> Response<Body> {
        let mut res = match self {
            Reply::Body {
                status,
                content_type,
                body,
            } => {
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = StatusCode::from_u16(status).expect("a valid status");
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, content_type.parse().expect("valid"));
                r
            }
            Reply::WithHeaders {
                status,
                headers,
                body,
            } => {
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = StatusCode::from_u16(status).expect("a valid status");
                for (k, v) in headers {
                    r.headers_mut().insert(k, v.parse().expect("valid"));
                }
                r
            }
            Reply::Endless => {
                let chunk = Bytes::from(
                    std::iter::once(b'[')
                        .chain(std::iter::repeat_n(b' ', 64 * 1024 - 1))
                        .collect::<Vec<u8>>(),
                );
                let s =
                    futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
                Response::new(Body::from_stream(s))
            }
            Reply::Trickle => {
                let s = futures::stream::unfold(true, |first| async move {
                    if !first {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let byte: &'static [u8] = if first { b"[" } else { b" " };
                    Some((Ok::<_, std::io::Error>(Bytes::from_static(byte)), false))
                });
                Response::new(Body::from_stream(s))
            }
            Reply::Stall => {
                let s = futures::stream::pending::<std::result::Result<Bytes, std::io::Error>>();
                Response::new(Body::from_stream(s))
            }
            Reply::Redirect(to) => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::FOUND;
                r.headers_mut()
                    .insert(header::LOCATION, to.parse().expect("a valid location"));
                r
            }
        };
        res.headers_mut()
            .entry(header::CONTENT_TYPE)
            .or_insert("application/json".parse().expect("valid"));
        res
    }
}

type Handler = Arc<dyn Fn(&Hit) -> Reply + Send + Sync>;

/// A tiny HTTP server on 127.0.0.1 that answers every request with what a
/// closure says, and records what it was asked. It stops when dropped.
pub struct HostileServer {
    addr: std::net::SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl HostileServer {
    /// Starts a server answering with `handler`.
    ///
    /// # Panics
    /// Outside a tokio runtime, or when no port can be bound.
    pub async fn start(handler: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Self {
        let handler: Handler = Arc::new(handler);
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let log = hits.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, h: HeaderMap| {
            let (handler, log) = (handler.clone(), log.clone());
            async move {
                let hit = Hit {
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or("").to_owned(),
                    authorization: h
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                };
                log.lock().unwrap().push(hit.clone());
                handler(&hit).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("an address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, hits, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A reverse proxy on 127.0.0.1 in front of an upstream (the simulator) that
/// passes every answer through `mutate(request index, path, status, body)`,
/// which returns the body to send instead (or `None` to pass it on).
pub struct MutatingProxy {
    server: HostileServer,
}

impl std::fmt::Debug for MutatingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutatingProxy")
            .field("server", &self.server)
            .finish()
    }
}

/// A mutation hook of a [`MutatingProxy`].
pub type Mutator = Arc<dyn Fn(u64, &str, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

impl MutatingProxy {
    /// Starts the proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    ///
    /// The upstream is fetched with a blocking client on the handler's
    /// thread, which keeps the proxy small; it serves tests, one request at a
    /// time per connection.
    ///
    /// # Panics
    /// As [`HostileServer::start`].
    pub async fn start(upstream: String, mutate: Mutator) -> Self {
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let server = HostileServer::start(move |hit| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, body) = fetch_upstream(&upstream, hit);
            let body = mutate(n, &hit.path, &body).unwrap_or(body);
            Reply::Body {
                status,
                content_type: "application/json; charset=utf-8",
                body: Bytes::from(body),
            }
        })
        .await;
        Self { server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.server.hits()
    }
}

/// A minimal HTTP/1.1 GET over a plain TCP stream (the simulator on
/// loopback), returning the status and the body.
fn fetch_upstream(upstream: &str, hit: &Hit) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let host = upstream.trim_start_matches("http://");
    let mut tcp = match std::net::TcpStream::connect(host) {
        Ok(t) => t,
        Err(_) => return (502, b"upstream unreachable".to_vec()),
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let target = if hit.query.is_empty() {
        hit.path.clone()
    } else {
        format!("{}?{}", hit.path, hit.query)
    };
    let auth = hit
        .authorization
        .as_ref()
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    if tcp.write_all(req.as_bytes()).is_err() {
        return (502, b"upstream write failed".to_vec());
    }
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (502, b"upstream answered nothing".to_vec());
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, dechunk(&body));
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
}

/// The `chathaul` binary, built once per test process with
/// `cargo build -p chathaul-cli` into the target directory this test runs
/// from (a no-op when it is up to date).
///
/// # Panics
/// When the build fails.
pub fn chathaul_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test binary>
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a target/<profile> directory")
            .to_owned();
        let target_dir = profile_dir.parent().expect("a target directory").to_owned();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .and_then(Path::parent)
            .expect("the workspace root")
            .to_owned();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        // Not the variables `cargo test` gives this process (the package's
        // name, its dirs, the test's library path): build scripts that watch
        // them would see a change and rebuild everything, twice per run.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let injected = (key.starts_with("CARGO_")
                && !matches!(key.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR"))
                || matches!(
                    key.as_str(),
                    "OUT_DIR"
                        | "LD_LIBRARY_PATH"
                        | "DYLD_FALLBACK_LIBRARY_PATH"
                        | "RUST_TEST_THREADS"
                );
            if injected {
                cmd.env_remove(&key);
            }
        }
        cmd.current_dir(&workspace)
            .args(["build", "-q", "-p", "chathaul-cli", "--bin", "chathaul"])
            .arg("--target-dir")
            .arg(&target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "cargo build -p chathaul-cli failed");
        let bin = profile_dir.join(format!("chathaul{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}
