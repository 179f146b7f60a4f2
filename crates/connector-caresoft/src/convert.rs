//! CareSoft records → the normalized model, following docs/vendors/caresoft.md: pure
//! functions, no I/O.

use connector_core::decode::PageRef;
use connector_core::time::Tz;
use connector_core::{Agent, Conversation, Customer, Metrics, RawJson, Result, Status, TicketRef};

use crate::VENDOR;
use crate::config::ConversationType;
use crate::normalize::ChatsPage;
use crate::wire::{ChatsEnvelope, WireChat};

/// The chat status of a chat the parties met in.
pub(crate) const STATUS_MEET: &str = "LBL_CHAT_STATUS_MEET";
/// The chat status of a missed chat.
pub(crate) const STATUS_MISS: &str = "LBL_CHAT_STATUS_MISS";

/// Maps `chat_status`: met → `closed`, missed → `missed`, anything else kept.
pub(crate) fn status(chat_status: &str) -> Status {
    match chat_status {
        STATUS_MEET => Status::Closed,
        STATUS_MISS => Status::Missed,
        other => Status::Other(other.to_owned()),
    }
}

/// Converts one decoded record listed under `listed_as`; `raw` is the record
/// as received.
///
/// # Errors
/// The name of a required field that is missing (`conversation_id`).
pub(crate) fn conversation(
    account: &str,
    zone: Tz,
    listed_as: ConversationType,
    chat: WireChat,
    raw: RawJson,
) -> std::result::Result<Conversation, &'static str> {
    let id = chat.conversation_id.ok_or("conversation_id")?;
    let utc = |t: Option<connector_core::time::WireTime>| t.map(|t| t.to_utc(zone));
    let mut c = Conversation::new(VENDOR, account, id);
    c.channel = Some(listed_as.channel());
    c.status = chat.chat_status.as_deref().map(status);
    c.customer = Customer {
        id: chat.customer_id,
        name: chat.cus_name,
        email: chat.cus_email,
        phone: chat.cus_phone,
        ..Customer::default()
    };
    if chat.agent_name.is_some() || chat.agent_email.is_some() || chat.group_name.is_some() {
        let agent = Agent {
            id: None,
            name: chat.agent_name,
            email: chat.agent_email,
            group: chat.group_name,
        };
        c.agents = vec![agent.clone()];
        c.agent = Some(agent);
    }
    c.created_at = utc(chat.start_time);
    c.assigned_at = utc(chat.ring_time);
    c.answered_at = utc(chat.meet_time);
    c.ended_at = utc(chat.end_time);
    c.metrics = Metrics {
        wait_secs: chat.wait_time,
        talk_secs: chat.answer_time,
        duration_secs: chat.chat_duration,
        ..Metrics::default()
    };
    if chat.ticket_id.is_some() || chat.ticket_no.is_some() {
        c.ticket = Some(TicketRef {
            id: chat.ticket_id,
            number: chat.ticket_no,
        });
    }
    c.landing_page = chat.landing_page;
    c.referrer = chat.referrer;
    c.raw = raw;
    Ok(c)
}

/// Checks a listing envelope and converts its records; errors name the
/// vendor, endpoint, page and JSON path (`chats[4].waitTime`).
///
/// # Errors
/// [`connector_core::Error::Api`] carrying the code when `code` is not `OK`;
/// [`connector_core::Error::Field`] when `chats` is missing (or null) though
/// `numFound` is above 0, or a record's `conversation_id` is missing;
/// [`connector_core::Error::Decode`] when a field does not decode. `code`
/// `OK` with `chats` null or missing and `numFound` 0 or absent is an empty
/// page.
pub(crate) fn chats_page(
    ctx: &PageRef,
    account: &str,
    zone: Tz,
    listed_as: ConversationType,
    envelope: ChatsEnvelope<'_>,
    skip_bad_records: bool,
) -> Result<ChatsPage> {
    match envelope.code.as_deref() {
        Some("OK") => {}
        Some(code) => {
            let message = envelope
                .message
                .unwrap_or_else(|| "the API answered with an error code".to_owned());
            return Err(ctx.api(200, Some(code.to_owned()), message));
        }
        // The docs always show a code; a body with records but no code is
        // still usable, one with neither is not the documented envelope.
        None if envelope.chats.is_some() => {}
        None => return Err(ctx.field("code", "missing (and no `chats`)")),
    }
    let chats = match (envelope.chats, envelope.num_found) {
        (Some(chats), _) => chats,
        // `OK` with no records to give: `chats` null or left out, as a
        // server may for an empty result. Not when `numFound` promises some.
        (None, None | Some(0)) => Vec::new(),
        (None, Some(n)) => {
            return Err(ctx.field("chats", format!("missing, though numFound is {n}")));
        }
    };
    let mut conversations = Vec::with_capacity(chats.len());
    let mut rejected = Vec::new();
    for (i, raw) in chats.into_iter().enumerate() {
        let decoded = ctx
            .decode_record::<WireChat>(format_args!("chats[{i}]"), raw)
            .and_then(|chat| {
                conversation(account, zone, listed_as, chat, RawJson::from_raw(raw))
                    .map_err(|field| ctx.field(format!("chats[{i}].{field}"), "missing"))
            });
        match decoded {
            Ok(c) => conversations.push(c),
            Err(e) if skip_bad_records => rejected.push(e.rejected(raw.get())),
            Err(e) => return Err(e),
        }
    }
    Ok(ChatsPage {
        conversations,
        rejected,
        total: envelope.num_found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::Channel;
    use serde_json::{Value, json};

    const SAIGON: Tz = Tz::Asia__Ho_Chi_Minh;

    fn ctx() -> PageRef {
        PageRef {
            vendor: VENDOR,
            endpoint: "/api/v1/chats".into(),
            page: 3,
        }
    }

    fn one(record: Value, listed_as: ConversationType) -> Result<Conversation> {
        let text = record.to_string();
        let raw: &serde_json::value::RawValue = serde_json::from_str(&text).unwrap();
        let env = ChatsEnvelope {
            code: Some("OK".into()),
            message: None,
            num_found: Some(1),
            chats: Some(vec![raw]),
        };
        chats_page(&ctx(), "acme", SAIGON, listed_as, env, false)
            .map(|p| p.conversations.into_iter().next().unwrap())
    }

    #[test]
    fn status_table() {
        let cases = [
            ("LBL_CHAT_STATUS_MEET", Status::Closed),
            ("LBL_CHAT_STATUS_MISS", Status::Missed),
            (
                "LBL_CHAT_STATUS_TRANSFER",
                Status::Other("LBL_CHAT_STATUS_TRANSFER".into()),
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(status(raw), want, "{raw}");
        }
    }

    #[test]
    fn channel_comes_from_the_queried_type() {
        let rec = json!({"conversation_id": "x-1"});
        let channels: Vec<_> = ConversationType::ALL
            .into_iter()
            .map(|t| one(rec.clone(), t).unwrap().channel.unwrap())
            .collect();
        assert_eq!(channels, [Channel::Web, Channel::Facebook, Channel::Zalo]);
    }

    #[test]
    fn times_are_saigon_wall_clock() {
        let c = one(
            json!({"conversation_id": "x", "start_time": "2023-04-22 09:48:30", "ring_time": "2023-04-22 09:48:30",
                   "meet_time": "2023-04-22 09:48:39", "end_time": "2023-04-22 09:49:10"}),
            ConversationType::LiveChat,
        )
        .unwrap();
        let f = |t: Option<chrono::DateTime<chrono::Utc>>| t.unwrap().to_rfc3339();
        assert_eq!(f(c.created_at), "2023-04-22T02:48:30+00:00");
        assert_eq!(f(c.assigned_at), "2023-04-22T02:48:30+00:00");
        assert_eq!(f(c.answered_at), "2023-04-22T02:48:39+00:00");
        assert_eq!(f(c.ended_at), "2023-04-22T02:49:10+00:00");
    }

    #[test]
    fn agent_customer_ticket_and_metrics() {
        let c = one(
            json!({"conversation_id": "x", "agent_email": "", "agent_name": null, "group_name": "CSKH",
                   "ticket_id": null, "ticket_no": "7415", "customer_id": 165644057, "cus_email": " ",
                   "waitTime": "00:01:05", "answer_time": "01:00:00", "chat_duration": 3665}),
            ConversationType::Zalo,
        )
        .unwrap();
        let agent = Agent {
            id: None,
            name: None,
            email: None,
            group: Some("CSKH".into()),
        };
        assert_eq!(c.agent.as_ref(), Some(&agent));
        assert_eq!(c.agents, [agent]);
        assert_eq!(
            c.ticket,
            Some(TicketRef {
                id: None,
                number: Some("7415".into())
            })
        );
        assert_eq!(c.customer.id.as_deref(), Some("165644057"));
        assert_eq!(c.customer.email, None);
        assert_eq!(
            (
                c.metrics.wait_secs,
                c.metrics.talk_secs,
                c.metrics.duration_secs
            ),
            (Some(65), Some(3600), Some(3665))
        );
        assert_eq!(
            (c.metrics.first_response_secs, c.metrics.agent_messages),
            (None, None)
        );
        assert!(
            c.rating.is_none()
                && c.summary.is_none()
                && c.initiated_by.is_none()
                && c.ended_by.is_none()
        );
        assert!(!c.messages_fetched);
    }

    #[test]
    fn times_with_an_offset_are_instants_local_ones_read_in_the_zone() {
        let c = one(
            json!({"conversation_id": "x", "start_time": "2023-04-22 09:48:30",
                   "end_time": "2023-04-22T02:49:10Z", "meet_time": "2023-04-22T09:48:39+07:00"}),
            ConversationType::LiveChat,
        )
        .unwrap();
        let z = |t: Option<chrono::DateTime<chrono::Utc>>| t.unwrap().to_rfc3339();
        assert_eq!(z(c.created_at), "2023-04-22T02:48:30+00:00");
        assert_eq!(z(c.ended_at), "2023-04-22T02:49:10+00:00");
        assert_eq!(z(c.answered_at), "2023-04-22T02:48:39+00:00");
    }

    #[test]
    fn no_agent_and_no_ticket_are_null() {
        let c = one(json!({"conversation_id": "x", "agent_email": "", "agent_name": "", "group_name": null}), ConversationType::LiveChat)
            .unwrap();
        assert_eq!((c.agent, c.agents.len(), c.ticket), (None, 0, None));
    }

    #[test]
    fn errors_name_endpoint_page_and_path() {
        let e = one(
            json!({"conversation_id": "x", "waitTime": "8s"}),
            ConversationType::LiveChat,
        )
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(
            text,
            "caresoft: cannot decode /api/v1/chats page 3: at chats[0].waitTime: \
             expected a duration like 00:01:05 (HH:MM:SS) or seconds, got `8s`"
        );
        let long = "x".repeat(100_000);
        let e = one(
            json!({"conversation_id": "x", "cus_name": {"k": long}}),
            ConversationType::LiveChat,
        )
        .unwrap_err();
        assert!(e.to_string().contains("at chats[0].cus_name: "), "{e}");
        assert!(e.to_string().len() < 400, "{}", e.to_string().len());
        let e = one(json!({"conversation_id": ""}), ConversationType::LiveChat).unwrap_err();
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 3: field `chats[0].conversation_id`: missing"
        );
    }

    #[test]
    fn envelope_codes() {
        let env = |code: Option<&str>, chats: Option<Vec<&'static serde_json::value::RawValue>>| {
            ChatsEnvelope {
                code: code.map(String::from),
                message: Some("Token không hợp lệ".into()),
                num_found: None,
                chats,
            }
        };
        let page = |env| {
            chats_page(
                &ctx(),
                "acme",
                SAIGON,
                ConversationType::LiveChat,
                env,
                false,
            )
        };
        let e = page(env(Some("ERROR_TOKEN"), None)).unwrap_err();
        assert!(
            matches!(&e, connector_core::Error::Api { code: Some(c), .. } if c == "ERROR_TOKEN")
        );
        assert_eq!(
            e.to_string(),
            "caresoft: /api/v1/chats page 3: HTTP 200 code ERROR_TOKEN: Token không hợp lệ"
        );
        let p = page(env(None, Some(vec![]))).unwrap();
        assert!(p.conversations.is_empty());
        // `OK` without records: an empty page, unless numFound promises some.
        assert!(
            page(env(Some("OK"), None))
                .unwrap()
                .conversations
                .is_empty()
        );
        let none_found = ChatsEnvelope {
            num_found: Some(0),
            ..env(Some("OK"), None)
        };
        assert!(page(none_found).unwrap().conversations.is_empty());
        let promised = ChatsEnvelope {
            num_found: Some(34),
            ..env(Some("OK"), None)
        };
        assert_eq!(
            page(promised).unwrap_err().to_string(),
            "caresoft: /api/v1/chats page 3: field `chats`: missing, though numFound is 34"
        );
        // Neither a code nor records: not the documented envelope.
        assert_eq!(
            page(env(None, None)).unwrap_err().to_string(),
            "caresoft: /api/v1/chats page 3: field `code`: missing (and no `chats`)"
        );
    }
}
