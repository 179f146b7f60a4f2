//! Partitions: a plan cuts spans into consecutive windows, account by
//! account in turn; a partition pulls into Arrow batches, all or nothing.

use std::collections::BTreeSet;

use chathaul_engine::ProgressCounters;
use chathaul_engine::partition::{MAX_PARTITIONS, Span, cut, pull_partition_with};
use chathaul_engine::sync::Source;
use connector_core::ErrorKind;
use connector_core::chrono::{DateTime, Duration, Utc};
use connector_core::model::utc_instant;

use crate::fake::{Fake, conversations, t0};

fn source(name: &str) -> Source {
    let mut s = Source::new(
        "fake",
        vec![
            ("subdomain".into(), "acme".into()),
            ("password".into(), "hunter2-secret".into()),
        ],
    );
    s.name = name.to_owned();
    s
}

fn span(name: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> Span {
    Span {
        source: source(name),
        account: format!("{name}-account"),
        since,
        until,
    }
}

#[test]
fn a_plan_cuts_each_span_into_consecutive_windows_taking_accounts_in_turn() {
    let spans = [
        span("a", t0(), t0() + Duration::days(10)),
        span("b", t0() + Duration::days(4), t0() + Duration::days(10)),
    ];
    let parts = cut(&spans, Duration::days(3)).unwrap();
    let got: Vec<(usize, &str, i64, i64)> = parts
        .iter()
        .map(|p| {
            let day = |t: DateTime<Utc>| (t - t0()).num_hours();
            (p.index, p.source.as_str(), day(p.since), day(p.until))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "a", 0, 72),
            (1, "b", 96, 168),
            (2, "a", 72, 144),
            (3, "b", 168, 240),
            (4, "a", 144, 216),
            (5, "a", 216, 240),
        ]
    );
    assert!(parts.iter().all(|p| p.vendor == "fake"));
    assert_eq!(parts[1].account_key(), "fake/b-account");
    // The config travels as given, but neither Debug nor Display shows a value.
    assert_eq!(parts[0].config, spans[0].source.config);
    let shown = format!("{:?} {}", parts[0], parts[0]);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("\"subdomain\", \"password\""), "{shown}");
    assert_eq!(
        parts[0].to_string(),
        "fake/a-account [2024-03-01T08:00:00Z, 2024-03-04T08:00:00Z)"
    );
}

#[test]
fn a_plan_refuses_a_non_positive_every_and_a_plan_too_large() {
    let spans = [span("a", t0(), t0() + Duration::days(10))];
    let e = cut(&spans, Duration::zero()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Query);
    assert_eq!(
        e.to_string(),
        "invalid query: every must be a positive duration, not 0s"
    );
    let e = cut(&spans, Duration::milliseconds(1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid query: every 1ms cuts the window into more than {MAX_PARTITIONS} partitions"
        )
    );
    assert!(cut(&[], Duration::days(1)).unwrap().is_empty());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_partitions_of_a_plan_pull_every_conversation_exactly_once() {
    let rt = runtime();
    let data = conversations("fake", 20); // one every 12 hours from t0
    let fake = Fake::new("acme", data.clone());
    let spans = [span("a", t0(), t0() + Duration::days(11))];
    let parts = cut(&spans, Duration::days(3)).unwrap();
    assert_eq!(parts.len(), 4);
    let live = ProgressCounters::default();
    let mut ids = Vec::new();
    let mut message_rows = 0;
    for p in &parts {
        let pulled = rt
            .block_on(pull_partition_with(p, &fake, 4, &live))
            .unwrap();
        assert!(pulled.started_at <= pulled.ended_at);
        assert_eq!(pulled.report.source, "a");
        assert_eq!(pulled.report.window.since, Some(p.since));
        assert_eq!(pulled.report.window.until, Some(p.until));
        // Six conversations a window of three days: batches of 4 and 2.
        let rows: Vec<usize> = pulled.conversations.iter().map(|b| b.num_rows()).collect();
        let expected = if p.index < 3 { vec![4, 2] } else { vec![2] };
        assert_eq!(rows, expected, "{p}");
        assert_eq!(
            pulled.report.conversations,
            expected.iter().sum::<usize>() as u64
        );
        for (cb, mb) in pulled.conversations.iter().zip(&pulled.messages) {
            // Each message batch holds the messages of its conversation batch.
            assert_eq!(mb.num_rows(), 3 * cb.num_rows());
            message_rows += mb.num_rows();
            let back = chathaul_engine::arrow::conversations_from_batches(
                std::slice::from_ref(cb),
                std::slice::from_ref(mb),
            )
            .unwrap();
            for c in back {
                let created = c.created_at.unwrap();
                assert!(p.since <= created && created < p.until, "{}", c.id);
                ids.push(c.id);
            }
        }
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(unique.len(), 20);
    assert_eq!(message_rows, 60);
    assert_eq!(live.get(), (20, 60));
    let window = &fake.asked()[0].window;
    assert_eq!(
        (window.since.map(|t| utc_instant::format(&t)), window.until),
        (
            Some("2024-03-01T08:00:00Z".to_owned()),
            Some(parts[0].until)
        )
    );
}

#[test]
fn a_partition_that_fails_returns_the_error_and_no_rows() {
    let rt = runtime();
    let mut fake = Fake::new("acme", conversations("fake", 20));
    fake.fail_after = Some(2);
    let parts = cut(
        &[span("a", t0(), t0() + Duration::days(3))],
        Duration::days(3),
    )
    .unwrap();
    let e = rt
        .block_on(pull_partition_with(
            &parts[0],
            &fake,
            100,
            &ProgressCounters::default(),
        ))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(e.to_string().contains("/chats"), "{e}");
}

#[test]
fn an_empty_partition_still_has_both_tables_with_their_schemas() {
    let rt = runtime();
    let fake = Fake::new("acme", conversations("fake", 2));
    let later = t0() + Duration::days(30);
    let parts = cut(
        &[span("a", later, later + Duration::days(1))],
        Duration::days(1),
    )
    .unwrap();
    let pulled = rt
        .block_on(pull_partition_with(
            &parts[0],
            &fake,
            100,
            &ProgressCounters::default(),
        ))
        .unwrap();
    assert_eq!(pulled.conversations.len(), 1);
    assert_eq!(pulled.conversations[0].num_rows(), 0);
    assert_eq!(
        pulled.conversations[0].schema(),
        chathaul_engine::arrow::conversations_schema()
    );
    assert_eq!(
        pulled.messages[0].schema(),
        chathaul_engine::arrow::messages_schema()
    );
    assert!(pulled.report.complete());
}
