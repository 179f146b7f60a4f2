//! What a vendor crate tells the engine: its configuration, its account
//! and credentials, which listings a query maps to, and how a listed
//! conversation is completed.

use std::fmt;
use std::sync::Arc;

use super::ListEndpoint;
use super::connector::Api;
use crate::connector::Capabilities;
use crate::error::Result;
use crate::http::{Auth, HttpSettings};
use crate::model::Conversation;
use crate::query::{BadRecord, Include, Query};
use crate::registry::{ConfigField, ResolvedConfig};

/// A vendor's typed configuration.
pub trait VendorConfig: Clone + fmt::Debug + Send + Sync + 'static {
    /// Its fields (besides [`crate::registry::COMMON_FIELDS`]), as the
    /// registry lists them.
    const FIELDS: &'static [ConfigField];

    /// Builds the configuration from the registry's resolved key/values.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming the missing or invalid field.
    fn from_resolved(cfg: &ResolvedConfig) -> Result<Self>;

    /// The same configuration with these HTTP settings.
    fn with_http(self, http: HttpSettings) -> Self;
}

/// Where and as whom a connector connects.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The account every conversation is stamped with (and the key of the
    /// account's shared rate limit).
    pub account: String,
    /// The API root.
    pub base_url: String,
    /// The credentials.
    pub auth: Auth,
    /// Timeouts, retries, rate limit, concurrency.
    pub http: HttpSettings,
}

/// What a conversation listing yields before it is completed: a
/// conversation, or a vendor's own type holding one (with, say, the
/// messages its record carried).
pub trait Listed: Send + Sync + 'static {
    /// The conversation listed.
    fn conversation(&self) -> &Conversation;
}

impl Listed for Conversation {
    fn conversation(&self) -> &Conversation {
        self
    }
}

/// One listing walked for a query: an endpoint, the parameters pushed down
/// to it, and the page size asked for.
#[derive(Debug)]
pub struct Listing<L> {
    /// The endpoint (shared by the pages fetched at the same time).
    pub endpoint: Arc<L>,
    /// The query parameters pushed down, in order (the page parameters are
    /// added by the engine).
    pub params: Vec<(String, String)>,
    /// The page size asked for (page-number listings).
    pub page_size: u32,
    /// What to do with a record that does not decode: the engine sets it
    /// from the query ([`Query::on_bad_record`]).
    pub on_bad_record: BadRecord,
}

impl<L> Clone for Listing<L> {
    fn clone(&self) -> Self {
        Self {
            endpoint: Arc::clone(&self.endpoint),
            params: self.params.clone(),
            page_size: self.page_size,
            on_bad_record: self.on_bad_record,
        }
    }
}

impl<L: ListEndpoint> Listing<L> {
    /// A listing of `endpoint` with `params`, `page_size` records a page.
    pub fn new(endpoint: L, params: Vec<(String, String)>, page_size: u32) -> Self {
        Self {
            endpoint: Arc::new(endpoint),
            params,
            page_size,
            on_bad_record: BadRecord::Fail,
        }
    }
}

/// How the listings of a plan make one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// One after the other, in the plan's order.
    InOrder,
    /// Merged by ascending id (numeric ids by value), a conversation that
    /// several listings return kept once: for listings that each list by
    /// ascending id.
    MergeById,
}

/// How a query is served: the listings walked, how they combine, and the
/// exact query applied on the client.
#[derive(Debug)]
pub struct Plan<L> {
    /// The listings, in order.
    pub listings: Vec<Listing<L>>,
    /// How they combine.
    pub combine: Combine,
    /// The query applied on the client, exactly ([`Query::matches`]), with
    /// its limit: usually the query itself; a vendor may leave out a filter
    /// that the server applies and the records cannot show.
    pub exact: Query,
}

impl<L> Plan<L> {
    /// The listings in order, filtered on the client by the query itself.
    pub fn new(listings: Vec<Listing<L>>, query: &Query) -> Self {
        Self {
            listings,
            combine: Combine::InOrder,
            exact: query.clone(),
        }
    }
}

/// A vendor on the listing engine: what is its own, and nothing else. A
/// vendor crate implements it in its `endpoints.rs`; [`super::ListingConnector`]
/// turns it into a [`crate::Connector`].
#[crate::async_trait]
pub trait Vendor: Sized + Send + Sync + fmt::Debug + 'static {
    /// The registered name (`kf5`).
    const NAME: &'static str;
    /// What its connector can do.
    const CAPABILITIES: Capabilities;
    /// Its configuration.
    type Config: VendorConfig;
    /// Its conversation listing's endpoint.
    type Listing: ListEndpoint<Item = Self::Listed>;
    /// What its conversation listing yields.
    type Listed: Listed;

    /// The vendor for a configuration.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for an invalid configuration.
    fn new(config: Self::Config) -> Result<Self>;

    /// The configuration in force.
    fn config(&self) -> &Self::Config;

    /// Where and as whom to connect.
    fn connection(&self) -> Connection;

    /// The listings a query maps to, with what is pushed down to each.
    fn plan(&self, query: &Query) -> Plan<Self::Listing>;

    /// Completes a listed conversation that matched the query: its messages
    /// and summary when `include` asks for them and the vendor has them.
    ///
    /// # Errors
    /// Any error fetching or decoding them; it stands in the conversation's
    /// place and the stream goes on.
    async fn complete(
        &self,
        api: &Api,
        listed: Self::Listed,
        include: Include,
    ) -> Result<Conversation>;

    /// Fetches one conversation by id.
    ///
    /// # Errors
    /// Any [`crate::Error`]; a missing conversation is an
    /// [`crate::Error::Api`] with status 404.
    async fn conversation(&self, api: &Api, id: &str, include: Include) -> Result<Conversation>;

    /// Completes a conversation this vendor listed earlier without its
    /// messages and summary, handed back as it was listed (its record in
    /// `raw`): what [`crate::Connector::complete`] does, for a sync that
    /// lists first and completes only what is new or changed. The default
    /// fetches it again by id ([`Vendor::conversation`]); a vendor whose
    /// listed record carries more (its messages), or whose fetch by id is
    /// costly, overrides it.
    ///
    /// # Errors
    /// As [`Vendor::complete`].
    async fn complete_conversation(
        &self,
        api: &Api,
        conversation: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        if !include.messages && !include.summaries {
            return Ok(conversation);
        }
        self.conversation(api, &conversation.id, include).await
    }
}
