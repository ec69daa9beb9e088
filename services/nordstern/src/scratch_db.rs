//! Throwaway PostgreSQL databases for tests and benchmarks: each run gets its own, so runs
//! can go in parallel and leave nothing behind.

use sea_orm::{ConnectionTrait, Database, DbBackend, DbErr, Statement};

/// The server tests and benchmarks use unless `NORDSTERN_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("NORDSTERN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database that exists until [`ScratchDatabase::drop_now`] (or drop) removes it.
pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
    dropped: bool,
}

impl ScratchDatabase {
    pub async fn create(admin_url: &str, prefix: &str) -> Result<ScratchDatabase, DbErr> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url).await?;
        admin
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("CREATE DATABASE \"{name}\""),
            ))
            .await?;
        admin.close().await?;
        let url = with_database(admin_url, &name);
        Ok(ScratchDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
            dropped: false,
        })
    }

    pub async fn drop_now(mut self) -> Result<(), DbErr> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A test that panicked still cleans up: on a thread of its own, since this may
        // run inside a runtime that cannot block.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = runtime.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), DbErr> {
    let admin = Database::connect(admin_url).await?;
    admin
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        ))
        .await?;
    admin.close().await
}

/// `admin_url` with its database name replaced by `database`.
fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
