#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod convert;
pub mod endpoints;
mod wire;

use connector_core::Capabilities;
use connector_core::listing::ListingConnector;

pub use config::{Credential, Kf5Config};
pub use convert::ListedChat;
pub use endpoints::{CHATS, ChatDetail, ChatList, DEFAULT_PAGE_SIZE, Kf5, MAX_PAGE_SIZE};

/// The connector's registered name.
pub const VENDOR: &str = "kf5";

/// What the KF5 connector can do: messages yes (from the list or the detail
/// endpoint), summaries no (KF5 has none); creation dates and the visitor
/// are filtered on the server, everything is filtered exactly on the client.
pub const CAPABILITIES: Capabilities = Capabilities {
    messages: true,
    summaries: false,
    push_created: true,
    push_ended: false,
    push_agent: false,
    push_customer: true,
    push_channel: false,
    max_page_size: None,
};

/// Reads KF5 Kchat history: [`Kf5`] on the listing engine.
pub type Kf5Connector = ListingConnector<Kf5>;

inventory::submit! {
    connector_core::ConnectorFactory {
        name: VENDOR,
        description: "KF5 (逸创云客服) Kchat chat history",
        fields: config::FIELDS,
        capabilities: CAPABILITIES,
        build: |cfg| Ok(Box::new(Kf5Connector::from_config(cfg)?)),
    }
}
