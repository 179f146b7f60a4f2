//! A listing's [`Page`], page fingerprints, and [`page_numbers`], the page
//! walk of the connectors not yet on the listing engine ([`crate::listing`],
//! which walks pages itself, reading ahead).
//!
//! The walk stops on an empty page, a short page (when asked), the reported
//! total or "no next page"; it fails — never loops — on a page that repeats
//! an earlier one.

use std::hash::Hash;

use futures::stream::{self, BoxStream, StreamExt};

use crate::error::{Error, Result};

/// One page of a listing.
#[derive(Debug)]
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
    /// The records that could not be decoded, each set aside with its text
    /// ([`Error::Rejected`]): only when the page was read with
    /// [`crate::BadRecord::Skip`].
    pub rejected: Vec<Error>,
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
            rejected: Vec::new(),
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
}
