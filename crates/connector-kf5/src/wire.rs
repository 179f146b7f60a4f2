//! The KF5 Kchat JSON as it comes off the wire, quirks and all: ids as
//! numbers or strings, `null` or `""` for absent values, a `rating` that may
//! be anything, `messages` that may be missing from a list item, and an
//! `upload` that is an object or `null`.

use connector_core::time::WireTime;
use std::borrow::Cow;

use connector_core::lenient::{
    opt_any_text, opt_bool, opt_string, opt_text, opt_u64_or_absent, opt_wire_time,
};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `GET /apiv2/chats.json`: `{"chats": [...]}`, nothing else (no total, no
/// next link). Items stay raw JSON borrowed from the page, so each decodes
/// with its own path and `raw` keeps them exactly (one copy, no tree).
#[derive(Debug, Deserialize)]
pub(crate) struct ListEnvelope<'a> {
    #[serde(borrow, deserialize_with = "null_as_empty")]
    pub chats: Vec<&'a RawValue>,
}

/// `GET /apiv2/chats/{id}.json`: `{"chat": {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct DetailEnvelope<'a> {
    #[serde(borrow)]
    pub chat: &'a RawValue,
}

/// One chat (对话).
#[derive(Debug, Deserialize)]
pub(crate) struct WireChat<'a> {
    #[serde(default, deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub started_by: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub status: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub agent_id: Option<String>,
    /// Documented as a string; anything else is kept as its JSON text.
    #[serde(default, deserialize_with = "opt_any_text")]
    pub rating: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub visitor_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub created_at: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub assigned_at: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub end_at: Option<WireTime>,
    /// `None` when the item carries no `messages` array (`null` or absent):
    /// then the messages come from the detail endpoint. Each message stays
    /// raw JSON borrowed from the page, decoded only when messages are wanted.
    #[serde(default, borrow, deserialize_with = "opt_array")]
    pub messages: Option<Vec<&'a RawValue>>,
}

/// One message (消息).
#[derive(Debug, Deserialize)]
pub(crate) struct WireMessage<'a> {
    #[serde(default, deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(rename = "type", default, borrow, deserialize_with = "opt_text")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub msg: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub is_read: Option<bool>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub created_at: Option<WireTime>,
    /// `upload`: an object describes the file; `null`, `""` or `[]` (PHP's
    /// empty array) mean no file; anything else stays in `raw` only. Any
    /// value is accepted here; only an object is decoded (as [`WireUpload`]).
    #[serde(default, borrow)]
    pub upload: Option<&'a RawValue>,
}

/// The `upload` object of a message. The docs only say "object"; the
/// Zendesk-style and plain spellings are both read.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireUpload {
    #[serde(default, deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub file_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub content_url: Option<String>,
    /// A size that is not a number of bytes (`"1.2 MB"`) is left to `raw`.
    #[serde(default, deserialize_with = "opt_u64_or_absent")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub mime: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'de RawValue>, D::Error> {
    Ok(Option::<Vec<&'de RawValue>>::deserialize(d)?.unwrap_or_default())
}

/// `null`/absent or a list of anything, each element kept as raw JSON: an
/// array, or what PHP makes of one (`{}` empty, an object keyed by index).
fn opt_array<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<&'de RawValue>>, D::Error> {
    connector_core::lenient::opt_php_list(d)
}
