//! Turns stored facts, the account (modules, CSM, segment) and its peers into the
//! `UsageSummary` a CSM reads; the arithmetic itself is in `nordstern_domain::usage`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use nordstern_domain::usage::{SortedPeers, feature_breadth, median, usage_trend};
use nordstern_proto::{accounts::v1 as accounts_pb, usage::v1 as pb};
use nordstern_runtime::wire::{date_to_proto, timestamp};

use crate::store::{AccountFacts, date_of_day, day_of};

/// Feature keys per product module, from the accounts service's catalog.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    pub module_features: HashMap<String, Vec<String>>,
}

impl Catalog {
    pub fn from_modules(modules: Vec<accounts_pb::ProductModule>) -> Self {
        Catalog {
            module_features: modules
                .into_iter()
                .map(|module| (module.module_key, module.feature_keys))
                .collect(),
        }
    }

    /// Whether any module of the catalog names this feature.
    pub fn names_feature(&self, feature_key: &str) -> bool {
        self.module_features
            .values()
            .any(|features| features.iter().any(|f| f == feature_key))
    }

    /// Purchased feature → the purchased module that contains it (the first by key).
    fn purchased_features(&self, module_keys: &[String]) -> HashMap<String, String> {
        let mut modules: Vec<&String> = module_keys.iter().collect();
        modules.sort();
        let mut features = HashMap::new();
        for module in modules {
            for feature in self.module_features.get(module).into_iter().flatten() {
                features
                    .entry(feature.clone())
                    .or_insert_with(|| module.clone());
            }
        }
        features
    }
}

/// Usage of the last 30 days of every account compared with, grouped by CSM portfolio
/// and by segment.
#[derive(Debug, Default)]
pub struct PeerGroups {
    by_csm: HashMap<String, SortedPeers>,
    by_segment: HashMap<i32, SortedPeers>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeerRank {
    pub portfolio_percentile: Option<f64>,
    pub portfolio_peer_count: i32,
    pub segment_percentile: Option<f64>,
    pub segment_peer_count: i32,
}

impl PeerGroups {
    /// `universe` are the accounts to compare with (each with its CSM and segment);
    /// `usage` gives an account's usage of the last 30 days.
    pub fn new(universe: &[accounts_pb::Account], usage: impl Fn(&str) -> i64) -> Self {
        let mut by_csm: HashMap<String, Vec<i64>> = HashMap::new();
        let mut by_segment: HashMap<i32, Vec<i64>> = HashMap::new();
        for account in universe {
            let value = usage(&account.account_id);
            if !account.csm_id.is_empty() {
                by_csm
                    .entry(account.csm_id.clone())
                    .or_default()
                    .push(value);
            }
            if account.segment != 0 {
                by_segment.entry(account.segment).or_default().push(value);
            }
        }
        PeerGroups {
            by_csm: by_csm
                .into_iter()
                .map(|(csm, values)| (csm, SortedPeers::new(values)))
                .collect(),
            by_segment: by_segment
                .into_iter()
                .map(|(segment, values)| (segment, SortedPeers::new(values)))
                .collect(),
        }
    }

    /// Where `account`, with `usage` in its last 30 days, stands among its peers.
    pub fn rank(&self, account: &accounts_pb::Account, usage: i64) -> PeerRank {
        let portfolio = (!account.csm_id.is_empty())
            .then(|| self.by_csm.get(&account.csm_id))
            .flatten();
        let segment = self.by_segment.get(&account.segment);
        let count = |peers: Option<&SortedPeers>| {
            peers.map_or(0, |p| i32::try_from(p.len()).unwrap_or(i32::MAX))
        };
        PeerRank {
            portfolio_percentile: portfolio.and_then(|peers| peers.percentile_rank(usage)),
            portfolio_peer_count: count(portfolio),
            segment_percentile: segment.and_then(|peers| peers.percentile_rank(usage)),
            segment_peer_count: count(segment),
        }
    }
}

fn clamp_i32(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub fn assemble(
    account: &accounts_pb::Account,
    catalog: &Catalog,
    facts: AccountFacts,
    rank: PeerRank,
    as_of: DateTime<Utc>,
) -> pb::UsageSummary {
    let window = |index: usize, days: i32| {
        let facts = facts.windows[index];
        pb::ActivityWindow {
            days,
            active_users: clamp_i32(facts.active_users),
            active_days: clamp_i32(facts.active_days),
            logins: facts.logins,
        }
    };
    let purchased = catalog.purchased_features(&account.module_keys);
    let mut used_purchased = BTreeSet::new();
    let mut features: Vec<pb::FeatureUsage> = Vec::new();
    for feature in &facts.features {
        let module_key = purchased
            .get(&feature.feature_key)
            .cloned()
            .unwrap_or_default();
        let used_recently = feature.uses_last_90_days > 0;
        if used_recently && !module_key.is_empty() {
            used_purchased.insert(feature.feature_key.clone());
        }
        // Purchased features are always listed; others only when used in 90 days.
        if used_recently || !module_key.is_empty() {
            features.push(pb::FeatureUsage {
                feature_key: feature.feature_key.clone(),
                module_key,
                uses_last_30_days: feature.uses_last_30_days,
                uses_last_90_days: feature.uses_last_90_days,
                users_last_30_days: clamp_i32(feature.users_last_30_days),
                last_used_on: feature
                    .last_used_day
                    .map(|day| date_to_proto(date_of_day(day))),
            });
        }
    }
    for (feature_key, module_key) in &purchased {
        if !features.iter().any(|f| &f.feature_key == feature_key) {
            features.push(pb::FeatureUsage {
                feature_key: feature_key.clone(),
                module_key: module_key.clone(),
                ..pb::FeatureUsage::default()
            });
        }
    }
    features.sort_by(|a, b| {
        b.uses_last_30_days
            .cmp(&a.uses_last_30_days)
            .then_with(|| a.feature_key.cmp(&b.feature_key))
    });

    let as_of_day = day_of(as_of.timestamp_micros());
    let trend = usage_trend(facts.usage_last_30_days, facts.usage_prior_90_days);
    let mut resolution = facts.resolution_micros;
    pb::UsageSummary {
        account_id: account.account_id.clone(),
        as_of: Some(timestamp(as_of)),
        last_7_days: Some(window(0, 7)),
        last_30_days: Some(window(1, 30)),
        last_90_days: Some(window(2, 90)),
        features,
        purchased_features_used: clamp_i32(used_purchased.len() as i64),
        purchased_features_total: clamp_i32(purchased.len() as i64),
        feature_breadth: feature_breadth(used_purchased.len(), purchased.len()),
        integration_live: facts.last_sync_day.is_some_and(|day| day > as_of_day - 7),
        last_integration_sync_on: facts
            .last_sync_day
            .map(|day| date_to_proto(date_of_day(day))),
        usage_last_30_days: facts.usage_last_30_days,
        usage_prior_monthly_average: trend.prior_monthly_average,
        usage_trend: trend.ratio,
        portfolio_percentile: rank.portfolio_percentile,
        portfolio_peer_count: rank.portfolio_peer_count,
        segment_percentile: rank.segment_percentile,
        segment_peer_count: rank.segment_peer_count,
        open_tickets: clamp_i32(facts.open_tickets),
        tickets_last_30_days: clamp_i32(facts.tickets_last_30_days),
        median_time_to_resolution: median(&mut resolution).map(|micros| prost_types::Duration {
            seconds: micros.div_euclid(1_000_000),
            nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
        }),
    }
}
