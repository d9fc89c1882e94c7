//! The files a step gets besides its workspace (its script, variables and registry
//! credentials), in the run's scripts directory and readable by this user only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A step's own directory among its run's scripts (by its index: names of different steps
/// never meet in it), readable by this user only.
pub(super) async fn step_dir(scripts: &Path, index: usize) -> std::io::Result<PathBuf> {
    let dir = scripts.join(format!("step-{index}"));
    tokio::fs::create_dir_all(&dir).await?;
    tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).await?;
    Ok(dir)
}

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

/// A step's script (no secret: the definition's own text). Readable by anyone, so that a
/// container whose image runs as another user can read it where it is mounted; its
/// directory keeps other users of the host out.
pub(super) async fn write_script(path: &Path, script: &str) -> std::io::Result<()> {
    tokio::fs::write(path, script).await?;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).await
}
