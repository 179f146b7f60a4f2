//! The SQLite backend: a chathaul database in one file, in WAL mode.
//!
//! Instants are RFC 3339 UTC text (which sorts as time does at one
//! precision; the cursor is compared as instants), counts and booleans
//! integers. A file that is not a SQLite database, or a SQLite database that
//! chathaul did not create, is refused and left as it is.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use connector_core::model::utc_instant;
use connector_core::{Conversation, Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};

use super::{ChannelCount, Measure, RunEnd, SyncState, SyncStore};
use crate::columns::{CONVERSATION_COLUMNS, ColumnValue, Kind, MESSAGE_COLUMNS, MessageRow};

/// The schema version this build writes.
pub const SCHEMA_VERSION: &str = "1";

/// A chathaul database in a SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

const BACKEND: &str = "sqlite";

fn db_error(path: &Path, what: &str, e: rusqlite::Error) -> Error {
    Error::store(BACKEND, path.display().to_string(), what, e)
}

/// A store error with nothing underneath: a file refused as not ours, a row
/// that vanished.
fn refused(path: &Path, why: String) -> Error {
    Error::Store {
        backend: BACKEND,
        location: path.display().to_string(),
        action: why,
        source: None,
    }
}

/// The SQLite type of a column (instants are RFC 3339 text, which sorts).
fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Time => "TEXT",
        Kind::UInt | Kind::Bool => "INTEGER",
    }
}

fn time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(utc_instant::format)
}

fn parse_time(t: Option<String>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn sql_value(value: ColumnValue) -> SqlValue {
    match value {
        ColumnValue::Text(Some(s)) => SqlValue::Text(s),
        ColumnValue::UInt(Some(n)) => SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        ColumnValue::Bool(Some(b)) => SqlValue::Integer(i64::from(b)),
        ColumnValue::Time(Some(t)) => SqlValue::Text(utc_instant::format(&t)),
        ColumnValue::Text(None)
        | ColumnValue::UInt(None)
        | ColumnValue::Bool(None)
        | ColumnValue::Time(None) => SqlValue::Null,
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
                sql_type(c.kind),
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
                sql_type(c.kind),
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

impl SqliteStore {
    /// Opens (or creates) a chathaul database.
    ///
    /// # Errors
    /// [`Error::Store`] when the file is not a SQLite database, is corrupt, or
    /// is a SQLite database chathaul did not create (it is left untouched).
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let existing = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(refused(path, "is a directory".to_owned()));
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
                return Err(refused(
                    path,
                    "not a SQLite database (refusing to overwrite it; choose another path with --db)"
                        .to_owned(),
                ));
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
            return Err(refused(
                path,
                format!(
                    "a SQLite database chathaul did not create (tables: {}); refusing to write to it",
                    tables.join(", ")
                ),
            ));
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
            return Err(refused(
                path,
                format!(
                    "schema version {} is not {SCHEMA_VERSION}, the one this chathaul writes",
                    version.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        enable_wal(&conn).map_err(|e| db_error(path, "cannot enable WAL", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| db_error(path, "cannot configure", e))?;
        Ok(SqliteStore {
            conn,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for queries (tests, tools).
    pub fn connection(&self) -> &Connection {
        &self.conn
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
                    Error::store(
                        BACKEND,
                        path.display().to_string(),
                        format!("cannot serialize conversation {}", c.id),
                        e,
                    )
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

    fn state_after_run(&self, source: &str) -> Result<SyncState> {
        self.state(source)?.ok_or_else(|| {
            refused(
                &self.path,
                format!("the sync state of source `{source}` vanished"),
            )
        })
    }

    fn query_f64(&self, sql: &str, vendor: &str) -> Result<Vec<f64>> {
        let err = |e| db_error(&self.path, "cannot build the report", e);
        let mut stmt = self.conn.prepare(sql).map_err(err)?;
        let rows = stmt
            .query_map([vendor], |r| r.get::<_, Option<f64>>(0))
            .map_err(err)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r.map_err(err)?);
        }
        Ok(out)
    }
}

impl SyncStore for SqliteStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn upsert(&mut self, conversations: &[Conversation]) -> Result<()> {
        self.batch(conversations, None)
    }

    fn upsert_for_source(
        &mut self,
        source: &str,
        conversations: &[Conversation],
        messages: u64,
    ) -> Result<()> {
        self.batch(conversations, Some((source, messages)))
    }

    fn begin_run(
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
                return Err(Error::SyncSource {
                    name: source.to_owned(),
                    problem: format!(
                        "was synced from {}/{} and is now {vendor}/{account}: give it another name",
                        prev.vendor, prev.account
                    ),
                });
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
        self.state_after_run(source)
    }

    fn finish_run(&mut self, source: &str, end: &RunEnd) -> Result<SyncState> {
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
        if end.complete
            && let Some(newest) = parse_time(newest)
        {
            let next = newest - end.lookback;
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
                end.status.as_str(),
                end.error,
                end.reported_total.map(|n| n as i64),
                end.reported_messages.map(|n| n as i64),
                serde_json::to_string(&end.shortfalls).unwrap_or_else(|_| "[]".into()),
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.state_after_run(source)
    }

    fn states(&self) -> Result<Vec<SyncState>> {
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

    fn conversations(&self) -> Result<Vec<Conversation>> {
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
                    Error::store(
                        BACKEND,
                        self.path.display().to_string(),
                        "a row does not decode",
                        e,
                    )
                })
            })
            .collect()
    }

    fn channel_counts(&self) -> Result<Vec<ChannelCount>> {
        let err = |e| db_error(&self.path, "cannot build the report", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT vendor, channel, count(*), coalesce(sum(message_count), 0)
                 FROM conversations GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .map_err(err)?;
        stmt.query_map([], |r| {
            Ok(ChannelCount {
                vendor: r.get(0)?,
                channel: r.get(1)?,
                conversations: r.get::<_, i64>(2)? as u64,
                messages: r.get::<_, i64>(3)? as u64,
            })
        })
        .map_err(err)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)
    }

    fn rating_counts(&self, vendor: &str) -> Result<Vec<(String, u64)>> {
        let err = |e| db_error(&self.path, "cannot build the report", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT rating_satisfaction, count(*) FROM conversations
                 WHERE vendor = ?1 AND rating_satisfaction IS NOT NULL GROUP BY 1 ORDER BY 1",
            )
            .map_err(err)?;
        stmt.query_map([vendor], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(err)?
            .collect::<std::result::Result<_, _>>()
            .map_err(err)
    }

    fn measure(&self, vendor: &str, measure: Measure) -> Result<Vec<f64>> {
        let sql = match measure {
            Measure::FirstResponseReported => {
                "SELECT first_response_secs FROM conversations WHERE vendor = ?1"
            }
            Measure::FirstResponseComputed => {
                "SELECT (julianday(min(m.sent_at)) - julianday(c.created_at)) * 86400.0
                 FROM conversations c JOIN messages m
                   ON m.vendor = c.vendor AND m.account = c.account AND m.conversation_id = c.id AND m.sender_role = 'agent'
                 WHERE c.vendor = ?1 GROUP BY c.vendor, c.account, c.id"
            }
            Measure::WaitReported => "SELECT wait_secs FROM conversations WHERE vendor = ?1",
            Measure::WaitComputed => {
                "SELECT (julianday(coalesce(assigned_at, answered_at)) - julianday(created_at)) * 86400.0
                 FROM conversations WHERE vendor = ?1"
            }
        };
        self.query_f64(sql, vendor)
    }
}
