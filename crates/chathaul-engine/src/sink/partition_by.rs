//! How partitioned output names its partitions: the time unit, and the
//! escaping of values in hive-style path segments. (No Parquet here: the
//! command line parses `--partition-by` in any build.)

use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use connector_core::{Error, Result};

/// The value of a partition key that has no value (a conversation with no
/// creation time, an empty account), as Hive, Spark and DuckDB spell it: they
/// read it as null.
pub const NO_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// How finely partitioned output splits time: by the UTC date or month a
/// conversation was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionBy {
    /// One partition per UTC day: `date=2024-03-01`.
    Day,
    /// One partition per UTC month: `date=2024-03`.
    Month,
}

impl PartitionBy {
    /// The name (`day`, `month`).
    pub fn name(self) -> &'static str {
        match self {
            PartitionBy::Day => "day",
            PartitionBy::Month => "month",
        }
    }

    /// The `date=` value of a conversation created at `created_at`
    /// ([`NO_VALUE`] when it has no creation time).
    pub fn date_value(self, created_at: Option<DateTime<Utc>>) -> String {
        match (self, created_at) {
            (_, None) => NO_VALUE.to_owned(),
            (PartitionBy::Day, Some(t)) => t.format("%Y-%m-%d").to_string(),
            (PartitionBy::Month, Some(t)) => t.format("%Y-%m").to_string(),
        }
    }

    /// The instants `[start, end)` a `date=` value stands for (`None` for
    /// [`NO_VALUE`] or a value of the other unit).
    pub fn bounds(self, value: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = match self {
            PartitionBy::Day => NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?,
            PartitionBy::Month => NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d")
                .ok()
                .filter(|d| d.day() == 1)?,
        };
        let end = match self {
            PartitionBy::Day => start.succ_opt()?,
            PartitionBy::Month => start.checked_add_months(Months::new(1))?,
        };
        Some((
            start.and_time(chrono::NaiveTime::MIN).and_utc(),
            end.and_time(chrono::NaiveTime::MIN).and_utc(),
        ))
    }
}

impl FromStr for PartitionBy {
    type Err = Error;

    /// `day` or `month`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(PartitionBy::Day),
            "month" => Ok(PartitionBy::Month),
            _ => Err(Error::Query(format!(
                "partition_by must be `day` or `month`, not `{s}`"
            ))),
        }
    }
}

impl std::fmt::Display for PartitionBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A value as a path segment: the characters Hive escapes (path separators,
/// `=`, `%`, quotes, wildcards, control characters) as `%XX`, which Hive,
/// Spark and DuckDB decode; an empty value as [`NO_VALUE`].
pub fn escape_value(value: &str) -> String {
    if value.is_empty() {
        return NO_VALUE.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let escaped = c.is_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '{'
                    | '}'
                    | '['
                    | ']'
                    | '^'
                    | '<'
                    | '>'
                    | '|'
            );
        if escaped {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn values_are_escaped_as_hive_escapes_them() {
        for (value, segment) in [
            ("admin@demo", "admin@demo"),
            ("Hà Nội 王", "Hà Nội 王"),
            ("team/a", "team%2Fa"),
            ("a=b", "a%3Db"),
            ("50%", "50%25"),
            ("x:y?*", "x%3Ay%3F%2A"),
            ("tab\there", "tab%09here"),
            ("", NO_VALUE),
        ] {
            assert_eq!(escape_value(value), segment, "{value:?}");
        }
    }

    #[test]
    fn date_values_and_their_bounds_are_utc() {
        let t = Utc.with_ymd_and_hms(2024, 2, 29, 23, 30, 0).unwrap();
        assert_eq!(PartitionBy::Day.date_value(Some(t)), "2024-02-29");
        assert_eq!(PartitionBy::Month.date_value(Some(t)), "2024-02");
        assert_eq!(PartitionBy::Day.date_value(None), NO_VALUE);
        let day = |d: u32, m: u32| Utc.with_ymd_and_hms(2024, m, d, 0, 0, 0).unwrap();
        assert_eq!(
            PartitionBy::Day.bounds("2024-02-29"),
            Some((day(29, 2), day(1, 3)))
        );
        assert_eq!(
            PartitionBy::Month.bounds("2024-02"),
            Some((day(1, 2), day(1, 3)))
        );
        assert_eq!(PartitionBy::Day.bounds(NO_VALUE), None);
        assert_eq!(PartitionBy::Month.bounds("2024-02-29"), None);
    }

    #[test]
    fn day_or_month_by_name() {
        assert_eq!("Day".parse::<PartitionBy>().unwrap(), PartitionBy::Day);
        assert_eq!("month".parse::<PartitionBy>().unwrap(), PartitionBy::Month);
        assert_eq!(
            "week".parse::<PartitionBy>().unwrap_err().to_string(),
            "invalid query: partition_by must be `day` or `month`, not `week`"
        );
    }
}
