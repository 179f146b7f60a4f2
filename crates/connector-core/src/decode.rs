//! Decoding vendor JSON with errors that say where it failed.
//!
//! [`PageRef`] names the page a body came from (vendor, endpoint, page
//! number); [`RecordRef`] one record on it (`chats[3]`). Both decode with
//! `serde_json` and, only when that fails, decode again through
//! `serde_path_to_error` to name the JSON path: path tracking costs about a
//! fifth of decoding and is needed only to describe a failure.

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::lenient::clip_to;

/// Where a body came from, for error messages: vendor, endpoint, page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRef {
    /// The connector.
    pub vendor: &'static str,
    /// The endpoint as documented (`/apiv2/chats.json`), or the path asked
    /// for when it names one record (`/apiv2/chats/290.json`).
    pub endpoint: String,
    /// The page number (0 when the endpoint has no pages).
    pub page: u32,
}

impl PageRef {
    /// Page `page` of `endpoint` of `vendor`.
    pub fn new(vendor: &'static str, endpoint: impl Into<String>, page: u32) -> Self {
        Self {
            vendor,
            endpoint: endpoint.into(),
            page,
        }
    }

    /// An error about one field (a path) of this page.
    pub fn field(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Field {
            vendor: self.vendor,
            endpoint: self.endpoint.clone(),
            page: self.page,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An API-level error carried in a response (a vendor error code in a
    /// 200 body, say).
    pub fn api(&self, status: u16, code: Option<String>, message: impl Into<String>) -> Error {
        Error::Api {
            vendor: self.vendor,
            endpoint: self.endpoint.clone(),
            page: self.page,
            status,
            code,
            message: message.into(),
        }
    }

    /// A paging error at this page (a repeated page, a link to another host).
    pub fn paging(&self, message: impl Into<String>) -> Error {
        Error::Paging {
            vendor: self.vendor,
            endpoint: self.endpoint.clone(),
            page: self.page,
            message: message.into(),
        }
    }

    /// Decodes a whole response body (an envelope, which may borrow its
    /// records from `body` as [`RawValue`]s). An empty body, an HTML page and
    /// a body cut short are transient errors (worth retrying); anything else
    /// names the JSON path where it failed.
    ///
    /// Errors may quote the body: [`crate::http::HttpClient::get_with`]
    /// scrubs the credential out of them.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the path.
    pub fn decode_body<'a, T: Deserialize<'a>>(&self, body: &'a [u8]) -> Result<T> {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            None => return Err(self.decode_error("", ".", "the response body is empty", true)),
            Some(b'<') => {
                let text = String::from_utf8_lossy(body);
                let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let message = format!(
                    "expected JSON, got an HTML page: {}",
                    clip_to(&one_line, QUOTE_CLIP)
                );
                return Err(self.decode_error("", ".", &message, true));
            }
            _ => {}
        }
        // The body checked to be UTF-8 once, as a whole (decoding from bytes
        // would check every string and raw record on its own).
        if let Ok(text) = simdutf8::basic::from_utf8(body)
            && let Ok(v) = serde_json::from_str::<T>(text)
        {
            return Ok(v);
        }
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            // A body cut short is a transport fault in disguise: retry it.
            let transient = e.inner().is_eof();
            self.decode_error("", &e.path().to_string(), &e.inner().to_string(), transient)
        })
    }

    /// Decodes one record kept as raw JSON text (borrowed from its page)
    /// into a wire type, which may borrow from it; errors name the path
    /// below `path` (`chats[3]`; pass `format_args!("chats[{i}]")`: it is
    /// formatted only when the record fails to decode).
    ///
    /// # Errors
    /// [`Error::Decode`] naming the path.
    pub fn decode_record<'a, T: Deserialize<'a>>(
        &self,
        path: impl fmt::Display,
        raw: &'a RawValue,
    ) -> Result<T> {
        match serde_json::from_str::<T>(raw.get()) {
            Ok(v) => Ok(v),
            Err(_) => self.decode_tracked(path, raw.get()),
        }
    }

    /// Decodes a JSON value already parsed into a tree; errors name the
    /// path below `path`.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the path.
    pub fn decode_value<T: DeserializeOwned>(&self, path: &str, value: &Value) -> Result<T> {
        if let Ok(v) = T::deserialize(value) {
            return Ok(v);
        }
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            self.decode_error(path, &e.path().to_string(), &e.inner().to_string(), false)
        })
    }

    /// Decodes a record with path tracking, to say where it fails.
    fn decode_tracked<'a, T: Deserialize<'a>>(
        &self,
        prefix: impl fmt::Display,
        text: &'a str,
    ) -> Result<T> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            // The path says where; a line and column within one record
            // would only add noise.
            let inner = e.inner();
            let text = inner.to_string();
            let position = format!(" at line {} column {}", inner.line(), inner.column());
            let message = text.strip_suffix(&position).unwrap_or(&text);
            self.decode_error(&prefix.to_string(), &e.path().to_string(), message, false)
        })
    }

    fn decode_error(&self, prefix: &str, inner: &str, message: &str, transient: bool) -> Error {
        let path = match inner {
            "." if prefix.is_empty() => inner.to_owned(),
            "." => prefix.to_owned(),
            p if prefix.is_empty() => p.to_owned(),
            p => format!("{prefix}.{p}"),
        };
        Error::Decode {
            vendor: self.vendor,
            endpoint: self.endpoint.clone(),
            page: self.page,
            path,
            message: clip_to(message, QUOTE_CLIP).into_owned(),
            transient,
        }
    }
}

/// How much of a quoted value a [`PageRef`]'s errors keep. Wide, because
/// a credential is scrubbed from them only later
/// ([`crate::http::HttpClient::get_with`]), which then clips them shorter:
/// scrubbing before that final clip means no credential is ever cut in two
/// and left half visible.
const QUOTE_CLIP: usize = 4096;

/// One record of a page, for error messages and for decoding its parts:
/// the page, and the record's place on it (`chats[3]`, or `chat` for a page
/// that holds one record).
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'p> {
    page: &'p PageRef,
    key: &'static str,
    index: Option<usize>,
}

impl<'p> RecordRef<'p> {
    /// The record under `key` on `page`: item `index` of that array, or the
    /// one record when `index` is `None`.
    pub fn new(page: &'p PageRef, key: &'static str, index: Option<usize>) -> Self {
        Self { page, key, index }
    }

    /// The page the record is on.
    pub fn page(&self) -> &'p PageRef {
        self.page
    }

    /// Decodes the record itself; errors name the path below it.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the path (`chats[3].created_at`).
    pub fn decode<'a, T: Deserialize<'a>>(&self, raw: &'a RawValue) -> Result<T> {
        self.page.decode_record(self, raw)
    }

    /// Decodes a part of the record, found at `member` below it (pass
    /// `format_args!("messages[{j}]")`: formatted only on failure).
    ///
    /// # Errors
    /// [`Error::Decode`] naming the path (`chats[3].messages[1].is_read`).
    pub fn decode_member<'a, T: Deserialize<'a>>(
        &self,
        member: impl fmt::Display,
        raw: &'a RawValue,
    ) -> Result<T> {
        self.page
            .decode_record(format_args!("{self}.{member}"), raw)
    }

    /// An error about `member` of this record (`chats[4].id`: missing).
    pub fn field(&self, member: impl fmt::Display, message: impl Into<String>) -> Error {
        self.page.field(format!("{self}.{member}"), message)
    }
}

impl fmt::Display for RecordRef<'_> {
    /// The record's JSON path on its page: `chats[3]`, or `chat`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}[{i}]", self.key),
            None => f.write_str(self.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page() -> PageRef {
        PageRef::new("kf5", "/apiv2/chats.json", 3)
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Wire {
        #[serde(default)]
        n: Option<u64>,
        #[serde(default)]
        inner: Option<Box<RawValue>>,
    }

    #[test]
    fn record_errors_name_vendor_endpoint_page_and_path() {
        let raw = RawValue::from_string(r#"{"n": "x"}"#.into()).unwrap();
        let page = page();
        let at = RecordRef::new(&page, "chats", Some(4));
        let e = at.decode::<Wire>(&raw).unwrap_err().to_string();
        assert_eq!(
            e,
            "kf5: cannot decode /apiv2/chats.json page 3: at chats[4].n: invalid type: string \"x\", expected u64"
        );
        let e = at
            .decode_member::<Wire>(format_args!("messages[{}]", 1), &raw)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at chats[4].messages[1].n: "), "{e}");
        let one = RecordRef::new(&page, "chat", None);
        assert_eq!(
            one.field("id", "missing").to_string(),
            "kf5: /apiv2/chats.json page 3: field `chat.id`: missing"
        );
        let e = page
            .decode_value::<Wire>("data", &json!({"n": -1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at data.n: "), "{e}");
    }

    #[test]
    fn bodies_empty_html_or_cut_short_are_transient() {
        let page = page();
        for (body, transient, says) in [
            (&b"  "[..], true, "the response body is empty"),
            (
                b"<html>\n<b>502</b>   Bad</html>",
                true,
                "got an HTML page: <html> <b>502</b> Bad</html>",
            ),
            (br#"{"n": 1"#, true, "EOF"),
            (br#"{"n": true}"#, false, "invalid type"),
        ] {
            match page.decode_body::<Wire>(body) {
                Err(e @ Error::Decode { .. }) => {
                    assert_eq!(e.is_retryable(), transient, "{e}");
                    assert!(e.to_string().contains(says), "{e}");
                }
                other => panic!("{other:?}"),
            }
        }
        let w: Wire = page
            .decode_body(br#"{"n": 2, "inner": {"a": [1]}}"#)
            .unwrap();
        assert_eq!(w.n, Some(2));
    }
}
