//! Walking a listing's pages: stop rules, repeated pages, next links and
//! read-ahead, applied in page order whatever order the pages arrive in.

use std::collections::{HashMap, HashSet};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, FuturesOrdered, StreamExt};
use url::Url;

use super::ShortPage;
use crate::decode::PageRef;
use crate::error::{Error, Result};
use crate::paging::Page;

/// What a walk asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageRequest {
    /// The listing's own request (its first page, or its only one).
    First,
    /// Page `n` of a page-number listing.
    Number(u32),
    /// A next link, as page `n` of the walk.
    Link(Url, u32),
}

/// Fetches what a walk asks for. The futures must not borrow the source:
/// they are held by the walk beside it.
pub(crate) trait PageSource<'a, T>: Send + 'a {
    /// Fetches and decodes one page.
    fn fetch(&self, request: PageRequest) -> BoxFuture<'a, Result<Page<T>>>;
    /// Where page `from`'s next link leads; an error, and no request, for a
    /// link that is not a URL or leads off the configured base URL.
    fn follow(&self, link: &str, from: u32) -> Result<PageRequest>;
    /// Page `n`, for the walk's own errors.
    fn page_ref(&self, n: u32) -> PageRef;
}

/// How a listing pages, for the walk.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sequence {
    /// Page numbers from `first`, `size` records asked for each.
    Numbers {
        first: u32,
        size: u32,
        short_page: ShortPage,
    },
    /// Next links.
    Links,
    /// One page.
    Once,
}

/// How many pages a walk asks for ahead of the one it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadAhead {
    /// While the listing's end is not known: a window that doubles up to
    /// this many pages (pages asked for past the end are wasted requests).
    pub(crate) window: usize,
    /// Among the pages a reported total promises, none of which is asked
    /// for in vain: this many at a time.
    pub(crate) promised: usize,
}

impl ReadAhead {
    /// At most `pages` ahead, whether the end is known or not.
    pub(crate) fn at_most(pages: usize) -> Self {
        Self {
            window: pages,
            promised: pages,
        }
    }
}

/// Walks a listing: yields every page in order, the last one empty when
/// an empty page ended it, and after an error nothing more.
///
/// A page-number walk asks for its first two pages one at a time (a
/// server that ignores the page parameter is caught by the second before
/// anything is fetched ahead); then, with a reported total, every page the
/// total promises, `read_ahead.promised` at a time (any page past them one
/// at a time), and without one a window that starts at one page ahead and
/// doubles after each page that did not end the listing, up to
/// `read_ahead.window`. Pages fetched ahead of the end are dropped unread.
pub(crate) fn pages_in_order<'a, T, S>(
    source: S,
    sequence: Sequence,
    read_ahead: ReadAhead,
) -> BoxStream<'a, Result<Page<T>>>
where
    T: Send + 'a,
    S: PageSource<'a, T>,
{
    let next = match sequence {
        Sequence::Numbers { first, .. } => PageRequest::Number(first),
        Sequence::Links | Sequence::Once => PageRequest::First,
    };
    let state = PagesInOrder {
        source,
        sequence,
        read_ahead: ReadAhead {
            window: read_ahead.window.max(1),
            promised: read_ahead.promised.max(1),
        },
        in_flight: FuturesOrdered::new(),
        next: Some(next),
        depth: 1,
        seen: HashMap::new(),
        links: HashSet::new(),
        listed: 0,
        total: None,
        after: None,
        done: false,
    };
    stream::unfold(state, |mut pages| async move {
        if let Some(e) = pages.after.take() {
            pages.done = true;
            return Some((Err(e), pages));
        }
        if pages.done {
            return None;
        }
        pages.fill();
        let item = match pages.in_flight.next().await? {
            Ok(page) => pages.take(page),
            Err(e) => {
                pages.stop();
                Err(e)
            }
        };
        Some((item, pages))
    })
    .boxed()
}

struct PagesInOrder<'a, T, S> {
    source: S,
    sequence: Sequence,
    read_ahead: ReadAhead,
    /// Pages asked for, in page order.
    in_flight: FuturesOrdered<BoxFuture<'a, Result<Page<T>>>>,
    /// What to ask for next.
    next: Option<PageRequest>,
    /// How many pages may be in flight now.
    depth: usize,
    /// Every page's fingerprint and number: a server that cycles through
    /// pages (1, 2, 1, 2, …) repeats one that is not the last.
    seen: HashMap<u64, u32>,
    /// The next links followed.
    links: HashSet<String>,
    /// Records in the pages taken so far.
    listed: u64,
    /// The last total reported.
    total: Option<u64>,
    /// An error to yield after the page just yielded.
    after: Option<Error>,
    done: bool,
}

impl<'a, T, S: PageSource<'a, T>> PagesInOrder<'a, T, S> {
    /// Asks for pages while there is room.
    fn fill(&mut self) {
        while let Some(request) = self.next.clone() {
            let room = match (&request, self.sequence, self.total) {
                // Past the pages a total promises: one at a time.
                (PageRequest::Number(n), Sequence::Numbers { size, .. }, Some(total))
                    if u64::from(*n) > total.div_ceil(u64::from(size.max(1))) =>
                {
                    1
                }
                _ => self.depth,
            };
            if self.in_flight.len() >= room {
                break;
            }
            self.next = match (&request, self.sequence) {
                (PageRequest::Number(n), Sequence::Numbers { .. }) => {
                    n.checked_add(1).map(PageRequest::Number)
                }
                _ => None,
            };
            self.in_flight.push_back(self.source.fetch(request));
        }
    }

    /// Ends the walk: nothing more is asked for, pages in flight are dropped.
    fn stop(&mut self) {
        self.done = true;
        self.next = None;
        self.in_flight = FuturesOrdered::new();
    }

    /// Takes the next page in order: applies the stop rules, and decides
    /// what to ask for next.
    fn take(&mut self, page: Page<T>) -> Result<Page<T>> {
        let n = page.number;
        if page.items.is_empty() {
            self.stop();
            return Ok(page);
        }
        if let Some(&earlier) = self.seen.get(&page.fingerprint) {
            self.stop();
            return Err(self.source.page_ref(n).paging(format!(
                "page {n} repeats page {earlier}; stopping instead of looping"
            )));
        }
        self.seen.insert(page.fingerprint, n);
        self.listed += page.items.len() as u64;
        if page.total.is_some() {
            self.total = page.total;
        }
        let mut end = page.has_next == Some(false) || n == u32::MAX;
        match self.sequence {
            Sequence::Numbers {
                first,
                size,
                short_page,
            } => {
                let before = u64::from(first.saturating_sub(1)) * u64::from(size);
                end |= self.total.is_some_and(|t| before + self.listed >= t);
                end |= short_page.ends(size) && (page.items.len() as u64) < u64::from(size);
                if !end && n > first {
                    self.depth = if self.total.is_some() {
                        self.read_ahead.promised
                    } else {
                        (self.depth * 2).min(self.read_ahead.window)
                    };
                }
            }
            Sequence::Once => end = true,
            Sequence::Links => match page.next_link.as_deref().map(str::trim) {
                Some(link) if !link.is_empty() && !end => match self.source.follow(link, n) {
                    Ok(PageRequest::Link(url, m)) => {
                        if self.links.insert(url.to_string()) {
                            self.next = Some(PageRequest::Link(url, m));
                        } else {
                            end = true;
                            self.after = Some(self.source.page_ref(n).paging(
                                "next link repeats a page already fetched; stopping instead of looping",
                            ));
                        }
                    }
                    Ok(_) => end = true,
                    Err(e) => {
                        end = true;
                        self.after = Some(e);
                    }
                },
                _ => end = true,
            },
        }
        if end {
            // An error still due (`after`) is yielded before the walk ends.
            self.stop();
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::sync::{Arc, Mutex};

    /// Serves pages from a function of the step; logs what was asked.
    struct Fake<F> {
        serve: Arc<F>,
        log: Arc<Mutex<Vec<PageRequest>>>,
    }

    impl<'a, F> PageSource<'a, u32> for Fake<F>
    where
        F: Fn(&PageRequest) -> Page<u32> + Send + Sync + 'a,
    {
        fn fetch(&self, step: PageRequest) -> BoxFuture<'a, Result<Page<u32>>> {
            self.log.lock().unwrap().push(step.clone());
            let page = (self.serve)(&step);
            Box::pin(async move {
                // Later pages come back first: the walk must keep the order.
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(
                    20u32.saturating_sub(page.number),
                )))
                .await;
                Ok(page)
            })
        }
        fn follow(&self, link: &str, from: u32) -> Result<PageRequest> {
            let url = Url::parse(link).map_err(|e| self.page_ref(from).paging(e.to_string()))?;
            if url.host_str() != Some("api.test") {
                return Err(self
                    .page_ref(from)
                    .paging("next link points at another host"));
            }
            Ok(PageRequest::Link(url, from + 1))
        }
        fn page_ref(&self, n: u32) -> PageRef {
            PageRef::new("test", "/x", n)
        }
    }

    fn page(n: u32, items: Vec<u32>) -> Page<u32> {
        let fp = crate::paging::fingerprint_of_set(&items);
        Page::new(n, items, fp)
    }

    /// `count` records served `cap` at a time however many are asked.
    fn listing(count: u32, cap: u32) -> impl Fn(&PageRequest) -> Page<u32> + Send + Sync {
        move |step| {
            let PageRequest::Number(n) = step else {
                panic!("{step:?}")
            };
            let start = (n - 1) * cap;
            page(*n, (start..(start + cap).min(count)).collect())
        }
    }

    async fn run<F>(
        serve: F,
        mode: Sequence,
        read_ahead: usize,
    ) -> (Result<Vec<u32>>, Vec<PageRequest>)
    where
        F: Fn(&PageRequest) -> Page<u32> + Send + Sync + 'static,
    {
        let log = Arc::new(Mutex::new(Vec::new()));
        let source = Fake {
            serve: Arc::new(serve),
            log: log.clone(),
        };
        let items = pages_in_order(source, mode, ReadAhead::at_most(read_ahead))
            .map_ok(|p| p.items)
            .try_concat()
            .await;
        let asked = log.lock().unwrap().clone();
        (items, asked)
    }

    fn numbers(size: u32, short_page: ShortPage) -> Sequence {
        Sequence::Numbers {
            first: 1,
            size,
            short_page,
        }
    }

    fn asked(steps: &[PageRequest]) -> Vec<u32> {
        steps
            .iter()
            .map(|s| match s {
                PageRequest::Number(n) => *n,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn an_empty_page_ends_a_listing_read_ahead_in_a_doubling_window() {
        // 95 records, 10 a page: pages 1..=10, page 11 empty.
        let (items, log) = run(listing(95, 10), numbers(10, ShortPage::Continues), 4).await;
        assert_eq!(items.unwrap(), (0..95).collect::<Vec<_>>());
        let log = asked(&log);
        // 1 and 2 alone, then 3-4, then up to 4 ahead; past the end at most 4.
        assert_eq!(&log[..4], [1, 2, 3, 4]);
        assert!(log.contains(&11) && log.len() <= 11 + 3, "{log:?}");
        // Without read-ahead: exactly the pages up to the empty one.
        let (items, log) = run(listing(95, 10), numbers(10, ShortPage::Continues), 1).await;
        assert_eq!(items.unwrap().len(), 95);
        assert_eq!(asked(&log), (1..=11).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_short_page_ends_a_listing_only_where_the_size_is_trusted() {
        let (items, log) = run(listing(25, 10), numbers(10, ShortPage::EndsUpTo(100)), 1).await;
        assert_eq!(items.unwrap().len(), 25);
        assert_eq!(asked(&log), [1, 2, 3]);
        // 500 asked, the server caps at 10: short pages go on to the empty one.
        let (items, log) = run(listing(25, 10), numbers(500, ShortPage::EndsUpTo(100)), 1).await;
        assert_eq!(items.unwrap().len(), 25);
        assert_eq!(asked(&log), [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_total_ends_a_listing_and_its_pages_are_read_ahead() {
        let with_total = |step: &PageRequest| Page {
            total: Some(95),
            ..listing(95, 10)(step)
        };
        let (items, log) = run(with_total, numbers(10, ShortPage::Continues), 8).await;
        assert_eq!(items.unwrap().len(), 95);
        let log = asked(&log);
        assert_eq!(&log[..2], [1, 2]);
        // Every promised page, none past the total.
        let mut sorted = log.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=10).collect::<Vec<_>>());
        // A server capping at 5 while 10 are asked: the total is reached
        // past the promised pages, one page at a time.
        let capped = |step: &PageRequest| Page {
            total: Some(23),
            ..listing(23, 5)(step)
        };
        let (items, log) = run(capped, numbers(10, ShortPage::Continues), 8).await;
        assert_eq!(items.unwrap().len(), 23);
        assert_eq!(asked(&log), [1, 2, 3, 4, 5]);
        // "No next page" ends it too.
        let flagged = |step: &PageRequest| {
            let p = listing(95, 10)(step);
            Page {
                has_next: Some(p.number < 3),
                ..p
            }
        };
        let (items, _) = run(flagged, numbers(10, ShortPage::Continues), 1).await;
        assert_eq!(items.unwrap().len(), 30);
    }

    #[tokio::test]
    async fn the_pages_a_total_promises_are_read_ahead_further_than_a_window() {
        let read_ahead = ReadAhead {
            window: 2,
            promised: 6,
        };
        for (total, want) in [(Some(200), 8), (None, 4)] {
            let serve = move |step: &PageRequest| Page {
                total,
                ..listing(200, 10)(step)
            };
            let log = Arc::new(Mutex::new(Vec::new()));
            let source = Fake {
                serve: Arc::new(serve),
                log: log.clone(),
            };
            let mut pages = pages_in_order(source, numbers(10, ShortPage::Continues), read_ahead);
            for n in 1..=3 {
                assert_eq!(pages.next().await.unwrap().unwrap().number, n);
            }
            // Page 3 is in: with a total, six of the pages it promises were
            // asked for at once after page 2; without, a window of two.
            let asked = asked(&log.lock().unwrap());
            assert_eq!(asked, (1..=want).collect::<Vec<_>>(), "total {total:?}");
        }
    }

    #[tokio::test]
    async fn repeated_shuffled_and_cycled_pages_are_errors_in_page_order() {
        let same = |step: &PageRequest| {
            let PageRequest::Number(n) = step else {
                panic!()
            };
            page(*n, if n % 2 == 0 { vec![2, 1] } else { vec![1, 2] })
        };
        let (items, log) = run(same, numbers(2, ShortPage::Continues), 8).await;
        let e = items.unwrap_err().to_string();
        assert_eq!(
            e,
            "test: /x page 2: page 2 repeats page 1; stopping instead of looping"
        );
        assert_eq!(asked(&log), [1, 2], "nothing fetched ahead of page 2");
        let cycle = |step: &PageRequest| {
            let PageRequest::Number(n) = step else {
                panic!()
            };
            page(*n, if n % 2 == 0 { vec![3, 4] } else { vec![1, 2] })
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let source = Fake {
            serve: Arc::new(cycle),
            log: log.clone(),
        };
        let pages: Vec<Result<Page<u32>>> = pages_in_order(
            source,
            numbers(2, ShortPage::Continues),
            ReadAhead::at_most(8),
        )
        .collect()
        .await;
        let got: Vec<String> = pages
            .iter()
            .map(|p| match p {
                Ok(p) => format!("{:?}", p.items),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "[1, 2]",
                "[3, 4]",
                "test: /x page 3: page 3 repeats page 1; stopping instead of looping"
            ]
        );
    }

    #[tokio::test]
    async fn a_walk_resumes_from_a_later_page() {
        let mode = Sequence::Numbers {
            first: 4,
            size: 10,
            short_page: ShortPage::Ends,
        };
        let (items, log) = run(listing(55, 10), mode, 1).await;
        assert_eq!(items.unwrap(), (30..55).collect::<Vec<_>>());
        assert_eq!(asked(&log), [4, 5, 6]);
    }

    #[tokio::test]
    async fn next_links_are_followed_on_their_host_only_and_never_twice() {
        let links = |next: Vec<Option<&'static str>>| {
            move |step: &PageRequest| {
                let n = match step {
                    PageRequest::First => 1,
                    PageRequest::Link(_, n) => *n,
                    PageRequest::Number(_) => panic!(),
                };
                Page {
                    next_link: next[(n - 1) as usize].map(str::to_owned),
                    ..page(n, vec![n])
                }
            }
        };
        let (items, _) = run(
            links(vec![
                Some("https://api.test/x?p=2"),
                Some("https://api.test/x?p=3"),
                None,
            ]),
            Sequence::Links,
            8,
        )
        .await;
        assert_eq!(items.unwrap(), [1, 2, 3]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let source = Fake {
            serve: Arc::new(links(vec![Some("https://elsewhere.test/x?p=2"), None])),
            log: log.clone(),
        };
        let got: Vec<Result<Page<u32>>> =
            pages_in_order(source, Sequence::Links, ReadAhead::at_most(8))
                .collect()
                .await;
        assert_eq!(got.len(), 2, "the page, then the error");
        assert_eq!(got[0].as_ref().unwrap().items, [1]);
        let e = got[1].as_ref().unwrap_err().to_string();
        assert!(e.contains("another host"), "{e}");
        assert_eq!(log.lock().unwrap().len(), 1, "no request to the other host");
        let (items, _) = run(
            links(vec![
                Some("https://api.test/x?p=2"),
                Some("https://api.test/x?p=2"),
                None,
            ]),
            Sequence::Links,
            8,
        )
        .await;
        assert!(items.unwrap_err().to_string().contains("repeats a page"));
    }
}
