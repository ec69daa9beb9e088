//! The customer 360 and portfolio views: every backend called in parallel under one
//! [`Budget`], each answer placed in its section, failures named in `missing_sections`.

use nordstern_domain::account::Tier;
use nordstern_runtime::bridge::ProtoEnum;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Days, NaiveDate, Utc};
use nordstern_accounts::remote::AccountsApi;
use nordstern_domain::portfolio::{RiskKey, arr_at_risk, risk_order, tier_mix};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1::{self as common, scope},
    gateway::v1::{self as pb, Section},
    scoring::v1 as scoring_pb,
    survey::v1 as survey_pb,
    usage::v1 as usage_pb,
};
use nordstern_runtime::{
    paging::{MAX_PAGE_SIZE, all_pages},
    wire::{MAX_BATCH, date_to_proto},
};
use nordstern_scoring::remote::ScoringApi;
use nordstern_survey::remote::SurveyApi;
use nordstern_usage::remote::UsageApi;
use tonic::{Code, Status};

use crate::fanout::{Budget, Missing};

/// Contract events in the 360.
const CONTRACT_EVENTS: usize = 50;
/// Survey comments in the 360.
const LATEST_COMMENTS: usize = 5;

/// The other four services, in-process or remote.
#[derive(Clone)]
pub struct Backends {
    pub accounts: AccountsApi,
    pub usage: UsageApi,
    pub survey: SurveyApi,
    pub scoring: ScoringApi,
}

impl Backends {
    pub async fn customer360(
        &self,
        account_id: &str,
        budget: &Budget,
    ) -> Result<pb::GetCustomer360Response, Status> {
        let today = Utc::now().date_naive();
        let last_90_days = period(days_before(today, 89), tomorrow(today));
        let last_12_months = period(days_before(today, 364), tomorrow(today));
        let id = || account_id.to_owned();

        let account_and_csm = async {
            let account = budget
                .run(self.accounts.get_account(
                    budget.request(accounts_pb::GetAccountRequest { account_id: id() }),
                ))
                .await?
                .into_inner()
                .account
                .unwrap_or_default();
            let csm = if account.csm_id.is_empty() {
                Ok(None)
            } else {
                budget
                    .run(
                        self.accounts
                            .get_csm(budget.request(accounts_pb::GetCsmRequest {
                                csm_id: account.csm_id.clone(),
                            })),
                    )
                    .await
                    .map(|response| response.into_inner().csm)
            };
            Ok::<_, Status>((account, csm))
        };
        let contract_events = budget.run(self.contract_events(account_id, budget));
        let revenue = budget.run(async {
            let request = accounts_pb::GetRevenueMetricsRequest {
                scope: Some(account_scope(account_id)),
                period: Some(last_12_months),
            };
            let response = self
                .accounts
                .get_revenue_metrics(budget.request(request))
                .await?;
            Ok(response.into_inner().metrics)
        });
        let health = budget.run(async {
            let request = scoring_pb::GetHealthScoreRequest { account_id: id() };
            match self.scoring.get_health_score(budget.request(request)).await {
                Ok(response) => Ok(response.into_inner().health_score),
                // Scoring has no score for a churned account: the section is empty, not
                // missing (the account itself was found, or the view fails NOT_FOUND).
                Err(status) if status.code() == Code::NotFound => Ok(None),
                Err(status) => Err(status),
            }
        });
        let health_history = budget.run(self.health_history(account_id, last_90_days, budget));
        let usage = budget.run(async {
            let request = usage_pb::GetUsageSummaryRequest {
                account_id: id(),
                as_of: None,
            };
            let response = self
                .usage
                .get_usage_summary(budget.request(request))
                .await?;
            Ok(response.into_inner().summary)
        });
        let usage_series = budget.run(async {
            let request = usage_pb::GetUsageTimeseriesRequest {
                account_id: id(),
                metric: usage_pb::UsageMetric::ActiveUsers as i32,
                granularity: usage_pb::Granularity::Day as i32,
                period: Some(last_90_days),
                feature_key: String::new(),
            };
            let response = self
                .usage
                .get_usage_timeseries(budget.request(request))
                .await?;
            Ok(response.into_inner().points)
        });
        let survey_stats = budget.run(async {
            let request = survey_pb::GetSurveyStatsRequest {
                scope: Some(account_scope(account_id)),
                window: Some(last_90_days),
            };
            let response = self
                .survey
                .get_survey_stats(budget.request(request))
                .await?;
            Ok(response.into_inner().stats)
        });
        let latest_comments = budget.run(self.latest_comments(account_id, budget));
        let open_alerts = budget.run(self.open_alerts(id(), String::new(), budget));
        let upsell = budget.run(self.upsell(id(), String::new(), budget));

        let (
            account_and_csm,
            contract_events,
            revenue,
            health,
            health_history,
            usage,
            usage_series,
            survey_stats,
            latest_comments,
            open_alerts,
            upsell,
        ) = tokio::join!(
            account_and_csm,
            contract_events,
            revenue,
            health,
            health_history,
            usage,
            usage_series,
            survey_stats,
            latest_comments,
            open_alerts,
            upsell
        );

        let mut missing = Missing::default();
        let (account, csm) = match account_and_csm {
            Err(status) if status.code() == Code::NotFound => return Err(status),
            Err(status) => {
                missing.take::<()>(Section::Account, Err(status));
                missing.mark(Section::Csm);
                (None, None)
            }
            Ok((account, csm)) => (Some(account), missing.take(Section::Csm, csm).flatten()),
        };
        Ok(pb::GetCustomer360Response {
            account,
            csm,
            contract_events: missing
                .take(Section::ContractHistory, contract_events)
                .unwrap_or_default(),
            revenue: missing.take(Section::Revenue, revenue).flatten(),
            health: missing.take(Section::Health, health).flatten(),
            health_history: missing
                .take(Section::HealthHistory, health_history)
                .unwrap_or_default(),
            usage: missing.take(Section::UsageSummary, usage).flatten(),
            usage_series: missing
                .take(Section::UsageSeries, usage_series)
                .unwrap_or_default(),
            survey_stats: missing.take(Section::SurveyStats, survey_stats).flatten(),
            latest_comments: missing
                .take(Section::SurveyResponses, latest_comments)
                .unwrap_or_default(),
            open_alerts: missing
                .take(Section::Alerts, open_alerts)
                .unwrap_or_default(),
            upsell_opportunities: missing.take(Section::Upsell, upsell).unwrap_or_default(),
            missing_sections: missing.into_wire(),
        })
    }

    pub async fn portfolio(
        &self,
        csm_id: &str,
        revenue_period: common::Period,
        budget: &Budget,
    ) -> Result<pb::GetPortfolioResponse, Status> {
        let csm = budget.run(async {
            let request = accounts_pb::GetCsmRequest {
                csm_id: csm_id.to_owned(),
            };
            Ok(self
                .accounts
                .get_csm(budget.request(request))
                .await?
                .into_inner()
                .csm)
        });
        let accounts_and_scores = async {
            let accounts = budget.run(self.csm_accounts(csm_id, budget)).await?;
            let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
            let scores = budget.run(self.health_scores(&ids, budget)).await;
            Ok::<_, Status>((accounts, scores))
        };
        let revenue = budget.run(async {
            let request = accounts_pb::GetRevenueMetricsRequest {
                scope: Some(common::Scope {
                    scope: Some(scope::Scope::CsmId(csm_id.to_owned())),
                }),
                period: Some(revenue_period),
            };
            let response = self
                .accounts
                .get_revenue_metrics(budget.request(request))
                .await?;
            Ok(response.into_inner().metrics)
        });
        let alerts = budget.run(self.open_alerts(String::new(), csm_id.to_owned(), budget));
        let upsell = budget.run(self.upsell(String::new(), csm_id.to_owned(), budget));
        let (csm, accounts_and_scores, revenue, alerts, upsell) =
            tokio::join!(csm, accounts_and_scores, revenue, alerts, upsell);

        let mut missing = Missing::default();
        let csm = match csm {
            Err(status) if status.code() == Code::NotFound => return Err(status),
            other => missing.take(Section::Csm, other).flatten(),
        };
        let (accounts, scores) = match accounts_and_scores {
            Ok((accounts, scores)) => (Some(accounts), missing.take(Section::Health, scores)),
            Err(status) => {
                missing.take::<()>(Section::PortfolioAccounts, Err(status));
                missing.mark(Section::TierMix);
                (None, None)
            }
        };
        let alerts = missing.take(Section::Alerts, alerts);
        let upsell = missing.take(Section::Upsell, upsell).unwrap_or_default();
        let revenue = missing.take(Section::Revenue, revenue).flatten();

        let accounts_known = accounts.is_some();
        let accounts = accounts.unwrap_or_default();
        let owned: HashSet<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
        // Alerts and opportunities carry the CSM of the moment they were computed; once
        // the account list is known, only this portfolio's current accounts count.
        let owned_now = |account_id: &str| !accounts_known || owned.contains(account_id);
        let alerts: Vec<scoring_pb::Alert> = alerts
            .unwrap_or_default()
            .into_iter()
            .filter(|alert| owned_now(&alert.account_id))
            .collect();
        let upsell: Vec<scoring_pb::UpsellOpportunity> = upsell
            .into_iter()
            .filter(|opportunity| owned_now(&opportunity.account_id))
            .collect();

        let scores: HashMap<String, scoring_pb::HealthScore> = scores
            .unwrap_or_default()
            .into_iter()
            .map(|score| (score.account_id.clone(), score))
            .collect();
        let mut alerts_per_account: HashMap<&str, i32> = HashMap::new();
        let mut alerts_per_type: BTreeMap<i32, i32> = BTreeMap::new();
        for alert in &alerts {
            *alerts_per_account.entry(&alert.account_id).or_default() += 1;
            *alerts_per_type.entry(alert.alert_type).or_default() += 1;
        }
        let mut rows: Vec<pb::PortfolioAccount> = accounts
            .iter()
            .map(|account| {
                let open_alerts = alerts_per_account
                    .get(account.account_id.as_str())
                    .copied()
                    .unwrap_or_default();
                portfolio_row(account, scores.get(&account.account_id), open_alerts)
            })
            .collect();
        rows.sort_by(|a, b| risk_order(&risk_key(a), &risk_key(b)));

        let tiers = tier_mix(accounts.iter().map(|account| {
            (
                Tier::from_i32(account.tier),
                minor_units(account.arr.as_ref()),
            )
        }));
        let currency = accounts
            .iter()
            .find_map(|a| a.arr.as_ref().map(|m| m.currency_code.clone()))
            .unwrap_or_default();
        let tier_mix = if !accounts_known {
            Vec::new()
        } else {
            [common::Tier::A, common::Tier::B, common::Tier::C]
                .into_iter()
                .zip(tiers)
                .map(|(tier, total)| accounts_pb::TierTotals {
                    tier: tier as i32,
                    account_count: total.account_count as i32,
                    arr: Some(common::Money {
                        minor_units: total.arr_minor,
                        currency_code: currency.clone(),
                    }),
                })
                .collect()
        };

        Ok(pb::GetPortfolioResponse {
            csm,
            accounts: rows,
            upsell_opportunities: upsell,
            tier_mix,
            revenue,
            open_alert_total: alerts.len() as i32,
            open_alert_counts: alerts_per_type
                .into_iter()
                .map(|(alert_type, count)| pb::AlertCount { alert_type, count })
                .collect(),
            missing_sections: missing.into_wire(),
        })
    }

    /// The newest contract events, newest first (the listing is in recording order).
    async fn contract_events(
        &self,
        account_id: &str,
        budget: &Budget,
    ) -> Result<Vec<accounts_pb::ContractEvent>, Status> {
        let request = accounts_pb::ListContractEventsRequest {
            account_id: account_id.to_owned(),
            page_size: MAX_PAGE_SIZE,
            ..Default::default()
        };
        let mut events = all_pages(request, |request| {
            self.accounts.list_contract_events(budget.request(request))
        })
        .await?;
        events.reverse();
        events.truncate(CONTRACT_EVENTS);
        Ok(events)
    }

    async fn health_history(
        &self,
        account_id: &str,
        period: common::Period,
        budget: &Budget,
    ) -> Result<Vec<scoring_pb::HealthScoreHistoryEntry>, Status> {
        let request = scoring_pb::ListHealthScoreHistoryRequest {
            account_id: account_id.to_owned(),
            page_size: MAX_PAGE_SIZE,
            page_token: String::new(),
            period: Some(period),
        };
        all_pages(request, |request| {
            self.scoring
                .list_health_score_history(budget.request(request))
        })
        .await
    }

    /// The latest responses with a comment, newest first.
    async fn latest_comments(
        &self,
        account_id: &str,
        budget: &Budget,
    ) -> Result<Vec<survey_pb::SurveyResponse>, Status> {
        let request = survey_pb::ListResponsesRequest {
            account_id: account_id.to_owned(),
            with_comment_only: true,
            page_size: MAX_PAGE_SIZE,
            ..Default::default()
        };
        let mut responses = all_pages(request, |request| {
            self.survey.list_responses(budget.request(request))
        })
        .await?;
        responses.sort_by(|a, b| {
            let key = |r: &survey_pb::SurveyResponse| {
                r.responded_at.as_ref().map(|t| (t.seconds, t.nanos))
            };
            key(b)
                .cmp(&key(a))
                .then_with(|| b.response_id.cmp(&a.response_id))
        });
        responses.truncate(LATEST_COMMENTS);
        Ok(responses)
    }

    /// Open and acknowledged alerts of an account or a CSM, newest first.
    async fn open_alerts(
        &self,
        account_id: String,
        csm_id: String,
        budget: &Budget,
    ) -> Result<Vec<scoring_pb::Alert>, Status> {
        let request = scoring_pb::ListAlertsRequest {
            page_size: MAX_PAGE_SIZE,
            account_id,
            csm_id,
            ..Default::default()
        };
        all_pages(request, |request| {
            self.scoring.list_alerts(budget.request(request))
        })
        .await
    }

    /// Upsell opportunities of an account or a CSM, by expected value.
    async fn upsell(
        &self,
        account_id: String,
        csm_id: String,
        budget: &Budget,
    ) -> Result<Vec<scoring_pb::UpsellOpportunity>, Status> {
        let request = scoring_pb::ListUpsellOpportunitiesRequest {
            page_size: MAX_PAGE_SIZE,
            page_token: String::new(),
            csm_id,
            account_id,
        };
        all_pages(request, |request| {
            self.scoring
                .list_upsell_opportunities(budget.request(request))
        })
        .await
    }

    async fn csm_accounts(
        &self,
        csm_id: &str,
        budget: &Budget,
    ) -> Result<Vec<accounts_pb::Account>, Status> {
        let request = accounts_pb::ListAccountsRequest {
            page_size: MAX_PAGE_SIZE,
            csm_id: csm_id.to_owned(),
            ..Default::default()
        };
        all_pages(request, |request| {
            self.accounts.list_accounts(budget.request(request))
        })
        .await
    }

    /// Scores of `ids`, in batches, in parallel.
    async fn health_scores(
        &self,
        ids: &[String],
        budget: &Budget,
    ) -> Result<Vec<scoring_pb::HealthScore>, Status> {
        let batches = ids.chunks(MAX_BATCH).map(|chunk| async move {
            let request = scoring_pb::BatchGetHealthScoresRequest {
                account_ids: chunk.to_vec(),
            };
            let response = self
                .scoring
                .batch_get_health_scores(budget.request(request))
                .await?;
            Ok::<_, Status>(response.into_inner().health_scores)
        });
        let mut scores = Vec::with_capacity(ids.len());
        for batch in futures::future::try_join_all(batches).await? {
            scores.extend(batch);
        }
        Ok(scores)
    }
}

/// A listing request whose pages are followed by `page_token`, and its response.
fn portfolio_row(
    account: &accounts_pb::Account,
    score: Option<&scoring_pb::HealthScore>,
    open_alert_count: i32,
) -> pb::PortfolioAccount {
    let churn_probability = score.and_then(|s| s.churn.as_ref()).map(|c| c.probability);
    let arr = minor_units(account.arr.as_ref());
    let currency_code = account
        .arr
        .as_ref()
        .map(|m| m.currency_code.clone())
        .unwrap_or_default();
    pb::PortfolioAccount {
        account_id: account.account_id.clone(),
        name: account.name.clone(),
        arr: account.arr.clone(),
        tier: account.tier,
        lifecycle_stage: account.lifecycle_stage,
        renewal_date: account.renewal_date,
        color: score.map_or(0, |s| s.color),
        health_score: score.map(|s| s.score),
        churn_probability,
        arr_at_risk: Some(common::Money {
            minor_units: churn_probability.map_or(0, |p| arr_at_risk(arr, p)),
            currency_code,
        }),
        open_alert_count,
        segment: account.segment,
    }
}

fn risk_key(row: &pb::PortfolioAccount) -> RiskKey<'_> {
    RiskKey {
        account_id: &row.account_id,
        arr_minor: minor_units(row.arr.as_ref()),
        churn_probability: row.churn_probability,
    }
}

fn minor_units(money: Option<&common::Money>) -> i64 {
    money.map_or(0, |m| m.minor_units)
}

fn account_scope(account_id: &str) -> common::Scope {
    common::Scope {
        scope: Some(scope::Scope::AccountId(account_id.to_owned())),
    }
}

pub(crate) fn period(start: NaiveDate, end: NaiveDate) -> common::Period {
    common::Period {
        start_date: Some(date_to_proto(start)),
        end_date: Some(date_to_proto(end)),
    }
}

fn days_before(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(days)).unwrap_or(day)
}

fn tomorrow(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

/// The calendar year to date, the default period of the portfolio's revenue and quota.
pub fn year_to_date(today: NaiveDate) -> common::Period {
    let start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    period(start, tomorrow(today))
}
