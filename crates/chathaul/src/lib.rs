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

pub mod arrow;
pub mod config;
pub mod pull;
pub mod report;
pub mod sink;
pub mod store;
pub mod sync;

pub use pull::{Live, PullReport, pull};
pub use sink::{Format, Sink};
pub use store::{Store, SyncState};
pub use sync::{Prepared, Source, SourceReport, SyncOptions, sync};

/// The vendor crates this build links, by vendor name (from the cargo features).
pub const LINKED_VENDORS: &[&str] = &[
    #[cfg(feature = "bangwo8")]
    "bangwo8",
    #[cfg(feature = "caresoft")]
    "caresoft",
    #[cfg(feature = "kf5")]
    "kf5",
];
