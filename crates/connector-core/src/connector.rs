//! The `Connector` trait every vendor implements.

use futures::stream::BoxStream;
use serde::Serialize;

use crate::error::Result;
use crate::model::Conversation;
use crate::query::{Include, Query};
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

    /// The counters of everything this connector pulled so far: requests,
    /// pages, records listed, and the totals the vendor reported, so a caller
    /// can check completeness. Connectors that keep no counters return zeros.
    fn stats(&self) -> PullStats {
        PullStats::default()
    }
}
