//! The churn model the demo trains from the platform's own history (features computed
//! as of 90 days before each renewal and churn from contract events, usage rollups and
//! dated answers) separates churners from renewals: held-out AUC above 0.75 for three
//! seeds. Each seed loads a whole demo company (2,000 accounts, about 80 s in a release
//! build), so this runs by hand, not in CI:
//!
//! `cargo test --release -p nordstern-tests --test history_auc -- --ignored --nocapture`

use nordstern::demo::{self, DemoOptions};
use nordstern_runtime::Role;
use nordstern_tests::{Backend, TestSuite, Topology};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "loads three demo companies; run by hand in a release build"]
async fn the_model_from_the_platforms_history_separates_churners_for_three_seeds() {
    for seed in [7, 11, 23] {
        let suite = TestSuite::start(Backend::Sqlite, Topology::OneServer).await;
        let server = demo::Server {
            url: suite.url(Role::Accounts).to_owned(),
            security: suite.security(),
        };
        let report = demo::load(
            &server,
            suite.config(),
            &DemoOptions {
                accounts: 2_000,
                csms: 8,
                seed,
            },
        )
        .await
        .unwrap_or_else(|error| panic!("seed {seed}: {error:#}"));
        suite.stop().await;
        let auc = report.model_auc.unwrap_or(0.0);
        println!(
            "seed {seed}: held-out AUC {auc:.3} on {} renewals and churns; {} open alerts for {} scored accounts",
            report.model_rows, report.open_alerts, report.accounts_scored
        );
        assert!(auc > 0.75, "seed {seed}: held-out AUC {auc:.3}");
    }
}
