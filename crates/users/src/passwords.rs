//! Password hashing: argon2id with a fresh salt per password. Hashing is slow and takes
//! 19 MiB of memory on purpose, so it runs on the blocking pool, never on the threads that
//! serve requests, and at most one hash per core runs at once: more would not finish
//! sooner, and each concurrent hash leaves its 19 MiB in the allocator (64 sign-ups at
//! once grew the process to 1.2 GB before this limit; see scripts/bench).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked: always a fault of this process or of the
/// stored hash, never of the password given.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PasswordError(String);

/// Hashes and verifies passwords, a bounded number at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl Passwords {
    /// Hashes a password for storage (PHC string: algorithm, parameters, salt and hash).
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError(format!("hashing a password: {e}")))
        })
        .await
    }

    /// True when `password` matches the stored hash.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, PasswordError> {
        self.run(move || {
            let parsed = PasswordHash::new(&stored)
                .map_err(|e| PasswordError(format!("stored hash: {e}")))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError("the password hasher is closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PasswordError(format!("password task: {e}")))?
    }
}
