//! The rows of a batch: lookups by many keys at once, and multi-row writes.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use nordstern_domain::contract::ContractState;
use nordstern_runtime::{
    storage::{insert_rows, placeholders, select_by_keys},
    wire::new_id,
};
use sea_orm::{ConnectionTrait, DbErr, Value, sea_query::ArrayType};

use super::Planned;
use crate::{
    error::AccountsResult,
    store::{AccountRow, ContractEventRow, account_rows, attach_modules, contracts, execute},
};

/// A contract-state date column and how to read it from a state.
type DateColumn = (&'static str, fn(&ContractState) -> Option<NaiveDate>);

/// Account ids by CRM id, for the CRM ids that are taken.
pub(super) async fn accounts_by_crm_id(
    db: &impl ConnectionTrait,
    crm_ids: &[&str],
) -> Result<HashMap<String, String>, DbErr> {
    let mut taken = HashMap::new();
    let rows = select_by_keys(
        db,
        "account_id",
        "accounts",
        "crm_id",
        ("", Vec::new()),
        crm_ids,
    )
    .await?;
    for row in rows {
        taken.insert(row.try_get("", "crm_id")?, row.try_get("", "account_id")?);
    }
    Ok(taken)
}

/// The keys among `keys` that a stored contract event carries.
pub(super) async fn event_keys_in_use(
    db: &impl ConnectionTrait,
    keys: &[&str],
) -> Result<HashSet<String>, DbErr> {
    let mut used = HashSet::new();
    let rows = select_by_keys(
        db,
        "event_id",
        "contract_events",
        "idempotency_key",
        ("", Vec::new()),
        keys,
    )
    .await?;
    for row in rows {
        used.insert(row.try_get("", "idempotency_key")?);
    }
    Ok(used)
}

/// The accounts among `ids` (each once), by id, with their modules.
pub(super) async fn read_accounts(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<HashMap<String, AccountRow>, DbErr> {
    let mut rows: Vec<AccountRow> = account_rows(db, ids).await?.into_values().collect();
    attach_modules(db, &mut rows).await?;
    Ok(rows
        .into_iter()
        .map(|account| (account.account_id.clone(), account))
        .collect())
}

/// The planned accounts with their final contract state, modules, assignments and
/// opening events.
pub(super) async fn insert_accounts(
    db: &impl ConnectionTrait,
    planned: &[Planned],
    now: chrono::DateTime<Utc>,
) -> AccountsResult<()> {
    let accounts = planned
        .iter()
        .map(|p| {
            let new = &p.item.new;
            vec![
                Value::from(p.account_id.as_str()),
                new.name.as_str().into(),
                new.crm_id.clone().into(),
                new.segment.as_str().into(),
                new.start_date.into(),
                p.state.renewal_date.into(),
                p.state.arr.into(),
                "C".into(),
                new.csm_id.clone().into(),
                new.csm_id
                    .as_ref()
                    .map(|_| new.assigned_at.unwrap_or(now))
                    .into(),
                p.state.has_new.into(),
                p.state.last_effective_date.into(),
                p.state.churned_on.into(),
                now.into(),
                now.into(),
                new.domain.clone().into(),
            ]
        })
        .collect();
    insert_rows(
        db,
        "INSERT INTO accounts (account_id, name, crm_id, segment, start_date, renewal_date, arr_minor, tier, csm_id, \
         assigned_at, has_contract, last_event_date, churned_on, created_at, updated_at, domain)",
        "",
        16,
        accounts,
    )
    .await?;
    let modules = planned
        .iter()
        .flat_map(|p| {
            p.item
                .new
                .module_keys
                .iter()
                .map(|key| vec![Value::from(p.account_id.as_str()), key.as_str().into()])
        })
        .collect();
    insert_rows(
        db,
        "INSERT INTO account_modules (account_id, module_key)",
        "",
        2,
        modules,
    )
    .await?;
    let assignments = planned
        .iter()
        .filter_map(|p| {
            p.item.new.csm_id.as_ref().map(|csm_id| {
                vec![
                    Value::from(new_id()),
                    p.account_id.as_str().into(),
                    csm_id.as_str().into(),
                    p.item.new.assigned_at.unwrap_or(now).into(),
                ]
            })
        })
        .collect();
    insert_rows(
        db,
        "INSERT INTO assignments (assignment_id, account_id, csm_id, assigned_at)",
        "",
        4,
        assignments,
    )
    .await?;
    let events: Vec<&ContractEventRow> = planned.iter().filter_map(|p| p.event.as_ref()).collect();
    contracts::insert_events(db, &events).await?;
    Ok(())
}

/// Writes each account's contract state as the batch left it. On PostgreSQL the states go
/// as one array per column through `unnest`, grouped by which dates are set (arrays carry
/// no NULL); SQLite takes `UPDATE … FROM (VALUES …)`, one statement per 1,000 accounts.
pub(super) async fn update_contract_states(
    db: &impl ConnectionTrait,
    finals: &[(&str, &ContractState)],
    now: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        return update_contract_states_unnest(db, finals, now).await;
    }
    const COLUMNS: usize = 6;
    for chunk in finals.chunks(1000) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|row| format!("({})", placeholders(2 + row * COLUMNS, COLUMNS)))
            .collect();
        let sql = format!(
            "UPDATE accounts SET arr_minor = v.column2, renewal_date = v.column3, churned_on = v.column4, \
             last_event_date = v.column5, has_contract = v.column6, updated_at = $1 \
             FROM (VALUES {}) AS v WHERE accounts.account_id = v.column1",
            rows.join(", ")
        );
        let mut values = vec![Value::from(now)];
        for (account_id, state) in chunk {
            values.extend([
                Value::from(*account_id),
                state.arr.into(),
                state.renewal_date.into(),
                state.churned_on.into(),
                state.last_effective_date.into(),
                state.has_new.into(),
            ]);
        }
        execute(db, &sql, values).await?;
    }
    Ok(())
}

async fn update_contract_states_unnest(
    db: &impl ConnectionTrait,
    finals: &[(&str, &ContractState)],
    now: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut groups: HashMap<[bool; 3], Vec<&(&str, &ContractState)>> = HashMap::new();
    for entry in finals {
        let state = entry.1;
        let set = [
            state.renewal_date.is_some(),
            state.churned_on.is_some(),
            state.last_effective_date.is_some(),
        ];
        groups.entry(set).or_default().push(entry);
    }
    let array = |kind: ArrayType, values: Vec<Value>| Value::Array(kind, Some(Box::new(values)));
    for (set, group) in groups {
        let mut values = vec![
            Value::from(now),
            array(
                ArrayType::String,
                group.iter().map(|(id, _)| Value::from(*id)).collect(),
            ),
            array(
                ArrayType::BigInt,
                group.iter().map(|(_, s)| Value::from(s.arr)).collect(),
            ),
            array(
                ArrayType::Bool,
                group.iter().map(|(_, s)| Value::from(s.has_new)).collect(),
            ),
        ];
        let mut arrays = vec!["$2::text[]", "$3::int8[]", "$4::bool[]"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let mut names = vec!["id", "arr", "has_new"];
        let mut sets = Vec::new();
        let dates: [DateColumn; 3] = [
            ("renewal_date", |s| s.renewal_date),
            ("churned_on", |s| s.churned_on),
            ("last_event_date", |s| s.last_effective_date),
        ];
        for ((column, date), present) in dates.into_iter().zip(set) {
            if present {
                values.push(array(
                    ArrayType::ChronoDate,
                    group.iter().map(|(_, s)| Value::from(date(s))).collect(),
                ));
                arrays.push(format!("${}::date[]", values.len()));
                names.push(column);
                sets.push(format!("{column} = v.{column}"));
            } else {
                sets.push(format!("{column} = NULL"));
            }
        }
        let sql = format!(
            "UPDATE accounts SET arr_minor = v.arr, has_contract = v.has_new, {}, updated_at = $1 \
             FROM unnest({}) AS v({}) WHERE accounts.account_id = v.id",
            sets.join(", "),
            arrays.join(", "),
            names.join(", ")
        );
        execute(db, &sql, values).await?;
    }
    Ok(())
}
