//! The normalized model every connector produces.
//!
//! Its JSON form is a public contract (the CLI's JSONL, the Python module and
//! the tests rely on it): snake_case field names, instants as RFC 3339 UTC
//! strings ending in `Z`, enums as snake_case strings, absent values as `null`.
//! `schema/conversation.schema.json` in this crate is generated from these
//! types and a test fails when the two drift.

use crate::raw::RawJson;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Defines an "open" enum: known snake_case values plus `Other(raw)` for any
/// value a vendor sends that we do not know, so an unknown value is kept rather
/// than turned into an error or a silent default.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value outside the known set, kept as the vendor sent it.
            Other(String),
        }

        impl $name {
            /// Every known value, in its JSON spelling.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The JSON spelling of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(raw) => raw,
                }
            }

            /// Parses a JSON spelling; anything unknown becomes `Other`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(Self::parse(&text))
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": concat!(
                        "One of the known values, or any other string a vendor sent (kept as is). Known: ",
                        $($text, " ",)+
                    ),
                    "examples": [$($text),+]
                })
            }
        }
    };
}

open_enum!(
    /// Where a conversation took place.
    Channel {
        /// A website chat widget.
        Web => "web",
        /// A mobile or desktop client app.
        App => "app",
        /// WeChat.
        Wechat => "wechat",
        /// Facebook Messenger / page inbox.
        Facebook => "facebook",
        /// Zalo.
        Zalo => "zalo",
        /// E-mail.
        Email => "email",
        /// Telephone.
        Phone => "phone",
        /// An API integration.
        Api => "api",
        /// A chatbot channel (the vendor routes the chat to a robot).
        Bot => "bot",
    }
);

open_enum!(
    /// The state of a conversation.
    Status {
        /// Still going on.
        Open => "open",
        /// Finished after an agent took it.
        Closed => "closed",
        /// Nobody answered it.
        Missed => "missed",
    }
);

open_enum!(
    /// Who started or ended a conversation.
    Party {
        /// The customer / visitor.
        Customer => "customer",
        /// An agent.
        Agent => "agent",
        /// The platform itself (timeout, routing, robot).
        System => "system",
    }
);

open_enum!(
    /// The role of a message's sender.
    Role {
        /// The customer / visitor.
        Customer => "customer",
        /// A human agent.
        Agent => "agent",
        /// A chatbot / robot.
        Bot => "bot",
        /// The platform (join/leave/transfer notices).
        System => "system",
        /// The vendor does not say who sent it.
        Unknown => "unknown",
    }
);

open_enum!(
    /// What a message is.
    MessageKind {
        /// Plain text.
        Text => "text",
        /// An image.
        Image => "image",
        /// A file.
        File => "file",
        /// An event such as join, leave or transfer.
        Event => "event",
        /// A rating given in the chat.
        Rating => "rating",
    }
);

/// A normalized customer-satisfaction value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// The customer was satisfied.
    Satisfied,
    /// Neither satisfied nor dissatisfied.
    Neutral,
    /// The customer was dissatisfied.
    Dissatisfied,
    /// No rating was given (or the vendor's value has no normalized meaning).
    Unrated,
}

impl Satisfaction {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Satisfied => "satisfied",
            Self::Neutral => "neutral",
            Self::Dissatisfied => "dissatisfied",
            Self::Unrated => "unrated",
        }
    }
}

/// Serde for instants: RFC 3339 in UTC ending in `Z`, whole seconds unless the
/// instant has a fraction.
pub mod utc_instant {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Formats an instant the way the JSON contract says.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// Serializes an optional instant (`None` → `null`).
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes an optional RFC 3339 instant.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// The customer (visitor) side of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// The vendor's identifier of the customer / visitor.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// IP address the customer chatted from.
    pub ip: Option<String>,
    /// Location text (e.g. the vendor's IP geolocation).
    pub location: Option<String>,
    /// The user this visitor is linked to in the vendor's ticket system, if any.
    pub user_id: Option<String>,
}

/// An agent who handled a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// The vendor's agent identifier.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// The agent's group / department.
    pub group: Option<String>,
}

/// A customer-satisfaction rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rating {
    /// The normalized satisfaction.
    pub satisfaction: Satisfaction,
    /// The vendor's raw score, as text (`"1"`, `"good"`, …).
    pub score: Option<String>,
    /// The customer's comment.
    pub comment: Option<String>,
    /// When the rating was given.
    #[serde(with = "utc_instant")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub rated_at: Option<DateTime<Utc>>,
}

impl Rating {
    /// A rating slot with nothing in it.
    pub fn unrated() -> Self {
        Self {
            satisfaction: Satisfaction::Unrated,
            score: None,
            comment: None,
            rated_at: None,
        }
    }
}

/// Durations and counts, as the vendor reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Metrics {
    /// Seconds the customer waited before an agent took the chat.
    pub wait_secs: Option<u64>,
    /// Seconds from the start to the first agent response.
    pub first_response_secs: Option<u64>,
    /// Seconds of conversation with an agent.
    pub talk_secs: Option<u64>,
    /// Seconds from start to end.
    pub duration_secs: Option<u64>,
    /// Messages sent by agents.
    pub agent_messages: Option<u64>,
    /// Messages sent by the customer.
    pub customer_messages: Option<u64>,
}

/// One key/value of a service summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SummaryField {
    /// The field's key (vendor identifier).
    pub key: String,
    /// The field's value, as text.
    pub value: Option<String>,
}

/// The service summary an agent filled in after the chat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// The summary template's name.
    pub template: Option<String>,
    /// The filled-in fields, in vendor order.
    pub fields: Vec<SummaryField>,
}

/// A reference to a ticket linked to the conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TicketRef {
    /// The ticket's internal id.
    pub id: Option<String>,
    /// The ticket's human-facing number.
    pub number: Option<String>,
}

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sender {
    /// The sender's role; `unknown` when the vendor does not say.
    pub role: Role,
    /// The sender's identifier, when the vendor gives one.
    pub id: Option<String>,
    /// The sender's display name.
    pub name: Option<String>,
}

/// A file attached to a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    /// File name.
    pub name: Option<String>,
    /// Where to download it.
    pub url: Option<String>,
    /// MIME type.
    pub mime: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// The vendor's message id, if it has one.
    pub id: Option<String>,
    /// Who sent it.
    pub sender: Sender,
    /// What it is; absent (`null`) when the vendor's record does not say
    /// (a KF5 message without `type`).
    pub kind: Option<MessageKind>,
    /// Its text.
    pub text: Option<String>,
    /// When it was sent.
    #[serde(with = "utc_instant")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub sent_at: Option<DateTime<Utc>>,
    /// Whether it was read, when the vendor says.
    pub read: Option<bool>,
    /// Files attached to it.
    pub attachments: Vec<Attachment>,
    /// The vendor's original record, as it came (any JSON value).
    pub raw: RawJson,
}

/// One chat session, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Conversation {
    /// The connector's name (`bangwo8`, `kf5`, `caresoft`, …).
    pub vendor: String,
    /// The tenant it came from (account, subdomain or domain).
    pub account: String,
    /// The vendor's id of the conversation, as a string.
    pub id: String,
    /// Where it took place.
    pub channel: Option<Channel>,
    /// Its state.
    pub status: Option<Status>,
    /// Who started it.
    pub initiated_by: Option<Party>,
    /// Who ended it.
    pub ended_by: Option<Party>,
    /// When it started (UTC).
    #[serde(with = "utc_instant")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub created_at: Option<DateTime<Utc>>,
    /// When an agent was assigned (UTC).
    #[serde(with = "utc_instant")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub assigned_at: Option<DateTime<Utc>>,
    /// When an agent first answered / the parties met (UTC).
    #[serde(with = "utc_instant")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When it ended (UTC).
    #[serde(with = "utc_instant")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The customer.
    pub customer: Customer,
    /// The agent who handled it; `null` when none did.
    pub agent: Option<Agent>,
    /// Every agent who took part, when the vendor says (the handling agent first).
    pub agents: Vec<Agent>,
    /// The satisfaction rating; `null` when the vendor has no rating for this channel.
    pub rating: Option<Rating>,
    /// Durations and counts as the vendor reports them.
    pub metrics: Metrics,
    /// The service summary, when one was asked for and exists.
    pub summary: Option<Summary>,
    /// The linked ticket, if any.
    pub ticket: Option<TicketRef>,
    /// The page the chat widget was on (live chat).
    pub landing_page: Option<String>,
    /// The page that linked to the landing page.
    pub referrer: Option<String>,
    /// Whether messages were fetched: `false` means "not asked for or not
    /// available", which differs from "fetched, and there were none".
    pub messages_fetched: bool,
    /// The messages, ordered by time, then by vendor order.
    pub messages: Vec<Message>,
    /// The vendor's original record, as it came (any JSON value).
    pub raw: RawJson,
}

impl Conversation {
    /// A conversation with only its identity set; connectors fill the rest.
    pub fn new(
        vendor: impl Into<String>,
        account: impl Into<String>,
        id: impl Into<String>,
    ) -> Self {
        Self {
            vendor: vendor.into(),
            account: account.into(),
            id: id.into(),
            channel: None,
            status: None,
            initiated_by: None,
            ended_by: None,
            created_at: None,
            assigned_at: None,
            answered_at: None,
            ended_at: None,
            customer: Customer::default(),
            agent: None,
            agents: Vec::new(),
            rating: None,
            metrics: Metrics::default(),
            summary: None,
            ticket: None,
            landing_page: None,
            referrer: None,
            messages_fetched: false,
            messages: Vec::new(),
            raw: RawJson::null(),
        }
    }

    /// Sorts messages by `sent_at` (messages without a time keep their place
    /// relative to each other at the end), keeping vendor order for ties.
    pub fn sort_messages(&mut self) {
        // A stable sort keeps vendor order as the tie-break.
        self.messages
            .sort_by_key(|m| (m.sent_at.is_none(), m.sent_at));
    }

    /// Sets the messages (sorted as the model requires) and marks them fetched.
    pub fn set_messages(&mut self, messages: Vec<Message>) {
        self.messages = messages;
        self.messages_fetched = true;
        self.sort_messages();
    }
}

/// The JSON Schema of [`Conversation`], as committed in `schema/conversation.schema.json`.
pub fn conversation_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Conversation);
    serde_json::to_value(schema).expect("a schema always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::Value;

    #[test]
    fn json_contract_names_and_formats() {
        let mut c = Conversation::new("kf5", "acme", "290");
        c.channel = Some(Channel::Web);
        c.created_at = Some(Utc.with_ymd_and_hms(2015, 4, 25, 0, 4, 12).unwrap());
        c.rating = Some(Rating::unrated());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["created_at"], "2015-04-25T00:04:12Z");
        assert_eq!(v["ended_at"], Value::Null);
        assert_eq!(v["channel"], "web");
        assert_eq!(v["rating"]["satisfaction"], "unrated");
        assert_eq!(v["customer"]["email"], Value::Null);
        assert_eq!(v["messages_fetched"], false);
        let back: Conversation = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        assert_eq!(Channel::parse("line"), Channel::Other("line".into()));
        let v = serde_json::to_value(MessageKind::Other("chat.sticker".into())).unwrap();
        assert_eq!(v, "chat.sticker");
        assert_eq!(
            serde_json::from_value::<Role>("bot".into()).unwrap(),
            Role::Bot
        );
    }

    #[test]
    fn messages_sort_by_time_then_vendor_order() {
        let t = |s| Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, s).unwrap());
        let msg = |text: &str, at| Message {
            id: None,
            sender: Sender {
                role: Role::Unknown,
                id: None,
                name: None,
            },
            kind: Some(MessageKind::Text),
            text: Some(text.into()),
            sent_at: at,
            read: None,
            attachments: vec![],
            raw: RawJson::null(),
        };
        let mut c = Conversation::new("x", "a", "1");
        c.set_messages(vec![
            msg("c", t(5)),
            msg("a", t(1)),
            msg("none", None),
            msg("b", t(1)),
        ]);
        let order: Vec<_> = c.messages.iter().map(|m| m.text.clone().unwrap()).collect();
        assert_eq!(order, ["a", "b", "c", "none"]);
        assert!(c.messages_fetched);
    }
}
