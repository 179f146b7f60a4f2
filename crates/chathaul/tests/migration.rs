//! A database written by chathaul 0.1 (schema version 1, committed in
//! crates/chathaul-engine/tests/fixtures/v1.sqlite) opens, is migrated in
//! place, and the next sync catches what 0.1 had left behind: the KF5 chats
//! stored open are revisited until they are closed and rated. A database
//! newer than this build is refused, untouched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chathaul::chrono::{DateTime, NaiveDate, Utc};
use chathaul::store::SCHEMA_VERSION;
use chathaul::sync::{Source, SyncOptions, prepare, sync};
use chathaul::{SqliteStore, Status, SyncStore, TimeField};
use chathaul_sim::{SimOptions, Simulator};
use connector_testkit::assert_same_conversations;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../chathaul-engine/tests/fixtures/v1.sqlite")
}

fn copy_of_fixture(dir: &Path) -> PathBuf {
    let db = dir.join("old.sqlite");
    std::fs::copy(fixture(), &db).unwrap();
    db
}

fn count(store: &SqliteStore, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The simulators the fixture was written from (see its README), with the
/// clock at `now`.
fn sim_at(now: &str) -> Simulator {
    Simulator::start_blocking(SimOptions {
        seed: 1,
        conversations: 60,
        messages: 3,
        start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        days: 6,
        now: Some(utc(now)),
        ..SimOptions::default()
    })
    .unwrap()
}

#[test]
fn a_version_1_database_is_migrated_in_place_and_its_open_chats_are_revisited() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_of_fixture(dir.path());
    {
        // What 0.1 wrote: version 1, no revisits, KF5 chats stored open.
        let raw = rusqlite_version(&db);
        assert_eq!(raw, "1");
    }
    let store = SqliteStore::open(&db).unwrap();
    let version: String = store
        .connection()
        .query_row(
            "SELECT value FROM chathaul_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
    assert_eq!(SCHEMA_VERSION, 4);
    // Version 4: a message's kind may be absent.
    assert_eq!(
        count(
            &store,
            "SELECT \"notnull\" FROM pragma_table_info('messages') WHERE name = 'kind'"
        ),
        0
    );
    // Version 3 keeps nothing twice: the `json` column is gone (the file
    // vacuumed smaller), the JSON view gives every conversation back.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM pragma_table_info('conversations') WHERE name = 'json'"
        ),
        0
    );
    let size = std::fs::metadata(&db).unwrap().len();
    let before = std::fs::metadata(fixture()).unwrap().len();
    assert!(size < before, "{size} bytes after, {before} before");
    let view: Vec<chathaul::Conversation> = store
        .connection()
        .prepare("SELECT conversation FROM conversations_json ORDER BY vendor, account, id")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|j| chathaul::serde_json::from_str(&j.unwrap()).unwrap())
        .collect();
    assert_eq!(view, store.conversations().unwrap());
    // Nothing stored was lost; the sources keep their cursors, on the
    // creation time as 0.1 kept them.
    assert_eq!(count(&store, "SELECT count(*) FROM conversations"), 131);
    assert_eq!(count(&store, "SELECT count(*) FROM messages"), 301);
    let states = store.states().unwrap();
    let names: Vec<&str> = states.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, ["bangwo8-demo", "caresoft-demo", "kf5-demo"]);
    let kf5 = states.iter().find(|s| s.source == "kf5-demo").unwrap();
    assert_eq!(kf5.cursor, Some(utc("2024-01-04T04:38:02Z")));
    assert_eq!(kf5.cursor_field, TimeField::Created);
    // The revisit set was seeded with what 0.1 stored open or unrated.
    let open: BTreeSet<String> = store
        .connection()
        .prepare(
            "SELECT id FROM revisits WHERE source = 'kf5-demo' AND reason = 'open' ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: BTreeSet<String> = ["10050", "10077", "10084", "10086"]
        .map(String::from)
        .into();
    assert_eq!(open, expected);
    assert!(kf5.pending > 4, "unrated ones too: {}", kf5.pending);
    assert_eq!(count(&store, "SELECT count(*) FROM rejects"), 0);
    drop(store);
    // Opening again migrates nothing more.
    let again = SqliteStore::open(&db).unwrap();
    assert_eq!(count(&again, "SELECT count(*) FROM conversations"), 131);
    drop(again);

    // The next sync, a week later by the simulators' clock: everything as
    // the vendors have it then, the chats 0.1 left open included.
    let sim = sim_at("2024-01-12T06:00:00Z");
    let sources: Vec<Source> = ["bangwo8", "caresoft", "kf5"]
        .iter()
        .map(|v| {
            let mut s = Source::new(*v, sim.config(v));
            s.name = format!("{v}-demo");
            s
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let options = SyncOptions {
        now: Some(sim.now()),
        ..SyncOptions::default()
    };
    let reports = rt
        .block_on(sync(&db, prepare(sources).unwrap(), options))
        .unwrap();
    for r in &reports {
        assert!(r.pull.complete(), "{}", r.summary_line());
    }
    let kf5_report = reports.iter().find(|r| r.pull.vendor == "kf5").unwrap();
    assert!(
        kf5_report.changes.revisited >= 4,
        "{}",
        kf5_report.summary_line()
    );
    let store = SqliteStore::open(&db).unwrap();
    let stored = store.conversations().unwrap();
    let truth: Vec<_> = ["bangwo8", "caresoft", "kf5"]
        .iter()
        .flat_map(|v| sim.truth(v))
        .collect();
    assert_same_conversations(&stored, &truth);
    let chat = stored
        .iter()
        .find(|c| c.vendor == "kf5" && c.id == "10050")
        .unwrap();
    assert_ne!(chat.status, Some(Status::Open));
    assert!(chat.ended_at.is_some());
}

/// The schema version as the file records it, read without chathaul.
fn rusqlite_version(db: &Path) -> String {
    let conn = rusqlite_open(db);
    conn.query_row(
        "SELECT value FROM chathaul_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn rusqlite_open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

#[test]
fn a_database_newer_than_this_build_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_of_fixture(dir.path());
    rusqlite_open(&db)
        .execute(
            "UPDATE chathaul_meta SET value = '5' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let e = SqliteStore::open(&db).unwrap_err();
    assert_eq!(e.kind(), chathaul::ErrorKind::Store);
    assert!(
        e.to_string()
            .contains("schema version 5 is newer than this chathaul knows (4)"),
        "{e}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file was touched");
    // A version that is not a number is refused too.
    rusqlite_open(&db)
        .execute(
            "UPDATE chathaul_meta SET value = 'beta' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let e = SqliteStore::open(&db).unwrap_err();
    assert!(e.to_string().contains("schema version beta"), "{e}");
}
