//! Peak memory and time of `chathaul pull` to JSONL, Parquet (one file per
//! table, and a folder partitioned by day) and SQLite at growing sizes. The
//! simulator runs as a separate process (the `chathaul-sim` binary, no
//! latency), so only the pull's own process is measured.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::util::{ChildRun, run_measured};

/// The vendor pulled (messages embedded in half the list items, the rest
/// fetched one chat at a time).
pub const VENDOR: &str = "kf5";
/// Mean messages per conversation of the datasets.
pub const MESSAGES_MEAN: usize = 50;

/// One measured pull.
#[derive(Debug, Clone)]
pub struct Row {
    pub target_messages: u64,
    pub conversations: usize,
    pub format: &'static str,
    pub run: ChildRun,
    pub output_mb: f64,
}

/// The simulator process; killed when dropped.
struct SimProcess {
    child: Child,
    config: Vec<(String, String)>,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(bin: &Path, conversations: usize) -> Result<SimProcess, String> {
    let mut child = Command::new(bin)
        .args([
            "--port",
            "0",
            "--json",
            "--conversations",
            &conversations.to_string(),
            "--messages",
            &MESSAGES_MEAN.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut sim = SimProcess {
        child,
        config: Vec::new(),
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(&line)
        else {
            continue;
        };
        if m.get("vendor").and_then(|v| v.as_str()) == Some(VENDOR) {
            sim.config = m
                .into_iter()
                .filter(|(k, _)| k != "vendor")
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect();
            return Ok(sim);
        }
    }
    Err("the simulator printed no kf5 config".into())
}

/// The outputs measured: a name, and the `-o` (and flags) of each. A name
/// ending in `/day` is a folder partitioned by day.
pub const FORMATS: &[&str] = &["jsonl", "parquet", "parquet/day", "sqlite"];

/// The outputs measured again at the big size (5M messages): JSONL, the
/// yardstick, and every Parquet output, whose target is a flat peak under
/// 100 MB at any size.
pub const BIG_FORMATS: &[&str] = &["jsonl", "parquet", "parquet/day"];

/// Sizes in messages: three for every format, a fourth (5M, [`BIG_FORMATS`])
/// when `big`. `BENCH_MEMORY_SIZES` (comma-separated message counts) replaces
/// the three, to measure one size alone.
pub fn sizes(tiny: bool) -> Vec<u64> {
    if let Some(sizes) = std::env::var("BENCH_MEMORY_SIZES").ok().and_then(|s| {
        s.split(',')
            .map(|n| n.trim().parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()
            .filter(|v| !v.is_empty())
    }) {
        return sizes;
    }
    if tiny {
        vec![2_000, 5_000, 10_000]
    } else {
        vec![100_000, 300_000, 1_000_000]
    }
}

/// Runs every size and format.
pub fn run(
    chathaul: &Path,
    sim_bin: &Path,
    scratch: &Path,
    tiny: bool,
    big: Option<u64>,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut plan: Vec<(u64, Vec<&'static str>)> = sizes(tiny)
        .into_iter()
        .map(|s| (s, FORMATS.to_vec()))
        .collect();
    if let Some(b) = big {
        plan.push((b, BIG_FORMATS.to_vec()));
    }
    for (target, formats) in plan {
        let conversations = (target / MESSAGES_MEAN as u64) as usize;
        let sim = start_sim(sim_bin, conversations)?;
        for format in formats {
            let partitioned = format.strip_suffix("/day").is_some();
            let out: PathBuf = if partitioned {
                scratch.join(format!("mem-{target}-by-day"))
            } else {
                scratch.join(format!("mem-{target}.{format}"))
            };
            remove_outputs(&out);
            let mut args: Vec<String> = vec![
                "--quiet".into(),
                "pull".into(),
                VENDOR.into(),
                "--messages".into(),
            ];
            for (k, v) in &sim.config {
                args.push("-c".into());
                args.push(format!("{k}={v}"));
            }
            args.push("-o".into());
            args.push(out.display().to_string());
            if partitioned {
                args.extend(["--partition-by".into(), "day".into()]);
            }
            let run = run_measured(chathaul, &args, &[], scratch);
            let output_mb = outputs(&out)
                .iter()
                .map(|p| bytes_under(p) as f64 / 1e6)
                .sum();
            remove_outputs(&out);
            rows.push(Row {
                target_messages: target,
                conversations,
                format,
                run,
                output_mb,
            });
        }
    }
    Ok(rows)
}

/// The files a pull to `path` writes (Parquet and CSV write two tables).
fn outputs(path: &Path) -> Vec<PathBuf> {
    let stem = path.with_extension("");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    vec![
        path.to_path_buf(),
        PathBuf::from(format!("{}.conversations.{ext}", stem.display())),
        PathBuf::from(format!("{}.messages.{ext}", stem.display())),
        PathBuf::from(format!("{}-wal", path.display())),
        PathBuf::from(format!("{}-journal", path.display())),
    ]
}

/// The size of a file, or of every file under a folder.
fn bytes_under(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| bytes_under(&e.path()))
            .sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

fn remove_outputs(path: &Path) {
    for p in outputs(path) {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
}
