//! `chathaul sync` into Postgres as a user runs it: two runs of one source
//! at once, the password's ways in and the places it must never show.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chathaul_test_postgres::PostgresServer;
use connector_testkit::assert_same_conversations;

use crate::common::{Backend, all_truth, assert_ok, chathaul, sim, text, three_source_config};

#[test]
fn a_second_sync_of_the_same_sources_is_refused_while_the_first_completes() {
    let sim = sim(40, 15);
    let dir = tempfile::tempdir().unwrap();
    let tdb = Backend::Postgres.fresh(dir.path(), "");
    let env = three_source_config(
        &sim,
        &dir.path().join("chathaul.toml"),
        &[("concurrency", "1")],
    );
    let command = || {
        let mut c = chathaul(dir.path());
        c.args(["sync", "--db", &tdb.arg, "--batch-size", "2", "--quiet"])
            .envs(env.clone())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let first = command().spawn().unwrap();
    // Until the first run has begun every source (and holds their locks).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(tdb.exists()
        && tdb.count("SELECT count(*) FROM sync_state WHERE last_status = 'running'") == 3)
    {
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = command().output().unwrap();
    let (_, stderr) = text(&second);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    for vendor in chathaul_sim::VENDORS {
        assert!(
            stderr.contains(&format!(
                "source `{vendor}-demo` is being synced by another run right now"
            )),
            "{stderr}"
        );
    }
    assert!(stderr.contains("synced 0/3 sources"), "{stderr}");

    let first = first.wait_with_output().unwrap();
    assert_ok(&first);
    let store = tdb.open();
    assert_same_conversations(&store.conversations().unwrap(), &all_truth(&sim));
    for s in store.states().unwrap() {
        assert_eq!(
            (s.last_status.as_str(), s.stored),
            ("ok", 40),
            "{}",
            s.source
        );
    }
}

/// Every text a user could see or keep: outputs, the verbose log, and every
/// row of chathaul's tables.
fn assert_nowhere(password: &str, outputs: &[String], tdb: &crate::common::TestDb) {
    for out in outputs {
        assert!(!out.contains(password), "the password is in:\n{out}");
    }
    let rows = tdb.psql(
        "SELECT count(*) FROM (
             SELECT row_to_json(c)::text AS t FROM conversations c
             UNION ALL SELECT row_to_json(m)::text FROM messages m
             UNION ALL SELECT row_to_json(s)::text FROM sync_state s
             UNION ALL SELECT row_to_json(k)::text FROM chathaul_meta k) r
         WHERE strpos(t, 'Sw0rdf1sh') > 0",
    );
    assert_eq!(rows, "0", "the password is in the database");
}

#[test]
fn the_password_comes_from_the_environment_and_shows_nowhere() {
    let server = PostgresServer::shared();
    let sim = sim(8, 0);
    let dir = tempfile::tempdir().unwrap();
    let tdb = Backend::Postgres.fresh(dir.path(), "");
    let pg = tdb.postgres().clone();
    let password = "Sw0rdf1sh-pg";
    server
        .create_password_role("syncer", password, &pg.name)
        .unwrap();
    let mut env = three_source_config(&sim, &dir.path().join("plain.toml"), &[]);
    let plain = std::fs::read_to_string(dir.path().join("plain.toml")).unwrap();
    let url = |user_part: &str| {
        format!(
            "postgresql://{user_part}@127.0.0.1:{}/{}?sslmode=require",
            pg.port(),
            pg.name
        )
    };
    // In the config file, as `${VAR}`.
    std::fs::write(
        dir.path().join("chathaul.toml"),
        format!("db = \"{}\"\n{plain}", url("syncer:${PG_SYNC_PASSWORD}")),
    )
    .unwrap();
    env.push(("PG_SYNC_PASSWORD".into(), password.into()));
    let mut outputs = Vec::new();
    for args in [
        vec!["-vv", "sync", "--json"],
        vec!["sync", "--status"],
        vec!["sync", "--status", "--json"],
    ] {
        let out = chathaul(dir.path())
            .args(&args)
            .envs(env.clone())
            .output()
            .unwrap();
        assert_ok(&out);
        let (stdout, stderr) = text(&out);
        outputs.push(format!("{args:?}\n{stdout}\n{stderr}"));
    }
    assert!(
        outputs[0].contains(&format!(
            "into postgresql://syncer@127.0.0.1:{}/{}?sslmode=require",
            pg.port(),
            pg.name
        )),
        "{}",
        outputs[0]
    );
    assert!(outputs[1].contains("kf5-demo"), "{}", outputs[1]);
    let stored = tdb.count("SELECT count(*) FROM conversations");
    assert_eq!(stored, 24);

    // PGPASSWORD, with no password in the URL.
    let no_password = [("PGPASSWORD".to_owned(), password.to_owned())];
    let out = chathaul(dir.path())
        .args(["sync", "--status", "--db", &url("syncer")])
        .envs(no_password)
        .output()
        .unwrap();
    assert_ok(&out);
    outputs.push(format!("{}{}", text(&out).0, text(&out).1));

    // ~/.pgpass (here PGPASSFILE), readable by its owner only.
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:{}:syncer:{password}\n", pg.port(), pg.name),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = chathaul(dir.path())
        .args(["sync", "--status", "--db", &url("syncer")])
        .env("PGPASSFILE", &pgpass)
        .output()
        .unwrap();
    assert_ok(&out);
    outputs.push(format!("{}{}", text(&out).0, text(&out).1));

    // No password at all: the error says where one can come from.
    let out = chathaul(dir.path())
        .args(["sync", "--status", "--db", &url("syncer")])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the server asks for a password, and none was found (set PGPASSWORD, use ~/.pgpass"
        ),
        "{stderr}"
    );

    // A wrong one: refused, and the wrong one is not shown either.
    let out = chathaul(dir.path())
        .args(["sync", "--status", "--db", &url("syncer:Sw0rdf1sh-wrong")])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("Sw0rdf1sh"), "{stderr}");

    // Written in clear in the config file: refused before anything runs.
    std::fs::write(
        dir.path().join("clear.toml"),
        format!("db = \"{}\"\n{plain}", url(&format!("syncer:{password}"))),
    )
    .unwrap();
    let out = chathaul(dir.path())
        .args(["sync", "--config", "clear.toml"])
        .envs(env.clone())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is written in clear"), "{stderr}");
    outputs.push(stderr);
    assert_nowhere(password, &outputs, &tdb);
}

#[test]
fn status_of_a_database_never_synced_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tdb = Backend::Postgres.fresh(dir.path(), "");
    let out = chathaul(dir.path())
        .args([
            "sync",
            "--status",
            "--db",
            &format!("{}&schema=support", tdb.arg),
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("has no schema `support`: chathaul has not synced into it"),
        "{stderr}"
    );
    let out = chathaul(dir.path())
        .args([
            "sync",
            "--status",
            "--db",
            "postgresql://x@127.0.0.1:1/db?sslmode=maybe",
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sslmode `maybe` is not one of"), "{stderr}");
}
