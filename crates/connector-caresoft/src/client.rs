//! Requests to CareSoft through the shared [`HttpClient`]: bearer auth,
//! retries, rate limit and status → error mapping come with it; this module
//! builds the listing request and checks the envelope.

use chrono::{DateTime, Utc};
use connector_core::Result;
use connector_core::http::{Auth, HttpClient, Request};
use connector_core::lenient::format_utc_z;
use connector_core::query::TimeField;
use connector_core::time::Tz;
use std::sync::Arc;

use crate::VENDOR;
use crate::config::{CaresoftConfig, ConversationType};
use crate::normalize::{self, ChatsPage};

/// The listing endpoint, as documented (also its path below the base URL).
pub const CHATS: &str = "/api/v1/chats";

/// A time filter as sent: which time it is on, and its (already widened) bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeFilter {
    pub field: TimeField,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The filters pushed down to `GET /api/v1/chats`, besides the type and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filters {
    pub time: Option<TimeFilter>,
    /// An agent id, sent as `assignees[]`.
    pub assignee: Option<String>,
    /// A customer id, sent as `customers[]`.
    pub customer: Option<String>,
    /// One conversation's id.
    pub conversation_id: Option<String>,
}

impl Filters {
    /// The query parameters, in a stable order; array parameters as repeated
    /// `name[]` keys.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.time {
            let (since, to) = match t.field {
                TimeField::Created => ("start_time_since", "start_time_to"),
                TimeField::Ended => ("end_time_since", "end_time_to"),
            };
            if let Some(s) = t.since {
                out.push((since, format_utc_z(s)));
            }
            if let Some(u) = t.until {
                out.push((to, format_utc_z(u)));
            }
        }
        if let Some(a) = &self.assignee {
            out.push(("assignees[]", a.clone()));
        }
        if let Some(c) = &self.customer {
            out.push(("customers[]", c.clone()));
        }
        if let Some(id) = &self.conversation_id {
            out.push(("conversation_id", id.clone()));
        }
        out
    }
}

/// The HTTP side of one connector: the shared client plus what converting a
/// page needs (account, zone).
#[derive(Debug)]
pub(crate) struct Client {
    pub http: HttpClient,
    pub account: Arc<str>,
    pub zone: Tz,
}

impl Client {
    /// A client for `config`, authenticating with `Authorization: Bearer <token>`.
    ///
    /// # Errors
    /// [`connector_core::Error::Config`] for a bad base URL, domain or token.
    pub fn new(config: &CaresoftConfig) -> Result<Self> {
        let account = config.account()?;
        let base_url = config.effective_base_url()?;
        let http = HttpClient::new(
            VENDOR,
            &account,
            &base_url,
            Auth::Bearer(config.token.clone()),
            config.http.clone(),
        )?;
        Ok(Self {
            http,
            account: account.into(),
            zone: config.timezone,
        })
    }

    /// The listing request for one type, page and page size.
    pub fn chats_request(
        ty: ConversationType,
        filters: &Filters,
        count: u32,
        page: u32,
    ) -> Request {
        let mut req = Request::new(CHATS, CHATS)
            .page(page)
            .param("conversation_type", ty.code());
        for (k, v) in filters.params() {
            req = req.param(k, v);
        }
        req.param("page", page).param("count", count)
    }

    /// Fetches one listing page and normalizes it with
    /// [`normalize::conversations_page`].
    ///
    /// # Errors
    /// Any HTTP error of [`HttpClient::get_with`]; a `code` other than `OK`
    /// as [`connector_core::Error::Api`] carrying the code; decode and field
    /// errors naming the page and JSON path.
    pub async fn chats(
        &self,
        ty: ConversationType,
        filters: &Filters,
        count: u32,
        page: u32,
        skip_bad_records: bool,
    ) -> Result<ChatsPage> {
        let req = Self::chats_request(ty, filters, count, page);
        // Pages of up to 500 records, fetched ahead: decoded off the task
        // that drives the pull.
        let (account, zone) = (Arc::clone(&self.account), self.zone);
        let resp = self
            .http
            .get_with_spawned(&req, move |ctx, body| {
                if skip_bad_records {
                    normalize::conversations_page_skipping(ctx, body, &account, zone, ty)
                } else {
                    normalize::conversations_page(ctx, body, &account, zone, ty)
                }
            })
            .await?;
        let mut page = resp.value;
        page.rejected = std::mem::take(&mut page.rejected)
            .into_iter()
            .map(|e| e.scrubbed(|t| self.http.scrub(t)))
            .collect();
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn request_params_in_order() {
        let f = Filters {
            time: Some(TimeFilter {
                field: TimeField::Ended,
                since: Some(utc("2023-04-21T02:00:00Z")),
                until: None,
            }),
            assignee: Some("42".into()),
            customer: Some("165644057".into()),
            conversation_id: None,
        };
        let req = Client::chats_request(ConversationType::Zalo, &f, 500, 2);
        let q: Vec<(&str, &str)> = req
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            q,
            [
                ("conversation_type", "3"),
                ("end_time_since", "2023-04-21T02:00:00Z"),
                ("assignees[]", "42"),
                ("customers[]", "165644057"),
                ("page", "2"),
                ("count", "500"),
            ]
        );
        assert_eq!((req.endpoint.as_str(), req.page), (CHATS, 2));
    }
}
