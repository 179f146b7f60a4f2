//! The connector's configuration: typed, built from the registry's resolved
//! key/values (and so from `CHATHAUL_BANGWO8_<FIELD>` environment variables),
//! or directly by Rust code.

use std::fmt;

use connector_core::http::{HttpSettings, parse_base_url};
use connector_core::listing::VendorConfig;
use connector_core::registry::{ConfigField, ResolvedConfig};
use connector_core::time::{Tz, parse_zone};
use connector_core::{Error, Result};
use secrecy::SecretString;

use crate::VENDOR;

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://www.bangwo8.com";
/// The default time zone of the wall-clock times Bangwo8 sends.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// The configuration fields of the bangwo8 connector (besides the common HTTP
/// ones of [`connector_core::registry::COMMON_FIELDS`]).
pub const FIELDS: &[ConfigField] = &[
    ConfigField::required(
        "account",
        "the Bangwo8 login (an administrator account; listing needs it)",
    ),
    ConfigField::required("password", "the account's password (HTTP basic auth)").secret(),
    ConfigField::optional(
        "base_url",
        "the API root the paths are appended to (a proxy, a mirror, the simulator)",
    )
    .default(DEFAULT_BASE_URL),
    ConfigField::optional(
        "timezone",
        "IANA zone of the wall-clock times Bangwo8 sends",
    )
    .default(DEFAULT_TIMEZONE),
];

/// How to reach one Bangwo8 account.
///
/// `Debug` leaves the password out.
///
/// ```
/// use connector_bangwo8::Bangwo8Config;
///
/// let cfg = Bangwo8Config::new("admin@example.com", "secret").with_base_url("http://127.0.0.1:8080/bangwo8");
/// assert_eq!(cfg.base_url, "http://127.0.0.1:8080/bangwo8");
/// assert!(!format!("{cfg:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct Bangwo8Config {
    /// The login, sent as the basic-auth user name; also the model's `account`.
    pub account: String,
    /// The password.
    pub password: SecretString,
    /// The API root (`https://www.bangwo8.com`).
    pub base_url: String,
    /// The zone the vendor's wall-clock times are read in.
    pub timezone: Tz,
    /// Timeouts, retries, rate limit and concurrency.
    pub http: HttpSettings,
}

impl fmt::Debug for Bangwo8Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bangwo8Config")
            .field("account", &self.account)
            .field("password", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .field("timezone", &self.timezone)
            .field("http", &self.http)
            .finish()
    }
}

impl Bangwo8Config {
    /// A configuration with the default base URL, zone and HTTP settings.
    pub fn new(account: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            password: SecretString::from(password.into()),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timezone: chrono_tz_shanghai(),
            http: HttpSettings::default(),
        }
    }

    /// Sets the base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets the time zone.
    pub fn with_timezone(mut self, zone: Tz) -> Self {
        self.timezone = zone;
        self
    }

    /// Sets the HTTP settings.
    pub fn with_http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Builds the configuration from resolved key/values.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field that is missing or invalid.
    pub fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        let account = cfg.require("account")?.trim().to_owned();
        let password = cfg.secret("password").cloned().ok_or_else(|| {
            Error::config(
                VENDOR,
                "password",
                "is required: pass `password=...` or set CHATHAUL_BANGWO8_PASSWORD",
            )
        })?;
        let base_url = cfg
            .get("base_url")
            .unwrap_or(DEFAULT_BASE_URL)
            .trim()
            .to_owned();
        let timezone = parse_zone(
            VENDOR,
            cfg.get("timezone").unwrap_or(DEFAULT_TIMEZONE).trim(),
        )?;
        let cfg = Self {
            account,
            password,
            base_url,
            timezone,
            http: cfg.http_settings()?,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the values that can be checked without a request.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty account or a base URL that is not an http(s) URL.
    pub fn validate(&self) -> Result<()> {
        if self.account.trim().is_empty() {
            return Err(Error::config(VENDOR, "account", "is empty"));
        }
        parse_base_url(VENDOR, &self.base_url)?;
        Ok(())
    }
}

impl VendorConfig for Bangwo8Config {
    const FIELDS: &'static [ConfigField] = FIELDS;

    fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        Bangwo8Config::from_resolved(cfg)
    }

    fn with_http(self, http: HttpSettings) -> Self {
        Bangwo8Config::with_http(self, http)
    }
}

fn chrono_tz_shanghai() -> Tz {
    DEFAULT_TIMEZONE
        .parse()
        .expect("Asia/Shanghai is an IANA zone")
}
