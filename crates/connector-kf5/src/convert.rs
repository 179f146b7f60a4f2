//! KF5 wire records → the normalized model, exactly as docs/vendors/kf5.md
//! says. Pure functions: no I/O.

use connector_core::decode::RecordRef;
use connector_core::listing::Listed;
use connector_core::time::Tz;
use connector_core::{
    Agent, Attachment, Channel, Conversation, Message, MessageKind, Party, Rating, RawJson, Result,
    Role, Satisfaction, Sender, Status,
};
use serde_json::value::RawValue;

use crate::VENDOR;
use crate::wire::{WireChat, WireMessage, WireUpload};

/// A chat record mapped: the conversation (with `raw` set to the record
/// itself, messages included as they came; messages not fetched) and,
/// when they were asked for and the record carries a `messages` array, its
/// messages.
#[derive(Debug)]
pub struct ListedChat {
    /// The chat, without messages.
    pub conversation: Conversation,
    /// The record's own messages, in vendor order: `None` when they were
    /// not asked for or the record has no `messages` array (then they come
    /// from `/apiv2/chats/{id}.json`). A malformed message is this chat's
    /// error, not its page's.
    pub messages: Option<Result<Vec<Message>>>,
}

impl Listed for ListedChat {
    fn conversation(&self) -> &Conversation {
        &self.conversation
    }
}

/// Maps one chat record found at `at` (`chats[3]`, `chat`); its text `raw`
/// becomes the conversation's `raw`, and its messages are decoded when
/// `with_messages`.
///
/// # Errors
/// [`connector_core::Error::Field`] for a record without an `id`; a
/// message's decode error is the chat's, in [`ListedChat::messages`].
pub(crate) fn listed_chat(
    mut wire: WireChat<'_>,
    raw: &RawValue,
    at: &RecordRef<'_>,
    account: &str,
    zone: Tz,
    with_messages: bool,
) -> Result<ListedChat> {
    let items = wire.messages.take().filter(|_| with_messages);
    let conversation = chat(wire, RawJson::from_raw(raw), account, zone)
        .ok_or_else(|| at.field("id", "missing"))?;
    let messages = items.map(|items| messages(&items, at, zone));
    Ok(ListedChat {
        conversation,
        messages,
    })
}

/// Maps a chat; `None` when it has no id.
pub(crate) fn chat(w: WireChat, raw: RawJson, account: &str, zone: Tz) -> Option<Conversation> {
    let id = w.id?;
    let mut c = Conversation::new(VENDOR, account, id);
    c.channel = Some(Channel::Web);
    c.initiated_by = w.started_by.as_deref().map(initiated_by);
    c.status = w.status.as_deref().map(status);
    c.agent = w.agent_id.map(|id| Agent {
        id: Some(id),
        ..Agent::default()
    });
    c.agents = c.agent.iter().cloned().collect();
    c.customer.id = w.visitor_id;
    c.customer.user_id = w.user_id;
    c.rating = Some(rating(w.rating.as_deref()));
    c.created_at = w.created_at.map(|t| t.to_utc(zone));
    c.assigned_at = w.assigned_at.map(|t| t.to_utc(zone));
    c.ended_at = w.end_at.map(|t| t.to_utc(zone));
    c.raw = raw;
    Some(c)
}

/// `started_by`: `visitor` → customer, `agent` → agent, anything else kept.
pub(crate) fn initiated_by(v: &str) -> Party {
    match v {
        "visitor" => Party::Customer,
        "agent" => Party::Agent,
        other => Party::Other(other.to_owned()),
    }
}

/// `status`: `close` / `closed` → closed, `open` → open (a chat going
/// on), anything else kept.
pub(crate) fn status(v: &str) -> Status {
    match v {
        "close" | "closed" => Status::Closed,
        "open" => Status::Open,
        other => Status::Other(other.to_owned()),
    }
}

/// `rating`: absent → unrated with no score; Zendesk-style `good` / `bad` →
/// satisfied / dissatisfied; any other value → unrated, kept as the score.
/// The raw value is always the score when there is one.
pub(crate) fn rating(v: Option<&str>) -> Rating {
    let Some(v) = v.filter(|v| !v.trim().is_empty()) else {
        return Rating::unrated();
    };
    let satisfaction = match v {
        "good" => Satisfaction::Satisfied,
        "bad" => Satisfaction::Dissatisfied,
        _ => Satisfaction::Unrated,
    };
    Rating {
        satisfaction,
        score: Some(v.to_owned()),
        comment: None,
        rated_at: None,
    }
}

/// Message `type`: `chat.memberjoin` → event, `chat.msg` → text, anything
/// else kept; no `type` (absent, null or blank) → no kind.
pub(crate) fn message_kind(v: Option<&str>) -> Option<MessageKind> {
    v.map(|v| match v {
        "chat.memberjoin" => MessageKind::Event,
        "chat.msg" => MessageKind::Text,
        other => MessageKind::Other(other.to_owned()),
    })
}

/// Decodes and maps the `messages` of the chat at `at`, in vendor order
/// (the model's sort comes later); each message's text is its `raw`.
///
/// # Errors
/// [`connector_core::Error::Decode`] naming the message's JSON path
/// (`chats[3].messages[1].is_read`).
pub(crate) fn messages(items: &[&RawValue], at: &RecordRef<'_>, zone: Tz) -> Result<Vec<Message>> {
    let mut messages = Vec::with_capacity(items.len());
    for (j, raw) in items.iter().enumerate() {
        let wire: WireMessage = at.decode_member(format_args!("messages[{j}]"), raw)?;
        let upload = match wire.upload {
            // Any value is accepted there; only an object describes a file.
            Some(obj) if obj.get().starts_with('{') => {
                Some(at.decode_member::<WireUpload>(format_args!("messages[{j}].upload"), obj)?)
            }
            _ => None,
        };
        messages.push(message(wire, upload.as_ref(), RawJson::from_raw(raw), zone));
    }
    Ok(messages)
}

/// Maps one message. The API has no sender-role field: a join event without
/// a name is the system's, everything else is `unknown`.
pub(crate) fn message(
    w: WireMessage,
    upload: Option<&WireUpload>,
    raw: RawJson,
    zone: Tz,
) -> Message {
    let kind = message_kind(w.kind.as_deref());
    let role = if kind == Some(MessageKind::Event) && w.name.is_none() {
        Role::System
    } else {
        Role::Unknown
    };
    Message {
        id: w.id,
        sender: Sender {
            role,
            id: None,
            name: w.name,
        },
        kind,
        text: w.msg,
        sent_at: w.created_at.map(|t| t.to_utc(zone)),
        read: w.is_read,
        attachments: upload.map(attachment).into_iter().collect(),
        raw,
    }
}

/// An `upload` object as an attachment.
pub(crate) fn attachment(u: &WireUpload) -> Attachment {
    Attachment {
        name: u.name.clone().or_else(|| u.file_name.clone()),
        url: u.url.clone().or_else(|| u.content_url.clone()),
        mime: u.content_type.clone().or_else(|| u.mime.clone()),
        size: u.size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use connector_core::decode::PageRef;

    fn rv(v: &serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    const ZONE: Tz = Tz::Asia__Shanghai;

    fn page() -> PageRef {
        PageRef::new(VENDOR, "/apiv2/chats.json", 3)
    }

    /// The messages of chat `index` of page 3.
    fn decoded_messages(items: &[serde_json::Value], index: usize) -> Result<Vec<Message>> {
        let raws: Vec<Box<RawValue>> = items.iter().map(rv).collect();
        let refs: Vec<&RawValue> = raws.iter().map(|r| &**r).collect();
        let page = page();
        messages(&refs, &RecordRef::new(&page, "chats", Some(index)), ZONE)
    }

    /// Chat record `index` of page 3, decoded and mapped.
    fn decode_chat(raw: &RawValue, index: usize, with_messages: bool) -> Result<ListedChat> {
        let page = page();
        let at = RecordRef::new(&page, "chats", Some(index));
        let wire: WireChat = at.decode(raw)?;
        listed_chat(wire, raw, &at, "acme", ZONE, with_messages)
    }

    #[test]
    fn ratings_follow_the_mapping_table() {
        let cases = [
            (None, Satisfaction::Unrated, None),
            (Some(""), Satisfaction::Unrated, None),
            (Some("good"), Satisfaction::Satisfied, Some("good")),
            (Some("bad"), Satisfaction::Dissatisfied, Some("bad")),
            (Some("5"), Satisfaction::Unrated, Some("5")),
            (Some("很满意"), Satisfaction::Unrated, Some("很满意")),
        ];
        for (raw, sat, score) in cases {
            let r = rating(raw);
            assert_eq!(
                (r.satisfaction, r.score.as_deref()),
                (sat, score),
                "{raw:?}"
            );
            assert_eq!((r.comment, r.rated_at), (None, None));
        }
    }

    #[test]
    fn enums_keep_unknown_values() {
        assert_eq!(initiated_by("visitor"), Party::Customer);
        assert_eq!(initiated_by("agent"), Party::Agent);
        assert_eq!(initiated_by("robot"), Party::Other("robot".into()));
        assert_eq!(status("close"), Status::Closed);
        assert_eq!(status("closed"), Status::Closed);
        assert_eq!(status("chatting"), Status::Other("chatting".into()));
        assert_eq!(status("open"), Status::Open);
        assert_eq!(
            message_kind(Some("chat.memberjoin")),
            Some(MessageKind::Event)
        );
        assert_eq!(message_kind(Some("chat.msg")), Some(MessageKind::Text));
        assert_eq!(
            message_kind(Some("chat.transfer")),
            Some(MessageKind::Other("chat.transfer".into()))
        );
        assert_eq!(message_kind(None), None);
    }

    #[test]
    fn a_chat_maps_ids_times_and_agent() {
        let raw = json!({"id": "290", "started_by": "agent", "status": "close", "agent_id": 2192,
            "rating": null, "visitor_id": "547", "user_id": 45190, "created_at": "2015-4-25 08:04:12",
            "assigned_at": "", "end_at": "2015-04-30 09:55:01"});
        let d = decode_chat(&rv(&raw), 0, true).unwrap();
        let c = d.conversation;
        assert_eq!(
            (c.id.as_str(), c.account.as_str(), c.vendor.as_str()),
            ("290", "acme", "kf5")
        );
        assert_eq!(c.initiated_by, Some(Party::Agent));
        assert_eq!(c.agent.as_ref().and_then(|a| a.id.as_deref()), Some("2192"));
        assert_eq!(c.agents.len(), 1);
        assert_eq!(
            (c.customer.id.as_deref(), c.customer.user_id.as_deref()),
            (Some("547"), Some("45190"))
        );
        assert_eq!(
            c.created_at.unwrap().to_rfc3339(),
            "2015-04-25T00:04:12+00:00"
        );
        assert_eq!(c.assigned_at, None);
        assert_eq!(
            c.ended_at.unwrap().to_rfc3339(),
            "2015-04-30T01:55:01+00:00"
        );
        assert_eq!(c.rating, Some(Rating::unrated()));
        assert!(!c.messages_fetched);
        assert_eq!(c.raw, raw);
        assert!(d.messages.is_none(), "no messages array");
    }

    #[test]
    fn a_chat_going_on_is_open() {
        let raw =
            json!({"id": 7, "status": "open", "created_at": "2015-04-25 08:04:12", "end_at": null});
        let c = decode_chat(&rv(&raw), 0, true).unwrap().conversation;
        assert_eq!((c.status, c.ended_at), (Some(Status::Open), None));
    }

    #[test]
    fn null_agent_means_no_agent() {
        let raw = json!({"id": 1, "agent_id": null});
        let c = decode_chat(&rv(&raw), 0, true).unwrap().conversation;
        assert_eq!((c.agent, c.agents), (None, vec![]));
    }

    #[test]
    fn missing_id_and_bad_dates_name_the_field_page_and_endpoint() {
        let e = decode_chat(&rv(&json!({"id": null})), 4, true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "kf5: /apiv2/chats.json page 3: field `chats[4].id`: missing"
        );
        let e = decode_chat(&rv(&json!({"id": 1, "created_at": "yesterday"})), 4, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("kf5: cannot decode /apiv2/chats.json page 3: at chats[4].created_at: "),
            "{e}"
        );
        assert!(e.contains("expected a date-time"), "{e}");
    }

    #[test]
    fn messages_map_kind_role_read_and_uploads() {
        let items = [
            json!({"id": 1, "type": "chat.memberjoin", "name": null, "msg": "", "is_read": 1, "created_at": "2015-04-25 08:04:12", "upload": null}),
            json!({"id": 2, "type": "chat.memberjoin", "name": "访客5", "is_read": 0, "created_at": "2015-04-25 08:04:13"}),
            json!({"id": "3", "type": "chat.msg", "name": "小王", "msg": "你好 👋", "is_read": "1", "created_at": "2015-04-25 08:04:14",
                   "upload_id": 88, "upload": {"file_name": "a.png", "content_url": "https://x/a.png", "size": "1024", "content_type": "image/png"}}),
            json!({"id": 4, "type": "chat.sticker", "upload_id": 89, "upload": []}),
            json!({"id": 5, "name": "小王", "msg": "no type", "created_at": "2015-04-25 08:04:15"}),
            json!({"id": 6, "type": " ", "name": "小王", "msg": "blank type", "created_at": "2015-04-25 08:04:16"}),
        ];
        let m = decoded_messages(&items, 0).unwrap();
        let roles: Vec<_> = m.iter().map(|m| m.sender.role.clone()).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::Unknown,
                Role::Unknown,
                Role::Unknown,
                Role::Unknown,
                Role::Unknown
            ]
        );
        let kinds: Vec<_> = m
            .iter()
            .map(|m| m.kind.as_ref().map(|k| k.as_str().to_owned()))
            .collect();
        // A message without a `type` has no kind (not an empty one).
        assert_eq!(
            kinds,
            [
                Some("event".to_owned()),
                Some("event".to_owned()),
                Some("text".to_owned()),
                Some("chat.sticker".to_owned()),
                None,
                None
            ]
        );
        assert_eq!(
            m.iter().map(|m| m.read).collect::<Vec<_>>(),
            [Some(true), Some(false), Some(true), None, None, None]
        );
        assert_eq!(m[0].text, None);
        assert_eq!(m[2].text.as_deref(), Some("你好 👋"));
        assert_eq!(m[2].id.as_deref(), Some("3"));
        assert_eq!(
            m[2].attachments,
            [Attachment {
                name: Some("a.png".into()),
                url: Some("https://x/a.png".into()),
                mime: Some("image/png".into()),
                size: Some(1024)
            }]
        );
        assert!(m[3].attachments.is_empty() && m[0].attachments.is_empty());
        assert_eq!(m[3].raw.field("upload_id"), Some(json!(89)));
        assert_eq!(
            m[2].sent_at.unwrap().to_rfc3339(),
            "2015-04-25T00:04:14+00:00"
        );
    }

    #[test]
    fn a_bad_message_names_its_path() {
        let items = [
            json!({"id": 1, "created_at": "2015-04-25 08:04:12"}),
            json!({"id": 2, "is_read": "maybe"}),
        ];
        let e = decoded_messages(&items, 2).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "kf5: cannot decode /apiv2/chats.json page 3: at chats[2].messages[1].is_read: "
            ),
            "{e}"
        );
    }
}
