//! The audit trail: each process queues events in memory and one task writes them in
//! batches, so an audited request costs a channel send, not a database round trip. The
//! writer drains the queue before the process exits (it ends when the last sender, held
//! by the servers, is gone).

use std::time::Duration;

use nordstern_runtime::{guard::Caller, shutdown::ShutdownSignal};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tonic::Code;

use crate::{keeper::outcome_name, store};

/// Events queued before new ones are dropped (and counted in the log): the bound on
/// memory when the database cannot keep up.
const QUEUE: usize = 20_000;
/// Events written in one statement.
const BATCH: usize = 1_000;

#[derive(Clone)]
pub struct AuditSink {
    sender: mpsc::Sender<store::AuditRecord>,
}

pub struct AuditWriter {
    receiver: mpsc::Receiver<store::AuditRecord>,
}

pub fn channel() -> (AuditSink, AuditWriter) {
    let (sender, receiver) = mpsc::channel(QUEUE);
    (AuditSink { sender }, AuditWriter { receiver })
}

impl AuditSink {
    pub fn record(
        &self,
        method: &str,
        caller: Option<&Caller>,
        scope: &str,
        account_id: Option<String>,
        code: Code,
    ) {
        let record = store::AuditRecord {
            event_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: chrono::Utc::now().timestamp_micros(),
            token_id: caller.map_or_else(String::new, |c| c.token_id.to_string()),
            token_name: caller.map_or_else(String::new, |c| c.token_name.to_string()),
            via_service: caller.is_some_and(|c| c.via_service),
            method: method.to_owned(),
            account_id: account_id.unwrap_or_default(),
            outcome: outcome_name(code).to_owned(),
            scope: scope.to_owned(),
        };
        if let Err(mpsc::error::TrySendError::Full(record)) = self.sender.try_send(record) {
            tracing::error!(method = %record.method, outcome = %record.outcome, "audit queue full; event dropped");
        }
    }
}

impl AuditWriter {
    /// Writes queued events until every sender is gone, or until `linger` after
    /// `shutdown` (a connection abandoned after the grace period may still hold one),
    /// then writes what is queued and returns.
    pub async fn run(mut self, db: DatabaseConnection, shutdown: ShutdownSignal, linger: Duration) {
        let mut batch = Vec::with_capacity(BATCH);
        let deadline = async move {
            shutdown.wait().await;
            tokio::time::sleep(linger).await;
        };
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                received = self.receiver.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        return;
                    }
                    write(&db, std::mem::take(&mut batch)).await;
                }
                () = &mut deadline => {
                    while let Ok(record) = self.receiver.try_recv() {
                        batch.push(record);
                    }
                    write(&db, batch).await;
                    return;
                }
            }
        }
    }
}

/// Writes a batch, trying again briefly so a database restart loses nothing.
async fn write(db: &DatabaseConnection, records: Vec<store::AuditRecord>) {
    if records.is_empty() {
        return;
    }
    let count = records.len();
    for attempt in 0..5u32 {
        match store::insert_audit(db, records.clone()).await {
            Ok(()) => return,
            Err(error) if attempt == 4 => {
                tracing::error!(%error, count, "writing audit events failed; they are lost");
            }
            Err(error) => {
                tracing::warn!(%error, count, attempt, "writing audit events failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}
