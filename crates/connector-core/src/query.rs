//! What to pull: a half-open UTC window on creation or end time, filters, and
//! what to include.

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Channel, Conversation};

/// Which time a window applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeField {
    /// The conversation's `created_at`.
    #[default]
    Created,
    /// The conversation's `ended_at`.
    Ended,
}

impl std::str::FromStr for TimeField {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "created" | "start" | "started" => Ok(TimeField::Created),
            "ended" | "end" => Ok(TimeField::Ended),
            other => Err(Error::Query(format!(
                "time field `{other}`: expected `created` or `ended`"
            ))),
        }
    }
}

/// A half-open window `[since, until)` on one of the conversation's times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The time the window applies to.
    pub field: TimeField,
    /// Inclusive start (UTC); `None` is unbounded.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive end (UTC); `None` is unbounded.
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether the window has a bound at all.
    pub fn is_bounded(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether an instant lies inside the window. An absent instant lies
    /// outside any bounded window.
    pub fn contains(&self, t: Option<DateTime<Utc>>) -> bool {
        if !self.is_bounded() {
            return true;
        }
        let Some(t) = t else { return false };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// What to include beyond the conversation record itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Include {
    /// Fetch the messages.
    pub messages: bool,
    /// Fetch the service summaries.
    pub summaries: bool,
}

impl Include {
    /// Messages and summaries both.
    pub const ALL: Include = Include {
        messages: true,
        summaries: true,
    };
    /// Neither.
    pub const NONE: Include = Include {
        messages: false,
        summaries: false,
    };
}

/// What a connector does with a record it cannot decode (a malformed field,
/// a record without an id, messages that do not decode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRecord {
    /// The error ends the stream (after what came before it).
    #[default]
    Fail,
    /// The stream yields an [`Error::Rejected`] in the record's place, with
    /// the record's text, and goes on with the next record. Errors that are
    /// not about one record (a page that is not the envelope, a transport
    /// failure) still end the stream.
    Skip,
}

impl std::str::FromStr for BadRecord {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "fail" => Ok(BadRecord::Fail),
            "skip" => Ok(BadRecord::Skip),
            other => Err(Error::Query(format!(
                "on_bad_record `{other}`: expected `fail` or `skip`"
            ))),
        }
    }
}

impl BadRecord {
    /// The name (`fail`, `skip`).
    pub fn as_str(self) -> &'static str {
        match self {
            BadRecord::Fail => "fail",
            BadRecord::Skip => "skip",
        }
    }
}

/// A request for conversations. Each connector pushes down what its API can
/// filter, then applies the whole query exactly on the client, so the result
/// is the same whichever vendor serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// The time window.
    pub window: Window,
    /// Only conversations handled by this agent (matched against the agent's
    /// id or e-mail).
    pub agent: Option<String>,
    /// Only conversations of this customer (matched against the customer's id
    /// or linked user id).
    pub customer: Option<String>,
    /// Only conversations on this channel.
    pub channel: Option<Channel>,
    /// What to include.
    pub include: Include,
    /// Records per page to ask the vendor for (capped at the vendor's maximum).
    pub page_size: Option<u32>,
    /// Stop after this many conversations.
    pub limit: Option<u64>,
    /// What to do with a record that cannot be decoded.
    #[serde(default)]
    pub on_bad_record: BadRecord,
}

impl Query {
    /// A query for everything, with nothing included.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the window on creation time.
    pub fn created(mut self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Self {
        self.window = Window {
            field: TimeField::Created,
            since,
            until,
        };
        self
    }

    /// Sets the window on end time.
    pub fn ended(mut self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Self {
        self.window = Window {
            field: TimeField::Ended,
            since,
            until,
        };
        self
    }

    /// Includes messages.
    pub fn with_messages(mut self, yes: bool) -> Self {
        self.include.messages = yes;
        self
    }

    /// Includes service summaries.
    pub fn with_summaries(mut self, yes: bool) -> Self {
        self.include.summaries = yes;
        self
    }

    /// Sets what to do with a record that cannot be decoded.
    pub fn on_bad_record(mut self, what: BadRecord) -> Self {
        self.on_bad_record = what;
        self
    }

    /// Whether a record that cannot be decoded is skipped (yielded as an
    /// [`Error::Rejected`]) rather than ending the stream.
    pub fn skips_bad_records(&self) -> bool {
        self.on_bad_record == BadRecord::Skip
    }

    /// Checks that the query makes sense.
    ///
    /// # Errors
    /// [`Error::Query`] for an empty or inverted window, a zero page size or a zero limit.
    pub fn validate(&self) -> Result<()> {
        if let (Some(s), Some(u)) = (self.window.since, self.window.until)
            && s >= u
        {
            return Err(Error::Query(format!(
                "the window is empty: since {s} is not before until {u}"
            )));
        }
        if self.page_size == Some(0) {
            return Err(Error::Query("page size must be at least 1".into()));
        }
        Ok(())
    }

    /// The page size to ask for: the query's, else `default`, never above `max`.
    pub fn page_size_or(&self, default: u32, max: u32) -> u32 {
        self.page_size.unwrap_or(default).clamp(1, max)
    }

    /// Whether a conversation satisfies the whole query (the exact,
    /// client-side filter every connector applies after pushing down).
    pub fn matches(&self, c: &Conversation) -> bool {
        let at = match self.window.field {
            TimeField::Created => c.created_at,
            TimeField::Ended => c.ended_at,
        };
        if !self.window.contains(at) {
            return false;
        }
        // Blanks around a filter value are not part of it (the connectors
        // push it down trimmed, so the exact filter compares it trimmed).
        if let Some(agent) = self.agent.as_deref().map(str::trim) {
            let hit = c.agent.as_ref().is_some_and(|a| {
                a.id.as_deref() == Some(agent) || a.email.as_deref() == Some(agent)
            }) || c
                .agents
                .iter()
                .any(|a| a.id.as_deref() == Some(agent) || a.email.as_deref() == Some(agent));
            if !hit {
                return false;
            }
        }
        if let Some(customer) = self.customer.as_deref().map(str::trim)
            && c.customer.id.as_deref() != Some(customer)
            && c.customer.user_id.as_deref() != Some(customer)
        {
            return false;
        }
        if let Some(channel) = &self.channel
            && c.channel.as_ref() != Some(channel)
        {
            return false;
        }
        true
    }

    /// Applies the exact filter and the limit to a stream of conversations.
    /// Errors pass through; the stream ends after `limit` matches.
    pub fn apply<'a, S>(&self, stream: S) -> impl Stream<Item = Result<Conversation>> + Send + 'a
    where
        S: Stream<Item = Result<Conversation>> + Send + 'a,
    {
        let q = self.clone();
        let limit = self.limit.map(|l| l as usize).unwrap_or(usize::MAX);
        stream
            .filter(move |r| std::future::ready(r.as_ref().map_or(true, |c| q.matches(c))))
            .take(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Agent;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn window_is_half_open() {
        let w = Window {
            field: TimeField::Created,
            since: Some(utc("2020-01-01T00:00:00Z")),
            until: Some(utc("2020-01-02T00:00:00Z")),
        };
        assert!(w.contains(Some(utc("2020-01-01T00:00:00Z"))));
        assert!(w.contains(Some(utc("2020-01-01T23:59:59Z"))));
        assert!(!w.contains(Some(utc("2020-01-02T00:00:00Z"))));
        assert!(!w.contains(None));
        assert!(Window::default().contains(None));
    }

    #[test]
    fn matches_all_filters() {
        let mut c = Conversation::new("kf5", "a", "1");
        c.created_at = Some(utc("2020-01-01T10:00:00Z"));
        c.agent = Some(Agent {
            id: Some("7".into()),
            email: Some("a@x".into()),
            ..Default::default()
        });
        c.customer.id = Some("v1".into());
        c.channel = Some(Channel::Web);
        let q = Query::new().created(Some(utc("2020-01-01T00:00:00Z")), None);
        assert!(q.matches(&c));
        assert!(
            Query {
                agent: Some("a@x".into()),
                ..q.clone()
            }
            .matches(&c)
        );
        assert!(
            !Query {
                agent: Some("8".into()),
                ..q.clone()
            }
            .matches(&c)
        );
        assert!(
            !Query {
                customer: Some("v2".into()),
                ..q.clone()
            }
            .matches(&c)
        );
        // Blanks around a filter value are not part of it.
        assert!(
            Query {
                agent: Some(" 7 ".into()),
                customer: Some("v1 ".into()),
                ..q.clone()
            }
            .matches(&c)
        );
        assert!(
            !Query {
                channel: Some(Channel::Zalo),
                ..q.clone()
            }
            .matches(&c)
        );
        assert!(
            !Query::new()
                .ended(Some(utc("2020-01-01T00:00:00Z")), None)
                .matches(&c)
        );
    }

    #[test]
    fn validate_rejects_empty_windows() {
        let t = utc("2020-01-01T00:00:00Z");
        assert!(Query::new().created(Some(t), Some(t)).validate().is_err());
        assert!(
            Query {
                page_size: Some(0),
                ..Query::new()
            }
            .validate()
            .is_err()
        );
    }
}
