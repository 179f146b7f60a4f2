#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// Name every enabled vendor crate: a crate nothing names is not linked, and
// its `inventory` registration would silently vanish.
// Each is also public, for its typed config: `chathaul::kf5::Kf5Config`.
/// The Bangwo8 connector: its typed config and connector.
#[cfg(feature = "bangwo8")]
pub extern crate connector_bangwo8 as bangwo8;
/// The CareSoft connector: its typed config and connector.
#[cfg(feature = "caresoft")]
pub extern crate connector_caresoft as caresoft;
/// The KF5 connector: its typed config and connector.
#[cfg(feature = "kf5")]
pub extern crate connector_kf5 as kf5;

pub use connector_core::*;

/// The vendor simulators (with the `sim` feature): start them in-process to
/// try, test or benchmark anything offline.
#[cfg(feature = "sim")]
pub use chathaul_sim as sim;

// The engine at the paths it had when it lived in this crate. `pull` and
// `sync` each bring the module and the function of that name.
#[cfg(feature = "engine")]
#[allow(deprecated)]
pub use chathaul_engine::Live;
#[cfg(feature = "engine")]
pub use chathaul_engine::{
    Database, Format, IncrementalOptions, IncrementalRun, IncrementalState, Prepared,
    ProgressCounters, PullReport, Rejected, Sink, Source, SourceReport, SyncOptions, SyncState,
    SyncStore, columns, config, incremental, pull, report, sink, store, sync, sync_into, sync_to,
};
#[cfg(feature = "postgres")]
pub use chathaul_engine::{PostgresStore, PostgresUrl};
#[cfg(feature = "sqlite")]
pub use chathaul_engine::{SqliteStore, Store};
#[cfg(feature = "arrow")]
pub use chathaul_engine::{arrow, partition};

/// The vendor crates this build links, by vendor name (from the cargo features).
pub const LINKED_VENDORS: &[&str] = &[
    #[cfg(feature = "bangwo8")]
    "bangwo8",
    #[cfg(feature = "caresoft")]
    "caresoft",
    #[cfg(feature = "kf5")]
    "kf5",
];
