//! Per-account pacing: how many requests an account has in flight and how
//! fast it sends them, learned from how the server answers.
//!
//! One [`AccountPacing`] is shared by every [`crate::http::HttpClient`] of the
//! same vendor, account, base URL and ceilings in the process. It combines:
//!
//! - **Adaptive concurrency.** The limit starts low (4, as TCP's initial
//!   window is a few segments) and doubles every round trip while the server
//!   keeps up (slow start), each round's growth granted once that round's
//!   answers are in, so that a throttle among them cancels it: the round in
//!   which a server's limit is crossed then sends no more than it already
//!   had in flight into the full window. Slow start ends at the first
//!   sign of trouble: a throttle, an overload (503, a timeout), or round trips
//!   that take twice as long as the fastest seen. From then on the limit grows
//!   by one per round trip while it is in use and latency is not rising above
//!   its moving average (additive increase), shrinks by a tenth when latency
//!   rises well above that average, and by 30 % on a throttle, a 503 or a
//!   timeout (multiplicative decrease, at most once per round trip). The
//!   `concurrency` setting is its ceiling. (The shape is Vector's adaptive
//!   request concurrency with TCP's slow start in front of it.) With
//!   [`PacingLimits::adaptive`] off the limit is the ceiling from the first
//!   request and never moves: a fixed concurrency, to measure the adaptive
//!   one against or for a server whose capacity is known.
//! - **A learned rate.** Off until the first throttle (a 429 or a vendor's
//!   throttling code). Then the account is paced by a token bucket without
//!   burst, at just under the rate the server accepted in the seconds before
//!   the throttle (counting the pause it imposed), and the rate recovers along
//!   a cubic curve (as the AWS SDKs' adaptive retry mode does): it climbs back
//!   to what was allowed over about half a minute, holds there, and only then
//!   probes above it, so a server whose limit was lifted is found again. A
//!   throttle while paced lowers the rate below what was being sent. The
//!   `rate_limit` setting is its ceiling.
//! - **Pauses.** A throttle pauses the whole account for its `Retry-After`
//!   (a wait longer than the client honours fails the request instead, and
//!   neither pauses the account nor teaches it a rate); a throttle without one pauses it for a second, doubling
//!   for each further throttle in a row without one (up to 16 s). A 503 with
//!   a `Retry-After` pauses the account too.
//!
//! Every throttle of a request sent before the previous throttle was seen
//! belongs to that same event: requests already in flight when a server
//! starts refusing are refused together, and count once.
//!
//! Why our own controller and not a crate: `tower-acc`, `tower-resilience-adaptive`
//! and `congestion-limiter` each offer an adaptive concurrency algorithm, shaped
//! as a tower `Service` layer (the first two) or a limiter of its own; none
//! learns a rate, pauses an account, starts slowly, or reports what it learned,
//! and those are most of what is here. Wrapping our reqwest exchange in a
//! tower `Service` to reuse one AIMD formula would add more code than the
//! formula.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The concurrency limit a controller starts from (then doubles per round
/// trip while the server keeps up).
pub const INITIAL_CONCURRENCY: usize = 4;

/// The pause after a throttle that carries no `Retry-After`; it doubles for
/// each further such throttle in a row, up to [`MAX_BARE_PAUSE`].
pub const BARE_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause a throttle without `Retry-After` imposes.
pub const MAX_BARE_PAUSE: Duration = Duration::from_secs(16);

/// The fraction of the measured allowed rate the learned rate starts at
/// after a throttle.
const RATE_BETA: f64 = 0.97;

/// The fraction of the measured allowed rate the learned rate holds at
/// (just under what the server allowed).
const RATE_MARGIN: f64 = 0.99;

/// Seconds the learned rate takes to climb from [`RATE_BETA`] to
/// [`RATE_MARGIN`] of the allowed rate; it holds near there for a while,
/// then probes above it.
const RATE_RECOVERY_SECS: f64 = 25.0;

/// A throttle while paced at rate `R` sets the allowed rate to at most this
/// fraction of `R`.
const PACED_CUT: f64 = 0.98;

/// How far back the accepted requests are counted to measure the rate a
/// server allowed.
const RATE_LOOKBACK: Duration = Duration::from_secs(5);

/// The lowest rate ever learned, in requests per second.
const MIN_RATE: f64 = 0.05;

/// Slow start's growth, one more per answer, is granted this fraction of
/// the answer's round trip after it (within [`SETTLE_MIN`], [`SETTLE_MAX`]):
/// answers to requests sent together arrive together, and a throttle among
/// them cancels the growth before it sends anything. Granted at once, each
/// answer that came before the throttles in the round where the server's
/// limit is crossed would send two more requests into a full window.
const SETTLE_FRACTION: f64 = 1.0 / 16.0;
const SETTLE_MIN: Duration = Duration::from_millis(1);
const SETTLE_MAX: Duration = Duration::from_millis(25);

/// Multiplicative decrease of the concurrency limit on a throttle, a 503 or
/// a timeout.
const BACK_PRESSURE_DECREASE: f64 = 0.7;

/// Multiplicative decrease of the concurrency limit when latency rises well
/// above its moving average.
const LATENCY_DECREASE: f64 = 0.9;

/// Slow start ends when a round trip's mean latency exceeds this multiple of
/// the fastest one seen.
const SLOW_START_EXIT: f64 = 2.0;

/// Additive increase goes on while a round trip's mean latency is at most
/// this fraction above the moving average.
const RTT_TOLERANCE: f64 = 0.05;

/// Latency counts as rising when it is this many standard deviations above
/// its moving average...
const RTT_DEVIATIONS: f64 = 2.5;

/// ...and at least this fraction above it (so a perfectly steady server's
/// tiny variance does not read every wobble as a rise).
const RTT_MIN_RISE: f64 = 0.2;

/// Weight of the newest round trip in the latency's moving average.
const RTT_EWMA_ALPHA: f64 = 0.4;

/// The shortest and longest evaluation interval (one mean round trip).
const MIN_INTERVAL: Duration = Duration::from_millis(5);
const MAX_INTERVAL: Duration = Duration::from_secs(2);

/// How late a paced request may wake for its slot and still count as on
/// time (the next slot then follows the scheduled one, not the wake-up).
/// Small against the headroom the learned rate keeps under the allowed one,
/// so that a one-second window still sees no more than the rate allows.
const WAKE_SLACK: Duration = Duration::from_millis(5);

/// Accepted requests remembered to measure an allowed rate.
const MAX_ACCEPTED_KEPT: usize = 8192;

/// The ceilings and the starting point of one account's controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingLimits {
    /// The most requests in flight at once (the `concurrency` setting).
    pub max_concurrency: usize,
    /// The most requests per second (the `rate_limit` setting); `None` for
    /// no ceiling.
    pub max_rate: Option<f64>,
    /// A rate to start from as if it had been learned (what an earlier run
    /// learned for this account); `None` to start unpaced.
    pub initial_rate: Option<f64>,
    /// The longest `Retry-After` honoured: a throttle asking for longer
    /// pauses nothing (the request fails instead).
    pub max_pause: Duration,
    /// Whether the concurrency limit adapts (slow start, growth while the
    /// server keeps up, cuts on latency and back pressure). `false` holds it
    /// at `max_concurrency` from the first request; throttles still pause
    /// the account and teach it a rate.
    pub adaptive: bool,
}

impl Default for PacingLimits {
    fn default() -> Self {
        Self {
            max_concurrency: 64,
            max_rate: None,
            initial_rate: None,
            max_pause: Duration::from_secs(120),
            adaptive: true,
        }
    }
}

/// How one request ended, as the controller reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The server answered (any status but a throttle or an overload): a
    /// latency sample, and one more request the server accepted.
    Answered,
    /// The server throttled the request: HTTP 429, or a vendor's throttling
    /// code in a body.
    Throttled {
        /// The `Retry-After` it sent.
        retry_after: Option<Duration>,
    },
    /// The server is overloaded (HTTP 503) or the request timed out.
    Overloaded {
        /// The `Retry-After` it sent (503 only).
        retry_after: Option<Duration>,
    },
    /// The request failed in a way that says nothing about load (a refused
    /// connection, a cancelled request).
    Failed,
}

/// What a controller has learned so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PacingSnapshot {
    /// The current concurrency limit.
    pub concurrency: usize,
    /// The learned rate in requests per second; `None` while nothing was
    /// ever throttled (and no rate was seeded).
    pub rate: Option<f64>,
    /// Time the account spent paused by throttles, in total.
    pub paused: Duration,
    /// Throttle events (requests throttled together count once).
    pub throttle_events: u64,
}

/// The pacing controller of one account. See the [module docs](self).
pub struct AccountPacing {
    label: String,
    slots: Arc<Semaphore>,
    /// Requests pass the pause and the rate one at a time, in order, so a
    /// rate change or a new pause applies to the very next request.
    turn: tokio::sync::Mutex<()>,
    /// Wakes the requests waiting for a place when slow start has earned
    /// growth, so that one of them grants it when it is due.
    growth_earned: Notify,
    state: Mutex<State>,
}

impl fmt::Debug for AccountPacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountPacing")
            .field("label", &self.label)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

/// A request's place in flight: returned by [`AccountPacing::admit`], handed
/// back with the request's [`Outcome`] by [`Admission::finish`]. Dropped
/// unfinished, it counts as [`Outcome::Failed`].
#[must_use = "finish it with the request's outcome"]
pub struct Admission {
    pacing: Arc<AccountPacing>,
    permit: Option<OwnedSemaphorePermit>,
    sent_at: Instant,
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("sent_at", &self.sent_at)
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// When the request was let go.
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// Gives the place back, telling the controller how the request ended.
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            self.pacing.finish(self.sent_at, outcome, permit);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.pacing.finish(self.sent_at, Outcome::Failed, permit);
        }
    }
}

impl AccountPacing {
    /// A controller for the account named `label` in logs (`vendor account`).
    pub fn new(label: impl Into<String>, limits: PacingLimits) -> Arc<Self> {
        let limits = PacingLimits {
            max_concurrency: limits.max_concurrency.max(1),
            max_rate: limits.max_rate.filter(|r| r.is_finite() && *r > 0.0),
            initial_rate: limits.initial_rate.filter(|r| r.is_finite() && *r > 0.0),
            ..limits
        };
        let now = Instant::now();
        let limit = if limits.adaptive {
            INITIAL_CONCURRENCY.min(limits.max_concurrency)
        } else {
            limits.max_concurrency
        };
        let state = State {
            limits,
            limit,
            target: limit,
            debt: 0,
            in_flight: 0,
            limit_reached_at: None,
            slow_start: limits.adaptive,
            growth: None,
            interval: Interval::starting(now, MIN_INTERVAL),
            past_rtt: None,
            fastest_rtt: f64::INFINITY,
            last_decrease: None,
            rate: limits.initial_rate.map(|r| LearnedRate::seeded(r, now)),
            next_send: now,
            accepted: VecDeque::new(),
            first_send: None,
            pause_until: None,
            paused: Duration::ZERO,
            pause_counted_to: now,
            event_until: None,
            bare_streak: 0,
            throttle_events: 0,
            logged_rate: None,
            pending_estimate: None,
        };
        Arc::new(Self {
            label: label.into(),
            slots: Arc::new(Semaphore::new(limit)),
            turn: tokio::sync::Mutex::new(()),
            growth_earned: Notify::new(),
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the account's turn: a place under the concurrency limit,
    /// the end of any pause, and the learned rate's next slot.
    pub async fn admit(self: &Arc<Self>) -> Admission {
        let permit = loop {
            // Waiting requests are the timer that grants slow start's growth
            // when it is due; told when growth is earned, they look again.
            let earned = self.growth_earned.notified();
            let due = self.grant_due_growth();
            let acquire = self.slots.clone().acquire_owned();
            let acquired = match due {
                None => tokio::select! {
                    biased;
                    p = acquire => p,
                    () = earned => continue,
                },
                Some(at) => tokio::select! {
                    biased;
                    p = acquire => p,
                    () = tokio::time::sleep_until(at) => continue,
                },
            };
            break acquired.expect("the pacing semaphore is never closed");
        };
        {
            let _turn = self.turn.lock().await;
            loop {
                let ready = self.state().ready_at(Instant::now());
                match ready {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => break,
                }
            }
        }
        let sent_at = Instant::now();
        self.state().sent(sent_at);
        Admission {
            pacing: self.clone(),
            permit: Some(permit),
            sent_at,
        }
    }

    /// Grants slow start's growth if it is due; when it is still to come,
    /// the instant it will be.
    fn grant_due_growth(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut st = self.state();
        let before = (st.limit, st.rate_at(now));
        if st.grant_growth(now) {
            let target = st.target;
            st.apply_limit(&self.slots, target);
            st.log_changes(&self.label, before, now, None);
        }
        st.growth.map(|g| g.due)
    }

    fn finish(&self, sent_at: Instant, outcome: Outcome, permit: OwnedSemaphorePermit) {
        let now = Instant::now();
        let mut st = self.state();
        st.in_flight = st.in_flight.saturating_sub(1);
        let before = (st.limit, st.rate_at(now));
        st.grant_growth(now);
        let mut event = None;
        let growing = st.growth.is_some();
        match outcome {
            Outcome::Answered => st.answered(now, sent_at),
            Outcome::Throttled { retry_after } => {
                if st.throttled(now, sent_at, retry_after) {
                    event = Some(retry_after);
                }
            }
            Outcome::Overloaded { retry_after } => {
                st.back_pressure(now);
                if let Some(ra) = retry_after.filter(|ra| *ra <= st.limits.max_pause) {
                    st.pause(now, ra);
                }
            }
            Outcome::Failed => {}
        }
        st.evaluate(now);
        let target = st.target;
        st.apply_limit(&self.slots, target);
        st.log_changes(&self.label, before, now, event);
        let earned = !growing && st.growth.is_some();
        if st.debt > 0 {
            st.debt -= 1;
            permit.forget();
        } else {
            drop(permit);
        }
        drop(st);
        if earned {
            self.growth_earned.notify_waiters();
        }
    }

    /// Reports a throttle found after the exchange ended: a vendor's
    /// throttling code in a 200 body. The request's own admission was
    /// already finished as answered; this undoes that and counts a throttle.
    pub fn throttled_after(&self, sent_at: Instant, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut st = self.state();
        // It was counted as accepted when its exchange finished.
        if let Some(pos) = st.accepted.iter().rposition(|t| *t == sent_at) {
            st.accepted.remove(pos);
        }
        let before = (st.limit, st.rate_at(now));
        let event = st
            .throttled(now, sent_at, retry_after)
            .then_some(retry_after);
        let target = st.target;
        st.apply_limit(&self.slots, target);
        st.log_changes(&self.label, before, now, event);
    }

    /// Starts pacing at `rate` requests per second, as if it had been
    /// learned, unless a rate was already learned in this process: for a
    /// sync resuming an account at the rate its last run learned.
    pub fn seed_rate(&self, rate: f64) {
        if !(rate.is_finite() && rate > 0.0) {
            return;
        }
        let mut st = self.state();
        if st.rate.is_none() {
            st.rate = Some(LearnedRate::seeded(rate, Instant::now()));
        }
    }

    /// The time until which the account is paused, if it is.
    pub fn paused_until(&self) -> Option<Instant> {
        let st = self.state();
        st.pause_until.filter(|u| *u > Instant::now())
    }

    /// What the controller has learned so far.
    pub fn snapshot(&self) -> PacingSnapshot {
        self.grant_due_growth();
        let now = Instant::now();
        let st = self.state();
        PacingSnapshot {
            concurrency: st.limit,
            rate: st.rate.as_ref().map(|r| r.at(now)),
            paused: st.paused,
            throttle_events: st.throttle_events,
        }
    }
}

/// The rate learned after a throttle: a cubic curve in time that starts at
/// [`RATE_BETA`] × `allowed`, reaches [`RATE_MARGIN`] × `allowed` after
/// [`RATE_RECOVERY_SECS`], holds near there for a while, then climbs above.
#[derive(Debug, Clone, Copy)]
struct LearnedRate {
    allowed: f64,
    since: Instant,
}

impl LearnedRate {
    fn seeded(rate: f64, now: Instant) -> Self {
        // On the plateau at the seeded rate itself, probing above it only later.
        let k = Duration::from_secs_f64(RATE_RECOVERY_SECS);
        Self {
            allowed: (rate / RATE_MARGIN).max(MIN_RATE),
            since: now.checked_sub(k).unwrap_or(now),
        }
    }

    fn at(&self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.since).as_secs_f64();
        // W(t) = W_max * (margin + c (t - K)^3), with W(0) = beta * W_max.
        let k = RATE_RECOVERY_SECS;
        let c = (RATE_MARGIN - RATE_BETA) / k.powi(3);
        (self.allowed * (RATE_MARGIN + c * (t - k).powi(3))).max(MIN_RATE)
    }
}

/// One evaluation interval (about one mean round trip).
#[derive(Debug, Clone, Copy)]
struct Interval {
    ends: Instant,
    rtt_sum: f64,
    rtt_count: u32,
    reached_limit: bool,
    back_pressure: bool,
}

impl Interval {
    fn starting(now: Instant, length: Duration) -> Self {
        Self {
            ends: now + length,
            rtt_sum: 0.0,
            rtt_count: 0,
            reached_limit: false,
            back_pressure: false,
        }
    }

    fn mean(&self) -> Option<f64> {
        (self.rtt_count > 0).then(|| self.rtt_sum / f64::from(self.rtt_count))
    }
}

/// An exponentially weighted mean and variance of round trips, in seconds.
#[derive(Debug, Clone, Copy)]
struct RttAverage {
    mean: f64,
    variance: f64,
}

impl RttAverage {
    fn update(&mut self, x: f64) {
        let diff = x - self.mean;
        let incr = RTT_EWMA_ALPHA * diff;
        self.mean += incr;
        self.variance = (1.0 - RTT_EWMA_ALPHA) * (self.variance + diff * incr);
    }
}

struct State {
    limits: PacingLimits,
    /// The concurrency limit in force (permits in the semaphore, less debt).
    limit: usize,
    /// The limit the decisions so far ask for (applied by `apply_limit`).
    target: usize,
    /// Permits to forget as they come back (the limit shrank below what was
    /// in flight).
    debt: usize,
    in_flight: usize,
    /// The last time the requests in flight reached the limit.
    limit_reached_at: Option<Instant>,
    slow_start: bool,
    /// Slow start's growth earned by answers, not yet granted.
    growth: Option<Growth>,
    interval: Interval,
    past_rtt: Option<RttAverage>,
    fastest_rtt: f64,
    last_decrease: Option<Instant>,
    rate: Option<LearnedRate>,
    next_send: Instant,
    /// Send times of the requests the server accepted, oldest first.
    accepted: VecDeque<Instant>,
    first_send: Option<Instant>,
    pause_until: Option<Instant>,
    paused: Duration,
    pause_counted_to: Instant,
    /// Requests sent before this instant were in flight when the last
    /// throttle was seen: their throttles belong to that event.
    event_until: Option<Instant>,
    bare_streak: u32,
    throttle_events: u64,
    logged_rate: Option<f64>,
    /// The last throttle's estimate, made again once its pause is over.
    pending_estimate: Option<RateEstimate>,
}

/// Growth slow start has earned and will grant when it is due.
#[derive(Debug, Clone, Copy)]
struct Growth {
    more: usize,
    due: Instant,
}

/// What a throttle's estimate of the allowed rate is made from.
#[derive(Debug, Clone, Copy)]
struct RateEstimate {
    /// Where the measurement starts.
    start: Instant,
    /// When the throttle was seen.
    at: Instant,
    /// The rate in force when the throttled request was sent, if paced.
    paced: Option<f64>,
}

impl State {
    /// The rate in force: the learned one under the ceiling, or the ceiling.
    fn rate_at(&self, now: Instant) -> Option<f64> {
        let learned = self.rate.as_ref().map(|r| r.at(now));
        match (learned, self.limits.max_rate) {
            (Some(l), Some(m)) => Some(l.min(m)),
            (l, m) => l.or(m),
        }
    }

    /// When the next request may go, or `None` for now (taking its slot).
    fn ready_at(&mut self, now: Instant) -> Option<Instant> {
        if let Some(until) = self.pause_until.filter(|u| *u > now) {
            return Some(until);
        }
        if let Some(estimate) = self.pending_estimate.take() {
            self.apply_estimate(estimate);
        }
        let rate = self.rate_at(now)?;
        if self.next_send > now {
            return Some(self.next_send);
        }
        // Slots follow each other at the rate: a request that waited for its
        // slot and woke a little late (a timer tick, a busy machine) takes it
        // as scheduled, so those delays do not add up slot after slot (they
        // cost 3 % of the rate at 20 requests/s on a loaded machine). After
        // an idle spell the schedule starts again from now: no burst, a
        // server counting per second never sees more than the rate, however
        // long the account was idle.
        let slot = if now.saturating_duration_since(self.next_send) <= WAKE_SLACK {
            self.next_send
        } else {
            now
        };
        self.next_send = slot + Duration::from_secs_f64(1.0 / rate);
        None
    }

    fn sent(&mut self, now: Instant) {
        self.in_flight += 1;
        self.first_send.get_or_insert(now);
        if self.in_flight >= self.limit {
            self.interval.reached_limit = true;
            self.limit_reached_at = Some(now);
        }
    }

    fn answered(&mut self, now: Instant, sent_at: Instant) {
        let rtt = now.saturating_duration_since(sent_at).as_secs_f64();
        self.accepted.push_back(sent_at);
        let horizon = now.checked_sub(RATE_LOOKBACK * 2);
        while self.accepted.len() > MAX_ACCEPTED_KEPT
            || horizon.is_some_and(|h| self.accepted.front().is_some_and(|t| *t < h))
        {
            self.accepted.pop_front();
        }
        self.interval.rtt_sum += rtt;
        self.interval.rtt_count += 1;
        // Slow start: one more per answer while the limit is in use (it was
        // reached while this request was in flight), which doubles it every
        // round trip; granted once the answers sent with this one are in.
        if self.slow_start && self.limit_reached_at.is_some_and(|t| t >= sent_at) {
            let settle =
                Duration::from_secs_f64(rtt * SETTLE_FRACTION).clamp(SETTLE_MIN, SETTLE_MAX);
            let growth = self.growth.get_or_insert(Growth {
                more: 0,
                due: now + settle,
            });
            growth.more += 1;
        }
        if self.pause_until.is_none_or(|p| sent_at >= p) {
            self.bare_streak = 0;
        }
    }

    /// Slow start's earned growth, if it is due.
    fn grant_growth(&mut self, now: Instant) -> bool {
        match self.growth {
            Some(g) if g.due <= now => {
                self.growth = None;
                if self.slow_start {
                    self.target = self.target.max(self.limit) + g.more;
                }
                true
            }
            _ => false,
        }
    }

    /// A throttle, an overload or a timeout: leave slow start (and the
    /// growth it earned but has not granted) and cut the limit, at most once
    /// per round trip (requests in flight together are refused together).
    fn back_pressure(&mut self, now: Instant) {
        self.slow_start = false;
        self.growth = None;
        self.interval.back_pressure = true;
        let round_trip = self
            .past_rtt
            .map_or(MIN_INTERVAL, |p| Duration::from_secs_f64(p.mean));
        if self.last_decrease.is_none_or(|t| now >= t + round_trip) {
            self.target = decreased(self.target.min(self.limit), BACK_PRESSURE_DECREASE);
            self.last_decrease = Some(now);
        }
    }

    /// A throttle of a request sent at `sent_at`; whether it is a new event.
    fn throttled(&mut self, now: Instant, sent_at: Instant, retry_after: Option<Duration>) -> bool {
        self.back_pressure(now);
        let new_event = self.event_until.is_none_or(|u| sent_at > u);
        // A wait longer than honoured is a lockout or a spent quota, not a
        // rate: it fails its request and teaches the account nothing.
        let honoured = retry_after.is_none_or(|ra| ra <= self.limits.max_pause);
        if new_event {
            self.throttle_events += 1;
            if retry_after.is_none() {
                self.bare_streak += 1;
            }
            if honoured {
                self.learn_rate(now, sent_at);
            }
            self.event_until = Some(now);
        }
        let pause = match retry_after {
            Some(ra) if ra <= self.limits.max_pause => Some(ra),
            // Not honoured: the request fails at once, and holding every
            // other request of the account that long would stall them all.
            Some(_) => None,
            None => {
                let doublings = self.bare_streak.saturating_sub(1).min(16);
                Some(
                    BARE_PAUSE
                        .saturating_mul(1 << doublings)
                        .min(MAX_BARE_PAUSE)
                        .min(self.limits.max_pause),
                )
            }
        };
        if let Some(pause) = pause {
            self.pause(now, pause);
        }
        new_event
    }

    /// The rate the server allowed between `start` and a throttle seen at
    /// `end`: the requests sent in between that it accepted, per second of
    /// that span, which counts as at least one second so that a first burst
    /// does not read as a rate. `None` when too few were accepted to say.
    fn measured_allowed(&self, start: Instant, end: Instant) -> Option<f64> {
        let accepted = self
            .accepted
            .iter()
            .filter(|t| **t >= start && **t < end)
            .count();
        if accepted < 2 {
            return None;
        }
        let span = end.saturating_duration_since(start).as_secs_f64().max(1.0);
        Some(accepted as f64 / span)
    }

    /// Where a measurement of the server's answers may start: the end of the
    /// last pause, the first request, or [`RATE_LOOKBACK`] ago.
    fn since_last_pause(&self, now: Instant) -> Instant {
        let first = self.first_send.unwrap_or(now);
        let recent = now.checked_sub(RATE_LOOKBACK).unwrap_or(first);
        let mut start = first.max(recent);
        if let Some(p) = self.pause_until.filter(|p| *p <= now) {
            start = start.max(p);
        }
        start
    }

    /// Learns from a throttle seen at `now` at once, and again when the
    /// pause it imposed is over: by then the requests that were in flight
    /// with it have answered, and those the server accepted count too.
    fn learn_rate(&mut self, now: Instant, sent_at: Instant) {
        let estimate = RateEstimate {
            start: self.since_last_pause(now),
            at: now,
            paced: self.rate.as_ref().map(|r| r.at(sent_at)),
        };
        self.pending_estimate = Some(estimate);
        self.apply_estimate(estimate);
    }

    fn apply_estimate(&mut self, e: RateEstimate) {
        let measured = self.measured_allowed(e.start, e.at);
        let allowed = match e.paced {
            // Paced and still throttled: the rate sent was too high, by
            // more the sooner the throttle came (a server counting per
            // second refuses a rate `x` over its limit after about `1 / x`
            // seconds), and the rate the server accepted, if less, is the
            // better estimate.
            Some(paced) => {
                let active =
                    e.at.saturating_duration_since(e.start)
                        .as_secs_f64()
                        .max(0.1);
                let cut = (1.0 - PACED_CUT).max(1.0 / (paced * active)).min(0.5);
                let lowered = paced * (1.0 - cut);
                measured.map_or(lowered, |m| lowered.min(m))
            }
            None => match measured {
                Some(m) => m,
                None => return,
            },
        };
        self.rate = Some(LearnedRate {
            allowed: allowed.max(MIN_RATE),
            since: e.at,
        });
    }

    fn pause(&mut self, now: Instant, pause: Duration) {
        let until = now + pause;
        if self.pause_until.is_none_or(|p| p < until) {
            let from = self.pause_counted_to.max(now);
            if until > from {
                self.paused += until - from;
                self.pause_counted_to = until;
            }
            self.pause_until = Some(until);
        }
    }

    /// At the end of each interval (about one round trip): additive
    /// increase, or a decrease when latency rises well above its average.
    fn evaluate(&mut self, now: Instant) {
        if now < self.interval.ends {
            return;
        }
        if let Some(current) = self.interval.mean() {
            self.fastest_rtt = self.fastest_rtt.min(current);
            match self.past_rtt {
                None => {
                    self.past_rtt = Some(RttAverage {
                        mean: current,
                        variance: 0.0,
                    });
                }
                Some(past) => {
                    let rise =
                        (RTT_DEVIATIONS * past.variance.sqrt()).max(RTT_MIN_RISE * past.mean);
                    let interval = self.interval;
                    if self.slow_start {
                        if current > SLOW_START_EXIT * self.fastest_rtt {
                            self.slow_start = false;
                        }
                    } else if interval.reached_limit
                        && !interval.back_pressure
                        && current <= past.mean * (1.0 + RTT_TOLERANCE)
                    {
                        self.target = self.target.min(self.limit) + 1;
                    } else if !interval.back_pressure && current >= past.mean + rise {
                        self.target = decreased(self.target.min(self.limit), LATENCY_DECREASE);
                    }
                    if let Some(p) = self.past_rtt.as_mut() {
                        p.update(current);
                    }
                }
            }
        }
        let length = self
            .past_rtt
            .map_or(MIN_INTERVAL, |p| Duration::from_secs_f64(p.mean))
            .clamp(MIN_INTERVAL, MAX_INTERVAL);
        self.interval = Interval::starting(now, length);
    }

    /// Moves the limit to the target, within its bounds.
    fn apply_limit(&mut self, slots: &Semaphore, target: usize) {
        let target = if self.limits.adaptive {
            target.clamp(1, self.limits.max_concurrency)
        } else {
            self.limits.max_concurrency
        };
        self.target = target;
        if target > self.limit {
            let mut add = target - self.limit;
            let repaid = add.min(self.debt);
            self.debt -= repaid;
            add -= repaid;
            slots.add_permits(add);
        } else if target < self.limit {
            let cut = self.limit - target;
            let forgotten = slots.forget_permits(cut);
            self.debt += cut - forgotten;
        }
        if target >= self.limits.max_concurrency {
            self.slow_start = false;
        }
        self.limit = target;
    }

    fn log_changes(
        &mut self,
        label: &str,
        (limit_before, rate_before): (usize, Option<f64>),
        now: Instant,
        event: Option<Option<Duration>>,
    ) {
        let rate = self.rate_at(now);
        if let Some(retry_after) = event {
            let pause = self
                .pause_until
                .map(|p| p.saturating_duration_since(now))
                .unwrap_or_default();
            tracing::info!(
                account = label,
                retry_after = ?retry_after,
                pause = ?pause,
                concurrency = self.limit,
                rate = rate.map(|r| (r * 100.0).round() / 100.0),
                "throttled: pausing the account, then at most {} in flight{}",
                self.limit,
                rate.map(|r| format!(" and {r:.2} requests/s")).unwrap_or_default()
            );
            self.logged_rate = rate;
            return;
        }
        if self.limit < limit_before {
            tracing::info!(
                account = label,
                concurrency = self.limit,
                "concurrency lowered from {limit_before} to {}",
                self.limit
            );
        } else if self.limit > limit_before {
            let notable = self.limit.is_power_of_two() || self.limit == self.limits.max_concurrency;
            if notable {
                tracing::info!(
                    account = label,
                    concurrency = self.limit,
                    "concurrency raised to {}",
                    self.limit
                );
            } else {
                tracing::debug!(
                    account = label,
                    concurrency = self.limit,
                    "concurrency raised from {limit_before} to {}",
                    self.limit
                );
            }
        }
        if let (Some(r), Some(before)) = (rate, self.logged_rate.or(rate_before))
            && (r - before).abs() >= 0.05 * before
        {
            tracing::debug!(
                account = label,
                rate = (r * 100.0).round() / 100.0,
                "learned rate now {r:.2} requests/s"
            );
            self.logged_rate = Some(r);
        }
    }
}

fn decreased(limit: usize, ratio: f64) -> usize {
    ((limit as f64 * ratio).floor() as usize).max(1)
}

#[cfg(test)]
mod simulation {
    //! The controller against model servers, on tokio's paused clock.

    use std::sync::Mutex as StdMutex;

    use futures::StreamExt;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// How a model server limits requests.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Limit {
        None,
        /// At most `per_second` per one-second window counted from the
        /// server's start; `Retry-After` the whole seconds left (at least 1).
        FixedWindow {
            per_second: u32,
            retry_after: bool,
        },
        /// A token bucket of `burst` tokens refilled at `per_second`.
        Bucket {
            per_second: f64,
            burst: f64,
            retry_after: bool,
        },
    }

    #[derive(Debug, Clone, Copy)]
    pub(super) struct Server {
        pub limit: Limit,
        /// Latency with nothing else in flight.
        pub latency: Duration,
        /// Latency added per request in flight at the server.
        pub per_in_flight: Duration,
        /// Uniform jitter added to each latency.
        pub jitter: Duration,
        /// How far into its first window the server is when the pull starts.
        pub phase: Duration,
    }

    struct ServerState {
        epoch: Instant,
        window: (u64, u32),
        tokens: f64,
        refilled: Instant,
        in_flight: usize,
        rng: rand::rngs::StdRng,
    }

    #[derive(Debug, Default, Clone, Copy)]
    pub(super) struct Run {
        pub useful: u64,
        pub throttled: u64,
        pub elapsed: Duration,
        pub final_concurrency: usize,
        pub rate: Option<f64>,
        pub peak_concurrency: usize,
        /// When 32 requests were first in flight at the server at once.
        pub reached_32: Option<Duration>,
    }

    impl Run {
        pub fn share_429(&self) -> f64 {
            self.throttled as f64 / (self.useful + self.throttled) as f64
        }
        pub fn achieved(&self) -> f64 {
            self.useful as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// Pulls `requests` requests, at most `ahead` outstanding (a connector's
    /// `buffered`), through a fresh controller; each request retries after
    /// its `Retry-After` or 200 ms when throttled.
    pub(super) async fn run(
        server: Server,
        requests: usize,
        ahead: usize,
        limits: PacingLimits,
    ) -> Run {
        run_with(server, requests, ahead, Some(limits)).await
    }

    /// [`run`]; without limits, no controller at all (`ahead` in flight).
    pub(super) async fn run_with(
        server: Server,
        requests: usize,
        ahead: usize,
        limits: Option<PacingLimits>,
    ) -> Run {
        let pacing = limits.map(|l| AccountPacing::new("sim", l));
        let start = Instant::now();
        let state = Arc::new(StdMutex::new(ServerState {
            epoch: start.checked_sub(server.phase).unwrap_or(start),
            window: (0, 0),
            tokens: match server.limit {
                Limit::Bucket { burst, .. } => burst,
                _ => 0.0,
            },
            refilled: start,
            in_flight: 0,
            rng: rand::rngs::StdRng::seed_from_u64(7),
        }));
        let throttled = Arc::new(StdMutex::new(0u64));
        let peak = Arc::new(StdMutex::new((0usize, None)));
        futures::stream::iter(0..requests)
            .map(|_| {
                let (pacing, state, throttled, peak) = (
                    pacing.clone(),
                    state.clone(),
                    throttled.clone(),
                    peak.clone(),
                );
                async move {
                    for _ in 0..30 {
                        let admission = match &pacing {
                            Some(p) => Some(p.admit().await),
                            None => None,
                        };
                        let latency = {
                            let mut s = state.lock().unwrap();
                            s.in_flight += 1;
                            let mut p = peak.lock().unwrap();
                            p.0 = p.0.max(s.in_flight);
                            if s.in_flight >= 32 && p.1.is_none() {
                                p.1 = Some(start.elapsed());
                            }
                            let j = s.rng.random::<f64>();
                            server.latency
                                + server.per_in_flight * s.in_flight as u32
                                + server.jitter.mul_f64(j)
                        };
                        tokio::time::sleep(latency).await;
                        let verdict = {
                            let mut s = state.lock().unwrap();
                            s.in_flight -= 1;
                            s.verdict(server.limit, Instant::now())
                        };
                        match verdict {
                            None => {
                                if let Some(a) = admission {
                                    a.finish(Outcome::Answered);
                                }
                                return;
                            }
                            Some(retry_after) => {
                                *throttled.lock().unwrap() += 1;
                                if let Some(a) = admission {
                                    a.finish(Outcome::Throttled { retry_after });
                                }
                                tokio::time::sleep(
                                    retry_after.unwrap_or(Duration::from_millis(200)),
                                )
                                .await;
                            }
                        }
                    }
                    panic!("a request was throttled 30 times");
                }
            })
            .buffer_unordered(ahead)
            .collect::<Vec<()>>()
            .await;
        let snapshot = pacing.map(|p| p.snapshot()).unwrap_or_default();
        let throttled = *throttled.lock().unwrap();
        let peak = *peak.lock().unwrap();
        Run {
            useful: requests as u64,
            throttled,
            elapsed: start.elapsed(),
            final_concurrency: snapshot.concurrency,
            rate: snapshot.rate,
            peak_concurrency: peak.0,
            reached_32: peak.1,
        }
    }

    impl ServerState {
        fn verdict(&mut self, limit: Limit, now: Instant) -> Option<Option<Duration>> {
            match limit {
                Limit::None => None,
                Limit::FixedWindow {
                    per_second,
                    retry_after,
                } => {
                    let elapsed = now - self.epoch;
                    let window = elapsed.as_secs();
                    if self.window.0 != window {
                        self.window = (window, 0);
                    }
                    if self.window.1 >= per_second {
                        let left = Duration::from_secs(window + 1).saturating_sub(elapsed);
                        let secs = left.as_secs_f64().ceil().max(1.0);
                        return Some(retry_after.then(|| Duration::from_secs_f64(secs)));
                    }
                    self.window.1 += 1;
                    None
                }
                Limit::Bucket {
                    per_second,
                    burst,
                    retry_after,
                } => {
                    let dt = (now - self.refilled).as_secs_f64();
                    self.refilled = now;
                    self.tokens = (self.tokens + dt * per_second).min(burst);
                    if self.tokens < 1.0 {
                        let secs = ((1.0 - self.tokens) / per_second).ceil().max(1.0);
                        return Some(retry_after.then(|| Duration::from_secs_f64(secs)));
                    }
                    self.tokens -= 1.0;
                    None
                }
            }
        }
    }

    fn limited(limit: Limit, latency_ms: u64, phase_ms: u64) -> Server {
        Server {
            limit,
            latency: Duration::from_millis(latency_ms),
            per_in_flight: Duration::ZERO,
            jitter: Duration::from_millis(latency_ms / 5 + 1),
            phase: Duration::from_millis(phase_ms),
        }
    }

    /// An undisclosed limit of 10 and 20 requests per second, counted per
    /// one-second window, with and without `Retry-After`: the pull gets at
    /// least 0.93 of the limit and under 5 % of its requests are refused,
    /// wherever in the server's window it starts.
    #[tokio::test(start_paused = true)]
    async fn an_undisclosed_limit_is_learned_without_a_storm_of_429s() {
        for per_second in [10u32, 20] {
            for retry_after in [true, false] {
                for (latency, phase) in [(2, 0), (2, 500), (50, 0), (50, 600)] {
                    let limit = Limit::FixedWindow {
                        per_second,
                        retry_after,
                    };
                    let requests = 40 * per_second as usize + 4;
                    let r = run(
                        limited(limit, latency, phase),
                        requests,
                        64,
                        PacingLimits::default(),
                    )
                    .await;
                    let achieved = r.achieved() / f64::from(per_second);
                    let case = format!(
                        "{per_second}/s, Retry-After {retry_after}, {latency} ms, phase {phase} ms: {r:?}"
                    );
                    assert!(
                        achieved >= 0.93,
                        "achieved {achieved:.3} of the limit; {case}"
                    );
                    assert!(
                        r.share_429() <= 0.05,
                        "429 share {:.3}; {case}",
                        r.share_429()
                    );
                    let rate = r.rate.expect("a rate was learned");
                    assert!(
                        rate > 0.9 * f64::from(per_second) && rate < 1.1 * f64::from(per_second),
                        "learned {rate}; {case}"
                    );
                }
            }
        }
    }

    /// The same servers against a client without pacing (8 in flight, each
    /// request retrying after its Retry-After, as chathaul did before): the
    /// test above would fail it.
    #[tokio::test(start_paused = true)]
    async fn a_client_without_pacing_fails_those_bounds() {
        let limit = Limit::FixedWindow {
            per_second: 10,
            retry_after: true,
        };
        let r = run_with(limited(limit, 2, 0), 404, 8, None).await;
        assert!(r.share_429() > 0.3, "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_bucket_limit_is_learned_too() {
        let limit = Limit::Bucket {
            per_second: 10.0,
            burst: 10.0,
            retry_after: true,
        };
        let r = run(limited(limit, 50, 0), 404, 64, PacingLimits::default()).await;
        assert!(r.achieved() >= 9.3, "{r:?}");
        assert!(r.share_429() <= 0.05, "{r:?}");
    }

    /// No limit, 50 and 80 ms of latency: slow start has 32 requests in
    /// flight within half a second and ends at the ceiling.
    #[tokio::test(start_paused = true)]
    async fn without_a_limit_concurrency_climbs_to_the_ceiling_within_a_second() {
        for latency in [50u64, 80] {
            let server = Server {
                limit: Limit::None,
                latency: Duration::from_millis(latency),
                per_in_flight: Duration::ZERO,
                jitter: Duration::from_millis(10),
                phase: Duration::ZERO,
            };
            let r = run(server, 2000, 64, PacingLimits::default()).await;
            let reached = r.reached_32.expect("32 in flight");
            assert!(reached <= Duration::from_millis(600), "{latency} ms: {r:?}");
            assert_eq!((r.final_concurrency, r.peak_concurrency), (64, 64), "{r:?}");
            assert_eq!(r.rate, None, "nothing throttled, nothing learned");
            // 2000 requests at 64 in flight take about 32 round trips.
            let ideal = Duration::from_millis(latency + 5) * 32;
            assert!(r.elapsed < ideal.mul_f64(1.25), "{latency} ms: {r:?}");
        }
    }

    /// A server whose latency grows with the requests in flight: the
    /// controller settles within 1.2x of the best fixed concurrency.
    #[tokio::test(start_paused = true)]
    async fn under_latency_that_grows_with_load_it_settles_near_the_best_fixed_concurrency() {
        for per_request in [1u64, 5, 10] {
            let server = Server {
                limit: Limit::None,
                latency: Duration::from_millis(50),
                per_in_flight: Duration::from_millis(per_request),
                jitter: Duration::from_millis(10),
                phase: Duration::ZERO,
            };
            let adaptive = run(server, 2000, 64, PacingLimits::default()).await;
            let mut best = Duration::MAX;
            for fixed in [1usize, 2, 4, 8, 16, 32, 48, 64] {
                best = best.min(run_with(server, 2000, fixed, None).await.elapsed);
            }
            let ratio = adaptive.elapsed.as_secs_f64() / best.as_secs_f64();
            assert!(
                ratio <= 1.2,
                "+{per_request} ms per request in flight: {ratio:.2}x the best fixed; {adaptive:?}"
            );
        }
    }
}

#[cfg(test)]
mod decisions {
    //! Each decision of the controller, driven by hand on tokio's paused clock.

    use super::*;

    const RTT: Duration = Duration::from_millis(50);

    fn limits() -> PacingLimits {
        PacingLimits::default()
    }

    /// Sends `n` requests at once, waits `rtt`, and finishes them all with
    /// `outcome`.
    async fn round(p: &Arc<AccountPacing>, n: usize, rtt: Duration, outcome: Outcome) {
        let mut sent = Vec::new();
        for _ in 0..n {
            sent.push(p.admit().await);
        }
        tokio::time::sleep(rtt).await;
        for a in sent {
            a.finish(outcome);
        }
        // Slow start grants what the round earned once its answers are in.
        tokio::time::sleep(SETTLE_MAX).await;
    }

    /// Leaves slow start at `limit` (a throttle that teaches no rate: the
    /// first requests, nothing accepted yet) and lets its pause pass.
    async fn in_avoidance(limit: usize) -> Arc<AccountPacing> {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_concurrency: limit,
                ..limits()
            },
        );
        while p.snapshot().concurrency < limit {
            let n = p.snapshot().concurrency;
            round(&p, n, RTT, Outcome::Answered).await;
        }
        let p2 = AccountPacing::new(
            "test",
            PacingLimits {
                max_concurrency: 64,
                ..limits()
            },
        );
        drop(p2);
        p
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_doubles_the_limit_each_round_trip_while_it_is_in_use() {
        let p = AccountPacing::new("test", limits());
        let mut seen = vec![p.snapshot().concurrency];
        for _ in 0..4 {
            let n = p.snapshot().concurrency;
            round(&p, n, RTT, Outcome::Answered).await;
            seen.push(p.snapshot().concurrency);
        }
        assert_eq!(seen, [4, 8, 16, 32, 64]);
        // Not while it is not in use: one request at a time leaves it alone.
        let p = AccountPacing::new("test", limits());
        for _ in 0..5 {
            round(&p, 1, RTT, Outcome::Answered).await;
        }
        assert_eq!(p.snapshot().concurrency, INITIAL_CONCURRENCY);
    }

    /// Admissions that are let go at once, without waiting.
    fn admitted_now(p: &Arc<AccountPacing>, at_most: usize) -> Vec<Admission> {
        use futures::FutureExt;
        (0..at_most)
            .map_while(|_| p.admit().now_or_never())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_grants_its_growth_once_the_round_is_in_even_with_nothing_answering() {
        let p = AccountPacing::new("test", limits());
        let sent = admitted_now(&p, 16);
        assert_eq!(sent.len(), INITIAL_CONCURRENCY);
        // Twice as many wait for a place from the start.
        let waiting: Vec<_> = (0..2 * INITIAL_CONCURRENCY)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move {
                    let a = p.admit().await;
                    (Instant::now(), a)
                })
            })
            .collect();
        tokio::time::sleep(RTT).await;
        let answered_at = Instant::now();
        for a in sent {
            a.finish(Outcome::Answered);
        }
        let (mut admitted, mut held) = (Vec::new(), Vec::new());
        for w in waiting {
            let (at, a) = tokio::time::timeout(RTT, w)
                .await
                .expect("admitted within a round trip of the answers")
                .expect("the waiting request");
            admitted.push(at - answered_at);
            held.push(a);
        }
        admitted.sort();
        // The answers gave their places back at once; the growth they
        // earned (one each) came a sixteenth of a round trip later, with no
        // answer to bring it (the timer wheel counts whole milliseconds).
        let settle = RTT.div_f64(16.0);
        let (replaced, grown) = admitted.split_at(INITIAL_CONCURRENCY);
        assert!(replaced.iter().all(|d| d.is_zero()), "{admitted:?}");
        assert!(
            grown
                .iter()
                .all(|d| *d >= settle && *d <= settle + Duration::from_millis(1)),
            "{admitted:?}"
        );
        assert_eq!(p.snapshot().concurrency, 2 * INITIAL_CONCURRENCY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_among_a_rounds_answers_cancels_the_growth_the_earlier_ones_earned() {
        // At 16 in flight, the server's window fills after 6 of them: the 6
        // answers come first, then 10 throttles, all within a millisecond.
        let p = AccountPacing::new("test", limits());
        while p.snapshot().concurrency < 16 {
            let n = p.snapshot().concurrency;
            round(&p, n, RTT, Outcome::Answered).await;
        }
        let mut sent = admitted_now(&p, 64);
        assert_eq!(sent.len(), 16);
        tokio::time::sleep(RTT).await;
        let throttled = sent.split_off(6);
        for a in sent {
            a.finish(Outcome::Answered);
        }
        // Each answer gave its own place back, and no more: granted at
        // once, slow start would have let two requests go for each.
        let replacements = admitted_now(&p, 64);
        assert_eq!(replacements.len(), 6);
        tokio::time::sleep(Duration::from_micros(500)).await;
        for a in throttled {
            a.finish(Outcome::Throttled {
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        tokio::time::sleep(SETTLE_MAX).await;
        // Cut by 30 %, with nothing of the cancelled growth added.
        assert_eq!(p.snapshot().concurrency, 11);
        drop(replacements);
    }

    #[tokio::test(start_paused = true)]
    async fn the_concurrency_ceiling_is_respected() {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_concurrency: 5,
                ..limits()
            },
        );
        for _ in 0..10 {
            let n = p.snapshot().concurrency;
            round(&p, n, RTT, Outcome::Answered).await;
        }
        assert_eq!(p.snapshot().concurrency, 5);
        // A sixth request waits for a place.
        let held: Vec<_> = futures::future::join_all((0..5).map(|_| p.admit())).await;
        let sixth = tokio::time::timeout(Duration::from_secs(5), p.admit()).await;
        assert!(sixth.is_err(), "a sixth request was admitted");
        drop(held);
        let _sixth = tokio::time::timeout(Duration::from_secs(5), p.admit())
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_limit_is_the_ceiling_from_the_start_and_never_moves() {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_concurrency: 12,
                adaptive: false,
                ..limits()
            },
        );
        assert_eq!(p.snapshot().concurrency, 12);
        // Twelve go at once; a thirteenth waits for a place.
        let held: Vec<_> = futures::future::join_all((0..12).map(|_| p.admit())).await;
        let thirteenth = tokio::time::timeout(Duration::from_secs(5), p.admit()).await;
        assert!(thirteenth.is_err(), "a thirteenth request was admitted");
        drop(held);
        // Latency quadrupling, an overload, a throttle: the limit stays put...
        round(&p, 12, RTT, Outcome::Answered).await;
        round(&p, 12, RTT * 4, Outcome::Answered).await;
        round(&p, 12, RTT * 4, Outcome::Overloaded { retry_after: None }).await;
        assert_eq!(p.snapshot().concurrency, 12);
        let start = Instant::now();
        round(
            &p,
            3,
            RTT,
            Outcome::Throttled {
                retry_after: Some(Duration::from_secs(2)),
            },
        )
        .await;
        assert_eq!(p.snapshot().concurrency, 12);
        // ...while a throttle still pauses the account and teaches it a rate.
        p.admit().await.finish(Outcome::Answered);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let s = p.snapshot();
        assert_eq!(s.throttle_events, 1);
        assert!(s.rate.is_some(), "{s:?}");
        // And nothing grows past it while it is in use.
        for _ in 0..10 {
            round(&p, 12, RTT, Outcome::Answered).await;
        }
        assert_eq!(p.snapshot().concurrency, 12);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_ends_when_latency_doubles_then_growth_is_additive() {
        let p = AccountPacing::new("test", limits());
        round(&p, 2, RTT, Outcome::Answered).await;
        round(&p, 4, RTT, Outcome::Answered).await;
        assert_eq!(p.snapshot().concurrency, 8);
        // Latency more than doubles: slow start ends within a round trip or
        // two (the limit keeps what those answers added).
        round(&p, 8, RTT * 3, Outcome::Answered).await;
        let n = p.snapshot().concurrency;
        round(&p, n, RTT * 3, Outcome::Answered).await;
        assert!(!p.state().slow_start);
        assert!(p.snapshot().concurrency < 32, "{:?}", p.snapshot());
        // Once the moving average has caught up with the new latency...
        for _ in 0..10 {
            let n = p.snapshot().concurrency;
            round(&p, n, RTT * 3, Outcome::Answered).await;
        }
        let base = p.snapshot().concurrency;
        // Steady latency, limit in use: one more per round trip.
        let mut seen = Vec::new();
        for _ in 0..4 {
            let n = p.snapshot().concurrency;
            round(&p, n, RTT * 3, Outcome::Answered).await;
            seen.push(p.snapshot().concurrency);
        }
        assert_eq!(seen, [base + 1, base + 2, base + 3, base + 4]);
        // Limit not in use: no growth.
        round(&p, 1, RTT * 3, Outcome::Answered).await;
        round(&p, 1, RTT * 3, Outcome::Answered).await;
        assert_eq!(p.snapshot().concurrency, base + 4);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_rising_well_above_its_average_lowers_the_limit_by_a_tenth() {
        let p = in_avoidance(64).await;
        let p = {
            // Leave slow start with an overload, then settle the average.
            round(&p, 1, RTT, Outcome::Overloaded { retry_after: None }).await;
            for _ in 0..6 {
                round(&p, 2, RTT, Outcome::Answered).await;
            }
            p
        };
        let before = p.snapshot().concurrency;
        round(&p, 2, RTT * 4, Outcome::Answered).await;
        assert_eq!(
            p.snapshot().concurrency,
            decreased(before, LATENCY_DECREASE)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_back_pressure_signal_cuts_the_limit_once_per_round_trip() {
        for outcome in [
            Outcome::Throttled {
                retry_after: Some(Duration::from_millis(10)),
            },
            Outcome::Throttled { retry_after: None },
            Outcome::Overloaded { retry_after: None },
        ] {
            let p = in_avoidance(40).await;
            // Settle the round-trip average.
            round(&p, 1, RTT, Outcome::Answered).await;
            tokio::time::sleep(Duration::from_secs(20)).await;
            assert_eq!(p.snapshot().concurrency, 40);
            // Ten requests refused together: one cut.
            round(&p, 10, RTT, outcome).await;
            assert_eq!(p.snapshot().concurrency, 28, "{outcome:?}");
            // Another refusal a round trip later: another cut.
            tokio::time::sleep(Duration::from_secs(20)).await;
            round(&p, 1, RTT, outcome).await;
            assert_eq!(p.snapshot().concurrency, 19, "{outcome:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_until_the_first_throttle_then_just_under_what_was_allowed() {
        let p = AccountPacing::new("test", limits());
        // 20 accepted over two seconds (each round trip and the settling
        // after it): 10 per second.
        for _ in 0..20 {
            round(
                &p,
                1,
                Duration::from_millis(100) - SETTLE_MAX,
                Outcome::Answered,
            )
            .await;
        }
        assert_eq!(p.snapshot().rate, None);
        round(
            &p,
            1,
            Duration::from_millis(5),
            Outcome::Throttled {
                retry_after: Some(Duration::from_secs(1)),
            },
        )
        .await;
        let learned = p.snapshot().rate.expect("a rate after the throttle");
        // Measured over the last five seconds (here two): about 10/s,
        // started at RATE_BETA of it.
        let allowed = 20.0 / 2.005;
        assert!((learned - RATE_BETA * allowed).abs() < 0.1, "{learned}");
        assert_eq!(p.snapshot().throttle_events, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_learned_rate_recovers_slowly_then_probes_above() {
        let start = Instant::now();
        let rate = LearnedRate {
            allowed: 10.0,
            since: start,
        };
        let at = |secs: f64| rate.at(start + Duration::from_secs_f64(secs));
        assert!((at(0.0) - 10.0 * RATE_BETA).abs() < 1e-9);
        // Back to just under the allowed rate after RATE_RECOVERY_SECS...
        assert!((at(RATE_RECOVERY_SECS) - 10.0 * RATE_MARGIN).abs() < 1e-9);
        // ...rising monotonically, never above it for a while...
        let mut last = 0.0;
        for s in 0..=40 {
            let r = at(f64::from(s));
            assert!(r >= last && r <= 10.0, "{s}s: {r}");
            last = r;
        }
        // ...and only then probing above it.
        assert!(at(60.0) > 10.0 && at(60.0) < 11.0, "{}", at(60.0));
        assert!(at(90.0) > 11.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_ceiling_paces_from_the_start_and_caps_a_learned_rate() {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_rate: Some(4.0),
                ..limits()
            },
        );
        let start = Instant::now();
        for _ in 0..9 {
            p.admit().await.finish(Outcome::Answered);
        }
        // The first at once, then one every 250 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(p.snapshot().rate, None, "a ceiling is not a learned rate");
        p.seed_rate(100.0);
        let start = Instant::now();
        for _ in 0..5 {
            p.admit().await.finish(Outcome::Answered);
        }
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn paced_slots_keep_their_schedule_when_requests_wake_late() {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_rate: Some(20.0),
                ..limits()
            },
        );
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut st = p.state();
        assert_eq!(st.ready_at(t0), None);
        assert_eq!(st.ready_at(t0 + ms(20)), Some(t0 + ms(50)));
        // Each request wakes 3 ms after its slot: the slots stay 50 ms apart
        // (ten of them end at 550 ms, not at 580).
        for k in 1..=10u32 {
            assert_eq!(st.ready_at(t0 + ms(50) * k + ms(3)), None, "slot {k}");
        }
        assert_eq!(st.next_send, t0 + ms(550));
        // Later than the slack: the schedule starts again from the wake-up.
        assert_eq!(st.ready_at(t0 + ms(570)), None);
        assert_eq!(st.next_send, t0 + ms(620));
        // After an idle second, no burst: one slot now, the next 50 ms later.
        let later = t0 + ms(2000);
        assert_eq!(st.ready_at(later), None);
        assert_eq!(st.ready_at(later + ms(1)), Some(later + ms(50)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_seeded_rate_paces_from_the_first_request() {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                initial_rate: Some(5.0),
                ..limits()
            },
        );
        let near = |r: Option<f64>, want: f64| r.is_some_and(|r| (r - want).abs() < 1e-3);
        assert!(near(p.snapshot().rate, 5.0), "{:?}", p.snapshot());
        let start = Instant::now();
        for _ in 0..6 {
            p.admit().await.finish(Outcome::Answered);
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        // A later seed does not replace what is learned or seeded.
        p.seed_rate(50.0);
        assert!(near(p.snapshot().rate, 5.0));
        let fresh = AccountPacing::new("test", limits());
        fresh.seed_rate(7.5);
        assert!(near(fresh.snapshot().rate, 7.5));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_whole_account() {
        let p = AccountPacing::new("test", limits());
        let a = p.admit().await;
        let b = p.admit().await;
        a.finish(Outcome::Throttled {
            retry_after: Some(Duration::from_secs(3)),
        });
        // A throttle of a request that was in flight belongs to the same
        // event: no second event, and a shorter Retry-After shortens nothing.
        b.finish(Outcome::Throttled {
            retry_after: Some(Duration::from_secs(1)),
        });
        let start = Instant::now();
        p.admit().await.finish(Outcome::Answered);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let s = p.snapshot();
        assert_eq!((s.throttle_events, s.paused), (1, Duration::from_secs(3)));
        // A Retry-After longer than honoured pauses nothing.
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_pause: Duration::from_secs(5),
                ..limits()
            },
        );
        p.admit().await.finish(Outcome::Throttled {
            retry_after: Some(Duration::from_secs(3600)),
        });
        assert_eq!(p.paused_until(), None);
        // A 503 with Retry-After pauses too.
        p.admit().await.finish(Outcome::Overloaded {
            retry_after: Some(Duration::from_secs(2)),
        });
        assert!(p.paused_until().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_without_retry_after_pauses_a_second_doubling_while_they_repeat() {
        let p = AccountPacing::new("test", limits());
        let mut pauses = Vec::new();
        for _ in 0..4 {
            p.admit()
                .await
                .finish(Outcome::Throttled { retry_after: None });
            let until = p.paused_until().expect("paused");
            pauses.push(until - Instant::now());
        }
        assert_eq!(pauses, [1, 2, 4, 8].map(Duration::from_secs));
        // An answer after the pause resets the streak.
        p.admit().await.finish(Outcome::Answered);
        p.admit()
            .await
            .finish(Outcome::Throttled { retry_after: None });
        assert_eq!(
            p.paused_until().unwrap() - Instant::now(),
            Duration::from_secs(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_found_in_a_body_counts_like_a_429() {
        let p = AccountPacing::new("test", limits());
        for _ in 0..10 {
            round(&p, 1, Duration::from_millis(100), Outcome::Answered).await;
        }
        let a = p.admit().await;
        let sent = a.sent_at();
        a.finish(Outcome::Answered);
        p.throttled_after(sent, Some(Duration::from_secs(2)));
        let s = p.snapshot();
        assert_eq!(s.throttle_events, 1);
        assert!(s.rate.is_some());
        assert_eq!(
            p.paused_until().unwrap() - Instant::now(),
            Duration::from_secs(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_admission_gives_its_place_back() {
        let p = AccountPacing::new(
            "test",
            PacingLimits {
                max_concurrency: 1,
                ..limits()
            },
        );
        drop(p.admit().await);
        let again = tokio::time::timeout(Duration::from_secs(1), p.admit()).await;
        assert!(again.is_ok());
    }
}
