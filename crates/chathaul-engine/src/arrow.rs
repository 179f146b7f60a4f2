//! The two tables of [`crate::columns`] as Arrow [`RecordBatch`]es: their
//! schemas, a builder that appends conversations, and a reader that turns the
//! tables back into [`Conversation`]s, so any file written from them can be
//! checked field by field. Instants are `Timestamp(Millisecond, "UTC")`.
//!
//! The column definitions are re-exported here, where they were before the
//! engine had its own crate.

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

pub use crate::columns::{
    CONVERSATION_COLUMNS, Column, ColumnValue, ConversationGetter, Kind, MESSAGE_COLUMNS,
    MessageGetter, MessageRow,
};

/// The former name of [`ColumnValue`].
#[deprecated(note = "renamed to ColumnValue")]
pub type Datum = ColumnValue;

impl Kind {
    /// The Arrow type of the column.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text | Kind::Json => DataType::Utf8,
            Kind::UInt => DataType::UInt64,
            Kind::Bool => DataType::Boolean,
            Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }
}

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

enum ColumnBuilder {
    Text(StringBuilder),
    UInt(UInt64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text | Kind::Json => ColumnBuilder::Text(StringBuilder::new()),
            Kind::UInt => ColumnBuilder::UInt(UInt64Builder::new()),
            Kind::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            Kind::Time => {
                ColumnBuilder::Time(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    /// Appends a value; returns about how many bytes it adds to the batch
    /// (text length, eight for a number or an instant, one for a boolean).
    fn append(&mut self, d: ColumnValue) -> usize {
        let size = match &d {
            ColumnValue::Text(v) => v.as_ref().map_or(0, String::len) + 4,
            ColumnValue::UInt(_) | ColumnValue::Time(_) => 8,
            ColumnValue::Bool(_) => 1,
        };
        match (self, d) {
            (ColumnBuilder::Text(b), ColumnValue::Text(v)) => b.append_option(v),
            (ColumnBuilder::UInt(b), ColumnValue::UInt(v)) => b.append_option(v),
            (ColumnBuilder::Bool(b), ColumnValue::Bool(v)) => b.append_option(v),
            (ColumnBuilder::Time(b), ColumnValue::Time(v)) => {
                b.append_option(v.map(|t| t.timestamp_millis()))
            }
            // The column table above pairs each kind with its datum.
            (b, d) => unreachable!(
                "column kind and value disagree: {d:?} into {}",
                b.kind_name()
            ),
        }
        size
    }

    fn kind_name(&self) -> &'static str {
        match self {
            ColumnBuilder::Text(_) => "text",
            ColumnBuilder::UInt(_) => "uint",
            ColumnBuilder::Bool(_) => "bool",
            ColumnBuilder::Time(_) => "time",
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::UInt(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
        }
    }
}

/// Appends conversations to the two tables and hands them out as Arrow
/// [`RecordBatch`]es.
pub struct BatchBuilder {
    conversations: Vec<ColumnBuilder>,
    messages: Vec<ColumnBuilder>,
    conversation_rows: usize,
    message_rows: usize,
    bytes: usize,
}

impl std::fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("conversation_rows", &self.conversation_rows)
            .field("message_rows", &self.message_rows)
            .field("bytes", &self.bytes)
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
                .map(|c| ColumnBuilder::new(c.kind))
                .collect(),
            messages: MESSAGE_COLUMNS
                .iter()
                .map(|c| ColumnBuilder::new(c.kind))
                .collect(),
            conversation_rows: 0,
            message_rows: 0,
            bytes: 0,
        }
    }

    /// Appends one conversation (one row) and its messages (one row each).
    pub fn append(&mut self, c: &Conversation) {
        for (b, col) in self.conversations.iter_mut().zip(CONVERSATION_COLUMNS) {
            self.bytes += b.append((col.get)(c));
        }
        self.conversation_rows += 1;
        for (seq, message) in c.messages.iter().enumerate() {
            let row = MessageRow {
                conversation: c,
                seq,
                message,
            };
            for (b, col) in self.messages.iter_mut().zip(MESSAGE_COLUMNS) {
                self.bytes += b.append((col.get)(&row));
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

    /// About how many bytes the rows appended since the last
    /// [`BatchBuilder::finish`] hold (their values; Arrow's buffers round up
    /// a little more): what a sink weighs against its memory budget.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// The rows appended so far as (conversations, messages) batches; the
    /// builder is empty afterwards.
    ///
    /// # Errors
    /// [`Error::Internal`] if Arrow refuses the batch (a bug: the columns come
    /// from the schema).
    pub fn finish(&mut self) -> Result<(RecordBatch, RecordBatch)> {
        let convs = RecordBatch::try_new(
            conversations_schema(),
            self.conversations
                .iter_mut()
                .map(ColumnBuilder::finish)
                .collect(),
        )
        .map_err(|e| Error::internal("building the conversations batch", e))?;
        let msgs = RecordBatch::try_new(
            messages_schema(),
            self.messages
                .iter_mut()
                .map(ColumnBuilder::finish)
                .collect(),
        )
        .map_err(|e| Error::internal("building the messages batch", e))?;
        self.conversation_rows = 0;
        self.message_rows = 0;
        self.bytes = 0;
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
    Error::Sink {
        format: "arrow".into(),
        path: None,
        action: format!("cannot read the table back: {what}"),
        source: None,
    }
}

struct BatchColumns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> BatchColumns<'a> {
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
            Some(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
                Error::sink(
                    "arrow",
                    None,
                    format!("cannot read the table back: row {row}: `{name}`"),
                    e,
                )
            }),
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
/// [`Error::Sink`] naming the column and row that does not fit the schema.
pub fn conversations_from_batches(
    conversations: &[RecordBatch],
    messages: &[RecordBatch],
) -> Result<Vec<Conversation>> {
    let mut by_key: BTreeMap<(String, String, String), Vec<(u64, Message)>> = BTreeMap::new();
    for batch in messages {
        let c = BatchColumns { batch };
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
                kind: c.text("kind", row)?.map(|k| MessageKind::parse(&k)),
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
        let c = BatchColumns { batch };
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
