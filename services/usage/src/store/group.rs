//! Group commit on SQLite, which writes one transaction at a time: batches that arrive
//! while one is written wait, and the next writer commits all of them in one transaction.
//! In one commit they share the pages they touch (a rollup leaf, the end of the raw
//! events), which SQLite would otherwise write to the WAL once per batch. Each batch is
//! answered after the commit that holds it, so what an answer promises is unchanged; a
//! failed commit fails every batch in it, and none of them is written. Keys repeated
//! across the batches of a group count for the batch that arrived first.
//!
//! Every batch starts a writer task of its own once it waits, detached from its caller:
//! a caller that goes away (a cancelled call) must not take the other batches of its
//! group down with it. A task takes whatever waits when it gets the writer, so there are
//! always at least as many tasks to come as batches waiting.

use std::sync::{Mutex, MutexGuard, PoisonError};

use nordstern_runtime::error::is_unavailable;
use sea_orm::{DbErr, RuntimeErr};
use tokio::sync::oneshot;

use super::{NewEvent, Store, ingest::write_events};

/// Events committed together at most: four of the largest batches.
const MAX_GROUP_EVENTS: usize = 20_000;

#[derive(Default)]
pub(super) struct WaitingBatches {
    queue: Mutex<Vec<WaitingBatch>>,
}

struct WaitingBatch {
    events: Vec<NewEvent>,
    answer: oneshot::Sender<Result<Vec<bool>, Failure>>,
}

/// A storage error as every batch of a failed group gets it: whether the caller may
/// retry elsewhere (the database went away) survives.
#[derive(Clone)]
struct Failure {
    unavailable: bool,
    message: String,
}

impl Failure {
    fn of(error: &DbErr) -> Self {
        Failure {
            unavailable: is_unavailable(error),
            message: error.to_string(),
        }
    }

    fn into_db_err(self) -> DbErr {
        if self.unavailable {
            DbErr::Conn(RuntimeErr::Internal(self.message))
        } else {
            DbErr::Custom(self.message)
        }
    }
}

impl WaitingBatches {
    /// The queue; a panic elsewhere while it was held leaves it usable (every change to
    /// it is one push or one drain).
    fn queue(&self) -> MutexGuard<'_, Vec<WaitingBatch>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_empty(&self) -> bool {
        self.queue().is_empty()
    }

    fn push(&self, batch: WaitingBatch) {
        self.queue().push(batch);
    }

    /// The batches waiting longest, up to `MAX_GROUP_EVENTS` events (at least one batch).
    fn take_group(&self) -> Vec<WaitingBatch> {
        let mut queue = self.queue();
        let mut events = 0;
        let taken = queue
            .iter()
            .take_while(|batch| {
                events += batch.events.len();
                events <= MAX_GROUP_EVENTS
            })
            .count()
            .max(1)
            .min(queue.len());
        queue.drain(..taken).collect()
    }
}

impl Store {
    pub(super) async fn ingest_in_group(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, DbErr> {
        let (answer, answered) = oneshot::channel();
        self.waiting.push(WaitingBatch { events, answer });
        let store = self.clone();
        tokio::spawn(tracing::Instrument::in_current_span(async move {
            store.commit_waiting().await
        }));
        match answered.await {
            Ok(result) => result.map_err(Failure::into_db_err),
            Err(_) => Err(DbErr::Custom(
                "the writer of this batch's group stopped without an answer".to_owned(),
            )),
        }
    }

    /// Takes the writer, then every batch waiting (up to the group's limit), and commits
    /// them together.
    async fn commit_waiting(&self) {
        // An earlier task took this task's batch already.
        if self.waiting.is_empty() {
            return;
        }
        let txn = self.writer.begin().await;
        let group = self.waiting.take_group();
        if group.is_empty() {
            return;
        }
        let (events, answers): (Vec<Vec<NewEvent>>, Vec<_>) = group
            .into_iter()
            .map(|batch| (batch.events, batch.answer))
            .unzip();
        let sizes: Vec<usize> = events.iter().map(Vec::len).collect();
        let events: Vec<NewEvent> = events.into_iter().flatten().collect();
        let result = async {
            let txn = txn?;
            let stored = write_events(&txn.txn, &events).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(stored)
        }
        .await;
        match result {
            Ok(stored) => {
                let mut stored = stored.into_iter();
                for (answer, size) in answers.into_iter().zip(sizes) {
                    // A caller that went away needs no answer.
                    let _ = answer.send(Ok(stored.by_ref().take(size).collect()));
                }
            }
            Err(error) => {
                let failure = Failure::of(&error);
                for answer in answers {
                    let _ = answer.send(Err(failure.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nordstern_domain::usage::EventKind;

    use super::*;

    fn batch(id: &str, size: usize) -> WaitingBatch {
        let event = NewEvent {
            account_id: id.to_owned(),
            event_id: String::new(),
            occurred_at: 0,
            user_key: String::new(),
            kind: EventKind::Login,
            quantity: 1,
            feature_key: String::new(),
            ticket_id: String::new(),
            properties: "{}".to_owned(),
        };
        WaitingBatch {
            events: vec![event; size],
            answer: oneshot::channel().0,
        }
    }

    fn ids(group: &[WaitingBatch]) -> Vec<&str> {
        group
            .iter()
            .map(|batch| batch.events[0].account_id.as_str())
            .collect()
    }

    #[test]
    fn groups_take_the_longest_waiting_batches_up_to_the_limit() {
        let waiting = WaitingBatches::default();
        assert!(waiting.take_group().is_empty());
        for (id, size) in [
            ("a", 5_000),
            ("b", 5_000),
            ("c", 5_000),
            ("d", 5_000),
            ("e", 1),
        ] {
            waiting.push(batch(id, size));
        }
        assert_eq!(ids(&waiting.take_group()), ["a", "b", "c", "d"]);
        assert_eq!(ids(&waiting.take_group()), ["e"]);
        assert!(waiting.take_group().is_empty());

        // A batch over the limit on its own still goes, alone.
        waiting.push(batch("big", MAX_GROUP_EVENTS + 1));
        waiting.push(batch("small", 1));
        assert_eq!(ids(&waiting.take_group()), ["big"]);
        assert_eq!(ids(&waiting.take_group()), ["small"]);
    }
}
