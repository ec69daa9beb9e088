//! `nordstern token …` (straight on the configured store, like `createuser` against a
//! database: it works before any server runs), `nordstern audit` (over gRPC), and the
//! client side of tokens: where the commands find theirs.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use nordstern_auth::{
    admin::token_to_proto,
    secret::SecretHash,
    store,
    tokens::{self, NewToken},
};
use nordstern_proto::auth::v1::{self as pb, auth_service_client::AuthServiceClient};
use nordstern_runtime::{Config, client::ClientSecurity};

use crate::{
    client::{Channel, DEFAULT_TOKEN_FILE, describe, json},
    terminal::{Output, Table},
};

/// Where `demo` keeps its admin token: beside the data it made.
pub fn token_file(config: &Config) -> PathBuf {
    config.data_dir.join("admin.token")
}

/// The token of a client command: `--token` (or `NORDSTERN_TOKEN`), else the first line
/// of `--token-file` (or `NORDSTERN_TOKEN_FILE`, by default the file `demo` writes). No
/// token at all is not an error here: the server answers UNAUTHENTICATED and says why.
pub fn client_security(
    token: Option<&str>,
    token_file: Option<&std::path::Path>,
    ca_cert: Option<&std::path::Path>,
    client_cert: Option<(&std::path::Path, &std::path::Path)>,
) -> anyhow::Result<ClientSecurity> {
    let tls = nordstern_runtime::config::TlsConfig {
        ca_file: ca_cert.map(PathBuf::from),
        client_cert_file: client_cert.map(|(cert, _)| cert.to_owned()),
        client_key_file: client_cert.map(|(_, key)| key.to_owned()),
        ..Default::default()
    };
    let security = ClientSecurity {
        tls: nordstern_runtime::tls::grpc_client(&tls).map_err(anyhow::Error::msg)?,
        bearer: None,
    };
    let secret = match (token, token_file) {
        (Some(token), _) => Some(token.trim().to_owned()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the token file {}", file.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
        (None, None) => std::fs::read_to_string(DEFAULT_TOKEN_FILE)
            .ok()
            .and_then(|text| text.lines().next().map(|line| line.trim().to_owned())),
    };
    match secret {
        Some(secret) if !secret.is_empty() => {
            security.with_token(&secret).map_err(anyhow::Error::msg)
        }
        _ => Ok(security),
    }
}

/// Requests per second of the demo's token.
const DEMO_RATE_PER_SECOND: u32 = 20_000;

/// The demo's admin token: the one in the token file while it is still live, else a new
/// one written there with mode 0600. Runs before the servers start, so they load it.
pub async fn demo_token(config: &Config) -> anyhow::Result<String> {
    let path = token_file(config);
    let db = token_store(config).await?;
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim().to_owned();
        let hash = SecretHash::of(&secret);
        let live = store::live_tokens(&db).await?;
        if live.iter().any(|token| token.secret_hash == hash) {
            db.close().await?;
            return Ok(secret);
        }
    }
    // The demo loads years of a company's history through the API, as a CRM's first
    // sync would with a token made for it: the default 1,000 requests/s would make the
    // accounts and answers of a large demo wait on the rate limit, not on the servers.
    let new = NewToken {
        name: "demo admin".to_owned(),
        scopes: vec!["admin".to_owned()],
        rate_limit_per_second: DEMO_RATE_PER_SECOND,
        ..NewToken::default()
    };
    let (_, secret) = tokens::create(&db, &new, chrono::Utc::now().timestamp_micros())
        .await
        .map_err(|error| anyhow::anyhow!("creating the demo token: {error}"))?;
    db.close().await?;
    write_private(&path, &format!("{}\n", secret.expose()))?;
    Ok(secret.expose().to_owned())
}

async fn token_store(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    store::open(config).await.context("opening the token store")
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` applies to new files only; an existing one is narrowed too.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// `nordstern token create`: prints the secret alone on stdout (for `$(…)`), the rest on
/// stderr; with `--json`, one object with both.
pub async fn create_token(
    config: &Config,
    new: &NewToken,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let db = token_store(config).await?;
    let created = tokens::create(&db, new, chrono::Utc::now().timestamp_micros()).await;
    db.close().await?;
    let (record, secret) = created.map_err(|error| describe(&error.into()))?;
    if output == Output::Json {
        let mut value = token_json(&record)?;
        value["token"] = serde_json::Value::String(secret.expose().to_owned());
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(out, "{}", secret.expose())?;
    eprintln!(
        "token {} ({}) with {}{}; the secret above is shown only now. Servers accept it within auth.refresh_interval_ms.",
        record.token_id,
        record.name,
        record
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        record.expires_at.map_or(String::new(), |at| format!(
            ", expires {}",
            nordstern_auth::format_micros(at)
        )),
    );
    Ok(())
}

fn token_json(record: &store::TokenRecord) -> anyhow::Result<serde_json::Value> {
    let mut text = Vec::new();
    json(
        &mut text,
        &token_to_proto(record),
        "nordstern.auth.v1.Token",
    )?;
    Ok(serde_json::from_slice(&text)?)
}

pub async fn list_tokens(
    config: &Config,
    include_revoked: bool,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let db = token_store(config).await?;
    let mut tokens = Vec::new();
    let mut before = None;
    loop {
        let page = store::list_tokens(&db, include_revoked, before, 500).await?;
        before = page.last().map(|token| token.token_id.clone());
        let done = page.len() < 500;
        tokens.extend(page);
        if done {
            break;
        }
    }
    db.close().await?;
    if output == Output::Json {
        let values = tokens
            .iter()
            .map(token_json)
            .collect::<anyhow::Result<Vec<_>>>()?;
        writeln!(out, "{}", serde_json::Value::Array(values))?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "token id",
        "name",
        "scopes",
        "prefix",
        "created",
        "expires",
        "last used",
        "revoked",
    ]);
    let at = |micros: Option<i64>| micros.map_or("-".to_owned(), nordstern_auth::format_micros);
    for token in &tokens {
        table.row(vec![
            token.token_id.clone(),
            token.name.clone(),
            token
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            token.secret_prefix.clone(),
            at(Some(token.created_at)),
            at(token.expires_at),
            at(token.last_used_at),
            at(token.revoked_at),
        ]);
    }
    if table.is_empty() {
        writeln!(
            out,
            "no tokens; create one with `nordstern token create --name admin --scope admin`"
        )?;
    } else {
        table.write(out)?;
    }
    Ok(())
}

pub async fn revoke_token(
    config: &Config,
    token_id: &str,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let db = token_store(config).await?;
    let revoked = tokens::revoke(&db, token_id, chrono::Utc::now().timestamp_micros()).await;
    db.close().await?;
    let (record, already) = revoked.map_err(|error| describe(&error.into()))?;
    if output == Output::Json {
        let response = pb::RevokeTokenResponse {
            token: Some(token_to_proto(&record)),
            already_revoked: already,
        };
        return json(out, &response, "nordstern.auth.v1.RevokeTokenResponse");
    }
    if already {
        writeln!(
            out,
            "token {} ({}) was already revoked",
            record.token_id, record.name
        )?;
    } else {
        writeln!(
            out,
            "token {} ({}) revoked; every server refuses it within auth.refresh_interval_ms",
            record.token_id, record.name
        )?;
    }
    Ok(())
}

/// Filters of `nordstern audit`.
pub struct AuditQuery {
    pub token_id: String,
    pub account_id: String,
    pub method: String,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: usize,
}

pub async fn audit(
    channel: Channel,
    query: &AuditQuery,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut client = AuthServiceClient::new(channel);
    let mut events = Vec::new();
    let mut page_token = String::new();
    while events.len() < query.limit {
        let response = client
            .list_audit_events(pb::ListAuditEventsRequest {
                token_id: query.token_id.clone(),
                account_id: query.account_id.clone(),
                method: query.method.clone(),
                since: query.since.map(nordstern_runtime::wire::timestamp),
                until: query.until.map(nordstern_runtime::wire::timestamp),
                page_size: i32::try_from((query.limit - events.len()).min(1_000)).unwrap_or(1_000),
                page_token,
            })
            .await
            .map_err(|status| describe(&status))?
            .into_inner();
        events.extend(response.events);
        page_token = response.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    events.truncate(query.limit);
    if output == Output::Json {
        let response = pb::ListAuditEventsResponse {
            events,
            next_page_token: String::new(),
        };
        return json(out, &response, "nordstern.auth.v1.ListAuditEventsResponse");
    }
    let mut table = Table::new(&["time", "token", "method", "account", "outcome"]);
    for event in &events {
        let time = nordstern_runtime::wire::from_timestamp(event.occurred_at.as_ref())
            .map_or(String::new(), |at| {
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            });
        let who = match (event.token_name.is_empty(), event.via_service.is_empty()) {
            (true, _) => "(no token)".to_owned(),
            (false, true) => event.token_name.clone(),
            (false, false) => format!("{} via service", event.token_name),
        };
        table.row(vec![
            time,
            who,
            event.method.clone(),
            event.account_id.clone(),
            if event.outcome == "OK" {
                event.outcome.clone()
            } else {
                output.alarm(&event.outcome)
            },
        ]);
    }
    if table.is_empty() {
        writeln!(out, "no audit events match")?;
    } else {
        table.write(out)?;
    }
    Ok(())
}
