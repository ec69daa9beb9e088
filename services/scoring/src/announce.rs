//! The webhook events of a score write: a colour that changed, an alert raised (or raised
//! again for a new reason). They go into the outbox in the write's own transaction.

use nordstern_domain::webhook::{EventType, color_direction};
use nordstern_outbox::OutboxEvent;
use nordstern_runtime::wire::from_micros;
use serde_json::json;

use crate::store::{AlertRow, ScoreWrite};

fn rfc3339(micros: i64) -> String {
    from_micros(micros).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn announcements(applied: &[ScoreWrite], raised: &[AlertRow]) -> Vec<OutboxEvent> {
    let names: std::collections::HashMap<&str, &str> = applied
        .iter()
        .map(|w| (w.account_id.as_str(), w.account_name.as_str()))
        .collect();
    let changes = applied.iter().filter_map(|write| {
        let change = write.color_change.as_ref()?;
        // An account's first score is not a change.
        if change.from_color.is_empty() {
            return None;
        }
        Some(OutboxEvent::new(
            EventType::HealthColorChanged,
            json!({
                "accountId": change.account_id,
                "accountName": write.account_name,
                "csmId": change.csm_id,
                "previousColor": change.from_color,
                "color": change.to_color,
                "direction": color_direction(&change.from_color, &change.to_color),
                "score": change.score,
                "churnProbability": write.churn_probability,
                "version": change.version.to_string(),
                "changedAt": rfc3339(change.changed_at),
            }),
        ))
    });
    let alerts = raised.iter().map(|alert| {
        OutboxEvent::new(
            EventType::AlertRaised,
            json!({
                "alertId": alert.alert_id,
                "accountId": alert.account_id,
                "accountName": names.get(alert.account_id.as_str()).copied().unwrap_or_default(),
                "csmId": alert.csm_id,
                "alertType": alert.alert_type,
                "reason": alert.reason,
                "raiseCount": alert.raise_count.to_string(),
                "firstRaisedAt": rfc3339(alert.raised_at),
                "lastRaisedAt": rfc3339(alert.last_raised_at),
                "arr": {"currencyCode": alert.currency_code, "minorUnits": alert.arr_minor.to_string()},
            }),
        )
    });
    changes.chain(alerts).collect()
}
