//! Password hashing: argon2id with the crate's default parameters (19 MiB of memory, 2 passes,
//! 1 lane), as applications ship it. Hashing and verifying are CPU-bound: the handlers run
//! them on tokio's blocking pool.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::ApiError;

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of `password` with a fresh salt.
///
/// # Errors
///
/// When argon2 refuses the input (it does not for a password of sane length).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed one).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .and_then(|hash| Argon2::default().verify_password(password.as_bytes(), &hash))
        .is_ok()
}

/// Runs `work` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("a blocking task failed: {e}")))
}
