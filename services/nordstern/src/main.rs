//! `nordstern`: run the suite, load a demo company, or benchmark it.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use nordstern::{App, IMPLEMENTED_ROLES, bench, demo};
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
    #[arg(long, default_value_t = 400)]
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
    let listener = tokio::net::TcpListener::bind(config.grpc.listen_addr)
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on {}: {error}", config.grpc.listen_addr)
        })?;
    let app = App::build(config.clone(), roles, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    if let Some(options) = demo {
        demo::load(&url, &config, &options).await?;
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
