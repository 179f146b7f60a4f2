use std::sync::Arc;

use chathaul_engine::ProgressCounters;
use chathaul_engine::report::LeadReport;
use chathaul_engine::sync::{DEFAULT_LOOKBACK, Prepared, Source, SyncOptions, sync_to};
use connector_core::chrono::Duration;
use connector_core::{Connector, ErrorKind, Include};

use crate::backend::{Backend, assert_same};
use crate::fake::{Fake, conversations, t0};

/// Every test below on every backend: adding a backend is one line.
macro_rules! sync_suite {
    ($module:ident, $backend:expr) => {
        crate::suite!($module, $backend =>
            a_second_run_asks_only_for_the_lookback_window,
            a_failed_run_keeps_what_it_fetched_and_does_not_move_the_cursor,
            a_shortfall_is_reported_recorded_and_holds_the_cursor,
            sources_sync_concurrently_into_one_database,
            a_source_that_changes_account_is_refused,
            the_lead_report_counts_and_medians,
            the_cursor_follows_instants_not_their_text,
            the_learned_rate_is_kept_per_source_and_seeds_the_next_run,
            a_batch_that_repeats_a_conversation_keeps_its_last_copy,
            the_json_view_is_each_conversation_in_the_json_contract,
        );
    };
}
sync_suite!(sqlite, crate::backend::Backend::Sqlite);
sync_suite!(postgres, crate::backend::Backend::Postgres);

fn prepared(name: &str, fake: Arc<Fake>) -> Prepared {
    let mut source = Source::new("fake", vec![]);
    source.name = name.to_owned();
    Prepared {
        source,
        connector: fake as Arc<dyn Connector>,
        live: ProgressCounters::shared(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const OPTS: SyncOptions = SyncOptions {
    batch_size: 3,
    concurrency: 4,
    now: None,
};

fn a_second_run_asks_only_for_the_lookback_window(backend: Backend) {
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    let data = conversations("fake", 20); // every 12 h from t0: the newest is t0 + 228 h
    let newest = t0() + Duration::hours(12 * 19);

    let fake = Arc::new(Fake::new("acme", data.clone()));
    let first = rt
        .block_on(sync_to(db, vec![prepared("main", fake.clone())], OPTS))
        .unwrap();
    assert_eq!(
        fake.asked()[0].window.since,
        None,
        "a first run starts from the beginning"
    );
    assert_eq!(first[0].pull.conversations, 20);
    assert!(first[0].pull.complete(), "{}", first[0].pull.summary_line());
    let state = first[0].state.clone().unwrap();
    assert_eq!(state.cursor, Some(newest - DEFAULT_LOOKBACK));
    assert_eq!(state.last_status, "ok");
    assert_eq!(
        (
            state.rows_fetched,
            state.messages_fetched,
            state.reported_total
        ),
        (20, 60, Some(20))
    );

    let fake = Arc::new(Fake::new("acme", data.clone()));
    let second = rt
        .block_on(sync_to(db, vec![prepared("main", fake.clone())], OPTS))
        .unwrap();
    let asked = fake.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].window.since, Some(newest - DEFAULT_LOOKBACK));
    assert_eq!(asked[0].window.until, None);
    // The listing asks for no extras: each new or changed conversation is
    // completed on its own (`Connector::complete`).
    assert_eq!(asked[0].include, Include::NONE);
    // The look-back window holds the last three (newest - 24 h, - 12 h,
    // newest): listed again, as they were stored, so not fetched again.
    assert_eq!(second[0].changes.listed, 3);
    assert_eq!(second[0].pull.conversations, 0);
    assert!(fake.completed().is_empty());

    // One of them edited at the vendor: listed again, changed, fetched again.
    let mut edited = data.clone();
    edited[18].raw = serde_json::json!({"r_id": 18, "note": "edited"}).into();
    edited[18].customer.name = Some("edited".into());
    let fake = Arc::new(Fake::new("acme", edited.clone()));
    let third = rt
        .block_on(sync_to(db, vec![prepared("main", fake.clone())], OPTS))
        .unwrap();
    assert_eq!(third[0].pull.conversations, 1);
    assert_eq!(fake.completed(), ["c018"]);

    let store = tdb.open();
    assert_same(
        &store.conversations().unwrap(),
        &edited,
        "no duplicates, nothing lost, the edit kept",
    );
    assert_eq!(tdb.count("SELECT count(*) FROM messages"), 60);
}

fn a_failed_run_keeps_what_it_fetched_and_does_not_move_the_cursor(backend: Backend) {
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    let data = conversations("fake", 20);

    let mut fake = Fake::new("acme", data.clone());
    fake.fail_after = Some(7);
    let reports = rt
        .block_on(sync_to(db, vec![prepared("main", Arc::new(fake))], OPTS))
        .unwrap();
    let r = &reports[0];
    assert_eq!(r.pull.conversations, 7);
    let err = r.pull.error.clone().unwrap();
    assert_eq!(err, "source main: fake: /chats page 2: connection reset");
    let state = r.state.clone().unwrap();
    assert_eq!(state.last_status, "error");
    assert_eq!(state.cursor, None);
    assert_eq!(state.last_error.as_deref(), Some(err.as_str()));
    assert_same(
        &tdb.open().conversations().unwrap(),
        &data[..7],
        "every fetched batch was kept",
    );

    let fake = Arc::new(Fake::new("acme", data.clone()));
    let reports = rt
        .block_on(sync_to(db, vec![prepared("main", fake.clone())], OPTS))
        .unwrap();
    assert_eq!(
        fake.asked()[0].window.since,
        None,
        "the rerun asks for the failed window again"
    );
    assert!(reports[0].pull.complete());
    assert_same(
        &tdb.open().conversations().unwrap(),
        &data,
        "after the rerun",
    );
}

fn a_shortfall_is_reported_recorded_and_holds_the_cursor(backend: Backend) {
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    let mut fake = Fake::new("acme", conversations("fake", 10));
    fake.extra_reported = 2;
    let reports = rt
        .block_on(sync_to(db, vec![prepared("main", Arc::new(fake))], OPTS))
        .unwrap();
    let r = &reports[0];
    assert_eq!(
        r.pull.shortfalls,
        vec!["the vendor reported 12 conversations, 10 were listed".to_owned()]
    );
    assert!(!r.pull.complete());
    assert!(
        r.pull.summary_line().contains("INCOMPLETE"),
        "{}",
        r.pull.summary_line()
    );
    let state = tdb.open().state("main").unwrap().unwrap();
    assert_eq!(state.last_status, "incomplete");
    assert_eq!(state.cursor, None);
    assert_eq!(state.reported_total, Some(12));
    assert_eq!(state.shortfalls, r.pull.shortfalls);
}

fn sources_sync_concurrently_into_one_database(backend: Backend) {
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    let a = conversations("fake", 15);
    let mut b = conversations("fake", 9);
    for c in &mut b {
        c.account = "globex".into();
    }
    let sources = vec![
        prepared("acme", Arc::new(Fake::new("acme", a.clone()))),
        prepared("globex", Arc::new(Fake::new("globex", b.clone()))),
    ];
    let reports = rt
        .block_on(sync_to(
            db,
            sources,
            SyncOptions {
                batch_size: 2,
                ..OPTS
            },
        ))
        .unwrap();
    assert_eq!(
        reports
            .iter()
            .map(|r| r.pull.conversations)
            .collect::<Vec<_>>(),
        vec![15, 9]
    );
    let store = tdb.open();
    let mut expected = a;
    expected.extend(b);
    assert_same(&store.conversations().unwrap(), &expected, "both sources");
    let states = store.states().unwrap();
    assert_eq!(
        states
            .iter()
            .map(|s| (s.source.as_str(), s.stored))
            .collect::<Vec<_>>(),
        vec![("acme", 15), ("globex", 9)]
    );
}

fn a_source_that_changes_account_is_refused(backend: Backend) {
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    rt.block_on(sync_to(
        db,
        vec![prepared(
            "main",
            Arc::new(Fake::new("acme", conversations("fake", 2))),
        )],
        OPTS,
    ))
    .unwrap();
    let reports = rt
        .block_on(sync_to(
            db,
            vec![prepared(
                "main",
                Arc::new(Fake::new("globex", conversations("fake", 2))),
            )],
            OPTS,
        ))
        .unwrap();
    let err = reports[0].pull.error.clone().unwrap();
    assert!(
        err.contains("source `main` was synced from fake/acme and is now fake/globex"),
        "{err}"
    );
    // Renaming the source is the fix: a configuration error.
    assert_eq!(reports[0].pull.error_kind, Some(ErrorKind::Config));
}

fn the_lead_report_counts_and_medians(backend: Backend) {
    let tdb = backend.fresh();
    let mut store = tdb.open();
    store.upsert(&conversations("fake", 10)).unwrap();
    let report = LeadReport::from_store(store.as_ref()).unwrap();
    // Channels: ids 4 and 9 are `line`, the rest web.
    let rows: Vec<(String, u64, u64)> = report
        .channels
        .iter()
        .map(|c| (c.channel.clone(), c.conversations, c.messages))
        .collect();
    assert_eq!(
        rows,
        vec![("line".to_owned(), 2, 6), ("web".to_owned(), 8, 24)]
    );
    let v = &report.vendors[0];
    assert_eq!(v.rating_shares.get("satisfied").copied(), Some(0.5));
    // first_response_secs is 45 + i for i in 0..10: median 49.5.
    let fr = v.first_response.unwrap();
    assert_eq!((fr.secs, fr.over, fr.computed), (49.5, 10, false));
    assert_eq!(v.wait.unwrap().secs, 30.0);
    let text = report.to_string();
    assert!(text.contains("50%") && text.contains("50s"), "{text}");
}

fn the_cursor_follows_instants_not_their_text(backend: Backend) {
    // `…:00.5Z` sorts before `…:00Z` as text; the newest seen must be the later instant.
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    let mut data = conversations("fake", 2);
    data[0].created_at = Some(t0() + Duration::milliseconds(500));
    data[1].created_at = Some(t0());
    let fake = Arc::new(Fake::new("acme", data));
    let reports = rt
        .block_on(sync_to(
            db,
            vec![prepared("main", fake)],
            SyncOptions {
                batch_size: 1,
                ..OPTS
            },
        ))
        .unwrap();
    let state = reports[0].state.clone().unwrap();
    assert_eq!(state.newest_seen, Some(t0() + Duration::milliseconds(500)));
    assert_eq!(
        state.cursor,
        Some(t0() + Duration::milliseconds(500) - DEFAULT_LOOKBACK)
    );
}

fn the_learned_rate_is_kept_per_source_and_seeds_the_next_run(backend: Backend) {
    let rt = runtime();
    let tdb = backend.fresh();
    let db = &tdb.db;
    let data = conversations("fake", 4);
    let mut first = Fake::new("acme", data.clone());
    first.learned_rate = Some(12.5);
    let first = Arc::new(first);
    let reports = rt
        .block_on(sync_to(db, vec![prepared("main", first.clone())], OPTS))
        .unwrap();
    assert!(
        first.seeded.lock().unwrap().is_empty(),
        "nothing to seed yet"
    );
    assert_eq!(reports[0].state.as_ref().unwrap().learned_rate, Some(12.5));
    // The next run (a new process, a new connector) starts from it.
    let second = Arc::new(Fake::new("acme", data));
    rt.block_on(sync_to(db, vec![prepared("main", second.clone())], OPTS))
        .unwrap();
    assert_eq!(*second.seeded.lock().unwrap(), vec![12.5]);
    // A run that learned nothing keeps the rate it was given.
    let state = tdb.open().state("main").unwrap().unwrap();
    assert_eq!(state.learned_rate, Some(12.5));
}

fn a_batch_that_repeats_a_conversation_keeps_its_last_copy(backend: Backend) {
    let tdb = backend.fresh();
    let mut store = tdb.open();
    let data = conversations("fake", 3);
    let mut changed = data[1].clone();
    changed.status = Some(connector_core::Status::Other("reopened".into()));
    changed.messages.truncate(1);
    store
        .upsert(&[
            data[0].clone(),
            data[1].clone(),
            data[2].clone(),
            changed.clone(),
        ])
        .unwrap();
    let stored = store.conversations().unwrap();
    assert_same(
        &stored,
        &[data[0].clone(), changed, data[2].clone()],
        "the last copy",
    );
    assert_eq!(tdb.count("SELECT count(*) FROM messages"), 3 + 1 + 3);
    // A later batch replaces the row and all its messages.
    store.upsert(&data[1..2]).unwrap();
    assert_same(&store.conversations().unwrap(), &data, "replaced");
    assert_eq!(tdb.count("SELECT count(*) FROM messages"), 9);
}

fn the_json_view_is_each_conversation_in_the_json_contract(backend: Backend) {
    let tdb = backend.fresh();
    let data = conversations("fake", 8);
    tdb.open().upsert(&data).unwrap();
    let from_view: Vec<serde_json::Value> = tdb
        .texts("SELECT conversation FROM conversations_json ORDER BY id")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<serde_json::Value> = data
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(from_view.len(), expected.len());
    for (got, want) in from_view.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    // Nothing is stored twice: no column holds the whole conversation.
    let columns = match backend {
        Backend::Sqlite => {
            tdb.count("SELECT count(*) FROM pragma_table_info('conversations') WHERE name = 'json'")
        }
        Backend::Postgres => tdb.count(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'chathaul'
             AND table_name = 'conversations' AND column_name IN ('json', 'raw_json')",
        ),
    };
    assert_eq!(columns, 0);
}
