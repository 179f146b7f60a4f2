//! One listing page, from the bytes of its body to normalized
//! [`Conversation`]s: the very function the connector runs on every page of
//! `GET /api/v1/chats`, public so it can be measured on recorded pages and
//! reused on bodies fetched some other way.
//!
//! The envelope is decoded with its records borrowed from the body as raw
//! JSON text; each record is decoded on its own (its index in any error
//! path) and copied verbatim as [`Conversation::raw`]. No `serde_json::Value`
//! tree is built for a record.
//!
//! ```
//! use connector_caresoft::ConversationType;
//! use connector_caresoft::normalize::conversations_page;
//! use connector_core::decode::PageRef;
//! use connector_core::time::Tz;
//!
//! let body = br#"{"code":"OK","numFound":34,"chats":[
//!     {"conversation_id":"20230422094830-AIVGTIVI-503996","start_time":"2023-04-22 09:48:30",
//!      "waitTime":"00:00:08","chat_status":"LBL_CHAT_STATUS_MEET","service_id":60047005}]}"#;
//! let ctx = PageRef { vendor: "caresoft", endpoint: "/api/v1/chats".into(), page: 1 };
//! let page = conversations_page(&ctx, body, "acme", Tz::Asia__Ho_Chi_Minh, ConversationType::LiveChat)?;
//! assert_eq!(page.total, Some(34));
//! let c = &page.conversations[0];
//! assert_eq!(c.id, "20230422094830-AIVGTIVI-503996");
//! assert_eq!(c.created_at.unwrap().to_rfc3339(), "2023-04-22T02:48:30+00:00");
//! assert_eq!(c.metrics.wait_secs, Some(8));
//! assert_eq!(c.raw.field("service_id"), Some(60047005.into()));
//! # Ok::<(), connector_core::Error>(())
//! ```

use std::borrow::Cow;

use connector_core::decode::PageRef;
use connector_core::split::{self, Outline};
use connector_core::time::Tz;
use connector_core::{Conversation, Result};

use crate::config::ConversationType;
use crate::convert;
use crate::wire::{ChatsEnvelope, WireChat};

/// One listing page, normalized.
#[derive(Debug)]
pub struct ChatsPage {
    /// The page's conversations, in the API's order.
    pub conversations: Vec<Conversation>,
    /// The records that do not decode, each set aside with its text
    /// ([`connector_core::Error::Rejected`]): only from
    /// [`conversations_page_skipping`].
    pub rejected: Vec<connector_core::Error>,
    /// How many chats the vendor says match, over all pages (`numFound`).
    pub total: Option<u64>,
}

/// Normalizes the body of one `GET /api/v1/chats` page, listed under
/// `listed_as` (which sets every conversation's channel), for `account`,
/// reading CareSoft's wall-clock times in `zone`. `ctx` names the endpoint
/// and page in errors.
///
/// # Errors
/// [`connector_core::Error::Decode`] naming the JSON path
/// (`chats[3].waitTime`) when the body or a record does not decode (an
/// empty, HTML or cut-short body is transient);
/// [`connector_core::Error::Api`] carrying the code when `code` is not `OK`;
/// [`connector_core::Error::Field`] when `chats` or a record's
/// `conversation_id` is missing.
pub fn conversations_page(
    ctx: &PageRef,
    body: &[u8],
    account: &str,
    zone: Tz,
    listed_as: ConversationType,
) -> Result<ChatsPage> {
    if let Some(page) = outlined(ctx, body, account, zone, listed_as) {
        return Ok(page);
    }
    parsed(ctx, body, account, zone, listed_as)
}

/// [`conversations_page`] read by `serde_json` alone: the envelope with its
/// records borrowed as raw values, then each record from its text.
fn parsed(
    ctx: &PageRef,
    body: &[u8],
    account: &str,
    zone: Tz,
    listed_as: ConversationType,
) -> Result<ChatsPage> {
    let envelope: ChatsEnvelope<'_> = ctx.decode_body(body)?;
    convert::chats_page(ctx, account, zone, listed_as, envelope, false)
}

/// [`conversations_page`], each record on its own: a record that does not
/// decode is set aside with its text in [`ChatsPage::rejected`]
/// (credentials not yet scrubbed) and the others are read. Only a body that
/// is not the envelope (or carries an error code) is the page's error.
///
/// # Errors
/// As [`conversations_page`], for the page as a whole.
pub fn conversations_page_skipping(
    ctx: &PageRef,
    body: &[u8],
    account: &str,
    zone: Tz,
    listed_as: ConversationType,
) -> Result<ChatsPage> {
    let envelope: ChatsEnvelope<'_> = ctx.decode_body(body)?;
    convert::chats_page(ctx, account, zone, listed_as, envelope, true)
}

/// [`conversations_page`] through the page's outline
/// ([`connector_core::split`]): each record decoded once, where it stands,
/// its text kept as `raw`. `None` for anything but a good page of good
/// records: the page then goes the [`parsed`] way, which reads the same and
/// says what is wrong.
fn outlined(
    ctx: &PageRef,
    body: &[u8],
    account: &str,
    zone: Tz,
    listed_as: ConversationType,
) -> Option<ChatsPage> {
    let mut page = Outline::new(split::page_text(body)?);
    let mut members = Vec::with_capacity(4);
    let mut conversations = None;
    page.object()?;
    while let Some(name) = page.next_member()? {
        if name != "chats" {
            members.push((Cow::Borrowed(name), page.value()?));
            continue;
        }
        if conversations.is_some() || page.null()? {
            return None;
        }
        let mut found = Vec::with_capacity(500);
        page.array()?;
        while page.next_item()? {
            let path = format_args!("chats[{}]", found.len());
            let (chat, raw) = ctx.decode_next::<WireChat>(path, &mut page)?.ok()?;
            found.push(convert::conversation(account, zone, listed_as, chat, raw).ok()?);
        }
        conversations = Some(found);
    }
    page.end()?;
    let rest = split::object_text(&members);
    let envelope: ChatsEnvelope<'_> = serde_json::from_str(&rest).ok()?;
    matches!(envelope.code.as_deref(), Some("OK") | None).then_some(())?;
    Some(ChatsPage {
        conversations: conversations?,
        rejected: Vec::new(),
        total: envelope.num_found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::{Channel, Error, Status};
    use serde_json::json;

    const DOC_EXAMPLE: &str = include_str!(
        "../tests/fixtures/chats_doc_example_ellipsis_and_trailing_comma_removed.json"
    );

    fn ctx(page: u32) -> PageRef {
        PageRef {
            vendor: crate::VENDOR,
            endpoint: crate::CHATS.into(),
            page,
        }
    }

    fn page(body: &str, listed_as: ConversationType) -> Result<ChatsPage> {
        conversations_page(
            &ctx(2),
            body.as_bytes(),
            "acme",
            Tz::Asia__Ho_Chi_Minh,
            listed_as,
        )
    }

    /// Pages bent every which way: read through their outline or by
    /// `serde_json` alone, each gives the same conversations and `raw`, or
    /// the same error.
    #[test]
    fn the_outline_reads_every_page_as_serde_json_does() {
        let two = r#"{"code":"OK","numFound":"2","chats":[
            {"conversation_id":"c-1","start_time":"2023-04-22 09:48:30","waitTime":"00:00:08",
             "chat_status":"LBL_CHAT_STATUS_MEET","service_id":60047005,"customer":{"name":"L\u00ea"}},
            {"conversation_id":"c-2","end_time":"","is_trigger":1,"landing_page":"https:\/\/x"}],"msg":null}"#;
        let (mut outlined_ok, mut total) = (0, 0);
        let pages = connector_testkit::bent_pages(DOC_EXAMPLE.as_bytes(), 21, 2500)
            .into_iter()
            .chain(connector_testkit::bent_pages(two.as_bytes(), 22, 2500));
        for body in pages {
            let read = |r: Result<ChatsPage>| match r {
                Ok(p) => format!("{p:?}"),
                Err(e) => format!("error: {e}"),
            };
            let zone = Tz::Asia__Ho_Chi_Minh;
            let fast = conversations_page(&ctx(2), &body, "a", zone, ConversationType::LiveChat);
            let slow = parsed(&ctx(2), &body, "a", zone, ConversationType::LiveChat);
            assert_eq!(read(fast), read(slow), "{}", String::from_utf8_lossy(&body));
            total += 1;
            outlined_ok += usize::from(
                outlined(&ctx(2), &body, "a", zone, ConversationType::LiveChat).is_some(),
            );
        }
        assert!(outlined_ok * 5 > total, "{outlined_ok} of {total}");
    }

    #[test]
    fn the_doc_example_page() {
        let p = page(DOC_EXAMPLE, ConversationType::Facebook).unwrap();
        assert_eq!(p.total, Some(34));
        assert_eq!(p.conversations.len(), 1);
        let c = &p.conversations[0];
        assert_eq!(
            (c.vendor.as_str(), c.account.as_str(), c.id.as_str()),
            ("caresoft", "acme", "20230422094830-AIVGTIVI-503996")
        );
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
        assert_eq!(c.customer.id.as_deref(), Some("165644057"));
        assert_eq!(
            c.agent.as_ref().and_then(|a| a.email.as_deref()),
            Some("dungntt1110@gmail.com")
        );
        // The record is kept as sent, fields the model has no place for included.
        let fixture: serde_json::Value = serde_json::from_str(DOC_EXAMPLE).unwrap();
        assert_eq!(c.raw, fixture["chats"][0]);
        assert_eq!(c.raw.field("service_id"), Some(json!(60047005)));
        assert!(!c.raw.get().contains('\n'), "{}", c.raw);
    }

    #[test]
    fn records_in_order_and_kept_verbatim() {
        let body = r#"{"code":"OK","numFound":"2","chats":[
            {"conversation_id": "b", "cus_name": "Nguyễn Văn A", "x": [1, {"y": null}]},
            {"conversation_id": 7}]}"#;
        let p = page(body, ConversationType::Zalo).unwrap();
        let ids: Vec<&str> = p.conversations.iter().map(|c| c.id.as_str()).collect();
        assert_eq!((ids, p.total), (vec!["b", "7"], Some(2)));
        assert_eq!(
            p.conversations[0].raw.get(),
            r#"{"conversation_id": "b", "cus_name": "Nguyễn Văn A", "x": [1, {"y": null}]}"#
        );
        assert_eq!(
            p.conversations[0].customer.name.as_deref(),
            Some("Nguyễn Văn A")
        );
    }

    #[test]
    fn a_bad_record_names_its_path() {
        let body = json!({"code": "OK", "numFound": 4, "chats": [
            {"conversation_id": "a"}, {"conversation_id": "b"}, {"conversation_id": "c"},
            {"conversation_id": "d", "waitTime": "8 giây"}
        ]})
        .to_string();
        let e = page(&body, ConversationType::LiveChat).unwrap_err();
        assert!(
            matches!(&e, Error::Decode { path, page: 2, transient: false, .. } if path == "chats[3].waitTime"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "caresoft: cannot decode /api/v1/chats page 2: at chats[3].waitTime: \
             expected a duration like 00:01:05 (HH:MM:SS) or seconds, got `8 giây`"
        );
        let body = r#"{"code":"OK","chats":[{"conversation_id":"a"},{"cus_name":"x"}]}"#;
        let e = page(body, ConversationType::LiveChat).unwrap_err();
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 2: field `chats[1].conversation_id`: missing"
        );
        let e = page(
            r#"{"code":"OK","chats":[{"conversation_id":"a"}, 5]}"#,
            ConversationType::LiveChat,
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Decode { path, .. } if path == "chats[1]"),
            "{e:?}"
        );
    }

    #[test]
    fn bad_bodies() {
        let e = page(
            r#"{"code":"OK","chats":[{"conversation_id":"a"}"#,
            ConversationType::LiveChat,
        )
        .unwrap_err();
        assert!(e.is_retryable(), "a body cut short is transient: {e:?}");
        let e = page("", ConversationType::LiveChat).unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        let e = page(
            r#"{"code":"ERROR_TOKEN","message":"Token không hợp lệ"}"#,
            ConversationType::LiveChat,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 2: HTTP 200 code ERROR_TOKEN: Token không hợp lệ"
        );
        let e = page(r#"{"code":"OK","chats":{}}"#, ConversationType::LiveChat).unwrap_err();
        assert!(
            matches!(&e, Error::Decode { path, transient: false, .. } if path == "chats"),
            "{e:?}"
        );
    }
}
