//! The Bangwo8 JSON exactly as it comes off the wire, quirks and all: numbers
//! as strings or numbers (even within one response), dates with or without
//! zero padding, empty strings meaning absent, PHP's shapes of empty lists
//! and objects, error codes in 200 answers. Envelopes keep their records as
//! raw JSON borrowed from the page, so each record is decoded on its own
//! (with a path, `chats[4].start_time`, in any error) and kept verbatim in
//! `raw`.

use std::borrow::Cow;
use std::fmt;

use connector_core::decode::PageRef;
use connector_core::lenient::{
    opt_any_text, opt_php_list, opt_php_object, opt_string, opt_text, opt_u64, opt_wire_time,
};
use connector_core::listing::Envelope;
use connector_core::time::WireTime;
use connector_core::{Error, Result};
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `GET /api/v1/imchat/histories[/{agent_id}].json`:
/// `{"chats": [...], "count": 42, "next_page": "https://www.bangwo8.com/...", "previous_page": null}`.
#[derive(Debug, Deserialize)]
pub struct ListEnvelope<'a> {
    /// The sessions of this page (`null`: none). Absent (`None`): the answer
    /// is not a listing (an error code in a 200 body, a gateway's `{}`).
    #[serde(default, borrow, deserialize_with = "present_list")]
    chats: Option<Vec<&'a RawValue>>,
    /// The total the listing reports.
    #[serde(default, deserialize_with = "opt_u64")]
    count: Option<u64>,
    /// An absolute link on www.bangwo8.com; only its presence is used.
    #[serde(default, borrow, deserialize_with = "opt_text")]
    next_page: Option<Cow<'a, str>>,
    /// An error code carried in a 200 answer (as the summary endpoint does).
    #[serde(default, deserialize_with = "opt_string")]
    status: Option<String>,
    /// The message that goes with `status`.
    #[serde(default, deserialize_with = "opt_string")]
    message: Option<String>,
}

impl<'a> Envelope<'a> for ListEnvelope<'a> {
    fn check(&self, page: &PageRef) -> Result<()> {
        match self.chats {
            Some(_) => Ok(()),
            None => Err(not_the_envelope(page, &self.status, &self.message, "chats")),
        }
    }

    fn total(&self) -> Option<u64> {
        self.count
    }

    fn has_next(&self) -> Option<bool> {
        Some(self.next_page.is_some())
    }

    fn into_records(self) -> Vec<&'a RawValue> {
        self.chats.unwrap_or_default()
    }
}

/// `GET /api/v1/imchat/chatrecords/{r_id}.json`:
/// `{"im_chatrecords": {"r_id": "221", "contents": [...]}, "count": 42, "next_page": ..., "previous_page": null}`.
///
/// `im_chatrecords` is read in the envelope's pass, its `contents` kept as
/// raw records: servers of this kind send `null` or `[]` (an empty PHP
/// array) when a session has no messages; absent (`None`), the answer is
/// not a chat-records answer.
#[derive(Debug, Deserialize)]
pub struct RecordsEnvelope<'a> {
    #[serde(default, borrow, deserialize_with = "present_records")]
    im_chatrecords: Option<Vec<&'a RawValue>>,
    #[serde(default, deserialize_with = "opt_u64")]
    count: Option<u64>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    next_page: Option<Cow<'a, str>>,
    /// An error code carried in a 200 answer.
    #[serde(default, deserialize_with = "opt_string")]
    status: Option<String>,
    /// The message that goes with `status`.
    #[serde(default, deserialize_with = "opt_string")]
    message: Option<String>,
}

impl<'a> Envelope<'a> for RecordsEnvelope<'a> {
    fn check(&self, page: &PageRef) -> Result<()> {
        match self.im_chatrecords {
            Some(_) => Ok(()),
            None => Err(not_the_envelope(
                page,
                &self.status,
                &self.message,
                "im_chatrecords",
            )),
        }
    }

    fn total(&self) -> Option<u64> {
        self.count
    }

    fn has_next(&self) -> Option<bool> {
        Some(self.next_page.is_some())
    }

    fn into_records(self) -> Vec<&'a RawValue> {
        self.im_chatrecords.unwrap_or_default()
    }
}

/// Summary statuses that mean "no summary": no template bound, not filled in.
const NO_SUMMARY: [&str; 2] = ["120001", "120002"];

/// `GET /api/v1/servicesummary/{r_id}.json?servicesummary_type=1`:
/// `{"status":"200","message":"Successful","data":{"serviceSummary":{...}}}`,
/// or `{"status":"120001","message":"No service summary template",}` (the
/// trailing comma is the vendor's own example's).
///
/// Its one record is `data` when the status is 200; none when the status
/// says there is no summary (120001, 120002); any other status is the
/// vendor's error.
#[derive(Debug, Deserialize)]
pub struct SummaryEnvelope<'a> {
    #[serde(default, deserialize_with = "opt_string")]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    message: Option<String>,
    /// Read as its record (`[]`, PHP's empty array, is a record without a
    /// summary, as `{}` is).
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> for SummaryEnvelope<'a> {
    fn check(&self, page: &PageRef) -> Result<()> {
        let status = self.status.as_deref().unwrap_or_default();
        if status == "200" {
            return match self.data {
                Some(_) => Ok(()),
                None => Err(page.field("data.serviceSummary", "missing although status is 200")),
            };
        }
        if NO_SUMMARY.contains(&status) {
            return Ok(());
        }
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| "the summary endpoint reported an error".into());
        Err(page.api(200, self.status.clone(), message))
    }

    fn into_records(self) -> Vec<&'a RawValue> {
        match self.status.as_deref() {
            Some("200") => self.data.into_iter().collect(),
            _ => Vec::new(),
        }
    }
}

/// A 200 answer without its envelope's `key`: the vendor's error code and
/// message when the body carries them, else the missing key. Never read as
/// an empty page, which would end a listing silently short.
fn not_the_envelope(
    page: &PageRef,
    status: &Option<String>,
    message: &Option<String>,
    key: &str,
) -> Error {
    match (status, message) {
        (None, None) => page.field(key, "missing: the answer is not the documented envelope"),
        (code, message) => page.api(
            200,
            code.clone(),
            message
                .clone()
                .unwrap_or_else(|| format!("the answer has no `{key}`")),
        ),
    }
}

/// A key that is present: `null` reads as an empty list, so only an absent
/// key (the field's default) is `None`.
fn present_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<&'de RawValue>>, D::Error> {
    Ok(Some(
        Option::<Vec<&'de RawValue>>::deserialize(d)?.unwrap_or_default(),
    ))
}

/// A present `im_chatrecords`, whatever its value, as its records (each
/// kept as raw JSON borrowed from the page, read in the same pass as the
/// envelope); only an absent key (the field's default) is `None`.
fn present_records<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<&'de RawValue>>, D::Error> {
    d.deserialize_any(RecordsVisitor).map(Some)
}

/// `im_chatrecords`: `null` and `[]` (an empty PHP array) are no records;
/// an object is `{"r_id": …, "contents": [...]}` (`contents` `null` or
/// absent: none); a non-empty array is read as that object's fields in
/// order (`contents` first), as serde reads a struct from a sequence.
struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with `contents`, `[]` or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut contents = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "contents" {
                if contents.is_some() {
                    return Err(de::Error::duplicate_field("contents"));
                }
                contents = Some(map.next_value::<Option<Vec<&'de RawValue>>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(contents.flatten().unwrap_or_default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let contents = seq.next_element::<Option<Vec<&'de RawValue>>>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(contents.flatten().unwrap_or_default())
    }
}

/// One session of a listing.
#[derive(Debug, Deserialize)]
pub struct WireSession {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) r_id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "opt_string")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) support_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) support_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) uname: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) start_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) end_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) client_ip: Option<String>,
    /// Documented as `datetime`, but it is the IP's location text ("归属地为北京市").
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) ip_info: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) evaluate: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) evaluate_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) evaluate_remark: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) end_type: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) servicer_msg_count: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) client_msg_count: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) first_response: Option<u64>,
}

/// One chat record (a message).
#[derive(Debug, Deserialize)]
pub struct WireRecord<'a> {
    /// An agent's name or the user's identifier; a number or a string.
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) spokesman: Option<String>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub(crate) spokesman_identity: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) msg: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub(crate) create_time: Option<WireTime>,
}

/// A summary answer's `data`: `{"serviceSummary": {...}}`, or `[]` (PHP's
/// empty array, read as an object without one).
#[derive(Debug, Default, Deserialize)]
pub struct WireSummaryData {
    /// `[]` (PHP's empty array) is no summary, as `null` is.
    #[serde(
        default,
        rename = "serviceSummary",
        deserialize_with = "opt_php_object"
    )]
    pub(crate) service_summary: Option<WireSummary>,
}

/// A filled-in service summary.
#[derive(Debug, Deserialize)]
pub struct WireSummary {
    #[serde(
        default,
        rename = "ticketTemplateName",
        deserialize_with = "opt_string"
    )]
    pub(crate) template_name: Option<String>,
    /// An array, or (PHP) `{}` when empty or an object keyed by index.
    #[serde(default, deserialize_with = "opt_php_list")]
    pub(crate) custom_fields: Option<Vec<WireCustomField>>,
}

/// One field of a summary's template.
#[derive(Debug, Deserialize)]
pub struct WireCustomField {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) key: Option<String>,
    /// Documented as text (`"1"` for a checkbox, URLs joined by commas for
    /// several files); any other JSON value (a checkbox's values as an
    /// array) is kept as its compact JSON text.
    #[serde(default, deserialize_with = "opt_any_text")]
    pub(crate) value: Option<String>,
}

/// Makes a summary body that strict JSON refuses readable, the way the
/// vendor's own examples need it: `//` and `/* */` comments outside strings
/// become blanks and a comma right before `}` or `]` is dropped. Returns
/// `None` when there was nothing to change. Used only after strict parsing
/// failed, so valid JSON is never touched.
pub(crate) fn relax_json(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    // Index in `out` of a comma seen outside strings with only blanks after it.
    let mut pending_comma: Option<usize> = None;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                pending_comma = None;
                // Copy the string through, escapes included.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(bytes.len());
                out.extend_from_slice(&bytes[start..end]);
                i = end;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                changed = true;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                changed = true;
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                out.push(b' ');
                continue;
            }
            b',' => pending_comma = Some(out.len()),
            b'}' | b']' => {
                if let Some(at) = pending_comma.take() {
                    out[at] = b' ';
                    changed = true;
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => pending_comma = None,
        }
        out.push(b);
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII bytes, and strings were copied
    // whole, so the text stays valid UTF-8.
    changed.then(|| String::from_utf8(out).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn relax_json_drops_trailing_commas_and_comments_only_outside_strings() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{ "status":"120001" , "message":"x", }"#,
                Some(r#"{"status":"120001","message":"x"}"#),
            ),
            (r#"{"a":[1,2,],}"#, Some(r#"{"a":[1,2]}"#)),
            ("{\"a\": [ // note\n 1 /* one */ ]}", Some(r#"{"a":[1]}"#)),
            (
                r#"{"url":"https://x/a,}//b","s":"say \"hi\", }",}"#,
                Some(r#"{"url":"https://x/a,}//b","s":"say \"hi\", }"}"#),
            ),
            (r#"{"a":1}"#, None),
        ];
        for (input, want) in cases {
            let got = relax_json(input);
            match want {
                None => assert_eq!(got, None, "{input}"),
                Some(w) => {
                    let got: Value = serde_json::from_str(got.as_deref().unwrap())
                        .unwrap_or_else(|e| panic!("{input}: {e}"));
                    assert_eq!(got, serde_json::from_str::<Value>(w).unwrap(), "{input}");
                }
            }
        }
        // Unterminated input does not panic.
        for bad in [r#"{"a":"unterminated"#, r#"{"a":"\"#, "/* open", "{,"] {
            let _ = relax_json(bad);
        }
    }
}
