//! Exactly-once ingestion: in one transaction, the batch's keys are claimed in
//! `usage_event_keys` (a key already there makes its event a duplicate), the new events
//! are stored, and the daily rollups are incremented by exactly those events. A commit is
//! all of it or none of it, so an acknowledged batch survives a killed process and a
//! retried one adds nothing. On PostgreSQL batches run side by side: every row lock is
//! taken in key order, table by table, and increments commute.

use std::collections::{HashMap, HashSet};

use nordstern_domain::usage::EventKind;
use nordstern_runtime::storage::insert_rows;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};

use super::{Store, day_of, partitions, spans};

/// One checked event, user id already pseudonymised (empty when the event has none).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub account_id: String,
    pub event_id: String,
    pub occurred_at: i64,
    pub user_key: String,
    pub kind: EventKind,
    pub quantity: i64,
    pub feature_key: String,
    pub ticket_id: String,
    /// JSON object of the event's properties.
    pub properties: String,
}

/// Rollup increments of one batch, summed per row so each row is written once.
#[derive(Default)]
struct Rollups<'a> {
    /// logins, feature uses, syncs, tickets opened, tickets resolved.
    daily: HashMap<(&'a str, i32), [i64; 5]>,
    features: HashMap<(&'a str, &'a str, i32), i64>,
    users: HashMap<(&'a str, i32, &'a str, &'a str), i64>,
    user_accounts: HashSet<(&'a str, &'a str)>,
    tickets: HashMap<(&'a str, &'a str), TicketTimes>,
}

/// Earliest opening and latest resolution of a ticket seen in the batch.
#[derive(Default)]
struct TicketTimes {
    opened_at: Option<i64>,
    resolved_at: Option<i64>,
}

impl<'a> Rollups<'a> {
    fn add(&mut self, event: &'a NewEvent) {
        let day = day_of(event.occurred_at);
        let account = event.account_id.as_str();
        let totals = self.daily.entry((account, day)).or_default();
        match event.kind {
            EventKind::Login => totals[0] += event.quantity,
            EventKind::FeatureUsed => {
                totals[1] += event.quantity;
                *self
                    .features
                    .entry((account, &event.feature_key, day))
                    .or_default() += event.quantity;
            }
            EventKind::IntegrationSync => totals[2] += event.quantity,
            EventKind::TicketOpened | EventKind::TicketResolved => {
                let ticket = self.tickets.entry((account, &event.ticket_id)).or_default();
                let at = event.occurred_at;
                if event.kind == EventKind::TicketOpened {
                    totals[3] += 1;
                    ticket.opened_at = Some(ticket.opened_at.map_or(at, |t| t.min(at)));
                } else {
                    totals[4] += 1;
                    ticket.resolved_at = Some(ticket.resolved_at.map_or(at, |t| t.max(at)));
                }
            }
        }
        if event.kind.is_activity() {
            let feature = match event.kind {
                EventKind::FeatureUsed => event.feature_key.as_str(),
                _ => "",
            };
            *self
                .users
                .entry((account, day, &event.user_key, feature))
                .or_default() += event.quantity;
        }
        if !event.user_key.is_empty() {
            self.user_accounts.insert((&event.user_key, account));
        }
    }
}

fn text(value: &str) -> Value {
    Value::from(value.to_owned())
}

impl Store {
    /// Stores the events whose (account_id, event_id) is new and returns, per input
    /// event, whether it was stored (`false`: a duplicate, also of an earlier event of the
    /// same batch). On SQLite the batch may be committed together with others that
    /// waited for the writer at the same time (see `group`).
    pub async fn ingest(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, DbErr> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if !self.is_postgres() {
            return self.ingest_in_group(events).await;
        }
        self.create_partitions(events.iter().map(|event| event.occurred_at))
            .await?;
        let txn = self.writer.begin_shared().await?;
        let stored = write_events(&txn.txn, &events).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// Creates the monthly partitions the instants need that are not known to exist, in
    /// a transaction of their own: DDL on the partitioned table waits for every batch
    /// writing to it, so inside a shared batch it could deadlock with them.
    async fn create_partitions(&self, instants: impl Iterator<Item = i64>) -> Result<(), DbErr> {
        let missing = self.partitions.missing(instants.map(partitions::month_of));
        if missing.is_empty() {
            return Ok(());
        }
        let txn = self.writer.begin().await?;
        for month in &missing {
            partitions::create(&txn.txn, *month).await?;
        }
        txn.commit().await?;
        self.partitions.remember(&missing);
        Ok(())
    }
}

/// Claims the keys of `events`, stores the events whose key was new and adds exactly
/// those to the rollups, in `txn`; per event, whether it was stored. On SQLite the spans
/// the new rows fall into learn their instants (see `spans`).
pub(super) async fn write_events(
    txn: &sea_orm::DatabaseTransaction,
    events: &[NewEvent],
) -> Result<Vec<bool>, DbErr> {
    let written = claim_and_store(txn, events).await?;
    written.inserted.record(txn).await?;
    Ok(written.stored)
}

/// What [`claim_and_store`] wrote: per event whether it was stored, and on SQLite the
/// rows it added to raw events and keys (none recorded on PostgreSQL).
#[derive(Default)]
struct Written {
    stored: Vec<bool>,
    inserted: spans::Inserted,
}

async fn claim_and_store(
    txn: &sea_orm::DatabaseTransaction,
    events: &[NewEvent],
) -> Result<Written, DbErr> {
    let mut stored = vec![false; events.len()];
    let mut first_of_key: HashMap<(&str, &str), usize> = HashMap::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        first_of_key
            .entry((&event.account_id, &event.event_id))
            .or_insert(index);
    }
    if first_of_key.is_empty() {
        return Ok(Written {
            stored,
            ..Written::default()
        });
    }
    // SQLite's retention spans need the rowid of every row added to raw events and keys.
    let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
    let mut inserted = spans::Inserted::default();
    let mut candidates: Vec<usize> = first_of_key.values().copied().collect();
    // Claimed in key order: batches share the writer's lock on PostgreSQL, and a batch
    // waiting for another's uncommitted key must not hold a key that one waits for.
    candidates.sort_unstable_by_key(|&i| (&events[i].account_id, &events[i].event_id));
    let claimed = insert_rows(
        txn,
        "INSERT INTO usage_event_keys (account_id, event_id, occurred_at)",
        if sqlite {
            "ON CONFLICT DO NOTHING RETURNING account_id, event_id, rowid"
        } else {
            "ON CONFLICT DO NOTHING RETURNING account_id, event_id"
        },
        3,
        candidates
            .iter()
            .map(|&i| {
                let event = &events[i];
                vec![
                    text(&event.account_id),
                    text(&event.event_id),
                    Value::from(event.occurred_at),
                ]
            })
            .collect(),
    )
    .await?;
    let mut fresh = Vec::with_capacity(claimed.len());
    for row in claimed {
        let account_id: String = row.try_get("", "account_id")?;
        let event_id: String = row.try_get("", "event_id")?;
        if let Some(&index) = first_of_key.get(&(account_id.as_str(), event_id.as_str())) {
            stored[index] = true;
            fresh.push(index);
            if sqlite {
                let rowid: i64 = row.try_get("", "rowid")?;
                inserted.keys.push((rowid, events[index].occurred_at));
            }
        }
    }
    if fresh.is_empty() {
        return Ok(Written {
            stored,
            ..Written::default()
        });
    }
    fresh.sort_unstable();

    let rows = insert_rows(
        txn,
        "INSERT INTO usage_events (occurred_at, account_id, event_id, user_key, kind, quantity, feature_key, ticket_id, properties)",
        if sqlite { "RETURNING rowid, occurred_at" } else { "" },
        9,
        fresh
            .iter()
            .map(|&i| {
                let event = &events[i];
                vec![
                    Value::from(event.occurred_at),
                    text(&event.account_id),
                    text(&event.event_id),
                    text(&event.user_key),
                    text(event.kind.as_str()),
                    Value::from(event.quantity),
                    text(&event.feature_key),
                    text(&event.ticket_id),
                    text(&event.properties),
                ]
            })
            .collect(),
    )
    .await?;
    for row in rows {
        inserted
            .events
            .push((row.try_get("", "rowid")?, row.try_get("", "occurred_at")?));
    }

    let mut rollups = Rollups::default();
    for &index in &fresh {
        rollups.add(&events[index]);
    }
    write_rollups(txn, rollups).await?;
    Ok(Written { stored, inserted })
}

async fn write_rollups(
    txn: &sea_orm::DatabaseTransaction,
    rollups: Rollups<'_>,
) -> Result<(), DbErr> {
    // Rows in key order, so replicas that increment the same rows lock them in one order.
    let mut daily: Vec<_> = rollups.daily.into_iter().collect();
    daily.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    insert_rows(
        txn,
        "INSERT INTO usage_daily (account_id, day, logins, feature_uses, integration_syncs, tickets_opened, tickets_resolved)",
        "ON CONFLICT (account_id, day) DO UPDATE SET \
         logins = usage_daily.logins + excluded.logins, \
         feature_uses = usage_daily.feature_uses + excluded.feature_uses, \
         integration_syncs = usage_daily.integration_syncs + excluded.integration_syncs, \
         tickets_opened = usage_daily.tickets_opened + excluded.tickets_opened, \
         tickets_resolved = usage_daily.tickets_resolved + excluded.tickets_resolved",
        7,
        daily
            .into_iter()
            .map(|((account, day), totals)| {
                let mut row = vec![text(account), Value::from(day)];
                row.extend(totals.into_iter().map(Value::from));
                row
            })
            .collect(),
    )
    .await?;

    let mut features: Vec<_> = rollups.features.into_iter().collect();
    features.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    insert_rows(
        txn,
        "INSERT INTO usage_daily_features (account_id, feature_key, day, uses)",
        "ON CONFLICT (account_id, feature_key, day) DO UPDATE SET uses = usage_daily_features.uses + excluded.uses",
        4,
        features
            .into_iter()
            .map(|((account, feature, day), uses)| {
                vec![text(account), text(feature), Value::from(day), Value::from(uses)]
            })
            .collect(),
    )
    .await?;

    let mut users: Vec<_> = rollups.users.into_iter().collect();
    users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    insert_rows(
        txn,
        "INSERT INTO usage_daily_users (account_id, day, user_key, feature_key, quantity)",
        "ON CONFLICT (account_id, day, user_key, feature_key) DO UPDATE SET quantity = usage_daily_users.quantity + excluded.quantity",
        5,
        users
            .into_iter()
            .map(|((account, day, user, feature), quantity)| {
                vec![
                    text(account),
                    Value::from(day),
                    text(user),
                    text(feature),
                    Value::from(quantity),
                ]
            })
            .collect(),
    )
    .await?;

    let mut pairs: Vec<_> = rollups.user_accounts.into_iter().collect();
    pairs.sort_unstable();
    insert_rows(
        txn,
        "INSERT INTO usage_users (user_key, account_id)",
        "ON CONFLICT DO NOTHING",
        2,
        pairs
            .into_iter()
            .map(|(user, account)| vec![text(user), text(account)])
            .collect(),
    )
    .await?;

    let mut tickets: Vec<_> = rollups.tickets.into_iter().collect();
    tickets.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    insert_rows(
        txn,
        "INSERT INTO usage_tickets (account_id, ticket_id, opened_at, resolved_at)",
        "ON CONFLICT (account_id, ticket_id) DO UPDATE SET \
         opened_at = CASE WHEN usage_tickets.opened_at IS NULL OR excluded.opened_at < usage_tickets.opened_at \
                          THEN COALESCE(excluded.opened_at, usage_tickets.opened_at) ELSE usage_tickets.opened_at END, \
         resolved_at = CASE WHEN usage_tickets.resolved_at IS NULL OR excluded.resolved_at > usage_tickets.resolved_at \
                          THEN COALESCE(excluded.resolved_at, usage_tickets.resolved_at) ELSE usage_tickets.resolved_at END",
        4,
        tickets
            .into_iter()
            .map(|((account, ticket), times)| {
                vec![
                    text(account),
                    text(ticket),
                    Value::BigInt(times.opened_at),
                    Value::BigInt(times.resolved_at),
                ]
            })
            .collect(),
    )
    .await?;
    Ok(())
}
