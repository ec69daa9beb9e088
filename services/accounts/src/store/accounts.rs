//! Accounts: create (with handoff and the first contract), read, update, list, erase.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use nordstern_domain::{
    account::{ContractEventKind, LifecycleStage, Segment, Tier},
    contract::{ContractChange, ContractState},
};
use nordstern_runtime::idempotency::{self, IdempotencyKey};
use sea_orm::{ConnectionTrait, DbErr, Value};

use super::{
    ACCOUNT_COLUMNS, AccountRow, Store, account_from_row, attach_modules,
    catalog::check_modules_exist, contracts, csms, execute, fetch_account, fetch_accounts,
    query_all, query_one, tiers,
};
use nordstern_runtime::wire::new_id;

use crate::error::{AccountsError, AccountsResult};

/// A validated account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub crm_id: Option<String>,
    pub domain: Option<String>,
    pub segment: Segment,
    pub start_date: NaiveDate,
    pub renewal_date: Option<NaiveDate>,
    pub module_keys: Vec<String>,
    pub csm_id: Option<String>,
    /// When `csm_id` took the account over; `None` means when it is created.
    pub assigned_at: Option<DateTime<Utc>>,
    pub initial_arr: Option<i64>,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub crm_id: Option<Option<String>>,
    pub domain: Option<Option<String>>,
    pub segment: Option<Segment>,
    pub start_date: Option<NaiveDate>,
    pub renewal_date: Option<Option<NaiveDate>>,
    pub module_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub csm_id: Option<String>,
    pub segment: Option<Segment>,
    pub tier: Option<Tier>,
    pub lifecycle: Option<LifecycleStage>,
    pub unassigned_only: bool,
    pub crm_id: Option<String>,
    pub domain: Option<String>,
}

pub(super) const CREATE_ACCOUNT: &str = "CreateAccount";

impl Store {
    pub async fn create_account(
        &self,
        idempotency_key: Option<IdempotencyKey>,
        new: NewAccount,
    ) -> AccountsResult<AccountRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        if let Some(key) = &idempotency_key
            && let Some(stored) =
                idempotency::find_response(db, CREATE_ACCOUNT, &key.key, key.fingerprint).await?
        {
            let account_id = String::from_utf8_lossy(&stored).into_owned();
            return fetch_account(db, &account_id).await;
        }
        if let Some(renewal) = new.renewal_date
            && renewal <= new.start_date
        {
            return Err(AccountsError::invalid(
                "account.renewal_date",
                "must be after the start date",
            ));
        }
        check_modules_exist(db, &new.module_keys, "account.module_keys").await?;
        let now = Utc::now();
        let assigned_at = new.assigned_at.unwrap_or(now);
        let account_id = new_id();
        if let Some(csm_id) = &new.csm_id {
            csms::check_can_take(db, csm_id, None).await?;
        }
        execute(
            db,
            "INSERT INTO accounts (account_id, name, crm_id, segment, start_date, renewal_date, arr_minor, tier, csm_id, \
             assigned_at, has_contract, last_event_date, churned_on, created_at, updated_at, domain) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, 'C', $7, $8, $9, NULL, NULL, $10, $10, $11)",
            vec![
                account_id.as_str().into(),
                new.name.as_str().into(),
                new.crm_id.clone().into(),
                new.segment.as_str().into(),
                new.start_date.into(),
                new.renewal_date.into(),
                new.csm_id.clone().into(),
                new.csm_id.as_ref().map(|_| assigned_at).into(),
                false.into(),
                now.into(),
                new.domain.clone().into(),
            ],
        )
        .await
        .map_err(|error| AccountsError::from_unique(error, "an account with this crm_id"))?;
        replace_modules(db, &account_id, &new.module_keys).await?;
        if let Some(csm_id) = &new.csm_id {
            csms::record_assignment(db, &account_id, csm_id, assigned_at).await?;
        }
        if let Some(arr) = new.initial_arr {
            let change = ContractChange {
                kind: ContractEventKind::New,
                arr_change: arr,
                effective_date: new.start_date,
                renewal_date: new.renewal_date,
            };
            let event_key = match &idempotency_key {
                Some(key) => format!("create-account:{}", key.key),
                None => format!("create-account:{account_id}"),
            };
            contracts::apply(
                db,
                &account_id,
                &ContractState::empty(),
                &change,
                &event_key,
                now,
            )
            .await?;
        }
        tiers::arr_changed(
            db,
            self.rules.tiers,
            tiers::ArrChange {
                account_id: &account_id,
                before: None,
                after: Some(new.initial_arr.unwrap_or(0)),
                // Inserted as C.
                stored_tier: Some(Tier::C),
            },
        )
        .await?;
        if let Some(key) = &idempotency_key {
            idempotency::store_response(
                db,
                CREATE_ACCOUNT,
                &key.key,
                key.fingerprint,
                account_id.clone().into_bytes(),
                Some(&account_id),
            )
            .await?;
        }
        let account = fetch_account(db, &account_id).await?;
        tx.commit().await?;
        Ok(account)
    }

    pub async fn get_account(&self, account_id: &str) -> AccountsResult<AccountRow> {
        fetch_account(self.db(), account_id).await
    }

    pub async fn batch_get_accounts(&self, ids: &[String]) -> AccountsResult<Vec<AccountRow>> {
        Ok(fetch_accounts(self.db(), ids).await?)
    }

    pub async fn update_account(
        &self,
        account_id: &str,
        patch: AccountPatch,
    ) -> AccountsResult<AccountRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let current = fetch_account(db, account_id).await?;
        let start_date = patch.start_date.unwrap_or(current.start_date);
        let renewal_date = patch.renewal_date.unwrap_or(current.renewal_date);
        if let Some(renewal) = renewal_date
            && renewal <= start_date
        {
            return Err(AccountsError::invalid(
                "account.renewal_date",
                "must be after the start date",
            ));
        }
        if let Some(modules) = &patch.module_keys {
            check_modules_exist(db, modules, "account.module_keys").await?;
            replace_modules(db, account_id, modules).await?;
        }
        execute(
            db,
            "UPDATE accounts SET name = $1, crm_id = $2, segment = $3, start_date = $4, renewal_date = $5, updated_at = $6, \
             domain = $8 WHERE account_id = $7",
            vec![
                patch.name.unwrap_or(current.name).into(),
                patch.crm_id.unwrap_or(current.crm_id).into(),
                patch.segment.unwrap_or(current.segment).as_str().into(),
                start_date.into(),
                renewal_date.into(),
                Utc::now().into(),
                account_id.into(),
                patch.domain.unwrap_or(current.domain).into(),
            ],
        )
        .await
        .map_err(|error| AccountsError::from_unique(error, "an account with this crm_id"))?;
        let account = fetch_account(db, account_id).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// One page of accounts in id (= creation) order after `after`.
    pub async fn list_accounts(
        &self,
        filter: &AccountFilter,
        after: Option<&str>,
        limit: u64,
        today: NaiveDate,
    ) -> AccountsResult<Vec<AccountRow>> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let bind = |value: Value, values: &mut Vec<Value>| {
            values.push(value);
            format!("${}", values.len())
        };
        if let Some(after) = after {
            let p = bind(after.into(), &mut values);
            conditions.push(format!("account_id > {p}"));
        }
        if let Some(csm_id) = &filter.csm_id {
            let p = bind(csm_id.as_str().into(), &mut values);
            conditions.push(format!("csm_id = {p}"));
        }
        if filter.unassigned_only {
            conditions.push("csm_id IS NULL".to_owned());
        }
        if let Some(crm_id) = &filter.crm_id {
            let p = bind(crm_id.as_str().into(), &mut values);
            conditions.push(format!("crm_id = {p}"));
        }
        if let Some(domain) = &filter.domain {
            let p = bind(domain.as_str().into(), &mut values);
            conditions.push(format!("domain = {p}"));
        }
        if let Some(segment) = filter.segment {
            let p = bind(segment.as_str().into(), &mut values);
            conditions.push(format!("segment = {p}"));
        }
        if let Some(tier) = filter.tier {
            let p = bind(tier.as_str().into(), &mut values);
            conditions.push(format!("tier = {p}"));
        }
        if let Some(stage) = filter.lifecycle {
            let rules = &self.rules.lifecycle;
            let today_p = bind(today.into(), &mut values);
            let churned = format!("(churned_on IS NOT NULL AND churned_on <= {today_p})");
            let due_by = bind(
                (today + Duration::days(i64::from(rules.renewal_due_days))).into(),
                &mut values,
            );
            let due = format!("(renewal_date IS NOT NULL AND renewal_date <= {due_by})");
            let onboarding_since = bind(
                (today - Duration::days(i64::from(rules.onboarding_days))).into(),
                &mut values,
            );
            let adoption_since = bind(
                (today - Duration::days(i64::from(rules.onboarding_days + rules.adoption_days)))
                    .into(),
                &mut values,
            );
            conditions.push(match stage {
                LifecycleStage::Churned => churned,
                LifecycleStage::RenewalDue => format!("NOT {churned} AND {due}"),
                LifecycleStage::Onboarding => {
                    format!("NOT {churned} AND NOT {due} AND start_date > {onboarding_since}")
                }
                LifecycleStage::Adoption => format!(
                    "NOT {churned} AND NOT {due} AND start_date <= {onboarding_since} AND start_date > {adoption_since}"
                ),
                LifecycleStage::Active => {
                    format!("NOT {churned} AND NOT {due} AND start_date <= {adoption_since}")
                }
            });
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts {where_clause} ORDER BY account_id LIMIT {limit}"
        );
        let rows = query_all(self.db(), &sql, values).await?;
        let mut accounts = rows
            .iter()
            .map(account_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        attach_modules(self.db(), &mut accounts).await?;
        Ok(accounts)
    }

    /// GDPR erasure: the account, its contract events, assignment history, purchased
    /// modules and every stored idempotent answer about it. An account already gone is
    /// no error: erasure is retried by the tools that call it.
    pub async fn erase_account(&self, account_id: &str) -> AccountsResult<Erasure> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let stored: Option<(Option<String>, i64)> = query_one(
            db,
            "SELECT crm_id, arr_minor FROM accounts WHERE account_id = $1",
            vec![account_id.into()],
        )
        .await?
        .map(|row| Ok::<_, DbErr>((row.try_get("", "crm_id")?, row.try_get("", "arr_minor")?)))
        .transpose()?;
        let (crm_id, arr) = stored.unzip();
        let account_erased = crm_id.is_some();
        let events = count(
            db,
            "SELECT COUNT(*) AS n FROM contract_events WHERE account_id = $1",
            account_id,
        )
        .await?;
        let assignments = count(
            db,
            "SELECT COUNT(*) AS n FROM assignments WHERE account_id = $1",
            account_id,
        )
        .await?;
        for table in [
            "contract_events",
            "assignments",
            "account_modules",
            "accounts",
        ] {
            execute(
                db,
                &format!("DELETE FROM {table} WHERE account_id = $1"),
                vec![account_id.into()],
            )
            .await?;
        }
        idempotency::erase_subject(db, account_id).await?;
        if account_erased {
            tiers::arr_changed(
                db,
                self.rules.tiers,
                tiers::ArrChange {
                    account_id,
                    before: arr,
                    after: None,
                    stored_tier: None,
                },
            )
            .await?;
            // CRMs hear of it and delete their copy.
            let event = nordstern_outbox::OutboxEvent::new(
                nordstern_domain::webhook::EventType::AccountErased,
                serde_json::json!({
                    "accountId": account_id,
                    "crmId": crm_id.flatten().unwrap_or_default(),
                    "erasedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                }),
            );
            nordstern_outbox::enqueue(db, &[event]).await?;
        }
        tx.commit().await?;
        Ok(Erasure {
            account_erased,
            contract_events: events,
            assignments,
        })
    }
}

/// What one erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    pub account_erased: bool,
    pub contract_events: u64,
    pub assignments: u64,
}

async fn count(db: &impl ConnectionTrait, sql: &str, id: &str) -> AccountsResult<u64> {
    let row = query_one(db, sql, vec![id.into()]).await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn replace_modules(
    db: &impl ConnectionTrait,
    account_id: &str,
    module_keys: &[String],
) -> AccountsResult<()> {
    execute(
        db,
        "DELETE FROM account_modules WHERE account_id = $1",
        vec![account_id.into()],
    )
    .await?;
    for module_key in module_keys {
        execute(
            db,
            "INSERT INTO account_modules (account_id, module_key) VALUES ($1, $2)",
            vec![account_id.into(), module_key.as_str().into()],
        )
        .await?;
    }
    Ok(())
}
