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
    idempotency::{self, IdempotencyKey, NewResponse},
    wire::new_id,
};

use super::{AccountRow, NewAccount, Store, catalog, contracts, csms, tiers};
use crate::{
    error::{AccountsError, AccountsResult},
    store::ContractEventRow,
};

mod rows;

use rows::{
    accounts_by_crm_id, contract_states, event_keys_in_use, insert_accounts, read_accounts,
    update_contract_states,
};

/// What became of one item: written now, found written before, or refused.
#[derive(Debug)]
pub enum ItemOutcome<T> {
    Written(T),
    Duplicate(T),
    Refused(Refusal),
}

/// Why an item was refused: what the single call would have answered, and the field it
/// concerns when the error does not name its fields itself (field violations and
/// conflicts do).
#[derive(Debug)]
pub struct Refusal {
    pub field: &'static str,
    pub error: AccountsError,
}

impl Refusal {
    fn at(field: &'static str, error: AccountsError) -> Self {
        let field = match error {
            AccountsError::InvalidArgument(_) | AccountsError::Conflict { .. } => "",
            _ => field,
        };
        Refusal { field, error }
    }

    /// The same refusal again, for an item repeated in its batch.
    fn again(&self) -> Self {
        let error = match &self.error {
            AccountsError::InvalidArgument(violations) => {
                AccountsError::InvalidArgument(violations.clone())
            }
            AccountsError::NotFound(what) => AccountsError::NotFound(what.clone()),
            AccountsError::AlreadyExists(message) => AccountsError::AlreadyExists(message.clone()),
            AccountsError::Conflict { field, description } => AccountsError::Conflict {
                field: field.clone(),
                description: description.clone(),
            },
            other => AccountsError::FailedPrecondition(other.to_string()),
        };
        Refusal {
            field: self.field,
            error,
        }
    }
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
const KEY_FIELD: &str = "event.idempotency_key";

/// An account about to be written, with its first contract event.
struct Planned {
    account_id: String,
    item: AccountItem,
    state: ContractState,
    event: Option<ContractEventRow>,
}

/// Where an item's account comes from before the final read.
enum Pending {
    Written(String),
    Duplicate(String),
    Refused(Refusal),
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
        let stored = idempotency::find_responses(db, CREATE_ACCOUNT, &keys).await?;
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

        let mut pending = Vec::with_capacity(items.len());
        let mut planned: Vec<Planned> = Vec::new();
        // Keys seen in this batch: the fingerprint and the item that first carried it.
        let mut batch_keys: HashMap<String, (i64, usize)> = HashMap::new();
        for (index, item) in items.into_iter().enumerate() {
            if let Some(key) = &item.key {
                if let Some(found) = stored.get(&key.key) {
                    pending.push(if found.fingerprint == key.fingerprint {
                        Pending::Duplicate(String::from_utf8_lossy(&found.response).into_owned())
                    } else {
                        Pending::Refused(key_reused("request_id", &key.key))
                    });
                    continue;
                }
                if let Some((fingerprint, first)) = batch_keys.get(&key.key) {
                    pending.push(if *fingerprint == key.fingerprint {
                        same_as(&pending[*first])
                    } else {
                        Pending::Refused(key_reused("request_id", &key.key))
                    });
                    continue;
                }
                batch_keys.insert(key.key.clone(), (key.fingerprint, index));
            }
            // Known by its CRM id: an account with that id is this item, written before.
            if item.key.is_none()
                && let Some(existing) = item.new.crm_id.as_ref().and_then(|c| taken_crm_ids.get(c))
            {
                pending.push(Pending::Duplicate(existing.clone()));
                continue;
            }
            let outcome = match plan_account(&item, &known_modules, &mut csms) {
                Err(error) => Pending::Refused(Refusal::at("account.csm_id", error)),
                Ok(()) => match item.new.crm_id.as_ref().and_then(|c| taken_crm_ids.get(c)) {
                    Some(_) => Pending::Refused(Refusal::at(
                        "account.crm_id",
                        AccountsError::AlreadyExists(
                            "an account with this crm_id already exists".to_owned(),
                        ),
                    )),
                    None => match first_contract(&item, now) {
                        Err(error) => Pending::Refused(Refusal::at("initial_arr", error)),
                        Ok((state, event)) => {
                            let account_id = new_id();
                            if let Some(crm_id) = &item.new.crm_id {
                                taken_crm_ids.insert(crm_id.clone(), account_id.clone());
                            }
                            if let Some(csm) =
                                item.new.csm_id.as_ref().and_then(|c| csms.get_mut(c))
                            {
                                csm.account_count += 1;
                            }
                            let mut event = event;
                            if let Some(event) = &mut event {
                                event.account_id = account_id.clone();
                                event.idempotency_key = match &item.key {
                                    Some(key) => format!("create-account:{}", key.key),
                                    None => format!("create-account:{account_id}"),
                                };
                            }
                            planned.push(Planned {
                                account_id: account_id.clone(),
                                item,
                                state,
                                event,
                            });
                            Pending::Written(account_id)
                        }
                    },
                },
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
        let ids: Vec<String> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Written(id) | Pending::Duplicate(id) => Some(id.clone()),
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
                Pending::Written(id) => found(&rows, &id, ItemOutcome::Written),
                Pending::Duplicate(id) => found(&rows, &id, ItemOutcome::Duplicate),
                Pending::Refused(error) => ItemOutcome::Refused(error),
            })
            .collect())
    }

    /// Records the contract events of a batch; one outcome per item, in order.
    pub async fn record_contract_events(
        &self,
        items: Vec<EventItem>,
    ) -> AccountsResult<Vec<ItemOutcome<ContractEventRow>>> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let now = Utc::now();
        let keys: Vec<&str> = items.iter().map(|item| item.key.key.as_str()).collect();
        let stored = idempotency::find_responses(db, RECORD_CONTRACT_EVENT, &keys).await?;
        let used_keys = event_keys_in_use(db, &keys).await?;
        let account_ids: Vec<&str> = items
            .iter()
            .map(|item| item.account_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // Each account's ARR and tier before the batch, and its state as the batch's events
        // leave it.
        let mut states = contract_states(db, &account_ids).await?;
        enum Event {
            Written(ContractEventRow),
            Duplicate(String),
            Refused(Refusal),
        }
        let mut outcomes: Vec<Event> = Vec::with_capacity(items.len());
        let mut batch_keys: HashMap<String, (i64, usize)> = HashMap::new();
        for (index, item) in items.into_iter().enumerate() {
            let key = &item.key;
            if let Some(found) = stored.get(&key.key) {
                outcomes.push(if found.fingerprint == key.fingerprint {
                    Event::Duplicate(String::from_utf8_lossy(&found.response).into_owned())
                } else {
                    Event::Refused(key_reused(KEY_FIELD, &key.key))
                });
                continue;
            }
            if let Some((fingerprint, first)) = batch_keys.get(&key.key) {
                outcomes.push(match (&outcomes[*first], *fingerprint == key.fingerprint) {
                    (Event::Written(event), true) => Event::Duplicate(event.event_id.clone()),
                    (Event::Refused(refusal), true) => Event::Refused(refusal.again()),
                    _ => Event::Refused(key_reused(KEY_FIELD, &key.key)),
                });
                continue;
            }
            batch_keys.insert(key.key.clone(), (key.fingerprint, index));
            if used_keys.contains(&key.key) {
                outcomes.push(Event::Refused(Refusal::at(
                    KEY_FIELD,
                    AccountsError::AlreadyExists(
                        "a contract event with this idempotency key already exists".to_owned(),
                    ),
                )));
                continue;
            }
            let Some((_, _, state)) = states.get_mut(&item.account_id) else {
                outcomes.push(Event::Refused(Refusal::at(
                    "event.account_id",
                    AccountsError::NotFound(format!("account {}", item.account_id)),
                )));
                continue;
            };
            match apply_change(state, &item.change) {
                Err(error) => outcomes.push(Event::Refused(Refusal::at(
                    "",
                    contracts::contract_error(error),
                ))),
                Ok((next, recorded_change)) => {
                    *state = next;
                    outcomes.push(Event::Written(ContractEventRow {
                        event_id: new_id(),
                        account_id: item.account_id.clone(),
                        kind: item.change.kind,
                        arr_change_minor: recorded_change,
                        arr_after_minor: state.arr,
                        effective_date: item.change.effective_date,
                        renewal_date: item.change.renewal_date,
                        idempotency_key: key.key.clone(),
                        recorded_at: now,
                    }));
                }
            }
        }

        let written: Vec<&ContractEventRow> = outcomes
            .iter()
            .filter_map(|o| match o {
                Event::Written(event) => Some(event),
                _ => None,
            })
            .collect();
        contracts::insert_events(db, &written).await?;
        let touched: HashSet<&str> = written.iter().map(|e| e.account_id.as_str()).collect();
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
                .map(|event| NewResponse {
                    key: event.idempotency_key.clone(),
                    fingerprint: batch_keys
                        .get(&event.idempotency_key)
                        .map_or(0, |(fingerprint, _)| *fingerprint),
                    response: event.event_id.clone().into_bytes(),
                    subject_id: Some(event.account_id.clone()),
                })
                .collect(),
        )
        .await?;
        let earlier: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Event::Duplicate(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let found_events: HashMap<String, ContractEventRow> = contracts::fetch_events(db, &earlier)
            .await?
            .into_iter()
            .map(|event| (event.event_id.clone(), event))
            .collect();
        tx.commit().await?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                Event::Written(event) => ItemOutcome::Written(event),
                Event::Duplicate(id) => match found_events.get(&id) {
                    Some(event) => ItemOutcome::Duplicate(event.clone()),
                    None => ItemOutcome::Refused(Refusal::at(
                        "",
                        AccountsError::NotFound(format!(
                            "contract event {id} (its account was erased)"
                        )),
                    )),
                },
                Event::Refused(error) => ItemOutcome::Refused(error),
            })
            .collect())
    }
}

/// The checks of CreateAccount that need no write: dates, modules, the CSM's state and
/// capacity (counting the accounts this batch already gave the CSM).
fn plan_account(
    item: &AccountItem,
    known_modules: &HashSet<String>,
    csms: &mut HashMap<String, csms::CsmRow>,
) -> AccountsResult<()> {
    let new = &item.new;
    if let Some(renewal) = new.renewal_date
        && renewal <= new.start_date
    {
        return Err(AccountsError::invalid(
            "account.renewal_date",
            "must be after the start date",
        ));
    }
    catalog::module_violations(&new.module_keys, known_modules, "account.module_keys")?;
    if let Some(csm_id) = &new.csm_id {
        let csm = csms
            .get(csm_id)
            .ok_or_else(|| AccountsError::NotFound(format!("CSM {csm_id}")))?;
        csms::can_take(csm, false)?;
    }
    Ok(())
}

/// The account's contract state after its opening NEW event (none without initial ARR).
fn first_contract(
    item: &AccountItem,
    now: chrono::DateTime<Utc>,
) -> AccountsResult<(ContractState, Option<ContractEventRow>)> {
    let new = &item.new;
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
    let (state, recorded_change) =
        apply_change(&ContractState::empty(), &change).map_err(contracts::contract_error)?;
    let event = ContractEventRow {
        event_id: new_id(),
        account_id: String::new(),
        kind: change.kind,
        arr_change_minor: recorded_change,
        arr_after_minor: state.arr,
        effective_date: change.effective_date,
        renewal_date: change.renewal_date,
        idempotency_key: String::new(),
        recorded_at: now,
    };
    Ok((state, Some(event)))
}

fn key_reused(field: &'static str, key: &str) -> Refusal {
    Refusal::at(
        field,
        idempotency::IdempotencyError::KeyReused(key.to_owned()).into(),
    )
}

/// The outcome of an item repeated in its batch with the same key and request.
fn same_as(first: &Pending) -> Pending {
    match first {
        Pending::Written(id) | Pending::Duplicate(id) => Pending::Duplicate(id.clone()),
        Pending::Refused(refusal) => Pending::Refused(refusal.again()),
    }
}

fn found(
    rows: &HashMap<String, AccountRow>,
    id: &str,
    outcome: fn(AccountRow) -> ItemOutcome<AccountRow>,
) -> ItemOutcome<AccountRow> {
    match rows.get(id) {
        Some(row) => outcome(row.clone()),
        None => ItemOutcome::Refused(Refusal::at(
            "",
            AccountsError::NotFound(format!("account {id} (erased since it was created)")),
        )),
    }
}
