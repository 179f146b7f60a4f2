//! Table B: `chathaul pull` at its default settings against a server limit
//! it is not told: requests per second per account in a fixed one-second
//! window, over it 429 with `Retry-After: 1` or with no `Retry-After`.

use std::time::Duration;

use chathaul_sim::SimOptions;

use crate::e2e::{self, Pull, Tools};

/// Latency of every request (the slower of table A's two: a pull needs
/// more in flight to reach the limit).
pub const LATENCY: Duration = Duration::from_millis(80);

/// CareSoft's page size here: its listing is its only endpoint, and at the
/// default 500 a pull would take a handful of requests.
pub const CARESOFT_PAGE_SIZE: u32 = 20;

/// The server's limits, requests per second per account.
pub fn limits(tiny: bool) -> Vec<u32> {
    if tiny { vec![20] } else { vec![10, 20] }
}

/// The `Retry-After` modes: a second, and none (the tiny run, which only
/// keeps the program from rotting, tries the first).
pub fn retry_after_modes(tiny: bool) -> Vec<bool> {
    if tiny { vec![true] } else { vec![true, false] }
}

/// How long each pull should take at the limit, in seconds: long enough that
/// learning the limit (the first second's burst, the pause it earns) is a
/// small part of it.
pub fn seconds_at_the_limit(tiny: bool) -> u32 {
    if tiny { 1 } else { 30 }
}

/// Conversations for about `requests` requests of `vendor`'s pull.
fn conversations_for(vendor: &str, requests: u32) -> usize {
    let r = requests as usize;
    match vendor {
        // A session: its messages (one page of 100 most often) and its summary.
        "bangwo8" => r * 100 / 205,
        // Half the chats need their detail; a listing page per 100.
        "kf5" => r * 100 / 51,
        _ => r * CARESOFT_PAGE_SIZE as usize,
    }
}

/// One vendor, limit and Retry-After mode.
#[derive(Debug, Clone)]
pub struct Case {
    pub vendor: &'static str,
    pub limit: u32,
    pub retry_after: bool,
    pub conversations: usize,
    pub pull: Pull,
}

impl Case {
    /// Answered requests over what the limit allows in the pull's wall time
    /// (process start to exit).
    pub fn fraction_of_bound(&self) -> f64 {
        self.pull.useful() as f64 / (f64::from(self.limit) * self.pull.run.wall.max(1e-9))
    }
}

/// Every case, each on a fresh simulator (a fresh rate window and budget).
pub fn run(tools: &Tools, tiny: bool) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for &limit in &limits(tiny) {
        for &retry_after in &retry_after_modes(tiny) {
            for vendor in ["bangwo8", "kf5", "caresoft"] {
                let conversations =
                    conversations_for(vendor, limit * seconds_at_the_limit(tiny)).max(4);
                eprintln!(
                    "chathaul-bench:   {vendor}, {limit} req/s, Retry-After {}",
                    if retry_after { "on" } else { "off" }
                );
                let sim = e2e::simulator(SimOptions {
                    conversations,
                    latency: LATENCY,
                    rate_limit: Some(limit),
                    retry_after,
                    ..SimOptions::default()
                })?;
                let flags: Vec<String> = if vendor == "caresoft" {
                    vec!["--page-size".into(), CARESOFT_PAGE_SIZE.to_string()]
                } else {
                    vec![]
                };
                let pull = e2e::chathaul_pull(tools, &sim, vendor, &[], &flags, "limited");
                cases.push(Case {
                    vendor: e2e::vendor_name(vendor),
                    limit,
                    retry_after,
                    conversations,
                    pull,
                });
            }
        }
    }
    Ok(cases)
}
