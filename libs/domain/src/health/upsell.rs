//! Upsell opportunities (DESIGN.md §1): only green accounts that use most of what they
//! bought are offered more, so churn prevention always comes first.

use super::HealthColor;

/// Share of purchased features in use from which an account counts as having adopted
/// what it bought. Below it, the next conversation is about adoption, not a new module.
pub const UPSELL_MIN_FEATURE_BREADTH: f64 = 0.6;
/// Likelihood of the least qualified green account (score 0, breadth 0 in the formula).
const BASE_LIKELIHOOD: f64 = 0.05;
/// Added at score 100 and full adoption; the ceiling is BASE + SPAN = 0.6.
const LIKELIHOOD_SPAN: f64 = 0.55;

/// A module on sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogModule {
    pub key: String,
    /// Yearly list price in minor units.
    pub list_price_minor: i64,
    /// The module comes with an integration to set up.
    pub has_integration: bool,
}

/// Whether any of `module_keys` comes with an integration.
pub fn integration_offered(catalog: &[CatalogModule], module_keys: &[String]) -> bool {
    catalog
        .iter()
        .any(|module| module.has_integration && module_keys.contains(&module.key))
}

/// A module to suggest to one account.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsellCandidate {
    pub module_key: String,
    /// Estimated chance of purchase, within (0, 1).
    pub likelihood: f64,
    /// `list_price × likelihood`, rounded to a minor unit: the ranking key.
    pub expected_value_minor: i64,
    pub reason: String,
}

/// 0.05 + 0.55 × (score / 100) × feature breadth, within [0.05, 0.6].
///
/// A heuristic, not a calibrated probability: it rises with health and adoption, the two
/// things DESIGN.md names, and stays well below certainty because no purchase history
/// backs it. It orders modules and accounts; replace it with a fitted model once
/// upsell outcomes are recorded.
pub fn upsell_likelihood(score: f64, feature_breadth: f64) -> f64 {
    let score = if score.is_finite() {
        (score / 100.0).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let breadth = if feature_breadth.is_finite() {
        feature_breadth.clamp(0.0, 1.0)
    } else {
        0.0
    };
    BASE_LIKELIHOOD + LIKELIHOOD_SPAN * score * breadth
}

/// The catalog modules the account has not purchased, when the account is green and
/// uses at least [`UPSELL_MIN_FEATURE_BREADTH`] of its purchased features; ranked by
/// expected value, highest first, then by key. Modules without a positive list price
/// are left out (nothing to sell), and a key listed twice in the catalog counts once
/// (its first listing).
pub fn upsell_opportunities<S: AsRef<str>>(
    color: HealthColor,
    score: f64,
    feature_breadth: Option<f64>,
    purchased_module_keys: &[S],
    catalog: &[CatalogModule],
) -> Vec<UpsellCandidate> {
    let Some(breadth) = feature_breadth.filter(|b| b.is_finite()) else {
        return Vec::new();
    };
    if color != HealthColor::Green || breadth < UPSELL_MIN_FEATURE_BREADTH {
        return Vec::new();
    }
    let likelihood = upsell_likelihood(score, breadth);
    let reason = format!(
        "green account using {:.0} % of its purchased features",
        100.0 * breadth.min(1.0)
    );
    let mut candidates: Vec<UpsellCandidate> = Vec::new();
    for module in catalog {
        let purchased = purchased_module_keys
            .iter()
            .any(|key| key.as_ref() == module.key);
        let listed = candidates.iter().any(|c| c.module_key == module.key);
        if purchased || listed || module.list_price_minor <= 0 {
            continue;
        }
        candidates.push(UpsellCandidate {
            module_key: module.key.clone(),
            likelihood,
            expected_value_minor: expected_value(module.list_price_minor, likelihood),
            reason: reason.clone(),
        });
    }
    candidates.sort_by(|a, b| {
        b.expected_value_minor
            .cmp(&a.expected_value_minor)
            .then_with(|| a.module_key.cmp(&b.module_key))
    });
    candidates
}

/// Rounded `price × likelihood`. The product is at most the price (likelihood < 1), so
/// it cannot overflow; the float is exact to the minor unit for prices below 2^53, far
/// beyond any list price, and `as` saturates rather than wraps beyond that.
fn expected_value(price_minor: i64, likelihood: f64) -> i64 {
    (price_minor as f64 * likelihood).round() as i64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn module(key: &str, list_price_minor: i64) -> CatalogModule {
        CatalogModule {
            key: key.to_owned(),
            list_price_minor,
            has_integration: false,
        }
    }

    fn catalog() -> Vec<CatalogModule> {
        vec![
            module("analytics", 1_000_000),
            module("automation", 2_000_000),
            module("api", 1_000_000),
            module("core", 5_000_000),
        ]
    }

    #[test]
    fn likelihood_anchors() {
        assert!((upsell_likelihood(0.0, 0.0) - 0.05).abs() < 1e-12);
        assert!((upsell_likelihood(100.0, 1.0) - 0.6).abs() < 1e-12);
        assert!((upsell_likelihood(70.0, 0.6) - (0.05 + 0.55 * 0.42)).abs() < 1e-12);
        assert!((upsell_likelihood(f64::NAN, 1.0) - 0.05).abs() < 1e-12);
        assert!((upsell_likelihood(500.0, 2.0) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn green_and_adopted_accounts_get_unpurchased_modules_ranked() {
        let found =
            upsell_opportunities(HealthColor::Green, 80.0, Some(0.75), &["core"], &catalog());
        let keys: Vec<&str> = found.iter().map(|c| c.module_key.as_str()).collect();
        // Equal expected values fall back to the key.
        assert_eq!(keys, ["automation", "analytics", "api"]);
        let likelihood = 0.05 + 0.55 * 0.8 * 0.75;
        for candidate in &found {
            assert!((candidate.likelihood - likelihood).abs() < 1e-12);
            assert_eq!(
                candidate.reason,
                "green account using 75 % of its purchased features"
            );
        }
        assert_eq!(
            found[0].expected_value_minor,
            (2_000_000.0 * likelihood).round() as i64
        );
        assert_eq!(found[0].expected_value_minor, 760_000);
    }

    #[test]
    fn nothing_unless_green_and_adopted() {
        let none: &[&str] = &[];
        for color in [HealthColor::Yellow, HealthColor::Red] {
            assert_eq!(
                upsell_opportunities(color, 100.0, Some(1.0), none, &catalog()),
                []
            );
        }
        assert_eq!(
            upsell_opportunities(HealthColor::Green, 90.0, Some(0.59), none, &catalog()),
            []
        );
        assert_eq!(
            upsell_opportunities(HealthColor::Green, 90.0, None, none, &catalog()),
            []
        );
        assert_eq!(
            upsell_opportunities(HealthColor::Green, 90.0, Some(f64::NAN), none, &catalog()),
            []
        );
        assert_eq!(
            upsell_opportunities(HealthColor::Green, 90.0, Some(0.6), none, &catalog()).len(),
            4
        );
    }

    #[test]
    fn free_duplicate_and_purchased_modules_are_left_out() {
        let catalog = vec![
            module("free", 0),
            module("odd", -5),
            module("pro", 100),
            module("pro", 900),
            module("owned", 1_000),
        ];
        let found = upsell_opportunities(
            HealthColor::Green,
            100.0,
            Some(1.0),
            &["owned".to_owned()],
            &catalog,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].module_key, "pro");
        assert_eq!(found[0].expected_value_minor, 60);
    }

    #[test]
    fn huge_prices_do_not_overflow() {
        let catalog = vec![module("max", i64::MAX)];
        let none: &[&str] = &[];
        let found = upsell_opportunities(HealthColor::Green, 100.0, Some(1.0), none, &catalog);
        assert!(found[0].expected_value_minor > 0);
        assert!(found[0].expected_value_minor < i64::MAX);
    }

    proptest! {
        #[test]
        fn never_for_yellow_or_red(
            red in any::<bool>(),
            score in -10.0f64..200.0,
            breadth in prop::option::of(0.0f64..1.5),
        ) {
            let color = if red { HealthColor::Red } else { HealthColor::Yellow };
            let none: &[&str] = &[];
            prop_assert!(upsell_opportunities(color, score, breadth, none, &catalog()).is_empty());
        }

        #[test]
        fn likelihood_is_a_probability_rising_with_score_and_breadth(
            score in 0.0f64..100.0,
            breadth in 0.0f64..1.0,
            more in 0.0f64..50.0,
        ) {
            let base = upsell_likelihood(score, breadth);
            prop_assert!(base > 0.0 && base < 1.0);
            prop_assert!(upsell_likelihood(score + more, breadth) >= base);
            prop_assert!(upsell_likelihood(score, breadth + more / 50.0) >= base);
        }

        #[test]
        fn ranked_by_expected_value_then_key(
            prices in prop::collection::vec(1i64..10_000_000, 0..12),
            score in 70.0f64..100.0,
            breadth in 0.6f64..1.0,
        ) {
            let catalog: Vec<CatalogModule> = prices
                .iter()
                .enumerate()
                .map(|(i, &price)| module(&format!("m{:02}", i), price))
                .collect();
            let none: &[&str] = &[];
            let found = upsell_opportunities(HealthColor::Green, score, Some(breadth), none, &catalog);
            prop_assert_eq!(found.len(), catalog.len());
            for pair in found.windows(2) {
                prop_assert!(
                    pair[0].expected_value_minor > pair[1].expected_value_minor
                        || (pair[0].expected_value_minor == pair[1].expected_value_minor
                            && pair[0].module_key < pair[1].module_key)
                );
            }
            for candidate in &found {
                prop_assert!(candidate.expected_value_minor >= 0);
            }
        }
    }
}
