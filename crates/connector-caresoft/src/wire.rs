//! CareSoft's JSON, as the vendor document shows it, quirks included: ids and
//! counts as numbers or strings, `""` and `null` for absent, durations as
//! `HH:MM:SS` strings (`waitTime`, `answer_time`) or integer seconds
//! (`chat_duration`), local wall-clock times without an offset.

use connector_core::lenient::{opt_duration_secs, opt_string, opt_u64, opt_wire_time};
use connector_core::time::WireTime;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The `GET /api/v1/chats` envelope: `{"code":"OK","numFound":34,"chats":[...]}`.
///
/// Records stay raw JSON text borrowed from the body, so each is decoded on
/// its own, with its index in the error path, and copied verbatim as `raw`
/// (no `Value` tree is built for a record).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatsEnvelope<'a> {
    /// `OK` on success; anything else is the vendor's error code.
    #[serde(default, deserialize_with = "opt_string")]
    pub code: Option<String>,
    /// The vendor's error text, when it sends one.
    #[serde(default, alias = "msg", deserialize_with = "opt_string")]
    pub message: Option<String>,
    /// How many records match the filters, over all pages.
    #[serde(default, rename = "numFound", deserialize_with = "opt_u64")]
    pub num_found: Option<u64>,
    /// The records of this page.
    #[serde(default, borrow)]
    pub chats: Option<Vec<&'a RawValue>>,
}

/// One chat record of the listing.
#[derive(Debug, Deserialize)]
pub(crate) struct WireChat {
    #[serde(default, deserialize_with = "opt_string")]
    pub ticket_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub ticket_no: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub conversation_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub cus_email: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub cus_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub cus_phone: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub start_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub end_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_duration_secs")]
    pub chat_duration: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub agent_email: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub agent_name: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub ring_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub meet_time: Option<WireTime>,
    #[serde(default, rename = "waitTime", deserialize_with = "opt_duration_secs")]
    pub wait_time: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration_secs")]
    pub answer_time: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub chat_status: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub landing_page: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub referrer: Option<String>,
    // `is_trigger`, `facebook_page_id` and `service_id` have no place in the
    // model: they stay in `raw`, and are not decoded so an odd value there can
    // never fail a page.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strings_and_empties() {
        let v = serde_json::json!({
            "ticket_id": "387229101", "ticket_no": 7415, "customer_id": "165644057",
            "cus_email": "", "cus_phone": null, "chat_duration": "39", "waitTime": "00:00:08",
            "answer_time": 31, "start_time": "2023-4-2 9:48:30"
        });
        let c: WireChat = serde_json::from_value(v).unwrap();
        assert_eq!(c.ticket_id.as_deref(), Some("387229101"));
        assert_eq!(c.ticket_no.as_deref(), Some("7415"));
        assert_eq!(c.customer_id.as_deref(), Some("165644057"));
        assert_eq!((c.cus_email, c.cus_phone), (None, None));
        assert_eq!(
            (c.chat_duration, c.wait_time, c.answer_time),
            (Some(39), Some(8), Some(31))
        );
        let local =
            chrono::NaiveDateTime::parse_from_str("2023-04-02 09:48:30", "%Y-%m-%d %H:%M:%S");
        assert_eq!(c.start_time, Some(WireTime::Local(local.unwrap())));
    }

    #[test]
    fn envelope_total_as_string() {
        let e: ChatsEnvelope =
            serde_json::from_str(r#"{"code":"OK","numFound":"34","chats":[]}"#).unwrap();
        assert_eq!(
            (e.code.as_deref(), e.num_found, e.chats.map(|c| c.len())),
            (Some("OK"), Some(34), Some(0))
        );
    }
}
