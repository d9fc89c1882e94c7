//! Encryption at rest for the secrets Conveyor keeps (workflow credentials): XChaCha20-
//! Poly1305 (RustCrypto) with a random 192-bit nonce per message, and the owner's name as
//! associated data, so a sealed value moved to another row fails to open.
//!
//! The 256-bit key lives in a file (`--secret-key-file`, by default `secret.key` in the data
//! directory), made with mode 0600 on first start. Keep it apart from the database (a
//! mounted Kubernetes Secret, say) and a copy of the database alone reveals nothing.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create the secret key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key file {path} must hold exactly {KEY_BYTES} bytes (it has {found})")]
    KeyLength { path: PathBuf, found: usize },
    #[error("the secret key file {path} is readable by others (mode {mode:o}); make it 0600")]
    KeyMode { path: PathBuf, mode: u32 },
    #[error("a stored secret could not be decrypted (wrong key, or the data was altered)")]
    Open,
    #[error("a secret could not be encrypted")]
    Seal,
}

/// Seals and opens secrets with the server's key. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Reads the key file, or makes one (0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, SecretError> {
        let key_file = |source| SecretError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let key = match std::fs::read(path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(path)
                    .map_err(key_file)?
                    .permissions()
                    .mode()
                    & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretError::KeyMode {
                        path: path.to_owned(),
                        mode,
                    });
                }
                if bytes.len() != KEY_BYTES {
                    return Err(SecretError::KeyLength {
                        path: path.to_owned(),
                        found: bytes.len(),
                    });
                }
                *Key::from_slice(&bytes)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(key_file)?;
                }
                // create_new: two servers starting at once never overwrite each other's key.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(key_file)?;
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(key_file)?;
                key
            }
            Err(err) => return Err(key_file(err)),
        };
        Ok(SecretBox {
            cipher: XChaCha20Poly1305::new(&key),
        })
    }

    /// `nonce ‖ ciphertext+tag`, bound to `owner`.
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<Vec<u8>, SecretError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SecretError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_owner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys/secret.key");
        let secrets = SecretBox::load_or_create(&path).expect("key made");
        assert_eq!(
            std::fs::metadata(&path)
                .expect("key file")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let sealed = secrets.seal(b"hunter2", "web").expect("sealed");
        assert!(
            !sealed.windows(7).any(|w| w == b"hunter2"),
            "no plaintext in the sealed bytes"
        );
        assert_ne!(
            sealed,
            secrets.seal(b"hunter2", "web").expect("sealed"),
            "a fresh nonce each time"
        );

        let again = SecretBox::load_or_create(&path).expect("key read back");
        assert_eq!(again.open(&sealed, "web").expect("opens"), b"hunter2");
        assert!(
            matches!(again.open(&sealed, "api"), Err(SecretError::Open)),
            "bound to its owner"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().expect("bytes") ^= 1;
        assert!(matches!(
            again.open(&altered, "web"),
            Err(SecretError::Open)
        ));

        let other = SecretBox::load_or_create(&dir.path().join("other.key")).expect("another key");
        assert!(matches!(other.open(&sealed, "web"), Err(SecretError::Open)));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            SecretBox::load_or_create(&path),
            Err(SecretError::KeyMode { .. })
        ));
    }
}
