#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod client;
pub mod config;
mod connector;
mod convert;
pub mod normalize;
mod wire;

pub use client::CHATS;
pub use config::{CaresoftConfig, ConversationType, DEFAULT_TIMEZONE, FIELDS};
pub use connector::{CAPABILITIES, CHANGE_TRACKING, CaresoftConnector, MAX_PAGE_SIZE};

/// The vendor name this connector registers under.
pub const VENDOR: &str = "caresoft";

inventory::submit! {
    connector_core::ConnectorFactory {
        name: VENDOR,
        description: "CareSoft (Vietnam): live chat, Facebook inbox and Zalo chat history",
        fields: config::FIELDS,
        capabilities: CAPABILITIES,
        build: |cfg| Ok(Box::new(CaresoftConnector::from_config(cfg)?)),
    }
}
