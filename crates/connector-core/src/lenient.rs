//! Lenient field parsing, in one place, for every vendor's quirks:
//! numbers sent as strings or numbers (even within one response), dates with
//! or without zero padding, `yyyy-MM-ddTHH:mm:ssZ`, `HH:MM:SS` durations, and
//! empty strings meaning "absent".
//!
//! The `opt_*` functions are `#[serde(deserialize_with = "...")]` adapters for
//! wire structs (use them with `#[serde(default)]`); the `parse_*` functions
//! are the same rules on plain text. Errors say what was expected and what
//! came, and `serde_path_to_error` adds the JSON path.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use crate::time::WireTime;
use serde::de::{self, Deserializer, Visitor};

/// One JSON scalar as it came off the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null` (or a missing field).
    Null,
    /// A string.
    Str(Cow<'a, str>),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar<'_> {
    /// Applies `f` to the scalar as text (borrowed when it is a string), with
    /// `null` and `""` (and all-blank strings) as `None`.
    pub fn with_text<R>(self, f: impl FnOnce(&str) -> R) -> Option<R> {
        match self {
            Scalar::Null => None,
            Scalar::Str(s) if is_blank(&s) => None,
            Scalar::Str(s) => Some(f(&s)),
            Scalar::U64(n) => Some(f(itoa::Buffer::new().format(n))),
            Scalar::I64(n) => Some(f(itoa::Buffer::new().format(n))),
            Scalar::F64(n) => Some(f(&n.to_string())),
            Scalar::Bool(b) => Some(f(if b { "true" } else { "false" })),
        }
    }

    /// The scalar as text, with `null` and `""` (and all-blank strings) as `None`.
    pub fn into_text(self) -> Option<String> {
        match self {
            Scalar::Null => None,
            Scalar::Str(s) if is_blank(&s) => None,
            Scalar::Str(s) => Some(s.into_owned()),
            Scalar::U64(n) => Some(itoa::Buffer::new().format(n).to_owned()),
            Scalar::I64(n) => Some(itoa::Buffer::new().format(n).to_owned()),
            Scalar::F64(n) => Some(n.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
        }
    }
}

/// Whether text is empty or all white space (as `str::trim` sees it),
/// answered at the first byte for text that starts with a visible ASCII
/// character, as nearly all does.
pub fn is_blank(text: &str) -> bool {
    match text.as_bytes().first() {
        None => true,
        // Every ASCII white space character is at or below the space.
        Some(&b) if b > b' ' && b.is_ascii() => false,
        Some(_) => text.chars().all(char::is_whitespace),
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number, a boolean or null")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(if v >= 0 {
            Scalar::U64(v as u64)
        } else {
            Scalar::I64(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
}

/// Reads any JSON scalar; objects and arrays are an error.
pub fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar<'de>, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

/// Text from a string, number or boolean; `null` and `""` are absent.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(scalar(d)?.into_text())
}

/// Like [`opt_string`], borrowing the text from the input when it can: for
/// fields read and not kept (codes mapped to an enum).
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::Str(s) if is_blank(&s) => None,
        Scalar::Str(s) => Some(s),
        other => other.into_text().map(Cow::Owned),
    })
}

/// Any JSON value as text: strings as they are (blank → absent), `null` →
/// absent, numbers and booleans as written, objects and arrays as compact
/// JSON. For fields documented as text that some servers send otherwise
/// (a rating, a checkbox's values), so that no value is an error.
pub fn opt_any_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if is_blank(&s) => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// A list that PHP servers may send as an array, as `null`, or as an object:
/// `{}` for an empty list, `{"0": a, "2": b}` for one with gaps in its keys
/// (its values taken in order). `null` is absent.
pub fn opt_php_list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<php::List<T>>::deserialize(d)?.map(|l| l.0))
}

/// An object that PHP servers may send as `[]` when it is empty: `null` and
/// `[]` are absent; anything else must be the object `T`.
pub fn opt_php_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<php::Object<T>>::deserialize(d)?.and_then(|o| o.0))
}

/// The shapes PHP's `json_encode` gives lists and objects (`null` is left to
/// the `Option` around them).
mod php {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// An array, or an object whose values are the items.
    pub(super) struct List<T>(pub(super) Vec<T>);

    /// An object, or `[]` for none.
    pub(super) struct Object<T>(pub(super) Option<T>);

    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
        type Value = List<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list (an array, or an object of its items) or null")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(List(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some((_, item)) = map.next_entry::<IgnoredAny, T>()? {
                items.push(item);
            }
            Ok(List(items))
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ListVisitor(PhantomData))
        }
    }

    struct ObjectVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = Object<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object, `[]` or null")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            match seq.next_element::<IgnoredAny>()? {
                None => Ok(Object(None)),
                Some(_) => Err(de::Error::invalid_type(de::Unexpected::Seq, &self)),
            }
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|v| Object(Some(v)))
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ObjectVisitor(PhantomData))
        }
    }
}

/// A required id: a string or a number, never empty.
pub fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d)?
        .into_text()
        .ok_or_else(|| de::Error::custom("expected an id (string or number), got null or \"\""))
}

/// An unsigned integer sent as a number or a string; `null` and `""` are absent.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match scalar(d)? {
        Scalar::U64(n) => Ok(Some(n)),
        Scalar::F64(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e19 => Ok(Some(f as u64)),
        other => other
            .with_text(parse_u64)
            .transpose()
            .map_err(de::Error::custom),
    }
}

/// An unsigned integer where a value that is not one is no error but absent
/// (the record's `raw` keeps it): for descriptive fields such as a file's
/// size, which some servers send as `"1.2 MB"`. Whole floats and integer text
/// count; a fraction is rounded.
pub fn opt_u64_or_absent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| (0.0..1e19).contains(f))
                .map(|f| f.round() as u64)
        }),
        serde_json::Value::String(s) => parse_u64(&s).ok(),
        _ => None,
    })
}

/// A boolean sent as `true`/`false`, `1`/`0` or `"1"`/`"0"`; `null` and `""` are absent.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match scalar(d)? {
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::U64(0) => Ok(Some(false)),
        Scalar::U64(1) => Ok(Some(true)),
        other => other
            .with_text(|text| match text {
                "0" | "false" => Ok(false),
                "1" | "true" => Ok(true),
                text => Err(format!("expected a boolean (0/1/true/false), got `{text}`")),
            })
            .transpose()
            .map_err(de::Error::custom),
    }
}

/// A local date-time without offset (`2017-8-23 12:23:12`, `2017-08-20 10:23:34`,
/// `2017-08-20T10:23:34`); `null`, `""` and MySQL's zero date are absent.
pub fn opt_naive_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<NaiveDateTime>, D::Error> {
    scalar(d)?
        .with_text(parse_naive_datetime)
        .transpose()
        .map(Option::flatten)
        .map_err(de::Error::custom)
}

/// A vendor's time ([`WireTime`]): a local date-time as
/// [`opt_naive_datetime`] reads it, or a date-time with an offset
/// (`2017-08-20T10:23:34+08:00`, `2017-08-20 02:23:34Z`), kept as that
/// instant whatever the account's zone; `null`, `""` and MySQL's zero date
/// are absent.
pub fn opt_wire_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WireTime>, D::Error> {
    scalar(d)?
        .with_text(parse_wire_time)
        .transpose()
        .map(Option::flatten)
        .map_err(de::Error::custom)
}

/// [`opt_wire_time`] on plain text: `yyyy-M-d`, then optionally a blank or
/// a `T` and `H:m` or `H:m:s` (a fraction allowed), then optionally an
/// offset (`Z`, `+08:00`, `+0800`). Zero padding is optional throughout;
/// blanks around the text are ignored.
///
/// # Errors
/// "expected a date-time like …" naming the text when it is none of these.
pub fn parse_wire_time(text: &str) -> Result<Option<WireTime>, String> {
    let t = text.trim();
    if t.starts_with("0000-00-00") {
        return Ok(None);
    }
    read_wire_time(t).map(Some).ok_or_else(|| {
        format!(
            "expected a date-time like 2017-08-23 12:23:12, got `{}`",
            clip(text)
        )
    })
}

/// The parts of a vendor's time, as chrono's parser reads them. Each
/// number may come with or without zero padding.
mod wire_time_items {
    use chrono::format::{Fixed, Item, Numeric, Pad};

    pub(super) const DATE: &[Item<'static>] = &[
        Item::Numeric(Numeric::Year, Pad::Zero),
        Item::Literal("-"),
        Item::Numeric(Numeric::Month, Pad::Zero),
        Item::Literal("-"),
        Item::Numeric(Numeric::Day, Pad::Zero),
    ];
    pub(super) const CLOCK: &[Item<'static>] = &[
        Item::Numeric(Numeric::Hour, Pad::Zero),
        Item::Literal(":"),
        Item::Numeric(Numeric::Minute, Pad::Zero),
    ];
    pub(super) const SECONDS: &[Item<'static>] = &[
        Item::Literal(":"),
        Item::Numeric(Numeric::Second, Pad::Zero),
        Item::Fixed(Fixed::Nanosecond),
    ];
    /// `Z`, `+08:00` or `+0800`.
    pub(super) const OFFSET: &[Item<'static>] = &[Item::Fixed(Fixed::TimezoneOffsetZ)];
}

/// Reads a trimmed vendor time; `None` when it is not one.
fn read_wire_time(t: &str) -> Option<WireTime> {
    use chrono::format::{Parsed, parse_and_remainder};
    use wire_time_items::{CLOCK, DATE, OFFSET, SECONDS};
    // Four digits of year: chrono would read `17-8-23` as the year 17.
    let b = t.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut date = Parsed::new();
    let rest = parse_and_remainder(&mut date, t, DATE.iter()).ok()?;
    let date = date.to_naive_date().ok()?;
    let Some(rest) = rest.strip_prefix([' ', 'T']) else {
        return rest
            .is_empty()
            .then(|| WireTime::Local(date.and_time(NaiveTime::MIN)));
    };
    let mut clock = Parsed::new();
    let mut rest = parse_and_remainder(&mut clock, rest, CLOCK.iter()).ok()?;
    if rest.starts_with(':') {
        rest = parse_and_remainder(&mut clock, rest, SECONDS.iter()).ok()?;
    }
    let local = date.and_time(clock.to_naive_time().ok()?);
    if rest.is_empty() {
        return Some(WireTime::Local(local));
    }
    let mut zone = Parsed::new();
    if !parse_and_remainder(&mut zone, rest, OFFSET.iter())
        .ok()?
        .is_empty()
    {
        return None;
    }
    let offset = FixedOffset::east_opt(zone.offset()?)?;
    let instant = offset.from_local_datetime(&local).single()?;
    Some(WireTime::Instant(instant.with_timezone(&Utc)))
}

/// A duration as `HH:MM:SS` (hours may exceed 24) or as integer seconds;
/// `null` and `""` are absent.
pub fn opt_duration_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match scalar(d)? {
        Scalar::U64(n) => Ok(Some(n)),
        other => other
            .with_text(parse_duration_secs)
            .transpose()
            .map_err(de::Error::custom),
    }
}

/// Parses an unsigned integer from text, allowing surrounding blanks.
///
/// # Errors
/// A message naming the text when it is not a non-negative integer.
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let t = text.trim();
    t.parse::<u64>().or_else(|_| {
        // "12.0" is an integer in a float's clothing; anything else is an error.
        match t.parse::<f64>() {
            Ok(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e19 => Ok(f as u64),
            _ => Err(format!(
                "expected a non-negative integer, got `{}`",
                clip(text)
            )),
        }
    })
}

/// Parses a local date-time with or without zero padding, as
/// [`parse_wire_time`] reads it but without an offset; `Ok(None)` for the
/// zero date `0000-00-00 00:00:00`.
///
/// # Errors
/// A message naming the text when it is not a local date-time.
pub fn parse_naive_datetime(text: &str) -> Result<Option<NaiveDateTime>, String> {
    match parse_wire_time(text) {
        Ok(Some(WireTime::Local(t))) => Ok(Some(t)),
        Ok(None) => Ok(None),
        Ok(Some(WireTime::Instant(_))) | Err(_) => Err(format!(
            "expected a date-time like 2017-08-23 12:23:12, got `{}`",
            clip(text)
        )),
    }
}

/// Parses a date with or without zero padding (`2017-8-3`, `2017-08-03`).
///
/// # Errors
/// A message naming the text when it is not a date.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    match read_wire_time(text.trim()) {
        Some(WireTime::Local(t)) if !text.trim().contains([' ', 'T']) => Ok(t.date()),
        _ => Err(format!(
            "expected a date like 2017-08-23, got `{}`",
            clip(text)
        )),
    }
}

/// Parses `yyyy-MM-ddTHH:mm:ssZ` (any RFC 3339 instant) into UTC.
///
/// # Errors
/// A message naming the text when it is not an RFC 3339 instant.
pub fn parse_utc(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "expected an instant like 2023-04-22T02:48:30Z, got `{}`",
                clip(text)
            )
        })
}

/// Formats an instant as `yyyy-MM-ddTHH:mm:ssZ` (whole seconds, UTC).
pub fn format_utc_z(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses `HH:MM:SS` (or `MM:SS`, or plain seconds) into seconds.
///
/// # Errors
/// A message naming the text when it is not such a duration.
pub fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "expected a duration like 00:01:05 (HH:MM:SS) or seconds, got `{}`",
            clip(text)
        )
    };
    let t = text.trim();
    if !t.contains(':') {
        return t.parse::<u64>().map_err(|_| bad());
    }
    let parts: Vec<&str> = t.split(':').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| p.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (h, m, s) = match nums.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return Err(bad()),
    };
    if m >= 60 || s >= 60 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60 + s)
}

/// Shortens text for an error message (a 10 MB string must not become a 10 MB error).
pub fn clip(text: &str) -> Cow<'_, str> {
    clip_to(text, 60)
}

/// Shortens text to at most `max` bytes (on a character boundary), saying
/// how long it was.
pub fn clip_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        Cow::Borrowed(text)
    } else {
        let end = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct W {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "opt_naive_datetime")]
        t: Option<NaiveDateTime>,
        #[serde(default, deserialize_with = "opt_duration_secs")]
        d: Option<u64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
    }

    /// Decodes `json` as `T`, an error as `message at path`.
    fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{} at {}", e.inner(), e.path()))
    }

    fn w(json: &str) -> Result<W, String> {
        decode(json)
    }

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn blank_is_what_trim_empties() {
        for text in [
            "",
            " ",
            "\t\r\n",
            "\u{b}",
            "\u{3000}",
            " \u{a0}",
            "a",
            " a",
            "\u{3000}你",
            "你好",
            "~",
            "\u{7f}",
            "0",
            "\u{85}",
        ] {
            assert_eq!(is_blank(text), text.trim().is_empty(), "{text:?}");
        }
        assert_eq!(w(r#"{"s":"\u3000 ","n":" "}"#).unwrap().s, None);
    }

    #[test]
    fn strings_numbers_and_empties() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"s":"122"}"#, Some("122")),
            (r#"{"s":111}"#, Some("111")),
            (r#"{"s":"u2_6_412696422494"}"#, Some("u2_6_412696422494")),
            (r#"{"s":213}"#, Some("213")),
            (r#"{"s":""}"#, None),
            (r#"{"s":"   "}"#, None),
            (r#"{"s":null}"#, None),
            (r#"{}"#, None),
            (r#"{"s":"归属地为北京市"}"#, Some("归属地为北京市")),
        ];
        for (json, want) in cases {
            assert_eq!(w(json).unwrap().s.as_deref(), *want, "{json}");
        }
        assert!(w(r#"{"s":{"a":1}}"#).unwrap_err().contains("at s"));
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        #[serde(default, deserialize_with = "opt_u64")]
        n: Option<u64>,
    }

    #[derive(Deserialize, Debug)]
    struct Php {
        #[serde(default, deserialize_with = "opt_any_text")]
        any: Option<String>,
        #[serde(default, deserialize_with = "opt_php_list")]
        list: Option<Vec<Item>>,
        #[serde(default, deserialize_with = "opt_php_object")]
        obj: Option<Item>,
        #[serde(default, deserialize_with = "opt_u64_or_absent")]
        size: Option<u64>,
    }

    fn php(json: &str) -> Result<Php, String> {
        decode(json)
    }

    #[test]
    fn any_value_as_text() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"any":"good"}"#, Some("good")),
            (r#"{"any":" "}"#, None),
            (r#"{"any":null}"#, None),
            (r#"{"any":5}"#, Some("5")),
            (r#"{"any":false}"#, Some("false")),
            (r#"{"any":["1", 2]}"#, Some(r#"["1",2]"#)),
            (r#"{"any":{"a": "b"}}"#, Some(r#"{"a":"b"}"#)),
        ];
        for (json, want) in cases {
            assert_eq!(php(json).unwrap().any.as_deref(), *want, "{json}");
        }
    }

    #[test]
    fn php_lists_and_objects() {
        let item = |n| Item { n: Some(n) };
        assert_eq!(
            php(r#"{"list":[{"n":1},{"n":"2"}]}"#).unwrap().list,
            Some(vec![item(1), item(2)])
        );
        assert_eq!(php(r#"{"list":{}}"#).unwrap().list, Some(vec![]));
        assert_eq!(
            php(r#"{"list":{"0":{"n":1},"2":{"n":3}}}"#).unwrap().list,
            Some(vec![item(1), item(3)])
        );
        assert_eq!(php(r#"{"list":null}"#).unwrap().list, None);
        // An item's own error keeps its path.
        let e = php(r#"{"list":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        assert!(e.ends_with("at list[1].n"), "{e}");
        assert!(php(r#"{"list":"x"}"#).unwrap_err().ends_with("at list"));
        assert_eq!(php(r#"{"obj":{"n":4}}"#).unwrap().obj, Some(item(4)));
        assert_eq!(php(r#"{"obj":[]}"#).unwrap().obj, None);
        assert_eq!(php(r#"{"obj":null}"#).unwrap().obj, None);
        assert!(php(r#"{"obj":[1]}"#).unwrap_err().ends_with("at obj"));
        let e = php(r#"{"obj":{"n":"x"}}"#).unwrap_err();
        assert!(e.ends_with("at obj.n"), "{e}");
    }

    #[test]
    fn a_size_that_is_not_a_number_is_absent() {
        let cases: &[(&str, Option<u64>)] = &[
            (r#"{"size":3}"#, Some(3)),
            (r#"{"size":"3"}"#, Some(3)),
            (r#"{"size":2.6}"#, Some(3)),
            (r#"{"size":"1.2 MB"}"#, None),
            (r#"{"size":-1}"#, None),
            (r#"{"size":null}"#, None),
            (r#"{"size":{}}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(php(json).unwrap().size, *want, "{json}");
        }
    }

    #[test]
    fn times_local_or_with_an_offset() {
        let local = |s: &str| Some(WireTime::Local(dt(s)));
        let instant = |s: &str| {
            Some(WireTime::Instant(
                DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc),
            ))
        };
        let cases = [
            ("2017-8-23 12:23:12", local("2017-08-23 12:23:12")),
            ("2017-08-20T10:23:34", local("2017-08-20 10:23:34")),
            ("2017-08-20T10:23:34+08:00", instant("2017-08-20T02:23:34Z")),
            ("2017-08-20 10:23:34+08:00", instant("2017-08-20T02:23:34Z")),
            ("2017-08-20T10:23:34+0800", instant("2017-08-20T02:23:34Z")),
            ("2017-08-20T02:23:34Z", instant("2017-08-20T02:23:34Z")),
            ("2017-08-20 02:23:34Z", instant("2017-08-20T02:23:34Z")),
            ("2017-08-20T02:23:34.5Z", instant("2017-08-20T02:23:34.5Z")),
            (
                " 2017-08-20T09:23:34+07:00 ",
                instant("2017-08-20T02:23:34Z"),
            ),
            ("0000-00-00 00:00:00", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_wire_time(text), Ok(want), "{text}");
        }
        // An instant keeps its offset whatever the zone; a local time is read in it.
        let zone: crate::time::Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        assert_eq!(
            parse_wire_time("2017-08-20T10:23:34+08:00")
                .unwrap()
                .unwrap()
                .to_utc(zone),
            DateTime::parse_from_rfc3339("2017-08-20T02:23:34Z").unwrap()
        );
        assert_eq!(
            parse_wire_time("2017-08-20 09:23:34")
                .unwrap()
                .unwrap()
                .to_utc(zone),
            DateTime::parse_from_rfc3339("2017-08-20T02:23:34Z").unwrap()
        );
        for bad in [
            "yesterday",
            "2017-08-20T10:23:34+25:00",
            "2017-13-20T10:23:34Z",
        ] {
            let e = parse_wire_time(bad).unwrap_err();
            assert!(e.contains("expected a date-time like"), "{bad}: {e}");
        }
    }

    #[test]
    fn integers_as_strings_or_numbers() {
        let cases: &[(&str, Option<u64>)] = &[
            (r#"{"n":"23"}"#, Some(23)),
            (r#"{"n":23}"#, Some(23)),
            (r#"{"n":" 23 "}"#, Some(23)),
            (r#"{"n":"23.0"}"#, Some(23)),
            (r#"{"n":39.0}"#, Some(39)),
            (r#"{"n":""}"#, None),
            (r#"{"n":null}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(w(json).unwrap().n, *want, "{json}");
        }
        for bad in [
            r#"{"n":"abc"}"#,
            r#"{"n":-1}"#,
            r#"{"n":"-5"}"#,
            r#"{"n":2.5}"#,
        ] {
            let e = w(bad).unwrap_err();
            assert!(
                e.contains("non-negative integer") && e.ends_with("at n"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn every_form_padded_or_not_and_what_is_refused() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2024-01-01 15:35:48", Some("2024-01-01 15:35:48")),
            ("2024-1-1 5:6:7", Some("2024-01-01 05:06:07")),
            ("2024-01-01T15:35:48", Some("2024-01-01 15:35:48")),
            (" 2024-01-01 15:35:48 ", Some("2024-01-01 15:35:48")),
            ("2024-01-01 15:35", Some("2024-01-01 15:35:00")),
            ("2024-01-01", Some("2024-01-01 00:00:00")),
            ("2024-02-30 10:00:00", None),
            ("2024-01-01 24:00:00", None),
            ("2024-01-01 15:61:00", None),
            ("2024-01-01 15:35:48 x", None),
            ("2024-01-01X15:35:48", None),
            ("20240-1-1 1:1:1", None),
            ("224-1-1 1:1:1", None),
            ("+2024-1-1 1:1:1", None),
            ("2024-001-1 1:1:1", None),
            ("2024-1-1 1:1:1.x", None),
        ];
        for (text, want) in cases {
            let got = parse_naive_datetime(text).ok().flatten();
            assert_eq!(got, want.map(dt), "{text}");
        }
        assert_eq!(parse_date("2017-8-3"), Ok(dt("2017-08-03 00:00:00").date()));
        for bad in ["2017-08-03 10:00:00", "2017-8", "17-8-3", "2017-02-30"] {
            let e = parse_date(bad).unwrap_err();
            assert!(e.contains("expected a date like"), "{bad}: {e}");
        }
    }

    #[test]
    fn dates_padded_unpadded_and_odd() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"t":"2017-8-23 12:23:12"}"#, Some("2017-08-23 12:23:12")),
            (
                r#"{"t":"2017-08-20 10:23:34"}"#,
                Some("2017-08-20 10:23:34"),
            ),
            (r#"{"t":"2017-8-3 2:3:4"}"#, Some("2017-08-03 02:03:04")),
            (
                r#"{"t":"2015-04-25T08:04:12"}"#,
                Some("2015-04-25 08:04:12"),
            ),
            (r#"{"t":"2017-08-20"}"#, Some("2017-08-20 00:00:00")),
            (r#"{"t":"2017-08-20 10:23"}"#, Some("2017-08-20 10:23:00")),
            (r#"{"t":""}"#, None),
            (r#"{"t":null}"#, None),
            (r#"{"t":"0000-00-00 00:00:00"}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(w(json).unwrap().t, want.map(dt), "{json}");
        }
        let frac = w(r#"{"t":"2017-08-20 10:23:34.5"}"#).unwrap().t.unwrap();
        assert_eq!(frac.and_utc().timestamp_subsec_millis(), 500);
        for bad in [
            r#"{"t":"yesterday"}"#,
            r#"{"t":"2017-13-01 00:00:00"}"#,
            r#"{"t":"2017-02-30"}"#,
            r#"{"t":"17-8-23 1:2:3"}"#,
            r#"{"t":"2017-08-20 25:00:00"}"#,
            r#"{"t":12345}"#,
        ] {
            let e = w(bad).unwrap_err();
            assert!(
                e.contains("expected a date") && e.ends_with("at t"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn durations_hms_or_seconds() {
        let cases: &[(&str, Option<u64>)] = &[
            (r#"{"d":"00:00:08"}"#, Some(8)),
            (r#"{"d":"00:00:31"}"#, Some(31)),
            (r#"{"d":"01:02:03"}"#, Some(3723)),
            (r#"{"d":"100:00:00"}"#, Some(360_000)),
            (r#"{"d":"2:05"}"#, Some(125)),
            (r#"{"d":39}"#, Some(39)),
            (r#"{"d":"39"}"#, Some(39)),
            (r#"{"d":""}"#, None),
            (r#"{"d":null}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(w(json).unwrap().d, *want, "{json}");
        }
        for bad in [
            r#"{"d":"00:61:00"}"#,
            r#"{"d":"abc"}"#,
            r#"{"d":"1:2:3:4"}"#,
            r#"{"d":"00:-1:00"}"#,
            r#"{"d":"::"}"#,
        ] {
            let e = w(bad).unwrap_err();
            assert!(
                e.contains("expected a duration") && e.ends_with("at d"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn booleans() {
        for (json, want) in [
            (r#"{"b":1}"#, Some(true)),
            (r#"{"b":"0"}"#, Some(false)),
            (r#"{"b":true}"#, Some(true)),
            (r#"{"b":""}"#, None),
        ] {
            assert_eq!(w(json).unwrap().b, want, "{json}");
        }
        assert!(w(r#"{"b":"maybe"}"#).unwrap_err().contains("at b"));
    }

    #[test]
    fn utc_z_round_trip() {
        let t = parse_utc("2023-04-22T02:48:30Z").unwrap();
        assert_eq!(format_utc_z(t), "2023-04-22T02:48:30Z");
        assert!(
            parse_utc("2023-04-22 02:48:30")
                .unwrap_err()
                .contains("2023-04-22 02:48:30")
        );
    }

    #[test]
    fn long_text_is_clipped_in_errors() {
        let long = "x".repeat(10_000_000);
        let e = parse_u64(&long).unwrap_err();
        assert!(e.len() < 200, "{}", e.len());
        assert!(e.contains("10000000 bytes"));
    }
}
