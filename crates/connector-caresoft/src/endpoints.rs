//! CareSoft's endpoint as the listing engine reads it, and [`Caresoft`],
//! the vendor: which conversation types a query lists, what it pushes down,
//! and one conversation by id.
//!
//! `GET /api/v1/chats` lists one conversation type at a time (live chat
//! only when none is named), in pages of at most 500 (`page`, `count`), and
//! reports the number of records matching over all pages (`numFound`): a
//! listing ends when the records listed reach it, or on an empty page.
//! Records do not say their type, so each type is its own listing and its
//! records are stamped with the type's channel.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Duration;
use connector_core::decode::RecordRef;
use connector_core::http::Auth;
use connector_core::lenient::format_utc_z;
use connector_core::listing::{
    Api, Connection, Endpoint, ListEndpoint, Listing, PageNumbers, Paging, Plan, RecordsAt,
    ShortPage, Vendor,
};
use connector_core::time::Tz;
use connector_core::{
    Capabilities, Conversation, Error, Include, Query, RawJson, Result, TimeField,
};
use futures::StreamExt;
use serde_json::value::RawValue;

use crate::config::{CaresoftConfig, ConversationType};
use crate::convert;
use crate::wire::{ChatsEnvelope, WireChat};

/// The page size asked for when the query names none: the largest the API
/// serves, so a listing takes as few requests as it can.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;

/// The largest page the API serves (`count`, "at most 500").
pub const MAX_PAGE_SIZE: u32 = 500;

/// The listing endpoint, as documented (also its path below the base URL).
pub const CHATS: &str = "/api/v1/chats";

/// How `GET /api/v1/chats` pages. A short page does not end a listing:
/// `numFound` does, or an empty page (so a server that serves fewer than it
/// was asked for is still read to its end).
const CHAT_PAGES: PageNumbers = PageNumbers {
    page_param: "page",
    size_param: "count",
    default_size: DEFAULT_PAGE_SIZE,
    max_size: MAX_PAGE_SIZE,
    short_page: ShortPage::Continues,
};

/// `GET /api/v1/chats` for one conversation type: pages of conversations,
/// each stamped with the type's channel.
///
/// Offline, with [`connector_core::listing::decode_page`]: a page's bytes
/// in, its conversations out.
#[derive(Debug, Clone)]
pub struct ChatList {
    endpoint: Endpoint,
    account: String,
    zone: Tz,
    listed_as: ConversationType,
}

impl ChatList {
    /// The listing of `listed_as` conversations for `account` (stamped on
    /// every conversation), CareSoft's wall-clock times read in `zone`.
    pub fn new(account: impl Into<String>, zone: Tz, listed_as: ConversationType) -> Self {
        Self {
            endpoint: Endpoint::new(CHATS, RecordsAt::List("chats"), Paging::Numbers(CHAT_PAGES)),
            account: account.into(),
            zone,
            listed_as,
        }
    }

    /// The conversation type listed.
    pub fn listed_as(&self) -> ConversationType {
        self.listed_as
    }
}

impl ListEndpoint for ChatList {
    type Envelope<'a> = ChatsEnvelope<'a>;
    type Record<'a> = WireChat<'a>;
    type Item = Conversation;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert<'a>(
        &self,
        record: WireChat<'a>,
        raw: &'a RawValue,
        at: &RecordRef<'_>,
    ) -> Result<Conversation> {
        let channel = self.listed_as.channel();
        convert::conversation(
            record,
            RawJson::from_raw(raw),
            &self.account,
            self.zone,
            channel,
        )
        .ok_or_else(|| at.field("conversation_id", "missing"))
    }
}

/// Whether `text` is an id CareSoft numbers (`assignees[]`, `customers[]`
/// take integers).
fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// CareSoft chat history (live chat, Facebook inbox, Zalo), for the listing
/// engine: [`crate::CaresoftConnector`] is its connector.
#[derive(Debug)]
pub struct Caresoft {
    config: CaresoftConfig,
    account: String,
    warned_messages: AtomicBool,
    warned_summaries: AtomicBool,
}

impl Caresoft {
    /// The conversation types a query lists, in order (0, 1, 3): the
    /// configured ones, or the one its channel filter names (none when
    /// that type is not configured or the channel is not CareSoft's).
    pub fn types(&self, query: &Query) -> Vec<ConversationType> {
        let configured = &self.config.conversation_types;
        match &query.channel {
            None => configured.clone(),
            Some(channel) => ConversationType::for_channel(channel)
                .filter(|t| configured.contains(t))
                .into_iter()
                .collect(),
        }
    }

    /// The parameters a query pushes down to every type's listing, in
    /// order (the type and the paging parameters aside).
    ///
    /// A time window goes down widened by a day on each side, as UTC
    /// `yyyy-MM-ddTHH:mm:ssZ` (the document does not say whether the server
    /// reads the `Z` or local time); an all-digit agent is an agent id,
    /// sent as `assignees[]`, an all-digit customer a customer id, sent as
    /// `customers[]`, both trimmed. Anything else is only filtered on the
    /// client.
    pub fn push_down(&self, query: &Query) -> Vec<(String, String)> {
        let mut params = Vec::new();
        let w = query.window;
        if w.is_bounded() {
            let (since, to) = match w.field {
                TimeField::Created => ("start_time_since", "start_time_to"),
                TimeField::Ended => ("end_time_since", "end_time_to"),
            };
            let day = Duration::days(1);
            if let Some(s) = w.since.and_then(|s| s.checked_sub_signed(day)) {
                params.push((since.to_owned(), format_utc_z(s)));
            }
            if let Some(u) = w.until.and_then(|u| u.checked_add_signed(day)) {
                params.push((to.to_owned(), format_utc_z(u)));
            }
        }
        if let Some(agent) = pushed_id(query.agent.as_deref()) {
            params.push(("assignees[]".to_owned(), agent.to_owned()));
        }
        if let Some(customer) = pushed_id(query.customer.as_deref()) {
            params.push(("customers[]".to_owned(), customer.to_owned()));
        }
        params
    }

    /// The listing of one type with `params` pushed down.
    fn listing(
        &self,
        listed_as: ConversationType,
        params: &[(String, String)],
        page_size: u32,
    ) -> Listing<ChatList> {
        let endpoint = ChatList::new(self.account.clone(), self.config.timezone, listed_as);
        let mut all = vec![("conversation_type".to_owned(), listed_as.code().to_string())];
        all.extend(params.iter().cloned());
        Listing::new(endpoint, all, page_size)
    }

    /// Says once per connector that CareSoft has no messages or summaries to
    /// give when a query asks for them.
    fn warn_unsupported(&self, include: Include) {
        if include.messages && !self.warned_messages.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                vendor = crate::VENDOR,
                "CareSoft's API documents no messages endpoint: conversations come without messages (messages_fetched = false)"
            );
        }
        if include.summaries && !self.warned_summaries.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                vendor = crate::VENDOR,
                "CareSoft's API documents no service summaries: summaries stay absent"
            );
        }
    }
}

/// A filter value that is an id CareSoft can filter on: all digits once
/// trimmed.
fn pushed_id(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| all_digits(v))
}

#[connector_core::async_trait]
impl Vendor for Caresoft {
    const NAME: &'static str = crate::VENDOR;
    const CAPABILITIES: Capabilities = crate::CAPABILITIES;
    type Config = CaresoftConfig;
    type Listing = ChatList;
    type Listed = Conversation;

    fn new(config: CaresoftConfig) -> Result<Self> {
        config.validate()?;
        let account = config.account()?;
        Ok(Self {
            config,
            account,
            warned_messages: AtomicBool::new(false),
            warned_summaries: AtomicBool::new(false),
        })
    }

    fn config(&self) -> &CaresoftConfig {
        &self.config
    }

    fn connection(&self) -> Connection {
        Connection {
            account: self.account.clone(),
            // Validated in `new`: a base URL or a domain is there.
            base_url: self.config.effective_base_url().unwrap_or_default(),
            auth: Auth::Bearer(self.config.token.clone()),
            http: self.config.http.clone(),
        }
    }

    /// One listing per type, in type order, each with what the query
    /// pushes down. An agent id pushed down as `assignees[]` is not checked
    /// on the client: records name their agent by e-mail, never by id.
    fn plan(&self, query: &Query) -> Plan<ChatList> {
        self.warn_unsupported(query.include);
        let params = self.push_down(query);
        let size = CHAT_PAGES.size_for(query);
        let listings = self
            .types(query)
            .into_iter()
            .map(|t| self.listing(t, &params, size))
            .collect();
        let mut plan = Plan::new(listings, query);
        if pushed_id(query.agent.as_deref()).is_some() {
            plan.exact.agent = None;
        }
        plan
    }

    /// A listed conversation is all CareSoft gives.
    async fn complete(&self, _: &Api, listed: Conversation, _: Include) -> Result<Conversation> {
        Ok(listed)
    }

    /// A conversation listed earlier is already whole: CareSoft has no
    /// messages or summaries to add, and fetching it again (a listing per
    /// type) would give the same record. No request.
    async fn complete_conversation(
        &self,
        _: &Api,
        conversation: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        self.warn_unsupported(include);
        Ok(conversation)
    }

    /// Each configured type's listing filtered on `conversation_id`, in
    /// type order, until one holds it.
    async fn conversation(&self, api: &Api, id: &str, include: Include) -> Result<Conversation> {
        self.warn_unsupported(include);
        let filter = [("conversation_id".to_owned(), id.to_owned())];
        for &listed_as in &self.config.conversation_types {
            let listing = self.listing(listed_as, &filter, MAX_PAGE_SIZE);
            let mut pages = api.pages(&listing, 1, 1);
            while let Some(page) = pages.next().await {
                if let Some(c) = page?.items.into_iter().find(|c| c.id == id) {
                    return Ok(c);
                }
            }
        }
        Err(Error::Api {
            vendor: crate::VENDOR,
            endpoint: CHATS.to_owned(),
            page: 0,
            status: 404,
            code: None,
            message: format!(
                "no conversation `{}` among the configured conversation types",
                connector_core::lenient::clip(id)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use connector_core::decode::PageRef;
    use connector_core::listing::decode_page;
    use connector_core::{Channel, Status};
    use serde_json::json;

    use ConversationType::{Facebook, LiveChat, Zalo};

    const SAIGON: Tz = Tz::Asia__Ho_Chi_Minh;

    const DOC_EXAMPLE: &str = include_str!(
        "../tests/fixtures/chats_doc_example_ellipsis_and_trailing_comma_removed.json"
    );

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn caresoft(types: &[ConversationType]) -> Caresoft {
        let config = CaresoftConfig::new("acme", "t0k").with_conversation_types(types.to_vec());
        Caresoft::new(config).unwrap()
    }

    /// Page 2 of `listed_as`'s listing, decoded as the connector decodes it.
    fn page(body: &str, listed_as: ConversationType) -> Result<Vec<Conversation>> {
        let list = ChatList::new("acme", SAIGON, listed_as);
        let at = PageRef::new(crate::VENDOR, CHATS, 2);
        decode_page(&list, &at, body.as_bytes()).map(|p| p.items)
    }

    fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn windows_are_pushed_down_widened_by_a_day() {
        let cs = caresoft(&ConversationType::ALL);
        let q = Query::new().created(
            Some(utc("2023-04-22T00:00:00Z")),
            Some(utc("2023-04-23T00:00:00Z")),
        );
        assert_eq!(
            cs.push_down(&q),
            pairs(&[
                ("start_time_since", "2023-04-21T00:00:00Z"),
                ("start_time_to", "2023-04-24T00:00:00Z")
            ])
        );
        let q = Query::new().ended(None, Some(utc("2023-04-23T10:11:12Z")));
        assert_eq!(
            cs.push_down(&q),
            pairs(&[("end_time_to", "2023-04-24T10:11:12Z")])
        );
        assert!(cs.push_down(&Query::new()).is_empty());
    }

    #[test]
    fn every_listing_names_its_type_first() {
        let cs = caresoft(&ConversationType::ALL);
        let q = Query {
            agent: Some(" 42 ".into()),
            customer: Some("165644057".into()),
            ..Query::new().ended(Some(utc("2023-04-22T02:00:00Z")), None)
        };
        let plan = cs.plan(&q);
        let params: Vec<_> = plan.listings.iter().map(|l| l.params.clone()).collect();
        let with = |t: &str| {
            pairs(&[
                ("conversation_type", t),
                ("end_time_since", "2023-04-21T02:00:00Z"),
                ("assignees[]", "42"),
                ("customers[]", "165644057"),
            ])
        };
        assert_eq!(params, [with("0"), with("1"), with("3")]);
        let listed: Vec<_> = plan
            .listings
            .iter()
            .map(|l| l.endpoint.listed_as())
            .collect();
        assert_eq!(listed, [LiveChat, Facebook, Zalo]);
        assert!(plan.listings.iter().all(|l| l.page_size == 500));
        // An agent id cannot be checked on the client: trusted to the server.
        assert_eq!(plan.exact.agent, None);
        assert_eq!(plan.exact.customer.as_deref(), Some("165644057"));
    }

    #[test]
    fn other_agents_and_customers_are_filtered_on_the_client_only() {
        let cs = caresoft(&ConversationType::ALL);
        let q = Query {
            agent: Some("dungntt1110@gmail.com".into()),
            customer: Some("v-1".into()),
            ..Query::new()
        };
        assert!(cs.push_down(&q).is_empty());
        assert_eq!(cs.plan(&q).exact, q);
    }

    #[test]
    fn the_channel_chooses_the_types_listed() {
        let types = |ch: Option<Channel>, configured: &[ConversationType]| {
            caresoft(configured).types(&Query {
                channel: ch,
                ..Query::new()
            })
        };
        let all = &ConversationType::ALL;
        assert_eq!(types(None, all), [LiveChat, Facebook, Zalo]);
        assert_eq!(types(Some(Channel::Web), all), [LiveChat]);
        assert_eq!(types(Some(Channel::Facebook), all), [Facebook]);
        assert_eq!(types(Some(Channel::Zalo), all), [Zalo]);
        assert_eq!(types(Some(Channel::Wechat), all), []);
        assert_eq!(types(Some(Channel::Other("line".into())), all), []);
        assert_eq!(types(Some(Channel::Zalo), &[LiveChat, Facebook]), []);
        assert_eq!(types(None, &[Zalo, LiveChat]), [LiveChat, Zalo]);
        let none = caresoft(all).plan(&Query {
            channel: Some(Channel::Wechat),
            ..Query::new()
        });
        assert!(none.listings.is_empty());
    }

    #[test]
    fn page_sizes_are_capped_at_500() {
        let size = |page_size| {
            caresoft(&[LiveChat])
                .plan(&Query {
                    page_size,
                    ..Query::new()
                })
                .listings[0]
                .page_size
        };
        assert_eq!(
            (size(None), size(Some(50)), size(Some(5000))),
            (500, 50, 500)
        );
    }

    #[test]
    fn the_doc_example_page() {
        let list = ChatList::new("acme", SAIGON, Facebook);
        let at = PageRef::new(crate::VENDOR, CHATS, 1);
        let p = decode_page(&list, &at, DOC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!((p.total, p.items.len()), (Some(34), 1));
        let c = &p.items[0];
        assert_eq!(c.id, "20230422094830-AIVGTIVI-503996");
        assert_eq!(c.channel, Some(Channel::Facebook));
        assert_eq!(c.status, Some(Status::Closed));
        assert_eq!(
            c.created_at.unwrap().to_rfc3339(),
            "2023-04-22T02:48:30+00:00"
        );
        assert_eq!(
            (
                c.metrics.wait_secs,
                c.metrics.talk_secs,
                c.metrics.duration_secs
            ),
            (Some(8), Some(31), Some(39))
        );
        // The record is kept as sent (compacted: it spanned lines), fields
        // the model has no place for included.
        let fixture: serde_json::Value = serde_json::from_str(DOC_EXAMPLE).unwrap();
        assert_eq!(c.raw, fixture["chats"][0]);
        assert_eq!(c.raw.field("service_id"), Some(json!(60047005)));
        assert!(!c.raw.get().contains('\n'), "{}", c.raw);
    }

    #[test]
    fn records_in_order_and_kept_verbatim() {
        let body = r#"{"code":"OK","numFound":"2","chats":[{"conversation_id": "b", "cus_name": "Nguyễn Văn A", "x": [1, {"y": null}]}, {"conversation_id": 7}]}"#;
        let p = page(body, Zalo).unwrap();
        let ids: Vec<&str> = p.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["b", "7"]);
        assert_eq!(
            p[0].raw.get(),
            r#"{"conversation_id": "b", "cus_name": "Nguyễn Văn A", "x": [1, {"y": null}]}"#
        );
        assert_eq!(p[0].customer.name.as_deref(), Some("Nguyễn Văn A"));
    }

    #[test]
    fn a_bad_record_names_its_path_and_page() {
        let body = json!({"code": "OK", "numFound": 4, "chats": [
            {"conversation_id": "a"}, {"conversation_id": "b"}, {"conversation_id": "c"},
            {"conversation_id": "d", "waitTime": "8 giây"}
        ]})
        .to_string();
        let e = page(&body, LiveChat).unwrap_err();
        assert!(
            matches!(&e, Error::Decode { path, page: 2, transient: false, .. } if path == "chats[3].waitTime"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "caresoft: cannot decode /api/v1/chats page 2: at chats[3].waitTime: \
             expected a duration like 00:01:05 (HH:MM:SS) or seconds, got `8 giây`"
        );
        let e = page(
            r#"{"code":"OK","chats":[{"conversation_id":"a"},{"cus_name":"x"}]}"#,
            LiveChat,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 2: field `chats[1].conversation_id`: missing"
        );
        let e = page(
            r#"{"code":"OK","chats":[{"conversation_id":"a"}, 5]}"#,
            LiveChat,
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Decode { path, .. } if path == "chats[1]"),
            "{e:?}"
        );
        // A long odd value is clipped in the error.
        let long = "x".repeat(100_000);
        let body =
            json!({"code": "OK", "chats": [{"conversation_id": "x", "cus_name": {"k": long}}]});
        let e = page(&body.to_string(), LiveChat).unwrap_err().to_string();
        assert!(e.contains("at chats[0].cus_name: "), "{e}");
        assert!(e.len() < 400, "{}", e.len());
    }

    #[test]
    fn the_envelope_is_checked_before_its_records() {
        let e = page(
            r#"{"code":"ERROR_TOKEN","message":"Token không hợp lệ"}"#,
            LiveChat,
        )
        .unwrap_err();
        assert!(matches!(&e, Error::Api { code: Some(c), status: 200, .. } if c == "ERROR_TOKEN"));
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 2: HTTP 200 code ERROR_TOKEN: Token không hợp lệ"
        );
        let e = page(r#"{"code":"BUSY","msg":"thử lại sau"}"#, LiveChat).unwrap_err();
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 2: HTTP 200 code BUSY: thử lại sau"
        );
        // A code with no message, even with records: the vendor's error.
        let e = page(
            r#"{"code":"FAIL","chats":[{"conversation_id":"a"}]}"#,
            LiveChat,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("code FAIL: the API answered with an error code"),
            "{e}"
        );
        // No code but records: read. `OK` without records: an empty page,
        // unless numFound promises some.
        assert_eq!(page(r#"{"chats":[]}"#, LiveChat).unwrap().len(), 0);
        for body in [
            r#"{"code":"OK"}"#,
            r#"{"code":"OK","chats":null}"#,
            r#"{"code":"OK","numFound":0}"#,
        ] {
            assert!(page(body, LiveChat).unwrap().is_empty(), "{body}");
        }
        assert_eq!(
            page(r#"{"code":"OK","numFound":34}"#, LiveChat)
                .unwrap_err()
                .to_string(),
            "caresoft: /api/v1/chats page 2: field `chats`: missing, though numFound is 34"
        );
        // Neither a code nor records: not the documented envelope.
        for body in ["{}", r#"{"error":"maintenance"}"#] {
            assert_eq!(
                page(body, LiveChat).unwrap_err().to_string(),
                "caresoft: /api/v1/chats page 2: field `code`: missing (and no `chats`)",
                "{body}"
            );
        }
        let e = page(r#"{"code":"OK","chats":{}}"#, LiveChat).unwrap_err();
        assert!(
            matches!(&e, Error::Decode { path, transient: false, .. } if path == "chats"),
            "{e:?}"
        );
    }

    #[test]
    fn bodies_cut_short_empty_or_html_are_transient() {
        for body in [
            r#"{"code":"OK","chats":[{"conversation_id":"a"}"#,
            "",
            "<html><body>502</body></html>",
        ] {
            let e = page(body, LiveChat).unwrap_err();
            assert!(e.is_retryable(), "{body}: {e:?}");
        }
    }
}
