//! Between protobuf messages and the domain: parsing with field-level violations on the
//! way in, plain mapping on the way out.

use nordstern_proto::common::v1 as common;
use nordstern_runtime::status::FieldViolations;

pub use nordstern_runtime::wire::money;

/// An amount in the service's currency.
pub fn amount(
    violations: &mut FieldViolations,
    field: &str,
    money: Option<&common::Money>,
    currency_code: &str,
) -> Option<i64> {
    let money = money?;
    if money.currency_code != currency_code {
        violations.add(
            format!("{field}.currency_code"),
            format!("must be {currency_code}, the currency contract values are kept in"),
        );
        return None;
    }
    Some(money.minor_units)
}
