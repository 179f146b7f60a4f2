//! Table D: process start to first request, and a tiny pull end to end.
//!
//! The programs talk to the simulator through a loopback proxy that notes
//! when the first byte of the first request arrives; the time from spawning
//! the process to that byte is the start-up a user waits before anything
//! goes on the network.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use chathaul_sim::SimOptions;

use crate::e2e::{self, Tools};
use crate::util::{count_jsonl, median};

/// The vendor and size of the tiny account: CareSoft has no messages, so a
/// pull of a thousand conversations is a few listing pages.
pub const VENDOR: &str = "caresoft";
/// Conversations of the tiny account.
pub const CONVERSATIONS: usize = 1_000;

/// Runs of each program (the figures are medians).
pub fn runs(tiny: bool) -> usize {
    if tiny { 2 } else { 11 }
}

/// A loopback proxy in front of `upstream` that notes when the first byte
/// from a client arrives.
struct FirstByteProxy {
    addr: SocketAddr,
    first: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FirstByteProxy {
    fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let first: Arc<Mutex<Option<Instant>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (first.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("first-byte-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let f = f.clone();
                    std::thread::spawn(move || forward(client, upstream, &f));
                }
            })?;
        Ok(Self {
            addr,
            first,
            stop,
            accept: Some(accept),
        })
    }

    /// Forgets the last first byte.
    fn arm(&self) {
        *self.first.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn first_byte(&self) -> Option<Instant> {
        *self.first.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FirstByteProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Copies `client` to `upstream` and back, noting the first byte in.
fn forward(mut client: TcpStream, upstream: SocketAddr, first: &Mutex<Option<Instant>>) {
    let mut buf = [0u8; 16 * 1024];
    let n = match client.read(&mut buf) {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    {
        let mut f = first.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert_with(Instant::now);
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    if server.write_all(&buf[..n]).is_err() {
        return;
    }
    let (Ok(mut client_back), Ok(mut server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_in, &mut client_back);
        let _ = client_back.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// The medians (and the fastest) of one program's runs, in seconds.
#[derive(Debug, Clone)]
pub struct Timing {
    pub program: String,
    /// Spawn to the first byte of the first request, per run (none for a
    /// program that sends nothing).
    pub first_request: Vec<f64>,
    /// Spawn to exit, per run.
    pub wall: Vec<f64>,
    /// Requests the simulator received in one run.
    pub requests: u64,
    /// Conversations written in one run.
    pub conversations: u64,
    pub error: Option<String>,
}

impl Timing {
    pub fn first_request_median(&self) -> f64 {
        median(&self.first_request)
    }
    pub fn wall_median(&self) -> f64 {
        median(&self.wall)
    }
    pub fn wall_fastest(&self) -> f64 {
        self.wall.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// The simulator behind its proxy, and how many runs each program gets.
struct Harness<'a> {
    proxy: &'a FirstByteProxy,
    sim: &'a chathaul_sim::Simulator,
    runs: usize,
}

impl Harness<'_> {
    /// Spawns `program args` with `env` [`Harness::runs`] times; `out` is
    /// the JSONL it writes, counted and removed after each run.
    fn time(
        &self,
        label: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        out: Option<&Path>,
    ) -> Timing {
        let (proxy, sim, n) = (self.proxy, self.sim, self.runs);
        let mut t = Timing {
            program: label.to_owned(),
            first_request: Vec::new(),
            wall: Vec::new(),
            requests: 0,
            conversations: 0,
            error: None,
        };
        for _ in 0..n {
            proxy.arm();
            let before = sim.stats().requests;
            let start = Instant::now();
            let result = Command::new(program)
                .args(args)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            let wall = start.elapsed().as_secs_f64();
            match result {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    t.error = Some(String::from_utf8_lossy(&o.stderr).trim().to_owned());
                    return t;
                }
                Err(e) => {
                    t.error = Some(format!("cannot start {}: {e}", program.display()));
                    return t;
                }
            }
            t.wall.push(wall);
            if let Some(at) = proxy.first_byte() {
                t.first_request
                    .push(at.saturating_duration_since(start).as_secs_f64());
            }
            t.requests = sim.stats().requests - before;
            if let Some(out) = out {
                t.conversations = count_jsonl(out).map_or(0, |c| c.conversations);
                let _ = std::fs::remove_file(out);
            }
        }
        t
    }
}

/// `chathaul --version` (process start and exit, no request), `chathaul
/// pull` of the tiny account, and the Python script's pull of it.
pub fn run(tools: &Tools, tiny: bool) -> Result<Vec<Timing>, String> {
    let sim = e2e::simulator(SimOptions {
        conversations: CONVERSATIONS,
        ..SimOptions::default()
    })?;
    let proxy = FirstByteProxy::start(sim.addr()).map_err(|e| format!("proxy: {e}"))?;
    let (sim_host, proxy_host) = (sim.addr().to_string(), proxy.addr.to_string());
    let config: Vec<(String, String)> = sim
        .config(VENDOR)
        .into_iter()
        .map(|(k, v)| (k, v.replace(&sim_host, &proxy_host)))
        .collect();
    let harness = Harness {
        proxy: &proxy,
        sim: &sim,
        runs: runs(tiny),
    };
    let mut rows = Vec::new();
    rows.push(harness.time(
        "`chathaul --version` (start and exit, no request)",
        &tools.chathaul,
        &["--version".into()],
        &[],
        None,
    ));
    let out = tools.scratch.join("startup.jsonl");
    let mut args: Vec<String> = vec!["--quiet".into(), "pull".into(), VENDOR.into()];
    for (k, v) in &config {
        args.push("-c".into());
        args.push(format!("{k}={v}"));
    }
    args.extend(["-o".into(), out.display().to_string()]);
    rows.push(harness.time(
        &format!("`chathaul pull {VENDOR}` to JSONL"),
        &tools.chathaul,
        &args,
        &[],
        Some(&out),
    ));
    if let Some(python) = &tools.python {
        let env: Vec<(String, String)> = config
            .iter()
            .map(|(k, v)| {
                (
                    format!("CHATHAUL_{}_{}", VENDOR.to_uppercase(), k.to_uppercase()),
                    v.clone(),
                )
            })
            .collect();
        let args = vec![
            tools.baseline.display().to_string(),
            VENDOR.into(),
            "--out".into(),
            out.display().to_string(),
        ];
        rows.push(harness.time(
            "the Python script (`baseline.py caresoft`)",
            python,
            &args,
            &env,
            Some(&out),
        ));
    }
    Ok(rows)
}
