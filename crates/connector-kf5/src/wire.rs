//! The KF5 Kchat JSON as it comes off the wire, quirks and all: ids as
//! numbers or strings, `null` or `""` for absent values, a `rating` that may
//! be anything, `messages` that may be missing from a list item, and an
//! `upload` that is an object or `null`.

use std::borrow::Cow;

use connector_core::decode::PageRef;
use connector_core::lenient::{
    opt_any_text, opt_bool, opt_string, opt_text, opt_u64_or_absent, opt_wire_time,
};
use connector_core::listing::Envelope;
use connector_core::time::WireTime;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `GET /apiv2/chats.json`: `{"chats": [...]}`, nothing else (no total, no
/// next link); `chats` is required (`{}` is not an empty listing), and
/// `null` is not one either: with no total to catch it, a `null` read as
/// an empty page would end the listing silently, so it is the page's error.
#[derive(Debug, Deserialize)]
pub struct ListEnvelope<'a> {
    #[serde(borrow, deserialize_with = "required_nullable")]
    chats: Option<Vec<&'a RawValue>>,
}

impl<'a> Envelope<'a> for ListEnvelope<'a> {
    fn check(&self, page: &PageRef) -> connector_core::Result<()> {
        match self.chats {
            Some(_) => Ok(()),
            None => Err(page.field(
                "chats",
                "null instead of a list of chats (an empty listing is `[]`)",
            )),
        }
    }

    fn into_records(self) -> Vec<&'a RawValue> {
        self.chats.unwrap_or_default()
    }
}

/// `GET /apiv2/chats/{id}.json`: `{"chat": {...}}`.
#[derive(Debug, Deserialize)]
pub struct DetailEnvelope<'a> {
    #[serde(borrow)]
    chat: &'a RawValue,
}

impl<'a> Envelope<'a> for DetailEnvelope<'a> {
    fn into_records(self) -> Vec<&'a RawValue> {
        vec![self.chat]
    }
}

/// One chat (对话).
#[derive(Debug, Deserialize)]
pub struct WireChat<'a> {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) id: Option<String>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub(crate) started_by: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub(crate) status: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) agent_id: Option<String>,
    /// Documented as a string; anything else is kept as its JSON text.
    #[serde(default, deserialize_with = "opt_any_text")]
    pub(crate) rating: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) visitor_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) user_id: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) created_at: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) assigned_at: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) end_at: Option<WireTime>,
    /// `None` when the item carries no `messages` array (`null` or absent):
    /// then the messages come from the detail endpoint. Each message stays
    /// raw JSON borrowed from the page, decoded only when messages are wanted.
    #[serde(default, borrow, deserialize_with = "opt_array")]
    pub(crate) messages: Option<Vec<&'a RawValue>>,
}

/// One message (消息).
#[derive(Debug, Deserialize)]
pub struct WireMessage<'a> {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) id: Option<String>,
    #[serde(rename = "type", default, borrow, deserialize_with = "opt_text")]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) msg: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub(crate) is_read: Option<bool>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) created_at: Option<WireTime>,
    /// `upload`: an object describes the file; `null`, `""` or `[]` (PHP's
    /// empty array) mean no file; anything else stays in `raw` only. Any
    /// value is accepted here; only an object is decoded (as [`WireUpload`]).
    #[serde(default, borrow)]
    pub(crate) upload: Option<&'a RawValue>,
}

/// The `upload` object of a message. The docs only say "object"; the
/// Zendesk-style and plain spellings are both read.
#[derive(Debug, Default, Deserialize)]
pub struct WireUpload {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) file_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) url: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) content_url: Option<String>,
    /// A size that is not a number of bytes (`"1.2 MB"`) is left to `raw`.
    #[serde(default, deserialize_with = "opt_u64_or_absent")]
    pub(crate) size: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) content_type: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) mime: Option<String>,
}

/// A field that must be there but may be `null` (`None`): with
/// `deserialize_with` and no `default`, serde still reports it missing.
fn required_nullable<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<&'de RawValue>>, D::Error> {
    Option::<Vec<&'de RawValue>>::deserialize(d)
}

/// `null`/absent or a list of anything, each element kept as raw JSON: an
/// array, or what PHP makes of one (`{}` empty, an object keyed by index).
fn opt_array<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<&'de RawValue>>, D::Error> {
    connector_core::lenient::opt_php_list(d)
}
