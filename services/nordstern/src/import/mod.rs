//! Bootstrapping from a CRM export: `import accounts` and `import contracts` read a CSV,
//! check every row, and send the good rows in batches of up to 1,000 (BatchCreateAccounts,
//! BatchRecordContractEvents), each row keyed, so a row is either written whole or not
//! at all, and importing the same file again changes nothing. Problems are reported by line and column, from the file itself or from the
//! server's field violations.
//!
//! accounts: `name, crm_id, segment, start_date, arr` are required; `renewal_date`,
//! `modules` (keys separated by `;`), `csm_email` and `csm_since` (the day that CSM took
//! the account over; needs `csm_email`) are optional.
//! contracts: `crm_id, kind, effective_date` are required; `arr_change` (signed, required
//! except for CHURN), `renewal_date` (required for RENEWAL) and `idempotency_key` are
//! optional. Rows are sent per account in effective-date order, which the service needs.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
};

use chrono::NaiveDate;
use nordstern_domain::csv::Records;
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
};

use nordstern_runtime::wire::{MAX_BATCH, midnight, timestamp};

use crate::{
    client::{Channel, csms_by_email, describe},
    demo::patiently,
    terminal::{Output, Progress},
};

mod accounts;
pub mod batches;
mod contracts;
mod model;

pub use accounts::{account_requests, import_accounts};
pub use contracts::{contract_events, import_contracts};
pub use model::{HistoryArgs, TrainArgs, score_rows, train_model, train_model_from_history};

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
        "assigned_at" => "csm_since",
        "account_id" => "crm_id",
        other => other,
    }
}

/// The server's refusals of the rows of one batch (`lines[i]` is item i's line).
fn item_refusals(lines: &[usize], refusals: &[common::ItemRefusal]) -> Vec<Problem> {
    refusals
        .iter()
        .map(|refusal| {
            let line = usize::try_from(refusal.index)
                .ok()
                .and_then(|index| lines.get(index))
                .copied()
                .unwrap_or(0);
            if refusal.field.is_empty() {
                let code = tonic::Code::from_i32(refusal.code);
                problem(line, "", format!("{code:?}: {}", refusal.reason))
            } else {
                problem(line, column_of(&refusal.field), refusal.reason.clone())
            }
        })
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
