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

/// A text table for a terminal: every column as wide as its widest cell in
/// display width (a Chinese character or an emoji is two columns wide), so
/// names in any script line up; no borders, no trailing blanks. The command
/// line prints every table through it.
#[derive(Debug, Clone)]
pub struct TextTable {
    table: comfy_table::Table,
}

impl TextTable {
    /// A table with these column headers, its columns two spaces apart.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .set_header(header.into_iter().map(Into::into).collect::<Vec<String>>());
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        if let Some(last) = table.column_iter_mut().last() {
            last.set_padding((0, 0));
        }
        Self { table }
    }

    /// Indents the table by `spaces`.
    pub fn indent(&mut self, spaces: u16) -> &mut Self {
        let gap = if self.table.column_count() > 1 { 2 } else { 0 };
        if let Some(first) = self.table.column_mut(0) {
            first.set_padding((spaces, gap));
        }
        self
    }

    /// Aligns these columns (by index from 0) to the right: numbers.
    pub fn align_right(&mut self, columns: &[usize]) -> &mut Self {
        for &i in columns {
            if let Some(column) = self.table.column_mut(i) {
                column.set_cell_alignment(comfy_table::CellAlignment::Right);
            }
        }
        self
    }

    /// Adds a row.
    pub fn add_row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.table
            .add_row(cells.into_iter().map(Into::into).collect::<Vec<String>>());
        self
    }
}

/// The table's lines, without the blanks that pad the last column.
impl fmt::Display for TextTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table.trim_fmt())
    }
}

impl fmt::Display for LeadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut channels = TextTable::new(["vendor", "channel", "conversations", "messages"]);
        channels.indent(2).align_right(&[2, 3]);
        for c in &self.channels {
            channels.add_row([
                c.vendor.clone(),
                c.channel.clone(),
                c.conversations.to_string(),
                c.messages.to_string(),
            ]);
        }
        writeln!(f, "Conversations and messages by vendor and channel")?;
        writeln!(f, "{channels}")?;
        writeln!(f)?;
        let mut vendors = TextTable::new([
            "vendor",
            "conversations",
            "satisfied",
            "neutral",
            "dissatisfied",
            "unrated",
            "first response",
            "wait",
        ]);
        vendors.indent(2).align_right(&[1, 2, 3, 4, 5, 6, 7]);
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
            vendors.add_row([
                v.vendor.clone(),
                v.conversations.to_string(),
                share("satisfied"),
                share("neutral"),
                share("dissatisfied"),
                share("unrated"),
                secs(&v.first_response),
                secs(&v.wait),
            ]);
        }
        writeln!(f, "Ratings, first response and wait by vendor")?;
        writeln!(f, "{vendors}")?;
        writeln!(
            f,
            "  (medians; * = computed from times and messages because the vendor reports none; - = no data)"
        )
    }
}

#[cfg(test)]
mod tests {
    use unicode_width::UnicodeWidthStr;

    use super::*;

    fn report() -> LeadReport {
        let median = |secs| {
            Some(Median {
                secs,
                over: 3,
                computed: false,
            })
        };
        LeadReport {
            channels: vec![
                ChannelRow {
                    vendor: "bangwo8".into(),
                    channel: "web".into(),
                    conversations: 38,
                    messages: 213,
                },
                ChannelRow {
                    vendor: "客服中心".into(),
                    channel: "微信 😀".into(),
                    conversations: 1200,
                    messages: 9,
                },
                ChannelRow {
                    vendor: "Nguyễn Văn An".into(),
                    channel: "zalo 🎉🎉".into(),
                    conversations: 5,
                    messages: 120_000,
                },
            ],
            vendors: vec![VendorRow {
                vendor: "客服中心".into(),
                conversations: 1200,
                rated_slots: 4,
                rating_shares: [("satisfied".to_owned(), 0.75), ("unrated".to_owned(), 0.25)]
                    .into_iter()
                    .collect(),
                first_response: median(95.0),
                wait: None,
            }],
        }
    }

    #[test]
    fn tables_align_chinese_and_emoji_names() {
        let text = report().to_string();
        let blocks: Vec<Vec<&str>> = text
            .split("\n\n")
            .map(|b| {
                b.lines()
                    .skip(1)
                    .filter(|l| !l.trim_start().starts_with('('))
                    .collect()
            })
            .collect();
        assert_eq!(blocks.len(), 2, "{text}");
        assert_eq!(blocks[0].len(), 4, "a header and three rows:\n{text}");
        for table in &blocks {
            let widths: Vec<usize> = table.iter().map(|l| l.width()).collect();
            assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}\n{text}");
            assert!(table.iter().all(|l| l.starts_with("  ")), "{text}");
        }
        // Each column starts at the same display column on every line.
        let rows = &blocks[0];
        let at = |line: &str, cell: &str| line[..line.find(cell).unwrap()].width();
        assert_eq!(at(rows[1], "web"), at(rows[2], "微信"));
        assert_eq!(at(rows[2], "微信"), at(rows[3], "zalo"));
        // Numbers end in the same column.
        let end = |line: &str, cell: &str| at(line, cell) + cell.width();
        assert_eq!(end(rows[1], "38"), end(rows[2], "1200"));
        assert_eq!(end(rows[1], "213"), end(rows[3], "120000"));
        assert!(text.contains("75%") && text.contains("1m35s"), "{text}");
    }

    #[test]
    fn a_text_table_without_indent_starts_flush_left() {
        let mut t = TextTable::new(["source", "status"]);
        t.add_row(["王-demo", "ok"]).add_row(["kf5-demo", "error"]);
        let text = t.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "source    status");
        assert_eq!(lines[1], "王-demo   ok");
        assert_eq!(lines[2], "kf5-demo  error");
    }
}
