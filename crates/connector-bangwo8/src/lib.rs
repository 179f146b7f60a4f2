#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod client;
pub mod config;
mod connector;
mod convert;
pub mod normalize;
mod wire;

pub use config::{Bangwo8Config, FIELDS};
pub use connector::{Bangwo8Connector, CAPABILITIES, CHANGE_TRACKING, DEFAULT_PAGE_SIZE};

/// The vendor name this crate registers.
pub const VENDOR: &str = "bangwo8";

inventory::submit! {
    connector_core::ConnectorFactory {
        name: VENDOR,
        description: "Bangwo8 (帮我吧) online-chat history: sessions, messages, service summaries",
        fields: config::FIELDS,
        capabilities: CAPABILITIES,
        build: |cfg| Ok(Box::new(Bangwo8Connector::from_config(cfg)?)),
    }
}
