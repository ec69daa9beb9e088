//! The accounts service: accounts, CSMs and their portfolios, the product catalog,
//! contract events and the revenue metrics derived from them.

mod convert;
pub mod error;
mod grpc;
pub mod remote;
mod role;
mod store;

use nordstern_domain::{lifecycle::LifecycleRules, revenue::RevenueParams, tiers::TierThresholds};
use nordstern_runtime::config::AccountsConfig;

pub use grpc::AccountsGrpc;
pub use nordstern_accounts_migration::Migrator;
pub use role::start;
pub use store::{Rules, Store};

/// Turns the validated configuration into the rules the store applies.
pub fn rules(config: &AccountsConfig) -> Result<Rules, String> {
    Ok(Rules {
        currency_code: config.currency_code.clone(),
        tiers: TierThresholds::new(config.tier_a_share, config.tier_b_share)?,
        lifecycle: LifecycleRules {
            onboarding_days: config.onboarding_days,
            adoption_days: config.adoption_days,
            renewal_due_days: config.renewal_due_days,
        },
        revenue: RevenueParams {
            gross_margin: config.gross_margin,
            clv_churn_floor: config.clv_churn_floor,
            quota_ratio: config.quota_ratio,
        },
    })
}
