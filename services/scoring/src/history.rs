//! Churn-model features as of a past day, from what the services keep: ARR and the
//! renewal date from the contract events, usage from the daily rollups (a usage summary
//! as of the end of that day), surveys from the dated answers of the 90 days up to it.
//! So `TrainChurnModelFromHistory` learns from the platform's own history, with nothing
//! the platform could not have known on the cut-off day.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use nordstern_accounts::remote::batch_get_all_accounts;
use nordstern_domain::{
    account::Segment,
    churn::{
        Dataset, PLATFORM_CATEGORICAL_FEATURES, PLATFORM_NUMERIC_FEATURES, PlatformFeatures, Row,
        arr_in_major_units,
    },
    health::{self, HealthComponent, ScoringConfig},
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

        // Outcomes by cut-off day: one usage and one survey read per day, not per account.
        let mut by_day: BTreeMap<NaiveDate, Vec<(String, bool)>> = BTreeMap::new();
        for (id, date, churned) in outcomes {
            by_day
                .entry(date - Duration::days(cutoff_days))
                .or_default()
                .push((id, churned));
        }
        let numeric: Vec<String> = PLATFORM_NUMERIC_FEATURES.map(str::to_owned).to_vec();
        // The tier is a rank across the company on the day; it is not kept for past days.
        let categorical: Vec<String> = PLATFORM_CATEGORICAL_FEATURES
            .iter()
            .filter(|&&name| name == "segment")
            .map(|name| (*name).to_owned())
            .collect();
        let mut rows = Vec::new();
        for (day, due) in by_day {
            let live: Vec<(&accounts_pb::Account, i64, Option<NaiveDate>, bool)> = due
                .iter()
                .filter_map(|(id, churned)| {
                    let account = accounts.get(id)?;
                    let (arr, renewal) = contracts.get(id)?.as_of(day);
                    (arr > 0).then_some((account, arr, renewal, *churned))
                })
                .collect();
            for chunk in live.chunks(MAX_BATCH) {
                let ids: Vec<String> = chunk.iter().map(|(a, ..)| a.account_id.clone()).collect();
                let (summaries, stats) = self.facts_as_of(&ids, day).await?;
                for (account, arr, renewal, churned) in chunk {
                    let mut then = (*account).clone();
                    then.arr = Some(common::Money {
                        minor_units: *arr,
                        currency_code: String::new(),
                    });
                    then.renewal_date = renewal.map(date_to_proto);
                    let inputs = health_inputs(
                        &then,
                        &catalog,
                        summaries.get(&account.account_id),
                        stats.get(&account.account_id),
                        day,
                    );
                    let segment = Segment::from_i32(account.segment);
                    let weights = segment.map_or(config.segment_weights().default_weights(), |s| {
                        config.weights_for(s)
                    });
                    let breakdown = health::score(&inputs, weights, config.thresholds());
                    let mut features = PlatformFeatures {
                        arr: Some(arr_in_major_units(*arr, CURRENCY_DECIMALS)),
                        segment,
                        ..PlatformFeatures::default()
                    };
                    for component in HealthComponent::ALL {
                        features.set_component(
                            component.as_str(),
                            breakdown.component(component).value,
                        );
                    }
                    let values = features.feature_values();
                    rows.push(Row {
                        numeric: numeric
                            .iter()
                            .map(|name| values.numeric.get(name).copied().flatten())
                            .collect(),
                        categorical: categorical
                            .iter()
                            .map(|name| values.categorical.get(name).cloned().unwrap_or_default())
                            .collect(),
                        churned: *churned,
                    });
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

    /// Usage summaries as of the end of `day` and survey statistics of the 90 days up to
    /// it, by account.
    async fn facts_as_of(
        &self,
        ids: &[String],
        day: NaiveDate,
    ) -> Result<
        (
            HashMap<String, usage_pb::UsageSummary>,
            HashMap<String, survey_pb::SurveyStats>,
        ),
        Status,
    > {
        let end = day + Duration::days(1);
        let as_of = end.and_hms_opt(0, 0, 0).map(|t| timestamp(t.and_utc()));
        let (usage, surveys) = tokio::join!(
            self.usage.batch_get_usage_summaries(Request::new(
                usage_pb::BatchGetUsageSummariesRequest {
                    account_ids: ids.to_vec(),
                    as_of,
                }
            )),
            self.survey.batch_get_survey_stats(Request::new(
                survey_pb::BatchGetSurveyStatsRequest {
                    account_ids: ids.to_vec(),
                    window: Some(common::Period {
                        start_date: Some(date_to_proto(end - Duration::days(SURVEY_DAYS))),
                        end_date: Some(date_to_proto(end)),
                    }),
                }
            )),
        );
        let summaries = usage?
            .into_inner()
            .summaries
            .into_iter()
            .map(|s| (s.account_id.clone(), s))
            .collect();
        let stats = ids
            .iter()
            .cloned()
            .zip(surveys?.into_inner().stats)
            .collect();
        Ok((summaries, stats))
    }
}
