//! Bangwo8's endpoints as the listing engine reads them, and [`Bangwo8`],
//! the vendor: what a query pushes down, and how a listed session gets its
//! messages and service summary.
//!
//! `GET /api/v1/imchat/histories.json` (or one agent's) and
//! `GET /api/v1/imchat/chatrecords/{r_id}.json` page by number on the
//! configured base URL; their `next_page` links (always absolute, on
//! www.bangwo8.com) are only read for whether they are there. A listing
//! ends when `next_page` is null, when the records received reach `count`,
//! or on an empty page. `GET /api/v1/servicesummary/{r_id}.json` is one
//! answer per session, read strictly and, when that fails, with the
//! trailing commas and comments of the vendor's own examples dropped.

use chrono::NaiveDate;
use connector_core::decode::{PageRef, RecordRef};
use connector_core::http::{Auth, Request};
use connector_core::listing::{
    Api, Connection, Endpoint, ListEndpoint, Listing, PageNumbers, Paging, Plan, RecordsAt,
    ShortPage, Vendor, decode_page,
};
use connector_core::time::{Tz, covering_local_dates};
use connector_core::{
    Capabilities, Conversation, Error, Include, Message, Query, RawJson, Result, Summary, TimeField,
};
use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::value::RawValue;

use crate::config::Bangwo8Config;
use crate::convert;
use crate::wire::{
    ListEnvelope, RecordsEnvelope, SummaryEnvelope, WireRecord, WireSession, WireSummaryData,
    relax_json,
};

/// The page size Bangwo8 documents as its default, asked for when the query
/// names none; chat records are always asked for this many a page.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The largest page size asked for: Bangwo8 documents no maximum, so the
/// query's is sent as it is (a server that serves fewer is still read to
/// the end: `count` and `next_page` decide it, not the page size).
pub const MAX_PAGE_SIZE: u32 = u32::MAX;

/// The listing of every session.
pub const HISTORIES: &str = "/api/v1/imchat/histories.json";

/// How the session listings page.
const SESSION_PAGES: PageNumbers = PageNumbers {
    page_param: "page",
    size_param: "per_page",
    default_size: DEFAULT_PAGE_SIZE,
    max_size: MAX_PAGE_SIZE,
    short_page: ShortPage::Continues,
};

/// How a session's chat records page.
const RECORD_PAGES: PageNumbers = PageNumbers {
    max_size: DEFAULT_PAGE_SIZE,
    ..SESSION_PAGES
};

/// The far dates sent for the open side of a window: the API takes its date
/// filters in pairs.
const FAR_START: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
const FAR_END: NaiveDate = NaiveDate::from_ymd_opt(2099, 12, 31).expect("a valid date");

/// What may stand as it is in a path segment (RFC 3986's unreserved
/// characters): an id is percent-encoded so that it cannot change the path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `GET /api/v1/imchat/histories.json`, or one agent's
/// `GET /api/v1/imchat/histories/{agent_id}.json`: pages of sessions, each
/// a [`Conversation`] without messages or summary.
///
/// Offline, with [`connector_core::listing::decode_page`]: a page's bytes
/// in, its conversations out.
#[derive(Debug, Clone)]
pub struct SessionList {
    endpoint: Endpoint,
    account: String,
    zone: Tz,
}

impl SessionList {
    /// Every session of the account `account` (stamped on each
    /// conversation), its times read in `zone`.
    pub fn new(account: impl Into<String>, zone: Tz) -> Self {
        Self {
            endpoint: Endpoint::new(
                HISTORIES,
                RecordsAt::List("chats"),
                Paging::Numbers(SESSION_PAGES),
            ),
            account: account.into(),
            zone,
        }
    }

    /// The sessions the agent with id `agent_id` handled.
    ///
    /// # Errors
    /// [`Error::Query`] when `agent_id` is not an agent id (digits).
    pub fn of_agent(agent_id: &str, account: impl Into<String>, zone: Tz) -> Result<Self> {
        if agent_id.is_empty() || !agent_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Query(format!(
                "bangwo8: `{}` is not an agent id",
                connector_core::lenient::clip(agent_id)
            )));
        }
        let mut list = Self::new(account, zone);
        list.endpoint = Endpoint::new(
            format!("/api/v1/imchat/histories/{agent_id}.json"),
            RecordsAt::List("chats"),
            Paging::Numbers(SESSION_PAGES),
        );
        Ok(list)
    }
}

impl ListEndpoint for SessionList {
    type Envelope<'a> = ListEnvelope<'a>;
    type Record<'a> = WireSession;
    type Item = Conversation;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert(
        &self,
        record: WireSession,
        raw: &RawValue,
        at: &RecordRef<'_>,
    ) -> Result<Conversation> {
        convert::session(record, RawJson::from_raw(raw), at, &self.account, self.zone)
    }

    /// Listing sessions needs an administrator account (the document says
    /// so): a refused account is told.
    fn explain(&self, error: Error) -> Error {
        match error {
            Error::Unauthenticated {
                vendor,
                endpoint,
                status,
                message,
            } => Error::Unauthenticated {
                vendor,
                endpoint,
                status,
                message: format!(
                    "{message}; listing sessions needs a Bangwo8 administrator account"
                ),
            },
            other => other,
        }
    }
}

/// `GET /api/v1/imchat/chatrecords/{r_id}.json`: pages of one session's
/// chat records, each a [`Message`].
///
/// Offline, with [`connector_core::listing::decode_page`]: a page's bytes
/// in, its messages out (`null` or `[]` for `im_chatrecords`, what servers
/// send for a session without messages, is an empty page).
#[derive(Debug, Clone)]
pub struct ChatRecords {
    endpoint: Endpoint,
    zone: Tz,
}

impl ChatRecords {
    /// The chat records of session `r_id`, their times read in `zone`.
    pub fn new(r_id: &str, zone: Tz) -> Self {
        let path = format!(
            "/api/v1/imchat/chatrecords/{}.json",
            utf8_percent_encode(r_id, SEGMENT)
        );
        Self {
            endpoint: Endpoint::new(
                path,
                RecordsAt::List("im_chatrecords.contents"),
                Paging::Numbers(RECORD_PAGES),
            ),
            zone,
        }
    }
}

impl ListEndpoint for ChatRecords {
    type Envelope<'a> = RecordsEnvelope<'a>;
    type Record<'a> = WireRecord<'a>;
    type Item = Message;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert<'a>(
        &self,
        record: WireRecord<'a>,
        raw: &'a RawValue,
        _: &RecordRef<'_>,
    ) -> Result<Message> {
        Ok(convert::message(record, RawJson::from_raw(raw), self.zone))
    }
}

/// `GET /api/v1/servicesummary/{r_id}.json?servicesummary_type=1`: one
/// session's online-chat service summary; none when the vendor says there
/// is none (status 120001: no template bound; 120002: not filled in).
#[derive(Debug, Clone)]
pub struct ServiceSummary {
    endpoint: Endpoint,
}

impl ServiceSummary {
    /// The summary of session `r_id`.
    pub fn new(r_id: &str) -> Self {
        let path = format!(
            "/api/v1/servicesummary/{}.json",
            utf8_percent_encode(r_id, SEGMENT)
        );
        Self {
            endpoint: Endpoint::new(path, RecordsAt::One("data"), Paging::Single),
        }
    }

    /// The request for it: an online-chat (IM) service's summary.
    fn request(&self) -> Request {
        Request::new(self.endpoint.name.clone(), self.endpoint.path.clone())
            .param("servicesummary_type", 1)
    }

    /// Reads a summary answer: as strict JSON, and when that fails, with
    /// comments and trailing commas outside strings dropped (the vendor's
    /// own examples carry both). The connector runs this on every summary
    /// it fetches; it reads bodies you hold the same way.
    ///
    /// # Errors
    /// [`Error::Decode`] of the strict reading when the relaxed one fails
    /// too (transient for a body cut short, an empty body or an HTML page);
    /// [`Error::Api`] for a status that is neither 200 nor "no summary";
    /// [`Error::Field`] naming what a 200 answer lacks.
    pub fn decode(&self, page: &PageRef, body: &[u8]) -> Result<Option<Summary>> {
        let strict = match decode_page(self, page, body) {
            Ok(summary) => return Ok(summary.items.into_iter().next()),
            Err(e) => e,
        };
        if !matches!(
            strict,
            Error::Decode {
                transient: false,
                ..
            }
        ) {
            return Err(strict);
        }
        let relaxed = std::str::from_utf8(body).ok().and_then(relax_json);
        match relaxed.map(|text| decode_page(self, page, text.as_bytes())) {
            Some(Ok(summary)) => Ok(summary.items.into_iter().next()),
            Some(Err(e @ (Error::Api { .. } | Error::Field { .. }))) => Err(e),
            _ => Err(strict),
        }
    }
}

impl ListEndpoint for ServiceSummary {
    type Envelope<'a> = SummaryEnvelope<'a>;
    type Record<'a> = WireSummaryData;
    type Item = Summary;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert(&self, data: WireSummaryData, _: &RawValue, at: &RecordRef<'_>) -> Result<Summary> {
        convert::summary(data, at)
    }
}

/// Bangwo8 online chat, for the listing engine: [`crate::Bangwo8Connector`]
/// is its connector.
#[derive(Debug)]
pub struct Bangwo8 {
    config: Bangwo8Config,
}

impl Bangwo8 {
    /// The session listing a query walks, and the parameters pushed down to
    /// it.
    ///
    /// An agent filter that is an agent id (all digits, as the API's ids
    /// are) selects the agent's own listing; any other agent value cannot
    /// match a Bangwo8 session (which carries no agent e-mail) and is left
    /// to the exact client-side filter. A customer goes down as `uname`,
    /// trimmed as the exact filter compares it. A time window becomes the
    /// covering local dates (end day inclusive), always as a start/end
    /// pair.
    fn push_down(&self, query: &Query) -> (SessionList, Vec<(String, String)>) {
        let (account, zone) = (self.config.account.clone(), self.config.timezone);
        let list = match query.agent.as_deref().map(str::trim) {
            Some(agent) => SessionList::of_agent(agent, account.clone(), zone).ok(),
            None => None,
        }
        .unwrap_or_else(|| SessionList::new(account, zone));
        let mut params = Vec::new();
        if let Some(customer) = query.customer.as_deref().map(str::trim)
            && !customer.is_empty()
        {
            params.push(("uname".to_owned(), customer.to_owned()));
        }
        let w = query.window;
        if w.is_bounded() {
            let (first, last) = covering_local_dates(w.since, w.until, zone);
            let start = first.unwrap_or_else(|| last.map_or(FAR_START, |l| l.min(FAR_START)));
            let end = last.unwrap_or_else(|| first.map_or(FAR_END, |f| f.max(FAR_END)));
            let (s, e) = match w.field {
                TimeField::Created => ("servicestart_start", "servicestart_end"),
                TimeField::Ended => ("serviceend_start", "serviceend_end"),
            };
            params.push((s.to_owned(), start.format("%Y-%m-%d").to_string()));
            params.push((e.to_owned(), end.format("%Y-%m-%d").to_string()));
        }
        (list, params)
    }

    /// Every message of session `r_id`, all pages, in vendor order, counted
    /// against the `count` the endpoint reports.
    async fn messages(&self, api: &Api, r_id: &str) -> Result<Vec<Message>> {
        let records = ChatRecords::new(r_id, self.config.timezone);
        let all = api
            .all(&Listing::new(records, Vec::new(), DEFAULT_PAGE_SIZE))
            .await?;
        api.counters().messages(r_id, all.items.len(), all.total);
        Ok(all.items)
    }

    /// Session `r_id`'s service summary, if it has one.
    async fn summary(&self, api: &Api, r_id: &str) -> Result<Option<Summary>> {
        let endpoint = ServiceSummary::new(r_id);
        let answer = api
            .http()
            .get_with(&endpoint.request(), |page, body| {
                endpoint.decode(page, body)
            })
            .await?;
        Ok(answer.value)
    }
}

#[connector_core::async_trait]
impl Vendor for Bangwo8 {
    const NAME: &'static str = crate::VENDOR;
    const CAPABILITIES: Capabilities = crate::CAPABILITIES;
    type Config = Bangwo8Config;
    type Listing = SessionList;
    type Listed = Conversation;

    fn new(config: Bangwo8Config) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    fn config(&self) -> &Bangwo8Config {
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

    fn plan(&self, query: &Query) -> Plan<SessionList> {
        let (list, params) = self.push_down(query);
        let listing = Listing::new(list, params, SESSION_PAGES.size_for(query));
        Plan::new(vec![listing], query)
    }

    /// The session's messages and summary, as asked, fetched at the same
    /// time.
    async fn complete(
        &self,
        api: &Api,
        mut conversation: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        let id = conversation.id.clone();
        let messages = async {
            match include.messages {
                true => Some(self.messages(api, &id).await),
                false => None,
            }
        };
        let summary = async {
            match include.summaries {
                true => Some(self.summary(api, &id).await),
                false => None,
            }
        };
        let (messages, summary) = futures::join!(messages, summary);
        if let Some(messages) = messages {
            conversation.set_messages(messages?);
        }
        if let Some(summary) = summary {
            conversation.summary = summary?;
        }
        Ok(conversation)
    }

    /// A session listed earlier: its messages and summary fetched for it, as
    /// [`Vendor::complete`] does; never the walk of the listing that
    /// [`Vendor::conversation`] (the default) would take.
    async fn complete_conversation(
        &self,
        api: &Api,
        conversation: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        self.complete(api, conversation, include).await
    }

    /// The API has no endpoint for one session: the listing is walked (in
    /// its ascending id order) until the session shows up or numeric ids
    /// pass it, one page at a time (so nothing is fetched past it).
    async fn conversation(&self, api: &Api, id: &str, include: Include) -> Result<Conversation> {
        let list = SessionList::new(self.config.account.clone(), self.config.timezone);
        let listing = Listing::new(list, Vec::new(), DEFAULT_PAGE_SIZE);
        let target: Option<u64> = id.trim().parse().ok();
        let mut pages = api.pages(&listing, 1, 1);
        'walk: while let Some(page) = pages.next().await {
            for listed in page?.items {
                if listed.id == id {
                    drop(pages);
                    return self.complete(api, listed, include).await;
                }
                if let (Some(t), Ok(seen)) = (target, listed.id.trim().parse::<u64>())
                    && seen > t
                {
                    break 'walk;
                }
            }
        }
        Err(PageRef::new(crate::VENDOR, HISTORIES, 0).api(
            404,
            None,
            format!("no session with r_id `{id}` in the listing"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use connector_core::Role;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const ZONE: Tz = Tz::Asia__Shanghai;

    fn bangwo8() -> Bangwo8 {
        Bangwo8::new(Bangwo8Config::new("acct", "pw")).unwrap()
    }

    /// The path and the parameters a query pushes down, as `key=value`.
    fn pushed(q: &Query) -> (String, Vec<String>) {
        let (list, params) = bangwo8().push_down(q);
        let params = params
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        (list.endpoint().path.clone(), params)
    }

    fn page(endpoint: &str, n: u32) -> PageRef {
        PageRef::new(crate::VENDOR, endpoint, n)
    }

    fn sessions(body: &[u8]) -> Result<connector_core::listing::Page<Conversation>> {
        decode_page(&SessionList::new("acct", ZONE), &page(HISTORIES, 3), body)
    }

    fn records(body: &[u8]) -> Result<connector_core::listing::Page<Message>> {
        let path = "/api/v1/imchat/chatrecords/221.json";
        decode_page(&ChatRecords::new("221", ZONE), &page(path, 3), body)
    }

    fn summary(body: &str) -> Result<Option<Summary>> {
        let endpoint = ServiceSummary::new("7");
        endpoint.decode(&page(&endpoint.endpoint().name, 0), body.as_bytes())
    }

    #[test]
    fn windows_become_covering_local_date_pairs() {
        // 2017-08-20T16:00Z is 2017-08-21 00:00 in Shanghai; until is exclusive.
        let q = Query::new().created(
            Some(utc("2017-08-20T16:00:00Z")),
            Some(utc("2017-08-28T16:00:00Z")),
        );
        assert_eq!(
            pushed(&q).1,
            [
                "servicestart_start=2017-08-21",
                "servicestart_end=2017-08-28"
            ]
        );
        let q = Query::new().ended(Some(utc("2017-08-20T15:59:59Z")), None);
        assert_eq!(
            pushed(&q).1,
            ["serviceend_start=2017-08-20", "serviceend_end=2099-12-31"]
        );
        let q = Query::new().ended(None, Some(utc("2017-08-28T16:00:01Z")));
        assert_eq!(
            pushed(&q).1,
            ["serviceend_start=2000-01-01", "serviceend_end=2017-08-29"]
        );
        let q = Query::new().created(None, Some(utc("1999-05-01T00:00:00Z")));
        assert_eq!(
            pushed(&q).1,
            [
                "servicestart_start=1999-05-01",
                "servicestart_end=1999-05-01"
            ]
        );
        assert!(pushed(&Query::new()).1.is_empty());
    }

    #[test]
    fn agent_and_customer_filters_go_down_trimmed() {
        let q = Query {
            agent: Some(" 2321 ".into()),
            customer: Some("  u3_o2 ".into()),
            ..Query::new()
        };
        assert_eq!(
            pushed(&q),
            (
                "/api/v1/imchat/histories/2321.json".into(),
                vec!["uname=u3_o2".into()]
            )
        );
        for agent in ["a@b.c", "", "12/3"] {
            let q = Query {
                agent: Some(agent.into()),
                customer: Some("  ".into()),
                ..Query::new()
            };
            assert_eq!(pushed(&q), (HISTORIES.into(), vec![]), "{agent:?}");
        }
        let e = SessionList::of_agent("../x", "a", ZONE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not an agent id"), "{e}");
    }

    #[test]
    fn page_sizes_are_the_querys_or_the_default() {
        let size = |page_size| {
            bangwo8()
                .plan(&Query {
                    page_size,
                    ..Query::new()
                })
                .listings[0]
                .page_size
        };
        assert_eq!(
            (size(None), size(Some(7)), size(Some(5000))),
            (100, 7, 5000)
        );
    }

    #[test]
    fn ids_are_percent_encoded_in_paths() {
        assert_eq!(
            ChatRecords::new("12 3/../x", ZONE).endpoint().path,
            "/api/v1/imchat/chatrecords/12%203%2F..%2Fx.json"
        );
        assert_eq!(
            ServiceSummary::new("a?b=1").endpoint().path,
            "/api/v1/servicesummary/a%3Fb%3D1.json"
        );
    }

    #[test]
    fn a_listing_page_keeps_each_record_verbatim_and_its_paging_facts() {
        let body = br#"{"chats":[{"r_id":"221","type":"2","start_time":"2017-8-23 9:03:01","end_time":"","x":[1, 2]},
            {"r_id": 222, "type": 1}],"count":"40","next_page":"https://www.bangwo8.com/api/v1/imchat/histories.json?page=4","previous_page":null}"#;
        let page = sessions(body).unwrap();
        assert_eq!((page.total, page.has_next), (Some(40), Some(true)));
        let ids: Vec<_> = page.items.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["221", "222"]);
        let c = &page.items[0];
        assert_eq!(
            c.raw.get(),
            r#"{"r_id":"221","type":"2","start_time":"2017-8-23 9:03:01","end_time":"","x":[1, 2]}"#
        );
        assert_eq!(
            c.created_at.unwrap().to_rfc3339(),
            "2017-08-23T01:03:01+00:00"
        );
        assert_eq!(c.account, "acct");
        // `next_page` null, empty or absent: no next page.
        for tail in [r#","next_page":null}"#, r#","next_page":""}"#, "}"] {
            let body = format!(r#"{{"chats":[{{"r_id":1}}]{tail}"#);
            assert_eq!(sessions(body.as_bytes()).unwrap().has_next, Some(false));
        }
        // `chats: null` is an empty page.
        assert!(
            sessions(br#"{"chats":null,"count":0}"#)
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[test]
    fn listing_errors_name_the_record_field_page_and_code() {
        let body = br#"{"chats":[{"r_id":"1"},{"r_id":"2","start_time":"yesterday"}],"count":2}"#;
        let e = sessions(body).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "bangwo8: cannot decode /api/v1/imchat/histories.json page 3: at chats[1].start_time: "
            ),
            "{e}"
        );
        let e = sessions(br#"{"chats":[{"type":"1"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bangwo8: /api/v1/imchat/histories.json page 3: field `chats[0].r_id`: missing"
        );
        let e = sessions(br#"{"status":"100001","message":"bad key"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bangwo8: /api/v1/imchat/histories.json page 3: HTTP 200 code 100001: bad key"
        );
        for not_a_listing in [&b"{}"[..], b"[]", br#"{"error":"maintenance"}"#] {
            let e = sessions(not_a_listing).unwrap_err();
            assert_eq!(
                e.to_string(),
                "bangwo8: /api/v1/imchat/histories.json page 3: field `chats`: missing: the answer is not the documented envelope"
            );
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn a_records_page_and_its_empty_forms() {
        let body = br#"{"im_chatrecords":{"r_id":"221","contents":[
            {"spokesman":"u_1","spokesman_identity":"2","msg":"hi","create_time":"2018-10-24 15:14:12"},
            {"spokesman":213,"spokesman_identity":1,"msg":"hello","create_time":"2018-10-24 15:14:20"}]},
            "count":2,"next_page":null}"#;
        let page = records(body).unwrap();
        assert_eq!((page.total, page.has_next), (Some(2), Some(false)));
        let roles: Vec<_> = page.items.iter().map(|m| m.sender.role.clone()).collect();
        assert_eq!(roles, [Role::Customer, Role::Agent]);
        assert_eq!(page.items[1].raw.field("spokesman"), Some(213.into()));
        // The same records shuffled give the same fingerprint.
        let shuffled = br#"{"im_chatrecords":{"contents":[{"spokesman":213,"spokesman_identity":1,"msg":"hello","create_time":"2018-10-24 15:14:20"},
            {"spokesman":"u_1","spokesman_identity":"2","msg":"hi","create_time":"2018-10-24 15:14:12"}]}}"#;
        assert_eq!(records(shuffled).unwrap().fingerprint, page.fingerprint);
        for empty in [
            &br#"{"im_chatrecords":null,"count":0}"#[..],
            br#"{"im_chatrecords":[ ],"count":0}"#,
            br#"{"im_chatrecords":{"contents":null}}"#,
            br#"{"im_chatrecords":{"r_id":"221"}}"#,
        ] {
            assert!(records(empty).unwrap().items.is_empty());
        }
        let e = records(br#"{"count":0}"#).unwrap_err().to_string();
        assert!(e.contains("field `im_chatrecords`: missing"), "{e}");
        let bad = br#"{"im_chatrecords":{"contents":[{"msg":"a"},{"create_time":"13/13/2020"}]}}"#;
        let e = records(bad).unwrap_err().to_string();
        assert!(
            e.starts_with("bangwo8: cannot decode /api/v1/imchat/chatrecords/221.json page 3: at im_chatrecords.contents[1].create_time: "),
            "{e}"
        );
    }

    #[test]
    fn summaries_strict_relaxed_none_and_errors() {
        let s = summary(r#"{"status":200,"message":"ok","data":{"serviceSummary":{"ticketTemplateName":"t","custom_fields":[{"key":"field_1","value":"4334"}]}}}"#)
            .unwrap()
            .unwrap();
        assert_eq!((s.template.as_deref(), s.fields.len()), (Some("t"), 1));
        // The vendor's own shapes: a trailing comma, comments.
        let relaxed = "{\"status\":\"200\", // ok\n \"data\":{\"serviceSummary\":{\"custom_fields\":[{\"key\":\"a\",\"value\":\"1\"},],},},}";
        let s = summary(relaxed).unwrap().unwrap();
        assert_eq!(s.fields[0].key, "a");
        for none in [
            r#"{ "status":"120001" , "message":"No service summary template", }"#,
            r#"{"status":"120002","message":"No service summary information","data":[]}"#,
        ] {
            assert_eq!(summary(none).unwrap(), None, "{none}");
        }
        let e = summary(r#"{"status":"100003","message":"会话不存在"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bangwo8: /api/v1/servicesummary/7.json page 0: HTTP 200 code 100003: 会话不存在"
        );
        // A relaxed body that reads is judged on what it says.
        let e = summary(r#"{"status":"100003","message":"x",}"#).unwrap_err();
        assert!(matches!(e, Error::Api { .. }), "{e}");
        for (body, says) in [
            (
                r#"{"status":"200","data":null}"#,
                "field `data.serviceSummary`: missing although status is 200",
            ),
            (
                r#"{"status":"200","data":[]}"#,
                "field `data.serviceSummary`: missing although status is 200",
            ),
            (
                r#"{"status":"200","data":{"serviceSummary":{"custom_fields":{"0":{"value":"x"}}}}}"#,
                "field `data.serviceSummary.custom_fields[0].key`: missing",
            ),
        ] {
            let e = summary(body).unwrap_err().to_string();
            assert!(e.ends_with(says), "{body}: {e}");
        }
        // Not JSON even relaxed: the strict error; cut short: transient.
        let e = summary(r#"{"status":"200" "message":"x"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bangwo8: cannot decode /api/v1/servicesummary/7.json page 0: at ?: expected `,` or `}` at line 1 column 17"
        );
        assert!(!e.is_retryable());
        for cut in [r#"{"status":"200","data":{"#, "", "<html>502</html>"] {
            assert!(summary(cut).unwrap_err().is_retryable(), "{cut:?}");
        }
    }
}
