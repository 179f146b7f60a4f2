//! The CareSoft [`Connector`]: lists `GET /api/v1/chats` once per configured
//! conversation type (0, then 1, then 3), pushes down what the API filters,
//! then applies the whole query exactly on the client.

use std::collections::{HashMap, VecDeque};
use std::future::ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use async_trait::async_trait;
use chrono::Duration;
use connector_core::paging::fingerprint_of_set;
use connector_core::registry::ResolvedConfig;
use connector_core::{
    Capabilities, ChangeTracking, Connector, ConnectorInfo, Conversation, ConversationStream,
    Error, Include, PullCounters, PullStats, Query, Result,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::VENDOR;
use crate::client::{CHATS, Client, Filters, TimeFilter};
use crate::config::{CaresoftConfig, ConversationType};
use crate::normalize::ChatsPage;

/// The largest page the API serves (`count`, "Tối đa 500").
pub const MAX_PAGE_SIZE: u32 = 500;

/// What the CareSoft connector can do: no messages and no summaries (the API
/// documents none); every filter of the model is pushed down.
pub const CAPABILITIES: Capabilities = Capabilities {
    messages: false,
    summaries: false,
    push_created: true,
    push_ended: true,
    push_agent: true,
    push_customer: true,
    push_channel: true,
    max_page_size: Some(MAX_PAGE_SIZE),
    changes: CHANGE_TRACKING,
};

/// How a sync sees CareSoft change: the chat history lists a chat once it
/// is over and filters on its end time (`end_time_since`), so the cursor
/// follows the end time. A listed chat is final (the API has no ratings and
/// no messages), so nothing is revisited. One chat by id is a listing
/// filtered on `conversation_id`, per configured conversation type.
pub const CHANGE_TRACKING: ChangeTracking = ChangeTracking {
    cursor: connector_core::TimeField::Ended,
    created_fallback: false,
    fetch_by_id: Some(3),
    complete_requests: 0,
    page_size: MAX_PAGE_SIZE,
    rating_window_days: 0,
};

/// How a query is served: which types are listed, what is pushed down, the
/// page size, and the exact client-side filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The conversation types to list, in order.
    pub types: Vec<ConversationType>,
    /// The filters sent with every listing request.
    pub filters: Filters,
    /// `count`.
    pub count: u32,
    /// The query applied on the client. An all-digit agent filter is an agent
    /// id, which CareSoft's records do not carry: it is trusted to the server
    /// (`assignees[]`) and left out here.
    pub exact: Query,
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl Plan {
    pub fn new(query: &Query, configured: &[ConversationType]) -> Self {
        let types = match &query.channel {
            None => configured.to_vec(),
            Some(channel) => match ConversationType::for_channel(channel) {
                Some(t) if configured.contains(&t) => vec![t],
                _ => Vec::new(),
            },
        };
        // The docs do not say whether the server reads the `Z` as UTC or as
        // local time: widen by a day on each side, filter exactly here.
        let day = Duration::days(1);
        let time = query.window.is_bounded().then(|| TimeFilter {
            field: query.window.field,
            since: query.window.since.and_then(|s| s.checked_sub_signed(day)),
            until: query.window.until.and_then(|u| u.checked_add_signed(day)),
        });
        let assignee = query.agent.clone().filter(|a| all_digits(a));
        let customer = query.customer.clone().filter(|c| all_digits(c));
        let mut exact = query.clone();
        if assignee.is_some() {
            exact.agent = None;
        }
        Self {
            types,
            filters: Filters {
                time,
                assignee,
                customer,
                conversation_id: None,
            },
            count: query.page_size_or(MAX_PAGE_SIZE, MAX_PAGE_SIZE),
            exact,
        }
    }
}

/// Reads CareSoft chat history (live chat, Facebook inbox, Zalo).
///
/// `Debug` never shows the token.
#[derive(Debug)]
pub struct CaresoftConnector {
    info: ConnectorInfo,
    config: CaresoftConfig,
    client: Client,
    counters: Arc<PullCounters>,
    warned_messages: AtomicBool,
    warned_summaries: AtomicBool,
}

impl CaresoftConnector {
    /// A connector for `config`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: no domain nor base URL, a bad
    /// domain or base URL, no conversation type, a token that cannot go in a header.
    pub fn new(config: CaresoftConfig) -> Result<Self> {
        config.validate()?;
        let client = Client::new(&config)?;
        let info = ConnectorInfo {
            vendor: VENDOR,
            account: client.account.to_string(),
            base_url: client.http.base_url().to_string(),
            capabilities: CAPABILITIES,
        };
        Ok(Self {
            info,
            config,
            client,
            counters: Arc::default(),
            warned_messages: AtomicBool::new(false),
            warned_summaries: AtomicBool::new(false),
        })
    }

    /// A connector from resolved key/values (what the registry builds).
    ///
    /// # Errors
    /// As [`CaresoftConfig::from_resolved`] and [`CaresoftConnector::new`].
    pub fn from_config(cfg: &ResolvedConfig) -> Result<Self> {
        Self::new(CaresoftConfig::from_resolved(cfg)?)
    }

    /// The configuration in force.
    pub fn config(&self) -> &CaresoftConfig {
        &self.config
    }

    fn warn_unsupported(&self, include: Include) {
        if include.messages && !self.warned_messages.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                vendor = VENDOR,
                "CareSoft's API documents no messages endpoint: conversations come without messages (messages_fetched = false)"
            );
        }
        if include.summaries && !self.warned_summaries.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                vendor = VENDOR,
                "CareSoft's API documents no service summaries: summaries stay absent"
            );
        }
    }

    /// Fetches one listing page, tagged with its number.
    async fn fetch_page(
        &self,
        ty: ConversationType,
        filters: Arc<Filters>,
        count: u32,
        n: u32,
        skip_bad_records: bool,
    ) -> (u32, Result<ChatsPage>) {
        (
            n,
            self.client
                .chats(ty, &filters, count, n, skip_bad_records)
                .await,
        )
    }

    /// The pages of one type's listing, as conversations, in page order.
    ///
    /// Page 1 comes first; once it reports `numFound`, page 2, then pages
    /// `3..=ceil(numFound / count)` up to `ahead` at a time (the HTTP
    /// client's in-flight bound applies on top), then any further page one
    /// at a time. Without `numFound`, pages follow one at a time until
    /// an empty one. The stop rules, the order-insensitive repeated-page
    /// check and the counters are applied in page order, so what is yielded
    /// does not depend on `ahead`; only pages fetched ahead past a stop are
    /// extra requests. When the listing ends, its `numFound` is recorded and
    /// compared with what was listed. An error is the last item.
    fn type_pages<'a>(
        &'a self,
        ty: ConversationType,
        filters: Filters,
        count: u32,
        ahead: usize,
        skip_bad_records: bool,
    ) -> BoxStream<'a, Result<Vec<Result<Conversation>>>> {
        type Source<'a> = BoxStream<'a, (u32, Result<ChatsPage>)>;
        struct TypeListing<'a> {
            source: Source<'a>,
            /// Page 1 is pending: the rest is planned once it arrives.
            first: bool,
            /// Every page's fingerprint and number so far.
            seen: HashMap<u64, u32>,
            listed: u64,
            total: Option<u64>,
            /// The last page was yielded (`Some(true)`: compare with the
            /// total first) or an error was (`Some(false)`).
            ended: Option<bool>,
        }
        let filters = Arc::new(filters);
        let ahead = ahead.max(1);
        let fetch = move |n: u32| self.fetch_page(ty, filters.clone(), count, n, skip_bad_records);
        let walk = TypeListing {
            source: stream::once(fetch.clone()(1)).boxed(),
            first: true,
            seen: HashMap::new(),
            listed: 0,
            total: None,
            ended: None,
        };
        stream::unfold(walk, move |mut w| {
            let fetch = fetch.clone();
            async move {
                let finish = |w: &TypeListing<'_>| {
                    // Walked to its end: compare with the reported total.
                    if let Some(t) = w.total {
                        self.counters.reported_total(t);
                        if w.listed != t {
                            self.counters.shortfall(format!(
                                "{CHATS} conversation_type {}: the vendor reported {t} chats (numFound), {} were listed",
                                ty.code(),
                                w.listed
                            ));
                        }
                    }
                };
                match w.ended {
                    Some(true) => {
                        finish(&w);
                        return None;
                    }
                    Some(false) => return None,
                    None => {}
                }
                let Some((n, page)) = w.source.next().await else {
                    finish(&w);
                    return None;
                };
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        w.ended = Some(false);
                        return Some((Err(e), w));
                    }
                };
                let received = page.conversations.len() + page.rejected.len();
                self.counters.page(received);
                w.listed += received as u64;
                if page.total.is_some() {
                    w.total = page.total;
                }
                if received == 0 {
                    finish(&w);
                    return None;
                }
                // Order-insensitive: a page repeated shuffled is still a repeat
                // (a record set aside counts by its error's text).
                let fp = fingerprint_of_set(
                    page.conversations
                        .iter()
                        .map(|c| c.id.clone())
                        .chain(page.rejected.iter().map(|e| e.to_string())),
                );
                if let Some(&prev) = w.seen.get(&fp) {
                    w.ended = Some(false);
                    let err = Error::Paging {
                        vendor: VENDOR,
                        endpoint: CHATS.to_owned(),
                        page: n,
                        message: format!("page {n} repeats page {prev}; stopping instead of looping"),
                    };
                    return Some((Err(err), w));
                }
                w.seen.insert(fp, n);
                let done = page
                    .total
                    .is_some_and(|t| u64::from(n) * u64::from(count) >= t)
                    || n == u32::MAX;
                if done {
                    w.ended = Some(true);
                } else if w.first {
                    w.first = false;
                    // The pages numFound promises: page 2 alone, so a
                    // server that ignores `page` is caught (page 2 repeats
                    // page 1) before anything is fetched ahead; then the
                    // rest `ahead` at a time; any page past them (a total
                    // that grew) one at a time.
                    let last = page.total.map_or(1, |t| {
                        u32::try_from(t.div_ceil(u64::from(count.max(1)))).unwrap_or(u32::MAX)
                    });
                    let second = stream::iter(2..=last.min(2)).map(fetch.clone()).buffered(1);
                    let rest = stream::iter(3..=last).map(fetch.clone()).buffered(ahead);
                    let promised = second.chain(rest);
                    let beyond = last.checked_add(1).map(|next| next..=u32::MAX);
                    let beyond = stream::iter(beyond.into_iter().flatten())
                        .map(fetch)
                        .buffered(1);
                    w.source = promised.chain(beyond).boxed();
                }
                // The records set aside keep their place at the page's end.
                let items = page
                    .conversations
                    .into_iter()
                    .map(Ok)
                    .chain(page.rejected.into_iter().map(Err))
                    .collect();
                Some((Ok(items), w))
            }
        })
        .boxed()
    }

    /// Every listed type's pages, in type order, as one stream that ends
    /// after the first error. With `ahead > 0` the later types are listed
    /// at the same time as the current one, each holding at most `ahead`
    /// pages until its turn; with 0 a type starts when the previous ends.
    fn ordered_types<'a>(
        types: Vec<BoxStream<'a, Result<Vec<Result<Conversation>>>>>,
        ahead: usize,
    ) -> BoxStream<'a, Result<Vec<Result<Conversation>>>> {
        struct HeldPages<'a> {
            pages: BoxStream<'a, Result<Vec<Result<Conversation>>>>,
            held: VecDeque<Result<Vec<Result<Conversation>>>>,
            ended: bool,
        }
        let mut types: VecDeque<HeldPages<'a>> = types
            .into_iter()
            .map(|pages| HeldPages {
                pages,
                held: VecDeque::new(),
                ended: false,
            })
            .collect();
        let mut failed = false;
        stream::poll_fn(move |cx| {
            if failed {
                return Poll::Ready(None);
            }
            loop {
                // Let the later types run ahead, within their bound.
                for listing in types.iter_mut().skip(1) {
                    while !listing.ended && listing.held.len() < ahead {
                        match listing.pages.poll_next_unpin(cx) {
                            Poll::Ready(Some(item)) => {
                                listing.ended = item.is_err();
                                listing.held.push_back(item);
                            }
                            Poll::Ready(None) => listing.ended = true,
                            Poll::Pending => break,
                        }
                    }
                }
                let Some(front) = types.front_mut() else {
                    return Poll::Ready(None);
                };
                let item = match front.held.pop_front() {
                    Some(item) => Some(item),
                    None if front.ended => None,
                    None => match front.pages.poll_next_unpin(cx) {
                        Poll::Ready(item) => item,
                        Poll::Pending => return Poll::Pending,
                    },
                };
                match item {
                    Some(item) => {
                        // Stop after an error without yielding a later type.
                        failed = item.is_err();
                        return Poll::Ready(Some(item));
                    }
                    None => {
                        types.pop_front();
                    }
                }
            }
        })
        .boxed()
    }

    /// Every configured type's listing, in order, as one stream that ends
    /// after the first error. Without a limit, pages and types are fetched
    /// concurrently up to the HTTP client's in-flight bound; with one, one
    /// page at a time, so nothing far beyond the limit is fetched.
    fn listing<'a>(&'a self, plan: Plan, limited: bool) -> BoxStream<'a, Result<Conversation>> {
        let skip = plan.exact.skips_bad_records();
        let Plan {
            types,
            filters,
            count,
            ..
        } = plan;
        let ahead = if limited {
            1
        } else {
            self.client.http.settings().max_in_flight.max(1)
        };
        let types = types
            .into_iter()
            .map(|ty| self.type_pages(ty, filters.clone(), count, ahead, skip))
            .collect();
        let pages = Self::ordered_types(types, if limited { 0 } else { ahead });
        pages
            .flat_map(|page| match page {
                Ok(items) => stream::iter(items).left_stream(),
                Err(e) => stream::once(ready(Err(e))).right_stream(),
            })
            .boxed()
    }
}

#[async_trait]
impl Connector for CaresoftConnector {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a> {
        if let Err(e) = query.validate() {
            return stream::once(ready(Err(e))).boxed();
        }
        self.warn_unsupported(query.include);
        let plan = Plan::new(query, &self.config.conversation_types);
        let exact = plan.exact.clone();
        let limited = exact.limit.is_some();
        exact.apply(self.listing(plan, limited)).boxed()
    }

    async fn conversation(&self, id: &str, include: Include) -> Result<Conversation> {
        self.warn_unsupported(include);
        let filters = Filters {
            conversation_id: Some(id.to_owned()),
            ..Filters::default()
        };
        for &ty in &self.config.conversation_types {
            let found = self
                .type_pages(ty, filters.clone(), MAX_PAGE_SIZE, 1, false)
                .map_ok(stream::iter)
                .try_flatten()
                .try_filter(|c| ready(c.id == id))
                .boxed()
                .try_next()
                .await?;
            if let Some(c) = found {
                return Ok(c);
            }
        }
        Err(Error::Api {
            vendor: VENDOR,
            endpoint: CHATS.to_owned(),
            page: 0,
            status: 404,
            code: None,
            message: format!("no conversation `{id}` among the configured conversation types"),
        })
    }

    /// A listed chat is all CareSoft gives: nothing to add (messages and
    /// summaries are not in its API).
    async fn complete(&self, conversation: Conversation, include: Include) -> Result<Conversation> {
        self.warn_unsupported(include);
        Ok(conversation)
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
    use connector_core::Channel;
    use connector_core::query::TimeField;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const ALL: &[ConversationType] = &ConversationType::ALL;

    #[test]
    fn window_is_widened_by_a_day() {
        let q = Query::new().created(
            Some(utc("2023-04-22T00:00:00Z")),
            Some(utc("2023-04-23T00:00:00Z")),
        );
        let p = Plan::new(&q, ALL);
        let params = p.filters.params();
        assert_eq!(
            params,
            [
                ("start_time_since", "2023-04-21T00:00:00Z".to_owned()),
                ("start_time_to", "2023-04-24T00:00:00Z".to_owned())
            ]
        );
        let q = Query::new().ended(None, Some(utc("2023-04-23T10:11:12Z")));
        let p = Plan::new(&q, ALL);
        assert_eq!(p.filters.time.unwrap().field, TimeField::Ended);
        assert_eq!(
            p.filters.params(),
            [("end_time_to", "2023-04-24T10:11:12Z".to_owned())]
        );
        assert!(Plan::new(&Query::new(), ALL).filters.params().is_empty());
    }

    #[test]
    fn agent_and_customer_pushdown() {
        let q = Query {
            agent: Some("42".into()),
            customer: Some("165644057".into()),
            ..Query::new()
        };
        let p = Plan::new(&q, ALL);
        assert_eq!(
            (p.filters.assignee.as_deref(), p.filters.customer.as_deref()),
            (Some("42"), Some("165644057"))
        );
        // An agent id cannot be checked on the client: trusted to the server.
        assert_eq!(p.exact.agent, None);
        assert_eq!(p.exact.customer.as_deref(), Some("165644057"));
        let q = Query {
            agent: Some("dungntt1110@gmail.com".into()),
            customer: Some("v-1".into()),
            ..Query::new()
        };
        let p = Plan::new(&q, ALL);
        assert_eq!((p.filters.assignee, p.filters.customer), (None, None));
        assert_eq!(p.exact, q);
    }

    #[test]
    fn channel_selects_types() {
        use ConversationType::*;
        let types = |ch: Option<Channel>, configured: &[ConversationType]| {
            Plan::new(
                &Query {
                    channel: ch,
                    ..Query::new()
                },
                configured,
            )
            .types
        };
        assert_eq!(types(None, ALL), [LiveChat, Facebook, Zalo]);
        assert_eq!(types(Some(Channel::Web), ALL), [LiveChat]);
        assert_eq!(types(Some(Channel::Facebook), ALL), [Facebook]);
        assert_eq!(types(Some(Channel::Zalo), ALL), [Zalo]);
        assert_eq!(types(Some(Channel::Wechat), ALL), []);
        assert_eq!(types(Some(Channel::Other("line".into())), ALL), []);
        assert_eq!(types(Some(Channel::Zalo), &[LiveChat, Facebook]), []);
        assert_eq!(types(None, &[LiveChat, Zalo]), [LiveChat, Zalo]);
    }

    #[test]
    fn page_size_is_capped_at_500() {
        assert_eq!(Plan::new(&Query::new(), ALL).count, 500);
        assert_eq!(
            Plan::new(
                &Query {
                    page_size: Some(50),
                    ..Query::new()
                },
                ALL
            )
            .count,
            50
        );
        assert_eq!(
            Plan::new(
                &Query {
                    page_size: Some(5000),
                    ..Query::new()
                },
                ALL
            )
            .count,
            500
        );
    }
}
