//! One test binary for every end-to-end scenario. Each scenario runs in every
//! combination of topology (one server / server per role) and backend (SQLite /
//! PostgreSQL), each on its own fresh database.

mod accounts;
mod auth;
mod board;
mod cli;
mod faults;
mod gateway;
mod integrations;
mod malformed;
mod platform;
mod retries;
mod scoring;
mod skew;
mod support;
mod survey;
mod tls;
mod usage;
mod webhooks;

/// Runs `scenario(suite)` in all four combinations, as four tests.
macro_rules! in_every_combination {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use nordstern_tests::{Backend, TestSuite, Topology};

                async fn run(backend: Backend, topology: Topology) {
                    let mut suite = TestSuite::start(backend, topology).await;
                    // Scenarios take `&TestSuite`, or `&mut TestSuite` to restart it.
                    super::$scenario(&mut suite).await;
                    suite.stop().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_one_server() {
                    run(Backend::Sqlite, Topology::OneServer).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_server_per_role() {
                    run(Backend::Sqlite, Topology::ServerPerRole).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_one_server() {
                    run(Backend::Postgres, Topology::OneServer).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_server_per_role() {
                    run(Backend::Postgres, Topology::ServerPerRole).await;
                }
            }
        )*
    };
}
pub(crate) use in_every_combination;
