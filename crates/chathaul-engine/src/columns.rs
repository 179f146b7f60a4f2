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
use connector_core::{
    Agent, Attachment, Channel, Conversation, Customer, Message, MessageKind, Metrics, Party,
    Rating, RawJson, Role, Satisfaction, Sender, Status, Summary, SummaryField, TicketRef,
};

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
    /// A JSON value, as its text (`jsonb` in Postgres; text elsewhere).
    Json,
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

use Kind::{Bool, Json, Text, Time, UInt};

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
    req("agents_json", Json, |c| json(&c.agents)),
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
    col("summary_fields_json", Json, |c| match &c.summary {
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
    req("raw_json", Json, |c| {
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
    mcol("kind", Text, |r| {
        ColumnValue::Text(r.message.kind.as_ref().map(|k| k.to_string()))
    }),
    mcol("text", Text, |r| text(&r.message.text)),
    mcol("sent_at", Time, |r| ColumnValue::Time(r.message.sent_at)),
    mcol("read", Bool, |r| ColumnValue::Bool(r.message.read)),
    mreq("attachments_json", Json, |r| json(&r.message.attachments)),
    mreq("raw_json", Json, |r| {
        ColumnValue::Text(Some(r.message.raw.get().to_owned()))
    }),
];

// ------------------------------------------------------------ reading rows back

/// A cell that does not fit its column: which column, and why.
#[derive(Debug)]
pub struct CellError {
    /// The column.
    pub column: &'static str,
    /// What is wrong with it.
    pub message: String,
    source: Option<serde_json::Error>,
}

impl std::fmt::Display for CellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column `{}`: {}", self.column, self.message)
    }
}

impl std::error::Error for CellError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

impl CellError {
    /// A cell that does not fit: `message` says how.
    pub fn new(column: &'static str, message: impl Into<String>) -> Self {
        Self {
            column,
            message: message.into(),
            source: None,
        }
    }
}

/// One row of a table as a backend reads it: the cell of each column by
/// name, as the column's [`Kind`] ([`Kind::Json`] as its JSON text).
pub trait RowCells {
    /// The value of column `name`.
    ///
    /// # Errors
    /// When the column is missing or its cell is not of `kind`.
    fn cell(&self, name: &'static str, kind: Kind) -> Result<ColumnValue, CellError>;
}

struct Reader<'a, R: RowCells>(&'a R);

impl<R: RowCells> Reader<'_, R> {
    fn text(&self, name: &'static str) -> Result<Option<String>, CellError> {
        match self.0.cell(name, Kind::Text)? {
            ColumnValue::Text(t) => Ok(t),
            other => Err(CellError::new(
                name,
                format!("expected text, got {other:?}"),
            )),
        }
    }
    fn required(&self, name: &'static str) -> Result<String, CellError> {
        self.text(name)?
            .ok_or_else(|| CellError::new(name, "is null"))
    }
    fn uint(&self, name: &'static str) -> Result<Option<u64>, CellError> {
        match self.0.cell(name, Kind::UInt)? {
            ColumnValue::UInt(n) => Ok(n),
            other => Err(CellError::new(
                name,
                format!("expected a count, got {other:?}"),
            )),
        }
    }
    fn bool(&self, name: &'static str) -> Result<Option<bool>, CellError> {
        match self.0.cell(name, Kind::Bool)? {
            ColumnValue::Bool(b) => Ok(b),
            other => Err(CellError::new(
                name,
                format!("expected a boolean, got {other:?}"),
            )),
        }
    }
    fn time(&self, name: &'static str) -> Result<Option<DateTime<Utc>>, CellError> {
        match self.0.cell(name, Kind::Time)? {
            ColumnValue::Time(t) => Ok(t),
            other => Err(CellError::new(
                name,
                format!("expected an instant, got {other:?}"),
            )),
        }
    }
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, CellError> {
        let text = match self.0.cell(name, Kind::Json)? {
            ColumnValue::Text(t) => t,
            other => {
                return Err(CellError::new(
                    name,
                    format!("expected JSON, got {other:?}"),
                ));
            }
        };
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| CellError {
                column: name,
                message: format!("not the JSON expected: {e}"),
                source: Some(e),
            })
        })
        .transpose()
    }
}

fn satisfaction(s: &str) -> Result<Satisfaction, CellError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| CellError {
        column: "rating_satisfaction",
        message: format!("`{s}` is not a satisfaction value"),
        source: Some(e),
    })
}

/// A message row back as a message, with its `seq` (the inverse of
/// [`MESSAGE_COLUMNS`]).
///
/// # Errors
/// [`CellError`] naming the column that does not fit.
pub fn message_from_row(row: &impl RowCells) -> Result<(u64, Message), CellError> {
    let r = Reader(row);
    let seq = r
        .uint("seq")?
        .ok_or_else(|| CellError::new("seq", "is null"))?;
    Ok((
        seq,
        Message {
            id: r.text("id")?,
            sender: Sender {
                role: Role::parse(&r.required("sender_role")?),
                id: r.text("sender_id")?,
                name: r.text("sender_name")?,
            },
            kind: r.text("kind")?.map(|k| MessageKind::parse(&k)),
            text: r.text("text")?,
            sent_at: r.time("sent_at")?,
            read: r.bool("read")?,
            attachments: r
                .json::<Vec<Attachment>>("attachments_json")?
                .unwrap_or_default(),
            raw: r.json::<RawJson>("raw_json")?.unwrap_or_default(),
        },
    ))
}

/// A conversation row back as a conversation, with its messages (the
/// inverse of [`CONVERSATION_COLUMNS`]: the database keeps the normalized
/// columns and the vendor's record once, and the whole conversation is
/// derived from them).
///
/// # Errors
/// [`CellError`] naming the column that does not fit.
pub fn conversation_from_row(
    row: &impl RowCells,
    messages: Vec<Message>,
) -> Result<Conversation, CellError> {
    let r = Reader(row);
    let agent = Agent {
        id: r.text("agent_id")?,
        name: r.text("agent_name")?,
        email: r.text("agent_email")?,
        group: r.text("agent_group")?,
    };
    let rating = match r.text("rating_satisfaction")? {
        None => None,
        Some(s) => Some(Rating {
            satisfaction: satisfaction(&s)?,
            score: r.text("rating_score")?,
            comment: r.text("rating_comment")?,
            rated_at: r.time("rated_at")?,
        }),
    };
    let summary_fields = r.json::<Vec<SummaryField>>("summary_fields_json")?;
    let summary_template = r.text("summary_template")?;
    let summary = (summary_fields.is_some() || summary_template.is_some()).then(|| Summary {
        template: summary_template,
        fields: summary_fields.unwrap_or_default(),
    });
    let ticket = TicketRef {
        id: r.text("ticket_id")?,
        number: r.text("ticket_number")?,
    };
    Ok(Conversation {
        vendor: r.required("vendor")?,
        account: r.required("account")?,
        id: r.required("id")?,
        channel: r.text("channel")?.map(|s| Channel::parse(&s)),
        status: r.text("status")?.map(|s| Status::parse(&s)),
        initiated_by: r.text("initiated_by")?.map(|s| Party::parse(&s)),
        ended_by: r.text("ended_by")?.map(|s| Party::parse(&s)),
        created_at: r.time("created_at")?,
        assigned_at: r.time("assigned_at")?,
        answered_at: r.time("answered_at")?,
        ended_at: r.time("ended_at")?,
        customer: Customer {
            id: r.text("customer_id")?,
            name: r.text("customer_name")?,
            email: r.text("customer_email")?,
            phone: r.text("customer_phone")?,
            ip: r.text("customer_ip")?,
            location: r.text("customer_location")?,
            user_id: r.text("customer_user_id")?,
        },
        agent: (agent != Agent::default()).then_some(agent),
        agents: r.json::<Vec<Agent>>("agents_json")?.unwrap_or_default(),
        rating,
        metrics: Metrics {
            wait_secs: r.uint("wait_secs")?,
            first_response_secs: r.uint("first_response_secs")?,
            talk_secs: r.uint("talk_secs")?,
            duration_secs: r.uint("duration_secs")?,
            agent_messages: r.uint("agent_messages")?,
            customer_messages: r.uint("customer_messages")?,
        },
        summary,
        ticket: (ticket != TicketRef::default()).then_some(ticket),
        landing_page: r.text("landing_page")?,
        referrer: r.text("referrer")?,
        messages_fetched: r
            .bool("messages_fetched")?
            .ok_or_else(|| CellError::new("messages_fetched", "is null"))?,
        messages,
        raw: r.json::<RawJson>("raw_json")?.unwrap_or_default(),
    })
}
