//! Rules and policies as data, validated once into [`RoutingRules`] so routing itself
//! cannot fail.

use std::ops::Range;

use super::text::{Words, find_in};
use super::{Category, Destination, Language};

/// A set of terms that are evidence for one category.
///
/// A term is found in the ticket's normalised text (see [`super::normalize`]) as a
/// substring, so the stem "kuendig" matches "Kündigung", "gekündigt" and
/// "Vertragskündigung". A term of several words ("wie kann ich", "not renew") matches
/// those words in a row. `^` in front pins a term to the start of a word and `$` at the
/// end to the end of one: "^add$" matches "add" but not "address", "^log" matches
/// "login" but not "blog". A term starting with `-` excludes: a match inside words that
/// contain it does not count, so `-angekuendig` keeps "wie angekündigt" (as announced)
/// out of a cancellation rule that lists `kuendig`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Stable name, reported as the rule that decided.
    pub id: String,
    /// What the terms are evidence for; never [`Category::Other`].
    pub category: Category,
    /// Applies only to tickets in this language; `None` applies to both.
    pub language: Option<Language>,
    /// Points per matching term (doubled in the subject): finite and positive.
    pub weight: f64,
    pub terms: Vec<String>,
}

/// What happens to a ticket of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryPolicy {
    pub category: Category,
    pub destination: Destination,
    /// HIGH priority when the account is red or tier A.
    pub escalate: bool,
    /// Breaks ties between categories with equal evidence: lower wins. Equal precedences
    /// fall back to the order of [`Category::ALL`].
    pub precedence: u32,
}

/// One problem with rules or policies, under the path of the offending field, such as
/// `rules[3].terms[0]`, so a configuration file can be fixed without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn problem(field: String, message: impl Into<String>) -> RuleError {
    RuleError {
        field,
        message: message.into(),
    }
}

/// A term ready to search for.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    /// Normalised, anchors removed.
    needle: String,
    word_start: bool,
    word_end: bool,
}

impl Term {
    /// `None` when nothing but anchors and punctuation is left.
    fn compile(raw: &str) -> Option<Term> {
        let trimmed = raw.trim().trim_start_matches('-');
        let (word_start, rest) = match trimmed.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let (word_end, rest) = match rest.strip_suffix('$') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let needle = Words::new(rest).text().to_owned();
        (!needle.is_empty()).then_some(Term {
            needle,
            word_start,
            word_end,
        })
    }
}

/// A rule with its terms compiled.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CompiledRule {
    pub(super) rule: Rule,
    terms: Vec<Term>,
    exclusions: Vec<Term>,
}

impl CompiledRule {
    /// Per term, the first place it counts in `words`, if any.
    pub(super) fn first_matches<'w>(
        &'w self,
        words: &'w Words<'_>,
    ) -> impl Iterator<Item = Range<usize>> + 'w {
        self.terms.iter().filter_map(move |term| {
            words
                .find(&term.needle, term.word_start, term.word_end)
                .find(|range| !self.excluded(words.whole_words(range)))
        })
    }

    fn excluded(&self, whole_words: &str) -> bool {
        self.exclusions.iter().any(|exclusion| {
            find_in(
                whole_words,
                &exclusion.needle,
                exclusion.word_start,
                exclusion.word_end,
            )
            .next()
            .is_some()
        })
    }
}

/// A validated set of rules with exactly one policy per category.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingRules {
    /// In the order given.
    rules: Vec<CompiledRule>,
    /// In [`Category::ALL`] order.
    policies: Vec<CategoryPolicy>,
}

impl RoutingRules {
    /// Validates rules and policies, reporting every problem at once.
    pub fn new(
        rules: Vec<Rule>,
        policies: Vec<CategoryPolicy>,
    ) -> Result<RoutingRules, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.into_iter().enumerate() {
            let path = format!("rules[{index}]");
            if rule.id.trim().is_empty() {
                errors.push(problem(format!("{path}.id"), "must not be empty"));
            } else if let Some(first) = compiled
                .iter()
                .position(|r: &CompiledRule| r.rule.id == rule.id)
            {
                errors.push(problem(
                    format!("{path}.id"),
                    format!("\"{}\" is already the id of rules[{first}]", rule.id),
                ));
            }
            if rule.category == Category::Other {
                errors.push(problem(
                    format!("{path}.category"),
                    "OTHER is what a ticket gets when no rule matches; no rule can choose it",
                ));
            }
            if !(rule.weight.is_finite() && rule.weight > 0.0) {
                errors.push(problem(
                    format!("{path}.weight"),
                    format!("must be a finite number above 0, not {}", rule.weight),
                ));
            }
            if rule.terms.iter().all(|term| term.trim().starts_with('-')) {
                errors.push(problem(
                    format!("{path}.terms"),
                    "must list at least one term that is not an exclusion",
                ));
            }
            let mut terms = Vec::with_capacity(rule.terms.len());
            let mut exclusions = Vec::new();
            for (term_index, raw) in rule.terms.iter().enumerate() {
                match Term::compile(raw) {
                    Some(term) if raw.trim().starts_with('-') => exclusions.push(term),
                    Some(term) => terms.push(term),
                    None => errors.push(problem(
                        format!("{path}.terms[{term_index}]"),
                        format!("\"{raw}\" has no letter or digit to match"),
                    )),
                }
            }
            compiled.push(CompiledRule {
                rule,
                terms,
                exclusions,
            });
        }

        let mut by_category: Vec<Option<CategoryPolicy>> = vec![None; Category::ALL.len()];
        let mut first_index = vec![0; Category::ALL.len()];
        for (index, policy) in policies.into_iter().enumerate() {
            let slot = policy.category.index();
            if by_category[slot].is_some() {
                errors.push(problem(
                    format!("policies[{index}].category"),
                    format!(
                        "{} already has a policy in policies[{}]",
                        policy.category, first_index[slot]
                    ),
                ));
            } else {
                by_category[slot] = Some(policy);
                first_index[slot] = index;
            }
        }
        for category in Category::ALL {
            if by_category[category.index()].is_none() {
                errors.push(problem(
                    "policies".to_owned(),
                    format!("{category} has no policy, so its tickets would have nowhere to go"),
                ));
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RoutingRules {
            rules: compiled,
            policies: by_category.into_iter().flatten().collect(),
        })
    }

    /// The rules in the order given.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|compiled| &compiled.rule)
    }

    pub fn policy(&self, category: Category) -> &CategoryPolicy {
        &self.policies[category.index()]
    }

    pub(super) fn compiled(&self) -> &[CompiledRule] {
        &self.rules
    }
}
