//! Requests to the KF5 API through the shared [`HttpClient`]: basic auth with
//! the password or `{email}/token` and the API token; status codes become
//! errors there (401/403 → [`connector_core::Error::Unauthenticated`], 429 and
//! 5xx retried, others [`connector_core::Error::Api`]).

use connector_core::http::{Auth, Ctx, HttpClient, Request};
use connector_core::time::Tz;
use connector_core::{Error, Result};

use crate::VENDOR;
use crate::config::{Credential, Kf5Config};
use crate::normalize::{self, ListedChat};

/// The documented listing endpoint.
pub(crate) const LIST_ENDPOINT: &str = "/apiv2/chats.json";

/// How records are stamped and what is decoded of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp<'a> {
    pub account: &'a str,
    pub zone: Tz,
    pub with_messages: bool,
}

/// The KF5 HTTP client of one connector.
#[derive(Debug)]
pub(crate) struct Kf5Client {
    pub http: HttpClient,
}

impl Kf5Client {
    pub fn new(config: &Kf5Config, account: &str) -> Result<Self> {
        let password = match &config.credential {
            Credential::Password(s) | Credential::ApiToken(s) => s.clone(),
        };
        let auth = Auth::Basic {
            user: config.auth_user(),
            password,
        };
        let http = HttpClient::new(
            VENDOR,
            account,
            &config.effective_base_url(),
            auth,
            config.http.clone(),
        )?;
        Ok(Self { http })
    }

    /// One page of `GET /apiv2/chats.json` with the pushed-down `params`,
    /// normalized, with a fingerprint of its body.
    pub async fn list_page(
        &self,
        params: &[(String, String)],
        page: u32,
        per_page: u32,
        stamp: Stamp<'_>,
    ) -> Result<Vec<ListedChat>> {
        let mut req = Request::new(LIST_ENDPOINT, LIST_ENDPOINT).page(page);
        req.query.extend(params.iter().cloned());
        let req = req.param("page", page).param("per_page", per_page);
        let resp = self
            .http
            .get_with(&req, |ctx, body| {
                normalize::listing_page(ctx, body, stamp.account, stamp.zone, stamp.with_messages)
            })
            .await?;
        Ok(resp.value)
    }

    /// `GET /apiv2/chats/{id}.json`, normalized (messages included), with
    /// the request's context for errors about it.
    pub async fn chat(&self, id: &str, stamp: Stamp<'_>) -> Result<(Ctx, ListedChat)> {
        check_id(id)?;
        let path = format!("/apiv2/chats/{id}.json");
        let req = Request::new(path.clone(), path);
        let resp = self
            .http
            .get_with(&req, |ctx, body| {
                normalize::detail(ctx, body, stamp.account, stamp.zone, stamp.with_messages)
            })
            .await?;
        Ok((req.ctx(VENDOR), resp.value))
    }
}

/// Whether `id` may go into a URL path: id-like text only.
pub(crate) fn is_chat_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A chat id goes into the URL path: only id-like text may.
fn check_id(id: &str) -> Result<()> {
    if is_chat_id(id) {
        Ok(())
    } else {
        Err(Error::Query(format!(
            "kf5: `{}` is not a chat id",
            connector_core::lenient::clip(id)
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_id_like_text_reaches_the_path() {
        for ok in ["290", "abc-1_2"] {
            assert!(super::check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../admin", "1?x=2", "1/2", "a b"] {
            let e = super::check_id(bad).unwrap_err().to_string();
            assert!(e.contains("is not a chat id"), "{e}");
        }
    }
}
