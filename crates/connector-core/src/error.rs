//! The one error type of chathaul.
//!
//! Every variant names the vendor and, where they apply, the endpoint, page and
//! field. No variant ever holds a header, a credential or a request URL with
//! user info: secrets cannot leak through an error's text.

use std::time::Duration;

/// A `Result` with chathaul's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// A local I/O error (sinks, databases, files).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Anything else, with a message saying what.
    #[error("{0}")]
    Other(String),
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
            _ => None,
        }
    }

    /// The innermost error (unwraps [`Error::RetriesExhausted`]).
    pub fn root(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.root(),
            other => other,
        }
    }

    /// A short machine-readable kind, stable across versions (used by the CLI
    /// and the Python exception hierarchy).
    pub fn kind(&self) -> &'static str {
        match self.root() {
            Error::Unauthenticated { .. } => "auth",
            Error::RateLimited { .. } => "rate_limit",
            Error::Api { .. } => "api",
            Error::Transport { .. } => "transport",
            Error::Decode { .. } | Error::Field { .. } => "decode",
            Error::Paging { .. } => "paging",
            Error::Config { .. } | Error::UnknownVendor { .. } => "config",
            Error::Query(_) => "query",
            Error::Unsupported { .. } => "unsupported",
            Error::Io { .. } => "io",
            _ => "other",
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
            | Error::Unauthenticated { message, .. }
            | Error::Other(message) => apply(message),
            Error::RetriesExhausted { last, .. } => last.scrub_with(f),
            _ => {}
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
