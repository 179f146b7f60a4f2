//! Change tracking: what one incremental run of one source fetches, and the
//! state it carries to the next run, without a database.
//!
//! A conversation changes after it first shows up: it closes, gets
//! messages, gets rated. Each connector declares how its vendor lets a
//! client find that out ([`ChangeTracking`]): the time its cursor follows,
//! whether one conversation can be fetched by id, how long a rating can
//! still come. From that declaration alone (no vendor is named here) a run:
//!
//! 1. drops from the revisit set what became final with time (ended longer
//!    ago than the rating window) and what is older than `revisit_for`
//!    (counted as expired);
//! 2. lists from the cursor (the newest time seen on the declared field,
//!    minus the look-back) without messages or summaries, then completes
//!    (messages, summaries) only what is new or changed: a final record
//!    listed again within the look-back as it was stored
//!    ([`IncrementalState::seen`]) is not fetched again;
//! 3. revisits the pending conversations the cursor's listing does not
//!    cover: by id ([`Connector::conversation`]) or by listing their window
//!    again and comparing each record with the one seen before (only the
//!    changed ones are completed), whichever it estimates costs fewer
//!    requests;
//! 4. for a vendor that can send a conversation without the cursor's time
//!    (a session without an end time), also lists by creation time;
//! 5. when `full_refresh_every` is due (and on the first run), re-reads
//!    everything from `since`, for edits no API signals.
//!
//! Every completion and fetch by id goes through the connector, so through
//! its HTTP client and the account's pacing, at most
//! [`IncrementalOptions::concurrency`] at a time.
//!
//! The state ([`IncrementalState`]) serializes to JSON: a store persists it
//! in the same transaction as the data of each batch ([`RunBatch`]); a
//! caller without a database (the dlt source) keeps it wherever it keeps
//! state and hands it back to the next run.
//!
//! A run's cursor moves only when it fetched its whole window with no
//! shortfall and no error ([`RunOutcome::complete`]); the revisit set moves
//! batch by batch, with the data.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use connector_core::model::utc_instant;
use connector_core::paging::fingerprint_of;
use connector_core::{
    BadRecord, ChangeTracking, Connector, Conversation, Error, Include, PullStats, Query,
    Satisfaction, Status, TimeField,
};
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

/// The default look-back: one day.
pub const DEFAULT_LOOKBACK: Duration = Duration::days(1);

/// How long a conversation that is not final is revisited by default:
/// fourteen days after it was created.
pub const DEFAULT_REVISIT_FOR: Duration = Duration::days(14);

/// Completions and fetches by id in flight at once, by default (the
/// account's pacing still decides how many requests are really in flight).
pub const DEFAULT_CONCURRENCY: usize = 32;

/// What one source's incremental runs do.
#[derive(Debug, Clone, PartialEq)]
pub struct IncrementalOptions {
    /// Where the first run (and a full re-read) starts, on the time the
    /// vendor's cursor follows; `None`: the whole history.
    pub since: Option<DateTime<Utc>>,
    /// How far before the newest time seen the next run starts.
    pub lookback: Duration,
    /// How long after its creation a conversation that is not final is
    /// still revisited; then it is dropped from the revisit set and counted
    /// as expired.
    pub revisit_for: Duration,
    /// How often everything is re-read from `since` (`None`: never, but for
    /// the first run).
    pub full_refresh_every: Option<Duration>,
    /// How long after its end an unrated conversation is revisited for a
    /// rating (`None`: the vendor's declared window).
    pub rating_window: Option<Duration>,
    /// Messages and summaries.
    pub include: Include,
    /// Records per listing page to ask for (`None`: the connector's default).
    pub page_size: Option<u32>,
    /// What to do with a record that cannot be decoded.
    pub on_bad_record: BadRecord,
    /// Completions and fetches by id in flight at once (at least one).
    pub concurrency: usize,
}

impl Default for IncrementalOptions {
    fn default() -> Self {
        Self {
            since: None,
            lookback: DEFAULT_LOOKBACK,
            revisit_for: DEFAULT_REVISIT_FOR,
            full_refresh_every: None,
            rating_window: None,
            include: Include::ALL,
            page_size: None,
            on_bad_record: BadRecord::Fail,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Why a conversation is still revisited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingReason {
    /// It is going on (open, or not ended).
    Open,
    /// It ended less than the rating window ago and is not rated.
    Unrated,
}

impl PendingReason {
    /// The name (`open`, `unrated`).
    pub fn as_str(self) -> &'static str {
        match self {
            PendingReason::Open => "open",
            PendingReason::Unrated => "unrated",
        }
    }

    /// The reason a name stands for.
    pub fn parse(name: &str) -> Option<PendingReason> {
        match name {
            "open" => Some(PendingReason::Open),
            "unrated" => Some(PendingReason::Unrated),
            _ => None,
        }
    }
}

/// A conversation that can still change: what is needed to decide when it
/// is final and how to look at it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Why it is revisited.
    pub reason: PendingReason,
    /// When it was created.
    #[serde(with = "utc_instant")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it ended, if it did.
    #[serde(with = "utc_instant")]
    pub ended_at: Option<DateTime<Utc>>,
    /// When a run first found it pending.
    pub first_seen: DateTime<Utc>,
    /// When a run last looked at it.
    pub last_checked: DateTime<Utc>,
    /// How many runs looked at it again.
    pub checks: u32,
    /// A digest of the vendor's record as last seen (empty: unknown), to
    /// tell a changed record from the same one when it is listed again.
    pub digest: String,
}

impl Pending {
    /// Its time on `field`.
    pub fn at(&self, field: TimeField) -> Option<DateTime<Utc>> {
        match field {
            TimeField::Created => self.created_at,
            TimeField::Ended => self.ended_at,
        }
    }
}

/// A final conversation listed within the look-back: what the next run, which
/// lists that window again, needs to tell it unchanged (not fetched again)
/// from a new or edited one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Its time on the cursor's field.
    #[serde(with = "utc_instant")]
    pub at: Option<DateTime<Utc>>,
    /// When it was created.
    #[serde(with = "utc_instant")]
    pub created_at: Option<DateTime<Utc>>,
    /// A digest of the vendor's record as stored.
    pub digest: String,
}

/// What a source's change tracking carries from one run to the next. It
/// serializes to JSON (instants as RFC 3339, the revisit set by id), so it
/// can live outside a database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncrementalState {
    /// The time the cursor is on (the vendor's declaration when it was set).
    pub cursor_field: TimeField,
    /// The next run lists from here, on `cursor_field` (`None`: from `since`).
    #[serde(with = "utc_instant")]
    pub cursor: Option<DateTime<Utc>>,
    /// The newest time seen on `cursor_field`.
    #[serde(with = "utc_instant")]
    pub newest_seen: Option<DateTime<Utc>>,
    /// Where the creation-time listing of a vendor with
    /// [`ChangeTracking::created_fallback`] starts.
    #[serde(with = "utc_instant")]
    pub created_cursor: Option<DateTime<Utc>>,
    /// The conversations that can still change, by id.
    pub pending: BTreeMap<String, Pending>,
    /// The final conversations within the next run's look-back, by id.
    pub seen: BTreeMap<String, Seen>,
    /// When the last full re-read completed.
    #[serde(with = "utc_instant")]
    pub last_full_refresh: Option<DateTime<Utc>>,
    /// The request rate the account's pacing learned (requests per second).
    pub learned_rate: Option<f64>,
    /// Conversations per day on the cursor's field, as the last complete
    /// run listed them: how many pages a re-listing is estimated to take.
    pub per_day: Option<f64>,
    /// The share of revisited unrated conversations that had changed, as
    /// last measured.
    pub changed_share: Option<f64>,
    /// Conversations dropped from the revisit set unfinished, over all runs.
    pub expired: u64,
    /// The longest a stored conversation lasted (seconds, from creation to
    /// end): how far back the creation-time listing of a vendor with
    /// [`ChangeTracking::created_fallback`] reaches, when longer than the
    /// look-back.
    pub longest_secs: Option<u64>,
}

impl IncrementalState {
    /// The state as JSON text.
    ///
    /// # Errors
    /// [`Error::Internal`] if it cannot be serialized (it always can).
    pub fn to_json(&self) -> connector_core::Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal("cannot write the sync state", e))
    }

    /// A state from JSON text (what [`IncrementalState::to_json`] wrote);
    /// `state_of` says whose state it is (a sync source, a vendor's
    /// account), for the error.
    ///
    /// # Errors
    /// [`Error::StoredState`] naming whose state it is, the JSON path that
    /// does not fit and the line and column, with the JSON parser's error as
    /// its source.
    pub fn from_json(text: &str, state_of: &str) -> connector_core::Result<IncrementalState> {
        let fault = |path: String, source: serde_json::Error| Error::StoredState {
            state_of: state_of.to_owned(),
            path,
            source,
        };
        let reader = &mut serde_json::Deserializer::from_str(text);
        let state = serde_path_to_error::deserialize(&mut *reader)
            .map_err(|e| fault(e.path().to_string(), e.into_inner()))?;
        // Text after the state (two states pasted together) is refused too.
        reader.end().map_err(|e| fault(".".to_owned(), e))?;
        Ok(state)
    }

    /// The pending conversation created longest ago.
    pub fn oldest_pending(&self) -> Option<DateTime<Utc>> {
        self.pending.values().filter_map(|p| p.created_at).min()
    }
}

/// Whether a conversation can still change, as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// It can: revisit it.
    Pending(PendingReason),
    /// It cannot (closed and rated, closed longer than the rating window
    /// ago, or a channel without ratings).
    Final,
    /// It could, but it was created longer ago than `revisit_for`: no
    /// longer revisited.
    Expired,
}

/// Whether `c` can still change at `now`: it is pending while it is open
/// (or has no status and no end), or ended less than `rating_window` ago
/// with a rating slot not rated yet (satisfaction `unrated`, no comment, no
/// rating time: whatever raw score a vendor sends for "none", such as
/// `0`); past `revisit_for` after its creation a pending
/// conversation is expired instead. A conversation without a rating slot (a
/// channel without ratings) is final once it is over.
pub fn finality(
    c: &Conversation,
    now: DateTime<Utc>,
    rating_window: Duration,
    revisit_for: Duration,
) -> Finality {
    let open = match &c.status {
        Some(Status::Open) => true,
        None => c.ended_at.is_none(),
        Some(_) => false,
    };
    let unrated = c.rating.as_ref().is_some_and(|r| {
        r.satisfaction == Satisfaction::Unrated && r.comment.is_none() && r.rated_at.is_none()
    });
    let reason = if open {
        PendingReason::Open
    } else if unrated && c.ended_at.is_some_and(|e| now - e < rating_window) {
        PendingReason::Unrated
    } else {
        return Finality::Final;
    };
    match c.created_at {
        Some(t) if now - t > revisit_for => Finality::Expired,
        _ => Finality::Pending(reason),
    }
}

/// Whether a pending conversation's time is up as of `at`: its rating
/// window closed (it is final), or it was created longer ago than
/// `revisit_for` (it expires).
fn time_is_up(
    p: &Pending,
    at: DateTime<Utc>,
    rating_window: Duration,
    revisit_for: Duration,
) -> Option<LeftBecause> {
    if p.reason == PendingReason::Unrated && p.ended_at.is_some_and(|e| at - e >= rating_window) {
        return Some(LeftBecause::Final);
    }
    let started = p.created_at.unwrap_or(p.first_seen);
    (at - started > revisit_for).then_some(LeftBecause::Expired)
}

/// A digest of a vendor record's text (its `raw`), to tell a changed record
/// from the same one listed again.
pub fn digest(c: &Conversation) -> String {
    format!("{:016x}", fingerprint_of(c.raw.get()))
}

/// A record set aside because it could not be decoded
/// ([`BadRecord::Skip`]): where it was, why, and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The vendor.
    pub vendor: String,
    /// The account.
    pub account: String,
    /// The endpoint that served it.
    pub endpoint: String,
    /// The page (0 when the endpoint has no pages).
    pub page: u32,
    /// The JSON path at fault (`chats[3].created_at`).
    pub path: String,
    /// The error, as one line.
    pub error: String,
    /// The conversation's id, when it is known (its messages did not decode).
    pub id: Option<String>,
    /// The record's text as the vendor sent it (credentials scrubbed,
    /// clipped); empty when the record came by id and nothing was read.
    pub raw: String,
}

impl Rejected {
    /// The row for an [`Error::Rejected`] (or any error about one record)
    /// of `account`.
    pub fn from_error(e: &Error, account: &str, id: Option<&str>) -> Rejected {
        let (inner, raw) = match e {
            Error::Rejected { error, raw } => (error.as_ref(), raw.as_str()),
            other => (other, ""),
        };
        let place = inner.place();
        Rejected {
            vendor: inner.vendor().unwrap_or_default().to_owned(),
            account: account.to_owned(),
            endpoint: place.map(|p| p.endpoint.to_owned()).unwrap_or_default(),
            page: place.map_or(0, |p| p.page),
            path: place.and_then(|p| p.path).unwrap_or_default().to_owned(),
            error: inner.to_string().replace('\n', " "),
            id: id.map(str::to_owned),
            raw: raw.to_owned(),
        }
    }
}

/// Why a conversation left the revisit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftBecause {
    /// It became final.
    Final,
    /// It was created longer ago than `revisit_for`.
    Expired,
    /// The vendor no longer has it (fetching it by id answered 404).
    Gone,
}

/// A change to the revisit set, to persist with the batch that caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RevisitChange {
    /// The conversation is pending (added, or looked at again).
    Keep(String, Pending),
    /// The conversation left the set.
    Drop(String, LeftBecause),
}

/// One batch of a run: the conversations to store, the records set aside,
/// and the changes to the revisit set, which a store writes in one
/// transaction.
#[derive(Debug, Clone, Default)]
pub struct RunBatch {
    /// Conversations to upsert (complete: messages and summaries as asked).
    pub conversations: Vec<Conversation>,
    /// Messages in them.
    pub messages: u64,
    /// Records set aside.
    pub rejects: Vec<Rejected>,
    /// Changes to the revisit set.
    pub revisits: Vec<RevisitChange>,
    /// Final conversations stored by this batch, to remember as seen
    /// ([`IncrementalState::seen`]).
    pub seen: Vec<(String, Seen)>,
}

impl RunBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty()
            && self.rejects.is_empty()
            && self.revisits.is_empty()
            && self.seen.is_empty()
    }
}

/// A window listed again to revisit the pending conversations in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelistWindow {
    /// Its start (inclusive), on the cursor's field.
    #[serde(with = "utc_instant")]
    pub since: Option<DateTime<Utc>>,
    /// Its end (exclusive).
    #[serde(with = "utc_instant")]
    pub until: Option<DateTime<Utc>>,
    /// The pending conversations in it.
    pub pending: usize,
}

/// What a run is going to do, decided before its first request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPlan {
    /// The time the listing follows.
    pub field: TimeField,
    /// Whether this run re-reads everything from `since` (the first run, or
    /// `full_refresh_every` due).
    pub full: bool,
    /// Where the listing starts (`None`: the whole history).
    #[serde(with = "utc_instant")]
    pub since: Option<DateTime<Utc>>,
    /// Where the creation-time listing starts, for a vendor with
    /// [`ChangeTracking::created_fallback`] (`None` when there is none).
    #[serde(with = "utc_instant")]
    pub created_since: Option<DateTime<Utc>>,
    /// Whether the creation-time listing runs.
    pub created_listing: bool,
    /// Pending conversations the listing covers.
    pub covered: usize,
    /// Windows listed again for the others.
    pub relist: Vec<RelistWindow>,
    /// Pending conversations fetched by id.
    pub by_id: usize,
    /// Pending conversations none of that can reach (no time on the
    /// cursor's field, no fetch by id): they wait for a full re-read or
    /// expire.
    pub unreachable: usize,
}

/// What a run did, counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeReport {
    /// Whether it re-read everything from `since`.
    pub full_refresh: bool,
    /// Records the listings yielded (set-aside ones included).
    pub listed: u64,
    /// Conversations stored.
    pub stored: u64,
    /// Stored conversations that were not pending before: new ones, and
    /// those listed again within the look-back.
    pub new: u64,
    /// Pending conversations looked at again.
    pub revisited: u64,
    /// Of those, fetched by id.
    pub revisited_by_id: u64,
    /// Windows listed again to revisit.
    pub relisted_windows: u64,
    /// Revisited conversations whose record had changed (stored again).
    pub changed: u64,
    /// Revisited conversations found as they were (not fetched again).
    pub unchanged: u64,
    /// Pending conversations that became final.
    pub became_final: u64,
    /// Pending conversations dropped unfinished (created longer ago than
    /// `revisit_for`).
    pub expired: u64,
    /// Pending conversations the vendor no longer has.
    pub gone: u64,
    /// Pending conversations no listing or fetch could reach this run.
    pub unreachable: u64,
    /// Records set aside.
    pub rejects: u64,
    /// Conversations still pending after the run.
    pub still_pending: u64,
    /// The creation time of the oldest of them.
    #[serde(with = "utc_instant")]
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Listing pages fetched.
    pub pages: u64,
    /// Conversations completed (messages, summaries) after listing.
    pub completions: u64,
    /// Conversations fetched by id.
    pub fetched_by_id: u64,
    /// HTTP requests in all.
    pub requests: u64,
}

impl ChangeReport {
    /// One line: `revisited 12 (3 by id, 2 windows re-listed): 4 changed,
    /// 8 unchanged; 5 new; 40 pending (oldest 2024-01-03T07:53:31Z);
    /// 1 expired; 2 rejected`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}revisited {} ({} by id, {} windows re-listed): {} changed, {} unchanged; {} new; {} pending",
            if self.full_refresh {
                "full re-read; "
            } else {
                ""
            },
            self.revisited,
            self.revisited_by_id,
            self.relisted_windows,
            self.changed,
            self.unchanged,
            self.new,
            self.still_pending,
        );
        if let Some(t) = self.oldest_pending {
            s.push_str(&format!(" (oldest created {})", utc_instant::format(&t)));
        }
        for (n, what) in [
            (self.became_final, "became final"),
            (self.expired, "expired"),
            (self.gone, "gone"),
            (self.unreachable, "unreachable"),
            (self.rejects, "rejected"),
        ] {
            if n > 0 {
                s.push_str(&format!("; {n} {what}"));
            }
        }
        s
    }
}

/// How a run ended: the state to carry to the next run, and what it did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The state after the run (the cursor moved only if `complete`).
    pub state: IncrementalState,
    /// What it planned.
    pub plan: RunPlan,
    /// What it did.
    pub report: ChangeReport,
    /// The connector's counters for this run alone.
    pub stats: PullStats,
    /// Every difference between what the vendor reported and what was listed.
    pub shortfalls: Vec<String>,
    /// The error that ended it early, if any.
    pub error: Option<Error>,
    /// Whether it fetched everything it set out to: no error, no shortfall.
    pub complete: bool,
}

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The cursor's listing.
    Main,
    /// The creation-time listing (records without the cursor's time).
    Created,
    /// A window listed again.
    Relist,
    /// Fetched by id.
    ById,
}

/// What happened to one record or revisit.
enum Step {
    /// A conversation to store.
    Stored {
        conversation: Box<Conversation>,
        digest: String,
        phase: Phase,
    },
    /// A pending conversation listed again, its record as before.
    Unchanged {
        id: String,
        phase: Phase,
        at: Option<DateTime<Utc>>,
        created: Option<DateTime<Utc>>,
    },
    /// A listed record there is nothing to do about (final, or another
    /// listing's).
    Skipped {
        phase: Phase,
        at: Option<DateTime<Utc>>,
        created: Option<DateTime<Utc>>,
    },
    /// A record set aside.
    Rejected(Box<Rejected>, Phase),
    /// A pending conversation the vendor no longer has.
    Gone(String),
    /// The error that ends the run.
    Failed(Error),
}

type StepFuture<'a> = Pin<Box<dyn Future<Output = Step> + Send + 'a>>;

/// The time of a conversation on `field`.
fn time_on(c: &Conversation, field: TimeField) -> Option<DateTime<Utc>> {
    match field {
        TimeField::Created => c.created_at,
        TimeField::Ended => c.ended_at,
    }
}

fn max_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// How the pending conversations the listing does not cover are revisited:
/// the windows to list again, the ids to fetch, and how many neither can
/// reach. Pure: it estimates requests from the state's measured density
/// (conversations per day) and share of changed records, and the vendor's
/// declared costs.
pub fn plan_revisits(
    rest: &[(&str, &Pending)],
    field: TimeField,
    tracking: &ChangeTracking,
    options: &IncrementalOptions,
    state: &IncrementalState,
    listing_since: Option<DateTime<Utc>>,
) -> (Vec<RelistWindow>, Vec<String>, usize) {
    let page_size = f64::from(options.page_size.unwrap_or(tracking.page_size).max(1));
    let completing = options.include.messages || options.include.summaries;
    let complete_cost = if completing {
        f64::from(tracking.complete_requests)
    } else {
        0.0
    };
    let share = state.changed_share.unwrap_or(0.5).clamp(0.0, 1.0);
    let mut by_id = Vec::new();
    let mut unreachable = 0;
    let mut timed: Vec<(DateTime<Utc>, &str, &Pending)> = Vec::new();
    for (id, p) in rest {
        match p.at(field) {
            Some(t) => timed.push((t, id, p)),
            None if tracking.fetch_by_id.is_some() => by_id.push((*id).to_owned()),
            None => unreachable += 1,
        }
    }
    timed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
    // Group by time: a gap holding more than a page of conversations is
    // cheaper to leave out of the re-listing.
    let mut groups: Vec<Vec<(DateTime<Utc>, &str, &Pending)>> = Vec::new();
    for item in timed {
        let split = match (groups.last().and_then(|g| g.last()), state.per_day) {
            (Some(last), Some(per_day)) => {
                let gap_days = (item.0 - last.0).num_seconds() as f64 / 86_400.0;
                gap_days * per_day > page_size
            }
            (Some(_), None) => false,
            (None, _) => true,
        };
        if split {
            groups.push(vec![item]);
        } else if let Some(g) = groups.last_mut() {
            g.push(item);
        }
    }
    let mut windows = Vec::new();
    for group in groups {
        let (first, last) = (group[0].0, group[group.len() - 1].0);
        let n = group.len() as f64;
        let open = group
            .iter()
            .filter(|(_, _, p)| p.reason == PendingReason::Open)
            .count() as f64;
        let relist = match state.per_day {
            Some(per_day) => {
                let days = (last - first).num_seconds().max(0) as f64 / 86_400.0;
                let records = (per_day * days).max(n);
                (records / page_size).ceil().max(1.0)
                    + open * complete_cost
                    + (n - open) * share * complete_cost
            }
            None => f64::INFINITY,
        };
        let fetch = tracking
            .fetch_by_id
            .map_or(f64::INFINITY, |r| n * f64::from(r.max(1)));
        if fetch <= relist && tracking.fetch_by_id.is_some() {
            by_id.extend(group.iter().map(|(_, id, _)| (*id).to_owned()));
        } else {
            let mut until = last + Duration::seconds(1);
            if let Some(s) = listing_since {
                until = until.min(s.max(first + Duration::seconds(1)));
            }
            windows.push(RelistWindow {
                since: Some(first),
                until: Some(until),
                pending: group.len(),
            });
        }
    }
    (windows, by_id, unreachable)
}

/// One incremental run of one source: its batches, then its outcome.
///
/// ```no_run
/// # async fn demo(connector: &dyn connector_core::Connector) {
/// use chathaul_engine::incremental::{IncrementalOptions, IncrementalRun, IncrementalState};
/// let state = IncrementalState::default(); // or the last run's, from JSON
/// let mut run = IncrementalRun::start(connector, &IncrementalOptions::default(), state, None);
/// while let Some(batch) = run.next_batch(100).await {
///     // store batch.conversations, batch.rejects and batch.revisits together
/// }
/// let outcome = run.finish();
/// println!("{}", outcome.report.summary());
/// let next_state = outcome.state.to_json().unwrap();
/// # }
/// ```
pub struct IncrementalRun<'a> {
    connector: &'a dyn Connector,
    steps: BoxStream<'a, Step>,
    state: IncrementalState,
    plan: RunPlan,
    report: ChangeReport,
    account: String,
    now: DateTime<Utc>,
    lookback: Duration,
    rating_window: Duration,
    revisit_for: Duration,
    created_fallback: bool,
    first_batch: Vec<RevisitChange>,
    swept: bool,
    newest_seen: Option<DateTime<Utc>>,
    newest_created: Option<DateTime<Utc>>,
    oldest_listed: Option<DateTime<Utc>>,
    listed_main: u64,
    checked_unrated: u64,
    changed_unrated: u64,
    before: PullStats,
    error: Option<Error>,
    done: bool,
}

impl std::fmt::Debug for IncrementalRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalRun")
            .field("account", &self.account)
            .field("plan", &self.plan)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl<'a> IncrementalRun<'a> {
    /// Plans a run (no request yet): drops what became final or expired
    /// from the revisit set, seeds the account's pacing with the learned
    /// rate, and decides the listings and revisits. `now` is the instant
    /// the run reasons about (`None`: the system clock).
    pub fn start(
        connector: &'a dyn Connector,
        options: &IncrementalOptions,
        mut state: IncrementalState,
        now: Option<DateTime<Utc>>,
    ) -> IncrementalRun<'a> {
        let now = now.unwrap_or_else(Utc::now);
        // Before any listing is built: a connector may count as it builds one.
        let before = connector.stats();
        let info = connector.info();
        let tracking = info.capabilities.changes;
        let field = tracking.cursor;
        if state.cursor_field != field {
            // A later time is a safe start on the end time (a conversation
            // ends after it starts); the other way round it is not.
            if field == TimeField::Created {
                state.cursor = None;
            }
            state.cursor_field = field;
            state.newest_seen = None;
        }
        if let Some(rate) = state.learned_rate.filter(|r| r.is_finite() && *r > 0.0) {
            connector.seed_rate(rate);
        }
        let rating_window = options
            .rating_window
            .unwrap_or_else(|| Duration::days(i64::from(tracking.rating_window_days)));
        let revisit_for = options.revisit_for;
        let mut report = ChangeReport::default();

        // A conversation leaves the revisit set only once a look at it came
        // after its time was up (its rating window closed, its horizon
        // passed): one a run looked at then but could not drop (killed
        // before its last batch) leaves now; any other is looked at once
        // more by this run, then leaves ([`IncrementalRun::next_batch`]).
        let mut first_batch = Vec::new();
        let ids: Vec<String> = state.pending.keys().cloned().collect();
        for id in ids {
            let p = &state.pending[&id];
            if let Some(why) = time_is_up(p, p.last_checked, rating_window, revisit_for) {
                state.pending.remove(&id);
                match why {
                    LeftBecause::Expired => {
                        report.expired += 1;
                        state.expired += 1;
                    }
                    _ => report.became_final += 1,
                }
                first_batch.push(RevisitChange::Drop(id, why));
            }
        }

        let full = state.cursor.is_none()
            || options
                .full_refresh_every
                .is_some_and(|every| state.last_full_refresh.is_none_or(|t| now - t >= every));
        report.full_refresh = full;
        let since = if full { options.since } else { state.cursor };
        let created_since = if full {
            options.since
        } else {
            state.created_cursor.or(options.since)
        };
        // An unbounded listing already holds what has no time on the field.
        let created_listing = tracking.created_fallback && since.is_some();

        let (covered, rest): (Vec<_>, Vec<_>) = state
            .pending
            .iter()
            .map(|(id, p)| (id.as_str(), p))
            .partition(|(_, p)| since.is_none() || p.at(field).is_some_and(|t| Some(t) >= since));
        let (relist, by_id, unreachable) =
            plan_revisits(&rest, field, &tracking, options, &state, since);
        report.unreachable = unreachable as u64;
        let plan = RunPlan {
            field,
            full,
            since,
            created_since: created_listing.then_some(created_since).flatten(),
            created_listing,
            covered: covered.len(),
            relist: relist.clone(),
            by_id: by_id.len(),
            unreachable,
        };

        let base = Query {
            include: Include::NONE,
            page_size: options.page_size,
            on_bad_record: options.on_bad_record,
            ..Query::new()
        };
        let on = |s: Option<DateTime<Utc>>, u: Option<DateTime<Utc>>, f: TimeField| {
            let q = base.clone();
            match f {
                TimeField::Created => q.created(s, u),
                TimeField::Ended => q.ended(s, u),
            }
        };
        let context = Context {
            connector,
            pending: state.pending.clone(),
            seen: if full {
                BTreeMap::new()
            } else {
                state.seen.clone()
            },
            include: options.include,
            skip: options.on_bad_record == BadRecord::Skip,
            full,
            field,
            account: info.account.clone(),
        };
        let concurrency = options.concurrency.max(1);
        let context = std::sync::Arc::new(context);
        let mut steps: BoxStream<'a, Step> =
            context.listing(on(since, None, field), Phase::Main, concurrency);
        if created_listing {
            let listing = context.listing(
                on(created_since, None, TimeField::Created),
                Phase::Created,
                concurrency,
            );
            steps = steps.chain(listing).boxed();
        }
        for w in &relist {
            let listing = context.listing(on(w.since, w.until, field), Phase::Relist, concurrency);
            steps = steps.chain(listing).boxed();
        }
        report.relisted_windows = relist.len() as u64;
        if !by_id.is_empty() {
            let ctx = context.clone();
            let fetches = stream::iter(by_id)
                .map(move |id| ctx.clone().fetch(id))
                .buffer_unordered(concurrency);
            steps = steps.chain(fetches).boxed();
        }
        IncrementalRun {
            connector,
            steps,
            plan,
            report,
            account: info.account.clone(),
            now,
            lookback: options.lookback,
            rating_window,
            revisit_for,
            created_fallback: tracking.created_fallback,
            first_batch,
            swept: false,
            newest_seen: None,
            newest_created: None,
            oldest_listed: None,
            listed_main: 0,
            checked_unrated: 0,
            changed_unrated: 0,
            before,
            state,
            error: None,
            done: false,
        }
    }

    /// What the run planned.
    pub fn plan(&self) -> &RunPlan {
        &self.plan
    }

    /// The state as of the batches returned so far (the cursor moves only
    /// in [`IncrementalRun::finish`]).
    pub fn state(&self) -> &IncrementalState {
        &self.state
    }

    /// What the run did so far.
    pub fn report(&self) -> &ChangeReport {
        &self.report
    }

    /// The next batch of at most `size` conversations (and whatever records
    /// were set aside and revisit changes came with them); `None` when the
    /// run is over, by its end or by an error ([`RunOutcome::error`]).
    pub async fn next_batch(&mut self, size: usize) -> Option<RunBatch> {
        let size = size.max(1);
        let mut batch = RunBatch {
            revisits: std::mem::take(&mut self.first_batch),
            ..RunBatch::default()
        };
        while !self.done && batch.conversations.len() < size && batch.rejects.len() < size {
            match self.steps.next().await {
                None => self.done = true,
                Some(step) => self.apply(step, &mut batch),
            }
        }
        if self.done && self.error.is_none() && !self.swept {
            self.swept = true;
            self.sweep(&mut batch);
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// After every listing and fetch went through: what is still pending
    /// but whose time is up leaves the set (it was looked at by this run if
    /// any listing or fetch could reach it).
    fn sweep(&mut self, batch: &mut RunBatch) {
        let up: Vec<(String, LeftBecause)> = self
            .state
            .pending
            .iter()
            .filter_map(|(id, p)| {
                time_is_up(p, self.now, self.rating_window, self.revisit_for)
                    .map(|why| (id.clone(), why))
            })
            .collect();
        for (id, why) in up {
            self.state.pending.remove(&id);
            match why {
                LeftBecause::Expired => {
                    self.report.expired += 1;
                    self.state.expired += 1;
                }
                _ => self.report.became_final += 1,
            }
            batch.revisits.push(RevisitChange::Drop(id, why));
        }
    }

    fn seen(&mut self, phase: Phase, at: Option<DateTime<Utc>>, created: Option<DateTime<Utc>>) {
        if phase != Phase::ById {
            self.report.listed += 1;
        }
        if phase == Phase::Main {
            self.listed_main += 1;
            self.newest_seen = max_time(self.newest_seen, at);
            self.oldest_listed = match (self.oldest_listed, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if self.created_fallback && phase != Phase::ById {
            self.newest_created = max_time(self.newest_created, created);
        }
    }

    fn apply(&mut self, step: Step, batch: &mut RunBatch) {
        let field = self.plan.field;
        match step {
            Step::Stored {
                conversation,
                digest,
                phase,
            } => {
                let c = *conversation;
                self.seen(phase, time_on(&c, field), c.created_at);
                let prev = self.state.pending.get(&c.id).cloned();
                self.report.stored += 1;
                if phase == Phase::ById {
                    self.report.fetched_by_id += 1;
                }
                match &prev {
                    Some(p) => {
                        self.report.revisited += 1;
                        if phase == Phase::ById {
                            self.report.revisited_by_id += 1;
                        }
                        if p.digest != digest || p.reason == PendingReason::Open {
                            self.report.changed += 1;
                        } else {
                            self.report.unchanged += 1;
                        }
                        if p.reason == PendingReason::Unrated {
                            self.checked_unrated += 1;
                            if p.digest != digest {
                                self.changed_unrated += 1;
                            }
                        }
                    }
                    None => self.report.new += 1,
                }
                match finality(&c, self.now, self.rating_window, self.revisit_for) {
                    Finality::Pending(reason) => {
                        let entry = Pending {
                            reason,
                            created_at: c.created_at,
                            ended_at: c.ended_at,
                            first_seen: prev.as_ref().map_or(self.now, |p| p.first_seen),
                            last_checked: self.now,
                            checks: prev.as_ref().map_or(0, |p| p.checks.saturating_add(1)),
                            digest: digest.clone(),
                        };
                        self.state.pending.insert(c.id.clone(), entry.clone());
                        batch
                            .revisits
                            .push(RevisitChange::Keep(c.id.clone(), entry));
                    }
                    Finality::Final => {
                        if prev.is_some() {
                            self.state.pending.remove(&c.id);
                            self.report.became_final += 1;
                            batch
                                .revisits
                                .push(RevisitChange::Drop(c.id.clone(), LeftBecause::Final));
                        }
                        let seen = Seen {
                            at: time_on(&c, field),
                            created_at: c.created_at,
                            digest: digest.clone(),
                        };
                        self.state.seen.insert(c.id.clone(), seen.clone());
                        batch.seen.push((c.id.clone(), seen));
                    }
                    Finality::Expired => {
                        self.report.expired += 1;
                        self.state.expired += 1;
                        if prev.is_some() {
                            self.state.pending.remove(&c.id);
                        }
                        batch
                            .revisits
                            .push(RevisitChange::Drop(c.id.clone(), LeftBecause::Expired));
                    }
                }
                if let (Some(start), Some(end)) = (c.created_at, c.ended_at) {
                    let secs = u64::try_from((end - start).num_seconds()).unwrap_or(0);
                    self.state.longest_secs = Some(self.state.longest_secs.unwrap_or(0).max(secs));
                }
                batch.messages += c.messages.len() as u64;
                batch.conversations.push(c);
            }
            Step::Unchanged {
                id,
                phase,
                at,
                created,
            } => {
                self.seen(phase, at, created);
                if let Some(p) = self.state.pending.get_mut(&id) {
                    p.last_checked = self.now;
                    p.checks = p.checks.saturating_add(1);
                    if p.reason == PendingReason::Unrated {
                        self.checked_unrated += 1;
                    }
                    self.report.revisited += 1;
                    self.report.unchanged += 1;
                    batch.revisits.push(RevisitChange::Keep(id, p.clone()));
                }
            }
            Step::Skipped { phase, at, created } => self.seen(phase, at, created),
            Step::Rejected(r, phase) => {
                self.report.listed += u64::from(phase != Phase::ById);
                self.report.rejects += 1;
                batch.rejects.push(*r);
            }
            Step::Gone(id) => {
                self.report.fetched_by_id += 1;
                if self.state.pending.remove(&id).is_some() {
                    self.report.revisited += 1;
                    self.report.revisited_by_id += 1;
                    self.report.gone += 1;
                    batch
                        .revisits
                        .push(RevisitChange::Drop(id, LeftBecause::Gone));
                }
            }
            Step::Failed(e) => {
                self.error = Some(e);
                self.done = true;
            }
        }
    }

    /// Ends the run (dropping whatever it had not fetched yet): the state
    /// for the next run, with the cursor moved if the run was complete.
    pub fn finish(mut self) -> RunOutcome {
        // Whatever is left unfetched is not fetched: drop it before counting.
        self.steps = stream::empty().boxed();
        let after = self.connector.stats();
        let stats = stats_since(&self.before, &after);
        let shortfalls = crate::pull::shortfalls(&stats, false);
        let complete = self.error.is_none() && shortfalls.is_empty() && self.done;
        let mut state = self.state;
        state.newest_seen = max_time(state.newest_seen, self.newest_seen);
        if complete {
            if let Some(newest) = self.newest_seen {
                let next = newest - self.lookback;
                state.cursor = Some(state.cursor.map_or(next, |c| c.max(next)));
            }
            if let Some(newest) = self.newest_created {
                // A conversation without an end time shows up once it is
                // over: reach back as far as the longest one seen (within
                // the revisit horizon).
                let longest = state
                    .longest_secs
                    .and_then(|s| i64::try_from(s).ok())
                    .map_or(self.lookback, |s| {
                        self.lookback
                            .max(Duration::seconds(s).min(self.revisit_for))
                    });
                let next = newest - longest;
                state.created_cursor = Some(state.created_cursor.map_or(next, |c| c.max(next)));
            }
            // Remember only what the next run lists again.
            let (cursor, created_cursor) = (state.cursor, state.created_cursor);
            state.seen.retain(|_, s| match s.at {
                Some(t) => cursor.is_none_or(|c| t >= c),
                None => {
                    self.created_fallback
                        && s.created_at
                            .is_some_and(|t| created_cursor.is_none_or(|c| t >= c))
                }
            });
            if self.plan.full {
                state.last_full_refresh = Some(self.now);
            }
            let start = self.plan.since.or(self.oldest_listed);
            if let Some(start) = start
                && self.listed_main > 0
            {
                let days = (self.now - start).num_seconds() as f64 / 86_400.0;
                if days >= 1.0 / 24.0 {
                    state.per_day = Some(self.listed_main as f64 / days);
                }
            }
            if self.checked_unrated > 0 {
                let share = self.changed_unrated as f64 / self.checked_unrated as f64;
                state.changed_share =
                    Some(state.changed_share.map_or(share, |s| (s + share) / 2.0));
            }
        }
        if let Some(rate) = after.http.rate.filter(|r| r.is_finite() && *r > 0.0) {
            state.learned_rate = Some(rate);
        }
        let mut report = self.report;
        report.still_pending = state.pending.len() as u64;
        report.oldest_pending = state.oldest_pending();
        report.pages = stats.pages;
        report.requests = stats.http.requests;
        report.completions = report.stored - report.revisited_by_id.min(report.stored);
        RunOutcome {
            state,
            plan: self.plan,
            report,
            stats,
            shortfalls,
            error: self.error,
            complete,
        }
    }
}

/// The counters of `after` that grew since `before`.
fn stats_since(before: &PullStats, after: &PullStats) -> PullStats {
    let mut s = after.clone();
    s.http.requests = after.http.requests.saturating_sub(before.http.requests);
    s.http.retries = after.http.retries.saturating_sub(before.http.retries);
    s.http.throttled = after.http.throttled.saturating_sub(before.http.throttled);
    s.http.bytes = after.http.bytes.saturating_sub(before.http.bytes);
    s.pages = after.pages.saturating_sub(before.pages);
    s.listed = after.listed.saturating_sub(before.listed);
    s.messages = after.messages.saturating_sub(before.messages);
    s.reported_total = after
        .reported_total
        .map(|t| t.saturating_sub(before.reported_total.unwrap_or(0)));
    s.reported_messages = after
        .reported_messages
        .map(|t| t.saturating_sub(before.reported_messages.unwrap_or(0)));
    s.shortfalls = after
        .shortfalls
        .get(before.shortfalls.len()..)
        .unwrap_or_default()
        .to_vec();
    s
}

/// What the listings and fetches of one run share.
struct Context<'a> {
    connector: &'a dyn Connector,
    pending: BTreeMap<String, Pending>,
    seen: BTreeMap<String, Seen>,
    include: Include,
    skip: bool,
    full: bool,
    field: TimeField,
    account: String,
}

impl<'a> Context<'a> {
    fn rejected(&self, e: &Error, id: Option<&str>, phase: Phase) -> Step {
        Step::Rejected(Box::new(Rejected::from_error(e, &self.account, id)), phase)
    }

    /// A listing's records, each decided and completed as needed, in
    /// listing order, `concurrency` completions at a time.
    fn listing(
        self: &std::sync::Arc<Self>,
        query: Query,
        phase: Phase,
        concurrency: usize,
    ) -> BoxStream<'a, Step> {
        let ctx = self.clone();
        self.connector
            .conversations(&query)
            .map(move |item| ctx.clone().decide(item, phase))
            .buffered(concurrency)
            .boxed()
    }

    /// What to do with one listed record.
    fn decide(
        self: std::sync::Arc<Self>,
        item: connector_core::Result<Conversation>,
        phase: Phase,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let c = match item {
                Ok(c) => c,
                Err(e @ Error::Rejected { .. }) => return self.rejected(&e, None, phase),
                Err(e) => return Step::Failed(e),
            };
            let at = time_on(&c, self.field);
            let created = c.created_at;
            let skipped = Step::Skipped { phase, at, created };
            // The creation-time listing is for what has no time on the
            // cursor's field: the rest is the cursor's listing's (this run's,
            // or an earlier run's, which listed what came before the cursor),
            // and a pending one is revisited there.
            if phase == Phase::Created && at.is_some() {
                return skipped;
            }
            let digest = digest(&c);
            let complete = match self.pending.get(&c.id) {
                _ if self.full => true,
                Some(p) => p.reason == PendingReason::Open || p.digest != digest,
                // Not pending and older than the cursor: known and final.
                None if phase == Phase::Relist => false,
                // Listed again within the look-back, as stored: final, unchanged.
                None => self.seen.get(&c.id).is_none_or(|s| s.digest != digest),
            };
            if !complete {
                return if self.pending.contains_key(&c.id) {
                    Step::Unchanged {
                        id: c.id,
                        phase,
                        at,
                        created,
                    }
                } else {
                    skipped
                };
            }
            let id = c.id.clone();
            let raw = self.skip.then(|| c.raw.get().to_owned());
            match self.connector.complete(c, self.include).await {
                Ok(c) => Step::Stored {
                    conversation: Box::new(c),
                    digest,
                    phase,
                },
                Err(e) if self.skip && e.is_bad_record() => {
                    let e = e.rejected(raw.as_deref().unwrap_or_default());
                    self.rejected(&e, Some(&id), phase)
                }
                Err(e) => Step::Failed(e),
            }
        })
    }

    /// Fetches one pending conversation by id.
    fn fetch(self: std::sync::Arc<Self>, id: String) -> StepFuture<'a> {
        Box::pin(async move {
            match self.connector.conversation(&id, self.include).await {
                Ok(c) => {
                    let digest = digest(&c);
                    Step::Stored {
                        conversation: Box::new(c),
                        digest,
                        phase: Phase::ById,
                    }
                }
                Err(Error::Api { status: 404, .. }) => Step::Gone(id),
                Err(e) if self.skip && e.is_bad_record() => {
                    self.rejected(&e, Some(&id), Phase::ById)
                }
                Err(e) => Step::Failed(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::Rating;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn conv(status: Option<Status>, ended: Option<&str>, rating: Option<Rating>) -> Conversation {
        let mut c = Conversation::new("v", "a", "1");
        c.status = status;
        c.created_at = Some(utc("2024-01-01T00:00:00Z"));
        c.ended_at = ended.map(utc);
        c.rating = rating;
        c
    }

    #[test]
    fn finality_follows_status_rating_window_and_horizon() {
        let now = utc("2024-01-03T00:00:00Z");
        let (w, h) = (Duration::days(7), Duration::days(14));
        let rated = Rating {
            satisfaction: Satisfaction::Satisfied,
            score: Some("1".into()),
            comment: None,
            rated_at: None,
        };
        // A vendor whose "no rating" is the score 0.
        let score_only = Rating {
            satisfaction: Satisfaction::Unrated,
            score: Some("0".into()),
            ..Rating::unrated()
        };
        let commented = Rating {
            comment: Some("ok".into()),
            ..Rating::unrated()
        };
        let cases = [
            (
                conv(Some(Status::Open), None, None),
                Finality::Pending(PendingReason::Open),
            ),
            (
                conv(None, None, None),
                Finality::Pending(PendingReason::Open),
            ),
            // A status that says it is over, without an end time: final.
            (
                conv(Some(Status::Closed), None, Some(Rating::unrated())),
                Finality::Final,
            ),
            (
                conv(
                    Some(Status::Closed),
                    Some("2024-01-02T00:00:00Z"),
                    Some(Rating::unrated()),
                ),
                Finality::Pending(PendingReason::Unrated),
            ),
            (
                conv(
                    Some(Status::Closed),
                    Some("2024-01-02T00:00:00Z"),
                    Some(rated),
                ),
                Finality::Final,
            ),
            (
                conv(
                    Some(Status::Closed),
                    Some("2024-01-02T00:00:00Z"),
                    Some(score_only),
                ),
                Finality::Pending(PendingReason::Unrated),
            ),
            (
                conv(
                    Some(Status::Closed),
                    Some("2024-01-02T00:00:00Z"),
                    Some(commented),
                ),
                Finality::Final,
            ),
            // No rating slot (a channel without ratings): final at its end.
            (
                conv(Some(Status::Missed), Some("2024-01-02T00:00:00Z"), None),
                Finality::Final,
            ),
        ];
        for (c, expected) in cases {
            assert_eq!(
                finality(&c, now, w, h),
                expected,
                "{:?} {:?}",
                c.status,
                c.rating
            );
        }
        // Ended longer than the window ago: final; created past the horizon: expired.
        let late = conv(
            Some(Status::Closed),
            Some("2024-01-02T00:00:00Z"),
            Some(Rating::unrated()),
        );
        assert_eq!(
            finality(&late, utc("2024-01-09T00:00:01Z"), w, h),
            Finality::Final
        );
        let open = conv(Some(Status::Open), None, None);
        assert_eq!(
            finality(&open, utc("2024-01-15T00:00:01Z"), w, h),
            Finality::Expired
        );
    }

    fn pending(created: &str, reason: PendingReason) -> Pending {
        Pending {
            reason,
            created_at: Some(utc(created)),
            ended_at: None,
            first_seen: utc(created),
            last_checked: utc(created),
            checks: 0,
            digest: String::new(),
        }
    }

    #[test]
    fn revisits_go_by_id_or_by_listing_whichever_costs_fewer_requests() {
        let tracking = ChangeTracking::DEFAULT; // by id: 1 request; pages of 100
        let options = IncrementalOptions::default();
        let a = pending("2024-01-01T00:00:00Z", PendingReason::Open);
        let b = pending("2024-01-01T06:00:00Z", PendingReason::Open);
        let c = pending("2024-01-05T00:00:00Z", PendingReason::Unrated);
        let rest = [("a", &a), ("b", &b), ("c", &c)];
        let since = Some(utc("2024-01-06T00:00:00Z"));
        // Density unknown: by id, as declared possible.
        let state = IncrementalState::default();
        let (w, ids, none) = plan_revisits(
            &rest,
            TimeField::Created,
            &tracking,
            &options,
            &state,
            since,
        );
        assert_eq!(
            (w.len(), ids, none),
            (0, vec!["a".into(), "b".into(), "c".into()], 0)
        );

        // 1000 a day, without messages: listing a and b's quarter day is
        // three pages, more than two fetches; c alone is one page vs one
        // fetch (a tie goes by id).
        let options = IncrementalOptions {
            include: Include::NONE,
            ..IncrementalOptions::default()
        };
        let state = IncrementalState {
            per_day: Some(1000.0),
            ..IncrementalState::default()
        };
        let (w, ids, _) = plan_revisits(
            &rest,
            TimeField::Created,
            &tracking,
            &options,
            &state,
            since,
        );
        assert!(w.is_empty());
        assert_eq!(ids.len(), 3);

        // Ten a day: the gap of four days holds 40, under a page, so one
        // window from a to c, one page, beats three fetches.
        let state = IncrementalState {
            per_day: Some(10.0),
            ..IncrementalState::default()
        };
        let (w, ids, _) = plan_revisits(
            &rest,
            TimeField::Created,
            &tracking,
            &options,
            &state,
            since,
        );
        assert!(ids.is_empty());
        assert_eq!(
            w,
            [RelistWindow {
                since: Some(utc("2024-01-01T00:00:00Z")),
                until: Some(utc("2024-01-05T00:00:01Z")),
                pending: 3
            }]
        );

        // A vendor without fetch by id re-lists, in windows split where a
        // gap holds more than a page; a pending one without the field's
        // time is unreachable.
        let no_fetch = ChangeTracking {
            fetch_by_id: None,
            ..tracking
        };
        let state = IncrementalState {
            per_day: Some(100.0),
            ..IncrementalState::default()
        };
        let mut d = pending("2024-01-02T00:00:00Z", PendingReason::Unrated);
        d.created_at = None;
        let rest4 = [("a", &a), ("b", &b), ("c", &c), ("d", &d)];
        let (w, ids, none) = plan_revisits(
            &rest4,
            TimeField::Created,
            &no_fetch,
            &options,
            &state,
            since,
        );
        assert!(ids.is_empty());
        assert_eq!(none, 1);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].pending, w[1].pending), (2, 1));
        assert_eq!(w[0].until, Some(utc("2024-01-01T06:00:01Z")));
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let mut state = IncrementalState {
            cursor: Some(utc("2024-01-02T03:04:05Z")),
            cursor_field: TimeField::Ended,
            learned_rate: Some(4.5),
            expired: 3,
            ..IncrementalState::default()
        };
        state.pending.insert(
            "10050".into(),
            pending("2024-01-01T00:00:00Z", PendingReason::Open),
        );
        let text = state.to_json().unwrap();
        assert!(
            text.contains(r#""cursor":"2024-01-02T03:04:05Z""#),
            "{text}"
        );
        assert!(text.contains(r#""reason":"open""#), "{text}");
        assert_eq!(
            IncrementalState::from_json(&text, "source `main`").unwrap(),
            state
        );
        // What a later version adds is defaulted; what is wrong says so.
        assert_eq!(
            IncrementalState::from_json("{}", "source `main`").unwrap(),
            IncrementalState::default()
        );
    }

    #[test]
    fn a_stored_state_that_does_not_read_says_whose_and_where_and_keeps_the_cause() {
        use std::error::Error as _;

        let e = IncrementalState::from_json(r#"{"cursor": 7}"#, "source `main`").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read the stored incremental state of source `main`: at `cursor`: \
             invalid type: integer `7`, expected a string at line 1 column 12"
        );
        assert_eq!(e.kind(), connector_core::ErrorKind::Config);
        let cause = e.source().expect("the parser's error is the source");
        let cause = cause
            .downcast_ref::<serde_json::Error>()
            .expect("the source is serde_json's error");
        assert_eq!((cause.line(), cause.column()), (1, 12));

        let e = IncrementalState::from_json(
            r#"{"pending": {"10050": {"reason": "asleep"}}}"#,
            "kf5 account `acme`",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(
                "cannot read the stored incremental state of kf5 account `acme`: \
                 at `pending.10050.reason`: unknown variant `asleep`"
            ),
            "{text}"
        );
        let e = IncrementalState::from_json("{} {}", "source `main`").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read the stored incremental state of source `main`: at `.`: trailing characters"),
            "{e}"
        );
        assert!(e.source().unwrap().is::<serde_json::Error>());
    }
}
