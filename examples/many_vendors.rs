//! Stream several vendors concurrently into your own sink: here, a sink that
//! tallies conversations, messages and ratings per vendor and channel.
//!
//! ```sh
//! cargo run --example many_vendors
//! ```

use std::collections::BTreeMap;

use chathaul::futures::{StreamExt, stream};
use chathaul::{Conversation, Query, Satisfaction, connect};
use chathaul_sim::{SimOptions, Simulator};

/// Your own sink: anything that takes conversations one by one.
#[derive(Default)]
struct Tally {
    rows: BTreeMap<(String, String), (u64, u64, u64)>,
}

impl Tally {
    fn write(&mut self, c: &Conversation) {
        let channel = c
            .channel
            .as_ref()
            .map(|ch| ch.to_string())
            .unwrap_or_else(|| "-".into());
        let row = self.rows.entry((c.vendor.clone(), channel)).or_default();
        row.0 += 1;
        row.1 += c.messages.len() as u64;
        row.2 += u64::from(
            c.rating
                .as_ref()
                .is_some_and(|r| r.satisfaction == Satisfaction::Satisfied),
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimOptions {
        conversations: 40,
        ..Default::default()
    })
    .await?;
    let query = Query::new().with_messages(true);

    let mut connectors = Vec::new();
    for factory in chathaul::connectors() {
        connectors.push(connect(factory.name, sim.config(factory.name))?);
    }
    // One merged stream: the vendors are pulled concurrently, each in its own order.
    let mut merged = stream::select_all(connectors.iter().map(|c| c.conversations(&query)));
    let mut tally = Tally::default();
    while let Some(conversation) = merged.next().await {
        tally.write(&conversation?);
    }

    println!(
        "{:<10} {:<10} {:>13} {:>9} {:>10}",
        "vendor", "channel", "conversations", "messages", "satisfied"
    );
    for ((vendor, channel), (n, m, s)) in &tally.rows {
        println!("{vendor:<10} {channel:<10} {n:>13} {m:>9} {s:>10}");
    }
    let total: u64 = tally.rows.values().map(|r| r.0).sum();
    let expected: usize = chathaul::connectors()
        .iter()
        .map(|f| sim.truth(f.name).len())
        .sum();
    assert_eq!(
        total as usize, expected,
        "every conversation of every vendor arrived once"
    );
    Ok(())
}
