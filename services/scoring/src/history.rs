//! Churn-model features as of a past day, from what the services keep: ARR and the
//! renewal date from the contract events, usage from the daily rollups (a usage summary
//! as of the end of that day), surveys from the dated answers of the 90 days up to it.
//! So `TrainChurnModelFromHistory` learns from the platform's own history, with nothing
//! the platform could not have known on the cut-off day.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use nordstern_accounts::remote::batch_get_all_accounts;
use nordstern_domain::{
    account::Segment,
    churn::{
        Dataset, PLATFORM_CATEGORICAL_FEATURES, PLATFORM_NUMERIC_FEATURES, PlatformFeatures, Row,
        arr_in_major_units,
    },
    health::{self, HealthComponent, ScoringConfig, upsell::CatalogModule},
};
use nordstern_proto::{
    accounts::v1 as accounts_pb, common::v1 as common, survey::v1 as survey_pb,
    usage::v1 as usage_pb,
};
use nordstern_runtime::{
    bridge::ProtoEnum,
    wire::{MAX_BATCH, date_to_proto, timestamp},
};
use tonic::{Request, Status};

use crate::{compute::health_inputs, convert::date_from_proto, pipeline::Scoring};

/// Minor units per major unit of the currencies ARR is kept in.
const CURRENCY_DECIMALS: u32 = 2;
/// Days of answers the survey features of a day look back on, as for a live score.
const SURVEY_DAYS: i64 = 90;
/// Most days apart the cut-off days of one usage read are (the usage service's limit).
const USAGE_CALL_DAYS: i64 = 62;
/// Most accounts one usage read asks for (`StreamUsageSummariesAt`'s limit): usage reads
/// every account's daily usage once per read, so a read covers as many outcomes of its
/// span of days as it may.
const USAGE_CALL_ACCOUNTS: usize = 20_000;

/// One account's ARR and renewal date over time, from its contract events.
#[derive(Debug, Default)]
struct ContractHistory {
    /// (effective day, ARR change in minor units, renewal date set by the event).
    events: Vec<(NaiveDate, i64, Option<NaiveDate>)>,
}

impl ContractHistory {
    /// ARR and renewal date at the end of `day`.
    fn as_of(&self, day: NaiveDate) -> (i64, Option<NaiveDate>) {
        let mut arr = 0i64;
        let mut renewal = None;
        for (_, change, renews) in self.events.iter().filter(|e| e.0 <= day) {
            arr = arr.saturating_add(*change);
            if renews.is_some() {
                renewal = *renews;
            }
        }
        (arr, renewal)
    }
}

/// An outcome of an account that was a customer on its cut-off day.
struct Outcome<'a> {
    account: &'a accounts_pb::Account,
    /// ARR and renewal date on the cut-off day.
    arr: i64,
    renewal: Option<NaiveDate>,
    churned: bool,
}

impl Outcome<'_> {
    /// The training row: the platform features as the health score saw them on `day`.
    fn row(
        &self,
        catalog: &[CatalogModule],
        config: &ScoringConfig,
        summary: Option<&usage_pb::UsageSummary>,
        stats: Option<&survey_pb::SurveyStats>,
        day: NaiveDate,
        (numeric, categorical): (&[String], &[String]),
    ) -> Row {
        let mut then = self.account.clone();
        then.arr = Some(common::Money {
            minor_units: self.arr,
            currency_code: String::new(),
        });
        then.renewal_date = self.renewal.map(date_to_proto);
        let inputs = health_inputs(&then, catalog, summary, stats, day);
        let segment = Segment::from_i32(self.account.segment);
        let weights = segment.map_or(config.segment_weights().default_weights(), |s| {
            config.weights_for(s)
        });
        let breakdown = health::score(&inputs, weights, config.thresholds());
        let mut features = PlatformFeatures {
            arr: Some(arr_in_major_units(self.arr, CURRENCY_DECIMALS)),
            segment,
            ..PlatformFeatures::default()
        };
        for component in HealthComponent::ALL {
            features.set_component(component.as_str(), breakdown.component(component).value);
        }
        let values = features.feature_values();
        Row {
            numeric: numeric
                .iter()
                .map(|name| values.numeric.get(name).copied().flatten())
                .collect(),
            categorical: categorical
                .iter()
                .map(|name| values.categorical.get(name).cloned().unwrap_or_default())
                .collect(),
            churned: self.churned,
        }
    }
}

/// `due` (by day, each at most [`MAX_BATCH`] outcomes) cut into the runs one
/// `StreamUsageSummariesAt` takes: at most [`USAGE_CALL_ACCOUNTS`] accounts, days at most
/// [`USAGE_CALL_DAYS`] apart.
fn usage_calls<T>(due: &[(NaiveDate, Vec<T>)]) -> Vec<&[(NaiveDate, Vec<T>)]> {
    let mut calls = Vec::new();
    let mut start = 0;
    let mut accounts = 0;
    for (index, (day, outcomes)) in due.iter().enumerate() {
        let first_day = due.get(start).map_or(*day, |(first, _)| *first);
        if index > start
            && (accounts + outcomes.len() > USAGE_CALL_ACCOUNTS
                || (*day - first_day).num_days() > USAGE_CALL_DAYS)
        {
            calls.push(&due[start..index]);
            start = index;
            accounts = 0;
        }
        accounts += outcomes.len();
    }
    if start < due.len() {
        calls.push(&due[start..]);
    }
    calls
}

/// The first instant after `day`: facts "as of a day" include all of it.
fn end_of(day: NaiveDate) -> Option<DateTime<Utc>> {
    (day + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

impl Scoring {
    /// One row per outcome (account, day of the churn or renewal, churned) with the
    /// platform features as of `cutoff_days` before it. Outcomes whose account had no ARR
    /// on the cut-off day (not a customer yet) are left out.
    pub async fn history_dataset(
        &self,
        outcomes: Vec<(String, NaiveDate, bool)>,
        cutoff_days: i64,
        config: &ScoringConfig,
    ) -> Result<Dataset, Status> {
        let mut ids: Vec<String> = outcomes.iter().map(|(id, _, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        let accounts: HashMap<String, accounts_pb::Account> =
            batch_get_all_accounts(&self.accounts, &ids)
                .await?
                .0
                .into_iter()
                .map(|a| (a.account_id.clone(), a))
                .collect();
        let contracts = self.contract_histories().await?;
        let catalog = self.catalog().await?;

        // Outcomes by cut-off day: one survey read per day, one usage read per span of
        // days (peers are ranked among every account, which is read once per span).
        let mut by_day: BTreeMap<NaiveDate, Vec<(String, bool)>> = BTreeMap::new();
        for (id, date, churned) in outcomes {
            by_day
                .entry(date - Duration::days(cutoff_days))
                .or_default()
                .push((id, churned));
        }
        let mut due: Vec<(NaiveDate, Vec<Outcome>)> = Vec::new();
        for (day, outcomes) in by_day {
            let live: Vec<Outcome> = outcomes
                .into_iter()
                .filter_map(|(id, churned)| {
                    let account = accounts.get(&id)?;
                    let (arr, renewal) = contracts.get(&id)?.as_of(day);
                    (arr > 0).then_some(Outcome {
                        account,
                        arr,
                        renewal,
                        churned,
                    })
                })
                .collect();
            let mut live = live.into_iter().peekable();
            while live.peek().is_some() {
                due.push((day, live.by_ref().take(MAX_BATCH).collect()));
            }
        }
        let numeric: Vec<String> = PLATFORM_NUMERIC_FEATURES.map(str::to_owned).to_vec();
        // The tier is a rank across the company on the day; it is not kept for past days.
        let categorical: Vec<String> = PLATFORM_CATEGORICAL_FEATURES
            .iter()
            .filter(|&&name| name == "segment")
            .map(|name| (*name).to_owned())
            .collect();
        let mut rows = Vec::new();
        for call in usage_calls(&due) {
            let queries: Vec<(NaiveDate, Vec<String>)> = call
                .iter()
                .map(|(day, outcomes)| {
                    let ids = outcomes
                        .iter()
                        .map(|o| o.account.account_id.clone())
                        .collect();
                    (*day, ids)
                })
                .collect();
            let summaries = self.usage_summaries_at(&queries).await?;
            for (((day, outcomes), (_, ids)), summaries) in call.iter().zip(&queries).zip(summaries)
            {
                let stats = self.survey_stats_as_of(ids, *day).await?;
                for outcome in outcomes {
                    let id = &outcome.account.account_id;
                    rows.push(outcome.row(
                        &catalog,
                        config,
                        summaries.get(id),
                        stats.get(id),
                        *day,
                        (&numeric, &categorical),
                    ));
                }
            }
        }
        Ok(Dataset {
            numeric_columns: numeric,
            categorical_columns: categorical,
            rows,
        })
    }

    /// Every account's contract events, company-wide in pages.
    async fn contract_histories(&self) -> Result<HashMap<String, ContractHistory>, Status> {
        let request = accounts_pb::ListContractEventsRequest {
            page_size: nordstern_runtime::paging::MAX_PAGE_SIZE,
            ..Default::default()
        };
        let events = nordstern_runtime::paging::all_pages(request, |request| {
            self.accounts.list_contract_events(Request::new(request))
        })
        .await?;
        let mut histories: HashMap<String, ContractHistory> = HashMap::new();
        for event in events {
            let Some(effective) = date_from_proto(event.effective_date.as_ref()) else {
                continue;
            };
            histories.entry(event.account_id).or_default().events.push((
                effective,
                event.arr_change.map_or(0, |m| m.minor_units),
                date_from_proto(event.renewal_date.as_ref()),
            ));
        }
        for history in histories.values_mut() {
            history.events.sort_by_key(|e| e.0);
        }
        Ok(histories)
    }

    /// Usage summaries of each (day, accounts) as of the end of the day, in one call.
    async fn usage_summaries_at(
        &self,
        queries: &[(NaiveDate, Vec<String>)],
    ) -> Result<Vec<HashMap<String, usage_pb::UsageSummary>>, Status> {
        let request = usage_pb::BatchGetUsageSummariesAtRequest {
            queries: queries
                .iter()
                .map(|(day, ids)| usage_pb::UsageSummariesAt {
                    as_of: end_of(*day).map(timestamp),
                    account_ids: ids.clone(),
                })
                .collect(),
        };
        let mut stream = self
            .usage
            .stream_usage_summaries_at(Request::new(request))
            .await?
            .into_inner();
        let mut results: Vec<HashMap<String, usage_pb::UsageSummary>> =
            vec![HashMap::new(); queries.len()];
        while let Some(message) = tokio_stream::StreamExt::next(&mut stream).await {
            let message = message?;
            let result = usize::try_from(message.query_index)
                .ok()
                .and_then(|index| results.get_mut(index))
                .ok_or_else(|| Status::internal("usage answered a query that was not asked"))?;
            result.extend(
                message
                    .summaries
                    .into_iter()
                    .map(|s| (s.account_id.clone(), s)),
            );
        }
        Ok(results)
    }

    /// Survey statistics of the 90 days up to the end of `day`, by account.
    async fn survey_stats_as_of(
        &self,
        ids: &[String],
        day: NaiveDate,
    ) -> Result<HashMap<String, survey_pb::SurveyStats>, Status> {
        let end = day + Duration::days(1);
        let stats = self
            .survey
            .batch_get_survey_stats(Request::new(survey_pb::BatchGetSurveyStatsRequest {
                account_ids: ids.to_vec(),
                window: Some(common::Period {
                    start_date: Some(date_to_proto(end - Duration::days(SURVEY_DAYS))),
                    end_date: Some(date_to_proto(end)),
                }),
            }))
            .await?
            .into_inner()
            .stats;
        Ok(ids.iter().cloned().zip(stats).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn usage_calls_keep_every_outcome_within_the_limits(
            days in proptest::collection::btree_map(0i64..400, 1usize..=MAX_BATCH, 0..40),
        ) {
            let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
            let due: Vec<(NaiveDate, Vec<()>)> = days
                .into_iter()
                .map(|(offset, count)| (start + Duration::days(offset), vec![(); count]))
                .collect();
            let calls = usage_calls(&due);
            prop_assert_eq!(calls.concat(), due.clone());
            for (index, call) in calls.iter().enumerate() {
                let accounts: usize = call.iter().map(|(_, o)| o.len()).sum();
                let span = call.last().map(|l| l.0) .zip(call.first().map(|f| f.0));
                prop_assert!(!call.is_empty() && accounts <= USAGE_CALL_ACCOUNTS);
                prop_assert!(span.is_some_and(|(last, first)| (last - first).num_days() <= USAGE_CALL_DAYS));
                // A call ends only where the next day's outcomes would not fit.
                if let (Some(next), Some(first)) = (calls.get(index + 1).and_then(|c| c.first()), call.first()) {
                    prop_assert!(
                        accounts + next.1.len() > USAGE_CALL_ACCOUNTS
                            || (next.0 - first.0).num_days() > USAGE_CALL_DAYS
                    );
                }
            }
        }
    }
}
