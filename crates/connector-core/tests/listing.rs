//! The listing engine's next-link paging through the real HTTP path: links
//! relative or absolute are followed on the configured origin and below the
//! base URL only; a link to another host gets no request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query as Params, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use connector_core::decode::RecordRef;
use connector_core::http::{Auth, HttpSettings};
use connector_core::listing::{
    Api, Connection, Endpoint, Envelope, ListEndpoint, Listing, ListingConnector, PagePosition,
    Paging, Plan, RecordsAt, Vendor, VendorConfig,
};
use connector_core::registry::ResolvedConfig;
use connector_core::{
    Capabilities, ConfigField, Connector, Conversation, Error, Include, Query, RawJson, Result,
};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Config {
    base_url: String,
    http: HttpSettings,
}

impl VendorConfig for Config {
    const FIELDS: &'static [ConfigField] = &[];
    fn from_resolved(_: &ResolvedConfig) -> Result<Self> {
        Err(Error::Query("built directly".into()))
    }
    fn with_http(self, http: HttpSettings) -> Self {
        Self { http, ..self }
    }
}

#[derive(Debug, Deserialize)]
struct Items<'a> {
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    #[serde(default)]
    next: Option<String>,
}

impl<'a> Envelope<'a> for Items<'a> {
    fn next_link(&self) -> Option<&str> {
        self.next.as_deref()
    }
    fn into_records(self) -> Vec<&'a RawValue> {
        self.items
    }
}

#[derive(Debug, Deserialize)]
struct Item {
    id: u64,
}

#[derive(Debug)]
struct Linked(Endpoint);

impl ListEndpoint for Linked {
    type Envelope<'a> = Items<'a>;
    type Record<'a> = Item;
    type Item = Conversation;
    fn endpoint(&self) -> &Endpoint {
        &self.0
    }
    fn convert(&self, item: Item, raw: &RawValue, _: &RecordRef<'_>) -> Result<Conversation> {
        let mut c = Conversation::new("links", "acme", item.id.to_string());
        c.raw = RawJson::from_raw(raw);
        Ok(c)
    }
}

#[derive(Debug)]
struct Links(Config);

#[connector_core::async_trait]
impl Vendor for Links {
    const NAME: &'static str = "links";
    const CAPABILITIES: Capabilities = Capabilities {
        messages: false,
        summaries: false,
        push_created: false,
        push_ended: false,
        push_agent: false,
        push_customer: false,
        push_channel: false,
        max_page_size: None,
        changes: connector_core::ChangeTracking::DEFAULT,
    };
    type Config = Config;
    type Listing = Linked;
    type Listed = Conversation;

    fn new(config: Config) -> Result<Self> {
        Ok(Self(config))
    }
    fn config(&self) -> &Config {
        &self.0
    }
    fn connection(&self) -> Connection {
        Connection {
            account: "acme".into(),
            base_url: self.0.base_url.clone(),
            auth: Auth::None,
            http: self.0.http.clone(),
        }
    }
    fn plan(&self, query: &Query) -> Plan<Linked> {
        let endpoint = Endpoint::new("/items", RecordsAt::List("items"), Paging::Links);
        let params = vec![("kind".to_owned(), "all".to_owned())];
        Plan::new(vec![Listing::new(Linked(endpoint), params, 0)], query)
    }
    async fn complete(&self, _: &Api, c: Conversation, _: Include) -> Result<Conversation> {
        Ok(c)
    }
    async fn conversation(&self, _: &Api, _: &str, _: Include) -> Result<Conversation> {
        Err(Error::Query("not here".into()))
    }
}

/// Serves `/api/items?p=N` with `next(N, origin)` as page N's next link;
/// pages 1 to 3 hold two items each; logs the `p` asked for.
async fn server(
    next: impl Fn(u32, &str) -> Option<String> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    type Shared = (
        Arc<dyn Fn(u32, &str) -> Option<String> + Send + Sync>,
        String,
        Arc<Mutex<Vec<String>>>,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let shared: Shared = (Arc::new(next), origin.clone(), log.clone());
    let app = Router::new()
        .route(
            "/api/items",
            get(
                |State((next, origin, log)): State<Shared>,
                 Params(q): Params<std::collections::HashMap<String, String>>| async move {
                    let p: u32 = q.get("p").and_then(|p| p.parse().ok()).unwrap_or(1);
                    log.lock()
                        .unwrap()
                        .push(format!("p={p} kind={:?}", q.get("kind")));
                    let items: Vec<Value> = if p <= 3 {
                        vec![json!({"id": p * 10}), json!({"id": p * 10 + 1})]
                    } else {
                        Vec::new()
                    };
                    Json(json!({"items": items, "next": next(p, &origin)}))
                },
            ),
        )
        .route(
            "/api/forbidden",
            get(|| async { (StatusCode::FORBIDDEN, r#"{"error":"admins only"}"#) }),
        )
        .with_state(shared);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, log)
}

fn connector(origin: &str) -> ListingConnector<Links> {
    ListingConnector::new(Config {
        base_url: format!("{origin}/api"),
        http: HttpSettings {
            max_attempts: 1,
            timeout: Duration::from_secs(5),
            ..HttpSettings::default()
        },
    })
    .unwrap()
}

async fn pull(c: &ListingConnector<Links>) -> (Vec<String>, Vec<String>) {
    let items: Vec<Result<Conversation>> = c.conversations(&Query::new()).collect().await;
    let ids = items
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|c| c.id.clone()))
        .collect();
    let errors = items
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    (ids, errors)
}

#[tokio::test]
async fn next_links_relative_or_absolute_are_followed_to_the_last_page() {
    let (origin, log) = server(|p, origin| match p {
        1 => Some("items?p=2".into()),
        2 => Some(format!("{origin}/api/items?p=3")),
        _ => None,
    })
    .await;
    let c = connector(&origin);
    let (ids, errors) = pull(&c).await;
    assert_eq!(
        (ids, errors),
        (
            vec!["10", "11", "20", "21", "30", "31"]
                .into_iter()
                .map(String::from)
                .collect(),
            vec![]
        )
    );
    // The first request carries the pushed-down parameters; a link is
    // followed as it is.
    assert_eq!(
        *log.lock().unwrap(),
        ["p=1 kind=Some(\"all\")", "p=2 kind=None", "p=3 kind=None"]
    );
    assert_eq!(c.stats().pages, 3);
    // A link listing cannot be entered in the middle.
    let e = c
        .pages(
            &Query::new(),
            PagePosition {
                listing: 0,
                page: 2,
            },
        )
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has no page numbers"), "{e}");
}

#[tokio::test]
async fn a_link_to_another_host_or_outside_the_base_url_gets_no_request() {
    let (elsewhere, elsewhere_log) = server(|_, _| None).await;
    let foreign = elsewhere.clone();
    let (origin, log) =
        server(move |p, _| (p == 1).then(|| format!("{foreign}/api/items?p=2"))).await;
    let (ids, errors) = pull(&connector(&origin)).await;
    assert_eq!(ids, ["10", "11"], "the page before the link is kept");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("links: /items page 1: next link points at another host"),
        "{}",
        errors[0]
    );
    assert!(elsewhere_log.lock().unwrap().is_empty());
    assert_eq!(log.lock().unwrap().len(), 1);

    let (origin, log) =
        server(|p, origin| (p == 1).then(|| format!("{origin}/admin/items?p=2"))).await;
    let (ids, errors) = pull(&connector(&origin)).await;
    assert_eq!(ids, ["10", "11"]);
    assert!(
        errors[0].contains("leaves the configured base URL"),
        "{}",
        errors[0]
    );
    assert_eq!(log.lock().unwrap().len(), 1);

    // A link back to a page already fetched ends the listing with an error.
    let (origin, _) =
        server(|p, _| Some(format!("items?p={}", if p == 2 { 2 } else { p + 1 }))).await;
    let (ids, errors) = pull(&connector(&origin)).await;
    assert_eq!(ids, ["10", "11", "20", "21"]);
    assert!(
        errors[0].contains("repeats a page already fetched"),
        "{}",
        errors[0]
    );
}

/// Serves two pages by next link; page 1's second record has an `id` that
/// is not a number.
async fn server_with_a_bad_record() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/api/items",
        get(
            |Params(q): Params<std::collections::HashMap<String, String>>| async move {
                match q.get("p").map(String::as_str) {
                    None => Json(json!({
                        "items": [{"id": 1}, {"id": "two"}, {"id": 3}],
                        "next": "items?p=2"
                    })),
                    _ => Json(json!({"items": [{"id": 4}]})),
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

#[tokio::test]
async fn a_bad_record_is_set_aside_with_its_text_under_skip_and_ends_the_stream_under_fail() {
    let origin = server_with_a_bad_record().await;
    let c = connector(&origin);
    // Skip: every good record, then (at its page's end) the bad one, set
    // aside with its place and text, and the next page still read.
    let items: Vec<Result<Conversation>> = c
        .conversations(&Query::new().on_bad_record(connector_core::BadRecord::Skip))
        .collect()
        .await;
    let ids: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|c| c.id.clone()))
        .collect();
    assert_eq!(ids, ["1", "3", "4"]);
    let rejected: Vec<&Error> = items.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(rejected.len(), 1);
    let Error::Rejected { error, raw } = rejected[0] else {
        panic!("{:?}", rejected[0])
    };
    assert_eq!(raw, r#"{"id":"two"}"#);
    let place = error.place().unwrap();
    assert_eq!(
        (place.endpoint, place.page, place.path),
        ("/items", 1, Some("items[1].id"))
    );
    // The listing's counters count it as listed: no shortfall.
    assert_eq!(c.stats().listed, 4);
    // Fail (the default): the page's error ends the stream, as always.
    let (ids, errors) = pull(&c).await;
    assert!(ids.is_empty(), "{ids:?}");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("at items[1].id") && !errors[0].contains("set aside"),
        "{}",
        errors[0]
    );
}

/// An endpoint whose refusals say who may call it.
#[derive(Debug)]
struct AdminsOnly(Linked);

impl ListEndpoint for AdminsOnly {
    type Envelope<'a> = Items<'a>;
    type Record<'a> = Item;
    type Item = Conversation;
    fn endpoint(&self) -> &Endpoint {
        self.0.endpoint()
    }
    fn convert(&self, item: Item, raw: &RawValue, at: &RecordRef<'_>) -> Result<Conversation> {
        self.0.convert(item, raw, at)
    }
    fn explain(&self, error: Error) -> Error {
        match error {
            Error::Unauthenticated {
                vendor,
                endpoint,
                status,
                message,
            } => Error::Unauthenticated {
                vendor,
                endpoint,
                status,
                message: format!("{message}; only administrators may list items"),
            },
            other => other,
        }
    }
}

#[tokio::test]
async fn an_endpoint_explains_the_errors_of_its_requests() {
    let (origin, _) = server(|_, _| None).await;
    let c = connector(&origin);
    let forbidden = || {
        Linked(Endpoint::new(
            "/forbidden",
            RecordsAt::List("items"),
            Paging::Single,
        ))
    };
    let e = c
        .api()
        .all(&Listing::new(AdminsOnly(forbidden()), Vec::new(), 0))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Unauthenticated { status: 403, .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "links: authentication failed (/forbidden, HTTP 403): the account lacks the permission for this \
         endpoint ({\"error\":\"admins only\"}); only administrators may list items"
    );
    // Without an explanation, the error as the request ended.
    let e = c
        .api()
        .all(&Listing::new(forbidden(), Vec::new(), 0))
        .await
        .unwrap_err();
    assert!(
        e.to_string().ends_with("({\"error\":\"admins only\"})"),
        "{e}"
    );
}
