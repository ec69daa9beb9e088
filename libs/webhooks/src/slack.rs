//! The Slack-compatible form of an event (`{"text": …}`) for incoming-webhook URLs: the
//! account, the colour in words, and why.

use serde_json::{Value, json};

/// The Slack message of a standard payload.
pub fn message(payload: &str) -> String {
    let event: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let data = &event["data"];
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
    let account = {
        let name = text("accountName");
        if name.is_empty() {
            text("accountId")
        } else {
            format!("{name} ({})", text("accountId"))
        }
    };
    let line = match event["type"].as_str().unwrap_or_default() {
        "alert.raised" => format!(
            ":rotating_light: {} alert for {account}: {}",
            text("alertType"),
            text("reason")
        ),
        "health.color_changed" => format!(
            "{} {account} turned {} (was {}), score {}",
            if text("direction") == "worse" {
                ":small_red_triangle_down:"
            } else {
                ":arrow_up_small:"
            },
            text("color"),
            text("previousColor"),
            data["score"]
        ),
        "ticket.routed" => format!(
            ":ticket: Ticket for {account} goes to {} ({}, {}): {}",
            text("destination"),
            text("priority"),
            text("category"),
            text("reason")
        ),
        "churn_model.activated" => format!(
            ":chart_with_upwards_trend: Churn model {} (version {}) is now active",
            text("modelId"),
            data["version"]
        ),
        "account.erased" => format!(
            ":wastebasket: Account {} was erased; delete every copy of its data",
            text("accountId")
        ),
        other => format!("Nordstern event {other}"),
    };
    json!({ "text": line }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_colour_change_names_the_account_the_colour_and_the_direction() {
        let payload = json!({"type": "health.color_changed", "data": {
            "accountId": "a-1", "accountName": "Kunde GmbH", "color": "RED",
            "previousColor": "YELLOW", "direction": "worse", "score": 38.5
        }})
        .to_string();
        let text: Value = serde_json::from_str(&message(&payload)).unwrap_or(Value::Null);
        let text = text["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("Kunde GmbH (a-1) turned RED (was YELLOW)"),
            "{text}"
        );
        assert!(text.contains("38.5"), "{text}");
    }
}
