//! Ticket routing: which category a support ticket belongs to, whether support or the
//! account's CSM handles it, and how urgent it is.
//!
//! Everything that is a business decision is data in [`RoutingRules`]: the terms that are
//! evidence for each category, the destination of each category, which categories
//! escalate for red or tier-A accounts and which category wins a tie. This module only
//! weighs the evidence:
//!
//! - Subject and body are normalised (see [`normalize`]) and every applicable rule's terms
//!   are searched in both. A term counts once per field, with the rule's weight in the
//!   body and twice that in the subject, which names the topic while a body wanders.
//!   Within a category, a stretch of text counts once, for its longest term, so listing
//!   "kuendig" next to "kuendigung" does not count one word twice.
//! - The category with the most points wins. Equal points go to the lower policy
//!   precedence, then to the earlier category in [`Category::ALL`]; no points at all is
//!   [`Category::Other`].
//! - Confidence grows with the evidence (`1 − e^(−points/2)`: one body match of weight 1
//!   gives 0.39, one in the subject 0.63) and is scaled by the margin over the runner-up,
//!   from ×1 for an unopposed winner down to ×0.5 for a tie. It is 0 for OTHER, and 1 when
//!   the caller gave the category, which always wins.
//! - Rules with a language apply only to tickets in that language; the caller gives it
//!   or [`detect_language`] guesses it from the text.

mod rules;
#[cfg(test)]
mod tests;
mod text;

use std::ops::Range;

pub use rules::{CategoryPolicy, RoutingRules, Rule, RuleError};
pub use text::{detect_language, normalize};

use crate::account::Tier;
use crate::health::HealthColor;
use text::Words;

named_enum!(
    /// What a ticket is about; the proto's `TicketCategory` without the prefix.
    Category {
        Login => "LOGIN",
        HowTo => "HOW_TO",
        UserManagement => "USER_MANAGEMENT",
        BasicQuestion => "BASIC_QUESTION",
        FeatureRequest => "FEATURE_REQUEST",
        FeatureCapability => "FEATURE_CAPABILITY",
        Complaint => "COMPLAINT",
        Cancellation => "CANCELLATION",
        Other => "OTHER",
    }
);

impl Category {
    /// Position in [`Category::ALL`]; the proto enum number is `index() + 1`.
    pub fn index(self) -> usize {
        self as usize
    }
}

named_enum!(
    /// Who handles a ticket.
    Destination { Support => "SUPPORT", Csm => "CSM" }
);
named_enum!(
    Priority { Low => "LOW", Normal => "NORMAL", High => "HIGH" }
);
named_enum!(
    /// The languages tickets come in.
    Language { German => "GERMAN", English => "ENGLISH" }
);

/// A ticket as a support tool sends it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ticket<'a> {
    pub subject: &'a str,
    pub body: &'a str,
    /// Known to the caller; it wins over the rules.
    pub category: Option<Category>,
    /// `None` means detect it from the text.
    pub language: Option<Language>,
}

/// What routing needs to know about the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountContext {
    /// `None` when the account has no health score yet: it never escalates by colour.
    pub color: Option<HealthColor>,
    pub tier: Option<Tier>,
}

/// Where a ticket goes, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub category: Category,
    pub destination: Destination,
    pub priority: Priority,
    /// 0–1; see the module documentation.
    pub confidence: f64,
    /// For people: the matched words as the customer wrote them, the category and, for
    /// escalating categories, the account's colour and tier.
    pub reason: String,
    /// The rule that contributed most to the category; `None` for the caller's
    /// category and for OTHER.
    pub rule_id: Option<String>,
    /// Given or detected.
    pub language: Language,
}

/// Subject matches weigh this many body matches.
const SUBJECT_FACTOR: f64 = 2.0;
/// Points at which confidence from evidence alone reaches 1 − 1/e ≈ 0.63.
const EVIDENCE_SCALE: f64 = 2.0;
/// How many matched words the reason lists.
const REASON_TERMS: usize = 5;

/// Routes a ticket. Never fails: validated rules leave nothing to go wrong.
pub fn route(rules: &RoutingRules, ticket: &Ticket<'_>, account: &AccountContext) -> Decision {
    let language = ticket
        .language
        .unwrap_or_else(|| text::detect_in(&[ticket.subject, ticket.body]));

    if let Some(category) = ticket.category {
        return decide(
            rules,
            category,
            account,
            "category given by the caller",
            1.0,
            None,
            language,
        );
    }

    let fields = [Words::new(ticket.subject), Words::new(ticket.body)];
    let hits = hits(rules, &fields, language);
    let mut points = [0.0; Category::ALL.len()];
    for hit in &hits {
        points[hit.category.index()] += hit.points;
    }
    let mut ranked: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|&category| category != Category::Other)
        .collect();
    ranked.sort_by(|a, b| {
        points[b.index()]
            .total_cmp(&points[a.index()])
            .then_with(|| {
                let precedence = |c: &Category| rules.policy(*c).precedence;
                precedence(a).cmp(&precedence(b))
            })
            .then_with(|| a.cmp(b))
    });
    let best = ranked[0];
    let best_points = points[best.index()];
    if best_points <= 0.0 {
        return decide(
            rules,
            Category::Other,
            account,
            "no rule matched",
            0.0,
            None,
            language,
        );
    }
    let second_points = points[ranked[1].index()];
    let winning: Vec<&Hit<'_>> = hits.iter().filter(|hit| hit.category == best).collect();
    decide(
        rules,
        best,
        account,
        &matched(&winning),
        confidence(best_points, second_points),
        Some(deciding_rule(rules, &winning)),
        language,
    )
}

/// One term found in one field, worth `points` for its rule's category.
#[derive(Debug)]
struct Hit<'t> {
    category: Category,
    rule_index: usize,
    points: f64,
    /// 0 for the subject, 1 for the body.
    field: usize,
    /// In the field's normalised text.
    range: Range<usize>,
    written: &'t str,
}

/// Every term of every applicable rule, its first occurrence per field, keeping per
/// category and field only the longest term over any stretch of text.
fn hits<'t>(rules: &RoutingRules, fields: &[Words<'t>; 2], language: Language) -> Vec<Hit<'t>> {
    let mut found = Vec::new();
    for (rule_index, compiled) in rules.compiled().iter().enumerate() {
        let rule = &compiled.rule;
        if rule.language.is_some_and(|only| only != language) {
            continue;
        }
        for (field, words) in fields.iter().enumerate() {
            let factor = if field == 0 { SUBJECT_FACTOR } else { 1.0 };
            for range in compiled.first_matches(words) {
                found.push(Hit {
                    category: rule.category,
                    rule_index,
                    points: rule.weight * factor,
                    field,
                    written: words.written(&range),
                    range,
                });
            }
        }
    }
    // Stable sort: among equally long matches the earlier rule and term stay first.
    found.sort_by_key(|hit| std::cmp::Reverse(hit.range.len()));
    let mut kept: Vec<Hit<'t>> = Vec::with_capacity(found.len());
    for hit in found {
        let overlaps = kept.iter().any(|other| {
            other.category == hit.category
                && other.field == hit.field
                && other.range.start < hit.range.end
                && hit.range.start < other.range.end
        });
        if !overlaps {
            kept.push(hit);
        }
    }
    kept
}

/// `matched "Kündigung", "Vertrag"`: the strongest evidence first, each word once.
fn matched(hits: &[&Hit<'_>]) -> String {
    let mut ordered = hits.to_vec();
    ordered.sort_by(|a, b| {
        b.points
            .total_cmp(&a.points)
            .then_with(|| (a.field, a.range.start).cmp(&(b.field, b.range.start)))
    });
    let mut shown: Vec<&str> = Vec::new();
    for hit in ordered {
        if !shown.iter().any(|s| normalize(s) == normalize(hit.written)) {
            shown.push(hit.written);
        }
    }
    let listed: Vec<String> = shown
        .iter()
        .take(REASON_TERMS)
        .map(|written| format!("\"{written}\""))
        .collect();
    format!("matched {}", listed.join(", "))
}

/// The rule with the most points for the winning category; the earlier one on a tie.
fn deciding_rule(rules: &RoutingRules, hits: &[&Hit<'_>]) -> String {
    let compiled = rules.compiled();
    let mut by_rule = vec![0.0; compiled.len()];
    for hit in hits {
        by_rule[hit.rule_index] += hit.points;
    }
    let mut best = hits.first().map_or(0, |hit| hit.rule_index);
    for (index, &points) in by_rule.iter().enumerate() {
        if points > by_rule[best] {
            best = index;
        }
    }
    compiled[best].rule.id.clone()
}

/// Evidence times margin, in [0, 1] even for infinite points.
fn confidence(best: f64, second: f64) -> f64 {
    if best.is_nan() || best <= 0.0 {
        return 0.0;
    }
    let evidence = 1.0 - (-best / EVIDENCE_SCALE).exp();
    let margin = if second >= best {
        0.0
    } else {
        1.0 - second / best
    };
    (evidence * (0.5 + 0.5 * margin)).clamp(0.0, 1.0)
}

fn decide(
    rules: &RoutingRules,
    category: Category,
    account: &AccountContext,
    evidence: &str,
    confidence: f64,
    rule_id: Option<String>,
    language: Language,
) -> Decision {
    let policy = rules.policy(category);
    let escalates = policy.escalate
        && (account.color == Some(HealthColor::Red) || account.tier == Some(Tier::A));
    let priority = if escalates {
        Priority::High
    } else {
        Priority::Normal
    };
    let mut reason = format!("{evidence} ({category}) → {}", policy.destination);
    if policy.escalate {
        let color = account
            .color
            .map_or_else(|| "health unknown".to_owned(), |color| color.to_string());
        let tier = account
            .tier
            .map_or_else(|| "tier unknown".to_owned(), |tier| format!("tier {tier}"));
        reason.push_str(&format!("; account {color}, {tier} → {priority}"));
    } else {
        reason.push_str(&format!(", {priority}"));
    }
    Decision {
        category,
        destination: policy.destination,
        priority,
        confidence,
        reason,
        rule_id,
        language,
    }
}
