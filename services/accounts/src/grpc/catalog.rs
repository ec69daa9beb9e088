//! The product catalog.

use nordstern_domain::validate;
use nordstern_proto::accounts::v1::{self as pb};
use nordstern_runtime::status::FieldViolations;
use tonic::{Request, Response};

use crate::{convert::*, store::ProductModuleRow};

use super::*;

pub(super) async fn upsert_product_module(
    grpc: &AccountsGrpc,
    request: Request<pb::UpsertProductModuleRequest>,
) -> GrpcResult<pb::UpsertProductModuleResponse> {
    let module = request.into_inner().module.unwrap_or_default();
    let mut v = FieldViolations::new();
    let module_key = v.check(
        "module.module_key",
        validate::module_key(&module.module_key),
    );
    let name = v.check("module.name", validate::account_name(&module.name));
    let mut feature_keys = Vec::new();
    for (index, key) in module.feature_keys.iter().enumerate() {
        if let Some(key) = v.check(
            &format!("module.feature_keys[{index}]"),
            validate::feature_key(key),
        ) && !feature_keys.contains(&key)
        {
            feature_keys.push(key);
        }
    }
    let list_price = amount(
        &mut v,
        "module.list_price",
        module.list_price.as_ref(),
        grpc.currency(),
    )
    .unwrap_or(0);
    if list_price < 0 {
        v.add("module.list_price.minor_units", "must not be negative");
    }
    let (Some(module_key), Some(name)) = (module_key, name) else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let row = grpc
        .store
        .upsert_module(ProductModuleRow {
            module_key,
            name,
            feature_keys,
            list_price_minor: list_price,
            has_integration: module.has_integration,
        })
        .await?;
    Ok(Response::new(pb::UpsertProductModuleResponse {
        module: Some(grpc.module_to_proto(row)),
    }))
}

pub(super) async fn list_product_modules(
    grpc: &AccountsGrpc,
    _request: Request<pb::ListProductModulesRequest>,
) -> GrpcResult<pb::ListProductModulesResponse> {
    let modules = grpc.store.list_modules().await?;
    Ok(Response::new(pb::ListProductModulesResponse {
        modules: modules
            .into_iter()
            .map(|m| grpc.module_to_proto(m))
            .collect(),
    }))
}
