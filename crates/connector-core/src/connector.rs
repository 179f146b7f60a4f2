//! The `Connector` trait every vendor implements.

use futures::stream::BoxStream;
use serde::Serialize;

use crate::error::Result;
use crate::model::Conversation;
use crate::query::{Include, Query, TimeField};
use crate::stats::PullStats;

/// A stream of conversations, in the vendor's listing order.
pub type ConversationStream<'a> = BoxStream<'a, Result<Conversation>>;

/// What a connector can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// It can fetch messages.
    pub messages: bool,
    /// It can fetch service summaries.
    pub summaries: bool,
    /// The vendor filters by creation time on the server.
    pub push_created: bool,
    /// The vendor filters by end time on the server.
    pub push_ended: bool,
    /// The vendor filters by agent on the server.
    pub push_agent: bool,
    /// The vendor filters by customer on the server.
    pub push_customer: bool,
    /// The vendor filters by channel on the server.
    pub push_channel: bool,
    /// The largest page size the vendor serves, when documented.
    pub max_page_size: Option<u32>,
    /// How an incremental sync finds what is new or changed at this vendor.
    pub changes: ChangeTracking,
}

/// How an incremental sync finds what is new or changed at a vendor: which
/// time its cursor follows, how a conversation that can still change is
/// looked at again, and how long a rating can still come. Each vendor
/// declares it beside its other [`Capabilities`]; the sync engine reads it
/// and names no vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChangeTracking {
    /// The time the sync's cursor follows: one the vendor's listing filters
    /// on (pushed down) and that is set once the conversation shows up in the
    /// listing. `Ended` where the listing holds only conversations that are
    /// over and filters on their end; `Created` where conversations are
    /// listed from their start (those still going on are then revisited).
    pub cursor: TimeField,
    /// Whether the vendor can send a conversation without the cursor's time
    /// (a session without an end time): then each run also lists by creation
    /// time from the newest creation seen minus the look-back, for them.
    pub created_fallback: bool,
    /// Requests one [`Connector::conversation`] costs, when the vendor can
    /// fetch a conversation by id cheaply; `None` when it cannot (fetching
    /// one would walk the listing): its revisits are re-listings.
    pub fetch_by_id: Option<u32>,
    /// Requests [`Connector::complete`] costs for one listed conversation
    /// (messages and summaries), at most.
    pub complete_requests: u32,
    /// Records per listing page the connector asks for when the query names
    /// no page size.
    pub page_size: u32,
    /// How many days after its end a conversation can still be rated. An
    /// unrated conversation that ended less long ago is revisited.
    pub rating_window_days: u32,
}

impl ChangeTracking {
    /// What a connector that declares nothing gets: a creation cursor,
    /// revisits by id (one request each), a seven-day rating window.
    pub const DEFAULT: ChangeTracking = ChangeTracking {
        cursor: TimeField::Created,
        created_fallback: false,
        fetch_by_id: Some(1),
        complete_requests: 1,
        page_size: 100,
        rating_window_days: 7,
    };
}

impl Default for ChangeTracking {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Who a connector is and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorInfo {
    /// The vendor name (`kf5`).
    pub vendor: &'static str,
    /// The account / tenant this connector reads.
    pub account: String,
    /// The base URL requests go to (no credentials in it).
    pub base_url: String,
    /// What it can do.
    pub capabilities: Capabilities,
}

/// A source of normalized conversations.
///
/// Implementations push down what the vendor's API can filter, then apply the
/// whole [`Query`] exactly on the client ([`Query::apply`]).
#[async_trait::async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug {
    /// Who this connector is and what it can do.
    fn info(&self) -> &ConnectorInfo;

    /// Streams the conversations that match `query`, in the vendor's listing
    /// order, with messages and summaries when the query includes them.
    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a>;

    /// Fetches one conversation by id.
    ///
    /// # Errors
    /// Any [`crate::Error`]; a missing conversation is an [`crate::Error::Api`] with status 404.
    async fn conversation(&self, id: &str, include: Include) -> Result<Conversation>;

    /// Adds what `include` asks for (messages, summaries) to a conversation
    /// this connector listed without them. The default fetches it again by
    /// id; a vendor overrides it where that is cheaper (or where fetching by
    /// id walks the listing).
    ///
    /// # Errors
    /// As [`Connector::conversation`].
    async fn complete(&self, conversation: Conversation, include: Include) -> Result<Conversation> {
        if !include.messages && !include.summaries {
            return Ok(conversation);
        }
        self.conversation(&conversation.id, include).await
    }

    /// Paces this connector's account at `rate` requests per second from
    /// now on, as if it had been learned (a sync seeds the rate its last run
    /// learned). The default does nothing: a connector without adaptive
    /// pacing has nothing to seed.
    fn seed_rate(&self, rate: f64) {
        let _ = rate;
    }

    /// The counters of everything this connector pulled so far: requests,
    /// pages, records listed, and the totals the vendor reported, so a caller
    /// can check completeness. Connectors that keep no counters return zeros.
    fn stats(&self) -> PullStats {
        PullStats::default()
    }
}
