//! Contract events and the contract state they imply. Every ARR change goes through
//! [`apply_change`], so the rules live in one place.

use chrono::NaiveDate;

use crate::account::ContractEventKind;

/// What an account's accepted contract events add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractState {
    /// Current ARR in minor units; never negative.
    pub arr: i64,
    /// End of the current term, set by NEW (optional) and every RENEWAL.
    pub renewal_date: Option<NaiveDate>,
    /// Set by CHURN; a churned account accepts no further events.
    pub churned_on: Option<NaiveDate>,
    /// Events must not go back in time: later ones build on earlier ARR.
    pub last_effective_date: Option<NaiveDate>,
    /// Whether the opening NEW event has been recorded.
    pub has_new: bool,
}

impl ContractState {
    /// An account without contract events.
    pub fn empty() -> Self {
        ContractState {
            arr: 0,
            renewal_date: None,
            churned_on: None,
            last_effective_date: None,
            has_new: false,
        }
    }
}

/// A contract event as a client submits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractChange {
    pub kind: ContractEventKind,
    pub arr_change: i64,
    pub effective_date: NaiveDate,
    pub renewal_date: Option<NaiveDate>,
}

/// Why a change was refused. The first two are bad input on one field (`arr_change`,
/// `renewal_date`; the reason is its field-violation description); the rest are failed
/// preconditions of the account's history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Field `arr_change`.
    #[error("arr_change {reason}")]
    InvalidArrChange { reason: String },
    /// Field `renewal_date`.
    #[error("renewal_date {reason}")]
    InvalidRenewalDate { reason: String },
    #[error("events must be recorded in order: the last one took effect on {last}")]
    OutOfOrder { last: NaiveDate },
    #[error("the account has churned; no further contract events are accepted")]
    AccountChurned,
    #[error("the account has no contract yet; record a NEW event first")]
    NoContract,
    #[error("the account already has a contract; a second NEW event is not allowed")]
    AlreadyStarted,
}

fn arr_error(reason: &str) -> ContractError {
    ContractError::InvalidArrChange {
        reason: reason.to_owned(),
    }
}

fn renewal_error(reason: &str) -> ContractError {
    ContractError::InvalidRenewalDate {
        reason: reason.to_owned(),
    }
}

/// Validates `change` against `state` and returns the next state and the ARR change to
/// record. The rules, so ARR can never go negative or jump back in time:
/// - the account must not have churned, and `effective_date` must not be before the
///   last event's (same day is fine);
/// - NEW: first event only, `arr_change >= 0`, an optional renewal date after the
///   effective date opens the first term;
/// - EXPANSION: `arr_change > 0`; CONTRACTION: `arr_change < 0` leaving ARR above zero
///   (contracting to zero is a CHURN);
/// - RENEWAL: a renewal date after the effective date and after the current one is
///   required; ARR may go up, down or stay, but not below zero;
/// - CHURN: records minus the whole current ARR, whatever was passed.
///
/// Arithmetic is checked; an overflow is an invalid `arr_change`.
pub fn apply_change(
    state: &ContractState,
    change: &ContractChange,
) -> Result<(ContractState, i64), ContractError> {
    if state.churned_on.is_some() {
        return Err(ContractError::AccountChurned);
    }
    if let Some(last) = state.last_effective_date
        && change.effective_date < last
    {
        return Err(ContractError::OutOfOrder { last });
    }
    let mut next = *state;
    next.last_effective_date = Some(change.effective_date);
    let recorded = match change.kind {
        ContractEventKind::New => {
            if state.has_new {
                return Err(ContractError::AlreadyStarted);
            }
            if change.arr_change < 0 {
                return Err(arr_error("must not be negative for a NEW contract"));
            }
            if let Some(renewal) = change.renewal_date {
                if renewal <= change.effective_date {
                    return Err(renewal_error("must be after the effective date"));
                }
                next.renewal_date = Some(renewal);
            }
            next.has_new = true;
            change.arr_change
        }
        _ if !state.has_new => return Err(ContractError::NoContract),
        ContractEventKind::Expansion => {
            if change.arr_change <= 0 {
                return Err(arr_error("must be positive for an EXPANSION"));
            }
            change.arr_change
        }
        ContractEventKind::Contraction => {
            if change.arr_change >= 0 {
                return Err(arr_error("must be negative for a CONTRACTION"));
            }
            let remaining = state
                .arr
                .checked_add(change.arr_change)
                .ok_or_else(|| arr_error("is out of range"))?;
            if remaining <= 0 {
                return Err(arr_error("would leave no ARR; record a CHURN instead"));
            }
            change.arr_change
        }
        ContractEventKind::Renewal => {
            let renewal = change.renewal_date.ok_or_else(|| {
                renewal_error("is required for a RENEWAL: the end of the new term")
            })?;
            if renewal <= change.effective_date {
                return Err(renewal_error("must be after the effective date"));
            }
            if state.renewal_date.is_some_and(|current| renewal <= current) {
                return Err(renewal_error("must be after the current renewal date"));
            }
            next.renewal_date = Some(renewal);
            change.arr_change
        }
        ContractEventKind::Churn => {
            next.churned_on = Some(change.effective_date);
            -state.arr
        }
    };
    next.arr = state
        .arr
        .checked_add(recorded)
        .ok_or_else(|| arr_error("is out of range"))?;
    if next.arr < 0 {
        return Err(arr_error("would make ARR negative"));
    }
    Ok((next, recorded))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(day: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(day)
    }

    fn change(
        kind: ContractEventKind,
        arr_change: i64,
        day: i64,
        renewal: Option<i64>,
    ) -> ContractChange {
        ContractChange {
            kind,
            arr_change,
            effective_date: d(day),
            renewal_date: renewal.map(d),
        }
    }

    #[test]
    fn a_contract_lifetime() {
        use ContractEventKind::*;
        let s = ContractState::empty();
        let (s, _) = apply_change(&s, &change(New, 1000, 0, Some(365))).unwrap();
        assert_eq!((s.arr, s.renewal_date), (1000, Some(d(365))));
        let (s, _) = apply_change(&s, &change(Expansion, 500, 30, None)).unwrap();
        let (s, _) = apply_change(&s, &change(Contraction, -200, 60, None)).unwrap();
        let (s, _) = apply_change(&s, &change(Renewal, 100, 365, Some(730))).unwrap();
        assert_eq!((s.arr, s.renewal_date), (1400, Some(d(730))));
        let (s, recorded) = apply_change(&s, &change(Churn, 0, 730, None)).unwrap();
        assert_eq!((s.arr, recorded, s.churned_on), (0, -1400, Some(d(730))));
        assert_eq!(
            apply_change(&s, &change(Expansion, 1, 731, None)),
            Err(ContractError::AccountChurned)
        );
    }

    #[test]
    fn rules_are_enforced() {
        use ContractEventKind::*;
        let empty = ContractState::empty();
        assert_eq!(
            apply_change(&empty, &change(Expansion, 1, 0, None)),
            Err(ContractError::NoContract)
        );
        let (s, _) = apply_change(&empty, &change(New, 100, 10, None)).unwrap();
        assert_eq!(
            apply_change(&s, &change(New, 1, 11, None)),
            Err(ContractError::AlreadyStarted)
        );
        assert_eq!(
            apply_change(&s, &change(Expansion, 1, 9, None)),
            Err(ContractError::OutOfOrder { last: d(10) })
        );
        assert!(matches!(
            apply_change(&s, &change(Expansion, -1, 11, None)),
            Err(ContractError::InvalidArrChange { .. })
        ));
        assert!(matches!(
            apply_change(&s, &change(Contraction, -100, 11, None)),
            Err(ContractError::InvalidArrChange { .. })
        ));
        assert!(matches!(
            apply_change(&s, &change(Renewal, 0, 11, None)),
            Err(ContractError::InvalidRenewalDate { .. })
        ));
        assert!(matches!(
            apply_change(&s, &change(Renewal, -101, 11, Some(400))),
            Err(ContractError::InvalidArrChange { .. })
        ));
        assert!(matches!(
            apply_change(&empty, &change(New, -1, 0, None)),
            Err(ContractError::InvalidArrChange { .. })
        ));
        assert!(matches!(
            apply_change(&s, &change(Expansion, i64::MAX, 11, None)),
            Err(ContractError::InvalidArrChange { .. })
        ));
    }

    #[test]
    fn renewal_dates_must_move_forward() {
        use ContractEventKind::*;
        let (s, _) =
            apply_change(&ContractState::empty(), &change(New, 100, 0, Some(365))).unwrap();
        assert!(matches!(
            apply_change(&s, &change(Renewal, 0, 300, Some(365))),
            Err(ContractError::InvalidRenewalDate { .. })
        ));
        assert!(matches!(
            apply_change(&s, &change(Renewal, 0, 300, Some(300))),
            Err(ContractError::InvalidRenewalDate { .. })
        ));
        assert!(matches!(
            apply_change(&ContractState::empty(), &change(New, 100, 10, Some(10))),
            Err(ContractError::InvalidRenewalDate { .. })
        ));
        // A renewal may lower ARR, even to zero, and may come late.
        let (s2, recorded) = apply_change(&s, &change(Renewal, -100, 400, Some(800))).unwrap();
        assert_eq!((s2.arr, recorded, s2.renewal_date), (0, -100, Some(d(800))));
        // Without a prior renewal date any date after the effective date will do.
        let (open, _) = apply_change(&ContractState::empty(), &change(New, 100, 0, None)).unwrap();
        assert_eq!(open.renewal_date, None);
        assert!(apply_change(&open, &change(Renewal, 10, 5, Some(6))).is_ok());
    }

    #[test]
    fn same_day_events_and_churn_details() {
        use ContractEventKind::*;
        let (s, _) = apply_change(&ContractState::empty(), &change(New, 100, 3, None)).unwrap();
        let (s, _) = apply_change(&s, &change(Expansion, 50, 3, None)).unwrap();
        assert_eq!((s.arr, s.last_effective_date), (150, Some(d(3))));
        // CHURN ignores the amount passed, and a churn cannot be churned again.
        let (churned, recorded) = apply_change(&s, &change(Churn, 999, 3, None)).unwrap();
        assert_eq!(
            (churned.arr, recorded, churned.churned_on),
            (0, -150, Some(d(3)))
        );
        assert_eq!(
            apply_change(&churned, &change(Churn, 0, 4, None)),
            Err(ContractError::AccountChurned)
        );
        assert_eq!(
            apply_change(&churned, &change(New, 1, 4, None)),
            Err(ContractError::AccountChurned)
        );
        // A contraction of everything is refused; the exact remainder of one is fine.
        assert!(matches!(
            apply_change(&s, &change(Contraction, -150, 4, None)),
            Err(ContractError::InvalidArrChange { .. })
        ));
        assert_eq!(
            apply_change(&s, &change(Contraction, -149, 4, None))
                .unwrap()
                .0
                .arr,
            1
        );
        assert!(matches!(
            apply_change(&s, &change(Contraction, i64::MIN, 4, None)),
            Err(ContractError::InvalidArrChange { .. })
        ));
        // Nothing but NEW before NEW.
        for kind in [Expansion, Contraction, Renewal, Churn] {
            assert_eq!(
                apply_change(&ContractState::empty(), &change(kind, -1, 0, Some(9))),
                Err(ContractError::NoContract)
            );
        }
    }

    #[test]
    fn errors_name_their_field() {
        let arr = ContractError::InvalidArrChange {
            reason: "must be positive".to_owned(),
        };
        assert_eq!(arr.to_string(), "arr_change must be positive");
        let out_of_order = ContractError::OutOfOrder { last: d(0) };
        assert!(out_of_order.to_string().contains("2025-01-01"));
    }

    proptest! {
        #[test]
        fn arr_never_goes_negative(steps in proptest::collection::vec((0u8..5, -1_000_000i64..1_000_000, 0i64..30), 0..40)) {
            let mut state = apply_change(&ContractState::empty(), &change(ContractEventKind::New, 10_000, 0, Some(365))).unwrap().0;
            let mut day = 0;
            for (kind, amount, gap) in steps {
                day += gap;
                let kind = ContractEventKind::ALL[kind as usize];
                let renewal = state.renewal_date.map(|r| r + chrono::Duration::days(365));
                let c = ContractChange { kind, arr_change: amount, effective_date: d(day), renewal_date: renewal };
                let result = apply_change(&state, &c);
                if state.churned_on.is_some() {
                    prop_assert_eq!(&result, &Err(ContractError::AccountChurned));
                }
                if let Ok((next, recorded)) = result {
                    prop_assert!(next.arr >= 0);
                    prop_assert!(next.last_effective_date >= state.last_effective_date);
                    prop_assert_eq!(next.arr, state.arr + recorded);
                    if kind == ContractEventKind::Churn {
                        prop_assert_eq!(next.arr, 0);
                    }
                    state = next;
                }
            }
        }
    }
}
