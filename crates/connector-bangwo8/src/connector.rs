//! The [`Connector`] implementation: listing pages walked by page number on
//! the configured base URL, filters pushed down then applied exactly, and
//! messages and summaries fetched concurrently while keeping listing order.

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use connector_core::connector::{
    Capabilities, ChangeTracking, Connector, ConnectorInfo, ConversationStream,
};
use connector_core::model::{Conversation, Message};
use connector_core::paging::{Page, PageNumbers, fingerprint_of_set, page_numbers};
use connector_core::query::{Include, Query, TimeField};
use connector_core::registry::ResolvedConfig;
use connector_core::time::{Tz, covering_local_dates};
use connector_core::{Error, PullCounters, PullStats, Result};
use futures::stream::{self, BoxStream, StreamExt};

use crate::VENDOR;
use crate::client::{Client, HISTORIES, Listing, segment};
use crate::config::Bangwo8Config;

/// What the bangwo8 connector can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    messages: true,
    summaries: true,
    push_created: true,
    push_ended: true,
    push_agent: true,
    push_customer: true,
    push_channel: false,
    max_page_size: None,
    changes: CHANGE_TRACKING,
};

/// How a sync sees Bangwo8 change: the history holds only sessions that are
/// over and filters on their end date (`serviceend_*`), so the cursor
/// follows the end time; a session the vendor sends without an end time is
/// looked for by a second listing on the creation date. Sessions ended less
/// than seven days ago without a rating are revisited by listing their end
/// dates again (the API has no endpoint for one session); only those whose
/// record changed get their messages and summary fetched again.
pub const CHANGE_TRACKING: ChangeTracking = ChangeTracking {
    cursor: TimeField::Ended,
    created_fallback: true,
    fetch_by_id: None,
    complete_requests: 2,
    page_size: DEFAULT_PAGE_SIZE,
    rating_window_days: 7,
};

/// The page size asked for when the query names none (the API's default).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The far dates sent for the open side of a window: the API takes its date
/// filters in pairs.
const FAR_START: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
const FAR_END: NaiveDate = NaiveDate::from_ymd_opt(2099, 12, 31).expect("a valid date");

/// Reads chat sessions, their messages and service summaries from one Bangwo8 account.
///
/// `Debug` leaves the password out.
#[derive(Debug)]
pub struct Bangwo8Connector {
    info: ConnectorInfo,
    client: Client,
    zone: Tz,
    counters: Arc<PullCounters>,
}

/// Where a listing stands while it is walked.
#[derive(Debug, Default)]
struct ListingProgress {
    received: u64,
    count: Option<u64>,
    failed: bool,
}

impl Bangwo8Connector {
    /// A connector for the account `cfg` names.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty account or a bad base URL.
    pub fn new(cfg: Bangwo8Config) -> Result<Self> {
        let client = Client::new(&cfg)?;
        let info = ConnectorInfo {
            vendor: VENDOR,
            account: cfg.account.clone(),
            base_url: client.http.base_url().to_string(),
            capabilities: CAPABILITIES,
        };
        Ok(Self {
            info,
            client,
            zone: cfg.timezone,
            counters: Arc::default(),
        })
    }

    /// A connector from the registry's resolved key/values.
    ///
    /// # Errors
    /// [`Error::Config`] naming the missing or invalid field.
    pub fn from_config(cfg: &ResolvedConfig) -> Result<Self> {
        Self::new(Bangwo8Config::from_resolved(cfg)?)
    }

    /// The listing's path and the pushed-down parameters for a query.
    ///
    /// An agent filter that is an agent id (all digits, as the API's ids are)
    /// selects the agent's own listing; any other agent value cannot match a
    /// Bangwo8 session (which carries no agent e-mail) and is left to the
    /// exact client-side filter. A time window becomes the covering local
    /// dates (end day inclusive), always as a start/end pair.
    fn pushdown(&self, query: &Query) -> (String, Vec<(String, String)>) {
        pushdown(query, self.zone)
    }

    /// Walks a listing to its end (or to the first error), counting pages and
    /// the reported total.
    fn listing<'a>(
        &'a self,
        path: String,
        params: Vec<(String, String)>,
        per_page: u32,
        skip_bad_records: bool,
    ) -> BoxStream<'a, Result<Conversation>> {
        let walk = Arc::new(Mutex::new(ListingProgress::default()));
        let w = walk.clone();
        let endpoint = path.clone();
        let opts = PageNumbers {
            vendor: VENDOR,
            first: 1,
            per_page,
            short_page_ends: false,
        };
        let pages = page_numbers(opts, endpoint, move |n| {
            let (path, params, w) = (path.clone(), params.clone(), w.clone());
            async move {
                let listing = Listing {
                    path: &path,
                    params: &params,
                    account: &self.info.account,
                    zone: self.zone,
                    skip_bad_records,
                };
                let page = self.client.histories(&listing, n, per_page).await?;
                let received = page.conversations.len() + page.rejected.len();
                // The sessions set aside keep their place at the page's end.
                let convs: Vec<Result<Conversation>> = page
                    .conversations
                    .into_iter()
                    .map(Ok)
                    .chain(page.rejected.into_iter().map(Err))
                    .collect();
                self.counters.page(received);
                let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                w.received += received as u64;
                w.count = page.count.or(w.count);
                // Counting what arrived (rather than page × per_page) stays
                // right if the server serves fewer than asked per page.
                let has_next = page.has_next_link && w.count.is_none_or(|c| w.received < c);
                // Order-insensitive: a page repeated shuffled is still a repeat.
                let fp = fingerprint_of_set(convs.iter().map(|c| match c {
                    Ok(c) => c.id.clone(),
                    Err(e) => e.to_string(),
                }));
                Ok(Page {
                    has_next: Some(has_next),
                    ..Page::new(n, convs, fp)
                })
            }
        });
        let w = walk.clone();
        let items = pages.flat_map(move |page| match page {
            Ok(p) => stream::iter(p.items).left_stream(),
            Err(e) => {
                w.lock().unwrap_or_else(|p| p.into_inner()).failed = true;
                stream::once(std::future::ready(Err(e))).right_stream()
            }
        });
        let counters = self.counters.clone();
        let listing_name = self.listing_name();
        let end = stream::once(async move {
            let w = walk.lock().unwrap_or_else(|p| p.into_inner());
            if let (false, Some(count)) = (w.failed, w.count) {
                counters.reported_total(count);
                if w.received != count {
                    counters.shortfall(format!(
                        "{listing_name}: the vendor reported {count} sessions, {} were listed",
                        w.received
                    ));
                }
            }
        })
        .filter_map(|()| std::future::ready(None));
        items.chain(end).boxed()
    }

    fn listing_name(&self) -> String {
        format!("{VENDOR} {} listing", self.info.account)
    }

    /// Every message of one session, all pages, in vendor order.
    async fn messages(&self, r_id: &str) -> Result<Vec<Message>> {
        let count = Arc::new(Mutex::new(None::<u64>));
        let received = Arc::new(Mutex::new(0u64));
        let (c, r) = (count.clone(), received.clone());
        let endpoint = format!("/api/v1/imchat/chatrecords/{}.json", segment(r_id));
        let opts = PageNumbers {
            vendor: VENDOR,
            first: 1,
            per_page: DEFAULT_PAGE_SIZE,
            short_page_ends: false,
        };
        let pages = page_numbers(opts, endpoint, move |n| {
            let (c, r) = (c.clone(), r.clone());
            async move {
                let page = self
                    .client
                    .chatrecords(r_id, n, DEFAULT_PAGE_SIZE, self.zone)
                    .await?;
                let mut count = c.lock().unwrap_or_else(|p| p.into_inner());
                *count = page.count.or(*count);
                let mut received = r.lock().unwrap_or_else(|p| p.into_inner());
                *received += page.messages.len() as u64;
                let has_next = page.has_next_link && count.is_none_or(|c| *received < c);
                Ok(Page {
                    has_next: Some(has_next),
                    ..Page::new(n, page.messages, page.fingerprint)
                })
            }
        });
        let mut all = Vec::new();
        let mut pages = pages;
        while let Some(page) = pages.next().await {
            all.extend(page?.items);
        }
        let reported = *count.lock().unwrap_or_else(|p| p.into_inner());
        self.counters.messages(r_id, all.len(), reported);
        Ok(all)
    }

    /// [`Bangwo8Connector::complete_session`]; with `skip_bad_records`,
    /// messages or a summary that do not decode set the session aside
    /// ([`Error::Rejected`], with the session's record).
    async fn complete_listed(
        &self,
        c: Conversation,
        include: Include,
        skip_bad_records: bool,
    ) -> Result<Conversation> {
        let raw = skip_bad_records.then(|| c.raw.clone());
        match (self.complete_session(c, include).await, raw) {
            (Err(e), Some(raw)) if e.is_bad_record() => {
                Err(e.rejected(&self.client.http.scrub(raw.get())))
            }
            (other, _) => other,
        }
    }

    /// Adds messages and the summary to a listed conversation, as asked.
    async fn complete_session(
        &self,
        mut c: Conversation,
        include: Include,
    ) -> Result<Conversation> {
        let id = c.id.clone();
        let messages = async {
            if include.messages {
                Some(self.messages(&id).await)
            } else {
                None
            }
        };
        let summary = async {
            if include.summaries {
                Some(self.client.summary(&id).await)
            } else {
                None
            }
        };
        let (messages, summary) = futures::join!(messages, summary);
        if let Some(m) = messages {
            c.set_messages(m?);
        }
        if let Some(s) = summary {
            c.summary = s?;
        }
        Ok(c)
    }
}

fn pushdown(query: &Query, zone: Tz) -> (String, Vec<(String, String)>) {
    let mut params = Vec::new();
    let path = match query.agent.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) => {
            format!("/api/v1/imchat/histories/{a}.json")
        }
        _ => HISTORIES.to_owned(),
    };
    if let Some(customer) = query.customer.as_deref().filter(|c| !c.trim().is_empty()) {
        params.push(("uname".to_owned(), customer.to_owned()));
    }
    let w = query.window;
    if w.is_bounded() {
        let (first, last) = covering_local_dates(w.since, w.until, zone);
        let start = first.unwrap_or_else(|| last.map_or(FAR_START, |l| l.min(FAR_START)));
        let end = last.unwrap_or_else(|| first.map_or(FAR_END, |f| f.max(FAR_END)));
        let (s, e) = match w.field {
            TimeField::Created => ("servicestart_start", "servicestart_end"),
            TimeField::Ended => ("serviceend_start", "serviceend_end"),
        };
        params.push((s.to_owned(), start.format("%Y-%m-%d").to_string()));
        params.push((e.to_owned(), end.format("%Y-%m-%d").to_string()));
    }
    (path, params)
}

#[async_trait::async_trait]
impl Connector for Bangwo8Connector {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a> {
        if let Err(e) = query.validate() {
            return stream::once(std::future::ready(Err(e))).boxed();
        }
        let (path, params) = self.pushdown(query);
        let per_page = query.page_size_or(DEFAULT_PAGE_SIZE, u32::MAX);
        let skip = query.skips_bad_records();
        // The exact filter and the limit come before messages are fetched, so
        // nothing is fetched for a session that will not be returned.
        let listed = query.apply(self.listing(path, params, per_page, skip));
        let include = query.include;
        if !include.messages && !include.summaries {
            return listed.boxed();
        }
        let in_flight = self.client.http.settings().max_in_flight.max(1);
        listed
            .map(move |r| async move {
                match r {
                    Ok(c) => self.complete_listed(c, include, skip).await,
                    Err(e) => Err(e),
                }
            })
            .buffered(in_flight)
            .boxed()
    }

    async fn conversation(&self, id: &str, include: Include) -> Result<Conversation> {
        // The API has no endpoint for one session: walk the listing (in
        // ascending id order) until it shows up or numeric ids pass it.
        let target: Option<u64> = id.trim().parse().ok();
        let mut listing = self.listing(HISTORIES.to_owned(), Vec::new(), DEFAULT_PAGE_SIZE, false);
        while let Some(item) = listing.next().await {
            let c = item?;
            if c.id == id {
                drop(listing);
                return self.complete_session(c, include).await;
            }
            if let (Some(t), Ok(seen)) = (target, c.id.trim().parse::<u64>())
                && seen > t
            {
                break;
            }
        }
        Err(Error::Api {
            vendor: VENDOR,
            endpoint: HISTORIES.to_owned(),
            page: 0,
            status: 404,
            code: None,
            message: format!("no session with r_id `{id}` in the listing"),
        })
    }

    /// The session's messages and summary, fetched for the listed session:
    /// never a walk of the listing, unlike [`Connector::conversation`].
    async fn complete(&self, conversation: Conversation, include: Include) -> Result<Conversation> {
        self.complete_session(conversation, include).await
    }

    fn seed_rate(&self, rate: f64) {
        self.client.http.seed_rate(rate);
    }

    fn stats(&self) -> PullStats {
        self.counters.snapshot(self.client.http.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn params(q: &Query) -> (String, Vec<String>) {
        let (path, p) = pushdown(q, "Asia/Shanghai".parse().unwrap());
        (
            path,
            p.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )
    }

    #[test]
    fn windows_become_covering_local_date_pairs() {
        // 2017-08-20T16:00Z is 2017-08-21 00:00 in Shanghai; until is exclusive.
        let q = Query::new().created(
            Some(utc("2017-08-20T16:00:00Z")),
            Some(utc("2017-08-28T16:00:00Z")),
        );
        assert_eq!(
            params(&q).1,
            [
                "servicestart_start=2017-08-21",
                "servicestart_end=2017-08-28"
            ]
        );
        let q = Query::new().ended(Some(utc("2017-08-20T15:59:59Z")), None);
        assert_eq!(
            params(&q).1,
            ["serviceend_start=2017-08-20", "serviceend_end=2099-12-31"]
        );
        let q = Query::new().ended(None, Some(utc("2017-08-28T16:00:01Z")));
        assert_eq!(
            params(&q).1,
            ["serviceend_start=2000-01-01", "serviceend_end=2017-08-29"]
        );
        let q = Query::new().created(None, Some(utc("1999-05-01T00:00:00Z")));
        assert_eq!(
            params(&q).1,
            [
                "servicestart_start=1999-05-01",
                "servicestart_end=1999-05-01"
            ]
        );
        assert!(params(&Query::new()).1.is_empty());
    }

    #[test]
    fn agent_and_customer_filters() {
        let q = Query {
            agent: Some("2321".into()),
            customer: Some("u3_o2".into()),
            ..Query::new()
        };
        assert_eq!(
            params(&q),
            (
                "/api/v1/imchat/histories/2321.json".into(),
                vec!["uname=u3_o2".into()]
            )
        );
        let q = Query {
            agent: Some("a@b.c".into()),
            ..Query::new()
        };
        assert_eq!(params(&q).0, HISTORIES);
    }
}
