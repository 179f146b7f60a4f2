#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod convert;
pub mod endpoints;
mod wire;

use connector_core::listing::ListingConnector;
use connector_core::{Capabilities, ChangeTracking, TimeField};

pub use config::{Bangwo8Config, FIELDS};
pub use endpoints::{
    Bangwo8, ChatRecords, DEFAULT_PAGE_SIZE, HISTORIES, MAX_PAGE_SIZE, ServiceSummary, SessionList,
};

/// The vendor name this crate registers.
pub const VENDOR: &str = "bangwo8";

/// What the Bangwo8 connector can do: messages and service summaries, each
/// from an endpoint of its own; creation and end windows, the agent (by
/// id) and the customer are filtered on the server, everything is filtered
/// exactly on the client.
pub const CAPABILITIES: Capabilities = Capabilities {
    messages: true,
    summaries: true,
    push_created: true,
    push_ended: true,
    push_agent: true,
    push_customer: true,
    push_channel: false,
    max_page_size: None,
    changes: CHANGE_TRACKING,
};

/// How a sync sees Bangwo8 change: the history holds only sessions that are
/// over and filters on their end date (`serviceend_*`), so the cursor
/// follows the end time; a session the vendor sends without an end time is
/// looked for by a second listing on the creation date. Sessions ended less
/// than seven days ago without a rating are revisited by listing their end
/// dates again (the API has no endpoint for one session); only those whose
/// record changed get their messages and summary fetched again.
pub const CHANGE_TRACKING: ChangeTracking = ChangeTracking {
    cursor: TimeField::Ended,
    created_fallback: true,
    fetch_by_id: None,
    complete_requests: 2,
    page_size: DEFAULT_PAGE_SIZE,
    rating_window_days: 7,
};

/// Reads Bangwo8 chat sessions, their messages and service summaries:
/// [`Bangwo8`] on the listing engine.
///
/// `Debug` leaves the password out.
pub type Bangwo8Connector = ListingConnector<Bangwo8>;

inventory::submit! {
    connector_core::ConnectorFactory {
        name: VENDOR,
        description: "Bangwo8 (帮我吧) online-chat history: sessions, messages, service summaries",
        fields: config::FIELDS,
        capabilities: CAPABILITIES,
        build: |cfg| Ok(Box::new(Bangwo8Connector::from_config(cfg)?)),
    }
}
