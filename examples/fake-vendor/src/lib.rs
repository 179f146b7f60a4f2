#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod convert;
pub mod endpoints;
mod wire;

use connector_core::listing::ListingConnector;
use connector_core::{Capabilities, ChangeTracking};

pub use config::FakeConfig;
pub use endpoints::Fake;

/// The registered name.
pub const VENDOR: &str = "fake";

/// Messages yes, summaries no; creation times, agent and customer are
/// filtered on the server.
pub const CAPABILITIES: Capabilities = Capabilities {
    messages: true,
    summaries: false,
    push_created: true,
    push_ended: false,
    push_agent: true,
    push_customer: true,
    push_channel: false,
    max_page_size: Some(endpoints::MAX_PAGE_SIZE),
    // Listed from creation, one conversation by id in one request.
    changes: ChangeTracking::DEFAULT,
};

/// The fake vendor's connector.
pub type FakeConnector = ListingConnector<Fake>;

inventory::submit! {
    connector_core::ConnectorFactory {
        name: VENDOR,
        description: "a made-up helpdesk (the listing engine's example)",
        fields: config::FIELDS,
        capabilities: CAPABILITIES,
        build: |cfg| Ok(Box::new(FakeConnector::from_config(cfg)?)),
    }
}
