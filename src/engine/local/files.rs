//! The files a step gets besides its workspace (its script, variables and registry
//! credentials), in the run's scripts directory and readable by this user only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `path` with `contents`, readable by this user only, replaced whole.
pub(super) async fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    let mut file = options.open(path).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, contents.as_bytes()).await?;
    file.sync_all().await
}

/// `dir/config.json` with `contents`: the directory 0700, the file 0600.
pub(super) async fn write_private(dir: &Path, contents: &str) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).await?;
    write_private_file(&dir.join("config.json"), contents).await
}

/// A step's script, executable by this user.
pub(super) async fn write_script(path: &Path, script: &str) -> std::io::Result<()> {
    tokio::fs::write(path, script).await?;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).await
}
