//! The facade's engine: sinks read back, the SQLite store, the sync engine
//! (with an in-test fake connector), the config file.

mod config;
mod fake;
mod sinks;
mod sync;
