//! `import contracts`: contract events per account in effective-date order.

use super::*;

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
    let mut rounds: Vec<Vec<(usize, pb::ContractEvent)>> = Vec::new();
    for (crm_id, rows) in events {
        let Some(account_id) = account_ids.get(&crm_id) else {
            problems.extend(rows.iter().map(|(line, _)| {
                problem(
                    *line,
                    "crm_id",
                    format!("no account has the CRM id {crm_id}"),
                )
            }));
            continue;
        };
        for (round, (line, mut event)) in rows.into_iter().enumerate() {
            event.account_id = account_id.clone();
            batches::push_to_round(&mut rounds, round, (line, event));
        }
    }
    let mut imported = 0;
    batches::record_events_in_rounds(&client, rounds, |lines, response| {
        progress.advance(lines.len() as u64);
        imported += response.events.len();
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
