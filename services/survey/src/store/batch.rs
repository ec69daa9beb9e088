//! A survey tool's history in batches: many recorded responses in one serialised
//! transaction, each checked as RecordResponse checks it and refused on its own. Keys and
//! campaigns are read once per batch and the rows go in multi-row statements.

use std::collections::HashMap;

use nordstern_runtime::{
    batch::{ItemOutcome, Pending},
    error::{ServiceError, ServiceResult},
    idempotency::{self, IdempotencyKey, KeyAnswer, KeyLedger, NewResponse},
};

use super::{
    CampaignRow, ResponseRow, Store,
    campaigns::fetch_campaign_settings,
    responses::{RECORD_RESPONSE, RecordedAnswer, fetch_responses, insert_responses},
};

impl Store {
    /// Records the responses of a batch; one outcome per item, in order.
    pub async fn record_responses(
        &self,
        items: Vec<RecordedAnswer>,
    ) -> ServiceResult<Vec<ItemOutcome<ResponseRow>>> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let keys: Vec<&str> = items.iter().map(|item| item.key.key.as_str()).collect();
        let mut ledger = KeyLedger::load(db, RECORD_RESPONSE, &keys).await?;
        let mut campaigns: HashMap<String, Option<CampaignRow>> = HashMap::new();
        for item in &items {
            if !campaigns.contains_key(&item.campaign_id) {
                let campaign = match fetch_campaign_settings(db, &item.campaign_id).await {
                    Ok(campaign) => Some(campaign),
                    Err(ServiceError::NotFound(_)) => None,
                    Err(error) => return Err(error),
                };
                campaigns.insert(item.campaign_id.clone(), campaign);
            }
        }

        let item_keys: Vec<IdempotencyKey> = items.iter().map(|item| item.key.clone()).collect();
        let mut pending: Vec<Pending<ResponseRow>> = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let decided = match ledger.check(&item.key, index) {
                Err(reused) => {
                    Pending::Refused(ServiceError::from(reused).item_reasons("idempotency_key"))
                }
                Ok(KeyAnswer::Stored(id)) => Pending::Duplicate(id),
                Ok(KeyAnswer::Earlier(first)) => {
                    pending[first].repeated(|row: &ResponseRow| &row.response_id)
                }
                Ok(KeyAnswer::New) => {
                    match campaigns.get(&item.campaign_id).and_then(Option::as_ref) {
                        None => Pending::Refused(
                            ServiceError::NotFound(format!("campaign {}", item.campaign_id))
                                .item_reasons("campaign_id"),
                        ),
                        Some(campaign) => match item.into_row(campaign) {
                            Ok(row) => Pending::Written(row),
                            Err(problems) => Pending::Refused(
                                ServiceError::InvalidArgument(problems).item_reasons(""),
                            ),
                        },
                    }
                }
            };
            pending.push(decided);
        }

        let mut written = Vec::new();
        let mut stored = Vec::new();
        for (decided, key) in pending.iter().zip(&item_keys) {
            if let Pending::Written(row) = decided {
                written.push(row.clone());
                stored.push(NewResponse {
                    key: key.key.clone(),
                    fingerprint: key.fingerprint,
                    response: row.response_id.clone().into_bytes(),
                    subject_id: Some(row.account_id.clone()),
                });
            }
        }
        insert_responses(db, &written).await?;
        idempotency::store_responses(db, RECORD_RESPONSE, stored).await?;

        let duplicate_ids: Vec<&str> = pending
            .iter()
            .filter_map(|decided| match decided {
                Pending::Duplicate(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let earlier = fetch_responses(db, &duplicate_ids).await?;
        let mut outcomes = Vec::with_capacity(pending.len());
        for decided in pending {
            outcomes.push(match decided {
                Pending::Written(row) => ItemOutcome::Written(row),
                Pending::Duplicate(id) => match earlier.get(&id) {
                    Some(row) => ItemOutcome::Duplicate(row.clone()),
                    // Erased since (GDPR): the key's answer is gone with the account.
                    None => ItemOutcome::Refused(
                        ServiceError::NotFound(format!("response {id}"))
                            .item_reasons("idempotency_key"),
                    ),
                },
                Pending::Refused(refusal) => ItemOutcome::Refused(refusal),
            });
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}
