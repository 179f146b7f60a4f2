//! Where `sync` keeps conversations and each source's progress: a database
//! behind the [`SyncStore`] trait, so that the sync engine, the database sink
//! and the report run on any backend.
//!
//! Every backend holds the same tables (columns from [`crate::columns`], so
//! all outputs agree):
//! - `conversations`: primary key (`vendor`, `account`, `id`), one column per
//!   flattened field, plus `json` (the whole conversation in the JSON
//!   contract) and `synced_at`;
//! - `messages`: primary key (`vendor`, `account`, `conversation_id`, `seq`);
//! - `sync_state`: one row per source ([`SyncState`]);
//! - `chathaul_meta`: marks the database as chathaul's (schema version).
//!
//! Conversations are upserted (a conversation fetched again replaces its row
//! and its messages), and every batch moves the data and the source's
//! progress in one transaction. A database that chathaul did not create is
//! refused and left as it is.
//!
//! Backends: [`SqliteStore`] (feature `sqlite`), a file, nothing to run.

#[cfg(feature = "sqlite")]
mod sqlite;

use std::path::Path;

use chrono::{DateTime, Utc};
use connector_core::{Conversation, Result};
use serde::Serialize;

#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

/// The SQLite store under the name it had before stores had a trait.
#[cfg(feature = "sqlite")]
pub type Store = SqliteStore;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// The run's status.
    pub status: RunStatus,
    /// The error that ended it, if any.
    pub error: Option<String>,
    /// Whether the whole window was fetched: only then does the cursor move.
    pub complete: bool,
    /// How far before the newest creation time seen the cursor is put.
    pub lookback: chrono::Duration,
    /// The conversation total the vendor reported, if it reports one.
    pub reported_total: Option<u64>,
    /// The message total the vendor reported, if it reports one.
    pub reported_messages: Option<u64>,
    /// Every difference between what was reported and what was fetched.
    pub shortfalls: Vec<String>,
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

    /// Upserts a batch and records the source's progress (rows and messages
    /// fetched, the newest creation time seen) in the same transaction.
    ///
    /// # Errors
    /// As [`SyncStore::upsert`].
    fn upsert_for_source(
        &mut self,
        source: &str,
        conversations: &[Conversation],
        messages: u64,
    ) -> Result<()>;

    /// Marks the start of a run for a source and returns its state; its
    /// `last_window_since` is where the run starts: the cursor, or `since`
    /// when the source has none yet.
    ///
    /// # Errors
    /// [`connector_core::Error::SyncSource`] when the source was synced
    /// before from another vendor or account (rename the source);
    /// [`connector_core::Error::Store`] on a database error.
    fn begin_run(
        &mut self,
        source: &str,
        vendor: &str,
        account: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<SyncState>;

    /// Records the end of a run. When `end.complete`, the cursor moves to the
    /// newest creation time seen minus `end.lookback` (never backwards).
    ///
    /// # Errors
    /// [`connector_core::Error::Store`] on a database error.
    fn finish_run(&mut self, source: &str, end: &RunEnd) -> Result<SyncState>;

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

    /// Every stored conversation (from its `json` column), sorted by vendor,
    /// account and id.
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
