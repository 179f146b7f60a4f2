//! Bangwo8 wire records → the normalized model, exactly as
//! docs/vendors/bangwo8.md says. Pure functions: no I/O.

use connector_core::decode::RecordRef;
use connector_core::lenient::parse_u64;
use connector_core::time::{Tz, WireTime};
use connector_core::{
    Agent, Channel, Conversation, Customer, Message, MessageKind, Metrics, Party, Rating, RawJson,
    Result, Role, Satisfaction, Sender, Status, Summary, SummaryField,
};

use crate::VENDOR;
use crate::wire::{WireRecord, WireSession, WireSummaryData};

/// The integer a code field carries (`"2"`, `2`, `" 2 "`), if it is one.
fn code(text: Option<&str>) -> Option<u64> {
    text.and_then(|t| parse_u64(t).ok())
}

/// `type` → `channel`: 1 app, 2 web, 3 wechat, 4 bot; 5 (agent-initiated: the
/// vendor does not say where) and any other value kept as the vendor's own.
pub(crate) fn channel(kind: Option<&str>) -> Option<Channel> {
    let raw = kind?;
    match code(Some(raw)) {
        Some(1) => Some(Channel::App),
        Some(2) => Some(Channel::Web),
        Some(3) => Some(Channel::Wechat),
        Some(4) => Some(Channel::Bot),
        _ => Some(Channel::Other(raw.to_owned())),
    }
}

/// `type` → `initiated_by`: 1–4 customer, 5 agent, other absent.
pub(crate) fn initiated_by(kind: Option<&str>) -> Option<Party> {
    match code(kind) {
        Some(1..=4) => Some(Party::Customer),
        Some(5) => Some(Party::Agent),
        _ => None,
    }
}

/// `end_type` → `ended_by`: 1 customer, 2 agent, other values kept, absent absent.
pub(crate) fn ended_by(end_type: Option<&str>) -> Option<Party> {
    let raw = end_type?;
    Some(match code(Some(raw)) {
        Some(1) => Party::Customer,
        Some(2) => Party::Agent,
        _ => Party::Other(raw.to_owned()),
    })
}

/// `evaluate` → satisfaction: 0 unrated, 1 satisfied, 2 neutral, 3 dissatisfied,
/// anything else (or nothing) unrated.
pub(crate) fn satisfaction(evaluate: Option<&str>) -> Satisfaction {
    match code(evaluate) {
        Some(1) => Satisfaction::Satisfied,
        Some(2) => Satisfaction::Neutral,
        Some(3) => Satisfaction::Dissatisfied,
        _ => Satisfaction::Unrated,
    }
}

/// `spokesman_identity` → role: 1 agent, 2 customer, 3 bot, other values kept,
/// absent unknown.
pub(crate) fn role(identity: Option<&str>) -> Role {
    let Some(raw) = identity else {
        return Role::Unknown;
    };
    match code(Some(raw)) {
        Some(1) => Role::Agent,
        Some(2) => Role::Customer,
        Some(3) => Role::Bot,
        _ => Role::Other(raw.to_owned()),
    }
}

fn utc(t: Option<WireTime>, zone: Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    t.map(|t| t.to_utc(zone))
}

/// One listed session found at `at` (`chats[3]`) as a conversation, without
/// messages or summary; `raw` is its text.
///
/// # Errors
/// [`connector_core::Error::Field`] naming `r_id` when the session has no id.
pub(crate) fn session(
    s: WireSession,
    raw: RawJson,
    at: &RecordRef<'_>,
    account: &str,
    zone: Tz,
) -> Result<Conversation> {
    let id = s.r_id.ok_or_else(|| at.field("r_id", "missing"))?;
    let mut c = Conversation::new(VENDOR, account, id);
    c.channel = channel(s.kind.as_deref());
    c.initiated_by = initiated_by(s.kind.as_deref());
    c.created_at = utc(s.start_time, zone);
    c.ended_at = utc(s.end_time, zone);
    // The endpoint lists the account's history (历史会话记录): every
    // session in it is over, whether or not its end time was recorded.
    c.status = Some(Status::Closed);
    c.ended_by = ended_by(s.end_type.as_deref());
    if s.support_id.is_some() || s.support_name.is_some() {
        let agent = Agent {
            id: s.support_id,
            name: s.support_name,
            ..Agent::default()
        };
        c.agents = vec![agent.clone()];
        c.agent = Some(agent);
    }
    c.customer = Customer {
        id: s.uname,
        ip: s.client_ip,
        location: s.ip_info,
        ..Customer::default()
    };
    c.rating = Some(Rating {
        satisfaction: satisfaction(s.evaluate.as_deref()),
        score: s.evaluate,
        comment: s.evaluate_remark,
        rated_at: utc(s.evaluate_time, zone),
    });
    c.metrics = Metrics {
        first_response_secs: s.first_response,
        agent_messages: s.servicer_msg_count,
        customer_messages: s.client_msg_count,
        ..Metrics::default()
    };
    c.raw = raw;
    Ok(c)
}

/// One chat record as a message; `raw` is its text. Messages have no id; a
/// customer's `spokesman` (the user's identifier) is also the sender's id.
pub(crate) fn message(record: WireRecord<'_>, raw: RawJson, zone: Tz) -> Message {
    let role = role(record.spokesman_identity.as_deref());
    let id = (role == Role::Customer)
        .then(|| record.spokesman.clone())
        .flatten();
    Message {
        id: None,
        sender: Sender {
            role,
            id,
            name: record.spokesman,
        },
        kind: Some(MessageKind::Text),
        text: record.msg,
        sent_at: utc(record.create_time, zone),
        read: None,
        attachments: Vec::new(),
        raw,
    }
}

/// A summary answer's `data` (found at `at`) as a filled-in summary.
///
/// # Errors
/// [`connector_core::Error::Field`] for `data` without `serviceSummary`, or
/// a custom field without a key (`data.serviceSummary.custom_fields[1].key`).
pub(crate) fn summary(data: WireSummaryData, at: &RecordRef<'_>) -> Result<Summary> {
    let s = data
        .service_summary
        .ok_or_else(|| at.field("serviceSummary", "missing although status is 200"))?;
    let mut fields = Vec::new();
    for (i, f) in s.custom_fields.unwrap_or_default().into_iter().enumerate() {
        let key = f.key.ok_or_else(|| {
            at.field(
                format_args!("serviceSummary.custom_fields[{i}].key"),
                "missing",
            )
        })?;
        fields.push(SummaryField {
            key,
            value: f.value,
        });
    }
    Ok(Summary {
        template: s.template_name,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::decode::PageRef;
    use serde_json::{Value, json};

    const ZONE: Tz = Tz::Asia__Shanghai;

    fn page() -> PageRef {
        PageRef::new(VENDOR, "/api/v1/imchat/histories.json", 3)
    }

    /// Session record `index` of page 3, decoded and mapped.
    fn decode_session(json: &Value, index: usize) -> Result<Conversation> {
        let text = json.to_string();
        let page = page();
        let at = RecordRef::new(&page, "chats", Some(index));
        let raw: &serde_json::value::RawValue = serde_json::from_str(&text).unwrap();
        let wire: WireSession = at.decode(raw)?;
        session(wire, RawJson::from_raw(raw), &at, "acct", ZONE)
    }

    fn decode_message(json: &Value) -> Message {
        let text = json.to_string();
        message(
            serde_json::from_str(&text).unwrap(),
            RawJson::parse(&text).unwrap(),
            ZONE,
        )
    }

    fn decode_summary(json: &Value) -> Result<Summary> {
        let page = PageRef::new(VENDOR, "/api/v1/servicesummary/7.json", 0);
        let at = RecordRef::new(&page, "data", None);
        summary(serde_json::from_value(json.clone()).unwrap(), &at)
    }

    #[test]
    fn type_to_channel_and_initiator() {
        let cases: &[(Option<&str>, Option<Channel>, Option<Party>)] = &[
            (Some("1"), Some(Channel::App), Some(Party::Customer)),
            (Some("2"), Some(Channel::Web), Some(Party::Customer)),
            (Some("3"), Some(Channel::Wechat), Some(Party::Customer)),
            (Some("4"), Some(Channel::Bot), Some(Party::Customer)),
            (
                Some("5"),
                Some(Channel::Other("5".into())),
                Some(Party::Agent),
            ),
            (Some("9"), Some(Channel::Other("9".into())), None),
            (Some("0"), Some(Channel::Other("0".into())), None),
            (Some("web"), Some(Channel::Other("web".into())), None),
            (None, None, None),
        ];
        for (kind, ch, by) in cases {
            assert_eq!(channel(*kind), *ch, "{kind:?}");
            assert_eq!(initiated_by(*kind), *by, "{kind:?}");
        }
    }

    #[test]
    fn end_type_evaluate_and_identity() {
        assert_eq!(ended_by(Some("1")), Some(Party::Customer));
        assert_eq!(ended_by(Some("2")), Some(Party::Agent));
        assert_eq!(ended_by(Some("3")), Some(Party::Other("3".into())));
        assert_eq!(ended_by(None), None);
        let sat: &[(Option<&str>, Satisfaction)] = &[
            (Some("0"), Satisfaction::Unrated),
            (Some("1"), Satisfaction::Satisfied),
            (Some("2"), Satisfaction::Neutral),
            (Some("3"), Satisfaction::Dissatisfied),
            (Some("4"), Satisfaction::Unrated),
            (Some("good"), Satisfaction::Unrated),
            (None, Satisfaction::Unrated),
        ];
        for (e, s) in sat {
            assert_eq!(satisfaction(*e), *s, "{e:?}");
        }
        assert_eq!(role(Some("1")), Role::Agent);
        assert_eq!(role(Some("2")), Role::Customer);
        assert_eq!(role(Some("3")), Role::Bot);
        assert_eq!(role(Some("7")), Role::Other("7".into()));
        assert_eq!(role(None), Role::Unknown);
    }

    #[test]
    fn session_fields_map_as_documented() {
        let raw = json!({
            "r_id": 7, "type": 5, "support_id": "", "support_name": "张三", "uname": "u1",
            "start_time": "2017-8-23 12:23:12", "end_time": "", "evaluate": "", "end_type": "2",
            "first_response": "34", "servicer_msg_count": 3, "client_msg_count": ""
        });
        let c = decode_session(&raw, 0).unwrap();
        assert_eq!(c.id, "7");
        assert_eq!(c.account, "acct");
        assert_eq!(c.channel, Some(Channel::Other("5".into())));
        assert_eq!(c.initiated_by, Some(Party::Agent));
        assert_eq!(c.status, Some(Status::Closed));
        assert_eq!(c.ended_by, Some(Party::Agent));
        assert_eq!(
            c.created_at.unwrap().to_rfc3339(),
            "2017-08-23T04:23:12+00:00"
        );
        assert_eq!(c.ended_at, None);
        let agent = c.agent.clone().unwrap();
        assert_eq!((agent.id, agent.name.as_deref()), (None, Some("张三")));
        assert_eq!(c.agents.len(), 1);
        assert_eq!(c.rating, Some(Rating::unrated()));
        assert_eq!(c.metrics.first_response_secs, Some(34));
        assert_eq!(c.metrics.agent_messages, Some(3));
        assert_eq!(c.metrics.customer_messages, None);
        assert_eq!(c.raw, raw);

        let c = decode_session(&json!({"r_id": "8"}), 0).unwrap();
        assert_eq!(c.agent, None);
        assert!(c.agents.is_empty());
        // No end time recorded: still a session of the history, so closed.
        assert_eq!((c.status, c.ended_at), (Some(Status::Closed), None));

        let e = decode_session(&json!({"r_id": "", "type": 1}), 4)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "bangwo8: /api/v1/imchat/histories.json page 3: field `chats[4].r_id`: missing"
        );
        let e = decode_session(&json!({"r_id": 9, "start_time": "yesterday"}), 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "bangwo8: cannot decode /api/v1/imchat/histories.json page 3: at chats[1].start_time: expected a date-time"
            ),
            "{e}"
        );
    }

    #[test]
    fn customer_spokesman_is_also_the_sender_id() {
        let m = decode_message(
            &json!({"spokesman": "u2_6", "spokesman_identity": 2, "msg": "kj", "create_time": "2018-10-24 15:14:12"}),
        );
        assert_eq!(
            (
                m.sender.role,
                m.sender.id.as_deref(),
                m.sender.name.as_deref()
            ),
            (Role::Customer, Some("u2_6"), Some("u2_6"))
        );
        assert_eq!(m.sent_at.unwrap().to_rfc3339(), "2018-10-24T07:14:12+00:00");
        let m = decode_message(&json!({"spokesman": 213, "spokesman_identity": "1", "msg": ""}));
        assert_eq!(
            (m.sender.role, m.sender.id, m.sender.name.as_deref()),
            (Role::Agent, None, Some("213"))
        );
        assert_eq!(m.text, None);
        assert_eq!(m.kind, Some(MessageKind::Text));
    }

    #[test]
    fn summaries_keep_field_order_and_name_what_is_missing() {
        let s = decode_summary(&json!({"serviceSummary": {
            "ticketTemplateName": "im服务总结模板",
            "custom_fields": [{"key": "field_3", "value": "1"}, {"key": "field_1", "value": 4334}, {"key": "field_2"}]
        }}))
        .unwrap();
        assert_eq!(s.template.as_deref(), Some("im服务总结模板"));
        let fields: Vec<_> = s
            .fields
            .iter()
            .map(|f| (f.key.as_str(), f.value.as_deref()))
            .collect();
        assert_eq!(
            fields,
            [
                ("field_3", Some("1")),
                ("field_1", Some("4334")),
                ("field_2", None)
            ]
        );
        let e = decode_summary(
            &json!({"serviceSummary": {"custom_fields": [{"key": "a"}, {"value": "x"}]}}),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "bangwo8: /api/v1/servicesummary/7.json page 0: field `data.serviceSummary.custom_fields[1].key`: missing"
        );
        for none in [
            json!({}),
            json!({"serviceSummary": []}),
            json!({"serviceSummary": null}),
        ] {
            let e = decode_summary(&none).unwrap_err().to_string();
            assert!(
                e.ends_with("field `data.serviceSummary`: missing although status is 200"),
                "{none}: {e}"
            );
        }
    }
}
