#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod bangwo8;
mod caresoft;
mod cli;
mod data;
mod http;
mod kf5;
mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use connector_core::Conversation;

pub use cli::{SimArgs, run, run_cli};

/// The vendors the simulator serves, in the order it reports them.
pub const VENDORS: &[&str] = &["bangwo8", "caresoft", "kf5"];

/// What to generate and how to serve it.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of every random draw: the same seed serves the same bytes.
    pub seed: u64,
    /// Conversations per vendor.
    pub conversations: usize,
    /// Mean messages per conversation (a long tail has hundreds).
    pub messages: usize,
    /// First local day of data.
    pub start: NaiveDate,
    /// Span of the data, in days.
    pub days: u32,
    /// Latency added to every request.
    pub latency: Duration,
    /// Up to this much more latency, drawn per request.
    pub jitter: Duration,
    /// Requests per second per account; over it the answer is 429 with `Retry-After`.
    pub rate_limit: Option<u32>,
    /// Share of requests (0.0..=1.0) that get a fault.
    pub fault_rate: f64,
    /// The faults to draw from.
    pub faults: Vec<Fault>,
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            conversations: 200,
            messages: 12,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("a valid date"),
            days: 90,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_limit: None,
            fault_rate: 0.0,
            faults: Fault::DEFAULT.to_vec(),
            port: 0,
        }
    }
}

/// A fault injected into a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// HTTP 500 with a JSON error body.
    Status500,
    /// HTTP 502 with a proxy's HTML page.
    Status502,
    /// HTTP 503 with a proxy's HTML page.
    Status503,
    /// The connection is closed without an answer.
    Drop,
    /// The right head, then half the body, then the connection is cut.
    Truncate,
    /// HTTP 200 with an HTML error page instead of JSON.
    Html,
    /// The right answer, in about 20 pieces 100 ms apart (about 2 s in all).
    SlowDrip,
}

impl Fault {
    /// Every fault.
    pub const ALL: &'static [Fault] = &[
        Fault::Status500,
        Fault::Status502,
        Fault::Status503,
        Fault::Drop,
        Fault::Truncate,
        Fault::Html,
        Fault::SlowDrip,
    ];
    /// The faults drawn by default: all but [`Fault::SlowDrip`].
    pub const DEFAULT: &'static [Fault] = &[
        Fault::Status500,
        Fault::Status502,
        Fault::Status503,
        Fault::Drop,
        Fault::Truncate,
        Fault::Html,
    ];

    /// The fault's command-line name (`500`, `502`, `503`, `drop`, `truncate`, `html`, `slow-drip`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Status500 => "500",
            Fault::Status502 => "502",
            Fault::Status503 => "503",
            Fault::Drop => "drop",
            Fault::Truncate => "truncate",
            Fault::Html => "html",
            Fault::SlowDrip => "slow-drip",
        }
    }
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault `{s}` (known: {})", names.join(", "))
            })
    }
}

/// What the server has seen so far.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    /// Requests received.
    pub requests: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// Requests given a fault.
    pub faults: u64,
    /// Requests per vendor path prefix.
    pub per_vendor: BTreeMap<String, u64>,
}

/// An agent of a vendor's demo dataset, with the ids its filters take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAgent {
    /// The agent's id (Bangwo8 `support_id`, KF5 `agent_id`, CareSoft `assignees[]`).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// The group's id (CareSoft `groups[]`).
    pub group_id: u64,
    /// The group's name.
    pub group: String,
}

/// The agents of `vendor`'s dataset (empty for an unknown vendor).
pub fn agents(opts: &SimOptions, vendor: &str) -> Vec<SimAgent> {
    let pool = match vendor {
        "bangwo8" => bangwo8::Data::new(opts).agents().to_vec(),
        "kf5" => kf5::Data::new(opts).agents().to_vec(),
        "caresoft" => caresoft::Data::new(opts).agents().to_vec(),
        _ => return Vec::new(),
    };
    pool.iter()
        .map(|p| SimAgent {
            id: p.id,
            name: p.name.to_owned(),
            email: p.email.clone(),
            group_id: p.group_id,
            group: p.group.to_owned(),
        })
        .collect()
}

/// The ground truth of `vendor` without a server: what a perfect connector
/// pulls (messages and summaries included), sorted by id, generated lazily.
/// Empty for an unknown vendor.
pub fn truth(
    opts: &SimOptions,
    vendor: &str,
) -> impl Iterator<Item = Conversation> + Send + 'static {
    let it: Box<dyn Iterator<Item = Conversation> + Send> = match vendor {
        "bangwo8" => Box::new(bangwo8::truth_iter(bangwo8::Data::new(opts))),
        "kf5" => Box::new(kf5::truth_iter(kf5::Data::new(opts))),
        "caresoft" => Box::new(caresoft::truth_iter(caresoft::Data::new(opts))),
        _ => Box::new(std::iter::empty()),
    };
    it
}

/// The complete connector config of `vendor`'s demo account at `base_url`.
fn demo_config(vendor: &str, base_url: String) -> Vec<(String, String)> {
    let fields: &[(&str, &str)] = match vendor {
        "bangwo8" => &[
            ("account", bangwo8::ACCOUNT),
            ("password", bangwo8::PASSWORD),
        ],
        "kf5" => &[
            ("subdomain", kf5::SUBDOMAIN),
            ("email", kf5::EMAIL),
            ("password", kf5::PASSWORD),
        ],
        "caresoft" => &[("domain", caresoft::DOMAIN), ("token", caresoft::TOKEN)],
        _ => return Vec::new(),
    };
    std::iter::once(("base_url".to_owned(), base_url))
        .chain(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .collect()
}

enum Runner {
    /// A server task in the caller's runtime.
    Task(tokio::task::JoinHandle<()>),
    /// A thread running its own runtime, stopped through the sender.
    Thread(
        Option<tokio::sync::oneshot::Sender<()>>,
        Option<std::thread::JoinHandle<()>>,
    ),
}

/// A running simulator of every vendor on one port; it stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    runner: Runner,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("opts", &self.shared.opts)
            .finish()
    }
}

impl Simulator {
    /// Binds `127.0.0.1:opts.port` and serves in the current tokio runtime.
    ///
    /// # Errors
    /// When the port cannot be bound.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn start(opts: SimOptions) -> std::io::Result<Simulator> {
        let port = opts.port;
        let shared = Arc::new(server::Shared::new(opts));
        let (addr, task) = server::serve(shared.clone(), port).await?;
        Ok(Simulator {
            addr,
            shared,
            runner: Runner::Task(task),
        })
    }

    /// Starts on a thread of its own with its own runtime, for callers without
    /// one (the CLI, Python).
    ///
    /// # Errors
    /// When the port cannot be bound or the runtime cannot be built.
    pub fn start_blocking(opts: SimOptions) -> std::io::Result<Simulator> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chathaul-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Simulator::start(opts).await {
                        Ok(sim) => {
                            let _ = ready_tx.send(Ok((sim.addr, sim.shared.clone())));
                            let _ = stop_rx.await;
                            drop(sim);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (addr, shared) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the simulator thread ended before it started"))??;
        Ok(Simulator {
            addr,
            shared,
            runner: Runner::Thread(Some(stop_tx), Some(thread)),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The options it runs with.
    pub fn options(&self) -> &SimOptions {
        &self.shared.opts
    }

    /// The base URL of `vendor`: `http://127.0.0.1:PORT/kf5`.
    pub fn base_url(&self, vendor: &str) -> String {
        format!("http://{}/{vendor}", self.addr)
    }

    /// The complete connector config of `vendor`'s demo account: `base_url`,
    /// the account fields and the credentials (empty for an unknown vendor).
    pub fn config(&self, vendor: &str) -> Vec<(String, String)> {
        demo_config(vendor, self.base_url(vendor))
    }

    /// The ground truth of `vendor` (see [`truth`]).
    pub fn truth(&self, vendor: &str) -> Vec<Conversation> {
        truth(&self.shared.opts, vendor).collect()
    }

    /// The agents of `vendor`'s dataset (see [`agents`]).
    pub fn agents(&self, vendor: &str) -> Vec<SimAgent> {
        agents(&self.shared.opts, vendor)
    }

    /// Request counters so far.
    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        match &mut self.runner {
            Runner::Task(task) => task.abort(),
            Runner::Thread(stop, thread) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}
