//! Starts a throwaway PostgreSQL server for tests in other languages (the
//! Python suite): prints one JSON line (url, host, port, user,
//! ca_certificate), serves until standard input closes, then stops the
//! server and removes its directory.

use std::io::Read;

use chathaul_test_postgres::{PostgresServer, describe};

fn main() -> std::process::ExitCode {
    let server = match PostgresServer::start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chathaul-test-postgres: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = describe(&server, &mut std::io::stdout().lock()) {
        eprintln!("chathaul-test-postgres: cannot write to stdout: {e}");
        return std::process::ExitCode::FAILURE;
    }
    // Until the caller closes our standard input (or exits).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    std::process::ExitCode::SUCCESS
}
