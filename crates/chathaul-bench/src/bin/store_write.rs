//! `chathaul-bench-store-write RECORDED.jsonl DATABASE RESULT.json`: the
//! child process of the store-write benchmark (`chathaul_bench::store_write`),
//! so that its peak RSS is the write's own.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(chathaul_bench::store_write::child_main(&args));
}
