//! CareSoft's JSON, as the vendor document shows it, quirks included: ids and
//! counts as numbers or strings, `""` and `null` for absent, durations as
//! `HH:MM:SS` strings (`waitTime`, `answer_time`) or integer seconds
//! (`chat_duration`), local wall-clock times without an offset.

use std::borrow::Cow;

use connector_core::Result;
use connector_core::decode::PageRef;
use connector_core::lenient::{opt_duration_secs, opt_string, opt_text, opt_u64, opt_wire_time};
use connector_core::listing::Envelope;
use connector_core::time::WireTime;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The `GET /api/v1/chats` envelope: `{"code":"OK","numFound":34,"chats":[...]}`.
///
/// What it says about itself is checked before its records are read
/// ([`Envelope::check`]): a `code` other than `OK` is the vendor's error, and
/// a body with neither `code` nor `chats` is not this envelope.
#[derive(Debug, Deserialize)]
pub struct ChatsEnvelope<'a> {
    /// `OK` on success; anything else is the vendor's error code.
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) code: Option<String>,
    /// The vendor's error text, when it sends one.
    #[serde(default, alias = "msg", deserialize_with = "opt_string")]
    pub(crate) message: Option<String>,
    /// How many records match the filters, over all pages.
    #[serde(default, rename = "numFound", deserialize_with = "opt_u64")]
    pub(crate) num_found: Option<u64>,
    /// The records of this page, each kept as its text.
    #[serde(default, borrow)]
    pub(crate) chats: Option<Vec<&'a RawValue>>,
}

impl<'a> Envelope<'a> for ChatsEnvelope<'a> {
    /// `code` `OK`, or no `code` but `chats` (the document always shows a
    /// code; a body with records and no code is still usable). `OK` with
    /// `chats` null or left out is an empty page, unless `numFound` promises
    /// records.
    fn check(&self, page: &PageRef) -> Result<()> {
        match (self.code.as_deref(), &self.chats) {
            (Some("OK"), _) | (None, Some(_)) => {}
            (Some(code), _) => {
                let message = self
                    .message
                    .clone()
                    .unwrap_or_else(|| "the API answered with an error code".to_owned());
                return Err(page.api(200, Some(code.to_owned()), message));
            }
            (None, None) => return Err(page.field("code", "missing (and no `chats`)")),
        }
        match (&self.chats, self.num_found) {
            (None, Some(n)) if n > 0 => {
                Err(page.field("chats", format!("missing, though numFound is {n}")))
            }
            _ => Ok(()),
        }
    }

    fn total(&self) -> Option<u64> {
        self.num_found
    }

    fn into_records(self) -> Vec<&'a RawValue> {
        self.chats.unwrap_or_default()
    }
}

/// One chat record of the listing.
#[derive(Debug, Deserialize)]
pub struct WireChat<'a> {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) ticket_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) ticket_no: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) customer_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) group_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) conversation_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) cus_email: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) cus_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) cus_phone: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) start_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) end_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_duration_secs")]
    pub(crate) chat_duration: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) agent_email: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) agent_name: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) ring_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) meet_time: Option<WireTime>,
    #[serde(default, rename = "waitTime", deserialize_with = "opt_duration_secs")]
    pub(crate) wait_time: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration_secs")]
    pub(crate) answer_time: Option<u64>,
    /// Read in place: only mapped to a status, kept as text when unknown.
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub(crate) chat_status: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) landing_page: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) referrer: Option<String>,
    // `is_trigger`, `facebook_page_id` and `service_id` have no place in the
    // model: they stay in `raw`, and are not decoded so an odd value there can
    // never fail a page.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strings_and_empties() {
        let text = r#"{
            "ticket_id": "387229101", "ticket_no": 7415, "customer_id": "165644057",
            "cus_email": "", "cus_phone": null, "chat_duration": "39", "waitTime": "00:00:08",
            "answer_time": 31, "start_time": "2023-4-2 9:48:30", "chat_status": "LBL_CHAT_STATUS_MEET"
        }"#;
        let c: WireChat = serde_json::from_str(text).unwrap();
        assert_eq!(c.ticket_id.as_deref(), Some("387229101"));
        assert_eq!(c.ticket_no.as_deref(), Some("7415"));
        assert_eq!(c.customer_id.as_deref(), Some("165644057"));
        assert_eq!((c.cus_email, c.cus_phone), (None, None));
        assert_eq!(
            (c.chat_duration, c.wait_time, c.answer_time),
            (Some(39), Some(8), Some(31))
        );
        assert_eq!(c.chat_status.as_deref(), Some("LBL_CHAT_STATUS_MEET"));
        let local =
            chrono::NaiveDateTime::parse_from_str("2023-04-02 09:48:30", "%Y-%m-%d %H:%M:%S");
        assert_eq!(c.start_time, Some(WireTime::Local(local.unwrap())));
    }

    #[test]
    fn envelope_total_as_string() {
        let e: ChatsEnvelope =
            serde_json::from_str(r#"{"code":"OK","numFound":"34","chats":[]}"#).unwrap();
        assert_eq!(e.total(), Some(34));
        assert!(
            e.check(&PageRef::new("caresoft", "/api/v1/chats", 1))
                .is_ok()
        );
        assert!(e.into_records().is_empty());
    }
}
