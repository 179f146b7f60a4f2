//! The short report a support lead wants from a synced database:
//! conversations and messages per vendor and channel, rating shares, and the
//! median first response and wait per vendor.
//!
//! Medians use what the vendor reports; where a vendor reports nothing, they
//! are computed (first response: the first agent message after the start;
//! wait: from the start until an agent was assigned or answered) and marked
//! as computed.

use std::collections::BTreeMap;
use std::fmt;

use connector_core::{Error, Result};
use serde::Serialize;

use crate::store::Store;

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

fn db_err(e: rusqlite::Error) -> Error {
    Error::Other(format!("cannot build the report: {e}"))
}

fn column_f64(store: &Store, sql: &str, vendor: &str) -> Result<Vec<f64>> {
    let mut stmt = store.connection().prepare(sql).map_err(db_err)?;
    let rows = stmt
        .query_map([vendor], |r| r.get::<_, Option<f64>>(0))
        .map_err(db_err)?;
    let mut out = Vec::new();
    for r in rows {
        if let Some(v) = r.map_err(db_err)?
            && v >= 0.0
        {
            out.push(v);
        }
    }
    Ok(out)
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
    /// [`Error::Other`] on a database error.
    pub fn from_store(store: &Store) -> Result<LeadReport> {
        let conn = store.connection();
        let mut stmt = conn
            .prepare(
                "SELECT vendor, coalesce(channel, '(none)'), count(*), coalesce(sum(message_count), 0)
                 FROM conversations GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .map_err(db_err)?;
        let channels = stmt
            .query_map([], |r| {
                Ok(ChannelRow {
                    vendor: r.get(0)?,
                    channel: r.get(1)?,
                    conversations: r.get::<_, i64>(2)? as u64,
                    messages: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(db_err)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let mut vendors = Vec::new();
        let names: Vec<String> = {
            let mut v: Vec<String> = channels.iter().map(|c| c.vendor.clone()).collect();
            v.dedup();
            v
        };
        for vendor in names {
            let conversations = channels
                .iter()
                .filter(|c| c.vendor == vendor)
                .map(|c| c.conversations)
                .sum();
            let mut stmt = conn
                .prepare("SELECT rating_satisfaction, count(*) FROM conversations WHERE vendor = ?1 AND rating_satisfaction IS NOT NULL GROUP BY 1")
                .map_err(db_err)?;
            let counts: Vec<(String, u64)> = stmt
                .query_map([&vendor], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
                .map_err(db_err)?
                .collect::<std::result::Result<_, _>>()
                .map_err(db_err)?;
            let rated_slots: u64 = counts.iter().map(|(_, n)| n).sum();
            let rating_shares = counts
                .into_iter()
                .map(|(k, n)| (k, n as f64 / rated_slots.max(1) as f64))
                .collect();
            let first_reported = column_f64(
                store,
                "SELECT first_response_secs FROM conversations WHERE vendor = ?1",
                &vendor,
            )?;
            let first_computed = column_f64(
                store,
                "SELECT (julianday(min(m.sent_at)) - julianday(c.created_at)) * 86400.0
                 FROM conversations c JOIN messages m
                   ON m.vendor = c.vendor AND m.account = c.account AND m.conversation_id = c.id AND m.sender_role = 'agent'
                 WHERE c.vendor = ?1 GROUP BY c.vendor, c.account, c.id",
                &vendor,
            )?;
            let wait_reported = column_f64(
                store,
                "SELECT wait_secs FROM conversations WHERE vendor = ?1",
                &vendor,
            )?;
            let wait_computed = column_f64(
                store,
                "SELECT (julianday(coalesce(assigned_at, answered_at)) - julianday(created_at)) * 86400.0
                 FROM conversations WHERE vendor = ?1",
                &vendor,
            )?;
            vendors.push(VendorRow {
                vendor,
                conversations,
                rated_slots,
                rating_shares,
                first_response: pick(first_reported, first_computed),
                wait: pick(wait_reported, wait_computed),
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
