//! Reading a page's records once.
//!
//! A record must be kept as the text it came in (`raw`) and decoded into a
//! wire struct. Reading it with `serde_json` as a raw value and then decoding
//! that text reads every byte twice with the full parser. Here a cursor,
//! [`Outline`], walks the page's outline (its objects' members, its arrays'
//! items) in one light pass, and each record is decoded by `serde_json` where
//! it stands ([`Outline::decode`]): one read decodes it, checks that it is
//! JSON and gives its text.
//!
//! The cursor checks what lies between the parts it walks (brackets, colons,
//! commas, blanks, member names). A value it hands over as text
//! ([`Outline::value`]) is not checked: the caller decodes it or checks it
//! with [`is_json`], so that a page read this way is a page that is JSON
//! throughout.
//!
//! Every step returns `None` when the text is not of the expected shape or
//! anything about it is unusual (a member name with an escape, say): the
//! caller then reads the page with `serde_json` alone, which also explains
//! what is wrong with it.

use std::borrow::Cow;

use serde::Deserialize;

/// A cursor over a JSON text that walks its outline in one pass: it enters
/// the objects and arrays the caller asks it to, and hands over any other
/// value as its text, skipped without being checked.
///
/// ```
/// use connector_core::split::Outline;
/// let mut page = Outline::new(r#"{"chats": [{"id": 1}, {"id": 2}], "n": 2}"#);
/// page.object().unwrap();
/// let mut found = Vec::new();
/// while let Some(name) = page.next_member().unwrap() {
///     if name == "chats" {
///         page.array().unwrap();
///         while page.next_item().unwrap() {
///             found.push(page.value().unwrap());
///         }
///     } else {
///         page.value().unwrap();
///     }
/// }
/// page.end().unwrap();
/// assert_eq!(found, [r#"{"id": 1}"#, r#"{"id": 2}"#]);
/// ```
#[derive(Debug)]
pub struct Outline<'a> {
    text: &'a str,
    at: usize,
    /// Per open object or array: whether its first member or item is next.
    first: Vec<bool>,
}

impl<'a> Outline<'a> {
    /// A cursor at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            first: Vec::with_capacity(4),
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after blanks, the cursor moved onto it.
    fn peek(&mut self) -> Option<u8> {
        self.at = blanks(self.bytes(), self.at);
        self.bytes().get(self.at).copied()
    }

    /// Enters the object that is the next value.
    pub fn object(&mut self) -> Option<()> {
        self.open(b'{')
    }

    /// Enters the array that is the next value.
    pub fn array(&mut self) -> Option<()> {
        self.open(b'[')
    }

    fn open(&mut self, bracket: u8) -> Option<()> {
        (self.peek()? == bracket).then_some(())?;
        self.at += 1;
        self.first.push(true);
        Some(())
    }

    /// Whether the innermost open object or array goes on; leaves it at
    /// its closing bracket.
    fn more(&mut self, close: u8) -> Option<bool> {
        let first = self.first.last_mut()?;
        let was_first = std::mem::replace(first, false);
        let b = self.peek()?;
        if b == close {
            self.at += 1;
            self.first.pop();
            return Some(false);
        }
        if !was_first {
            (b == b',').then_some(())?;
            self.at += 1;
            // A comma must be followed by a member or item, not the end.
            (self.peek()? != close).then_some(())?;
        }
        Some(true)
    }

    /// The name of the open object's next member, the cursor then at its
    /// value; `Ok(None)` at the object's end. `None` when the text is off,
    /// or the name has an escape or a control character.
    pub fn next_member(&mut self) -> Option<Option<&'a str>> {
        if !self.more(b'}')? {
            return Some(None);
        }
        (self.peek()? == b'"').then_some(())?;
        let end = string_end(self.bytes(), self.at)?;
        let name = self.text.get(self.at + 1..end - 1)?;
        if name.bytes().any(|c| c == b'\\' || c < 0x20) {
            return None;
        }
        self.at = end;
        (self.peek()? == b':').then_some(())?;
        self.at += 1;
        Some(Some(name))
    }

    /// Whether the open array has another item (the cursor then at it).
    pub fn next_item(&mut self) -> Option<bool> {
        self.more(b']')
    }

    /// The next value's text, skipped without being checked.
    pub fn value(&mut self) -> Option<&'a str> {
        let start = blanks(self.bytes(), self.at);
        let end = value_end(self.bytes(), start)?;
        self.at = end;
        self.text.get(start..end)
    }

    /// Decodes the next value as `T` with `serde_json`, where it stands (the
    /// value read once, decoded and measured in the same pass), and returns
    /// it with its text. Decoding checks that text to be JSON.
    pub fn decode<T: Deserialize<'a>>(&mut self) -> Decoded<'a, T> {
        let start = blanks(self.bytes(), self.at);
        let Some(rest) = self.text.get(start..) else {
            return Decoded::NotJson;
        };
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        match stream.next() {
            Some(Ok(value)) => {
                let end = start + stream.byte_offset();
                self.at = end;
                Decoded::Ok(value, &self.text[start..end])
            }
            Some(Err(e)) if e.classify() == serde_json::error::Category::Data => {
                // Not a `T`: if the value is JSON all the same, it is the
                // value's own error, and the walk goes on after it.
                match self.value() {
                    Some(text) if is_json(text) => Decoded::Invalid(text),
                    _ => Decoded::NotJson,
                }
            }
            _ => Decoded::NotJson,
        }
    }

    /// Whether the next value is `null` (then skipped).
    pub fn null(&mut self) -> Option<bool> {
        self.peek()?;
        let is_null = self.bytes()[self.at..].starts_with(b"null")
            && !matches!(self.bytes().get(self.at + 4), Some(c) if c.is_ascii_alphanumeric());
        if is_null {
            self.at += 4;
        }
        Some(is_null)
    }

    /// Checks that everything was walked: only blanks are left and nothing
    /// is open.
    pub fn end(&mut self) -> Option<()> {
        (self.first.is_empty() && blanks(self.bytes(), self.at) == self.text.len()).then_some(())
    }
}

/// What [`Outline::decode`] found.
#[derive(Debug)]
pub enum Decoded<'a, T> {
    /// The value, with its text.
    Ok(T, &'a str),
    /// JSON, but not a `T`: its text (the cursor is after it).
    Invalid(&'a str),
    /// Not JSON, or not found: the page is to be read another way.
    NotJson,
}

/// Members as one compact JSON object, in their order, values as they are
/// (member names borrowed from a page had no escapes and are written as
/// they are; owned ones are escaped).
pub fn object_text(members: &[(Cow<'_, str>, &str)]) -> String {
    let len: usize = members.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = String::with_capacity(len.max(1) + 1);
    out.push('{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match name {
            Cow::Borrowed(name) => {
                out.push('"');
                out.push_str(name);
                out.push('"');
            }
            Cow::Owned(name) => {
                out.push_str(&serde_json::to_string(name).expect("a string serializes"));
            }
        }
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// A response body as text, when it is UTF-8 (checked at once for the
/// whole page).
pub fn page_text(body: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(body).ok()
}

/// Whether `text` is one JSON value, checked by `serde_json` (for the parts
/// of a page nobody decodes).
pub fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// The index after the JSON blanks from `i`.
fn blanks(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index after the string whose opening quote is at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        // Most strings are short: a plain loop finds their end sooner than
        // `memchr` is set up; long ones go to `memchr`.
        let short = b.get(i..(i + 24).min(b.len()))?;
        let j = match short.iter().position(|&c| c == b'"' || c == b'\\') {
            Some(k) => i + k,
            None => i + short.len() + memchr::memchr2(b'"', b'\\', b.get(i + short.len()..)?)?,
        };
        if b[j] == b'"' {
            return Some(j + 1);
        }
        // An escape: its next byte cannot end the string.
        i = j + 2;
    }
}

/// The index after the value that starts at `i` (a string, an object or
/// array with everything in it, or a bare scalar), found without checking
/// it.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                match c {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        b',' | b'}' | b']' | b':' => None,
        _ => {
            let mut j = i;
            while !matches!(
                b.get(j),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                j += 1;
            }
            Some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The members of an object text, each value as text.
    fn members(text: &str) -> Option<Vec<(&str, &str)>> {
        let mut o = Outline::new(text);
        o.object()?;
        let mut out = Vec::new();
        while let Some(name) = o.next_member()? {
            out.push((name, o.value()?));
        }
        o.end()?;
        Some(out)
    }

    /// The items of an array text.
    fn items(text: &str) -> Option<Vec<&str>> {
        let mut o = Outline::new(text);
        o.array()?;
        let mut out = Vec::new();
        while o.next_item()? {
            out.push(o.value()?);
        }
        o.end()?;
        Some(out)
    }

    #[test]
    fn members_and_items_are_the_texts_between_the_punctuation() {
        let page = r#" { "chats" : [ {"id":1,"m":"a,}]\"b","n":[{"x":"]"}]} ,
            {"id": "2" } ] , "total":  3, "t":true,"f":null }"#;
        let top = members(page).unwrap();
        let names: Vec<&str> = top.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["chats", "total", "t", "f"]);
        assert_eq!(top[1].1, "3");
        assert_eq!((top[2].1, top[3].1), ("true", "null"));
        let chats = items(top[0].1).unwrap();
        assert_eq!(
            chats,
            [
                r#"{"id":1,"m":"a,}]\"b","n":[{"x":"]"}]}"#,
                r#"{"id": "2" }"#
            ]
        );
        let first = members(chats[0]).unwrap();
        assert_eq!(first[1], ("m", r#""a,}]\"b""#));
        assert_eq!(first[2].1, r#"[{"x":"]"}]"#);
        assert_eq!(items(" [ ] ").unwrap().len(), 0);
        assert_eq!(members("{}").unwrap().len(), 0);
        assert_eq!(items(r#"["\\",1]"#).unwrap(), [r#""\\""#, "1"]);
        let long = format!(r#"["{}\"{}", 2]"#, "x".repeat(40), "y".repeat(70));
        assert_eq!(items(&long).unwrap()[1], "2");
        // Walking into nested parts in the same pass.
        let mut o = Outline::new(page);
        o.object().unwrap();
        assert_eq!(o.next_member(), Some(Some("chats")));
        o.array().unwrap();
        assert_eq!(o.next_item(), Some(true));
        o.object().unwrap();
        assert_eq!(o.next_member(), Some(Some("id")));
        assert_eq!(o.null(), Some(false));
        assert_eq!(o.value(), Some("1"));
        assert_eq!(o.next_member(), Some(Some("m")));
        assert_eq!(o.value(), Some(r#""a,}]\"b""#));
        assert_eq!(o.next_member(), Some(Some("n")));
        o.value().unwrap();
        assert_eq!(o.next_member(), Some(None));
        assert_eq!(o.next_item(), Some(true));
        assert_eq!(o.value(), Some(r#"{"id": "2" }"#));
        assert_eq!(o.next_item(), Some(false));
        assert_eq!(o.end(), None, "the page object is still open");
    }

    #[test]
    fn anything_unusual_is_left_to_the_parser() {
        for text in [
            "",
            "[]",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":1} x"#,
            r#"{"\u0061":1}"#,
            "{\"a\u{1}\":1}",
            r#"{"a":"unterminated}"#,
            r#"{"a":[1,2}"#,
            r#"{a:1}"#,
            r#"{,"a":1}"#,
        ] {
            assert_eq!(members(text), None, "{text:?}");
        }
        for text in ["{}", "[1,]", "[,1]", "[1 2]", "[1", "[1]]", "[\"a]"] {
            assert_eq!(items(text), None, "{text:?}");
        }
        #[derive(Debug, serde::Deserialize)]
        struct Rec {
            n: u8,
        }
        let mut o = Outline::new(r#"[{"n":1} , {"n":"x"},{"n":2,"m":[1,"]"]}, {"n":3 ]"#);
        o.array().unwrap();
        let mut got = Vec::new();
        while o.next_item() == Some(true) {
            got.push(match o.decode::<Rec>() {
                Decoded::Ok(r, text) => format!("{} {text}", r.n),
                Decoded::Invalid(text) => format!("invalid {text}"),
                Decoded::NotJson => "not json".into(),
            });
            if got.last().is_some_and(|g| g == "not json") {
                break;
            }
        }
        assert_eq!(
            got,
            [
                r#"1 {"n":1}"#,
                r#"invalid {"n":"x"}"#,
                r#"2 {"n":2,"m":[1,"]"]}"#,
                "not json"
            ]
        );
        let members = [
            (Cow::Borrowed("a"), "[1, 2]"),
            (Cow::Owned("b\"c".into()), "null"),
        ];
        assert_eq!(object_text(&members), r#"{"a":[1, 2],"b\"c":null}"#);
        assert_eq!(object_text(&[]), "{}");
        let mut o = Outline::new("nullx");
        assert_eq!(o.null(), Some(false));
        assert!(is_json(r#"{"a":[1,"b"]}"#));
        assert!(!is_json("tru"));
    }
}
