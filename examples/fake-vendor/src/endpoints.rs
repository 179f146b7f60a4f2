//! The fake vendor's endpoints, for the listing engine, and [`Fake`], the
//! vendor: creation times, agent and customer are filtered on the server;
//! a conversation's messages come from an endpoint of their own.

use connector_core::decode::RecordRef;
use connector_core::http::Auth;
use connector_core::listing::{
    Api, Connection, Endpoint, ListEndpoint, Listing, PageNumbers, Paging, Plan, RecordsAt,
    ShortPage, Vendor,
};
use connector_core::serde_json::value::RawValue;
use connector_core::time::Tz;
use connector_core::{
    Capabilities, Conversation, Error, Include, Message, Query, RawJson, Result, TimeField,
};

use crate::config::FakeConfig;
use crate::convert;
use crate::wire::{
    ConversationEnvelope, ConversationsEnvelope, MessagesEnvelope, WireConversation, WireMessage,
};

/// Records a page when the query names no page size; the most served is 50.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// The largest page the API serves.
pub const MAX_PAGE_SIZE: u32 = 50;

const PAGES: PageNumbers = PageNumbers {
    page_param: "page",
    size_param: "size",
    default_size: DEFAULT_PAGE_SIZE,
    max_size: MAX_PAGE_SIZE,
    short_page: ShortPage::Ends,
};

/// `GET /v1/conversations.json` (or one conversation, by id).
#[derive(Debug, Clone)]
pub struct Conversations {
    endpoint: Endpoint,
    account: String,
    zone: Tz,
}

impl Conversations {
    /// The listing, its conversations stamped with `account`.
    pub fn list(account: &str, zone: Tz) -> Self {
        let endpoint = Endpoint::new(
            "/v1/conversations.json",
            RecordsAt::List("conversations"),
            Paging::Numbers(PAGES),
        );
        Self {
            endpoint,
            account: account.to_owned(),
            zone,
        }
    }
}

impl ListEndpoint for Conversations {
    type Envelope<'a> = ConversationsEnvelope<'a>;
    type Record<'a> = WireConversation;
    type Item = Conversation;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert(
        &self,
        record: WireConversation,
        raw: &RawValue,
        at: &RecordRef<'_>,
    ) -> Result<Conversation> {
        convert::conversation(record, RawJson::from_raw(raw), &self.account, self.zone)
            .ok_or_else(|| at.field("id", "missing"))
    }
}

/// `GET /v1/conversations/{id}.json`.
#[derive(Debug, Clone)]
pub struct OneConversation(Conversations);

impl OneConversation {
    /// Conversation `id`, stamped with `account`.
    ///
    /// # Errors
    /// [`Error::Query`] when `id` is not a conversation id (digits).
    pub fn new(id: &str, account: &str, zone: Tz) -> Result<Self> {
        let mut one = Conversations::list(account, zone);
        one.endpoint = Endpoint::new(
            format!("/v1/conversations/{}.json", checked(id)?),
            RecordsAt::One("conversation"),
            Paging::Single,
        );
        Ok(Self(one))
    }
}

impl ListEndpoint for OneConversation {
    type Envelope<'a> = ConversationEnvelope<'a>;
    type Record<'a> = WireConversation;
    type Item = Conversation;

    fn endpoint(&self) -> &Endpoint {
        &self.0.endpoint
    }

    fn convert(
        &self,
        record: WireConversation,
        raw: &RawValue,
        at: &RecordRef<'_>,
    ) -> Result<Conversation> {
        self.0.convert(record, raw, at)
    }
}

/// `GET /v1/conversations/{id}/messages.json`.
#[derive(Debug, Clone)]
pub struct Messages {
    endpoint: Endpoint,
    zone: Tz,
}

impl ListEndpoint for Messages {
    type Envelope<'a> = MessagesEnvelope<'a>;
    type Record<'a> = WireMessage;
    type Item = Message;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert(&self, record: WireMessage, raw: &RawValue, _: &RecordRef<'_>) -> Result<Message> {
        Ok(convert::message(record, RawJson::from_raw(raw), self.zone))
    }
}

/// An id as a path segment: digits only.
fn checked(id: &str) -> Result<&str> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(Error::Query(format!(
            "fake: `{id}` is not a conversation id"
        )))
    }
}

/// The fake vendor.
#[derive(Debug)]
pub struct Fake {
    config: FakeConfig,
}

#[connector_core::async_trait]
impl Vendor for Fake {
    const NAME: &'static str = crate::VENDOR;
    const CAPABILITIES: Capabilities = crate::CAPABILITIES;
    type Config = FakeConfig;
    type Listing = Conversations;
    type Listed = Conversation;

    fn new(config: FakeConfig) -> Result<Self> {
        Ok(Self { config })
    }

    fn config(&self) -> &FakeConfig {
        &self.config
    }

    fn connection(&self) -> Connection {
        Connection {
            account: self.config.account.clone(),
            base_url: self.config.base_url.clone(),
            auth: Auth::Basic {
                user: self.config.account.clone(),
                password: self.config.password.clone(),
            },
            http: self.config.http.clone(),
        }
    }

    fn plan(&self, query: &Query) -> Plan<Conversations> {
        let mut params = Vec::new();
        let w = query.window;
        if w.field == TimeField::Created {
            params.extend(w.since.map(|t| ("since".to_owned(), t.to_rfc3339())));
            params.extend(w.until.map(|t| ("until".to_owned(), t.to_rfc3339())));
        }
        params.extend(
            query
                .agent
                .clone()
                .map(|a| ("agent".to_owned(), a.trim().to_owned())),
        );
        params.extend(
            query
                .customer
                .clone()
                .map(|c| ("customer".to_owned(), c.trim().to_owned())),
        );
        let list = Conversations::list(&self.config.account, self.config.timezone);
        let listing = Listing::new(list, params, PAGES.size_for(query));
        Plan::new(vec![listing], query)
    }

    async fn complete(
        &self,
        api: &Api,
        mut c: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        if include.messages {
            let endpoint = Messages {
                endpoint: Endpoint::new(
                    format!("/v1/conversations/{}/messages.json", checked(&c.id)?),
                    RecordsAt::List("messages"),
                    Paging::Numbers(PAGES),
                ),
                zone: self.config.timezone,
            };
            let walked = api
                .all(&Listing::new(endpoint, Vec::new(), MAX_PAGE_SIZE))
                .await?;
            api.counters()
                .messages(&c.id, walked.items.len(), walked.total);
            c.set_messages(walked.items);
        }
        Ok(c)
    }

    async fn conversation(&self, api: &Api, id: &str, include: Include) -> Result<Conversation> {
        let one = OneConversation::new(id, &self.config.account, self.config.timezone)?;
        match api.fetch(one).await?.items.pop() {
            Some(c) => self.complete(api, c, include).await,
            None => Err(Error::Query(format!("fake: no conversation `{id}`"))),
        }
    }
}
