//! Normalization throughput on one core: wire JSON pages → model.
//!
//! A first pull through `chathaul::connect` against a loopback server in
//! front of the simulator records every page the connector asks for. Then,
//! on this thread only:
//! - **normalization**: every recorded page goes through the public page
//!   functions its connector runs on each page it receives (the listing
//!   engine's `decode_page` with the vendor's endpoint descriptions, or a
//!   vendor crate's `normalize`): envelope and record decoding, mapping to
//!   the model, `raw` kept; as many passes as it takes to measure;
//! - **whole pull**: pulls through `chathaul::connect` on a current-thread
//!   runtime, served from the recording (so the simulator's page generation
//!   is not measured): the above plus the HTTP client, paging and streams;
//! - **`Value` parse**: the same pages parsed into `serde_json::Value` trees
//!   and nothing else, for reference.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use chathaul::Query;
use chathaul_sim::{SimOptions, Simulator};
use futures::StreamExt;

use crate::util::{process_cpu_without, thread_cpu};

/// One vendor's figures.
#[derive(Debug, Clone)]
pub struct Row {
    pub vendor: &'static str,
    pub dataset: String,
    pub passes: u32,
    pub conversations: u64,
    pub messages: u64,
    pub bytes: u64,
    pub requests: u64,
    pub cpu: f64,
    pub wall: f64,
    /// CPU seconds to parse the same pages into `serde_json::Value` trees,
    /// nothing else, as many times as the whole pull's passes.
    pub parse_only_cpu: f64,
    /// Requests of the measured pulls for pages the recording did not hold:
    /// pages fetched ahead past a listing's end, dropped unread (a page a
    /// pull needed and did not find would have failed it).
    pub unrecorded: u64,
    /// Pure normalization: passes over the recorded pages, and what they made.
    pub norm_passes: u32,
    pub norm_conversations: u64,
    pub norm_messages: u64,
    pub norm_bytes: u64,
    pub norm_cpu: f64,
    /// CPU seconds of each pass over the pages (the machine is shared: the
    /// median pass is the figure, the spread shows the noise).
    pub norm_pass_cpu: Vec<f64>,
}

impl Row {
    pub fn per_cpu_sec(&self, n: u64) -> f64 {
        n as f64 / self.cpu.max(1e-9)
    }

    /// `n` (a total over every pass) per CPU second of the median pass, and
    /// of the fastest and slowest passes.
    pub fn norm_median_min_max(&self, n: u64) -> (f64, f64, f64) {
        let mut t = self.norm_pass_cpu.clone();
        t.sort_by(f64::total_cmp);
        let per_pass = n as f64 / t.len().max(1) as f64;
        let rate = |secs: f64| per_pass / secs.max(1e-9);
        match (t.first(), t.last()) {
            (Some(&fast), Some(&slow)) => (rate(t[t.len() / 2]), rate(slow), rate(fast)),
            _ => (0.0, 0.0, 0.0),
        }
    }
}

/// Normalizes one recorded page (`key`: the path and query it was served
/// at) with the vendor crate's public page functions; returns the
/// conversations and messages it made.
///
/// # Errors
/// The page's normalization error, naming vendor and page.
pub fn normalize_page(vendor: &str, key: &str, body: &[u8]) -> Result<(u64, u64), String> {
    use chathaul::decode::PageRef;
    use chathaul::time::Tz;
    let path = key.split('?').next().unwrap_or(key);
    let ctx = PageRef::new(leak(vendor), path, 1);
    let err = |e: chathaul::Error| format!("{vendor}: {key}: {e}");
    let msgs = |ms: &[chathaul::Message]| ms.len() as u64;
    match vendor {
        "bangwo8" => {
            use chathaul::bangwo8::{ChatRecords, SessionList};
            use chathaul::listing::decode_page;
            let zone = Tz::Asia__Shanghai;
            if path.contains("/chatrecords/") {
                let id = path.rsplit('/').next().unwrap_or_default();
                let id = id.strip_suffix(".json").unwrap_or(id);
                let page = decode_page(&ChatRecords::new(id, zone), &ctx, body).map_err(err)?;
                Ok((0, msgs(&page.items)))
            } else {
                let page =
                    decode_page(&SessionList::new("bench", zone), &ctx, body).map_err(err)?;
                Ok((page.items.len() as u64, 0))
            }
        }
        "kf5" => {
            use chathaul::kf5::{ChatDetail, ChatList, ListedChat};
            use chathaul::listing::decode_page;
            let zone = Tz::Asia__Shanghai;
            let count = |c: &ListedChat| match &c.messages {
                Some(Ok(m)) => Ok(msgs(m)),
                Some(Err(e)) => Err(format!("{vendor}: {key}: {e}")),
                None => Ok(0),
            };
            let chats = if path.ends_with("/chats.json") {
                decode_page(&ChatList::new("bench", zone, true), &ctx, body)
            } else {
                let id = path.rsplit('/').next().unwrap_or_default();
                let id = id.strip_suffix(".json").unwrap_or(id);
                let detail = ChatDetail::new(id, "bench", zone, true).map_err(err)?;
                decode_page(&detail, &ctx, body)
            }
            .map_err(err)?
            .items;
            let mut m = 0;
            for c in &chats {
                m += count(c)?;
            }
            if path.ends_with("/chats.json") {
                // Chats fetched again from their detail are counted there.
                let listed = chats.iter().filter(|c| c.messages.is_some()).count();
                Ok((listed as u64, m))
            } else {
                Ok((1, m))
            }
        }
        _ => {
            use chathaul::caresoft::{ChatList, ConversationType};
            use chathaul::listing::decode_page;
            let chats = ChatList::new("bench", Tz::Asia__Ho_Chi_Minh, ConversationType::LiveChat);
            let page = decode_page(&chats, &ctx, body).map_err(err)?;
            Ok((page.items.len() as u64, 0))
        }
    }
}

struct Replay {
    upstream: SocketAddr,
    recording: AtomicBool,
    cache: Mutex<HashMap<String, Bytes>>,
    misses: AtomicU64,
    client: reqwest::Client,
}

async fn replay(State(r): State<Arc<Replay>>, uri: Uri, headers: HeaderMap) -> Response {
    let key = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let hit = r
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    let body = match hit {
        Some(b) => b,
        None if r.recording.load(Ordering::Relaxed) => {
            let mut req = r.client.get(format!("http://{}{key}", r.upstream));
            for (k, v) in &headers {
                if k == "authorization" {
                    req = req.header(k, v);
                }
            }
            match req.send().await {
                Ok(res) if res.status().is_success() => match res.bytes().await {
                    Ok(b) => {
                        r.cache
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key, b.clone());
                        b
                    }
                    Err(_) => return status(StatusCode::BAD_GATEWAY),
                },
                Ok(res) => return status(res.status()),
                Err(_) => return status(StatusCode::BAD_GATEWAY),
            }
        }
        None => {
            r.misses.fetch_add(1, Ordering::Relaxed);
            return status(StatusCode::NOT_FOUND);
        }
    };
    Response::builder()
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn status(s: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = s;
    r
}

/// Starts the replaying server on a thread of its own (one worker).
fn start_replay(upstream: SocketAddr) -> (SocketAddr, Arc<Replay>) {
    let state = Arc::new(Replay {
        upstream,
        recording: AtomicBool::new(true),
        cache: Mutex::new(HashMap::new()),
        misses: AtomicU64::new(0),
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a reqwest client"),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let st = state.clone();
    std::thread::Builder::new()
        .name("replay".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("replay")
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                tx.send(listener.local_addr().expect("an address"))
                    .expect("the main thread waits");
                let app = Router::new().fallback(replay).with_state(st);
                axum::serve(listener, app)
                    .await
                    .expect("the replay server runs");
            });
        })
        .expect("a thread");
    (rx.recv().expect("the replay server starts"), state)
}

/// One pull through `config`, counted.
async fn pull_once(
    vendor: &str,
    config: &[(String, String)],
    query: &Query,
) -> Result<(u64, u64, u64, u64), String> {
    let conn = chathaul::connect(vendor, config.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())?;
    let (mut convs, mut msgs) = (0u64, 0u64);
    let mut stream = conn.conversations(query);
    while let Some(c) = stream.next().await {
        let c = c.map_err(|e| e.to_string())?;
        convs += 1;
        msgs += c.messages.len() as u64;
        drop(c);
    }
    drop(stream);
    let http = conn.stats().http;
    Ok((convs, msgs, http.bytes, http.requests))
}

/// The dataset per vendor: many messages per conversation for the vendors
/// that have messages, so message pages are full 100-record pages.
fn dataset(vendor: &str, tiny: bool) -> SimOptions {
    let (conversations, messages) = match (vendor, tiny) {
        ("caresoft", false) => (30_000, 1),
        ("caresoft", true) => (300, 1),
        (_, false) => (2_000, 60),
        (_, true) => (20, 12),
    };
    SimOptions {
        conversations,
        messages,
        ..SimOptions::default()
    }
}

/// Every page one pull of a vendor's dataset received, held by a loopback
/// server that replays them (the simulator is gone once they are recorded).
pub struct Recording {
    /// The dataset, in words.
    pub dataset: String,
    /// The connector config that points at the replaying server.
    config: Vec<(String, String)>,
    query: Query,
    state: Arc<Replay>,
}

impl Recording {
    /// The recorded pages: the path and query each was served at, and its body.
    pub fn pages(&self) -> Vec<(String, Bytes)> {
        let mut pages: Vec<(String, Bytes)> = self
            .state
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pages.sort_by(|a, b| a.0.cmp(&b.0));
        pages
    }
}

/// Pulls `vendor`'s dataset (tiny or full) once through `chathaul::connect`
/// (messages included, summaries not) via a loopback server in front of the
/// simulator that records every page; from then on that server replays them
/// and the simulator is stopped.
///
/// # Errors
/// When the simulator does not start or the pull fails.
pub fn record(rt: &tokio::runtime::Runtime, vendor: &str, tiny: bool) -> Result<Recording, String> {
    let opts = dataset(vendor, tiny);
    let dataset = format!(
        "{} conversations, {} messages mean",
        opts.conversations, opts.messages
    );
    let sim = Simulator::start_blocking(opts).map_err(|e| e.to_string())?;
    let (addr, state) = start_replay(sim.addr());
    let config: Vec<(String, String)> = sim
        .config(vendor)
        .into_iter()
        .map(|(k, v)| {
            if k == "base_url" {
                (k, format!("http://{addr}/{vendor}"))
            } else {
                (k, v)
            }
        })
        .collect();
    let query = Query::new().with_messages(vendor != "caresoft");
    // Record every page, then replay from memory only.
    rt.block_on(pull_once(vendor, &config, &query))
        .map_err(|e| format!("{vendor}: recording pass: {e}"))?;
    state.recording.store(false, Ordering::Relaxed);
    drop(sim);
    Ok(Recording {
        dataset,
        config,
        query,
        state,
    })
}

/// Measures every vendor; at least `min_cpu` of client CPU per vendor.
///
/// For profiling the page functions with `perf`: `BENCH_PAGES_ONLY=1` runs
/// one whole pull per vendor and no `Value` parse; `BENCH_VENDORS=kf5,…`
/// picks the vendors, `BENCH_ORDER=kf5,bangwo8,caresoft` their order.
pub fn run(tiny: bool) -> Result<Vec<Row>, String> {
    let pages_only = std::env::var_os("BENCH_PAGES_ONLY").is_some();
    let min_cpu = if tiny {
        Duration::ZERO
    } else {
        Duration::from_millis(2500)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let wanted = std::env::var("BENCH_VENDORS").unwrap_or_default();
    let order = std::env::var("BENCH_ORDER").unwrap_or_else(|_| "bangwo8,kf5,caresoft".into());
    for vendor in order.split(',').map(leak) {
        if !wanted.is_empty() && !wanted.split(',').any(|w| w == vendor) {
            continue;
        }
        let rec = record(&rt, vendor, tiny)?;
        let Recording {
            dataset,
            config,
            query,
            state,
        } = &rec;
        let mut row = Row {
            vendor: leak(vendor),
            dataset: dataset.clone(),
            passes: 0,
            conversations: 0,
            messages: 0,
            bytes: 0,
            requests: 0,
            cpu: 0.0,
            wall: 0.0,
            parse_only_cpu: 0.0,
            unrecorded: 0,
            norm_passes: 0,
            norm_conversations: 0,
            norm_messages: 0,
            norm_bytes: 0,
            norm_cpu: 0.0,
            norm_pass_cpu: Vec::new(),
        };
        let (mut cpu, mut wall) = (Duration::ZERO, Duration::ZERO);
        while row.passes == 0 || (cpu < min_cpu && !pages_only) {
            // The pull's threads (a connector may decode pages on tokio's
            // blocking pool), not the replay server's.
            let (c0, w0) = (process_cpu_without("replay"), Instant::now());
            let (convs, msgs, bytes, requests) = rt
                .block_on(pull_once(vendor, config, query))
                .map_err(|e| format!("{vendor}: measured pass: {e}"))?;
            cpu += process_cpu_without("replay").saturating_sub(c0);
            wall += w0.elapsed();
            row.passes += 1;
            row.conversations += convs;
            row.messages += msgs;
            row.bytes += bytes;
            row.requests += requests;
        }
        // A listing read ahead may ask for pages past its end that the
        // recording pass did not send (it dropped them sooner): answered
        // 404 and dropped unread. A page the pull needed would have failed
        // the pass above.
        row.unrecorded = state.misses.load(Ordering::Relaxed);
        row.cpu = cpu.as_secs_f64();
        row.wall = wall.as_secs_f64();
        let pages = rec.pages();
        // Normalization alone, page by page.
        let norm_min = if pages_only { min_cpu * 4 } else { min_cpu };
        let mut norm = Duration::ZERO;
        while row.norm_passes == 0 || norm < norm_min {
            let c0 = thread_cpu();
            for (key, body) in &pages {
                let (c, m) = normalize_page(vendor, key, body)?;
                row.norm_conversations += c;
                row.norm_messages += m;
                row.norm_bytes += body.len() as u64;
            }
            let pass = thread_cpu().saturating_sub(c0);
            norm += pass;
            row.norm_pass_cpu.push(pass.as_secs_f64());
            row.norm_passes += 1;
        }
        row.norm_cpu = norm.as_secs_f64();
        // The same pages, as many times as the pull, parsed into `Value` trees only.
        let c0 = thread_cpu();
        for _ in 0..row.passes * u32::from(!pages_only) {
            for (_, b) in &pages {
                let v: serde_json::Value = serde_json::from_slice(b)
                    .map_err(|e| format!("{vendor}: a recorded page: {e}"))?;
                drop(std::hint::black_box(v));
            }
        }
        row.parse_only_cpu = thread_cpu().saturating_sub(c0).as_secs_f64();
        rows.push(row);
    }
    Ok(rows)
}

fn leak(s: &str) -> &'static str {
    match s {
        "bangwo8" => "bangwo8",
        "kf5" => "kf5",
        _ => "caresoft",
    }
}
