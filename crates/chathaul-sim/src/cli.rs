//! The `chathaul-sim` command line, in the library so the `chathaul` CLI can
//! offer the same thing as `chathaul sim`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;

use crate::{Fault, SimOptions, Simulator, VENDORS};

fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    crate::parse_instant(text).map_err(|e| e.to_string())
}

/// Serve seeded Bangwo8, KF5 and CareSoft chat-history APIs on 127.0.0.1.
#[derive(Debug, Clone, Parser)]
#[command(name = "chathaul-sim", version, about)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of the generated data (the same seed serves the same bytes).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Conversations per vendor.
    #[arg(long, default_value_t = 200)]
    pub conversations: usize,
    /// Mean messages per conversation (a long tail has hundreds).
    #[arg(long, default_value_t = 12)]
    pub messages: usize,
    /// First local day of data (YYYY-MM-DD).
    #[arg(long, default_value = "2024-01-01")]
    pub start: NaiveDate,
    /// Span of the data in days.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// The simulated current time to start at: RFC 3339 (2024-02-01T08:00:00Z)
    /// or a date (its midnight UTC). Default: 30 days after the data's last
    /// day, when every conversation is final. Move it with POST /_sim/advance.
    #[arg(long, value_parser = instant)]
    pub now: Option<DateTime<Utc>>,
    /// Accounts per vendor: account 0 at /VENDOR, account k at /VENDOR/k,
    /// each with its own data, credentials and rate budget.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Up to this many more milliseconds of latency, drawn per request.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// More milliseconds of latency per request already in flight to the same
    /// account when a request arrives (a server that slows down under load).
    #[arg(long, default_value_t = 0)]
    pub latency_per_in_flight_ms: u64,
    /// Requests per second per account; over it the answer is 429 with Retry-After.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Answer 429 without a Retry-After header.
    #[arg(long)]
    pub no_retry_after: bool,
    /// Share of requests (0.0 to 1.0) that get a fault.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Faults to draw from, comma-separated: 500, 502, 503, drop, truncate, html, slow-drip
    /// (default: all but slow-drip).
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<Fault>,
    /// Write the ground truth of every vendor and account at the starting
    /// clock to this file as JSONL (one conversation a line, sorted by vendor,
    /// account and id) before serving.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Print each account's config as one JSON object a line.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// The simulator options these flags ask for.
    pub fn options(&self) -> SimOptions {
        SimOptions {
            seed: self.seed,
            conversations: self.conversations,
            messages: self.messages,
            start: self.start,
            days: self.days,
            now: self.now,
            accounts: self.accounts as usize,
            latency: Duration::from_millis(self.latency_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            latency_per_in_flight: Duration::from_millis(self.latency_per_in_flight_ms),
            rate_limit: self.rate_limit,
            retry_after: !self.no_retry_after,
            fault_rate: self.fault_rate,
            faults: if self.faults.is_empty() {
                Fault::DEFAULT.to_vec()
            } else {
                self.faults.clone()
            },
            port: self.port,
        }
    }
}

/// The line printed for an account of `vendor` at start:
/// `kf5 http://127.0.0.1:PORT/kf5 subdomain=demo …`, or with `json` one JSON
/// object `{"vendor": "kf5", "base_url": …}`.
pub fn describe(sim: &Simulator, vendor: &str, account: usize, json: bool) -> String {
    let config = sim.config_for(vendor, account);
    if json {
        let mut m = serde_json::Map::new();
        m.insert("vendor".into(), vendor.into());
        for (k, v) in config {
            m.insert(k, v.into());
        }
        serde_json::Value::Object(m).to_string()
    } else {
        let mut line = vendor.to_owned();
        for (k, v) in config {
            line.push(' ');
            if k != "base_url" {
                line.push_str(&k);
                line.push('=');
            }
            line.push_str(&v);
        }
        line
    }
}

/// Writes the ground truth of every vendor and account at the options'
/// clock as JSONL, sorted by vendor, account index and id.
///
/// # Errors
/// When the file cannot be written.
pub fn write_truth(opts: &SimOptions, path: &std::path::Path) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut n = 0;
    let now = opts.initial_now();
    for vendor in VENDORS {
        for account in 0..opts.accounts.max(1) {
            for c in crate::account_truth(opts, vendor, account, now) {
                serde_json::to_writer(&mut out, &c)?;
                out.write_all(b"\n")?;
                n += 1;
            }
        }
    }
    out.flush()?;
    Ok(n)
}

/// Runs the simulator as the command does, in the current tokio runtime,
/// until Ctrl-C.
///
/// # Errors
/// When the port cannot be bound, the truth cannot be written, or stdout is closed.
pub async fn run(args: SimArgs) -> std::io::Result<()> {
    let opts = args.options();
    if let Some(path) = &args.truth {
        let n = write_truth(&opts, path)?;
        eprintln!(
            "chathaul-sim: wrote {n} conversations of ground truth to {}",
            path.display()
        );
    }
    let sim = Simulator::start(opts).await?;
    // Listen for Ctrl-C before the addresses are printed: whoever reads them
    // may send SIGINT at once, and it must stop the simulator cleanly.
    let stop = interrupt()?;
    {
        let mut out = std::io::stdout().lock();
        for account in 0..sim.accounts() {
            for vendor in VENDORS {
                writeln!(out, "{}", describe(&sim, vendor, account, args.json))?;
            }
        }
        out.flush()?;
    }
    eprintln!(
        "chathaul-sim: serving on http://{} at simulated time {} (Ctrl-C to stop; \
         POST /_sim/advance?hours=N moves the clock)",
        sim.addr(),
        crate::format_instant(sim.now())
    );
    stop.await;
    let stats = sim.stats();
    eprintln!(
        "chathaul-sim: stopped after {} requests ({} throttled, {} faults)",
        stats.requests, stats.throttled, stats.faults
    );
    Ok(())
}

/// Registers for SIGINT now (so a signal sent from here on is caught) and
/// returns a future that ends when it arrives.
#[cfg(unix)]
fn interrupt() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut stream = signal(SignalKind::interrupt())?;
    Ok(async move {
        stream.recv().await;
    })
}

#[cfg(not(unix))]
fn interrupt() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Parses `args` (the first is the program name) and runs the simulator on a
/// runtime of its own until Ctrl-C. Help, version and usage errors are
/// printed and exit the process as clap does.
///
/// # Errors
/// As [`run`].
pub fn run_cli<I, T>(args: I) -> std::io::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = SimArgs::parse_from(args);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}
