//! Password hashing: argon2id with a fresh salt per password. Hashing is slow and takes
//! 19 MiB of memory on purpose, so it runs on the blocking pool, never on the threads that
//! serve requests, and at most one hash per core runs at once: more would not finish
//! sooner, and each concurrent hash leaves its 19 MiB in the allocator (64 sign-ups at
//! once grew the process to 1.2 GB before this limit; see scripts/bench).
//!
//! The hashes waiting for a core are bounded too. Without a bound every sign-up and login
//! queued however long the queue was (400 at once took seconds each to answer, and a client
//! that gave up left its hash in the queue); past the bound a hash is refused at once
//! ([`PasswordError::Busy`]), which the HTTP edge answers 503 with `Retry-After`.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// How many hashes may wait for a core by default (at 25 ms a hash on two cores, the last
/// of them waits about 0.8 s).
pub const DEFAULT_QUEUE: usize = 64;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every core is hashing and the queue is full: try again shortly.
    #[error("too many passwords are being checked; try again shortly")]
    Busy,
    /// A fault of this process or of the stored hash, never of the password given.
    #[error("{0}")]
    Failed(String),
}

/// Hashes and verifies passwords, a bounded number at a time, with a bounded queue.
#[derive(Clone)]
pub struct Passwords {
    /// One per core: the hashes that run at once.
    running: Arc<Semaphore>,
    /// The hashes running or waiting for a `running` permit.
    admitted: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords::with_queue(DEFAULT_QUEUE)
    }
}

impl Passwords {
    /// Runs one hash per core and lets at most `queue` more wait.
    pub fn with_queue(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords {
            running: Arc::new(Semaphore::new(cores)),
            admitted: Arc::new(Semaphore::new(cores.saturating_add(queue))),
        }
    }

    /// Hashes a password for storage (PHC string: algorithm, parameters, salt and hash).
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Failed(format!("hashing a password: {e}")))
        })
        .await
    }

    /// True when `password` matches the stored hash.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, PasswordError> {
        self.run(move || {
            let parsed = PasswordHash::new(&stored)
                .map_err(|e| PasswordError::Failed(format!("stored hash: {e}")))?;
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
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Failed("the password hasher is closed".into()))?;
        // The permits go with the work: a request that times out or whose client leaves
        // drops this future, but the hash it started runs to its end on the blocking pool and
        // keeps its core until then.
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            work()
        })
        .await
        .map_err(|e| PasswordError::Failed(format!("password task: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_a_hash_is_refused_at_once() {
        let passwords = Passwords::with_queue(0);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Hold every core, as that many hashes in progress would.
        let held = passwords
            .running
            .clone()
            .acquire_many_owned(cores as u32)
            .await;
        let waiting: Vec<_> = (0..cores)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash("a password".into()).await })
            })
            .collect();
        // Let them take their places in the queue.
        while passwords.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            passwords.hash("one too many".into()).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        for hash in waiting {
            assert!(hash.await.unwrap().is_ok());
        }
        // The queue is free again.
        assert!(passwords.hash("again".into()).await.is_ok());
    }
}
