use chathaul_sim::{SimOptions, VENDORS};

use crate::*;

const PATHS: [(&str, &str, Cred<'static>); 4] = [
    (
        "bangwo8",
        "/api/v1/imchat/histories.json?per_page=50&page=2",
        BW8,
    ),
    ("kf5", "/apiv2/chats.json?page=2", KF5),
    (
        "caresoft",
        "/api/v1/chats?count=50&page=1&conversation_type=1",
        CS,
    ),
    ("caresoft", "/api/v1/chats?count=50&page=1", CS),
];

async fn bodies(opts: SimOptions) -> Vec<String> {
    let sim = sim(opts).await;
    let mut out = Vec::new();
    for (vendor, path, cred) in PATHS {
        let (status, _, body) = get_raw(&sim, vendor, path, cred).await;
        assert!(status == 200 || status == 404, "{vendor}{path}: {status}");
        out.push(body);
    }
    // The messages and summary of the first session.
    let first = sim.truth("bangwo8")[0].id.clone();
    for path in [
        format!("/api/v1/imchat/chatrecords/{first}.json"),
        format!("/api/v1/servicesummary/{first}.json?servicesummary_type=1"),
    ] {
        out.push(get_json(&sim, "bangwo8", &path, BW8, 200).await.to_string());
    }
    out
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_data() {
    let a = bodies(SimOptions::default()).await;
    let b = bodies(SimOptions::default()).await;
    assert_eq!(a, b);
    let c = bodies(SimOptions {
        seed: 7,
        ..SimOptions::default()
    })
    .await;
    for (x, y) in a.iter().zip(&c) {
        assert_ne!(x, y);
    }
    for vendor in VENDORS {
        let t1: Vec<_> = chathaul_sim::truth(&SimOptions::default(), vendor).collect();
        let t2: Vec<_> = chathaul_sim::truth(&SimOptions::default(), vendor).collect();
        let t3: Vec<_> = chathaul_sim::truth(
            &SimOptions {
                seed: 7,
                ..SimOptions::default()
            },
            vendor,
        )
        .collect();
        assert_eq!(t1, t2, "{vendor}");
        assert_ne!(t1, t3, "{vendor}");
    }
}

#[tokio::test]
async fn truth_is_sorted_by_id_and_spread_over_the_days() {
    let opts = SimOptions {
        conversations: 300,
        days: 30,
        ..SimOptions::default()
    };
    let sim = sim(opts.clone()).await;
    for vendor in VENDORS {
        let truth = sim.truth(vendor);
        assert_eq!(truth.len(), 300, "{vendor}");
        assert_eq!(
            truth,
            chathaul_sim::truth(&opts, vendor).collect::<Vec<_>>()
        );
        let ids: Vec<&str> = truth.iter().map(|c| c.id.as_str()).collect();
        let sorted = if *vendor == "caresoft" {
            ids.windows(2).all(|w| w[0] < w[1])
        } else {
            ids.windows(2)
                .all(|w| w[0].parse::<u64>().unwrap() < w[1].parse::<u64>().unwrap())
        };
        assert!(sorted, "{vendor} ids ascend");
        let first = truth.first().unwrap().created_at.unwrap();
        let last = truth.last().unwrap().created_at.unwrap();
        // The first local day is 2024-01-01, the last 2024-01-30 (UTC is 7-8 hours behind).
        assert!(
            first
                >= "2023-12-31T16:00:00Z"
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .unwrap(),
            "{vendor} {first}"
        );
        assert!(
            first
                < "2024-01-02T00:00:00Z"
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .unwrap(),
            "{vendor} {first}"
        );
        assert!(
            last >= "2024-01-29T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap(),
            "{vendor} {last}"
        );
        assert!(
            last < "2024-01-30T17:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap(),
            "{vendor} {last}"
        );
    }
}

#[test]
fn a_large_dataset_costs_nothing_up_front() {
    let opts = SimOptions {
        conversations: 5_000_000,
        ..SimOptions::default()
    };
    let t = std::time::Instant::now();
    let mut truth = chathaul_sim::truth(&opts, "kf5");
    let first = truth.next().unwrap();
    assert_eq!(
        first.id,
        chathaul_sim::truth(
            &SimOptions {
                conversations: 5_000_000,
                ..opts.clone()
            },
            "kf5"
        )
        .next()
        .unwrap()
        .id
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn mean_message_count_has_a_long_tail() {
    let opts = SimOptions {
        conversations: 2000,
        messages: 12,
        ..SimOptions::default()
    };
    let counts: Vec<usize> = chathaul_sim::truth(&opts, "bangwo8")
        .map(|c| c.messages.len())
        .collect();
    let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    assert!((9.0..=15.0).contains(&mean), "mean {mean}");
    assert!(
        counts.iter().filter(|&&n| n >= 100).count() >= 10,
        "long tail"
    );
    assert!(counts.iter().any(|&n| n >= 200));
    let none: Vec<usize> = chathaul_sim::truth(
        &SimOptions {
            messages: 0,
            ..opts
        },
        "kf5",
    )
    .map(|c| c.messages.len())
    .take(50)
    .collect();
    assert!(none.iter().all(|&n| n == 0));
}

#[tokio::test]
async fn an_empty_dataset_serves_empty_lists() {
    let sim = sim(SimOptions {
        conversations: 0,
        ..SimOptions::default()
    })
    .await;
    let body = get_json(&sim, "bangwo8", "/api/v1/imchat/histories.json", BW8, 200).await;
    assert_eq!(
        body,
        serde_json::json!({"chats": [], "count": 0, "next_page": null, "previous_page": null})
    );
    let body = get_json(&sim, "kf5", "/apiv2/chats.json", KF5, 200).await;
    assert_eq!(body, serde_json::json!({"chats": []}));
    let body = get_json(&sim, "caresoft", "/api/v1/chats", CS, 200).await;
    assert_eq!(
        body,
        serde_json::json!({"code": "OK", "numFound": 0, "chats": []})
    );
    for vendor in VENDORS {
        assert!(sim.truth(vendor).is_empty());
    }
    assert!(
        chathaul_sim::truth(&SimOptions::default(), "zendesk")
            .next()
            .is_none()
    );
    assert!(sim.config("zendesk").is_empty());
    let (status, _, _) = get_raw(&sim, "zendesk", "/api/v2/tickets.json", KF5).await;
    assert_eq!(status, 404);
}
