//! `status`: the repository's activations beside the store's and the cache's, read-only (a store
//! that does not exist is not created).

use super::*;

/// One row of `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusRow {
    pub name: String,
    /// What promptctl.toml's prompt serves in this environment, in the working tree.
    pub repository: Option<u32>,
    pub store: Option<i64>,
    /// What the latest publish activated.
    pub published: Option<i64>,
    pub cache: Option<i64>,
    pub cache_ttl_seconds: Option<i64>,
    /// The cache entry is missing, unreadable, or not the store's active version; `None` when the
    /// cache could not be read (its state is unknown).
    pub cache_stale: Option<bool>,
    pub drift: bool,
    /// The canary the store serves beside `store`: its version and share in basis points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<(i64, i64)>,
    pub notes: Vec<String>,
}

/// What `status` found: a row per prompt, whether the environment was ever published to, and
/// whether its cache could be read.
pub struct Status {
    pub rows: Vec<StatusRow>,
    pub published: bool,
    /// `None`: no cache configured; `Some(Err)`: unreachable, so the rows' cache state is unknown.
    pub cache: Option<Result<(), String>>,
}

/// Reads the store (`None`: an SQLite file that does not exist, which `status` does not create)
/// and the cache.
pub(super) fn status_rows(
    project: &Project,
    resolved: &Environment,
    connection: Option<&mut dyn store::Connection>,
) -> Result<Status> {
    let repository = repository_activations(project, &resolved.name);
    let mut published = false;
    let templates = match connection {
        None => Default::default(),
        Some(connection) => 'read: {
            if store::schema::current(connection)? == 0 {
                break 'read Default::default();
            }
            store::schema::require_current(connection)?;
            if let Some(owner) = records::environment(connection)? {
                if owner != resolved.name {
                    anyhow::bail!(
                        "the store `{}` belongs to environment `{owner}`, not `{}`",
                        resolved.shown,
                        resolved.name
                    );
                }
            }
            published = records::highest_deployment(connection, &resolved.name)?.is_some();
            records::templates(connection)?
        }
    };
    let mut cache = match &resolved.redis {
        Some(url) => match connect_cache(project, resolved, url) {
            Ok(cache) => Some(Ok(cache)),
            Err(error) => Some(Err(error.to_string())),
        },
        None => None,
    };
    let mut names: std::collections::BTreeSet<String> = templates.keys().cloned().collect();
    names.extend(repository.keys().cloned());
    let mut rows = Vec::new();
    let mut read_error = None;
    for name in names {
        let template = templates.get(&name);
        let active = template.and_then(records::StoredTemplate::active);
        let published =
            template.and_then(|t| t.published.and_then(|id| t.by_id(id))).map(|v| v.number);
        let mut row = StatusRow {
            name: name.clone(),
            repository: repository.get(&name).copied().flatten(),
            store: active.map(|v| v.number),
            published,
            cache: None,
            cache_ttl_seconds: None,
            cache_stale: None,
            drift: template.is_some()
                && (published != active.map(|v| v.number)
                    || template
                        .is_some_and(|t| t.published.is_some() && t.published_canary != t.canary)),
            canary: template.and_then(|t| {
                let (id, basis_points) = t.canary?;
                Some((t.by_id(id)?.number, basis_points))
            }),
            notes: Vec::new(),
        };
        if let Some((version, basis_points)) = row.canary {
            row.notes.push(format!(
                "canary v{version} at {}",
                crate::rollout::basis_points_display(basis_points as u32)
            ));
        }
        if let Some(Ok(cache)) = &mut cache {
            match cache.read(&name) {
                Ok(Some((Ok(entry), ttl))) => {
                    row.cache = Some(entry.version);
                    row.cache_ttl_seconds = Some(ttl);
                    let matches = active.is_some_and(|a| {
                        a.number == entry.version && a.content_sha256 == entry.sha256
                    });
                    row.cache_stale = Some(!matches);
                }
                Ok(Some((Err(problem), _))) => {
                    row.cache_stale = Some(true);
                    row.notes.push(format!("cache entry unreadable: {problem}"));
                }
                Ok(None) => row.cache_stale = Some(active.is_some()),
                Err(error) => {
                    row.notes.push(format!("cache unknown: {error}"));
                    read_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        if row.drift {
            row.notes.push("drift: active is not what the last publish set".into());
        }
        if row.repository.is_some() && row.repository.map(i64::from) != row.store {
            row.notes.push("repository differs from store: publish a new bundle".into());
        }
        if row.cache_stale == Some(true) {
            row.notes.push("cache stale: run `promptctl warm`".into());
        }
        rows.push(row);
    }
    let cache = cache.map(|state| match (state, read_error) {
        (Err(error), _) | (Ok(_), Some(error)) => Err(error),
        (Ok(_), None) => Ok(()),
    });
    Ok(Status { rows, published, cache })
}

/// The activations of the working tree's prompts (without checking them: `status` reports, it
/// does not judge).
fn repository_activations(
    project: &Project,
    environment: &str,
) -> std::collections::BTreeMap<String, Option<u32>> {
    let mut result = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(project.prompts_path()) else { return result };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let manifest = entry.path().join("prompt.toml");
        let Ok(bytes) = crate::read::read(&manifest, crate::read::MANIFEST_BYTES, "a prompt.toml")
        else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else { continue };
        let path = format!("{}/{name}/prompt.toml", project.config.prompts_dir);
        let (parsed, _) = crate::syntax::prompt::read_manifest(&path, &text);
        let version = parsed.and_then(|manifest| {
            manifest
                .activate
                .iter()
                .find(|(env, _)| env.get_ref() == environment)
                .and_then(|(_, version)| u32::try_from(*version.get_ref()).ok())
        });
        result.insert(name, version);
    }
    result
}

/// `promptctl status`: the environment and what it holds, read-only (an SQLite store that does
/// not exist is not created, nor migrated).
pub fn status(project: &Project, target: &Target) -> Result<Report> {
    let environment = resolve(project, target)?;
    let missing =
        matches!(&environment.location, store::Location::Sqlite { path } if !path.exists());
    let mut connection = if missing { None } else { Some(connect(&environment)?) };
    let status = match &mut connection {
        Some(connection) => status_rows(project, &environment, Some(&mut **connection))?,
        None => status_rows(project, &environment, None)?,
    };
    Ok(Report { environment, status })
}

/// What `status` found in an environment.
pub struct Report {
    pub environment: Environment,
    pub status: Status,
}
