use std::process::ExitCode;

use clap::Parser;
use conveyor::config::{Cli, Command};
use conveyor::Server;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file } => match conveyor::validate_file(&file) {
            Ok(problems) if problems.is_empty() => {
                println!("{}: valid", file.display());
                ExitCode::SUCCESS
            }
            Ok(problems) => {
                for problem in problems {
                    eprintln!("{}: {problem}", file.display());
                }
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("conveyor: cannot read {}: {err}", file.display());
                ExitCode::FAILURE
            }
        },
        Command::Serve(config) => {
            tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
                .init();
            let server = match Server::bind(&config).await {
                Ok(server) => server,
                Err(err) => return fail(&err),
            };
            // Scripts and tests read this line to find the port when binding to port 0.
            println!("conveyor listening on http://{}", server.local_addr());
            tracing::info!(data_dir = %config.data_dir.display(), "serving");
            match server.run(shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&err),
            }
        }
    }
}

fn fail(err: &dyn std::error::Error) -> ExitCode {
    let mut message = format!("conveyor: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("{message}");
    ExitCode::FAILURE
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => return interrupt.await.unwrap_or_default(),
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
}
