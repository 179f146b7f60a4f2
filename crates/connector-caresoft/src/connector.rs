//! The CareSoft [`Connector`]: lists `GET /api/v1/chats` once per configured
//! conversation type (0, then 1, then 3), pushes down what the API filters,
//! then applies the whole query exactly on the client.

use std::future::ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::Duration;
use connector_core::paging::{Page, PageNumbers, fingerprint_of_set, page_numbers};
use connector_core::registry::ResolvedConfig;
use connector_core::{
    Capabilities, Connector, ConnectorInfo, Conversation, ConversationStream, Error, Include,
    PullCounters, PullStats, Query, Result,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::VENDOR;
use crate::client::{CHATS, Client, Filters, TimeFilter};
use crate::config::{CaresoftConfig, ConversationType};

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
            account: client.account.clone(),
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

    /// The pages of one type's listing, as conversations; when the listing
    /// ends, its `numFound` is recorded and compared with what was listed.
    fn type_pages<'a>(
        &'a self,
        ty: ConversationType,
        filters: Filters,
        count: u32,
    ) -> BoxStream<'a, Result<Vec<Conversation>>> {
        let listed = Arc::new(AtomicU64::new(0));
        let total = Arc::new(std::sync::Mutex::new(None::<u64>));
        let counters = self.counters.clone();
        let opts = PageNumbers {
            vendor: VENDOR,
            first: 1,
            per_page: count,
            short_page_ends: false,
        };
        let (listed_in, total_in, counters_in) = (listed.clone(), total.clone(), counters.clone());
        let pages = page_numbers(opts, CHATS.to_owned(), move |n| {
            let filters = filters.clone();
            let (listed, total, counters) =
                (listed_in.clone(), total_in.clone(), counters_in.clone());
            async move {
                let page = self.client.chats(ty, &filters, count, n).await?;
                counters.page(page.conversations.len());
                listed.fetch_add(page.conversations.len() as u64, Ordering::Relaxed);
                if page.total.is_some() {
                    *total.lock().unwrap_or_else(|p| p.into_inner()) = page.total;
                }
                // Order-insensitive: a page repeated shuffled is still a repeat.
                let fp = fingerprint_of_set(page.conversations.iter().map(|c| c.id.as_str()));
                Ok(Page {
                    total: page.total,
                    ..Page::new(n, page.conversations, fp)
                })
            }
        });
        stream::unfold(Some(pages), move |state| {
            let (listed, total, counters) = (listed.clone(), total.clone(), counters.clone());
            async move {
                let mut pages = state?;
                match pages.next().await {
                    Some(Ok(page)) => Some((Ok(page.items), Some(pages))),
                    Some(Err(e)) => Some((Err(e), None)),
                    None => {
                        // Walked to its end: compare with the reported total.
                        let total = *total.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(t) = total {
                            counters.reported_total(t);
                            let n = listed.load(Ordering::Relaxed);
                            if n != t {
                                counters.shortfall(format!(
                                    "{CHATS} conversation_type {}: the vendor reported {t} chats (numFound), {n} were listed",
                                    ty.code()
                                ));
                            }
                        }
                        None
                    }
                }
            }
        })
        .boxed()
    }

    /// Every configured type's listing, in order, as one stream that ends
    /// after the first error.
    fn listing<'a>(&'a self, plan: Plan) -> BoxStream<'a, Result<Conversation>> {
        let Plan {
            types,
            filters,
            count,
            ..
        } = plan;
        let pages =
            stream::iter(types).flat_map(move |ty| self.type_pages(ty, filters.clone(), count));
        // Stop after an error without polling the next type's listing.
        let pages = stream::unfold((pages, false), |(mut pages, failed)| async move {
            if failed {
                return None;
            }
            let item = pages.next().await?;
            let failed = item.is_err();
            Some((item, (pages, failed)))
        });
        pages
            .flat_map(|page| match page {
                Ok(items) => stream::iter(items.into_iter().map(Ok)).left_stream(),
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
        exact.apply(self.listing(plan)).boxed()
    }

    async fn conversation(&self, id: &str, include: Include) -> Result<Conversation> {
        self.warn_unsupported(include);
        let filters = Filters {
            conversation_id: Some(id.to_owned()),
            ..Filters::default()
        };
        for &ty in &self.config.conversation_types {
            let found = self
                .type_pages(ty, filters.clone(), MAX_PAGE_SIZE)
                .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
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
