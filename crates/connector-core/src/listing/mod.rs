//! The listing engine: what every vendor's connector does the same way.
//!
//! A vendor crate describes its endpoints ([`Endpoint`]: path, records,
//! paging), its envelopes ([`Envelope`]: where the records are, the total
//! and next link it reports, error codes in a 200 body) and how one record
//! becomes the model ([`ListEndpoint::convert`]); and, as a [`Vendor`],
//! which listings a [`crate::Query`] maps to and how a listed conversation
//! is completed. The engine does the rest:
//!
//! - fetching a page through the vendor's [`crate::http::HttpClient`] and
//!   decoding it ([`decode_page`]): the envelope, then each record, with
//!   `serde_json` alone (one path), the record's text kept as its `raw`, and
//!   errors naming vendor, endpoint, page and JSON path (`chats[4].end_at`);
//! - paging: page numbers (stopping on an empty page, a short page when the
//!   vendor's page size can be trusted, the reported total, or "no next
//!   page"), next links (only on the configured origin), single pages;
//! - read-ahead: once a listing's second page is in, later pages are asked
//!   for several at a time, at most [`READ_AHEAD`] (the pages a reported
//!   total promises, or a window that doubles while pages keep coming),
//!   yielded in order; the HTTP client's pacing decides how many are in
//!   flight;
//! - repeated pages (also shuffled, or served in a cycle): an error, never
//!   a loop;
//! - the exact client-side filter ([`crate::Query::matches`]), the limit,
//!   completion of listed conversations concurrently in listing order,
//!   counters, totals and shortfalls ([`crate::PullCounters`]);
//! - the page-level API for resuming ([`ListingConnector::pages`]).
//!
//! [`ListingConnector`] is the resulting [`crate::Connector`].

mod connector;
mod pages;
mod vendor;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decode::{PageRef, RecordRef};
use crate::error::{Error, Result};
pub use crate::paging::Page;
use crate::paging::fingerprint_of_set;
use crate::query::BadRecord;

pub use connector::{AllPages, Api, ConversationPage, ListingConnector, PagePosition, READ_AHEAD};
pub use vendor::{Combine, Connection, Listed, Listing, Plan, Vendor, VendorConfig};

/// What the engine needs to know about one endpoint: its name for errors,
/// its path, where its records are and how it pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint as documented (`/apiv2/chats.json`), named in errors;
    /// for an endpoint that names one record, the path asked for.
    pub name: String,
    /// The path appended to the base URL.
    pub path: String,
    /// Where the envelope holds its records (for error paths and tests).
    pub records: RecordsAt,
    /// How it pages.
    pub paging: Paging,
}

impl Endpoint {
    /// An endpoint at `path`, named by its path.
    pub fn new(path: impl Into<String>, records: RecordsAt, paging: Paging) -> Self {
        let path = path.into();
        Self {
            name: path.clone(),
            path,
            records,
            paging,
        }
    }

    /// The same endpoint, named `name` in errors (`/api/v1/chats/{id}`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// Where an envelope holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsAt {
    /// An array under this key (`{"chats": [...]}`: `chats[3]` in errors),
    /// or at this dotted path (`{"im_chatrecords": {"contents": [...]}}`:
    /// `im_chatrecords.contents[3]`).
    List(&'static str),
    /// One record under this key (`{"chat": {...}}`: `chat` in errors).
    One(&'static str),
}

impl RecordsAt {
    /// The key (or dotted path).
    pub fn key(self) -> &'static str {
        match self {
            RecordsAt::List(k) | RecordsAt::One(k) => k,
        }
    }
}

/// How an endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One page: a record by id, or a listing without pages.
    Single,
    /// Page numbers in query parameters.
    Numbers(PageNumbers),
    /// Each page links the next ([`Envelope::next_link`]); a link is
    /// followed only on the configured origin and below the base URL.
    Links,
}

/// A page-number listing's parameters and stop rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNumbers {
    /// The page parameter (`page`), 1-based.
    pub page_param: &'static str,
    /// The page-size parameter (`per_page`, `count`).
    pub size_param: &'static str,
    /// The page size asked for when the query names none.
    pub default_size: u32,
    /// The largest page size asked for.
    pub max_size: u32,
    /// Whether a page shorter than the size asked for ends the listing.
    pub short_page: ShortPage,
}

impl PageNumbers {
    /// The page size to ask for: the query's, else the default, at most
    /// the largest.
    pub fn size_for(&self, query: &crate::Query) -> u32 {
        query.page_size_or(self.default_size, self.max_size)
    }
}

/// Whether a page shorter than asked for ends a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortPage {
    /// It does: the server serves the size asked for.
    Ends,
    /// It does when no more than this many were asked for: above it a
    /// server may cap pages silently, and only an empty page ends the
    /// listing.
    EndsUpTo(u32),
    /// It does not: only an empty page, the total or "no next page" end it.
    Continues,
}

impl ShortPage {
    /// Whether a short page ends a listing asked for `size` at a time.
    pub fn ends(self, size: u32) -> bool {
        match self {
            ShortPage::Ends => true,
            ShortPage::EndsUpTo(limit) => size <= limit,
            ShortPage::Continues => false,
        }
    }
}

/// A response body as the vendor sends it, holding its records as raw
/// JSON borrowed from the body (each decoded on its own afterwards, its
/// text kept as its `raw`).
pub trait Envelope<'a>: Deserialize<'a> {
    /// Checks what the envelope says about itself: a vendor error code in
    /// a 200 answer, a missing records key. The default accepts anything
    /// that decoded.
    ///
    /// # Errors
    /// An [`crate::Error::Api`] carrying the vendor's code, or an
    /// [`crate::Error::Field`] naming what is missing.
    fn check(&self, page: &PageRef) -> Result<()> {
        let _ = page;
        Ok(())
    }

    /// The number of records of the whole listing, when reported.
    fn total(&self) -> Option<u64> {
        None
    }

    /// Whether the vendor says there is a next page, when it says.
    fn has_next(&self) -> Option<bool> {
        None
    }

    /// The link to the next page, for [`Paging::Links`] endpoints.
    fn next_link(&self) -> Option<&str> {
        None
    }

    /// The records, in the vendor's order.
    fn into_records(self) -> Vec<&'a RawValue>;
}

/// One endpoint of a vendor, as the engine reads it: its description, its
/// envelope and record types, and the mapping of a record to what the
/// listing yields (a conversation, a message…).
///
/// Implemented by a vendor crate's `endpoints.rs` on a small value holding
/// what the mapping needs (account, zone, what to decode).
pub trait ListEndpoint: Send + Sync + 'static {
    /// The body's type.
    type Envelope<'a>: Envelope<'a>;
    /// One record's type.
    type Record<'a>: Deserialize<'a>;
    /// What one record becomes.
    type Item: Send + 'static;

    /// The endpoint's description.
    fn endpoint(&self) -> &Endpoint;

    /// Maps one decoded record (`raw` is its text, for the model's `raw`;
    /// `at` names it in errors and decodes its parts).
    ///
    /// # Errors
    /// An error naming the record's field (`at.field("id", "missing")`).
    fn convert<'a>(
        &self,
        record: Self::Record<'a>,
        raw: &'a RawValue,
        at: &RecordRef<'_>,
    ) -> Result<Self::Item>;

    /// An error of a request for this endpoint, with what the vendor says
    /// about the endpoint added (who may call it, say, so that a refused
    /// account is told what it lacks). The engine passes every error of a
    /// request through it; the default returns it as it is.
    fn explain(&self, error: Error) -> Error {
        error
    }
}

/// Decodes one page of `endpoint` from its body: the envelope, then each
/// record, each mapped by [`ListEndpoint::convert`]. For pages fetched by
/// the engine, and for bodies obtained some other way (an archive of raw API
/// answers, a proxy's log): body bytes in, model out, no connection.
///
/// The page's fingerprint is taken over its records' texts, whatever their
/// order, so a page repeated with its records shuffled is recognized.
///
/// # Errors
/// [`crate::Error::Decode`] naming vendor, endpoint, page and JSON path
/// (`chats[4].created_at`); whatever [`Envelope::check`] and
/// [`ListEndpoint::convert`] return.
pub fn decode_page<E: ListEndpoint>(
    endpoint: &E,
    page: &PageRef,
    body: &[u8],
) -> Result<Page<E::Item>> {
    decode_page_with(endpoint, page, body, BadRecord::Fail)
}

/// [`decode_page`], and with [`BadRecord::Skip`] a record that does not
/// decode (or convert) is set aside with its text in [`Page::rejected`]
/// ([`crate::Error::Rejected`], credentials not yet scrubbed) instead of
/// failing the page; the envelope still has to decode.
///
/// # Errors
/// As [`decode_page`]; under `Skip`, only for the page as a whole.
pub fn decode_page_with<E: ListEndpoint>(
    endpoint: &E,
    page: &PageRef,
    body: &[u8],
    on_bad_record: BadRecord,
) -> Result<Page<E::Item>> {
    let envelope: E::Envelope<'_> = page.decode_body(body)?;
    envelope.check(page)?;
    let total = envelope.total();
    let has_next = envelope.has_next();
    let next_link = envelope.next_link().map(str::to_owned);
    let records = envelope.into_records();
    let fingerprint = fingerprint_of_set(records.iter().map(|r| r.get()));
    let (key, one) = match endpoint.endpoint().records {
        RecordsAt::List(key) => (key, false),
        RecordsAt::One(key) => (key, true),
    };
    let mut items = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    for (i, raw) in records.iter().enumerate() {
        let at = RecordRef::new(page, key, (!one).then_some(i));
        let item = at
            .decode::<E::Record<'_>>(raw)
            .and_then(|record| endpoint.convert(record, raw, &at));
        match item {
            Ok(item) => items.push(item),
            Err(e) if on_bad_record == BadRecord::Skip && e.is_bad_record() => {
                rejected.push(e.rejected(raw.get()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Page {
        number: page.page,
        items,
        total,
        has_next,
        next_link,
        fingerprint,
        rejected,
    })
}
