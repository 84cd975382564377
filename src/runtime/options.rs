//! How an application configures its `PromptStore`: the feature flag (`source`), the allow-list
//! of prompts served from the store, where Redis and the store are, and the refresh timings.
//! Read from environment variables by `Options::from_env`; this file does no other I/O.

use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// `embedded`: serve the texts compiled into the application and never touch the network.
/// `store`: start from them, then follow the store's activations through Redis and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The texts compiled into the application, only.
    Embedded,
    /// The store's activations, through Redis and the database.
    Store,
}

/// Which prompts follow the store when `source = store` (the others keep their embedded text):
/// a service-by-service, prompt-by-prompt rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Every prompt.
    All,
    /// These prompts only.
    Only(BTreeSet<String>),
}

impl Allow {
    /// Whether `name` follows the store.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Allow::All => true,
            Allow::Only(names) => names.contains(name),
        }
    }
}

/// How a `PromptStore` runs; `Options::from_env` reads them from `PROMPTCTL_*` variables.
#[derive(Debug, Clone)]
pub struct Options {
    /// Embedded texts only, or the store's activations.
    pub source: Source,
    /// Which prompts follow the store.
    pub allow: Allow,
    /// The environment whose embedded versions seed the snapshot (the registry holds the versions
    /// of every environment).
    pub environment: String,
    /// `redis://…`; none: no cache, no notices (the store is polled every `degraded_poll`).
    pub redis_url: Option<String>,
    /// A PEM file of the CA certificates that sign Redis's TLS certificate (`rediss://`), instead
    /// of the system's roots.
    pub redis_ca: Option<std::path::PathBuf>,
    /// Accept any TLS certificate from Redis (no CA or host name check): an explicit opt-in, which
    /// the store announces on stderr when it starts.
    pub redis_insecure: bool,
    /// `postgres://…` or `sqlite:PATH`; none: Redis only.
    pub database_url: Option<String>,
    /// The Redis key prefix (docs/deploy.md, "The Redis layout"), `prompt:` by default.
    pub key_prefix: String,
    /// Everything is re-read this often even when notices arrive: the safety net for a lost notice.
    /// Default: the cache TTL, 3600 s.
    pub refresh: Duration,
    /// Everything is re-read this often while no notice subscription is open (Redis down or not
    /// configured), so that activations still arrive from the database.
    pub degraded_poll: Duration,
    /// The first wait before reconnecting; it doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// The longest wait before reconnecting.
    pub reconnect_max: Duration,
    /// The connect, read and write timeout of every network call the refresher makes.
    pub timeout: Duration,
    /// A notice subscription that heard nothing for this long is pinged, so that a dead
    /// connection is noticed. Default: 5 s.
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            source: Source::Embedded,
            allow: Allow::All,
            environment: "production".into(),
            redis_url: None,
            redis_ca: None,
            redis_insecure: false,
            database_url: None,
            key_prefix: "prompt:".into(),
            refresh: Duration::from_secs(3600),
            degraded_poll: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// The environment variables `Options::from_env` reads (documented in docs/runtime.md).
pub mod variables {
    /// `Options::source`: `embedded` or `store`.
    pub const SOURCE: &str = "PROMPTCTL_SOURCE";
    /// `Options::allow`: `*`, or names separated by commas.
    pub const STORE_PROMPTS: &str = "PROMPTCTL_STORE_PROMPTS";
    /// `Options::environment`.
    pub const ENVIRONMENT: &str = "PROMPTCTL_ENV";
    /// `Options::redis_url`.
    pub const REDIS_URL: &str = "PROMPTCTL_REDIS_URL";
    /// `Options::redis_ca`: a PEM file.
    pub const REDIS_CA: &str = "PROMPTCTL_REDIS_CA";
    /// `Options::redis_insecure`: `true` or `false`.
    pub const REDIS_INSECURE: &str = "PROMPTCTL_REDIS_INSECURE";
    /// `Options::database_url`.
    pub const DATABASE_URL: &str = "PROMPTCTL_DATABASE_URL";
    /// `Options::key_prefix`.
    pub const KEY_PREFIX: &str = "PROMPTCTL_KEY_PREFIX";
    /// `Options::refresh`, in seconds.
    pub const REFRESH_SECONDS: &str = "PROMPTCTL_REFRESH_SECONDS";
    /// `Options::degraded_poll`, in milliseconds.
    pub const DEGRADED_POLL_MS: &str = "PROMPTCTL_DEGRADED_POLL_MS";
    /// `Options::reconnect_max`, in milliseconds.
    pub const RECONNECT_MAX_MS: &str = "PROMPTCTL_RECONNECT_MAX_MS";
    /// `Options::timeout`, in milliseconds.
    pub const TIMEOUT_MS: &str = "PROMPTCTL_TIMEOUT_MS";
    /// `Options::heartbeat`, in milliseconds.
    pub const HEARTBEAT_MS: &str = "PROMPTCTL_HEARTBEAT_MS";
}

/// A variable `Options::from_env` cannot use; the message names it and what to write.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum OptionsError {
    /// `PROMPTCTL_SOURCE` is neither `embedded` nor `store`.
    #[error("`{variable}` is `{value}`; use `embedded` or `store`")]
    BadSource { variable: &'static str, value: String },
    /// A number that does not parse.
    #[error("`{variable}` is `{value}`; use a whole number of {unit}")]
    BadNumber { variable: &'static str, value: String, unit: &'static str },
    /// A duration of 0.
    #[error("`{variable}` is `{value}`; use at least 1 ({unit})")]
    Zero { variable: &'static str, value: String, unit: &'static str },
    /// A yes/no variable that is neither.
    #[error("`{variable}` is `{value}`; use `true` or `false`")]
    BadBool { variable: &'static str, value: String },
    /// `store` without any URL.
    #[error(
        "`{}` is `store` but neither `{}` nor `{}` is set; set one, or use `embedded`",
        variables::SOURCE,
        variables::REDIS_URL,
        variables::DATABASE_URL
    )]
    NowhereToRead,
}

impl Options {
    /// Reads the process's environment; unset variables keep the defaults.
    pub fn from_env() -> Result<Options, OptionsError> {
        Options::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` with the variables looked up through `lookup` (for tests and for applications
    /// that keep their configuration elsewhere). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Options, OptionsError> {
        use variables::*;
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut options = Options::default();
        if let Some(value) = get(SOURCE) {
            options.source = match value.to_ascii_lowercase().as_str() {
                "embedded" => Source::Embedded,
                "store" => Source::Store,
                _ => return Err(OptionsError::BadSource { variable: SOURCE, value }),
            };
        }
        if let Some(value) = get(STORE_PROMPTS) {
            if value != "*" {
                let names = value
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_string)
                    .collect();
                options.allow = Allow::Only(names);
            }
        }
        if let Some(value) = get(ENVIRONMENT) {
            options.environment = value;
        }
        options.redis_url = get(REDIS_URL);
        options.redis_ca = get(REDIS_CA).map(std::path::PathBuf::from);
        if let Some(value) = get(REDIS_INSECURE) {
            options.redis_insecure = match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(OptionsError::BadBool { variable: REDIS_INSECURE, value }),
            };
        }
        options.database_url = get(DATABASE_URL);
        if let Some(value) = get(KEY_PREFIX) {
            options.key_prefix = value;
        }
        let number =
            |name: &'static str, unit: &'static str| -> Result<Option<u64>, OptionsError> {
                let Some(value) = get(name) else { return Ok(None) };
                match value.parse::<u64>() {
                    Ok(0) => Err(OptionsError::Zero { variable: name, value, unit }),
                    Ok(number) => Ok(Some(number)),
                    Err(_) => Err(OptionsError::BadNumber { variable: name, value, unit }),
                }
            };
        if let Some(seconds) = number(REFRESH_SECONDS, "seconds")? {
            options.refresh = Duration::from_secs(seconds);
        }
        if let Some(ms) = number(DEGRADED_POLL_MS, "milliseconds")? {
            options.degraded_poll = Duration::from_millis(ms);
        }
        if let Some(ms) = number(RECONNECT_MAX_MS, "milliseconds")? {
            options.reconnect_max = Duration::from_millis(ms);
            options.reconnect_min = options.reconnect_min.min(options.reconnect_max);
        }
        if let Some(ms) = number(TIMEOUT_MS, "milliseconds")? {
            options.timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number(HEARTBEAT_MS, "milliseconds")? {
            options.heartbeat = Duration::from_millis(ms);
        }
        if options.source == Source::Store
            && options.redis_url.is_none()
            && options.database_url.is_none()
        {
            return Err(OptionsError::NowhereToRead);
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn check(variables: &[(&str, &str)], expect: &str) {
        let map: BTreeMap<String, String> =
            variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let actual = match Options::from_lookup(|name| map.get(name).cloned()) {
            Ok(options) => format!(
                "source={:?} allow={:?} env={} redis={:?} db={:?} prefix={} refresh={:?} poll={:?} reconnect={:?}..{:?} timeout={:?}",
                options.source,
                options.allow,
                options.environment,
                options.redis_url,
                options.database_url,
                options.key_prefix,
                options.refresh,
                options.degraded_poll,
                options.reconnect_min,
                options.reconnect_max,
                options.timeout
            ),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(actual, expect);
    }

    #[test]
    fn from_environment() {
        check(&[], "source=Embedded allow=All env=production redis=None db=None prefix=prompt: refresh=3600s poll=10s reconnect=100ms..5s timeout=1s");
        check(
            &[
                ("PROMPTCTL_SOURCE", "Store"),
                ("PROMPTCTL_STORE_PROMPTS", " qa, cto ,,"),
                ("PROMPTCTL_ENV", "staging"),
                ("PROMPTCTL_REDIS_URL", "redis://127.0.0.1:1/"),
                ("PROMPTCTL_KEY_PREFIX", "p:"),
                ("PROMPTCTL_REFRESH_SECONDS", "60"),
                ("PROMPTCTL_DEGRADED_POLL_MS", "250"),
                ("PROMPTCTL_RECONNECT_MAX_MS", "50"),
                ("PROMPTCTL_TIMEOUT_MS", "300"),
            ],
            r#"source=Store allow=Only({"cto", "qa"}) env=staging redis=Some("redis://127.0.0.1:1/") db=None prefix=p: refresh=60s poll=250ms reconnect=50ms..50ms timeout=300ms"#,
        );
        check(&[("PROMPTCTL_STORE_PROMPTS", "*"), ("PROMPTCTL_SOURCE", "")], "source=Embedded allow=All env=production redis=None db=None prefix=prompt: refresh=3600s poll=10s reconnect=100ms..5s timeout=1s");
        check(
            &[("PROMPTCTL_SOURCE", "redis")],
            "error: `PROMPTCTL_SOURCE` is `redis`; use `embedded` or `store`",
        );
        check(
            &[("PROMPTCTL_SOURCE", "store")],
            "error: `PROMPTCTL_SOURCE` is `store` but neither `PROMPTCTL_REDIS_URL` nor `PROMPTCTL_DATABASE_URL` is set; set one, or use `embedded`",
        );
        check(
            &[("PROMPTCTL_REFRESH_SECONDS", "1h")],
            "error: `PROMPTCTL_REFRESH_SECONDS` is `1h`; use a whole number of seconds",
        );
        check(
            &[("PROMPTCTL_REDIS_INSECURE", "maybe")],
            "error: `PROMPTCTL_REDIS_INSECURE` is `maybe`; use `true` or `false`",
        );
        let map = |name: &str| match name {
            "PROMPTCTL_REDIS_CA" => Some("/etc/ca.pem".to_string()),
            "PROMPTCTL_REDIS_INSECURE" => Some("TRUE".to_string()),
            _ => None,
        };
        let options = Options::from_lookup(map).expect("valid");
        assert_eq!(options.redis_ca.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        assert!(options.redis_insecure);
        check(
            &[("PROMPTCTL_TIMEOUT_MS", "0")],
            "error: `PROMPTCTL_TIMEOUT_MS` is `0`; use at least 1 (milliseconds)",
        );
    }
}
