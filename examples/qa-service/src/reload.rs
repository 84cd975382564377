//! The feature flag without a restart: with `QA_SERVICE_ENV_FILE` set, the service reads its
//! `PROMPTCTL_*` variables from that file (`NAME=value` lines; they win over the process's
//! environment) at start and again on SIGHUP, and applies the source and allow-list it finds
//! (`PromptStore::reconfigure`). Other variables (URLs, timings) need a restart.

use anyhow::{bail, Context, Result};
use promptctl::runtime::{Options, PromptStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment file's path.
const ENV_FILE_VARIABLE: &str = "QA_SERVICE_ENV_FILE";

/// The environment file, if `QA_SERVICE_ENV_FILE` names one.
pub fn env_file() -> Option<PathBuf> {
    std::env::var_os(ENV_FILE_VARIABLE).filter(|path| !path.is_empty()).map(PathBuf::from)
}

/// The options from the environment file (when there is one) over the process's environment.
pub fn options(file: Option<&Path>) -> Result<Options> {
    let variables = match file {
        Some(path) => parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?,
        )
        .with_context(|| format!("in `{}`", path.display()))?,
        None => BTreeMap::new(),
    };
    let options = Options::from_lookup(|name| {
        variables.get(name).cloned().or_else(|| std::env::var(name).ok())
    })?;
    Ok(options)
}

/// `NAME=value` lines; blank lines and `#` comments are skipped, `export ` before a name and
/// quotes around a value are allowed.
fn parse(text: &str) -> Result<BTreeMap<String, String>> {
    let mut variables = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            bail!("line {}: expected `NAME=value`", number + 1);
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("line {}: `{name}` is not a variable name", number + 1);
        }
        let value = value.trim();
        let unquoted = ['"', '\''].iter().find_map(|quote| {
            value.strip_prefix(*quote).and_then(|rest| rest.strip_suffix(*quote))
        });
        variables.insert(name.to_string(), unquoted.unwrap_or(value).to_string());
    }
    Ok(variables)
}

/// Re-reads the environment file on every SIGHUP and applies its source and allow-list; a file
/// that does not read or parse leaves the running configuration as it is (the message says why).
pub fn on_sighup(file: PathBuf, store: PromptStore) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .context("cannot listen for SIGHUP")?;
    std::thread::Builder::new()
        .name("qa-service-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                let applied = options(Some(&file))
                    .and_then(|options| Ok(store.reconfigure(options.source, options.allow)?));
                match applied {
                    Ok(()) => eprintln!(
                        "qa-service: SIGHUP: reloaded `{}` (source: {:?})",
                        file.display(),
                        store.source()
                    ),
                    Err(error) => {
                        eprintln!("qa-service: SIGHUP: kept the running configuration: {error:#}")
                    }
                }
            }
        })
        .context("cannot start the SIGHUP thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let parsed = parse(
            "# flags\n\nPROMPTCTL_SOURCE=store\nexport PROMPTCTL_STORE_PROMPTS = \"a,b\"\nX=''\n",
        )
        .unwrap();
        assert_eq!(
            parsed.into_iter().collect::<Vec<_>>(),
            [
                ("PROMPTCTL_SOURCE".to_string(), "store".to_string()),
                ("PROMPTCTL_STORE_PROMPTS".to_string(), "a,b".to_string()),
                ("X".to_string(), String::new()),
            ]
        );
        assert_eq!(parse("A=1\nB\n").unwrap_err().to_string(), "line 2: expected `NAME=value`");
        assert_eq!(
            parse("A B=1\n").unwrap_err().to_string(),
            "line 1: `A B` is not a variable name"
        );
    }
}
