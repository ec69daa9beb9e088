//! Ticket-routing rules from TOML: the default set shipped in `routing_rules.toml`, or an
//! operator's own file with the same layout. The file's arrays are named like the
//! domain's fields (`rules`, `policies`), so a validation error such as
//! `rules[3].terms[0]` points straight at the line to fix.

use std::path::Path;

use nordstern_domain::routing::{
    Category, CategoryPolicy, Destination, Language, RoutingRules, Rule,
};
use serde::Deserialize;

/// The default rule set, compiled into the binary so routing works without any file.
const DEFAULT_RULES: &str = include_str!("../routing_rules.toml");
const DEFAULT_NAME: &str = "built-in routing_rules.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    policies: Vec<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    category: String,
    language: Option<String>,
    #[serde(default = "default_weight")]
    weight: f64,
    terms: Vec<String>,
}

fn default_weight() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    category: String,
    destination: String,
    #[serde(default)]
    escalate: bool,
    precedence: u32,
}

/// The rules shipped with Nordstern.
///
/// # Panics
/// When the embedded file is invalid, which is a bug that the unit tests catch.
pub fn default_rules() -> RoutingRules {
    parse(DEFAULT_RULES, DEFAULT_NAME)
        .unwrap_or_else(|error| panic!("the built-in routing rules are invalid: {error}"))
}

/// The rules in `path`, or the default rules when there is none. Errors name the file
/// and every offending field.
pub fn load_rules(path: Option<&Path>) -> Result<RoutingRules, String> {
    let Some(path) = path else {
        return Ok(default_rules());
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| format!("{name}: {error}"))?;
    parse(&text, &name)
}

/// Parses rules from TOML text; `name` says where the text came from in errors.
fn parse(text: &str, name: &str) -> Result<RoutingRules, String> {
    let file: RulesFile = toml::from_str(text).map_err(|error| format!("{name}: {error}"))?;
    let mut problems = Vec::new();
    let mut rules = Vec::with_capacity(file.rules.len());
    for (index, raw) in file.rules.into_iter().enumerate() {
        let category = parse_name(
            &raw.category,
            Category::parse,
            &Category::ALL.map(|c| c.as_str()),
        );
        let language = raw.language.as_deref().map(|language| {
            parse_name(
                language,
                Language::parse,
                &Language::ALL.map(|l| l.as_str()),
            )
        });
        match (category, language.transpose()) {
            (Ok(category), Ok(language)) => rules.push(Rule {
                id: raw.id,
                category,
                language,
                weight: raw.weight,
                terms: raw.terms,
            }),
            (category, language) => {
                if let Err(message) = category {
                    problems.push(format!("rules[{index}].category: {message}"));
                }
                if let Err(message) = language {
                    problems.push(format!("rules[{index}].language: {message}"));
                }
            }
        }
    }
    let mut policies = Vec::with_capacity(file.policies.len());
    for (index, raw) in file.policies.into_iter().enumerate() {
        let category = parse_name(
            &raw.category,
            Category::parse,
            &Category::ALL.map(|c| c.as_str()),
        );
        let destination = parse_name(
            &raw.destination,
            Destination::parse,
            &Destination::ALL.map(|d| d.as_str()),
        );
        match (category, destination) {
            (Ok(category), Ok(destination)) => policies.push(CategoryPolicy {
                category,
                destination,
                escalate: raw.escalate,
                precedence: raw.precedence,
            }),
            (category, destination) => {
                if let Err(message) = category {
                    problems.push(format!("policies[{index}].category: {message}"));
                }
                if let Err(message) = destination {
                    problems.push(format!("policies[{index}].destination: {message}"));
                }
            }
        }
    }
    // Validation counts positions, which a skipped entry would shift: report names first.
    if problems.is_empty() {
        match RoutingRules::new(rules, policies) {
            Ok(rules) => return Ok(rules),
            Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        }
    }
    Err(format!("{name}: {}", problems.join("; ")))
}

fn parse_name<T>(
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &[&str],
) -> Result<T, String> {
    parse(text).ok_or_else(|| format!("\"{text}\" is not one of {}", expected.join(", ")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use nordstern_domain::routing::{AccountContext, Ticket, route};

    #[test]
    fn default_rules_parse_and_cover_every_category() {
        let rules = parse(DEFAULT_RULES, DEFAULT_NAME).unwrap();
        for category in Category::ALL {
            let policy = rules.policy(category);
            let expected = match category {
                Category::FeatureRequest
                | Category::FeatureCapability
                | Category::Complaint
                | Category::Cancellation => Destination::Csm,
                _ => Destination::Support,
            };
            assert_eq!(policy.destination, expected, "{category}");
            assert_eq!(
                policy.escalate,
                matches!(category, Category::Complaint | Category::Cancellation),
                "{category}"
            );
            if category != Category::Other {
                assert!(
                    rules.rules().any(|rule| rule.category == category),
                    "{category} has no rule"
                );
            }
        }
    }

    #[test]
    fn default_rules_route_the_examples_of_the_design() {
        let rules = default_rules();
        let cases = [
            ("Passwort zurücksetzen", Category::Login),
            ("Kündigung", Category::Cancellation),
            ("Wir haben gekündigt", Category::Cancellation),
            ("Funktionswunsch", Category::FeatureRequest),
            ("Benutzerverwaltung", Category::UserManagement),
            ("We are cancelling our plan", Category::Cancellation),
            ("How do I export a report?", Category::HowTo),
        ];
        for (subject, category) in cases {
            let ticket = Ticket {
                subject,
                body: "",
                category: None,
                language: None,
            };
            let decision = route(&rules, &ticket, &AccountContext::default());
            assert_eq!(
                decision.category, category,
                "{subject}: {}",
                decision.reason
            );
        }
    }

    #[test]
    fn no_file_means_the_default_rules() {
        assert_eq!(load_rules(None).unwrap(), default_rules());
    }

    #[test]
    fn errors_name_the_file_and_every_field() {
        let text = r#"
            [[rules]]
            id = "x"
            category = "LOGN"
            language = "de"
            terms = ["a"]

            [[rules]]
            id = "y"
            category = "LOGIN"
            terms = ["!"]

            [[policies]]
            category = "LOGIN"
            destination = "HELPDESK"
            precedence = 1
        "#;
        let error = parse(text, "mine.toml").unwrap_err();
        assert!(error.starts_with("mine.toml: "), "{error}");
        assert!(error.contains("rules[0].category: \"LOGN\" is not one of LOGIN"));
        assert!(error.contains("rules[0].language: \"de\" is not one of GERMAN, ENGLISH"));
        assert!(error.contains("policies[0].destination: \"HELPDESK\""));

        let text = text
            .replace("LOGN", "LOGIN")
            .replace("language = \"de\"", "")
            .replace("HELPDESK", "SUPPORT");
        let error = parse(&text, "mine.toml").unwrap_err();
        assert!(error.contains("rules[1].terms[0]: \"!\" has no letter or digit"));
        assert!(error.contains("policies: HOW_TO has no policy"));

        let error = parse("[[rules]]\nid = 1", "mine.toml").unwrap_err();
        assert!(error.starts_with("mine.toml: "), "{error}");
        let error = parse("[[rule]]", "mine.toml").unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }

    #[test]
    fn loads_a_file_and_names_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("nordstern-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rules.toml");
        std::fs::write(&path, DEFAULT_RULES).unwrap();
        assert_eq!(load_rules(Some(&path)).unwrap(), default_rules());
        std::fs::remove_dir_all(&dir).unwrap();
        let error = load_rules(Some(&path)).unwrap_err();
        assert!(error.starts_with(&path.display().to_string()), "{error}");
    }
}
