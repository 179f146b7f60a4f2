//! Counters a connector keeps while it pulls, so a caller can check
//! completeness (what the vendor reported beside what was fetched) rather than
//! assume it, and show progress.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::http::StatsSnapshot;

/// A snapshot of a connector's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PullStats {
    /// HTTP counters (requests, retries, throttled answers, bytes) and what
    /// the account's pacing learned (concurrency, rate, time paused).
    pub http: StatsSnapshot,
    /// Listing pages fetched.
    pub pages: u64,
    /// Records seen on listing pages (before the client-side filter).
    pub listed: u64,
    /// The totals the vendor reported for the listings walked, added up;
    /// `None` when the vendor reports none.
    pub reported_total: Option<u64>,
    /// Messages fetched.
    pub messages: u64,
    /// The message counts the vendor reported for the conversations whose
    /// messages were fetched, added up; `None` when it reports none.
    pub reported_messages: Option<u64>,
    /// Every place where what was fetched differs from what was reported.
    pub shortfalls: Vec<String>,
}

/// Live counters, shared by a connector and its streams.
#[derive(Debug, Default)]
pub struct PullCounters {
    pages: AtomicU64,
    listed: AtomicU64,
    reported_total: AtomicU64,
    has_total: AtomicBool,
    messages: AtomicU64,
    reported_messages: AtomicU64,
    has_reported_messages: AtomicBool,
    shortfalls: Mutex<Vec<String>>,
}

impl PullCounters {
    /// Counts one listing page with `records` records.
    pub fn page(&self, records: usize) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.listed.fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Adds a total the vendor reported for one listing walked to its end.
    pub fn reported_total(&self, total: u64) {
        self.has_total.store(true, Ordering::Relaxed);
        self.reported_total.fetch_add(total, Ordering::Relaxed);
    }

    /// Counts messages fetched for one conversation, with the count the
    /// vendor reported for it if any; a difference is recorded as a shortfall.
    pub fn messages(&self, conversation: &str, fetched: usize, reported: Option<u64>) {
        self.messages.fetch_add(fetched as u64, Ordering::Relaxed);
        if let Some(r) = reported {
            self.has_reported_messages.store(true, Ordering::Relaxed);
            self.reported_messages.fetch_add(r, Ordering::Relaxed);
            if r != fetched as u64 {
                self.shortfall(format!("conversation {conversation}: the vendor reported {r} messages, {fetched} were fetched"));
            }
        }
    }

    /// Records a difference between what was reported and what was fetched.
    pub fn shortfall(&self, note: String) {
        let mut s = self.shortfalls.lock().unwrap_or_else(|p| p.into_inner());
        // Keep memory bounded on a pathological vendor.
        if s.len() < 1000 {
            s.push(note);
        }
    }

    /// A snapshot, with the HTTP counters of the connector's client.
    pub fn snapshot(&self, http: StatsSnapshot) -> PullStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PullStats {
            http,
            pages: load(&self.pages),
            listed: load(&self.listed),
            reported_total: self
                .has_total
                .load(Ordering::Relaxed)
                .then(|| load(&self.reported_total)),
            messages: load(&self.messages),
            reported_messages: self
                .has_reported_messages
                .load(Ordering::Relaxed)
                .then(|| load(&self.reported_messages)),
            shortfalls: self
                .shortfalls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}
