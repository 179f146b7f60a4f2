//! The one flat table layout of chathaul: a `conversations` table and a
//! `messages` table, joined by (`vendor`, `account`, `id` =
//! `conversation_id`).
//!
//! The columns are defined once, here, as [`CONVERSATION_COLUMNS`] and
//! [`MESSAGE_COLUMNS`]; the Arrow schemas, the CSV and Parquet sinks, the
//! database tables and the Python `to_arrow()` are all derived from them.
//! Nested values that have no flat form (the agent list, summary fields,
//! attachments and the vendor's raw records) are JSON text columns. This
//! module needs no Arrow: a store backend reads the same columns.

use chrono::{DateTime, Utc};
use connector_core::{Conversation, Message};

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (also JSON text).
    Text,
    /// An unsigned integer.
    UInt,
    /// A boolean.
    Bool,
    /// An instant, UTC, millisecond precision.
    Time,
}

/// One value of a row: a cell of a column, typed by the column's [`Kind`].
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValue {
    /// Text, or null.
    Text(Option<String>),
    /// An unsigned integer, or null.
    UInt(Option<u64>),
    /// A boolean, or null.
    Bool(Option<bool>),
    /// An instant, or null.
    Time(Option<DateTime<Utc>>),
}

/// One column: its name, type, and how to get its value from a row (`G` is
/// [`ConversationGetter`] or [`MessageGetter`]).
pub struct Column<G> {
    /// The column name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it can be null.
    pub nullable: bool,
    /// Its value in a row.
    pub get: G,
}

/// Gets a conversations-table value from a conversation.
pub type ConversationGetter = fn(&Conversation) -> ColumnValue;
/// Gets a messages-table value from a message row.
pub type MessageGetter = fn(&MessageRow<'_>) -> ColumnValue;

impl<G> std::fmt::Debug for Column<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

/// One row of the messages table: a message with its conversation and its
/// position (`seq`, from 0) in the conversation.
#[derive(Debug, Clone, Copy)]
pub struct MessageRow<'a> {
    /// The conversation the message belongs to.
    pub conversation: &'a Conversation,
    /// Its position in the conversation's (time-ordered) messages, from 0.
    pub seq: usize,
    /// The message.
    pub message: &'a Message,
}

fn text(s: &Option<String>) -> ColumnValue {
    ColumnValue::Text(s.clone())
}
fn text_of<T: ToString>(v: Option<&T>) -> ColumnValue {
    ColumnValue::Text(v.map(ToString::to_string))
}
fn json<T: serde::Serialize>(v: &T) -> ColumnValue {
    ColumnValue::Text(Some(
        serde_json::to_string(v).unwrap_or_else(|_| "null".into()),
    ))
}

const fn col(
    name: &'static str,
    kind: Kind,
    get: ConversationGetter,
) -> Column<ConversationGetter> {
    Column {
        name,
        kind,
        nullable: true,
        get,
    }
}
const fn req(
    name: &'static str,
    kind: Kind,
    get: ConversationGetter,
) -> Column<ConversationGetter> {
    Column {
        name,
        kind,
        nullable: false,
        get,
    }
}
const fn mcol(name: &'static str, kind: Kind, get: MessageGetter) -> Column<MessageGetter> {
    Column {
        name,
        kind,
        nullable: true,
        get,
    }
}
const fn mreq(name: &'static str, kind: Kind, get: MessageGetter) -> Column<MessageGetter> {
    Column {
        name,
        kind,
        nullable: false,
        get,
    }
}

use Kind::{Bool, Text, Time, UInt};

/// The columns of the `conversations` table, in order.
pub static CONVERSATION_COLUMNS: &[Column<ConversationGetter>] = &[
    req("vendor", Text, |c| {
        ColumnValue::Text(Some(c.vendor.clone()))
    }),
    req("account", Text, |c| {
        ColumnValue::Text(Some(c.account.clone()))
    }),
    req("id", Text, |c| ColumnValue::Text(Some(c.id.clone()))),
    col("channel", Text, |c| text_of(c.channel.as_ref())),
    col("status", Text, |c| text_of(c.status.as_ref())),
    col("initiated_by", Text, |c| text_of(c.initiated_by.as_ref())),
    col("ended_by", Text, |c| text_of(c.ended_by.as_ref())),
    col("created_at", Time, |c| ColumnValue::Time(c.created_at)),
    col("assigned_at", Time, |c| ColumnValue::Time(c.assigned_at)),
    col("answered_at", Time, |c| ColumnValue::Time(c.answered_at)),
    col("ended_at", Time, |c| ColumnValue::Time(c.ended_at)),
    col("customer_id", Text, |c| text(&c.customer.id)),
    col("customer_name", Text, |c| text(&c.customer.name)),
    col("customer_email", Text, |c| text(&c.customer.email)),
    col("customer_phone", Text, |c| text(&c.customer.phone)),
    col("customer_ip", Text, |c| text(&c.customer.ip)),
    col("customer_location", Text, |c| text(&c.customer.location)),
    col("customer_user_id", Text, |c| text(&c.customer.user_id)),
    col("agent_id", Text, |c| {
        ColumnValue::Text(c.agent.as_ref().and_then(|a| a.id.clone()))
    }),
    col("agent_name", Text, |c| {
        ColumnValue::Text(c.agent.as_ref().and_then(|a| a.name.clone()))
    }),
    col("agent_email", Text, |c| {
        ColumnValue::Text(c.agent.as_ref().and_then(|a| a.email.clone()))
    }),
    col("agent_group", Text, |c| {
        ColumnValue::Text(c.agent.as_ref().and_then(|a| a.group.clone()))
    }),
    req("agents_json", Text, |c| json(&c.agents)),
    col("rating_satisfaction", Text, |c| {
        ColumnValue::Text(
            c.rating
                .as_ref()
                .map(|r| r.satisfaction.as_str().to_owned()),
        )
    }),
    col("rating_score", Text, |c| {
        ColumnValue::Text(c.rating.as_ref().and_then(|r| r.score.clone()))
    }),
    col("rating_comment", Text, |c| {
        ColumnValue::Text(c.rating.as_ref().and_then(|r| r.comment.clone()))
    }),
    col("rated_at", Time, |c| {
        ColumnValue::Time(c.rating.as_ref().and_then(|r| r.rated_at))
    }),
    col("wait_secs", UInt, |c| {
        ColumnValue::UInt(c.metrics.wait_secs)
    }),
    col("first_response_secs", UInt, |c| {
        ColumnValue::UInt(c.metrics.first_response_secs)
    }),
    col("talk_secs", UInt, |c| {
        ColumnValue::UInt(c.metrics.talk_secs)
    }),
    col("duration_secs", UInt, |c| {
        ColumnValue::UInt(c.metrics.duration_secs)
    }),
    col("agent_messages", UInt, |c| {
        ColumnValue::UInt(c.metrics.agent_messages)
    }),
    col("customer_messages", UInt, |c| {
        ColumnValue::UInt(c.metrics.customer_messages)
    }),
    col("summary_template", Text, |c| {
        ColumnValue::Text(c.summary.as_ref().and_then(|s| s.template.clone()))
    }),
    col("summary_fields_json", Text, |c| match &c.summary {
        Some(s) => json(&s.fields),
        None => ColumnValue::Text(None),
    }),
    col("ticket_id", Text, |c| {
        ColumnValue::Text(c.ticket.as_ref().and_then(|t| t.id.clone()))
    }),
    col("ticket_number", Text, |c| {
        ColumnValue::Text(c.ticket.as_ref().and_then(|t| t.number.clone()))
    }),
    col("landing_page", Text, |c| text(&c.landing_page)),
    col("referrer", Text, |c| text(&c.referrer)),
    req("messages_fetched", Bool, |c| {
        ColumnValue::Bool(Some(c.messages_fetched))
    }),
    req("message_count", UInt, |c| {
        ColumnValue::UInt(Some(c.messages.len() as u64))
    }),
    req("raw_json", Text, |c| {
        ColumnValue::Text(Some(c.raw.get().to_owned()))
    }),
];

/// The columns of the `messages` table, in order.
pub static MESSAGE_COLUMNS: &[Column<MessageGetter>] = &[
    mreq("vendor", Text, |r| {
        ColumnValue::Text(Some(r.conversation.vendor.clone()))
    }),
    mreq("account", Text, |r| {
        ColumnValue::Text(Some(r.conversation.account.clone()))
    }),
    mreq("conversation_id", Text, |r| {
        ColumnValue::Text(Some(r.conversation.id.clone()))
    }),
    mreq("seq", UInt, |r| ColumnValue::UInt(Some(r.seq as u64))),
    mcol("id", Text, |r| text(&r.message.id)),
    mreq("sender_role", Text, |r| {
        ColumnValue::Text(Some(r.message.sender.role.to_string()))
    }),
    mcol("sender_id", Text, |r| text(&r.message.sender.id)),
    mcol("sender_name", Text, |r| text(&r.message.sender.name)),
    mreq("kind", Text, |r| {
        ColumnValue::Text(Some(r.message.kind.to_string()))
    }),
    mcol("text", Text, |r| text(&r.message.text)),
    mcol("sent_at", Time, |r| ColumnValue::Time(r.message.sent_at)),
    mcol("read", Bool, |r| ColumnValue::Bool(r.message.read)),
    mreq("attachments_json", Text, |r| json(&r.message.attachments)),
    mreq("raw_json", Text, |r| {
        ColumnValue::Text(Some(r.message.raw.get().to_owned()))
    }),
];
