//! The scoring configuration: weights per segment and the traffic-light thresholds.
//!
//! A [`ScoringConfig`] is valid by construction: it comes from [`ScoringConfig::default`]
//! or from [`RawScoringConfig::validate`], which mirrors the proto message so the service
//! can copy fields across and report violations under their proto field paths.

use super::{COMPONENT_COUNT, HealthColor, HealthComponent};
use crate::account::Segment;

/// Relative weight per component for one segment: finite, ≥ 0, with a positive weight
/// on at least one never-missing component (which also makes the sum positive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComponentWeights([f64; COMPONENT_COUNT]);

impl ComponentWeights {
    /// Weights in [`HealthComponent::ALL`] order. The error describes the first problem.
    pub fn new(weights: [f64; COMPONENT_COUNT]) -> Result<Self, String> {
        for component in HealthComponent::ALL {
            if let Some(problem) = weight_problem(weights[component.index()]) {
                return Err(format!("{component}: {problem}"));
            }
        }
        match set_problem(&weights) {
            Some(problem) => Err(problem.to_owned()),
            None => Ok(ComponentWeights(weights)),
        }
    }

    pub fn get(&self, component: HealthComponent) -> f64 {
        self.0[component.index()]
    }

    /// In [`HealthComponent::ALL`] order.
    pub fn as_array(&self) -> &[f64; COMPONENT_COUNT] {
        &self.0
    }

    /// The built-in default, used for SME and any segment without its own entry.
    ///
    /// | component        | default | enterprise | prosumer |
    /// |------------------|--------:|-----------:|---------:|
    /// | login_regularity |      20 |         10 |       30 |
    /// | feature_breadth  |      15 |         15 |       15 |
    /// | integration      |      10 |         15 |        5 |
    /// | usage_trend      |      15 |         10 |       20 |
    /// | peer_percentile  |      10 |          5 |       10 |
    /// | nps              |      10 |         15 |        5 |
    /// | ces              |       5 |         10 |        5 |
    /// | support_load     |      10 |         10 |        5 |
    /// | time_to_renewal  |       5 |         10 |        5 |
    ///
    /// Each column sums to 100, so a weight reads as a percentage when every component
    /// is present. The default leans on behaviour (login, breadth, trend: 50 %) because
    /// usage is the earliest and least biased signal.
    pub fn default_weights() -> Self {
        ComponentWeights([20.0, 15.0, 10.0, 15.0, 10.0, 10.0, 5.0, 10.0, 5.0])
    }

    /// Enterprise accounts are bought by a few stakeholders and used through
    /// integrations, often by a small team: what their sponsors say (NPS, CES), whether
    /// the integration runs, and the long renewal cycle count more; raw login frequency
    /// and peer comparison (few enterprise peers) count less.
    pub fn enterprise_weights() -> Self {
        ComponentWeights([10.0, 15.0, 15.0, 10.0, 5.0, 15.0, 10.0, 10.0, 10.0])
    }

    /// Prosumers are self-serve single users who rarely answer surveys or open
    /// tickets: whether they keep logging in and whether usage grows are nearly all the
    /// signal there is.
    pub fn prosumer_weights() -> Self {
        ComponentWeights([30.0, 15.0, 5.0, 20.0, 10.0, 5.0, 5.0, 5.0, 5.0])
    }
}

fn weight_problem(weight: f64) -> Option<&'static str> {
    if !weight.is_finite() {
        Some("must be a finite number")
    } else if weight < 0.0 {
        Some("must be at least 0")
    } else {
        None
    }
}

const NO_NEVER_MISSING_WEIGHT: &str = "must give login_regularity or support_load a positive \
     weight: they are the only components never missing, so without one an account could \
     have no score";

/// What is wrong with a set of individually valid weights.
fn set_problem(weights: &[f64; COMPONENT_COUNT]) -> Option<&'static str> {
    if weights.iter().sum::<f64>() <= 0.0 {
        return Some("must have a positive sum");
    }
    let anchored = HealthComponent::ALL
        .iter()
        .any(|c| c.is_never_missing() && weights[c.index()] > 0.0);
    (!anchored).then_some(NO_NEVER_MISSING_WEIGHT)
}

/// Weights per segment: a required default plus optional entries for single segments.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentWeights {
    default: ComponentWeights,
    /// Sorted by segment, at most one entry each.
    segments: Vec<(Segment, ComponentWeights)>,
}

impl SegmentWeights {
    pub fn new(default: ComponentWeights) -> Self {
        SegmentWeights {
            default,
            segments: Vec::new(),
        }
    }

    /// Sets (or replaces) the weights of one segment.
    pub fn with_segment(mut self, segment: Segment, weights: ComponentWeights) -> Self {
        self.segments.retain(|(s, _)| *s != segment);
        self.segments.push((segment, weights));
        self.segments.sort_by_key(|(s, _)| *s);
        self
    }

    /// The segment's own weights, else the default.
    pub fn weights_for(&self, segment: Segment) -> &ComponentWeights {
        self.segments
            .iter()
            .find(|(s, _)| *s == segment)
            .map_or(&self.default, |(_, weights)| weights)
    }

    pub fn default_weights(&self) -> &ComponentWeights {
        &self.default
    }

    /// The default first (`None`), then the segments with their own weights.
    pub fn entries(&self) -> impl Iterator<Item = (Option<Segment>, &ComponentWeights)> {
        std::iter::once((None, &self.default))
            .chain(self.segments.iter().map(|(s, w)| (Some(*s), w)))
    }
}

/// Score bounds of the traffic light: green ≥ `green_min`, yellow ≥ `yellow_min`, else
/// red. Valid when both are within 0–100 and `yellow_min < green_min`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorThresholds {
    pub green_min: f64,
    pub yellow_min: f64,
}

impl Default for ColorThresholds {
    /// DESIGN.md: green ≥ 70, yellow 40–69, red < 40.
    fn default() -> Self {
        ColorThresholds {
            green_min: 70.0,
            yellow_min: 40.0,
        }
    }
}

impl ColorThresholds {
    /// Total even for invalid thresholds: green is checked first, and a NaN score is red.
    pub fn color(&self, score: f64) -> HealthColor {
        if score >= self.green_min {
            HealthColor::Green
        } else if score >= self.yellow_min {
            HealthColor::Yellow
        } else {
            HealthColor::Red
        }
    }

    fn violations(&self) -> Vec<ConfigViolation> {
        let mut violations = Vec::new();
        let mut bound = |name: &str, value: f64| {
            let problem = if !value.is_finite() {
                Some("must be a finite number")
            } else if !(0.0..=100.0).contains(&value) {
                Some("must be within 0–100")
            } else {
                None
            };
            if let Some(problem) = problem {
                violations.push(ConfigViolation::new(
                    format!("config.color_thresholds.{name}"),
                    problem,
                ));
            }
            problem.is_none()
        };
        let green_ok = bound("green_min", self.green_min);
        let yellow_ok = bound("yellow_min", self.yellow_min);
        if green_ok && yellow_ok && self.yellow_min >= self.green_min {
            violations.push(ConfigViolation::new(
                "config.color_thresholds.yellow_min",
                "must be below green_min",
            ));
        }
        violations
    }
}

/// A valid scoring configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringConfig {
    weights: SegmentWeights,
    thresholds: ColorThresholds,
}

impl Default for ScoringConfig {
    /// Default weights for SME and unknown segments, own entries for enterprise and
    /// prosumer (see [`ComponentWeights::default_weights`]), thresholds 70/40.
    fn default() -> Self {
        ScoringConfig {
            weights: SegmentWeights::new(ComponentWeights::default_weights())
                .with_segment(Segment::Enterprise, ComponentWeights::enterprise_weights())
                .with_segment(Segment::Prosumer, ComponentWeights::prosumer_weights()),
            thresholds: ColorThresholds::default(),
        }
    }
}

impl ScoringConfig {
    /// The weights are valid by construction, so only the thresholds are checked.
    pub fn new(
        weights: SegmentWeights,
        thresholds: ColorThresholds,
    ) -> Result<Self, Vec<ConfigViolation>> {
        let violations = thresholds.violations();
        if violations.is_empty() {
            Ok(ScoringConfig {
                weights,
                thresholds,
            })
        } else {
            Err(violations)
        }
    }

    pub fn weights_for(&self, segment: Segment) -> &ComponentWeights {
        self.weights.weights_for(segment)
    }

    pub fn segment_weights(&self) -> &SegmentWeights {
        &self.weights
    }

    pub fn thresholds(&self) -> &ColorThresholds {
        &self.thresholds
    }

    /// The proto shape: default entry first, every component listed (0 included) in
    /// [`HealthComponent::ALL`] order. Validates back into an equal config.
    pub fn to_raw(&self) -> RawScoringConfig {
        RawScoringConfig {
            segment_weights: self
                .weights
                .entries()
                .map(|(segment, weights)| RawSegmentWeights {
                    segment,
                    weights: HealthComponent::ALL
                        .map(|component| RawComponentWeight {
                            component: Some(component),
                            weight: weights.get(component),
                        })
                        .to_vec(),
                })
                .collect(),
            color_thresholds: Some(self.thresholds),
        }
    }
}

/// One broken rule, for a gRPC `BadRequest.FieldViolation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigViolation {
    /// Proto field path, e.g. `config.segment_weights[1].weights[3].weight`.
    pub field: String,
    pub description: String,
}

impl ConfigViolation {
    fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        ConfigViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Proto `ComponentWeight`; `component` is `None` for HEALTH_COMPONENT_UNSPECIFIED or a
/// number this build does not know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawComponentWeight {
    pub component: Option<HealthComponent>,
    pub weight: f64,
}

/// Proto `SegmentWeights`; `segment` is `None` for SEGMENT_UNSPECIFIED, the default.
/// (A segment number this build does not know is the service's to refuse: it cannot be
/// told apart from the default here.)
#[derive(Debug, Clone, PartialEq)]
pub struct RawSegmentWeights {
    pub segment: Option<Segment>,
    pub weights: Vec<RawComponentWeight>,
}

/// Proto `ScoringConfig` as received, before any rule is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RawScoringConfig {
    pub segment_weights: Vec<RawSegmentWeights>,
    /// `None` when the message field is unset.
    pub color_thresholds: Option<ColorThresholds>,
}

impl RawScoringConfig {
    /// Checks every rule and reports every violation (not just the first), so a client
    /// can fix a config in one round trip.
    pub fn validate(&self) -> Result<ScoringConfig, Vec<ConfigViolation>> {
        let mut violations = Vec::new();
        let mut default = None;
        let mut segments = Vec::new();
        let mut seen: Vec<Option<Segment>> = Vec::new();
        for (index, entry) in self.segment_weights.iter().enumerate() {
            let path = format!("config.segment_weights[{index}]");
            let repeated = seen.contains(&entry.segment);
            if repeated {
                let which = entry
                    .segment
                    .map_or("the default (unspecified)".to_owned(), |s| s.to_string());
                violations.push(ConfigViolation::new(
                    format!("{path}.segment"),
                    format!("repeats segment {which}: one entry per segment at most"),
                ));
            } else {
                seen.push(entry.segment);
            }
            match entry_weights(&path, &entry.weights) {
                Ok(weights) if !repeated => match entry.segment {
                    None => default = Some(weights),
                    Some(segment) => segments.push((segment, weights)),
                },
                Ok(_) => {}
                Err(problems) => violations.extend(problems),
            }
        }
        if !seen.contains(&None) {
            violations.push(ConfigViolation::new(
                "config.segment_weights",
                "needs the default entry (segment unspecified), used for segments without \
                 their own",
            ));
        }
        match &self.color_thresholds {
            Some(thresholds) => violations.extend(thresholds.violations()),
            None => violations.push(ConfigViolation::new(
                "config.color_thresholds",
                "is required",
            )),
        }
        match (default, self.color_thresholds) {
            (Some(default), Some(thresholds)) if violations.is_empty() => {
                let weights = segments
                    .into_iter()
                    .fold(SegmentWeights::new(default), |all, (segment, weights)| {
                        all.with_segment(segment, weights)
                    });
                Ok(ScoringConfig {
                    weights,
                    thresholds,
                })
            }
            _ => Err(violations),
        }
    }
}

/// One segment's weights; `path` is `config.segment_weights[i]`. The set rules (positive
/// sum, a never-missing component) are judged over the entries that are valid on their
/// own, so one typo does not bury the rest.
fn entry_weights(
    path: &str,
    entries: &[RawComponentWeight],
) -> Result<ComponentWeights, Vec<ConfigViolation>> {
    let mut violations = Vec::new();
    let mut weights = [0.0; COMPONENT_COUNT];
    let mut seen = [false; COMPONENT_COUNT];
    for (index, entry) in entries.iter().enumerate() {
        let entry_path = format!("{path}.weights[{index}]");
        let Some(component) = entry.component else {
            violations.push(ConfigViolation::new(
                format!("{entry_path}.component"),
                "must name a health component",
            ));
            continue;
        };
        if seen[component.index()] {
            violations.push(ConfigViolation::new(
                format!("{entry_path}.component"),
                format!("repeats {component}: each component at most once per segment"),
            ));
            continue;
        }
        seen[component.index()] = true;
        match weight_problem(entry.weight) {
            Some(problem) => {
                violations.push(ConfigViolation::new(
                    format!("{entry_path}.weight"),
                    problem,
                ));
            }
            None => weights[component.index()] = entry.weight,
        }
    }
    if let Some(problem) = set_problem(&weights) {
        violations.push(ConfigViolation::new(format!("{path}.weights"), problem));
    }
    if violations.is_empty() {
        Ok(ComponentWeights(weights))
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(component: HealthComponent, weight: f64) -> RawComponentWeight {
        RawComponentWeight {
            component: Some(component),
            weight,
        }
    }

    fn segment(segment: Option<Segment>, weights: Vec<RawComponentWeight>) -> RawSegmentWeights {
        RawSegmentWeights { segment, weights }
    }

    fn raw(segment_weights: Vec<RawSegmentWeights>) -> RawScoringConfig {
        RawScoringConfig {
            segment_weights,
            color_thresholds: Some(ColorThresholds::default()),
        }
    }

    fn only_login() -> Vec<RawComponentWeight> {
        vec![entry(HealthComponent::LoginRegularity, 1.0)]
    }

    fn violations(config: &RawScoringConfig) -> Vec<(String, String)> {
        config
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect()
    }

    fn pair(field: &str, description: &str) -> (String, String) {
        (field.to_owned(), description.to_owned())
    }

    #[test]
    fn the_default_is_valid_and_round_trips() {
        let config = ScoringConfig::default();
        assert_eq!(config.to_raw().validate(), Ok(config.clone()));
        for weights in [
            ComponentWeights::default_weights(),
            ComponentWeights::enterprise_weights(),
            ComponentWeights::prosumer_weights(),
        ] {
            assert_eq!(ComponentWeights::new(*weights.as_array()), Ok(weights));
            assert_eq!(weights.as_array().iter().sum::<f64>(), 100.0);
        }
        assert_eq!(config.thresholds(), &ColorThresholds::default());
        assert_eq!(config.thresholds().green_min, 70.0);
        assert_eq!(config.thresholds().yellow_min, 40.0);
    }

    #[test]
    fn segments_fall_back_to_the_default() {
        let config = ScoringConfig::default();
        assert_eq!(
            config.weights_for(Segment::Sme),
            &ComponentWeights::default_weights()
        );
        assert_eq!(
            config.weights_for(Segment::Enterprise),
            &ComponentWeights::enterprise_weights()
        );
        assert_eq!(
            config.weights_for(Segment::Prosumer),
            &ComponentWeights::prosumer_weights()
        );
        let enterprise = config.weights_for(Segment::Enterprise);
        let default = config.weights_for(Segment::Sme);
        assert!(enterprise.get(HealthComponent::Nps) > default.get(HealthComponent::Nps));
        assert!(
            enterprise.get(HealthComponent::Integration)
                > default.get(HealthComponent::Integration)
        );
        let prosumer = config.weights_for(Segment::Prosumer);
        assert!(
            prosumer.get(HealthComponent::LoginRegularity)
                > default.get(HealthComponent::LoginRegularity)
        );
        assert!(
            prosumer.get(HealthComponent::UsageTrend) > default.get(HealthComponent::UsageTrend)
        );
    }

    #[test]
    fn a_minimal_config_validates() {
        let config = raw(vec![
            segment(
                Some(Segment::Sme),
                vec![entry(HealthComponent::SupportLoad, 2.0)],
            ),
            segment(None, only_login()),
        ])
        .validate()
        .unwrap();
        let default = config.segment_weights().default_weights();
        assert_eq!(default.get(HealthComponent::LoginRegularity), 1.0);
        assert_eq!(default.get(HealthComponent::Nps), 0.0);
        assert_eq!(
            config
                .weights_for(Segment::Sme)
                .get(HealthComponent::SupportLoad),
            2.0
        );
        assert_eq!(config.weights_for(Segment::Enterprise), default);
        let entries: Vec<Option<Segment>> =
            config.segment_weights().entries().map(|(s, _)| s).collect();
        assert_eq!(entries, [None, Some(Segment::Sme)]);
    }

    #[test]
    fn weights_must_be_finite_and_not_negative() {
        let config = raw(vec![
            segment(None, only_login()),
            segment(
                Some(Segment::Sme),
                vec![
                    entry(HealthComponent::LoginRegularity, 1.0),
                    entry(HealthComponent::Nps, f64::NAN),
                    entry(HealthComponent::Ces, -0.5),
                    entry(HealthComponent::Integration, f64::INFINITY),
                ],
            ),
        ]);
        assert_eq!(
            violations(&config),
            [
                pair(
                    "config.segment_weights[1].weights[1].weight",
                    "must be a finite number"
                ),
                pair(
                    "config.segment_weights[1].weights[2].weight",
                    "must be at least 0"
                ),
                pair(
                    "config.segment_weights[1].weights[3].weight",
                    "must be a finite number"
                ),
            ]
        );
    }

    #[test]
    fn components_must_be_named_once() {
        let config = raw(vec![segment(
            None,
            vec![
                entry(HealthComponent::LoginRegularity, 1.0),
                RawComponentWeight {
                    component: None,
                    weight: 1.0,
                },
                entry(HealthComponent::LoginRegularity, 2.0),
            ],
        )]);
        assert_eq!(
            violations(&config),
            [
                pair(
                    "config.segment_weights[0].weights[1].component",
                    "must name a health component"
                ),
                pair(
                    "config.segment_weights[0].weights[2].component",
                    "repeats login_regularity: each component at most once per segment"
                ),
            ]
        );
    }

    #[test]
    fn each_segment_needs_a_positive_sum() {
        for weights in [vec![], vec![entry(HealthComponent::LoginRegularity, 0.0)]] {
            let config = raw(vec![segment(None, weights)]);
            assert_eq!(
                violations(&config),
                [pair(
                    "config.segment_weights[0].weights",
                    "must have a positive sum"
                )]
            );
        }
    }

    #[test]
    fn each_segment_needs_a_never_missing_component() {
        let config = raw(vec![
            segment(None, only_login()),
            segment(
                Some(Segment::Enterprise),
                vec![
                    entry(HealthComponent::Nps, 5.0),
                    entry(HealthComponent::SupportLoad, 0.0),
                    entry(HealthComponent::LoginRegularity, 0.0),
                ],
            ),
        ]);
        assert_eq!(
            violations(&config),
            [pair(
                "config.segment_weights[1].weights",
                NO_NEVER_MISSING_WEIGHT
            )]
        );
        assert!(NO_NEVER_MISSING_WEIGHT.contains("never missing"));
        // Either of the two is enough.
        let support_only = raw(vec![segment(
            None,
            vec![entry(HealthComponent::SupportLoad, 1.0)],
        )]);
        assert!(support_only.validate().is_ok());
    }

    #[test]
    fn at_most_one_entry_per_segment_and_a_default() {
        let config = raw(vec![
            segment(Some(Segment::Sme), only_login()),
            segment(Some(Segment::Sme), only_login()),
        ]);
        assert_eq!(
            violations(&config),
            [
                pair(
                    "config.segment_weights[1].segment",
                    "repeats segment SME: one entry per segment at most"
                ),
                pair(
                    "config.segment_weights",
                    "needs the default entry (segment unspecified), used for segments without their own"
                ),
            ]
        );
        let two_defaults = raw(vec![
            segment(None, only_login()),
            segment(None, only_login()),
        ]);
        assert_eq!(
            violations(&two_defaults),
            [pair(
                "config.segment_weights[1].segment",
                "repeats segment the default (unspecified): one entry per segment at most"
            )]
        );
        assert_eq!(
            violations(&raw(vec![])),
            [pair(
                "config.segment_weights",
                "needs the default entry (segment unspecified), used for segments without their own"
            )]
        );
    }

    #[test]
    fn thresholds_rules() {
        let with = |green_min: f64, yellow_min: f64| RawScoringConfig {
            segment_weights: vec![segment(None, only_login())],
            color_thresholds: Some(ColorThresholds {
                green_min,
                yellow_min,
            }),
        };
        assert!(with(70.0, 40.0).validate().is_ok());
        assert!(with(100.0, 0.0).validate().is_ok());
        assert_eq!(
            violations(&with(40.0, 40.0)),
            [pair(
                "config.color_thresholds.yellow_min",
                "must be below green_min"
            )]
        );
        assert_eq!(
            violations(&with(30.0, 40.0)),
            [pair(
                "config.color_thresholds.yellow_min",
                "must be below green_min"
            )]
        );
        assert_eq!(
            violations(&with(f64::NAN, -1.0)),
            [
                pair(
                    "config.color_thresholds.green_min",
                    "must be a finite number"
                ),
                pair("config.color_thresholds.yellow_min", "must be within 0–100"),
            ]
        );
        assert_eq!(
            violations(&with(100.5, f64::INFINITY)),
            [
                pair("config.color_thresholds.green_min", "must be within 0–100"),
                pair(
                    "config.color_thresholds.yellow_min",
                    "must be a finite number"
                ),
            ]
        );
        let unset = RawScoringConfig {
            segment_weights: vec![segment(None, only_login())],
            color_thresholds: None,
        };
        assert_eq!(
            violations(&unset),
            [pair("config.color_thresholds", "is required")]
        );
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let config = RawScoringConfig {
            segment_weights: vec![segment(
                Some(Segment::Prosumer),
                vec![entry(HealthComponent::Nps, -1.0)],
            )],
            color_thresholds: Some(ColorThresholds {
                green_min: 50.0,
                yellow_min: 60.0,
            }),
        };
        let fields: Vec<String> = violations(&config).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "config.segment_weights[0].weights[0].weight",
                "config.segment_weights[0].weights",
                "config.segment_weights",
                "config.color_thresholds.yellow_min",
            ]
        );
    }

    #[test]
    fn component_weights_new_checks_the_same_rules() {
        let mut weights = [0.0; COMPONENT_COUNT];
        assert_eq!(
            ComponentWeights::new(weights),
            Err("must have a positive sum".to_owned())
        );
        weights[HealthComponent::Nps.index()] = 1.0;
        assert_eq!(
            ComponentWeights::new(weights),
            Err(NO_NEVER_MISSING_WEIGHT.to_owned())
        );
        weights[HealthComponent::SupportLoad.index()] = 1.0;
        assert!(ComponentWeights::new(weights).is_ok());
        weights[HealthComponent::Ces.index()] = -1.0;
        assert_eq!(
            ComponentWeights::new(weights),
            Err("ces: must be at least 0".to_owned())
        );
        weights[HealthComponent::Ces.index()] = f64::NAN;
        assert_eq!(
            ComponentWeights::new(weights),
            Err("ces: must be a finite number".to_owned())
        );
    }

    #[test]
    fn scoring_config_new_checks_thresholds() {
        let weights = SegmentWeights::new(ComponentWeights::default_weights());
        assert!(ScoringConfig::new(weights.clone(), ColorThresholds::default()).is_ok());
        let bad = ColorThresholds {
            green_min: 40.0,
            yellow_min: 70.0,
        };
        assert_eq!(
            ScoringConfig::new(weights, bad).unwrap_err(),
            [ConfigViolation::new(
                "config.color_thresholds.yellow_min",
                "must be below green_min"
            )]
        );
    }

    #[test]
    fn colors_follow_the_thresholds() {
        let thresholds = ColorThresholds::default();
        assert_eq!(thresholds.color(100.0), HealthColor::Green);
        assert_eq!(thresholds.color(70.0), HealthColor::Green);
        assert_eq!(thresholds.color(69.999), HealthColor::Yellow);
        assert_eq!(thresholds.color(40.0), HealthColor::Yellow);
        assert_eq!(thresholds.color(39.999), HealthColor::Red);
        assert_eq!(thresholds.color(0.0), HealthColor::Red);
        assert_eq!(thresholds.color(f64::NAN), HealthColor::Red);
    }
}
