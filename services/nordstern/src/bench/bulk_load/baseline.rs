//! The baseline of `bench bulk-load`: the rows the load ends with, written raw into a
//! freshly migrated store of the same layout.

use std::time::{Duration, Instant};

use chrono::Utc;
use nordstern_domain::{
    account::ContractEventKind,
    contract::{ContractChange, ContractState, apply_change},
};
use nordstern_runtime::{
    storage::{StorageTarget, execute, insert_rows, open_named},
    wire::new_id,
};
use sea_orm::{DatabaseConnection, TransactionTrait, Value};

use super::{CSMS, MODULES, Plan};

/// The rows the load ends with (accounts in their final state, modules, assignments,
/// every contract event), written straight into a freshly migrated store of the same
/// layout in one transaction.
pub(super) async fn baseline(target: StorageTarget<'_>, plan: &Plan) -> anyhow::Result<Duration> {
    let postgres = matches!(target, StorageTarget::Postgres { .. });
    let db = open_named::<nordstern_accounts::Migrator>(target, "baseline", 2).await?;
    let now = Utc::now();
    // What the rows refer to, before the clock starts.
    for key in MODULES {
        execute(
            &db,
            "INSERT INTO product_modules (module_key, name, list_price_minor, has_integration) VALUES ($1, $1, 100000, $2)",
            vec![key.into(), false.into()],
        )
        .await?;
    }
    for n in 0..CSMS {
        execute(
            &db,
            "INSERT INTO csms (csm_id, name, email, capacity, active, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $5, $5)",
            vec![
                baseline_csm(n).into(),
                format!("CSM {n}").into(),
                format!("csm{n}@bulk.example").into(),
                true.into(),
                now.into(),
            ],
        )
        .await?;
    }
    let mut accounts = Vec::with_capacity(plan.accounts.len());
    let mut modules = Vec::new();
    let mut assignments = Vec::with_capacity(plan.accounts.len());
    let mut events = Vec::with_capacity(plan.accounts.len() + plan.event_count());
    for (n, account) in plan.accounts.iter().enumerate() {
        let id = new_id();
        let csm_id = baseline_csm(account.csm);
        let opening = ContractChange {
            kind: ContractEventKind::New,
            arr_change: account.arr,
            effective_date: account.start,
            renewal_date: Some(account.term_end),
        };
        let mut state = ContractState::empty();
        for (step, change) in std::iter::once(&opening).chain(&account.events).enumerate() {
            let (next, recorded) = apply_change(&state, change)
                .map_err(|error| anyhow::anyhow!("{}: {error}", account.crm_id))?;
            state = next;
            events.push(vec![
                Value::from(new_id()),
                id.as_str().into(),
                change.kind.as_str().into(),
                recorded.into(),
                state.arr.into(),
                change.effective_date.into(),
                change.renewal_date.into(),
                format!("bulk-{n}-{step}").into(),
                now.into(),
            ]);
        }
        for module in &account.modules {
            modules.push(vec![Value::from(id.as_str()), (*module).into()]);
        }
        assignments.push(vec![
            Value::from(new_id()),
            id.as_str().into(),
            csm_id.as_str().into(),
            now.into(),
        ]);
        accounts.push(vec![
            Value::from(id),
            format!("Customer {}", account.crm_id).into(),
            account.crm_id.as_str().into(),
            account.segment.as_str().into(),
            account.start.into(),
            state.renewal_date.into(),
            state.arr.into(),
            "C".into(),
            csm_id.into(),
            now.into(),
            true.into(),
            state.last_effective_date.into(),
            state.churned_on.into(),
            now.into(),
            now.into(),
            Value::String(None),
        ]);
    }
    let tables = [
        (
            "accounts (account_id, name, crm_id, segment, start_date, renewal_date, arr_minor, tier, csm_id, \
             assigned_at, has_contract, last_event_date, churned_on, created_at, updated_at, domain)",
            accounts,
        ),
        ("account_modules (account_id, module_key)", modules),
        (
            "assignments (assignment_id, account_id, csm_id, assigned_at)",
            assignments,
        ),
        (
            "contract_events (event_id, account_id, kind, arr_change_minor, arr_after_minor, effective_date, \
             renewal_date, idempotency_key, recorded_at)",
            events,
        ),
    ];
    let started = Instant::now();
    if postgres {
        copy_all(&db, tables).await?;
    } else {
        let tx = db.begin().await?;
        for (table, rows) in tables {
            let columns = rows.first().map_or(0, Vec::len);
            insert_rows(&tx, &format!("INSERT INTO {table}"), "", columns, rows).await?;
        }
        tx.commit().await?;
    }
    let took = started.elapsed();
    db.close().await?;
    Ok(took)
}

fn baseline_csm(n: usize) -> String {
    format!("00000000-0000-7000-8000-{n:012}")
}

/// COPY of every table in one transaction, rows as COPY's text format.
async fn copy_all(
    db: &DatabaseConnection,
    tables: [(&str, Vec<Vec<Value>>); 4],
) -> anyhow::Result<()> {
    let pool = db.get_postgres_connection_pool();
    let mut tx = pool.begin().await?;
    sea_orm::sqlx::query("SET LOCAL search_path TO baseline")
        .execute(&mut *tx)
        .await?;
    for (table, rows) in tables {
        let mut copy = (*tx)
            .copy_in_raw(&format!("COPY {table} FROM STDIN"))
            .await?;
        let mut text = String::with_capacity(rows.len() * 120);
        for row in &rows {
            let fields: Vec<String> = row.iter().map(copy_text).collect();
            text.push_str(&fields.join("\t"));
            text.push('\n');
            if text.len() > 1 << 20 {
                copy.send(std::mem::take(&mut text).into_bytes()).await?;
            }
        }
        copy.send(text.into_bytes()).await?;
        copy.finish().await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One value in COPY's text format.
fn copy_text(value: &Value) -> String {
    match value {
        Value::String(Some(text)) => text.to_string(),
        Value::BigInt(Some(number)) => number.to_string(),
        Value::Bool(Some(flag)) => if *flag { "t" } else { "f" }.to_owned(),
        Value::ChronoDate(Some(day)) => day.to_string(),
        Value::ChronoDateTimeUtc(Some(at)) => at.to_rfc3339(),
        _ => "\\N".to_owned(),
    }
}
