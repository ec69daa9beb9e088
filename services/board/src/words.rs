//! The board's words for the services' enums and figures. The traffic light is always
//! written out (ROT/RED), never shown as colour alone.

use nordstern_proto::{
    accounts::v1::ContractEventKind,
    common::v1::{HealthColor, Segment, Tier},
    scoring::v1::{AlertType, ChurnDriver, HealthComponent},
    usage::v1::UsageSummary,
};

use crate::{format, i18n::Lang};

/// The traffic light's word and the CSS class that colours it.
pub fn color(lang: Lang, color: i32) -> (&'static str, &'static str) {
    match HealthColor::try_from(color).unwrap_or(HealthColor::Unspecified) {
        HealthColor::Green => (lang.t("GREEN", "GRÜN"), "green"),
        HealthColor::Yellow => (lang.t("YELLOW", "GELB"), "yellow"),
        HealthColor::Red => (lang.t("RED", "ROT"), "red"),
        HealthColor::Unspecified => (lang.t("NO SCORE", "KEIN WERT"), "none"),
    }
}

pub fn tier(tier: i32) -> &'static str {
    match Tier::try_from(tier).unwrap_or(Tier::Unspecified) {
        Tier::A => "A",
        Tier::B => "B",
        Tier::C => "C",
        Tier::Unspecified => "–",
    }
}

pub fn segment(lang: Lang, segment: i32) -> &'static str {
    match Segment::try_from(segment).unwrap_or(Segment::Unspecified) {
        Segment::Enterprise => "Enterprise",
        Segment::Sme => lang.t("SME", "KMU"),
        Segment::Prosumer => "Prosumer",
        Segment::Unspecified => "–",
    }
}

pub fn component(lang: Lang, component: i32) -> &'static str {
    match HealthComponent::try_from(component).unwrap_or(HealthComponent::Unspecified) {
        HealthComponent::LoginRegularity => lang.t("Login regularity", "Login-Regelmäßigkeit"),
        HealthComponent::FeatureBreadth => lang.t("Feature breadth", "Funktionsbreite"),
        HealthComponent::Integration => "Integration",
        HealthComponent::UsageTrend => lang.t("Usage trend", "Nutzungstrend"),
        HealthComponent::PeerPercentile => lang.t("Peer percentile", "Vergleich mit Peers"),
        HealthComponent::Nps => "NPS",
        HealthComponent::Ces => "CES",
        HealthComponent::SupportLoad => lang.t("Support load", "Support-Last"),
        HealthComponent::TimeToRenewal => lang.t("Time to renewal", "Zeit bis Verlängerung"),
        HealthComponent::Unspecified => "–",
    }
}

pub fn alert_type(lang: Lang, alert_type: i32) -> &'static str {
    match AlertType::try_from(alert_type).unwrap_or(AlertType::Unspecified) {
        AlertType::ColorDrop => lang.t("Colour dropped", "Farbe verschlechtert"),
        AlertType::UsageDrop => lang.t("Usage dropped", "Nutzung eingebrochen"),
        AlertType::Detractor => lang.t("Detractor", "Kritiker (NPS)"),
        AlertType::RenewalAtRisk => lang.t("Renewal at risk", "Verlängerung gefährdet"),
        AlertType::UnassignedAccount => lang.t("No CSM", "Kein CSM"),
        AlertType::Unspecified => "–",
    }
}

pub fn contract_event(lang: Lang, kind: i32) -> &'static str {
    match ContractEventKind::try_from(kind).unwrap_or(ContractEventKind::Unspecified) {
        ContractEventKind::New => lang.t("New contract", "Neuvertrag"),
        ContractEventKind::Expansion => lang.t("Expansion", "Erweiterung"),
        ContractEventKind::Contraction => lang.t("Contraction", "Reduzierung"),
        ContractEventKind::Renewal => lang.t("Renewal", "Verlängerung"),
        ContractEventKind::Churn => lang.t("Churn", "Kündigung"),
        ContractEventKind::Unspecified => "–",
    }
}

/// A churn driver as a sentence a CSM can act on, e.g. "feature breadth is low: 3 of 11
/// features in use". Drivers are health components (0–100, higher is healthier), ARR,
/// or a category (`segment=SME`).
pub fn driver(lang: Lang, driver: &ChurnDriver, usage: Option<&UsageSummary>) -> String {
    let raises = driver.contribution > 0.0;
    let value = driver.value.unwrap_or_default();
    let level = match (raises, lang) {
        (true, Lang::En) => "is low",
        (true, Lang::De) => "ist niedrig",
        (false, Lang::En) => "is good",
        (false, Lang::De) => "ist gut",
    };
    let effect = match (raises, lang) {
        (true, Lang::En) => "raises the risk",
        (true, Lang::De) => "erhöht das Risiko",
        (false, Lang::En) => "lowers the risk",
        (false, Lang::De) => "senkt das Risiko",
    };
    let points = format!("{}/100", format::number(lang, value, 0));
    let component = HealthComponent::from_str_name(&format!(
        "HEALTH_COMPONENT_{}",
        driver.feature.to_ascii_uppercase()
    ));
    if let Some(component) = component {
        let name = self::component(lang, component as i32).to_lowercase();
        let detail = match (component, usage) {
            (HealthComponent::FeatureBreadth, Some(usage))
                if usage.purchased_features_total > 0 =>
            {
                format!(
                    "{} {} {} {}",
                    usage.purchased_features_used,
                    lang.t("of", "von"),
                    usage.purchased_features_total,
                    lang.t("features in use", "Funktionen in Nutzung"),
                )
            }
            (HealthComponent::LoginRegularity, Some(usage)) => {
                let days = usage.last_30_days.as_ref().map_or(0, |w| w.active_days);
                format!(
                    "{} {}",
                    days,
                    lang.t("of the last 30 days active", "der letzten 30 Tage aktiv")
                )
            }
            _ => points,
        };
        return format!("{name} {level}: {detail} ({effect})");
    }
    if driver.feature == "arr" {
        return format!(
            "{}: {} ({effect})",
            lang.t("contract value", "Vertragswert"),
            format::grouped(lang, value.round() as i64)
        );
    }
    match driver.feature.split_once('=') {
        Some((column, category)) => format!("{column} {category} ({effect})"),
        None => format!(
            "{} = {} ({effect})",
            driver.feature,
            format::number(lang, value, 1)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_proto::usage::v1::ActivityWindow;

    fn driver_of(feature: &str, value: f64, contribution: f64) -> ChurnDriver {
        ChurnDriver {
            feature: feature.into(),
            value: Some(value),
            contribution,
        }
    }

    #[test]
    fn drivers_read_as_sentences() {
        let usage = UsageSummary {
            purchased_features_used: 3,
            purchased_features_total: 11,
            last_30_days: Some(ActivityWindow {
                active_days: 4,
                ..ActivityWindow::default()
            }),
            ..UsageSummary::default()
        };
        assert_eq!(
            driver(
                Lang::En,
                &driver_of("feature_breadth", 27.0, 0.8),
                Some(&usage)
            ),
            "feature breadth is low: 3 of 11 features in use (raises the risk)"
        );
        assert_eq!(
            driver(
                Lang::De,
                &driver_of("login_regularity", 20.0, 0.5),
                Some(&usage)
            ),
            "login-regelmäßigkeit ist niedrig: 4 der letzten 30 Tage aktiv (erhöht das Risiko)"
        );
        assert_eq!(
            driver(Lang::En, &driver_of("nps", 90.0, -0.4), None),
            "nps is good: 90/100 (lowers the risk)"
        );
        assert_eq!(
            driver(Lang::En, &driver_of("arr", 125_000.0, -0.2), None),
            "contract value: 125,000 (lowers the risk)"
        );
        let category = ChurnDriver {
            feature: "segment=SME".into(),
            value: None,
            contribution: 0.3,
        };
        assert_eq!(
            driver(Lang::En, &category, None),
            "segment SME (raises the risk)"
        );
    }

    #[test]
    fn the_traffic_light_always_has_its_word() {
        assert_eq!(color(Lang::De, HealthColor::Red as i32), ("ROT", "red"));
        assert_eq!(
            color(Lang::En, HealthColor::Green as i32),
            ("GREEN", "green")
        );
        assert_eq!(color(Lang::En, 99).0, "NO SCORE");
    }
}
