//! Held-out metrics: AUC (how well the model ranks churned above renewed accounts) and
//! Brier score (how close its probabilities are to what happened).

/// Area under the ROC curve: the probability that a random churned row scores above a
/// random renewed one, ties counting half (the Mann–Whitney U statistic with midranks).
/// Any monotone score works, so callers pass log-odds, which do not saturate the way
/// probabilities near 0 and 1 do. `None` when a class is absent or the lengths differ.
pub fn auc(scores: &[f64], churned: &[bool]) -> Option<f64> {
    if scores.len() != churned.len() {
        return None;
    }
    let positives = churned.iter().filter(|&&c| c).count();
    let negatives = churned.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]].total_cmp(&scores[order[start]]).is_eq() {
            end += 1;
        }
        // Ranks start..end (0-based) share their mean, 1-based.
        let midrank = (start + end + 1) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| churned[i]).count();
        positive_rank_sum += midrank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean squared difference between probability and outcome (1 churned, 0 renewed).
/// `None` without rows or when the lengths differ.
pub fn brier_score(probabilities: &[f64], churned: &[bool]) -> Option<f64> {
    if probabilities.is_empty() || probabilities.len() != churned.len() {
        return None;
    }
    let sum: f64 = probabilities
        .iter()
        .zip(churned)
        .map(|(p, &c)| (p - if c { 1.0 } else { 0.0 }).powi(2))
        .sum();
    Some(sum / probabilities.len() as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn auc_on_known_rankings() {
        let churned = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &churned), Some(1.0));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &churned), Some(0.0));
        assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &churned), Some(0.5));
        // Pairs (churned, renewed): (.35,.1) ✓ (.35,.4) ✗ (.8,.1) ✓ (.8,.4) ✓ → 3/4.
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &churned), Some(0.75));
        // Churned .5 and .9 against renewed .2 and .5: 1 + ½ + 1 + 1 of 4 pairs.
        assert_eq!(auc(&[0.2, 0.5, 0.5, 0.9], &churned), Some(0.875));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auc(&[0.1], &[true, false]), None);
    }

    #[test]
    fn brier_on_known_values() {
        assert_eq!(brier_score(&[1.0, 0.0], &[true, false]), Some(0.0));
        assert_eq!(brier_score(&[0.0, 1.0], &[true, false]), Some(1.0));
        // (0.2² + 0.4² + 0.5²) / 3 = 0.15
        let brier = brier_score(&[0.8, 0.4, 0.5], &[true, false, true]).unwrap();
        assert!((brier - 0.15).abs() < 1e-12);
        assert_eq!(brier_score(&[], &[]), None);
    }

    proptest! {
        #[test]
        fn auc_matches_counting_pairs(
            rows in proptest::collection::vec((0u8..6, any::<bool>()), 2..60),
        ) {
            let scores: Vec<f64> = rows.iter().map(|r| f64::from(r.0)).collect();
            let churned: Vec<bool> = rows.iter().map(|r| r.1).collect();
            let mut wins = 0.0;
            let mut pairs = 0.0;
            for (i, &ci) in churned.iter().enumerate() {
                for (j, &cj) in churned.iter().enumerate() {
                    if ci && !cj {
                        pairs += 1.0;
                        if scores[i] > scores[j] { wins += 1.0 } else if scores[i] == scores[j] { wins += 0.5 }
                    }
                }
            }
            let expected = (pairs > 0.0).then(|| wins / pairs);
            match (auc(&scores, &churned), expected) {
                (Some(a), Some(e)) => prop_assert!((a - e).abs() < 1e-12),
                (a, e) => prop_assert_eq!(a, e),
            }
        }
    }
}
