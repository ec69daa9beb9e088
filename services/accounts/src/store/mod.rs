//! SQL of the accounts service. Every query is written once with `$n` placeholders and
//! runs on SQLite and PostgreSQL alike; writes that change ARR, tiers or capacities go
//! through the [`SerialWriter`] so they see each other's results.

mod accounts;
mod balance;
mod bulk;
mod catalog;
mod contracts;
mod csms;
mod revenue;
mod tiers;

pub use accounts::{AccountFilter, AccountPatch, NewAccount};
pub use balance::{Balance, BalanceScope};
pub use bulk::{AccountItem, EventItem};
pub use catalog::ProductModuleRow;
pub use contracts::{ContractEventFilter, ContractEventRow};
pub use csms::{CsmPatch, CsmRow, NewCsm};
pub use revenue::MetricScope;

use std::{collections::HashMap, sync::LazyLock};

use chrono::{DateTime, NaiveDate, Utc};
use nordstern_domain::{
    account::{Segment, Tier},
    contract::ContractState,
    lifecycle::LifecycleRules,
    revenue::RevenueParams,
    tiers::TierThresholds,
};
use nordstern_runtime::storage::{
    SerialWriter, execute, parse_column, placeholders, query_all, query_one, select_by_keys,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use crate::error::{AccountsError, AccountsResult};

/// Advisory lock id of the accounts service's serialised writes ("ACCT" in ASCII).
const WRITE_LOCK_KEY: i64 = 0x4143_4354;

/// The business rules the store applies, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub currency_code: String,
    pub tiers: TierThresholds,
    pub lifecycle: LifecycleRules,
    pub revenue: RevenueParams,
}

#[derive(Clone)]
pub struct Store {
    writer: SerialWriter,
    pub rules: Rules,
}

impl Store {
    /// The writer every write of this store queues behind (the webhook relay too).
    pub fn writer(&self) -> SerialWriter {
        self.writer.clone()
    }

    pub fn new(db: DatabaseConnection, rules: Rules) -> Self {
        Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
            rules,
        }
    }

    fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }

    /// Derives the tiers and their cut-offs when none are stored for the configured
    /// shares.
    pub async fn prepare_tiers(&self) -> Result<(), DbErr> {
        let tx = self.writer.begin().await?;
        tiers::prepare(&tx.txn, self.rules.tiers).await?;
        tx.commit().await
    }
}

/// One account as stored, with its purchased modules.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub account_id: String,
    pub name: String,
    pub crm_id: Option<String>,
    pub domain: Option<String>,
    pub segment: Segment,
    pub start_date: NaiveDate,
    pub renewal_date: Option<NaiveDate>,
    pub arr_minor: i64,
    pub tier: Tier,
    pub csm_id: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub has_contract: bool,
    pub last_event_date: Option<NaiveDate>,
    pub churned_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub module_keys: Vec<String>,
}

impl AccountRow {
    /// What the domain's contract rules need of the account.
    pub fn contract_state(&self) -> ContractState {
        ContractState {
            arr: self.arr_minor,
            renewal_date: self.renewal_date,
            churned_on: self.churned_on,
            last_effective_date: self.last_event_date,
            has_new: self.has_contract,
        }
    }
}

const ACCOUNT_COLUMNS: &str = "account_id, name, crm_id, domain, segment, start_date, renewal_date, arr_minor, tier, csm_id, \
     assigned_at, has_contract, last_event_date, churned_on, created_at, updated_at";

fn account_from_row(row: &QueryResult) -> Result<AccountRow, DbErr> {
    Ok(AccountRow {
        account_id: row.try_get("", "account_id")?,
        name: row.try_get("", "name")?,
        crm_id: row.try_get("", "crm_id")?,
        domain: row.try_get("", "domain")?,
        segment: parse_column(row, "segment", Segment::parse)?,
        start_date: row.try_get("", "start_date")?,
        renewal_date: row.try_get("", "renewal_date")?,
        arr_minor: row.try_get("", "arr_minor")?,
        tier: parse_column(row, "tier", Tier::parse)?,
        csm_id: row.try_get("", "csm_id")?,
        assigned_at: row.try_get("", "assigned_at")?,
        has_contract: row.try_get("", "has_contract")?,
        last_event_date: row.try_get("", "last_event_date")?,
        churned_on: row.try_get("", "churned_on")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
        module_keys: Vec::new(),
    })
}

/// Accounts by id, modules included, in id order; ids naming no account are left out.
/// Each id probes the primary key (`select_by_keys`): as an `IN` list, PostgreSQL scanned
/// all of `accounts` for every batch of 1,000 once the table held 100,000 rows.
async fn fetch_accounts(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<AccountRow>, DbErr> {
    let mut keys: Vec<&str> = ids.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut accounts: Vec<AccountRow> = account_rows(db, &keys).await?.into_values().collect();
    accounts.sort_unstable_by(|a, b| a.account_id.cmp(&b.account_id));
    attach_modules(db, &mut accounts).await?;
    Ok(accounts)
}

/// The accounts among `ids` (each once), by id, without their modules.
async fn account_rows(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<HashMap<String, AccountRow>, DbErr> {
    static COLUMNS_AFTER_ID: LazyLock<String> =
        LazyLock::new(|| ACCOUNT_COLUMNS.replacen("account_id, ", "", 1));
    let rows = select_by_keys(
        db,
        &COLUMNS_AFTER_ID,
        "accounts",
        "account_id",
        ("", Vec::new()),
        ids,
    )
    .await?;
    rows.iter()
        .map(|row| account_from_row(row).map(|account| (account.account_id.clone(), account)))
        .collect()
}

async fn fetch_account(db: &impl ConnectionTrait, id: &str) -> AccountsResult<AccountRow> {
    fetch_accounts(db, &[id.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| AccountsError::NotFound(format!("account {id}")))
}

/// Fills in the modules of `accounts` (each account once), sorted, probing the index of
/// `account_modules` once per account.
async fn attach_modules(
    db: &impl ConnectionTrait,
    accounts: &mut [AccountRow],
) -> Result<(), DbErr> {
    let ids: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    let rows = select_by_keys(
        db,
        "module_key",
        "account_modules",
        "account_id",
        ("", Vec::new()),
        &ids,
    )
    .await?;
    let mut modules: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        modules
            .entry(row.try_get("", "account_id")?)
            .or_default()
            .push(row.try_get("", "module_key")?);
    }
    for account in accounts {
        account.module_keys = modules.remove(&account.account_id).unwrap_or_default();
        account.module_keys.sort_unstable();
    }
    Ok(())
}
