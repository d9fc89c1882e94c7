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
        Command::DeployManifest {
            file,
            rollout_timeout,
        } => deploy_manifest(file, rollout_timeout).await,
        Command::Client(command) => match conveyor::client::run_client(command).await {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprintln!("conveyor: {}", err.message);
                ExitCode::from(err.code)
            }
        },
        Command::User { action, data_dir } => {
            report(conveyor::commands::run_user(action, &data_dir).await)
        }
        Command::Token { action, data_dir } => {
            report(conveyor::commands::run_token(action, &data_dir).await)
        }
        Command::Secret {
            action,
            data_dir,
            secret_key_file,
        } => report(
            conveyor::commands::run_secret(action, &data_dir, secret_key_file.as_deref()).await,
        ),
        Command::Serve(mut config) => {
            let config = &mut *config;
            config.found_kubeconfig = conveyor::config::default_kubeconfig();
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
                )
                .init();
            let server = match Server::bind(config).await {
                Ok(server) => server,
                Err(err) => return fail(&err),
            };
            // Scripts and tests read this line to find the port when binding to port 0.
            println!("conveyor listening on http://{}", server.local_addr());
            // The quick start's next step: where to sign in, and (until it is changed) the
            // first admin's password, on the console only.
            let first_password = conveyor::service::initial_password_file(&config.data_dir);
            match std::fs::read_to_string(&first_password) {
                Ok(password) => println!(
                    "sign in at {}/login as admin with password {} (kept in {} until you change it)",
                    server.public_url(),
                    password.trim(),
                    first_password.display()
                ),
                Err(_) => println!("sign in at {}/login", server.public_url()),
            }
            tracing::info!(data_dir = %config.data_dir.display(), "serving");
            match server.run(shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&err),
            }
        }
    }
}

/// Prints what a command did on standard output, or why it failed on standard error.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("conveyor: {message}");
            ExitCode::FAILURE
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
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or_default(),
        };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
}

/// `conveyor deploy-manifest`: what a local workflow's deploy step runs. Applies the
/// manifest, then waits for each of its Deployments to roll out.
async fn deploy_manifest(
    file: Option<std::path::PathBuf>,
    timeout: std::time::Duration,
) -> ExitCode {
    let text = match file {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display())),
        None => std::env::var("MANIFEST")
            .map_err(|_| "no manifest: give --file or set MANIFEST".to_owned()),
    };
    let result = async {
        let manifest: serde_json::Value = serde_json::from_str(&text?).map_err(|err| format!("the manifest is not JSON: {err}"))?;
        let client = kube::Client::try_default().await.map_err(|err| {
            format!("no cluster to deploy to (set KUBECONFIG, or start the server with --kubeconfig): {err}")
        })?;
        for line in conveyor::cluster::apply_manifest(client.clone(), &manifest).await? {
            println!("{line}");
        }
        for (namespace, name) in conveyor::cluster::deployments_of(&manifest) {
            conveyor::cluster::rollout::wait_for_rollout(
                client.clone(),
                &namespace,
                &name,
                timeout,
                |line| println!("{line}"),
            )
            .await?;
        }
        Ok::<(), String>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("conveyor deploy-manifest: {message}");
            ExitCode::FAILURE
        }
    }
}
