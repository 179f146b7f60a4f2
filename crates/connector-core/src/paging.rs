//! A listing's [`Page`] and page fingerprints (the listing engine,
//! [`crate::listing`], walks pages and catches a page that repeats an
//! earlier one by its fingerprint).

use std::hash::Hash;

use crate::error::Error;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_fingerprint_ignores_order_and_nothing_else() {
        assert_eq!(
            fingerprint_of_set(["a", "b"]),
            fingerprint_of_set(["b", "a"])
        );
        assert_ne!(fingerprint_of_set([1, 2]), fingerprint_of_set([1, 3]));
        assert_ne!(fingerprint_of_set([1, 1]), fingerprint_of_set([1]));
    }
}
