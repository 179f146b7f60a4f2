//! Table C: a server whose latency grows with the requests in flight.
//! `chathaul pull` at its default (adaptive) settings against a sweep of
//! fixed concurrencies (`-c concurrency=N -c adaptive_concurrency=false`),
//! all on the same simulator in the same run.

use std::time::Duration;

use chathaul_sim::SimOptions;

use crate::e2e::{self, Pull, Tools};

/// The vendor pulled (messages and summaries: two requests per session,
/// all independent of each other once the session is listed).
pub const VENDOR: &str = "bangwo8";
/// Latency with nothing else in flight.
pub const LATENCY: Duration = Duration::from_millis(50);
/// More latency per request already in flight when a request arrives.
pub const PER_IN_FLIGHT: Duration = Duration::from_millis(3);

/// The fixed concurrencies of the sweep (the tiny run tries three).
pub fn sweep(tiny: bool) -> Vec<u32> {
    if tiny {
        vec![1, 8, 64]
    } else {
        vec![1, 2, 4, 8, 16, 32, 64]
    }
}

/// Sessions pulled (about two requests each).
pub fn conversations(tiny: bool) -> usize {
    if tiny { 10 } else { 150 }
}

/// The sweep and the adaptive run.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub conversations: usize,
    /// `(concurrency, pull)` for each fixed concurrency.
    pub fixed: Vec<(u32, Pull)>,
    /// The default settings' pull, run with `-v` (its log says where the
    /// controller took the concurrency).
    pub adaptive: Pull,
}

/// The concurrency limits the pacing controller logged in a `-v` run, in
/// order, repeats left out: each pacing line ends with its `concurrency=N`
/// field (raises are logged at powers of two and at the ceiling, every cut
/// and every throttle).
pub fn concurrency_path(log: &str) -> Vec<u64> {
    let mut path: Vec<u64> = Vec::new();
    for line in log.lines().filter(|l| l.contains("connector_core::pacing")) {
        let Some(at) = line.rfind(" concurrency=") else {
            continue;
        };
        let digits: String = line[at + " concurrency=".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse()
            && path.last() != Some(&n)
        {
            path.push(n);
        }
    }
    path
}

impl Sweep {
    /// The fastest fixed concurrency and its pull.
    pub fn best(&self) -> Option<&(u32, Pull)> {
        self.fixed
            .iter()
            .filter(|(_, p)| p.error.is_none())
            .min_by(|a, b| a.1.run.wall.total_cmp(&b.1.run.wall))
    }
}

/// Runs the sweep, then the default settings, on one simulator.
pub fn run(tools: &Tools, tiny: bool) -> Result<Sweep, String> {
    let conversations = conversations(tiny);
    let sim = e2e::simulator(SimOptions {
        conversations,
        latency: LATENCY,
        latency_per_in_flight: PER_IN_FLIGHT,
        ..SimOptions::default()
    })?;
    let mut fixed = Vec::new();
    for c in sweep(tiny) {
        eprintln!("chathaul-bench:   fixed concurrency {c}");
        let pull = e2e::chathaul_pull(
            tools,
            &sim,
            VENDOR,
            &[
                ("concurrency", c.to_string()),
                ("adaptive_concurrency", "false".into()),
            ],
            &[],
            &format!("fixed{c}"),
        );
        fixed.push((c, pull));
    }
    eprintln!("chathaul-bench:   default settings (adaptive)");
    let adaptive = e2e::chathaul_pull_verbose(tools, &sim, VENDOR, &[], &[], "adaptive");
    Ok(Sweep {
        conversations,
        fixed,
        adaptive,
    })
}

#[cfg(test)]
mod tests {
    use super::concurrency_path;

    #[test]
    fn the_path_is_read_from_the_pacing_lines_of_a_verbose_log() {
        let log = "\
2026-12-07T00:20:52.638779Z  INFO connector_core::pacing: concurrency raised to 4 account=\"bangwo8 admin@demo\" concurrency=4
2026-12-07T00:20:52.700374Z  INFO chathaul_engine::pull: page 2 concurrency=99
2026-12-07T00:20:52.700374Z  INFO connector_core::pacing: concurrency raised to 8 account=\"bangwo8 admin@demo\" concurrency=8
2026-12-07T00:20:52.800000Z  INFO connector_core::pacing: throttled: pausing the account, then at most 8 in flight account=\"bangwo8 admin@demo\" retry_after=None pause=1s concurrency=8 rate=Some(9.5)
2026-12-07T00:20:52.900000Z  INFO connector_core::pacing: concurrency lowered from 8 to 5 account=\"bangwo8 admin@demo\" concurrency=5
chathaul: wrote out.jsonl
";
        assert_eq!(concurrency_path(log), vec![4, 8, 5]);
        assert!(concurrency_path("chathaul: wrote out.jsonl").is_empty());
    }
}
