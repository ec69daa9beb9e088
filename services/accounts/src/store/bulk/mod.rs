//! Batch writes for a CRM's first sync: many accounts or contract events in one
//! serialised transaction, each item checked as its single call checks it and refused on
//! its own. Lookups are one query per kind for the whole batch and rows go in multi-row
//! statements, so an item costs a share of a few statements rather than a transaction
//! of its own; tiers move once per batch ([`tiers::arrs_changed`]).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use nordstern_domain::{
    account::{ContractEventKind, Tier},
    contract::{ContractChange, ContractState, apply_change},
};
use nordstern_runtime::{
    idempotency::{self, IdempotencyKey, KeyAnswer, NewResponse},
    wire::new_id,
};

use super::{AccountRow, NewAccount, Store, catalog, contracts, csms, tiers};
use crate::{
    error::{AccountsError, AccountsResult},
    store::{ContractEventRow, account_rows},
};

mod rows;

use rows::{
    accounts_by_crm_id, event_keys_in_use, insert_accounts, read_accounts, update_contract_states,
};

pub use nordstern_runtime::batch::{ItemOutcome, Pending, Refusal};

fn refusal(field: &str, error: AccountsError) -> Refusal {
    error.item_reasons(field)
}

/// One account of a batch, as CreateAccount takes it. Without an idempotency key it is
/// known by its CRM id.
#[derive(Debug, Clone)]
pub struct AccountItem {
    pub key: Option<IdempotencyKey>,
    pub new: NewAccount,
}

/// One contract event of a batch, as RecordContractEvent takes it.
#[derive(Debug, Clone)]
pub struct EventItem {
    pub account_id: String,
    pub change: ContractChange,
    pub key: IdempotencyKey,
}

const CREATE_ACCOUNT: &str = super::accounts::CREATE_ACCOUNT;
const RECORD_CONTRACT_EVENT: &str = contracts::RECORD_CONTRACT_EVENT;

/// An account about to be written, with its first contract event.
struct Planned {
    account_id: String,
    item: AccountItem,
    state: ContractState,
    event: Option<ContractEventRow>,
}

/// A batch's keys, with a key reused for another request refusing its item in `field`.
struct KeyLedger {
    keys: idempotency::KeyLedger,
    field: &'static str,
}

impl KeyLedger {
    async fn load(
        db: &impl sea_orm::ConnectionTrait,
        operation: &str,
        keys: &[&str],
        field: &'static str,
    ) -> Result<Self, sea_orm::DbErr> {
        Ok(KeyLedger {
            keys: idempotency::KeyLedger::load(db, operation, keys).await?,
            field,
        })
    }

    fn check(&mut self, key: &IdempotencyKey, index: usize) -> Result<KeyAnswer, Refusal> {
        self.keys
            .check(key, index)
            .map_err(|reused| refusal(self.field, reused.into()))
    }
}

impl Store {
    /// Creates the accounts of a batch; one outcome per item, in order.
    pub async fn create_accounts(
        &self,
        items: Vec<AccountItem>,
    ) -> AccountsResult<Vec<ItemOutcome<AccountRow>>> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let now = Utc::now();
        let keys: Vec<&str> = items
            .iter()
            .filter_map(|item| item.key.as_ref().map(|k| k.key.as_str()))
            .collect();
        let mut ledger = KeyLedger::load(db, CREATE_ACCOUNT, &keys, "request_id").await?;
        let crm_ids: Vec<&str> = items
            .iter()
            .filter_map(|item| item.new.crm_id.as_deref())
            .collect();
        let mut taken_crm_ids = accounts_by_crm_id(db, &crm_ids).await?;
        let module_keys: Vec<String> = items
            .iter()
            .flat_map(|item| item.new.module_keys.iter().cloned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let known_modules = catalog::known_modules(db, &module_keys).await?;
        let csm_ids: Vec<String> = items
            .iter()
            .filter_map(|item| item.new.csm_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut csms: HashMap<String, csms::CsmRow> = csms::fetch_csms(db, &csm_ids)
            .await?
            .into_iter()
            .map(|csm| (csm.csm_id.clone(), csm))
            .collect();

        let mut pending: Vec<Pending<String>> = Vec::with_capacity(items.len());
        let mut planned: Vec<Planned> = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let answer = match &item.key {
                Some(key) => ledger.check(key, index),
                None => Ok(KeyAnswer::New),
            };
            let known_crm = item.new.crm_id.as_ref().and_then(|c| taken_crm_ids.get(c));
            let outcome = match answer {
                Err(refused) => Pending::Refused(refused),
                Ok(KeyAnswer::Stored(id)) => Pending::Duplicate(id),
                Ok(KeyAnswer::Earlier(first)) => pending[first].repeated(String::as_str),
                // Known by its CRM id: an account with that id is this item, written before.
                Ok(KeyAnswer::New) if item.key.is_none() && known_crm.is_some() => {
                    Pending::Duplicate(known_crm.cloned().unwrap_or_default())
                }
                Ok(KeyAnswer::New) => {
                    let account_id = new_id();
                    match check_account(&item, &account_id, &known_modules, &csms, known_crm, now) {
                        Err(refused) => Pending::Refused(refused),
                        Ok((state, event)) => {
                            if let Some(crm_id) = &item.new.crm_id {
                                taken_crm_ids.insert(crm_id.clone(), account_id.clone());
                            }
                            if let Some(csm) =
                                item.new.csm_id.as_ref().and_then(|c| csms.get_mut(c))
                            {
                                csm.account_count += 1;
                            }
                            planned.push(Planned {
                                account_id: account_id.clone(),
                                item,
                                state,
                                event,
                            });
                            Pending::Written(account_id)
                        }
                    }
                }
            };
            pending.push(outcome);
        }

        insert_accounts(db, &planned, now).await?;
        let changes: Vec<tiers::ArrChange> = planned
            .iter()
            .map(|p| tiers::ArrChange {
                account_id: &p.account_id,
                before: None,
                after: Some(p.state.arr),
                // Inserted as C.
                stored_tier: Some(Tier::C),
            })
            .collect();
        tiers::arrs_changed(db, self.rules.tiers, &changes).await?;
        idempotency::store_responses(
            db,
            CREATE_ACCOUNT,
            planned
                .iter()
                .filter_map(|p| {
                    p.item.key.as_ref().map(|key| NewResponse {
                        key: key.key.clone(),
                        fingerprint: key.fingerprint,
                        response: p.account_id.clone().into_bytes(),
                        subject_id: Some(p.account_id.clone()),
                    })
                })
                .collect(),
        )
        .await?;
        let ids: Vec<&str> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Written(id) | Pending::Duplicate(id) => Some(id.as_str()),
                Pending::Refused(_) => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let rows = read_accounts(db, &ids).await?;
        tx.commit().await?;
        Ok(pending
            .into_iter()
            .map(|p| match p {
                Pending::Written(id) => found(&rows, &id, "account", ItemOutcome::Written),
                Pending::Duplicate(id) => found(&rows, &id, "account", ItemOutcome::Duplicate),
                Pending::Refused(refused) => ItemOutcome::Refused(refused),
            })
            .collect())
    }

    /// Records the contract events of a batch; one outcome per item, in order.
    pub async fn record_contract_events(
        &self,
        items: Vec<EventItem>,
    ) -> AccountsResult<Vec<ItemOutcome<ContractEventRow>>> {
        const KEY_FIELD: &str = "event.idempotency_key";
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let now = Utc::now();
        let keys: Vec<&str> = items.iter().map(|item| item.key.key.as_str()).collect();
        let mut ledger = KeyLedger::load(db, RECORD_CONTRACT_EVENT, &keys, KEY_FIELD).await?;
        let used_keys = event_keys_in_use(db, &keys).await?;
        let account_ids: Vec<&str> = items
            .iter()
            .map(|item| item.account_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // Each account's ARR and tier before the batch, and its state as the batch's events
        // leave it.
        let mut states: HashMap<String, (i64, Tier, ContractState)> =
            account_rows(db, &account_ids)
                .await?
                .into_iter()
                .map(|(id, row)| (id, (row.arr_minor, row.tier, row.contract_state())))
                .collect();
        // A written event with the fingerprint of its request.
        let mut pending: Vec<Pending<(ContractEventRow, i64)>> = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let outcome = match ledger.check(&item.key, index) {
                Err(refused) => Pending::Refused(refused),
                Ok(KeyAnswer::Stored(id)) => Pending::Duplicate(id),
                Ok(KeyAnswer::Earlier(first)) => {
                    pending[first].repeated(|(event, _)| event.event_id.as_str())
                }
                Ok(KeyAnswer::New) if used_keys.contains(&item.key.key) => {
                    Pending::Refused(refusal(
                        KEY_FIELD,
                        AccountsError::AlreadyExists(
                            "a contract event with this idempotency key already exists".to_owned(),
                        ),
                    ))
                }
                Ok(KeyAnswer::New) => match states.get_mut(&item.account_id) {
                    None => Pending::Refused(refusal(
                        "event.account_id",
                        AccountsError::NotFound(format!("account {}", item.account_id)),
                    )),
                    Some((_, _, state)) => match apply_change(state, &item.change) {
                        Err(error) => {
                            Pending::Refused(refusal("", contracts::contract_error(error)))
                        }
                        Ok((next, recorded_change)) => {
                            *state = next;
                            let event = ContractEventRow {
                                event_id: new_id(),
                                account_id: item.account_id,
                                kind: item.change.kind,
                                arr_change_minor: recorded_change,
                                arr_after_minor: state.arr,
                                effective_date: item.change.effective_date,
                                renewal_date: item.change.renewal_date,
                                idempotency_key: item.key.key,
                                recorded_at: now,
                            };
                            Pending::Written((event, item.key.fingerprint))
                        }
                    },
                },
            };
            pending.push(outcome);
        }

        let written: Vec<&(ContractEventRow, i64)> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Written(written) => Some(written),
                _ => None,
            })
            .collect();
        let events: Vec<&ContractEventRow> = written.iter().map(|(event, _)| event).collect();
        contracts::insert_events(db, &events).await?;
        let touched: HashSet<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
        let finals: Vec<(&str, &ContractState)> = touched
            .iter()
            .filter_map(|id| states.get(*id).map(|(_, _, state)| (*id, state)))
            .collect();
        update_contract_states(db, &finals, now).await?;
        let changes: Vec<tiers::ArrChange> = touched
            .iter()
            .filter_map(|id| {
                states
                    .get(*id)
                    .map(|(before, tier, state)| tiers::ArrChange {
                        account_id: id,
                        before: Some(*before),
                        after: Some(state.arr),
                        stored_tier: Some(*tier),
                    })
            })
            .collect();
        tiers::arrs_changed(db, self.rules.tiers, &changes).await?;
        idempotency::store_responses(
            db,
            RECORD_CONTRACT_EVENT,
            written
                .iter()
                .map(|(event, fingerprint)| NewResponse {
                    key: event.idempotency_key.clone(),
                    fingerprint: *fingerprint,
                    response: event.event_id.clone().into_bytes(),
                    subject_id: Some(event.account_id.clone()),
                })
                .collect(),
        )
        .await?;
        let earlier: Vec<String> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Duplicate(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let found_events: HashMap<String, ContractEventRow> = contracts::fetch_events(db, &earlier)
            .await?
            .into_iter()
            .map(|event| (event.event_id.clone(), event))
            .collect();
        tx.commit().await?;
        Ok(pending
            .into_iter()
            .map(|p| match p {
                Pending::Written((event, _)) => ItemOutcome::Written(event),
                Pending::Duplicate(id) => {
                    found(&found_events, &id, "contract event", ItemOutcome::Duplicate)
                }
                Pending::Refused(refused) => ItemOutcome::Refused(refused),
            })
            .collect())
    }
}

/// The checks of CreateAccount for an item no key answered: dates, modules, the CSM's
/// state and capacity (counting the accounts this batch already gave the CSM), the CRM
/// id, and the opening contract. The account's contract state after its opening NEW
/// event (none without initial ARR).
fn check_account(
    item: &AccountItem,
    account_id: &str,
    known_modules: &HashSet<String>,
    csms: &HashMap<String, csms::CsmRow>,
    crm_id_taken: Option<&String>,
    now: chrono::DateTime<Utc>,
) -> Result<(ContractState, Option<ContractEventRow>), Refusal> {
    let new = &item.new;
    if let Some(renewal) = new.renewal_date
        && renewal <= new.start_date
    {
        let error = AccountsError::invalid("account.renewal_date", "must be after the start date");
        return Err(refusal("", error));
    }
    catalog::module_violations(&new.module_keys, known_modules, "account.module_keys")
        .map_err(|error| refusal("", error))?;
    if let Some(csm_id) = &new.csm_id {
        let csm = csms
            .get(csm_id)
            .ok_or_else(|| AccountsError::NotFound(format!("CSM {csm_id}")))
            .and_then(|csm| csms::can_take(csm, false));
        csm.map_err(|error| refusal("account.csm_id", error))?;
    }
    if crm_id_taken.is_some() {
        let error =
            AccountsError::AlreadyExists("an account with this crm_id already exists".to_owned());
        return Err(refusal("account.crm_id", error));
    }
    let Some(arr) = new.initial_arr else {
        let state = ContractState {
            renewal_date: new.renewal_date,
            ..ContractState::empty()
        };
        return Ok((state, None));
    };
    let change = ContractChange {
        kind: ContractEventKind::New,
        arr_change: arr,
        effective_date: new.start_date,
        renewal_date: new.renewal_date,
    };
    let (state, recorded_change) = apply_change(&ContractState::empty(), &change)
        .map_err(|error| refusal("initial_arr", contracts::contract_error(error)))?;
    let event = ContractEventRow {
        event_id: new_id(),
        account_id: account_id.to_owned(),
        kind: change.kind,
        arr_change_minor: recorded_change,
        arr_after_minor: state.arr,
        effective_date: change.effective_date,
        renewal_date: change.renewal_date,
        idempotency_key: match &item.key {
            Some(key) => format!("create-account:{}", key.key),
            None => format!("create-account:{account_id}"),
        },
        recorded_at: now,
    };
    Ok((state, Some(event)))
}

/// The row an answer names, or a refusal if it is gone (erased since it was written).
fn found<T: Clone>(
    rows: &HashMap<String, T>,
    id: &str,
    what: &str,
    outcome: fn(T) -> ItemOutcome<T>,
) -> ItemOutcome<T> {
    match rows.get(id) {
        Some(row) => outcome(row.clone()),
        None => ItemOutcome::Refused(refusal(
            "",
            AccountsError::NotFound(format!("{what} {id} (erased since it was written)")),
        )),
    }
}
