//! Account health: nine components normalised to 0–100, a weighted mean of the ones
//! present, a traffic light, the alerts a computation raises and the upsell
//! opportunities of healthy accounts.
//!
//! A component that is missing (no survey yet, no integration ever set up, no renewal
//! date) drops out and the remaining weights are re-normalised, so an account is never
//! punished for data it could not have produced. Login regularity and support load are
//! never missing, and a valid configuration weights at least one of them, so every
//! account always gets a score.
//!
//! Nothing here reads a clock: dates come in as arguments.

pub mod alerts;
mod config;
mod inputs;
#[cfg(test)]
mod tests;
pub mod trend;
pub mod upsell;

pub use config::{
    ColorThresholds, ComponentWeights, ConfigViolation, RawComponentWeight, RawScoringConfig,
    RawSegmentWeights, ScoringConfig, SegmentWeights,
};
pub use inputs::{
    HealthInputs, IntegrationStatus, ces_score, days_until, feature_breadth_score,
    integration_score, login_regularity_score, nps_score, peer_percentile_score,
    support_load_score, time_to_renewal_score, usage_trend_score,
};

named_enum!(
    /// The parts of the health score. The lower-case names are also churn-model feature
    /// names, so they must never change.
    HealthComponent {
        LoginRegularity => "login_regularity",
        FeatureBreadth => "feature_breadth",
        Integration => "integration",
        UsageTrend => "usage_trend",
        PeerPercentile => "peer_percentile",
        Nps => "nps",
        Ces => "ces",
        SupportLoad => "support_load",
        TimeToRenewal => "time_to_renewal",
    }
);

/// How many components there are; the length of every per-component array.
pub const COMPONENT_COUNT: usize = HealthComponent::ALL.len();

impl HealthComponent {
    /// Position in [`HealthComponent::ALL`], the order of every per-component array.
    /// The proto enum number is `index() + 1`.
    pub fn index(self) -> usize {
        match self {
            HealthComponent::LoginRegularity => 0,
            HealthComponent::FeatureBreadth => 1,
            HealthComponent::Integration => 2,
            HealthComponent::UsageTrend => 3,
            HealthComponent::PeerPercentile => 4,
            HealthComponent::Nps => 5,
            HealthComponent::Ces => 6,
            HealthComponent::SupportLoad => 7,
            HealthComponent::TimeToRenewal => 8,
        }
    }

    /// Whether the inputs always yield a value for it (see [`HealthInputs`]). A valid
    /// configuration must weight one of these, or an account could have no score.
    pub fn is_never_missing(self) -> bool {
        matches!(
            self,
            HealthComponent::LoginRegularity | HealthComponent::SupportLoad
        )
    }
}

named_enum!(
    /// The traffic light.
    HealthColor { Green => "GREEN", Yellow => "YELLOW", Red => "RED" }
);

impl HealthColor {
    /// 0 for green, 1 for yellow, 2 for red: higher is worse.
    pub fn rank(self) -> u8 {
        match self {
            HealthColor::Green => 0,
            HealthColor::Yellow => 1,
            HealthColor::Red => 2,
        }
    }

    pub fn is_worse_than(self, other: HealthColor) -> bool {
        self.rank() > other.rank()
    }
}

/// One component of a computation, as the proto `ComponentScore` documents it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComponentScore {
    pub component: HealthComponent,
    /// 0–100; `None` when the input is missing.
    pub value: Option<f64>,
    /// Configured weight for the account's segment.
    pub weight: f64,
    /// Weight re-normalised over the used components (they sum to 1); 0 when not used.
    pub normalized_weight: f64,
    /// `normalized_weight × value`, in score points; 0 when not used.
    pub contribution: f64,
    /// False when the value is missing or the weight is 0.
    pub used: bool,
}

/// One computation of an account's health.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthBreakdown {
    /// 0–100: the sum of the contributions.
    pub score: f64,
    pub color: HealthColor,
    /// All nine components in [`HealthComponent::ALL`] order, used or not.
    pub components: [ComponentScore; COMPONENT_COUNT],
}

impl HealthBreakdown {
    pub fn component(&self, component: HealthComponent) -> &ComponentScore {
        &self.components[component.index()]
    }

    /// The components that count, in [`HealthComponent::ALL`] order.
    pub fn used_components(&self) -> impl Iterator<Item = &ComponentScore> {
        self.components.iter().filter(|component| component.used)
    }
}

/// Scores an account: normalises its inputs and weighs them.
///
/// Never fails: login regularity and support load always have a value and
/// [`ComponentWeights`] always weights one of them.
pub fn score(
    inputs: &HealthInputs,
    weights: &ComponentWeights,
    thresholds: &ColorThresholds,
) -> HealthBreakdown {
    weigh(&inputs.component_values(), weights, thresholds)
}

/// Scores already normalised component values (in [`HealthComponent::ALL`] order), for
/// callers that hold values rather than raw inputs, such as a stored computation.
/// Non-finite values count as missing and the others are clamped to 0–100. `None` when
/// no component is used, which [`score`] rules out but arbitrary values do not.
pub fn score_values(
    values: &[Option<f64>; COMPONENT_COUNT],
    weights: &ComponentWeights,
    thresholds: &ColorThresholds,
) -> Option<HealthBreakdown> {
    let breakdown = weigh(values, weights, thresholds);
    breakdown
        .components
        .iter()
        .any(|component| component.used)
        .then_some(breakdown)
}

/// The weighted mean of the used components. With nothing used the score is 0; only
/// [`score_values`] can get there, and it refuses that result.
fn weigh(
    values: &[Option<f64>; COMPONENT_COUNT],
    weights: &ComponentWeights,
    thresholds: &ColorThresholds,
) -> HealthBreakdown {
    let values = values.map(|value| value.filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 100.0)));
    let used = HealthComponent::ALL
        .map(|component| values[component.index()].is_some() && weights.get(component) > 0.0);
    // Dividing by the largest used weight first keeps the sum finite even for weights
    // near f64::MAX; the ratios between weights, which are all that matters, stay.
    let largest = HealthComponent::ALL
        .iter()
        .filter(|component| used[component.index()])
        .map(|&component| weights.get(component))
        .fold(0.0, f64::max);
    let scaled = HealthComponent::ALL.map(|component| {
        if used[component.index()] {
            weights.get(component) / largest
        } else {
            0.0
        }
    });
    let total: f64 = scaled.iter().sum();
    let components = HealthComponent::ALL.map(|component| {
        let index = component.index();
        let value = values[index];
        let normalized_weight = if used[index] {
            scaled[index] / total
        } else {
            0.0
        };
        ComponentScore {
            component,
            value,
            weight: weights.get(component),
            normalized_weight,
            contribution: normalized_weight * value.unwrap_or(0.0),
            used: used[index],
        }
    });
    let sum: f64 = components
        .iter()
        .map(|component| component.contribution)
        .sum();
    // Rounding can push the sum a hair past 100; the clamp keeps the documented range
    // and moves it by far less than the 1e-9 the contributions are checked to.
    let score = sum.clamp(0.0, 100.0);
    HealthBreakdown {
        score,
        color: thresholds.color(score),
        components,
    }
}
