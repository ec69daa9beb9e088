//! `nordstern`: run the suite, load a demo company, or benchmark it.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use nordstern::{App, IMPLEMENTED_ROLES, admin, bench, commands, demo, import, terminal::Output};
use nordstern_runtime::{
    Config,
    config::{CliOverrides, EXIT_BAD_CONFIG, GrpcOverrides, TelemetryOverrides},
    shutdown, telemetry,
};

#[derive(Parser)]
#[command(
    name = "nordstern",
    version,
    about = "Nordstern customer success platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
struct ClientArgs {
    /// gRPC URL of the suite.
    #[arg(long, env = "NORDSTERN_SERVER", default_value = commands::DEFAULT_SERVER)]
    server: String,
    /// proto3 JSON instead of tables, for scripts.
    #[arg(long)]
    json: bool,
    /// API token (`nst_…`) [default: the first line of --token-file].
    #[arg(long, env = "NORDSTERN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the token [default: data/admin.token, which `demo` writes].
    #[arg(long, env = "NORDSTERN_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for an https:// server.
    #[arg(long, env = "NORDSTERN_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for a server that requires mutual TLS.
    #[arg(
        long,
        env = "NORDSTERN_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key"
    )]
    client_cert: Option<PathBuf>,
    /// Key (PEM) of --client-cert.
    #[arg(
        long,
        env = "NORDSTERN_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    client_key: Option<PathBuf>,
}

impl ClientArgs {
    async fn connect(&self) -> anyhow::Result<commands::Channel> {
        let security = admin::client_security(
            self.token.as_deref(),
            self.token_file.as_deref(),
            self.ca_cert.as_deref(),
            self.client_cert.as_deref().zip(self.client_key.as_deref()),
        )?;
        commands::connect(&self.server, &security).await
    }
}

/// Where `nordstern token` finds the store: the same layers as `serve`.
#[derive(clap::Args)]
struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "NORDSTERN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the embedded SQLite files [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL of the installation.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
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
enum TokenCommand {
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
struct AuditArgs {
    #[arg(long, default_value = "")]
    token_id: String,
    #[arg(long, default_value = "")]
    account: String,
    /// gRPC method path or HTTP route, e.g. /nordstern.accounts.v1.AccountsService/EraseAccount.
    #[arg(long, default_value = "")]
    method: String,
    /// RFC 3339 time, e.g. 2026-12-01T00:00:00Z.
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(long)]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// Events shown, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Customer 360: health and its drivers, usage, surveys, alerts, upsell, contracts.
    #[command(name = "360")]
    Customer360 {
        account_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(clap::Args)]
struct PortfolioArgs {
    /// The CSM's id or e-mail.
    csm: String,
    /// Accounts shown.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
struct RiskArgs {
    /// Accounts shown (at most 1000).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
enum TicketCommand {
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
enum ImportCommand {
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
enum ModelCommand {
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
}

/// Every flag overrides the config file and `NORDSTERN_*` environment variables.
#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file; see README.md for every key.
    #[arg(long, env = "NORDSTERN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Services to run in this process: `all`, or a comma list such as `accounts,usage`.
    #[arg(long, value_name = "LIST")]
    services: Option<String>,
    /// Address the gRPC server listens on [default: 127.0.0.1:50051].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory for the embedded SQLite files (one per service) [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL; each service then keeps its tables in its own schema there.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Redis URL of the scoring service's score cache, e.g. redis://127.0.0.1:6379 [default: in-process cache].
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// OTLP/gRPC collector for traces and metrics, e.g. http://localhost:4317.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Log filter, e.g. `info` or `info,nordstern_accounts=debug`.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
}

#[derive(clap::Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// How many accounts the generated company has.
    #[arg(long, default_value_t = 2000)]
    accounts: usize,
    /// How many CSMs share them.
    #[arg(long, default_value_t = 8)]
    csms: usize,
    /// Seed of the generator; the same seed gives the same company.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args, None)),
        Command::Demo(args) => {
            let demo = demo::DemoOptions {
                accounts: args.accounts,
                csms: args.csms,
                seed: args.seed,
            };
            runtime.block_on(serve(args.serve, Some(demo)))
        }
        Command::Bench(command) => match runtime.block_on(bench::run(command)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bench failed: {error:#}");
                ExitCode::FAILURE
            }
        },
        command => match runtime.block_on(client(command)) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs a client command against a running suite; an import with refused rows exits 1.
async fn client(command: Command) -> anyhow::Result<ExitCode> {
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
        Command::Token(TokenCommand::Create {
            name,
            scopes,
            expires_in,
            rate_limit,
            burst,
            store,
        }) => {
            let new = nordstern_auth::tokens::NewToken {
                name,
                scopes,
                expires_in_seconds: expires_in.unwrap_or(0),
                rate_limit_per_second: rate_limit,
                rate_limit_burst: burst,
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

async fn serve(args: ServeArgs, demo: Option<demo::DemoOptions>) -> ExitCode {
    let overrides = CliOverrides {
        services: args.services,
        data_dir: args.data_dir,
        database_url: args.database_url,
        redis_url: args.redis_url,
        grpc: args.listen.map(|listen_addr| GrpcOverrides {
            listen_addr: Some(listen_addr),
        }),
        telemetry: Some(TelemetryOverrides {
            otlp_endpoint: args.otlp_endpoint,
            log_filter: args.log,
        }),
    };
    let mut config = match Config::load(args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => return bad_config(&error),
    };
    if demo.is_some() && config.usage.pseudonym_key.is_none() {
        // Demo data is generated, so a published key protects nobody; a real deployment
        // must set its own secret, and `serve` refuses to start without one.
        config.usage.pseudonym_key = Some(demo::DEMO_PSEUDONYM_KEY.to_owned());
    }
    let roles = match config.validate(&IMPLEMENTED_ROLES) {
        Ok(roles) => roles,
        Err(error) => return bad_config(&error),
    };
    let telemetry = match telemetry::init(&config.telemetry, "nordstern") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("telemetry: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(config, &roles, demo).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "nordstern stopped");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn run(
    config: Config,
    roles: &[nordstern_runtime::Role],
    demo: Option<demo::DemoOptions>,
) -> anyhow::Result<()> {
    // Before the servers start, so they load it with the other tokens.
    let demo_token = match &demo {
        Some(_) => Some(admin::demo_token(&config).await?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.grpc.listen_addr)
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on {}: {error}", config.grpc.listen_addr)
        })?;
    let app = App::build(config.clone(), roles, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    if let (Some(options), Some(token)) = (demo, demo_token) {
        let server = demo::Server {
            url,
            security: nordstern_runtime::client::ClientSecurity::default()
                .with_token(&token)
                .map_err(anyhow::Error::msg)?,
        };
        demo::load(&server, &config, &options).await?;
    }
    shutdown::os_signal().await;
    trigger.trigger();
    server.await??;
    Ok(())
}

fn bad_config(error: &nordstern_runtime::config::ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EXIT_BAD_CONFIG as u8)
}
