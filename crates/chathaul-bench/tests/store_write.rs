//! The store-write benchmark's child writes what was recorded, all of it,
//! into either backend, and names the line of a record it cannot read.

use chathaul_bench::store_write::{record, write_recorded};
use chathaul_test_postgres::PostgresServer;

#[test]
fn writes_every_recorded_conversation_into_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir.path().join("recorded.jsonl");
    let (convs, msgs) = record(&recorded, 500).unwrap();
    assert!(msgs >= 500, "recorded {msgs} messages, asked 500");
    assert!(convs > 1, "recorded {convs} conversations");
    // Sizes below the sync's batch would not test more than one transaction.
    let (convs, msgs) = {
        let (c, m) = record(&recorded, 6_000).unwrap();
        assert!(c > 100, "{c} conversations fit one batch");
        (c, m)
    };

    let sqlite = dir.path().join("out.sqlite");
    let written = write_recorded(&recorded, &sqlite.display().to_string()).unwrap();
    assert_eq!(
        (written.conversations, written.messages, written.stored),
        (convs, msgs, convs)
    );
    assert_eq!(written.batches, convs.div_ceil(100));
    assert!(written.store_secs > 0.0);

    let db = PostgresServer::shared().create_database();
    let written = write_recorded(&recorded, &db.url()).unwrap();
    assert_eq!(
        (written.conversations, written.messages, written.stored),
        (convs, msgs, convs)
    );
    let in_db = PostgresServer::shared()
        .psql(&db.name, "SELECT count(*) FROM chathaul.messages")
        .unwrap();
    assert_eq!(in_db.trim(), msgs.to_string());
}

#[test]
fn a_line_that_is_not_a_conversation_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir.path().join("recorded.jsonl");
    record(&recorded, 100).unwrap();
    let first = std::fs::read_to_string(&recorded)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, format!("{first}\n{{\"id\": 3}}\n")).unwrap();
    let err =
        write_recorded(&broken, &dir.path().join("a.sqlite").display().to_string()).unwrap_err();
    assert!(
        err.contains("broken.jsonl line 2: not a conversation"),
        "{err}"
    );

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let err =
        write_recorded(&empty, &dir.path().join("b.sqlite").display().to_string()).unwrap_err();
    assert!(err.ends_with("empty.jsonl holds no conversation"), "{err}");
}
