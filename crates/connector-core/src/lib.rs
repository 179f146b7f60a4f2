#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod connector;
pub mod decode;
pub mod error;
pub mod http;
pub mod lenient;
pub mod listing;
pub mod model;
pub mod pacing;
pub mod paging;
pub mod query;
pub mod raw;
pub mod registry;
pub mod stats;
pub mod time;

pub use connector::{Capabilities, ChangeTracking, Connector, ConnectorInfo, ConversationStream};
pub use error::{BoxedCause, Error, ErrorKind, ErrorPlace, REJECTED_TEXT_MAX, Result};
pub use model::*;
pub use query::{BadRecord, Include, Query, TimeField, Window};
pub use raw::RawJson;
pub use registry::{ConfigField, ConnectorFactory, ResolvedConfig, connect, connectors, find};
pub use stats::{PullCounters, PullStats};

// Re-exported so vendor crates and third-party connectors use the same versions.
pub use async_trait::async_trait;
pub use chrono;
pub use futures;
pub use inventory;
pub use secrecy;
pub use serde_json;
