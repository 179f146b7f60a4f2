//! Bangwo8 pages → the model, without I/O.
//!
//! These are the functions the connector runs on every listing and
//! chat-records page it receives; they are public so that pages obtained
//! some other way (an archive of raw API answers, a proxy's log) can be
//! normalized the same way, and so that their speed can be measured alone.
//! Records are decoded straight from the page's bytes and kept in `raw` as
//! the JSON text they came in.

use std::borrow::Cow;

use connector_core::decode::PageRef;
use connector_core::model::{Conversation, Message};
use connector_core::paging::fingerprint_of;
use connector_core::split::{self, Outline};
use connector_core::time::Tz;
use connector_core::{Error, RawJson, Result};

use crate::convert::{self, MissingField};
use crate::wire::{Chat, ListEnvelope, Record, RecordsEnvelope};

/// One page of a session listing (`/api/v1/imchat/histories[/{agent}].json`).
#[derive(Debug)]
pub struct ListingPage {
    /// The page's sessions, in vendor order, without messages or summaries.
    pub conversations: Vec<Conversation>,
    /// The sessions that do not decode, each set aside with its text
    /// ([`Error::Rejected`]): only from [`listing_page_skipping`].
    pub rejected: Vec<Error>,
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
fn not_an_answer(
    ctx: &PageRef,
    status: Option<String>,
    message: Option<String>,
    key: &str,
) -> Error {
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
pub fn listing_page(ctx: &PageRef, body: &[u8], account: &str, zone: Tz) -> Result<ListingPage> {
    match outlined_listing(ctx, body, account, zone) {
        Some(page) => Ok(page),
        None => parsed_listing(ctx, body, account, zone),
    }
}

/// [`listing_page`] through the page's outline ([`split`]): each session
/// decoded once, where it stands, its text kept as `raw`. `None` for
/// anything but a good page of good sessions: the page then goes the
/// [`parsed_listing`] way, which reads the same and says what is wrong.
fn outlined_listing(ctx: &PageRef, body: &[u8], account: &str, zone: Tz) -> Option<ListingPage> {
    let mut page = Outline::new(split::page_text(body)?);
    let mut members = Vec::with_capacity(8);
    let mut conversations = None;
    page.object()?;
    while let Some(name) = page.next_member()? {
        if name != "chats" {
            members.push((Cow::Borrowed(name), page.value()?));
            continue;
        }
        if conversations.is_some() {
            return None;
        }
        let mut found = Vec::new();
        if !page.null()? {
            page.array()?;
            while page.next_item()? {
                let path = format_args!("chats[{}]", found.len());
                let (chat, raw) = ctx.decode_next::<Chat>(path, &mut page)?.ok()?;
                found.push(convert::conversation(chat, raw, account, zone).ok()?);
            }
        }
        conversations = Some(found);
    }
    page.end()?;
    let rest = split::object_text(&members);
    let env: ListEnvelope<'_> = serde_json::from_str(&rest).ok()?;
    Some(ListingPage {
        conversations: conversations?,
        rejected: Vec::new(),
        count: env.count,
        has_next_link: env.next_page.is_some(),
    })
}

/// [`listing_page`] read by `serde_json` alone.
fn parsed_listing(ctx: &PageRef, body: &[u8], account: &str, zone: Tz) -> Result<ListingPage> {
    parsed(ctx, body, account, zone, false)
}

/// [`listing_page`], each session on its own: a session that does not
/// decode is set aside with its text in [`ListingPage::rejected`]
/// (credentials not yet scrubbed) and the others are read. Only a body that
/// is not the envelope is the page's error.
///
/// # Errors
/// As [`listing_page`], for the page as a whole.
pub fn listing_page_skipping(
    ctx: &PageRef,
    body: &[u8],
    account: &str,
    zone: Tz,
) -> Result<ListingPage> {
    parsed(ctx, body, account, zone, true)
}

fn parsed(ctx: &PageRef, body: &[u8], account: &str, zone: Tz, skip: bool) -> Result<ListingPage> {
    let env: ListEnvelope<'_> = ctx.decode_body(body)?;
    let Some(items) = env.chats else {
        return Err(not_an_answer(ctx, env.status, env.message, "chats"));
    };
    let mut conversations = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let decoded = ctx
            .decode_record::<Chat>(format_args!("chats[{i}]"), item)
            .and_then(|chat| {
                convert::conversation(chat, RawJson::from_raw(item), account, zone)
                    .map_err(|MissingField(f)| ctx.field(format!("chats[{i}].{f}"), "missing"))
            });
        match decoded {
            Ok(c) => conversations.push(c),
            Err(e) if skip => rejected.push(e.rejected(item.get())),
            Err(e) => return Err(e),
        }
    }
    Ok(ListingPage {
        conversations,
        rejected,
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
pub fn messages_page(ctx: &PageRef, body: &[u8], zone: Tz) -> Result<MessagesPage> {
    match outlined_messages(ctx, body, zone) {
        Some(page) => Ok(page),
        None => parsed_messages(ctx, body, zone),
    }
}

/// [`messages_page`] through the page's outline ([`split`]), for the usual
/// shape (`im_chatrecords` an object with `contents`, or `null`): each
/// record decoded once, where it stands. `None` otherwise and for anything
/// but a good page: the page then goes the [`parsed_messages`] way.
fn outlined_messages(ctx: &PageRef, body: &[u8], zone: Tz) -> Option<MessagesPage> {
    let mut page = Outline::new(split::page_text(body)?);
    let mut members = Vec::with_capacity(8);
    let mut found = None;
    page.object()?;
    while let Some(name) = page.next_member()? {
        if name != "im_chatrecords" {
            members.push((Cow::Borrowed(name), page.value()?));
            continue;
        }
        if found.is_some() {
            return None;
        }
        let (mut messages, mut keys) = (Vec::new(), Vec::new());
        if !page.null()? {
            page.object()?;
            let mut seen = false;
            while let Some(name) = page.next_member()? {
                if name != "contents" {
                    split::is_json(page.value()?).then_some(())?;
                    continue;
                }
                if std::mem::replace(&mut seen, true) {
                    return None;
                }
                if page.null()? {
                    continue;
                }
                page.array()?;
                while page.next_item()? {
                    let path = format_args!("im_chatrecords.contents[{}]", messages.len());
                    let (record, raw) = ctx.decode_next::<Record>(path, &mut page)?.ok()?;
                    keys.push(fingerprint_of(raw.get()));
                    messages.push(convert::message(record, raw, zone));
                }
            }
        }
        found = Some((messages, keys));
    }
    page.end()?;
    let rest = split::object_text(&members);
    let env: RecordsEnvelope<'_> = serde_json::from_str(&rest).ok()?;
    let (messages, mut keys) = found?;
    keys.sort_unstable();
    Some(MessagesPage {
        messages,
        count: env.count,
        has_next_link: env.next_page.is_some(),
        fingerprint: fingerprint_of(&keys),
    })
}

/// [`messages_page`] read by `serde_json` alone.
fn parsed_messages(ctx: &PageRef, body: &[u8], zone: Tz) -> Result<MessagesPage> {
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
        let record: Record =
            ctx.decode_record(format_args!("im_chatrecords.contents[{i}]"), item)?;
        let raw = RawJson::from_raw(item);
        keys.push(fingerprint_of(raw.get()));
        messages.push(convert::message(record, raw, zone));
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

    fn ctx() -> PageRef {
        Request::new(
            "/api/v1/imchat/histories.json",
            "/api/v1/imchat/histories.json",
        )
        .page(3)
        .page_ref(crate::VENDOR)
    }

    fn zone() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }

    /// Pages bent every which way: read through their outline or by
    /// `serde_json` alone, each gives the same page, or the same error.
    #[test]
    fn the_outline_reads_every_page_as_serde_json_does() {
        let listing = br#"{"chats":[{"r_id":"221","type":"2","start_time":"2017-8-23 9:03:01","end_time":"","x":[1, "]"]},
            {"r_id": 222, "type": 1, "name":"L\u00ea"}],"count":"40","next_page":"https:\/\/www.bangwo8.com\/x","previous_page":null}"#;
        let records = br#"{"im_chatrecords":{"r_id":"221","contents":[
            {"spokesman":"u_1","spokesman_identity":"2","msg":"hi \"you\"","create_time":"2018-10-24 15:14:12"},
            {"spokesman":213,"spokesman_identity":1,"msg":"","create_time":"2018-10-24 15:14:20","img":null}]},
            "count":2,"next_page":null}"#;
        let show = |r: Result<String>| r.unwrap_or_else(|e| format!("error: {e}"));
        let (mut outlined, mut total) = (0, 0);
        for body in connector_testkit::bent_pages(listing, 31, 2500) {
            let fast = listing_page(&ctx(), &body, "a", zone()).map(|p| format!("{p:?}"));
            let slow = parsed_listing(&ctx(), &body, "a", zone()).map(|p| format!("{p:?}"));
            assert_eq!(show(fast), show(slow), "{}", String::from_utf8_lossy(&body));
            outlined += usize::from(outlined_listing(&ctx(), &body, "a", zone()).is_some());
            total += 1;
        }
        for body in connector_testkit::bent_pages(records, 32, 2500) {
            let fast = messages_page(&ctx(), &body, zone()).map(|p| format!("{p:?}"));
            let slow = parsed_messages(&ctx(), &body, zone()).map(|p| format!("{p:?}"));
            assert_eq!(show(fast), show(slow), "{}", String::from_utf8_lossy(&body));
            outlined += usize::from(outlined_messages(&ctx(), &body, zone()).is_some());
            total += 1;
        }
        assert!(outlined * 5 > total, "{outlined} of {total}");
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
