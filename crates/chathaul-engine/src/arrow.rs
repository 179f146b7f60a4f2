//! The one flat table layout of chathaul: a `conversations` table and a
//! `messages` table, joined by (`vendor`, `account`, `id` =
//! `conversation_id`).
//!
//! The columns are defined once, here, as [`CONVERSATION_COLUMNS`] and
//! [`MESSAGE_COLUMNS`]; the Arrow schemas, the CSV and Parquet sinks, the
//! SQLite tables and the Python `to_arrow()` are all derived from them. Nested
//! values that have no flat form (the agent list, summary fields, attachments
//! and the vendor's raw records) are JSON text columns. Instants are
//! `Timestamp(Millisecond, "UTC")`.
//!
//! [`conversations_from_batches`] reads the two tables back into
//! [`Conversation`]s, so any file written here can be checked field by field.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMillisecondArray, TimestampMillisecondBuilder, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use connector_core::{
    Agent, Attachment, Channel, Conversation, Customer, Error, Message, MessageKind, Metrics,
    Party, Rating, RawJson, Result, Role, Satisfaction, Sender, Status, Summary, SummaryField,
    TicketRef,
};
use serde_json::Value;

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

impl Kind {
    /// The Arrow type of the column.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::UInt => DataType::UInt64,
            Kind::Bool => DataType::Boolean,
            Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }

    /// The SQLite type of the column (instants are RFC 3339 text, which sorts).
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Text | Kind::Time => "TEXT",
            Kind::UInt | Kind::Bool => "INTEGER",
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
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
pub type ConversationGetter = fn(&Conversation) -> Datum;
/// Gets a messages-table value from a message row.
pub type MessageGetter = fn(&MessageRow<'_>) -> Datum;

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

fn text(s: &Option<String>) -> Datum {
    Datum::Text(s.clone())
}
fn text_of<T: ToString>(v: Option<&T>) -> Datum {
    Datum::Text(v.map(ToString::to_string))
}
fn json<T: serde::Serialize>(v: &T) -> Datum {
    Datum::Text(Some(
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
    req("vendor", Text, |c| Datum::Text(Some(c.vendor.clone()))),
    req("account", Text, |c| Datum::Text(Some(c.account.clone()))),
    req("id", Text, |c| Datum::Text(Some(c.id.clone()))),
    col("channel", Text, |c| text_of(c.channel.as_ref())),
    col("status", Text, |c| text_of(c.status.as_ref())),
    col("initiated_by", Text, |c| text_of(c.initiated_by.as_ref())),
    col("ended_by", Text, |c| text_of(c.ended_by.as_ref())),
    col("created_at", Time, |c| Datum::Time(c.created_at)),
    col("assigned_at", Time, |c| Datum::Time(c.assigned_at)),
    col("answered_at", Time, |c| Datum::Time(c.answered_at)),
    col("ended_at", Time, |c| Datum::Time(c.ended_at)),
    col("customer_id", Text, |c| text(&c.customer.id)),
    col("customer_name", Text, |c| text(&c.customer.name)),
    col("customer_email", Text, |c| text(&c.customer.email)),
    col("customer_phone", Text, |c| text(&c.customer.phone)),
    col("customer_ip", Text, |c| text(&c.customer.ip)),
    col("customer_location", Text, |c| text(&c.customer.location)),
    col("customer_user_id", Text, |c| text(&c.customer.user_id)),
    col("agent_id", Text, |c| {
        Datum::Text(c.agent.as_ref().and_then(|a| a.id.clone()))
    }),
    col("agent_name", Text, |c| {
        Datum::Text(c.agent.as_ref().and_then(|a| a.name.clone()))
    }),
    col("agent_email", Text, |c| {
        Datum::Text(c.agent.as_ref().and_then(|a| a.email.clone()))
    }),
    col("agent_group", Text, |c| {
        Datum::Text(c.agent.as_ref().and_then(|a| a.group.clone()))
    }),
    req("agents_json", Text, |c| json(&c.agents)),
    col("rating_satisfaction", Text, |c| {
        Datum::Text(
            c.rating
                .as_ref()
                .map(|r| r.satisfaction.as_str().to_owned()),
        )
    }),
    col("rating_score", Text, |c| {
        Datum::Text(c.rating.as_ref().and_then(|r| r.score.clone()))
    }),
    col("rating_comment", Text, |c| {
        Datum::Text(c.rating.as_ref().and_then(|r| r.comment.clone()))
    }),
    col("rated_at", Time, |c| {
        Datum::Time(c.rating.as_ref().and_then(|r| r.rated_at))
    }),
    col("wait_secs", UInt, |c| Datum::UInt(c.metrics.wait_secs)),
    col("first_response_secs", UInt, |c| {
        Datum::UInt(c.metrics.first_response_secs)
    }),
    col("talk_secs", UInt, |c| Datum::UInt(c.metrics.talk_secs)),
    col("duration_secs", UInt, |c| {
        Datum::UInt(c.metrics.duration_secs)
    }),
    col("agent_messages", UInt, |c| {
        Datum::UInt(c.metrics.agent_messages)
    }),
    col("customer_messages", UInt, |c| {
        Datum::UInt(c.metrics.customer_messages)
    }),
    col("summary_template", Text, |c| {
        Datum::Text(c.summary.as_ref().and_then(|s| s.template.clone()))
    }),
    col("summary_fields_json", Text, |c| match &c.summary {
        Some(s) => json(&s.fields),
        None => Datum::Text(None),
    }),
    col("ticket_id", Text, |c| {
        Datum::Text(c.ticket.as_ref().and_then(|t| t.id.clone()))
    }),
    col("ticket_number", Text, |c| {
        Datum::Text(c.ticket.as_ref().and_then(|t| t.number.clone()))
    }),
    col("landing_page", Text, |c| text(&c.landing_page)),
    col("referrer", Text, |c| text(&c.referrer)),
    req("messages_fetched", Bool, |c| {
        Datum::Bool(Some(c.messages_fetched))
    }),
    req("message_count", UInt, |c| {
        Datum::UInt(Some(c.messages.len() as u64))
    }),
    req("raw_json", Text, |c| {
        Datum::Text(Some(c.raw.get().to_owned()))
    }),
];

/// The columns of the `messages` table, in order.
pub static MESSAGE_COLUMNS: &[Column<MessageGetter>] = &[
    mreq("vendor", Text, |r| {
        Datum::Text(Some(r.conversation.vendor.clone()))
    }),
    mreq("account", Text, |r| {
        Datum::Text(Some(r.conversation.account.clone()))
    }),
    mreq("conversation_id", Text, |r| {
        Datum::Text(Some(r.conversation.id.clone()))
    }),
    mreq("seq", UInt, |r| Datum::UInt(Some(r.seq as u64))),
    mcol("id", Text, |r| text(&r.message.id)),
    mreq("sender_role", Text, |r| {
        Datum::Text(Some(r.message.sender.role.to_string()))
    }),
    mcol("sender_id", Text, |r| text(&r.message.sender.id)),
    mcol("sender_name", Text, |r| text(&r.message.sender.name)),
    mreq("kind", Text, |r| {
        Datum::Text(Some(r.message.kind.to_string()))
    }),
    mcol("text", Text, |r| text(&r.message.text)),
    mcol("sent_at", Time, |r| Datum::Time(r.message.sent_at)),
    mcol("read", Bool, |r| Datum::Bool(r.message.read)),
    mreq("attachments_json", Text, |r| json(&r.message.attachments)),
    mreq("raw_json", Text, |r| {
        Datum::Text(Some(r.message.raw.get().to_owned()))
    }),
];

fn schema_of<G>(columns: &[Column<G>]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow schema of the `conversations` table.
pub fn conversations_schema() -> SchemaRef {
    schema_of(CONVERSATION_COLUMNS)
}

/// The Arrow schema of the `messages` table.
pub fn messages_schema() -> SchemaRef {
    schema_of(MESSAGE_COLUMNS)
}

enum Builder {
    Text(StringBuilder),
    UInt(UInt64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::UInt => Builder::UInt(UInt64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Time => Builder::Time(TimestampMillisecondBuilder::new().with_timezone("UTC")),
        }
    }

    fn append(&mut self, d: Datum) {
        match (self, d) {
            (Builder::Text(b), Datum::Text(v)) => b.append_option(v),
            (Builder::UInt(b), Datum::UInt(v)) => b.append_option(v),
            (Builder::Bool(b), Datum::Bool(v)) => b.append_option(v),
            (Builder::Time(b), Datum::Time(v)) => b.append_option(v.map(|t| t.timestamp_millis())),
            // The column table above pairs each kind with its datum.
            (b, d) => unreachable!(
                "column kind and value disagree: {d:?} into {}",
                b.kind_name()
            ),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Builder::Text(_) => "text",
            Builder::UInt(_) => "uint",
            Builder::Bool(_) => "bool",
            Builder::Time(_) => "time",
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::UInt(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
        }
    }
}

/// Appends conversations to the two tables and hands them out as Arrow
/// [`RecordBatch`]es.
pub struct BatchBuilder {
    conversations: Vec<Builder>,
    messages: Vec<Builder>,
    conversation_rows: usize,
    message_rows: usize,
}

impl std::fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("conversation_rows", &self.conversation_rows)
            .field("message_rows", &self.message_rows)
            .finish()
    }
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            conversations: CONVERSATION_COLUMNS
                .iter()
                .map(|c| Builder::new(c.kind))
                .collect(),
            messages: MESSAGE_COLUMNS
                .iter()
                .map(|c| Builder::new(c.kind))
                .collect(),
            conversation_rows: 0,
            message_rows: 0,
        }
    }

    /// Appends one conversation (one row) and its messages (one row each).
    pub fn append(&mut self, c: &Conversation) {
        for (b, col) in self.conversations.iter_mut().zip(CONVERSATION_COLUMNS) {
            b.append((col.get)(c));
        }
        self.conversation_rows += 1;
        for (seq, message) in c.messages.iter().enumerate() {
            let row = MessageRow {
                conversation: c,
                seq,
                message,
            };
            for (b, col) in self.messages.iter_mut().zip(MESSAGE_COLUMNS) {
                b.append((col.get)(&row));
            }
            self.message_rows += 1;
        }
    }

    /// Conversation rows appended since the last [`BatchBuilder::finish`].
    pub fn conversation_rows(&self) -> usize {
        self.conversation_rows
    }

    /// Message rows appended since the last [`BatchBuilder::finish`].
    pub fn message_rows(&self) -> usize {
        self.message_rows
    }

    /// The rows appended so far as (conversations, messages) batches; the
    /// builder is empty afterwards.
    ///
    /// # Errors
    /// [`Error::Other`] if Arrow refuses the batch (a bug: the columns come
    /// from the schema).
    pub fn finish(&mut self) -> Result<(RecordBatch, RecordBatch)> {
        let convs = RecordBatch::try_new(
            conversations_schema(),
            self.conversations.iter_mut().map(Builder::finish).collect(),
        )
        .map_err(|e| Error::Other(format!("building the conversations batch: {e}")))?;
        let msgs = RecordBatch::try_new(
            messages_schema(),
            self.messages.iter_mut().map(Builder::finish).collect(),
        )
        .map_err(|e| Error::Other(format!("building the messages batch: {e}")))?;
        self.conversation_rows = 0;
        self.message_rows = 0;
        Ok((convs, msgs))
    }
}

/// The two tables of a set of conversations, as one batch each.
///
/// # Errors
/// As [`BatchBuilder::finish`].
pub fn to_record_batches<'a>(
    conversations: impl IntoIterator<Item = &'a Conversation>,
) -> Result<(RecordBatch, RecordBatch)> {
    let mut b = BatchBuilder::new();
    for c in conversations {
        b.append(c);
    }
    b.finish()
}

// ---------------------------------------------------------------- reading back

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Other(format!("cannot read the table back: {what}"))
}

struct Cols<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Cols<'a> {
    fn column(&self, name: &str) -> Result<&'a ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| bad(format!("no column `{name}`")))
    }
    fn text(&self, name: &str, row: usize) -> Result<Option<String>> {
        let a = self.column(name)?;
        let a = a
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad(format!("column `{name}` is not text")))?;
        // CSV cannot tell an empty string from a null; the model treats both as absent.
        Ok((!a.is_null(row))
            .then(|| a.value(row).to_owned())
            .filter(|s| !s.is_empty()))
    }
    fn required_text(&self, name: &str, row: usize) -> Result<String> {
        self.text(name, row)?
            .ok_or_else(|| bad(format!("row {row}: `{name}` is null")))
    }
    fn uint(&self, name: &str, row: usize) -> Result<Option<u64>> {
        let a = self.column(name)?;
        let a = a
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| bad(format!("column `{name}` is not uint64")))?;
        Ok((!a.is_null(row)).then(|| a.value(row)))
    }
    fn bool(&self, name: &str, row: usize) -> Result<Option<bool>> {
        let a = self.column(name)?;
        let a = a
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| bad(format!("column `{name}` is not boolean")))?;
        Ok((!a.is_null(row)).then(|| a.value(row)))
    }
    fn time(&self, name: &str, row: usize) -> Result<Option<DateTime<Utc>>> {
        let a = self.column(name)?;
        let a = a
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| bad(format!("column `{name}` is not a millisecond timestamp")))?;
        if a.is_null(row) {
            return Ok(None);
        }
        DateTime::from_timestamp_millis(a.value(row))
            .map(Some)
            .ok_or_else(|| bad(format!("`{name}` out of range")))
    }
    fn json<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
        row: usize,
    ) -> Result<Option<T>> {
        match self.text(name, row)? {
            None => Ok(None),
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| bad(format!("row {row}: `{name}`: {e}"))),
        }
    }
}

fn parse_opt<T>(v: Option<String>, f: fn(&str) -> T) -> Option<T> {
    v.map(|s| f(&s))
}

fn satisfaction(s: &str) -> Satisfaction {
    serde_json::from_value(Value::String(s.to_owned())).unwrap_or(Satisfaction::Unrated)
}

/// Reads the two tables (as written by [`BatchBuilder`], from any of the
/// sinks) back into conversations, in the order of the conversations table.
///
/// # Errors
/// [`Error::Other`] naming the column and row that does not fit the schema.
pub fn conversations_from_batches(
    conversations: &[RecordBatch],
    messages: &[RecordBatch],
) -> Result<Vec<Conversation>> {
    let mut by_key: BTreeMap<(String, String, String), Vec<(u64, Message)>> = BTreeMap::new();
    for batch in messages {
        let c = Cols { batch };
        for row in 0..batch.num_rows() {
            let key = (
                c.required_text("vendor", row)?,
                c.required_text("account", row)?,
                c.required_text("conversation_id", row)?,
            );
            let seq = c
                .uint("seq", row)?
                .ok_or_else(|| bad(format!("row {row}: `seq` is null")))?;
            let m = Message {
                id: c.text("id", row)?,
                sender: Sender {
                    role: Role::parse(&c.required_text("sender_role", row)?),
                    id: c.text("sender_id", row)?,
                    name: c.text("sender_name", row)?,
                },
                kind: MessageKind::parse(&c.required_text("kind", row)?),
                text: c.text("text", row)?,
                sent_at: c.time("sent_at", row)?,
                read: c.bool("read", row)?,
                attachments: c
                    .json::<Vec<Attachment>>("attachments_json", row)?
                    .unwrap_or_default(),
                raw: c.json::<RawJson>("raw_json", row)?.unwrap_or_default(),
            };
            by_key.entry(key).or_default().push((seq, m));
        }
    }
    let mut out = Vec::new();
    for batch in conversations {
        let c = Cols { batch };
        for row in 0..batch.num_rows() {
            let (vendor, account, id) = (
                c.required_text("vendor", row)?,
                c.required_text("account", row)?,
                c.required_text("id", row)?,
            );
            let agent = Agent {
                id: c.text("agent_id", row)?,
                name: c.text("agent_name", row)?,
                email: c.text("agent_email", row)?,
                group: c.text("agent_group", row)?,
            };
            let rating = match c.text("rating_satisfaction", row)? {
                None => None,
                Some(s) => Some(Rating {
                    satisfaction: satisfaction(&s),
                    score: c.text("rating_score", row)?,
                    comment: c.text("rating_comment", row)?,
                    rated_at: c.time("rated_at", row)?,
                }),
            };
            let summary_fields = c.json::<Vec<SummaryField>>("summary_fields_json", row)?;
            let summary_template = c.text("summary_template", row)?;
            let summary =
                (summary_fields.is_some() || summary_template.is_some()).then(|| Summary {
                    template: summary_template,
                    fields: summary_fields.unwrap_or_default(),
                });
            let ticket = TicketRef {
                id: c.text("ticket_id", row)?,
                number: c.text("ticket_number", row)?,
            };
            let mut messages = by_key
                .remove(&(vendor.clone(), account.clone(), id.clone()))
                .unwrap_or_default();
            messages.sort_by_key(|(seq, _)| *seq);
            out.push(Conversation {
                channel: parse_opt(c.text("channel", row)?, Channel::parse),
                status: parse_opt(c.text("status", row)?, Status::parse),
                initiated_by: parse_opt(c.text("initiated_by", row)?, Party::parse),
                ended_by: parse_opt(c.text("ended_by", row)?, Party::parse),
                created_at: c.time("created_at", row)?,
                assigned_at: c.time("assigned_at", row)?,
                answered_at: c.time("answered_at", row)?,
                ended_at: c.time("ended_at", row)?,
                customer: Customer {
                    id: c.text("customer_id", row)?,
                    name: c.text("customer_name", row)?,
                    email: c.text("customer_email", row)?,
                    phone: c.text("customer_phone", row)?,
                    ip: c.text("customer_ip", row)?,
                    location: c.text("customer_location", row)?,
                    user_id: c.text("customer_user_id", row)?,
                },
                agent: (agent != Agent::default()).then_some(agent),
                agents: c
                    .json::<Vec<Agent>>("agents_json", row)?
                    .unwrap_or_default(),
                rating,
                metrics: Metrics {
                    wait_secs: c.uint("wait_secs", row)?,
                    first_response_secs: c.uint("first_response_secs", row)?,
                    talk_secs: c.uint("talk_secs", row)?,
                    duration_secs: c.uint("duration_secs", row)?,
                    agent_messages: c.uint("agent_messages", row)?,
                    customer_messages: c.uint("customer_messages", row)?,
                },
                summary,
                ticket: (ticket != TicketRef::default()).then_some(ticket),
                landing_page: c.text("landing_page", row)?,
                referrer: c.text("referrer", row)?,
                messages_fetched: c.bool("messages_fetched", row)?.unwrap_or(false),
                messages: messages.into_iter().map(|(_, m)| m).collect(),
                raw: c.json::<RawJson>("raw_json", row)?.unwrap_or_default(),
                vendor,
                account,
                id,
            });
        }
    }
    if let Some(((v, a, id), _)) = by_key.into_iter().next() {
        return Err(bad(format!(
            "messages of {v}/{a}/{id} have no conversation row"
        )));
    }
    Ok(out)
}
