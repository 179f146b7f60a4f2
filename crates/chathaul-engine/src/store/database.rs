//! Which database a sync goes into, from what the user wrote: a
//! `postgresql://` (or `postgres://`) URL is a Postgres database, anything
//! else a SQLite file.

use std::path::{Path, PathBuf};

use connector_core::{Error, Result};

use super::SyncStore;

/// A database to sync into. Shown (`Display`, `Debug`) without any password.
#[derive(Clone)]
#[non_exhaustive]
pub enum Database {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A schema in a Postgres database.
    #[cfg(feature = "postgres")]
    Postgres(super::postgres::PostgresUrl),
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// Whether `text` names a Postgres database (by its URL scheme).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

/// `text` with the password of a URL's user part replaced by `***`: for a
/// URL that did not parse, so that even its error shows no secret.
pub fn redact_url_text(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (Some(at), Some(colon)) = (authority.rfind('@'), authority.find(':')) else {
        return text.to_owned();
    };
    if colon > at {
        return text.to_owned();
    }
    format!(
        "{}{}:***{}",
        &text[..scheme_end + 3],
        &authority[..colon],
        &text[scheme_end + 3 + at..]
    )
}

impl Database {
    /// Reads what the user wrote (`--db`, the config file's `db`, Python's
    /// `db=`): a `postgresql://` URL, or a SQLite file path.
    ///
    /// # Errors
    /// [`Error::DatabaseUrl`] for a URL that cannot be used (the message
    /// shows it without its password); [`Error::FeatureDisabled`] for a URL
    /// when this build has no Postgres.
    pub fn parse(text: &str) -> Result<Database> {
        if is_postgres_url(text) {
            #[cfg(feature = "postgres")]
            return Ok(Database::Postgres(super::postgres::PostgresUrl::parse(
                text,
            )?));
            #[cfg(not(feature = "postgres"))]
            return Err(Error::FeatureDisabled {
                feature: "postgres",
                what: "a postgresql:// database".to_owned(),
            });
        }
        Ok(Database::Sqlite(PathBuf::from(text)))
    }

    /// The same database with chathaul's tables in `schema` (Postgres).
    ///
    /// # Errors
    /// [`Error::DatabaseUrl`] for a schema name that is not plain, or for a
    /// SQLite file, which has no schemas.
    pub fn with_schema(self, schema: &str) -> Result<Database> {
        match self {
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => Ok(Database::Postgres(url.with_schema(schema)?)),
            other => Err(Error::DatabaseUrl {
                location: other.to_string(),
                message: format!(
                    "a schema (`{schema}`) applies to a Postgres database only; this is a SQLite file"
                ),
            }),
        }
    }

    /// The file, for a SQLite database.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => None,
        }
    }

    /// The backend's name (`sqlite`, `postgres`).
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => "postgres",
        }
    }

    /// Opens the database, creating (or migrating) chathaul's tables.
    ///
    /// # Errors
    /// The backend's open errors ([`Error::Store`]), or
    /// [`Error::FeatureDisabled`] for a backend this build leaves out.
    pub fn open(&self) -> Result<Box<dyn SyncStore>> {
        self.open_with(true)
    }

    /// Opens a database chathaul has already written (for `sync --status`
    /// and reading): a missing file or schema is an error, not created.
    ///
    /// # Errors
    /// As [`Database::open`], and [`Error::Store`] when it does not exist.
    pub fn open_existing(&self) -> Result<Box<dyn SyncStore>> {
        self.open_with(false)
    }

    fn open_with(&self, create: bool) -> Result<Box<dyn SyncStore>> {
        match self {
            Database::Sqlite(path) => {
                if !create && !path.exists() {
                    return Err(Error::Store {
                        backend: "sqlite",
                        location: path.display().to_string(),
                        action: "does not exist (run chathaul sync first, or pass --db)".to_owned(),
                        source: None,
                    });
                }
                #[cfg(feature = "sqlite")]
                return Ok(Box::new(super::SqliteStore::open(path)?));
                #[cfg(not(feature = "sqlite"))]
                return Err(Error::FeatureDisabled {
                    feature: "sqlite",
                    what: format!("the SQLite database {}", path.display()),
                });
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => Ok(Box::new(if create {
                super::postgres::PostgresStore::open(url)?
            } else {
                super::postgres::PostgresStore::open_existing(url)?
            })),
        }
    }
}
