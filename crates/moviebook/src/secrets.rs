//! Secrets that are generated on first start and kept in the data directory, so that a
//! restart accepts the same admin token and the user tokens it issued before.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::config::Config;

/// The secrets a process signs and checks tokens with.
pub struct Secrets {
    /// The admin bearer token.
    pub admin_token: String,
    /// The admin token again when this start generated it, to be shown once.
    pub generated_admin_token: Option<String>,
    /// The key that signs user tokens.
    pub jwt_secret: String,
}

impl Secrets {
    /// The configured secrets, or those kept in the data directory (generated when missing).
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        let (admin_token, generated_admin_token) = match &config.admin_token {
            Some(token) => (token.0.clone(), None),
            None => {
                let (token, created) = load_or_generate(&config.data_dir, "admin-token")?;
                (token.clone(), created.then_some(token))
            }
        };
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.0.clone(),
            None => load_or_generate(&config.data_dir, "jwt-secret")?.0,
        };
        Ok(Secrets {
            admin_token,
            generated_admin_token,
            jwt_secret,
        })
    }
}

/// The secret kept in `file`, creating it when missing; `true` when it was just created.
fn load_or_generate(dir: &Path, file: &str) -> anyhow::Result<(String, bool)> {
    let path = dir.join(file);
    if let Ok(existing) = fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            return Ok((existing, false));
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    out.write_all(secret.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    out.sync_all()?;
    Ok((secret, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_generate(dir.path(), "token").unwrap();
        assert!(created);
        assert!(first.len() >= 40);
        let (again, created) = load_or_generate(dir.path(), "token").unwrap();
        assert!(!created);
        assert_eq!(first, again);
    }
}
