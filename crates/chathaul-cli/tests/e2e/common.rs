use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chathaul::Conversation;
use chathaul_sim::{SimOptions, Simulator};

/// The binary, with an empty environment (no CHATHAUL_* leaks in from the
/// machine) and a temporary working directory.
pub fn chathaul(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chathaul"));
    cmd.env_clear().current_dir(dir);
    cmd
}

pub fn sim(conversations: usize, latency_ms: u64) -> Simulator {
    Simulator::start_blocking(SimOptions {
        seed: 7,
        conversations,
        messages: 6,
        latency: Duration::from_millis(latency_ms),
        ..Default::default()
    })
    .expect("the simulator starts")
}

/// `-c key=value` for every config value of a vendor's demo account.
pub fn config_args(sim: &Simulator, vendor: &str) -> Vec<String> {
    sim.config(vendor)
        .into_iter()
        .flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={v}")])
        .collect()
}

/// The secret values of the simulator's accounts.
pub fn secrets(sim: &Simulator) -> Vec<String> {
    chathaul_sim::VENDORS
        .iter()
        .flat_map(|v| sim.config(v))
        .filter(|(k, _)| matches!(k.as_str(), "password" | "token" | "api_token"))
        .map(|(_, v)| v)
        .collect()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    let (o, e) = text(out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{o}\nstderr:\n{e}");
}

/// The simulator's truth for every vendor, sorted as the store returns it.
pub fn all_truth(sim: &Simulator) -> Vec<Conversation> {
    let mut all: Vec<Conversation> = chathaul_sim::VENDORS
        .iter()
        .flat_map(|v| sim.truth(v))
        .collect();
    all.sort_by(|a, b| (&a.vendor, &a.account, &a.id).cmp(&(&b.vendor, &b.account, &b.id)));
    all
}

/// A config file with the three vendors of the simulator, secrets referenced
/// from the environment; returns the environment to run it with.
pub fn three_source_config(
    sim: &Simulator,
    path: &Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut toml = String::from("lookback = \"1d\"\n");
    let mut env = Vec::new();
    for vendor in chathaul_sim::VENDORS {
        toml.push_str(&format!(
            "\n[[source]]\nname = \"{vendor}-demo\"\nvendor = \"{vendor}\"\n[source.config]\n"
        ));
        for (k, v) in extra {
            toml.push_str(&format!("{k} = \"{v}\"\n"));
        }
        for (k, v) in sim.config(vendor) {
            if matches!(k.as_str(), "password" | "token") {
                let var = format!("TEST_{}_{}", vendor.to_uppercase(), k.to_uppercase());
                toml.push_str(&format!("{k} = \"${{{var}}}\"\n"));
                env.push((var, v));
            } else {
                toml.push_str(&format!("{k} = \"{v}\"\n"));
            }
        }
    }
    std::fs::write(path, toml).unwrap();
    env
}

/// The database backends the sync tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database of one backend: what `--db` gets, and how to read it.
pub struct TestDb {
    /// The `--db` argument (a file name in the test's directory, or a URL).
    pub arg: String,
    /// How the command shows it.
    pub shown: String,
    dir: std::path::PathBuf,
    postgres: Option<chathaul_test_postgres::TestDatabase>,
}

impl Backend {
    pub fn fresh(self, dir: &Path, file: &str) -> TestDb {
        match self {
            Backend::Sqlite => TestDb {
                arg: file.to_owned(),
                shown: file.to_owned(),
                dir: dir.to_owned(),
                postgres: None,
            },
            Backend::Postgres => {
                let pg = chathaul_test_postgres::PostgresServer::shared().create_database();
                TestDb {
                    arg: pg.url(),
                    shown: format!(
                        "postgresql://postgres@127.0.0.1:{}/{}?sslmode=disable",
                        pg.port(),
                        pg.name
                    ),
                    dir: dir.to_owned(),
                    postgres: Some(pg),
                }
            }
        }
    }
}

impl TestDb {
    /// Whether a run has left anything to open.
    pub fn exists(&self) -> bool {
        match &self.postgres {
            None => self.dir.join(&self.arg).exists(),
            Some(pg) => {
                chathaul_test_postgres::PostgresServer::shared()
                    .psql(
                        &pg.name,
                        "SELECT count(*) FROM pg_namespace WHERE nspname = 'chathaul'",
                    )
                    .unwrap()
                    == "1"
            }
        }
    }

    pub fn open(&self) -> Box<dyn chathaul::SyncStore> {
        let location = match &self.postgres {
            None => self.dir.join(&self.arg).display().to_string(),
            Some(_) => self.arg.clone(),
        };
        chathaul::Database::parse(&location)
            .unwrap()
            .open_existing()
            .unwrap()
    }

    /// One number from SQL over chathaul's tables (the same text on both).
    pub fn count(&self, sql: &str) -> i64 {
        match &self.postgres {
            None => {
                let store = chathaul::SqliteStore::open(&self.dir.join(&self.arg)).unwrap();
                store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Some(pg) => chathaul_test_postgres::PostgresServer::shared()
                .psql(&pg.name, &format!("SET search_path TO chathaul; {sql}"))
                .unwrap()
                .parse()
                .unwrap(),
        }
    }

    /// Postgres: SQL over chathaul's tables through psql.
    pub fn psql(&self, sql: &str) -> String {
        let pg = self.postgres.as_ref().expect("a Postgres database");
        chathaul_test_postgres::PostgresServer::shared()
            .psql(&pg.name, &format!("SET search_path TO chathaul; {sql}"))
            .unwrap()
    }

    pub fn postgres(&self) -> &chathaul_test_postgres::TestDatabase {
        self.postgres.as_ref().expect("a Postgres database")
    }
}

/// The tests of a module on one backend each: `suite!(postgres, Backend::Postgres => a, b);`.
#[macro_export]
macro_rules! suite {
    ($module:ident, $backend:expr => $($test:ident),+ $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test($backend)
                }
            )+
        }
    };
}
