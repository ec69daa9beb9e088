//! The command line against an in-process suite: a company bootstrapped with the CSV
//! imports (bad rows reported by line and column, good rows written once, a second run
//! changing nothing), then every client command in text and JSON, and churn models
//! trained from a CSV and from the platform's own history. The client commands talk to
//! one address, so this runs on one server per backend.

use nordstern::{
    commands::{self, TicketArgs},
    demo::company::{Company, history_csv},
    import::{self, HistoryArgs, ImportReport, TrainArgs},
    terminal::Output,
};
use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::Role;
use nordstern_tests::Channel;
use nordstern_tests::{Backend, TestSuite, Topology};

use crate::{
    scoring::{accounts_with_outcomes, catalog, recompute_all, scoring},
    support::*,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_server() {
    let suite = TestSuite::start(Backend::Sqlite, Topology::OneServer).await;
    command_line(&suite).await;
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_server() {
    let suite = TestSuite::start(Backend::Postgres, Topology::OneServer).await;
    command_line(&suite).await;
    suite.stop().await;
}

const ACCOUNTS_CSV: &str = "\
name,crm_id,segment,start_date,arr,renewal_date,modules,csm_email,csm_since
Nordwerk GmbH,CRM-1,SME,2025-01-15,48000,2026-01-15,analytics;insights,clara.schmidt@example.com,2025-01-15
\"Alpen Logistik, AG\",CRM-2,enterprise,2024-06-01,250000.50,2026-06-01,analytics,clara.schmidt@example.com,
Broken Ltd,CRM-3,MIDMARKET,2025-13-01,12k,,,,
Nobody Inc,CRM-4,SME,2025-02-01,9000,2026-02-01,,nobody@example.com,
Oak Labs,CRM-5,PROSUMER,2025-03-01,1200,2026-03-01,no-such-module,,
Short Row,CRM-6
Future Oy,CRM-7,SME,2025-01-01,1000,2026-01-01,,clara.schmidt@example.com,2999-01-01
Solo AB,CRM-8,SME,2025-01-01,1000,2026-01-01,,,2025-02-01
";

/// CRM-1's rows are out of order on purpose: the import sends them by effective date.
const CONTRACTS_CSV: &str = "\
crm_id,kind,effective_date,arr_change,renewal_date
CRM-1,RENEWAL,2026-01-15,0,2027-01-15
CRM-1,EXPANSION,2025-09-01,12000,
CRM-2,CONTRACTION,2025-03-01,-50000,
CRM-9,EXPANSION,2025-05-01,100,
CRM-2,UPSELL,2025-04-01,100,
CRM-2,RENEWAL,2025-06-01,0,
";

fn problems(report: &ImportReport) -> Vec<(usize, &str)> {
    report
        .problems
        .iter()
        .map(|p| (p.line, p.column.as_str()))
        .collect()
}

async fn channel(suite: &TestSuite) -> Channel {
    nordstern::client::connect(suite.url(Role::Gateway), &suite.security())
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|error| panic!("{error}"))
}

async fn command_line(suite: &TestSuite) {
    let mut accounts = accounts(suite).await;
    catalog(&mut accounts).await;
    let csm = create_csm(&mut accounts, "Clara Schmidt", 0).await;

    // Accounts: two good rows, four refused ones, each problem where it is.
    let report = import::import_accounts(channel(suite).await, ACCOUNTS_CSV)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!((report.rows, report.imported), (8, 2), "{report:?}");
    assert_eq!(
        problems(&report),
        [
            (4, "segment"),
            (4, "start_date"),
            (4, "arr"),
            (5, "csm_email"),
            (6, "modules"),
            (7, ""),
            // The server refuses a handover in the future, the file one without a CSM.
            (8, "csm_since"),
            (9, "csm_since"),
        ],
        "{report:?}"
    );
    assert!(
        report.problems[2]
            .message
            .contains("'12k' is not an amount")
    );
    let mut written = Vec::new();
    report
        .write("accounts.csv", Output::plain(), &mut written)
        .unwrap_or_else(|error| panic!("{error}"));
    let written = text(written);
    assert!(written.starts_with("accounts.csv: 2 of 8 rows imported, 6 refused:"));
    assert!(
        written.contains("line 4, column segment: 'MIDMARKET' is not ENTERPRISE, SME or PROSUMER")
    );
    assert!(written.contains("line 7: 2 fields where the header has 9"));

    // The same file again writes nothing twice.
    let again = import::import_accounts(channel(suite).await, ACCOUNTS_CSV)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!((again.imported, again.problems.len()), (2, 8));
    assert_eq!(account_count(&mut accounts).await, 2);
    let by_crm = |list: &[pb::Account], crm: &str| {
        list.iter()
            .find(|a| a.crm_id == crm)
            .cloned()
            .unwrap_or_else(|| panic!("{crm} missing"))
    };
    let listed = accounts
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .accounts;
    let nordwerk = by_crm(&listed, "CRM-1");
    let alpen = by_crm(&listed, "CRM-2");
    assert_eq!(alpen.name, "Alpen Logistik, AG");
    assert_eq!(alpen.arr.as_ref().map(|m| m.minor_units), Some(25_000_050));
    assert_eq!(nordwerk.csm_id, csm.csm_id);
    // csm_since is when the handover took effect; without it, the import's own time.
    let midnight = chrono::NaiveDate::from_ymd_opt(2025, 1, 15)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc().timestamp());
    assert_eq!(nordwerk.assigned_at.map(|t| t.seconds), midnight);
    assert!(alpen.assigned_at.is_some_and(|t| t.seconds > 1_700_000_000));
    assert_eq!(nordwerk.module_keys, ["analytics", "insights"]);

    // Contracts: three good rows in effective-date order, three refused.
    let report = import::import_contracts(channel(suite).await, CONTRACTS_CSV)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!((report.rows, report.imported), (6, 3), "{report:?}");
    assert_eq!(
        problems(&report),
        [(5, "crm_id"), (6, "kind"), (7, "renewal_date")],
        "{report:?}"
    );
    let again = import::import_contracts(channel(suite).await, CONTRACTS_CSV)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!(again.imported, 3, "{again:?}");
    let nordwerk = accounts
        .get_account(pb::GetAccountRequest {
            account_id: nordwerk.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    // 48,000 + 12,000, once however often the file is imported.
    assert_eq!(
        nordwerk.arr.as_ref().map(|m| m.minor_units),
        Some(6_000_000)
    );
    assert_eq!(
        nordwerk.renewal_date,
        date(2027, 1, 15),
        "the renewal came after the expansion"
    );

    recompute_all(&mut scoring(suite).await).await;

    // risk: both accounts, the larger first at equal churn risk; plain text has no escapes.
    let mut out = Vec::new();
    commands::risk(channel(suite).await, 10, Output::plain(), &mut out)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let risk = text(out);
    let lines: Vec<&str> = risk.lines().collect();
    assert_eq!(lines.len(), 3, "{risk}");
    assert!(lines[0].starts_with("#  ACCOUNT"), "{risk}");
    assert!(risk.contains("Nordwerk GmbH") && risk.contains("Alpen Logistik, AG"));
    assert!(!risk.contains('\x1b'));
    let mut out = Vec::new();
    commands::risk(channel(suite).await, 10, Output::Json, &mut out)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let json: serde_json::Value =
        serde_json::from_slice(&out).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(json["healthScores"].as_array().map(Vec::len), Some(2));

    // account 360, coloured as on a terminal, and as JSON.
    let mut out = Vec::new();
    let colored = Output::Text { color: true };
    commands::account_360(
        channel(suite).await,
        &nordwerk.account_id,
        colored,
        &mut out,
    )
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    let view = text(out);
    assert!(
        view.starts_with("\x1b[1mNordwerk GmbH\x1b[0m  (CRM-1, SME, tier "),
        "{view}"
    );
    assert!(view.contains("ARR 60,000 EUR"), "{view}");
    assert!(
        view.contains("CSM Clara Schmidt <clara.schmidt@example.com>"),
        "{view}"
    );
    assert!(
        view.contains("COMPONENT") && view.contains("time_to_renewal"),
        "{view}"
    );
    assert!(
        view.contains("EXPANSION") && view.contains("12,000 EUR"),
        "{view}"
    );
    let mut out = Vec::new();
    commands::account_360(
        channel(suite).await,
        &alpen.account_id,
        Output::Json,
        &mut out,
    )
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    let json: serde_json::Value =
        serde_json::from_slice(&out).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(json["account"]["name"], "Alpen Logistik, AG");
    let error = commands::account_360(channel(suite).await, "not-a-uuid", colored, &mut Vec::new())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(error, "InvalidArgument:\n  account_id: must be a UUID");

    // portfolio, by the CSM's e-mail.
    let mut out = Vec::new();
    commands::portfolio(
        channel(suite).await,
        "Clara.Schmidt@example.com",
        20,
        Output::plain(),
        &mut out,
    )
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    let portfolio = text(out);
    assert!(
        portfolio.starts_with("Clara Schmidt <clara.schmidt@example.com>  2 accounts"),
        "{portfolio}"
    );
    assert!(portfolio.contains("by ARR at risk (2 of 2)"), "{portfolio}");
    let unknown = commands::portfolio(
        channel(suite).await,
        "nobody@example.com",
        20,
        Output::plain(),
        &mut Vec::new(),
    )
    .await;
    assert!(unknown.is_err_and(|e| e.to_string() == "no CSM has the e-mail nobody@example.com"));

    // ticket route: a cancellation goes to the CSM; a retry with the key gets the same ticket.
    let ticket = TicketArgs {
        account_id: &nordwerk.account_id,
        subject: "Kündigung zum Vertragsende",
        body: "Wir möchten unseren Vertrag fristgerecht kündigen.",
        idempotency_key: "cli-ticket-1",
    };
    let mut first = Vec::new();
    commands::route_ticket(channel(suite).await, &ticket, Output::plain(), &mut first)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let first = text(first);
    assert!(
        first.contains(&format!("→ CSM {} · CANCELLATION", csm.csm_id)),
        "{first}"
    );
    let mut second = Vec::new();
    commands::route_ticket(channel(suite).await, &ticket, Output::plain(), &mut second)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!(first, text(second));

    // model train: a generated history trains and activates; a bad cell is named.
    let today = chrono::Utc::now().date_naive();
    let history = history_csv(&Company::generate(800, 4, 3, today).history());
    let train = |activate| TrainArgs {
        label: "churned".to_owned(),
        numeric: Vec::new(),
        categorical: Vec::new(),
        activate,
    };
    let mut out = Vec::new();
    import::train_model(
        channel(suite).await,
        history.clone(),
        train(true),
        Output::plain(),
        &mut out,
    )
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    let trained = text(out);
    assert!(trained.contains("held-out AUC 0."), "{trained}");
    assert!(
        trained.contains("activated; 2 accounts rescored"),
        "{trained}"
    );
    // model score: the history's own rows, scored with the model just activated, the
    // riskiest first, each named by its first column that is not a feature.
    let header = history.lines().next().unwrap_or_default().to_owned();
    let rows: Vec<&str> = history.lines().skip(1).take(5).collect();
    let mut out = Vec::new();
    import::score_rows(
        channel(suite).await,
        format!("{header}\n{}\n", rows.join("\n")),
        String::new(),
        String::new(),
        Output::plain(),
        &mut out,
    )
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    let scored = text(out);
    assert!(
        scored.contains("5 rows scored with churn model"),
        "{scored}"
    );
    let percents: Vec<f64> = scored
        .lines()
        .skip(2)
        .filter_map(|line| {
            let at = line.find(" %")?;
            line[..at].split_whitespace().last()?.parse().ok()
        })
        .collect();
    assert_eq!(percents.len(), 5, "{scored}");
    assert!(
        percents.windows(2).all(|w| w[0] >= w[1]),
        "riskiest first: {scored}"
    );
    let mut lines: Vec<String> = history.lines().map(str::to_owned).collect();
    let mut cells: Vec<&str> = lines[2].split(',').collect();
    cells[1] = "lots";
    lines[2] = cells.join(",");
    let broken = lines.join("\n");
    let error = import::train_model(
        channel(suite).await,
        broken,
        train(false),
        Output::plain(),
        &mut Vec::new(),
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        error.contains("line 3: 'lots' in column arr is not a number"),
        "{error}"
    );

    history_training_from_the_command_line(suite).await;
    webhooks_from_the_command_line(suite).await;
}

/// `nordstern model train-from-history`: refused while the platform has recorded too few
/// renewals and churns, then trained on them once sixteen more are recorded, and
/// activated.
async fn history_training_from_the_command_line(suite: &TestSuite) {
    use clap::Parser;
    let line = [
        "nordstern",
        "model",
        "train-from-history",
        "--cutoff-days",
        "1",
        "--held-out",
        "0.25",
        "--seed",
        "3",
        "--activate",
    ];
    let args = match nordstern::cli::Cli::try_parse_from(line).map(|cli| cli.command) {
        Ok(nordstern::cli::Command::Model(nordstern::cli::ModelCommand::TrainFromHistory {
            history,
            ..
        })) => history,
        Ok(_) => panic!("not model train-from-history"),
        Err(error) => panic!("{error}"),
    };
    assert_eq!(
        (
            args.cutoff_days,
            args.earliest_cutoff,
            args.seed,
            args.activate
        ),
        (1, None, 3, true)
    );
    let train = |args: HistoryArgs| async move {
        let mut out = Vec::new();
        import::train_model_from_history(channel(suite).await, args, Output::plain(), &mut out)
            .await
            .map(|()| text(out))
            .map_err(|error| format!("{error:#}"))
    };
    let refused = train(args).await.err().unwrap_or_default();
    assert!(
        refused.starts_with("FailedPrecondition:") && refused.contains("renewals and churns"),
        "{refused}"
    );

    let (mut accounts, mut scores) = (accounts(suite).await, scoring(suite).await);
    accounts_with_outcomes(&mut accounts, &mut scores, "Outcome").await;
    let trained = train(args).await.unwrap_or_else(|error| panic!("{error}"));
    assert!(trained.contains("held-out AUC "), "{trained}");
    assert!(trained.contains(", 8 churned"), "{trained}");
    assert!(trained.contains("activated; "), "{trained}");
}

/// `nordstern webhook …` as typed, against the suite's server.
async fn webhooks_from_the_command_line(suite: &TestSuite) {
    use clap::Parser;
    let url = suite.url(Role::Gateway).to_owned();
    let token = suite.admin_token().to_owned();
    let run = |args: &[&str]| {
        let mut line = vec!["nordstern", "webhook"];
        line.extend_from_slice(args);
        line.extend_from_slice(&["--server", &url, "--token", &token]);
        let command = match nordstern::cli::Cli::try_parse_from(line).map(|cli| cli.command) {
            Ok(nordstern::cli::Command::Webhook(command)) => command,
            Ok(_) => panic!("not a webhook command"),
            Err(error) => panic!("{error}"),
        };
        async move {
            let mut out = Vec::new();
            let result = nordstern::webhook::run(command, &mut out).await;
            result.map(|()| text(out)).map_err(|e| e.to_string())
        }
    };
    let created = run(&[
        "create",
        "--url",
        "http://127.0.0.1:9/hook",
        "--event",
        "alert.raised",
        "--slack",
    ])
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(created.contains("secret whsec_"), "{created}");
    let listed = run(&["list"]).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        listed.contains("http://127.0.0.1:9/hook") && listed.contains("slack"),
        "{listed}"
    );
    let refused = run(&[
        "create",
        "--url",
        "http://10.0.0.1/hook",
        "--event",
        "alert.raised",
    ])
    .await
    .err()
    .unwrap_or_default();
    assert!(
        refused.contains("subscription.url") && refused.contains("internal address"),
        "{refused}"
    );
    let log = run(&["deliveries", "--status", "dead"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(log.contains("no deliveries"), "{log}");
}
