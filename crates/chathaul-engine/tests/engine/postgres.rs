//! What is Postgres's own: native types, the JSON view, the schema the user
//! names, refusing what chathaul did not create, the advisory lock per
//! source, TLS modes and passwords.

use std::sync::Arc;

use chathaul_engine::ProgressCounters;
use chathaul_engine::incremental::{ChangeReport, IncrementalState, RunBatch};
use chathaul_engine::store::postgres::{PostgresStore, PostgresUrl, SCHEMA_VERSION};
use chathaul_engine::store::{Database, RunEnd, RunStatus, SyncStore};
use chathaul_engine::sync::{Prepared, Source, SyncOptions, sync_to};
use chathaul_test_postgres::PostgresServer;
use connector_core::{Connector, ErrorKind};

use crate::backend::Backend;
use crate::fake::{Fake, conversations};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn prepared(name: &str, fake: Fake) -> Prepared {
    let mut source = Source::new("fake", vec![]);
    source.name = name.to_owned();
    Prepared {
        source,
        connector: Arc::new(fake) as Arc<dyn Connector>,
        live: ProgressCounters::shared(),
    }
}

fn open(url: &str) -> PostgresStore {
    PostgresStore::open(&PostgresUrl::parse(url).unwrap()).unwrap()
}

#[test]
fn columns_have_native_types_and_hold_the_truth() {
    let tdb = Backend::Postgres.fresh();
    let data = conversations("fake", 6);
    tdb.open().upsert(&data).unwrap();
    let types = tdb.psql(
        "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns
         WHERE table_schema = 'chathaul' AND table_name IN ('conversations', 'messages') AND column_name IN
           ('created_at', 'raw', 'agents', 'wait_secs', 'messages_fetched', 'attachments', 'sent_at', 'read', 'seq')
         ORDER BY 1",
    );
    assert_eq!(
        types.lines().collect::<Vec<_>>(),
        vec![
            "conversations.agents jsonb",
            "conversations.created_at timestamp with time zone",
            "conversations.messages_fetched boolean",
            "conversations.raw jsonb",
            "conversations.wait_secs bigint",
            "messages.attachments jsonb",
            "messages.raw jsonb",
            "messages.read boolean",
            "messages.sent_at timestamp with time zone",
            "messages.seq bigint",
        ]
    );
    // created_at is the same instant (as milliseconds since the epoch), and
    // raw is the vendor's record, as JSON.
    let rows = tdb.psql(
        "SELECT id, (extract(epoch FROM created_at) * 1000)::bigint, raw::text FROM conversations ORDER BY id",
    );
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), data.len());
    for (row, c) in rows.iter().zip(&data) {
        let mut cells = row.splitn(3, '|');
        assert_eq!(cells.next(), Some(c.id.as_str()));
        let millis: i64 = cells.next().unwrap().parse().unwrap();
        assert_eq!(millis, c.created_at.unwrap().timestamp_millis(), "{}", c.id);
        let raw: serde_json::Value = serde_json::from_str(cells.next().unwrap()).unwrap();
        assert_eq!(raw, c.raw.to_value(), "{}", c.id);
        assert!(raw.is_object(), "{raw}");
    }
    let first_message_raw =
        tdb.psql("SELECT raw::text FROM messages WHERE conversation_id = 'c001' AND seq = 0");
    let raw: serde_json::Value = serde_json::from_str(&first_message_raw).unwrap();
    assert_eq!(raw, data[1].messages[0].raw.to_value());
}

#[test]
fn the_tables_go_in_the_schema_the_url_names() {
    let pg = PostgresServer::shared().create_database();
    let mut store = open(&pg.url_with("sslmode=disable&schema=support"));
    store.upsert(&conversations("fake", 2)).unwrap();
    assert_eq!(
        store.location(),
        format!(
            "postgresql://postgres@127.0.0.1:{}/{}?sslmode=disable&schema=support",
            pg.port(),
            pg.name
        )
    );
    let server = PostgresServer::shared();
    let schemas = server
        .psql(
            &pg.name,
            "SELECT table_schema || '.' || table_name FROM information_schema.tables
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        )
        .unwrap();
    assert_eq!(
        schemas.lines().collect::<Vec<_>>(),
        vec![
            "support.chathaul_meta",
            "support.conversations",
            "support.conversations_json",
            "support.messages",
            "support.rejects",
            "support.revisits",
            "support.seen",
            "support.sync_state",
        ]
    );
    assert_eq!(
        server
            .psql(
                &pg.name,
                "SELECT value FROM support.chathaul_meta WHERE key = 'schema_version'"
            )
            .unwrap(),
        SCHEMA_VERSION.to_string()
    );
    // Opened again: nothing is migrated twice, the data is there.
    assert_eq!(
        open(&pg.url_with("sslmode=disable&schema=support"))
            .conversations()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_schema_chathaul_did_not_create_or_a_newer_one_is_refused_and_left_alone() {
    let server = PostgresServer::shared();
    let pg = server.create_database();
    server
        .psql(&pg.name, "CREATE SCHEMA chathaul; CREATE TABLE chathaul.invoices (id int); INSERT INTO chathaul.invoices VALUES (7)")
        .unwrap();
    let e = PostgresStore::open(&PostgresUrl::parse(&pg.url()).unwrap()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("schema `chathaul` holds tables chathaul did not create (invoices)"),
        "{text}"
    );
    assert!(
        text.starts_with(&format!(
            "database postgresql://postgres@127.0.0.1:{}/",
            pg.port()
        )),
        "{text}"
    );
    assert_eq!(e.kind(), ErrorKind::Store);
    assert_eq!(
        server
            .psql(&pg.name, "SELECT string_agg(table_name, ',') FROM information_schema.tables WHERE table_schema = 'chathaul'")
            .unwrap(),
        "invoices"
    );

    let other = server.create_database();
    open(&other.url());
    server
        .psql(
            &other.name,
            "UPDATE chathaul.chathaul_meta SET value = '99' WHERE key = 'schema_version'",
        )
        .unwrap();
    let e = PostgresStore::open(&PostgresUrl::parse(&other.url()).unwrap()).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "schema `chathaul` has schema version 99, newer than {SCHEMA_VERSION}"
        )),
        "{e}"
    );

    // Reading (sync --status) never creates a schema.
    let empty = server.create_database();
    let e = Database::parse(&empty.url())
        .unwrap()
        .open_existing()
        .unwrap_err();
    assert!(e.to_string().contains("has no schema `chathaul`"), "{e}");
    assert_eq!(
        server
            .psql(
                &empty.name,
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'chathaul'"
            )
            .unwrap(),
        "0"
    );
}

#[test]
fn a_second_run_of_a_source_is_refused_while_the_first_holds_it() {
    let rt = runtime();
    let tdb = Backend::Postgres.fresh();
    let mut first = tdb.open();
    first.begin_run("main", "fake", "acme").unwrap();

    // Another process's sync of the same source (and of another one).
    let mut other = Fake::new("globex", conversations("fake", 4));
    other.extra_reported = 0;
    let reports = rt
        .block_on(sync_to(
            &tdb.db,
            vec![
                prepared("main", Fake::new("acme", conversations("fake", 5))),
                prepared("other", other),
            ],
            SyncOptions {
                batch_size: 2,
                ..SyncOptions::default()
            },
        ))
        .unwrap();
    let refused = reports[0].pull.error.clone().unwrap();
    assert!(
        refused.contains("source `main` is being synced by another run right now"),
        "{refused}"
    );
    assert_eq!(reports[0].pull.error_kind, Some(ErrorKind::Store));
    assert_eq!(reports[0].pull.conversations, 0, "nothing was fetched");
    assert!(
        reports[1].pull.complete(),
        "a different source runs at once"
    );

    // The first run goes on and completes; its state is its own.
    let batch = RunBatch {
        conversations: conversations("fake", 3),
        messages: 9,
        ..RunBatch::default()
    };
    first.write_batch("main", &batch).unwrap();
    let end = RunEnd {
        status: RunStatus::Ok,
        error: None,
        state: IncrementalState::default(),
        window_since: None,
        report: ChangeReport::default(),
        reported_total: Some(3),
        reported_messages: None,
        shortfalls: vec![],
    };
    let state = first.finish_run("main", &end).unwrap();
    assert_eq!((state.last_status.as_str(), state.rows_fetched), ("ok", 3));

    // Released: the next run takes it.
    let reports = rt
        .block_on(sync_to(
            &tdb.db,
            vec![prepared(
                "main",
                Fake::new("acme", conversations("fake", 5)),
            )],
            SyncOptions {
                batch_size: 2,
                ..SyncOptions::default()
            },
        ))
        .unwrap();
    assert!(reports[0].pull.complete(), "{:?}", reports[0].pull.error);

    // A process that dies holding the lock loses it with its connection.
    let mut holder = tdb.open();
    holder.begin_run("main", "fake", "acme").unwrap();
    drop(holder);
    // The server ends the session as soon as it sees the connection close.
    let mut next = tdb.open();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match next.begin_run("main", "fake", "acme") {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("is being synced"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the lock outlived its connection: {e}"),
        }
    }
}

#[test]
fn tls_modes_mean_what_they_mean_in_libpq() {
    let server = PostgresServer::shared();
    let pg = server.create_database();
    let ca = server.ca_certificate();
    let ca = ca.to_str().unwrap();
    let localhost = |query: &str| {
        format!(
            "postgresql://postgres@localhost:{}/{}?{query}",
            pg.port(),
            pg.name
        )
    };
    // Each store names its session, so that one that just closed (its
    // backend may linger a moment) or another test's is not counted.
    let ssl_in_use = |store: &PostgresStore, session: &str| {
        let _ = store;
        server
            .psql(
                &pg.name,
                &format!(
                    "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                     WHERE a.application_name = '{session}' AND a.datname = current_database()
                         AND s.ssl"
                ),
            )
            .unwrap()
    };
    // require: encrypted, the self-signed chain not checked.
    let store = open(&pg.url_with("sslmode=require&application_name=tls_require"));
    assert_eq!(ssl_in_use(&store, "tls_require"), "1");
    drop(store);
    // verify-full: the chain leads to the CA and the name is localhost.
    let store = open(&localhost(&format!(
        "sslmode=verify-full&sslrootcert={ca}&application_name=tls_verify_full"
    )));
    assert_eq!(ssl_in_use(&store, "tls_verify_full"), "1");
    drop(store);
    // verify-ca: the chain is enough, whatever the host is called.
    drop(open(
        &pg.url_with(&format!("sslmode=verify-ca&sslrootcert={ca}")),
    ));

    // verify-full refuses a certificate that does not name the host...
    let refused = |url: String, needle: &str| {
        let e = PostgresStore::open(&PostgresUrl::parse(&url).unwrap()).unwrap_err();
        let chain = format!("{e}: {:?}", std::error::Error::source(&e));
        assert!(chain.contains(needle), "{url}: {chain}");
        assert!(e.to_string().contains("cannot connect"), "{e}");
    };
    refused(
        pg.url_with(&format!("sslmode=verify-full&sslrootcert={ca}")),
        "NotValidForName",
    );
    // ...and a server whose chain leads to no trusted root.
    refused(
        localhost("sslmode=verify-full&sslrootcert=system"),
        "UnknownIssuer",
    );
}

#[test]
fn a_password_login_works_and_the_password_is_never_shown() {
    let server = PostgresServer::shared();
    let pg = server.create_database();
    let password = "Tr0ub4dor&3-pg";
    server
        .create_password_role("syncer", password, &pg.name)
        .unwrap();
    let url = format!(
        "postgresql://syncer:{}@127.0.0.1:{}/{}?sslmode=require",
        "Tr0ub4dor%263-pg",
        pg.port(),
        pg.name
    );
    let parsed = PostgresUrl::parse(&url).unwrap();
    let mut store = PostgresStore::open(&parsed).unwrap();
    store.upsert(&conversations("fake", 2)).unwrap();
    for shown in [
        store.location(),
        format!("{store:?}"),
        parsed.to_string(),
        format!("{parsed:?}"),
        format!("{:?}", Database::parse(&url).unwrap()),
    ] {
        assert!(!shown.contains("Tr0ub4dor"), "{shown}");
    }
    drop(store);

    let wrong = url.replace("Tr0ub4dor%263", "wrong");
    let e = PostgresStore::open(&PostgresUrl::parse(&wrong).unwrap()).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        !text.contains("wrong-pg") && !text.contains("Tr0ub4dor"),
        "{text}"
    );
}
