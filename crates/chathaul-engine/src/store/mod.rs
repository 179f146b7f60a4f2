//! Where `sync` keeps conversations and each source's progress: a database
//! behind the [`SyncStore`] trait, so that the sync engine, the database sink
//! and the report run on any backend.
//!
//! Every backend holds the same tables (columns from [`crate::columns`], so
//! all outputs agree):
//! - `conversations`: primary key (`vendor`, `account`, `id`), one column per
//!   flattened field (the vendor's record once, as `raw_json`) and
//!   `synced_at`;
//! - `conversations_json` (a view): each conversation in the JSON contract,
//!   messages included, built from the tables on read;
//! - `messages`: primary key (`vendor`, `account`, `conversation_id`, `seq`);
//! - `sync_state`: one row per source ([`SyncState`]): its cursor and the
//!   rest of its change tracking ([`IncrementalState`]), and its last run;
//! - `revisits`: per source, the conversations that can still change
//!   ([`Pending`]), revisited by each run until final or expired;
//! - `seen`: per source, the final conversations within the next run's
//!   look-back ([`crate::incremental::Seen`]), to tell one listed again
//!   unchanged from a new one;
//! - `rejects`: records set aside because they could not be decoded
//!   ([`Rejected`]), with where they were, why, and their text;
//! - `chathaul_meta`: marks the database as chathaul's (schema version).
//!
//! Conversations are upserted (a conversation fetched again replaces its row
//! and its messages), and every batch moves the data, the revisit set, the
//! records set aside and the source's progress in one transaction
//! ([`SyncStore::write_batch`]); the cursor moves in the transaction that
//! closes a complete run. A database that chathaul did not create is
//! refused and left as it is.
//!
//! Schema versions: a database records the version of its schema
//! ([`SCHEMA_VERSION`] is the one this build writes, on every backend).
//! Opening one written by an earlier version migrates it in place, in one
//! transaction; one written by a later version is refused, naming both
//! versions. Each backend keeps its own list of migrations.
//!
//! Backends: [`SqliteStore`] (feature `sqlite`), a file, nothing to run;
//! [`PostgresStore`] (feature `postgres`), a schema in a Postgres database.
//! [`Database`] chooses one from what the user wrote: a `postgresql://`
//! URL, or a file path.

mod database;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use database::{Database, is_postgres_url, redact_url_text};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresUrl};

use std::path::Path;

use chrono::{DateTime, Utc};
use connector_core::{Conversation, Result, TimeField};
use serde::Serialize;

#[cfg(doc)]
use crate::incremental::Pending;
use crate::incremental::{ChangeReport, IncrementalState, Rejected, RunBatch};

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// The schema version this build writes; version 1 is chathaul 0.1's,
/// 2 brought change tracking, 3 keeps nothing twice (no `json` column), 4
/// lets a message's `kind` be absent (`messages.kind` nullable).
pub const SCHEMA_VERSION: u32 = 4;

/// The SQLite store under the name it had before stores had a trait.
#[cfg(feature = "sqlite")]
pub type Store = SqliteStore;

/// The sync state of one source, as `sync --status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncState {
    /// The source's name (from the config file, or the vendor name).
    pub source: String,
    /// Its vendor.
    pub vendor: String,
    /// Its account.
    pub account: String,
    /// The time the cursor follows (the vendor's declaration).
    pub cursor_field: TimeField,
    /// The next run lists conversations whose `cursor_field` is at or after
    /// this instant.
    pub cursor: Option<DateTime<Utc>>,
    /// The newest time seen on `cursor_field`.
    pub newest_seen: Option<DateTime<Utc>>,
    /// Where the creation-time listing of a vendor that needs one starts.
    pub created_cursor: Option<DateTime<Utc>>,
    /// The start of the last run's window (`None`: from the beginning).
    pub last_window_since: Option<DateTime<Utc>>,
    /// When the last run started.
    pub last_run_started: Option<DateTime<Utc>>,
    /// When the last run ended (`None` while running or after a kill).
    pub last_run_finished: Option<DateTime<Utc>>,
    /// `running`, `ok`, `incomplete` or `error` ([`RunStatus::as_str`]).
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
    /// Conversations still revisited (not final yet).
    pub pending: u64,
    /// The creation time of the oldest of them.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Conversations dropped from the revisit set unfinished, over all runs.
    pub expired: u64,
    /// Records set aside for this source (rows in `rejects`).
    pub rejects: u64,
    /// When the last full re-read completed.
    pub last_full_refresh: Option<DateTime<Utc>>,
    /// The request rate the account's pacing learned (requests per second).
    pub learned_rate: Option<f64>,
    /// What the last run did (revisits, changes, expiries, rejects).
    pub last_run: Option<ChangeReport>,
}

/// How a source's run stands, as recorded in its [`SyncState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Started and not finished (or killed).
    Running,
    /// Fetched its whole window.
    Ok,
    /// Ran to the end, but the vendor reported more than was fetched.
    Incomplete,
    /// Ended by an error.
    Error,
}

impl RunStatus {
    /// The text stored in `sync_state.last_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Error => "error",
        }
    }
}

/// How a run ended: what [`SyncStore::finish_run`] records.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// The run's status.
    pub status: RunStatus,
    /// The error that ended it, if any.
    pub error: Option<String>,
    /// The change tracking after the run: its cursors, last full re-read,
    /// learned rate and estimates are recorded (the cursor moved only if the
    /// run was complete); its revisit set is already stored, batch by batch.
    pub state: IncrementalState,
    /// Where the run's listing started.
    pub window_since: Option<DateTime<Utc>>,
    /// What the run did.
    pub report: ChangeReport,
    /// The conversation total the vendor reported, if it reports one.
    pub reported_total: Option<u64>,
    /// The message total the vendor reported, if it reports one.
    pub reported_messages: Option<u64>,
    /// Every difference between what was reported and what was fetched.
    pub shortfalls: Vec<String>,
}

/// A record set aside, as stored: the same record set aside again by a
/// later run is one row, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredReject {
    /// The source.
    pub source: String,
    /// The record and why.
    #[serde(flatten)]
    pub rejected: Rejected,
    /// When it was first set aside.
    pub first_seen: DateTime<Utc>,
    /// When it was last set aside.
    pub last_seen: DateTime<Utc>,
    /// How many times it was set aside.
    pub times: u64,
}

/// Conversations and messages of one vendor on one channel (for the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCount {
    /// The vendor.
    pub vendor: String,
    /// The channel (`None` when the vendor does not say).
    pub channel: Option<String>,
    /// Conversations.
    pub conversations: u64,
    /// Messages stored.
    pub messages: u64,
}

/// A duration per conversation, in seconds, that the report takes medians of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The first response time the vendor reported (`first_response_secs`).
    FirstResponseReported,
    /// From the start to the first agent message, where the vendor reported none.
    FirstResponseComputed,
    /// The wait the vendor reported (`wait_secs`).
    WaitReported,
    /// From the start until an agent was assigned or answered.
    WaitComputed,
}

/// A chathaul database: what the sync engine, the database sink and the
/// report need of a backend.
///
/// The sync engine calls a store from one writer thread, one call at a time,
/// so methods block; each write is one transaction.
pub trait SyncStore: Send + std::fmt::Debug {
    /// The backend's name (`sqlite`), as in [`connector_core::Error::Store`].
    fn backend(&self) -> &'static str;

    /// Where the database is, for messages: a file path, or a URL without
    /// its password.
    fn location(&self) -> String;

    /// The database file, for a backend that is one.
    fn path(&self) -> Option<&Path>;

    /// Upserts conversations (and replaces their messages) in one transaction.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] naming the database and what failed.
    fn upsert(&mut self, conversations: &[Conversation]) -> Result<()>;

    /// Writes one batch of a source's run in one transaction: upserts its
    /// conversations (replacing their messages), applies its changes to the
    /// source's revisit set, records its rejects, and adds to the run's
    /// counts of rows and messages fetched. A run killed at any point
    /// leaves the data and the revisit set in step.
    ///
    /// # Errors
    /// As [`SyncStore::upsert`].
    fn write_batch(&mut self, source: &str, batch: &RunBatch) -> Result<()>;

    /// Records records set aside outside a sync run (a pull into the
    /// database), in one transaction.
    ///
    /// # Errors
    /// As [`SyncStore::upsert`].
    fn add_rejects(&mut self, source: &str, rejects: &[Rejected]) -> Result<()>;

    /// Marks the start of a run for a source and returns its change
    /// tracking as the last run left it (a new source gets the default
    /// state: no cursor, nothing pending).
    ///
    /// # Errors
    /// [`connector_core::Error::SyncSource`] when the source was synced
    /// before from another vendor or account (rename the source);
    /// [`connector_core::Error::Store`] on a database error.
    fn begin_run(&mut self, source: &str, vendor: &str, account: &str) -> Result<IncrementalState>;

    /// The change tracking of a source as stored (`None` for a source never
    /// synced), without starting a run.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn incremental_state(&self, source: &str) -> Result<Option<IncrementalState>>;

    /// Records the end of a run: its status, and the change tracking the
    /// run computed (cursors, last full re-read, learned rate, estimates;
    /// never the revisit set, stored batch by batch).
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn finish_run(&mut self, source: &str, end: &RunEnd) -> Result<SyncState>;

    /// The records set aside, of one source or all, oldest first.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn rejects(&self, source: Option<&str>) -> Result<Vec<StoredReject>>;

    /// The state of every source, by name.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn states(&self) -> Result<Vec<SyncState>>;

    /// The state of one source.
    ///
    /// # Errors
    /// As [`SyncStore::states`].
    fn state(&self, source: &str) -> Result<Option<SyncState>> {
        Ok(self.states()?.into_iter().find(|s| s.source == source))
    }

    /// The cursor a source's next run starts from (`None`: never synced completely).
    ///
    /// # Errors
    /// As [`SyncStore::states`].
    fn cursor(&self, source: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.state(source)?.and_then(|s| s.cursor))
    }

    /// Every stored conversation (rebuilt from its columns and messages),
    /// sorted by vendor, account and id.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error or a row that
    /// does not decode.
    fn conversations(&self) -> Result<Vec<Conversation>>;

    /// Conversations and messages per vendor and channel, sorted by vendor,
    /// then channel (no channel first).
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn channel_counts(&self) -> Result<Vec<ChannelCount>>;

    /// How many of a vendor's conversations have each satisfaction value
    /// (conversations without a rating slot left out), sorted by value.
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn rating_counts(&self, vendor: &str) -> Result<Vec<(String, u64)>>;

    /// A measure's value for each of a vendor's conversations that has one
    /// (in seconds, in no particular order).
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn measure(&self, vendor: &str, measure: Measure) -> Result<Vec<f64>>;
}
