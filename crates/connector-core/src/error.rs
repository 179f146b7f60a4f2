//! The one error type of chathaul, and its kinds.
//!
//! Every variant names the vendor and, where they apply, the endpoint, page and
//! field; the local ones name the database, file or source. No variant ever
//! holds a header, a credential or a URL with user info: secrets cannot leak
//! through an error's text. A failure of a library underneath (SQLite, Arrow,
//! Parquet, an I/O call, a task) is kept as the error's
//! [`source`](std::error::Error::source), so a caller can reach it; its text is
//! also part of the message, so the one line a user sees says everything.
//!
//! [`Error::kind`] sorts every error into an [`ErrorKind`], whose
//! [`as_str`](ErrorKind::as_str) names are stable: the command line's JSON
//! output and the Python exception classes are chosen by them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A `Result` with chathaul's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The cause of an error raised by a library chathaul's core does not depend
/// on (rusqlite, arrow, parquet, a tokio task): boxed, so it stays reachable
/// through [`std::error::Error::source`] and downcastable to its own type.
pub type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is: the stable, machine-readable sorting
/// the command line's exit codes and JSON output and the Python exception
/// classes are built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The vendor refused the credentials or the permission (HTTP 401/403).
    Auth,
    /// The vendor kept answering 429, or asked for a wait too long to honour.
    RateLimit,
    /// The vendor answered with an error status or an error code.
    Api,
    /// A request could not be sent or its answer not read.
    Transport,
    /// An answer, or a record in it, was not what the vendor documents.
    Decode,
    /// The vendor's paging went wrong (a repeated page, a link to another host).
    Paging,
    /// A configuration value, file or source is missing, invalid or unknown.
    Config,
    /// The query is not valid.
    Query,
    /// What was asked is not supported by the vendor or by this build.
    Unsupported,
    /// A local file could not be read or written.
    Io,
    /// The database (a store backend) failed or refused the file.
    Store,
    /// An output file or format (JSONL, CSV, Parquet, Arrow) failed.
    Sink,
    /// chathaul itself failed: a task that panicked, a writer that stopped.
    Internal,
    /// Something used after it was closed (a simulator, a store).
    Closed,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Auth,
        ErrorKind::RateLimit,
        ErrorKind::Api,
        ErrorKind::Transport,
        ErrorKind::Decode,
        ErrorKind::Paging,
        ErrorKind::Config,
        ErrorKind::Query,
        ErrorKind::Unsupported,
        ErrorKind::Io,
        ErrorKind::Store,
        ErrorKind::Sink,
        ErrorKind::Internal,
        ErrorKind::Closed,
    ];

    /// The kind's stable name: `auth`, `rate_limit`, `api`, `transport`,
    /// `decode`, `paging`, `config`, `query`, `unsupported`, `io`, `store`,
    /// `sink`, `internal`, `closed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Api => "api",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::Paging => "paging",
            ErrorKind::Config => "config",
            ErrorKind::Query => "query",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "io",
            ErrorKind::Store => "store",
            ErrorKind::Sink => "sink",
            ErrorKind::Internal => "internal",
            ErrorKind::Closed => "closed",
        }
    }

    /// The kind a stable name stands for (the reverse of [`ErrorKind::as_str`]).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Compares with a stable name: `error.kind() == "auth"`.
impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Compares with a stable name: `error.kind() == "auth"`.
impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Everything that can go wrong when pulling chat history.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The vendor refused the credentials (HTTP 401) or the account lacks the
    /// permission (HTTP 403).
    #[error("{vendor}: authentication failed ({endpoint}, HTTP {status}): {message}")]
    Unauthenticated {
        /// The connector.
        vendor: &'static str,
        /// The endpoint that refused.
        endpoint: String,
        /// 401 or 403.
        status: u16,
        /// What the vendor said, or what to check.
        message: String,
    },
    /// The vendor answered 429 Too Many Requests. A connector's page reader
    /// returns it too for a 200 body carrying the vendor's throttling code:
    /// the HTTP client then paces the account as for a 429 and retries.
    #[error("{vendor}: rate limited (HTTP 429) on {endpoint} page {page}{}", retry_after_text(.retry_after))]
    RateLimited {
        /// The connector.
        vendor: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The page asked for (0 when the endpoint has no pages).
        page: u32,
        /// The `Retry-After` the vendor sent.
        retry_after: Option<Duration>,
    },
    /// The vendor answered with an error status or an error code in the body.
    #[error("{vendor}: {endpoint} page {page}: HTTP {status}{}: {message}", code_text(.code))]
    Api {
        /// The connector.
        vendor: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The page asked for (0 when the endpoint has no pages).
        page: u32,
        /// HTTP status.
        status: u16,
        /// The vendor's own error code, if the body carried one.
        code: Option<String>,
        /// What the vendor said.
        message: String,
    },
    /// The request could not be sent or the response could not be read
    /// (connect error, reset, timeout, truncated body).
    #[error("{vendor}: {endpoint} page {page}: {message}")]
    Transport {
        /// The connector.
        vendor: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The page asked for (0 when the endpoint has no pages).
        page: u32,
        /// What failed (never includes credentials).
        message: String,
    },
    /// The response was not the JSON the vendor documents.
    #[error("{vendor}: cannot decode {endpoint} page {page}: at {path}: {message}")]
    Decode {
        /// The connector.
        vendor: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The page asked for (0 when the endpoint has no pages).
        page: u32,
        /// The JSON path where decoding failed (`chats[3].created_at`).
        path: String,
        /// What was wrong there.
        message: String,
        /// Whether this looks transient (truncated body, HTML error page).
        transient: bool,
    },
    /// A record decoded but one of its fields is not usable (a missing id, a
    /// date that is not a date).
    #[error("{vendor}: {endpoint} page {page}: field `{field}`: {message}")]
    Field {
        /// The connector.
        vendor: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The page.
        page: u32,
        /// The field (path) at fault.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// Paging went wrong: a page that repeats, a next link to another host.
    #[error("{vendor}: {endpoint} page {page}: {message}")]
    Paging {
        /// The connector.
        vendor: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The page.
        page: u32,
        /// What went wrong.
        message: String,
    },
    /// A record the connector could not decode, set aside in its place
    /// because the query asked to skip bad records
    /// ([`crate::BadRecord::Skip`]); the stream goes on after it. It carries
    /// the error that would have ended the stream and the record's text, so
    /// that a caller can keep both (the sync's `rejects` table).
    #[error("{error} (record set aside)")]
    Rejected {
        /// Why the record could not be decoded: an [`Error::Decode`] or
        /// [`Error::Field`] naming vendor, endpoint, page and JSON path.
        #[source]
        error: Box<Error>,
        /// The record's text as the vendor sent it, credentials scrubbed,
        /// clipped to [`REJECTED_TEXT_MAX`] bytes.
        raw: String,
    },
    /// Retries ran out on a retryable error.
    #[error("{} attempts failed; last error: {last}", .attempts)]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        last: Box<Error>,
    },
    /// A configuration value is missing, invalid or unknown.
    #[error("{vendor}: config field `{field}`: {message}")]
    Config {
        /// The connector.
        vendor: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No connector is registered under this name.
    #[error("unknown vendor `{name}`; known vendors: {}", .known.join(", "))]
    UnknownVendor {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: Vec<String>,
    },
    /// The query is not valid (for example an empty or inverted window).
    #[error("invalid query: {0}")]
    Query(String),
    /// The connector cannot do what was asked.
    #[error("{vendor}: not supported: {message}")]
    Unsupported {
        /// The connector.
        vendor: &'static str,
        /// What is not supported.
        message: String,
    },
    /// A local I/O error (reading a file, starting a thread).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two connectors are registered under one name (two crates linked that
    /// claim the same vendor).
    #[error("two connectors are registered as `{name}`: \"{first}\" and \"{second}\"")]
    DuplicateVendor {
        /// The name both claim.
        name: String,
        /// The first one's description.
        first: String,
        /// The second one's description.
        second: String,
    },
    /// A configuration file that cannot be used: TOML that does not parse, a
    /// value of the wrong form, no sources.
    #[error("{}: {message}", .path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where in the file.
        message: String,
        /// The parser's own error, when there is one.
        #[source]
        source: Option<BoxedCause>,
    },
    /// A sync source that cannot be synced as configured: two sources with
    /// one name, or a name the database knows from another vendor or account.
    #[error("source `{name}` {problem}")]
    SyncSource {
        /// The source's name.
        name: String,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// A stored incremental state (what one run of a source hands the next:
    /// its cursor, its revisit set) that is not valid JSON of the state's
    /// form.
    #[error("cannot read the stored incremental state of {state_of}: at `{path}`: {source}")]
    StoredState {
        /// Whose state it is: a sync source, or a vendor's account.
        state_of: String,
        /// The JSON path where reading failed (`cursor`, `pending.10050.reason`;
        /// `.` for the whole text).
        path: String,
        /// The JSON parser's error (it says the line and column).
        source: serde_json::Error,
    },
    /// A database address that cannot be used as written: a URL that does
    /// not parse, an unknown parameter, a password written in clear where
    /// it must come from the environment.
    #[error("database {location}: {message}")]
    DatabaseUrl {
        /// The address as given, without its password.
        location: String,
        /// What is wrong, and what to write instead.
        message: String,
    },
    /// The database failed, or refused a file that is not its own.
    #[error("database {location}: {action}{}", cause_text(.source))]
    Store {
        /// The backend (`sqlite`).
        backend: &'static str,
        /// Where the database is: a file path, or a URL without its password.
        location: String,
        /// What was being done, or why the database was refused.
        action: String,
        /// The backend's own error, when there is one.
        #[source]
        source: Option<BoxedCause>,
    },
    /// An output (or a table read back) failed: a file that cannot be
    /// created or written, a record that cannot be serialized, a table that
    /// does not fit the schema.
    #[error("{}: {action}{}", sink_place(.format, .path), cause_text(.source))]
    Sink {
        /// The format (`jsonl`, `csv`, `parquet`, `arrow`, or the name asked for).
        format: String,
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// What was being done, and what failed.
        action: String,
        /// The underlying error (I/O, Arrow, Parquet, JSON), when there is one.
        #[source]
        source: Option<BoxedCause>,
    },
    /// Something this build leaves out (a cargo feature not enabled).
    #[error("{what} needs chathaul built with the `{feature}` feature")]
    FeatureDisabled {
        /// The cargo feature.
        feature: &'static str,
        /// What was asked for.
        what: String,
    },
    /// Something was used after it was closed.
    #[error("the {what} is closed")]
    Closed {
        /// What was closed (`simulator`).
        what: String,
    },
    /// chathaul itself failed: a task panicked or was cancelled, a writer
    /// thread stopped, a value could not be serialized.
    #[error("{context}{}", cause_text(.source))]
    Internal {
        /// What was being done.
        context: String,
        /// What failed underneath, when known.
        #[source]
        source: Option<BoxedCause>,
    },
}

/// The most of a rejected record's text kept ([`Error::Rejected`]): 256 KiB.
pub const REJECTED_TEXT_MAX: usize = 256 * 1024;

/// Where in a vendor's answers an error happened, for the errors that say
/// ([`Error::place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPlace<'a> {
    /// The vendor.
    pub vendor: &'a str,
    /// The endpoint.
    pub endpoint: &'a str,
    /// The page (0 when the endpoint has no pages).
    pub page: u32,
    /// The JSON path or field at fault, when the error names one.
    pub path: Option<&'a str>,
}

fn cause_text(source: &Option<BoxedCause>) -> String {
    source
        .as_ref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

/// The file when there is one, else the format: `out.csv`, `jsonl output`.
fn sink_place(format: &str, path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or_else(|| format!("{format} output"), |p| p.display().to_string())
}

fn retry_after_text(d: &Option<Duration>) -> String {
    d.map(|d| format!(" (Retry-After: {}s)", d.as_secs_f64()))
        .unwrap_or_default()
}

fn code_text(code: &Option<String>) -> String {
    code.as_ref()
        .map(|c| format!(" code {c}"))
        .unwrap_or_default()
}

impl Error {
    /// Whether retrying the same request may succeed: connection problems,
    /// 429, 5xx, truncated bodies and HTML error pages.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::RateLimited { .. } => true,
            Error::Api { status, .. } => *status == 429 || *status >= 500,
            Error::Decode { transient, .. } => *transient,
            _ => false,
        }
    }

    /// The vendor the error is about, if any.
    pub fn vendor(&self) -> Option<&str> {
        match self {
            Error::Unauthenticated { vendor, .. }
            | Error::RateLimited { vendor, .. }
            | Error::Api { vendor, .. }
            | Error::Transport { vendor, .. }
            | Error::Decode { vendor, .. }
            | Error::Field { vendor, .. }
            | Error::Paging { vendor, .. }
            | Error::Unsupported { vendor, .. } => Some(vendor),
            Error::Config { vendor, .. } => Some(vendor),
            Error::RetriesExhausted { last, .. } => last.vendor(),
            Error::Rejected { error, .. } => error.vendor(),
            _ => None,
        }
    }

    /// Where in the vendor's answers the error happened: vendor, endpoint,
    /// page and, for a record that does not decode, the JSON path.
    pub fn place(&self) -> Option<ErrorPlace<'_>> {
        let (vendor, endpoint, page, path) = match self {
            Error::Decode {
                vendor,
                endpoint,
                page,
                path,
                ..
            } => (*vendor, endpoint, *page, Some(path.as_str())),
            Error::Field {
                vendor,
                endpoint,
                page,
                field,
                ..
            } => (*vendor, endpoint, *page, Some(field.as_str())),
            Error::RateLimited {
                vendor,
                endpoint,
                page,
                ..
            }
            | Error::Api {
                vendor,
                endpoint,
                page,
                ..
            }
            | Error::Transport {
                vendor,
                endpoint,
                page,
                ..
            }
            | Error::Paging {
                vendor,
                endpoint,
                page,
                ..
            } => (*vendor, endpoint, *page, None),
            Error::Unauthenticated {
                vendor, endpoint, ..
            } => (*vendor, endpoint, 0, None),
            Error::RetriesExhausted { last, .. } => return last.place(),
            Error::Rejected { error, .. } => return error.place(),
            _ => return None,
        };
        Some(ErrorPlace {
            vendor,
            endpoint: endpoint.as_str(),
            page,
            path,
        })
    }

    /// Whether the error is about one record that does not decode (a field
    /// of the wrong form, a missing id), as opposed to the page, the request
    /// or the connection: what [`crate::BadRecord::Skip`] sets aside.
    pub fn is_bad_record(&self) -> bool {
        match self {
            Error::Decode { transient, .. } => !transient,
            Error::Field { .. } | Error::Rejected { .. } => true,
            _ => false,
        }
    }

    /// This error about one record, set aside with the record's text
    /// ([`Error::Rejected`]); `raw` is clipped to [`REJECTED_TEXT_MAX`]
    /// bytes (at a character boundary). The caller scrubs credentials first.
    pub fn rejected(self, raw: &str) -> Error {
        if let Error::Rejected { .. } = self {
            return self;
        }
        let mut end = raw.len().min(REJECTED_TEXT_MAX);
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        Error::Rejected {
            error: Box::new(self),
            raw: raw[..end].to_owned(),
        }
    }

    /// The innermost error (unwraps [`Error::RetriesExhausted`]).
    pub fn root(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.root(),
            other => other,
        }
    }

    /// The error's kind (of its innermost cause, for
    /// [`Error::RetriesExhausted`]); its [`ErrorKind::as_str`] name is stable
    /// across versions (used by the CLI and the Python exception hierarchy).
    pub fn kind(&self) -> ErrorKind {
        match self.root() {
            Error::Unauthenticated { .. } => ErrorKind::Auth,
            Error::RateLimited { .. } => ErrorKind::RateLimit,
            Error::Api { .. } => ErrorKind::Api,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Decode { .. } | Error::Field { .. } => ErrorKind::Decode,
            Error::Paging { .. } => ErrorKind::Paging,
            Error::Config { .. }
            | Error::UnknownVendor { .. }
            | Error::DuplicateVendor { .. }
            | Error::ConfigFile { .. }
            | Error::SyncSource { .. }
            | Error::StoredState { .. }
            | Error::DatabaseUrl { .. } => ErrorKind::Config,
            Error::Query(_) => ErrorKind::Query,
            Error::Unsupported { .. } | Error::FeatureDisabled { .. } => ErrorKind::Unsupported,
            Error::Io { .. } => ErrorKind::Io,
            Error::Store { .. } => ErrorKind::Store,
            Error::Sink { .. } => ErrorKind::Sink,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::Closed { .. } => ErrorKind::Closed,
            Error::Rejected { error, .. } => error.kind(),
            // Unreachable: `root` unwraps it.
            Error::RetriesExhausted { last, .. } => last.kind(),
        }
    }

    /// The same error with `f` applied to every text that can quote a
    /// response (messages, paths, fields): used to scrub credentials.
    pub fn scrubbed(mut self, f: impl Fn(&str) -> String) -> Self {
        self.scrub_with(&f);
        self
    }

    fn scrub_with(&mut self, f: &dyn Fn(&str) -> String) {
        let mut apply = |t: &mut String| *t = f(t);
        match self {
            Error::Api { code, message, .. } => {
                code.iter_mut().for_each(&mut apply);
                apply(message);
            }
            Error::Decode { path, message, .. } => {
                apply(path);
                apply(message);
            }
            Error::Field { field, message, .. } => {
                apply(field);
                apply(message);
            }
            Error::Paging { message, .. }
            | Error::Transport { message, .. }
            | Error::Unauthenticated { message, .. } => apply(message),
            Error::RetriesExhausted { last, .. } => last.scrub_with(f),
            Error::Rejected { error, raw } => {
                error.scrub_with(f);
                apply(raw);
            }
            _ => {}
        }
    }

    /// A database error (see [`Error::Store`]).
    pub fn store(
        backend: &'static str,
        location: impl Into<String>,
        action: impl Into<String>,
        source: impl Into<BoxedCause>,
    ) -> Self {
        Error::Store {
            backend,
            location: location.into(),
            action: action.into(),
            source: Some(source.into()),
        }
    }

    /// An output error (see [`Error::Sink`]).
    pub fn sink(
        format: impl Into<String>,
        path: Option<PathBuf>,
        action: impl Into<String>,
        source: impl Into<BoxedCause>,
    ) -> Self {
        Error::Sink {
            format: format.into(),
            path,
            action: action.into(),
            source: Some(source.into()),
        }
    }

    /// An internal failure with its cause (see [`Error::Internal`]).
    pub fn internal(context: impl Into<String>, source: impl Into<BoxedCause>) -> Self {
        Error::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// A config error.
    pub fn config(
        vendor: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Config {
            vendor: vendor.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn every_kind_has_a_distinct_stable_name_that_reads_back() {
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "auth",
                "rate_limit",
                "api",
                "transport",
                "decode",
                "paging",
                "config",
                "query",
                "unsupported",
                "io",
                "store",
                "sink",
                "internal",
                "closed"
            ]
        );
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(k.as_str()), Some(*k));
            assert_eq!(k.to_string(), k.as_str());
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(ErrorKind::from_name("nope"), None);
    }

    #[test]
    fn retries_exhausted_has_the_kind_of_its_last_error() {
        let e = Error::RetriesExhausted {
            attempts: 3,
            last: Box::new(Error::RateLimited {
                vendor: "kf5",
                endpoint: "/apiv2/chats.json".into(),
                page: 2,
                retry_after: None,
            }),
        };
        assert_eq!(e.kind(), ErrorKind::RateLimit);
        assert_eq!(e.kind(), "rate_limit");
    }

    #[test]
    fn a_store_error_names_the_database_and_keeps_its_cause() {
        let cause = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no write access");
        let e = Error::store(
            "sqlite",
            "/data/chats.sqlite",
            "cannot write a batch",
            cause,
        );
        assert_eq!(
            e.to_string(),
            "database /data/chats.sqlite: cannot write a batch: no write access"
        );
        assert_eq!(e.kind(), ErrorKind::Store);
        let source = e.source().expect("the cause is kept");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("as its own type");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);

        let refused = Error::Store {
            backend: "sqlite",
            location: "notes.db".into(),
            action: "not a SQLite database".into(),
            source: None,
        };
        assert_eq!(
            refused.to_string(),
            "database notes.db: not a SQLite database"
        );
        assert!(refused.source().is_none());
    }

    #[test]
    fn a_sink_error_names_the_format_and_file_and_keeps_its_cause() {
        let cause = std::io::Error::other("disk full");
        let e = Error::sink(
            "csv",
            Some(PathBuf::from("out.messages.csv")),
            "cannot write",
            cause,
        );
        assert_eq!(e.to_string(), "out.messages.csv: cannot write: disk full");
        assert_eq!(e.kind(), ErrorKind::Sink);
        assert_eq!(e.source().unwrap().to_string(), "disk full");
        let to_stdout = Error::sink(
            "jsonl",
            None,
            "cannot write",
            std::io::Error::other("closed"),
        );
        assert_eq!(to_stdout.to_string(), "jsonl output: cannot write: closed");
    }

    #[test]
    fn local_refusals_have_their_kinds_and_texts() {
        let cases: Vec<(Error, ErrorKind, &str)> = vec![
            (
                Error::SyncSource {
                    name: "main".into(),
                    problem: "is the name of two sources".into(),
                },
                ErrorKind::Config,
                "source `main` is the name of two sources",
            ),
            (
                Error::StoredState {
                    state_of: "source `main`".into(),
                    path: "cursor".into(),
                    source: serde_json::from_str::<String>("7").unwrap_err(),
                },
                ErrorKind::Config,
                "cannot read the stored incremental state of source `main`: at `cursor`: \
                 invalid type: integer `7`, expected a string at line 1 column 1",
            ),
            (
                Error::DatabaseUrl {
                    location: "postgresql://ann@db.example/chats".into(),
                    message: "unknown parameter `sslmod`".into(),
                },
                ErrorKind::Config,
                "database postgresql://ann@db.example/chats: unknown parameter `sslmod`",
            ),
            (
                Error::ConfigFile {
                    path: PathBuf::from("chathaul.toml"),
                    message: "no [[source]] entries".into(),
                    source: None,
                },
                ErrorKind::Config,
                "chathaul.toml: no [[source]] entries",
            ),
            (
                Error::DuplicateVendor {
                    name: "kf5".into(),
                    first: "KF5".into(),
                    second: "KF5 again".into(),
                },
                ErrorKind::Config,
                "two connectors are registered as `kf5`: \"KF5\" and \"KF5 again\"",
            ),
            (
                Error::FeatureDisabled {
                    feature: "parquet",
                    what: "writing out.parquet".into(),
                },
                ErrorKind::Unsupported,
                "writing out.parquet needs chathaul built with the `parquet` feature",
            ),
            (
                Error::Closed {
                    what: "simulator".into(),
                },
                ErrorKind::Closed,
                "the simulator is closed",
            ),
            (
                Error::Internal {
                    context: "the database writer stopped".into(),
                    source: None,
                },
                ErrorKind::Internal,
                "the database writer stopped",
            ),
        ];
        for (e, kind, text) in cases {
            assert_eq!((e.kind(), e.to_string()), (kind, text.to_owned()));
        }
    }
    #[test]
    fn a_rejected_record_keeps_its_error_place_and_clipped_text() {
        let decode = Error::Decode {
            vendor: "kf5",
            endpoint: "/apiv2/chats.json".into(),
            page: 3,
            path: "chats[4].created_at".into(),
            message: "not a time: `x`".into(),
            transient: false,
        };
        assert!(decode.is_bad_record());
        let e = decode.rejected(r#"{"id":7,"created_at":"x"}"#);
        assert_eq!(
            e.to_string(),
            "kf5: cannot decode /apiv2/chats.json page 3: at chats[4].created_at: not a time: `x` (record set aside)"
        );
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert_eq!(e.vendor(), Some("kf5"));
        assert_eq!(
            e.place(),
            Some(ErrorPlace {
                vendor: "kf5",
                endpoint: "/apiv2/chats.json",
                page: 3,
                path: Some("chats[4].created_at"),
            })
        );
        assert!(e.source().unwrap().to_string().contains("chats[4]"));
        let Error::Rejected { raw, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(raw, r#"{"id":7,"created_at":"x"}"#);
        // Scrubbing reaches the record's text; clipping keeps whole characters.
        let scrubbed = e.scrubbed(|t| t.replace("created_at", "[c]"));
        let Error::Rejected { raw, error } = scrubbed else {
            panic!()
        };
        assert_eq!(raw, r#"{"id":7,"[c]":"x"}"#);
        assert!(error.to_string().contains("chats[4].[c]"));
        let long = "界".repeat(REJECTED_TEXT_MAX);
        let Error::Rejected { raw, .. } = Error::Query("x".into()).rejected(&long) else {
            panic!()
        };
        assert!(raw.len() <= REJECTED_TEXT_MAX && raw.len() > REJECTED_TEXT_MAX - 3);
        // A transient decode error (a cut-short body) is not a bad record.
        let cut = Error::Decode {
            vendor: "kf5",
            endpoint: "/x".into(),
            page: 1,
            path: ".".into(),
            message: "EOF".into(),
            transient: true,
        };
        assert!(!cut.is_bad_record());
    }
}
