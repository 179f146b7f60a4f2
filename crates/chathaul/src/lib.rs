#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// Name every enabled vendor crate: a crate nothing names is not linked, and
// its `inventory` registration would silently vanish.
#[cfg(feature = "bangwo8")]
extern crate connector_bangwo8;
#[cfg(feature = "caresoft")]
extern crate connector_caresoft;
#[cfg(feature = "kf5")]
extern crate connector_kf5;

pub use connector_core::*;

/// The vendor crates this build links, by vendor name (from the cargo features).
pub const LINKED_VENDORS: &[&str] = &[
    #[cfg(feature = "bangwo8")]
    "bangwo8",
    #[cfg(feature = "caresoft")]
    "caresoft",
    #[cfg(feature = "kf5")]
    "kf5",
];
