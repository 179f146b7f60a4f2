//! The database backends the shared sync suite runs on: each test asks for
//! a fresh database of its backend and checks it through `SyncStore` (and a
//! little SQL, the same text on both).

use chathaul_engine::store::{Database, SyncStore};
use chathaul_test_postgres::PostgresServer;
use connector_core::Conversation;

/// A backend of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database of one backend.
pub struct TestDb {
    pub db: Database,
    backend: Backend,
    _dir: tempfile::TempDir,
    postgres_name: Option<String>,
}

impl Backend {
    pub fn fresh(self) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match self {
            Backend::Sqlite => TestDb {
                db: Database::parse(dir.path().join("sync.sqlite").to_str().unwrap()).unwrap(),
                backend: self,
                _dir: dir,
                postgres_name: None,
            },
            Backend::Postgres => {
                let pg = PostgresServer::shared().create_database();
                TestDb {
                    db: Database::parse(&pg.url()).unwrap(),
                    backend: self,
                    _dir: dir,
                    postgres_name: Some(pg.name),
                }
            }
        }
    }
}

impl TestDb {
    pub fn open(&self) -> Box<dyn SyncStore> {
        self.db.open().unwrap()
    }

    /// One number from SQL over chathaul's tables.
    pub fn count(&self, sql: &str) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let store =
                    chathaul_engine::store::SqliteStore::open(self.db.path().unwrap()).unwrap();
                store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Backend::Postgres => self.psql(sql).parse().unwrap(),
        }
    }

    /// The first column of every row of SQL over chathaul's tables, as text.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => {
                let store =
                    chathaul_engine::store::SqliteStore::open(self.db.path().unwrap()).unwrap();
                let mut stmt = store.connection().prepare(sql).unwrap();
                stmt.query_map([], |r| r.get::<_, String>(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Backend::Postgres => self.psql(sql).lines().map(str::to_owned).collect(),
        }
    }

    /// Postgres: SQL run with chathaul's schema on the search path.
    pub fn psql(&self, sql: &str) -> String {
        let name = self.postgres_name.as_deref().expect("a Postgres database");
        PostgresServer::shared()
            .psql(name, &format!("SET search_path TO chathaul; {sql}"))
            .unwrap()
    }
}

/// The shared suite on one backend: `sync_suite!(postgres, Backend::Postgres);`
/// runs every test of `$module` (a module whose functions take a `Backend`).
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

/// The same conversations, in the same order, every field equal and the
/// vendor's records equal as JSON: SQLite keeps a record's text byte for
/// byte, Postgres as `jsonb` (its keys reordered, its spacing its own).
#[track_caller]
pub fn assert_same(got: &[Conversation], want: &[Conversation], what: &str) {
    let json = |cs: &[Conversation]| -> Vec<serde_json::Value> {
        cs.iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect()
    };
    assert_eq!(json(got), json(want), "{what}");
}
