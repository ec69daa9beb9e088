//! Customer lifetime value: what an account is worth over its expected life.

use super::RevenueParams;

/// ARR × gross margin / annual churn probability, with the probability floored at
/// `churn_floor` so a near-zero risk does not give infinity. Rounded and saturating;
/// 0 when the divisor is not a positive number.
pub fn clv(arr: i64, gross_margin: f64, annual_churn_probability: f64, churn_floor: f64) -> i64 {
    let probability = annual_churn_probability.max(churn_floor);
    if probability.is_nan() || probability <= 0.0 {
        return 0;
    }
    // `as` saturates at the i64 bounds and maps NaN to 0.
    (arr as f64 * gross_margin / probability).round() as i64
}

/// The probability of churning within a year, from a rate observed over `period_days`:
/// `1 − (1 − rate)^(365 / days)`, so a quarter's churn is not mistaken for a year's.
pub(super) fn annualise(rate: f64, period_days: i64) -> f64 {
    let days = period_days.max(1) as f64;
    1.0 - (1.0 - rate.clamp(0.0, 1.0)).powf(365.0 / days)
}

/// Rounded mean CLV over the cohort's starting ARRs; 0 for an empty cohort.
pub(super) fn mean_clv(start_arrs: &[i64], params: &RevenueParams, annual_churn: f64) -> i64 {
    if start_arrs.is_empty() {
        return 0;
    }
    let total: i128 = start_arrs
        .iter()
        .map(|arr| {
            i128::from(clv(
                *arr,
                params.gross_margin,
                annual_churn,
                params.clv_churn_floor,
            ))
        })
        .sum();
    let n = start_arrs.len() as i128;
    // Round half away from zero, then clamp into i64.
    let mean = (2 * total + total.signum() * n) / (2 * n);
    mean.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
