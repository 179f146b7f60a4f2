//! The conformance suite: what every vendor on the listing engine must do,
//! checked against its server (the simulator, or a vendor's own test
//! server) with the [`Proxy`] in front for what servers seldom do.
//!
//! A vendor crate runs all of it with one line in its integration tests:
//!
//! ```ignore
//! connector_testkit::conformance!(connector_testkit::OnSimulator<connector_kf5::Kf5>);
//! ```
//!
//! Each behaviour is also a function here, generic over the [`Harness`].

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use connector_core::chrono::{DateTime, TimeDelta, Utc};
use connector_core::listing::{
    Endpoint, ListEndpoint, ListingConnector, PagePosition, READ_AHEAD, Vendor,
};
use connector_core::{Connector, Conversation, Error, Include, Query, Result, TimeField};
use futures::{StreamExt, TryStreamExt};

use crate::harness::{Dataset, Harness, TestServer, connector, fast_http, with_value};
use crate::proxy::{Mangle, Proxy};
use crate::{assert_same_conversations, without_messages, without_summary};

/// Runs one behaviour on a runtime of its own, failing it when it takes
/// more than two minutes (a listing that never ends is a failure, not a
/// hung test run).
///
/// # Panics
/// When the behaviour fails or times out.
pub fn run(behaviour: impl Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), behaviour)
            .await
            .expect("the behaviour finished within two minutes");
    });
}

/// Runs every behaviour of the suite against a [`Harness`], one test each.
#[macro_export]
macro_rules! conformance {
    ($harness:ty) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance!(@tests $harness;
                full_pull_equals_the_truth,
                one_conversation_by_id,
                created_windows_are_exact_and_half_open,
                ended_windows_are_exact_and_half_open,
                agent_customer_and_channel_filters_are_exact,
                a_limit_stops_the_listing_early,
                every_page_size_ends_the_listing_exactly,
                a_repeated_page_is_an_error_not_a_loop,
                pages_repeated_shuffled_or_in_a_cycle_are_errors,
                a_redirect_to_another_host_gets_no_request,
                a_200_that_is_not_the_envelope_is_an_error,
                refused_credentials_are_an_auth_error_without_the_secret,
                faults_give_the_truth_or_a_specific_error,
                a_server_rate_limit_is_honoured_and_a_client_limit_avoids_it,
                resuming_from_a_page_gives_the_tail,
                raw_is_the_record_as_served,
            );
        }
    };
    (@tests $harness:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::run($crate::conformance::$name::<$harness>());
            }
        )*
    };
}

/// The dataset most behaviours use: a few pages at the page sizes below.
const DATASET: Dataset = Dataset {
    seed: 7,
    conversations: 60,
    messages: 4,
};

/// The page size most behaviours ask for: six pages of [`DATASET`].
const PAGE: u32 = 10;

type Of<H> = <H as Harness>::Vendor;

/// A server, its truth, and a connector to it through a proxy.
struct Setup<H: Harness> {
    server: H::Server,
    truth: Vec<Conversation>,
    proxy: Proxy,
    connector: ListingConnector<Of<H>>,
}

/// The listing endpoints a query walks, for the proxy.
fn listings<V: Vendor>(connector: &ListingConnector<V>) -> Vec<Endpoint> {
    let mut all: Vec<Endpoint> = Vec::new();
    for listing in connector.vendor().plan(&Query::new()).listings {
        let e = listing.endpoint.endpoint().clone();
        if !all.contains(&e) {
            all.push(e);
        }
    }
    all
}

async fn setup<H: Harness>(dataset: Dataset, mangle: Mangle, attempts: u32) -> Setup<H> {
    let server = H::serve(dataset).await;
    let truth = server.truth();
    let direct = connector::<Of<H>>(&server.config(), fast_http(attempts)).expect("a connector");
    let base = direct.info().base_url.clone();
    let proxy = Proxy::start(&base, listings(&direct), mangle).await;
    let config = with_value(&server.config(), "base_url", &proxy.base_url());
    let connector = connector::<Of<H>>(&config, fast_http(attempts)).expect("a connector");
    Setup {
        server,
        truth,
        proxy,
        connector,
    }
}

/// Everything a pull yields, errors included, in order.
async fn pull(c: &dyn Connector, q: &Query) -> Vec<Result<Conversation>> {
    c.conversations(q).collect().await
}

/// A pull that must not fail.
async fn pull_ok(c: &dyn Connector, q: &Query) -> Vec<Conversation> {
    pull(c, q)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// What a query should return: the truth it selects, as the query includes.
fn expected(truth: &[Conversation], q: &Query) -> Vec<Conversation> {
    truth
        .iter()
        .filter(|c| q.matches(c))
        .map(|c| {
            let c = if q.include.messages {
                c.clone()
            } else {
                without_messages(c)
            };
            if q.include.summaries {
                c
            } else {
                without_summary(&c)
            }
        })
        .collect()
}

/// A query for everything the vendor can give.
fn everything<V: Vendor>() -> Query {
    Query::new()
        .with_messages(V::CAPABILITIES.messages)
        .with_summaries(V::CAPABILITIES.summaries)
}

/// The error among a pull's items; the conversations before it.
fn split_at_error(items: Vec<Result<Conversation>>) -> (Vec<Conversation>, Vec<Error>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(c) => ok.push(c),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Checks that an error says what failed: the vendor, an endpoint (a path)
/// and a page, on one line.
fn assert_specific(e: &Error, vendor: &str) {
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{vendor}: "))
            || text.contains(&format!("last error: {vendor}: ")),
        "no vendor: {text}"
    );
    assert!(text.contains('/'), "no endpoint: {text}");
    assert!(
        matches!(e.root(), Error::Unauthenticated { .. }) || text.contains(" page "),
        "no page: {text}"
    );
    assert!(!text.contains('\n'), "not one line: {text}");
}

/// A pull of everything equals the truth, field by field, with messages
/// and without; the counters say what was listed.
pub async fn full_pull_equals_the_truth<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let q = everything::<Of<H>>();
    let pulled = pull_ok(&s.connector, &q).await;
    assert_eq!(s.truth.len(), DATASET.conversations, "the server's truth");
    assert_same_conversations(&pulled, &expected(&s.truth, &q));
    let stats = s.connector.stats();
    assert_eq!(stats.listed, s.truth.len() as u64, "{stats:?}");
    assert!(stats.shortfalls.is_empty(), "{stats:?}");
    if let Some(total) = stats.reported_total {
        assert_eq!(total, s.truth.len() as u64, "{stats:?}");
    }
    if q.include.messages {
        let messages: usize = s.truth.iter().map(|c| c.messages.len()).sum();
        assert_eq!(stats.messages, messages as u64, "{stats:?}");
    }
    let bare = Query::new();
    let pulled = pull_ok(&s.connector, &bare).await;
    assert_same_conversations(&pulled, &expected(&s.truth, &bare));
}

/// One conversation by id equals its truth; an id that does not exist is
/// an error naming the vendor.
pub async fn one_conversation_by_id<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let q = everything::<Of<H>>();
    let include = Include {
        messages: q.include.messages,
        summaries: q.include.summaries,
    };
    for want in [
        &s.truth[0],
        &s.truth[s.truth.len() / 2],
        &s.truth[s.truth.len() - 1],
    ] {
        let got = s.connector.conversation(&want.id, include).await.unwrap();
        assert_same_conversations(&[got], &expected(std::slice::from_ref(want), &q));
    }
    let e = s
        .connector
        .conversation("987654321", include)
        .await
        .unwrap_err();
    assert_eq!(e.vendor(), Some(Of::<H>::NAME), "{e}");
}

/// Instants spread over the truth's times on `field`.
fn instants(truth: &[Conversation], field: TimeField) -> Vec<DateTime<Utc>> {
    let mut at: Vec<DateTime<Utc>> = truth
        .iter()
        .filter_map(|c| match field {
            TimeField::Created => c.created_at,
            TimeField::Ended => c.ended_at,
        })
        .collect();
    at.sort_unstable();
    at
}

async fn windows_are_exact<H: Harness>(field: TimeField) {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let at = instants(&s.truth, field);
    assert!(at.len() > 30, "too few {field:?} times in the truth");
    let (first, last) = (at[0], at[at.len() - 1]);
    let span = last - first;
    let part = |f: i32| first + span * f / 10;
    let window = |since, until| match field {
        TimeField::Created => Query::new().created(since, until),
        TimeField::Ended => Query::new().ended(since, until),
    };
    let all = everything::<Of<H>>().include;
    let day_and_a_half = TimeDelta::hours(18);
    let queries = [
        Query {
            include: all,
            ..window(Some(part(2)), Some(part(5)))
        },
        window(Some(part(7)), None),
        window(None, Some(part(2))),
        // Bounds exactly on instants of the data: since in, until out.
        window(Some(at[10]), Some(at[30])),
        // A day and a half: local midnights inside.
        window(
            Some(part(5) - day_and_a_half),
            Some(part(5) + day_and_a_half),
        ),
        Query {
            page_size: Some(7),
            ..window(Some(part(1)), Some(part(9)))
        },
    ];
    for q in queries {
        let want = expected(&s.truth, &q);
        assert!(!want.is_empty(), "{q:?} selects nothing");
        let pulled = pull_ok(&s.connector, &q).await;
        assert_same_conversations(&pulled, &want);
    }
    // A window with nothing in it.
    let q = window(Some(last + TimeDelta::days(400)), None);
    assert!(pull_ok(&s.connector, &q).await.is_empty());
}

/// Windows on creation time are exact and half-open, whatever the vendor
/// pushes down.
pub async fn created_windows_are_exact_and_half_open<H: Harness>() {
    windows_are_exact::<H>(TimeField::Created).await;
}

/// Windows on end time are exact and half-open, whatever the vendor
/// pushes down.
pub async fn ended_windows_are_exact_and_half_open<H: Harness>() {
    windows_are_exact::<H>(TimeField::Ended).await;
}

/// Agent, customer and channel filters give exactly what they select;
/// values nothing has give nothing.
pub async fn agent_customer_and_channel_filters_are_exact<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let agent = s.truth.iter().find_map(|c| {
        c.agent
            .as_ref()
            .and_then(|a| a.id.clone().or(a.email.clone()))
    });
    let customer = s.truth.iter().find_map(|c| c.customer.id.clone());
    let user = s.truth.iter().find_map(|c| c.customer.user_id.clone());
    let channel = s.truth.iter().find_map(|c| c.channel.clone());
    let mut queries = Vec::new();
    for a in agent.into_iter().chain(["no-such-agent".to_owned()]) {
        queries.push(Query {
            agent: Some(a),
            ..Query::new()
        });
    }
    for c in customer
        .into_iter()
        .chain(user)
        .chain(["no-such-customer".to_owned(), "987654321".to_owned()])
    {
        queries.push(Query {
            customer: Some(c),
            ..Query::new()
        });
    }
    if let Some(ch) = channel {
        queries.push(Query {
            channel: Some(ch),
            ..Query::new()
        });
    }
    queries.push(Query {
        channel: Some(connector_core::Channel::Other("no-such-channel".into())),
        ..Query::new()
    });
    let selective = queries.len();
    for q in queries {
        let want = expected(&s.truth, &q);
        let pulled = pull_ok(&s.connector, &q).await;
        assert_same_conversations(&pulled, &want);
    }
    assert!(selective >= 5);
}

/// A limit returns the first conversations of the listing and stops
/// asking for pages soon after.
pub async fn a_limit_stops_the_listing_early<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    // The limited pull first: a whole pull's pages fetched ahead past its
    // end may still reach the proxy after it returns, and would be counted.
    let before = s.proxy.listing_hits();
    let q = Query {
        limit: Some(5),
        page_size: Some(3),
        ..Query::new()
    };
    let limited = pull_ok(&s.connector, &q).await;
    let asked = s.proxy.listing_hits() - before;
    let all = pull_ok(
        &s.connector,
        &Query {
            page_size: Some(3),
            ..Query::new()
        },
    )
    .await;
    let ids = |cs: &[Conversation]| cs.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&limited), ids(&all[..5]));
    assert!(
        asked <= 3,
        "{asked} listing pages for 5 conversations, 3 a page"
    );
}

/// Every page size gives exactly the truth: one record a page, sizes that
/// do and do not divide the total (a last page exactly full), the
/// default, and more than a server serves; pages fetched ahead past the
/// end stay within the read-ahead.
pub async fn every_page_size_ends_the_listing_exactly<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let want = expected(&s.truth, &Query::new());
    let n = want.len() as u32;
    for size in [None, Some(1), Some(7), Some(n / 4), Some(n), Some(5000)] {
        let before = s.proxy.listing_hits();
        let pages_before = s.connector.stats().pages;
        let q = Query {
            page_size: size,
            ..Query::new()
        };
        let pulled = pull_ok(&s.connector, &q).await;
        assert_same_conversations(&pulled, &want);
        let asked = (s.proxy.listing_hits() - before) as u64;
        let taken = s.connector.stats().pages - pages_before;
        assert!(
            asked <= taken + READ_AHEAD as u64,
            "page size {size:?}: {asked} pages asked for, {taken} taken"
        );
    }
}

/// How a mangled listing of [`DATASET`], [`PAGE`] records a page, ends:
/// its conversations and errors; and the ids of the unmangled listing's
/// pages, in order.
async fn mangled<H: Harness>(
    mangle: Mangle,
) -> (Vec<Vec<String>>, Vec<Conversation>, Vec<Error>, Setup<H>) {
    let s = setup::<H>(DATASET, mangle, 3).await;
    let q = Query {
        page_size: Some(PAGE),
        ..Query::new()
    };
    let direct = connector::<Of<H>>(&s.server.config(), fast_http(3)).expect("a connector");
    let pages: Vec<Vec<String>> = direct
        .pages(&q, PagePosition::START)
        .map_ok(|p| p.conversations.into_iter().map(|c| c.id).collect())
        .try_collect()
        .await
        .expect("the unmangled pages");
    let (ok, errors) = split_at_error(pull(&s.connector, &q).await);
    (pages, ok, errors, s)
}

/// The ids of the first `n` pages.
fn first(pages: &[Vec<String>], n: usize) -> BTreeSet<String> {
    pages.iter().take(n).flatten().cloned().collect()
}

/// A server that answers every page with the first: an error naming the
/// page it repeats, after the first page's conversations, once each.
pub async fn a_repeated_page_is_an_error_not_a_loop<H: Harness>() {
    let (pages, ok, errors, s) = mangled::<H>(Mangle::RepeatFirstPage).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].to_string();
    assert!(e.contains("page 2 repeats page 1"), "{e}");
    assert_specific(&errors[0], Of::<H>::NAME);
    let ids: BTreeSet<String> = ok.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), ok.len(), "a conversation came twice");
    assert_eq!(ids, first(&pages, 1));
    assert!(
        s.proxy.listing_hits() <= 2 + READ_AHEAD,
        "{}",
        s.proxy.listing_hits()
    );
}

/// A server that repeats the first page shuffled, or serves two pages in a
/// cycle: an error, never a duplicate.
pub async fn pages_repeated_shuffled_or_in_a_cycle_are_errors<H: Harness>() {
    for (mangle, repeats, pages) in [
        (Mangle::RepeatFirstPageShuffled, "page 2 repeats page 1", 1),
        (Mangle::CycleTwoPages, "page 3 repeats page 1", 2),
    ] {
        let (listing, ok, errors, _) = mangled::<H>(mangle).await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains(repeats), "{}", errors[0]);
        let ids: BTreeSet<String> = ok.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), ok.len(), "a conversation came twice");
        assert_eq!(ids, first(&listing, pages));
    }
}

/// A redirect to another host is refused: no request reaches it (so no
/// credential), and the pages before it are kept.
pub async fn a_redirect_to_another_host_gets_no_request<H: Harness>() {
    let elsewhere = Proxy::start("http://127.0.0.1:9/nowhere", Vec::new(), Mangle::None).await;
    let origin = elsewhere.base_url().trim_end_matches("/nowhere").to_owned();
    let (pages, ok, errors, _) = mangled::<H>(Mangle::RedirectPage {
        page: 2,
        to: origin,
    })
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].to_string();
    assert!(e.contains("refused a redirect"), "{e}");
    assert!(elsewhere.hits().is_empty(), "{:?}", elsewhere.hits());
    let ids: BTreeSet<String> = ok.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, first(&pages, 1));
}

/// A 200 answer that is not the documented envelope (`{}`, `[]`, an error
/// object) is an error naming page 1, never an empty listing.
pub async fn a_200_that_is_not_the_envelope_is_an_error<H: Harness>() {
    for body in [&b"{}"[..], b"[]", br#"{"error": "maintenance"}"#] {
        let (_, ok, errors, _) = mangled::<H>(Mangle::FirstPageBody(body.to_vec())).await;
        let shown = String::from_utf8_lossy(body);
        assert!(ok.is_empty(), "{shown}: {ok:?}");
        assert_eq!(errors.len(), 1, "{shown}: {errors:?}");
        assert!(
            errors[0].to_string().contains("page 1"),
            "{shown}: {}",
            errors[0]
        );
        assert_specific(&errors[0], Of::<H>::NAME);
        assert!(!errors[0].is_retryable(), "{shown}: {}", errors[0]);
    }
}

/// Refused credentials (401 from the server, 403 from the proxy) are one
/// authentication error, not retried, that never shows the secret.
pub async fn refused_credentials_are_an_auth_error_without_the_secret<H: Harness>() {
    let server = H::serve(DATASET).await;
    let secret = "wrong-but-s3cret-value-8472";
    let fields = <<Of<H> as Vendor>::Config as connector_core::listing::VendorConfig>::FIELDS;
    let key = server
        .config()
        .iter()
        .map(|(k, _)| k.clone())
        .find(|k| fields.iter().any(|f| f.secret && f.name == k))
        .expect("the config holds a secret");
    let wrong = with_value(&server.config(), &key, secret);
    let c = connector::<Of<H>>(&wrong, fast_http(3)).unwrap();
    let out = pull(&c, &Query::new()).await;
    assert_eq!(out.len(), 1, "one error, nothing else");
    let e = out[0].as_ref().unwrap_err();
    assert!(
        matches!(e, Error::Unauthenticated { status: 401, .. }),
        "{e:?}"
    );
    assert_eq!(e.kind(), "auth");
    assert!(
        e.to_string()
            .starts_with(&format!("{}: authentication failed", Of::<H>::NAME)),
        "{e}"
    );
    for shown in [e.to_string(), format!("{e:?}"), format!("{c:?}")] {
        assert!(!shown.contains(secret), "the secret leaked: {shown}");
    }
    let s = setup::<H>(DATASET, Mangle::FirstPageStatus(403), 3).await;
    let out = pull(&s.connector, &Query::new()).await;
    assert_eq!(out.len(), 1);
    let e = out[0].as_ref().unwrap_err();
    assert!(
        matches!(e, Error::Unauthenticated { status: 403, .. }),
        "{e:?}"
    );
    assert_eq!(s.proxy.listing_hits(), 1, "no retry");
    drop(server);
}

/// Faults on 10 to 30 % of requests (error statuses, 429, HTML pages,
/// bodies cut short, connections dropped): the truth exactly, or a
/// specific error with everything before it correct and unduplicated.
pub async fn faults_give_the_truth_or_a_specific_error<H: Harness>() {
    // Half the conversations, two a page: faults land mid-listing for
    // every vendor (one that lists everything in a page or two and fetches
    // nothing per conversation still makes dozens of requests), and a vendor
    // that completes each conversation with requests of its own (Bangwo8:
    // messages and a summary) stays well within a behaviour's time, although
    // its pacing reads the random 429s as a server's limit and slows down.
    let dataset = Dataset {
        conversations: DATASET.conversations / 2,
        ..DATASET
    };
    let q = Query {
        page_size: Some(2),
        ..everything::<Of<H>>()
    };
    for (rate, seed, attempts) in [(0.1, 1, 8), (0.2, 2, 8), (0.3, 3, 10), (0.3, 4, 2)] {
        let s = setup::<H>(dataset, Mangle::Faults { rate, seed }, attempts).await;
        let (ok, errors) = split_at_error(pull(&s.connector, &q).await);
        assert!(s.proxy.faults() > 0, "no fault injected at {rate}");
        let want = expected(&s.truth, &q);
        if errors.is_empty() {
            assert_same_conversations(&ok, &want);
            assert!(s.connector.stats().http.retries > 0);
            continue;
        }
        for e in &errors {
            assert_specific(e, Of::<H>::NAME);
        }
        let mut seen = BTreeSet::new();
        for c in &ok {
            assert!(seen.insert(c.id.clone()), "{} came twice", c.id);
            let truth = want
                .iter()
                .find(|t| t.id == c.id)
                .unwrap_or_else(|| panic!("{} is not in the truth", c.id));
            assert_same_conversations(std::slice::from_ref(c), std::slice::from_ref(truth));
        }
        // The generous budgets see every fault through.
        assert!(attempts < 8, "{rate} with {attempts} attempts: {errors:?}");
    }
}

/// A server's rate limit (429 with `Retry-After`) is honoured: the pull
/// is still the truth; a client-side limit under the server's meets none.
pub async fn a_server_rate_limit_is_honoured_and_a_client_limit_avoids_it<H: Harness>() {
    let dataset = Dataset {
        conversations: 40,
        ..DATASET
    };
    // Small pages: more requests than the server's limit allows in a
    // second, even from a vendor that needs no request per conversation.
    let q = Query {
        page_size: Some(3),
        ..everything::<Of<H>>()
    };
    let s = setup::<H>(dataset, Mangle::RateLimit(8), 8).await;
    let pulled = pull_ok(&s.connector, &q).await;
    assert_same_conversations(&pulled, &expected(&s.truth, &q));
    // Without a client-side limit, a burst of requests goes over the
    // server's: only then is there anything to honour.
    if s.proxy.hits().len() > 8 {
        assert!(s.proxy.throttled() > 0, "{:?}", s.connector.stats());
        assert!(s.connector.stats().http.throttled > 0);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let config = with_value(&s.server.config(), "base_url", &s.proxy.base_url());
    let config = with_value(&config, "rate_limit", "6");
    let resolved = crate::harness::resolve::<Of<H>>(&config).unwrap();
    let mut http = fast_http(8);
    http.rate_limit = resolved.http_settings().unwrap().rate_limit;
    let limited = connector::<Of<H>>(&config, http).unwrap();
    let before = s.proxy.throttled();
    let pulled = pull_ok(&limited, &q).await;
    assert_same_conversations(&pulled, &expected(&s.truth, &q));
    assert_eq!(s.proxy.throttled(), before, "{:?}", limited.stats());
}

/// The page-level API: the pages from the start flatten to the stream; the
/// pages from page N are the tail of those; past the last page, none.
pub async fn resuming_from_a_page_gives_the_tail<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let q = Query {
        page_size: Some(PAGE),
        ..everything::<Of<H>>()
    };
    let pages: Vec<_> = s
        .connector
        .pages(&q, PagePosition::START)
        .try_collect()
        .await
        .unwrap();
    assert!(pages.len() >= 3, "{} pages", pages.len());
    let flat: Vec<Conversation> = pages.iter().flat_map(|p| p.conversations.clone()).collect();
    let streamed = pull_ok(&s.connector, &q).await;
    let ids = |cs: &[Conversation]| cs.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&flat), ids(&streamed));
    assert_same_conversations(&flat, &expected(&s.truth, &q));
    for from in [1, pages.len() / 2, pages.len() - 1] {
        let tail: Vec<_> = s
            .connector
            .pages(&q, pages[from].position)
            .try_collect()
            .await
            .unwrap();
        let positions = |ps: &[connector_core::listing::ConversationPage]| {
            ps.iter().map(|p| p.position).collect::<Vec<_>>()
        };
        assert_eq!(positions(&tail), positions(&pages[from..]));
        let got: Vec<Conversation> = tail.into_iter().flat_map(|p| p.conversations).collect();
        let want: Vec<Conversation> = pages[from..]
            .iter()
            .flat_map(|p| p.conversations.clone())
            .collect();
        assert_eq!(ids(&got), ids(&want));
        assert_same_conversations(&got, &want);
    }
    let last = pages[pages.len() - 1].position;
    let past: Vec<_> = s
        .connector
        .pages(&q, last.next())
        .try_collect()
        .await
        .unwrap();
    assert!(past.is_empty(), "{past:?}");
}

/// A conversation's `raw` is its record as the server sent it: serialized
/// and parsed again, it equals the record served.
pub async fn raw_is_the_record_as_served<H: Harness>() {
    let s = setup::<H>(DATASET, Mangle::None, 3).await;
    let q = Query {
        page_size: Some(PAGE),
        ..Query::new()
    };
    let pulled = pull_ok(&s.connector, &q).await;
    // The pages in listing order: a plan of several listings (one per
    // conversation type, say) walks them one after the other, each from
    // page 1; a served page is on the first listing whose parameters it was
    // asked with.
    let listings: Vec<Vec<(String, String)>> = s
        .connector
        .vendor()
        .plan(&q)
        .listings
        .into_iter()
        .map(|l| l.params)
        .collect();
    let listing_of = |query: &str| {
        let asked: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        listings
            .iter()
            .position(|params| params.iter().all(|p| asked.contains(p)))
            .unwrap_or_else(|| panic!("a page asked with `{query}` is on no listing of the plan"))
    };
    let mut served = s.proxy.served();
    served.sort_by_key(|p| (listing_of(&p.query), p.page));
    let records: Vec<serde_json::Value> = served.into_iter().flat_map(|p| p.records).collect();
    assert_eq!(records.len(), pulled.len());
    for (c, record) in pulled.iter().zip(&records) {
        let text = serde_json::to_string(c).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&back["raw"], record, "conversation {}", c.id);
        assert_eq!(&c.raw, record, "conversation {}", c.id);
    }
    drop(s.server);
}
