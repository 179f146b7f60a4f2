//! Requests to the Bangwo8 API through the shared [`HttpClient`]: basic auth,
//! the endpoints' paths and parameters, envelope decoding, and the summary
//! endpoint's status codes.

use connector_core::decode::PageRef;
use connector_core::http::{Auth, HttpClient, Request};
use connector_core::model::Summary;
use connector_core::time::Tz;
use connector_core::{Error, Result};
use serde_json::Value;

use crate::VENDOR;
use crate::config::Bangwo8Config;
use crate::convert;
use crate::normalize::{self, ListingPage, MessagesPage};
use crate::wire::{SummaryEnvelope, relax_json};

/// The listing of all sessions.
pub(crate) const HISTORIES: &str = "/api/v1/imchat/histories.json";

/// Summary statuses that mean "no summary": no template bound, not filled in.
const NO_SUMMARY: [&str; 2] = ["120001", "120002"];

/// Percent-encodes one path segment (everything but RFC 3986 unreserved
/// characters), so an id can never change the path it is put in.
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Listing sessions needs an administrator account (the docs say so): an
/// account that is refused there is told.
fn administrator_hint(e: Error) -> Error {
    match e {
        Error::Unauthenticated {
            vendor,
            endpoint,
            status,
            message,
        } => Error::Unauthenticated {
            vendor,
            endpoint,
            status,
            message: format!("{message}; listing sessions needs a Bangwo8 administrator account"),
        },
        other => other,
    }
}

/// What one listing walk asks for and how its records are stamped.
#[derive(Debug)]
pub(crate) struct Listing<'a> {
    pub path: &'a str,
    pub params: &'a [(String, String)],
    pub account: &'a str,
    pub zone: Tz,
    /// Whether a session that does not decode is set aside
    /// ([`ListingPage::rejected`]) rather than failing the page.
    pub skip_bad_records: bool,
}

/// The client of one account.
#[derive(Debug)]
pub(crate) struct Client {
    pub http: HttpClient,
}

impl Client {
    pub fn new(cfg: &Bangwo8Config) -> Result<Self> {
        cfg.validate()?;
        let auth = Auth::Basic {
            user: cfg.account.clone(),
            password: cfg.password.clone(),
        };
        Ok(Self {
            http: HttpClient::new(VENDOR, &cfg.account, &cfg.base_url, auth, cfg.http.clone())?,
        })
    }

    /// One page of a listing, normalized: `path` is [`HISTORIES`] or an
    /// agent's listing; `params` are the pushed-down filters.
    pub async fn histories(
        &self,
        listing: &Listing<'_>,
        page: u32,
        per_page: u32,
    ) -> Result<ListingPage> {
        let mut req = Request::new(listing.path, listing.path).page(page);
        req.query.extend(listing.params.iter().cloned());
        let req = req.param("page", page).param("per_page", per_page);
        let resp = self
            .http
            .get_with(&req, |ctx, body| {
                if listing.skip_bad_records {
                    normalize::listing_page_skipping(ctx, body, listing.account, listing.zone)
                } else {
                    normalize::listing_page(ctx, body, listing.account, listing.zone)
                }
            })
            .await
            .map_err(administrator_hint)?;
        let mut page = resp.value;
        page.rejected = std::mem::take(&mut page.rejected)
            .into_iter()
            .map(|e| e.scrubbed(|t| self.http.scrub(t)))
            .collect();
        Ok(page)
    }

    /// One page of a session's chat records, normalized.
    pub async fn chatrecords(
        &self,
        r_id: &str,
        page: u32,
        per_page: u32,
        zone: Tz,
    ) -> Result<MessagesPage> {
        let path = format!("/api/v1/imchat/chatrecords/{}.json", segment(r_id));
        let req = Request::new(path.clone(), path)
            .page(page)
            .param("page", page)
            .param("per_page", per_page);
        let resp = self
            .http
            .get_with(&req, |ctx, body| normalize::messages_page(ctx, body, zone))
            .await?;
        Ok(resp.value)
    }

    /// A session's IM service summary; `None` when the vendor says there is
    /// none (status 120001: no template bound; 120002: not filled in).
    ///
    /// The body is read leniently: the vendor's own examples of this endpoint
    /// carry a trailing comma (and comments), so when strict JSON fails, a
    /// comma before `}`/`]` and comments are dropped and the body is read again.
    pub async fn summary(&self, r_id: &str) -> Result<Option<Summary>> {
        let path = format!("/api/v1/servicesummary/{}.json", segment(r_id));
        let req = Request::new(path.clone(), path).param("servicesummary_type", 1);
        let ctx = req.page_ref(VENDOR);
        let max = self.http.settings().max_attempts.max(1);
        let mut attempt = 1;
        let envelope = loop {
            let body = self.http.get_bytes(&req).await?;
            match decode_summary(&self.http, &ctx, &body) {
                // A body cut short (or an HTML error page) is a transport
                // fault in disguise; `get_json` would retry it, so do we.
                Err(e) if e.is_retryable() && attempt < max => attempt += 1,
                other => break other?,
            }
        };
        let status = envelope.status.clone().unwrap_or_default();
        if NO_SUMMARY.contains(&status.as_str()) {
            return Ok(None);
        }
        if status != "200" {
            let message = envelope
                .message
                .unwrap_or_else(|| "the summary endpoint reported an error".into());
            let code = if status.is_empty() {
                None
            } else {
                Some(status)
            };
            return Err(ctx.api(200, code, message));
        }
        let summary = envelope
            .data
            .and_then(|d| d.service_summary)
            .ok_or_else(|| ctx.field("data.serviceSummary", "missing although status is 200"))?;
        convert::summary(summary)
            .map(Some)
            .map_err(|convert::MissingField(f)| {
                ctx.field(format!("data.serviceSummary.{f}"), "missing")
            })
    }
}

fn decode_error(ctx: &PageRef, path: String, message: String, transient: bool) -> Error {
    Error::Decode {
        vendor: ctx.vendor,
        endpoint: ctx.endpoint.clone(),
        page: ctx.page,
        path,
        message,
        transient,
    }
}

/// Decodes a summary body, strictly first, then relaxed (see [`Client::summary`]).
/// Text quoted in an error is scrubbed of the credential and on one line.
fn decode_summary(http: &HttpClient, ctx: &PageRef, body: &[u8]) -> Result<SummaryEnvelope> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(decode_error(
            ctx,
            ".".into(),
            "the response body is empty".into(),
            true,
        ));
    }
    if trimmed.starts_with('<') {
        let msg = format!(
            "expected JSON, got an HTML page: {}",
            connector_core::lenient::clip(&http.quote(trimmed.as_bytes()))
        );
        return Err(decode_error(ctx, ".".into(), msg, true));
    }
    let value = match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => v,
        Err(strict) => {
            match relax_json(trimmed).and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
                Some(v) => v,
                None => {
                    let transient = strict.is_eof();
                    let msg = connector_core::lenient::clip(&http.scrub(&strict.to_string()))
                        .into_owned();
                    return Err(decode_error(ctx, ".".into(), msg, transient));
                }
            }
        }
    };
    ctx.decode_value::<SummaryEnvelope>("", &value)
}
