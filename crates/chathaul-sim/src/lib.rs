#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod bangwo8;
mod caresoft;
mod cli;
mod control;
mod data;
mod http;
mod kf5;
mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use connector_core::Conversation;

pub use cli::{SimArgs, run, run_cli};

/// The vendors the simulator serves, in the order it reports them.
pub const VENDORS: &[&str] = &["bangwo8", "caresoft", "kf5"];

/// How many days after the data's last day the clock starts by default: by
/// then every conversation has ended (the longest, a KF5 chat, lasts eight
/// days) and every rating has been given (six days after the end at the
/// latest).
pub const FINAL_AFTER_DAYS: u32 = 30;

/// What to generate and how to serve it.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of every random draw: the same seed serves the same bytes.
    pub seed: u64,
    /// Conversations per vendor and account.
    pub conversations: usize,
    /// Mean messages per conversation (a long tail has hundreds).
    pub messages: usize,
    /// First local day of data.
    pub start: NaiveDate,
    /// Span of the data, in days.
    pub days: u32,
    /// The simulated current time the server starts at: it serves, and the
    /// truth describes, the accounts as they are at this instant. `None`:
    /// [`FINAL_AFTER_DAYS`] after the data's last day, when every
    /// conversation is final (see [`SimOptions::initial_now`]).
    pub now: Option<DateTime<Utc>>,
    /// Accounts per vendor (at least one): account 0 is the demo account,
    /// each other one has its own data, credentials and rate budget.
    pub accounts: usize,
    /// Latency added to every request.
    pub latency: Duration,
    /// Up to this much more latency, drawn per request.
    pub jitter: Duration,
    /// More latency per request already in flight to the same vendor account
    /// when a request arrives: a server that slows down under load.
    pub latency_per_in_flight: Duration,
    /// Requests per second per account; over it the answer is 429.
    pub rate_limit: Option<u32>,
    /// Whether a 429 says how long to wait in `Retry-After` (whole seconds).
    pub retry_after: bool,
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
            now: None,
            accounts: 1,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            latency_per_in_flight: Duration::ZERO,
            rate_limit: None,
            retry_after: true,
            fault_rate: 0.0,
            faults: Fault::DEFAULT.to_vec(),
            port: 0,
        }
    }
}

impl SimOptions {
    /// The instant the clock starts at: [`SimOptions::now`], or by default
    /// midnight UTC [`FINAL_AFTER_DAYS`] days after the data's last day
    /// (2024-04-30 for the default 90 days from 2024-01-01).
    pub fn initial_now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(|| {
            let days = u64::from(self.days.max(1)) + u64::from(FINAL_AFTER_DAYS);
            (self.start + chrono::Days::new(days))
                .and_time(NaiveTime::MIN)
                .and_utc()
        })
    }
}

/// What the simulator's controls refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// A vendor the simulator does not serve.
    UnknownVendor(String),
    /// An account index at or past the number of accounts served.
    UnknownAccount {
        /// The index asked for.
        index: usize,
        /// How many accounts per vendor are served.
        accounts: usize,
    },
    /// Text that is not an instant.
    BadInstant(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::UnknownVendor(v) => {
                write!(f, "unknown vendor `{v}` (known: {})", VENDORS.join(", "))
            }
            SimError::UnknownAccount { index, accounts } => write!(
                f,
                "no account {index}: the simulator serves accounts 0 to {} of each vendor",
                accounts.saturating_sub(1)
            ),
            SimError::BadInstant(text) => write!(
                f,
                "`{text}` is not an instant: give RFC 3339 (2024-03-01T08:00:00Z, \
                 2024-03-01T16:00:00+08:00) or a date (2024-03-01, its midnight UTC)"
            ),
        }
    }
}

impl std::error::Error for SimError {}

/// Reads an instant for the clock: RFC 3339 with its offset
/// (`2024-03-01T08:00:00Z`), or a date (`2024-03-01`) meaning its midnight
/// UTC.
///
/// # Errors
/// [`SimError::BadInstant`] for anything else (a time without an offset is
/// refused: the vendors sit in different zones).
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, SimError> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .map_err(|_| SimError::BadInstant(text.to_owned()))
}

/// An instant as the control endpoints and the CLI write it: RFC 3339 in UTC.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
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
    /// Requests received (the control endpoints under `/_sim/` not counted).
    pub requests: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// Requests given a fault: drawn at random, or armed with
    /// [`Simulator::fail_next`].
    pub faults: u64,
    /// Requests per vendor path prefix.
    pub per_vendor: BTreeMap<String, u64>,
}

/// An agent of a vendor account's dataset, with the ids its filters take.
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

/// The agents of `vendor`'s demo account (empty for an unknown vendor).
pub fn agents(opts: &SimOptions, vendor: &str) -> Vec<SimAgent> {
    account_agents(opts, vendor, 0)
}

/// The agents of account `account` of `vendor` (empty for an unknown vendor).
pub fn account_agents(opts: &SimOptions, vendor: &str, account: usize) -> Vec<SimAgent> {
    let spec = data::AccountSpec::new(opts, account);
    let pool = match vendor {
        "bangwo8" => bangwo8::Data::new(spec).agents().to_vec(),
        "kf5" => kf5::Data::new(spec).agents().to_vec(),
        "caresoft" => caresoft::Data::new(spec).agents().to_vec(),
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

/// The ground truth of `vendor`'s demo account without a server, at the
/// options' clock ([`SimOptions::initial_now`]): what a perfect connector
/// pulls (messages and summaries included), sorted by id, generated lazily.
/// Empty for an unknown vendor.
pub fn truth(
    opts: &SimOptions,
    vendor: &str,
) -> impl Iterator<Item = Conversation> + Send + 'static {
    account_truth(opts, vendor, 0, opts.initial_now())
}

/// The ground truth of `vendor`'s demo account as of `now` (see [`truth`]).
pub fn truth_at(
    opts: &SimOptions,
    vendor: &str,
    now: DateTime<Utc>,
) -> impl Iterator<Item = Conversation> + Send + 'static {
    account_truth(opts, vendor, 0, now)
}

/// The ground truth of account `account` of `vendor` as of `now`: the
/// conversations the vendor lists then, as they are then (Bangwo8 and
/// CareSoft list ended conversations only; KF5 every chat created, the open
/// ones as open). Sorted by id, generated lazily; empty for an unknown vendor.
pub fn account_truth(
    opts: &SimOptions,
    vendor: &str,
    account: usize,
    now: DateTime<Utc>,
) -> impl Iterator<Item = Conversation> + Send + 'static {
    let spec = data::AccountSpec::new(opts, account);
    let it: Box<dyn Iterator<Item = Conversation> + Send> = match vendor {
        "bangwo8" => Box::new(bangwo8::truth_iter(bangwo8::Data::new(spec), now)),
        "kf5" => Box::new(kf5::truth_iter(kf5::Data::new(spec), now)),
        "caresoft" => Box::new(caresoft::truth_iter(caresoft::Data::new(spec), now)),
        _ => Box::new(std::iter::empty()),
    };
    it
}

/// The complete connector config of `vendor`'s account at `base_url`.
fn account_config(
    account: &server::Account,
    vendor: &str,
    base_url: String,
) -> Vec<(String, String)> {
    let fields: Vec<(&str, &str)> = match vendor {
        "bangwo8" => vec![
            ("account", account.bangwo8.login()),
            ("password", account.bangwo8.password()),
        ],
        "kf5" => vec![
            ("subdomain", account.kf5.subdomain()),
            ("email", account.kf5.email()),
            ("password", account.kf5.password()),
        ],
        "caresoft" => vec![
            ("domain", account.caresoft.domain()),
            ("token", account.caresoft.token()),
        ],
        _ => return Vec::new(),
    };
    std::iter::once(("base_url".to_owned(), base_url))
        .chain(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
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

    /// The base URL of `vendor`'s demo account: `http://127.0.0.1:PORT/kf5`.
    pub fn base_url(&self, vendor: &str) -> String {
        self.base_url_for(vendor, 0)
    }

    /// The base URL of account `account` of `vendor`:
    /// `http://127.0.0.1:PORT/kf5` for account 0, `http://127.0.0.1:PORT/kf5/3`
    /// for account 3.
    pub fn base_url_for(&self, vendor: &str, account: usize) -> String {
        if account == 0 {
            format!("http://{}/{vendor}", self.addr)
        } else {
            format!("http://{}/{vendor}/{account}", self.addr)
        }
    }

    /// How many accounts of each vendor it serves.
    pub fn accounts(&self) -> usize {
        self.shared.accounts.len()
    }

    /// The complete connector config of `vendor`'s demo account: `base_url`,
    /// the account fields and the credentials (empty for an unknown vendor).
    pub fn config(&self, vendor: &str) -> Vec<(String, String)> {
        self.config_for(vendor, 0)
    }

    /// The complete connector config of account `account` of `vendor` (empty
    /// for an unknown vendor or an account it does not serve).
    pub fn config_for(&self, vendor: &str, account: usize) -> Vec<(String, String)> {
        match self.shared.accounts.get(account) {
            Some(a) => account_config(a, vendor, self.base_url_for(vendor, account)),
            None => Vec::new(),
        }
    }

    /// The ground truth of `vendor`'s demo account at the current clock (see
    /// [`account_truth`]).
    pub fn truth(&self, vendor: &str) -> Vec<Conversation> {
        self.truth_for(vendor, 0)
    }

    /// The ground truth of account `account` of `vendor` at the current clock
    /// (empty for an account it does not serve).
    pub fn truth_for(&self, vendor: &str, account: usize) -> Vec<Conversation> {
        if account >= self.accounts() {
            return Vec::new();
        }
        account_truth(&self.shared.opts, vendor, account, self.now()).collect()
    }

    /// The agents of `vendor`'s demo account (see [`agents`]).
    pub fn agents(&self, vendor: &str) -> Vec<SimAgent> {
        agents(&self.shared.opts, vendor)
    }

    /// The agents of account `account` of `vendor`.
    pub fn agents_for(&self, vendor: &str, account: usize) -> Vec<SimAgent> {
        account_agents(&self.shared.opts, vendor, account)
    }

    /// The simulated current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Sets the simulated current time (earlier or later).
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.shared.set_now(now);
    }

    /// Moves the simulated clock by `by` (back when negative) and returns
    /// the new time. Conversations start, get messages, end and are rated as
    /// the clock passes their times.
    pub fn advance(&self, by: chrono::Duration) -> DateTime<Utc> {
        self.shared.advance(by)
    }

    /// Makes the next `n` vendor requests answer HTTP 500 — only those to
    /// `vendor` and/or account `account` when given. Armed failures add up;
    /// they come before the rate limit and the random faults, after the
    /// latency.
    ///
    /// # Errors
    /// An unknown vendor or an account it does not serve.
    pub fn fail_next(
        &self,
        n: u64,
        vendor: Option<&str>,
        account: Option<usize>,
    ) -> Result<(), SimError> {
        self.shared.fail_next(n, vendor, account)
    }

    /// Serves the record `id` of `vendor` (of account `account`, or of
    /// every account when `None`) with its `field` (a dotted path into the
    /// record: `created_at`, `messages.0.created_at`) replaced by the
    /// string `value`, in every listing and detail answer that holds it,
    /// from now on: a malformed record among good ones, for testing how a
    /// client sets bad records aside.
    ///
    /// # Errors
    /// An unknown vendor or an account it does not serve.
    pub fn corrupt(
        &self,
        vendor: &str,
        account: Option<usize>,
        id: &str,
        field: &str,
        value: &str,
    ) -> Result<(), SimError> {
        self.shared.corrupt(vendor, account, id, field, value)
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
