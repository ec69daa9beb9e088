//! Batch writes: up to [`MAX_BATCH`] items in one call, each checked and written as its
//! single call would, a refused item answered with its index, field, reason and the code
//! the single call would have given, and the others written.

use nordstern_proto::common::v1::ItemRefusal;

use crate::{
    error::{ItemReason, ServiceError},
    status::FieldViolations,
    wire::MAX_BATCH,
};

/// What became of one item: written now, found written before, or refused.
#[derive(Debug)]
pub enum ItemOutcome<T> {
    Written(T),
    Duplicate(T),
    Refused(Refusal),
}

/// An item's fate before the batch's rows are read back: written (`W`), answered by the
/// id of what an earlier request wrote, or refused.
pub enum Pending<W> {
    Written(W),
    Duplicate(String),
    Refused(Refusal),
}

impl<W> Pending<W> {
    /// The outcome of an item repeated in its batch with the same key and request.
    pub fn repeated(&self, id_of: impl Fn(&W) -> &str) -> Self {
        match self {
            Pending::Written(written) => Pending::Duplicate(id_of(written).to_owned()),
            Pending::Duplicate(id) => Pending::Duplicate(id.clone()),
            Pending::Refused(refusal) => Pending::Refused(refusal.clone()),
        }
    }
}

/// Why an item was refused: one reason per field, each with the code the single call
/// would have answered.
pub type Refusal = Vec<ItemReason>;

/// A batch over the limit is refused whole, before anything is read.
pub fn check_size(field: &str, len: usize) -> Result<(), FieldViolations> {
    if len > MAX_BATCH {
        return Err(FieldViolations::single(
            field,
            format!("at most {MAX_BATCH} per call, got {len}"),
        ));
    }
    Ok(())
}

/// The refusals of the item at `index` that its single call would have refused with
/// `violations`.
pub fn violation_refusals(index: usize, violations: FieldViolations) -> Vec<ItemRefusal> {
    item_refusals(
        index,
        ServiceError::InvalidArgument(violations).item_reasons(""),
    )
}

pub fn item_refusals(index: usize, reasons: Refusal) -> Vec<ItemRefusal> {
    reasons
        .into_iter()
        .map(|reason| ItemRefusal {
            index: index as i32,
            field: reason.field,
            reason: reason.reason,
            code: reason.code as i32,
        })
        .collect()
}

/// Items refused, however many reasons each has; `refusals` is in index order.
pub fn refused_items(refusals: &[ItemRefusal]) -> i32 {
    let mut indices: Vec<i32> = refusals.iter().map(|r| r.index).collect();
    indices.dedup();
    indices.len() as i32
}

/// The items a batch wrote, now or before, each with its index in the request and
/// whether it was written before (`duplicate`); a refused item's reasons go to
/// `refusals`. `indices[i]` is the request index of `outcomes[i]`.
pub fn written<T>(
    indices: Vec<usize>,
    outcomes: Vec<ItemOutcome<T>>,
    refusals: &mut Vec<ItemRefusal>,
) -> Vec<(usize, T, bool)> {
    let mut written = Vec::with_capacity(outcomes.len());
    for (index, outcome) in indices.into_iter().zip(outcomes) {
        match outcome {
            ItemOutcome::Written(row) => written.push((index, row, false)),
            ItemOutcome::Duplicate(row) => written.push((index, row, true)),
            ItemOutcome::Refused(refused) => refusals.extend(item_refusals(index, refused)),
        }
    }
    written
}

pub fn count<T>(items: &[T], which: impl Fn(&T) -> bool) -> i32 {
    items.iter().filter(|item| which(item)).count() as i32
}
