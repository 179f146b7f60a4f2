//! CareSoft records → the normalized model, following
//! docs/vendors/caresoft.md: pure functions, no I/O.

use connector_core::time::{Tz, WireTime};
use connector_core::{Agent, Channel, Conversation, Customer, Metrics, RawJson, Status, TicketRef};

use crate::VENDOR;
use crate::wire::WireChat;

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

/// Maps one record of a listing asked for `channel`'s conversation type
/// (the record does not say its type), for `account`, its wall-clock times
/// read in `zone`; `raw` is the record as received. `None` when it has no
/// `conversation_id`.
pub(crate) fn conversation(
    chat: WireChat<'_>,
    raw: RawJson,
    account: &str,
    zone: Tz,
    channel: Channel,
) -> Option<Conversation> {
    let utc = |t: Option<WireTime>| t.map(|t| t.to_utc(zone));
    let mut c = Conversation::new(VENDOR, account, chat.conversation_id?);
    c.channel = Some(channel);
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
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    const SAIGON: Tz = Tz::Asia__Ho_Chi_Minh;

    /// `record` decoded and mapped as listed under `channel`.
    fn one(record: &Value, channel: Channel) -> Option<Conversation> {
        let text = record.to_string();
        let chat: WireChat = serde_json::from_str(&text).unwrap();
        conversation(
            chat,
            RawJson::parse(&text).unwrap(),
            "acme",
            SAIGON,
            channel,
        )
    }

    fn rfc3339(t: Option<DateTime<Utc>>) -> String {
        t.unwrap().to_rfc3339()
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
    fn the_channel_is_the_one_listed_under_and_raw_the_record() {
        let rec = json!({"conversation_id": "x-1", "service_id": 60047005});
        for channel in [Channel::Web, Channel::Facebook, Channel::Zalo] {
            let c = one(&rec, channel.clone()).unwrap();
            assert_eq!(c.channel, Some(channel));
            assert_eq!(
                (c.vendor.as_str(), c.account.as_str(), c.id.as_str()),
                ("caresoft", "acme", "x-1")
            );
            assert_eq!(c.raw, rec);
        }
    }

    #[test]
    fn times_are_saigon_wall_clock() {
        let c = one(
            &json!({"conversation_id": "x", "start_time": "2023-04-22 09:48:30", "ring_time": "2023-04-22 09:48:30",
                   "meet_time": "2023-04-22 09:48:39", "end_time": "2023-04-22 09:49:10"}),
            Channel::Web,
        )
        .unwrap();
        assert_eq!(rfc3339(c.created_at), "2023-04-22T02:48:30+00:00");
        assert_eq!(rfc3339(c.assigned_at), "2023-04-22T02:48:30+00:00");
        assert_eq!(rfc3339(c.answered_at), "2023-04-22T02:48:39+00:00");
        assert_eq!(rfc3339(c.ended_at), "2023-04-22T02:49:10+00:00");
    }

    #[test]
    fn times_with_an_offset_are_instants_local_ones_read_in_the_zone() {
        let c = one(
            &json!({"conversation_id": "x", "start_time": "2023-04-22 09:48:30",
                   "end_time": "2023-04-22T02:49:10Z", "meet_time": "2023-04-22T09:48:39+07:00"}),
            Channel::Web,
        )
        .unwrap();
        assert_eq!(rfc3339(c.created_at), "2023-04-22T02:48:30+00:00");
        assert_eq!(rfc3339(c.ended_at), "2023-04-22T02:49:10+00:00");
        assert_eq!(rfc3339(c.answered_at), "2023-04-22T02:48:39+00:00");
    }

    #[test]
    fn agent_customer_ticket_and_metrics() {
        let c = one(
            &json!({"conversation_id": "x", "agent_email": "", "agent_name": null, "group_name": "CSKH",
                   "ticket_id": null, "ticket_no": "7415", "customer_id": 165644057, "cus_email": " ",
                   "waitTime": "00:01:05", "answer_time": "01:00:00", "chat_duration": 3665}),
            Channel::Zalo,
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
        assert!(!c.messages_fetched && c.messages.is_empty());
    }

    #[test]
    fn no_agent_and_no_ticket_are_null() {
        let c = one(
            &json!({"conversation_id": "x", "agent_email": "", "agent_name": "", "group_name": null}),
            Channel::Web,
        )
        .unwrap();
        assert_eq!((c.agent, c.agents.len(), c.ticket), (None, 0, None));
    }

    #[test]
    fn no_conversation_id_is_none() {
        for rec in [
            json!({"cus_name": "x"}),
            json!({"conversation_id": ""}),
            json!({"conversation_id": null}),
        ] {
            assert!(one(&rec, Channel::Web).is_none(), "{rec}");
        }
        // An id sent as a number is text in the model.
        assert_eq!(
            one(&json!({"conversation_id": 7}), Channel::Web)
                .unwrap()
                .id,
            "7"
        );
    }
}
