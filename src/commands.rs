//! The account commands of the server's own shell: `conveyor user …` and `conveyor token
//! create`. They work on the data directory's database directly (beside a running server:
//! SQLite serialises the writes), through the same use cases as the API.

use std::io::Read;
use std::path::Path;

use crate::config::{TokenAction, UserAction};
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

async fn open(data_dir: &Path) -> Result<Accounts, String> {
    let path = data_dir.join("conveyor.db");
    if !path.exists() {
        return Err(format!(
            "no database at {} (give --data-dir, or start the server once)",
            path.display()
        ));
    }
    let store = Store::open(&path)
        .await
        .map_err(|err| format!("cannot open {}: {err}", path.display()))?;
    let settings = AccountSettings {
        session_idle: std::time::Duration::ZERO,
        session_max: std::time::Duration::ZERO,
        initial_password_file: crate::service::initial_password_file(data_dir),
        secure_cookies: false,
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
