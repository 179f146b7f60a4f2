//! Normalization throughput per vendor, measured with divan: the vendor
//! crates' public page functions (`chathaul::<vendor>::normalize`) over every
//! page a pull of the simulator's dataset receives, recorded once (the same
//! pages and the same dataset as table 1 of BENCHMARKS.md). One thread, so
//! one core; divan reports time per pass over the pages, messages per second
//! (conversations for CareSoft, which has no messages API) and bytes per
//! second.
//!
//! ```text
//! cargo bench -p chathaul-bench --bench normalize          # full dataset
//! BENCH_SIZE=tiny cargo bench -p chathaul-bench --bench normalize
//! cargo test -p chathaul-bench --bench normalize -- --test # each once (make test)
//! ```
//!
//! Figures only: nothing here asserts a time.

use std::sync::LazyLock;

use chathaul_bench::normalize::{Recording, normalize_page, record};
use divan::counter::{BytesCount, ItemsCount};

fn main() {
    // Record before divan prints its table, so the lines stay apart.
    LazyLock::force(&PAGES);
    divan::main();
}

/// The recorded pages of each vendor, with what one pass over them makes.
struct Pages {
    vendor: &'static str,
    pages: Vec<(String, bytes::Bytes)>,
    items: u64,
    bytes: u64,
}

static PAGES: LazyLock<Vec<Pages>> = LazyLock::new(|| {
    let tiny = std::env::var("BENCH_SIZE").is_ok_and(|s| s == "tiny")
        || std::env::args().any(|a| a == "--test");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    ["bangwo8", "kf5", "caresoft"]
        .into_iter()
        .map(|vendor| {
            let recording: Recording = record(&rt, vendor, tiny)
                .unwrap_or_else(|e| panic!("{vendor}: recording the pages failed: {e}"));
            let pages = recording.pages();
            let (mut conversations, mut messages, mut bytes) = (0, 0, 0);
            for (key, body) in &pages {
                let (c, m) = normalize_page(vendor, key, body)
                    .unwrap_or_else(|e| panic!("a recorded page does not normalize: {e}"));
                conversations += c;
                messages += m;
                bytes += body.len() as u64;
            }
            eprintln!(
                "{vendor}: {} ({} pages, {conversations} conversations, {messages} messages, {:.1} MB per pass)",
                recording.dataset,
                pages.len(),
                bytes as f64 / 1e6
            );
            Pages {
                vendor,
                pages,
                items: if messages > 0 { messages } else { conversations },
                bytes,
            }
        })
        .collect()
});

/// One pass over a vendor's recorded pages through its `normalize` functions
/// (the items counter is messages, or conversations for CareSoft).
#[divan::bench(args = ["bangwo8", "kf5", "caresoft"], sample_count = 30)]
fn normalize(bencher: divan::Bencher, vendor: &str) {
    let set = PAGES
        .iter()
        .find(|p| p.vendor == vendor)
        .expect("every vendor is recorded");
    bencher
        .counter(ItemsCount::new(set.items))
        .counter(BytesCount::new(set.bytes))
        .bench(|| {
            for (key, body) in &set.pages {
                let made = normalize_page(set.vendor, key, divan::black_box(body))
                    .expect("a recorded page normalizes");
                divan::black_box(made);
            }
        });
}
