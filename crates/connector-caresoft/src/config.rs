//! The CareSoft connector's configuration: typed, built from the registry's
//! resolved key/values (explicit values, then `CHATHAUL_CARESOFT_<FIELD>`,
//! then defaults) or constructed directly by Rust code.

use std::fmt;

use connector_core::http::{HttpSettings, parse_base_url};
use connector_core::listing::VendorConfig;
use connector_core::registry::ResolvedConfig;
use connector_core::time::{Tz, parse_zone};
use connector_core::{Channel, ConfigField, Error, Result};
use secrecy::SecretString;

use crate::VENDOR;

/// The zone CareSoft's wall-clock times are read in unless configured otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Ho_Chi_Minh";

/// The default of `conversation_types`: every type the API documents.
pub const DEFAULT_CONVERSATION_TYPES: &str = "livechat,facebook,zalo";

/// The configuration fields of the CareSoft connector (besides the common HTTP ones).
pub const FIELDS: &[ConfigField] = &[
    ConfigField::optional(
        "domain",
        "your CareSoft domain (`acme` for https://api.caresoft.vn/acme); required unless base_url is set",
    ),
    ConfigField::required("token", "the API token, sent as `Authorization: Bearer <token>`").secret(),
    ConfigField::optional(
        "base_url",
        "the API root (default https://api.caresoft.vn/{domain}); for proxies and the simulator",
    ),
    ConfigField::optional("timezone", "IANA zone CareSoft's local times are in").default(DEFAULT_TIMEZONE),
    ConfigField::optional(
        "conversation_types",
        "which chat types to list, a comma list of numbers or names: 0/livechat, 1/facebook, 3/zalo",
    )
    .default(DEFAULT_CONVERSATION_TYPES),
];

/// A CareSoft conversation type (the `conversation_type` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConversationType {
    /// `0`: the website live-chat widget.
    LiveChat,
    /// `1`: the Facebook page inbox (Messenger).
    Facebook,
    /// `3`: Zalo.
    Zalo,
}

impl ConversationType {
    /// Every type, in the order the connector lists them (0, 1, 3).
    pub const ALL: [ConversationType; 3] = [Self::LiveChat, Self::Facebook, Self::Zalo];

    /// The number the API uses.
    pub fn code(self) -> u8 {
        match self {
            Self::LiveChat => 0,
            Self::Facebook => 1,
            Self::Zalo => 3,
        }
    }

    /// The channel records listed under this type get.
    pub fn channel(self) -> Channel {
        match self {
            Self::LiveChat => Channel::Web,
            Self::Facebook => Channel::Facebook,
            Self::Zalo => Channel::Zalo,
        }
    }

    /// The type whose records have this channel, if any.
    pub fn for_channel(channel: &Channel) -> Option<Self> {
        Self::ALL.into_iter().find(|t| &t.channel() == channel)
    }

    /// Parses one type: its number or its name (`livechat`, `live_chat`,
    /// `web`, `facebook`, `zalo`), case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "0" | "livechat" | "live_chat" | "live-chat" | "web" => Some(Self::LiveChat),
            "1" | "facebook" => Some(Self::Facebook),
            "3" | "zalo" => Some(Self::Zalo),
            _ => None,
        }
    }

    /// Parses a comma list (`livechat,facebook,zalo`, `0,3`, `all`) into
    /// distinct types in listing order (0, 1, 3).
    ///
    /// # Errors
    /// [`Error::Config`] naming `conversation_types` and the bad value.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(Self::ALL.to_vec());
        }
        let mut types = Vec::new();
        for part in text.split(',') {
            let t = Self::parse(part).ok_or_else(|| {
                Error::config(
                    VENDOR,
                    "conversation_types",
                    format!(
                        "`{}` is not a conversation type; use 0/livechat, 1/facebook, 3/zalo (comma-separated) or all",
                        part.trim()
                    ),
                )
            })?;
            types.push(t);
        }
        types.sort();
        types.dedup();
        Ok(types)
    }
}

/// The typed configuration of a [`crate::CaresoftConnector`].
///
/// `Debug` never shows the token.
#[derive(Clone)]
pub struct CaresoftConfig {
    /// The CareSoft domain (`acme` for `https://api.caresoft.vn/acme`).
    pub domain: Option<String>,
    /// The API token.
    pub token: SecretString,
    /// The API root; `None` means `https://api.caresoft.vn/{domain}`.
    pub base_url: Option<String>,
    /// The zone CareSoft's wall-clock times are read in.
    pub timezone: Tz,
    /// The conversation types to list, in listing order (0, 1, 3).
    pub conversation_types: Vec<ConversationType>,
    /// Timeouts, retries, rate limit and concurrency.
    pub http: HttpSettings,
}

impl fmt::Debug for CaresoftConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaresoftConfig")
            .field("domain", &self.domain)
            .field("token", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .field("timezone", &self.timezone)
            .field("conversation_types", &self.conversation_types)
            .field("http", &self.http)
            .finish()
    }
}

impl CaresoftConfig {
    /// A configuration for `https://api.caresoft.vn/{domain}` with every
    /// conversation type, the default zone and default HTTP settings.
    pub fn new(domain: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            domain: Some(domain.into()),
            token: SecretString::from(token.into()),
            base_url: None,
            timezone: default_zone(),
            conversation_types: ConversationType::ALL.to_vec(),
            http: HttpSettings::default(),
        }
    }

    /// Sends requests to `base_url` instead of `https://api.caresoft.vn/{domain}`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Reads CareSoft's wall-clock times in `zone`.
    pub fn with_timezone(mut self, zone: Tz) -> Self {
        self.timezone = zone;
        self
    }

    /// Lists only these conversation types (always in the order 0, 1, 3).
    pub fn with_conversation_types(
        mut self,
        types: impl IntoIterator<Item = ConversationType>,
    ) -> Self {
        let mut types: Vec<_> = types.into_iter().collect();
        types.sort();
        types.dedup();
        self.conversation_types = types;
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
    /// [`Error::Config`] naming the field: no token, neither `domain` nor
    /// `base_url`, an invalid domain, base URL, zone, conversation type or
    /// HTTP setting.
    pub fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        let token = cfg.secret("token").cloned().ok_or_else(|| {
            Error::config(
                VENDOR,
                "token",
                "is required: pass `token=...` or set CHATHAUL_CARESOFT_TOKEN",
            )
        })?;
        let config = Self {
            domain: cfg.get("domain").map(|s| s.trim().to_owned()),
            token,
            base_url: cfg.get("base_url").map(|s| s.trim().to_owned()),
            timezone: parse_zone(
                VENDOR,
                cfg.get("timezone").unwrap_or(DEFAULT_TIMEZONE).trim(),
            )?,
            conversation_types: ConversationType::parse_list(
                cfg.get("conversation_types")
                    .unwrap_or(DEFAULT_CONVERSATION_TYPES),
            )?,
            http: cfg.http_settings()?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what the constructors cannot: a domain or a base URL is there,
    /// the domain is one URL path segment, the base URL parses, at least one
    /// conversation type is listed.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if let Some(domain) = &self.domain {
            let ok = !domain.is_empty()
                && domain.len() <= 100
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && !domain.starts_with('.');
            if !ok {
                return Err(Error::config(
                    VENDOR,
                    "domain",
                    format!(
                        "`{domain}` is not a CareSoft domain (letters, digits, `-`, `_`, `.`, like `acme`)"
                    ),
                ));
            }
        }
        if self.conversation_types.is_empty() {
            return Err(Error::config(
                VENDOR,
                "conversation_types",
                "lists no conversation type",
            ));
        }
        match (&self.domain, &self.base_url) {
            (None, None) => Err(Error::config(
                VENDOR,
                "domain",
                "is required unless base_url is set: pass `domain=...` or set CHATHAUL_CARESOFT_DOMAIN",
            )),
            (_, Some(url)) => parse_base_url(VENDOR, url).map(|_| ()),
            (Some(_), None) => Ok(()),
        }
    }

    /// The API root requests go to: `base_url`, else `https://api.caresoft.vn/{domain}`.
    ///
    /// # Errors
    /// [`Error::Config`] when neither is set.
    pub fn effective_base_url(&self) -> Result<String> {
        match (&self.base_url, &self.domain) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(domain)) => Ok(format!("https://api.caresoft.vn/{domain}")),
            (None, None) => Err(Error::config(
                VENDOR,
                "domain",
                "is required unless base_url is set",
            )),
        }
    }

    /// The account conversations are labelled with: the domain, else the
    /// base URL's host.
    ///
    /// # Errors
    /// [`Error::Config`] when neither is set or the base URL does not parse.
    pub fn account(&self) -> Result<String> {
        match (&self.domain, &self.base_url) {
            (Some(domain), _) => Ok(domain.clone()),
            (None, Some(url)) => {
                let url = parse_base_url(VENDOR, url)?;
                Ok(url.host_str().unwrap_or_default().to_owned())
            }
            (None, None) => Err(Error::config(
                VENDOR,
                "domain",
                "is required unless base_url is set",
            )),
        }
    }
}

impl VendorConfig for CaresoftConfig {
    const FIELDS: &'static [ConfigField] = FIELDS;

    fn from_resolved(cfg: &ResolvedConfig) -> Result<Self> {
        CaresoftConfig::from_resolved(cfg)
    }

    fn with_http(self, http: HttpSettings) -> Self {
        CaresoftConfig::with_http(self, http)
    }
}

fn default_zone() -> Tz {
    DEFAULT_TIMEZONE
        .parse()
        .expect("the default zone is a valid IANA name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_types_parse_numbers_names_and_all() {
        use ConversationType::*;
        let cases: &[(&str, &[ConversationType])] = &[
            ("livechat,facebook,zalo", &[LiveChat, Facebook, Zalo]),
            ("0,1,3", &[LiveChat, Facebook, Zalo]),
            ("zalo, 0", &[LiveChat, Zalo]),
            ("FACEBOOK", &[Facebook]),
            ("all", &[LiveChat, Facebook, Zalo]),
            ("3,zalo", &[Zalo]),
            ("live_chat", &[LiveChat]),
        ];
        for (text, want) in cases {
            assert_eq!(ConversationType::parse_list(text).unwrap(), *want, "{text}");
        }
        for bad in ["2", "livechat,telegram", "", "0,,1"] {
            let e = ConversationType::parse_list(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("caresoft: config field `conversation_types`"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn codes_and_channels() {
        let got: Vec<_> = ConversationType::ALL
            .iter()
            .map(|t| (t.code(), t.channel()))
            .collect();
        assert_eq!(
            got,
            [
                (0, Channel::Web),
                (1, Channel::Facebook),
                (3, Channel::Zalo)
            ]
        );
        assert_eq!(
            ConversationType::for_channel(&Channel::Zalo),
            Some(ConversationType::Zalo)
        );
        assert_eq!(ConversationType::for_channel(&Channel::Wechat), None);
    }

    #[test]
    fn account_and_base_url() {
        let c = CaresoftConfig::new("acme", "t0k");
        assert_eq!(c.account().unwrap(), "acme");
        assert_eq!(
            c.effective_base_url().unwrap(),
            "https://api.caresoft.vn/acme"
        );
        let c = CaresoftConfig { domain: None, ..c }.with_base_url("http://127.0.0.1:9/caresoft");
        assert_eq!(c.account().unwrap(), "127.0.0.1");
        assert_eq!(
            c.effective_base_url().unwrap(),
            "http://127.0.0.1:9/caresoft"
        );
        let c = CaresoftConfig {
            base_url: None,
            ..c
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("`domain`: is required unless base_url")
        );
    }

    #[test]
    fn domain_must_be_a_path_segment() {
        for bad in ["a/b", "acme?x=1", "", ".."] {
            let e = CaresoftConfig::new(bad, "t")
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains("config field `domain`"), "{bad}: {e}");
        }
        CaresoftConfig::new("acme-vn_2", "t").validate().unwrap();
    }

    #[test]
    fn debug_hides_the_token() {
        let c = CaresoftConfig::new("acme", "s3cr3t-token");
        let d = format!("{c:?}");
        assert!(
            !d.contains("s3cr3t-token") && d.contains("[REDACTED]"),
            "{d}"
        );
    }
}
