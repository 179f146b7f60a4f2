//! Pull one vendor's conversations, with messages, to stdout as JSONL.
//!
//! ```sh
//! cargo run --example pull_jsonl -- kf5            # against the built-in simulator
//! CHATHAUL_KF5_SUBDOMAIN=acme CHATHAUL_KF5_EMAIL=me@acme.com CHATHAUL_KF5_PASSWORD=... \
//!     cargo run --example pull_jsonl -- kf5 --live  # against a real account (config from the environment)
//! ```

use std::io::Write;

use chathaul::futures::StreamExt;
use chathaul::{Query, connect};
use chathaul_sim::{SimOptions, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let vendor = args.next().unwrap_or_else(|| "kf5".into());
    let live = args.any(|a| a == "--live");

    // Offline, the simulator provides the whole config (base_url and demo
    // credentials); live, every field comes from CHATHAUL_<VENDOR>_<FIELD>.
    let sim = if live {
        None
    } else {
        Some(
            Simulator::start(SimOptions {
                conversations: 20,
                ..Default::default()
            })
            .await?,
        )
    };
    let config = sim.as_ref().map(|s| s.config(&vendor)).unwrap_or_default();
    let connector = connect(&vendor, config)?;

    let query = Query::new().with_messages(connector.info().capabilities.messages);
    let mut stream = connector.conversations(&query);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut n = 0;
    while let Some(conversation) = stream.next().await {
        chathaul::serde_json::to_writer(&mut out, &conversation?)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    let stats = connector.stats();
    eprintln!(
        "{vendor}: {n} conversations, {} messages, {} requests",
        stats.messages, stats.http.requests
    );
    Ok(())
}
