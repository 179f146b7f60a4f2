//! KF5 pages → the model, without I/O.
//!
//! These are the functions the connector runs on every listing page and
//! chat detail it receives; they are public so that pages obtained some
//! other way (an archive of raw API answers, a proxy's log) can be
//! normalized the same way, and so that their speed can be measured alone.
//! Records are decoded straight from the page's bytes and kept in `raw` as
//! the JSON text they came in.

use connector_core::Result;
use connector_core::http::Ctx;
use connector_core::time::Tz;

use connector_core::split::{self, Outline};

pub use crate::convert::ListedChat;
use crate::convert::{decode_chat, outlined_chat};
use crate::wire::{DetailEnvelope, ListEnvelope};

/// Normalizes one page of `GET /apiv2/chats.json`: its chats in vendor
/// order, each with its own messages when `with_messages` and the record
/// carries them. `account` stamps the conversations; `zone` is the
/// account's time zone (the API's times are local).
///
/// A conversation's `raw` is its chat record exactly as it came, its
/// `messages` array included; each message's `raw` is that message's text.
///
/// # Errors
/// [`connector_core::Error::Decode`] naming the JSON path of a malformed
/// chat field (`chats[4].created_at`); [`connector_core::Error::Field`] for a
/// chat without `id`. A malformed *message* is not the page's error but its
/// chat's, in [`ListedChat::messages`].
pub fn listing_page(
    ctx: &Ctx,
    body: &[u8],
    account: &str,
    zone: Tz,
    with_messages: bool,
) -> Result<Vec<ListedChat>> {
    if with_messages {
        return match outlined(ctx, body, "chats", account, zone) {
            Some(chats) => Ok(chats),
            None => parsed_listing(ctx, body, account, zone),
        };
    }
    let env: ListEnvelope<'_> = ctx.decode_body(body)?;
    env.chats
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            decode_chat(
                ctx,
                format_args!("chats[{i}]"),
                raw,
                account,
                zone,
                with_messages,
            )
        })
        .collect()
}

/// Normalizes `GET /apiv2/chats/{id}.json`: the chat and, when
/// `with_messages`, its messages (empty when the record has none).
///
/// # Errors
/// As [`listing_page`], the paths starting at `chat`; a malformed message
/// is an error here (the detail is one chat).
pub fn detail(
    ctx: &Ctx,
    body: &[u8],
    account: &str,
    zone: Tz,
    with_messages: bool,
) -> Result<ListedChat> {
    if !with_messages {
        let env: DetailEnvelope<'_> = ctx.decode_body(body)?;
        return decode_chat(ctx, "chat", env.chat, account, zone, false);
    }
    let mut chat = match outlined(ctx, body, "chat", account, zone) {
        Some(mut chats) if chats.len() == 1 => chats.remove(0),
        _ => return parsed_detail(ctx, body, account, zone),
    };
    let messages = chat.messages.take().unwrap_or(Ok(Vec::new()))?;
    chat.messages = Some(Ok(messages));
    Ok(chat)
}

/// [`listing_page`] with messages, read by `serde_json` alone.
fn parsed_listing(ctx: &Ctx, body: &[u8], account: &str, zone: Tz) -> Result<Vec<ListedChat>> {
    let env: ListEnvelope<'_> = ctx.decode_body(body)?;
    env.chats
        .into_iter()
        .enumerate()
        .map(|(i, raw)| decode_chat(ctx, format_args!("chats[{i}]"), raw, account, zone, true))
        .collect()
}

/// [`detail`] with messages, read by `serde_json` alone.
fn parsed_detail(ctx: &Ctx, body: &[u8], account: &str, zone: Tz) -> Result<ListedChat> {
    let env: DetailEnvelope<'_> = ctx.decode_body(body)?;
    let mut chat = decode_chat(ctx, "chat", env.chat, account, zone, true)?;
    let messages = chat.messages.take().unwrap_or(Ok(Vec::new()))?;
    chat.messages = Some(Ok(messages));
    Ok(chat)
}

/// The page read through its outline ([`connector_core::split`]): the
/// chats found under `key` (`chats`, an array, or `chat`, one object), each
/// chat's members and each message decoded once from their own text. `None`
/// for anything unusual and for every error but a message's: the caller
/// then reads the page with `serde_json` alone, to the same result or an
/// error that says where.
fn outlined(ctx: &Ctx, body: &[u8], key: &str, account: &str, zone: Tz) -> Option<Vec<ListedChat>> {
    let mut page = Outline::new(split::page_text(body)?);
    let mut chats = None;
    page.object()?;
    while let Some(name) = page.next_member()? {
        if name != key {
            split::is_json(page.value()?).then_some(())?;
        } else if chats.is_some() {
            return None;
        } else if key == "chat" {
            chats = Some(vec![outlined_chat(ctx, "chat", &mut page, account, zone)?]);
        } else if page.null()? {
            chats = Some(Vec::new());
        } else {
            let mut found = Vec::new();
            page.array()?;
            while page.next_item()? {
                let path = format_args!("chats[{}]", found.len());
                found.push(outlined_chat(ctx, path, &mut page, account, zone)?);
            }
            chats = Some(found);
        }
    }
    page.end()?;
    chats
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::http::Request;

    fn ctx() -> Ctx {
        Request::new("/apiv2/chats.json", "/apiv2/chats.json")
            .page(2)
            .ctx(crate::VENDOR)
    }

    const ZONE: Tz = Tz::Asia__Shanghai;

    /// The error a chat's messages ended in.
    fn message_error(chat: &ListedChat) -> String {
        match &chat.messages {
            Some(Err(e)) => e.to_string(),
            other => panic!("expected a messages error, got {other:?}"),
        }
    }

    /// Pages bent every which way (bytes dropped, doubled, swapped for
    /// JSON punctuation, escapes and blanks): read through their outline or
    /// by `serde_json` alone, each gives the same chats, messages and `raw`,
    /// or the same error.
    #[test]
    fn the_outline_reads_every_page_as_serde_json_does() {
        let listing = br#"{"chats":[
            {"id":290,"status":"close","created_at":"2015-4-25 08:04:12","rating":"good","messages":[
                {"id":1,"type":"chat.msg","name":"v","msg":"hi \"there\" \u4f60","is_read":1,"created_at":"2015-04-25 08:04:13","upload":null},
                {"id":"2","type":"chat.memberjoin","name":null,"msg":"","created_at":"2015-04-25 08:04:14","upload":{"name":"a.png","size":"3","url":"https:\/\/x"}},
                {"id":3,"type":"chat.transfer","name":"\u5f20","is_read":"0","created_at":"2015-4-25 8:4:15","upload":[]}]},
            {"id":"291","messages":null,"end_at":""},
            {"id":292,"visitor_id":7,"messages":[],"extra":{"a":[1,{"b":"]}"}]}}],"count":3}"#;
        let detail_body = br#"{"chat":{"id":5,"agent_id":"9","messages":[{"id":1,"msg":"x","created_at":"2020-01-01 00:00:00"},{"id":2,"is_read":true}]}}"#;
        let (mut outlined_ok, mut total) = (0, 0);
        let pages = connector_testkit::bent_pages(listing, 11, 4000)
            .into_iter()
            .map(|p| (p, false))
            .chain(
                connector_testkit::bent_pages(detail_body, 12, 2000)
                    .into_iter()
                    .map(|p| (p, true)),
            );
        for (page, is_detail) in pages {
            let show = |r: &Result<Vec<ListedChat>>| match r {
                Ok(chats) => format!("{chats:?}"),
                Err(e) => format!("error: {e}"),
            };
            let (fast, slow) = if is_detail {
                let one = |r: Result<ListedChat>| r.map(|c| vec![c]);
                (
                    one(detail(&ctx(), &page, "a", ZONE, true)),
                    one(parsed_detail(&ctx(), &page, "a", ZONE)),
                )
            } else {
                (
                    listing_page(&ctx(), &page, "a", ZONE, true),
                    parsed_listing(&ctx(), &page, "a", ZONE),
                )
            };
            assert_eq!(
                show(&fast),
                show(&slow),
                "{}",
                String::from_utf8_lossy(&page)
            );
            total += 1;
            let key = if is_detail { "chat" } else { "chats" };
            outlined_ok += usize::from(outlined(&ctx(), &page, key, "a", ZONE).is_some());
        }
        // The outline did read a good share of them (the rest fell back).
        assert!(outlined_ok * 5 > total, "{outlined_ok} of {total}");
    }

    #[test]
    fn a_listing_page_with_and_without_messages() {
        let body = br#"{"chats":[
            {"id":290,"status":"close","created_at":"2015-4-25 08:04:12","messages":[
                {"id":1,"type":"chat.msg","name":"v","msg":"hi","created_at":"2015-04-25 08:04:13"},
                {"id":2,"type":"chat.msg","name":"a","msg":"yo","created_at":"2015-04-25 08:04:14","upload":{"name":"a.png","size":3}}]},
            {"id":"291","messages":null}]}"#;
        let chats = listing_page(&ctx(), body, "acme", ZONE, true).unwrap();
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
        let without = listing_page(&ctx(), body, "acme", ZONE, false).unwrap();
        assert!(without.iter().all(|c| c.messages.is_none()));
        // The same `raw` whether messages are pulled or not.
        assert_eq!(without[0].conversation.raw, chats[0].conversation.raw);
        assert_eq!(without[0].conversation.id, "290");
        // Times with an offset are those instants; local ones are read in the zone.
        let timed = br#"{"chats":[{"id":3,"created_at":"2015-04-25T08:04:12+08:00","end_at":"2015-04-25T00:09:00Z","messages":[{"id":1,"created_at":"2015-04-25 08:05:00"}]}]}"#;
        let chats = listing_page(&ctx(), timed, "acme", ZONE, true).unwrap();
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
        let chats = listing_page(&ctx(), php, "acme", ZONE, true).unwrap();
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
    }

    #[test]
    fn a_bad_message_is_its_chats_error_a_bad_chat_the_pages() {
        let body = br#"{"chats":[{"id":1,"messages":[{"id":1},{"id":2,"is_read":"maybe"}]},{"id":2,"messages":[]}]}"#;
        let chats = listing_page(&ctx(), body, "acme", ZONE, true).unwrap();
        let e = message_error(&chats[0]);
        assert!(e.contains("at chats[0].messages[1].is_read"), "{e}");
        assert_eq!(
            chats[1].messages.as_ref().unwrap().as_ref().unwrap().len(),
            0
        );
        let e = listing_page(
            &ctx(),
            br#"{"chats":[{"id":1},{"id":2,"end_at":"x"}]}"#,
            "a",
            ZONE,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("page 2") && e.contains("chats[1].end_at"), "{e}");
        let e = detail(
            &ctx(),
            br#"{"chat":{"id":5,"messages":[{"created_at":"x"}]}}"#,
            "a",
            ZONE,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("chat.messages[0].created_at"), "{e}");
        let d = detail(&ctx(), br#"{"chat":{"id":5}}"#, "a", ZONE, true).unwrap();
        assert_eq!(d.messages.unwrap().unwrap().len(), 0);
        // A chat whose messages must come from its detail, with an id that
        // cannot go into that path: its own error, naming the listing page.
        let odd = br#"{"chats":[{"id":"1.5"},{"id":"7","messages":[]}]}"#;
        let chats = listing_page(&ctx(), odd, "a", ZONE, true).unwrap();
        let e = message_error(&chats[0]);
        assert!(
            e.contains("page 2") && e.contains("chats[0].id") && e.contains("1.5"),
            "{e}"
        );
        assert!(chats[1].messages.as_ref().unwrap().is_ok());
        assert!(
            listing_page(&ctx(), odd, "a", ZONE, false).unwrap()[0]
                .messages
                .is_none()
        );
    }
}
