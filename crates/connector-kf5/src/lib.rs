#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod convert;
pub mod endpoints;
mod wire;

use connector_core::listing::ListingConnector;
use connector_core::{Capabilities, ChangeTracking, TimeField};

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
    changes: CHANGE_TRACKING,
};

/// How a sync sees KF5 change: the listing shows every chat from its
/// creation on (those still going on as `open`) and filters on the creation
/// date, so the cursor follows the creation time, and chats that are open,
/// or ended less than seven days ago without a rating, are revisited: by id
/// (`/apiv2/chats/{id}.json`, one request with the messages) or by listing
/// their creation dates again, whichever the sync estimates cheaper.
pub const CHANGE_TRACKING: ChangeTracking = ChangeTracking {
    cursor: TimeField::Created,
    created_fallback: false,
    fetch_by_id: Some(1),
    complete_requests: 1,
    page_size: DEFAULT_PAGE_SIZE,
    rating_window_days: 7,
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
