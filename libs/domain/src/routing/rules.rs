//! Rules and policies as data, validated once into [`RoutingRules`] so routing itself
//! cannot fail.

use std::ops::Range;

use super::text::{Words, find_in};
use super::{Category, Destination, Language};

/// A set of terms that are evidence for one category.
///
/// Terms are searched in the ticket's normalised text (see [`super::normalize`]):
/// - `kuendig` anywhere, even inside a word, so a stem matches "Kündigung",
///   "gekündigt" and "Vertragskündigung";
/// - `wie kann ich`, `not renew`: those words in a row;
/// - `^log` only at the start of a word ("login", not "blog"), `add$` only at the end,
///   `^add$` only the whole word ("add", not "address");
/// - `wie * ich`: a lone `*` is any one word, as in "wie lege ich", where German puts
///   the verb between the two;
/// - `-angekuendig` excludes: a match inside words that contain it does not count, so
///   "wie angekündigt" (as announced) stays out of a rule that lists `kuendig`.
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
    /// Normalised, never empty: the words between wildcards, each standing for one word.
    segments: Vec<String>,
    word_start: bool,
    word_end: bool,
}

impl Term {
    /// The error says why nothing could be searched for.
    fn compile(raw: &str) -> Result<Term, &'static str> {
        let trimmed = raw.trim().trim_start_matches('-');
        let (word_start, rest) = match trimmed.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let (word_end, rest) = match rest.strip_suffix('$') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let mut segments = vec![String::new()];
        for word in rest.split_whitespace() {
            if word == "*" {
                segments.push(String::new());
            } else if let Some(last) = segments.last_mut() {
                last.push(' ');
                last.push_str(word);
            }
        }
        let segments: Vec<String> = segments
            .iter()
            .map(|segment| Words::new(segment).text().to_owned())
            .collect();
        if segments.iter().all(String::is_empty) {
            Err("has no letter or digit to match")
        } else if segments.iter().any(String::is_empty) {
            Err("needs words on both sides of each `*`")
        } else {
            Ok(Term {
                segments,
                word_start,
                word_end,
            })
        }
    }

    /// Where the term occurs in normalised `text`.
    fn find<'s>(&'s self, text: &'s str) -> impl Iterator<Item = Range<usize>> + 's {
        let (first, rest) = self
            .segments
            .split_first()
            .map_or(("", &[][..]), |(first, rest)| (first.as_str(), rest));
        let first_ends_word = self.word_end || !rest.is_empty();
        find_in(text, first, self.word_start, first_ends_word)
            .filter_map(move |range| self.continue_after(text, range, rest))
    }

    /// Extends a match of the first segment over each wildcard word and the segment
    /// after it, or `None` where the text does not go on that way.
    fn continue_after(
        &self,
        text: &str,
        range: Range<usize>,
        rest: &[String],
    ) -> Option<Range<usize>> {
        let bytes = text.as_bytes();
        let mut end = range.end;
        for (index, segment) in rest.iter().enumerate() {
            if bytes.get(end) != Some(&b' ') {
                return None;
            }
            let wildcard_end = end + 1 + text[end + 1..].find(' ')?;
            let start = wildcard_end + 1;
            if !text[start..].starts_with(segment.as_str()) {
                return None;
            }
            end = start + segment.len();
            let must_end_word = self.word_end || index + 1 < rest.len();
            if must_end_word && end < bytes.len() && bytes[end] != b' ' {
                return None;
            }
        }
        Some(range.start..end)
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
            term.find(words.text())
                .find(|range| !self.excluded(words.whole_words(range)))
        })
    }

    fn excluded(&self, whole_words: &str) -> bool {
        self.exclusions
            .iter()
            .any(|exclusion| exclusion.find(whole_words).next().is_some())
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
                    Ok(term) if raw.trim().starts_with('-') => exclusions.push(term),
                    Ok(term) => terms.push(term),
                    Err(message) => errors.push(problem(
                        format!("{path}.terms[{term_index}]"),
                        format!("\"{raw}\" {message}"),
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
