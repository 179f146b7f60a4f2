//! Measuring helpers: thread CPU time, child processes under `/usr/bin/time`,
//! the machine's description, counting a JSONL output.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `crates/chathaul-bench`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// CPU time the calling thread has used (Linux `/proc/thread-self/schedstat`,
/// whose first field is nanoseconds on a CPU).
pub fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// CPU time of this process (every thread, also those that have ended:
/// `/proc/self/stat`, in clock ticks of 10 ms) less that of its live threads
/// named `skip` (`/proc/self/task/*/schedstat`).
pub fn process_cpu_without(skip: &str) -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold blanks): state is
            // field 3, utime 14, stime 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or_default();
    let all = Duration::from_millis(ticks * 10);
    let skipped: Duration = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim().starts_with(skip))
        })
        .filter_map(|t| {
            let s = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            s.split_whitespace().next()?.parse::<u64>().ok()
        })
        .map(Duration::from_nanos)
        .sum();
    all.saturating_sub(skipped)
}

/// A finished child process, measured.
#[derive(Debug, Clone, Default)]
pub struct ChildRun {
    /// Wall-clock seconds.
    pub wall: f64,
    /// Peak resident set size in MB (from `/usr/bin/time`), when known.
    pub max_rss_mb: Option<f64>,
    /// User + system CPU seconds, when known.
    pub cpu: Option<f64>,
    /// Whether it exited with status 0.
    pub ok: bool,
    /// Its standard error (clipped), for the report when it failed.
    pub stderr: String,
    /// Its whole standard error (the log of a `-v` run).
    pub stderr_full: String,
    /// The last line it wrote to standard output (where the baselines print
    /// their figures).
    pub stdout_last_line: String,
}

/// Runs `program args` to the end, under `/usr/bin/time` when present (for
/// the peak RSS), with `env` added; of stdout only the last line is kept.
pub fn run_measured(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    scratch: &Path,
) -> ChildRun {
    let time = Path::new("/usr/bin/time");
    let timing = scratch.join(format!("time-{}.txt", std::process::id()));
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(&timing)
            .arg(program)
            .args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output();
    let wall = start.elapsed().as_secs_f64();
    let Ok(out) = out else {
        return ChildRun {
            wall,
            stderr: format!("cannot start {}", program.display()),
            ..ChildRun::default()
        };
    };
    let mut run = ChildRun {
        wall,
        ok: out.status.success(),
        stderr: clip(&String::from_utf8_lossy(&out.stderr), 600),
        stderr_full: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout_last_line: String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_owned(),
        ..ChildRun::default()
    };
    if let Ok(t) = std::fs::read_to_string(&timing) {
        // The last line holds the figures (a failing child adds a line before).
        if let Some(line) = t.lines().rev().find(|l| l.split_whitespace().count() == 3) {
            let f: Vec<f64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() == 3 {
                run.max_rss_mb = Some(f[0] / 1024.0);
                run.cpu = Some(f[1] + f[2]);
            }
        }
        let _ = std::fs::remove_file(&timing);
    }
    run
}

/// Clips text to `max` characters.
pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// What a JSONL file of the model holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonlCounts {
    /// Lines: one conversation each.
    pub conversations: u64,
    /// Messages, over every conversation's `messages` array.
    pub messages: u64,
    /// Conversations whose `summary` is set.
    pub summaries: u64,
    /// The conversations' ids, in file order.
    pub ids: Vec<String>,
}

/// Counts a JSONL file of the model (one conversation a line, `messages` an
/// array, `summary` an object or null).
pub fn count_jsonl(path: &Path) -> std::io::Result<JsonlCounts> {
    let f = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut counts = JsonlCounts::default();
    for line in f.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
        counts.conversations += 1;
        counts.messages += v
            .get("messages")
            .and_then(|m| m.as_array())
            .map_or(0, |m| m.len() as u64);
        if v.get("summary").is_some_and(|s| !s.is_null()) {
            counts.summaries += 1;
        }
        counts.ids.push(
            v.get("id")
                .and_then(|i| i.as_str())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    Ok(counts)
}

/// The median of `values` (the mean of the middle two for an even count);
/// NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The machine: cores, CPU model, memory, kernel, rustc.
pub fn machine() -> Vec<(String, String)> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, m)| m.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    let cmd = |p: &str, a: &[&str]| {
        Command::new(p)
            .args(a)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    vec![
        ("cores (nproc)".into(), cores.to_string()),
        ("CPU".into(), model),
        ("memory".into(), mem),
        ("kernel".into(), cmd("uname", &["-sr"])),
        ("rustc".into(), cmd("rustc", &["--version"])),
    ]
}
