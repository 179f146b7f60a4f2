//! The engine as a user sees it: sinks read back, the SQLite store, the sync
//! engine and the report (with an in-test fake connector).

#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod backend;
#[cfg(any(feature = "sqlite", feature = "arrow"))]
mod fake;
#[cfg(feature = "arrow")]
mod partition;
#[cfg(feature = "parquet")]
mod partitioned;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod postgres;
#[cfg(all(feature = "csv", feature = "parquet", feature = "sqlite"))]
mod sinks;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod sync;
