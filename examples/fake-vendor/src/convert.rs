//! Fake records → the model. Pure functions: no I/O.

use connector_core::time::Tz;
use connector_core::{
    Agent, Channel, Conversation, Message, MessageKind, Rating, RawJson, Role, Satisfaction,
    Sender, Status,
};

use crate::VENDOR;
use crate::wire::{WireConversation, WireMessage};

/// Maps a conversation; `None` when it has no id.
pub(crate) fn conversation(
    w: WireConversation,
    raw: RawJson,
    account: &str,
    zone: Tz,
) -> Option<Conversation> {
    let mut c = Conversation::new(VENDOR, account, w.id?);
    c.channel = w.channel.as_deref().map(Channel::parse);
    c.agent = w.agent.map(|a| Agent {
        id: a.id,
        name: a.name,
        ..Agent::default()
    });
    c.agents = c.agent.iter().cloned().collect();
    c.customer.id = w.customer;
    c.created_at = w.started_at.map(|t| t.to_utc(zone));
    c.ended_at = w.ended_at.map(|t| t.to_utc(zone));
    c.status = Some(if c.ended_at.is_some() {
        Status::Closed
    } else {
        Status::Open
    });
    c.rating = Some(rating(w.rating));
    c.raw = raw;
    Some(c)
}

/// A rating of 1 to 5 stars: 4 and 5 satisfied, 3 neutral, 1 and 2
/// dissatisfied; the stars are the score.
pub(crate) fn rating(stars: Option<u64>) -> Rating {
    let satisfaction = match stars {
        None => return Rating::unrated(),
        Some(4..) => Satisfaction::Satisfied,
        Some(3) => Satisfaction::Neutral,
        Some(_) => Satisfaction::Dissatisfied,
    };
    Rating {
        satisfaction,
        score: stars.map(|s| s.to_string()),
        ..Rating::unrated()
    }
}

/// Maps a message: `from` is `agent` or `customer`.
pub(crate) fn message(w: WireMessage, raw: RawJson, zone: Tz) -> Message {
    let role = match w.from.as_deref() {
        Some("agent") => Role::Agent,
        Some("customer") => Role::Customer,
        _ => Role::Unknown,
    };
    Message {
        id: w.id,
        sender: Sender {
            role,
            id: None,
            name: None,
        },
        kind: Some(MessageKind::Text),
        text: w.text,
        sent_at: w.at.map(|t| t.to_utc(zone)),
        read: None,
        attachments: Vec::new(),
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_map_to_satisfaction() {
        let cases = [
            (None, Satisfaction::Unrated, None),
            (Some(5), Satisfaction::Satisfied, Some("5")),
            (Some(4), Satisfaction::Satisfied, Some("4")),
            (Some(3), Satisfaction::Neutral, Some("3")),
            (Some(1), Satisfaction::Dissatisfied, Some("1")),
        ];
        for (stars, satisfaction, score) in cases {
            let r = rating(stars);
            assert_eq!((r.satisfaction, r.score.as_deref()), (satisfaction, score));
        }
    }

    #[test]
    fn senders_map_to_roles() {
        let m = |from: &str| WireMessage {
            id: None,
            from: Some(from.to_owned()),
            text: None,
            at: None,
        };
        let roles: Vec<Role> = ["agent", "customer", "bot"]
            .map(|f| message(m(f), RawJson::null(), Tz::UTC).sender.role)
            .into();
        assert_eq!(roles, [Role::Agent, Role::Customer, Role::Unknown]);
    }
}
