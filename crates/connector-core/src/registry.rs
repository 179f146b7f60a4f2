//! The connector registry: each vendor crate submits a [`ConnectorFactory`]
//! with `inventory::submit!`; [`connectors`] lists them and [`connect`] builds one.
//!
//! A registration exists only if the vendor crate is linked: the `chathaul`
//! facade names every vendor crate it enables so the linker keeps them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::connector::{Capabilities, Connector};
use crate::error::{Error, Result};
use crate::http::HttpSettings;

/// One configuration field a connector takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfigField {
    /// The key (`password`).
    pub name: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// Whether it is a secret (never echoed, logged or stored in clear).
    pub secret: bool,
    /// Its default, if any.
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

impl ConfigField {
    /// A required, non-secret field.
    pub const fn required(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            required: true,
            secret: false,
            default: None,
            help,
        }
    }
    /// An optional, non-secret field.
    pub const fn optional(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            required: false,
            secret: false,
            default: None,
            help,
        }
    }
    /// Marks the field secret.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    /// Gives the field a default.
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }
}

/// Fields every connector accepts besides its own: `timezone` is in each
/// vendor's list (its default differs); these tune the HTTP client.
pub const COMMON_FIELDS: &[ConfigField] = &[
    ConfigField::optional(
        "rate_limit",
        "ceiling in requests per second for this account (0 = none); under it the client \
         learns the rate the server allows from its throttling",
    )
    .default("0"),
    ConfigField::optional(
        "concurrency",
        "ceiling on requests in flight at once for this account; under it the client \
         grows and shrinks its concurrency with the server's latency and throttling",
    )
    .default("64"),
    ConfigField::optional(
        "adaptive_concurrency",
        "false keeps `concurrency` requests in flight from the first one on, without learning \
         (throttles still pause the account and set its rate)",
    )
    .default("true"),
    ConfigField::optional(
        "timeout_secs",
        "timeout of one request, body included, in seconds",
    )
    .default("30"),
    ConfigField::optional(
        "max_attempts",
        "attempts per request before giving up (retries on 429, 5xx, connection errors)",
    )
    .default("6"),
    ConfigField::optional(
        "allow_http",
        "allow plain http:// to a host other than this machine (credentials in clear)",
    )
    .default("false"),
];

/// Limits a vendor documents for its API. A vendor crate passes them to
/// [`ResolvedConfig::http_settings_documented`] so they become the default
/// ceilings when the user sets none (`rate_limit`, `concurrency`); the
/// client's pacing still learns below them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DocumentedLimits {
    /// Requests per second the vendor allows an account.
    pub rate_limit: Option<f64>,
    /// Requests in flight at once the vendor allows an account.
    pub concurrency: Option<usize>,
}

/// A vendor's registration.
pub struct ConnectorFactory {
    /// The vendor name, lower case (`kf5`).
    pub name: &'static str,
    /// One line saying what it connects to.
    pub description: &'static str,
    /// Its configuration fields (besides [`COMMON_FIELDS`]).
    pub fields: &'static [ConfigField],
    /// What its connectors can do.
    pub capabilities: Capabilities,
    /// Builds a connector from a resolved configuration.
    pub build: fn(&ResolvedConfig) -> Result<Box<dyn Connector>>,
}

impl fmt::Debug for ConnectorFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorFactory")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish()
    }
}

inventory::collect!(ConnectorFactory);

impl ConnectorFactory {
    /// Every field this connector accepts: its own, then the common ones.
    pub fn all_fields(&self) -> impl Iterator<Item = &ConfigField> {
        self.fields.iter().chain(COMMON_FIELDS.iter())
    }

    /// The environment variable a field can come from: `CHATHAUL_<VENDOR>_<FIELD>`.
    pub fn env_var(&self, field: &str) -> String {
        env_var(self.name, field)
    }

    /// Resolves key/values (then environment variables, then defaults)
    /// against this connector's fields.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown key, a missing required field or an
    /// empty value.
    pub fn resolve<K, V, I>(&self, values: I) -> Result<ResolvedConfig>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.resolve_with_env(values, |k| std::env::var(k).ok())
    }

    /// [`ConnectorFactory::resolve`] with an explicit environment lookup (for tests).
    ///
    /// # Errors
    /// As [`ConnectorFactory::resolve`].
    pub fn resolve_with_env<K, V, I>(
        &self,
        values: I,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ResolvedConfig>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut given: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in values {
            let key = k.as_ref().trim().to_owned();
            if !self.all_fields().any(|f| f.name == key) {
                let known: Vec<_> = self.all_fields().map(|f| f.name).collect();
                return Err(Error::config(
                    self.name,
                    &key,
                    format!("unknown field; {} takes: {}", self.name, known.join(", ")),
                ));
            }
            given.insert(key, v.as_ref().to_owned());
        }
        let mut out = ResolvedConfig {
            vendor: self.name,
            plain: BTreeMap::new(),
            secrets: BTreeMap::new(),
            defaulted: BTreeSet::new(),
        };
        for field in self.all_fields() {
            let value = given
                .remove(field.name)
                .or_else(|| env(&self.env_var(field.name)).filter(|v| !v.is_empty()));
            let value = match value {
                Some(v) if v.trim().is_empty() => {
                    return Err(Error::config(self.name, field.name, "is empty"));
                }
                Some(v) => v,
                None => match field.default {
                    Some(d) => {
                        out.defaulted.insert(field.name);
                        d.to_owned()
                    }
                    None if field.required => {
                        return Err(Error::config(
                            self.name,
                            field.name,
                            format!(
                                "is required: pass `{}=...` or set {}",
                                field.name,
                                self.env_var(field.name)
                            ),
                        ));
                    }
                    None => continue,
                },
            };
            if field.secret {
                out.secrets.insert(field.name, SecretString::from(value));
            } else {
                out.plain.insert(field.name, value);
            }
        }
        Ok(out)
    }
}

/// The environment variable for a vendor's field: `CHATHAUL_<VENDOR>_<FIELD>`.
pub fn env_var(vendor: &str, field: &str) -> String {
    format!(
        "CHATHAUL_{}_{}",
        vendor.to_ascii_uppercase(),
        field.to_ascii_uppercase()
    )
}

/// A connector's configuration after defaults and environment variables were
/// applied. Secrets are held as [`SecretString`] and never shown by `Debug`.
#[derive(Clone)]
pub struct ResolvedConfig {
    vendor: &'static str,
    plain: BTreeMap<&'static str, String>,
    secrets: BTreeMap<&'static str, SecretString>,
    /// Fields that took their default (the user gave no value).
    defaulted: BTreeSet<&'static str>,
}

impl fmt::Debug for ResolvedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        m.entry(&"vendor", &self.vendor);
        for (k, v) in &self.plain {
            m.entry(k, v);
        }
        for k in self.secrets.keys() {
            m.entry(k, &"[REDACTED]");
        }
        m.finish()
    }
}

impl ResolvedConfig {
    /// The vendor this configuration is for.
    pub fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// A non-secret value.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.plain.get(field).map(String::as_str)
    }

    /// A non-secret value that must be there.
    ///
    /// # Errors
    /// [`Error::Config`] when it is absent.
    pub fn require(&self, field: &str) -> Result<&str> {
        self.get(field).ok_or_else(|| {
            Error::config(
                self.vendor,
                field,
                format!(
                    "is required: pass `{field}=...` or set {}",
                    env_var(self.vendor, field)
                ),
            )
        })
    }

    /// A secret value.
    pub fn secret(&self, field: &str) -> Option<&SecretString> {
        self.secrets.get(field)
    }

    /// Parses a non-secret value.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field and the text when it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, field: &str) -> Result<Option<T>> {
        match self.get(field) {
            None => Ok(None),
            Some(text) => text.trim().parse::<T>().map(Some).map_err(|_| {
                Error::config(
                    self.vendor,
                    field,
                    format!("`{text}` is not a valid {}", std::any::type_name::<T>()),
                )
            }),
        }
    }

    /// The HTTP settings from the common fields.
    ///
    /// # Errors
    /// [`Error::Config`] for a value that does not parse or is out of range.
    pub fn http_settings(&self) -> Result<HttpSettings> {
        let mut s = HttpSettings::default();
        if let Some(rps) = self.parse::<f64>("rate_limit")? {
            if !(rps >= 0.0 && rps.is_finite()) {
                return Err(Error::config(
                    self.vendor,
                    "rate_limit",
                    "must be a non-negative number",
                ));
            }
            s.rate_limit = (rps > 0.0).then_some(rps);
        }
        if let Some(n) = self.parse::<usize>("concurrency")? {
            if n == 0 {
                return Err(Error::config(
                    self.vendor,
                    "concurrency",
                    "must be at least 1",
                ));
            }
            s.max_in_flight = n;
        }
        if let Some(adaptive) = self.parse::<bool>("adaptive_concurrency")? {
            s.adaptive_concurrency = adaptive;
        }
        if let Some(t) = self.parse::<f64>("timeout_secs")? {
            if !(t > 0.0 && t.is_finite()) {
                return Err(Error::config(
                    self.vendor,
                    "timeout_secs",
                    "must be a positive number",
                ));
            }
            s.timeout = std::time::Duration::from_secs_f64(t);
        }
        if let Some(n) = self.parse::<u32>("max_attempts")? {
            if n == 0 {
                return Err(Error::config(
                    self.vendor,
                    "max_attempts",
                    "must be at least 1",
                ));
            }
            s.max_attempts = n;
        }
        if let Some(allow) = self.parse::<bool>("allow_http")? {
            s.allow_http = allow;
        }
        Ok(s)
    }

    /// [`ResolvedConfig::http_settings`], with a vendor's documented limits
    /// as the ceilings where the user set none.
    ///
    /// # Errors
    /// As [`ResolvedConfig::http_settings`].
    pub fn http_settings_documented(&self, documented: DocumentedLimits) -> Result<HttpSettings> {
        let mut s = self.http_settings()?;
        if self.defaulted.contains("rate_limit") && documented.rate_limit.is_some() {
            s.rate_limit = documented.rate_limit.filter(|r| r.is_finite() && *r > 0.0);
        }
        if let Some(n) = documented.concurrency.filter(|n| *n > 0)
            && self.defaulted.contains("concurrency")
        {
            s.max_in_flight = n;
        }
        Ok(s)
    }

    /// A fingerprint of the non-secret values, for logs and sync state (the
    /// secrets are left out).
    pub fn public_values(&self) -> &BTreeMap<&'static str, String> {
        &self.plain
    }

    /// Exposes a secret; vendor crates call this only where the auth header is built.
    pub fn expose(&self, field: &str) -> Option<&str> {
        self.secrets.get(field).map(|s| s.expose_secret())
    }
}

/// Every registered connector, sorted by name.
///
/// # Panics
/// Never on a well-formed build; two registrations under one name are a
/// build mistake reported by [`check_registry`].
pub fn connectors() -> Vec<&'static ConnectorFactory> {
    let mut all: Vec<&'static ConnectorFactory> =
        inventory::iter::<ConnectorFactory>.into_iter().collect();
    all.sort_by_key(|f| f.name);
    all.dedup_by_key(|f| f.name);
    all
}

/// Checks that no two linked crates register the same vendor name.
///
/// # Errors
/// [`Error::DuplicateVendor`] naming the duplicated vendor and both descriptions.
pub fn check_registry() -> Result<()> {
    let mut all: Vec<&'static ConnectorFactory> =
        inventory::iter::<ConnectorFactory>.into_iter().collect();
    all.sort_by_key(|f| f.name);
    for pair in all.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(Error::DuplicateVendor {
                name: pair[0].name.to_owned(),
                first: pair[0].description.to_owned(),
                second: pair[1].description.to_owned(),
            });
        }
    }
    Ok(())
}

/// The registration of one vendor.
///
/// # Errors
/// [`Error::UnknownVendor`] listing the known names.
pub fn find(name: &str) -> Result<&'static ConnectorFactory> {
    check_registry()?;
    let all = connectors();
    all.iter()
        .copied()
        .find(|f| f.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| Error::UnknownVendor {
            name: name.to_owned(),
            known: all.iter().map(|f| f.name.to_owned()).collect(),
        })
}

/// Builds a connector from key/values; missing fields come from the
/// environment (`CHATHAUL_<VENDOR>_<FIELD>`), then defaults.
///
/// # Errors
/// [`Error::UnknownVendor`], or [`Error::Config`] naming the missing, invalid
/// or unknown field.
pub fn connect<K, V, I>(name: &str, config: I) -> Result<Box<dyn Connector>>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let factory = find(name)?;
    let resolved = factory.resolve(config)?;
    (factory.build)(&resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Capabilities;
    use crate::http::DEFAULT_CONCURRENCY;

    fn factory() -> ConnectorFactory {
        ConnectorFactory {
            name: "testvendor",
            description: "a test vendor",
            fields: &[],
            capabilities: Capabilities::default(),
            build: |_| {
                Err(Error::Unsupported {
                    vendor: "testvendor",
                    message: "not built in tests".into(),
                })
            },
        }
    }

    fn resolve(values: &[(&str, &str)]) -> ResolvedConfig {
        factory()
            .resolve_with_env(values.iter().copied(), |_| None)
            .unwrap()
    }

    #[test]
    fn concurrency_and_rate_limit_are_ceilings_with_the_documented_defaults() {
        let field = |name: &str| COMMON_FIELDS.iter().find(|f| f.name == name).unwrap();
        assert_eq!(
            field("concurrency").default,
            Some(DEFAULT_CONCURRENCY.to_string().as_str())
        );
        assert!(field("concurrency").help.contains("ceiling"));
        assert!(field("rate_limit").help.contains("ceiling"));
        let s = resolve(&[]).http_settings().unwrap();
        assert_eq!((s.max_in_flight, s.rate_limit), (64, None));
        let s = resolve(&[("concurrency", "5"), ("rate_limit", "2.5")])
            .http_settings()
            .unwrap();
        assert_eq!((s.max_in_flight, s.rate_limit), (5, Some(2.5)));
    }

    #[test]
    fn adaptive_concurrency_is_on_unless_turned_off() {
        assert!(resolve(&[]).http_settings().unwrap().adaptive_concurrency);
        let s = resolve(&[("concurrency", "8"), ("adaptive_concurrency", "false")])
            .http_settings()
            .unwrap();
        assert_eq!((s.max_in_flight, s.adaptive_concurrency), (8, false));
        let e = resolve(&[("adaptive_concurrency", "sometimes")])
            .http_settings()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("adaptive_concurrency") && e.contains("sometimes"),
            "{e}"
        );
    }

    #[test]
    fn a_documented_limit_is_the_ceiling_only_where_the_user_set_none() {
        let documented = DocumentedLimits {
            rate_limit: Some(4.0),
            concurrency: Some(3),
        };
        let s = resolve(&[]).http_settings_documented(documented).unwrap();
        assert_eq!((s.max_in_flight, s.rate_limit), (3, Some(4.0)));
        let s = resolve(&[("rate_limit", "10"), ("concurrency", "12")])
            .http_settings_documented(documented)
            .unwrap();
        assert_eq!((s.max_in_flight, s.rate_limit), (12, Some(10.0)));
        // `rate_limit=0` said by the user means no ceiling, even over a
        // documented one; nothing documented leaves the defaults.
        let s = resolve(&[("rate_limit", "0")])
            .http_settings_documented(documented)
            .unwrap();
        assert_eq!((s.max_in_flight, s.rate_limit), (3, None));
        let s = resolve(&[])
            .http_settings_documented(DocumentedLimits::default())
            .unwrap();
        assert_eq!((s.max_in_flight, s.rate_limit), (64, None));
    }
}
