//! End-to-end pulls against the in-process simulator: the `chathaul` CLI,
//! the sequential Python `requests` script and the dlt pipeline of
//! `benches/baseline/`, each measured as a whole process, with what the
//! simulator saw (requests, 429s) and what each wrote (conversations,
//! messages, summaries).

use std::path::{Path, PathBuf};

use chathaul_sim::{SimOptions, Simulator};

use crate::util::{ChildRun, clip, count_jsonl, run_measured};

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The `chathaul` binary.
    pub chathaul: PathBuf,
    /// A Python with `requests`, for the sequential script.
    pub python: Option<PathBuf>,
    /// `benches/baseline/baseline.py`.
    pub baseline: PathBuf,
    /// A Python with dlt, for the dlt pipeline.
    pub dlt_python: Option<PathBuf>,
    /// `benches/baseline/dlt_pipeline.py`.
    pub dlt_pipeline: PathBuf,
    /// A scratch directory for outputs.
    pub scratch: PathBuf,
}

/// What a vendor's pull asks for, on the command line: everything the
/// vendor has (Bangwo8 messages and summaries, KF5 messages).
pub fn pull_flags(vendor: &str) -> Vec<String> {
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
    pub summaries: u64,
    /// Conversation ids in output order (empty for the dlt pipeline, whose
    /// tables are compared by their row counts).
    pub ids: Vec<String>,
    /// Requests the simulator received for the vendor during the pull.
    pub requests: u64,
    /// Of those, answered 429.
    pub throttled: u64,
    pub error: Option<String>,
}

impl Pull {
    /// Requests the server answered (not 429).
    pub fn useful(&self) -> u64 {
        self.requests.saturating_sub(self.throttled)
    }

    /// Share of the requests answered 429.
    pub fn share_429(&self) -> f64 {
        self.throttled as f64 / (self.requests.max(1)) as f64
    }

    /// Whether `other` wrote the same: conversations, messages and
    /// summaries, and the same ids in the same order when both have ids.
    pub fn same_output(&self, other: &Pull) -> bool {
        self.conversations == other.conversations
            && self.messages == other.messages
            && self.summaries == other.summaries
            && (self.ids.is_empty() || other.ids.is_empty() || self.ids == other.ids)
    }

    /// `12 conv., 140 msg.` (and summaries when there are).
    pub fn describe(&self) -> String {
        let mut s = format!("{} conv., {} msg.", self.conversations, self.messages);
        if self.summaries > 0 {
            s += &format!(", {} summ.", self.summaries);
        }
        s
    }
}

/// The simulator's request and 429 counters for `vendor` before a pull.
fn before(sim: &Simulator, vendor: &str) -> (u64, u64) {
    let s = sim.stats();
    (s.per_vendor.get(vendor).copied().unwrap_or(0), s.throttled)
}

fn with_counters(run: ChildRun, sim: &Simulator, vendor: &str, before: (u64, u64)) -> Pull {
    let stats = sim.stats();
    let mut pull = Pull {
        requests: stats
            .per_vendor
            .get(vendor)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.0),
        throttled: stats.throttled.saturating_sub(before.1),
        ..Pull::default()
    };
    if !run.ok {
        // What went wrong, without a verbose run's log lines.
        let said: Vec<&str> = run
            .stderr_full
            .lines()
            .filter(|l| !l.contains(" INFO ") && !l.trim().is_empty())
            .collect();
        pull.error = Some(if said.is_empty() && run.stderr.is_empty() {
            "exited with a failure status and wrote nothing to stderr".to_owned()
        } else if said.is_empty() {
            run.stderr.clone()
        } else {
            clip(&said.join("\n"), 600)
        });
    }
    pull.run = run;
    pull
}

fn counted(run: ChildRun, out: &Path, sim: &Simulator, vendor: &str, b: (u64, u64)) -> Pull {
    let mut pull = with_counters(run, sim, vendor, b);
    match count_jsonl(out) {
        Ok(c) => {
            (pull.conversations, pull.messages, pull.summaries, pull.ids) =
                (c.conversations, c.messages, c.summaries, c.ids);
        }
        Err(e) => pull.error = Some(pull.error.unwrap_or_default() + &format!(" (output: {e})")),
    }
    let _ = std::fs::remove_file(out);
    pull
}

/// `chathaul pull VENDOR` with the simulator's config plus `extra` config,
/// everything the vendor has, to JSONL.
pub fn chathaul_pull(
    tools: &Tools,
    sim: &Simulator,
    vendor: &str,
    extra: &[(&str, String)],
    flags: &[String],
    tag: &str,
) -> Pull {
    chathaul_pull_logging(tools, sim, vendor, extra, flags, tag, "--quiet")
}

/// [`chathaul_pull`] with `-v`: the pacing controller's changes (`concurrency
/// raised to 8`, each line with its `concurrency=N` field) are in the run's
/// `stderr_full`.
pub fn chathaul_pull_verbose(
    tools: &Tools,
    sim: &Simulator,
    vendor: &str,
    extra: &[(&str, String)],
    flags: &[String],
    tag: &str,
) -> Pull {
    chathaul_pull_logging(tools, sim, vendor, extra, flags, tag, "-v")
}

fn chathaul_pull_logging(
    tools: &Tools,
    sim: &Simulator,
    vendor: &str,
    extra: &[(&str, String)],
    flags: &[String],
    tag: &str,
    logging: &str,
) -> Pull {
    let out = tools.scratch.join(format!("{vendor}-{tag}.jsonl"));
    let mut args: Vec<String> = vec![logging.into(), "pull".into(), vendor.into()];
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

/// The vendor's config in the environment, as a user's secrets would be:
/// `CHATHAUL_<VENDOR>_<FIELD>`.
pub fn config_env(sim: &Simulator, vendor: &str) -> Vec<(String, String)> {
    sim.config(vendor)
        .into_iter()
        .map(|(k, v)| {
            (
                format!("CHATHAUL_{}_{}", vendor.to_uppercase(), k.to_uppercase()),
                v,
            )
        })
        .collect()
}

/// The sequential Python script against the same simulator; `None` without
/// a Python with `requests`.
pub fn script_pull(
    tools: &Tools,
    sim: &Simulator,
    vendor: &str,
    page_size: Option<u32>,
) -> Option<Pull> {
    let python = tools.python.as_ref()?;
    let out = tools.scratch.join(format!("{vendor}-script.jsonl"));
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
    let b = before(sim, vendor);
    let run = run_measured(python, &args, &config_env(sim, vendor), &tools.scratch);
    Some(counted(run, &out, sim, vendor, b))
}

/// The dlt pipeline (Bangwo8 and KF5 only) against the same simulator;
/// `None` without a Python with dlt. Its figures are the rows dlt
/// normalized, which the script prints as its last line.
pub fn dlt_pull(tools: &Tools, sim: &Simulator, vendor: &str, tag: &str) -> Option<Pull> {
    let python = tools.dlt_python.as_ref()?;
    let workdir = tools.scratch.join(format!("dlt-{vendor}-{tag}"));
    let _ = std::fs::remove_dir_all(&workdir);
    let args = vec![
        tools.dlt_pipeline.display().to_string(),
        vendor.to_owned(),
        "--workdir".into(),
        workdir.display().to_string(),
    ];
    let b = before(sim, vendor);
    let run = run_measured(python, &args, &config_env(sim, vendor), &tools.scratch);
    let mut pull = with_counters(run, sim, vendor, b);
    let _ = std::fs::remove_dir_all(&workdir);
    match serde_json::from_str::<serde_json::Value>(&pull.run.stdout_last_line) {
        Ok(v) => {
            let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
            (pull.conversations, pull.messages, pull.summaries) =
                (n("conversations"), n("messages"), n("summaries"));
        }
        Err(e) => {
            pull.error = Some(format!(
                "{} (no figures printed: {e})",
                pull.error.clone().unwrap_or_default()
            ));
        }
    }
    Some(pull)
}

/// A simulator on its own thread with `opts`.
pub fn simulator(opts: SimOptions) -> Result<Simulator, String> {
    Simulator::start_blocking(opts).map_err(|e| format!("simulator: {e}"))
}

/// `"bangwo8"` as a `&'static str` (the vendors are few and known).
pub fn vendor_name(s: &str) -> &'static str {
    chathaul_sim::VENDORS
        .iter()
        .copied()
        .find(|v| *v == s)
        .unwrap_or("unknown")
}
