//! `chathaul-sim`: serves the vendor simulators until Ctrl-C.

fn main() {
    if let Err(e) = chathaul_sim::run_cli(std::env::args_os()) {
        eprintln!("chathaul-sim: {e}");
        std::process::exit(1);
    }
}
