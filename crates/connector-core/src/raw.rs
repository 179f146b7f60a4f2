//! [`RawJson`]: a vendor's original record, kept as the JSON text it came in.
//!
//! Connectors keep every record verbatim next to its normalized form
//! (`Conversation::raw`, `Message::raw`). Holding it as text rather than as a
//! `serde_json::Value` tree means a record is copied once (one allocation)
//! instead of being rebuilt node by node; sinks write it out as it is.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON value kept as its text: byte for byte as received, made compact
/// only when it spans lines (so it can always sit on one JSONL line).
///
/// It is a [`serde_json`] [`RawValue`] and serializes as one: `serde_json`
/// writes the text verbatim, `serde_json::to_value` parses it. Other serde
/// formats see whatever `RawValue` shows them (they should serialize
/// [`RawJson::to_value`] instead). Two values are equal when their texts
/// are: a record kept as received compares as received (compare
/// [`RawJson::to_value`]s for JSON equality; `RawJson == Value` does).
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// JSON `null`.
    pub fn null() -> Self {
        Self(RawValue::NULL.to_owned())
    }

    /// Copies a raw value (a record borrowed from a page), made compact when
    /// it spans lines.
    pub fn from_raw(raw: &RawValue) -> Self {
        match compacted(raw.get()) {
            None => Self(raw.to_owned()),
            Some(text) => Self::from_compact(text, || raw.to_owned()),
        }
    }

    /// Parses and keeps JSON text (made compact when it spans lines).
    ///
    /// # Errors
    /// When `text` is not one JSON value.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.trim().to_owned()).map(Self::from)
    }

    /// The compact JSON text of a value.
    pub fn from_value(value: &Value) -> Self {
        Self::from_compact(value.to_string(), || RawValue::NULL.to_owned())
    }

    /// Text made compact from valid JSON is valid JSON: `or` is never
    /// called, it only spares a panic that cannot happen.
    fn from_compact(text: String, or: impl FnOnce() -> Box<RawValue>) -> Self {
        Self(RawValue::from_string(text).unwrap_or_else(|_| or()))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value as `serde_json`'s raw value.
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// The value parsed into a tree.
    pub fn to_value(&self) -> Value {
        // The text is JSON; a value too deep for the parser's recursion
        // limit is kept as its text.
        serde_json::from_str(self.get()).unwrap_or_else(|_| Value::String(self.get().to_owned()))
    }

    /// Whether the value is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.get() == "null"
    }

    /// One member of an object, parsed (`None` when absent or not an object).
    pub fn field(&self, key: &str) -> Option<Value> {
        match self.to_value() {
            Value::Object(mut m) => m.remove(key),
            _ => None,
        }
    }
}

/// Valid JSON text without the blanks between its tokens, when it spans
/// lines; `None` when it does not (single-line records are kept byte for
/// byte). A line break in valid JSON is always a blank between tokens
/// (strings cannot hold one unescaped).
fn compacted(text: &str) -> Option<String> {
    memchr::memchr2(b'\n', b'\r', text.as_bytes())?;
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(ch, ' ' | '\t' | '\n' | '\r') {
            in_string = ch == '"';
            out.push(ch);
        }
    }
    Some(out)
}

impl Default for RawJson {
    fn default() -> Self {
        Self::null()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl PartialEq<Value> for RawJson {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl From<Box<RawValue>> for RawJson {
    /// Takes a raw value as it is (made compact when it spans lines).
    fn from(raw: Box<RawValue>) -> Self {
        match compacted(raw.get()) {
            None => Self(raw),
            Some(text) => Self::from_compact(text, || raw.clone()),
        }
    }
}

impl From<&RawValue> for RawJson {
    fn from(raw: &RawValue) -> Self {
        Self::from_raw(raw)
    }
}

impl From<RawJson> for Box<RawValue> {
    fn from(raw: RawJson) -> Self {
        raw.0
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(Self::from)
    }
}

impl JsonSchema for RawJson {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        Value::schema_name()
    }

    fn inline_schema() -> bool {
        Value::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Value::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kept_verbatim_on_one_line() {
        let page = r#"{"chats":[{"r_id": "7", "msg":"a\nb \" }"},
            {
              "r_id": 8,
              "s": "two  spaces\r\n"
            }]}"#;
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            chats: Vec<&'a RawValue>,
        }
        let p: Page = serde_json::from_str(page).unwrap();
        let a = RawJson::from_raw(p.chats[0]);
        assert_eq!(
            a.get(),
            r#"{"r_id": "7", "msg":"a\nb \" }"}"#,
            "single-line: as sent"
        );
        let b = RawJson::from_raw(p.chats[1]);
        assert_eq!(b.get(), r#"{"r_id":8,"s":"two  spaces\r\n"}"#);
        assert_eq!(b, json!({"r_id": 8, "s": "two  spaces\r\n"}));
        assert_eq!(b.field("r_id"), Some(json!(8)));
        // Text equality: kept as received, compared as received; JSON
        // equality against a value.
        let spaced = RawJson::parse(r#"{ "a" : 1 }"#).unwrap();
        assert_eq!(spaced.get(), r#"{ "a" : 1 }"#);
        assert_ne!(spaced, RawJson::from(json!({"a": 1})));
        assert_eq!(spaced, json!({"a": 1}));
        assert_eq!(spaced.to_value(), RawJson::from(json!({"a": 1})).to_value());
        assert_eq!(RawJson::from(json!({"a": 1})).get(), r#"{"a":1}"#);
        assert_ne!(
            RawJson::from(json!({"a": 1})),
            RawJson::from(json!({"a": 2}))
        );
        // Owned raw values are compacted the same way.
        let owned = RawValue::from_string("[1,\n 2]".to_owned()).unwrap();
        assert_eq!(RawJson::from(owned).get(), "[1,2]");
    }

    #[test]
    fn serializes_as_json_not_as_a_string() {
        #[derive(Serialize, Deserialize)]
        struct Rec {
            raw: RawJson,
        }
        let r = Rec {
            raw: RawJson::parse(r#"{"x":[1,"y"]}"#).unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"raw":{"x":[1,"y"]}}"#
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"raw": {"x": [1, "y"]}})
        );
        let back: Rec = serde_json::from_str(
            r#"{"raw": {"x":
            [1, "y"]}}"#,
        )
        .unwrap();
        assert_eq!(back.raw.get(), r#"{"x":[1,"y"]}"#);
        let from_value: Rec = serde_json::from_value(json!({"raw": {"x": [1, "y"]}})).unwrap();
        assert_eq!(from_value.raw, r.raw);
        // The same bytes as `serde_json`'s own raw value, inside a record
        // and alone (the pass-through this type relies on).
        let text = r#"{"k":["v",1.50,"\u4f60"]}"#;
        let own = RawJson::parse(text).unwrap();
        let theirs = RawValue::from_string(text.to_owned()).unwrap();
        assert_eq!(serde_json::to_string(&own).unwrap(), text);
        #[derive(Serialize)]
        struct Theirs {
            raw: Box<RawValue>,
        }
        assert_eq!(
            serde_json::to_string(&Rec { raw: own.clone() }).unwrap(),
            serde_json::to_string(&Theirs { raw: theirs }).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&own).unwrap(),
            json!({"k": ["v", 1.5, "你"]})
        );
        assert!(RawJson::default().is_null());
        assert!(RawJson::parse("not json").is_err());
        assert_eq!(format!("{:?}", r.raw), r#"{"x":[1,"y"]}"#);
    }
}
