//! A/B/C tiers kept exact without ranking every account on each ARR write.
//!
//! `tier_cutoffs` holds, for the end of tier A and of tier B, the first account past it in
//! the ranking (ARR descending, id ascending) and the ARR of every account ahead of it,
//! plus the company's total. An ARR write corrects the sums for the accounts that
//! changed, then moves each cut-off one neighbour at a time until it sits where the full
//! derivation ([`assign_tiers`]) would put it, and writes the tier of the accounts it
//! passed. A write moves a cut-off across a handful of accounts, so its cost does not grow
//! with the company; the `tier` column stays exact for every read, filter and summary.
//!
//! Ids are hyphenated UUIDs (`wire::new_id`): every collation orders them as Rust does.

use std::collections::HashMap;

use nordstern_domain::{
    account::Tier,
    tiers::{Cutoff, TierThresholds, assign_tiers, cutoff, tier_from_cutoffs, within},
};
use nordstern_runtime::storage::{execute, placeholders, query_all, query_one};
use sea_orm::{ConnectionTrait, DbErr, Value};

type Key = String;

/// The cut-offs of A and B, as stored.
struct Cutoffs {
    a: Cutoff<Key>,
    b: Cutoff<Key>,
    total: i128,
}

/// One account's ARR before and after a write (`None`: it did not exist, or is gone).
pub(super) struct ArrChange<'a> {
    pub account_id: &'a str,
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// The tier its row holds now, when the caller knows it: no UPDATE if it stays.
    pub stored_tier: Option<Tier>,
}

/// Call inside the serialised write, after the account's row holds its new ARR.
pub(super) async fn arr_changed(
    db: &impl ConnectionTrait,
    thresholds: TierThresholds,
    change: ArrChange<'_>,
) -> Result<(), DbErr> {
    arrs_changed(db, thresholds, &[change]).await
}

/// Call inside the serialised write, after every changed account's row holds its new
/// ARR; one change per account. The sums are corrected against the stored cut-offs
/// first (a comparison each), then each cut-off moves once for the whole batch.
pub(super) async fn arrs_changed(
    db: &impl ConnectionTrait,
    thresholds: TierThresholds,
    changes: &[ArrChange<'_>],
) -> Result<(), DbErr> {
    if changes.is_empty() {
        return Ok(());
    }
    let Some(mut cutoffs) = load(db, thresholds).await? else {
        return rebuild(db, thresholds).await;
    };
    let positive = |arr: Option<i64>| arr.filter(|arr| *arr > 0);
    for change in changes {
        cutoffs.total += i128::from(positive(change.after).unwrap_or(0))
            - i128::from(positive(change.before).unwrap_or(0));
    }
    let total = cutoffs.total;
    let mut passed: HashMap<Key, i64> = HashMap::new();
    for (cut, share) in [
        (&mut cutoffs.a, thresholds.a_share),
        (&mut cutoffs.b, thresholds.b_share),
    ] {
        // Every other account is weighed against the cut-off's old place; whether it is
        // ahead of that place is whether it is ahead of the account that now follows it.
        let mut first_past_changed = None;
        for change in changes {
            if cut
                .first_past
                .as_ref()
                .is_some_and(|(past, _)| past == change.account_id)
            {
                first_past_changed = Some(change);
                continue;
            }
            let id = change.account_id.to_owned();
            if let Some(arr) = positive(change.before)
                && cut.holds(&id, arr)
            {
                cut.arr_before -= i128::from(arr);
            }
            if let Some(arr) = positive(change.after)
                && cut.holds(&id, arr)
            {
                cut.arr_before += i128::from(arr);
            }
        }
        if let Some(change) = first_past_changed
            && let Some((id, old_arr)) = cut.first_past.take()
        {
            // The first account past the cut-off changed: the account now right after its
            // old place takes it.
            cut.first_past = next_after(db, (&id, old_arr), Some(&id)).await?;
            if let Some(arr) = positive(change.after)
                && cut.holds(&id, arr)
            {
                cut.arr_before += i128::from(arr);
            }
        }
        settle(db, cut, total, share, &mut passed).await?;
    }
    let mut stored: HashMap<&str, Tier> = HashMap::new();
    for change in changes {
        if let Some(arr) = change.after {
            passed.insert(change.account_id.to_owned(), arr);
        }
        if let Some(tier) = change.stored_tier {
            stored.insert(change.account_id, tier);
        }
    }
    let mut by_tier: HashMap<Tier, Vec<Key>> = HashMap::new();
    for (key, arr) in passed {
        let tier = tier_from_cutoffs(&key, arr, &cutoffs.a, &cutoffs.b);
        if stored.get(key.as_str()) != Some(&tier) {
            by_tier.entry(tier).or_default().push(key);
        }
    }
    for (tier, ids) in by_tier {
        set_tier(db, tier, &ids).await?;
    }
    store(db, thresholds, &cutoffs).await
}

/// Moves `cut` until the account ahead of it belongs inside and the first past it does
/// not, recording the accounts it passes.
async fn settle(
    db: &impl ConnectionTrait,
    cut: &mut Cutoff<Key>,
    total: i128,
    share: f64,
    passed: &mut HashMap<Key, i64>,
) -> Result<(), DbErr> {
    // Backwards while the last account inside has too much ahead of it.
    while let Some((key, arr)) = last_before(db, cut.first_past.as_ref()).await? {
        let ahead = cut.arr_before - i128::from(arr);
        if within(ahead, total, share) {
            break;
        }
        cut.arr_before = ahead;
        passed.insert(key.clone(), arr);
        cut.first_past = Some((key, arr));
    }
    // Forwards while the first account past it belongs inside.
    while let Some((key, arr)) = cut.first_past.clone() {
        if !within(cut.arr_before, total, share) {
            break;
        }
        cut.arr_before += i128::from(arr);
        cut.first_past = next_after(db, (key.as_str(), arr), None).await?;
        passed.insert(key, arr);
    }
    Ok(())
}

/// The account ranked right after `(id, arr)` among those with ARR, `skip` left out.
/// Index seeks on `(arr_minor, account_id)`: the same ARR with a larger id, else the
/// next lower ARR and its first id (one ORDER BY over both columns in opposite
/// directions would make the database sort).
async fn next_after(
    db: &impl ConnectionTrait,
    (id, arr): (&str, i64),
    skip: Option<&str>,
) -> Result<Option<(Key, i64)>, DbErr> {
    let skip = skip.unwrap_or("");
    if let Some(key) = first_id(
        db,
        "SELECT account_id AS id FROM accounts WHERE arr_minor = $1 AND account_id > $2 AND account_id <> $3 \
         ORDER BY account_id LIMIT 1",
        vec![arr.into(), id.into(), skip.into()],
    )
    .await?
    {
        return Ok(Some((key, arr)));
    }
    let lower = query_one(
        db,
        "SELECT arr_minor AS arr FROM accounts WHERE arr_minor < $1 AND arr_minor > 0 AND account_id <> $2 \
         ORDER BY arr_minor DESC LIMIT 1",
        vec![arr.into(), skip.into()],
    )
    .await?
    .map(|row| row.try_get::<i64>("", "arr"))
    .transpose()?;
    let Some(lower) = lower else {
        return Ok(None);
    };
    Ok(first_id(
        db,
        "SELECT account_id AS id FROM accounts WHERE arr_minor = $1 AND account_id <> $2 ORDER BY account_id LIMIT 1",
        vec![lower.into(), skip.into()],
    )
    .await?
    .map(|key| (key, lower)))
}

/// The account ranked right before `past` (`None`: the last account with ARR).
async fn last_before(
    db: &impl ConnectionTrait,
    past: Option<&(Key, i64)>,
) -> Result<Option<(Key, i64)>, DbErr> {
    let higher = match past {
        Some((id, arr)) => {
            if let Some(key) = first_id(
                db,
                "SELECT account_id AS id FROM accounts WHERE arr_minor = $1 AND account_id < $2 \
                 ORDER BY account_id DESC LIMIT 1",
                vec![(*arr).into(), id.as_str().into()],
            )
            .await?
            {
                return Ok(Some((key, *arr)));
            }
            query_one(
                db,
                "SELECT arr_minor AS arr FROM accounts WHERE arr_minor > $1 ORDER BY arr_minor LIMIT 1",
                vec![(*arr).into()],
            )
            .await?
        }
        None => {
            query_one(
                db,
                "SELECT arr_minor AS arr FROM accounts WHERE arr_minor > 0 ORDER BY arr_minor LIMIT 1",
                Vec::new(),
            )
            .await?
        }
    }
    .map(|row| row.try_get::<i64>("", "arr"))
    .transpose()?;
    let Some(higher) = higher else {
        return Ok(None);
    };
    Ok(first_id(
        db,
        "SELECT account_id AS id FROM accounts WHERE arr_minor = $1 ORDER BY account_id DESC LIMIT 1",
        vec![higher.into()],
    )
    .await?
    .map(|key| (key, higher)))
}

async fn first_id(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<Key>, DbErr> {
    query_one(db, sql, values)
        .await?
        .map(|row| row.try_get::<String>("", "id"))
        .transpose()
}

/// Rebuilds unless cut-offs for `thresholds` are stored.
pub(super) async fn prepare(
    db: &impl ConnectionTrait,
    thresholds: TierThresholds,
) -> Result<(), DbErr> {
    match load(db, thresholds).await? {
        Some(_) => Ok(()),
        None => rebuild(db, thresholds).await,
    }
}

/// Ranks every account once: after an upgrade, on a fresh store, or when the configured
/// shares changed. Writes the tiers that differ and the cut-offs.
pub(super) async fn rebuild(
    db: &impl ConnectionTrait,
    thresholds: TierThresholds,
) -> Result<(), DbErr> {
    let rows = query_all(
        db,
        "SELECT account_id, arr_minor, tier FROM accounts",
        Vec::new(),
    )
    .await?;
    let mut keyed = Vec::with_capacity(rows.len());
    let mut current = Vec::with_capacity(rows.len());
    for row in &rows {
        keyed.push((
            row.try_get::<String>("", "account_id")?,
            row.try_get::<i64>("", "arr_minor")?,
        ));
        current.push(row.try_get::<String>("", "tier")?);
    }
    let tiers = assign_tiers(&keyed, thresholds);
    let mut changed: HashMap<Tier, Vec<Key>> = HashMap::new();
    for (((id, _), tier), stored) in keyed.iter().zip(tiers).zip(current) {
        if tier.as_str() != stored {
            changed.entry(tier).or_default().push(id.clone());
        }
    }
    for (tier, ids) in changed {
        set_tier(db, tier, &ids).await?;
    }
    let cutoffs = Cutoffs {
        a: cutoff(&keyed, thresholds.a_share),
        b: cutoff(&keyed, thresholds.b_share),
        total: keyed.iter().map(|(_, arr)| i128::from((*arr).max(0))).sum(),
    };
    store(db, thresholds, &cutoffs).await
}

async fn set_tier(db: &impl ConnectionTrait, tier: Tier, ids: &[Key]) -> Result<(), DbErr> {
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE accounts SET tier = $1 WHERE account_id IN ({}) AND tier <> $1",
            placeholders(2, chunk.len())
        );
        let mut values = vec![Value::from(tier.as_str())];
        values.extend(chunk.iter().map(|id| Value::from(id.as_str())));
        execute(db, &sql, values).await?;
    }
    Ok(())
}

/// The stored cut-offs, `None` when there are none yet or they were derived for other
/// shares.
async fn load(
    db: &impl ConnectionTrait,
    thresholds: TierThresholds,
) -> Result<Option<Cutoffs>, DbErr> {
    let rows = query_all(
        db,
        "SELECT cutoff, share, first_past_id, first_past_arr, arr_before, total_arr FROM tier_cutoffs",
        Vec::new(),
    )
    .await?;
    let mut found: HashMap<String, (Cutoff<Key>, i128)> = HashMap::new();
    for row in &rows {
        let name: String = row.try_get("", "cutoff")?;
        let share: f64 = row.try_get("", "share")?;
        let expected = match name.as_str() {
            "A" => thresholds.a_share,
            "B" => thresholds.b_share,
            _ => continue,
        };
        if share != expected {
            return Ok(None);
        }
        let first_past = match (
            row.try_get::<Option<String>>("", "first_past_id")?,
            row.try_get::<Option<i64>>("", "first_past_arr")?,
        ) {
            (Some(id), Some(arr)) => Some((id, arr)),
            _ => None,
        };
        let cut = Cutoff {
            first_past,
            arr_before: i128::from(row.try_get::<i64>("", "arr_before")?),
        };
        found.insert(
            name,
            (cut, i128::from(row.try_get::<i64>("", "total_arr")?)),
        );
    }
    let (Some((a, total)), Some((b, _))) = (found.remove("A"), found.remove("B")) else {
        return Ok(None);
    };
    Ok(Some(Cutoffs { a, b, total }))
}

async fn store(
    db: &impl ConnectionTrait,
    thresholds: TierThresholds,
    cutoffs: &Cutoffs,
) -> Result<(), DbErr> {
    let narrow = |sum: i128| {
        i64::try_from(sum).map_err(|_| DbErr::Custom(format!("ARR sum {sum} beyond 64 bits")))
    };
    execute(db, "DELETE FROM tier_cutoffs", Vec::new()).await?;
    for (name, share, cut) in [
        ("A", thresholds.a_share, &cutoffs.a),
        ("B", thresholds.b_share, &cutoffs.b),
    ] {
        let (id, arr) = match &cut.first_past {
            Some((id, arr)) => (Some(id.clone()), Some(*arr)),
            None => (None, None),
        };
        execute(
            db,
            "INSERT INTO tier_cutoffs (cutoff, share, first_past_id, first_past_arr, arr_before, total_arr) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                name.into(),
                share.into(),
                id.into(),
                arr.into(),
                narrow(cut.arr_before)?.into(),
                narrow(cutoffs.total)?.into(),
            ],
        )
        .await?;
    }
    Ok(())
}
