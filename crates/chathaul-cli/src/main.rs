#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod cli;
mod progress;
mod run;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes (documented in the README).
pub(crate) mod exit {
    /// Everything asked for was fetched.
    pub const OK: u8 = 0;
    /// A fetch or I/O error: something asked for was not fetched.
    pub const FAILED: u8 = 1;
    /// A usage or configuration error (unknown vendor, missing secret, bad flag); nothing was fetched.
    pub const USAGE: u8 = 2;
    /// Everything ran, but the vendor reported more than was fetched.
    pub const INCOMPLETE: u8 = 3;
    /// Everything ran to the end, but records that could not be decoded were
    /// set aside (`--on-bad-record skip`): they are in `rejects`.
    pub const REJECTED: u8 = 4;
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    progress::init_logging(args.verbose, args.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chathaul: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = runtime.block_on(run::run(args));
    ExitCode::from(code)
}
