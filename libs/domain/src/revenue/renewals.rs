//! Renewal rate: each NEW or RENEWAL with a renewal date opens a term ending on that
//! date; a term falls due in the period its end date lies in, and is completed by a
//! later RENEWAL that took effect before the period ended (early or late renewals
//! count, so a CSM who renews ahead of time is not penalised).

use chrono::NaiveDate;

use super::AccountHistory;
use crate::account::ContractEventKind;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Terms {
    pub due: u32,
    pub completed: u32,
}

pub(super) fn terms(account: &AccountHistory, start: NaiveDate, end: NaiveDate) -> Terms {
    let mut terms = Terms::default();
    for (index, event) in account.events.iter().enumerate() {
        let opens_term = matches!(
            event.kind,
            ContractEventKind::New | ContractEventKind::Renewal
        );
        let Some(term_end) = event.renewal_date.filter(|_| opens_term) else {
            continue;
        };
        if !(start <= term_end && term_end < end) {
            continue;
        }
        terms.due += 1;
        let renewed = account.events[index + 1..]
            .iter()
            .any(|later| later.kind == ContractEventKind::Renewal && later.effective_date < end);
        if renewed {
            terms.completed += 1;
        }
    }
    terms
}
