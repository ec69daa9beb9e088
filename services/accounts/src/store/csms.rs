//! CSMs, their capacity, and handoffs (assignment history).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use nordstern_runtime::idempotency::{self, IdempotencyKey};
use nordstern_runtime::wire::new_id;
use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{AccountRow, Store, execute, fetch_account, placeholders, query_all, query_one};
use crate::error::{AccountsError, AccountsResult};

#[derive(Debug, Clone, PartialEq)]
pub struct CsmRow {
    pub csm_id: String,
    pub name: String,
    pub email: String,
    pub capacity: i32,
    pub active: bool,
    /// Accounts owned that have not churned.
    pub account_count: i64,
    pub portfolio_arr_minor: i64,
}

#[derive(Debug, Clone)]
pub struct NewCsm {
    pub name: String,
    pub email: String,
    pub capacity: i32,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CsmPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub capacity: Option<i32>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct AssignmentRow {
    pub csm_id: String,
    pub assigned_at: DateTime<Utc>,
    pub unassigned_at: Option<DateTime<Utc>>,
}

const CREATE_CSM: &str = "CreateCsm";

impl Store {
    pub async fn create_csm(
        &self,
        idempotency_key: Option<IdempotencyKey>,
        new: NewCsm,
    ) -> AccountsResult<CsmRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        if let Some(key) = &idempotency_key
            && let Some(stored) =
                idempotency::find_response(db, CREATE_CSM, &key.key, key.fingerprint).await?
        {
            return fetch_csm(db, &String::from_utf8_lossy(&stored)).await;
        }
        let csm_id = new_id();
        let now = Utc::now();
        execute(
            db,
            "INSERT INTO csms (csm_id, name, email, capacity, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            vec![
                csm_id.as_str().into(),
                new.name.into(),
                new.email.into(),
                new.capacity.into(),
                new.active.into(),
                now.into(),
            ],
        )
        .await
        .map_err(|error| AccountsError::from_unique(error, "a CSM with this email"))?;
        if let Some(key) = &idempotency_key {
            idempotency::store_response(
                db,
                CREATE_CSM,
                &key.key,
                key.fingerprint,
                csm_id.clone().into_bytes(),
                None,
            )
            .await?;
        }
        let csm = fetch_csm(db, &csm_id).await?;
        tx.commit().await?;
        Ok(csm)
    }

    pub async fn get_csm(&self, csm_id: &str) -> AccountsResult<CsmRow> {
        fetch_csm(self.db(), csm_id).await
    }

    pub async fn update_csm(&self, csm_id: &str, patch: CsmPatch) -> AccountsResult<CsmRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let current = fetch_csm(db, csm_id).await?;
        execute(
            db,
            "UPDATE csms SET name = $1, email = $2, capacity = $3, active = $4, updated_at = $5 WHERE csm_id = $6",
            vec![
                patch.name.unwrap_or(current.name).into(),
                patch.email.unwrap_or(current.email).into(),
                patch.capacity.unwrap_or(current.capacity).into(),
                patch.active.unwrap_or(current.active).into(),
                Utc::now().into(),
                csm_id.into(),
            ],
        )
        .await
        .map_err(|error| AccountsError::from_unique(error, "a CSM with this email"))?;
        let csm = fetch_csm(db, csm_id).await?;
        tx.commit().await?;
        Ok(csm)
    }

    pub async fn list_csms(&self, after: Option<&str>, limit: u64) -> AccountsResult<Vec<CsmRow>> {
        let (sql, values): (String, Vec<Value>) = match after {
            Some(after) => (
                format!(
                    "SELECT {CSM_COLUMNS} FROM csms WHERE csm_id > $1 ORDER BY csm_id LIMIT {limit}"
                ),
                vec![after.into()],
            ),
            None => (
                format!("SELECT {CSM_COLUMNS} FROM csms ORDER BY csm_id LIMIT {limit}"),
                Vec::new(),
            ),
        };
        let rows = query_all(self.db(), &sql, values).await?;
        let mut csms = rows
            .iter()
            .map(csm_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        attach_portfolio_totals(self.db(), &mut csms).await?;
        Ok(csms)
    }

    /// Hands an account to a CSM. Assigning to the current owner changes nothing.
    /// Hands an account to a CSM at `effective_at` (now when `None`), which may lie in
    /// the past for imported ownership history, but not before the current assignment.
    pub async fn assign_account(
        &self,
        account_id: &str,
        csm_id: &str,
        effective_at: Option<DateTime<Utc>>,
    ) -> AccountsResult<(AccountRow, Option<String>)> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let account = fetch_account(db, account_id).await?;
        let previous_csm_id = account.csm_id.clone();
        if previous_csm_id.as_deref() == Some(csm_id) {
            return Ok((account, previous_csm_id));
        }
        if account.churned_on.is_some() {
            return Err(AccountsError::FailedPrecondition(format!(
                "account {account_id} has churned and cannot be handed over"
            )));
        }
        check_can_take(db, csm_id, Some(account_id)).await?;
        let at = effective_at.unwrap_or_else(Utc::now);
        if let Some(current) = account.assigned_at
            && at < current
        {
            return Err(AccountsError::FailedPrecondition(format!(
                "effective_at {at} is before the current assignment, which began {current}"
            )));
        }
        move_account(db, account_id, csm_id, at).await?;
        let account = fetch_account(db, account_id).await?;
        tx.commit().await?;
        Ok((account, previous_csm_id))
    }

    pub async fn assignments_of(&self, account_id: &str) -> AccountsResult<Vec<AssignmentRow>> {
        let rows = query_all(
            self.db(),
            "SELECT csm_id, assigned_at, unassigned_at FROM assignments WHERE account_id = $1 ORDER BY assigned_at, assignment_id",
            vec![account_id.into()],
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AssignmentRow {
                    csm_id: row.try_get("", "csm_id")?,
                    assigned_at: row.try_get("", "assigned_at")?,
                    unassigned_at: row.try_get("", "unassigned_at")?,
                })
            })
            .collect()
    }
}

const CSM_COLUMNS: &str = "csm_id, name, email, capacity, active";

fn csm_from_row(row: &QueryResult) -> Result<CsmRow, sea_orm::DbErr> {
    Ok(CsmRow {
        csm_id: row.try_get("", "csm_id")?,
        name: row.try_get("", "name")?,
        email: row.try_get("", "email")?,
        capacity: row.try_get("", "capacity")?,
        active: row.try_get("", "active")?,
        account_count: 0,
        portfolio_arr_minor: 0,
    })
}

pub(super) async fn fetch_csms(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> AccountsResult<Vec<CsmRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {CSM_COLUMNS} FROM csms WHERE csm_id IN ({}) ORDER BY csm_id",
        placeholders(1, ids.len())
    );
    let rows = query_all(
        db,
        &sql,
        ids.iter().map(|id| Value::from(id.as_str())).collect(),
    )
    .await?;
    let mut csms = rows
        .iter()
        .map(csm_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    attach_portfolio_totals(db, &mut csms).await?;
    Ok(csms)
}

pub(super) async fn fetch_csm(db: &impl ConnectionTrait, csm_id: &str) -> AccountsResult<CsmRow> {
    fetch_csms(db, &[csm_id.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| AccountsError::NotFound(format!("CSM {csm_id}")))
}

pub(super) async fn active_csm_ids(db: &impl ConnectionTrait) -> AccountsResult<Vec<String>> {
    let rows = query_all(
        db,
        "SELECT csm_id FROM csms WHERE active = $1 ORDER BY csm_id",
        vec![true.into()],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get("", "csm_id"))
        .collect::<Result<_, _>>()?)
}

async fn attach_portfolio_totals(
    db: &impl ConnectionTrait,
    csms: &mut [CsmRow],
) -> AccountsResult<()> {
    if csms.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT csm_id, COUNT(*) AS accounts, CAST(COALESCE(SUM(arr_minor), 0) AS BIGINT) AS arr FROM accounts \
         WHERE churned_on IS NULL AND csm_id IN ({}) GROUP BY csm_id",
        placeholders(1, csms.len())
    );
    let values = csms
        .iter()
        .map(|csm| Value::from(csm.csm_id.as_str()))
        .collect();
    let mut totals: HashMap<String, (i64, i64)> = HashMap::new();
    for row in query_all(db, &sql, values).await? {
        totals.insert(
            row.try_get("", "csm_id")?,
            (row.try_get("", "accounts")?, row.try_get("", "arr")?),
        );
    }
    for csm in csms {
        if let Some((accounts, arr)) = totals.get(&csm.csm_id) {
            csm.account_count = *accounts;
            csm.portfolio_arr_minor = *arr;
        }
    }
    Ok(())
}

/// The CSM exists, is active and has room for one more account (`moving` is an account
/// that may already be counted in the portfolio).
pub(super) async fn check_can_take(
    db: &impl ConnectionTrait,
    csm_id: &str,
    moving: Option<&str>,
) -> AccountsResult<()> {
    let csm = fetch_csm(db, csm_id).await?;
    let already_owned = match moving {
        Some(account_id) if csm.capacity > 0 => query_one(
            db,
            "SELECT account_id FROM accounts WHERE account_id = $1 AND csm_id = $2",
            vec![account_id.into(), csm_id.into()],
        )
        .await?
        .is_some(),
        _ => false,
    };
    can_take(&csm, already_owned)
}

/// Whether `csm` may take one more account: active, and under capacity unless the
/// account is already theirs.
pub(super) fn can_take(csm: &CsmRow, already_owned: bool) -> AccountsResult<()> {
    let csm_id = &csm.csm_id;
    if !csm.active {
        return Err(AccountsError::FailedPrecondition(format!(
            "CSM {csm_id} is inactive"
        )));
    }
    if csm.capacity > 0 && !already_owned && csm.account_count >= i64::from(csm.capacity) {
        return Err(AccountsError::FailedPrecondition(format!(
            "CSM {csm_id} is at capacity ({} accounts)",
            csm.capacity
        )));
    }
    Ok(())
}

pub(super) async fn record_assignment(
    db: &impl ConnectionTrait,
    account_id: &str,
    csm_id: &str,
    at: DateTime<Utc>,
) -> AccountsResult<()> {
    execute(
        db,
        "INSERT INTO assignments (assignment_id, account_id, csm_id, assigned_at, unassigned_at) VALUES ($1, $2, $3, $4, NULL)",
        vec![new_id().into(), account_id.into(), csm_id.into(), at.into()],
    )
    .await?;
    Ok(())
}

/// Moves an account to `csm_id`: closes the open assignment and opens a new one.
pub(super) async fn move_account(
    db: &impl ConnectionTrait,
    account_id: &str,
    csm_id: &str,
    at: DateTime<Utc>,
) -> AccountsResult<()> {
    execute(
        db,
        "UPDATE assignments SET unassigned_at = $1 WHERE account_id = $2 AND unassigned_at IS NULL",
        vec![at.into(), account_id.into()],
    )
    .await?;
    execute(
        db,
        "UPDATE accounts SET csm_id = $1, assigned_at = $2, updated_at = $2 WHERE account_id = $3",
        vec![csm_id.into(), at.into(), account_id.into()],
    )
    .await?;
    record_assignment(db, account_id, csm_id, at).await
}
