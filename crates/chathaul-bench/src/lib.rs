//! The benchmark programs behind `make bench`, as a library shared by the
//! `chathaul-bench` driver (which writes BENCHMARKS.md) and the divan bench
//! of normalization (`benches/normalize.rs`). Benchmarks print figures;
//! nothing here asserts a time.

pub mod e2e;
pub mod memory;
pub mod normalize;
pub mod slowing_server;
pub mod startup;
pub mod store_write;
pub mod undisclosed_limit;
pub mod util;
pub mod vs_baselines;
