//! The fake vendor's configuration: where it is, and as whom.

use std::fmt;

use connector_core::http::{HttpSettings, parse_base_url};
use connector_core::listing::VendorConfig;
use connector_core::registry::ResolvedConfig;
use connector_core::secrecy::SecretString;
use connector_core::time::{Tz, parse_zone};
use connector_core::{ConfigField, Error, Result};

use crate::VENDOR;

/// The configuration fields (besides the common HTTP ones).
pub const FIELDS: &[ConfigField] = &[
    ConfigField::required("base_url", "the API root"),
    ConfigField::required("account", "the account (the basic-auth user)"),
    ConfigField::required("password", "the account's password").secret(),
    ConfigField::optional("timezone", "IANA zone of times sent without an offset").default("UTC"),
];

/// The typed configuration; `Debug` never shows the password.
#[derive(Clone)]
pub struct FakeConfig {
    /// The API root.
    pub base_url: String,
    /// The account, also the basic-auth user.
    pub account: String,
    /// The password.
    pub password: SecretString,
    /// The zone of times sent without an offset.
    pub timezone: Tz,
    /// Timeouts, retries, rate limit and concurrency.
    pub http: HttpSettings,
}

impl fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeConfig")
            .field("base_url", &self.base_url)
            .field("account", &self.account)
            .field("password", &"[REDACTED]")
            .field("timezone", &self.timezone)
            .field("http", &self.http)
            .finish()
    }
}

impl VendorConfig for FakeConfig {
    const FIELDS: &'static [ConfigField] = FIELDS;

    fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        let base_url = cfg.require("base_url")?.trim().to_owned();
        parse_base_url(VENDOR, &base_url)?;
        Ok(Self {
            base_url,
            account: cfg.require("account")?.trim().to_owned(),
            password: cfg
                .secret("password")
                .cloned()
                .ok_or_else(|| Error::config(VENDOR, "password", "is required"))?,
            timezone: parse_zone(VENDOR, cfg.get("timezone").unwrap_or("UTC"))?,
            http: cfg.http_settings()?,
        })
    }

    fn with_http(self, http: HttpSettings) -> Self {
        Self { http, ..self }
    }
}
