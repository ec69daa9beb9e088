//! Many rows per statement: multi-row inserts (arrays through `unnest` on PostgreSQL,
//! VALUES lists cut to the parameter limit on SQLite) and lookups by many keys.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::{execute, placeholders, query_all};

/// Most bind parameters one statement carries (SQLite's limit is 32,766).
const MAX_PARAMETERS: usize = 30_000;

/// `head VALUES (…), (…) tail` for every row, in as few statements as the parameter
/// limits allow; returns the rows a `RETURNING` tail yields. Every row has `columns`
/// values. On PostgreSQL the rows go as one array per column through `unnest` instead
/// (`head SELECT * FROM unnest($1::text[], …) tail`) when no value is NULL: one bind
/// per column rather than per value, and no VALUES list thousands of rows long to plan.
pub async fn insert_rows(
    db: &impl ConnectionTrait,
    head: &str,
    tail: &str,
    columns: usize,
    rows: Vec<Vec<sea_orm::Value>>,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if db.get_database_backend() == DbBackend::Postgres
        && let Some(arrays) = column_arrays(&rows, columns)
    {
        let casts: Vec<String> = arrays
            .iter()
            .enumerate()
            .map(|(index, (_, sql_type))| format!("${}::{sql_type}[]", index + 1))
            .collect();
        let sql = format!("{head} SELECT * FROM unnest({}) {tail}", casts.join(", "));
        let values = arrays.into_iter().map(|(array, _)| array).collect();
        return if tail.contains("RETURNING") {
            query_all(db, &sql, values).await
        } else {
            execute(db, &sql, values).await.map(|_| Vec::new())
        };
    }
    // Written with `?` for SQLite already, so `statement` need not reorder the values.
    let anonymous = db.get_database_backend() == DbBackend::Sqlite;
    let row_placeholders = vec!["?"; columns].join(", ");
    let mut returned = Vec::new();
    let mut rows = rows.into_iter();
    for size in statement_sizes(rows.len(), MAX_PARAMETERS / columns.max(1)) {
        let chunk: Vec<Vec<sea_orm::Value>> = rows.by_ref().take(size).collect();
        let mut sql = String::with_capacity(head.len() + tail.len() + chunk.len() * columns * 6);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for row in 0..chunk.len() {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            if anonymous {
                sql.push_str(&row_placeholders);
            } else {
                sql.push_str(&placeholders(row * columns + 1, columns));
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        let values: Vec<sea_orm::Value> = chunk.into_iter().flatten().collect();
        if tail.contains("RETURNING") {
            returned.extend(query_all(db, &sql, values).await?);
        } else {
            execute(db, &sql, values).await?;
        }
    }
    Ok(returned)
}

/// Rows per statement for `rows` rows, at most `limit` each: powers of two, largest
/// first. Each connection keeps its prepared statements, and a VALUES list of every
/// length would leave one large statement per length in that cache (a 4,000-row insert
/// prepares some 36,000 parameters); with powers of two a table has a dozen at most,
/// and they are reused.
fn statement_sizes(rows: usize, limit: usize) -> Vec<usize> {
    let largest = prev_power_of_two(limit.max(1));
    let mut sizes = Vec::new();
    let mut left = rows;
    while left > 0 {
        let size = largest.min(prev_power_of_two(left));
        sizes.push(size);
        left -= size;
    }
    sizes
}

fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// The rows of `from` whose unique `key_column` is one of `keys` (and that meet
/// `condition`, written with `$1`… for `condition_values`), each with `key_column` and
/// `columns`. On PostgreSQL every key is one probe of the unique index (`unnest` with a
/// LATERAL subquery): right after a bulk load the table's statistics are stale, and an
/// IN list then gets planned as a scan that compares every row with every key (0.5 s per
/// 500 keys over 30,000 rows). SQLite probes the index for an IN list by itself.
pub async fn select_by_keys(
    db: &impl ConnectionTrait,
    columns: &str,
    from: &str,
    key_column: &str,
    condition: (&str, Vec<sea_orm::Value>),
    keys: &[&str],
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    rows_by_keys(db, columns, from, key_column, condition, keys, None).await
}

/// Aggregates (`columns`) over the rows of `from` for each of `keys` in `key_column`,
/// grouped within a key by `group_by` (empty: one group per key), each with
/// `key_column`. Planned per key like `select_by_keys`, for the same reason. A key
/// without rows has no result on SQLite and one row of empty aggregates on PostgreSQL
/// when `group_by` is empty.
pub async fn aggregate_by_keys(
    db: &impl ConnectionTrait,
    columns: &str,
    from: &str,
    key_column: &str,
    condition: (&str, Vec<sea_orm::Value>),
    keys: &[&str],
    group_by: &str,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    rows_by_keys(
        db,
        columns,
        from,
        key_column,
        condition,
        keys,
        Some(group_by),
    )
    .await
}

async fn rows_by_keys(
    db: &impl ConnectionTrait,
    columns: &str,
    from: &str,
    key_column: &str,
    condition: (&str, Vec<sea_orm::Value>),
    keys: &[&str],
    group_by: Option<&str>,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    use sea_orm::{Value, sea_query::ArrayType};
    let (condition, condition_values) = condition;
    let and = if condition.is_empty() { "" } else { " AND " };
    let next = condition_values.len() + 1;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = lateral_by_keys(columns, from, key_column, condition, next, group_by);
        let array = keys.iter().map(|key| Value::from(*key)).collect();
        let mut values = condition_values;
        values.push(Value::Array(ArrayType::String, Some(Box::new(array))));
        return query_all(db, &sql, values).await;
    }
    let group = match group_by {
        Some("") => format!(" GROUP BY {key_column}"),
        Some(columns) => format!(" GROUP BY {key_column}, {columns}"),
        None => String::new(),
    };
    let mut rows = Vec::new();
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT {key_column}, {columns} FROM {from} WHERE {condition}{and}{key_column} IN ({}){group}",
            placeholders(next, chunk.len())
        );
        let mut values = condition_values.clone();
        values.extend(chunk.iter().map(|key| Value::from(*key)));
        rows.extend(query_all(db, &sql, values).await?);
    }
    Ok(rows)
}

/// The PostgreSQL statement of [`rows_by_keys`]: the keys are the array `$next`.
fn lateral_by_keys(
    columns: &str,
    from: &str,
    key_column: &str,
    condition: &str,
    next: usize,
    group_by: Option<&str>,
) -> String {
    let and = if condition.is_empty() { "" } else { " AND " };
    let group = match group_by {
        Some(columns) if !columns.is_empty() => format!(" GROUP BY {columns}"),
        _ => String::new(),
    };
    // OFFSET 0 keeps the subquery a subquery: without it the planner flattens it into a
    // join and, with statistics from before the table filled, hashes the keys against a
    // scan of the whole table (the open alerts of 1,000 accounts took 48 ms instead of 5
    // once a first recompute had raised 42,000).
    format!(
        "SELECT q.key AS {key_column}, t.* FROM unnest(${next}::text[]) AS q(key) \
         CROSS JOIN LATERAL (SELECT {columns} FROM {from} WHERE {condition}{and}{key_column} = q.key{group} OFFSET 0) AS t"
    )
}

/// Each column as one typed array with its PostgreSQL element type, or `None` (rows
/// untouched) when a value is NULL (sea-query binds arrays without NULL elements), a row
/// is ragged, or a column mixes types or has one this path does not carry.
fn column_arrays(
    rows: &[Vec<sea_orm::Value>],
    columns: usize,
) -> Option<Vec<(sea_orm::Value, &'static str)>> {
    use sea_orm::{Value, sea_query::ArrayType};
    let first = rows.first()?;
    let mut types = Vec::with_capacity(columns);
    for sample in first {
        types.push(match sample {
            Value::String(_) => (ArrayType::String, "text"),
            Value::BigInt(_) => (ArrayType::BigInt, "int8"),
            Value::Int(_) => (ArrayType::Int, "int4"),
            Value::Double(_) => (ArrayType::Double, "float8"),
            Value::Bool(_) => (ArrayType::Bool, "bool"),
            Value::Bytes(_) => (ArrayType::Bytes, "bytea"),
            Value::ChronoDate(_) => (ArrayType::ChronoDate, "date"),
            Value::ChronoDateTimeUtc(_) => (ArrayType::ChronoDateTimeUtc, "timestamptz"),
            _ => return None,
        });
    }
    let uniform = rows.iter().all(|row| {
        row.len() == columns
            && row.iter().zip(first).all(|(value, sample)| {
                value.is_some() && std::mem::discriminant(value) == std::mem::discriminant(sample)
            })
    });
    if !uniform {
        return None;
    }
    Some(
        types
            .into_iter()
            .enumerate()
            .map(|(column, (array_type, sql_type))| {
                let elements = rows.iter().map(|row| row[column].clone()).collect();
                (Value::Array(array_type, Some(Box::new(elements))), sql_type)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{StorageTarget, open_named};
    use sea_orm::{Value, sea_query::ArrayType};
    use sea_orm_migration::{MigrationTrait, MigratorTrait};

    struct NoMigrations;

    impl MigratorTrait for NoMigrations {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            Vec::new()
        }
    }

    /// The shape that made a recompute slow: a table whose statistics say empty (analyzed
    /// before a bulk load) and now holds many rows; every key must still be an index probe.
    #[tokio::test]
    async fn keys_are_probed_on_postgres_when_statistics_are_stale() {
        let url = std::env::var("NORDSTERN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let schema = format!("rows_by_keys_{}", uuid::Uuid::new_v4().simple());
        let db = open_named::<NoMigrations>(StorageTarget::Postgres { url: &url }, &schema, 1)
            .await
            .unwrap_or_else(|error| panic!("connect to {url}: {error}"));
        let run = |sql: &'static str| execute(&db, sql, Vec::new());
        let plan = async {
            run("CREATE TABLE probe (id TEXT NOT NULL, open BOOLEAN NOT NULL, note TEXT NOT NULL)")
                .await?;
            run("CREATE UNIQUE INDEX probe_open ON probe (id) WHERE open").await?;
            run("ANALYZE probe").await?;
            run("INSERT INTO probe SELECT 'k' || g, true, repeat('x', 40) FROM generate_series(1, 40000) g")
                .await?;
            let keys: Vec<String> = (0..1_000).map(|n| format!("k{}", n * 7)).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let found = select_by_keys(&db, "note", "probe", "id", ("open", Vec::new()), &keys)
                .await?
                .len();
            let sql = format!(
                "EXPLAIN {}",
                lateral_by_keys("note", "probe", "id", "open", 1, None)
            );
            let array = keys.iter().map(|key| Value::from(*key)).collect();
            let values = vec![Value::Array(ArrayType::String, Some(Box::new(array)))];
            let mut lines = Vec::new();
            for row in query_all(&db, &sql, values).await? {
                lines.push(row.try_get::<String>("", "QUERY PLAN")?);
            }
            Ok::<_, DbErr>((found, lines))
        }
        .await;
        let dropped = execute(
            &db,
            &format!("DROP SCHEMA \"{schema}\" CASCADE"),
            Vec::new(),
        )
        .await;
        let (found, plan) = plan.unwrap_or_else(|error| panic!("probe: {error}"));
        dropped.unwrap_or_else(|error| panic!("drop schema: {error}"));
        assert_eq!(found, 999, "k0 does not exist, k7 … k6993 do");
        assert!(
            plan.iter().all(|line| !line.contains("Seq Scan on probe")),
            "{}",
            plan.join("\n")
        );
    }

    #[test]
    fn statements_come_in_powers_of_two_within_the_limit() {
        assert_eq!(statement_sizes(0, 3_333), Vec::<usize>::new());
        assert_eq!(statement_sizes(1, 3_333), [1]);
        assert_eq!(statement_sizes(1_000, 3_333), [512, 256, 128, 64, 32, 8]);
        assert_eq!(
            statement_sizes(4_000, 3_333),
            [2_048, 1_024, 512, 256, 128, 32]
        );
        assert_eq!(
            statement_sizes(5_000, 2_048),
            [2_048, 2_048, 512, 256, 128, 8]
        );
        for rows in 0..5_000 {
            let sizes = statement_sizes(rows, 3_333);
            assert_eq!(sizes.iter().sum::<usize>(), rows);
            assert!(
                sizes
                    .iter()
                    .all(|size| size.is_power_of_two() && *size <= 3_333)
            );
        }
    }
}
