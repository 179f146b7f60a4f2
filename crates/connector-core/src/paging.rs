//! Pagination as a `Stream` of pages, for page-number and next-link APIs.
//!
//! The streams stop on an empty page, a short page (when asked), the reported
//! total, or a missing next link; they fail — never loop — on a page that
//! repeats the previous one, and refuse a next link to a host other than the
//! configured one. The page-level API is public so a caller can resume from a
//! page.

use std::collections::HashSet;
use std::hash::Hash;

use futures::stream::{self, BoxStream, StreamExt};
use url::Url;

use crate::error::{Error, Result};

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Its page number (1-based for page-number APIs; the count of pages
    /// fetched for next-link APIs).
    pub number: u32,
    /// Its records.
    pub items: Vec<T>,
    /// The total number of records the API reports, if it does.
    pub total: Option<u64>,
    /// Whether the API says there is a next page (`None` when it does not say).
    pub has_next: Option<bool>,
    /// The next link, for next-link APIs.
    pub next_link: Option<String>,
    /// A fingerprint of the page's records, to detect a page that repeats.
    pub fingerprint: u64,
}

impl<T> Page<T> {
    /// A page with nothing reported beyond its records.
    pub fn new(number: u32, items: Vec<T>, fingerprint: u64) -> Self {
        Self {
            number,
            items,
            total: None,
            has_next: None,
            next_link: None,
            fingerprint,
        }
    }
}

/// Hashes anything hashable (the records' ids, say) into a page fingerprint.
pub fn fingerprint_of<H: Hash + ?Sized>(keys: &H) -> u64 {
    use std::hash::BuildHasher;
    // A fixed seed: the same keys give the same fingerprint in every run.
    foldhash::fast::FixedState::with_seed(0x6368_6174_6861_756c).hash_one(keys)
}

/// A page fingerprint that ignores the records' order: a server that
/// repeats a page with its records shuffled repeats its fingerprint too.
pub fn fingerprint_of_set<K: Hash>(keys: impl IntoIterator<Item = K>) -> u64 {
    let mut each: Vec<u64> = keys.into_iter().map(|k| fingerprint_of(&k)).collect();
    each.sort_unstable();
    fingerprint_of(&each)
}

/// How a page-number listing is walked.
#[derive(Debug, Clone, Copy)]
pub struct PageNumbers {
    /// The vendor, for errors.
    pub vendor: &'static str,
    /// The first page to fetch (1 to start; later to resume).
    pub first: u32,
    /// The page size asked for.
    pub per_page: u32,
    /// Whether a page shorter than `per_page` ends the listing. Only true
    /// when the server is known to honour `per_page` (servers that cap it
    /// silently return short pages mid-listing).
    pub short_page_ends: bool,
}

/// Walks a page-number listing: `fetch(n)` returns page `n`.
pub fn page_numbers<'a, T, F, Fut>(
    opts: PageNumbers,
    endpoint: String,
    fetch: F,
) -> BoxStream<'a, Result<Page<T>>>
where
    T: Send + 'a,
    F: FnMut(u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T>>> + Send + 'a,
{
    struct State<F> {
        fetch: F,
        next: Option<u32>,
        /// Every page's fingerprint and number so far: a server that cycles
        /// through pages (1, 2, 1, 2, …) repeats one that is not the last.
        seen: std::collections::HashMap<u64, u32>,
        endpoint: String,
    }
    let state = State {
        fetch,
        next: Some(opts.first),
        seen: std::collections::HashMap::new(),
        endpoint,
    };
    stream::unfold(state, move |mut st| async move {
        let n = st.next?;
        let page = match (st.fetch)(n).await {
            Ok(p) => p,
            Err(e) => {
                st.next = None;
                return Some((Err(e), st));
            }
        };
        if page.items.is_empty() {
            return None;
        }
        if let Some(&prev_n) = st.seen.get(&page.fingerprint) {
            st.next = None;
            let err = Error::Paging {
                vendor: opts.vendor,
                endpoint: st.endpoint.clone(),
                page: n,
                message: format!("page {n} repeats page {prev_n}; stopping instead of looping"),
            };
            return Some((Err(err), st));
        }
        st.seen.insert(page.fingerprint, n);
        let seen = u64::from(n) * u64::from(opts.per_page);
        let done = page.has_next == Some(false)
            || page.total.is_some_and(|t| seen >= t)
            || (opts.short_page_ends && (page.items.len() as u64) < u64::from(opts.per_page))
            || n == u32::MAX;
        st.next = if done { None } else { Some(n + 1) };
        Some((Ok(page), st))
    })
    .boxed()
}

/// Walks a next-link listing: `fetch(url, n)` returns page `n` with its next
/// link (absolute, or relative to the page's URL). Links to another origin
/// than `origin`, and links already visited, are errors.
pub fn next_links<'a, T, F, Fut>(
    vendor: &'static str,
    origin: Url,
    first: Url,
    endpoint: String,
    fetch: F,
) -> BoxStream<'a, Result<Page<T>>>
where
    T: Send + 'a,
    F: FnMut(Url, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T>>> + Send + 'a,
{
    struct State<F> {
        fetch: F,
        next: Option<(Url, u32)>,
        seen: HashSet<String>,
        endpoint: String,
    }
    let mut seen = HashSet::new();
    seen.insert(first.to_string());
    let state = State {
        fetch,
        next: Some((first, 1)),
        seen,
        endpoint,
    };
    stream::unfold(state, move |mut st| {
        let origin = origin.clone();
        async move {
            let (url, n) = st.next.take()?;
            let page = match (st.fetch)(url.clone(), n).await {
                Ok(p) => p,
                Err(e) => return Some((Err(e), st)),
            };
            let paging = |message: String| Error::Paging { vendor, endpoint: st.endpoint.clone(), page: n, message };
            if let Some(link) = page.next_link.as_deref().filter(|l| !l.trim().is_empty()) {
                let next = match url.join(link) {
                    Ok(u) => u,
                    Err(e) => return Some((Err(paging(format!("next link `{}` is not a URL: {e}", crate::lenient::clip(link)))), st)),
                };
                if !(next.scheme() == origin.scheme()
                    && next.host_str() == origin.host_str()
                    && next.port_or_known_default() == origin.port_or_known_default())
                {
                    let host = next.host_str().unwrap_or("?").to_owned();
                    return Some((
                        Err(paging(format!(
                            "next link points at another host (`{host}`); refusing to send credentials there"
                        ))),
                        st,
                    ));
                }
                if !st.seen.insert(next.to_string()) {
                    return Some((Err(paging("next link repeats a page already fetched; stopping instead of looping".into())), st));
                }
                if !page.items.is_empty() {
                    st.next = Some((next, n + 1));
                }
            }
            if page.items.is_empty() {
                return None;
            }
            Some((Ok(page), st))
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn opts(per_page: u32, short: bool) -> PageNumbers {
        PageNumbers {
            vendor: "test",
            first: 1,
            per_page,
            short_page_ends: short,
        }
    }

    /// A listing of `n` records served `cap` at a time (the server's cap).
    fn served(n: u32, per_page: u32, cap: u32, page: u32) -> Vec<u32> {
        let size = per_page.min(cap);
        let start = (page - 1) * size;
        (start..(start + size).min(n)).collect()
    }

    async fn collect(
        o: PageNumbers,
        f: impl Fn(u32) -> Page<u32> + Send + Sync + 'static,
    ) -> (Result<Vec<u32>>, Vec<u32>) {
        let fetched = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = fetched.clone();
        let f = std::sync::Arc::new(f);
        let r = page_numbers(o, "/x".into(), move |n| {
            log.lock().unwrap().push(n);
            let f = f.clone();
            async move { Ok(f(n)) }
        })
        .map_ok(|p| p.items)
        .try_concat()
        .await;
        let pages = fetched.lock().unwrap().clone();
        (r, pages)
    }

    #[tokio::test]
    async fn stops_on_empty_page() {
        let (r, pages) = collect(opts(10, false), |n| {
            let i = served(25, 10, 10, n);
            Page::new(n, i.clone(), fingerprint_of(&i))
        })
        .await;
        assert_eq!(r.unwrap(), (0..25).collect::<Vec<_>>());
        assert_eq!(pages, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn stops_on_short_page_when_allowed() {
        let (r, pages) = collect(opts(10, true), |n| {
            let i = served(25, 10, 10, n);
            Page::new(n, i.clone(), fingerprint_of(&i))
        })
        .await;
        assert_eq!(r.unwrap().len(), 25);
        assert_eq!(pages, [1, 2, 3]);
    }

    #[tokio::test]
    async fn short_pages_from_a_capping_server_do_not_end_the_listing() {
        // The server caps pages at 7 although 10 were asked for.
        let (r, _) = collect(opts(10, false), |n| {
            let i = served(25, 10, 7, n);
            Page::new(n, i.clone(), fingerprint_of(&i))
        })
        .await;
        assert_eq!(r.unwrap(), (0..25).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn stops_on_reported_total_and_missing_next() {
        let (r, pages) = collect(opts(10, false), |n| {
            let i = served(20, 10, 10, n);
            Page {
                total: Some(20),
                ..Page::new(n, i.clone(), fingerprint_of(&i))
            }
        })
        .await;
        assert_eq!(r.unwrap().len(), 20);
        assert_eq!(pages, [1, 2]);
        let (r, pages) = collect(opts(10, false), |n| {
            let i = served(30, 10, 10, n);
            Page {
                has_next: Some(n < 3),
                ..Page::new(n, i.clone(), fingerprint_of(&i))
            }
        })
        .await;
        assert_eq!(r.unwrap().len(), 30);
        assert_eq!(pages, [1, 2, 3]);
    }

    #[tokio::test]
    async fn repeated_page_is_an_error() {
        let (r, pages) = collect(opts(10, false), |n| {
            let i: Vec<u32> = (0..10).collect();
            Page::new(n, i.clone(), fingerprint_of(&i))
        })
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("page 2 repeats page 1"), "{e}");
        assert_eq!(pages, [1, 2]);
    }

    #[tokio::test]
    async fn a_page_repeated_out_of_order_or_cycled_is_an_error() {
        // The same records shuffled: an order-insensitive fingerprint repeats.
        let (r, pages) = collect(opts(2, false), |n| {
            let i: Vec<u32> = if n % 2 == 0 { vec![2, 1] } else { vec![1, 2] };
            Page::new(n, i.clone(), fingerprint_of_set(&i))
        })
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("page 2 repeats page 1"), "{e}");
        assert_eq!(pages, [1, 2]);
        // Two real pages served in a cycle: page 3 repeats page 1.
        let (r, pages) = collect(opts(2, false), |n| {
            let i: Vec<u32> = if n % 2 == 0 { vec![3, 4] } else { vec![1, 2] };
            Page::new(n, i.clone(), fingerprint_of_set(&i))
        })
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("page 3 repeats page 1"), "{e}");
        assert_eq!(pages, [1, 2, 3]);
        // Order still counts for nothing else: distinct pages pass.
        assert_ne!(fingerprint_of_set([1, 2]), fingerprint_of_set([1, 3]));
        assert_ne!(fingerprint_of_set([1, 1]), fingerprint_of_set([1]));
        assert_eq!(
            fingerprint_of_set(["a", "b"]),
            fingerprint_of_set(["b", "a"])
        );
    }

    async fn links(pages: Vec<(Vec<u32>, Option<&'static str>)>) -> (Result<Vec<u32>>, usize) {
        let origin = Url::parse("http://127.0.0.1:9/api/").unwrap();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        let r = next_links(
            "test",
            origin.clone(),
            origin.join("list?page=1").unwrap(),
            "/list".into(),
            move |_url, n| {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (items, next) = pages[(n - 1) as usize].clone();
                async move {
                    Ok(Page {
                        next_link: next.map(String::from),
                        ..Page::new(n, items, 0)
                    })
                }
            },
        )
        .map_ok(|p| p.items)
        .try_concat()
        .await;
        (r, calls.load(std::sync::atomic::Ordering::SeqCst))
    }

    #[tokio::test]
    async fn next_links_follow_until_absent() {
        let (r, calls) = links(vec![
            (vec![1, 2], Some("list?page=2")),
            (vec![3], Some("http://127.0.0.1:9/api/list?page=3")),
            (vec![4], None),
        ])
        .await;
        assert_eq!(r.unwrap(), [1, 2, 3, 4]);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn next_link_to_another_host_is_refused() {
        let (r, calls) = links(vec![
            (vec![1], Some("https://www.bangwo8.com/api/list?page=2")),
            (vec![2], None),
        ])
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("another host (`www.bangwo8.com`)"), "{e}");
        assert_eq!(calls, 1);
        let (r, _) = links(vec![
            (vec![1], Some("http://127.0.0.1:10/api/list?page=2")),
            (vec![2], None),
        ])
        .await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn repeating_next_link_is_an_error() {
        let (r, calls) = links(vec![
            (vec![1], Some("list?page=2")),
            (vec![2], Some("list?page=2")),
            (vec![3], None),
        ])
        .await;
        assert!(r.unwrap_err().to_string().contains("repeats"));
        assert_eq!(calls, 2);
    }
}
