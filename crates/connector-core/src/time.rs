//! Time zones: vendors send local wall-clock times without an offset; the
//! model holds UTC instants.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
pub use chrono_tz::Tz;

use crate::error::{Error, Result};

/// Parses an IANA zone name (`Asia/Shanghai`), naming the config field and
/// vendor in the error.
///
/// # Errors
/// [`Error::Config`] when the name is not a known IANA zone.
pub fn parse_zone(vendor: &str, name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::config(
            vendor,
            "timezone",
            format!("`{name}` is not an IANA time zone name (e.g. Asia/Shanghai)"),
        )
    })
}

/// Converts a naive local time in `zone` to UTC. An ambiguous time (clocks
/// going back) takes the earlier instant; a time that does not exist (clocks
/// going forward) is read as if the shift had not happened yet, as the
/// vendor's wall clock would have shown it.
pub fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        LocalResult::None => {
            // In a DST gap: use the offset in force just before it.
            let before = naive - chrono::Duration::hours(3);
            let offset = match zone.from_local_datetime(&before) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => *t.offset(),
                LocalResult::None => return Utc.from_utc_datetime(&naive),
            };
            use chrono::Offset;
            let secs = offset.fix().local_minus_utc();
            Utc.from_utc_datetime(&(naive - chrono::Duration::seconds(secs.into())))
        }
    }
}

/// The local date of a UTC instant in `zone`.
pub fn local_date(t: DateTime<Utc>, zone: Tz) -> NaiveDate {
    t.with_timezone(&zone).date_naive()
}

/// The local dates that cover the half-open UTC window `[since, until)` in
/// `zone`, for APIs whose date filters are whole local days with an
/// inclusive end: the first is the day of `since`; the last is the day of the
/// last instant before `until`.
pub fn covering_local_dates(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    zone: Tz,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let first = since.map(|s| local_date(s, zone));
    let last = until.map(|u| local_date(u - chrono::Duration::nanoseconds(1), zone));
    (first, last)
}

/// Widens a date range by `days` on each side (for APIs whose date filters
/// have undocumented zones or inclusiveness).
pub fn widen_dates(
    (first, last): (Option<NaiveDate>, Option<NaiveDate>),
    days: u64,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        first.map(|d| d.checked_sub_days(Days::new(days)).unwrap_or(d)),
        last.map(|d| d.checked_add_days(Days::new(days)).unwrap_or(d)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn shanghai_and_saigon_to_utc() {
        let n = NaiveDateTime::parse_from_str("2017-08-23 12:23:12", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            local_to_utc(n, chrono_tz::Asia::Shanghai),
            utc("2017-08-23T04:23:12Z")
        );
        assert_eq!(
            local_to_utc(n, chrono_tz::Asia::Ho_Chi_Minh),
            utc("2017-08-23T05:23:12Z")
        );
    }

    #[test]
    fn dst_gap_and_overlap_do_not_fail() {
        let gap =
            NaiveDateTime::parse_from_str("2021-03-14 02:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            local_to_utc(gap, chrono_tz::America::New_York),
            utc("2021-03-14T07:30:00Z")
        );
        let overlap =
            NaiveDateTime::parse_from_str("2021-11-07 01:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            local_to_utc(overlap, chrono_tz::America::New_York),
            utc("2021-11-07T05:30:00Z")
        );
    }

    #[test]
    fn covering_dates_use_local_days_and_exclusive_until() {
        let z = chrono_tz::Asia::Shanghai;
        // 2017-08-28T16:00Z is 2017-08-29 00:00 in Shanghai: the window ends before it.
        let (a, b) = covering_local_dates(
            Some(utc("2017-08-20T15:59:59Z")),
            Some(utc("2017-08-28T16:00:00Z")),
            z,
        );
        assert_eq!(a.unwrap().to_string(), "2017-08-20");
        assert_eq!(b.unwrap().to_string(), "2017-08-28");
        let (a, b) = widen_dates((a, b), 1);
        assert_eq!(
            (a.unwrap().to_string(), b.unwrap().to_string()),
            ("2017-08-19".into(), "2017-08-29".into())
        );
    }

    #[test]
    fn bad_zone_names_the_field() {
        let e = parse_zone("kf5", "Mars/Olympus").unwrap_err().to_string();
        assert!(
            e.contains("kf5") && e.contains("timezone") && e.contains("Mars/Olympus"),
            "{e}"
        );
    }
}
