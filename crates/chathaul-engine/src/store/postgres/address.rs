//! A `postgresql://` URL, read as libpq reads it (with its environment
//! defaults), and where the password comes from.
//!
//! The password is never part of what is shown: [`PostgresUrl`]'s `Display`
//! and `Debug` leave it out, and so does every error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use connector_core::{Error, Result};

use crate::store::{is_postgres_url, redact_url_text};
use secrecy::{ExposeSecret, SecretString};

/// The schema chathaul's tables go in when the URL and the config name none.
pub const DEFAULT_SCHEMA: &str = "chathaul";

/// How long connecting may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// libpq's `sslmode`, as far as it matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, the certificate not checked (libpq's default).
    Prefer,
    /// TLS, the certificate not checked.
    Require,
    /// TLS, the certificate checked against the root certificates.
    VerifyCa,
    /// TLS, the certificate checked and its name matched against the host.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The name libpq gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The certificates a server's certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCertificates {
    /// A PEM file (`sslrootcert=PATH`, `PGSSLROOTCERT`, or
    /// `~/.postgresql/root.crt` when it exists).
    File(PathBuf),
    /// The public web's root certificates (`sslrootcert=system`, and the
    /// default when there is no `~/.postgresql/root.crt`).
    System,
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresHost {
    /// A host name or IP address, over TCP.
    Tcp(String),
    /// The directory of the server's Unix socket (a host starting with `/`).
    Socket(PathBuf),
}

/// Where the password was found (for messages; never the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// In the URL (`${VAR}` in a config file is expanded into it).
    Url,
    /// The `PGPASSWORD` environment variable.
    Environment,
    /// A line of the password file (`~/.pgpass` or `PGPASSFILE`).
    PasswordFile(PathBuf),
}

/// A Postgres database to sync into: a `postgresql://` (or `postgres://`)
/// URL with libpq's environment defaults applied.
///
/// `postgresql://[user[:password]@][host][:port][/dbname][?param=value&…]`,
/// with the parameters `sslmode` (`disable`, `prefer` — the default —,
/// `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or
/// `system`), `schema` (where the tables go, default `chathaul`),
/// `connect_timeout` (seconds), `application_name`, and `host`, `port`,
/// `user`, `dbname` as alternatives to the URL's parts. What the URL leaves
/// out comes from `PGHOST`, `PGPORT`, `PGUSER` (else the login name),
/// `PGDATABASE` (else the user name), `PGSSLMODE`, `PGSSLROOTCERT`; the
/// password from the URL, else `PGPASSWORD`, else the password file.
#[derive(Clone)]
pub struct PostgresUrl {
    host: PostgresHost,
    port: u16,
    user: String,
    dbname: String,
    password: Option<SecretString>,
    schema: String,
    sslmode: SslMode,
    root_certificates: RootCertificates,
    application_name: String,
    connect_timeout: Duration,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("url", &self.to_string())
            .field("has_password", &self.password.is_some())
            .finish()
    }
}

/// The URL without its password: what every message shows.
impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = match &self.host {
            PostgresHost::Tcp(h) if h.contains(':') => format!("[{h}]"),
            PostgresHost::Tcp(h) => h.clone(),
            PostgresHost::Socket(dir) => {
                url::form_urlencoded::byte_serialize(dir.to_string_lossy().as_bytes()).collect()
            }
        };
        write!(
            f,
            "postgresql://{}@{host}:{}/{}?sslmode={}",
            self.user,
            self.port,
            self.dbname,
            self.sslmode.as_str()
        )?;
        if self.schema != DEFAULT_SCHEMA {
            write!(f, "&schema={}", self.schema)?;
        }
        Ok(())
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A valid schema name: what Postgres accepts unquoted, lower case (so that
/// a user's queries need no quotes either).
pub fn check_schema(schema: &str) -> std::result::Result<(), String> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schema `{schema}` is not a plain name: use lower-case letters, digits and `_` (at most 63, not starting with a digit or pg_)"
        ))
    }
}

impl PostgresUrl {
    /// Parses a URL, with libpq's defaults from this process's environment.
    ///
    /// # Errors
    /// [`Error::DatabaseUrl`] saying what is wrong (the URL shown without
    /// its password).
    pub fn parse(text: &str) -> Result<PostgresUrl> {
        Self::parse_with_env(text, &|k| std::env::var(k).ok())
    }

    /// [`PostgresUrl::parse`] with an explicit environment.
    ///
    /// # Errors
    /// As [`PostgresUrl::parse`].
    pub fn parse_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PostgresUrl> {
        let shown = redact_url_text(text.trim());
        let bad = |message: String| Error::DatabaseUrl {
            location: shown.clone(),
            message,
        };
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        if !is_postgres_url(text) {
            return Err(bad("is not a postgresql:// or postgres:// URL".to_owned()));
        }
        // libpq takes `user@` with no host (then the host comes from
        // PGHOST, or `?host=`); the URL parser wants one: lend it a
        // placeholder and take it back.
        const NO_HOST: &str = "chathaul-no-host.invalid";
        let trimmed = text.trim();
        let after_scheme = trimmed.find("://").map_or(0, |i| i + 3);
        let authority_end = trimmed[after_scheme..]
            .find(['/', '?'])
            .map_or(trimmed.len(), |i| after_scheme + i);
        let lent = trimmed[..authority_end].ends_with('@');
        let text = if lent {
            format!(
                "{}{NO_HOST}{}",
                &trimmed[..authority_end],
                &trimmed[authority_end..]
            )
        } else {
            trimmed.to_owned()
        };
        let url = url::Url::parse(&text).map_err(|e| {
            bad(format!(
                "is not a URL ({e}); the form is postgresql://user@host:5432/dbname?sslmode=require"
            ))
        })?;
        if url.fragment().is_some() {
            return Err(bad("has a `#` part, which means nothing here".to_owned()));
        }
        let mut host = url
            .host_str()
            .filter(|h| !h.is_empty() && *h != NO_HOST)
            .map(|h| decode(h.trim_start_matches('[').trim_end_matches(']')));
        let mut port = url.port();
        let mut user = (!url.username().is_empty()).then(|| decode(url.username()));
        let mut password = url.password().map(decode);
        let path = url.path().trim_start_matches('/');
        if path.contains('/') {
            return Err(bad(format!("the path `/{path}` is not one database name")));
        }
        let mut dbname = (!path.is_empty()).then(|| decode(path));
        let mut schema = None;
        let mut sslmode = None;
        let mut rootcert = None;
        let mut application_name = None;
        let mut connect_timeout = None;
        for (key, value) in url.query_pairs() {
            let value = value.into_owned();
            match key.as_ref() {
                "host" => host = Some(value),
                "port" => {
                    port = Some(
                        value
                            .parse()
                            .map_err(|_| bad(format!("port `{value}` is not a port number")))?,
                    );
                }
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => dbname = Some(value),
                "schema" => schema = Some(value),
                "sslmode" => {
                    sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                        bad(format!(
                            "sslmode `{value}` is not one of disable, prefer, require, verify-ca, verify-full"
                        ))
                    })?);
                }
                "sslrootcert" => rootcert = Some(value),
                "application_name" => application_name = Some(value),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        bad(format!(
                            "connect_timeout `{value}` is not a number of seconds"
                        ))
                    })?;
                    connect_timeout = Some(Duration::from_secs(secs));
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter `{other}` (known: sslmode, sslrootcert, schema, connect_timeout, application_name, host, port, user, dbname)"
                    )));
                }
            }
        }
        let host = host
            .or_else(|| env("PGHOST"))
            .unwrap_or_else(|| "localhost".to_owned());
        let host = if host.starts_with('/') {
            PostgresHost::Socket(PathBuf::from(host))
        } else {
            PostgresHost::Tcp(host)
        };
        let port = match port {
            Some(p) => p,
            None => match env("PGPORT") {
                Some(p) => p
                    .parse()
                    .map_err(|_| bad(format!("PGPORT `{p}` is not a port number")))?,
                None => 5432,
            },
        };
        let user = user
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .ok_or_else(|| bad("names no user (postgresql://USER@host/dbname), and neither PGUSER nor USER is set".to_owned()))?;
        let dbname = dbname
            .or_else(|| env("PGDATABASE"))
            .unwrap_or_else(|| user.clone());
        let schema = schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
        check_schema(&schema).map_err(bad)?;
        let sslmode = match sslmode {
            Some(m) => m,
            None => match env("PGSSLMODE") {
                Some(m) => SslMode::parse(&m).ok_or_else(|| {
                    bad(format!(
                        "PGSSLMODE `{m}` is not one of disable, prefer, require, verify-ca, verify-full"
                    ))
                })?,
                None => SslMode::Prefer,
            },
        };
        let root_certificates = match rootcert.or_else(|| env("PGSSLROOTCERT")) {
            Some(s) if s == "system" => RootCertificates::System,
            Some(path) => RootCertificates::File(PathBuf::from(path)),
            None => match env("HOME").map(|h| Path::new(&h).join(".postgresql/root.crt")) {
                Some(file) if file.is_file() => RootCertificates::File(file),
                _ => RootCertificates::System,
            },
        };
        Ok(PostgresUrl {
            host,
            port,
            user,
            dbname,
            password: password.map(SecretString::from),
            schema,
            sslmode,
            root_certificates,
            application_name: application_name.unwrap_or_else(|| "chathaul".to_owned()),
            connect_timeout: connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        })
    }

    /// The same database with the tables in another schema.
    ///
    /// # Errors
    /// [`Error::DatabaseUrl`] for a name that is not plain.
    pub fn with_schema(mut self, schema: &str) -> Result<PostgresUrl> {
        check_schema(schema).map_err(|message| Error::DatabaseUrl {
            location: self.to_string(),
            message,
        })?;
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// The schema chathaul's tables are in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The server.
    pub fn host(&self) -> &PostgresHost {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The database name.
    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    /// The TLS mode.
    pub fn sslmode(&self) -> SslMode {
        self.sslmode
    }

    /// What the server's certificate is checked against (`verify-ca`, `verify-full`).
    pub fn root_certificates(&self) -> &RootCertificates {
        &self.root_certificates
    }

    /// Whether the URL itself holds a password.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    pub(crate) fn application_name(&self) -> &str {
        &self.application_name
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The password to log in with, and where it came from: the URL, else
    /// `PGPASSWORD`, else the first matching line of the password file
    /// (`PGPASSFILE`, else `~/.pgpass`).
    pub(crate) fn password(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<(SecretString, PasswordSource)> {
        if let Some(p) = &self.password {
            return Some((p.clone(), PasswordSource::Url));
        }
        if let Some(p) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
            return Some((SecretString::from(p), PasswordSource::Environment));
        }
        let file = env("PGPASSFILE")
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
        let text = read_password_file(&file)?;
        let host = match &self.host {
            PostgresHost::Tcp(h) => h.clone(),
            // libpq matches a socket connection against `localhost`.
            PostgresHost::Socket(_) => "localhost".to_owned(),
        };
        password_file_lookup(&text, &host, self.port, &self.dbname, &self.user)
            .map(|p| (SecretString::from(p), PasswordSource::PasswordFile(file)))
    }
}

/// The password file's text, unless it is missing or (as libpq requires)
/// readable by others than its owner.
fn read_password_file(file: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            "password file has group or world access; it is ignored (chmod 0600 it)"
        );
        return None;
    }
    std::fs::read_to_string(file).ok()
}

/// libpq's password file: `host:port:database:user:password` a line, `*`
/// matching anything in the first four fields, `\:` and `\\` escaping, `#`
/// starting a comment line; the first matching line wins.
pub(crate) fn password_file_lookup(
    text: &str,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        field.push(next);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        if fields.len() != 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            return Some(fields.swap_remove(4));
        }
    }
    None
}

/// The password as the client library takes it: the one place it is exposed.
pub(crate) fn expose(password: &SecretString) -> &[u8] {
    password.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_full_url_is_read_and_shown_without_its_password() {
        let u = PostgresUrl::parse_with_env(
            "postgresql://ann:s%40cret@db.example:6543/chats?sslmode=verify-full&schema=support&sslrootcert=/etc/ca.pem",
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(u.host(), &PostgresHost::Tcp("db.example".into()));
        assert_eq!((u.port(), u.user(), u.dbname()), (6543, "ann", "chats"));
        assert_eq!(u.schema(), "support");
        assert_eq!(u.sslmode(), SslMode::VerifyFull);
        assert_eq!(
            u.root_certificates(),
            &RootCertificates::File("/etc/ca.pem".into())
        );
        let (pw, from) = u.password(&env_of(&[("PGPASSWORD", "other")])).unwrap();
        assert_eq!((pw.expose_secret(), from), ("s@cret", PasswordSource::Url));
        let shown = u.to_string();
        assert_eq!(
            shown,
            "postgresql://ann@db.example:6543/chats?sslmode=verify-full&schema=support"
        );
        assert!(!format!("{u:?}").contains("cret"), "{u:?}");
    }

    #[test]
    fn what_the_url_leaves_out_comes_from_libpq_variables() {
        let env = env_of(&[
            ("PGHOST", "pg.internal"),
            ("PGPORT", "5433"),
            ("PGUSER", "etl"),
            ("PGSSLMODE", "require"),
        ]);
        let u = PostgresUrl::parse_with_env("postgres://", &env).unwrap();
        assert_eq!(
            u.to_string(),
            "postgresql://etl@pg.internal:5433/etl?sslmode=require"
        );
        let u = PostgresUrl::parse_with_env("postgresql:///warehouse", &env_of(&[("USER", "bo")]))
            .unwrap();
        assert_eq!(
            u.to_string(),
            "postgresql://bo@localhost:5432/warehouse?sslmode=prefer"
        );
        let u = PostgresUrl::parse_with_env(
            "postgresql://bo@/db?host=/var/run/postgresql",
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(
            u.host(),
            &PostgresHost::Socket("/var/run/postgresql".into())
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong_and_never_show_the_password() {
        let cases = [
            (
                "postgresql://ann:hunter2@db/x?sslmod=require",
                "unknown parameter `sslmod`",
            ),
            (
                "postgresql://ann:hunter2@db/x?sslmode=allow",
                "sslmode `allow` is not one of",
            ),
            ("postgresql://ann:hunter2@db:99999/x", "is not a URL"),
            (
                "postgresql://ann:hunter2@db/x?schema=Drop%20Table",
                "schema `Drop Table` is not a plain name",
            ),
            (
                "postgresql://ann:hunter2@db/x/y",
                "is not one database name",
            ),
        ];
        for (url, needle) in cases {
            let e = PostgresUrl::parse_with_env(url, &env_of(&[])).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(needle), "{url}: {text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("ann:***@db"), "{text}");
            assert_eq!(e.kind(), connector_core::ErrorKind::Config);
        }
    }

    #[test]
    fn the_password_comes_from_pgpassword_then_the_password_file() {
        let u =
            PostgresUrl::parse_with_env("postgresql://etl@db.example/chats", &env_of(&[])).unwrap();
        let (pw, from) = u.password(&env_of(&[("PGPASSWORD", "pw-env")])).unwrap();
        assert_eq!(
            (pw.expose_secret(), from),
            ("pw-env", PasswordSource::Environment)
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:etl:wrong\ndb.example:5432:chats:etl:pw\\:file\\\\x\n*:*:*:*:fallback\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = env_of(&[("PGPASSFILE", file.to_str().unwrap())]);
        let (pw, from) = u.password(&env).unwrap();
        assert_eq!(pw.expose_secret(), "pw:file\\x");
        assert_eq!(from, PasswordSource::PasswordFile(file.clone()));
        // A file others can read is ignored, as libpq does.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(u.password(&env).is_none());
    }

    #[test]
    fn password_file_lines_match_field_by_field() {
        let text = "h1:5432:db:u:one\n*:5433:*:*:two\n*:*:*:*:three";
        assert_eq!(
            password_file_lookup(text, "h1", 5432, "db", "u").as_deref(),
            Some("one")
        );
        assert_eq!(
            password_file_lookup(text, "h1", 5433, "db", "u").as_deref(),
            Some("two")
        );
        assert_eq!(
            password_file_lookup(text, "h2", 5432, "db", "u").as_deref(),
            Some("three")
        );
        assert_eq!(
            password_file_lookup("h1:5432:db:u", "h1", 5432, "db", "u"),
            None
        );
    }

    #[test]
    fn urls_are_recognized_by_scheme_and_redacted_even_when_they_do_not_parse() {
        use crate::store::{is_postgres_url, redact_url_text};
        assert!(is_postgres_url("postgresql://x"));
        assert!(is_postgres_url("POSTGRES://x"));
        assert!(!is_postgres_url("chats.sqlite"));
        assert!(!is_postgres_url("/data/postgresql/x.db"));
        assert_eq!(
            redact_url_text("postgresql://ann:pw@h:1,h2:2/db"),
            "postgresql://ann:***@h:1,h2:2/db"
        );
        assert_eq!(
            redact_url_text("postgresql://ann@h/db"),
            "postgresql://ann@h/db"
        );
    }
}
