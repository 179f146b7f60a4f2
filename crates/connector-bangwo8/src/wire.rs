//! The Bangwo8 JSON exactly as it comes off the wire, quirks and all: numbers
//! as strings or numbers (even within one response), dates with or without
//! zero padding, empty strings meaning absent. Envelopes keep their records as
//! raw JSON text borrowed from the page, so each record is decoded on its
//! own, with a path (`chats[4].start_time`) in any error, and kept verbatim
//! in `raw` (one copy, no JSON tree built).

use connector_core::time::WireTime;
use std::borrow::Cow;

use connector_core::lenient::{
    opt_any_text, opt_php_list, opt_php_object, opt_string, opt_text, opt_u64, opt_wire_time,
};
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `GET /api/v1/imchat/histories[/{agent_id}].json`:
/// `{"chats": [...], "count": 42, "next_page": "https://www.bangwo8.com/...", "previous_page": null}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListEnvelope<'a> {
    /// The sessions of this page (`null`: none). Absent (`None`): the answer
    /// is not a listing (an error code in a 200 body, a gateway's `{}`).
    #[serde(default, borrow, deserialize_with = "present_list")]
    pub chats: Option<Vec<&'a RawValue>>,
    /// The total the listing reports.
    #[serde(default, deserialize_with = "opt_u64")]
    pub count: Option<u64>,
    /// An absolute link on www.bangwo8.com; only its presence is used.
    #[serde(default, deserialize_with = "opt_string")]
    pub next_page: Option<String>,
    /// An error code carried in a 200 answer (as the summary endpoint does).
    #[serde(default, deserialize_with = "opt_string")]
    pub status: Option<String>,
    /// The message that goes with `status`.
    #[serde(default, deserialize_with = "opt_string")]
    pub message: Option<String>,
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
pub(crate) struct Chat {
    #[serde(default, deserialize_with = "opt_string")]
    pub r_id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "opt_string")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub support_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub support_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub uname: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub start_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub end_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_string")]
    pub client_ip: Option<String>,
    /// Documented as `datetime`, but it is the IP's location text ("归属地为北京市").
    #[serde(default, deserialize_with = "opt_string")]
    pub ip_info: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub evaluate: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub evaluate_time: Option<WireTime>,
    #[serde(default, deserialize_with = "opt_string")]
    pub evaluate_remark: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub end_type: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub servicer_msg_count: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub client_msg_count: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub first_response: Option<u64>,
}

/// `GET /api/v1/imchat/chatrecords/{r_id}.json`:
/// `{"im_chatrecords": {"r_id": "221", "contents": [...]}, "count": 42, "next_page": ..., "previous_page": null}`.
///
/// `im_chatrecords` is read as raw JSON: servers of this kind send `null` or
/// `[]` (an empty PHP array) when a session has no messages; absent
/// (`None`), the answer is not a chat-records answer.
#[derive(Debug, Deserialize)]
pub(crate) struct RecordsEnvelope<'a> {
    #[serde(default, borrow, deserialize_with = "present_records")]
    pub im_chatrecords: Option<Vec<&'a RawValue>>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub count: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub next_page: Option<String>,
    /// An error code carried in a 200 answer.
    #[serde(default, deserialize_with = "opt_string")]
    pub status: Option<String>,
    /// The message that goes with `status`.
    #[serde(default, deserialize_with = "opt_string")]
    pub message: Option<String>,
}

/// One message.
#[derive(Debug, Deserialize)]
pub(crate) struct Record<'a> {
    /// An agent's name or the user's identifier; a number or a string.
    #[serde(default, deserialize_with = "opt_string")]
    pub spokesman: Option<String>,
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub spokesman_identity: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub msg: Option<String>,
    #[serde(default, deserialize_with = "opt_wire_time")]
    pub create_time: Option<WireTime>,
}

/// `GET /api/v1/servicesummary/{r_id}.json?servicesummary_type=1`:
/// `{"status":"200","message":"Successful","data":{"serviceSummary":{...}}}`,
/// or `{"status":"120001","message":"No service summary template",}` (note the
/// trailing comma the vendor's own examples carry).
#[derive(Debug, Deserialize)]
pub(crate) struct SummaryEnvelope {
    #[serde(default, deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub message: Option<String>,
    /// `[]` (PHP's empty array) is no data, as `null` is.
    #[serde(default, deserialize_with = "opt_php_object")]
    pub data: Option<SummaryData>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SummaryData {
    #[serde(
        default,
        rename = "serviceSummary",
        deserialize_with = "opt_php_object"
    )]
    pub service_summary: Option<ServiceSummary>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ServiceSummary {
    #[serde(
        default,
        rename = "ticketTemplateName",
        deserialize_with = "opt_string"
    )]
    pub template_name: Option<String>,
    /// An array, or (PHP) `{}` when empty or an object keyed by index.
    #[serde(default, deserialize_with = "opt_php_list")]
    pub custom_fields: Option<Vec<CustomField>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CustomField {
    #[serde(default, deserialize_with = "opt_string")]
    pub key: Option<String>,
    /// Documented as text (`"1"` for a checkbox, URLs joined by commas for
    /// several files); any other JSON value (a checkbox's values as an
    /// array) is kept as its compact JSON text.
    #[serde(default, deserialize_with = "opt_any_text")]
    pub value: Option<String>,
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
