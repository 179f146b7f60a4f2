//! Requests per second the simulator serves with no latency: 8 concurrent
//! keep-alive clients for about 3 s per endpoint. Prints figures; asserts nothing.
//!
//! `cargo bench -p chathaul-sim`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chathaul_sim::{SimOptions, Simulator};

const CLIENTS: usize = 8;
const RUN: Duration = Duration::from_secs(3);

enum Auth {
    Basic(&'static str, &'static str),
    Bearer(&'static str),
}

async fn measure(sim: &Simulator, name: &str, url: String, auth: Auth) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let auth = Arc::new(auth);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        let (done, bytes, errors) = (done.clone(), bytes.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < RUN {
                let req = match &*auth {
                    Auth::Basic(u, p) => client.get(&url).basic_auth(u, Some(p)),
                    Auth::Bearer(t) => client.get(&url).bearer_auth(t),
                };
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        let body = res.bytes().await.unwrap_or_default();
                        bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{name:<44} {:>9.0} req/s  {:>7.1} MB/s  ({n} requests, {} errors, {CLIENTS} clients, {secs:.1} s; server saw {})",
        n as f64 / secs,
        bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
        errors.load(Ordering::Relaxed),
        sim.stats().requests,
    );
}

/// Conversations per second of ground truth (generation, rendering and mapping, no HTTP).
fn truth_rate(vendor: &str) {
    let opts = SimOptions {
        conversations: 20_000,
        ..SimOptions::default()
    };
    let start = Instant::now();
    let (mut n, mut messages) = (0u64, 0u64);
    for c in chathaul_sim::truth(&opts, vendor) {
        n += 1;
        messages += c.messages.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<44} {:>9.0} conv/s  {:>9.0} msg/s",
        format!("{vendor} truth (no HTTP)"),
        n as f64 / secs,
        messages as f64 / secs
    );
}

fn main() {
    for vendor in chathaul_sim::VENDORS {
        truth_rate(vendor);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = Simulator::start(SimOptions { conversations: 100_000, ..SimOptions::default() }).await.unwrap();
        let bw8 = || Auth::Basic("admin@demo", "bangwo8-demo-password");
        let kf5 = || Auth::Basic("agent@demo.kf5.com", "kf5-demo-password");
        let cs = || Auth::Bearer("caresoft-demo-token");
        let b = |v: &str, p: &str| format!("{}{p}", sim.base_url(v));
        println!("chathaul-sim throughput, no latency, 100000 conversations per vendor");
        measure(&sim, "bangwo8 histories per_page=1", b("bangwo8", "/api/v1/imchat/histories.json?per_page=1&page=777"), bw8()).await;
        measure(&sim, "bangwo8 histories per_page=100", b("bangwo8", "/api/v1/imchat/histories.json?page=500"), bw8()).await;
        let id = chathaul_sim::truth(&SimOptions::default(), "bangwo8").next().unwrap().id;
        measure(&sim, "bangwo8 chatrecords", b("bangwo8", &format!("/api/v1/imchat/chatrecords/{id}.json")), bw8()).await;
        measure(&sim, "kf5 chats per_page=100", b("kf5", "/apiv2/chats.json?page=300"), kf5()).await;
        measure(&sim, "caresoft chats count=1 (scan to page 10)", b("caresoft", "/api/v1/chats?count=1&page=10&start_time_since=2024-02-01T00:00:00Z&start_time_to=2024-02-01T06:00:00Z"), cs()).await;
    });
}
