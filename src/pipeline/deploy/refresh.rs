//! Bringing the cache up to date with the store after a commit (only the changed entries when the
//! cache's stamp allows), and publishing the notices.

use super::*;

/// Beyond this many changed prompts, the cache is rewritten whole rather than entry by entry.
const INCREMENTAL_LIMIT: usize = 100;

/// What became of the cache after a store change.
#[derive(Debug)]
pub enum CacheRefresh {
    /// The environment has no cache (or `--no-cache`).
    None,
    /// Up to date; the URL as shown (without credentials) and what was done.
    Refreshed { url: String, summary: String },
    /// Redis could not be written: the store is ahead of the cache until `warm`.
    Stale { error: String },
}

/// Brings the cache up to date with the store and publishes `notices`. `since` is the store revision before this
/// command's changes: when the cache's stamp says it holds that revision and no entry is missing,
/// only the changed entries are written; otherwise (and always for `warm`, `since = None`) every
/// active version is.
pub(super) fn refresh_cache(
    project: &Project,
    environment: &Environment,
    connection: &mut dyn store::Connection,
    notices: &[Notice],
    since: Option<i64>,
) -> Result<CacheRefresh> {
    let Some(url) = &environment.redis else { return Ok(CacheRefresh::None) };
    let revision = records::revision(connection)?;
    // The entries a consistent cache holds, to find missing ones (expired or deleted); only when
    // the cache may be consistent (`warm` rewrites everything).
    let names = match since {
        Some(_) => records::activated_names(connection)?,
        None => Vec::new(),
    };
    let written = (|| -> Result<String, cache::CacheError> {
        let mut cache = connect_cache(project, environment, url)?;
        let stamp = match since {
            Some(_) => cache.read_stamp()?,
            None => None,
        };
        let consistent = stamp.is_some()
            && (stamp == Some(revision) || stamp == since)
            && notices.len() <= INCREMENTAL_LIMIT
            && cache.count_missing(&names.iter().map(String::as_str).collect::<Vec<_>>())? == 0;
        if consistent && stamp == Some(revision) && notices.is_empty() {
            return Ok(format!("up to date ({} entries, revision {revision})", names.len()));
        }
        let (entries, coverage) = if consistent {
            let mut entries = Vec::new();
            for notice in notices {
                let active =
                    records::active_version(connection, &notice.name).map_err(|error| {
                        cache::CacheError::Command {
                            url: store::redact_url(url),
                            message: error.to_string(),
                        }
                    })?;
                entries.extend(active.map(publish::cache_entry));
            }
            (entries, cache::Coverage::Changes)
        } else {
            let active = records::active_versions(connection).map_err(|error| {
                cache::CacheError::Command {
                    url: store::redact_url(url),
                    message: error.to_string(),
                }
            })?;
            (active.into_iter().map(publish::cache_entry).collect(), cache::Coverage::Full)
        };
        cache.write(&entries, notices, revision, coverage)?;
        Ok(format!(
            "{} entries written{}, {} notices on `{}activations`",
            entries.len(),
            if coverage == cache::Coverage::Full { "" } else { " (changed only)" },
            notices.len(),
            project.config.cache.key_prefix
        ))
    })();
    Ok(match written {
        Ok(summary) => CacheRefresh::Refreshed { url: store::redact_url(url), summary },
        Err(error) => CacheRefresh::Stale { error: error.to_string() },
    })
}
