//! Voice of the customer: survey kinds and their scales, NPS with its margin of error,
//! CES and CSAT, and the rule that NPS counts each respondent's latest answer only.

use std::ops::RangeInclusive;

named_enum!(
    /// What a campaign asks.
    SurveyKind { Nps => "NPS", Ces => "CES", Csat => "CSAT" }
);
named_enum!(
    /// Where in the customer journey a campaign asks.
    Touchpoint {
        Onboarding => "ONBOARDING",
        Support => "SUPPORT",
        Renewal => "RENEWAL",
        Quarterly => "QUARTERLY",
        Cancellation => "CANCELLATION",
    }
);
named_enum!(
    /// Why a customer cancelled (cancellation surveys).
    ChurnReason {
        TooExpensive => "TOO_EXPENSIVE",
        MissingFeatures => "MISSING_FEATURES",
        ProductQuality => "PRODUCT_QUALITY",
        PoorSupport => "POOR_SUPPORT",
        SwitchedToCompetitor => "SWITCHED_TO_COMPETITOR",
        LowUsage => "LOW_USAGE",
        BudgetCuts => "BUDGET_CUTS",
        BusinessClosed => "BUSINESS_CLOSED",
        Other => "OTHER",
    }
);
named_enum!(
    NpsCategory { Promoter => "PROMOTER", Passive => "PASSIVE", Detractor => "DETRACTOR" }
);

/// Longest comment or churn-reason text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

impl SurveyKind {
    /// The answer scale: NPS 0–10, CES 1–7, CSAT 1–5.
    pub fn scale(self) -> RangeInclusive<i32> {
        match self {
            SurveyKind::Nps => 0..=10,
            SurveyKind::Ces => 1..=7,
            SurveyKind::Csat => 1..=5,
        }
    }

    pub fn check_score(self, score: i32) -> Result<i32, String> {
        let scale = self.scale();
        if scale.contains(&score) {
            Ok(score)
        } else {
            Err(format!(
                "must be {} to {} for a {} survey",
                scale.start(),
                scale.end(),
                self.as_str()
            ))
        }
    }
}

/// Promoters 9–10, passives 7–8, detractors 0–6.
pub fn nps_category(score: i32) -> NpsCategory {
    match score {
        9.. => NpsCategory::Promoter,
        7..=8 => NpsCategory::Passive,
        _ => NpsCategory::Detractor,
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NpsCounts {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsCounts {
    pub fn responses(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    pub fn add(&mut self, category: NpsCategory) {
        match category {
            NpsCategory::Promoter => self.promoters += 1,
            NpsCategory::Passive => self.passives += 1,
            NpsCategory::Detractor => self.detractors += 1,
        }
    }

    pub fn merge(&mut self, other: &NpsCounts) {
        self.promoters += other.promoters;
        self.passives += other.passives;
        self.detractors += other.detractors;
    }

    /// NPS = 100 × (promoters − detractors) / responses, in −100…100.
    pub fn nps(&self) -> Option<f64> {
        let n = self.responses();
        (n > 0).then(|| 100.0 * (self.promoters as f64 - self.detractors as f64) / n as f64)
    }

    /// 95 % margin of error in NPS points:
    /// 1.96 × 100 × sqrt((pP + pD − (pP − pD)²) / n).
    pub fn margin_of_error(&self) -> Option<f64> {
        let n = self.responses();
        (n > 0).then(|| {
            let n = n as f64;
            let p_promoter = self.promoters as f64 / n;
            let p_detractor = self.detractors as f64 / n;
            let variance = (p_promoter + p_detractor - (p_promoter - p_detractor).powi(2)).max(0.0);
            1.96 * 100.0 * (variance / n).sqrt()
        })
    }
}

/// CES aggregate: answers, their sum, and how many were 5–7 ("easy").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CesTotals {
    pub responses: u64,
    pub score_sum: u64,
    pub easy: u64,
}

impl CesTotals {
    pub fn add(&mut self, score: i32) {
        self.responses += 1;
        self.score_sum += u64::try_from(score).unwrap_or(0);
        if score >= 5 {
            self.easy += 1;
        }
    }

    pub fn merge(&mut self, other: &CesTotals) {
        self.responses += other.responses;
        self.score_sum += other.score_sum;
        self.easy += other.easy;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.responses > 0).then(|| self.score_sum as f64 / self.responses as f64)
    }

    pub fn share_easy(&self) -> Option<f64> {
        (self.responses > 0).then(|| self.easy as f64 / self.responses as f64)
    }
}

/// CSAT aggregate: answers and how many were 4–5 ("satisfied").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsatTotals {
    pub responses: u64,
    pub satisfied: u64,
}

impl CsatTotals {
    pub fn add(&mut self, score: i32) {
        self.responses += 1;
        if score >= 4 {
            self.satisfied += 1;
        }
    }

    pub fn merge(&mut self, other: &CsatTotals) {
        self.responses += other.responses;
        self.satisfied += other.satisfied;
    }

    pub fn share_satisfied(&self) -> Option<f64> {
        (self.responses > 0).then(|| self.satisfied as f64 / self.responses as f64)
    }
}

/// One NPS answer as the latest-response rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpsAnswer<R> {
    pub respondent: R,
    /// Ordering key of the answer: when it was given, ties broken by response id.
    pub answered: (i64, String),
    pub score: i32,
}

/// NPS counts over answers, each respondent counted once with their latest answer.
pub fn nps_counts_latest<R: Ord + Clone>(answers: &[NpsAnswer<R>]) -> NpsCounts {
    let mut latest: std::collections::BTreeMap<R, &NpsAnswer<R>> =
        std::collections::BTreeMap::new();
    for answer in answers {
        latest
            .entry(answer.respondent.clone())
            .and_modify(|current| {
                if answer.answered > current.answered {
                    *current = answer;
                }
            })
            .or_insert(answer);
    }
    let mut counts = NpsCounts::default();
    for answer in latest.values() {
        counts.add(nps_category(answer.score));
    }
    counts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn categories_and_scales() {
        assert_eq!(nps_category(10), NpsCategory::Promoter);
        assert_eq!(nps_category(9), NpsCategory::Promoter);
        assert_eq!(nps_category(8), NpsCategory::Passive);
        assert_eq!(nps_category(7), NpsCategory::Passive);
        assert_eq!(nps_category(6), NpsCategory::Detractor);
        assert_eq!(nps_category(0), NpsCategory::Detractor);
        assert!(SurveyKind::Nps.check_score(0).is_ok());
        assert!(SurveyKind::Nps.check_score(11).is_err());
        assert!(SurveyKind::Ces.check_score(0).is_err());
        assert!(SurveyKind::Ces.check_score(7).is_ok());
        assert!(SurveyKind::Csat.check_score(6).is_err());
        for reason in ChurnReason::ALL {
            assert_eq!(ChurnReason::parse(reason.as_str()), Some(reason));
        }
    }

    #[test]
    fn nps_and_margin_on_a_known_sample() {
        // 50 promoters, 30 passives, 20 detractors: NPS 30.
        let counts = NpsCounts {
            promoters: 50,
            passives: 30,
            detractors: 20,
        };
        assert_eq!(counts.nps(), Some(30.0));
        // pP = .5, pD = .2: sqrt((.7 − .09) / 100) = 0.0781 → ±15.31 points.
        let margin = counts.margin_of_error().unwrap();
        assert!((margin - 1.96 * 100.0 * (0.61f64 / 100.0).sqrt()).abs() < 1e-9);
        assert!((margin - 15.308).abs() < 0.001);
        assert_eq!(NpsCounts::default().nps(), None);
    }

    #[test]
    fn ces_and_csat() {
        let mut ces = CesTotals::default();
        for score in [7, 5, 3, 1] {
            ces.add(score);
        }
        assert_eq!(ces.mean(), Some(4.0));
        assert_eq!(ces.share_easy(), Some(0.5));
        let mut csat = CsatTotals::default();
        for score in [5, 4, 3] {
            csat.add(score);
        }
        assert!((csat.share_satisfied().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn only_the_latest_answer_of_a_respondent_counts() {
        let answer = |who: &str, at: i64, score| NpsAnswer {
            respondent: who.to_owned(),
            answered: (at, format!("r{at}")),
            score,
        };
        let counts = nps_counts_latest(&[
            answer("ann", 1, 0),
            answer("ann", 5, 10),
            answer("bob", 2, 3),
        ]);
        assert_eq!(
            counts,
            NpsCounts {
                promoters: 1,
                passives: 0,
                detractors: 1
            }
        );
    }

    proptest! {
        #[test]
        fn nps_is_bounded_and_the_margin_matches_a_direct_computation(
            promoters in 0u64..10_000, passives in 0u64..10_000, detractors in 0u64..10_000,
        ) {
            let counts = NpsCounts { promoters, passives, detractors };
            let n = counts.responses();
            match (counts.nps(), counts.margin_of_error()) {
                (Some(nps), Some(margin)) => {
                    prop_assert!((-100.0..=100.0).contains(&nps));
                    // Direct: the standard error of the mean of +1/0/−1 scores × 100.
                    let scores = [(1.0, promoters), (0.0, passives), (-1.0, detractors)];
                    let mean = scores.iter().map(|(v, c)| v * *c as f64).sum::<f64>() / n as f64;
                    let variance = scores.iter().map(|(v, c)| (v - mean).powi(2) * *c as f64).sum::<f64>() / n as f64;
                    let direct = 1.96 * 100.0 * (variance / n as f64).sqrt();
                    prop_assert!((margin - direct).abs() < 1e-6, "{} vs {}", margin, direct);
                    prop_assert!(margin >= 0.0);
                }
                (None, None) => prop_assert_eq!(n, 0),
                _ => prop_assert!(false, "nps and margin disagree on emptiness"),
            }
        }

        #[test]
        fn latest_rule_counts_each_respondent_once(
            answers in proptest::collection::vec((0u8..20, 0i64..1000, 0i32..=10), 0..200),
        ) {
            let answers: Vec<NpsAnswer<u8>> = answers
                .into_iter()
                .enumerate()
                .map(|(i, (who, at, score))| NpsAnswer { respondent: who, answered: (at, format!("{i:05}")), score })
                .collect();
            let counts = nps_counts_latest(&answers);
            let respondents: std::collections::BTreeSet<u8> = answers.iter().map(|a| a.respondent).collect();
            prop_assert_eq!(counts.responses(), respondents.len() as u64);
            // Each counted category is that of the respondent's maximum answer.
            let mut expected = NpsCounts::default();
            for who in respondents {
                let latest = answers.iter().filter(|a| a.respondent == who).max_by(|a, b| a.answered.cmp(&b.answered)).unwrap();
                expected.add(nps_category(latest.score));
            }
            prop_assert_eq!(counts, expected);
        }
    }
}
