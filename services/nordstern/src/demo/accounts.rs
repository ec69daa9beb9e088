//! The demo company's accounts and contract history, sent as a CRM's first sync would
//! send them: `BatchCreateAccounts` (each account with its CSM since it started) and
//! `BatchRecordContractEvents`, an account's k-th event in the k-th round.

use anyhow::Context;
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1::ItemRefusal,
};
use nordstern_runtime::wire::{midnight, money, timestamp};

use super::{
    company::{AccountPlan, Company, ContractKind},
    date,
};
use crate::{client::Channel, import::batches, terminal::Progress};

/// Creates the accounts and records their contract history; returns the accounts' ids in
/// plan order and the seconds it took. Every item is keyed (accounts by seed and index,
/// events by seed, CRM id and position), so a re-run writes nothing twice and leaves the
/// owners a balance gave.
pub async fn load(
    client: &AccountsServiceClient<Channel>,
    company: &Company,
    csm_ids: &[String],
    currency: &str,
    seed: u64,
) -> anyhow::Result<(Vec<String>, f64)> {
    let events: usize = company.accounts.iter().map(|a| a.steps.len()).sum();
    let mut progress = Progress::new(
        "accounts, contracts",
        (company.accounts.len() + events) as u64,
    );
    let requests = company
        .accounts
        .iter()
        .map(|plan| {
            // Each account has had an owner since it started, so a CSM's quota is
            // measured on a book held for the year, as in a company that has run for a
            // while.
            let owner = csm_ids
                .get(plan.index % csm_ids.len().max(1))
                .cloned()
                .unwrap_or_default();
            (plan.index, account_request(plan, owner, currency, seed))
        })
        .collect();
    let mut account_ids = vec![String::new(); company.accounts.len()];
    let mut refused = Vec::new();
    batches::create_accounts(client, requests, |indices, response| {
        progress.advance(indices.len() as u64);
        for created in response.accounts {
            let id = created.account.unwrap_or_default().account_id;
            account_ids[indices[created.index as usize]] = id;
        }
        refused.extend(refusal_texts(company, &indices, &response.refusals));
    })
    .await
    .context("creating the accounts")?;
    if !refused.is_empty() {
        anyhow::bail!("accounts refused:\n{}", refused.join("\n"));
    }

    let mut rounds = Vec::new();
    for (plan, account_id) in company.accounts.iter().zip(&account_ids) {
        for (step_index, event) in contract_events(plan, account_id, currency, seed)
            .into_iter()
            .enumerate()
        {
            batches::push_to_round(&mut rounds, step_index, (plan.index, event));
        }
    }
    batches::record_events_in_rounds(client, rounds, |indices, response| {
        progress.advance(indices.len() as u64);
        refused.extend(refusal_texts(company, &indices, &response.refusals));
    })
    .await
    .context("recording the contract history")?;
    if !refused.is_empty() {
        anyhow::bail!("contract events refused:\n{}", refused.join("\n"));
    }
    Ok((account_ids, progress.finish()))
}

fn account_request(
    plan: &AccountPlan,
    owner: String,
    currency: &str,
    seed: u64,
) -> pb::CreateAccountRequest {
    let assigned_at = (!owner.is_empty()).then(|| timestamp(midnight(plan.start)));
    pb::CreateAccountRequest {
        request_id: format!("demo-{seed}-account-{}", plan.index),
        account: Some(pb::Account {
            name: plan.name.clone(),
            crm_id: plan.crm_id.clone(),
            segment: nordstern_runtime::bridge::ProtoEnum::to_proto(plan.segment) as i32,
            start_date: Some(date(plan.start)),
            renewal_date: Some(date(plan.first_term_end)),
            module_keys: plan.module_keys().iter().map(|k| (*k).to_owned()).collect(),
            csm_id: owner,
            ..pb::Account::default()
        }),
        initial_arr: Some(money(plan.initial_arr, currency)),
        assigned_at,
    }
}

/// The account's contract history after its opening contract, in effective-date order.
fn contract_events(
    plan: &AccountPlan,
    account_id: &str,
    currency: &str,
    seed: u64,
) -> Vec<pb::ContractEvent> {
    plan.steps
        .iter()
        .enumerate()
        .map(|(step_index, step)| {
            let kind = match step.kind {
                ContractKind::Renewal => pb::ContractEventKind::Renewal,
                ContractKind::Expansion => pb::ContractEventKind::Expansion,
                ContractKind::Contraction => pb::ContractEventKind::Contraction,
                ContractKind::Churn => pb::ContractEventKind::Churn,
            };
            pb::ContractEvent {
                account_id: account_id.to_owned(),
                kind: kind as i32,
                arr_change: Some(money(step.change, currency)),
                effective_date: Some(date(step.effective)),
                renewal_date: step.renewal.map(date),
                idempotency_key: format!("demo-{seed}-{}-{step_index}", plan.crm_id),
                ..pb::ContractEvent::default()
            }
        })
        .collect()
}

/// Each refusal of a batch as a line naming its account (`indices[i]` is item i's plan).
fn refusal_texts<'a>(
    company: &'a Company,
    indices: &'a [usize],
    refusals: &'a [ItemRefusal],
) -> impl Iterator<Item = String> + 'a {
    refusals.iter().map(|refusal| {
        let plan = &company.accounts[indices[refusal.index as usize]];
        format!("  {}: {} {}", plan.crm_id, refusal.field, refusal.reason)
    })
}
