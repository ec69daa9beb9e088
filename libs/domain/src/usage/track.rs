//! Product-analytics `track` events (Segment, RudderStack, …) as usage events: a mapping,
//! set in configuration, says which event names are logins, feature uses (and of which
//! feature), integration syncs and tickets. Names it does not list are counted, not
//! errors: a pipeline sends every event it has, and only some of them are about usage.

use std::collections::HashMap;

use super::EventKind;

/// Where a mapped event's feature key or ticket id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The same value for every event of this name.
    Fixed(String),
    /// A property of the event (`properties.<name>`).
    Property(String),
}

/// What one event name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRule {
    pub event: String,
    pub kind: EventKind,
    /// FEATURE_USED: the feature key.
    pub feature: Option<Source>,
    /// TICKET_OPENED and TICKET_RESOLVED: the ticket id.
    pub ticket: Option<Source>,
}

/// One `track` event mapped to a usage event's kind and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub kind: EventKind,
    /// Empty when the rule's property is missing; the usage event is then refused for
    /// its missing field, by the usual checks.
    pub feature_key: String,
    pub ticket_id: String,
}

/// The event-name mapping, checked once at start.
#[derive(Debug, Clone, Default)]
pub struct TrackMapping {
    rules: HashMap<String, TrackRule>,
}

impl TrackMapping {
    /// The mapping of `rules`, or every problem with them, each naming its rule.
    pub fn new(rules: Vec<TrackRule>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut by_name = HashMap::new();
        for (i, rule) in rules.into_iter().enumerate() {
            let at = format!("events[{i}] ({:?})", rule.event);
            if rule.event.trim().is_empty() {
                problems.push(format!("events[{i}]: the event name is empty"));
            }
            match rule.kind {
                EventKind::FeatureUsed if rule.feature.is_none() => problems.push(format!(
                    "{at}: a FEATURE_USED event needs `feature` or `feature_property`"
                )),
                EventKind::TicketOpened | EventKind::TicketResolved if rule.ticket.is_none() => {
                    problems.push(format!("{at}: a ticket event needs `ticket_property`"))
                }
                _ => {}
            }
            if by_name.insert(rule.event.clone(), rule).is_some() {
                problems.push(format!("{at}: the event name is listed twice"));
            }
        }
        if problems.is_empty() {
            Ok(TrackMapping { rules: by_name })
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The usage event `event` stands for, reading its properties with `property`;
    /// `None` when the mapping does not list the name.
    pub fn map(&self, event: &str, property: impl Fn(&str) -> Option<String>) -> Option<Mapped> {
        let rule = self.rules.get(event)?;
        let read = |source: &Option<Source>| match source {
            None => String::new(),
            Some(Source::Fixed(value)) => value.clone(),
            Some(Source::Property(name)) => property(name).unwrap_or_default(),
        };
        Some(Mapped {
            kind: rule.kind,
            feature_key: read(&rule.feature),
            ticket_id: read(&rule.ticket),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(event: &str, kind: EventKind) -> TrackRule {
        TrackRule {
            event: event.to_owned(),
            kind,
            feature: None,
            ticket: None,
        }
    }

    #[test]
    fn names_map_to_kinds_with_keys_from_the_rule_or_the_properties() {
        let mapping = TrackMapping::new(vec![
            rule("Signed In", EventKind::Login),
            TrackRule {
                feature: Some(Source::Fixed("reports".into())),
                ..rule("Report Exported", EventKind::FeatureUsed)
            },
            TrackRule {
                feature: Some(Source::Property("feature".into())),
                ..rule("Feature Used", EventKind::FeatureUsed)
            },
            TrackRule {
                ticket: Some(Source::Property("ticketId".into())),
                ..rule("Ticket Opened", EventKind::TicketOpened)
            },
        ])
        .unwrap_or_default();
        let properties = |name: &str| match name {
            "feature" => Some("dashboards".to_owned()),
            "ticketId" => Some("T-17".to_owned()),
            _ => None,
        };
        assert_eq!(
            mapping.map("Signed In", properties).map(|m| m.kind),
            Some(EventKind::Login)
        );
        assert_eq!(
            mapping
                .map("Report Exported", properties)
                .map(|m| m.feature_key),
            Some("reports".to_owned())
        );
        assert_eq!(
            mapping
                .map("Feature Used", properties)
                .map(|m| m.feature_key),
            Some("dashboards".to_owned())
        );
        assert_eq!(
            mapping
                .map("Ticket Opened", properties)
                .map(|m| m.ticket_id),
            Some("T-17".to_owned())
        );
        // Names are exact: pipelines send them as the product defines them.
        assert_eq!(mapping.map("signed in", properties), None);
        assert_eq!(mapping.map("Page Viewed", properties), None);
    }

    #[test]
    fn incomplete_and_repeated_rules_are_refused_with_every_problem() {
        let problems = TrackMapping::new(vec![
            rule("Feature Used", EventKind::FeatureUsed),
            rule("Ticket Opened", EventKind::TicketOpened),
            rule("Signed In", EventKind::Login),
            rule("Signed In", EventKind::Login),
            rule(" ", EventKind::Login),
        ])
        .err()
        .unwrap_or_default();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("feature"), "{problems:?}");
        assert!(problems[1].contains("ticket_property"), "{problems:?}");
        assert!(problems[2].contains("twice"), "{problems:?}");
    }
}
