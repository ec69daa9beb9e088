//! The command line: every subcommand's arguments, and the client commands run against
//! a running suite (`serve`, `demo` and `bench` start one and live in `main.rs`).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use nordstern_runtime::{Config, config::CliOverrides};

use crate::{admin, bench, client, commands, import, terminal::Output};

#[derive(Parser)]
#[command(
    name = "nordstern",
    version,
    about = "Nordstern customer success platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run services (all of them by default) until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Run the suite on the embedded default and load a generated demo company into it.
    Demo(DemoArgs),
    /// Measure the suite against a bare tonic echo server in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// One account, from a running suite.
    #[command(subcommand)]
    Account(AccountCommand),
    /// A CSM's portfolio by ARR at risk, with tiers, revenue, alerts and upsell.
    Portfolio(PortfolioArgs),
    /// The company's accounts by ARR at risk.
    Risk(RiskArgs),
    /// Support tickets.
    #[command(subcommand)]
    Ticket(TicketCommand),
    /// Bootstrap from a CRM export: accounts, then their contract history.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Churn models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// API tokens, straight in the configured store (no server needed).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit trail: writes, erasures, exports, token changes and refused calls.
    Audit(AuditArgs),
    /// Webhook subscriptions and the delivery log.
    #[command(subcommand)]
    Webhook(crate::webhook::WebhookCommand),
    /// Exit 0 when a server reports SERVING (for probes that must speak TLS).
    Health {
        /// The service asked about [default: the server as a whole].
        #[arg(long, default_value = "")]
        service: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Where and how the client commands talk to a running suite.
#[derive(clap::Args)]
pub struct ClientArgs {
    /// gRPC URL of the suite.
    #[arg(long, env = "NORDSTERN_SERVER", default_value = client::DEFAULT_SERVER)]
    pub server: String,
    /// proto3 JSON instead of tables, for scripts.
    #[arg(long)]
    pub json: bool,
    /// API token (`nst_…`) [default: the first line of --token-file].
    #[arg(long, env = "NORDSTERN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the token [default: data/admin.token, which `demo` writes].
    #[arg(long, env = "NORDSTERN_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for an https:// server.
    #[arg(long, env = "NORDSTERN_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for a server that requires mutual TLS.
    #[arg(
        long,
        env = "NORDSTERN_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// Key (PEM) of --client-cert.
    #[arg(
        long,
        env = "NORDSTERN_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
}

impl ClientArgs {
    pub async fn connect(&self) -> anyhow::Result<client::Channel> {
        client::connect(&self.server, &self.security()?).await
    }

    /// For a batch job over the whole company: calls wait as long as the server allows.
    pub async fn connect_for_batch_job(&self) -> anyhow::Result<client::Channel> {
        client::connect_for_batch_job(&self.server, &self.security()?).await
    }

    fn security(&self) -> anyhow::Result<nordstern_runtime::client::ClientSecurity> {
        admin::client_security(
            self.token.as_deref(),
            self.token_file.as_deref(),
            self.ca_cert.as_deref(),
            self.client_cert.as_deref().zip(self.client_key.as_deref()),
        )
    }
}

/// Where `nordstern token` finds the store: the same layers as `serve`.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "NORDSTERN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded SQLite files [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL of the installation.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl StoreArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let overrides = CliOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            ..CliOverrides::default()
        };
        Config::load(self.config.as_deref(), &overrides).map_err(anyhow::Error::from)
    }
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only now).
    Create {
        #[arg(long)]
        name: String,
        /// A scope such as scores:read; repeat for more (`admin` grants everything).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// e.g. 90d, 12h or 3600 (seconds) [default: never].
        #[arg(long, value_parser = nordstern_auth::tokens::parse_duration)]
        expires_in: Option<i64>,
        /// Requests per second [default: auth.default_rate_per_second or the scope's].
        #[arg(long, default_value_t = 0)]
        rate_limit: u32,
        /// Requests at once after a quiet period [default: one second's worth].
        #[arg(long, default_value_t = 0)]
        burst: u32,
        /// The CSM (id) the token speaks for: the board opens on their portfolio.
        #[arg(long, value_name = "CSM_ID", default_value = "")]
        csm: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Tokens, newest first, without their secrets.
    List {
        /// Include revoked tokens.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token; every server refuses it within auth.refresh_interval_ms.
    Revoke {
        token_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(clap::Args)]
pub struct AuditArgs {
    #[arg(long, default_value = "")]
    pub token_id: String,
    #[arg(long, default_value = "")]
    pub account: String,
    /// gRPC method path or HTTP route, e.g. /nordstern.accounts.v1.AccountsService/EraseAccount.
    #[arg(long, default_value = "")]
    pub method: String,
    /// RFC 3339 time, e.g. 2026-12-01T00:00:00Z.
    #[arg(long)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(long)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Events shown, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Customer 360: health and its drivers, usage, surveys, alerts, upsell, contracts.
    #[command(name = "360")]
    Customer360 {
        account_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(clap::Args)]
pub struct PortfolioArgs {
    /// The CSM's id or e-mail.
    pub csm: String,
    /// Accounts shown.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(clap::Args)]
pub struct RiskArgs {
    /// Accounts shown (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand)]
pub enum TicketCommand {
    /// Route a ticket: category, destination, priority, and why.
    Route {
        #[arg(long)]
        account: String,
        #[arg(long)]
        subject: String,
        #[arg(long, default_value = "")]
        body: String,
        /// Idempotency key: a retry with the same key gets the first answer [default: a fresh UUID].
        #[arg(long, default_value = "")]
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Accounts: name, crm_id, segment, start_date, arr [, renewal_date, modules, csm_email].
    Accounts {
        csv: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Contract events: crm_id, kind, effective_date [, arr_change, renewal_date, idempotency_key].
    Contracts {
        csv: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Train a churn model on a CSV of past renewals and churns.
    Train {
        #[arg(long)]
        csv: PathBuf,
        /// The column that says churned (1/true/yes/churned) or renewed (0/false/no/renewed).
        #[arg(long)]
        label: String,
        /// Numeric feature columns [default: the header's platform features].
        #[arg(long, value_delimiter = ',')]
        numeric: Vec<String>,
        /// Categorical feature columns [default: the header's platform features].
        #[arg(long, value_delimiter = ',')]
        categorical: Vec<String>,
        /// Activate the model and rescore every account (only for platform features).
        #[arg(long)]
        activate: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Train a churn model on the platform's own history: every renewal and churn the
    /// accounts service recorded, with the features the services held some days before
    /// it. About a minute at 100,000 accounts.
    TrainFromHistory {
        #[command(flatten)]
        history: import::HistoryArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Score the rows of a CSV with a churn model: each row's probability and top
    /// drivers (up to 10,000 rows; the header names the model's feature columns).
    Score {
        #[arg(long)]
        csv: PathBuf,
        /// Model id [default: the active model].
        #[arg(long)]
        model: Option<String>,
        /// The column that names each row [default: the first column that is not a
        /// feature].
        #[arg(long)]
        id_column: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Every flag overrides the config file and `NORDSTERN_*` environment variables.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file; see README.md for every key.
    #[arg(long, env = "NORDSTERN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Services to run in this process: `all`, or a comma list such as `accounts,usage`.
    #[arg(long, value_name = "LIST")]
    pub services: Option<String>,
    /// Address the gRPC server listens on [default: grpc.listen_addr from the config file or
    /// NORDSTERN_GRPC__LISTEN_ADDR, else 127.0.0.1:50051].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded SQLite files (one per service) [default: data_dir from the
    /// config file or NORDSTERN_DATA_DIR, else ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; each service then keeps its tables in its own schema there.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Redis URL of the scoring service's score cache, e.g. redis://127.0.0.1:6379 [default: in-process cache].
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// OTLP/gRPC collector for traces and metrics, e.g. http://localhost:4317.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Log filter, e.g. `info` or `info,nordstern_accounts=debug`.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// How many accounts the generated company has.
    #[arg(long, default_value_t = 2000)]
    pub accounts: usize,
    /// How many CSMs share them.
    #[arg(long, default_value_t = 8)]
    pub csms: usize,
    /// Seed of the generator; the same seed gives the same company.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// Runs a client command against a running suite; an import with refused rows exits 1.
pub async fn run_client(command: Command) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    match command {
        Command::Account(AccountCommand::Customer360 { account_id, client }) => {
            let output = Output::detect(client.json);
            commands::account_360(client.connect().await?, &account_id, output, out).await?;
        }
        Command::Portfolio(args) => {
            let output = Output::detect(args.client.json);
            let channel = args.client.connect().await?;
            commands::portfolio(channel, &args.csm, args.limit, output, out).await?;
        }
        Command::Risk(args) => {
            let output = Output::detect(args.client.json);
            commands::risk(args.client.connect().await?, args.limit, output, out).await?;
        }
        Command::Ticket(TicketCommand::Route {
            account,
            subject,
            body,
            key,
            client,
        }) => {
            let ticket = commands::TicketArgs {
                account_id: &account,
                subject: &subject,
                body: &body,
                idempotency_key: &key,
            };
            let output = Output::detect(client.json);
            commands::route_ticket(client.connect().await?, &ticket, output, out).await?;
        }
        Command::Import(ImportCommand::Accounts { csv, client }) => {
            let text = read(&csv)?;
            let report = import::import_accounts(client.connect().await?, &text).await?;
            report.write(&csv.display().to_string(), Output::detect(client.json), out)?;
            return Ok(exit_code(&report));
        }
        Command::Import(ImportCommand::Contracts { csv, client }) => {
            let text = read(&csv)?;
            let report = import::import_contracts(client.connect().await?, &text).await?;
            report.write(&csv.display().to_string(), Output::detect(client.json), out)?;
            return Ok(exit_code(&report));
        }
        Command::Model(ModelCommand::Train {
            csv,
            label,
            numeric,
            categorical,
            activate,
            client,
        }) => {
            let text = read(&csv)?;
            let args = import::TrainArgs {
                label,
                numeric,
                categorical,
                activate,
            };
            let output = Output::detect(client.json);
            import::train_model(client.connect().await?, text, args, output, out).await?;
        }
        Command::Model(ModelCommand::TrainFromHistory { history, client }) => {
            let output = Output::detect(client.json);
            let channel = client.connect_for_batch_job().await?;
            import::train_model_from_history(channel, history, output, out).await?;
        }
        Command::Model(ModelCommand::Score {
            csv,
            model,
            id_column,
            client,
        }) => {
            let text = read(&csv)?;
            let output = Output::detect(client.json);
            import::score_rows(
                client.connect().await?,
                text,
                model.unwrap_or_default(),
                id_column.unwrap_or_default(),
                output,
                out,
            )
            .await?;
        }
        Command::Token(TokenCommand::Create {
            name,
            scopes,
            expires_in,
            rate_limit,
            burst,
            csm,
            store,
        }) => {
            let new = nordstern_auth::tokens::NewToken {
                name,
                scopes,
                expires_in_seconds: expires_in.unwrap_or(0),
                rate_limit_per_second: rate_limit,
                rate_limit_burst: burst,
                csm_id: csm,
            };
            let output = store_output(store.json);
            admin::create_token(&store.config()?, &new, output, out).await?;
        }
        Command::Token(TokenCommand::List { all, store }) => {
            admin::list_tokens(&store.config()?, all, store_output(store.json), out).await?;
        }
        Command::Token(TokenCommand::Revoke { token_id, store }) => {
            admin::revoke_token(&store.config()?, &token_id, store_output(store.json), out).await?;
        }
        Command::Audit(args) => {
            let query = admin::AuditQuery {
                token_id: args.token_id,
                account_id: args.account,
                method: args.method,
                since: args.since,
                until: args.until,
                limit: args.limit,
            };
            let output = Output::detect(args.client.json);
            admin::audit(args.client.connect().await?, &query, output, out).await?;
        }
        Command::Webhook(command) => crate::webhook::run(command, out).await?,
        Command::Health { service, client } => {
            return commands::health(client.connect().await?, &service, out).await;
        }
        Command::Serve(_) | Command::Demo(_) | Command::Bench(_) => {
            anyhow::bail!("not a client command")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn store_output(json: bool) -> Output {
    if json {
        Output::Json
    } else {
        Output::detect(false)
    }
}

fn exit_code(report: &import::ImportReport) -> ExitCode {
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
