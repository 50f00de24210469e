//! Password hashing: argon2id with a fresh salt per password. Hashing is slow and takes
//! 19 MiB of memory on purpose, so it runs on the blocking pool, never on the threads that
//! serve requests, and at most one hash per core runs at once: more would not finish
//! sooner, and each concurrent hash leaves its 19 MiB in the allocator (64 sign-ups at
//! once grew the process to 1.2 GB before this limit; see scripts/bench).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use platform::ApiError;
use tokio::sync::Semaphore;

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
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
        })
        .await
    }

    /// True when `password` matches the stored hash.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, ApiError> {
        self.run(move || {
            let parsed = PasswordHash::new(&stored)
                .map_err(|e| ApiError::Internal(format!("stored hash: {e}")))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("the password hasher is closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(format!("password task: {e}")))?
    }
}
