use std::time::{Duration, Instant};

use chathaul_sim::{Fault, SimOptions};

use crate::*;

const BW8_LIST: &str = "/api/v1/imchat/histories.json?per_page=5";

fn with_fault(f: Fault) -> SimOptions {
    SimOptions {
        fault_rate: 1.0,
        faults: vec![f],
        ..SimOptions::default()
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_account() {
    let sim = sim(SimOptions {
        rate_limit: Some(3),
        ..SimOptions::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = Vec::new();
    for _ in 0..8 {
        let (status, headers, body) =
            get_raw(&sim, "kf5", "/apiv2/chats.json?per_page=1", KF5).await;
        if status == 429 {
            let secs: u64 = headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .expect("whole seconds");
            retry_after.push(secs);
            assert!(body.contains("rate limit"), "{body}");
        }
        statuses.push(status);
    }
    assert!(
        statuses.iter().filter(|&&s| s == 200).count() >= 3,
        "{statuses:?}"
    );
    assert!(!retry_after.is_empty(), "{statuses:?}");
    assert!(retry_after.iter().all(|&s| s == 1), "{retry_after:?}");
    // The API token names the same user: it shares the budget.
    let token = Cred::Basic("agent@demo.kf5.com/token", "kf5-demo-token");
    let (s, _, _) = get_raw(&sim, "kf5", "/apiv2/chats.json?per_page=1", token).await;
    // Another account has its own budget.
    let (other, _, _) = get_raw(&sim, "caresoft", "/api/v1/chats?count=1&page=1", CS).await;
    assert_eq!(other, 200);
    let stats = sim.stats();
    let throttled = statuses.iter().filter(|&&s| s == 429).count() as u64 + u64::from(s == 429);
    assert_eq!(stats.throttled, throttled);
    assert_eq!(stats.requests, 10);
    assert_eq!(stats.per_vendor["kf5"], 9);
    assert_eq!(stats.per_vendor["caresoft"], 1);
    assert_eq!(stats.per_vendor["bangwo8"], 0);
    // After the window, requests pass again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (after, _, _) = get_raw(&sim, "kf5", "/apiv2/chats.json?per_page=1", KF5).await;
    assert_eq!(after, 200);
}

#[tokio::test]
async fn status_faults() {
    for (fault, status) in [
        (Fault::Status500, 500),
        (Fault::Status502, 502),
        (Fault::Status503, 503),
    ] {
        let sim = sim(with_fault(fault)).await;
        let (got, _, _) = get_raw(&sim, "bangwo8", BW8_LIST, BW8).await;
        assert_eq!(got, status, "{fault:?}");
        assert_eq!(sim.stats().faults, 1);
    }
}

#[tokio::test]
async fn dropped_connection_has_no_response() {
    let sim = sim(with_fault(Fault::Drop)).await;
    let url = format!("{}{BW8_LIST}", sim.base_url("bangwo8"));
    let err = client()
        .get(&url)
        .basic_auth("admin@demo", Some("bangwo8-demo-password"))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
}

#[tokio::test]
async fn truncated_body_is_cut_mid_way() {
    let sim = sim(with_fault(Fault::Truncate)).await;
    let url = format!("{}{BW8_LIST}", sim.base_url("bangwo8"));
    let res = client()
        .get(&url)
        .basic_auth("admin@demo", Some("bangwo8-demo-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let declared = res.content_length().unwrap();
    assert!(declared > 100);
    let err = res.bytes().await.expect_err("the body is cut");
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err:?}"
    );
}

#[tokio::test]
async fn html_error_page_with_200() {
    let sim = sim(with_fault(Fault::Html)).await;
    let (status, headers, body) = get_raw(&sim, "caresoft", "/api/v1/chats", CS).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.starts_with("<!DOCTYPE html>"));
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
}

#[tokio::test]
async fn slow_drip_delivers_the_right_body_slowly() {
    let clean = default_sim().await;
    let (_, _, want) = get_raw(&clean, "kf5", "/apiv2/chats.json", KF5).await;
    let sim = sim(with_fault(Fault::SlowDrip)).await;
    let t = Instant::now();
    let (status, _, got) = get_raw(&sim, "kf5", "/apiv2/chats.json", KF5).await;
    assert_eq!(status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(got, want);
}

#[tokio::test]
async fn faults_never_change_the_data_and_are_seeded() {
    let clean = default_sim().await;
    let (_, _, want) = get_raw(&clean, "bangwo8", BW8_LIST, BW8).await;
    let opts = SimOptions {
        fault_rate: 0.5,
        faults: vec![Fault::Status503, Fault::Html, Fault::Truncate],
        ..SimOptions::default()
    };
    let outcomes = |sim: chathaul_sim::Simulator| async move {
        let url = format!("{}{BW8_LIST}", sim.base_url("bangwo8"));
        let mut seen = Vec::new();
        for _ in 0..20 {
            let res = client()
                .get(&url)
                .basic_auth("admin@demo", Some("bangwo8-demo-password"))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let html = res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html");
            match res.text().await {
                Ok(body) if status == 200 && !html => seen.push(Some(body)),
                _ => seen.push(None),
            }
        }
        (seen, sim.stats().faults)
    };
    let (a, faults_a) = outcomes(sim(opts.clone()).await).await;
    let (b, faults_b) = outcomes(sim(opts).await).await;
    assert_eq!(a, b, "the same seed injects the same faults");
    assert_eq!(faults_a, faults_b);
    assert!(
        faults_a > 3 && faults_a < 17,
        "{faults_a} faults of 20 at rate 0.5"
    );
    let good: Vec<&String> = a.iter().flatten().collect();
    assert_eq!(good.len() as u64, 20 - faults_a);
    assert!(
        good.iter().all(|b| **b == want),
        "every clean answer is the same data"
    );
}

#[tokio::test]
async fn latency_is_added() {
    let sim = sim(SimOptions {
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(50),
        ..SimOptions::default()
    })
    .await;
    let t = Instant::now();
    get_json(&sim, "caresoft", "/api/v1/chats", CS, 200).await;
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn start_blocking_serves_without_a_runtime_and_stops_on_drop() {
    let sim = chathaul_sim::Simulator::start_blocking(SimOptions::default()).unwrap();
    let addr = sim.addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = rt.block_on(get_json(
        &sim,
        "kf5",
        "/apiv2/chats.json?per_page=2",
        KF5,
        200,
    ));
    assert_eq!(body["chats"].as_array().unwrap().len(), 2);
    drop(sim);
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "stopped"
    );
}
