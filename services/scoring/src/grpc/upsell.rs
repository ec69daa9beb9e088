//! Upsell opportunities.

use nordstern_proto::scoring::v1::{self as pb};
use nordstern_runtime::paging::{page, page_size_of};
use nordstern_runtime::{status::FieldViolations, wire::optional_id};
use tonic::{Request, Response, Status};

use super::*;
use crate::{convert::*, store::OpportunityRow};

pub(super) fn opportunity_to_proto(row: OpportunityRow) -> pb::UpsellOpportunity {
    pb::UpsellOpportunity {
        account_id: row.account_id,
        csm_id: row.csm_id,
        module_key: row.module_key,
        list_price: optional_money(row.list_price_minor, &row.currency_code),
        likelihood: row.likelihood,
        expected_value: optional_money(row.expected_value_minor, &row.currency_code),
        reason: row.reason,
    }
}

pub(super) async fn list_upsell_opportunities(
    grpc: &ScoringGrpc,
    request: Request<pb::ListUpsellOpportunitiesRequest>,
) -> Result<Response<pb::ListUpsellOpportunitiesResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
    let account_id = optional_id(&mut v, "account_id", &request.account_id);
    let after = Cursor::decode::<3>(&mut v, &request.page_token)
        .and_then(|[value, id, module]| Some((number(&mut v, &value)?, id, module)));
    v.into_result()?;
    let rows = grpc
        .scoring
        .store
        .opportunities(csm_id.as_deref(), account_id.as_deref(), after, limit + 1)
        .await
        .map_err(crate::db_error)?;
    let (rows, next_page_token) = page(rows, limit, |o| {
        Cursor::encode(&[
            o.expected_value_minor.to_string(),
            o.account_id.clone(),
            o.module_key.clone(),
        ])
    });
    Ok(Response::new(pb::ListUpsellOpportunitiesResponse {
        opportunities: rows.into_iter().map(opportunity_to_proto).collect(),
        next_page_token,
    }))
}
