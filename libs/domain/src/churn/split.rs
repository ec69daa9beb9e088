//! The stratified held-out split: each label keeps its share in both sets, so a rare
//! churn class still appears in the held-out rows that AUC and Brier score are computed
//! on.

use super::TrainError;

/// Row indices of the two sets, each ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub training: Vec<usize>,
    pub held_out: Vec<usize>,
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose every seed, including
/// 0, gives a well-mixed stream. The split needs reproducibility, not cryptography.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` by Lemire's multiply-shift; its bias is below 2⁻⁴⁰ for
    /// any data set that fits in memory.
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

/// Holds out `round(n × fraction)` rows of each label, chosen by a Fisher–Yates shuffle
/// seeded with `seed`. A label with at least two rows keeps at least one in each set,
/// so training always sees both classes when the data has them; a label with one row
/// keeps it for training. `held_out_fraction` must be within (0, 0.5].
pub fn stratified_split(
    labels: &[bool],
    held_out_fraction: f64,
    seed: u64,
) -> Result<Split, TrainError> {
    if !(held_out_fraction > 0.0 && held_out_fraction <= 0.5) {
        return Err(TrainError::HeldOutFraction(held_out_fraction));
    }
    let mut rng = SplitMix64(seed);
    let mut training = Vec::new();
    let mut held_out = Vec::new();
    for class in [true, false] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        let n = members.len();
        let wanted = (n as f64 * held_out_fraction).round() as usize;
        let held = if n >= 2 { wanted.clamp(1, n - 1) } else { 0 };
        for i in 0..held {
            let j = i + rng.below(n - i);
            members.swap(i, j);
        }
        held_out.extend_from_slice(&members[..held]);
        training.extend_from_slice(&members[held..]);
    }
    training.sort_unstable();
    held_out.sort_unstable();
    Ok(Split { training, held_out })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splitmix_matches_the_reference_stream() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut rng = SplitMix64(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn fraction_must_be_within_zero_and_a_half() {
        let labels = [true, false, true, false];
        for bad in [0.0, -0.1, 0.51, 1.0, f64::NAN] {
            assert!(stratified_split(&labels, bad, 1).is_err(), "{bad}");
        }
        assert!(stratified_split(&labels, 0.5, 1).is_ok());
    }

    #[test]
    fn known_counts_per_class() {
        // 30 churned, 70 renewed, 20 %: 6 and 14 held out.
        let labels: Vec<bool> = (0..100).map(|i| i % 10 < 3).collect();
        let split = stratified_split(&labels, 0.2, 42).unwrap();
        let held_churned = split.held_out.iter().filter(|&&i| labels[i]).count();
        assert_eq!((held_churned, split.held_out.len()), (6, 20));
        // One churned row stays in training; two churned rows are split one each.
        let mut labels = vec![false; 20];
        labels[7] = true;
        let split = stratified_split(&labels, 0.1, 3).unwrap();
        assert!(split.training.contains(&7));
        labels[8] = true;
        let split = stratified_split(&labels, 0.1, 3).unwrap();
        assert_eq!(split.held_out.iter().filter(|&&i| labels[i]).count(), 1);
    }

    #[test]
    fn seeds_change_the_choice() {
        let labels: Vec<bool> = (0..200).map(|i| i % 4 == 0).collect();
        let a = stratified_split(&labels, 0.2, 1).unwrap();
        let b = stratified_split(&labels, 0.2, 2).unwrap();
        assert_ne!(a.held_out, b.held_out);
        assert_eq!(a, stratified_split(&labels, 0.2, 1).unwrap());
    }

    proptest! {
        #[test]
        fn split_is_a_deterministic_stratified_partition(
            labels in proptest::collection::vec(any::<bool>(), 0..300),
            fraction in 0.01f64..=0.5,
            seed in any::<u64>(),
        ) {
            let split = stratified_split(&labels, fraction, seed).unwrap();
            prop_assert_eq!(&split, &stratified_split(&labels, fraction, seed).unwrap());
            let mut all: Vec<usize> = split.training.iter().chain(&split.held_out).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
            for class in [true, false] {
                let n = labels.iter().filter(|&&l| l == class).count();
                let held = split.held_out.iter().filter(|&&i| labels[i] == class).count();
                let trained = n - held;
                prop_assert!((held as f64 - n as f64 * fraction).abs() <= 1.0);
                if n >= 1 { prop_assert!(trained >= 1); }
                if n >= 2 { prop_assert!(held >= 1); }
            }
        }
    }
}
