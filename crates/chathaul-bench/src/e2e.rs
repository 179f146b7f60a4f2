//! End-to-end pulls of the `chathaul` CLI (and the Python baseline) against
//! the simulators with 80 ms latency: under a server-side rate limit, and
//! without one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chathaul_sim::{SimOptions, Simulator};

use crate::util::{ChildRun, count_jsonl, run_measured};

/// Latency the simulator adds to every request.
pub const LATENCY: Duration = Duration::from_millis(80);
/// The server-side rate limit, requests per second per account.
pub const RATE_LIMIT: u32 = 20;
/// chathaul's concurrency setting for a latency-bound pull without a rate limit.
pub const CONCURRENCY: u32 = 64;

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Tools {
    pub chathaul: PathBuf,
    pub python: Option<PathBuf>,
    pub baseline: PathBuf,
    pub scratch: PathBuf,
}

/// What a vendor's pull asks for, on the command line.
fn pull_flags(vendor: &str) -> Vec<String> {
    match vendor {
        "bangwo8" => vec!["--messages".into(), "--summaries".into()],
        "kf5" => vec!["--messages".into()],
        _ => vec![],
    }
}

/// One measured pull and what it wrote.
#[derive(Debug, Clone, Default)]
pub struct Pull {
    pub run: ChildRun,
    pub conversations: u64,
    pub messages: u64,
    pub ids: Vec<String>,
    pub requests: u64,
    pub throttled: u64,
    pub error: Option<String>,
}

impl Pull {
    pub fn items_per_sec(&self) -> f64 {
        (self.conversations + self.messages) as f64 / self.run.wall.max(1e-9)
    }
}

fn counted(run: ChildRun, out: &Path, sim: &Simulator, vendor: &str, before: (u64, u64)) -> Pull {
    let stats = sim.stats();
    let requests = stats
        .per_vendor
        .get(vendor)
        .copied()
        .unwrap_or(0)
        .saturating_sub(before.0);
    let throttled = stats.throttled.saturating_sub(before.1);
    let mut pull = Pull {
        requests,
        throttled,
        ..Pull::default()
    };
    if !run.ok {
        pull.error = Some(run.stderr.clone());
    }
    match count_jsonl(out) {
        Ok((c, m, ids)) => (pull.conversations, pull.messages, pull.ids) = (c, m, ids),
        Err(e) => pull.error = Some(pull.error.unwrap_or_default() + &format!(" (output: {e})")),
    }
    let _ = std::fs::remove_file(out);
    pull.run = run;
    pull
}

fn before(sim: &Simulator, vendor: &str) -> (u64, u64) {
    let s = sim.stats();
    (s.per_vendor.get(vendor).copied().unwrap_or(0), s.throttled)
}

/// `chathaul pull VENDOR` with the simulator's config plus `extra` config.
pub fn chathaul_pull(
    tools: &Tools,
    sim: &Simulator,
    vendor: &str,
    extra: &[(&str, String)],
    flags: &[String],
    tag: &str,
) -> Pull {
    let out = tools.scratch.join(format!("{vendor}-{tag}.jsonl"));
    let mut args: Vec<String> = vec!["--quiet".into(), "pull".into(), vendor.into()];
    for (k, v) in sim
        .config(vendor)
        .into_iter()
        .chain(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
    {
        args.push("-c".into());
        args.push(format!("{k}={v}"));
    }
    args.extend(flags.iter().cloned());
    args.extend(pull_flags(vendor));
    args.push("-o".into());
    args.push(out.display().to_string());
    let b = before(sim, vendor);
    let run = run_measured(&tools.chathaul, &args, &[], &tools.scratch);
    counted(run, &out, sim, vendor, b)
}

/// The sequential Python baseline against the same simulator.
pub fn baseline_pull(
    tools: &Tools,
    sim: &Simulator,
    vendor: &str,
    page_size: Option<u32>,
) -> Option<Pull> {
    let python = tools.python.as_ref()?;
    let out = tools.scratch.join(format!("{vendor}-baseline.jsonl"));
    let mut args = vec![
        tools.baseline.display().to_string(),
        vendor.to_owned(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(p) = page_size {
        args.push("--page-size".into());
        args.push(p.to_string());
    }
    // The config travels in the environment, as a user's secrets would.
    let env: Vec<(String, String)> = sim
        .config(vendor)
        .into_iter()
        .map(|(k, v)| {
            (
                format!("CHATHAUL_{}_{}", vendor.to_uppercase(), k.to_uppercase()),
                v,
            )
        })
        .collect();
    let b = before(sim, vendor);
    let run = run_measured(python, &args, &env, &tools.scratch);
    Some(counted(run, &out, sim, vendor, b))
}

/// Figures of the rate-limited pull of one vendor.
#[derive(Debug, Clone)]
pub struct Limited {
    pub vendor: &'static str,
    pub dataset: String,
    pub pull: Pull,
}

impl Limited {
    /// Answered (not 429) requests per second.
    pub fn achieved(&self) -> f64 {
        self.pull.requests.saturating_sub(self.pull.throttled) as f64 / self.pull.run.wall.max(1e-9)
    }
}

fn sim(conversations: usize, rate_limit: Option<u32>) -> Result<Simulator, String> {
    Simulator::start_blocking(SimOptions {
        conversations,
        latency: LATENCY,
        rate_limit,
        ..SimOptions::default()
    })
    .map_err(|e| format!("simulator: {e}"))
}

/// Under a server-side limit of [`RATE_LIMIT`] req/s, chathaul with
/// `rate_limit=20` (pacing itself) and its default concurrency.
pub fn rate_limited(tools: &Tools, tiny: bool) -> Result<Vec<Limited>, String> {
    let mut rows = Vec::new();
    for vendor in ["bangwo8", "kf5", "caresoft"] {
        // About 200 requests each (10 s at the bound); CareSoft pages of 20 so
        // that its listing takes as many requests.
        let (n, flags): (usize, Vec<String>) = match (vendor, tiny) {
            (_, true) => (10, vec![]),
            ("bangwo8", false) => (100, vec![]),
            ("kf5", false) => (350, vec![]),
            (_, false) => (2_000, vec!["--page-size".into(), "20".into()]),
        };
        let s = sim(n, Some(RATE_LIMIT))?;
        let pull = chathaul_pull(
            tools,
            &s,
            vendor,
            &[("rate_limit", RATE_LIMIT.to_string())],
            &flags,
            "limited",
        );
        let dataset = format!(
            "{n} conversations{}",
            if flags.is_empty() {
                String::new()
            } else {
                format!(", {}", flags.join(" "))
            }
        );
        rows.push(Limited {
            vendor: leak(vendor),
            dataset,
            pull,
        });
    }
    Ok(rows)
}

/// Figures of the unlimited pull of one vendor: chathaul tuned, chathaul
/// with defaults, the Python baseline.
#[derive(Debug, Clone)]
pub struct Speedup {
    pub vendor: &'static str,
    pub dataset: String,
    pub tuned: Pull,
    pub defaults: Pull,
    pub baseline: Option<Pull>,
}

/// Without a rate limit, 80 ms latency.
pub fn speedup(tools: &Tools, tiny: bool) -> Result<Vec<Speedup>, String> {
    let mut rows = Vec::new();
    for vendor in ["bangwo8", "kf5", "caresoft"] {
        let n = match (vendor, tiny) {
            (_, true) => 10,
            ("bangwo8", false) => 120,
            ("kf5", false) => 300,
            (_, false) => 60_000,
        };
        let s = sim(n, None)?;
        let tuned = chathaul_pull(
            tools,
            &s,
            vendor,
            &[("concurrency", CONCURRENCY.to_string())],
            &[],
            "tuned",
        );
        let defaults = chathaul_pull(tools, &s, vendor, &[], &[], "defaults");
        let baseline = baseline_pull(tools, &s, vendor, None);
        rows.push(Speedup {
            vendor: leak(vendor),
            dataset: format!("{n} conversations"),
            tuned,
            defaults,
            baseline,
        });
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
