//! The HTTP client every vendor shares: auth, timeouts, retries with jittered
//! exponential backoff honouring `Retry-After`, per-account pacing (adaptive
//! concurrency and a learned rate, under the configured ceilings: see
//! [`crate::pacing`]) and a response size cap. A body is handed to the
//! caller's reader with the [`PageRef`] it came from ([`crate::decode`]
//! decodes it, naming the JSON path in errors).
//!
//! Choices: retries are `backon`'s (`Retryable` with an `ExponentialBuilder`,
//! jitter included), told when to retry by [`Error::is_retryable`], its delay
//! adjusted to honour `Retry-After`; an exchange runs as a task whose
//! `tokio_util` `AbortOnDropHandle` cancels it with its caller. The pacing
//! controller is shared by every client of the same vendor, account, base URL
//! and ceilings in the process.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use url::Url;

use crate::decode::PageRef;
use crate::error::{Error, Result};
use crate::lenient::{clip, clip_to};
use crate::pacing::{AccountPacing, Outcome, PacingLimits, PacingSnapshot};

/// How the client authenticates. Secrets stay in [`SecretString`]s and are
/// exposed only where the header is built.
#[derive(Clone)]
pub enum Auth {
    /// No authentication.
    None,
    /// HTTP basic auth.
    Basic {
        /// The user name (account, e-mail, `email/token`).
        user: String,
        /// The password or token.
        password: SecretString,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// A named header carrying the secret.
    Header {
        /// The header name.
        name: String,
        /// The header value.
        value: SecretString,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic({user:?}, [REDACTED])"),
            Auth::Bearer(_) => f.write_str("Bearer([REDACTED])"),
            Auth::Header { name, .. } => write!(f, "Header({name:?}: [REDACTED])"),
        }
    }
}

impl Auth {
    fn header(&self, vendor: &'static str) -> Result<Option<(HeaderName, HeaderValue)>> {
        let (name, value) = match self {
            Auth::None => return Ok(None),
            Auth::Basic { user, password } => (
                AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{}", password.expose_secret()))
                ),
            ),
            Auth::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose_secret())),
            Auth::Header { name, value } => {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    Error::config(
                        vendor,
                        "auth header",
                        format!("`{name}` is not a valid header name"),
                    )
                })?;
                (name, value.expose_secret().to_owned())
            }
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            Error::config(
                vendor,
                "credentials",
                "contain characters that cannot be sent in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }
}

/// Timeouts, retries, limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Timeout of one request, body included.
    pub timeout: Duration,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Attempts per request (1 = no retry).
    pub max_attempts: u32,
    /// First backoff delay.
    pub min_backoff: Duration,
    /// Largest backoff delay.
    pub max_backoff: Duration,
    /// Largest `Retry-After` honoured; a longer one ends the retries.
    pub max_retry_after: Duration,
    /// The most requests per second for the account (`None` = no ceiling):
    /// a ceiling over the rate the client learns from throttles.
    pub rate_limit: Option<f64>,
    /// The most requests in flight at once for the account: a ceiling over
    /// the concurrency the client learns (it starts low and grows while the
    /// server keeps up).
    pub max_in_flight: usize,
    /// Whether the client learns its concurrency (the default). `false`
    /// keeps [`HttpSettings::max_in_flight`] requests in flight from the
    /// first one on, whatever the server's latency; throttles still pause
    /// the account and teach it a rate.
    pub adaptive_concurrency: bool,
    /// A rate (requests per second) to pace the account at from the start,
    /// as if it had been learned: what an earlier run learned
    /// ([`HttpClient::pacing`]'s `rate`), so a resumed sync starts there.
    /// Ignored when a client of the same account in this process already
    /// learned one.
    pub initial_rate: Option<f64>,
    /// Largest response body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Allow plain `http://` to a host other than loopback (credentials
    /// would cross the network in clear). Off by default.
    pub allow_http: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 6,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
            rate_limit: None,
            max_in_flight: DEFAULT_CONCURRENCY,
            adaptive_concurrency: true,
            initial_rate: None,
            max_body_bytes: 64 * 1024 * 1024,
            allow_http: false,
        }
    }
}

/// The default ceiling on requests in flight per account (the
/// `concurrency` setting): high enough for a pull bound by latency, which the
/// controller reaches within a few round trips when the server keeps up.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The User-Agent every request carries.
pub const USER_AGENT: &str = concat!(
    "chathaul/",
    env!("CARGO_PKG_VERSION"),
    " (+chat-history connector)"
);

/// One GET request: the endpoint's name for errors, the path below the base
/// URL, the query parameters, and the page number for errors.
#[derive(Debug, Clone)]
pub struct Request {
    /// The endpoint as documented (`/apiv2/chats.json`), used in errors.
    pub endpoint: String,
    /// The path appended to the base URL (`/apiv2/chats/290.json`).
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The page number (0 when the endpoint has no pages), used in errors.
    pub page: u32,
}

impl Request {
    /// A request for `path`, known in errors as `endpoint`.
    pub fn new(endpoint: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            path: path.into(),
            query: Vec::new(),
            page: 0,
        }
    }
    /// Adds a query parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((key.into(), value.to_string()));
        self
    }
    /// Adds a query parameter when the value is there.
    pub fn param_opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }
    /// Sets the page number (for errors; add the page parameter separately).
    pub fn page(mut self, page: u32) -> Self {
        self.page = page;
        self
    }
    /// The page this request asks for, for errors about its body.
    pub fn page_ref(&self, vendor: &'static str) -> PageRef {
        PageRef::new(vendor, self.endpoint.clone(), self.page)
    }
}

/// How much of a quoted value an error from a request keeps.
const ERROR_CLIP: usize = 400;

/// A decoded response, with a fingerprint of its body (to detect a page that repeats).
#[derive(Debug)]
pub struct Response<T> {
    /// The decoded body.
    pub value: T,
    /// A hash of the body's bytes.
    pub fingerprint: u64,
    /// The body's length in bytes.
    pub bytes: usize,
}

/// Request counters of one client.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (attempts, retries included).
    pub requests: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
    /// Throttled answers received (HTTP 429, or a vendor's throttling code).
    pub throttled: AtomicU64,
    /// Response bytes read.
    pub bytes: AtomicU64,
}

/// A plain copy of [`Stats`], with what the account's pacing controller has
/// learned so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Requests sent (attempts, retries included).
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// Throttled answers received (HTTP 429, or a vendor's throttling code).
    pub throttled: u64,
    /// Response bytes read.
    pub bytes: u64,
    /// The account's concurrency limit now (the most requests it lets be in
    /// flight at once, under the `concurrency` ceiling).
    pub concurrency: u64,
    /// The rate the account learned from throttles, in requests per second;
    /// `None` if it was never throttled (nor given an initial rate).
    pub rate: Option<f64>,
    /// Seconds the account spent paused by throttles.
    pub paused_secs: f64,
}

/// The pacing controller of `key` (vendor, account, base URL and ceilings),
/// shared by every client with that key in the process.
fn account_pacing(key: String, label: String, limits: PacingLimits) -> Arc<AccountPacing> {
    static ACCOUNTS: OnceLock<Mutex<HashMap<String, Arc<AccountPacing>>>> = OnceLock::new();
    let mut accounts = ACCOUNTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let pacing = accounts
        .entry(key)
        .or_insert_with(|| AccountPacing::new(label, limits))
        .clone();
    if let Some(rate) = limits.initial_rate {
        pacing.seed_rate(rate);
    }
    pacing
}

/// The shared HTTP client of one connector instance.
pub struct HttpClient {
    vendor: &'static str,
    base: Url,
    auth_header: Option<(HeaderName, HeaderValue)>,
    auth: Auth,
    /// The credential in every form it travels in (the secret, the header
    /// value, basic auth's base64): scrubbed from any response text an error
    /// quotes, so a server that echoes the request cannot leak it.
    redact: Vec<String>,
    settings: HttpSettings,
    client: reqwest::Client,
    pacing: Arc<AccountPacing>,
    stats: Arc<Stats>,
}

/// What one exchange needs, owned, so it can run as a task.
struct ExchangeParts {
    client: reqwest::Client,
    url: Url,
    auth_header: Option<(HeaderName, HeaderValue)>,
    pacing: Arc<AccountPacing>,
    stats: Arc<Stats>,
    max_body_bytes: usize,
}

/// How one exchange ended, before it is turned into an [`Error`].
enum Exchange {
    Done {
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        location: Option<String>,
        body: Vec<u8>,
        sent_at: Instant,
    },
    SendFailed(String),
    BodyFailed(String),
    TooBig(reqwest::StatusCode),
}

/// Waits for the account's turn (pause, concurrency limit, learned rate),
/// sends the request, reads the body under the cap, and tells the pacing
/// controller how it went.
async fn exchange(p: ExchangeParts) -> Exchange {
    let admission = p.pacing.admit().await;
    let sent_at = admission.sent_at();
    p.stats.requests.fetch_add(1, Ordering::Relaxed);
    let mut builder = p.client.get(p.url);
    if let Some((name, value)) = p.auth_header {
        builder = builder.header(name, value);
    }
    let overloaded = Outcome::Overloaded { retry_after: None };
    let mut resp = match builder.send().await {
        Ok(r) => r,
        Err(e) => {
            admission.finish(if e.is_timeout() {
                overloaded
            } else {
                Outcome::Failed
            });
            return Exchange::SendFailed(describe(&e));
        }
    };
    let status = resp.status();
    let retry_after = resp.headers().get(RETRY_AFTER).and_then(parse_retry_after);
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let outcome = match status.as_u16() {
        429 => Outcome::Throttled { retry_after },
        503 => Outcome::Overloaded { retry_after },
        _ => Outcome::Answered,
    };
    if status.is_redirection() {
        admission.finish(outcome);
        return Exchange::Done {
            status,
            retry_after,
            location,
            body: Vec::new(),
            sent_at,
        };
    }
    // Read the body under the size cap, whatever the status.
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > p.max_body_bytes {
                    admission.finish(outcome);
                    return Exchange::TooBig(status);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                admission.finish(if e.is_timeout() {
                    overloaded
                } else {
                    Outcome::Failed
                });
                return Exchange::BodyFailed(describe(&e));
            }
        }
    }
    admission.finish(outcome);
    Exchange::Done {
        status,
        retry_after,
        location,
        body,
        sent_at,
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("vendor", &self.vendor)
            .field("base_url", &self.base.as_str())
            .field("auth", &self.auth)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for `vendor` at `base_url`, rate-limited per `account`.
    ///
    /// # Errors
    /// [`Error::Config`] when the base URL is not an http(s) URL or has
    /// credentials in it, or the credentials cannot go in a header.
    pub fn new(
        vendor: &'static str,
        account: &str,
        base_url: &str,
        auth: Auth,
        settings: HttpSettings,
    ) -> Result<Self> {
        let base = parse_base_url(vendor, base_url)?;
        if base.scheme() == "http" && !settings.allow_http && !is_loopback(&base) {
            return Err(Error::config(
                vendor,
                "base_url",
                format!(
                    "`{base}` is plain http to a host that is not this machine: credentials would cross the network \
                     in clear; use https, or set allow_http=true if you really mean it"
                ),
            ));
        }
        let auth_header = auth.header(vendor)?;
        let redact = redactions(&auth, auth_header.as_ref());
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let origin = base.clone();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .gzip(true)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // Follow redirects on the configured origin only: credentials
                // never go to a host the user did not configure.
                if attempt.previous().len() >= 5 {
                    attempt.error("more than 5 redirects")
                } else if same_origin(&origin, attempt.url()) {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .map_err(|e| Error::internal(format!("{vendor}: cannot build the HTTP client"), e))?;
        let limits = PacingLimits {
            max_concurrency: settings.max_in_flight.max(1),
            max_rate: settings.rate_limit,
            initial_rate: settings.initial_rate,
            max_pause: settings.max_retry_after,
            adaptive: settings.adaptive_concurrency,
        };
        let ceilings = format!(
            "{}|{}|{}|{}",
            limits.max_concurrency,
            limits.max_rate.map(f64::to_bits).unwrap_or(0),
            limits.max_pause.as_millis(),
            if limits.adaptive { "adaptive" } else { "fixed" }
        );
        let pacing = account_pacing(
            format!("{vendor}|{account}|{}|{ceilings}", base.as_str()),
            format!("{vendor} {account}"),
            limits,
        );
        Ok(Self {
            vendor,
            base,
            auth_header,
            auth,
            redact,
            settings,
            client,
            pacing,
            stats: Arc::default(),
        })
    }

    /// The vendor this client talks to.
    pub fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The settings in force.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Whether a URL is on the configured origin (scheme, host and port).
    pub fn is_same_origin(&self, url: &Url) -> bool {
        same_origin(&self.base, url)
    }

    /// The request counters so far, with what the account's pacing learned.
    pub fn stats(&self) -> StatsSnapshot {
        let pacing = self.pacing.snapshot();
        StatsSnapshot {
            requests: self.stats.requests.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            throttled: self.stats.throttled.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            concurrency: pacing.concurrency as u64,
            rate: pacing.rate,
            paused_secs: pacing.paused.as_secs_f64(),
        }
    }

    /// What the account's pacing controller has learned so far: its
    /// concurrency limit, its learned rate (to remember for the next run and
    /// hand back as [`HttpSettings::initial_rate`]) and the time paused.
    pub fn pacing(&self) -> PacingSnapshot {
        self.pacing.snapshot()
    }

    /// Paces the account at `rate` requests per second from now on, as if
    /// it had been learned, unless a rate was already learned in this
    /// process (for a sync resuming an account at its last run's rate when
    /// the client was built without [`HttpSettings::initial_rate`]).
    pub fn seed_rate(&self, rate: f64) {
        self.pacing.seed_rate(rate);
    }

    /// The full URL of a request (base URL + path + query).
    ///
    /// # Errors
    /// [`Error::Internal`] if the path makes the URL invalid (a connector
    /// bug: base URLs are checked when the config is read).
    pub fn url(&self, req: &Request) -> Result<Url> {
        let joined = format!("{}{}", self.base.as_str().trim_end_matches('/'), req.path);
        let mut url = Url::parse(&joined).map_err(|e| {
            Error::internal(
                format!("{}: invalid URL for {}", self.vendor, req.endpoint),
                e,
            )
        })?;
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        Ok(url)
    }

    /// GETs a JSON document, retrying transient failures, and decodes it.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] on 401/403; [`Error::Api`] on other error
    /// statuses; [`Error::Decode`] naming the JSON path; and after the retry
    /// budget, [`Error::RetriesExhausted`] saying how many attempts failed.
    pub async fn get_json<T: DeserializeOwned>(&self, req: &Request) -> Result<Response<T>> {
        self.get_with(req, |page, body| page.decode_body(body))
            .await
    }

    /// GETs a page, retrying transient failures, and hands its body to
    /// `read` (which may borrow from it, e.g. records as
    /// `serde_json` raw values, and returns what it made of them). A transient error
    /// from `read` (a body cut short) is retried like a failed request; the
    /// credential is scrubbed from every error `read` returns.
    ///
    /// # Errors
    /// As [`HttpClient::get_json`], and whatever `read` returns.
    pub async fn get_with<R, F>(&self, req: &Request, read: F) -> Result<Response<R>>
    where
        F: Fn(&PageRef, &[u8]) -> Result<R>,
    {
        let page = req.page_ref(self.vendor);
        self.with_retries(req, || async {
            let (body, sent_at) = self.attempt(req).await?;
            let value = read(&page, &body)
                .inspect_err(|e| self.throttled_in_body(e, sent_at))
                .map_err(|e| e.scrubbed(|t| clip_to(&self.scrub(t), ERROR_CLIP).into_owned()))?;
            Ok(Response {
                value,
                fingerprint: fingerprint(&body),
                bytes: body.len(),
            })
        })
        .await
    }

    /// A reader's [`Error::RateLimited`] (a vendor's throttling code in a
    /// 200 body) paces the account as a 429 does.
    fn throttled_in_body(&self, e: &Error, sent_at: Instant) {
        if let Error::RateLimited { retry_after, .. } = e {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            self.pacing.throttled_after(sent_at, *retry_after);
        }
    }

    /// [`HttpClient::get_with`], with `read` run on tokio's blocking pool:
    /// for large pages fetched several at a time (a listing's pages fetched
    /// ahead), whose decoding then runs on other cores while the task that
    /// drives the pull goes on writing what came before.
    ///
    /// # Errors
    /// As [`HttpClient::get_with`]; a panic in `read` is an
    /// [`Error::Internal`] naming the page.
    pub async fn get_with_spawned<R, F>(&self, req: &Request, read: F) -> Result<Response<R>>
    where
        F: Fn(&PageRef, &[u8]) -> Result<R> + Clone + Send + 'static,
        R: Send + 'static,
    {
        let page = req.page_ref(self.vendor);
        self.with_retries(req, || async {
            let (body, sent_at) = self.attempt(req).await?;
            let (read, at) = (read.clone(), page.clone());
            let decoded = tokio::task::spawn_blocking(move || {
                let value = read(&at, &body)?;
                Ok(Response {
                    value,
                    fingerprint: fingerprint(&body),
                    bytes: body.len(),
                })
            })
            .await
            .map_err(|e| {
                Error::internal(
                    format!(
                        "{}: decoding {} page {} failed",
                        page.vendor, page.endpoint, page.page
                    ),
                    e,
                )
            })?;
            decoded.map_err(|e: Error| {
                self.throttled_in_body(&e, sent_at);
                e.scrubbed(|t| clip_to(&self.scrub(t), ERROR_CLIP).into_owned())
            })
        })
        .await
    }

    /// GETs a body as bytes, retrying transient failures.
    ///
    /// # Errors
    /// As [`HttpClient::get_json`], without the decoding.
    pub async fn get_bytes(&self, req: &Request) -> Result<bytes::Bytes> {
        self.with_retries(req, || async { Ok(self.attempt(req).await?.0) })
            .await
    }

    async fn with_retries<T, F, Fut>(&self, req: &Request, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let attempts = AtomicU32::new(0);
        // Set when a `Retry-After` longer than honoured ended the retries.
        let too_long = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.min_backoff)
            .with_max_delay(self.settings.max_backoff)
            .with_jitter()
            .with_max_times(self.settings.max_attempts.saturating_sub(1) as usize);
        let mut f = f;
        let outcome = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            f()
        })
        .retry(backoff)
        .when(Error::is_retryable)
        .adjust(|e, delay| {
            let delay = delay?;
            match e {
                Error::RateLimited {
                    retry_after: Some(ra),
                    ..
                } => {
                    if *ra > self.settings.max_retry_after {
                        too_long.store(1, Ordering::Relaxed);
                        return None;
                    }
                    // Honour Retry-After (plus a little jitter so parallel
                    // requests do not return in lockstep; the account's pause
                    // holds them all until it ends anyway).
                    Some(*ra + Duration::from_millis(rand::random::<u64>() % 50))
                }
                _ => Some(delay),
            }
        })
        .notify(|e, delay| {
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(vendor = self.vendor, endpoint = %req.endpoint, page = req.page, attempt = attempts.load(Ordering::Relaxed), ?delay, error = %e, "retrying");
        })
        .await;
        let attempts = attempts.load(Ordering::Relaxed);
        outcome.map_err(|e| {
            let stopped_early = too_long.load(Ordering::Relaxed) == 1;
            if e.is_retryable() && (attempts > 1 || stopped_early) {
                Error::RetriesExhausted {
                    attempts,
                    last: Box::new(e),
                }
            } else {
                e
            }
        })
    }

    /// One exchange; the body and when the request was sent.
    async fn attempt(&self, req: &Request) -> Result<(bytes::Bytes, Instant)> {
        let url = self.url(req)?;
        let transport = |message: String| Error::Transport {
            vendor: self.vendor,
            endpoint: req.endpoint.clone(),
            page: req.page,
            message,
        };
        // The exchange runs as a task of its own. It holds one of the
        // account's in-flight places from the moment it is granted until the
        // body is read; as a task it finishes (and gives the place back)
        // even if the caller stops polling for a while, e.g. a stream that
        // fetched ahead and waits for its turn. Otherwise such a paused
        // future could hold places that every other request of the account
        // waits for: a deadlock. Dropping the caller aborts the task.
        let task = AbortOnDropHandle::new(tokio::spawn(exchange(ExchangeParts {
            client: self.client.clone(),
            url,
            auth_header: self.auth_header.clone(),
            pacing: self.pacing.clone(),
            stats: self.stats.clone(),
            max_body_bytes: self.settings.max_body_bytes,
        })));
        let outcome = task
            .await
            .map_err(|e| Error::internal(format!("{}: the request task failed", self.vendor), e))?;
        let (status, retry_after, location, body, sent_at) = match outcome {
            Exchange::Done {
                status,
                retry_after,
                location,
                body,
                sent_at,
            } => (status, retry_after, location, body, sent_at),
            Exchange::SendFailed(message) => return Err(transport(message)),
            Exchange::BodyFailed(message) => {
                return Err(transport(format!("reading the body failed: {message}")));
            }
            Exchange::TooBig(status) => {
                return Err(Error::Api {
                    vendor: self.vendor,
                    endpoint: req.endpoint.clone(),
                    page: req.page,
                    status: status.as_u16(),
                    code: None,
                    message: format!(
                        "response body exceeds the {} byte cap",
                        self.settings.max_body_bytes
                    ),
                });
            }
        };
        if status.is_redirection() {
            let to = location
                .map(|l| clip(&self.scrub(&l)).into_owned())
                .unwrap_or_default();
            return Err(Error::Paging {
                vendor: self.vendor,
                endpoint: req.endpoint.clone(),
                page: req.page,
                message: format!(
                    "refused a redirect (HTTP {}) to another host: `{to}`",
                    status.as_u16()
                ),
            });
        }
        self.stats
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let text = || clip(&self.quote(&body)).into_owned();
        match status.as_u16() {
            200..=299 => Ok((bytes::Bytes::from(body), sent_at)),
            s @ (401 | 403) => Err(Error::Unauthenticated {
                vendor: self.vendor,
                endpoint: req.endpoint.clone(),
                status: s,
                message: if s == 401 {
                    format!("the credentials were refused; check them ({})", text())
                } else {
                    format!(
                        "the account lacks the permission for this endpoint ({})",
                        text()
                    )
                },
            }),
            429 => {
                // The account's pacing already paused it for the Retry-After
                // (one it honours) and lowered its pace.
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                Err(Error::RateLimited {
                    vendor: self.vendor,
                    endpoint: req.endpoint.clone(),
                    page: req.page,
                    retry_after,
                })
            }
            s => Err(Error::Api {
                vendor: self.vendor,
                endpoint: req.endpoint.clone(),
                page: req.page,
                status: s,
                code: None,
                message: text(),
            }),
        }
    }

    /// A response body as errors quote it: scrubbed of the credential, on
    /// one line (an HTML error page's line breaks and indentation collapse to
    /// single spaces, so logs and the one-line CLI message stay readable).
    ///
    /// For connectors that read a body themselves ([`HttpClient::get_bytes`])
    /// and quote it in an error.
    pub fn quote(&self, body: &[u8]) -> String {
        let text = self.scrub(&String::from_utf8_lossy(body));
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// `text` with every form of the credential replaced by `[REDACTED]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.redact {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[REDACTED]");
            }
        }
        out
    }
}

/// The credential of `auth` in every form a server could echo: the secret
/// itself, the whole header value, and for basic auth its base64 part.
/// Longest first, so a longer form is replaced before a part of it.
fn redactions(auth: &Auth, header: Option<&(HeaderName, HeaderValue)>) -> Vec<String> {
    let mut out: Vec<String> = match auth {
        Auth::None => Vec::new(),
        Auth::Basic { password, .. } => vec![password.expose_secret().to_owned()],
        Auth::Bearer(token) => vec![token.expose_secret().to_owned()],
        Auth::Header { value, .. } => vec![value.expose_secret().to_owned()],
    };
    if let Some(value) = header.and_then(|(_, v)| v.to_str().ok()) {
        out.push(value.to_owned());
        if let Some(encoded) = value.strip_prefix("Basic ") {
            out.push(encoded.to_owned());
        }
    }
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Parses and checks a base URL.
///
/// # Errors
/// [`Error::Config`] naming `base_url`.
pub fn parse_base_url(vendor: &'static str, base_url: &str) -> Result<Url> {
    let base = Url::parse(base_url.trim()).map_err(|e| {
        Error::config(
            vendor,
            "base_url",
            format!("`{}` is not a URL: {e}", clip(base_url)),
        )
    })?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(Error::config(
            vendor,
            "base_url",
            format!("`{base}` must be an http(s) URL with a host"),
        ));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(Error::config(
            vendor,
            "base_url",
            "must not carry credentials; use the credential fields",
        ));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(Error::config(
            vendor,
            "base_url",
            "must not have a query or fragment",
        ));
    }
    Ok(base)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn fingerprint(body: &[u8]) -> u64 {
    crate::paging::fingerprint_of(body)
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &HeaderValue) -> Option<Duration> {
    let s = v.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<f64>() {
        // A value too large for a Duration (`1e300`) is "very long", not a panic.
        return (secs >= 0.0 && secs.is_finite())
            .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = chrono::DateTime::parse_from_rfc2822(s).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// A transport error's whole cause chain, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.without_url_ref()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    msg
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let kind = if self.is_connect() {
            "connection failed"
        } else if self.is_body() || self.is_decode() {
            "the response body could not be read"
        } else if self.is_request() {
            "the request failed"
        } else {
            "HTTP error"
        };
        kind.to_owned()
    }
}
