#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod convert;
pub mod endpoints;
mod wire;

use connector_core::listing::ListingConnector;
use connector_core::{Capabilities, ChangeTracking, TimeField};

pub use config::{CaresoftConfig, ConversationType, DEFAULT_TIMEZONE, FIELDS};
pub use endpoints::{CHATS, Caresoft, ChatList, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// The vendor name this connector registers under.
pub const VENDOR: &str = "caresoft";

/// What the CareSoft connector can do: no messages and no summaries (the API
/// documents none); every filter of the model is pushed down (the channel
/// chooses the conversation types listed).
pub const CAPABILITIES: Capabilities = Capabilities {
    messages: false,
    summaries: false,
    push_created: true,
    push_ended: true,
    push_agent: true,
    push_customer: true,
    push_channel: true,
    max_page_size: Some(MAX_PAGE_SIZE),
    changes: CHANGE_TRACKING,
};

/// How a sync sees CareSoft change: the chat history lists a chat once it
/// is over and filters on its end time (`end_time_since`), so the cursor
/// follows the end time. A listed chat is final (the API has no ratings and
/// no messages), so nothing is revisited. One chat by id is a listing
/// filtered on `conversation_id`, per configured conversation type (up to
/// three requests).
pub const CHANGE_TRACKING: ChangeTracking = ChangeTracking {
    cursor: TimeField::Ended,
    created_fallback: false,
    fetch_by_id: Some(3),
    complete_requests: 0,
    page_size: MAX_PAGE_SIZE,
    rating_window_days: 0,
};

/// Reads CareSoft chat history (live chat, Facebook inbox, Zalo):
/// [`Caresoft`] on the listing engine.
///
/// `Debug` never shows the token.
pub type CaresoftConnector = ListingConnector<Caresoft>;

inventory::submit! {
    connector_core::ConnectorFactory {
        name: VENDOR,
        description: "CareSoft (Vietnam): live chat, Facebook inbox and Zalo chat history",
        fields: config::FIELDS,
        capabilities: CAPABILITIES,
        build: |cfg| Ok(Box::new(CaresoftConnector::from_config(cfg)?)),
    }
}
