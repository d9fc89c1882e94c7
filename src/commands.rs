//! The account commands of the server's own shell: `conveyor user …` and `conveyor token
//! create`. They work on the data directory's database directly (beside a running server:
//! SQLite serialises the writes), through the same use cases as the API.

use std::io::Read;
use std::path::Path;

use crate::config::{SecretAction, TokenAction, UserAction};
use crate::service::{principal, AccountSettings, Accounts, ServiceError};
use crate::store::Store;

/// What a command prints on success, or why it failed.
pub async fn run_user(action: UserAction, data_dir: &Path) -> Result<String, String> {
    let accounts = open(data_dir).await?;
    let text = match action {
        UserAction::Add {
            name,
            role,
            password_stdin,
        } => {
            let (password, made) = password(password_stdin)?;
            accounts
                .add_user(None, &name, role, &password)
                .await
                .map_err(said)?;
            made.map_or_else(
                || format!("added {name} ({role})"),
                |p| format!("added {name} ({role}); password: {p}"),
            )
        }
        UserAction::Passwd {
            name,
            password_stdin,
        } => {
            let (password, made) = password(password_stdin)?;
            accounts
                .update_user(None, &name, None, None, Some(&password))
                .await
                .map_err(said)?;
            made.map_or_else(
                || format!("changed the password of {name}"),
                |p| format!("new password of {name}: {p}"),
            )
        }
        UserAction::Disable { name } => {
            accounts
                .update_user(None, &name, None, Some(true), None)
                .await
                .map_err(said)?;
            format!("disabled {name}: its sessions and tokens no longer work")
        }
        UserAction::Enable { name } => {
            accounts
                .update_user(None, &name, None, Some(false), None)
                .await
                .map_err(said)?;
            format!("enabled {name}")
        }
    };
    Ok(text)
}

/// Prints the new token alone, for scripts to capture.
pub async fn run_token(action: TokenAction, data_dir: &Path) -> Result<String, String> {
    let accounts = open(data_dir).await?;
    let TokenAction::Create {
        user,
        scope,
        expires,
        name,
    } = action;
    let owner = principal(&accounts.account(&user).await.map_err(said)?);
    let token = accounts
        .create_token(&owner, None, &name, scope, expires)
        .await
        .map_err(said)?;
    Ok(token.token)
}

/// Sets, removes or lists secrets.
pub async fn run_secret(
    action: SecretAction,
    data_dir: &Path,
    key_file: Option<&Path>,
) -> Result<String, String> {
    let store = open_store(data_dir).await?;
    let key_file = key_file.map_or_else(|| data_dir.join("secret.key"), Path::to_path_buf);
    let sealer = crate::secrets::SecretBox::load_or_create(&key_file)
        .map_err(|err| format!("cannot use the key {}: {err}", key_file.display()))?;
    let secrets = crate::service::Secrets::new(store, sealer);
    let shown = |pipeline: &Option<String>, name: &str| {
        format!(
            "{}{name}",
            pipeline
                .as_ref()
                .map(|p| format!("{p}/"))
                .unwrap_or_default()
        )
    };
    match action {
        SecretAction::Set { name, pipeline } => {
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .map_err(|err| format!("cannot read standard input: {err}"))?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            secrets
                .set(pipeline.as_deref(), &name, value, None)
                .await
                .map_err(said)?;
            Ok(format!("set secret {}", shown(&pipeline, &name)))
        }
        SecretAction::Rm { name, pipeline } => {
            secrets
                .delete(pipeline.as_deref(), &name, None)
                .await
                .map_err(said)?;
            Ok(format!("removed secret {}", shown(&pipeline, &name)))
        }
        SecretAction::List { pipeline } => {
            let list = secrets.list(pipeline.as_deref()).await.map_err(said)?;
            let lines: Vec<String> = list.iter().map(|s| shown(&s.pipeline, &s.name)).collect();
            Ok(lines.join("\n"))
        }
    }
}

async fn open_store(data_dir: &Path) -> Result<Store, String> {
    let path = data_dir.join("conveyor.db");
    if !path.exists() {
        return Err(format!(
            "no database at {} (give --data-dir, or start the server once)",
            path.display()
        ));
    }
    Store::open(&path)
        .await
        .map_err(|err| format!("cannot open {}: {err}", path.display()))
}

async fn open(data_dir: &Path) -> Result<Accounts, String> {
    let store = open_store(data_dir).await?;
    let settings = AccountSettings {
        session_idle: std::time::Duration::ZERO,
        session_max: std::time::Duration::ZERO,
        initial_password_file: crate::service::initial_password_file(data_dir),
        secure_cookies: false,
        oidc: None,
    };
    Ok(Accounts::new(store, settings))
}

/// The password given on standard input, or a new one (returned again to be printed).
fn password(from_stdin: bool) -> Result<(String, Option<String>), String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| format!("cannot read standard input: {err}"))?;
        let password = text.trim_end_matches(['\n', '\r']).to_owned();
        return Ok((password, None));
    }
    let made = crate::auth::random_text(15);
    Ok((made.clone(), Some(made)))
}

fn said(err: ServiceError) -> String {
    match err {
        ServiceError::Store(err) => format!("database error: {err}"),
        other => other.to_string(),
    }
}
