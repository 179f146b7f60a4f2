//! End-to-end tests of the `chathaul` binary against the in-process
//! simulators: every vendor to every format read back and compared with the
//! ground truth, incremental sync, kill -9 and rerun, config files, errors,
//! and secrets that must appear nowhere.

mod common;
mod errors;
mod formats;
mod kill;
mod postgres;
mod rejects;
mod secrets;
mod sync;
