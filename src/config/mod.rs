//! Configuration, in layers: `raw` (the serde shape users write) -> [`load`] (the file, the
//! `FIREHOSE_SENTINEL__SECTION__KEY` environment overrides and secret files: the only reads)
//! -> `validate` (pure, one function per section) -> [`Settings`] (typed; defaults in
//! [`defaults`]), which the rest of the program trusts.
//!
//! Every problem names the file and the key. Secrets (inline, `*_env`, `*_file`) become
//! [`Secret`](crate::secret::Secret)s and never appear in errors or in
//! [`Settings::redacted_json`].

pub mod defaults;
mod load;
mod raw;
mod settings;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use load::{load, load_from_str, load_with_env, resolve_path};
pub use settings::*;
pub use validate::{url_rule, validate_cron};

/// Where `-c` points by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/firehose-sentinel/config.toml";
/// Environment variable naming the config file when `-c` is absent.
pub const CONFIG_PATH_ENV: &str = "FIREHOSE_SENTINEL_CONFIG";
/// Prefix of the per-key environment overrides.
pub const ENV_PREFIX: &str = "FIREHOSE_SENTINEL";

/// A configuration that could not be loaded. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One invalid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}: {}", path.display(), p.key, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}
