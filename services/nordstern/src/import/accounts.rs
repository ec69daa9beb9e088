//! `import accounts`: the good rows in BatchCreateAccounts calls, each row keyed by its
//! CRM id.

use super::*;

const ACCOUNT_COLUMNS: [&str; 9] = [
    "name",
    "crm_id",
    "segment",
    "start_date",
    "arr",
    "renewal_date",
    "modules",
    "csm_email",
    "csm_since",
];

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
        // The day the CSM took the account over (a CRM's "owner since"), from midnight UTC.
        let csm_since = match cell("csm_since") {
            "" => None,
            _ if cell("csm_email").is_empty() => {
                problems.push(problem(
                    line,
                    "csm_since",
                    "needs csm_email: whose account since then",
                ));
                None
            }
            raw => check(&mut problems, line, "csm_since", parse_date(raw)),
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
                assigned_at: csm_since.map(|day| timestamp(midnight(day))),
            },
        ));
    }
    Checked {
        rows: sheet.rows.len() + sheet.refused,
        good: requests,
        problems,
    }
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
    batches::create_accounts(&client, requests, |lines, response| {
        progress.advance(lines.len() as u64);
        imported += response.accounts.len();
        problems.extend(item_refusals(&lines, &response.refusals));
    })
    .await?;
    progress.finish();
    problems.sort_by_key(|p| p.line);
    Ok(ImportReport {
        rows,
        imported,
        problems,
    })
}
