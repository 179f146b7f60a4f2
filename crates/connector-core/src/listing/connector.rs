//! [`ListingConnector`]: a [`Connector`] made of a [`Vendor`] and the
//! engine; [`Api`]: what a vendor's hooks fetch pages with.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::ready;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use url::Url;

use super::pages::{PageRequest, PageSource, ReadAhead, Sequence, pages_in_order};
use super::vendor::{Combine, Listed, Listing, Vendor, VendorConfig};
use super::{Endpoint, ListEndpoint, Paging, decode_page_with};
use crate::connector::{Connector, ConnectorInfo, ConversationStream};
use crate::decode::PageRef;
use crate::error::{Error, Result};
use crate::http::{HttpClient, Request};
use crate::lenient::clip;
use crate::model::Conversation;
use crate::paging::Page;
use crate::query::{BadRecord, Include, Query};
use crate::registry::ResolvedConfig;
use crate::stats::{PullCounters, PullStats};

/// What a vendor's hooks fetch with: the connector's HTTP client, its
/// counters, and the engine's page listings.
pub struct Api {
    vendor: &'static str,
    http: HttpClient,
    counters: Arc<PullCounters>,
    /// The most requests the client lets be in flight (its pacing decides
    /// how many are): conversations are completed this many at a time, and
    /// a conversation listing asks for this many of the pages a reported
    /// total promises at once.
    concurrency: usize,
    /// The most pages of a listing asked for ahead of the one being read
    /// while its end is not known.
    read_ahead: usize,
}

/// The most pages a listing reads ahead while its end is not known: enough
/// to hide a few round trips, few enough that the pages asked for past a
/// listing's end (a vendor without totals) stay a handful. The pages a
/// reported total promises, which are never asked for in vain, are read
/// ahead up to the client's `concurrency` in a conversation listing.
pub const READ_AHEAD: usize = 8;

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("http", &self.http)
            .field("concurrency", &self.concurrency)
            .field("read_ahead", &self.read_ahead)
            .finish_non_exhaustive()
    }
}

/// Every page of a listing all to its end.
#[derive(Debug)]
pub struct AllPages<T> {
    /// The records of every page, in order.
    pub items: Vec<T>,
    /// The last total the vendor reported, if it did.
    pub total: Option<u64>,
}

impl Api {
    fn new(vendor: &'static str, http: HttpClient) -> Self {
        let concurrency = http.settings().max_in_flight.max(1);
        Self {
            read_ahead: concurrency.min(READ_AHEAD),
            vendor,
            http,
            counters: Arc::default(),
            concurrency,
        }
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The connector's counters.
    pub fn counters(&self) -> &PullCounters {
        &self.counters
    }

    /// Fetches and decodes the one page of `endpoint` (a record by id:
    /// [`Paging::Single`]), page 0 in errors.
    ///
    /// # Errors
    /// Any error of the request or of [`super::decode_page`].
    pub async fn fetch<E: ListEndpoint>(&self, endpoint: E) -> Result<Page<E::Item>> {
        let endpoint = Arc::new(endpoint);
        let req = request_for(endpoint.endpoint(), &[], 0, &PageRequest::First);
        self.get(endpoint, req, BadRecord::Fail).await
    }

    /// The pages of `listing` from page `first`, in order, `read_ahead`
    /// pages fetched at a time at most. The last page is empty when an
    /// empty page ended the listing; after an error, nothing more.
    pub fn pages<'a, E: ListEndpoint>(
        &'a self,
        listing: &Listing<E>,
        first: u32,
        read_ahead: usize,
    ) -> BoxStream<'a, Result<Page<E::Item>>> {
        self.walk(listing, first, ReadAhead::at_most(read_ahead))
    }

    /// How a conversation listing reads ahead: a window of at most
    /// [`READ_AHEAD`] pages while its end is not known, and up to the
    /// client's concurrency among the pages a reported total promises.
    fn listing_read_ahead(&self) -> ReadAhead {
        ReadAhead {
            window: self.read_ahead,
            promised: self.concurrency.max(self.read_ahead),
        }
    }

    /// [`Api::pages`], reading ahead as `read_ahead` says.
    fn walk<'a, E: ListEndpoint>(
        &'a self,
        listing: &Listing<E>,
        first: u32,
        read_ahead: ReadAhead,
    ) -> BoxStream<'a, Result<Page<E::Item>>> {
        let endpoint = listing.endpoint.endpoint();
        let sequence = match endpoint.paging {
            Paging::Single => Sequence::Once,
            Paging::Links => Sequence::Links,
            Paging::Numbers(numbers) => Sequence::Numbers {
                first: first.max(1),
                size: listing.page_size,
                short_page: numbers.short_page,
            },
        };
        if first > 1 && !matches!(sequence, Sequence::Numbers { .. }) {
            let e = Error::Unsupported {
                vendor: self.vendor,
                message: format!(
                    "{} cannot be read from page {first}: it has no page numbers",
                    endpoint.name
                ),
            };
            return stream::once(ready(Err(e))).boxed();
        }
        let source = ListingSource {
            api: self,
            endpoint: Arc::clone(&listing.endpoint),
            params: Arc::new(listing.params.clone()),
            page_size: listing.page_size,
            on_bad_record: listing.on_bad_record,
        };
        pages_in_order(source, sequence, read_ahead)
    }

    /// Every record of `listing`, all to its end (reading ahead), with
    /// the total the vendor reported: for the parts of a conversation that
    /// come in pages of their own (its messages).
    ///
    /// # Errors
    /// The first error of the walk.
    pub async fn all<E: ListEndpoint>(&self, listing: &Listing<E>) -> Result<AllPages<E::Item>> {
        let mut pages = self.pages(listing, 1, self.read_ahead);
        let mut all = AllPages {
            items: Vec::new(),
            total: None,
        };
        while let Some(page) = pages.next().await {
            let page = page?;
            all.total = page.total.or(all.total);
            all.items.extend(page.items);
        }
        Ok(all)
    }

    async fn get<E: ListEndpoint>(
        &self,
        endpoint: Arc<E>,
        req: Request,
        on_bad_record: BadRecord,
    ) -> Result<Page<E::Item>> {
        // Decoded where it arrives, on the task that polls the pull: handing
        // each page to tokio's blocking pool cost a third more CPU per
        // message in chathaul-bench's whole pull, and the vendors' rate
        // limits, not decoding, bound a pull's speed.
        let response = self
            .http
            .get_with(&req, |page, body| {
                decode_page_with(&*endpoint, page, body, on_bad_record)
            })
            .await
            .map_err(|e| endpoint.explain(e))?;
        let mut page = response.value;
        // A record set aside keeps its text: never with the credential in it.
        page.rejected = std::mem::take(&mut page.rejected)
            .into_iter()
            .map(|e| e.scrubbed(|t| self.http.scrub(t)))
            .collect();
        Ok(page)
    }
}

/// The request for the first step of a walk of `endpoint`, or for page
/// `n` of a page-number listing.
fn request_for(
    endpoint: &Endpoint,
    params: &[(String, String)],
    page_size: u32,
    page: &PageRequest,
) -> Request {
    let mut req = Request::new(endpoint.name.clone(), endpoint.path.clone());
    req.query.extend(params.iter().cloned());
    match (page, endpoint.paging) {
        (PageRequest::Number(n), Paging::Numbers(numbers)) => req
            .page(*n)
            .param(numbers.page_param, n)
            .param(numbers.size_param, page_size),
        (_, Paging::Links) => req.page(1),
        _ => req,
    }
}

/// The pages of one listing, for a walk.
struct ListingSource<'a, E> {
    api: &'a Api,
    endpoint: Arc<E>,
    params: Arc<Vec<(String, String)>>,
    page_size: u32,
    on_bad_record: BadRecord,
}

impl<'a, E: ListEndpoint> PageSource<'a, E::Item> for ListingSource<'a, E> {
    fn fetch(&self, request: PageRequest) -> BoxFuture<'a, Result<Page<E::Item>>> {
        let api = self.api;
        let endpoint = Arc::clone(&self.endpoint);
        let req = match &request {
            // Only a link `follow` accepted gets here: below the base URL.
            PageRequest::Link(url, n) => self.below_base(url, *n).map(|path| {
                let mut req = Request::new(endpoint.endpoint().name.clone(), path).page(*n);
                req.query = url.query_pairs().into_owned().collect();
                req
            }),
            _ => Ok(request_for(
                endpoint.endpoint(),
                &self.params,
                self.page_size,
                &request,
            )),
        };
        let on_bad_record = self.on_bad_record;
        Box::pin(async move { api.get(endpoint, req?, on_bad_record).await })
    }

    fn follow(&self, link: &str, from: u32) -> Result<PageRequest> {
        let at = self.page_ref(from);
        let first = request_for(
            self.endpoint.endpoint(),
            &self.params,
            0,
            &PageRequest::First,
        );
        let here = self.api.http.url(&first)?;
        let url = here
            .join(link)
            .map_err(|e| at.paging(format!("next link `{}` is not a URL: {e}", clip(link))))?;
        if !self.api.http.is_same_origin(&url) {
            let host = url.host_str().unwrap_or("?");
            return Err(at.paging(format!(
                "next link points at another host (`{}`); refusing to send credentials there",
                clip(host)
            )));
        }
        self.below_base(&url, from)?;
        Ok(PageRequest::Link(url, from.saturating_add(1)))
    }

    fn page_ref(&self, n: u32) -> PageRef {
        PageRef::new(self.api.vendor, self.endpoint.endpoint().name.clone(), n)
    }
}

impl<E: ListEndpoint> ListingSource<'_, E> {
    /// A link's path below the configured base URL (what a request's path
    /// is); an error for a link outside it.
    fn below_base(&self, url: &Url, from: u32) -> Result<String> {
        let base = self.api.http.base_url().path().trim_end_matches('/');
        match url.path().strip_prefix(base) {
            Some(rest) if rest.starts_with('/') => Ok(rest.to_owned()),
            _ => Err(self.page_ref(from).paging(format!(
                "next link `{}` leaves the configured base URL; not followed",
                clip(url.as_str())
            ))),
        }
    }
}

/// Where a page is in the listings of a query: which listing (0 for most
/// queries; a vendor may walk several, one after the other) and which page
/// of it (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PagePosition {
    /// The listing, in the order the vendor listings them.
    pub listing: usize,
    /// The page of that listing, from 1.
    pub page: u32,
}

impl PagePosition {
    /// The first page of the first listing.
    pub const START: PagePosition = PagePosition {
        listing: 0,
        page: 1,
    };

    /// The page after this one (resume there after this page is done).
    pub fn next(self) -> Self {
        Self {
            listing: self.listing,
            page: self.page.saturating_add(1),
        }
    }
}

/// One page of a query's conversations: the listing page's conversations
/// that match the query, completed (messages, summaries) as it asks.
#[derive(Debug)]
pub struct ConversationPage {
    /// Where this page is.
    pub position: PagePosition,
    /// Its conversations that match the query, in listing order.
    pub conversations: Vec<Conversation>,
    /// The total the vendor reported for the listing, if it did.
    pub total: Option<u64>,
}

/// A [`Connector`] on the listing engine: the vendor's plan all, read
/// ahead, filtered exactly, limited and completed in listing order.
pub struct ListingConnector<V: Vendor> {
    vendor: V,
    api: Api,
    info: ConnectorInfo,
}

impl<V: Vendor> fmt::Debug for ListingConnector<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListingConnector")
            .field("vendor", &self.vendor)
            .field("info", &self.info)
            .field("api", &self.api)
            .finish()
    }
}

impl<V: Vendor> ListingConnector<V> {
    /// A connector for a typed configuration.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration, base URL or
    /// credentials that cannot go in a header.
    pub fn new(config: V::Config) -> Result<Self> {
        let vendor = V::new(config)?;
        let connection = vendor.connection();
        let http = HttpClient::new(
            V::NAME,
            &connection.account,
            &connection.base_url,
            connection.auth,
            connection.http,
        )?;
        let info = ConnectorInfo {
            vendor: V::NAME,
            account: connection.account,
            base_url: http.base_url().to_string(),
            capabilities: V::CAPABILITIES,
        };
        Ok(Self {
            vendor,
            api: Api::new(V::NAME, http),
            info,
        })
    }

    /// A connector from the registry's resolved key/values.
    ///
    /// # Errors
    /// [`Error::Config`] naming the missing or invalid field.
    pub fn from_config(cfg: &ResolvedConfig) -> Result<Self> {
        Self::new(V::Config::from_resolved(cfg)?)
    }

    /// The configuration in force.
    pub fn config(&self) -> &V::Config {
        self.vendor.config()
    }

    /// The vendor.
    pub fn vendor(&self) -> &V {
        &self.vendor
    }

    /// What the vendor's hooks fetch with.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The pages of a query from `from` on: each listing page's matching
    /// conversations, completed as the query asks, in order; pages that
    /// list nothing are left out. A page whose completion fails is an
    /// error in its place (resume at its position to try it again); after
    /// a failed listing page, nothing more. The query's limit is not
    /// applied: a page is whole.
    ///
    /// Resuming at a page's position gives that page and every one after
    /// it, as the first pull gave them (as long as the vendor's listing is
    /// unchanged).
    pub fn pages<'a>(
        &'a self,
        query: &Query,
        from: PagePosition,
    ) -> BoxStream<'a, Result<ConversationPage>> {
        if let Err(e) = query.validate() {
            return stream::once(ready(Err(e))).boxed();
        }
        let plan = self.vendor.plan(query);
        if plan.combine == Combine::MergeById && plan.listings.len() > 1 {
            let e = Error::Unsupported {
                vendor: V::NAME,
                message: "this query merges several listings by id; its pages cannot be resumed \
                          one by one (pull it as a stream)"
                    .into(),
            };
            return stream::once(ready(Err(e))).boxed();
        }
        let (exact, include) = (Arc::new(plan.exact), query.include);
        let (concurrency, read_ahead) = (self.api.concurrency, self.api.listing_read_ahead());
        let listings = plan
            .listings
            .into_iter()
            .enumerate()
            .skip(from.listing)
            .map(move |(i, listing)| {
                let first = if i == from.listing { from.page } else { 1 };
                self.counted_pages(listing, first, read_ahead)
                    .map(move |page| page.map(|p| (i, p)))
                    .boxed()
            });
        in_order_ahead(listings.collect(), self.api.read_ahead)
            .try_filter(|(_, page)| ready(!page.items.is_empty()))
            .and_then(move |(i, page)| {
                let exact = Arc::clone(&exact);
                async move {
                    let (number, total) = (page.number, page.total);
                    let conversations = stream::iter(page.items)
                        .filter(|l| ready(exact.matches(l.conversation())))
                        .map(|l| self.vendor.complete(&self.api, l, include))
                        .buffered(concurrency)
                        .try_collect()
                        .await?;
                    Ok(ConversationPage {
                        position: PagePosition {
                            listing: i,
                            page: number,
                        },
                        conversations,
                        total,
                    })
                }
            })
            .boxed()
    }

    /// The listed records of a plan's listings, combined; listings in
    /// order hold up to `hold` pages each while an earlier one is read
    /// ([`in_order_ahead`]).
    fn listed<'a>(
        &'a self,
        listings: Vec<Listing<V::Listing>>,
        combine: Combine,
        read_ahead: ReadAhead,
        hold: usize,
    ) -> BoxStream<'a, Result<V::Listed>> {
        let pages = listings
            .into_iter()
            .map(move |listing| self.counted_pages(listing, 1, read_ahead));
        let records = |pages: BoxStream<'a, Result<Page<V::Listed>>>| {
            pages
                .flat_map(|page| match page {
                    // The records set aside keep their place at the page's end.
                    Ok(p) => stream::iter(
                        p.items
                            .into_iter()
                            .map(Ok)
                            .chain(p.rejected.into_iter().map(Err)),
                    )
                    .left_stream(),
                    Err(e) => stream::once(ready(Err(e))).right_stream(),
                })
                .boxed()
        };
        match combine {
            Combine::InOrder => records(in_order_ahead(pages.collect(), hold)),
            Combine::MergeById => pages
                .map(records)
                .reduce(merge_by_id)
                .unwrap_or_else(|| stream::empty().boxed()),
        }
    }

    /// A conversation listing's pages, counted; when all from its first
    /// page to its end, the total the vendor reported is recorded and a
    /// difference with what was listed noted as a shortfall.
    fn counted_pages<'a>(
        &'a self,
        listing: Listing<V::Listing>,
        first: u32,
        read_ahead: ReadAhead,
    ) -> BoxStream<'a, Result<Page<V::Listed>>> {
        struct Tally<'a, T> {
            pages: BoxStream<'a, Result<Page<T>>>,
            listed: u64,
            total: Option<u64>,
            failed: bool,
        }
        let name = describe(&listing);
        let tally = Tally {
            pages: self.api.walk(&listing, first, read_ahead),
            listed: 0,
            total: None,
            failed: false,
        };
        let counters = Arc::clone(&self.api.counters);
        stream::unfold(tally, move |mut t| {
            let (counters, name) = (Arc::clone(&counters), name.clone());
            async move {
                match t.pages.next().await {
                    Some(Ok(page)) => {
                        let records = page.items.len() + page.rejected.len();
                        counters.page(records);
                        t.listed += records as u64;
                        t.total = page.total.or(t.total);
                        Some((Ok(page), t))
                    }
                    Some(Err(e)) => {
                        t.failed = true;
                        Some((Err(e), t))
                    }
                    None => {
                        if let (false, 1, Some(total)) = (t.failed, first, t.total) {
                            counters.reported_total(total);
                            if t.listed != total {
                                counters.shortfall(format!(
                                    "{name}: the vendor reported {total} records, {} were listed",
                                    t.listed
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
}

/// A listing as a shortfall note names it: its endpoint and parameters.
fn describe<L: ListEndpoint>(listing: &Listing<L>) -> String {
    let name = &listing.endpoint.endpoint().name;
    if listing.params.is_empty() {
        return name.clone();
    }
    let params: Vec<String> = listing
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{name} ({})", params.join("&"))
}

/// Listings yielded one after the other, in order, up to and including
/// the first error, with the later ones fetched meanwhile: once the first
/// listing has given its first page (so the credentials and the envelope
/// are good: a refused credential costs one request, not one per listing),
/// each later one is polled until it holds `hold` pages, then waits for its
/// turn. With `hold` 0, a listing starts when the one before it ends.
/// After an error nothing is polled any more, and what later listings hold
/// is dropped.
fn in_order_ahead<'a, T: Send + 'a>(
    listings: Vec<BoxStream<'a, Result<T>>>,
    hold: usize,
) -> BoxStream<'a, Result<T>> {
    struct Held<'a, T> {
        pages: BoxStream<'a, Result<T>>,
        held: VecDeque<Result<T>>,
        ended: bool,
    }
    let mut queue: VecDeque<Held<'a, T>> = listings
        .into_iter()
        .map(|pages| Held {
            pages,
            held: VecDeque::new(),
            ended: false,
        })
        .collect();
    let (mut started, mut failed) = (false, false);
    stream::poll_fn(move |cx| {
        if failed {
            return Poll::Ready(None);
        }
        loop {
            if started {
                for later in queue.iter_mut().skip(1) {
                    while !later.ended && later.held.len() < hold {
                        match later.pages.poll_next_unpin(cx) {
                            Poll::Ready(Some(item)) => {
                                later.ended = item.is_err();
                                later.held.push_back(item);
                            }
                            Poll::Ready(None) => later.ended = true,
                            Poll::Pending => break,
                        }
                    }
                }
            }
            let Some(front) = queue.front_mut() else {
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
                    failed = item.is_err();
                    started |= !failed;
                    return Poll::Ready(Some(item));
                }
                None => {
                    queue.pop_front();
                }
            }
        }
    })
    .boxed()
}

/// Merges two listings in ascending id order (numeric ids by value),
/// dropping a conversation both listed; an error ends the merged stream, as
/// it ends a single listing.
fn merge_by_id<'a, T: Listed>(
    a: BoxStream<'a, Result<T>>,
    b: BoxStream<'a, Result<T>>,
) -> BoxStream<'a, Result<T>> {
    fn key<T: Listed>(l: &T) -> (u64, &str) {
        let id = l.conversation().id.as_str();
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
                Ok(l) if !seen.insert(l.conversation().id.clone()) => continue,
                // A record set aside is not the end of its listing.
                Ok(_) | Err(Error::Rejected { .. }) => return Some((item, (a, b, seen, false))),
                Err(_) => return Some((item, (a, b, seen, true))),
            }
        }
    })
    .boxed()
}

#[crate::async_trait]
impl<V: Vendor> Connector for ListingConnector<V> {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a> {
        if let Err(e) = query.validate() {
            return stream::once(ready(Err(e))).boxed();
        }
        let mut plan = self.vendor.plan(query);
        for listing in &mut plan.listings {
            listing.on_bad_record = query.on_bad_record;
        }
        let skip = query.skips_bad_records();
        let exact = plan.exact;
        let limit = exact
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        // With a limit, one page at a time and one listing after the other:
        // nothing far beyond it is fetched.
        let (read_ahead, hold) = if exact.limit.is_some() {
            (ReadAhead::at_most(1), 0)
        } else {
            (self.api.listing_read_ahead(), self.api.read_ahead)
        };
        let include = query.include;
        // The window counts conversations, not requests: one whose record
        // carried all it needs takes no request yet holds a place, so the
        // window is wider than the client's in-flight bound (which still
        // caps the requests).
        let window = self.api.concurrency.saturating_mul(4);
        // Filter and limit before completing: no request for a conversation
        // that will not be returned. `buffered` keeps the listing order.
        self.listed(plan.listings, plan.combine, read_ahead, hold)
            .try_filter(move |l| ready(exact.matches(l.conversation())))
            .take(limit)
            .map(move |item| async move {
                match item {
                    Ok(listed) => {
                        // Messages that do not decode set their conversation
                        // aside, with its record, when skipping bad records.
                        let raw = skip.then(|| listed.conversation().raw.get().to_owned());
                        match self.vendor.complete(&self.api, listed, include).await {
                            Err(e) if e.is_bad_record() && raw.is_some() => {
                                let raw = self.api.http.scrub(raw.as_deref().unwrap_or_default());
                                Err(e.rejected(&raw))
                            }
                            other => other,
                        }
                    }
                    Err(e) => Err(e),
                }
            })
            .buffered(window)
            .boxed()
    }

    async fn conversation(&self, id: &str, include: Include) -> Result<Conversation> {
        self.vendor.conversation(&self.api, id, include).await
    }

    async fn complete(&self, conversation: Conversation, include: Include) -> Result<Conversation> {
        self.vendor
            .complete_conversation(&self.api, conversation, include)
            .await
    }

    fn seed_rate(&self, rate: f64) {
        self.api.http.seed_rate(rate);
    }

    fn stats(&self) -> PullStats {
        self.api.counters.snapshot(self.api.http.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    type Log = Arc<Mutex<Vec<String>>>;

    fn show(item: &Result<u32>) -> String {
        item.as_ref()
            .map_or_else(|_| "err".to_owned(), ToString::to_string)
    }

    /// Listing `name`: its items, each given `ms` milliseconds after it is
    /// asked for and logged then.
    fn listing(
        name: &'static str,
        items: Vec<Result<u32>>,
        ms: u64,
        log: &Log,
    ) -> BoxStream<'static, Result<u32>> {
        let log = Arc::clone(log);
        stream::iter(items)
            .then(move |item| {
                let log = Arc::clone(&log);
                async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    log.lock().unwrap().push(format!("{name}{}", show(&item)));
                    item
                }
            })
            .boxed()
    }

    fn oks(items: &[u32]) -> Vec<Result<u32>> {
        items.iter().map(|&n| Ok(n)).collect()
    }

    fn err() -> Result<u32> {
        Err(Error::Query("refused".into()))
    }

    async fn run(listings: Vec<BoxStream<'static, Result<u32>>>, hold: usize) -> Vec<String> {
        in_order_ahead(listings, hold)
            .map(|item| show(&item))
            .collect()
            .await
    }

    #[tokio::test]
    async fn listings_come_in_order_the_later_ones_fetched_meanwhile() {
        let log = Log::default();
        let listings = vec![
            listing("a", oks(&[1, 2]), 40, &log),
            listing("b", oks(&[1, 2]), 1, &log),
            listing("c", oks(&[1]), 1, &log),
        ];
        assert_eq!(run(listings, 8).await, ["1", "2", "1", "2", "1"]);
        // b and c ran while a's second item was on its way.
        let mut log = log.lock().unwrap().clone();
        assert_eq!((log[0].as_str(), log[4].as_str()), ("a1", "a2"), "{log:?}");
        log[1..4].sort();
        assert_eq!(log[1..4], ["b1", "b2", "c1"]);
        // Holding nothing, a listing starts when the one before it ends.
        let log = Log::default();
        let listings = vec![
            listing("a", oks(&[1, 2]), 40, &log),
            listing("b", oks(&[1, 2]), 1, &log),
        ];
        assert_eq!(run(listings, 0).await, ["1", "2", "1", "2"]);
        assert_eq!(*log.lock().unwrap(), ["a1", "a2", "b1", "b2"]);
    }

    #[tokio::test]
    async fn a_later_listing_holds_at_most_hold_items() {
        let log = Log::default();
        let listings = vec![
            listing("a", oks(&[1, 2]), 40, &log),
            listing("b", oks(&(1..=20).collect::<Vec<_>>()), 0, &log),
        ];
        assert_eq!(run(listings, 3).await.len(), 22);
        let log = log.lock().unwrap();
        let before = log.iter().position(|l| l == "a2").unwrap();
        assert_eq!(log[..before], ["a1", "b1", "b2", "b3"]);
    }

    #[tokio::test]
    async fn nothing_later_starts_before_the_first_listing_gives_a_page() {
        let log = Log::default();
        let listings = vec![
            listing("a", vec![err(), Ok(2)], 1, &log),
            listing("b", oks(&[1]), 1, &log),
        ];
        assert_eq!(run(listings, 8).await, ["err"]);
        assert_eq!(*log.lock().unwrap(), ["aerr"], "b never asked");
    }

    #[tokio::test]
    async fn nothing_is_polled_after_the_first_error_and_a_later_error_waits_its_turn() {
        let log = Log::default();
        let listings = vec![
            listing("a", vec![Ok(1), err(), Ok(3)], 1, &log),
            listing("b", oks(&[1]), 30, &log),
        ];
        assert_eq!(run(listings, 0).await, ["1", "err"]);
        assert_eq!(*log.lock().unwrap(), ["a1", "aerr"]);
        let log = Log::default();
        let listings = vec![
            listing("a", oks(&[1, 2]), 30, &log),
            listing("b", vec![err(), Ok(2)], 1, &log),
            listing("c", oks(&[1]), 5, &log),
        ];
        assert_eq!(run(listings, 8).await, ["1", "2", "err"]);
        let log = log.lock().unwrap();
        assert_eq!(log[..2], ["a1", "berr"], "b failed early, held");
        assert!(!log.contains(&"b2".to_owned()), "{log:?}");
    }
}
