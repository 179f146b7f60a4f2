//! The SQLite backend: a chathaul database in one file, in WAL mode.
//!
//! Instants are RFC 3339 UTC text (which sorts as time does at one
//! precision; the cursor is compared as instants), counts and booleans
//! integers. A file that is not a SQLite database, or a SQLite database that
//! chathaul did not create, is refused and left as it is.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use connector_core::model::utc_instant;
use connector_core::{Conversation, Error, Message, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};

use super::{ChannelCount, Measure, RunEnd, SCHEMA_VERSION, StoredReject, SyncState, SyncStore};
use crate::columns::{
    CONVERSATION_COLUMNS, CellError, ColumnValue, Kind, MESSAGE_COLUMNS, MessageRow, RowCells,
    conversation_from_row, message_from_row,
};
use crate::incremental::{
    ChangeReport, IncrementalState, Pending, PendingReason, Rejected, RevisitChange, RunBatch, Seen,
};

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
        Kind::Text | Kind::Json | Kind::Time => "TEXT",
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

/// A message with the key of its conversation (vendor, account, id).
type KeyedMessage = ((String, String, String), Message);

/// A row read back by column name: instants from their RFC 3339 text,
/// booleans and counts from integers.
struct SqliteRow<'a>(&'a rusqlite::Row<'a>);

impl RowCells for SqliteRow<'_> {
    fn cell(&self, name: &'static str, kind: Kind) -> std::result::Result<ColumnValue, CellError> {
        let bad = |e: rusqlite::Error| CellError::new(name, e.to_string());
        Ok(match kind {
            Kind::Text | Kind::Json => ColumnValue::Text(self.0.get(name).map_err(bad)?),
            Kind::Bool => ColumnValue::Bool(
                self.0
                    .get::<_, Option<i64>>(name)
                    .map_err(bad)?
                    .map(|n| n != 0),
            ),
            Kind::UInt => ColumnValue::UInt(
                self.0
                    .get::<_, Option<i64>>(name)
                    .map_err(bad)?
                    .map(u64::try_from)
                    .transpose()
                    .map_err(|_| CellError::new(name, "is negative"))?,
            ),
            Kind::Time => {
                let text: Option<String> = self.0.get(name).map_err(bad)?;
                ColumnValue::Time(
                    text.map(|t| {
                        DateTime::parse_from_rfc3339(&t)
                            .map(|t| t.with_timezone(&Utc))
                            .map_err(|e| {
                                CellError::new(name, format!("`{t}` is not an instant: {e}"))
                            })
                    })
                    .transpose()?,
                )
            }
        })
    }
}

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Remembers final conversations listed within the look-back.
fn insert_seen(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    seen: &[(String, Seen)],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO seen (source, id, at, created_at, digest) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, id) DO UPDATE SET at = excluded.at, created_at = excluded.created_at,
             digest = excluded.digest",
    )?;
    for (id, s) in seen {
        insert.execute(params![
            source,
            id,
            time_text(s.at),
            time_text(s.created_at),
            s.digest
        ])?;
    }
    Ok(())
}

/// Records rejects: the same record (same endpoint and text, or the same
/// conversation when there is no text) set aside again is counted on its row.
fn insert_rejects(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    rejects: &[Rejected],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO rejects (source, vendor, account, endpoint, page, path, conversation_id, error, raw,
             raw_digest, first_seen, last_seen, times)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, 1)
         ON CONFLICT (source, endpoint, raw_digest) DO UPDATE SET page = excluded.page,
             path = excluded.path, error = excluded.error, last_seen = excluded.last_seen,
             times = times + 1",
    )?;
    let now = utc_instant::format(&Utc::now());
    for r in rejects {
        let key = if r.raw.is_empty() {
            format!("id:{}", r.id.as_deref().unwrap_or_default())
        } else {
            r.raw.clone()
        };
        let digest = format!("{:016x}", connector_core::paging::fingerprint_of(&key));
        insert.execute(params![
            source,
            r.vendor,
            r.account,
            r.endpoint,
            i64::from(r.page),
            r.path,
            r.id,
            r.error,
            r.raw,
            digest,
            now,
        ])?;
    }
    Ok(())
}

/// The schema as chathaul 0.1 created it (version 1); a new database gets
/// it, then every migration, in one transaction.
fn base_schema() -> String {
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
         INSERT INTO chathaul_meta (key, value) VALUES ('application', 'chathaul'), ('schema_version', '1');
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

/// Version 2: change tracking. The sync state says which time its cursor
/// follows (0.1's cursors were on the creation time) and keeps the
/// creation-time cursor, the last full re-read, the learned rate and the
/// run's estimates; `revisits` holds what can still change, seeded from
/// the conversations already stored that are open or unrated, as last
/// looked at when they ended (or started): the first run after the
/// migration looks at each once more, then drops those that are final by
/// then; `rejects` holds the records set aside.
const MIGRATION_2: &str = "
    ALTER TABLE sync_state ADD COLUMN cursor_field TEXT NOT NULL DEFAULT 'created';
    ALTER TABLE sync_state ADD COLUMN created_cursor TEXT;
    ALTER TABLE sync_state ADD COLUMN last_full_refresh TEXT;
    ALTER TABLE sync_state ADD COLUMN learned_rate REAL;
    ALTER TABLE sync_state ADD COLUMN per_day REAL;
    ALTER TABLE sync_state ADD COLUMN changed_share REAL;
    ALTER TABLE sync_state ADD COLUMN expired_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN longest_secs INTEGER;
    ALTER TABLE sync_state ADD COLUMN last_run TEXT;
    CREATE TABLE revisits (
        source TEXT NOT NULL,
        vendor TEXT NOT NULL,
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT,
        ended_at TEXT,
        first_seen TEXT NOT NULL,
        last_checked TEXT NOT NULL,
        checks INTEGER NOT NULL DEFAULT 0,
        digest TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (source, id)
    );
    CREATE TABLE seen (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        at TEXT,
        created_at TEXT,
        digest TEXT NOT NULL,
        PRIMARY KEY (source, id)
    );
    CREATE TABLE rejects (
        source TEXT NOT NULL,
        vendor TEXT NOT NULL,
        account TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        page INTEGER NOT NULL,
        path TEXT NOT NULL,
        conversation_id TEXT,
        error TEXT NOT NULL,
        raw TEXT NOT NULL,
        raw_digest TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        times INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (source, endpoint, raw_digest)
    );
    INSERT OR IGNORE INTO revisits
        (source, vendor, account, id, reason, created_at, ended_at, first_seen, last_checked, checks, digest)
    SELECT s.source, c.vendor, c.account, c.id,
           CASE WHEN c.status = 'open' OR (c.status IS NULL AND c.ended_at IS NULL)
                THEN 'open' ELSE 'unrated' END,
           c.created_at, c.ended_at, c.synced_at, COALESCE(c.ended_at, c.created_at, c.synced_at), 0, ''
    FROM conversations c JOIN sync_state s ON s.vendor = c.vendor AND s.account = c.account
    WHERE c.status = 'open' OR (c.status IS NULL AND c.ended_at IS NULL)
       OR (c.ended_at IS NOT NULL AND c.rating_satisfaction = 'unrated'
           AND c.rating_comment IS NULL AND c.rated_at IS NULL);
";

/// The view `conversations_json` (since version 3): each conversation as
/// the JSON the model serializes to, built from the columns and messages.
/// A macro, so that the migrations that create it are constants.
macro_rules! conversations_json_view {
    () => {
        "
    CREATE VIEW conversations_json AS
    SELECT c.vendor, c.account, c.id, json_object(
        'vendor', c.vendor,
        'account', c.account,
        'id', c.id,
        'channel', c.channel,
        'status', c.status,
        'initiated_by', c.initiated_by,
        'ended_by', c.ended_by,
        'created_at', c.created_at,
        'assigned_at', c.assigned_at,
        'answered_at', c.answered_at,
        'ended_at', c.ended_at,
        'customer', json_object(
            'id', c.customer_id, 'name', c.customer_name, 'email', c.customer_email,
            'phone', c.customer_phone, 'ip', c.customer_ip, 'location', c.customer_location,
            'user_id', c.customer_user_id),
        'agent', CASE WHEN c.agent_id IS NULL AND c.agent_name IS NULL AND c.agent_email IS NULL
                           AND c.agent_group IS NULL THEN NULL
            ELSE json_object('id', c.agent_id, 'name', c.agent_name, 'email', c.agent_email,
                             'group', c.agent_group) END,
        'agents', json(c.agents_json),
        'rating', CASE WHEN c.rating_satisfaction IS NULL THEN NULL
            ELSE json_object('satisfaction', c.rating_satisfaction, 'score', c.rating_score,
                             'comment', c.rating_comment, 'rated_at', c.rated_at) END,
        'metrics', json_object(
            'wait_secs', c.wait_secs, 'first_response_secs', c.first_response_secs,
            'talk_secs', c.talk_secs, 'duration_secs', c.duration_secs,
            'agent_messages', c.agent_messages, 'customer_messages', c.customer_messages),
        'summary', CASE WHEN c.summary_template IS NULL AND c.summary_fields_json IS NULL THEN NULL
            ELSE json_object('template', c.summary_template,
                             'fields', json(coalesce(c.summary_fields_json, '[]'))) END,
        'ticket', CASE WHEN c.ticket_id IS NULL AND c.ticket_number IS NULL THEN NULL
            ELSE json_object('id', c.ticket_id, 'number', c.ticket_number) END,
        'landing_page', c.landing_page,
        'referrer', c.referrer,
        'messages_fetched', '[false,true]' -> (c.messages_fetched <> 0),
        -- json(): a subquery's result loses its JSON subtype
        'messages', json((
            SELECT json_group_array(json(m.message)) FROM (
                SELECT json_object(
                    'id', m.id,
                    'sender', json_object('role', m.sender_role, 'id', m.sender_id, 'name', m.sender_name),
                    'kind', m.kind,
                    'text', m.text,
                    'sent_at', m.sent_at,
                    'read', CASE WHEN m.read IS NULL THEN NULL ELSE '[false,true]' -> (m.read <> 0) END,
                    'attachments', json(m.attachments_json),
                    'raw', json(m.raw_json)) AS message
                FROM messages m
                WHERE m.vendor = c.vendor AND m.account = c.account AND m.conversation_id = c.id
                ORDER BY m.seq) m)),
        'raw', json(c.raw_json)
    ) AS conversation
    FROM conversations c;
"
    };
}

/// Version 3: nothing stored twice. The `json` column (the whole
/// conversation again, beside its columns and `raw_json`: half the file) is
/// dropped; the view `conversations_json` builds the same JSON from the
/// columns and the messages on read. (The file shrinks once the opener
/// vacuums it, right after this migration.)
const MIGRATION_3: &str = concat!(
    "ALTER TABLE conversations DROP COLUMN json;\n",
    conversations_json_view!()
);

/// Version 4: a message's `kind` may be absent (a KF5 message without
/// `type`): `messages.kind` loses its NOT NULL. SQLite cannot drop a
/// constraint in place, so the table is rebuilt (same columns, same key,
/// every row copied), with the view that reads it dropped and made again
/// around the rebuild.
const MIGRATION_4: &str = concat!(
    "DROP VIEW conversations_json;
    CREATE TABLE messages_v4 (
        vendor TEXT NOT NULL, account TEXT NOT NULL, conversation_id TEXT NOT NULL,
        seq INTEGER NOT NULL, id TEXT, sender_role TEXT NOT NULL, sender_id TEXT,
        sender_name TEXT, kind TEXT, text TEXT, sent_at TEXT, read INTEGER,
        attachments_json TEXT NOT NULL, raw_json TEXT NOT NULL,
        PRIMARY KEY (vendor, account, conversation_id, seq)
    );
    INSERT INTO messages_v4 (vendor, account, conversation_id, seq, id, sender_role,
        sender_id, sender_name, kind, text, sent_at, read, attachments_json, raw_json)
    SELECT vendor, account, conversation_id, seq, id, sender_role,
        sender_id, sender_name, kind, text, sent_at, read, attachments_json, raw_json
    FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v4 RENAME TO messages;
",
    conversations_json_view!()
);

/// The schema changes after version 1, in order: the version each brings
/// the database to, and its SQL. A small runner rather than a migration
/// crate: version 1 files keep their version in `chathaul_meta` (not in
/// SQLite's `user_version` nor in a history table), and the list is
/// SQLite's own (another backend keeps its own list).
const MIGRATIONS: &[(u32, &str)] = &[(2, MIGRATION_2), (3, MIGRATION_3), (4, MIGRATION_4)];

/// The schema version a database records.
fn schema_version(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM chathaul_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// Applies the migrations past `version`, in order (inside the caller's
/// transaction).
fn apply_migrations(conn: &Connection, path: &Path, version: u32) -> Result<()> {
    for (to, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
        let err = |e| {
            db_error(
                path,
                &format!("cannot migrate the schema to version {to}"),
                e,
            )
        };
        conn.execute_batch(sql).map_err(err)?;
        conn.execute(
            "UPDATE chathaul_meta SET value = ?1 WHERE key = 'schema_version'",
            params![to.to_string()],
        )
        .map_err(err)?;
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`] in one transaction (another
/// process may be doing the same: the version is read again under the
/// write lock). A version this build does not know is refused untouched.
fn migrate(conn: &Connection, path: &Path) -> Result<u32> {
    let err = |e| db_error(path, "cannot migrate the schema", e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
    let result = (|| {
        let text = schema_version(conn).map_err(err)?;
        let version: u32 = match text.as_deref().map(str::parse) {
            Some(Ok(v)) => v,
            _ => {
                return Err(refused(
                    path,
                    format!(
                        "schema version {} is not one chathaul wrote; refusing to touch it",
                        text.as_deref().unwrap_or("(none)")
                    ),
                ));
            }
        };
        if version > SCHEMA_VERSION {
            return Err(refused(
                path,
                format!(
                    "schema version {version} is newer than this chathaul knows ({SCHEMA_VERSION}): \
                     upgrade chathaul to use it (the file is left as it is)"
                ),
            ));
        }
        apply_migrations(conn, path, version).map(|()| version)
    })();
    match result {
        Ok(version) => conn.execute_batch("COMMIT").map_err(err).map(|()| version),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
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
            let created = list_tables(&conn)
                .map_err(|e| db_error(path, "cannot create the tables", e))
                .and_then(|t| {
                    if t.is_empty() {
                        conn.execute_batch(&base_schema())
                            .map_err(|e| db_error(path, "cannot create the tables", e))?;
                        apply_migrations(&conn, path, 1)?;
                    }
                    conn.execute_batch("COMMIT")
                        .map_err(|e| db_error(path, "cannot create the tables", e))
                });
            if let Err(e) = created {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
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
        let version =
            schema_version(&conn).map_err(|e| db_error(path, "corrupt or unreadable", e))?;
        if version.as_deref() != Some(SCHEMA_VERSION.to_string().as_str())
            && migrate(&conn, path)? < 4
        {
            // Dropping `json` (version 3) freed half the file's pages, the
            // rebuilt messages table (version 4) the old table's; give them back.
            // A file another process holds open stays as large until a later
            // VACUUM: that is no error.
            // (In WAL mode the file itself shrinks at the checkpoint.)
            if let Err(e) = conn
                .execute_batch("VACUUM")
                .and_then(|()| conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot vacuum after the migration");
            }
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

    fn batch(
        &mut self,
        conversations: &[Conversation],
        source: Option<(&str, &RunBatch)>,
    ) -> Result<()> {
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
                "INSERT INTO conversations ({}, synced_at) VALUES ({}) ON CONFLICT (vendor, account, id) DO UPDATE SET {}, synced_at = excluded.synced_at",
                names.join(", "),
                vec!["?"; names.len() + 1].join(", "),
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
                let mut values: Vec<SqlValue> = CONVERSATION_COLUMNS
                    .iter()
                    .map(|col| sql_value((col.get)(c)))
                    .collect();
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
            if let Some((source, batch)) = source {
                let (vendor, account): (String, String) = tx
                    .query_row(
                        "SELECT vendor, account FROM sync_state WHERE source = ?1",
                        params![source],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(err)?;
                let mut keep = tx
                    .prepare_cached(
                        "INSERT INTO revisits (source, vendor, account, id, reason, created_at, ended_at,
                             first_seen, last_checked, checks, digest)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                         ON CONFLICT (source, id) DO UPDATE SET reason = excluded.reason,
                             created_at = excluded.created_at, ended_at = excluded.ended_at,
                             first_seen = excluded.first_seen, last_checked = excluded.last_checked,
                             checks = excluded.checks, digest = excluded.digest",
                    )
                    .map_err(err)?;
                let mut drop_one = tx
                    .prepare_cached("DELETE FROM revisits WHERE source = ?1 AND id = ?2")
                    .map_err(err)?;
                insert_seen(&tx, source, &batch.seen).map_err(err)?;
                for change in &batch.revisits {
                    match change {
                        RevisitChange::Keep(id, p) => keep
                            .execute(params![
                                source,
                                vendor,
                                account,
                                id,
                                p.reason.as_str(),
                                time_text(p.created_at),
                                time_text(p.ended_at),
                                utc_instant::format(&p.first_seen),
                                utc_instant::format(&p.last_checked),
                                i64::from(p.checks),
                                p.digest,
                            ])
                            .map_err(err)?,
                        RevisitChange::Drop(id, _) => {
                            drop_one.execute(params![source, id]).map_err(err)?
                        }
                    };
                }
                insert_rejects(&tx, source, &batch.rejects).map_err(err)?;
                tx.execute(
                    "UPDATE sync_state SET rows_fetched = rows_fetched + ?2, messages_fetched = messages_fetched + ?3
                     WHERE source = ?1",
                    params![source, conversations.len() as i64, batch.messages as i64],
                )
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn seen_of(&self, source: &str) -> Result<std::collections::BTreeMap<String, Seen>> {
        let err = |e| db_error(&self.path, "cannot read the conversations seen", e);
        let mut stmt = self
            .conn
            .prepare("SELECT id, at, created_at, digest FROM seen WHERE source = ?1")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![source], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Seen {
                        at: parse_time(r.get(1)?),
                        created_at: parse_time(r.get(2)?),
                        digest: r.get(3)?,
                    },
                ))
            })
            .map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn pending_of(&self, source: &str) -> Result<std::collections::BTreeMap<String, Pending>> {
        let err = |e| db_error(&self.path, "cannot read the revisit set", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, reason, created_at, ended_at, first_seen, last_checked, checks, digest
                 FROM revisits WHERE source = ?1",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![source], |r| {
                let reason: String = r.get(1)?;
                Ok((
                    r.get::<_, String>(0)?,
                    reason,
                    parse_time(r.get(2)?),
                    parse_time(r.get(3)?),
                    parse_time(r.get(4)?),
                    parse_time(r.get(5)?),
                    r.get::<_, i64>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(err)?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (id, reason, created_at, ended_at, first_seen, last_checked, checks, digest) =
                row.map_err(err)?;
            let reason = PendingReason::parse(&reason).ok_or_else(|| {
                refused(
                    &self.path,
                    format!("revisits: conversation {id} has an unknown reason `{reason}`"),
                )
            })?;
            let first_seen = first_seen.unwrap_or_else(Utc::now);
            out.insert(
                id,
                Pending {
                    reason,
                    created_at,
                    ended_at,
                    first_seen,
                    last_checked: last_checked.unwrap_or(first_seen),
                    checks: u32::try_from(checks).unwrap_or(u32::MAX),
                    digest,
                },
            );
        }
        Ok(out)
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

    fn write_batch(&mut self, source: &str, batch: &RunBatch) -> Result<()> {
        self.batch(&batch.conversations, Some((source, batch)))
    }

    fn add_rejects(&mut self, source: &str, rejects: &[Rejected]) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "cannot record the records set aside", e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        insert_rejects(&tx, source, rejects).map_err(err)?;
        tx.commit().map_err(err)
    }

    fn begin_run(&mut self, source: &str, vendor: &str, account: &str) -> Result<IncrementalState> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "cannot record the run", e);
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
        self.conn
            .execute(
                "INSERT INTO sync_state (source, vendor, account, last_status) VALUES (?1, ?2, ?3, 'running')
                 ON CONFLICT (source) DO NOTHING",
                params![source, vendor, account],
            )
            .map_err(err)?;
        self.conn
            .execute(
                "UPDATE sync_state SET last_run_started = ?2, last_run_finished = NULL,
                     last_status = 'running', last_error = NULL, rows_fetched = 0, messages_fetched = 0,
                     reported_total = NULL, reported_messages = NULL, shortfalls = '[]'
                 WHERE source = ?1",
                params![source, time_text(Some(Utc::now()))],
            )
            .map_err(err)?;
        self.incremental_state(source)?.ok_or_else(|| {
            refused(
                &self.path,
                format!("the sync state of source `{source}` vanished"),
            )
        })
    }

    fn incremental_state(&self, source: &str) -> Result<Option<IncrementalState>> {
        let err = |e| db_error(&self.path, "cannot read the sync state", e);
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            i64,
            Option<i64>,
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT cursor_field, cursor, newest_seen, created_cursor, last_full_refresh,
                        learned_rate, per_day, changed_share, expired_total, longest_secs
                 FROM sync_state WHERE source = ?1",
                params![source],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        let Some((field, cursor, newest, created, full, rate, per_day, share, expired, longest)) =
            row
        else {
            return Ok(None);
        };
        Ok(Some(IncrementalState {
            cursor_field: field.parse().unwrap_or_default(),
            cursor: parse_time(cursor),
            newest_seen: parse_time(newest),
            created_cursor: parse_time(created),
            pending: self.pending_of(source)?,
            seen: self.seen_of(source)?,
            last_full_refresh: parse_time(full),
            learned_rate: rate,
            per_day,
            changed_share: share,
            expired: u64::try_from(expired).unwrap_or(0),
            longest_secs: longest.and_then(|n| u64::try_from(n).ok()),
        }))
    }

    fn finish_run(&mut self, source: &str, end: &RunEnd) -> Result<SyncState> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "cannot record the run", e);
        let s = &end.state;
        let field = match s.cursor_field {
            connector_core::TimeField::Created => "created",
            connector_core::TimeField::Ended => "ended",
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        // The run kept only what the next run lists again.
        tx.execute("DELETE FROM seen WHERE source = ?1", params![source])
            .map_err(err)?;
        let seen: Vec<(String, Seen)> =
            s.seen.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        insert_seen(&tx, source, &seen).map_err(err)?;
        tx.execute(
                "UPDATE sync_state SET cursor_field = ?2, cursor = ?3, newest_seen = ?4, created_cursor = ?5,
                     last_full_refresh = ?6, learned_rate = ?7, per_day = ?8, changed_share = ?9,
                     expired_total = ?10, last_run = ?11, last_window_since = ?12,
                     last_run_finished = ?13, last_status = ?14, last_error = ?15,
                     reported_total = ?16, reported_messages = ?17, shortfalls = ?18,
                     longest_secs = ?19
                 WHERE source = ?1",
                params![
                    source,
                    field,
                    time_text(s.cursor),
                    time_text(s.newest_seen),
                    time_text(s.created_cursor),
                    time_text(s.last_full_refresh),
                    s.learned_rate,
                    s.per_day,
                    s.changed_share,
                    i64::try_from(s.expired).unwrap_or(i64::MAX),
                    serde_json::to_string(&end.report).ok(),
                    time_text(end.window_since),
                    time_text(Some(Utc::now())),
                    end.status.as_str(),
                    end.error,
                    end.reported_total.map(|n| n as i64),
                    end.reported_messages.map(|n| n as i64),
                    serde_json::to_string(&end.shortfalls).unwrap_or_else(|_| "[]".into()),
                    s.longest_secs.and_then(|n| i64::try_from(n).ok()),
                ],
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        self.state_after_run(source)
    }

    fn rejects(&self, source: Option<&str>) -> Result<Vec<StoredReject>> {
        let err = |e| db_error(&self.path, "cannot read the records set aside", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT source, vendor, account, endpoint, page, path, conversation_id, error, raw,
                        first_seen, last_seen, times
                 FROM rejects WHERE ?1 IS NULL OR source = ?1 ORDER BY first_seen, source, endpoint, page, path",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![source], |r| {
                Ok(StoredReject {
                    source: r.get(0)?,
                    rejected: Rejected {
                        vendor: r.get(1)?,
                        account: r.get(2)?,
                        endpoint: r.get(3)?,
                        page: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                        path: r.get(5)?,
                        id: r.get(6)?,
                        error: r.get(7)?,
                        raw: r.get(8)?,
                    },
                    first_seen: parse_time(r.get(9)?).unwrap_or_default(),
                    last_seen: parse_time(r.get(10)?).unwrap_or_default(),
                    times: u64::try_from(r.get::<_, i64>(11)?).unwrap_or(0),
                })
            })
            .map_err(err)?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)
    }

    fn states(&self) -> Result<Vec<SyncState>> {
        let err = |e| db_error(&self.path, "cannot read the sync state", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT source, vendor, account, cursor, newest_seen, last_window_since, last_run_started, last_run_finished,
                        last_status, last_error, rows_fetched, messages_fetched, reported_total, reported_messages, shortfalls,
                        (SELECT count(*) FROM conversations c WHERE c.vendor = s.vendor AND c.account = s.account),
                        cursor_field, created_cursor,
                        (SELECT count(*) FROM revisits v WHERE v.source = s.source),
                        (SELECT min(created_at) FROM revisits v WHERE v.source = s.source),
                        expired_total,
                        (SELECT count(*) FROM rejects j WHERE j.source = s.source),
                        last_full_refresh, learned_rate, last_run
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
                    cursor_field: r.get::<_, String>(16)?.parse().unwrap_or_default(),
                    created_cursor: parse_time(r.get(17)?),
                    pending: r.get::<_, i64>(18)? as u64,
                    oldest_pending: parse_time(r.get(19)?),
                    expired: r.get::<_, i64>(20)? as u64,
                    rejects: r.get::<_, i64>(21)? as u64,
                    last_full_refresh: parse_time(r.get(22)?),
                    learned_rate: r.get(23)?,
                    last_run: r
                        .get::<_, Option<String>>(24)?
                        .and_then(|t| serde_json::from_str::<ChangeReport>(&t).ok()),
                })
            })
            .map_err(err)?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)
    }

    fn conversations(&self) -> Result<Vec<Conversation>> {
        // Rebuilt from the columns and the messages table, as every backend
        // does: the database need not keep the conversation a second time.
        let err = |e| db_error(&self.path, "cannot read conversations", e);
        let names = |columns: Vec<&'static str>| columns.join(", ");
        let mut conversations = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM conversations ORDER BY vendor, account, id",
                names(CONVERSATION_COLUMNS.iter().map(|c| c.name).collect())
            ))
            .map_err(err)?;
        let mut messages = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM messages ORDER BY vendor, account, conversation_id, seq",
                names(MESSAGE_COLUMNS.iter().map(|c| c.name).collect())
            ))
            .map_err(err)?;
        let undecodable = |what: String, e: CellError| {
            Error::store(BACKEND, self.path.display().to_string(), what, e)
        };
        let mut message_rows = messages.query([]).map_err(err)?;
        let next_message = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<KeyedMessage>> {
            let Some(row) = rows.next().map_err(err)? else {
                return Ok(None);
            };
            let key: (String, String, String) = (
                row.get("vendor").map_err(err)?,
                row.get("account").map_err(err)?,
                row.get("conversation_id").map_err(err)?,
            );
            let (_, message) = message_from_row(&SqliteRow(row)).map_err(|e| {
                undecodable(
                    format!("a message of {}/{}/{} does not decode", key.0, key.1, key.2),
                    e,
                )
            })?;
            Ok(Some((key, message)))
        };
        let mut pending = next_message(&mut message_rows)?;
        let mut out = Vec::new();
        let mut rows = conversations.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let key: (String, String, String) = (
                row.get("vendor").map_err(err)?,
                row.get("account").map_err(err)?,
                row.get("id").map_err(err)?,
            );
            let mut own = Vec::new();
            // Both are in key order: this conversation's messages are next,
            // after any whose conversation is gone.
            while let Some((theirs, _)) = &pending {
                if *theirs > key {
                    break;
                }
                let (theirs, message) = pending.take().expect("peeked");
                if theirs == key {
                    own.push(message);
                }
                pending = next_message(&mut message_rows)?;
            }
            out.push(conversation_from_row(&SqliteRow(row), own).map_err(|e| {
                undecodable(
                    format!("conversation {}/{}/{} does not decode", key.0, key.1, key.2),
                    e,
                )
            })?);
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `table` as text (NULL as `None`), in key order.
    fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    let v: rusqlite::types::Value = r.get(i)?;
                    Ok(match v {
                        rusqlite::types::Value::Null => None,
                        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                        rusqlite::types::Value::Real(f) => Some(f.to_string()),
                        rusqlite::types::Value::Text(t) => Some(t),
                        rusqlite::types::Value::Blob(b) => Some(format!("{b:?}")),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    const MESSAGES_LAYOUT: &str =
        "SELECT name, type, \"notnull\", pk FROM pragma_table_info('messages') ORDER BY cid";
    const ALL_MESSAGES: &str =
        "SELECT * FROM messages ORDER BY vendor, account, conversation_id, seq";
    const ALL_JSON: &str =
        "SELECT conversation FROM conversations_json ORDER BY vendor, account, id";

    /// A version 3 database as chathaul wrote it: chathaul 0.1's file
    /// (tests/fixtures/v1.sqlite) taken through migrations 2 and 3, which
    /// are frozen.
    fn version_3_database(dir: &Path) -> PathBuf {
        let db = dir.join("v3.sqlite");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite"),
            &db,
        )
        .unwrap();
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(MIGRATION_2).unwrap();
        conn.execute_batch(MIGRATION_3).unwrap();
        conn.execute(
            "UPDATE chathaul_meta SET value = '3' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        db
    }

    #[test]
    fn a_version_3_database_gets_a_nullable_message_kind_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = version_3_database(dir.path());
        let (layout, messages, json) = {
            let conn = Connection::open(&db).unwrap();
            let layout = rows(&conn, MESSAGES_LAYOUT);
            let kind = layout
                .iter()
                .find(|c| c[0].as_deref() == Some("kind"))
                .unwrap();
            assert_eq!(kind[2].as_deref(), Some("1"), "version 3: kind NOT NULL");
            (layout, rows(&conn, ALL_MESSAGES), rows(&conn, ALL_JSON))
        };
        assert_eq!(messages.len(), 301);

        let mut store = SqliteStore::open(&db).unwrap();
        let conn = store.connection();
        assert_eq!(
            schema_version(conn).unwrap().as_deref(),
            Some(SCHEMA_VERSION.to_string().as_str())
        );
        assert_eq!(SCHEMA_VERSION, 4);
        // The same columns, types and key; only `kind` lost its NOT NULL.
        let expected: Vec<_> = layout
            .into_iter()
            .map(|mut c| {
                if c[0].as_deref() == Some("kind") {
                    c[2] = Some("0".into());
                }
                c
            })
            .collect();
        assert_eq!(rows(conn, MESSAGES_LAYOUT), expected);
        // Every row as it was, and the view gives the same JSON.
        assert_eq!(rows(conn, ALL_MESSAGES), messages);
        assert_eq!(rows(conn, ALL_JSON), json);
        // A new database has the very same messages table.
        let fresh = SqliteStore::open(&dir.path().join("new.sqlite")).unwrap();
        assert_eq!(rows(fresh.connection(), MESSAGES_LAYOUT), expected);

        // A message without a kind is stored as NULL and read back absent.
        let mut c = store
            .conversations()
            .unwrap()
            .into_iter()
            .find(|c| c.vendor == "kf5" && !c.messages.is_empty())
            .unwrap();
        c.messages[0].kind = None;
        store.upsert(std::slice::from_ref(&c)).unwrap();
        let conn = store.connection();
        let stored: Option<String> = conn
            .query_row(
                "SELECT kind FROM messages WHERE vendor = ?1 AND account = ?2 AND conversation_id = ?3 AND seq = 0",
                params![c.vendor, c.account, c.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, None);
        let view: String = conn
            .query_row(
                "SELECT conversation FROM conversations_json WHERE vendor = ?1 AND account = ?2 AND id = ?3",
                params![c.vendor, c.account, c.id],
                |r| r.get(0),
            )
            .unwrap();
        let view: serde_json::Value = serde_json::from_str(&view).unwrap();
        assert_eq!(view["messages"][0]["kind"], serde_json::Value::Null);
        let back = store.conversations().unwrap();
        let back = back.iter().find(|b| b.id == c.id && b.vendor == c.vendor);
        assert_eq!(back, Some(&c));
        drop(store);
        // Opened again: nothing more to migrate.
        let again = SqliteStore::open(&db).unwrap();
        assert_eq!(rows(again.connection(), ALL_MESSAGES).len(), 301);
    }
}
