//! The fake vendor's JSON as it comes off the wire.

use connector_core::lenient::{opt_string, opt_u64, opt_wire_time};
use connector_core::listing::Envelope;
use connector_core::serde_json::value::RawValue;
use connector_core::time::WireTime;
use serde::Deserialize;

/// `GET /v1/conversations.json`: `{"conversations": [...], "total": 42}`.
#[derive(Debug, Deserialize)]
pub struct ConversationsEnvelope<'a> {
    #[serde(borrow)]
    conversations: Vec<&'a RawValue>,
    #[serde(default, deserialize_with = "opt_u64")]
    total: Option<u64>,
}

/// `GET /v1/conversations/{id}.json`: `{"conversation": {...}}`.
#[derive(Debug, Deserialize)]
pub struct ConversationEnvelope<'a> {
    #[serde(borrow)]
    conversation: &'a RawValue,
}

/// `GET /v1/conversations/{id}/messages.json`: `{"messages": [...], "total": 7}`.
#[derive(Debug, Deserialize)]
pub struct MessagesEnvelope<'a> {
    #[serde(borrow)]
    messages: Vec<&'a RawValue>,
    #[serde(default, deserialize_with = "opt_u64")]
    total: Option<u64>,
}

impl<'a> Envelope<'a> for ConversationsEnvelope<'a> {
    fn total(&self) -> Option<u64> {
        self.total
    }
    fn into_records(self) -> Vec<&'a RawValue> {
        self.conversations
    }
}

impl<'a> Envelope<'a> for ConversationEnvelope<'a> {
    fn into_records(self) -> Vec<&'a RawValue> {
        vec![self.conversation]
    }
}

impl<'a> Envelope<'a> for MessagesEnvelope<'a> {
    fn total(&self) -> Option<u64> {
        self.total
    }
    fn into_records(self) -> Vec<&'a RawValue> {
        self.messages
    }
}

/// One conversation.
#[derive(Debug, Deserialize)]
pub struct WireConversation {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) channel: Option<String>,
    #[serde(default)]
    pub(crate) agent: Option<WireAgent>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) customer: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) started_at: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) ended_at: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) rating: Option<u64>,
}

/// The agent of a conversation.
#[derive(Debug, Deserialize)]
pub struct WireAgent {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) name: Option<String>,
}

/// One message.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) from: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) text: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) at: Option<WireTime>,
}
