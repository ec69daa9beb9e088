//! Tiers and balanced portfolios.

use nordstern_proto::accounts::v1::{self as pb};
use tonic::{Request, Response};

use crate::convert::*;
use crate::store::BalanceScope;

use super::*;

pub(super) async fn get_tier_summary(
    grpc: &AccountsGrpc,
    _request: Request<pb::GetTierSummaryRequest>,
) -> GrpcResult<pb::GetTierSummaryResponse> {
    let totals = grpc.store.tier_totals().await?;
    Ok(Response::new(pb::GetTierSummaryResponse {
        tiers: totals
            .into_iter()
            .map(|total| pb::TierTotals {
                tier: Tier::to_proto(total.tier) as i32,
                account_count: i32::try_from(total.account_count).unwrap_or(i32::MAX),
                arr: Some(money(total.arr_minor, grpc.currency())),
            })
            .collect(),
        tier_a_share: grpc.store.rules.tiers.a_share,
        tier_b_share: grpc.store.rules.tiers.b_share,
    }))
}

pub(super) async fn plan_portfolio_balance(
    grpc: &AccountsGrpc,
    request: Request<pb::PlanPortfolioBalanceRequest>,
) -> GrpcResult<pb::PlanPortfolioBalanceResponse> {
    let r = request.into_inner();
    let scope = balance_scope(&r.csm_ids, r.sticky, r.include_unassigned, r.whole_company)?;
    let balance = grpc.store.plan_balance(&scope).await?;
    Ok(Response::new(pb::PlanPortfolioBalanceResponse {
        plan: Some(grpc.plan_to_proto(&balance)),
    }))
}

pub(super) async fn apply_portfolio_balance(
    grpc: &AccountsGrpc,
    request: Request<pb::ApplyPortfolioBalanceRequest>,
) -> GrpcResult<pb::ApplyPortfolioBalanceResponse> {
    let r = request.into_inner();
    let scope = balance_scope(&r.csm_ids, r.sticky, r.include_unassigned, r.whole_company)?;
    let balance = grpc.store.apply_balance(&scope).await?;
    Ok(Response::new(pb::ApplyPortfolioBalanceResponse {
        plan: Some(grpc.plan_to_proto(&balance)),
    }))
}

/// The scope of a plan or an apply, which share their fields.
fn balance_scope(
    csm_ids: &[String],
    sticky: bool,
    include_unassigned: bool,
    whole_company: bool,
) -> Result<BalanceScope, FieldViolations> {
    Ok(BalanceScope {
        csm_ids: csm_id_list(csm_ids)?,
        sticky,
        include_unassigned,
        whole_company,
    })
}
