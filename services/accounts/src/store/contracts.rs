//! Contract events: the only way ARR changes. Current ARR, renewal date and churn are
//! kept on the account row in the same transaction as the event.

use chrono::{DateTime, NaiveDate, Utc};
use nordstern_domain::{
    account::ContractEventKind,
    contract::{ContractChange, ContractError, ContractState, apply_change},
};
use nordstern_runtime::storage::{insert_rows, parse_column, placeholders};
use nordstern_runtime::wire::new_id;
use nordstern_runtime::{
    idempotency::{self, IdempotencyKey},
    status::FieldViolations,
};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{AccountRow, Store, execute, fetch_account, query_all, query_one, tiers};
use crate::error::{AccountsError, AccountsResult};

#[derive(Debug, Clone, PartialEq)]
pub struct ContractEventRow {
    pub event_id: String,
    pub account_id: String,
    pub kind: ContractEventKind,
    pub arr_change_minor: i64,
    pub arr_after_minor: i64,
    pub effective_date: NaiveDate,
    pub renewal_date: Option<NaiveDate>,
    pub idempotency_key: String,
    pub recorded_at: DateTime<Utc>,
}

pub(super) const RECORD_CONTRACT_EVENT: &str = "RecordContractEvent";
/// The columns every event has a value for, in the order `insert_events` writes them.
const INSERT_COLUMNS: &str = "event_id, account_id, kind, arr_change_minor, arr_after_minor, effective_date, idempotency_key, recorded_at";
const EVENT_COLUMNS: &str = "event_id, account_id, kind, arr_change_minor, arr_after_minor, effective_date, renewal_date, idempotency_key, recorded_at";

impl Store {
    /// Records one event; the same idempotency key returns the event recorded first.
    pub async fn record_contract_event(
        &self,
        account_id: &str,
        change: ContractChange,
        key: IdempotencyKey,
    ) -> AccountsResult<(ContractEventRow, AccountRow)> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        if let Some(stored) =
            idempotency::find_response(db, RECORD_CONTRACT_EVENT, &key.key, key.fingerprint).await?
        {
            let event = fetch_event(db, &String::from_utf8_lossy(&stored)).await?;
            let account = fetch_account(db, &event.account_id).await?;
            return Ok((event, account));
        }
        let account = fetch_account(db, account_id).await?;
        let state = account.contract_state();
        let now = Utc::now();
        let event = apply(db, account_id, &state, &change, &key.key, now).await?;
        tiers::arr_changed(
            db,
            self.rules.tiers,
            tiers::ArrChange {
                account_id,
                before: Some(account.arr_minor),
                after: Some(event.arr_after_minor),
                stored_tier: Some(account.tier),
            },
        )
        .await?;
        idempotency::store_response(
            db,
            RECORD_CONTRACT_EVENT,
            &key.key,
            key.fingerprint,
            event.event_id.clone().into_bytes(),
            Some(account_id),
        )
        .await?;
        let account = fetch_account(db, account_id).await?;
        tx.commit().await?;
        Ok((event, account))
    }

    /// Events in recording order (event ids are time-ordered UUIDs) after `after`, as
    /// `filter` says. An event id is unique, so it is a stable keyset cursor over one
    /// account or the whole company.
    ///
    /// Company-wide, each requested kind is read on its own from
    /// `contract_events_kind_idx` `(kind, event_id, effective_date)` in id order, at most
    /// `limit` rows each, and the branches are merged: one range scan per kind and page
    /// on SQLite and PostgreSQL, the period checked on the index entry. (`kind IN (…)`
    /// makes PostgreSQL walk every event in id order and filter.) One account's events
    /// are few and read through `contract_events_account_idx`; there `kind || ''` keeps
    /// SQLite, which has no statistics, from preferring the kind index.
    pub async fn list_contract_events(
        &self,
        filter: &ContractEventFilter,
        after: Option<&str>,
        limit: u64,
    ) -> AccountsResult<Vec<ContractEventRow>> {
        let mut values: Vec<sea_orm::Value> = vec![after.unwrap_or("").into()];
        let mut common = String::from("event_id > $1");
        if let Some((start, end)) = filter.effective_within {
            values.push(start.into());
            values.push(end.into());
            common.push_str(&format!(
                " AND effective_date >= ${} AND effective_date < ${}",
                values.len() - 1,
                values.len()
            ));
        }
        let mut kinds = filter.kinds.clone();
        kinds.sort();
        kinds.dedup();
        let select = |condition: &str| {
            format!(
                "SELECT {EVENT_COLUMNS} FROM contract_events WHERE {condition} ORDER BY event_id LIMIT {limit}"
            )
        };
        let sql = if let Some(account_id) = &filter.account_id {
            fetch_account(self.db(), account_id).await?;
            values.push(account_id.as_str().into());
            common.push_str(&format!(" AND account_id = ${}", values.len()));
            if !kinds.is_empty() {
                common.push_str(&format!(
                    " AND kind || '' IN ({})",
                    placeholders(values.len() + 1, kinds.len())
                ));
                values.extend(kinds.iter().map(|kind| sea_orm::Value::from(kind.as_str())));
            }
            select(&common)
        } else if kinds.len() <= 1 {
            if let Some(kind) = kinds.first() {
                values.push(kind.as_str().into());
                common.push_str(&format!(" AND kind = ${}", values.len()));
            }
            select(&common)
        } else {
            let branches: Vec<String> = kinds
                .iter()
                .enumerate()
                .map(|(at, kind)| {
                    values.push(kind.as_str().into());
                    let condition = format!("{common} AND kind = ${}", values.len());
                    format!("SELECT * FROM ({}) AS k{at}", select(&condition))
                })
                .collect();
            format!(
                "SELECT * FROM ({}) AS merged ORDER BY event_id LIMIT {limit}",
                branches.join(" UNION ALL ")
            )
        };
        let rows = query_all(self.db(), &sql, values).await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }
}

/// Which contract events a listing returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContractEventFilter {
    /// One account's; `None` for every account's.
    pub account_id: Option<String>,
    /// Only these kinds; empty for every kind.
    pub kinds: Vec<ContractEventKind>,
    /// Effective date in `[start, end)`; `None` for any date.
    pub effective_within: Option<(NaiveDate, NaiveDate)>,
}

/// Validates `change` against the account's contract state, stores the event and the new
/// state. Domain rule violations become field violations or failed preconditions.
pub(super) async fn apply(
    db: &impl ConnectionTrait,
    account_id: &str,
    state: &ContractState,
    change: &ContractChange,
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> AccountsResult<ContractEventRow> {
    let (next, recorded_change) = apply_change(state, change).map_err(contract_error)?;
    let event = ContractEventRow {
        event_id: new_id(),
        account_id: account_id.to_owned(),
        kind: change.kind,
        arr_change_minor: recorded_change,
        arr_after_minor: next.arr,
        effective_date: change.effective_date,
        renewal_date: change.renewal_date,
        idempotency_key: idempotency_key.to_owned(),
        recorded_at: now,
    };
    insert_events(db, &[&event]).await.map_err(|error| {
        AccountsError::from_unique(error, "a contract event with this idempotency key")
    })?;
    execute(
        db,
        "UPDATE accounts SET arr_minor = $1, renewal_date = $2, churned_on = $3, last_event_date = $4, has_contract = $5, \
         updated_at = $6 WHERE account_id = $7",
        vec![
            next.arr.into(),
            next.renewal_date.into(),
            next.churned_on.into(),
            next.last_effective_date.into(),
            next.has_new.into(),
            now.into(),
            account_id.into(),
        ],
    )
    .await?;
    Ok(event)
}

/// Stores events as they are, in as few statements as the database allows: those with
/// a renewal date and those without apart, so that no column holds NULL and PostgreSQL
/// takes each group as one array per column.
pub(super) async fn insert_events(
    db: &impl ConnectionTrait,
    events: &[&ContractEventRow],
) -> Result<(), sea_orm::DbErr> {
    let (renewing, others): (Vec<&ContractEventRow>, Vec<&ContractEventRow>) = events
        .iter()
        .partition(|event| event.renewal_date.is_some());
    for (group, with_renewal) in [(renewing, true), (others, false)] {
        let rows = group
            .iter()
            .map(|event| {
                let mut row: Vec<sea_orm::Value> = vec![
                    event.event_id.as_str().into(),
                    event.account_id.as_str().into(),
                    event.kind.as_str().into(),
                    event.arr_change_minor.into(),
                    event.arr_after_minor.into(),
                    event.effective_date.into(),
                    event.idempotency_key.as_str().into(),
                    event.recorded_at.into(),
                ];
                if let Some(renewal) = event.renewal_date.filter(|_| with_renewal) {
                    row.push(renewal.into());
                }
                row
            })
            .collect();
        let (head, columns) = if with_renewal {
            (
                format!("INSERT INTO contract_events ({INSERT_COLUMNS}, renewal_date)"),
                9,
            )
        } else {
            (format!("INSERT INTO contract_events ({INSERT_COLUMNS})"), 8)
        };
        insert_rows(db, &head, "", columns, rows).await?;
    }
    Ok(())
}

/// Events by id, in no particular order; ids naming none are left out.
pub(super) async fn fetch_events(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<ContractEventRow>, sea_orm::DbErr> {
    let mut events = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM contract_events WHERE event_id IN ({})",
            placeholders(1, chunk.len())
        );
        let values = chunk
            .iter()
            .map(|id| sea_orm::Value::from(id.as_str()))
            .collect();
        for row in query_all(db, &sql, values).await? {
            events.push(event_from_row(&row)?);
        }
    }
    Ok(events)
}

pub(super) fn contract_error(error: ContractError) -> AccountsError {
    match error {
        ContractError::InvalidArrChange { reason } => {
            AccountsError::InvalidArgument(FieldViolations::single("event.arr_change", reason))
        }
        ContractError::InvalidRenewalDate { reason } => {
            AccountsError::InvalidArgument(FieldViolations::single("event.renewal_date", reason))
        }
        ContractError::OutOfOrder { last } => AccountsError::Conflict {
            field: "event.effective_date".to_owned(),
            description: format!(
                "must not be before {last}, when the account's last contract event took effect (events are recorded in order)"
            ),
        },
        other => AccountsError::FailedPrecondition(other.to_string()),
    }
}

async fn fetch_event(
    db: &impl ConnectionTrait,
    event_id: &str,
) -> AccountsResult<ContractEventRow> {
    let row = query_one(
        db,
        &format!("SELECT {EVENT_COLUMNS} FROM contract_events WHERE event_id = $1"),
        vec![event_id.into()],
    )
    .await?
    .ok_or_else(|| AccountsError::NotFound(format!("contract event {event_id}")))?;
    Ok(event_from_row(&row)?)
}

pub(super) fn event_from_row(row: &QueryResult) -> Result<ContractEventRow, sea_orm::DbErr> {
    Ok(ContractEventRow {
        event_id: row.try_get("", "event_id")?,
        account_id: row.try_get("", "account_id")?,
        kind: parse_column(row, "kind", ContractEventKind::parse)?,
        arr_change_minor: row.try_get("", "arr_change_minor")?,
        arr_after_minor: row.try_get("", "arr_after_minor")?,
        effective_date: row.try_get("", "effective_date")?,
        renewal_date: row.try_get("", "renewal_date")?,
        idempotency_key: row.try_get("", "idempotency_key")?,
        recorded_at: row.try_get("", "recorded_at")?,
    })
}
