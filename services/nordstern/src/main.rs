//! `nordstern`: run the suite, load a demo company, or benchmark it.

use std::process::ExitCode;

use clap::Parser;
use nordstern::{
    App, IMPLEMENTED_ROLES, admin, bench,
    cli::{Cli, Command, ServeArgs, run_client},
    demo,
};
use nordstern_runtime::{
    Config,
    config::{CliOverrides, EXIT_BAD_CONFIG, GrpcOverrides, TelemetryOverrides},
    shutdown, telemetry,
};

/// jemalloc for Rust and, through the unprefixed `malloc`, for the bundled SQLite.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
        command => match runtime.block_on(run_client(command)) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error:#}");
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
