//! Bangwo8 pages → the model, without I/O.
//!
//! These are the functions the connector runs on every listing and
//! chat-records page it receives; they are public so that pages obtained
//! some other way (an archive of raw API answers, a proxy's log) can be
//! normalized the same way, and so that their speed can be measured alone.
//! Records are decoded straight from the page's bytes and kept in `raw` as
//! the JSON text they came in.

use connector_core::http::Ctx;
use connector_core::model::{Conversation, Message};
use connector_core::paging::fingerprint_of;
use connector_core::time::Tz;
use connector_core::{Error, RawJson, Result};

use crate::convert::{self, Missing};
use crate::wire::{Chat, ListEnvelope, Record, RecordsEnvelope};

/// One page of a session listing (`/api/v1/imchat/histories[/{agent}].json`).
#[derive(Debug)]
pub struct ListingPage {
    /// The page's sessions, in vendor order, without messages or summaries.
    pub conversations: Vec<Conversation>,
    /// The total the listing reports (`count`), if it says.
    pub count: Option<u64>,
    /// Whether the page links a next one (`next_page`).
    pub has_next_link: bool,
}

/// One page of a session's chat records (`/api/v1/imchat/chatrecords/{r_id}.json`).
#[derive(Debug)]
pub struct MessagesPage {
    /// The page's messages, in vendor order.
    pub messages: Vec<Message>,
    /// The total the endpoint reports (`count`), if it says.
    pub count: Option<u64>,
    /// Whether the page links a next one (`next_page`).
    pub has_next_link: bool,
    /// A hash of the page's records (their JSON text) that ignores their
    /// order (a page served again, even shuffled, has the same one).
    pub fingerprint: u64,
}

/// A 200 answer without its envelope's `key`: the vendor's error code and
/// message when the body carries them, else the missing key. Never read as an
/// empty page, which would end the listing silently short.
fn not_an_answer(ctx: &Ctx, status: Option<String>, message: Option<String>, key: &str) -> Error {
    match (status, message) {
        (None, None) => ctx.field(key, "missing: the answer is not the documented envelope"),
        (code, message) => ctx.api(
            200,
            code,
            message.unwrap_or_else(|| format!("the answer has no `{key}`")),
        ),
    }
}

/// Normalizes one listing page. `account` is the tenant the conversations
/// are stamped with; `zone` is the account's time zone (the API's times are
/// local).
///
/// # Errors
/// [`Error::Decode`] naming the JSON path of a malformed field
/// (`chats[4].start_time`); [`Error::Field`] for a session without `r_id`;
/// [`Error::Api`] for a 200 answer carrying an error code instead of `chats`.
pub fn listing_page(ctx: &Ctx, body: &[u8], account: &str, zone: Tz) -> Result<ListingPage> {
    let env: ListEnvelope<'_> = ctx.decode_body(body)?;
    let Some(items) = env.chats else {
        return Err(not_an_answer(ctx, env.status, env.message, "chats"));
    };
    let mut conversations = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let chat: Chat = ctx.decode_raw(format_args!("chats[{i}]"), item)?;
        let c = convert::conversation(chat, RawJson::from_raw(item), account, zone)
            .map_err(|Missing(f)| ctx.field(format!("chats[{i}].{f}"), "missing"))?;
        conversations.push(c);
    }
    Ok(ListingPage {
        conversations,
        count: env.count,
        has_next_link: env.next_page.is_some(),
    })
}

/// Normalizes one chat-records page. `null` or `[]` for `im_chatrecords`
/// (what servers send for a session without messages) is an empty page.
///
/// # Errors
/// [`Error::Decode`] naming the JSON path of a malformed field
/// (`im_chatrecords.contents[2].create_time`); [`Error::Api`] for a 200
/// answer carrying an error code instead of `im_chatrecords`.
pub fn messages_page(ctx: &Ctx, body: &[u8], zone: Tz) -> Result<MessagesPage> {
    let env: RecordsEnvelope<'_> = ctx.decode_body(body)?;
    let contents = match env.im_chatrecords {
        None => {
            return Err(not_an_answer(
                ctx,
                env.status,
                env.message,
                "im_chatrecords",
            ));
        }
        Some(records) => records,
    };
    let mut messages = Vec::with_capacity(contents.len());
    let mut keys = Vec::with_capacity(contents.len());
    for (i, item) in contents.into_iter().enumerate() {
        let record: Record = ctx.decode_raw(format_args!("im_chatrecords.contents[{i}]"), item)?;
        keys.push(fingerprint_of(item.get()));
        messages.push(convert::message(record, RawJson::from_raw(item), zone));
    }
    // Order-insensitive: a page repeated shuffled is still a repeat.
    keys.sort_unstable();
    Ok(MessagesPage {
        messages,
        count: env.count,
        has_next_link: env.next_page.is_some(),
        fingerprint: fingerprint_of(&keys),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::http::Request;
    use connector_core::model::Role;

    fn ctx() -> Ctx {
        Request::new(
            "/api/v1/imchat/histories.json",
            "/api/v1/imchat/histories.json",
        )
        .page(3)
        .ctx(crate::VENDOR)
    }

    fn zone() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }

    #[test]
    fn a_listing_page_keeps_each_record_verbatim() {
        let body = br#"{"chats":[{"r_id":"221","type":"2","start_time":"2017-8-23 9:03:01","end_time":"","x":[1, 2]},
            {"r_id": 222, "type": 1}],"count":"40","next_page":"https://www.bangwo8.com/api/v1/imchat/histories.json?page=4","previous_page":null}"#;
        let page = listing_page(&ctx(), body, "acct", zone()).unwrap();
        assert_eq!(page.count, Some(40));
        assert!(page.has_next_link);
        let ids: Vec<_> = page.conversations.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["221", "222"]);
        let c = &page.conversations[0];
        assert_eq!(
            c.raw.get(),
            r#"{"r_id":"221","type":"2","start_time":"2017-8-23 9:03:01","end_time":"","x":[1, 2]}"#
        );
        assert_eq!(
            c.created_at.unwrap().to_rfc3339(),
            "2017-08-23T01:03:01+00:00"
        );
        assert_eq!(c.account, "acct");
    }

    #[test]
    fn listing_errors_name_the_record_and_field() {
        let body = br#"{"chats":[{"r_id":"1"},{"r_id":"2","start_time":"yesterday"}],"count":2}"#;
        let e = listing_page(&ctx(), body, "acct", zone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("chats[1].start_time"), "{e}");
        assert!(e.contains("page 3"), "{e}");
        let e = listing_page(&ctx(), br#"{"chats":[{"type":"1"}]}"#, "a", zone()).unwrap_err();
        assert!(e.to_string().contains("chats[0].r_id"), "{e}");
        let e = listing_page(
            &ctx(),
            br#"{"status":"100001","message":"bad key"}"#,
            "a",
            zone(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("100001"), "{e}");
        assert!(e.to_string().contains("bad key"), "{e}");
    }

    #[test]
    fn a_messages_page_and_its_empty_forms() {
        let body = br#"{"im_chatrecords":{"r_id":"221","contents":[
            {"spokesman":"u_1","spokesman_identity":"2","msg":"hi","create_time":"2018-10-24 15:14:12"},
            {"spokesman":213,"spokesman_identity":1,"msg":"hello","create_time":"2018-10-24 15:14:20"}]},
            "count":2,"next_page":null}"#;
        let page = messages_page(&ctx(), body, zone()).unwrap();
        assert_eq!(page.count, Some(2));
        assert!(!page.has_next_link);
        let roles: Vec<_> = page
            .messages
            .iter()
            .map(|m| m.sender.role.clone())
            .collect();
        assert_eq!(roles, [Role::Customer, Role::Agent]);
        assert_eq!(page.messages[1].raw.field("spokesman"), Some(213.into()));
        // The same records shuffled give the same fingerprint.
        let shuffled = br#"{"im_chatrecords":{"contents":[
            {"spokesman":213,"spokesman_identity":1,"msg":"hello","create_time":"2018-10-24 15:14:20"},
            {"spokesman":"u_1","spokesman_identity":"2","msg":"hi","create_time":"2018-10-24 15:14:12"}]}}"#;
        assert_eq!(
            messages_page(&ctx(), shuffled, zone()).unwrap().fingerprint,
            page.fingerprint
        );
        for empty in [
            &br#"{"im_chatrecords":null,"count":0}"#[..],
            br#"{"im_chatrecords":[ ],"count":0}"#,
            br#"{"im_chatrecords":{"contents":null}}"#,
        ] {
            let page = messages_page(&ctx(), empty, zone()).unwrap();
            assert!(page.messages.is_empty());
        }
        let e = messages_page(&ctx(), br#"{"count":0}"#, zone()).unwrap_err();
        assert!(e.to_string().contains("im_chatrecords"), "{e}");
        let bad = br#"{"im_chatrecords":{"contents":[{"msg":"a"},{"create_time":"13/13/2020"}]}}"#;
        let e = messages_page(&ctx(), bad, zone()).unwrap_err();
        assert!(
            e.to_string()
                .contains("im_chatrecords.contents[1].create_time"),
            "{e}"
        );
    }
}
