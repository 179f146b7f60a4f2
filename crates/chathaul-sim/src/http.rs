//! Small HTTP helpers shared by the vendor handlers: raw query parameters
//! (repeated keys kept), credentials, and replies.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

/// A handler's result: the reply, or an error reply.
pub(crate) type ApiResult<T> = Result<T, Reply>;

/// A complete reply: status, extra headers and a body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    /// A JSON reply.
    /// A JSON answer serialized straight from `v`.
    pub(crate) fn json_of(status: u16, v: &impl serde::Serialize) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "application/json; charset=utf-8",
            body: Bytes::from(serde_json::to_vec(v).expect("the answer serializes")),
        }
    }

    pub(crate) fn json(status: u16, v: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "application/json; charset=utf-8",
            body: Bytes::from(serde_json::to_vec(v).expect("JSON values always serialize")),
        }
    }

    /// A plain-text or HTML reply.
    pub(crate) fn text(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type,
            body: body.into(),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The head of the HTTP response, with `body`.
    pub(crate) fn into_response_with(self, body: Body) -> Response<Body> {
        let mut res = Response::new(body);
        *res.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        res
    }

    /// The whole HTTP response.
    pub(crate) fn into_response(self) -> Response<Body> {
        let body = Body::from(self.body.clone());
        self.into_response_with(body)
    }
}

/// Query parameters in request order, repeated keys kept (`assignees[]=1&assignees[]=2`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All parameters, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A positive integer parameter with a default; the error message names it.
    pub(crate) fn positive(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "invalid parameter {key}: `{v}` is not a positive integer"
                )),
            },
        }
    }
}

/// The (user, password) of a basic `Authorization` header.
pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// The token of a bearer `Authorization` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
}

/// Who a request claims to be, for the per-account rate limit: the basic
/// user name or the bearer token (whether or not the credentials are right).
pub(crate) fn account_key(headers: &HeaderMap) -> Option<String> {
    match basic_auth(headers) {
        // A Zendesk-style API token names the same user as `{email}/token`.
        Some((user, _)) => Some(user.strip_suffix("/token").unwrap_or(&user).to_owned()),
        None => bearer(headers).map(|t| format!("bearer:{t}")),
    }
}
