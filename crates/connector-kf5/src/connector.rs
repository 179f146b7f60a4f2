//! The KF5 [`Connector`]: lists `/apiv2/chats.json` page by page, pushes the
//! customer and a widened creation-date window down, filters exactly on the
//! client, and takes messages from the list item or, when it has none, from
//! `/apiv2/chats/{id}.json`, fetched concurrently in listing order.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use connector_core::paging::{Page, PageNumbers, fingerprint_of_set, page_numbers};
use connector_core::registry::ResolvedConfig;
use connector_core::time::{covering_local_dates, widen_dates};
use connector_core::{
    Connector, ConnectorInfo, Conversation, ConversationStream, Include, PullCounters, PullStats,
    Query, Result, TimeField,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::client::{Kf5Client, LIST_ENDPOINT, Stamp};
use crate::config::Kf5Config;
use crate::normalize::ListedChat;
use crate::{CAPABILITIES, VENDOR};

/// The page size KF5 documents as its default; also the largest page size
/// for which a short page may be trusted to mean "the end".
pub const DEFAULT_PER_PAGE: u32 = 100;

/// The largest page size asked for (KF5 documents no maximum; servers cap
/// silently, which the paging copes with).
pub const MAX_PER_PAGE: u32 = 1000;

/// Reads KF5 Kchat history.
#[derive(Debug)]
pub struct Kf5Connector {
    info: ConnectorInfo,
    config: Kf5Config,
    client: Kf5Client,
    counters: Arc<PullCounters>,
}

/// A listed chat, before its messages are fetched.
type Listed = ListedChat;

impl Kf5Connector {
    /// A connector for a typed configuration.
    ///
    /// # Errors
    /// [`connector_core::Error::Config`] for an invalid configuration.
    pub fn new(config: Kf5Config) -> Result<Self> {
        config.validate()?;
        let account = config.account();
        let client = Kf5Client::new(&config, &account)?;
        let info = ConnectorInfo {
            vendor: VENDOR,
            account,
            base_url: client.http.base_url().to_string(),
            capabilities: CAPABILITIES,
        };
        Ok(Self {
            info,
            config,
            client,
            counters: Arc::default(),
        })
    }

    /// A connector from the registry's resolved key/values.
    ///
    /// # Errors
    /// [`connector_core::Error::Config`] naming the missing or invalid field.
    pub fn from_config(cfg: &ResolvedConfig) -> Result<Self> {
        Self::new(Kf5Config::from_resolved(cfg)?)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Kf5Config {
        &self.config
    }

    /// The listings walked for a query, each as the query parameters pushed
    /// down to `/apiv2/chats.json`.
    ///
    /// A creation window goes down as the covering local dates widened by a
    /// day on each side (the docs say neither the zone nor whether `end` is
    /// inclusive); an end-time window is not pushed down. A customer filter
    /// may be a visitor id or a linked user id, both numbers: an all-digit
    /// one is listed twice, as `visitor_id` and as `user_id` (the two
    /// listings are merged by ascending id, without duplicates); any other
    /// customer filter cannot match a numeric id on the server and is only
    /// applied on the client.
    pub fn push_down(&self, query: &Query) -> Vec<Vec<(String, String)>> {
        let window = self.window_params(query);
        match query.customer.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) => {
                ["visitor_id", "user_id"]
                    .into_iter()
                    .map(|key| {
                        let mut params = vec![(key.to_owned(), c.to_owned())];
                        params.extend(window.iter().cloned());
                        params
                    })
                    .collect()
            }
            _ => vec![window],
        }
    }

    fn window_params(&self, query: &Query) -> Vec<(String, String)> {
        let mut params = Vec::new();
        let w = query.window;
        if w.field == TimeField::Created && w.is_bounded() {
            let (start, end) = widen_dates(
                covering_local_dates(w.since, w.until, self.config.timezone),
                1,
            );
            if let Some(d) = start {
                params.push(("start".to_owned(), d.format("%Y-%m-%d").to_string()));
            }
            if let Some(d) = end {
                params.push(("end".to_owned(), d.format("%Y-%m-%d").to_string()));
            }
        }
        params
    }

    fn stamp(&self, with_messages: bool) -> Stamp<'_> {
        Stamp {
            account: &self.info.account,
            zone: self.config.timezone,
            with_messages,
        }
    }

    async fn page(
        &self,
        params: &[(String, String)],
        n: u32,
        per_page: u32,
        with_messages: bool,
    ) -> Result<Page<Listed>> {
        let stamp = self.stamp(with_messages);
        let listed = self.client.list_page(params, n, per_page, stamp).await?;
        self.counters.page(listed.len());
        // Order-insensitive: a page repeated shuffled is still a repeat.
        let fingerprint = fingerprint_of_set(listed.iter().map(|l| l.conversation.id.as_str()));
        Ok(Page::new(n, listed, fingerprint))
    }

    fn list<'a>(&'a self, query: &Query) -> BoxStream<'a, Result<Listed>> {
        let per_page = query.page_size_or(DEFAULT_PER_PAGE, MAX_PER_PAGE);
        let with_messages = query.include.messages;
        let mut listings = self
            .push_down(query)
            .into_iter()
            .map(|params| self.listing(params, per_page, with_messages));
        match (listings.next(), listings.next()) {
            (Some(a), Some(b)) => merge_by_id(a, b),
            (Some(a), None) => a,
            _ => stream::empty().boxed(),
        }
    }

    fn listing<'a>(
        &'a self,
        params: Vec<(String, String)>,
        per_page: u32,
        with_messages: bool,
    ) -> BoxStream<'a, Result<Listed>> {
        let opts = PageNumbers {
            vendor: VENDOR,
            first: 1,
            per_page,
            // Past the documented default a server may cap the page size
            // silently, so only an empty page ends the listing.
            short_page_ends: per_page <= DEFAULT_PER_PAGE,
        };
        page_numbers(opts, LIST_ENDPOINT.to_owned(), move |n| {
            let params = params.clone();
            async move { self.page(&params, n, per_page, with_messages).await }
        })
        .flat_map(|page| match page {
            Ok(p) => stream::iter(p.items.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async move { Err(e) }).right_stream(),
        })
        .boxed()
    }

    /// Adds the messages to a listed chat when they are wanted.
    async fn complete(&self, listed: Listed, include: Include) -> Result<Conversation> {
        let ListedChat {
            mut conversation,
            messages,
        } = listed;
        if !include.messages {
            return Ok(conversation);
        }
        let messages = match messages {
            // The list item carried them.
            Some(messages) => messages?,
            None => {
                let (ctx, detail) = self.client.chat(&conversation.id, self.stamp(true)).await?;
                if detail.conversation.id != conversation.id {
                    return Err(ctx.field(
                        "chat.id",
                        format!(
                            "is `{}`, expected `{}`",
                            detail.conversation.id, conversation.id
                        ),
                    ));
                }
                detail.messages.unwrap_or(Ok(Vec::new()))?
            }
        };
        self.counters
            .messages(&conversation.id, messages.len(), None);
        conversation.set_messages(messages);
        Ok(conversation)
    }
}

/// Merges two listings in ascending id order (KF5 lists by ascending id),
/// dropping a chat both listed; an error ends the merged stream, as it ends
/// a single listing.
fn merge_by_id<'a>(
    a: BoxStream<'a, Result<Listed>>,
    b: BoxStream<'a, Result<Listed>>,
) -> BoxStream<'a, Result<Listed>> {
    fn key(l: &Listed) -> (u64, &str) {
        let id = l.conversation.id.as_str();
        (id.parse().unwrap_or(u64::MAX), id)
    }
    let state = (a.peekable(), b.peekable(), HashSet::new(), false);
    stream::unfold(state, |(mut a, mut b, mut seen, done)| async move {
        if done {
            return None;
        }
        loop {
            let take_a = match (Pin::new(&mut a).peek().await, Pin::new(&mut b).peek().await) {
                (None, None) => return None,
                (Some(_), None) | (Some(Err(_)), _) => true,
                (None, Some(_)) | (_, Some(Err(_))) => false,
                (Some(Ok(x)), Some(Ok(y))) => key(x) <= key(y),
            };
            let item = if take_a {
                a.next().await
            } else {
                b.next().await
            }?;
            match &item {
                Ok(l) if !seen.insert(l.conversation.id.clone()) => continue,
                Ok(_) => return Some((item, (a, b, seen, false))),
                Err(_) => return Some((item, (a, b, seen, true))),
            }
        }
    })
    .boxed()
}

#[connector_core::async_trait]
impl Connector for Kf5Connector {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a> {
        if let Err(e) = query.validate() {
            return stream::once(async move { Err(e) }).boxed();
        }
        let q = query.clone();
        let include = query.include;
        let limit = query
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let in_flight = self.client.http.settings().max_in_flight.max(1);
        // The window counts chats, not requests: a list item that carries its
        // messages needs no request yet holds a slot, so the window is wider
        // than the in-flight bound (the HTTP client's semaphore still caps
        // the requests in flight).
        let window = in_flight.saturating_mul(4);
        // Filter and limit before fetching messages: no request for a chat
        // that will not be returned. `buffered` keeps the listing order.
        let pulled = self
            .list(query)
            .try_filter(move |l| std::future::ready(q.matches(&l.conversation)))
            .take(limit)
            .map(move |r| async move {
                match r {
                    Ok(listed) => self.complete(listed, include).await,
                    Err(e) => Err(e),
                }
            })
            .buffered(window);
        query.apply(pulled).boxed()
    }

    async fn conversation(&self, id: &str, include: Include) -> Result<Conversation> {
        let (_, detail) = self.client.chat(id, self.stamp(include.messages)).await?;
        let ListedChat {
            mut conversation,
            messages,
        } = detail;
        if include.messages {
            let messages = messages.unwrap_or(Ok(Vec::new()))?;
            self.counters
                .messages(&conversation.id, messages.len(), None);
            conversation.set_messages(messages);
        }
        Ok(conversation)
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

    fn connector() -> Kf5Connector {
        Kf5Connector::new(Kf5Config::new("acme", "a@x.cn", "pw")).unwrap()
    }

    #[test]
    fn created_windows_push_down_widened_local_dates() {
        let c = connector();
        // [2017-08-20 00:00, 2017-08-29 00:00) in Shanghai: dates 20..=28, widened to 19..=29.
        let q = Query::new().created(
            Some(utc("2017-08-19T16:00:00Z")),
            Some(utc("2017-08-28T16:00:00Z")),
        );
        let p = c.push_down(&q);
        assert_eq!(
            p,
            [vec![
                ("start".to_owned(), "2017-08-19".to_owned()),
                ("end".to_owned(), "2017-08-29".to_owned())
            ]]
        );
    }

    #[test]
    fn a_numeric_customer_is_listed_as_visitor_and_as_user() {
        let c = connector();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let q = Query {
            customer: Some("547".into()),
            ..Query::new().created(None, Some(utc("2017-08-28T16:00:00Z")))
        };
        assert_eq!(
            c.push_down(&q),
            [
                vec![pair("visitor_id", "547"), pair("end", "2017-08-29")],
                vec![pair("user_id", "547"), pair("end", "2017-08-29")]
            ]
        );
        let q = Query {
            customer: Some("visitor-abc".into()),
            ..Query::new()
        };
        assert_eq!(c.push_down(&q), [Vec::<(String, String)>::new()]);
    }

    #[test]
    fn end_windows_push_nothing() {
        let q = Query::new().ended(
            Some(utc("2017-08-19T16:00:00Z")),
            Some(utc("2017-08-28T16:00:00Z")),
        );
        assert_eq!(connector().push_down(&q), [Vec::<(String, String)>::new()]);
    }

    #[test]
    fn info_names_account_and_base_url() {
        let c = connector();
        assert_eq!(
            (c.info().vendor, c.info().account.as_str()),
            ("kf5", "acme")
        );
        assert_eq!(c.info().base_url, "https://acme.kf5.com/");
        assert!(c.info().capabilities.messages && !c.info().capabilities.summaries);
    }
}
