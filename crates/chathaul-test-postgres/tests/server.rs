//! The harness itself: a server starts, databases are fresh, TLS and
//! password roles are set up, and nothing is left behind.

use chathaul_test_postgres::PostgresServer;

#[test]
fn a_server_starts_and_each_database_is_fresh() {
    let server = PostgresServer::shared();
    let a = server.create_database();
    let b = server.create_database();
    assert_ne!(a.name, b.name);
    server
        .psql(
            &a.name,
            "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)",
        )
        .unwrap();
    assert_eq!(server.psql(&a.name, "SELECT sum(x) FROM t").unwrap(), "3");
    let tables = server
        .psql(
            &b.name,
            "SELECT count(*) FROM pg_tables WHERE tablename = 't'",
        )
        .unwrap();
    assert_eq!(tables, "0");
    assert_eq!(
        server.psql("postgres", "SHOW ssl").unwrap(),
        "on",
        "TLS is on"
    );
    assert!(server.ca_certificate().is_file());
}

#[test]
fn an_owned_server_is_stopped_and_removed_on_drop() {
    let server = PostgresServer::start().unwrap();
    let dir = server.log_file().parent().unwrap().to_owned();
    let port = server.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(server);
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening on {port}"
    );
}

#[test]
fn the_binary_serves_until_its_input_closes() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chathaul-test-postgres"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("{\"url\": \"postgresql://postgres@127.0.0.1:"),
        "{line}"
    );
    let port: u16 = line
        .split("\"port\": ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
