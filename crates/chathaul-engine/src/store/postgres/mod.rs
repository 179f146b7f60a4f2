//! The Postgres backend: chathaul's tables in a schema of a Postgres
//! database (default `chathaul`), with native types (`timestamptz`,
//! `bigint`, `boolean`, `jsonb`).
//!
//! Each batch is one transaction: the conversations and messages are copied
//! into temporary staging tables with binary `COPY`, then upserted
//! (`INSERT … ON CONFLICT DO UPDATE`, the last copy of a conversation
//! winning within the batch), and the source's progress is recorded before
//! the commit. A run holds an advisory lock on its source, so a second run
//! of the same source is refused while the first is alive; the server
//! releases the lock when the first one's connection ends, however it ends.
//! The schema is created and migrated by chathaul ([`SCHEMA_VERSION`]); a
//! schema holding tables chathaul did not create is refused and left as it
//! is.
//!
//! The store's methods block, like every [`SyncStore`]: the connection is
//! driven by a runtime of the store's own (one thread), so they may be
//! called from any thread, inside an async runtime or not.

mod address;
mod load;
mod schema;
mod tls;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;

use chrono::{DateTime, Utc};
use connector_core::{Conversation, Error, Result};
use tokio_postgres::{Client, NoTls, Row};

use super::{ChannelCount, Measure, RunEnd, StoredReject, SyncState, SyncStore};
use crate::columns::{
    CONVERSATION_COLUMNS, CellError, ColumnValue, Kind, MESSAGE_COLUMNS, RowCells,
    conversation_from_row, message_from_row,
};
use crate::incremental::{
    ChangeReport, IncrementalState, Pending, PendingReason, Rejected, RunBatch, Seen,
};

pub use address::{
    DEFAULT_SCHEMA, PasswordSource, PostgresHost, PostgresUrl, RootCertificates, SslMode,
    check_schema,
};
pub use schema::SCHEMA_VERSION;

const BACKEND: &str = "postgres";

/// A chathaul database in a Postgres schema.
pub struct PostgresStore {
    client: Option<Client>,
    runtime: Option<ConnectionRuntime>,
    connection: Option<tokio::task::JoinHandle<()>>,
    url: PostgresUrl,
    /// The sources whose advisory lock this session holds.
    locked: BTreeSet<String>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url.to_string())
            .field("schema", &self.url.schema())
            .finish()
    }
}

/// The runtime that drives a connection, shut down without blocking when
/// dropped (a plain `Runtime` may not be dropped inside an async context,
/// where `sync --status` and Python callers open stores).
struct ConnectionRuntime(Option<tokio::runtime::Runtime>);

impl ConnectionRuntime {
    fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.as_ref().expect("running until dropped").spawn(f)
    }
}

impl Drop for ConnectionRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A client error shown with its causes (tokio-postgres alone says only
/// `db error`; the server's message is underneath).
#[derive(Debug)]
pub(crate) struct PgError(pub(crate) tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(&self.0);
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Runs a client future to its end on this thread. The client's futures
/// only talk to the connection task (on the store's runtime) through
/// channels, so no runtime is needed here, and this works inside one too.
fn wait<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A schema name quoted as an identifier (it is checked to be plain, so
/// quoting only guards against what the check would miss).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PostgresStore {
    /// Connects, creates chathaul's schema and tables where they are
    /// missing, and migrates them to [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// [`Error::Store`] when the server cannot be reached or refuses the
    /// login (the URL shown without its password), when the schema holds
    /// tables chathaul did not create, or when its version is newer than
    /// this build's.
    pub fn open(url: &PostgresUrl) -> Result<PostgresStore> {
        Self::connect(url, true)
    }

    /// Connects to a database chathaul has written (for `sync --status` and
    /// reading): like [`PostgresStore::open`], but a missing schema is an
    /// error rather than created.
    ///
    /// # Errors
    /// As [`PostgresStore::open`], and [`Error::Store`] when the schema does not exist.
    pub fn open_existing(url: &PostgresUrl) -> Result<PostgresStore> {
        Self::connect(url, false)
    }

    /// Parses `url` ([`PostgresUrl::parse`]) and opens it.
    ///
    /// # Errors
    /// As [`PostgresUrl::parse`] and [`PostgresStore::open`].
    pub fn open_url(url: &str) -> Result<PostgresStore> {
        Self::open(&PostgresUrl::parse(url)?)
    }

    fn error(&self, action: impl Into<String>, e: impl Into<connector_core::BoxedCause>) -> Error {
        Error::store(BACKEND, self.url.to_string(), action, e)
    }

    fn refused(&self, action: String) -> Error {
        Error::Store {
            backend: BACKEND,
            location: self.url.to_string(),
            action,
            source: None,
        }
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the client lives as long as the store")
    }

    fn connect(url: &PostgresUrl, create: bool) -> Result<PostgresStore> {
        let location = url.to_string();
        let fail = |action: String, e: Option<connector_core::BoxedCause>| Error::Store {
            backend: BACKEND,
            location: location.clone(),
            action,
            source: e,
        };
        let runtime = ConnectionRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("chathaul-postgres")
                .enable_all()
                .build()
                .map_err(|e| {
                    fail(
                        "cannot start the connection's runtime".into(),
                        Some(e.into()),
                    )
                })?,
        ));
        let mut config = tokio_postgres::Config::new();
        match url.host() {
            PostgresHost::Tcp(h) => config.host(h),
            PostgresHost::Socket(dir) => config.host_path(dir),
        };
        config
            .port(url.port())
            .user(url.user())
            .dbname(url.dbname())
            .application_name(url.application_name())
            .connect_timeout(url.connect_timeout())
            .ssl_mode(match url.sslmode() {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
        let password = url.password(&|k| std::env::var(k).ok());
        if let Some((password, from)) = &password {
            tracing::debug!(?from, "postgres: logging in with a password");
            config.password(address::expose(password));
        }
        let tls = tls::client_config(url.sslmode(), url.root_certificates())
            .map_err(|m| fail(format!("cannot set up TLS: {m}"), None))?;
        let connecting = runtime.spawn(async move {
            let log_end = |r: std::result::Result<(), tokio_postgres::Error>| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "postgres: the connection ended");
                }
            };
            match tls {
                None => config.connect(NoTls).await.map(|(client, connection)| {
                    (
                        client,
                        tokio::spawn(async move { log_end(connection.await) }),
                    )
                }),
                Some(tls) => config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                    .await
                    .map(|(client, connection)| {
                        (
                            client,
                            tokio::spawn(async move { log_end(connection.await) }),
                        )
                    }),
            }
        });
        let (client, connection) = wait(connecting)
            .map_err(|e| fail("cannot connect".into(), Some(e.into())))?
            .map_err(|e| {
                let mut chain = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    chain.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                let action = if password.is_none() && chain.contains("password missing") {
                    "cannot connect: the server asks for a password, and none was found (set PGPASSWORD, use ~/.pgpass, or write ${VAR} for it in the config file's URL)"
                } else {
                    "cannot connect"
                };
                fail(action.to_owned(), Some(PgError(e).into()))
            })?;
        let mut store = PostgresStore {
            client: Some(client),
            runtime: Some(runtime),
            connection: Some(connection),
            url: url.clone(),
            locked: BTreeSet::new(),
        };
        store.prepare(create)?;
        Ok(store)
    }

    /// Creates or migrates the schema (under a lock, so two syncs starting
    /// at once do it once), then the session's staging tables.
    fn prepare(&mut self, create: bool) -> Result<()> {
        let schema = self.url.schema().to_owned();
        let location = self.url.to_string();
        let err = |what: &str, e: tokio_postgres::Error| {
            Error::store(BACKEND, location.clone(), what.to_owned(), PgError(e))
        };
        let refused = |action: String| Error::Store {
            backend: BACKEND,
            location: location.clone(),
            action,
            source: None,
        };
        let client = self.client.as_mut().expect("connected");
        wait(client.batch_execute(&format!(
            "SET search_path TO {}; SET timezone TO 'UTC'",
            ident(&schema)
        )))
        .map_err(|e| err("cannot set the search path", e))?;
        let tx = wait(client.transaction()).map_err(|e| err("cannot open the schema", e))?;
        wait(tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("chathaul:migrate:{schema}")],
        ))
        .map_err(|e| err("cannot lock the schema", e))?;
        let exists: bool = wait(tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        ))
        .map_err(|e| err("cannot read the catalog", e))?
        .get(0);
        if !exists {
            if !create {
                return Err(Error::Store {
                    backend: BACKEND,
                    location,
                    action: format!(
                        "has no schema `{schema}`: chathaul has not synced into it (run chathaul sync first, or name the schema with ?schema=)"
                    ),
                    source: None,
                });
            }
            wait(tx.batch_execute(&format!("CREATE SCHEMA {}", ident(&schema))))
                .map_err(|e| err("cannot create the schema", e))?;
        }
        let has_meta: bool = wait(tx.query_one(
            "SELECT to_regclass(format('%I.chathaul_meta', $1::text)) IS NOT NULL",
            &[&schema],
        ))
        .map_err(|e| err("cannot read the catalog", e))?
        .get(0);
        let version: u32 = if has_meta {
            let rows = wait(tx.query(
                "SELECT key, value FROM chathaul_meta WHERE key IN ('application', 'schema_version')",
                &[],
            ))
            .map_err(|e| err("cannot read chathaul_meta", e))?;
            let value = |k: &str| {
                rows.iter()
                    .find(|r| r.get::<_, &str>(0) == k)
                    .map(|r| r.get::<_, String>(1))
            };
            if value("application").as_deref() != Some("chathaul") {
                return Err(refused(format!(
                    "schema `{schema}` has a chathaul_meta table chathaul did not write: refused, left as it is"
                )));
            }
            let text = value("schema_version").unwrap_or_default();
            text.parse().map_err(|_| {
                refused(format!(
                    "schema `{schema}`: schema version `{text}` is not a number"
                ))
            })?
        } else {
            let tables: Vec<String> = wait(tx.query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1 LIMIT 5",
                &[&schema],
            ))
            .map_err(|e| err("cannot read the catalog", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
            if !tables.is_empty() {
                return Err(refused(format!(
                    "schema `{schema}` holds tables chathaul did not create ({}): refused, left as it is; name another schema with ?schema=",
                    tables.join(", ")
                )));
            }
            0
        };
        if version > SCHEMA_VERSION {
            return Err(refused(format!(
                "schema `{schema}` has schema version {version}, newer than {SCHEMA_VERSION}, the one this chathaul writes: upgrade chathaul"
            )));
        }
        for m in schema::MIGRATIONS.iter().filter(|m| m.version > version) {
            tracing::info!(
                schema,
                version = m.version,
                what = m.what,
                "postgres: migrating"
            );
            wait(tx.batch_execute(m.sql)).map_err(|e| {
                Error::store(
                    BACKEND,
                    location.clone(),
                    format!(
                        "cannot migrate schema `{schema}` to version {} ({})",
                        m.version, m.what
                    ),
                    PgError(e),
                )
            })?;
            wait(tx.execute(
                "UPDATE chathaul_meta SET value = $1 WHERE key = 'schema_version'",
                &[&m.version.to_string()],
            ))
            .map_err(|e| err("cannot record the schema version", e))?;
        }
        wait(tx.commit()).map_err(|e| err("cannot open the schema", e))?;
        wait(client.batch_execute(&load::staging_tables_sql()))
            .map_err(|e| err("cannot create the staging tables", e))?;
        Ok(())
    }

    /// Where the database is, without its password.
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    fn lock_key(&self, source: &str) -> String {
        format!("chathaul:sync:{}:{source}", self.url.schema())
    }

    fn unlock(&mut self, source: &str) -> Result<()> {
        if !self.locked.remove(source) {
            return Ok(());
        }
        let key = self.lock_key(source);
        wait(self.client().execute(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
            &[&key],
        ))
        .map_err(|e| {
            self.error(
                format!("cannot release the lock of source `{source}`"),
                PgError(e),
            )
        })?;
        Ok(())
    }

    fn state_after_run(&self, source: &str) -> Result<SyncState> {
        self.state(source)?
            .ok_or_else(|| self.refused(format!("the sync state of source `{source}` vanished")))
    }

    fn query_f64(&self, sql: &str, vendor: &str) -> Result<Vec<f64>> {
        let rows = wait(self.client().query(sql, &[&vendor]))
            .map_err(|e| self.error("cannot build the report", PgError(e)))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, Option<f64>>(0))
            .collect())
    }

    fn batch(
        &mut self,
        conversations: &[Conversation],
        source: Option<(&str, &RunBatch)>,
    ) -> Result<()> {
        let location = self.url.to_string();
        let client = self.client.as_mut().expect("connected");
        wait(load::write_batch(client, conversations, source))
            .map_err(|e| e.into_error(BACKEND, &location))
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping the client ends the session (its advisory locks go with
        // it); the connection task then sends the goodbye and closes.
        drop(self.client.take());
        if let (Some(runtime), Some(connection)) = (self.runtime.take(), self.connection.take()) {
            let (done, closed) = std::sync::mpsc::channel();
            runtime.spawn(async move {
                let _ = connection.await;
                let _ = done.send(());
            });
            let _ = closed.recv_timeout(std::time::Duration::from_secs(2));
            drop(runtime);
        }
    }
}

fn time_of(row: &Row, i: usize) -> Option<DateTime<Utc>> {
    row.get::<_, Option<DateTime<Utc>>>(i)
}

fn count_of(row: &Row, i: usize) -> u64 {
    u64::try_from(row.get::<_, i64>(i)).unwrap_or(0)
}

const STATE_SQL: &str =
    "SELECT source, vendor, account, cursor, newest_seen, last_window_since, last_run_started,
        last_run_finished, last_status, last_error, rows_fetched, messages_fetched, reported_total,
        reported_messages, shortfalls::text,
        (SELECT count(*) FROM conversations c WHERE c.vendor = s.vendor AND c.account = s.account),
        cursor_field, created_cursor,
        (SELECT count(*) FROM revisits v WHERE v.source = s.source),
        (SELECT min(created_at) FROM revisits v WHERE v.source = s.source),
        expired_total,
        (SELECT count(*) FROM rejects j WHERE j.source = s.source),
        last_full_refresh, learned_rate, last_run::text
    FROM sync_state s";

fn state_of(row: &Row) -> std::result::Result<SyncState, serde_json::Error> {
    Ok(SyncState {
        source: row.get(0),
        vendor: row.get(1),
        account: row.get(2),
        cursor: time_of(row, 3),
        newest_seen: time_of(row, 4),
        last_window_since: time_of(row, 5),
        last_run_started: time_of(row, 6),
        last_run_finished: time_of(row, 7),
        last_status: row.get(8),
        last_error: row.get(9),
        rows_fetched: count_of(row, 10),
        messages_fetched: count_of(row, 11),
        reported_total: row.get::<_, Option<i64>>(12).map(|n| n.max(0) as u64),
        reported_messages: row.get::<_, Option<i64>>(13).map(|n| n.max(0) as u64),
        shortfalls: serde_json::from_str(row.get::<_, &str>(14))?,
        stored: count_of(row, 15),
        cursor_field: row.get::<_, &str>(16).parse().unwrap_or_default(),
        created_cursor: time_of(row, 17),
        pending: count_of(row, 18),
        oldest_pending: time_of(row, 19),
        expired: count_of(row, 20),
        rejects: count_of(row, 21),
        last_full_refresh: time_of(row, 22),
        learned_rate: row.get(23),
        last_run: row
            .get::<_, Option<&str>>(24)
            .map(serde_json::from_str::<ChangeReport>)
            .transpose()?,
    })
}

/// A row read back by column name (JSON columns are selected as text under
/// their model names, `raw::text AS raw_json`).
struct PgRow<'a>(&'a Row);

impl RowCells for PgRow<'_> {
    fn cell(&self, name: &'static str, kind: Kind) -> std::result::Result<ColumnValue, CellError> {
        let bad = |e: tokio_postgres::Error| CellError::new(name, e.to_string());
        Ok(match kind {
            Kind::Text | Kind::Json => ColumnValue::Text(self.0.try_get(name).map_err(bad)?),
            Kind::Bool => ColumnValue::Bool(self.0.try_get(name).map_err(bad)?),
            Kind::Time => ColumnValue::Time(self.0.try_get(name).map_err(bad)?),
            Kind::UInt => {
                let n: Option<i64> = self.0.try_get(name).map_err(bad)?;
                ColumnValue::UInt(
                    n.map(u64::try_from)
                        .transpose()
                        .map_err(|_| CellError::new(name, "is negative"))?,
                )
            }
        })
    }
}

/// `col` or `col::text AS col_json` for each column.
fn select_list<G>(columns: &[crate::columns::Column<G>]) -> String {
    columns
        .iter()
        .map(|c| match c.kind {
            Kind::Json => format!(
                "{}::text AS {}",
                schema::column_name(c.name, c.kind),
                c.name
            ),
            _ => c.name.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl SyncStore for PostgresStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn location(&self) -> String {
        self.url.to_string()
    }

    fn path(&self) -> Option<&Path> {
        None
    }

    fn upsert(&mut self, conversations: &[Conversation]) -> Result<()> {
        self.batch(conversations, None)
    }

    fn write_batch(&mut self, source: &str, batch: &RunBatch) -> Result<()> {
        self.batch(&batch.conversations, Some((source, batch)))
    }

    fn add_rejects(&mut self, source: &str, rejects: &[Rejected]) -> Result<()> {
        let location = self.url.to_string();
        let client = self.client.as_mut().expect("connected");
        let written: std::result::Result<(), tokio_postgres::Error> = wait(async {
            let tx = client.transaction().await?;
            load::insert_rejects(&tx, source, rejects).await?;
            tx.commit().await
        });
        written.map_err(|e| {
            Error::store(
                BACKEND,
                location,
                "cannot record the records set aside",
                PgError(e),
            )
        })
    }

    fn begin_run(&mut self, source: &str, vendor: &str, account: &str) -> Result<IncrementalState> {
        if !self.locked.contains(source) {
            let key = self.lock_key(source);
            let got: bool = wait(self.client().query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&key],
            ))
            .map_err(|e| self.error(format!("cannot lock source `{source}`"), PgError(e)))?
            .get(0);
            if !got {
                return Err(self.refused(format!(
                    "source `{source}` is being synced by another run right now (it holds the source's lock in schema `{}`): wait for that run to end, or stop it",
                    self.url.schema()
                )));
            }
            self.locked.insert(source.to_owned());
        }
        let started = (|| {
            if let Some(prev) = self.state(source)?
                && (prev.vendor != vendor || prev.account != account)
            {
                return Err(Error::SyncSource {
                    name: source.to_owned(),
                    problem: format!(
                        "was synced from {}/{} and is now {vendor}/{account}: give it another name",
                        prev.vendor, prev.account
                    ),
                });
            }
            wait(self.client().execute(
                "INSERT INTO sync_state (source, vendor, account, last_status, last_run_started)
                 VALUES ($1, $2, $3, 'running', now())
                 ON CONFLICT (source) DO UPDATE SET last_run_started = now(),
                     last_run_finished = NULL, last_status = 'running', last_error = NULL,
                     rows_fetched = 0, messages_fetched = 0, reported_total = NULL,
                     reported_messages = NULL, shortfalls = '[]'",
                &[&source, &vendor, &account],
            ))
            .map_err(|e| self.error("cannot record the run", PgError(e)))?;
            self.incremental_state(source)?.ok_or_else(|| {
                self.refused(format!("the sync state of source `{source}` vanished"))
            })
        })();
        if started.is_err() {
            // Nothing runs: the next run (or another process) may take the source.
            let _ = self.unlock(source);
        }
        started
    }

    fn incremental_state(&self, source: &str) -> Result<Option<IncrementalState>> {
        let err = |e| self.error("cannot read the sync state", PgError(e));
        let Some(row) = wait(self.client().query_opt(
            "SELECT cursor_field, cursor, newest_seen, created_cursor, last_full_refresh,
                    learned_rate, per_day, changed_share, expired_total, longest_secs
             FROM sync_state WHERE source = $1",
            &[&source],
        ))
        .map_err(err)?
        else {
            return Ok(None);
        };
        let pending_rows = wait(self.client().query(
            "SELECT id, reason, created_at, ended_at, first_seen, last_checked, checks, digest
             FROM revisits WHERE source = $1",
            &[&source],
        ))
        .map_err(|e| self.error("cannot read the revisit set", PgError(e)))?;
        let mut pending = std::collections::BTreeMap::new();
        for r in &pending_rows {
            let id: String = r.get(0);
            let reason: &str = r.get(1);
            let reason = PendingReason::parse(reason).ok_or_else(|| {
                self.refused(format!(
                    "revisits: conversation {id} has an unknown reason `{reason}`"
                ))
            })?;
            pending.insert(
                id,
                Pending {
                    reason,
                    created_at: time_of(r, 2),
                    ended_at: time_of(r, 3),
                    first_seen: r.get(4),
                    last_checked: r.get(5),
                    checks: u32::try_from(r.get::<_, i64>(6)).unwrap_or(u32::MAX),
                    digest: r.get(7),
                },
            );
        }
        let seen_rows = wait(self.client().query(
            "SELECT id, at, created_at, digest FROM seen WHERE source = $1",
            &[&source],
        ))
        .map_err(|e| self.error("cannot read the conversations seen", PgError(e)))?;
        let seen = seen_rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    Seen {
                        at: time_of(r, 1),
                        created_at: time_of(r, 2),
                        digest: r.get(3),
                    },
                )
            })
            .collect();
        Ok(Some(IncrementalState {
            cursor_field: row.get::<_, &str>(0).parse().unwrap_or_default(),
            cursor: time_of(&row, 1),
            newest_seen: time_of(&row, 2),
            created_cursor: time_of(&row, 3),
            pending,
            seen,
            last_full_refresh: time_of(&row, 4),
            learned_rate: row.get(5),
            per_day: row.get(6),
            changed_share: row.get(7),
            expired: count_of(&row, 8),
            longest_secs: row
                .get::<_, Option<i64>>(9)
                .and_then(|n| u64::try_from(n).ok()),
        }))
    }

    fn finish_run(&mut self, source: &str, end: &RunEnd) -> Result<SyncState> {
        let location = self.url.to_string();
        let err = |e: tokio_postgres::Error| {
            Error::store(
                BACKEND,
                location.clone(),
                "cannot record the run",
                PgError(e),
            )
        };
        let s = &end.state;
        let field = match s.cursor_field {
            connector_core::TimeField::Created => "created",
            connector_core::TimeField::Ended => "ended",
        };
        let shortfalls = serde_json::to_string(&end.shortfalls)
            .map_err(|e| self.error("cannot record the run's shortfalls", e))?;
        let report = serde_json::to_string(&end.report)
            .map_err(|e| self.error("cannot record the run's report", e))?;
        let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let seen: Vec<(String, Seen)> =
            s.seen.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let client = self.client.as_mut().expect("connected");
        let recorded = wait(async {
            let tx = client.transaction().await?;
            // The run kept only what the next run lists again.
            tx.execute("DELETE FROM seen WHERE source = $1", &[&source])
                .await?;
            load::upsert_seen(&tx, source, &seen).await?;
            tx.execute(
                "UPDATE sync_state SET cursor_field = $2, cursor = $3, newest_seen = $4, created_cursor = $5,
                     last_full_refresh = $6, learned_rate = $7, per_day = $8, changed_share = $9,
                     expired_total = $10, last_run = $11::text::jsonb, last_window_since = $12,
                     last_run_finished = now(), last_status = $13, last_error = $14,
                     reported_total = $15, reported_messages = $16, shortfalls = $17::text::jsonb,
                     longest_secs = $18
                 WHERE source = $1",
                &[
                    &source,
                    &field,
                    &s.cursor,
                    &s.newest_seen,
                    &s.created_cursor,
                    &s.last_full_refresh,
                    &s.learned_rate,
                    &s.per_day,
                    &s.changed_share,
                    &big(s.expired),
                    &report,
                    &end.window_since,
                    &end.status.as_str(),
                    &end.error,
                    &end.reported_total.map(big),
                    &end.reported_messages.map(big),
                    &shortfalls,
                    &s.longest_secs.map(big),
                ],
            )
            .await?;
            tx.commit().await
        })
        .map_err(err);
        let unlocked = self.unlock(source);
        recorded?;
        unlocked?;
        self.state_after_run(source)
    }

    fn rejects(&self, source: Option<&str>) -> Result<Vec<StoredReject>> {
        let rows = wait(self.client().query(
            "SELECT source, vendor, account, endpoint, page, path, conversation_id, error, raw,
                    first_seen, last_seen, times
             FROM rejects WHERE $1::text IS NULL OR source = $1
             ORDER BY first_seen, source COLLATE \"C\", endpoint COLLATE \"C\", page, path COLLATE \"C\"",
            &[&source],
        ))
        .map_err(|e| self.error("cannot read the records set aside", PgError(e)))?;
        Ok(rows
            .iter()
            .map(|r| StoredReject {
                source: r.get(0),
                rejected: Rejected {
                    vendor: r.get(1),
                    account: r.get(2),
                    endpoint: r.get(3),
                    page: u32::try_from(r.get::<_, i64>(4)).unwrap_or(0),
                    path: r.get(5),
                    id: r.get(6),
                    error: r.get(7),
                    raw: r.get(8),
                },
                first_seen: r.get(9),
                last_seen: r.get(10),
                times: count_of(r, 11),
            })
            .collect())
    }

    fn states(&self) -> Result<Vec<SyncState>> {
        let rows = wait(
            self.client()
                .query(&format!("{STATE_SQL} ORDER BY source COLLATE \"C\""), &[]),
        )
        .map_err(|e| self.error("cannot read the sync state", PgError(e)))?;
        rows.iter()
            .map(|r| state_of(r).map_err(|e| self.error("a sync state row does not decode", e)))
            .collect()
    }

    fn state(&self, source: &str) -> Result<Option<SyncState>> {
        let row = wait(
            self.client()
                .query_opt(&format!("{STATE_SQL} WHERE source = $1"), &[&source]),
        )
        .map_err(|e| self.error("cannot read the sync state", PgError(e)))?;
        row.as_ref()
            .map(|r| state_of(r).map_err(|e| self.error("a sync state row does not decode", e)))
            .transpose()
    }

    fn conversations(&self) -> Result<Vec<Conversation>> {
        let order = "vendor COLLATE \"C\", account COLLATE \"C\"";
        let conversations = wait(self.client().query(
            &format!(
                "SELECT {} FROM conversations ORDER BY {order}, id COLLATE \"C\"",
                select_list(CONVERSATION_COLUMNS)
            ),
            &[],
        ))
        .map_err(|e| self.error("cannot read conversations", PgError(e)))?;
        let messages = wait(self.client().query(
            &format!(
                "SELECT {} FROM messages ORDER BY {order}, conversation_id COLLATE \"C\", seq",
                select_list(MESSAGE_COLUMNS)
            ),
            &[],
        ))
        .map_err(|e| self.error("cannot read messages", PgError(e)))?;
        let undecodable = |what: String, e: CellError| self.error(what, e);
        let mut messages = messages.iter().peekable();
        let mut out = Vec::with_capacity(conversations.len());
        for row in &conversations {
            let key = |r: &Row, id: &str| -> (String, String, String) {
                (r.get("vendor"), r.get("account"), r.get(id))
            };
            let this = key(row, "id");
            let mut own = Vec::new();
            // Both lists are in the same order: the messages of this
            // conversation are next, after any whose conversation is gone.
            while let Some(m) = messages.peek() {
                let theirs = key(m, "conversation_id");
                if theirs > this {
                    break;
                }
                let m = messages.next().expect("peeked");
                if theirs == this {
                    let (_, message) = message_from_row(&PgRow(m)).map_err(|e| {
                        undecodable(
                            format!(
                                "message of {}/{}/{} does not decode",
                                this.0, this.1, this.2
                            ),
                            e,
                        )
                    })?;
                    own.push(message);
                }
            }
            out.push(conversation_from_row(&PgRow(row), own).map_err(|e| {
                undecodable(
                    format!(
                        "conversation {}/{}/{} does not decode",
                        this.0, this.1, this.2
                    ),
                    e,
                )
            })?);
        }
        Ok(out)
    }

    fn channel_counts(&self) -> Result<Vec<ChannelCount>> {
        let rows = wait(self.client().query(
            "SELECT vendor, channel, count(*), coalesce(sum(message_count), 0)::bigint
             FROM conversations GROUP BY 1, 2 ORDER BY vendor COLLATE \"C\", channel COLLATE \"C\" NULLS FIRST",
            &[],
        ))
        .map_err(|e| self.error("cannot build the report", PgError(e)))?;
        Ok(rows
            .iter()
            .map(|r| ChannelCount {
                vendor: r.get(0),
                channel: r.get(1),
                conversations: count_of(r, 2),
                messages: count_of(r, 3),
            })
            .collect())
    }

    fn rating_counts(&self, vendor: &str) -> Result<Vec<(String, u64)>> {
        let rows = wait(self.client().query(
            "SELECT rating_satisfaction, count(*) FROM conversations
             WHERE vendor = $1 AND rating_satisfaction IS NOT NULL GROUP BY 1 ORDER BY rating_satisfaction COLLATE \"C\"",
            &[&vendor],
        ))
        .map_err(|e| self.error("cannot build the report", PgError(e)))?;
        Ok(rows.iter().map(|r| (r.get(0), count_of(r, 1))).collect())
    }

    fn measure(&self, vendor: &str, measure: Measure) -> Result<Vec<f64>> {
        let sql = match measure {
            Measure::FirstResponseReported => {
                "SELECT first_response_secs::float8 FROM conversations WHERE vendor = $1"
            }
            Measure::FirstResponseComputed => {
                "SELECT extract(epoch FROM min(m.sent_at) - c.created_at)::float8
                 FROM conversations c JOIN messages m
                   ON m.vendor = c.vendor AND m.account = c.account AND m.conversation_id = c.id
                      AND m.sender_role = 'agent'
                 WHERE c.vendor = $1 GROUP BY c.vendor, c.account, c.id"
            }
            Measure::WaitReported => {
                "SELECT wait_secs::float8 FROM conversations WHERE vendor = $1"
            }
            Measure::WaitComputed => {
                "SELECT extract(epoch FROM coalesce(assigned_at, answered_at) - created_at)::float8
                 FROM conversations WHERE vendor = $1"
            }
        };
        self.query_f64(sql, vendor)
    }
}
