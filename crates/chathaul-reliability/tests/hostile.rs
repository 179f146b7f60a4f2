//! Hostile and malformed answers, per connector: each ends in a clear error
//! naming vendor, endpoint, page and field (or a correct result), within the
//! configured timeouts, without a panic; credentials never reach another host.

use std::time::{Duration, Instant};

use chathaul_reliability::{
    Hit, HostileServer, Pulled, Reply, VENDORS, connector, error_is_specific, fast_http, pull,
};
use connector_core::http::HttpSettings;
use connector_core::{Error, Query};
use serde_json::{Value, json};

/// The listing endpoint of each vendor, below the base URL.
fn listing_path(vendor: &str) -> &'static str {
    match vendor {
        "bangwo8" => "/api/v1/imchat/histories.json",
        "kf5" => "/apiv2/chats.json",
        _ => "/api/v1/chats",
    }
}

/// A well-formed record of each vendor.
fn record(vendor: &str, id: u64) -> Value {
    match vendor {
        "bangwo8" => json!({"r_id": id.to_string(), "type": "2", "uname": "u1",
            "start_time": "2024-1-2 10:00:00", "end_time": "2024-01-02 10:05:00", "evaluate": "1"}),
        "kf5" => json!({"id": id, "started_by": "visitor", "status": "close", "visitor_id": 5,
            "created_at": "2024-01-02 10:00:00", "end_at": "2024-01-02 10:05:00", "messages": []}),
        _ => {
            json!({"conversation_id": format!("2024-C-{id}"), "chat_status": "LBL_CHAT_STATUS_MEET",
            "start_time": "2024-01-02 10:00:00", "end_time": "2024-01-02 10:05:00", "cus_name": "khach"})
        }
    }
}

/// The name of the id field, and of a text field and a date field.
fn fields(vendor: &str) -> (&'static str, &'static str, &'static str) {
    match vendor {
        "bangwo8" => ("r_id", "uname", "start_time"),
        "kf5" => ("id", "visitor_id", "created_at"),
        _ => ("conversation_id", "cus_name", "start_time"),
    }
}

/// A listing page of `records` (with the vendor's total where it has one).
fn page(vendor: &str, records: Vec<Value>, total: u64) -> Value {
    match vendor {
        "bangwo8" => json!({"chats": records, "count": total,
            "next_page": "https://www.bangwo8.com/api/v1/imchat/histories.json?page=2", "previous_page": null}),
        "kf5" => json!({"chats": records}),
        _ => json!({"code": "OK", "numFound": total, "chats": records}),
    }
}

/// Whether a hit asks for the first page of the listing (CareSoft: its live
/// chat type only, so the other types list nothing).
fn first_listing_page(vendor: &str, hit: &Hit) -> bool {
    hit.path == listing_path(vendor)
        && hit.page() == 1
        && (vendor != "caresoft" || hit.param("conversation_type").as_deref() == Some("0"))
}

fn config(vendor: &str, base: &str) -> Vec<(String, String)> {
    let kv: &[(&str, &str)] = match vendor {
        "bangwo8" => &[
            ("account", "admin@acme.example"),
            ("password", "pw-bangwo8-s3cret"),
        ],
        "kf5" => &[("email", "ops@acme.example"), ("password", "pw-kf5-s3cret")],
        _ => &[("token", "tok-caresoft-s3cret")],
    };
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("base_url".to_owned(), base.to_owned())])
        .collect()
}

fn settings() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_millis(600),
        max_body_bytes: 2 * 1024 * 1024,
        ..fast_http(2)
    }
}

/// Serves `first` as the first listing page (an empty listing after it) and
/// pulls the listing with `http`.
async fn against(
    vendor: &str,
    first: impl Fn(&Hit) -> Reply + Send + Sync + 'static,
    http: HttpSettings,
    query: Query,
) -> (Pulled, Vec<Hit>, Duration) {
    let v = vendor.to_owned();
    let server = HostileServer::start(move |hit| {
        if first_listing_page(&v, hit) {
            first(hit)
        } else {
            Reply::json(&page(&v, vec![], 1))
        }
    })
    .await;
    let c = connector(vendor, config(vendor, &server.url()), http).unwrap();
    let started = Instant::now();
    let pulled = pull(c.as_ref(), &query, Duration::from_secs(30)).await;
    let took = started.elapsed();
    (pulled, server.hits(), took)
}

/// The one error a pull must end in; checks it names vendor, endpoint and page.
#[track_caller]
fn the_error<'a>(vendor: &str, what: &str, pulled: &'a Pulled) -> &'a Error {
    assert!(!pulled.timed_out, "{vendor} {what}: the pull hung");
    let errors = pulled.errors();
    assert!(
        !errors.is_empty(),
        "{vendor} {what}: no error; got {} conversations",
        pulled.ok().len()
    );
    let e = errors[0];
    if let Err(why) = error_is_specific(e, vendor) {
        panic!("{vendor} {what}: {why}");
    }
    let text = e.to_string();
    assert!(
        text.contains(listing_path(vendor)),
        "{vendor} {what}: the error does not name the endpoint: {text}"
    );
    e
}

async fn crafted(vendor: &str, what: &str, body: Vec<u8>) -> (Pulled, String) {
    let (pulled, _, _) = against(
        vendor,
        move |_| Reply::bytes(body.clone()),
        settings(),
        Query::new(),
    )
    .await;
    let text = the_error(vendor, what, &pulled).to_string();
    (pulled, text)
}

#[tokio::test]
async fn malformed_json_wrong_types_and_missing_ids_are_errors_naming_the_place() {
    for vendor in VENDORS {
        let (id, text_field, date_field) = fields(vendor);
        // Invalid JSON (not cut short: a syntax error).
        let (_, e) = crafted(
            vendor,
            "invalid JSON",
            br#"{"chats": [ {"x": 1}, } ]"#.to_vec(),
        )
        .await;
        assert!(
            e.contains("cannot decode") && e.contains("page 1"),
            "{vendor}: {e}"
        );

        // The list is a string.
        let mut v = page(vendor, vec![], 1);
        v["chats"] = json!("nope");
        let (_, e) = crafted(
            vendor,
            "wrong envelope type",
            serde_json::to_vec(&v).unwrap(),
        )
        .await;
        assert!(e.contains("at chats"), "{vendor}: {e}");

        // A field is an object.
        let mut r = record(vendor, 1);
        r[date_field] = json!({"nested": [1, 2]});
        let body = serde_json::to_vec(&page(vendor, vec![record(vendor, 2), r], 2)).unwrap();
        let (pulled, e) = crafted(vendor, "wrong field type", body).await;
        assert!(
            e.contains(&format!("chats[1].{date_field}")),
            "{vendor}: {e}"
        );
        // At most the good record before it (a connector may fail the whole
        // page); nothing after the error.
        assert!(pulled.ok().len() <= 1, "{vendor}");
        assert!(pulled.items.last().unwrap().is_err(), "{vendor}");

        // A date that is not a date.
        let mut r = record(vendor, 1);
        r[date_field] = json!("yesterday-ish");
        let body = serde_json::to_vec(&page(vendor, vec![r], 1)).unwrap();
        let (_, e) = crafted(vendor, "bad date", body).await;
        assert!(
            e.contains(date_field) && e.contains("yesterday-ish"),
            "{vendor}: {e}"
        );

        // Missing id, then an empty id.
        for bad in [Value::Null, json!("")] {
            let mut r = record(vendor, 1);
            if bad.is_null() {
                r.as_object_mut().unwrap().remove(id);
            } else {
                r[id] = bad;
            }
            let body = serde_json::to_vec(&page(vendor, vec![r], 1)).unwrap();
            let (_, e) = crafted(vendor, "missing id", body).await;
            assert!(e.contains(id), "{vendor}: {e}");
        }
        let _ = text_field;
    }
}

#[tokio::test]
async fn huge_strings_invalid_utf8_and_deep_nesting_are_handled() {
    for vendor in VENDORS {
        let (_, text_field, date_field) = fields(vendor);
        // A 10 MB string in a text field is data: kept whole, no error.
        let big = "客".repeat(10 * 1024 * 1024 / 3);
        let mut r = record(vendor, 1);
        r[text_field] = json!(big);
        let body = serde_json::to_vec(&page(vendor, vec![r], 1)).unwrap();
        let http = HttpSettings {
            max_body_bytes: 64 * 1024 * 1024,
            ..settings()
        };
        let (pulled, _, _) = against(
            vendor,
            move |_| Reply::bytes(body.clone()),
            http.clone(),
            Query::new(),
        )
        .await;
        assert!(
            pulled.errors().is_empty(),
            "{vendor}: {:?}",
            pulled.errors()
        );
        let got = pulled.ok();
        assert_eq!(got.len(), 1, "{vendor}");
        let kept = serde_json::to_string(&got[0]).unwrap();
        assert!(
            kept.contains(&big),
            "{vendor}: the 10 MB value was not kept whole"
        );

        // A 10 MB string where a date goes: an error, and a short one.
        let mut r = record(vendor, 1);
        r[date_field] = json!(big);
        let body = serde_json::to_vec(&page(vendor, vec![r], 1)).unwrap();
        let (pulled, _, _) = against(
            vendor,
            move |_| Reply::bytes(body.clone()),
            http,
            Query::new(),
        )
        .await;
        let e = the_error(vendor, "10 MB date", &pulled).to_string();
        assert!(
            e.contains(date_field) && e.len() < 2_000,
            "{vendor}: {} chars",
            e.len()
        );

        // Invalid UTF-8 inside a string.
        let mut body = serde_json::to_vec(&page(vendor, vec![record(vendor, 1)], 1)).unwrap();
        let at = body.windows(5).position(|w| w == b"2024-").unwrap();
        body[at] = 0xff;
        body[at + 1] = 0xfe;
        let (_, e) = crafted(vendor, "invalid UTF-8", body).await;
        assert!(
            e.contains("cannot decode") && e.to_lowercase().contains("unicode")
                || e.contains("UTF-8"),
            "{vendor}: {e}"
        );

        // 100 000 levels of nesting: serde_json's recursion limit, no stack overflow.
        let depth = 100_000;
        let mut deep = Vec::with_capacity(depth * 2 + 20);
        deep.extend_from_slice(br#"{"chats": "#);
        deep.extend(std::iter::repeat_n(b'[', depth));
        deep.extend(std::iter::repeat_n(b']', depth));
        deep.push(b'}');
        let (_, e) = crafted(vendor, "deep nesting", deep).await;
        // Either the parser's recursion limit, or (records are kept as raw
        // text first) the record that is an array where an object belongs.
        assert!(
            e.contains("recursion limit") || e.contains("cannot decode") && e.contains("chats[0]"),
            "{vendor}: {e}"
        );
        // The same depth inside one record's field.
        let mut deep = br#"{"chats": [{"#.to_vec();
        deep.extend_from_slice(format!("\"{text_field}\": ").as_bytes());
        deep.extend(std::iter::repeat_n(b'[', depth));
        deep.extend(std::iter::repeat_n(b']', depth));
        deep.extend_from_slice(b"}], \"count\": 1, \"numFound\": 1, \"code\": \"OK\"}");
        let (_, e) = crafted(vendor, "deep nesting in a record", deep).await;
        assert!(
            e.contains("recursion limit") || e.contains(&format!("chats[0].{text_field}")),
            "{vendor}: {e}"
        );
    }
}

#[tokio::test]
async fn html_endless_and_stalled_bodies_end_within_the_limits() {
    for vendor in VENDORS {
        // 200 with an HTML page, every time: retried, then a clear error.
        let (pulled, hits, _) = against(
            vendor,
            |_| Reply::Body {
                status: 200,
                content_type: "text/html",
                body: "<html><body><h1>维护中 Bảo trì</h1></body></html>".into(),
            },
            settings(),
            Query::new(),
        )
        .await;
        let e = the_error(vendor, "HTML", &pulled).to_string();
        assert!(
            e.contains("2 attempts failed") && e.contains("HTML page"),
            "{vendor}: {e}"
        );
        assert_eq!(
            hits.iter()
                .filter(|h| first_listing_page(vendor, h))
                .count(),
            2,
            "{vendor}"
        );

        // A body that never ends: the size cap stops it (2 MB here).
        let (pulled, _, took) = against(vendor, |_| Reply::Endless, settings(), Query::new()).await;
        let e = the_error(vendor, "endless body", &pulled).to_string();
        assert!(e.contains("exceeds the 2097152 byte cap"), "{vendor}: {e}");
        assert!(took < Duration::from_secs(10), "{vendor}: {took:?}");

        // Headers, then silence: the request timeout (0.6 s) per attempt.
        let (pulled, _, took) = against(vendor, |_| Reply::Stall, settings(), Query::new()).await;
        let e = the_error(vendor, "stalled body", &pulled).to_string();
        assert!(
            e.contains("timed out") && e.contains("2 attempts failed"),
            "{vendor}: {e}"
        );
        assert!(
            took < Duration::from_secs(3),
            "{vendor}: took {took:?} for 2 × 0.6 s"
        );

        // A body that trickles forever, under any size cap: the request
        // timeout covers the body too.
        let (pulled, _, took) = against(vendor, |_| Reply::Trickle, settings(), Query::new()).await;
        let e = the_error(vendor, "trickling body", &pulled).to_string();
        assert!(e.contains("2 attempts failed"), "{vendor}: {e}");
        assert!(
            took < Duration::from_secs(3),
            "{vendor}: took {took:?} for 2 × 0.6 s"
        );

        // 503 forever: the retry budget, then the last error.
        let (pulled, _, _) = against(
            vendor,
            |_| Reply::Body {
                status: 503,
                content_type: "text/html",
                body: "<html>\r\n<head><title>503</title></head>\r\n<body>\n  Service\tUnavailable\n</body>\n</html>\n".into(),
            },
            settings(),
            Query::new(),
        )
        .await;
        let e = the_error(vendor, "503", &pulled).to_string();
        assert!(
            e.contains("HTTP 503") && e.contains("2 attempts failed"),
            "{vendor}: {e}"
        );

        // 429 asking to come back in an hour: not waited for.
        let (pulled, _, took) = against(
            vendor,
            |_| Reply::WithHeaders {
                status: 429,
                headers: vec![("retry-after", "3600".into())],
                body: "{}".into(),
            },
            settings(),
            Query::new(),
        )
        .await;
        let e = the_error(vendor, "429 for an hour", &pulled).to_string();
        assert!(
            e.contains("rate limited") && e.contains("3600"),
            "{vendor}: {e}"
        );
        assert!(took < Duration::from_secs(2), "{vendor}: {took:?}");
    }
}

#[tokio::test]
async fn the_default_size_cap_stops_an_endless_body() {
    let vendor = "kf5";
    let (pulled, _, took) = against(vendor, |_| Reply::Endless, fast_http(1), Query::new()).await;
    let e = the_error(vendor, "endless body", &pulled).to_string();
    assert!(
        e.contains(&format!("exceeds the {} byte cap", 64 * 1024 * 1024)),
        "{e}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[tokio::test]
async fn a_page_that_repeats_forever_is_an_error_not_a_loop() {
    for vendor in VENDORS {
        let v = vendor.to_owned();
        let server = HostileServer::start(move |hit| {
            // Whatever page is asked for, the same full page of 2 records,
            // with a total that promises a million.
            if hit.path == listing_path(&v)
                && (v != "caresoft" || hit.param("conversation_type").as_deref() == Some("0"))
            {
                Reply::json(&page(&v, vec![record(&v, 1), record(&v, 2)], 1_000_000))
            } else {
                Reply::json(&page(&v, vec![], 0))
            }
        })
        .await;
        let c = connector(vendor, config(vendor, &server.url()), settings()).unwrap();
        let q = Query {
            page_size: Some(2),
            ..Query::new()
        };
        let pulled = pull(c.as_ref(), &q, Duration::from_secs(20)).await;
        let e = the_error(vendor, "repeating page", &pulled).to_string();
        assert!(e.contains("page 2 repeats page 1"), "{vendor}: {e}");
        // The two records of page 1, once each.
        assert_eq!(pulled.ok().len(), 2, "{vendor}");
        let listing_hits = server
            .hits()
            .iter()
            .filter(|h| h.path == listing_path(vendor))
            .count();
        assert!(
            listing_hits <= 4,
            "{vendor}: {listing_hits} listing requests"
        );
    }
}

#[tokio::test]
async fn redirects_and_links_to_another_host_get_no_credentials() {
    for vendor in VENDORS {
        let elsewhere = HostileServer::start(|_| Reply::json(&json!({"chats": []}))).await;
        let target = format!("{}{}?page=1", elsewhere.url(), listing_path(vendor));
        let (pulled, _, _) = against(
            vendor,
            move |_| Reply::Redirect(target.clone()),
            settings(),
            Query::new(),
        )
        .await;
        let e = the_error(vendor, "redirect", &pulled).to_string();
        assert!(
            e.contains("refused a redirect (HTTP 302) to another host"),
            "{vendor}: {e}"
        );
        assert!(
            elsewhere.hits().is_empty(),
            "{vendor}: a request went to the other host"
        );

        // Redirects on the same host, in a loop: followed at most 5 times.
        let path = listing_path(vendor);
        let (pulled, hits, _) = against(
            vendor,
            move |hit| {
                Reply::Redirect(format!(
                    "{path}?page=1&conversation_type=0&hop={}",
                    hit.query.len()
                ))
            },
            settings(),
            Query::new(),
        )
        .await;
        let e = the_error(vendor, "redirect loop", &pulled).to_string();
        assert!(e.contains("more than 5 redirects"), "{vendor}: {e}");
        assert!(hits.len() <= 2 * 6 + 6, "{vendor}: {} requests", hits.len());
    }

    // Bangwo8's next_page links are absolute: one pointing at another host
    // (another port on loopback) is never followed; pages are numbered on
    // the configured base URL.
    let elsewhere = HostileServer::start(|_| Reply::json(&page("bangwo8", vec![], 0))).await;
    let next = format!("{}/api/v1/imchat/histories.json?page=2", elsewhere.url());
    let server = HostileServer::start(move |hit| {
        let records = match hit.page() {
            1 => vec![record("bangwo8", 1), record("bangwo8", 2)],
            2 => vec![record("bangwo8", 3)],
            _ => vec![],
        };
        let mut p = page("bangwo8", records, 3);
        p["next_page"] = json!(next);
        Reply::json(&p)
    })
    .await;
    let c = connector("bangwo8", config("bangwo8", &server.url()), settings()).unwrap();
    let q = Query {
        page_size: Some(2),
        ..Query::new()
    };
    let pulled = pull(c.as_ref(), &q, Duration::from_secs(10)).await;
    assert!(pulled.errors().is_empty(), "{:?}", pulled.errors());
    let ids: Vec<String> = pulled.ok().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert!(
        elsewhere.hits().is_empty(),
        "credentials went to the next_page host"
    );
    assert!(server.hits().iter().all(|h| h.authorization.is_some()));
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused_before_any_request() {
    for vendor in VENDORS {
        // Through the registry, as a user configures it.
        let e =
            connector_core::connect(vendor, config(vendor, "http://chat.example.com")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("base_url") && text.contains("plain http") && text.contains("allow_http"),
            "{vendor}: {text}"
        );
        assert!(!text.contains("s3cret"), "{vendor}: {text}");
        let mut values = config(vendor, "http://chat.example.com");
        values.push(("allow_http".into(), "true".into()));
        assert!(
            connector_core::connect(vendor, values).is_ok(),
            "{vendor}: allow_http=true"
        );
        // https to the same host needs no permission.
        assert!(
            connector_core::connect(vendor, config(vendor, "https://chat.example.com")).is_ok()
        );
    }
}

/// How a fuzz case damages one simulator answer.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut the body at this fraction of its length.
    Cut(f64),
    /// Overwrite the byte at this fraction with this byte.
    Byte(f64, u8),
    /// Replace the first value of this key with this JSON.
    Value(&'static str, &'static str),
    /// Remove every occurrence of this key.
    DropKey(&'static str),
}

fn damage(body: &[u8], d: &Damage) -> Vec<u8> {
    let at = |f: f64| ((body.len() as f64 * f) as usize).min(body.len().saturating_sub(1));
    match d {
        Damage::Cut(f) => body[..at(*f)].to_vec(),
        Damage::Byte(f, b) => {
            let mut v = body.to_vec();
            if !v.is_empty() {
                let i = at(*f);
                v[i] = *b;
            }
            v
        }
        Damage::Value(key, json) => {
            let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
                return body.to_vec();
            };
            fn walk(v: &mut Value, key: &str, new: &Value) -> bool {
                match v {
                    Value::Object(m) => {
                        if let Some(slot) = m.get_mut(key) {
                            *slot = new.clone();
                            return true;
                        }
                        m.values_mut().any(|x| walk(x, key, new))
                    }
                    Value::Array(a) => a.iter_mut().any(|x| walk(x, key, new)),
                    _ => false,
                }
            }
            walk(&mut v, key, &serde_json::from_str(json).unwrap());
            serde_json::to_vec(&v).unwrap()
        }
        Damage::DropKey(key) => {
            let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
                return body.to_vec();
            };
            fn walk(v: &mut Value, key: &str) {
                match v {
                    Value::Object(m) => {
                        m.remove(key);
                        m.values_mut().for_each(|x| walk(x, key));
                    }
                    Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key)),
                    _ => {}
                }
            }
            walk(&mut v, key);
            serde_json::to_vec(&v).unwrap()
        }
    }
}

fn damages() -> impl proptest::strategy::Strategy<Value = Damage> {
    use proptest::prelude::*;
    const KEYS: &[&str] = &[
        "chats",
        "r_id",
        "id",
        "conversation_id",
        "start_time",
        "created_at",
        "contents",
        "im_chatrecords",
        "messages",
        "count",
        "numFound",
        "code",
        "data",
        "status",
        "chat",
        "spokesman_identity",
        "msg",
        "upload",
        "rating",
        "evaluate",
        "chat_duration",
        "waitTime",
    ];
    const VALUES: &[&str] = &[
        "null",
        "\"\"",
        "{}",
        "[]",
        "[[[[1]]]]",
        "-1",
        "1.5",
        "true",
        "\"2024-13-45 99:99:99\"",
        "18446744073709551616",
        "{\"a\": [1, {\"b\": null}]}",
        "\"nul \\u0000 here\"",
    ];
    prop_oneof![
        (0.0f64..1.0).prop_map(Damage::Cut),
        (0.0f64..1.0, any::<u8>()).prop_map(|(f, b)| Damage::Byte(f, b)),
        (
            proptest::sample::select(KEYS),
            proptest::sample::select(VALUES)
        )
            .prop_map(|(k, v)| Damage::Value(k, v)),
        proptest::sample::select(KEYS).prop_map(Damage::DropKey),
    ]
}

#[test]
fn fuzz_damaged_simulator_answers_end_in_a_result_or_a_specific_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let cases = std::env::var("CHATHAUL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The upstream runs on its own thread: the proxy fetches it blocking.
    let sim = chathaul_sim::Simulator::start_blocking(chathaul_sim::SimOptions {
        seed: 17,
        conversations: 12,
        messages: 3,
        ..Default::default()
    })
    .unwrap();
    let upstream = format!("http://{}", sim.addr());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 32,
        ..Config::default()
    });
    let strategy = (
        proptest::sample::select(VENDORS.to_vec()),
        0u64..30,
        damages(),
        1u32..8,
    );
    let with_error = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(&strategy, |(vendor, k, d, page_size)| {
        rt.block_on(async {
            let d2 = d.clone();
            let proxy = chathaul_reliability::MutatingProxy::start(
                upstream.clone(),
                std::sync::Arc::new(move |n, _path: &str, body: &[u8]| {
                    (n == k).then(|| damage(body, &d2))
                }),
            )
            .await;
            let mut values = sim.config(vendor);
            for (key, v) in &mut values {
                if key == "base_url" {
                    *v = format!("{}/{vendor}", proxy.url());
                }
            }
            let c = connector(vendor, values, fast_http(1)).unwrap();
            let q = Query {
                page_size: Some(page_size),
                ..Query::new().with_messages(true).with_summaries(true)
            };
            let pulled = pull(c.as_ref(), &q, Duration::from_secs(20)).await;
            prop_assert!(!pulled.timed_out, "{vendor} {d:?}: hung");
            let mut ids = std::collections::BTreeSet::new();
            for c in pulled.ok() {
                prop_assert!(ids.insert(c.id.clone()), "{vendor} {d:?}: {} twice", c.id);
            }
            for e in pulled.errors() {
                if let Err(why) = error_is_specific(e, vendor) {
                    prop_assert!(false, "{vendor} {d:?} at request {k}: {why}");
                }
            }
            if !pulled.errors().is_empty() {
                with_error.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
    });
    eprintln!(
        "fuzz: {cases} damaged answers, {} pulls ended in a specific error",
        with_error.into_inner()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test]
async fn a_200_answer_that_is_not_a_listing_is_an_error_not_an_empty_listing() {
    // A gateway's `{}`, an API error carried in a 200 body (Bangwo8 reports
    // errors as `status` codes in 200 answers), a bare array: none of them is
    // "no conversations". (`{"chats": []}` is, and `{"chats": null}` too where
    // a total or a `count` says how many to expect: not for KF5, which
    // reports none, so a `null` there would end its listing silently.)
    for vendor in VENDORS {
        for body in [
            r#"{}"#,
            r#"[]"#,
            r#"{"status": "100001", "message": "无权限 (no permission)"}"#,
            r#"{"error": "maintenance"}"#,
        ] {
            let (_, e) = crafted(vendor, body, body.as_bytes().to_vec()).await;
            assert!(e.contains("page 1"), "{vendor} {body}: {e}");
            if body.contains("100001") && vendor == "bangwo8" {
                assert!(
                    e.contains("100001") && e.contains("no permission"),
                    "{vendor}: {e}"
                );
            }
        }
        let mut empty = page(vendor, vec![], 0);
        let mut empties = vec![empty.to_string()];
        // `chats` null is an empty listing too (for CareSoft, beside its `code` OK).
        empty["chats"] = Value::Null;
        if vendor == "kf5" {
            let body = empty.to_string();
            let (_, e) = crafted(vendor, &body, body.as_bytes().to_vec()).await;
            assert!(
                e.contains("page 1: field `chats`: null instead of a list"),
                "{vendor} {body}: {e}"
            );
        } else {
            empties.push(empty.to_string());
        }
        for body in empties {
            let b = body.as_bytes().to_vec();
            let (pulled, _, _) = against(
                vendor,
                move |_| Reply::bytes(b.clone()),
                settings(),
                Query::new(),
            )
            .await;
            assert!(
                pulled.items.is_empty(),
                "{vendor} {body}: {:?}",
                pulled.errors()
            );
        }
    }
    // The same for a session's chat records: a 200 without `im_chatrecords`
    // is not "no messages".
    let server = HostileServer::start(|hit| {
        if hit.path.starts_with("/api/v1/imchat/chatrecords/") {
            Reply::json(&json!({"status": "100001", "message": "无权限"}))
        } else if hit.page() == 1 {
            Reply::json(&page("bangwo8", vec![record("bangwo8", 1)], 1))
        } else {
            Reply::json(&page("bangwo8", vec![], 1))
        }
    })
    .await;
    let c = connector("bangwo8", config("bangwo8", &server.url()), settings()).unwrap();
    let pulled = pull(
        c.as_ref(),
        &Query::new().with_messages(true),
        Duration::from_secs(10),
    )
    .await;
    let errors = pulled.errors();
    assert_eq!(errors.len(), 1, "{:?}", pulled.ok());
    let e = errors[0].to_string();
    assert!(
        e.contains("/api/v1/imchat/chatrecords/1.json") && e.contains("100001"),
        "{e}"
    );
}

#[tokio::test]
async fn pages_repeated_shuffled_or_in_a_cycle_are_an_error_not_endless_duplicates() {
    // A server that ignores `page` and shuffles, or serves two pages in a
    // cycle, with a total that promises a million: without care this is an
    // endless stream of the same conversations.
    for cycle in [false, true] {
        for vendor in VENDORS {
            let v = vendor.to_owned();
            let server = HostileServer::start(move |hit| {
                if hit.path == listing_path(&v)
                    && (v != "caresoft" || hit.param("conversation_type").as_deref() == Some("0"))
                {
                    let even = hit.page() % 2 == 0;
                    let r = match (cycle, even) {
                        (false, false) => vec![record(&v, 1), record(&v, 2)],
                        (false, true) => vec![record(&v, 2), record(&v, 1)],
                        (true, false) => vec![record(&v, 1), record(&v, 2)],
                        (true, true) => vec![record(&v, 3), record(&v, 4)],
                    };
                    Reply::json(&page(&v, r, 1_000_000))
                } else {
                    Reply::json(&page(&v, vec![], 0))
                }
            })
            .await;
            let c = connector(vendor, config(vendor, &server.url()), settings()).unwrap();
            let q = Query {
                page_size: Some(2),
                ..Query::new()
            };
            let pulled = pull(c.as_ref(), &q, Duration::from_secs(10)).await;
            let e = the_error(vendor, "a repeated page", &pulled).to_string();
            let want = if cycle {
                "page 3 repeats page 1"
            } else {
                "page 2 repeats page 1"
            };
            assert!(e.contains(want), "{vendor}: {e}");
            let ids: Vec<String> = pulled.ok().into_iter().map(|c| c.id).collect();
            let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
            assert_eq!(distinct.len(), ids.len(), "{vendor}: duplicates {ids:?}");
            assert_eq!(ids.len(), if cycle { 4 } else { 2 }, "{vendor}");
        }
    }
}

#[tokio::test]
async fn hostile_retry_after_values_never_panic_nor_wait_long() {
    for value in [
        "1e300",
        "18446744073709551616",
        "-5",
        "NaN",
        "inf",
        "soon",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "0.001",
    ] {
        for vendor in VENDORS {
            let v = value.to_owned();
            let (pulled, _, took) = against(
                vendor,
                move |_| Reply::WithHeaders {
                    status: 429,
                    headers: vec![("retry-after", v.clone())],
                    body: "{}".into(),
                },
                settings(),
                Query::new(),
            )
            .await;
            let e = the_error(vendor, value, &pulled).to_string();
            assert!(e.contains("rate limited"), "{vendor} {value}: {e}");
            assert!(took < Duration::from_secs(3), "{vendor} {value}: {took:?}");
        }
    }
}

#[tokio::test]
async fn a_retry_after_too_long_to_honour_does_not_stall_the_other_requests() {
    // Bangwo8 fetches messages for several conversations at once; one
    // answer asks to come back in an hour. That request fails at once (over
    // `max_retry_after`); the others must not be paused for the hour.
    let server = HostileServer::start(|hit| {
        if hit.path == "/api/v1/imchat/chatrecords/3.json" {
            Reply::WithHeaders {
                status: 429,
                headers: vec![("retry-after", "3600".into())],
                body: "{}".into(),
            }
        } else if hit.path.starts_with("/api/v1/imchat/chatrecords/") {
            std::thread::sleep(Duration::from_millis(30));
            Reply::json(&json!({"im_chatrecords": {"contents": []}, "count": 0}))
        } else if hit.page() == 1 {
            Reply::json(&page(
                "bangwo8",
                (1..=20).map(|i| record("bangwo8", i)).collect(),
                20,
            ))
        } else {
            Reply::json(&page("bangwo8", vec![], 20))
        }
    })
    .await;
    let http = HttpSettings {
        max_in_flight: 2,
        ..settings()
    };
    let c = connector("bangwo8", config("bangwo8", &server.url()), http).unwrap();
    let started = std::time::Instant::now();
    let pulled = pull(
        c.as_ref(),
        &Query::new().with_messages(true),
        Duration::from_secs(15),
    )
    .await;
    assert!(!pulled.timed_out, "the pull stalled behind the Retry-After");
    let errors = pulled.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].to_string();
    assert!(
        e.contains("rate limited") && e.contains("chatrecords/3.json"),
        "{e}"
    );
    // The other 19 conversations came through, with their messages.
    assert_eq!(pulled.ok().len(), 19);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
