//! The KF5 connector's configuration: typed, built from the registry's
//! resolved key/values (explicit values, then `CHATHAUL_KF5_<FIELD>`, then
//! defaults) or constructed directly by Rust code.

use std::fmt;

use connector_core::http::{HttpSettings, parse_base_url};
use connector_core::listing::VendorConfig;
use connector_core::registry::ResolvedConfig;
use connector_core::time::{Tz, parse_zone};
use connector_core::{ConfigField, Error, Result};
use secrecy::SecretString;

use crate::VENDOR;

/// The zone KF5's wall-clock times are read in unless configured otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// The configuration fields of the KF5 connector (besides the common HTTP ones).
pub const FIELDS: &[ConfigField] = &[
    ConfigField::optional(
        "subdomain",
        "your KF5 subdomain (`acme` for https://acme.kf5.com); required unless base_url is set",
    ),
    ConfigField::required("email", "the e-mail address of an agent or administrator"),
    ConfigField::optional("password", "the agent's password (give this or api_token)").secret(),
    ConfigField::optional(
        "api_token",
        "an API token, sent as basic auth `{email}/token:{api_token}` (give this or password)",
    )
    .secret(),
    ConfigField::optional(
        "base_url",
        "the API root (default https://{subdomain}.kf5.com); for proxies and the simulator",
    ),
    ConfigField::optional("timezone", "IANA zone KF5's local times are in")
        .default(DEFAULT_TIMEZONE),
];

/// How the connector authenticates: HTTP basic with the password, or with
/// `{email}/token` and an API token.
#[derive(Clone)]
pub enum Credential {
    /// The agent's password.
    Password(SecretString),
    /// An API token.
    ApiToken(SecretString),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password([REDACTED])"),
            Credential::ApiToken(_) => f.write_str("ApiToken([REDACTED])"),
        }
    }
}

/// The typed configuration of a [`crate::Kf5Connector`].
///
/// `Debug` never shows the password or token.
#[derive(Clone)]
pub struct Kf5Config {
    /// The KF5 subdomain (`acme` for `https://acme.kf5.com`).
    pub subdomain: Option<String>,
    /// The agent's e-mail address (the basic-auth user).
    pub email: String,
    /// The password or API token.
    pub credential: Credential,
    /// The API root; `None` means `https://{subdomain}.kf5.com`.
    pub base_url: Option<String>,
    /// The zone KF5's wall-clock times are read in.
    pub timezone: Tz,
    /// Timeouts, retries, rate limit and concurrency.
    pub http: HttpSettings,
}

impl fmt::Debug for Kf5Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kf5Config")
            .field("subdomain", &self.subdomain)
            .field("email", &self.email)
            .field("credential", &self.credential)
            .field("base_url", &self.base_url)
            .field("timezone", &self.timezone)
            .field("http", &self.http)
            .finish()
    }
}

impl Kf5Config {
    /// A configuration for `https://{subdomain}.kf5.com` with password
    /// authentication, the default zone and default HTTP settings.
    pub fn new(
        subdomain: impl Into<String>,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            subdomain: Some(subdomain.into()),
            email: email.into(),
            credential: Credential::Password(SecretString::from(password.into())),
            base_url: None,
            timezone: default_zone(),
            http: HttpSettings::default(),
        }
    }

    /// Authenticates with an API token instead of the password.
    pub fn with_api_token(mut self, token: impl Into<String>) -> Self {
        self.credential = Credential::ApiToken(SecretString::from(token.into()));
        self
    }

    /// Sends requests to `base_url` instead of `https://{subdomain}.kf5.com`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Reads KF5's wall-clock times in `zone`.
    pub fn with_timezone(mut self, zone: Tz) -> Self {
        self.timezone = zone;
        self
    }

    /// Uses these HTTP settings.
    pub fn with_http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Builds the configuration from resolved key/values.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: neither or both of `password` and
    /// `api_token`, neither `subdomain` nor `base_url`, an invalid subdomain,
    /// zone or HTTP setting.
    pub fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        let credential = match (cfg.secret("password"), cfg.secret("api_token")) {
            (Some(p), None) => Credential::Password(p.clone()),
            (None, Some(t)) => Credential::ApiToken(t.clone()),
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    VENDOR,
                    "api_token",
                    "give either password or api_token, not both",
                ));
            }
            (None, None) => {
                return Err(Error::config(
                    VENDOR,
                    "password",
                    "is required (or api_token): pass `password=...` or set CHATHAUL_KF5_PASSWORD, \
                     or `api_token=...` / CHATHAUL_KF5_API_TOKEN",
                ));
            }
        };
        let config = Self {
            subdomain: cfg.get("subdomain").map(|s| s.trim().to_owned()),
            email: cfg.require("email")?.trim().to_owned(),
            credential,
            base_url: cfg.get("base_url").map(|s| s.trim().to_owned()),
            timezone: parse_zone(VENDOR, cfg.get("timezone").unwrap_or(DEFAULT_TIMEZONE))?,
            http: cfg.http_settings()?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the fields that the constructors cannot: a subdomain or a base
    /// URL is there, the subdomain is a host label, the base URL parses.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.email.trim().is_empty() {
            return Err(Error::config(VENDOR, "email", "is empty"));
        }
        if let Some(sub) = &self.subdomain {
            let label_ok = !sub.is_empty()
                && sub.len() <= 63
                && sub.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !sub.starts_with('-')
                && !sub.ends_with('-');
            if !label_ok {
                return Err(Error::config(
                    VENDOR,
                    "subdomain",
                    format!("`{sub}` is not a subdomain (letters, digits and `-`, like `acme`)"),
                ));
            }
        }
        match (&self.subdomain, &self.base_url) {
            (None, None) => Err(Error::config(
                VENDOR,
                "subdomain",
                "is required unless base_url is set: pass `subdomain=...` or set CHATHAUL_KF5_SUBDOMAIN",
            )),
            (_, Some(url)) => parse_base_url(VENDOR, url).map(|_| ()),
            (Some(_), None) => Ok(()),
        }
    }

    /// The API root requests go to.
    pub fn effective_base_url(&self) -> String {
        match (&self.base_url, &self.subdomain) {
            (Some(url), _) => url.clone(),
            (None, Some(sub)) => format!("https://{sub}.kf5.com"),
            (None, None) => String::new(),
        }
    }

    /// The account conversations are tagged with: the subdomain, or the base
    /// URL's host when only a base URL is configured.
    pub fn account(&self) -> String {
        if let Some(sub) = &self.subdomain {
            return sub.clone();
        }
        self.base_url
            .as_deref()
            .and_then(|u| parse_base_url(VENDOR, u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The basic-auth user name: the e-mail, or `{email}/token` for a token.
    pub(crate) fn auth_user(&self) -> String {
        match self.credential {
            Credential::Password(_) => self.email.clone(),
            Credential::ApiToken(_) => format!("{}/token", self.email),
        }
    }
}

impl VendorConfig for Kf5Config {
    const FIELDS: &'static [ConfigField] = FIELDS;

    fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        Kf5Config::from_resolved(cfg)
    }

    fn with_http(self, http: HttpSettings) -> Self {
        Kf5Config::with_http(self, http)
    }
}

fn default_zone() -> Tz {
    DEFAULT_TIMEZONE.parse().unwrap_or(Tz::Asia__Shanghai)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(values: &[(&str, &str)]) -> Result<Kf5Config> {
        let factory = connector_core::ConnectorFactory {
            name: VENDOR,
            description: "test",
            fields: FIELDS,
            capabilities: crate::CAPABILITIES,
            build: |_| {
                Err(Error::Unsupported {
                    vendor: VENDOR,
                    message: "not built in tests".into(),
                })
            },
        };
        let cfg = factory.resolve_with_env(values.iter().copied(), |var| {
            (var == "CHATHAUL_KF5_TIMEZONE").then(|| "Asia/Tokyo".to_owned())
        })?;
        Kf5Config::from_resolved(&cfg)
    }

    #[test]
    fn subdomain_gives_the_default_base_url_and_account() {
        let c = resolve(&[
            ("subdomain", "acme"),
            ("email", "a@x.cn"),
            ("password", "pw"),
        ])
        .unwrap();
        assert_eq!(c.effective_base_url(), "https://acme.kf5.com");
        assert_eq!(c.account(), "acme");
        assert_eq!(c.auth_user(), "a@x.cn");
        // The zone came from CHATHAUL_KF5_TIMEZONE.
        assert_eq!(c.timezone, Tz::Asia__Tokyo);
    }

    #[test]
    fn base_url_only_makes_the_host_the_account() {
        let c = resolve(&[
            ("base_url", "http://127.0.0.1:8080/kf5"),
            ("email", "a@x.cn"),
            ("api_token", "tok"),
            ("timezone", "Asia/Shanghai"),
        ])
        .unwrap();
        assert_eq!(c.effective_base_url(), "http://127.0.0.1:8080/kf5");
        assert_eq!(c.account(), "127.0.0.1");
        assert_eq!(c.auth_user(), "a@x.cn/token");
        assert_eq!(c.timezone, Tz::Asia__Shanghai);
    }

    #[test]
    fn credential_and_location_errors_name_the_field() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("subdomain", "acme"), ("email", "a@x.cn")],
                "config field `password`: is required (or api_token)",
            ),
            (
                &[
                    ("subdomain", "acme"),
                    ("email", "a@x.cn"),
                    ("password", "p"),
                    ("api_token", "t"),
                ],
                "config field `api_token`: give either password or api_token, not both",
            ),
            (
                &[("email", "a@x.cn"), ("password", "p")],
                "config field `subdomain`: is required unless base_url",
            ),
            (
                &[
                    ("subdomain", "acme.evil.com/x"),
                    ("email", "a@x.cn"),
                    ("password", "p"),
                ],
                "config field `subdomain`",
            ),
            (
                &[
                    ("base_url", "ftp://x"),
                    ("email", "a@x.cn"),
                    ("password", "p"),
                ],
                "config field `base_url`",
            ),
            (
                &[
                    ("subdomain", "acme"),
                    ("email", "a@x.cn"),
                    ("password", "p"),
                    ("timezone", "Mars/Base"),
                ],
                "config field `timezone`",
            ),
            (
                &[("subdomain", "acme"), ("password", "p")],
                "CHATHAUL_KF5_EMAIL",
            ),
        ];
        for (values, want) in cases {
            let e = resolve(values).unwrap_err().to_string();
            assert!(
                e.starts_with("kf5: ") && e.contains(want),
                "{values:?}: {e}"
            );
        }
    }

    #[test]
    fn debug_hides_the_secrets() {
        let c = Kf5Config::new("acme", "a@x.cn", "hunter2-pw");
        let t = c.clone().with_api_token("tok-s3cr3t");
        for text in [format!("{c:?}"), format!("{t:?}")] {
            assert!(
                !text.contains("hunter2-pw") && !text.contains("tok-s3cr3t"),
                "{text}"
            );
            assert!(
                text.contains("[REDACTED]") && text.contains("a@x.cn"),
                "{text}"
            );
        }
    }
}
