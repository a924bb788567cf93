//! Fresh stores for tests, on either backend: a temporary SQLite file, or a new schema in the
//! PostgreSQL database named by `JENY_TEST_DATABASE_URL` (default: the local server at
//! `postgres://postgres@127.0.0.1:5432/test`), so tests run in parallel without seeing each other.
//! Schemas are named `jeny_test_*`; `scripts/test` drops old ones before a run.

use crate::{Backend, Store, StoreOptions};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn postgres_url() -> String {
    std::env::var("JENY_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub backend: Backend,
    /// The URL a server or a store opens.
    pub url: String,
    /// The SQLite file's folder, removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("jeny.db").display()),
            Backend::Postgres => create_schema().await,
        };
        TestDatabase { backend, url, dir }
    }

    /// Opens and migrates a store on this database.
    pub async fn open(&self) -> Store {
        Store::open(&self.url, StoreOptions::default())
            .await
            .unwrap_or_else(|error| panic!("cannot open the test store at {}: {error:?}", self.url))
    }
}

async fn create_schema() -> String {
    let base = postgres_url();
    let schema = format!("jeny_test_{}", uuid::Uuid::now_v7().simple());
    let admin = Store::connect(&base, StoreOptions::default())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is needed for this test and is not reachable at {base} ({error}). \
                 Start it, or point JENY_TEST_DATABASE_URL at one."
            )
        });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.reader())
        .await
        .expect("cannot create a test schema");
    admin.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

/// Runs each named `async fn(Backend)` as two tests, `NAME::sqlite` and `NAME::postgres`:
/// `both_backends!(creates_a_project, rejects_duplicate_names);`
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )+
    };
}
