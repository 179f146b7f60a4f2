//! The sync configuration file (`chathaul.toml`, feature `config`) and the
//! command line's time and duration arguments (always).
//!
//! ```toml
//! db = "chathaul.sqlite"      # optional; --db wins; or a Postgres URL:
//!                             # "postgresql://etl:${PGPW}@db.internal/warehouse?sslmode=require"
//! db_schema = "support"       # optional, Postgres only: the schema (default chathaul)
//! lookback = "1d"             # optional default for every source
//! revisit_for = "14d"         # optional default for every source
//! full_refresh_every = "30d"  # optional default for every source (default: never)
//! on_bad_record = "skip"      # optional default for every source: skip or fail
//!
//! [[source]]
//! name = "kf5-main"           # optional; defaults to the vendor name
//! vendor = "kf5"
//! since = "2024-01-01"        # optional: where the first run starts
//! lookback = "12h"            # optional
//! revisit_for = "21d"         # optional: how long a chat that is not final is revisited
//! rating_window = "10d"       # optional: how long after its end a rating can come
//! full_refresh_every = "7d"   # optional: re-read everything from `since` this often
//! on_bad_record = "fail"      # optional: end the run on a record that does not decode
//! messages = true             # optional, default true
//! summaries = true            # optional, default true
//! [source.config]
//! subdomain = "acme"
//! email = "ops@acme.example"
//! password = "${KF5_PASSWORD}"
//! ```
//!
//! `${NAME}` in any value is replaced by the environment variable `NAME`
//! (an unset variable is an error naming it). Secret fields (those the
//! connector marks secret, such as `password`) must come from the
//! environment: either as `${NAME}`, or left out so the connector reads
//! `CHATHAUL_<VENDOR>_<FIELD>`. A secret written in clear in the file is
//! refused, so the file can be committed. The same holds for a password in
//! a Postgres `db` URL: write `${NAME}` for it, or leave it out and let
//! `PGPASSWORD` or `~/.pgpass` supply it.

#[cfg(feature = "config")]
use std::collections::BTreeMap;
#[cfg(feature = "config")]
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use connector_core::Result;
use connector_core::time::{Tz, local_to_utc, parse_zone};
#[cfg(feature = "config")]
use connector_core::{BadRecord, Error, Include};
#[cfg(feature = "config")]
use serde::Deserialize;

#[cfg(feature = "config")]
use crate::store::Database;
#[cfg(feature = "config")]
use crate::sync::{DEFAULT_LOOKBACK, DEFAULT_REVISIT_FOR, Source};

#[cfg(feature = "config")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<String>,
    db_schema: Option<String>,
    lookback: Option<String>,
    revisit_for: Option<String>,
    full_refresh_every: Option<String>,
    rating_window: Option<String>,
    on_bad_record: Option<String>,
    #[serde(rename = "source", default)]
    sources: Vec<SourceEntry>,
}

#[cfg(feature = "config")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    name: Option<String>,
    vendor: String,
    since: Option<String>,
    lookback: Option<String>,
    revisit_for: Option<String>,
    full_refresh_every: Option<String>,
    rating_window: Option<String>,
    on_bad_record: Option<String>,
    messages: Option<bool>,
    summaries: Option<bool>,
    page_size: Option<u32>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
}

/// A parsed configuration file.
#[cfg(feature = "config")]
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The database the file names (`db`, with `db_schema`), if any.
    pub db: Option<Database>,
    /// The sources, in file order.
    pub sources: Vec<Source>,
}

/// Reads and checks a configuration file.
///
/// # Errors
/// [`Error::Io`] when it cannot be read; [`Error::Config`] /
/// [`Error::UnknownVendor`] for a bad source (the message names the file
/// and source); [`Error::ConfigFile`] for TOML that does not parse or a
/// value of the wrong form.
#[cfg(feature = "config")]
pub fn load(path: &Path) -> Result<SyncConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    })?;
    parse(&text, path, |k| std::env::var(k).ok())
}

/// The database a configuration file names (`db`, `db_schema`), reading
/// nothing else: `sync --status` needs no connector secrets (a Postgres
/// password still comes from `${NAME}`, `PGPASSWORD` or `~/.pgpass`).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::ConfigFile`] for TOML
/// that does not parse; the errors of [`Database::parse`] and a password
/// written in clear.
#[cfg(feature = "config")]
pub fn database(path: &Path) -> Result<Option<Database>> {
    #[derive(Deserialize)]
    struct OnlyDb {
        db: Option<String>,
        db_schema: Option<String>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    })?;
    let only: OnlyDb = toml::from_str(&text).map_err(|e| toml_error(path, e))?;
    file_database(path, only.db, only.db_schema, &|k| std::env::var(k).ok())
}

/// The `db` and `db_schema` of a file, `${NAME}` expanded; a password in
/// clear in a URL is refused, as a connector's secret is.
#[cfg(feature = "config")]
fn file_database(
    path: &Path,
    db: Option<String>,
    schema: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Database>> {
    let Some(text) = db else {
        return match schema {
            Some(_) => Err(file_error(
                path,
                "db_schema is set but db is not: name the Postgres database in db".to_owned(),
            )),
            None => Ok(None),
        };
    };
    if crate::store::is_postgres_url(&text) && url_has_clear_password(&text) {
        return Err(file_error(
            path,
            format!(
                "db: the password of {} is written in clear: write it as ${{SOME_VARIABLE}}, or leave it out and set PGPASSWORD or use ~/.pgpass",
                crate::store::redact_url_text(&text)
            ),
        ));
    }
    let expanded = expand(&text, &env).map_err(|var| {
        file_error(
            path,
            format!("db: the environment variable {var} is not set"),
        )
    })?;
    let database = Database::parse(&expanded)?;
    Ok(Some(match schema {
        Some(schema) => database.with_schema(&schema)?,
        None => database,
    }))
}

/// Whether a URL's user part holds a password that is not all `${NAME}`.
#[cfg(feature = "config")]
fn url_has_clear_password(text: &str) -> bool {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return false;
    };
    let authority_end = text[start..]
        .find(['/', '?'])
        .map_or(text.len(), |i| start + i);
    let authority = &text[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return false;
    };
    let Some((_, password)) = authority[..at].split_once(':') else {
        return false;
    };
    let is_reference = password.starts_with("${")
        && password.ends_with('}')
        && password.matches("${").count() == 1;
    !password.is_empty() && !is_reference
}

/// TOML that does not parse: the parser's message (which says where), and
/// the parser's error as the cause.
#[cfg(feature = "config")]
fn toml_error(path: &Path, e: toml::de::Error) -> Error {
    Error::ConfigFile {
        path: path.to_owned(),
        message: e.message().to_owned(),
        source: Some(Box::new(e)),
    }
}

#[cfg(feature = "config")]
fn file_error(path: &Path, message: String) -> Error {
    Error::ConfigFile {
        path: path.to_owned(),
        message,
        source: None,
    }
}

/// Parses a configuration file's text, with an explicit environment lookup.
///
/// # Errors
/// As [`load`].
#[cfg(feature = "config")]
pub fn parse(text: &str, path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<SyncConfig> {
    let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(path, e))?;
    let default_lookback = match &file.lookback {
        Some(l) => parse_duration(l).map_err(|m| file_error(path, format!("lookback: {m}")))?,
        None => DEFAULT_LOOKBACK,
    };
    if file.sources.is_empty() {
        return Err(file_error(path, "no [[source]] entries".to_owned()));
    }
    let duration = |key: &str, text: &Option<String>, name: Option<&str>| {
        text.as_deref()
            .map(|t| {
                parse_duration(t).map_err(|m| {
                    let at = name.map(|n| format!("source `{n}`: ")).unwrap_or_default();
                    file_error(path, format!("{at}{key}: {m}"))
                })
            })
            .transpose()
    };
    let bad_record = |text: &Option<String>, name: Option<&str>| {
        text.as_deref()
            .map(|t| {
                t.parse::<BadRecord>().map_err(|_| {
                    let at = name.map(|n| format!("source `{n}`: ")).unwrap_or_default();
                    file_error(
                        path,
                        format!("{at}on_bad_record: `{t}` is not `skip` or `fail`"),
                    )
                })
            })
            .transpose()
    };
    let default_revisit_for = duration("revisit_for", &file.revisit_for, None)?;
    let default_full_refresh = duration("full_refresh_every", &file.full_refresh_every, None)?;
    let default_rating_window = duration("rating_window", &file.rating_window, None)?;
    let default_bad_record = bad_record(&file.on_bad_record, None)?;
    let mut sources = Vec::new();
    for entry in file.sources {
        let factory = connector_core::find(&entry.vendor)?;
        let name = entry
            .name
            .clone()
            .unwrap_or_else(|| factory.name.to_owned());
        let mut config = Vec::new();
        for (key, value) in &entry.config {
            let raw = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(Error::config(
                        factory.name,
                        key,
                        format!("in {} source `{name}`: must be a string", path.display()),
                    ));
                }
            };
            let secret = factory.all_fields().any(|f| f.name == key && f.secret);
            if secret && !raw.contains("${") {
                return Err(Error::config(
                    factory.name,
                    key,
                    format!(
                        "in {} source `{name}`: is a secret and must come from the environment: write {key} = \"${{SOME_VARIABLE}}\", or leave it out and set {}",
                        path.display(),
                        factory.env_var(key)
                    ),
                ));
            }
            let value = expand(&raw, &env).map_err(|var| {
                Error::config(
                    factory.name,
                    key,
                    format!(
                        "in {} source `{name}`: the environment variable {var} is not set",
                        path.display()
                    ),
                )
            })?;
            config.push((key.clone(), value));
        }
        let lookback = match &entry.lookback {
            Some(l) => parse_duration(l)
                .map_err(|m| file_error(path, format!("source `{name}`: lookback: {m}")))?,
            None => default_lookback,
        };
        let since = match &entry.since {
            None => None,
            Some(s) => {
                let zone = factory
                    .all_fields()
                    .find(|f| f.name == "timezone")
                    .and_then(|f| {
                        config
                            .iter()
                            .find(|(k, _)| k == "timezone")
                            .map(|(_, v)| v.as_str())
                            .or(f.default)
                    })
                    .unwrap_or("UTC");
                let zone = parse_zone(factory.name, zone)?;
                Some(parse_instant(s, zone).map_err(|e| Error::ConfigFile {
                    path: path.to_owned(),
                    message: format!("source `{name}`: since: {e}"),
                    source: Some(Box::new(e)),
                })?)
            }
        };
        let at = Some(name.as_str());
        let revisit_for = duration("revisit_for", &entry.revisit_for, at)?
            .or(default_revisit_for)
            .unwrap_or(DEFAULT_REVISIT_FOR);
        let full_refresh_every =
            duration("full_refresh_every", &entry.full_refresh_every, at)?.or(default_full_refresh);
        let rating_window =
            duration("rating_window", &entry.rating_window, at)?.or(default_rating_window);
        let on_bad_record = bad_record(&entry.on_bad_record, at)?
            .or(default_bad_record)
            .unwrap_or(BadRecord::Skip);
        for (key, d) in [
            ("revisit_for", Some(revisit_for)),
            ("full_refresh_every", full_refresh_every),
        ] {
            if d.is_some_and(|d| d <= chrono::Duration::zero()) {
                return Err(file_error(
                    path,
                    format!("source `{name}`: {key}: must be longer than zero"),
                ));
            }
        }
        sources.push(Source {
            name,
            vendor: factory.name.to_owned(),
            config,
            since,
            lookback,
            include: Include {
                messages: entry.messages.unwrap_or(true),
                summaries: entry.summaries.unwrap_or(true),
            },
            page_size: entry.page_size,
            revisit_for,
            full_refresh_every,
            rating_window,
            on_bad_record,
        });
    }
    Ok(SyncConfig {
        db: file_database(path, file.db, file.db_schema, &env)?,
        sources,
    })
}

/// Replaces `${NAME}` with the environment variable `NAME`; `Err(NAME)` when unset.
#[cfg(feature = "config")]
fn expand(
    value: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        out.push_str(
            &env(var)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| var.to_owned())?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a duration: `1d`, `12h`, `30m`, `90s`, or a number of seconds.
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_duration(text: &str) -> std::result::Result<chrono::Duration, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 1d, 12h, 30m, 90s)"))?;
    let secs = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration (like 1d, 12h, 30m, 90s)"
            ));
        }
    };
    n.checked_mul(secs)
        .map(chrono::Duration::seconds)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// A time argument that is none of the forms [`parse_instant`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInstant {
    /// The text given.
    pub text: String,
    /// The zone local times would have been read in.
    pub zone: Tz,
}

impl std::fmt::Display for InvalidInstant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not a time: use RFC 3339 (2024-03-01T08:00:00Z, 2024-03-01T08:00:00.5+07:00), \
             a local date-time (2024-03-01T08:00:00, 2024-03-01 08:00) or a date (2024-03-01, \
             local midnight), local times read in {}",
            self.text, self.zone
        )
    }
}

impl std::error::Error for InvalidInstant {}

/// Date-times with an offset, beyond what RFC 3339 parsing takes.
const WITH_OFFSET: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M%:z",
    "%Y-%m-%d %H:%M%:z",
];

/// Date-times without an offset (`%.f`: a fraction, if any).
const LOCAL: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Parses a time argument, the one parser behind every time a user gives:
/// the command line's `--since`/`--until`, the configuration file's
/// `since`, and Python's `since=`/`until=` (strings, and `datetime`s and
/// `date`s, which Python hands over in ISO 8601). Accepted:
///
/// - RFC 3339 / ISO 8601 with an offset, with or without a fraction of a
///   second: `2024-03-01T08:00:00Z`, `2024-03-01T08:00:00.000005+07:00`,
///   `2024-03-01 08:00:00+07:00`;
/// - a local date-time, with or without seconds and a fraction, read on the
///   wall clock of `zone` (the connector's `timezone`):
///   `2024-03-01T08:00:00`, `2024-03-01 08:00:00.5`, `2024-03-01T08:00`;
/// - a date: local midnight in `zone`: `2024-03-01`.
///
/// A local time that a daylight-saving change skips or repeats is read as
/// [`local_to_utc`] reads it.
///
/// # Errors
/// [`InvalidInstant`], whose text lists the forms above.
pub fn parse_instant(text: &str, zone: Tz) -> std::result::Result<DateTime<Utc>, InvalidInstant> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for format in WITH_OFFSET {
        if let Ok(d) = DateTime::parse_from_str(t, format) {
            return Ok(d.with_timezone(&Utc));
        }
    }
    for format in LOCAL {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, format) {
            return Ok(local_to_utc(d, zone));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(local_to_utc(d.and_time(NaiveTime::MIN), zone));
    }
    Err(InvalidInstant {
        text: text.to_owned(),
        zone,
    })
}

/// The time zone a vendor's connector reads local times in, given its config
/// (the `timezone` value, else the connector's default).
///
/// # Errors
/// [`connector_core::Error::UnknownVendor`], or [`connector_core::Error::Config`] for a zone that is not an IANA name.
pub fn zone_of(vendor: &str, config: &[(String, String)]) -> Result<Tz> {
    let factory = connector_core::find(vendor)?;
    let name = config
        .iter()
        .find(|(k, _)| k == "timezone")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            std::env::var(factory.env_var("timezone"))
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or_else(|| {
            factory
                .all_fields()
                .find(|f| f.name == "timezone")
                .and_then(|f| f.default.map(str::to_owned))
        })
        .unwrap_or_else(|| "UTC".to_owned());
    parse_zone(factory.name, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d").unwrap(), chrono::Duration::days(1));
        assert_eq!(parse_duration("12h").unwrap(), chrono::Duration::hours(12));
        assert_eq!(parse_duration("90").unwrap(), chrono::Duration::seconds(90));
        assert!(
            parse_duration("a day")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("3y").is_err());
    }

    #[test]
    fn one_table_of_time_forms() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        for (text, zone, utc) in [
            // RFC 3339 / ISO 8601 with an offset: the zone does not matter.
            ("2024-03-01T08:00:00Z", sh, "2024-03-01T08:00:00Z"),
            ("2024-03-01t08:00:00z", sh, "2024-03-01T08:00:00Z"),
            ("2024-03-01T08:00:00+07:00", sh, "2024-03-01T01:00:00Z"),
            (
                "2024-03-01T08:00:00.5+07:00",
                sh,
                "2024-03-01T01:00:00.500Z",
            ),
            // Python: datetime(2024,1,1,8,0,0,5, tzinfo=timezone.utc).isoformat()
            (
                "2024-01-01T08:00:00.000005+00:00",
                sh,
                "2024-01-01T08:00:00.000005Z",
            ),
            ("2024-03-01 08:00:00+07:00", sh, "2024-03-01T01:00:00Z"),
            ("2024-03-01T08:00+07:00", sh, "2024-03-01T01:00:00Z"),
            ("  2024-03-01T08:00:00Z\n", sh, "2024-03-01T08:00:00Z"),
            // A local date-time, on the zone's wall clock.
            ("2024-03-01T08:00:00", sh, "2024-03-01T00:00:00Z"),
            ("2024-03-01 08:00:00", sh, "2024-03-01T00:00:00Z"),
            // Python: datetime(2024,1,1,8,0,0,5).isoformat()
            (
                "2024-01-01T08:00:00.000005",
                sh,
                "2024-01-01T00:00:00.000005Z",
            ),
            ("2024-03-01 08:00:00.25", ny, "2024-03-01T13:00:00.250Z"),
            ("2024-03-01T08:00", sh, "2024-03-01T00:00:00Z"),
            ("2024-03-01 08:00", ny, "2024-03-01T13:00:00Z"),
            // A date: local midnight.
            ("2024-03-01", sh, "2024-02-29T16:00:00Z"),
            ("2024-07-01", ny, "2024-07-01T04:00:00Z"),
            ("2024-03-01", Tz::UTC, "2024-03-01T00:00:00Z"),
        ] {
            let want = DateTime::parse_from_rfc3339(utc)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_instant(text, zone), Ok(want), "{text:?} in {zone}");
        }
        for bad in [
            "yesterday",
            "2024-13-01",
            "2024-03-01T25:00:00",
            "1709280000",
            "",
        ] {
            let err = parse_instant(bad, sh).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "`{bad}` is not a time: use RFC 3339 (2024-03-01T08:00:00Z, 2024-03-01T08:00:00.5+07:00), \
                     a local date-time (2024-03-01T08:00:00, 2024-03-01 08:00) or a date (2024-03-01, \
                     local midnight), local times read in Asia/Shanghai"
                )
            );
        }
    }

    #[test]
    #[cfg(feature = "config")]
    fn a_postgres_password_must_come_from_the_environment() {
        let path = Path::new("c.toml");
        let env = |k: &str| (k == "PGPW").then(|| "s3cret".to_owned());
        let refused = file_database(
            path,
            Some("postgresql://etl:hunter2@db/x".into()),
            None,
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(refused.contains("is written in clear"), "{refused}");
        assert!(refused.contains("postgresql://etl:***@db/x"), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
        let unset = file_database(
            path,
            Some("postgresql://etl:${NOPE}@db/x".into()),
            None,
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            unset.contains("the environment variable NOPE is not set"),
            "{unset}"
        );
        let sqlite = file_database(path, Some("chats.sqlite".into()), Some("x".into()), &env)
            .unwrap_err()
            .to_string();
        assert!(
            sqlite.contains("applies to a Postgres database only"),
            "{sqlite}"
        );
        #[cfg(feature = "postgres")]
        {
            let db = file_database(
                path,
                Some("postgresql://etl:${PGPW}@db/x".into()),
                Some("support".into()),
                &env,
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                db.to_string(),
                "postgresql://etl@db:5432/x?sslmode=prefer&schema=support"
            );
            assert!(!format!("{db:?}").contains("s3cret"));
        }
    }

    #[test]
    #[cfg(feature = "config")]
    fn expands_environment_references() {
        let env = |k: &str| (k == "PW").then(|| "s3cret".to_owned());
        assert_eq!(expand("${PW}", &env).unwrap(), "s3cret");
        assert_eq!(expand("a-${PW}-b", &env).unwrap(), "a-s3cret-b");
        assert_eq!(expand("plain", &env).unwrap(), "plain");
        assert_eq!(expand("${NOPE}", &env).unwrap_err(), "NOPE");
    }
}
