#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod columns;
pub mod config;
pub mod incremental;
#[cfg(feature = "arrow")]
pub mod partition;
pub mod pull;
pub mod report;
pub mod sink;
pub mod store;
pub mod sync;

pub use incremental::{
    ChangeReport, IncrementalOptions, IncrementalRun, IncrementalState, Rejected, RunBatch,
    RunOutcome,
};
#[allow(deprecated)]
pub use pull::Live;
pub use pull::{ProgressCounters, PullReport, pull};
pub use sink::{Format, Sink};
pub use store::{Database, SyncState, SyncStore};
#[cfg(feature = "postgres")]
pub use store::{PostgresStore, PostgresUrl};
#[cfg(feature = "sqlite")]
pub use store::{SqliteStore, Store};
#[cfg(feature = "sqlite")]
pub use sync::sync;
pub use sync::{Prepared, Source, SourceReport, SyncOptions, sync_into, sync_to};
