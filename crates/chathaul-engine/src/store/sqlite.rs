//! The SQLite database `sync` keeps and `pull -o x.sqlite` writes.
//!
//! Tables (columns from [`crate::arrow`], so all outputs agree):
//! - `conversations`: primary key (`vendor`, `account`, `id`), one column per
//!   flattened field, plus `json` (the whole conversation in the JSON
//!   contract) and `synced_at`;
//! - `messages`: primary key (`vendor`, `account`, `conversation_id`, `seq`);
//! - `sync_state`: one row per source: vendor, account, cursor, the last run,
//!   rows fetched, the vendor's reported totals and any shortfall;
//! - `chathaul_meta`: marks the file as a chathaul database (schema version).
//!
//! The database runs in WAL mode. Conversations are upserted (a conversation
//! fetched again replaces its row and its messages), and every batch moves the
//! data and the sync state in one transaction. A file that is not a SQLite
//! database, or a SQLite database that chathaul did not create, is refused and
//! left as it is.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use connector_core::model::utc_instant;
use connector_core::{Conversation, Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::arrow::{CONVERSATION_COLUMNS, Datum, MESSAGE_COLUMNS, MessageRow};
use crate::sink::Sink;

/// The schema version this build writes.
pub const SCHEMA_VERSION: &str = "1";

/// A chathaul SQLite database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The sync state of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// The source's name (from the config file, or the vendor name).
    pub source: String,
    /// Its vendor.
    pub vendor: String,
    /// Its account.
    pub account: String,
    /// The next run fetches conversations created at or after this instant.
    pub cursor: Option<DateTime<Utc>>,
    /// The newest creation time seen so far.
    pub newest_seen: Option<DateTime<Utc>>,
    /// The start of the last run's window (`None`: from the beginning).
    pub last_window_since: Option<DateTime<Utc>>,
    /// When the last run started.
    pub last_run_started: Option<DateTime<Utc>>,
    /// When the last run ended (`None` while running or after a kill).
    pub last_run_finished: Option<DateTime<Utc>>,
    /// `running`, `ok`, `incomplete` or `error`.
    pub last_status: String,
    /// The last run's error, if any.
    pub last_error: Option<String>,
    /// Conversations fetched by the last run.
    pub rows_fetched: u64,
    /// Messages fetched by the last run.
    pub messages_fetched: u64,
    /// The conversation total the vendor reported in the last run, if it reports one.
    pub reported_total: Option<u64>,
    /// The message total the vendor reported in the last run, if it reports one.
    pub reported_messages: Option<u64>,
    /// Every difference between what was reported and what was fetched.
    pub shortfalls: Vec<String>,
    /// Conversations of this vendor and account in the database.
    pub stored: u64,
}

fn db_error(path: &Path, what: &str, e: rusqlite::Error) -> Error {
    Error::Other(format!("database {}: {what}: {e}", path.display()))
}

fn time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(utc_instant::format)
}

fn parse_time(t: Option<String>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn sql_value(d: Datum) -> SqlValue {
    match d {
        Datum::Text(Some(s)) => SqlValue::Text(s),
        Datum::UInt(Some(n)) => SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        Datum::Bool(Some(b)) => SqlValue::Integer(i64::from(b)),
        Datum::Time(Some(t)) => SqlValue::Text(utc_instant::format(&t)),
        Datum::Text(None) | Datum::UInt(None) | Datum::Bool(None) | Datum::Time(None) => {
            SqlValue::Null
        }
    }
}

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

fn create_sql() -> String {
    let conv_cols: Vec<String> = CONVERSATION_COLUMNS
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.name,
                c.kind.sql_type(),
                if c.nullable { "" } else { " NOT NULL" }
            )
        })
        .collect();
    let msg_cols: Vec<String> = MESSAGE_COLUMNS
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.name,
                c.kind.sql_type(),
                if c.nullable { "" } else { " NOT NULL" }
            )
        })
        .collect();
    format!(
        "CREATE TABLE chathaul_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO chathaul_meta (key, value) VALUES ('application', 'chathaul'), ('schema_version', '{SCHEMA_VERSION}');
         CREATE TABLE conversations ({}, json TEXT NOT NULL, synced_at TEXT NOT NULL, PRIMARY KEY (vendor, account, id));
         CREATE INDEX conversations_created ON conversations (vendor, account, created_at);
         CREATE TABLE messages ({}, PRIMARY KEY (vendor, account, conversation_id, seq));
         CREATE TABLE sync_state (
             source TEXT PRIMARY KEY,
             vendor TEXT NOT NULL,
             account TEXT NOT NULL,
             cursor TEXT,
             newest_seen TEXT,
             last_window_since TEXT,
             last_run_started TEXT,
             last_run_finished TEXT,
             last_status TEXT NOT NULL,
             last_error TEXT,
             rows_fetched INTEGER NOT NULL DEFAULT 0,
             messages_fetched INTEGER NOT NULL DEFAULT 0,
             reported_total INTEGER,
             reported_messages INTEGER,
             shortfalls TEXT NOT NULL DEFAULT '[]'
         );",
        conv_cols.join(", "),
        msg_cols.join(", "),
    )
}

/// Switches the database to WAL mode. Changing the journal mode needs a lock
/// SQLite's busy handler does not wait for, so a concurrent opener (another
/// sync creating the same file) is waited out here, for up to 30 s.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (or creates) a chathaul database.
    ///
    /// # Errors
    /// [`Error::Other`] when the file is not a SQLite database, is corrupt, or
    /// is a SQLite database chathaul did not create (it is left untouched).
    pub fn open(path: &Path) -> Result<Store> {
        let existing = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Error::Other(format!(
                    "database {}: is a directory",
                    path.display()
                )));
            }
            Ok(m) => m.len() > 0,
            Err(_) => false,
        };
        if existing {
            let mut head = [0u8; 16];
            let n = std::io::Read::read(
                &mut std::fs::File::open(path).map_err(|e| Error::Io {
                    context: format!("cannot open {}", path.display()),
                    source: e,
                })?,
                &mut head,
            )
            .map_err(|e| Error::Io {
                context: format!("cannot read {}", path.display()),
                source: e,
            })?;
            if n < 16 || head != SQLITE_MAGIC {
                return Err(Error::Other(format!(
                    "database {}: not a SQLite database (refusing to overwrite it; choose another path with --db)",
                    path.display()
                )));
            }
        }
        let conn = Connection::open(path).map_err(|e| db_error(path, "cannot open", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| db_error(path, "cannot configure", e))?;
        let list_tables = |conn: &Connection| -> rusqlite::Result<Vec<String>> {
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect()
        };
        let mut tables = list_tables(&conn)
            .map_err(|e| db_error(path, "corrupt or unreadable (refusing to touch it)", e))?;
        if tables.is_empty() {
            // Another process may be creating the same new database at this
            // moment: take the write lock, look again, create only if still empty.
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| db_error(path, "cannot lock the new database", e))?;
            let created = list_tables(&conn).and_then(|t| {
                if t.is_empty() {
                    conn.execute_batch(&create_sql())?;
                }
                conn.execute_batch("COMMIT")
            });
            if let Err(e) = created {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(db_error(path, "cannot create the tables", e));
            }
            tables = list_tables(&conn).map_err(|e| db_error(path, "corrupt or unreadable", e))?;
        }
        let app: Option<String> = if tables.iter().any(|t| t == "chathaul_meta") {
            conn.query_row(
                "SELECT value FROM chathaul_meta WHERE key = 'application'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| db_error(path, "corrupt or unreadable", e))?
        } else {
            None
        };
        if app.as_deref() != Some("chathaul") {
            return Err(Error::Other(format!(
                "database {}: a SQLite database chathaul did not create (tables: {}); refusing to write to it",
                path.display(),
                tables.join(", ")
            )));
        }
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM chathaul_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| db_error(path, "corrupt or unreadable", e))?;
        if version.as_deref() != Some(SCHEMA_VERSION) {
            return Err(Error::Other(format!(
                "database {}: schema version {} is not {SCHEMA_VERSION}, the one this chathaul writes",
                path.display(),
                version.as_deref().unwrap_or("(none)")
            )));
        }
        enable_wal(&conn).map_err(|e| db_error(path, "cannot enable WAL", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| db_error(path, "cannot configure", e))?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Upserts conversations (and replaces their messages) in one transaction.
    ///
    /// # Errors
    /// [`Error::Other`] naming the database and what failed.
    pub fn upsert(&mut self, conversations: &[Conversation]) -> Result<()> {
        self.batch(conversations, None)
    }

    /// Upserts a batch and records the source's progress in the same
    /// transaction.
    ///
    /// # Errors
    /// As [`Store::upsert`].
    pub fn upsert_for_source(
        &mut self,
        source: &str,
        conversations: &[Conversation],
        messages: u64,
    ) -> Result<()> {
        self.batch(conversations, Some((source, messages)))
    }

    fn batch(&mut self, conversations: &[Conversation], source: Option<(&str, u64)>) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "cannot write a batch", e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let names: Vec<&str> = CONVERSATION_COLUMNS.iter().map(|c| c.name).collect();
            let updates: Vec<String> = names
                .iter()
                .skip(3)
                .map(|n| format!("{n} = excluded.{n}"))
                .collect();
            let sql = format!(
                "INSERT INTO conversations ({}, json, synced_at) VALUES ({}) ON CONFLICT (vendor, account, id) DO UPDATE SET {}, json = excluded.json, synced_at = excluded.synced_at",
                names.join(", "),
                vec!["?"; names.len() + 2].join(", "),
                updates.join(", ")
            );
            let mut upsert = tx.prepare_cached(&sql).map_err(err)?;
            let mnames: Vec<&str> = MESSAGE_COLUMNS.iter().map(|c| c.name).collect();
            let msql = format!(
                "INSERT INTO messages ({}) VALUES ({})",
                mnames.join(", "),
                vec!["?"; mnames.len()].join(", ")
            );
            let mut insert_msg = tx.prepare_cached(&msql).map_err(err)?;
            let mut delete_msgs = tx
                .prepare_cached(
                    "DELETE FROM messages WHERE vendor = ? AND account = ? AND conversation_id = ?",
                )
                .map_err(err)?;
            let now = utc_instant::format(&Utc::now());
            for c in conversations {
                let json = serde_json::to_string(c).map_err(|e| {
                    Error::Other(format!("cannot serialize conversation {}: {e}", c.id))
                })?;
                let mut values: Vec<SqlValue> = CONVERSATION_COLUMNS
                    .iter()
                    .map(|col| sql_value((col.get)(c)))
                    .collect();
                values.push(SqlValue::Text(json));
                values.push(SqlValue::Text(now.clone()));
                upsert
                    .execute(rusqlite::params_from_iter(values))
                    .map_err(err)?;
                delete_msgs
                    .execute(params![c.vendor, c.account, c.id])
                    .map_err(err)?;
                for (seq, message) in c.messages.iter().enumerate() {
                    let row = MessageRow {
                        conversation: c,
                        seq,
                        message,
                    };
                    let values: Vec<SqlValue> = MESSAGE_COLUMNS
                        .iter()
                        .map(|col| sql_value((col.get)(&row)))
                        .collect();
                    insert_msg
                        .execute(rusqlite::params_from_iter(values))
                        .map_err(err)?;
                }
            }
            if let Some((source, messages)) = source {
                // Compared as instants, not as text: RFC 3339 text with and
                // without fractions does not sort as time does.
                let stored: Option<String> = tx
                    .query_row(
                        "SELECT newest_seen FROM sync_state WHERE source = ?1",
                        params![source],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(err)?
                    .flatten();
                let newest = conversations
                    .iter()
                    .filter_map(|c| c.created_at)
                    .chain(parse_time(stored))
                    .max();
                tx.execute(
                    "UPDATE sync_state SET rows_fetched = rows_fetched + ?2, messages_fetched = messages_fetched + ?3,
                         newest_seen = ?4
                     WHERE source = ?1",
                    params![source, conversations.len() as i64, messages as i64, time_text(newest)],
                )
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Marks the start of a run for a source and returns its state; its
    /// `last_window_since` is where the run starts: the cursor, or `since`
    /// when the source has none yet.
    ///
    /// # Errors
    /// [`Error::Other`] when the source was synced before from another
    /// vendor or account (rename the source), or on a database error.
    pub fn begin_run(
        &mut self,
        source: &str,
        vendor: &str,
        account: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<SyncState> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "cannot record the run", e);
        let mut window_since = since;
        if let Some(prev) = self.state(source)? {
            if prev.vendor != vendor || prev.account != account {
                return Err(Error::Other(format!(
                    "source `{source}` was synced from {}/{} and is now {vendor}/{account}: give it another name",
                    prev.vendor, prev.account
                )));
            }
            window_since = prev.cursor.or(since);
        }
        self.conn
            .execute(
                "INSERT INTO sync_state (source, vendor, account, last_status) VALUES (?1, ?2, ?3, 'running')
                 ON CONFLICT (source) DO NOTHING",
                params![source, vendor, account],
            )
            .map_err(err)?;
        self.conn
            .execute(
                "UPDATE sync_state SET last_window_since = ?2, last_run_started = ?3, last_run_finished = NULL,
                     last_status = 'running', last_error = NULL, rows_fetched = 0, messages_fetched = 0,
                     reported_total = NULL, reported_messages = NULL, shortfalls = '[]'
                 WHERE source = ?1",
                params![source, time_text(window_since), time_text(Some(Utc::now()))],
            )
            .map_err(err)?;
        self.state(source)?.ok_or_else(|| {
            Error::Other(format!(
                "database {}: sync state vanished",
                self.path.display()
            ))
        })
    }

    /// The cursor a source's next run starts from (`None`: never synced completely).
    ///
    /// # Errors
    /// On a database error.
    pub fn cursor(&self, source: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.state(source)?.and_then(|s| s.cursor))
    }

    /// Records the end of a run. When `complete`, the cursor moves to the
    /// newest creation time seen minus `lookback` (never backwards).
    ///
    /// # Errors
    /// On a database error.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_run(
        &mut self,
        source: &str,
        status: &str,
        error: Option<&str>,
        complete: bool,
        lookback: chrono::Duration,
        reported_total: Option<u64>,
        reported_messages: Option<u64>,
        shortfalls: &[String],
    ) -> Result<SyncState> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "cannot record the run", e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let (cursor, newest): (Option<String>, Option<String>) = tx
            .query_row(
                "SELECT cursor, newest_seen FROM sync_state WHERE source = ?1",
                params![source],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        let mut cursor = parse_time(cursor);
        if complete && let Some(newest) = parse_time(newest) {
            let next = newest - lookback;
            cursor = Some(cursor.map_or(next, |c| c.max(next)));
        }
        tx.execute(
            "UPDATE sync_state SET cursor = ?2, last_run_finished = ?3, last_status = ?4, last_error = ?5,
                 reported_total = ?6, reported_messages = ?7, shortfalls = ?8
             WHERE source = ?1",
            params![
                source,
                time_text(cursor),
                time_text(Some(Utc::now())),
                status,
                error,
                reported_total.map(|n| n as i64),
                reported_messages.map(|n| n as i64),
                serde_json::to_string(shortfalls).unwrap_or_else(|_| "[]".into()),
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.state(source)?.ok_or_else(|| {
            Error::Other(format!(
                "database {}: sync state vanished",
                self.path.display()
            ))
        })
    }

    /// The state of one source.
    ///
    /// # Errors
    /// On a database error.
    pub fn state(&self, source: &str) -> Result<Option<SyncState>> {
        Ok(self.states()?.into_iter().find(|s| s.source == source))
    }

    /// The state of every source, by name.
    ///
    /// # Errors
    /// On a database error.
    pub fn states(&self) -> Result<Vec<SyncState>> {
        let err = |e| db_error(&self.path, "cannot read the sync state", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT source, vendor, account, cursor, newest_seen, last_window_since, last_run_started, last_run_finished,
                        last_status, last_error, rows_fetched, messages_fetched, reported_total, reported_messages, shortfalls,
                        (SELECT count(*) FROM conversations c WHERE c.vendor = s.vendor AND c.account = s.account)
                 FROM sync_state s ORDER BY source",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SyncState {
                    source: r.get(0)?,
                    vendor: r.get(1)?,
                    account: r.get(2)?,
                    cursor: parse_time(r.get(3)?),
                    newest_seen: parse_time(r.get(4)?),
                    last_window_since: parse_time(r.get(5)?),
                    last_run_started: parse_time(r.get(6)?),
                    last_run_finished: parse_time(r.get(7)?),
                    last_status: r.get(8)?,
                    last_error: r.get(9)?,
                    rows_fetched: r.get::<_, i64>(10)? as u64,
                    messages_fetched: r.get::<_, i64>(11)? as u64,
                    reported_total: r.get::<_, Option<i64>>(12)?.map(|n| n as u64),
                    reported_messages: r.get::<_, Option<i64>>(13)?.map(|n| n as u64),
                    shortfalls: serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or_default(),
                    stored: r.get::<_, i64>(15)? as u64,
                })
            })
            .map_err(err)?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)
    }

    /// Every stored conversation (from its `json` column), sorted by vendor,
    /// account and id.
    ///
    /// # Errors
    /// On a database error or a row that does not decode.
    pub fn conversations(&self) -> Result<Vec<Conversation>> {
        let err = |e| db_error(&self.path, "cannot read conversations", e);
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM conversations ORDER BY vendor, account, id")
            .map_err(err)?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(err)?
            .collect::<std::result::Result<_, _>>()
            .map_err(err)?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| {
                    Error::Other(format!(
                        "database {}: a row does not decode: {e}",
                        self.path.display()
                    ))
                })
            })
            .collect()
    }

    /// The underlying connection, for queries (reports, tests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A [`Sink`] that upserts into a [`Store`] in batches.
#[derive(Debug)]
pub struct StoreSink {
    store: Store,
    buffer: Vec<Conversation>,
}

const SINK_BATCH: usize = 200;

impl StoreSink {
    /// Opens the database (see [`Store::open`]).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            store: Store::open(path)?,
            buffer: Vec::new(),
        })
    }
}

impl Sink for StoreSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        self.buffer.push(conversation.clone());
        if self.buffer.len() >= SINK_BATCH {
            let batch = std::mem::take(&mut self.buffer);
            self.store.upsert(&batch)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        let batch = std::mem::take(&mut self.buffer);
        self.store.upsert(&batch)?;
        Ok(vec![self.store.path.clone()])
    }
}
