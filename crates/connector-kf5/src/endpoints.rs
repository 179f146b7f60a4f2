//! KF5's endpoints as the listing engine reads them, and [`Kf5`], the
//! vendor: what a query pushes down, and where a listed chat's messages
//! come from.
//!
//! `GET /apiv2/chats.json` reports no total and no next link: it ends on an
//! empty page, or on a short page only when at most the documented default
//! (100) was asked for (servers cap larger pages silently). A list item may
//! come without `messages`; when messages are wanted they then come from
//! `GET /apiv2/chats/{id}.json`.

use connector_core::decode::{PageRef, RecordRef};
use connector_core::http::Auth;
use connector_core::lenient::clip;
use connector_core::listing::{
    Api, Combine, Connection, Endpoint, ListEndpoint, Listing, PageNumbers, Paging, Plan,
    RecordsAt, ShortPage, Vendor,
};
use connector_core::time::{Tz, covering_local_dates, widen_dates};
use connector_core::{Capabilities, Conversation, Error, Include, Query, Result, TimeField};
use serde_json::value::RawValue;

use crate::config::{Credential, Kf5Config};
use crate::convert::{self, ListedChat};
use crate::wire::{DetailEnvelope, ListEnvelope, WireChat};

/// The page size KF5 documents as its default; also the largest page size
/// for which a short page may be trusted to mean "the end".
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The largest page size asked for (KF5 documents no maximum; servers cap
/// silently, which the paging copes with).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The documented listing endpoint.
pub const CHATS: &str = "/apiv2/chats.json";

/// How `GET /apiv2/chats.json` pages.
const CHAT_PAGES: PageNumbers = PageNumbers {
    page_param: "page",
    size_param: "per_page",
    default_size: DEFAULT_PAGE_SIZE,
    max_size: MAX_PAGE_SIZE,
    short_page: ShortPage::EndsUpTo(DEFAULT_PAGE_SIZE),
};

/// How a chat record becomes a [`ListedChat`]: the account stamped on it,
/// the zone its times are read in, whether its messages are decoded.
#[derive(Debug, Clone)]
struct Mapping {
    account: String,
    zone: Tz,
    with_messages: bool,
}

impl Mapping {
    fn convert(
        &self,
        record: WireChat<'_>,
        raw: &RawValue,
        at: &RecordRef<'_>,
    ) -> Result<ListedChat> {
        convert::listed_chat(
            record,
            raw,
            at,
            &self.account,
            self.zone,
            self.with_messages,
        )
    }
}

/// `GET /apiv2/chats.json`: pages of chats, each a [`ListedChat`].
///
/// Offline, with [`connector_core::listing::decode_page`]: a page's bytes
/// in, its chats (with their messages when asked) out.
#[derive(Debug, Clone)]
pub struct ChatList {
    endpoint: Endpoint,
    mapping: Mapping,
}

impl ChatList {
    /// The listing for `account` (stamped on every conversation), its times
    /// read in `zone`, each chat's own messages decoded when `with_messages`.
    pub fn new(account: impl Into<String>, zone: Tz, with_messages: bool) -> Self {
        Self {
            endpoint: Endpoint::new(CHATS, RecordsAt::List("chats"), Paging::Numbers(CHAT_PAGES)),
            mapping: Mapping {
                account: account.into(),
                zone,
                with_messages,
            },
        }
    }
}

impl ListEndpoint for ChatList {
    type Envelope<'a> = ListEnvelope<'a>;
    type Record<'a> = WireChat<'a>;
    type Item = ListedChat;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert<'a>(
        &self,
        record: WireChat<'a>,
        raw: &'a RawValue,
        at: &RecordRef<'_>,
    ) -> Result<ListedChat> {
        let mut chat = self.mapping.convert(record, raw, at)?;
        // Without its own messages a chat's come from its detail: an id that
        // cannot go into that path is this chat's error, said here, where
        // the listing page is known.
        let id = &chat.conversation.id;
        if self.mapping.with_messages && chat.messages.is_none() && !is_chat_id(id) {
            let message = format!(
                "`{}` is not a chat id, so its messages cannot be fetched",
                clip(id)
            );
            chat.messages = Some(Err(at.field("id", message)));
        }
        Ok(chat)
    }
}

/// `GET /apiv2/chats/{id}.json`: one chat with its messages, a
/// [`ListedChat`].
#[derive(Debug, Clone)]
pub struct ChatDetail {
    endpoint: Endpoint,
    mapping: Mapping,
}

impl ChatDetail {
    /// The detail of chat `id`, mapped as [`ChatList::new`] says.
    ///
    /// # Errors
    /// [`Error::Query`] when `id` cannot go into a URL path (only letters,
    /// digits, `-` and `_` can).
    pub fn new(
        id: &str,
        account: impl Into<String>,
        zone: Tz,
        with_messages: bool,
    ) -> Result<Self> {
        if !is_chat_id(id) {
            return Err(Error::Query(format!(
                "kf5: `{}` is not a chat id",
                clip(id)
            )));
        }
        Ok(Self {
            endpoint: Endpoint::new(
                format!("/apiv2/chats/{id}.json"),
                RecordsAt::One("chat"),
                Paging::Single,
            ),
            mapping: Mapping {
                account: account.into(),
                zone,
                with_messages,
            },
        })
    }
}

impl ListEndpoint for ChatDetail {
    type Envelope<'a> = DetailEnvelope<'a>;
    type Record<'a> = WireChat<'a>;
    type Item = ListedChat;

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn convert<'a>(
        &self,
        record: WireChat<'a>,
        raw: &'a RawValue,
        at: &RecordRef<'_>,
    ) -> Result<ListedChat> {
        self.mapping.convert(record, raw, at)
    }
}

/// Whether `id` may go into a URL path: id-like text only.
fn is_chat_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// KF5 Kchat, for the listing engine: [`crate::Kf5Connector`] is its
/// connector.
#[derive(Debug)]
pub struct Kf5 {
    config: Kf5Config,
    account: String,
}

impl Kf5 {
    /// The listings walked for a query, each as the query parameters pushed
    /// down to `/apiv2/chats.json`.
    ///
    /// A creation window goes down as the covering local dates widened by a
    /// day on each side (the docs say neither the zone nor whether `end` is
    /// inclusive); an end-time window is not pushed down. A customer filter
    /// may be a visitor id or a linked user id, both numbers: an all-digit
    /// one is listed twice, as `visitor_id` and as `user_id` (the two
    /// listings are merged by ascending id, without duplicates); any other
    /// customer filter cannot match a numeric id on the server and is only
    /// applied on the client.
    pub fn push_down(&self, query: &Query) -> Vec<Vec<(String, String)>> {
        let window = self.window_params(query);
        match query.customer.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) => {
                ["visitor_id", "user_id"]
                    .into_iter()
                    .map(|key| {
                        let mut params = vec![(key.to_owned(), c.to_owned())];
                        params.extend(window.iter().cloned());
                        params
                    })
                    .collect()
            }
            _ => vec![window],
        }
    }

    fn window_params(&self, query: &Query) -> Vec<(String, String)> {
        let mut params = Vec::new();
        let w = query.window;
        if w.field == TimeField::Created && w.is_bounded() {
            let (start, end) = widen_dates(
                covering_local_dates(w.since, w.until, self.config.timezone),
                1,
            );
            if let Some(d) = start {
                params.push(("start".to_owned(), d.format("%Y-%m-%d").to_string()));
            }
            if let Some(d) = end {
                params.push(("end".to_owned(), d.format("%Y-%m-%d").to_string()));
            }
        }
        params
    }

    /// Chat `id` from its detail endpoint.
    async fn detail(&self, api: &Api, id: &str, with_messages: bool) -> Result<ListedChat> {
        let endpoint = ChatDetail::new(id, &self.account, self.config.timezone, with_messages)?;
        let page = PageRef::new(crate::VENDOR, endpoint.endpoint().name.clone(), 0);
        api.fetch(endpoint)
            .await?
            .items
            .pop()
            .ok_or_else(|| page.field("chat", "missing"))
    }
}

#[connector_core::async_trait]
impl Vendor for Kf5 {
    const NAME: &'static str = crate::VENDOR;
    const CAPABILITIES: Capabilities = crate::CAPABILITIES;
    type Config = Kf5Config;
    type Listing = ChatList;
    type Listed = ListedChat;

    fn new(config: Kf5Config) -> Result<Self> {
        config.validate()?;
        let account = config.account();
        Ok(Self { config, account })
    }

    fn config(&self) -> &Kf5Config {
        &self.config
    }

    fn connection(&self) -> Connection {
        let password = match &self.config.credential {
            Credential::Password(s) | Credential::ApiToken(s) => s.clone(),
        };
        Connection {
            account: self.account.clone(),
            base_url: self.config.effective_base_url(),
            auth: Auth::Basic {
                user: self.config.auth_user(),
                password,
            },
            http: self.config.http.clone(),
        }
    }

    fn plan(&self, query: &Query) -> Plan<ChatList> {
        let endpoint = ChatList::new(
            self.account.clone(),
            self.config.timezone,
            query.include.messages,
        );
        let size = CHAT_PAGES.size_for(query);
        let listings: Vec<_> = self
            .push_down(query)
            .into_iter()
            .map(|params| Listing::new(endpoint.clone(), params, size))
            .collect();
        let combine = if listings.len() > 1 {
            Combine::MergeById
        } else {
            Combine::InOrder
        };
        Plan {
            combine,
            ..Plan::new(listings, query)
        }
    }

    /// The messages the list item carried, or else those of its detail.
    async fn complete(
        &self,
        api: &Api,
        listed: ListedChat,
        include: Include,
    ) -> Result<Conversation> {
        let ListedChat {
            mut conversation,
            messages,
        } = listed;
        if !include.messages {
            return Ok(conversation);
        }
        let messages = match messages {
            Some(messages) => messages?,
            None => {
                let detail = self.detail(api, &conversation.id, true).await?;
                if detail.conversation.id != conversation.id {
                    let page = format!("/apiv2/chats/{}.json", conversation.id);
                    return Err(PageRef::new(crate::VENDOR, page, 0).field(
                        "chat.id",
                        format!(
                            "is `{}`, expected `{}`",
                            detail.conversation.id, conversation.id
                        ),
                    ));
                }
                detail.messages.unwrap_or(Ok(Vec::new()))?
            }
        };
        api.counters()
            .messages(&conversation.id, messages.len(), None);
        conversation.set_messages(messages);
        Ok(conversation)
    }

    /// A chat listed earlier: its list item's messages are still in its
    /// `raw` when the item carried them (no request); else its detail.
    async fn complete_conversation(
        &self,
        api: &Api,
        conversation: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        if !include.messages {
            return Ok(conversation);
        }
        let page = PageRef::new(crate::VENDOR, CHATS, 0);
        let at = RecordRef::new(&page, "chat", None);
        let raw = conversation.raw.as_raw();
        let record: WireChat<'_> = at.decode(raw)?;
        let messages =
            convert::listed_chat(record, raw, &at, &self.account, self.config.timezone, true)?
                .messages;
        let listed = ListedChat {
            conversation,
            messages,
        };
        self.complete(api, listed, include).await
    }

    async fn conversation(&self, api: &Api, id: &str, include: Include) -> Result<Conversation> {
        let ListedChat {
            mut conversation,
            messages,
        } = self.detail(api, id, include.messages).await?;
        if include.messages {
            let messages = messages.unwrap_or(Ok(Vec::new()))?;
            api.counters()
                .messages(&conversation.id, messages.len(), None);
            conversation.set_messages(messages);
        }
        Ok(conversation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use connector_core::listing::decode_page;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn kf5() -> Kf5 {
        Kf5::new(Kf5Config::new("acme", "a@x.cn", "pw")).unwrap()
    }

    const ZONE: Tz = Tz::Asia__Shanghai;

    fn page() -> PageRef {
        PageRef::new(crate::VENDOR, CHATS, 2)
    }

    /// A listing page decoded as the connector decodes it.
    fn listing_page(body: &[u8], with_messages: bool) -> Result<Vec<ListedChat>> {
        decode_page(&ChatList::new("acme", ZONE, with_messages), &page(), body).map(|p| p.items)
    }

    fn detail(body: &[u8]) -> Result<ListedChat> {
        let endpoint = ChatDetail::new("5", "acme", ZONE, true).unwrap();
        let page = PageRef::new(crate::VENDOR, "/apiv2/chats/5.json", 0);
        decode_page(&endpoint, &page, body).map(|mut p| p.items.remove(0))
    }

    /// The error a chat's messages ended in.
    fn message_error(chat: &ListedChat) -> String {
        match &chat.messages {
            Some(Err(e)) => e.to_string(),
            other => panic!("expected a messages error, got {other:?}"),
        }
    }

    #[test]
    fn created_windows_push_down_widened_local_dates() {
        // [2017-08-20 00:00, 2017-08-29 00:00) in Shanghai: dates 20..=28, widened to 19..=29.
        let q = Query::new().created(
            Some(utc("2017-08-19T16:00:00Z")),
            Some(utc("2017-08-28T16:00:00Z")),
        );
        assert_eq!(
            kf5().push_down(&q),
            [vec![
                ("start".to_owned(), "2017-08-19".to_owned()),
                ("end".to_owned(), "2017-08-29".to_owned())
            ]]
        );
    }

    #[test]
    fn a_numeric_customer_is_listed_as_visitor_and_as_user() {
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let q = Query {
            customer: Some("547".into()),
            ..Query::new().created(None, Some(utc("2017-08-28T16:00:00Z")))
        };
        assert_eq!(
            kf5().push_down(&q),
            [
                vec![pair("visitor_id", "547"), pair("end", "2017-08-29")],
                vec![pair("user_id", "547"), pair("end", "2017-08-29")]
            ]
        );
        let plan = kf5().plan(&q);
        assert_eq!((plan.listings.len(), plan.combine), (2, Combine::MergeById));
        let q = Query {
            customer: Some("visitor-abc".into()),
            ..Query::new()
        };
        assert_eq!(kf5().push_down(&q), [Vec::<(String, String)>::new()]);
        assert_eq!(kf5().plan(&q).combine, Combine::InOrder);
    }

    #[test]
    fn end_windows_push_nothing_and_page_sizes_are_capped() {
        let q = Query::new().ended(
            Some(utc("2017-08-19T16:00:00Z")),
            Some(utc("2017-08-28T16:00:00Z")),
        );
        assert_eq!(kf5().push_down(&q), [Vec::<(String, String)>::new()]);
        let size = |page_size| {
            kf5()
                .plan(&Query {
                    page_size,
                    ..Query::new()
                })
                .listings[0]
                .page_size
        };
        assert_eq!(
            (size(None), size(Some(7)), size(Some(5000))),
            (100, 7, 1000)
        );
    }

    #[test]
    fn only_id_like_text_reaches_the_detail_path() {
        for ok in ["290", "abc-1_2"] {
            assert!(ChatDetail::new(ok, "a", ZONE, true).is_ok(), "{ok}");
        }
        for bad in ["", "../admin", "1?x=2", "1/2", "a b"] {
            let e = ChatDetail::new(bad, "a", ZONE, true)
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not a chat id"), "{e}");
        }
    }

    #[test]
    fn a_listing_page_with_and_without_messages() {
        let body = br#"{"chats":[
            {"id":290,"status":"close","created_at":"2015-4-25 08:04:12","messages":[
                {"id":1,"type":"chat.msg","name":"v","msg":"hi","created_at":"2015-04-25 08:04:13"},
                {"id":2,"type":"chat.msg","name":"a","msg":"yo","created_at":"2015-04-25 08:04:14","upload":{"name":"a.png","size":3}}]},
            {"id":"291","messages":null}]}"#;
        let chats = listing_page(body, true).unwrap();
        assert_eq!(chats.len(), 2);
        let first = chats[0].messages.as_ref().unwrap().as_ref().unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[1].attachments[0].name.as_deref(), Some("a.png"));
        assert_eq!(first[0].raw.field("msg"), Some("hi".into()));
        // The chat's `raw` is the whole record as it came (compacted, as it
        // spanned lines), messages included; each message has its own.
        assert_eq!(
            chats[0].conversation.raw.get(),
            concat!(
                r#"{"id":290,"status":"close","created_at":"2015-4-25 08:04:12","messages":["#,
                r#"{"id":1,"type":"chat.msg","name":"v","msg":"hi","created_at":"2015-04-25 08:04:13"},"#,
                r#"{"id":2,"type":"chat.msg","name":"a","msg":"yo","created_at":"2015-04-25 08:04:14","upload":{"name":"a.png","size":3}}]}"#
            )
        );
        assert_eq!(
            first[1].raw.get(),
            r#"{"id":2,"type":"chat.msg","name":"a","msg":"yo","created_at":"2015-04-25 08:04:14","upload":{"name":"a.png","size":3}}"#
        );
        assert!(
            chats[1].messages.is_none(),
            "no array: fetched from the detail"
        );
        let without = listing_page(body, false).unwrap();
        assert!(without.iter().all(|c| c.messages.is_none()));
        // The same `raw` whether messages are pulled or not.
        assert_eq!(without[0].conversation.raw, chats[0].conversation.raw);
        assert_eq!(without[0].conversation.id, "290");
        // Times with an offset are those instants; local ones are read in the zone.
        let timed = br#"{"chats":[{"id":3,"created_at":"2015-04-25T08:04:12+08:00","end_at":"2015-04-25T00:09:00Z","messages":[{"id":1,"created_at":"2015-04-25 08:05:00"}]}]}"#;
        let chats = listing_page(timed, true).unwrap();
        let c = &chats[0].conversation;
        assert_eq!(
            c.created_at.unwrap().to_rfc3339(),
            "2015-04-25T00:04:12+00:00"
        );
        assert_eq!(
            c.ended_at.unwrap().to_rfc3339(),
            "2015-04-25T00:09:00+00:00"
        );
        let m = &chats[0].messages.as_ref().unwrap().as_ref().unwrap()[0];
        assert_eq!(m.sent_at.unwrap().to_rfc3339(), "2015-04-25T00:05:00+00:00");
        // PHP's shapes of a list: `{}` empty, an object keyed by index.
        let php = br#"{"chats":[{"id":1,"messages":{}},{"id":2,"messages":{"0":{"id":7,"msg":"a"},"2":{"id":9,"msg":"b"}}}]}"#;
        let chats = listing_page(php, true).unwrap();
        let texts = |c: &ListedChat| -> Vec<String> {
            let messages = c.messages.as_ref().unwrap().as_ref().unwrap();
            messages.iter().filter_map(|m| m.text.clone()).collect()
        };
        assert_eq!(texts(&chats[0]), Vec::<String>::new());
        assert_eq!(texts(&chats[1]), ["a", "b"]);
        assert_eq!(
            chats[1].conversation.raw.get(),
            r#"{"id":2,"messages":{"0":{"id":7,"msg":"a"},"2":{"id":9,"msg":"b"}}}"#
        );
        // `null` chats is not an empty page (with no total, it would end the
        // listing silently); `{}` is not a listing either.
        let e = listing_page(br#"{"chats":null}"#, true).unwrap_err();
        assert!(
            matches!(&e, Error::Field { field, page: 2, .. } if field == "chats"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "kf5: /apiv2/chats.json page 2: field `chats`: null instead of a list of chats \
             (an empty listing is `[]`)"
        );
        assert!(listing_page(br#"{"chats":[]}"#, true).unwrap().is_empty());
        let e = listing_page(b"{}", true).unwrap_err().to_string();
        assert!(
            e.contains("page 2") && e.contains("missing field `chats`"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_message_is_its_chats_error_a_bad_chat_the_pages() {
        let body = br#"{"chats":[{"id":1,"messages":[{"id":1},{"id":2,"is_read":"maybe"}]},{"id":2,"messages":[]}]}"#;
        let chats = listing_page(body, true).unwrap();
        let e = message_error(&chats[0]);
        assert!(e.contains("at chats[0].messages[1].is_read"), "{e}");
        assert_eq!(
            chats[1].messages.as_ref().unwrap().as_ref().unwrap().len(),
            0
        );
        let e = listing_page(br#"{"chats":[{"id":1},{"id":2,"end_at":"x"}]}"#, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("page 2") && e.contains("chats[1].end_at"), "{e}");
        let d = detail(br#"{"chat":{"id":5,"messages":[{"created_at":"x"}]}}"#).unwrap();
        assert!(
            message_error(&d).contains("chat.messages[0].created_at"),
            "{d:?}"
        );
        let d = detail(br#"{"chat":{"id":5}}"#).unwrap();
        assert!(d.messages.is_none());
        // A chat whose messages must come from its detail, with an id that
        // cannot go into that path: its own error, naming the listing page.
        let odd = br#"{"chats":[{"id":"1.5"},{"id":"7","messages":[]}]}"#;
        let chats = listing_page(odd, true).unwrap();
        let e = message_error(&chats[0]);
        assert!(
            e.contains("page 2") && e.contains("chats[0].id") && e.contains("1.5"),
            "{e}"
        );
        assert!(chats[1].messages.as_ref().unwrap().is_ok());
        assert!(listing_page(odd, false).unwrap()[0].messages.is_none());
    }
}
