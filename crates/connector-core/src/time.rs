//! Time zones: vendors send local wall-clock times without an offset; the
//! model holds UTC instants.

use std::cell::Cell;

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike,
    Utc,
};
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

/// A time as a vendor sent it: a local wall-clock time without an offset
/// (the form every vendor documents), or an instant with its offset, from a
/// server that adds one (`2017-08-20T10:23:34+08:00`, `…Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireTime {
    /// A local wall-clock time, to be read in the account's zone.
    Local(NaiveDateTime),
    /// An instant, whatever the account's zone.
    Instant(DateTime<Utc>),
}

impl WireTime {
    /// The UTC instant: a local time read in `zone` ([`local_to_utc`]), an
    /// instant as it is.
    pub fn to_utc(self, zone: Tz) -> DateTime<Utc> {
        match self {
            WireTime::Local(t) => local_to_utc(t, zone),
            WireTime::Instant(t) => t,
        }
    }
}

/// Converts a naive local time in `zone` to UTC. An ambiguous time (clocks
/// going back) takes the earlier instant; a time that does not exist (clocks
/// going forward) is read as if the shift had not happened yet, as the
/// vendor's wall clock would have shown it.
pub fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    // Records come in runs of times close together (a chat's messages): the
    // offset of the last local hour looked up is remembered, when one
    // offset holds all through that hour, and the zone's tables are skipped.
    let hour = (zone, naive.date(), naive.hour());
    if let Some((last, secs)) = LAST_HOUR.get()
        && last == hour
    {
        return Utc.from_utc_datetime(&(naive - TimeDelta::seconds(secs.into())));
    }
    if let Some(secs) = whole_hour_offset(zone, hour.1, hour.2) {
        LAST_HOUR.set(Some((hour, secs)));
        return Utc.from_utc_datetime(&(naive - TimeDelta::seconds(secs.into())));
    }
    lookup_local(naive, zone)
}

/// A local hour: zone, date and hour of the day.
type LocalHour = (Tz, NaiveDate, u32);

thread_local! {
    /// The last local hour whose offset held all through it, with that
    /// offset in seconds east of UTC.
    static LAST_HOUR: Cell<Option<(LocalHour, i32)>> = const { Cell::new(None) };
}

/// The offset (seconds east of UTC) in force through the whole local hour
/// `hour` of `date` in `zone`, if one is: the hour's first and last second
/// each exist once, with the same offset (no zone shifts twice in an hour).
fn whole_hour_offset(zone: Tz, date: NaiveDate, hour: u32) -> Option<i32> {
    let at = |m, s| match zone.from_local_datetime(&date.and_hms_opt(hour, m, s)?) {
        LocalResult::Single(t) => Some(t.offset().fix().local_minus_utc()),
        _ => None,
    };
    let first = at(0, 0)?;
    (at(59, 59)? == first).then_some(first)
}

/// [`local_to_utc`] without the cache.
fn lookup_local(naive: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
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

    /// The remembered hour never changes an answer: every minute (and some
    /// seconds) around shifts of one hour, of half an hour (Lord Howe) and of
    /// China's 1986–91 summer time, in order and hopping between zones.
    #[test]
    fn the_hour_cache_agrees_with_the_zone_tables() {
        let zones = [
            chrono_tz::America::New_York,
            chrono_tz::Europe::London,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Shanghai,
        ];
        let days = ["2021-03-14", "2021-11-07", "2021-03-28", "2021-10-31"]
            .into_iter()
            .chain(["2021-04-04", "2021-10-03", "1988-04-10", "1988-09-11"]);
        let mut checked = 0;
        for day in days {
            let start = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            for step in 0..(2 * 24 * 60) {
                let t = start + TimeDelta::seconds(step * 30 + step % 7);
                for zone in zones {
                    assert_eq!(local_to_utc(t, zone), lookup_local(t, zone), "{t} {zone}");
                    checked += 1;
                }
                // And the same time after a jump to another hour.
                let zone = zones[step as usize % zones.len()];
                local_to_utc(t + TimeDelta::hours(5), zone);
                assert_eq!(local_to_utc(t, zone), lookup_local(t, zone), "{t} {zone}");
            }
        }
        assert_eq!(checked, 8 * 2 * 24 * 60 * 4);
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
