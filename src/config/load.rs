//! Loading: the only reads of configuration. The TOML file, the `FIREHOSE_SENTINEL__*`
//! environment overrides merged over it, and the files secrets are read from (`*_file`); then
//! [`validate`](super::validate) turns what was read into [`Settings`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::raw::RawConfig;
use super::validate::{self, SecretFiles};
use super::{ConfigError, Problem, Settings, CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, ENV_PREFIX};

/// Which file to read: `-c`, else `$FIREHOSE_SENTINEL_CONFIG`, else the default path.
pub fn resolve_path(cli: Option<&Path>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    match std::env::var_os(CONFIG_PATH_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_CONFIG_PATH),
    }
}

/// Load from a file plus the process environment.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    load_with_env(path, &env)
}

/// Load from a file plus the given environment (tests pass their own map).
pub fn load_with_env(path: &Path, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    load_from_str(&text, path, env)
}

/// Load from TOML text; `path` is only used in messages.
pub fn load_from_str(
    text: &str,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let overrides: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let merged = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("streams.names")
                .with_list_parse_key("streams.include")
                .with_list_parse_key("streams.exclude")
                .source(Some(overrides)),
        )
        .build()
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: without_snippet(&e.to_string()),
        })?;
    let value: serde_json::Value =
        merged
            .try_deserialize()
            .map_err(|e: config::ConfigError| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    let raw: RawConfig = serde_path_to_error::deserialize(&value).map_err(|e| {
        // For an unknown field the path already ends with the field itself.
        let key = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = match inner.strip_prefix("unknown field ") {
            Some(rest) => {
                let known = rest
                    .split_once(", expected ")
                    .map(|(_, k)| k.replace('`', "").replace("one of ", ""))
                    .map(|k| format!(" (expected one of: {k})"))
                    .unwrap_or_default();
                format!("unknown key{known}")
            }
            None => without_values(&inner)
                .replace("expected i64", "expected an integer")
                .replace("expected u64", "expected an integer")
                .replace("expected a boolean", "expected true or false"),
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem { key, message }],
        }
    })?;
    let files = read_secret_files(&raw);
    validate::validate(raw, env, &files).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// A type error without the value it quotes (``invalid type: integer `123456`, expected a
/// string``): the value may be a secret given unquoted.
fn without_values(message: &str) -> String {
    if !(message.contains("invalid type: ") || message.contains("invalid value: ")) {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '`' {
            quoted = !quoted;
            continue;
        }
        if !quoted {
            out.push(c);
        }
    }
    out.replace("  ", " ").replace(" ,", ",")
}

/// A parse error without the source lines it quotes: the line may hold a secret.
fn without_snippet(message: &str) -> String {
    message
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with('|')
                || t.split_once(" |")
                    .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit())))
        })
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Read every file a secret is taken from (`*_file` keys): the contents, or why it could not
/// be read. Validation decides what a missing or empty one means.
fn read_secret_files(raw: &RawConfig) -> SecretFiles {
    let a = &raw.alerts;
    let paths = a
        .webhook
        .iter()
        .flat_map(|w| [w.url_file.as_ref(), w.secret_file.as_ref()])
        .chain(a.slack.iter().map(|s| s.webhook_url_file.as_ref()))
        .chain(a.pagerduty.iter().map(|p| p.routing_key_file.as_ref()))
        .chain([raw.server.auth_token_file.as_ref()])
        .chain(raw.targets.iter().map(|t| t.external_id_file.as_ref()))
        .flatten();
    paths
        .map(|p| {
            let content = std::fs::read_to_string(p).map_err(|e| e.to_string());
            (p.clone(), content)
        })
        .collect()
}
