//! Incremental sync of all three vendors into SQLite, twice: the second run
//! asks only for the look-back window and duplicates nothing.
//!
//! ```sh
//! cargo run --example sync_sqlite -- /tmp/chats.sqlite
//! ```

use chathaul::sync::{Source, SyncOptions, prepare, sync};
use chathaul::{SqliteStore, SyncStore, connectors};
use chathaul_sim::{SimOptions, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let given = std::env::args().nth(1).map(std::path::PathBuf::from);
    let db = given.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("chathaul-example-{}.sqlite", std::process::id()))
    });
    let sim = Simulator::start(SimOptions {
        conversations: 50,
        ..Default::default()
    })
    .await?;
    let sources = || {
        connectors()
            .iter()
            .map(|f| Source::new(f.name, sim.config(f.name)))
            .collect::<Vec<_>>()
    };

    for run in 1..=2 {
        let prepared = prepare(sources()).map_err(|(name, e)| format!("source {name}: {e}"))?;
        let reports = sync(&db, prepared, SyncOptions::default()).await?;
        for r in &reports {
            println!("run {run}: {}", r.pull.summary_line());
        }
    }
    let store = SqliteStore::open(&db)?;
    let rows = store.conversations()?.len();
    let truth: usize = connectors().iter().map(|f| sim.truth(f.name).len()).sum();
    println!(
        "{}: {rows} conversations (the simulators served {truth})",
        db.display()
    );
    assert_eq!(rows, truth, "exactly once per (vendor, account, id)");
    if given.is_none() {
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    Ok(())
}
