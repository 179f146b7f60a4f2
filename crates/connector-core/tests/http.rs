//! The shared HTTP client against a local server on 127.0.0.1:0: retries,
//! Retry-After, the retry budget, auth errors, hostile bodies, redirects,
//! the rate limit, and secrets kept out of Debug and errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connector_core::Error;
use connector_core::http::{Auth, HttpClient, HttpSettings, Request};
use secrecy::SecretString;
use serde_json::{Value, json};

const SECRET: &str = "s3cr3t-P@ssw0rd-do-not-leak";

/// A scripted server: each request to `/s` pops the next scripted answer.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<Vec<Answer>>>,
    hits: Arc<AtomicUsize>,
    auth_seen: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
enum Answer {
    Status(u16, &'static str),
    RetryAfter(&'static str),
    Json(Value),
    Raw(&'static str, &'static str),
    /// Claims a longer body than it sends: the client sees a truncated body.
    Truncated,
    Redirect(String),
    Big(usize),
}

async fn scripted(State(s): State<Script>, headers: HeaderMap) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        s.auth_seen
            .lock()
            .unwrap()
            .push(a.to_str().unwrap().to_owned());
    }
    let next = {
        let mut answers = s.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        }
    };
    match next {
        Answer::Status(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Answer::RetryAfter(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs)],
            "slow down",
        )
            .into_response(),
        Answer::Json(v) => axum::Json(v).into_response(),
        Answer::Raw(ct, body) => ([(header::CONTENT_TYPE, ct)], body).into_response(),
        Answer::Truncated => Response::builder()
            .header(header::CONTENT_LENGTH, "1000")
            .body(axum::body::Body::from("{\"chats\": [1, 2"))
            .unwrap(),
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Big(n) => (
            [(header::CONTENT_TYPE, "application/json")],
            format!("\"{}\"", "x".repeat(n)),
        )
            .into_response(),
    }
}

async fn serve(script: Script) -> String {
    let app = Router::new()
        .route("/base/s", get(scripted))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/base")
}

fn fast() -> HttpSettings {
    HttpSettings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_attempts: 4,
        timeout: Duration::from_secs(5),
        ..HttpSettings::default()
    }
}

async fn client(answers: Vec<Answer>, settings: HttpSettings) -> (HttpClient, Script) {
    let script = Script {
        answers: Arc::new(Mutex::new(answers)),
        ..Default::default()
    };
    let base = serve(script.clone()).await;
    let auth = Auth::Basic {
        user: "admin@acme".into(),
        password: SecretString::from(SECRET),
    };
    // A unique account per client, so rate-limit state is not shared between tests.
    let account = format!("acct-{}", rand_suffix());
    (
        HttpClient::new("testvendor", &account, &base, auth, settings).unwrap(),
        script,
    )
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}

fn req() -> Request {
    Request::new("/s", "/s").page(3)
}

#[tokio::test]
async fn a_503_then_200_is_retried_and_succeeds() {
    let (c, s) = client(
        vec![Answer::Status(503, "busy"), Answer::Json(json!({"ok": 1}))],
        fast(),
    )
    .await;
    let r = c.get_json::<Value>(&req()).await.unwrap();
    assert_eq!(r.value, json!({"ok": 1}));
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    let stats = c.stats();
    assert_eq!((stats.requests, stats.retries), (2, 1));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (c, s) = client(
        vec![Answer::RetryAfter("1"), Answer::Json(json!([]))],
        fast(),
    )
    .await;
    let t = Instant::now();
    c.get_json::<Value>(&req()).await.unwrap();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}, before Retry-After: 1"
    );
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    assert_eq!(c.stats().throttled, 1);
}

#[tokio::test]
async fn the_retry_budget_ends_in_an_error_that_counts_attempts() {
    let (c, s) = client(vec![Answer::Status(502, "bad gateway")], fast()).await;
    let e = c.get_json::<Value>(&req()).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("4 attempts failed; last error: testvendor: /s page 3: HTTP 502"),
        "{text}"
    );
    assert!(text.contains("bad gateway"), "{text}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 4);
    assert_eq!(e.kind(), "api");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (c, s) = client(vec![Answer::Status(404, "no such chat")], fast()).await;
    let e = c.get_json::<Value>(&req()).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn auth_failure_names_vendor_and_hides_the_secret() {
    let (c, s) = client(
        vec![Answer::Status(
            401,
            r#"{"error":"Couldn't authenticate you"}"#,
        )],
        fast(),
    )
    .await;
    let e = c.get_json::<Value>(&req()).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("testvendor: authentication failed (/s, HTTP 401)"),
        "{text}"
    );
    assert!(text.contains("Couldn't authenticate you"));
    assert_eq!(s.hits.load(Ordering::SeqCst), 1, "a 401 is not retried");
    // The secret did go over the wire, as basic auth...
    let seen = s.auth_seen.lock().unwrap()[0].clone();
    assert!(seen.starts_with("Basic "));
    // ...but never into Debug output or error text.
    for shown in [text, format!("{e:?}"), format!("{c:?}")] {
        assert!(!shown.contains(SECRET), "secret leaked: {shown}");
        assert!(
            !shown.contains(&seen[6..]),
            "encoded secret leaked: {shown}"
        );
    }
    let e403 = client(vec![Answer::Status(403, "admins only")], fast())
        .await
        .0
        .get_json::<Value>(&req())
        .await
        .unwrap_err();
    assert!(e403.to_string().contains("lacks the permission"), "{e403}");
}

#[tokio::test]
async fn an_html_page_with_200_is_retried_then_reported() {
    let (c, s) = client(
        vec![Answer::Raw(
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
        )],
        fast(),
    )
    .await;
    let e = c.get_json::<Value>(&req()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("expected JSON, got an HTML page"), "{text}");
    assert!(
        text.contains("testvendor: cannot decode /s page 3"),
        "{text}"
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_truncated_body_is_retried() {
    let (c, s) = client(
        vec![Answer::Truncated, Answer::Json(json!({"chats": [1, 2]}))],
        fast(),
    )
    .await;
    let r = c.get_json::<Value>(&req()).await.unwrap();
    assert_eq!(r.value["chats"], json!([1, 2]));
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Env {
        chats: Vec<Item>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        id: u64,
    }
    let (c, _) = client(
        vec![Answer::Json(json!({"chats": [{"id": 1}, {"id": "x"}]}))],
        fast(),
    )
    .await;
    let e = c.get_json::<Env>(&req()).await.unwrap_err();
    assert!(e.to_string().contains("at chats[1].id"), "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let settings = HttpSettings {
        max_body_bytes: 1024,
        ..fast()
    };
    let (c, _) = client(vec![Answer::Big(10_000)], settings).await;
    let e = c.get_json::<Value>(&req()).await.unwrap_err();
    assert!(e.to_string().contains("exceeds the 1024 byte cap"), "{e}");
}

#[tokio::test]
async fn redirects_to_another_host_are_refused() {
    let (c, s) = client(
        vec![Answer::Redirect("http://127.0.0.2:9/steal".into())],
        fast(),
    )
    .await;
    let e = c.get_json::<Value>(&req()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("refused a redirect (HTTP 302) to another host"),
        "{e}"
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_client_side_rate_limit_paces_requests() {
    let settings = HttpSettings {
        rate_limit: Some(10.0),
        ..fast()
    };
    let (c, s) = client(vec![Answer::Json(json!(1))], settings).await;
    let t = Instant::now();
    for _ in 0..6 {
        c.get_json::<Value>(&req()).await.unwrap();
    }
    // 6 requests at 10/s: the first goes at once, then one every 100 ms.
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(480),
        "6 requests at 10/s took {took:?}"
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 6);
}

#[test]
fn base_urls_are_checked() {
    let mk = |u: &str| {
        HttpClient::new("testvendor", "a", u, Auth::None, HttpSettings::default()).map(|_| ())
    };
    assert!(mk("http://127.0.0.1:1/kf5").is_ok());
    let e = mk("ftp://x/").unwrap_err().to_string();
    assert!(e.contains("config field `base_url`"), "{e}");
    let e = mk(&format!("https://admin:{SECRET}@example.com/"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("must not carry credentials") && !e.contains(SECRET),
        "{e}"
    );
    assert!(mk("not a url").is_err());
    // Plain http is for this machine only, unless explicitly allowed.
    assert!(mk("http://localhost:8080/").is_ok());
    assert!(mk("http://[::1]:8080/").is_ok());
    let e = mk("http://example.com/").unwrap_err().to_string();
    assert!(e.contains("plain http") && e.contains("allow_http"), "{e}");
    let allowed = HttpSettings {
        allow_http: true,
        ..HttpSettings::default()
    };
    assert!(
        HttpClient::new(
            "testvendor",
            "a",
            "http://example.com/",
            Auth::None,
            allowed
        )
        .is_ok()
    );
    assert!(mk("https://example.com/").is_ok());
}

#[tokio::test]
async fn a_request_future_left_unpolled_does_not_starve_the_others() {
    // One request in flight at a time. Request A is polled once (so it takes
    // the only permit) and then left alone, as a stream that fetched ahead
    // and waits for its turn leaves it; request B must still go through.
    let settings = HttpSettings {
        max_in_flight: 1,
        ..fast()
    };
    let (c, s) = client(vec![Answer::Json(json!({"ok": true}))], settings).await;
    let req_a = req();
    let mut a = Box::pin(c.get_json::<Value>(&req_a));
    assert!(futures::poll!(&mut a).is_pending());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b = tokio::time::timeout(Duration::from_secs(5), c.get_json::<Value>(&req())).await;
    assert!(
        b.expect("request B waited forever for the permit held by A")
            .is_ok()
    );
    // A still completes when it is polled again.
    assert_eq!(a.await.unwrap().value, json!({"ok": true}));
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_credential_echoed_in_a_body_is_never_left_half_visible() {
    // Errors quote bodies and clip them: the credential must be scrubbed
    // before the clip, or a clip through its middle would leave a part of
    // it. Put it at every offset around the clip points.
    #[derive(Debug, serde::Deserialize)]
    struct Wants {
        #[allow(dead_code)]
        n: u64,
    }
    let settings = HttpSettings {
        max_attempts: 1,
        ..fast()
    };
    for offset in (0..480).step_by(13) {
        let pad = "x".repeat(offset);
        let html: &'static str = Box::leak(
            format!("<html><body>{pad}token={SECRET} tail</body></html>").into_boxed_str(),
        );
        let json: &'static str =
            Box::leak(format!(r#"{{"n": "{pad}{SECRET}{pad}"}}"#).into_boxed_str());
        for (kind, body) in [("text/html", html), ("application/json", json)] {
            let (c, _) = client(vec![Answer::Raw(kind, body)], settings.clone()).await;
            let e = c.get_json::<Wants>(&req()).await.unwrap_err().to_string();
            for part in SECRET.as_bytes().windows(6) {
                let part = std::str::from_utf8(part).unwrap();
                assert!(
                    !e.contains(part),
                    "offset {offset}, {kind}: `{part}` in {e}"
                );
            }
            assert!(e.len() < 700, "offset {offset}: {} bytes", e.len());
        }
    }
}

#[tokio::test]
async fn a_page_decoded_off_the_task_reads_the_same_and_hides_the_credential() {
    #[derive(Debug, serde::Deserialize)]
    struct Wants {
        n: u64,
    }
    let settings = HttpSettings {
        max_attempts: 1,
        ..fast()
    };
    let read =
        |page: &connector_core::decode::PageRef, body: &[u8]| page.decode_body::<Wants>(body);
    let (c, _) = client(
        vec![Answer::Raw("application/json", r#"{"n": 1}"#)],
        settings.clone(),
    )
    .await;
    let page = c.get_with_spawned(&req(), read).await.unwrap();
    assert_eq!((page.value.n, page.bytes), (1, 8));
    // An error quoting the body: the credential is scrubbed from it.
    let body: &'static str = Box::leak(format!(r#"{{"n": "{SECRET}"}}"#).into_boxed_str());
    let (c, _) = client(vec![Answer::Raw("application/json", body)], settings).await;
    let e = c
        .get_with_spawned(&req(), read)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid type: string"), "{e}");
    assert!(!e.contains(&SECRET[..8]), "{e}");
}

#[tokio::test]
async fn a_decoder_that_panics_is_an_internal_error_naming_the_page() {
    let settings = HttpSettings {
        max_attempts: 1,
        ..fast()
    };
    let (c, _) = client(
        vec![Answer::Raw("application/json", r#"{"n": 1}"#)],
        settings,
    )
    .await;
    let read = |_: &connector_core::decode::PageRef, _: &[u8]| -> connector_core::Result<u64> {
        panic!("a decoder bug")
    };
    let e = c.get_with_spawned(&req(), read).await.unwrap_err();
    assert_eq!(e.kind(), connector_core::ErrorKind::Internal, "{e}");
    assert!(
        e.to_string()
            .starts_with("testvendor: decoding /s page 3 failed: task ")
            && e.to_string()
                .ends_with("panicked with message \"a decoder bug\""),
        "{e}"
    );
    let cause = std::error::Error::source(&e).expect("the join error is kept");
    let join = cause
        .downcast_ref::<tokio::task::JoinError>()
        .expect("as tokio's own error");
    assert!(join.is_panic());
}
