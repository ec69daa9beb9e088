//! The product catalog: modules and the feature keys usage events refer to.

use sea_orm::{ConnectionTrait, Value};

use super::{Store, execute, placeholders, query_all};
use crate::error::{AccountsError, AccountsResult};

#[derive(Debug, Clone, PartialEq)]
pub struct ProductModuleRow {
    pub module_key: String,
    pub name: String,
    pub feature_keys: Vec<String>,
    pub list_price_minor: i64,
    /// The module comes with an integration to set up.
    pub has_integration: bool,
}

impl Store {
    /// Creates or replaces a module; a feature key belongs to one module only, so feature
    /// breadth is never counted twice.
    pub async fn upsert_module(
        &self,
        module: ProductModuleRow,
    ) -> AccountsResult<ProductModuleRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        if !module.feature_keys.is_empty() {
            let sql = format!(
                "SELECT feature_key, module_key FROM product_features WHERE module_key <> $1 AND feature_key IN ({})",
                placeholders(2, module.feature_keys.len())
            );
            let mut values: Vec<Value> = vec![module.module_key.as_str().into()];
            values.extend(
                module
                    .feature_keys
                    .iter()
                    .map(|key| Value::from(key.as_str())),
            );
            if let Some(row) = query_all(db, &sql, values).await?.first() {
                let feature: String = row.try_get("", "feature_key")?;
                let owner: String = row.try_get("", "module_key")?;
                return Err(AccountsError::invalid(
                    "module.feature_keys",
                    format!("feature `{feature}` already belongs to module `{owner}`"),
                ));
            }
        }
        execute(
            db,
            "INSERT INTO product_modules (module_key, name, list_price_minor, has_integration) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (module_key) DO UPDATE SET name = excluded.name, list_price_minor = excluded.list_price_minor, \
             has_integration = excluded.has_integration",
            vec![
                module.module_key.as_str().into(),
                module.name.as_str().into(),
                module.list_price_minor.into(),
                module.has_integration.into(),
            ],
        )
        .await?;
        execute(
            db,
            "DELETE FROM product_features WHERE module_key = $1",
            vec![module.module_key.as_str().into()],
        )
        .await?;
        for feature_key in &module.feature_keys {
            execute(
                db,
                "INSERT INTO product_features (module_key, feature_key) VALUES ($1, $2)",
                vec![
                    module.module_key.as_str().into(),
                    feature_key.as_str().into(),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(module)
    }

    pub async fn list_modules(&self) -> AccountsResult<Vec<ProductModuleRow>> {
        let modules = query_all(
            self.db(),
            "SELECT module_key, name, list_price_minor, has_integration FROM product_modules ORDER BY module_key",
            Vec::new(),
        )
        .await?;
        let features = query_all(
            self.db(),
            "SELECT module_key, feature_key FROM product_features ORDER BY module_key, feature_key",
            Vec::new(),
        )
        .await?;
        let mut result = Vec::with_capacity(modules.len());
        for row in &modules {
            result.push(ProductModuleRow {
                module_key: row.try_get("", "module_key")?,
                name: row.try_get("", "name")?,
                feature_keys: Vec::new(),
                list_price_minor: row.try_get("", "list_price_minor")?,
                has_integration: row.try_get("", "has_integration")?,
            });
        }
        for row in &features {
            let module_key: String = row.try_get("", "module_key")?;
            if let Some(module) = result.iter_mut().find(|m| m.module_key == module_key) {
                module.feature_keys.push(row.try_get("", "feature_key")?);
            }
        }
        Ok(result)
    }
}

/// Every key must name a module of the catalog.
pub(super) async fn check_modules_exist(
    db: &impl ConnectionTrait,
    keys: &[String],
    field: &str,
) -> AccountsResult<()> {
    let known = known_modules(db, keys).await?;
    module_violations(keys, &known, field)
}

/// The keys among `keys` that name a module of the catalog.
pub(super) async fn known_modules(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<std::collections::HashSet<String>, sea_orm::DbErr> {
    let mut known = std::collections::HashSet::new();
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT module_key FROM product_modules WHERE module_key IN ({})",
            placeholders(1, chunk.len())
        );
        let values = chunk.iter().map(|key| Value::from(key.as_str())).collect();
        for row in query_all(db, &sql, values).await? {
            known.insert(row.try_get::<String>("", "module_key")?);
        }
    }
    Ok(known)
}

/// A violation for each key that is not among `known`.
pub(super) fn module_violations(
    keys: &[String],
    known: &std::collections::HashSet<String>,
    field: &str,
) -> AccountsResult<()> {
    let mut violations = nordstern_runtime::status::FieldViolations::new();
    for (index, key) in keys.iter().enumerate() {
        if !known.contains(key) {
            violations.add(
                format!("{field}[{index}]"),
                format!("module `{key}` is not in the product catalog"),
            );
        }
    }
    violations.into_result().map_err(AccountsError::from)
}
