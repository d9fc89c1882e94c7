//! Who is calling, and may they: the pieces of sign-in that are not use cases. Passwords
//! are Argon2id hashes; session ids and API tokens are random and kept as SHA-256 hashes;
//! failed sign-ins are slowed per account and per address (`throttle`); `policy` says what
//! every route needs.

pub mod oidc;
pub mod policy;
pub mod throttle;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The cookie that carries a browser session's id.
pub const SESSION_COOKIE: &str = "conveyor_session";
/// What every API token starts with, so scanners and people can tell one.
pub const TOKEN_PREFIX: &str = "cvy_";

/// `bytes` random bytes as URL-safe base64 (no padding).
pub fn random_text(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// What is kept of a session id or a token: its SHA-256.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new API token (shown once) and what is kept of it.
pub fn new_token() -> (String, Vec<u8>) {
    let token = format!("{TOKEN_PREFIX}{}", random_text(32));
    let hash = digest(&token);
    (token, hash)
}

/// An Argon2id hash of a password, as a PHC string with its own salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| format!("could not hash the password: {err}"))
}

/// Whether `password` is the one `hash` was made from.
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to check passwords against when the account does not exist, so that an unknown
/// name costs the same time as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_text(16)).unwrap_or_default())
}
