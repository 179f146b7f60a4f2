//! Table A: `chathaul pull` at its default settings against the sequential
//! Python `requests` script and the tuned dlt pipeline, on a simulator with
//! latency and no limit.

use std::time::Duration;

use chathaul_sim::SimOptions;

use crate::e2e::{self, Pull, Tools};
use crate::util::median;

/// The vendors and what they pull (Bangwo8 messages and summaries, KF5
/// messages: what both baselines fetch too).
pub const VENDORS: [&str; 2] = ["bangwo8", "kf5"];

/// Conversations per account, per size.
pub fn sizes(tiny: bool) -> Vec<usize> {
    if tiny { vec![10] } else { vec![200, 2_000] }
}

/// Latencies of the simulator, in milliseconds.
pub fn latencies(tiny: bool) -> Vec<u64> {
    if tiny { vec![50] } else { vec![50, 80] }
}

/// chathaul's pulls per case: they are short, so the machine's noise is
/// taken out by the median of three.
pub fn chathaul_runs(tiny: bool) -> usize {
    if tiny { 1 } else { 3 }
}

/// One vendor, size and latency.
#[derive(Debug, Clone)]
pub struct Case {
    pub vendor: &'static str,
    pub conversations: usize,
    pub latency_ms: u64,
    /// chathaul's pulls (the first is the one compared for output).
    pub chathaul: Vec<Pull>,
    pub script: Option<Pull>,
    pub dlt: Option<Pull>,
}

impl Case {
    /// chathaul's median wall time.
    pub fn chathaul_wall(&self) -> f64 {
        median(&self.chathaul.iter().map(|p| p.run.wall).collect::<Vec<_>>())
    }

    /// A baseline's wall time over chathaul's.
    pub fn ratio(&self, baseline: Option<&Pull>) -> Option<f64> {
        baseline.map(|b| b.run.wall / self.chathaul_wall().max(1e-9))
    }
}

/// Every case: one simulator per size and latency, both vendors on it.
pub fn run(tools: &Tools, tiny: bool) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for &conversations in &sizes(tiny) {
        for &latency_ms in &latencies(tiny) {
            let sim = e2e::simulator(SimOptions {
                conversations,
                latency: Duration::from_millis(latency_ms),
                ..SimOptions::default()
            })?;
            for vendor in VENDORS {
                eprintln!(
                    "chathaul-bench:   {vendor}, {conversations} conversations, {latency_ms} ms"
                );
                let chathaul = (0..chathaul_runs(tiny))
                    .map(|i| e2e::chathaul_pull(tools, &sim, vendor, &[], &[], &format!("a{i}")))
                    .collect();
                let script = e2e::script_pull(tools, &sim, vendor, None);
                let dlt = e2e::dlt_pull(tools, &sim, vendor, "a");
                cases.push(Case {
                    vendor: e2e::vendor_name(vendor),
                    conversations,
                    latency_ms,
                    chathaul,
                    script,
                    dlt,
                });
            }
        }
    }
    Ok(cases)
}
