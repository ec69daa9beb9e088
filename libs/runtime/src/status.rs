//! The small shared vocabulary for turning service errors into gRPC statuses: field
//! violations for bad input, and internal errors that are logged with their cause chain
//! but answered with a generic message.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Collects every problem of a request, so a caller fixes them all in one round trip.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldViolations {
    violations: Vec<(String, String)>,
}

impl FieldViolations {
    pub fn new() -> Self {
        FieldViolations::default()
    }

    /// Records one problem; the same problem found by two checks is named once.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        let violation = (field.into(), description.into());
        if !self.violations.contains(&violation) {
            self.violations.push(violation);
        }
    }

    /// Records the error of `result` under `field` and passes the value on.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn violations(&self) -> &[(String, String)] {
        &self.violations
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), FieldViolations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        violations
    }
}

impl FieldViolations {
    /// Takes in every violation of `other` (e.g. a domain rule's), after those recorded.
    pub fn merge(&mut self, other: impl Into<FieldViolations>) {
        for (field, description) in other.into().violations {
            self.add(field, description);
        }
    }
}

impl From<nordstern_domain::health::ConfigViolation> for FieldViolations {
    fn from(violation: nordstern_domain::health::ConfigViolation) -> Self {
        FieldViolations::single(violation.field, violation.description)
    }
}

impl From<nordstern_domain::churn::CsvViolation> for FieldViolations {
    fn from(violation: nordstern_domain::churn::CsvViolation) -> Self {
        FieldViolations::single(violation.field, violation.description)
    }
}

impl<V: Into<FieldViolations>> FromIterator<V> for FieldViolations {
    fn from_iter<I: IntoIterator<Item = V>>(violations: I) -> Self {
        let mut all = FieldViolations::new();
        for violation in violations {
            all.merge(violation);
        }
        all
    }
}

impl std::fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .violations
            .iter()
            .map(|(field, description)| format!("{field}: {description}"))
            .collect();
        write!(f, "invalid request: {}", parts.join("; "))
    }
}

impl std::error::Error for FieldViolations {}

/// Text of violations an answer carries at most: the message and the details travel
/// in response headers, and a client drops a response whose headers pass its limit
/// (16 KiB in hyper), so a request full of huge bad values still gets its answer.
const MAX_VIOLATION_TEXT: usize = 2_000;
/// Longest field name or description an answer repeats.
const MAX_VIOLATION_PART: usize = 300;

/// `text` cut to `max` bytes at a character boundary, marked when cut.
fn clipped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl FieldViolations {
    /// The violations as an answer carries them: each part clipped, and those past the
    /// size budget summed up in a last one.
    fn bounded(&self) -> FieldViolations {
        let mut shown = FieldViolations::new();
        let mut budget = MAX_VIOLATION_TEXT;
        for (index, (field, description)) in self.violations.iter().enumerate() {
            let field = clipped(field, MAX_VIOLATION_PART);
            let description = clipped(description, MAX_VIOLATION_PART);
            let size = field.len() + description.len();
            if size > budget {
                shown.add(
                    "…",
                    format!(
                        "{} more violations not listed",
                        self.violations.len() - index
                    ),
                );
                break;
            }
            budget -= size;
            shown.add(field, description);
        }
        shown
    }
}

impl From<FieldViolations> for Status {
    fn from(violations: FieldViolations) -> Status {
        let violations = violations.bounded();
        let mut details = ErrorDetails::new();
        for (field, description) in &violations.violations {
            details.add_bad_request_violation(field.clone(), description.clone());
        }
        Status::with_error_details(Code::InvalidArgument, violations.to_string(), details)
    }
}

/// Logs an unexpected error with its whole cause chain and answers without leaking it.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    internal_with_context("", error)
}

/// [`internal`], with what was being done in the log line (never in the answer).
pub fn internal_with_context(context: &str, error: &(dyn std::error::Error + 'static)) -> Status {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    if context.is_empty() {
        tracing::error!(error = %chain, "internal error");
    } else {
        tracing::error!(error = %chain, context, "internal error");
    }
    Status::internal("internal error; the server log has the details")
}

/// Reads the field violations back out of a status (clients and tests).
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .into_iter()
                .map(|violation| (violation.field, violation.description))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_travel_in_the_status_details() {
        let mut violations = FieldViolations::new();
        violations.add("account.name", "must not be empty");
        assert_eq!(
            violations.check::<u8>("arr", Err("must be positive".to_owned())),
            None
        );
        let status = Status::from(violations);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            field_violations(&status),
            vec![
                ("account.name".to_owned(), "must not be empty".to_owned()),
                ("arr".to_owned(), "must be positive".to_owned())
            ]
        );
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    #[test]
    fn domain_violations_convert_and_merge_after_what_was_recorded() {
        let mut violations = FieldViolations::single("page_size", "too big");
        let config: FieldViolations = [nordstern_domain::health::ConfigViolation {
            field: "config.green_min".to_owned(),
            description: "must be above yellow_min".to_owned(),
        }]
        .into_iter()
        .collect();
        violations.merge(config);
        let fields: Vec<&str> = violations
            .violations()
            .iter()
            .map(|(field, _)| field.as_str())
            .collect();
        assert_eq!(fields, ["page_size", "config.green_min"]);
    }

    #[test]
    fn answers_stay_small_however_large_the_bad_values() {
        let mut violations = FieldViolations::new();
        for index in 0..1_000 {
            violations.add(
                format!("ids[{index}]"),
                format!("`{}` is not a UUID", "x".repeat(5_000)),
            );
        }
        let status = Status::from(violations);
        assert!(status.message().len() < 2_600, "{}", status.message().len());
        let listed = field_violations(&status);
        assert!(listed.len() < 10, "{}", listed.len());
        assert!(
            listed
                .last()
                .is_some_and(|(field, description)| field == "…"
                    && description.ends_with("more violations not listed"))
        );
        assert!(
            listed
                .iter()
                .all(|(_, description)| description.len() <= MAX_VIOLATION_PART + 3)
        );
        assert_eq!(clipped("Zähler", 2), "Z…");
    }
}
