//! The short report a support lead wants from a synced database:
//! conversations and messages per vendor and channel, rating shares, and the
//! median first response and wait per vendor.
//!
//! Medians use what the vendor reports; where a vendor reports nothing, they
//! are computed (first response: the first agent message after the start;
//! wait: from the start until an agent was assigned or answered) and marked
//! as computed.
//!
//! The figures come from any [`SyncStore`]; the arithmetic and the text are
//! here, the same for every backend.

use std::collections::BTreeMap;
use std::fmt;

use connector_core::Result;
use serde::Serialize;

use crate::store::{Measure, SyncStore};

/// Conversations and messages of one vendor on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelRow {
    /// The vendor.
    pub vendor: String,
    /// The channel (`(none)` when the vendor does not say).
    pub channel: String,
    /// Conversations.
    pub conversations: u64,
    /// Messages stored.
    pub messages: u64,
}

/// A median, and whether the vendor reported the values or they were computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Median {
    /// The median in seconds.
    pub secs: f64,
    /// How many conversations it is over.
    pub over: u64,
    /// `true` when computed from times or messages, not reported by the vendor.
    pub computed: bool,
}

/// The per-vendor part of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VendorRow {
    /// The vendor.
    pub vendor: String,
    /// Conversations.
    pub conversations: u64,
    /// Conversations with a rating slot (the vendor rates this channel).
    pub rated_slots: u64,
    /// Share of each satisfaction among the rating slots (0..=1), by name.
    pub rating_shares: BTreeMap<String, f64>,
    /// Median first response.
    pub first_response: Option<Median>,
    /// Median wait.
    pub wait: Option<Median>,
}

/// The support-lead report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadReport {
    /// Per vendor and channel.
    pub channels: Vec<ChannelRow>,
    /// Per vendor.
    pub vendors: Vec<VendorRow>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A measure's values, without the negative ones (a clock that went
/// backwards, an agent assigned before the chat began).
fn non_negative(store: &dyn SyncStore, vendor: &str, measure: Measure) -> Result<Vec<f64>> {
    let mut values = store.measure(vendor, measure)?;
    values.retain(|v| *v >= 0.0);
    Ok(values)
}

fn pick(reported: Vec<f64>, computed: Vec<f64>) -> Option<Median> {
    if let Some(m) = median(reported.clone()) {
        return Some(Median {
            secs: m,
            over: reported.len() as u64,
            computed: false,
        });
    }
    median(computed.clone()).map(|m| Median {
        secs: m,
        over: computed.len() as u64,
        computed: true,
    })
}

impl LeadReport {
    /// Builds the report from a database.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    pub fn from_store(store: &dyn SyncStore) -> Result<LeadReport> {
        let mut channels: Vec<ChannelRow> = store
            .channel_counts()?
            .into_iter()
            .map(|c| ChannelRow {
                vendor: c.vendor,
                channel: c.channel.unwrap_or_else(|| "(none)".to_owned()),
                conversations: c.conversations,
                messages: c.messages,
            })
            .collect();
        channels.sort_by(|a, b| (&a.vendor, &a.channel).cmp(&(&b.vendor, &b.channel)));
        let mut names: Vec<String> = channels.iter().map(|c| c.vendor.clone()).collect();
        names.dedup();
        let mut vendors = Vec::new();
        for vendor in names {
            let conversations = channels
                .iter()
                .filter(|c| c.vendor == vendor)
                .map(|c| c.conversations)
                .sum();
            let counts = store.rating_counts(&vendor)?;
            let rated_slots: u64 = counts.iter().map(|(_, n)| n).sum();
            let rating_shares = counts
                .into_iter()
                .map(|(k, n)| (k, n as f64 / rated_slots.max(1) as f64))
                .collect();
            let first_response = pick(
                non_negative(store, &vendor, Measure::FirstResponseReported)?,
                non_negative(store, &vendor, Measure::FirstResponseComputed)?,
            );
            let wait = pick(
                non_negative(store, &vendor, Measure::WaitReported)?,
                non_negative(store, &vendor, Measure::WaitComputed)?,
            );
            vendors.push(VendorRow {
                vendor,
                conversations,
                rated_slots,
                rating_shares,
                first_response,
                wait,
            });
        }
        Ok(LeadReport { channels, vendors })
    }
}

fn secs(m: &Option<Median>) -> String {
    match m {
        None => "-".to_owned(),
        Some(m) => {
            let s = m.secs.round() as u64;
            let text = if s >= 60 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{s}s")
            };
            if m.computed { format!("{text}*") } else { text }
        }
    }
}

impl fmt::Display for LeadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Conversations and messages by vendor and channel")?;
        writeln!(
            f,
            "  {:<10} {:<10} {:>13} {:>9}",
            "vendor", "channel", "conversations", "messages"
        )?;
        for c in &self.channels {
            writeln!(
                f,
                "  {:<10} {:<10} {:>13} {:>9}",
                c.vendor, c.channel, c.conversations, c.messages
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Ratings, first response and wait by vendor")?;
        writeln!(
            f,
            "  {:<10} {:>13} {:>10} {:>8} {:>13} {:>8} {:>15} {:>11}",
            "vendor",
            "conversations",
            "satisfied",
            "neutral",
            "dissatisfied",
            "unrated",
            "first response",
            "wait"
        )?;
        for v in &self.vendors {
            let share = |k: &str| {
                if v.rated_slots == 0 {
                    "-".to_owned()
                } else {
                    format!(
                        "{:.0}%",
                        100.0 * v.rating_shares.get(k).copied().unwrap_or(0.0)
                    )
                }
            };
            writeln!(
                f,
                "  {:<10} {:>13} {:>10} {:>8} {:>13} {:>8} {:>15} {:>11}",
                v.vendor,
                v.conversations,
                share("satisfied"),
                share("neutral"),
                share("dissatisfied"),
                share("unrated"),
                secs(&v.first_response),
                secs(&v.wait)
            )?;
        }
        writeln!(
            f,
            "  (medians; * = computed from times and messages because the vendor reports none; - = no data)"
        )
    }
}
