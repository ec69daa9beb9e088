#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn weights(values: [f64; COMPONENT_COUNT]) -> ComponentWeights {
    ComponentWeights::new(values).unwrap()
}

fn equal_weights() -> ComponentWeights {
    weights([1.0; COMPONENT_COUNT])
}

fn thresholds() -> ColorThresholds {
    ColorThresholds::default()
}

#[test]
fn names_round_trip_and_are_feature_names() {
    let names: Vec<&str> = HealthComponent::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "login_regularity",
            "feature_breadth",
            "integration",
            "usage_trend",
            "peer_percentile",
            "nps",
            "ces",
            "support_load",
            "time_to_renewal",
        ]
    );
    for (position, component) in HealthComponent::ALL.into_iter().enumerate() {
        assert_eq!(component.index(), position);
        assert_eq!(HealthComponent::parse(component.as_str()), Some(component));
    }
    for color in HealthColor::ALL {
        assert_eq!(HealthColor::parse(color.as_str()), Some(color));
    }
    assert_eq!(HealthColor::parse("green"), None);
}

#[test]
fn colors_are_ranked() {
    use HealthColor::*;
    assert!(Red.is_worse_than(Yellow));
    assert!(Red.is_worse_than(Green));
    assert!(Yellow.is_worse_than(Green));
    assert!(!Green.is_worse_than(Yellow));
    assert!(!Yellow.is_worse_than(Yellow));
    assert!(!Yellow.is_worse_than(Red));
}

#[test]
fn missing_and_unweighted_components_drop_out() {
    let mut by_component = [0.0; COMPONENT_COUNT];
    by_component[HealthComponent::LoginRegularity.index()] = 3.0;
    by_component[HealthComponent::Nps.index()] = 1.0;
    by_component[HealthComponent::Ces.index()] = 4.0;
    let weights = weights(by_component);
    let mut values = [Some(10.0); COMPONENT_COUNT];
    values[HealthComponent::LoginRegularity.index()] = Some(80.0);
    values[HealthComponent::Nps.index()] = Some(40.0);
    values[HealthComponent::Ces.index()] = None;
    let breakdown = score_values(&values, &weights, &thresholds()).unwrap();
    // (3 × 80 + 1 × 40) / 4: CES is missing, the rest weigh nothing.
    assert!((breakdown.score - 70.0).abs() < 1e-12);
    assert_eq!(breakdown.color, HealthColor::Green);
    let login = breakdown.component(HealthComponent::LoginRegularity);
    assert!(login.used);
    assert_eq!(login.weight, 3.0);
    assert!((login.normalized_weight - 0.75).abs() < 1e-12);
    assert!((login.contribution - 60.0).abs() < 1e-12);
    let ces = breakdown.component(HealthComponent::Ces);
    assert_eq!(
        (
            ces.used,
            ces.value,
            ces.weight,
            ces.normalized_weight,
            ces.contribution
        ),
        (false, None, 4.0, 0.0, 0.0)
    );
    let breadth = breakdown.component(HealthComponent::FeatureBreadth);
    assert_eq!(
        (breadth.used, breadth.value, breadth.normalized_weight),
        (false, Some(10.0), 0.0)
    );
    let used: Vec<HealthComponent> = breakdown.used_components().map(|c| c.component).collect();
    assert_eq!(
        used,
        [HealthComponent::LoginRegularity, HealthComponent::Nps]
    );
}

#[test]
fn a_new_account_with_no_data_scores_on_what_is_never_missing() {
    let config = ScoringConfig::default();
    let breakdown = score(
        &HealthInputs::default(),
        config.weights_for(crate::account::Segment::Sme),
        config.thresholds(),
    );
    // Login regularity 0 (weight 20) and support load 100 (weight 10).
    assert!((breakdown.score - 100.0 / 3.0).abs() < 1e-9);
    assert_eq!(breakdown.color, HealthColor::Red);
    assert_eq!(breakdown.used_components().count(), 2);
}

#[test]
fn a_thriving_account_is_green() {
    let inputs = HealthInputs {
        active_days_7: 6,
        active_days_30: 25,
        active_days_90: 75,
        active_users_30: 9,
        active_users_90: 10,
        feature_breadth: Some(0.8),
        integration: IntegrationStatus::Live,
        usage_trend: Some(1.1),
        portfolio_percentile: Some(70.0),
        segment_percentile: Some(80.0),
        nps: Some(50.0),
        ces_mean: Some(6.0),
        open_tickets: 1,
        tickets_last_30_days: 2,
        median_hours_to_resolution: Some(10.0),
        days_to_renewal: Some(200),
    };
    let config = ScoringConfig::default();
    let thresholds = config.thresholds();
    for segment in crate::account::Segment::ALL {
        let breakdown = score(&inputs, config.weights_for(segment), thresholds);
        assert_eq!(breakdown.color, HealthColor::Green, "{segment}");
        assert!(breakdown.components.iter().all(|c| c.used));
    }
    // A churning one is red.
    let churning = HealthInputs {
        active_days_7: 0,
        active_days_30: 2,
        active_days_90: 20,
        active_users_30: 1,
        active_users_90: 8,
        feature_breadth: Some(0.2),
        integration: IntegrationStatus::Stale,
        usage_trend: Some(0.4),
        nps: Some(-60.0),
        open_tickets: 5,
        tickets_last_30_days: 8,
        days_to_renewal: Some(20),
        ..inputs
    };
    for segment in crate::account::Segment::ALL {
        let breakdown = score(&churning, config.weights_for(segment), thresholds);
        assert_eq!(breakdown.color, HealthColor::Red, "{segment}");
    }
}

#[test]
fn bad_values_count_as_missing_and_are_clamped() {
    let mut values = [Some(50.0); COMPONENT_COUNT];
    values[1] = Some(f64::NAN);
    values[2] = Some(f64::INFINITY);
    values[3] = Some(250.0);
    values[4] = Some(-3.0);
    let breakdown = score_values(&values, &equal_weights(), &thresholds()).unwrap();
    assert_eq!(breakdown.components[1].value, None);
    assert_eq!(breakdown.components[2].value, None);
    assert_eq!(breakdown.components[3].value, Some(100.0));
    assert_eq!(breakdown.components[4].value, Some(0.0));
    assert!((breakdown.score - (5.0 * 50.0 + 100.0) / 7.0).abs() < 1e-9);
    assert!(breakdown.score.is_finite());
}

#[test]
fn nothing_used_is_no_score() {
    assert_eq!(
        score_values(&[None; COMPONENT_COUNT], &equal_weights(), &thresholds()),
        None
    );
    let mut only_nps = [0.0; COMPONENT_COUNT];
    only_nps[HealthComponent::LoginRegularity.index()] = 1.0;
    let mut values = [None; COMPONENT_COUNT];
    values[HealthComponent::Nps.index()] = Some(90.0);
    assert_eq!(
        score_values(&values, &weights(only_nps), &thresholds()),
        None
    );
}

#[test]
fn extreme_weights_keep_the_score_finite() {
    let weights = weights([f64::MAX; COMPONENT_COUNT]);
    let breakdown = score_values(&[Some(60.0); COMPONENT_COUNT], &weights, &thresholds()).unwrap();
    assert!((breakdown.score - 60.0).abs() < 1e-9);
    let tiny = super::ComponentWeights::new([f64::MIN_POSITIVE / 8.0; COMPONENT_COUNT]).unwrap();
    let breakdown = score_values(&[Some(60.0); COMPONENT_COUNT], &tiny, &thresholds()).unwrap();
    assert!((breakdown.score - 60.0).abs() < 1e-9);
}

fn value() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(0.0f64..=100.0)
}

/// Component values with the two never-missing ones present, as inputs always give.
fn values() -> impl Strategy<Value = [Option<f64>; COMPONENT_COUNT]> {
    (
        prop::array::uniform9(value()),
        0.0f64..=100.0,
        0.0f64..=100.0,
    )
        .prop_map(|(mut values, login, support)| {
            values[HealthComponent::LoginRegularity.index()] = Some(login);
            values[HealthComponent::SupportLoad.index()] = Some(support);
            values
        })
}

/// Valid weights: some zero, some large, login regularity always positive.
fn component_weights() -> impl Strategy<Value = ComponentWeights> {
    prop::array::uniform9(prop_oneof![Just(0.0), 0.0f64..10.0, 0.0f64..1e6]).prop_map(|mut raw| {
        raw[HealthComponent::LoginRegularity.index()] += 0.01;
        ComponentWeights::new(raw).unwrap()
    })
}

fn color_thresholds() -> impl Strategy<Value = ColorThresholds> {
    (0.0f64..100.0, 0.0f64..1.0).prop_map(|(green_min, share)| ColorThresholds {
        green_min,
        yellow_min: green_min * share,
    })
}

fn component() -> impl Strategy<Value = HealthComponent> {
    prop::sample::select(HealthComponent::ALL.to_vec())
}

fn arbitrary_inputs() -> impl Strategy<Value = HealthInputs> {
    let days = (0u32..=10, 0u32..=40, 0u32..=100, 0u32..50, 0u32..50);
    let rates = (
        prop::option::of(prop_oneof![-1.0f64..2.0, Just(f64::NAN)]),
        prop::sample::select(vec![
            IntegrationStatus::Live,
            IntegrationStatus::Stale,
            IntegrationStatus::NotSetUp,
            IntegrationStatus::NotApplicable,
        ]),
        prop::option::of(prop_oneof![0.0f64..5.0, Just(f64::INFINITY)]),
        prop::option::of(-50.0f64..150.0),
        prop::option::of(-50.0f64..150.0),
    );
    let voice = (
        prop::option::of(-150.0f64..150.0),
        prop::option::of(prop_oneof![0.0f64..8.0, Just(f64::NAN)]),
        0u32..20,
        0u32..40,
        prop::option::of(0.0f64..500.0),
        prop::option::of(-400i64..800),
    );
    (days, rates, voice).prop_map(
        |(
            (d7, d30, d90, u30, u90),
            (breadth, integration, trend, portfolio, segment),
            (nps, ces, open, recent, hours, renewal),
        )| HealthInputs {
            active_days_7: d7,
            active_days_30: d30,
            active_days_90: d90,
            active_users_30: u30,
            active_users_90: u90,
            feature_breadth: breadth,
            integration,
            usage_trend: trend,
            portfolio_percentile: portfolio,
            segment_percentile: segment,
            nps,
            ces_mean: ces,
            open_tickets: open,
            tickets_last_30_days: recent,
            median_hours_to_resolution: hours,
            days_to_renewal: renewal,
        },
    )
}

proptest! {
    #[test]
    fn scores_are_bounded_and_add_up(
        inputs in arbitrary_inputs(),
        weights in component_weights(),
        thresholds in color_thresholds(),
    ) {
        let breakdown = score(&inputs, &weights, &thresholds);
        prop_assert!((0.0..=100.0).contains(&breakdown.score));
        let contributions: f64 = breakdown.components.iter().map(|c| c.contribution).sum();
        prop_assert!((contributions - breakdown.score).abs() < 1e-9);
        let normalized: f64 = breakdown.used_components().map(|c| c.normalized_weight).sum();
        prop_assert!((normalized - 1.0).abs() < 1e-9);
        let used_weight: f64 = breakdown.used_components().map(|c| c.weight).sum();
        for component in &breakdown.components {
            prop_assert_eq!(component.weight, weights.get(component.component));
            if component.used {
                let share = component.weight / used_weight;
                prop_assert!((component.normalized_weight - share).abs() < 1e-12);
            }
            prop_assert_eq!(component.used, component.value.is_some() && component.weight > 0.0);
            if let Some(value) = component.value {
                prop_assert!((0.0..=100.0).contains(&value));
            }
            if !component.used {
                prop_assert_eq!(component.normalized_weight, 0.0);
                prop_assert_eq!(component.contribution, 0.0);
            }
        }
        prop_assert_eq!(breakdown.color, thresholds.color(breakdown.score));
        let expected_color = if breakdown.score >= thresholds.green_min {
            HealthColor::Green
        } else if breakdown.score >= thresholds.yellow_min {
            HealthColor::Yellow
        } else {
            HealthColor::Red
        };
        prop_assert_eq!(breakdown.color, expected_color);
    }

    #[test]
    fn a_missing_component_keeps_the_others_relative_weights(
        values in values(),
        weights in component_weights(),
        dropped in component(),
    ) {
        prop_assume!(!dropped.is_never_missing());
        let full = score_values(&values, &weights, &thresholds()).unwrap();
        let mut fewer = values;
        fewer[dropped.index()] = None;
        let reduced = score_values(&fewer, &weights, &thresholds()).unwrap();
        prop_assert!(!reduced.component(dropped).used);
        for a in HealthComponent::ALL {
            for b in HealthComponent::ALL {
                if a == dropped || b == dropped {
                    continue;
                }
                let (before_a, before_b) = (full.component(a), full.component(b));
                let (after_a, after_b) = (reduced.component(a), reduced.component(b));
                prop_assert_eq!(before_a.used, after_a.used);
                // Cross-multiplied so unused (zero) weights need no special case.
                let before = before_a.normalized_weight * after_b.normalized_weight;
                let after = after_a.normalized_weight * before_b.normalized_weight;
                prop_assert!((before - after).abs() <= 1e-12 * before.abs().max(after.abs()));
            }
        }
    }

    #[test]
    fn raising_one_value_never_lowers_the_score(
        values in values(),
        weights in component_weights(),
        raised in component(),
        increase in 0.0f64..100.0,
    ) {
        let before = score_values(&values, &weights, &thresholds()).unwrap();
        let mut higher = values;
        if let Some(value) = higher[raised.index()].as_mut() {
            *value = (*value + increase).min(100.0);
        }
        let after = score_values(&higher, &weights, &thresholds()).unwrap();
        prop_assert!(after.score >= before.score, "{} → {}", before.score, after.score);
        prop_assert!(!after.color.is_worse_than(before.color));
    }

    #[test]
    fn better_raw_inputs_never_lower_the_score(
        inputs in arbitrary_inputs(),
        weights in component_weights(),
        more in 0u32..10,
        better in 0.0f64..50.0,
    ) {
        let before = score(&inputs, &weights, &thresholds()).score;
        let improved = [
            HealthInputs { active_days_7: inputs.active_days_7 + more, ..inputs },
            HealthInputs { open_tickets: inputs.open_tickets.saturating_sub(more), ..inputs },
            HealthInputs { nps: inputs.nps.map(|n| n + better), ..inputs },
            HealthInputs { usage_trend: inputs.usage_trend.map(|t| t + better / 50.0), ..inputs },
            HealthInputs { days_to_renewal: inputs.days_to_renewal.map(|d| d + i64::from(more)), ..inputs },
        ];
        for improved in improved {
            prop_assert!(score(&improved, &weights, &thresholds()).score >= before);
        }
    }
}
