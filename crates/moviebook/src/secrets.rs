//! The admin token and the key that signs user tokens: configured, or generated on first
//! start and kept in the data directory, so that a restart accepts the same admin token and
//! the user tokens it issued before. Either way a secret is at least 32 bytes long: a short
//! one can be guessed (`admin`) or brute-forced offline from one signed token (`short`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::config::{Config, Secret};

/// The fewest bytes a secret may have: as many as the random ones a start generates.
pub const MIN_SECRET_BYTES: usize = 32;

/// Random bytes in a generated secret (kept base64url-encoded, 43 characters).
const GENERATED_BYTES: usize = 32;

/// The secrets, each with the setting that configures it and the file that keeps it when it
/// is not configured.
const ADMIN_TOKEN: Setting = Setting {
    variable: "MOVIEBOOK_ADMIN_TOKEN",
    flag: "--admin-token",
    file: "admin-token",
};
const JWT_SECRET: Setting = Setting {
    variable: "MOVIEBOOK_JWT_SECRET",
    flag: "--jwt-secret",
    file: "jwt-secret",
};

/// Where one secret comes from.
struct Setting {
    variable: &'static str,
    flag: &'static str,
    file: &'static str,
}

/// Why a process cannot have its secrets. No variant carries a secret's text.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{variable} (or {flag}) is {bytes} bytes long; it must be at least {MIN_SECRET_BYTES} \
         bytes (leave it unset to have one generated and kept in the data directory)"
    )]
    ConfiguredTooShort {
        variable: &'static str,
        flag: &'static str,
        bytes: usize,
    },
    #[error(
        "{} holds a secret of {bytes} bytes; it must be at least {MIN_SECRET_BYTES} bytes \
         (delete the file to have a new one generated)",
        path.display()
    )]
    KeptTooShort { path: PathBuf, bytes: usize },
    #[error("{action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The secrets a process signs and checks tokens with.
pub struct Secrets {
    /// The admin bearer token.
    pub admin_token: Secret,
    /// The admin token again when this start generated it, to be shown once.
    pub generated_admin_token: Option<Secret>,
    /// The key that signs user tokens.
    pub jwt_secret: Secret,
}

impl Secrets {
    /// Refuses a configured secret shorter than [`MIN_SECRET_BYTES`], naming its variable.
    /// Start-up calls it before it touches anything, so a refused process leaves no trace.
    pub fn check_configured(config: &Config) -> Result<(), SecretError> {
        for (setting, secret) in [
            (&ADMIN_TOKEN, &config.admin_token),
            (&JWT_SECRET, &config.jwt_secret),
        ] {
            if let Some(secret) = secret {
                long_enough(setting, secret)?;
            }
        }
        Ok(())
    }

    /// The configured secrets, or those kept in the data directory (generated when missing).
    pub fn load(config: &Config) -> Result<Self, SecretError> {
        Self::check_configured(config)?;
        let (admin_token, generated_admin_token) = match &config.admin_token {
            Some(token) => (token.clone(), None),
            None => {
                let (token, created) = load_or_generate(&config.data_dir, &ADMIN_TOKEN)?;
                (token.clone(), created.then_some(token))
            }
        };
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => load_or_generate(&config.data_dir, &JWT_SECRET)?.0,
        };
        Ok(Secrets {
            admin_token,
            generated_admin_token,
            jwt_secret,
        })
    }
}

/// `secret`, configured through `setting`, when it has at least [`MIN_SECRET_BYTES`] bytes.
fn long_enough(setting: &Setting, secret: &Secret) -> Result<(), SecretError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretError::ConfiguredTooShort {
            variable: setting.variable,
            flag: setting.flag,
            bytes: secret.len(),
        });
    }
    Ok(())
}

/// The secret kept in the setting's file, creating it when missing; `true` when it was just
/// created. A kept secret is held to the same minimum as a configured one: the file may
/// have been written by hand.
fn load_or_generate(dir: &Path, setting: &Setting) -> Result<(Secret, bool), SecretError> {
    let path = dir.join(setting.file);
    if let Ok(existing) = fs::read_to_string(&path) {
        let existing = existing.trim();
        if !existing.is_empty() {
            if existing.len() < MIN_SECRET_BYTES {
                return Err(SecretError::KeptTooShort {
                    bytes: existing.len(),
                    path,
                });
            }
            return Ok((Secret::new(existing), false));
        }
    }
    let mut bytes = [0u8; GENERATED_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let file_error = |action| {
        let path = path.clone();
        move |source| SecretError::File {
            action,
            path,
            source,
        }
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(&path).map_err(file_error("creating"))?;
    out.write_all(secret.as_bytes())
        .map_err(file_error("writing"))?;
    out.sync_all().map_err(file_error("writing"))?;
    Ok((Secret::new(secret), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_generate(dir.path(), &JWT_SECRET).unwrap();
        assert!(created);
        assert!(first.len() >= 40);
        let (again, created) = load_or_generate(dir.path(), &JWT_SECRET).unwrap();
        assert!(!created);
        assert_eq!(first, again);
    }

    #[test]
    fn a_configured_secret_shorter_than_32_bytes_is_refused_naming_its_variable() {
        for setting in [&ADMIN_TOKEN, &JWT_SECRET] {
            let error = long_enough(setting, &Secret::new("0123456789")).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(setting.variable), "{message}");
            assert!(message.contains("10 bytes"), "{message}");
            assert!(
                !message.contains("0123456789"),
                "the secret leaked: {message}"
            );
        }
        let one_short = "x".repeat(MIN_SECRET_BYTES - 1);
        assert!(long_enough(&JWT_SECRET, &Secret::new(one_short)).is_err());
    }

    #[test]
    fn a_configured_secret_of_32_bytes_is_accepted() {
        let exactly = "x".repeat(MIN_SECRET_BYTES);
        assert!(long_enough(&ADMIN_TOKEN, &Secret::new(exactly)).is_ok());
        // Bytes, not characters: 11 three-byte characters are 33 bytes.
        assert!(long_enough(&JWT_SECRET, &Secret::new("€".repeat(11))).is_ok());
        assert!(long_enough(&JWT_SECRET, &Secret::new("€".repeat(10))).is_err());
    }

    #[test]
    fn a_kept_secret_shorter_than_32_bytes_is_refused_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("jwt-secret"), "short\n").unwrap();
        let error = load_or_generate(dir.path(), &JWT_SECRET).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("jwt-secret"), "{message}");
        assert!(!message.contains("short"), "the secret leaked: {message}");
    }

    #[test]
    fn a_secret_shows_redacted() {
        let secret = Secret::new("do-not-print-me-0123456789abcdefgh");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret(..)");
    }
}
