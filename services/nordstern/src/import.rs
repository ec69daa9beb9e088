//! Bootstrapping from a CRM export: `import accounts` and `import contracts` read a CSV,
//! check every row, and send each good row as one idempotent request, so a row is
//! either written whole or not at all, and importing the same file again changes
//! nothing. Problems are reported by line and column, from the file itself or from the
//! server's field violations.
//!
//! accounts: `name, crm_id, segment, start_date, arr` are required; `renewal_date`,
//! `modules` (keys separated by `;`) and `csm_email` are optional.
//! contracts: `crm_id, kind, effective_date` are required; `arr_change` (signed, required
//! except for CHURN), `renewal_date` (required for RENEWAL) and `idempotency_key` are
//! optional. Rows are sent per account in effective-date order, which the service needs.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
};

use crate::commands::Channel;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use nordstern_domain::csv::Records;
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
};

use crate::{
    commands::describe,
    terminal::{Output, Progress},
};

/// Requests in flight; contract rows of one account are still sent in order.
const IN_FLIGHT: usize = 8;

/// One refused row (or the whole file, on line 1 for the header).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: usize,
    /// The column the problem is in; empty when it is the whole row.
    pub column: String,
    pub message: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub rows: usize,
    /// Rows written now or by an earlier run of the same file.
    pub imported: usize,
    pub problems: Vec<Problem>,
}

impl ImportReport {
    pub fn write(&self, what: &str, output: Output, out: &mut dyn Write) -> anyhow::Result<()> {
        if output == Output::Json {
            serde_json::to_writer(&mut *out, self)?;
            writeln!(out)?;
            return Ok(());
        }
        let refused = self.rows - self.imported;
        writeln!(
            out,
            "{what}: {} of {} rows imported{}",
            self.imported,
            self.rows,
            if refused > 0 {
                format!(", {refused} refused:")
            } else {
                String::new()
            }
        )?;
        for problem in &self.problems {
            if problem.column.is_empty() {
                writeln!(out, "  line {}: {}", problem.line, problem.message)?;
            } else {
                writeln!(
                    out,
                    "  line {}, column {}: {}",
                    problem.line, problem.column, problem.message
                )?;
            }
        }
        Ok(())
    }
}

/// A CSV with named columns; header names are matched case-insensitively.
struct Sheet {
    columns: HashMap<String, usize>,
    rows: Vec<(usize, Vec<String>)>,
    /// Data rows refused for their number of fields.
    refused: usize,
}

impl Sheet {
    fn parse(
        text: &str,
        required: &[&str],
        known: &[&str],
    ) -> Result<(Sheet, Vec<Problem>), Vec<Problem>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut records = Records::new(text, ',');
        let header = match records.next() {
            Some(Ok(record)) => record.fields,
            Some(Err(message)) => return Err(vec![problem(1, "", message)]),
            None => {
                return Err(vec![problem(
                    1,
                    "",
                    "the file is empty; a header row is needed",
                )]);
            }
        };
        let mut problems = Vec::new();
        let mut columns = HashMap::new();
        for (at, name) in header.iter().enumerate() {
            let name = name.trim().to_lowercase();
            if !known.contains(&name.as_str()) {
                problems.push(problem(
                    1,
                    &name,
                    format!("unknown column; the columns are {}", known.join(", ")),
                ));
            } else if columns.insert(name.clone(), at).is_some() {
                problems.push(problem(1, &name, "appears more than once in the header"));
            }
        }
        for name in required {
            if !columns.contains_key(*name) {
                problems.push(problem(1, name, "is required but missing from the header"));
            }
        }
        if !problems.is_empty() {
            // Without the right header no row can be read safely: nothing is imported.
            return Err(problems);
        }
        let mut rows = Vec::new();
        for record in records {
            match record {
                Ok(record) if record.fields.len() != header.len() => problems.push(problem(
                    record.line,
                    "",
                    format!(
                        "{} fields where the header has {}",
                        record.fields.len(),
                        header.len()
                    ),
                )),
                Ok(record) => rows.push((record.line, record.fields)),
                // Broken quoting: where later rows start is unknown, so nothing is imported.
                Err(message) => return Err(vec![problem(0, "", message)]),
            }
        }
        let refused = problems.len();
        Ok((
            Sheet {
                columns,
                rows,
                refused,
            },
            problems,
        ))
    }

    fn cell<'a>(&self, fields: &'a [String], column: &str) -> &'a str {
        self.columns.get(column).map_or("", |&at| fields[at].trim())
    }
}

fn problem(line: usize, column: &str, message: impl Into<String>) -> Problem {
    Problem {
        line,
        column: column.to_owned(),
        message: message.into(),
    }
}

/// `YYYY-MM-DD`.
fn parse_date(cell: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(cell, "%Y-%m-%d")
        .map_err(|_| format!("'{cell}' is not a date like 2026-03-31"))
}

/// A plain decimal amount in major units with at most two decimals (`24000`,
/// `-1250.50`), as minor units. Thousands separators are refused: `1,200` and `1.200`
/// mean different things in different countries.
pub fn parse_amount(cell: &str) -> Result<i64, String> {
    let refuse = || format!("'{cell}' is not an amount like 24000 or -1250.50");
    let (negative, digits) = match cell.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cell.strip_prefix('+').unwrap_or(cell)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || whole.len() > 15
    {
        return Err(refuse());
    }
    let whole: i64 = whole.parse().map_err(|_| refuse())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| refuse())?;
    let minor = whole * 100 + cents;
    Ok(if negative { -minor } else { minor })
}

/// A segment by its name, case-insensitively.
fn parse_segment(cell: &str) -> Result<common::Segment, String> {
    common::Segment::from_str_name(&format!("SEGMENT_{}", cell.to_uppercase()))
        .filter(|s| *s != common::Segment::Unspecified)
        .ok_or_else(|| format!("'{cell}' is not ENTERPRISE, SME or PROSUMER"))
}

/// A contract event kind by its name, case-insensitively.
fn parse_kind(cell: &str) -> Result<pb::ContractEventKind, String> {
    pb::ContractEventKind::from_str_name(&format!("CONTRACT_EVENT_KIND_{}", cell.to_uppercase()))
        .filter(|k| *k != pb::ContractEventKind::Unspecified)
        .ok_or_else(|| format!("'{cell}' is not NEW, EXPANSION, CONTRACTION, RENEWAL or CHURN"))
}

/// The CSV column a field violation of the server is about.
fn column_of(field: &str) -> &str {
    let field = field
        .strip_prefix("account.")
        .or_else(|| field.strip_prefix("event."))
        .unwrap_or(field);
    match field.split(['.', '[']).next().unwrap_or(field) {
        "initial_arr" => "arr",
        "module_keys" => "modules",
        "csm_id" => "csm_email",
        "account_id" => "crm_id",
        other => other,
    }
}

/// The server's refusal of one row, one problem per field violation.
fn refusal(line: usize, status: &tonic::Status) -> Vec<Problem> {
    let violations = nordstern_runtime::status::field_violations(status);
    if violations.is_empty() {
        return vec![problem(
            line,
            "",
            format!("{:?}: {}", status.code(), status.message()),
        )];
    }
    violations
        .into_iter()
        .map(|(field, description)| problem(line, column_of(&field), description))
        .collect()
}

/// Checks a cell and records a problem when it does not parse.
fn check<T>(
    problems: &mut Vec<Problem>,
    line: usize,
    column: &str,
    result: Result<T, String>,
) -> Option<T> {
    result
        .map_err(|message| problems.push(problem(line, column, message)))
        .ok()
}

const ACCOUNT_COLUMNS: [&str; 8] = [
    "name",
    "crm_id",
    "segment",
    "start_date",
    "arr",
    "renewal_date",
    "modules",
    "csm_email",
];

/// A checked file: what its good rows become, and the problems of the others.
pub struct Checked<T> {
    /// Data rows in the file.
    pub rows: usize,
    pub good: T,
    pub problems: Vec<Problem>,
}

impl<T: Default> Checked<T> {
    fn refused(problems: Vec<Problem>) -> Self {
        Checked {
            rows: 0,
            good: T::default(),
            problems,
        }
    }
}

/// The requests of the good rows, each with its line.
pub fn account_requests(
    text: &str,
    currency: &str,
    csm_ids: &HashMap<String, String>,
) -> Checked<Vec<(usize, pb::CreateAccountRequest)>> {
    let (sheet, mut problems) = match Sheet::parse(text, &ACCOUNT_COLUMNS[..5], &ACCOUNT_COLUMNS) {
        Ok(parsed) => parsed,
        Err(problems) => return Checked::refused(problems),
    };
    let mut requests = Vec::new();
    for (line, fields) in &sheet.rows {
        let line = *line;
        let before = problems.len();
        let cell = |column: &str| -> &str { sheet.cell(fields, column) };
        let required = |problems: &mut Vec<Problem>, column: &str| -> &str {
            let value = cell(column);
            if value.is_empty() {
                problems.push(problem(line, column, "is required"));
            }
            value
        };
        let name = required(&mut problems, "name").to_owned();
        let crm_id = required(&mut problems, "crm_id").to_owned();
        let segment = match required(&mut problems, "segment") {
            "" => None,
            raw => check(&mut problems, line, "segment", parse_segment(raw)),
        };
        let start = match required(&mut problems, "start_date") {
            "" => None,
            raw => check(&mut problems, line, "start_date", parse_date(raw)),
        };
        let arr = match required(&mut problems, "arr") {
            "" => None,
            raw => check(&mut problems, line, "arr", parse_amount(raw)),
        };
        let renewal = match cell("renewal_date") {
            "" => None,
            raw => check(&mut problems, line, "renewal_date", parse_date(raw)),
        };
        let csm_id = match cell("csm_email") {
            "" => String::new(),
            email => match csm_ids.get(&email.to_lowercase()) {
                Some(id) => id.clone(),
                None => {
                    problems.push(problem(
                        line,
                        "csm_email",
                        format!("no CSM has the e-mail {email}"),
                    ));
                    String::new()
                }
            },
        };
        if problems.len() > before {
            continue;
        }
        requests.push((
            line,
            pb::CreateAccountRequest {
                request_id: format!("import-account:{crm_id}"),
                account: Some(pb::Account {
                    name,
                    crm_id,
                    segment: segment.map_or(0, |s| s as i32),
                    start_date: start.map(crate::demo::date),
                    renewal_date: renewal.map(crate::demo::date),
                    module_keys: cell("modules")
                        .split(';')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    csm_id,
                    ..pb::Account::default()
                }),
                initial_arr: arr.map(|minor_units| common::Money {
                    minor_units,
                    currency_code: currency.to_owned(),
                }),
            },
        ));
    }
    Checked {
        rows: sheet.rows.len() + sheet.refused,
        good: requests,
        problems,
    }
}

/// Every CSM id by lower-case e-mail.
pub(crate) async fn csms_by_email(
    client: &mut AccountsServiceClient<Channel>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut csms = HashMap::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_csms(pb::ListCsmsRequest {
                page_size: 1000,
                page_token,
            })
            .await
            .map_err(|s| describe(&s))?
            .into_inner();
        csms.extend(
            page.csms
                .into_iter()
                .map(|c| (c.email.to_lowercase(), c.csm_id)),
        );
        if page.next_page_token.is_empty() {
            return Ok(csms);
        }
        page_token = page.next_page_token;
    }
}

/// The configured currency, read from a priced product module (the service refuses a
/// price in any other currency); `EUR`, the default, when no module has a price. A row
/// in the wrong currency is still refused by the server and reported with its line.
async fn currency(client: &mut AccountsServiceClient<Channel>) -> anyhow::Result<String> {
    let modules = client
        .list_product_modules(pb::ListProductModulesRequest::default())
        .await
        .map_err(|s| describe(&s))?
        .into_inner()
        .modules;
    Ok(modules
        .into_iter()
        .find_map(|m| m.list_price.map(|p| p.currency_code))
        .unwrap_or_else(|| "EUR".to_owned()))
}

pub async fn import_accounts(channel: Channel, text: &str) -> anyhow::Result<ImportReport> {
    let mut client = AccountsServiceClient::new(channel);
    let csm_ids = csms_by_email(&mut client).await?;
    let currency = currency(&mut client).await?;
    let Checked {
        rows,
        good: requests,
        mut problems,
    } = account_requests(text, &currency, &csm_ids);
    let mut progress = Progress::new("accounts", requests.len() as u64);
    let mut imported = 0;
    let mut sent = futures::stream::iter(requests.into_iter().map(|(line, request)| {
        let mut client = client.clone();
        async move { (line, client.create_account(request).await) }
    }))
    .buffer_unordered(IN_FLIGHT);
    while let Some((line, result)) = sent.next().await {
        progress.advance(1);
        match result {
            Ok(_) => imported += 1,
            Err(status) => problems.extend(refusal(line, &status)),
        }
    }
    progress.finish();
    problems.sort_by_key(|p| p.line);
    Ok(ImportReport {
        rows,
        imported,
        problems,
    })
}

const CONTRACT_COLUMNS: [&str; 6] = [
    "crm_id",
    "kind",
    "effective_date",
    "arr_change",
    "renewal_date",
    "idempotency_key",
];

/// The good rows' events (each with its line) per CRM id, in effective-date order.
pub fn contract_events(
    text: &str,
    currency: &str,
) -> Checked<BTreeMap<String, Vec<(usize, pb::ContractEvent)>>> {
    let (sheet, mut problems) = match Sheet::parse(text, &CONTRACT_COLUMNS[..3], &CONTRACT_COLUMNS)
    {
        Ok(parsed) => parsed,
        Err(problems) => return Checked::refused(problems),
    };
    let mut events: BTreeMap<String, Vec<(usize, pb::ContractEvent)>> = BTreeMap::new();
    for (line, fields) in &sheet.rows {
        let line = *line;
        let before = problems.len();
        let cell = |column: &str| -> &str { sheet.cell(fields, column) };
        let crm_id = cell("crm_id").to_owned();
        if crm_id.is_empty() {
            problems.push(problem(line, "crm_id", "is required"));
        }
        let kind = check(&mut problems, line, "kind", parse_kind(cell("kind")));
        let effective = check(
            &mut problems,
            line,
            "effective_date",
            parse_date(cell("effective_date")),
        );
        let change = match (cell("arr_change"), kind) {
            ("", Some(pb::ContractEventKind::Churn)) => Some(0),
            ("", _) => {
                problems.push(problem(line, "arr_change", "is required except for CHURN"));
                None
            }
            (raw, _) => check(&mut problems, line, "arr_change", parse_amount(raw)),
        };
        let renewal = match cell("renewal_date") {
            "" => None,
            raw => check(&mut problems, line, "renewal_date", parse_date(raw)),
        };
        if problems.len() > before {
            continue;
        }
        let kind = kind.unwrap_or_default();
        let key = match cell("idempotency_key") {
            "" => format!(
                "import-contract:{crm_id}:{}:{}:{}:{}",
                kind.as_str_name(),
                cell("effective_date"),
                change.unwrap_or(0),
                cell("renewal_date")
            ),
            key => key.to_owned(),
        };
        events.entry(crm_id).or_default().push((
            line,
            pb::ContractEvent {
                kind: kind as i32,
                arr_change: change.map(|minor_units| common::Money {
                    minor_units,
                    currency_code: currency.to_owned(),
                }),
                effective_date: effective.map(crate::demo::date),
                renewal_date: renewal.map(crate::demo::date),
                idempotency_key: key,
                ..pb::ContractEvent::default()
            },
        ));
    }
    for rows in events.values_mut() {
        rows.sort_by_key(|(line, event)| {
            let d = event.effective_date.unwrap_or_default();
            (d.year, d.month, d.day, *line)
        });
    }
    Checked {
        rows: sheet.rows.len() + sheet.refused,
        good: events,
        problems,
    }
}

/// Every account id by CRM id.
async fn accounts_by_crm_id(
    client: &mut AccountsServiceClient<Channel>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut accounts = HashMap::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_accounts(pb::ListAccountsRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
            .map_err(|s| describe(&s))?
            .into_inner();
        accounts.extend(page.accounts.into_iter().map(|a| (a.crm_id, a.account_id)));
        if page.next_page_token.is_empty() {
            return Ok(accounts);
        }
        page_token = page.next_page_token;
    }
}

pub async fn import_contracts(channel: Channel, text: &str) -> anyhow::Result<ImportReport> {
    let mut client = AccountsServiceClient::new(channel);
    let account_ids = accounts_by_crm_id(&mut client).await?;
    let currency = currency(&mut client).await?;
    let Checked {
        rows,
        good: events,
        mut problems,
    } = contract_events(text, &currency);
    let mut progress = Progress::new("contract events", rows as u64);
    let mut per_account = Vec::new();
    for (crm_id, rows) in events {
        match account_ids.get(&crm_id) {
            Some(account_id) => per_account.push((account_id.clone(), rows)),
            None => problems.extend(rows.iter().map(|(line, _)| {
                problem(
                    *line,
                    "crm_id",
                    format!("no account has the CRM id {crm_id}"),
                )
            })),
        }
    }
    // One account's events in order; accounts side by side.
    let results: Vec<(usize, Vec<Problem>)> =
        futures::stream::iter(per_account.into_iter().map(|(account_id, rows)| {
            let mut client = client.clone();
            async move {
                let mut imported = 0;
                let mut problems = Vec::new();
                for (line, mut event) in rows {
                    event.account_id = account_id.clone();
                    match client
                        .record_contract_event(pb::RecordContractEventRequest {
                            event: Some(event),
                        })
                        .await
                    {
                        Ok(_) => imported += 1,
                        Err(status) => problems.extend(refusal(line, &status)),
                    }
                }
                anyhow::Ok((imported, problems))
            }
        }))
        .buffer_unordered(IN_FLIGHT)
        .inspect_ok(|(imported, refused)| progress.advance((*imported + refused.len()) as u64))
        .try_collect()
        .await?;
    progress.finish();
    let mut imported = 0;
    for (count, refused) in results {
        imported += count;
        problems.extend(refused);
    }
    problems.sort_by_key(|p| p.line);
    Ok(ImportReport {
        rows,
        imported,
        problems,
    })
}

pub struct TrainArgs {
    pub label: String,
    /// Empty: the header's columns that are platform features.
    pub numeric: Vec<String>,
    pub categorical: Vec<String>,
    /// Activates the model (and rescores every account) when it can score live accounts.
    pub activate: bool,
}

/// Trains a churn model on a CSV of past renewals and churns; the server checks every
/// row and refuses the file with each bad row's line and column.
pub async fn train_model(
    channel: Channel,
    text: String,
    args: TrainArgs,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use nordstern_domain::churn::{PLATFORM_CATEGORICAL_FEATURES, PLATFORM_NUMERIC_FEATURES};
    use nordstern_proto::scoring::v1::{
        self as scoring, scoring_service_client::ScoringServiceClient,
    };

    let (mut numeric, mut categorical) = (args.numeric, args.categorical);
    if numeric.is_empty() && categorical.is_empty() {
        let header = Records::new(text.strip_prefix('\u{feff}').unwrap_or(&text), ',')
            .next()
            .and_then(Result::ok)
            .map(|record| record.fields)
            .unwrap_or_default();
        for column in header.iter().map(|c| c.trim()) {
            if PLATFORM_NUMERIC_FEATURES.contains(&column) {
                numeric.push(column.to_owned());
            } else if PLATFORM_CATEGORICAL_FEATURES.contains(&column) {
                categorical.push(column.to_owned());
            }
        }
        anyhow::ensure!(
            !numeric.is_empty() || !categorical.is_empty(),
            "no column of the header is a platform feature ({}, {}); name the feature columns with --numeric and --categorical",
            PLATFORM_NUMERIC_FEATURES.join(", "),
            PLATFORM_CATEGORICAL_FEATURES.join(", ")
        );
    }
    let mut client = ScoringServiceClient::new(channel);
    let model = client
        .train_churn_model_from_csv(scoring::TrainChurnModelFromCsvRequest {
            content: Some(scoring::train_churn_model_from_csv_request::Content::CsvText(text)),
            numeric_columns: numeric,
            categorical_columns: categorical,
            label_column: args.label,
            ..Default::default()
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner()
        .model
        .unwrap_or_default();
    let rescored = if args.activate && model.activatable {
        Some(
            client
                .activate_churn_model(scoring::ActivateChurnModelRequest {
                    model_id: model.model_id.clone(),
                })
                .await
                .map_err(|s| describe(&s))?
                .into_inner()
                .accounts_rescored,
        )
    } else {
        None
    };
    if output == Output::Json {
        let body = nordstern_gateway::http::to_json(&model, "nordstern.scoring.v1.ChurnModel")
            .map_err(|s| describe(&s))?;
        out.write_all(&body)?;
        writeln!(out)?;
        return Ok(());
    }
    let evaluation = model.evaluation.unwrap_or_default();
    writeln!(
        out,
        "churn model {} (version {}): held-out AUC {}, Brier score {}; {} training rows, {} held out, {} churned",
        model.model_id,
        model.version,
        evaluation.auc.map_or("-".to_owned(), |v| format!("{v:.3}")),
        evaluation
            .brier_score
            .map_or("-".to_owned(), |v| format!("{v:.3}")),
        evaluation.training_samples,
        evaluation.held_out_samples,
        evaluation.churned_samples
    )?;
    let mut coefficients = model.coefficients.clone();
    coefficients.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()));
    let mut table = crate::terminal::Table::new(&["FEATURE", ">LOG-ODDS", "EFFECT"]);
    for c in &coefficients {
        table.row(vec![
            c.feature.clone(),
            format!("{:+.3}", c.coefficient),
            if c.coefficient > 0.0 {
                "raises churn risk".to_owned()
            } else {
                "lowers churn risk".to_owned()
            },
        ]);
    }
    table.write(out)?;
    match rescored {
        Some(count) => writeln!(out, "activated; {count} accounts rescored with it")?,
        None if !model.activatable => writeln!(
            out,
            "not activatable: a column is not a platform feature, so it cannot score live accounts"
        )?,
        None => writeln!(
            out,
            "stored, not active; activate it with --activate or ActivateChurnModel"
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_plain_decimals_in_major_units() {
        assert_eq!(parse_amount("24000"), Ok(2_400_000));
        assert_eq!(parse_amount("-1250.5"), Ok(-125_050));
        assert_eq!(parse_amount("+0.07"), Ok(7));
        for bad in ["1,200", "1.200.00", "12k", "", "-", ".5", "1.234", "1e5"] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_fields_name_their_csv_column() {
        assert_eq!(column_of("account.module_keys[0]"), "modules");
        assert_eq!(column_of("initial_arr.minor_units"), "arr");
        assert_eq!(column_of("event.renewal_date"), "renewal_date");
        assert_eq!(column_of("event.account_id"), "crm_id");
    }

    #[test]
    fn a_bad_header_refuses_the_whole_file() {
        let checked = contract_events("crm_id,kind,when\nA,CHURN,2026-01-01\n", "EUR");
        assert_eq!(checked.rows, 0);
        assert!(checked.good.is_empty());
        let found: Vec<(usize, &str)> = checked
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_str()))
            .collect();
        assert_eq!(found, [(1, "when"), (1, "effective_date")]);
    }

    #[test]
    fn contract_rows_go_out_per_account_in_effective_date_order() {
        let checked = contract_events(
            "CRM_ID,Kind,effective_date,arr_change,renewal_date\n\
             A,RENEWAL,2026-05-01,0,2027-05-01\n\
             A,EXPANSION,2026-02-01,100,\n\
             B,CHURN,2026-03-01,,\n",
            "EUR",
        );
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        let lines: Vec<usize> = checked.good["A"].iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [3, 2]);
        assert_eq!(
            checked.good["B"][0]
                .1
                .arr_change
                .as_ref()
                .map(|m| m.minor_units),
            Some(0)
        );
        assert_eq!(
            checked.good["A"][1].1.idempotency_key,
            "import-contract:A:CONTRACT_EVENT_KIND_RENEWAL:2026-05-01:0:2027-05-01"
        );
    }
}
