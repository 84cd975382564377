//! `promptctl serve` (docs/serve.md): an HTTP server over the runtime client. The prompts come
//! from a `runtime::PromptStore` seeded with the repository's served versions for one environment
//! and following that environment's store and Redis (the same tiers, refusals and metrics as any
//! application); renders check the vars against the version's contract with the rules of
//! `promptctl render` (`pipeline::render::vars_problems`) and render with the engine of `check`.
//! The routes are the table `ROUTES`, which `schemas/serve.openapi.json` describes (a test
//! compares the two). Nothing here prints; the CLI (`cli::serve`) says where it listens.

mod cache;
mod handlers;
mod http;
mod start;
mod ui;

pub use start::prepare;

use crate::catalog;
use crate::config::Project;
use crate::pipeline::deploy::{self, Target};
use crate::runtime::{Activation, Health, Prompt, PromptStore, Source, Status, TierStatus};
use crate::store::Location;
use bytes::Bytes;
use http::{error, json, json_bytes, select, Body, Either, ErrorBody, Problem};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Semaphore};

/// The target of `serve`'s log events.
pub const LOG_TARGET: &str = "promptctl::serve";

/// The environment variable holding the admin token; unset or empty: no admin endpoints.
pub const ADMIN_TOKEN_VARIABLE: &str = "PROMPTCTL_ADMIN_TOKEN";
/// The environment variable naming who acts with the admin token, for the audit trail.
pub const ADMIN_ACTOR_VARIABLE: &str = "PROMPTCTL_ADMIN_ACTOR";
/// The actor recorded for admin changes when `PROMPTCTL_ADMIN_ACTOR` is not set.
pub const DEFAULT_ADMIN_ACTOR: &str = "promptctl-serve-admin";

/// `serve`'s own metrics (beside the runtime's, `runtime::metric`); docs/serve.md lists them.
pub mod metric {
    /// Counter, labels `route` (the route's path template, or `unmatched`) and `status`.
    pub const REQUESTS: &str = "promptctl_serve_requests_total";
    /// Gauge: connections open now.
    pub const CONNECTIONS: &str = "promptctl_serve_connections";
    /// Counter: connections closed at once because `--max-connections` were open.
    pub const REJECTED_CONNECTIONS: &str = "promptctl_serve_rejected_connections_total";
    /// Counter: admin requests with a missing or wrong token.
    pub const ADMIN_AUTH_FAILURES: &str = "promptctl_serve_admin_auth_failures_total";
    /// Gauge: `/v1/watch` streams open now.
    pub const WATCHERS: &str = "promptctl_serve_watchers";

    /// Every name above.
    pub const ALL: &[&str] =
        &[REQUESTS, CONNECTIONS, REJECTED_CONNECTIONS, ADMIN_AUTH_FAILURES, WATCHERS];
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Get,
    Version,
    Render,
    Watch,
    Health,
    Metrics,
    History,
    Rollback,
    /// The operations page (`--ui`, src/serve/ui.rs): the list of prompts.
    UiIndex,
    /// The operations page of one prompt: preview, history, rollback.
    UiPrompt,
    /// The page's script (same origin; the CSP allows no other).
    UiScript,
    /// The page's style sheet.
    UiStyle,
}

impl Endpoint {
    /// Whether this is a route of the operations page (404 unless `serve --ui`).
    pub fn ui(self) -> bool {
        matches!(
            self,
            Endpoint::UiIndex | Endpoint::UiPrompt | Endpoint::UiScript | Endpoint::UiStyle
        )
    }
}

/// One route: method, path template (`{name}` matches one segment), what it does, and whether it
/// is an admin route (404 unless a token is configured).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
    pub admin: bool,
}

const fn route(method: &'static str, path: &'static str, endpoint: Endpoint) -> Route {
    Route { method, path, endpoint, admin: false }
}

/// Every route the server answers; requests are matched against this table alone.
pub const ROUTES: &[Route] = &[
    route("GET", "/v1/prompts", Endpoint::List),
    route("GET", "/v1/prompts/{name}", Endpoint::Get),
    route("GET", "/v1/prompts/{name}/versions/{version}", Endpoint::Version),
    route("POST", "/v1/prompts/{name}/render", Endpoint::Render),
    route("GET", "/v1/watch", Endpoint::Watch),
    route("GET", "/health", Endpoint::Health),
    route("GET", "/metrics", Endpoint::Metrics),
    Route {
        method: "GET",
        path: "/v1/prompts/{name}/history",
        endpoint: Endpoint::History,
        admin: true,
    },
    Route {
        method: "POST",
        path: "/v1/prompts/{name}/rollback",
        endpoint: Endpoint::Rollback,
        admin: true,
    },
    route("GET", "/ui", Endpoint::UiIndex),
    route("GET", "/ui/prompts/{name}", Endpoint::UiPrompt),
    route("GET", "/ui/app.js", Endpoint::UiScript),
    route("GET", "/ui/style.css", Endpoint::UiStyle),
];

/// The parameters of `path` against `template`, in order, when it matches.
fn matches<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut template_segments = template.split('/');
    let mut path_segments = path.split('/');
    let mut parameters = Vec::new();
    loop {
        match (template_segments.next(), path_segments.next()) {
            (None, None) => return Some(parameters),
            (Some(expected), Some(segment)) => {
                if expected.starts_with('{') && expected.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                    parameters.push(segment);
                } else if expected != segment {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The limits of `serve` (flags of the same names, docs/serve.md).
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest request body read (a render's JSON); more is a 413.
    pub max_body_bytes: usize,
    /// How deep a render's vars may nest (objects and arrays inside a var; a type nests at most
    /// `syntax::prompt::MAX_TYPE_NESTING`); deeper is a 422.
    pub max_vars_depth: usize,
    /// The largest rendered text returned; more is a 422.
    pub max_rendered_bytes: usize,
    /// Connections served at once; more are closed at once (and counted).
    pub max_connections: usize,
    /// The longest a request may take, its body included (a 503 after it); not `/v1/watch`.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 1 << 20,
            max_vars_depth: crate::syntax::prompt::MAX_TYPE_NESTING,
            max_rendered_bytes: 4 << 20,
            max_connections: 1024,
            request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The admin token and who acts with it.
#[derive(Clone)]
pub struct Admin {
    token: String,
    actor: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("token", &"***").field("actor", &self.actor).finish()
    }
}

impl Admin {
    /// From `PROMPTCTL_ADMIN_TOKEN` and `PROMPTCTL_ADMIN_ACTOR`; none without a token.
    pub fn from_env() -> Option<Admin> {
        let token = std::env::var(ADMIN_TOKEN_VARIABLE).ok().filter(|t| !t.trim().is_empty())?;
        let actor = std::env::var(ADMIN_ACTOR_VARIABLE)
            .ok()
            .map(|actor| actor.trim().to_string())
            .filter(|actor| !actor.is_empty())
            .unwrap_or_else(|| DEFAULT_ADMIN_ACTOR.to_string());
        Some(Admin { token, actor })
    }

    /// Whether the `Authorization` header carries the token (`Bearer TOKEN`), in constant time.
    fn accepts(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let given = authorization.and_then(|value| value.strip_prefix("Bearer ")).unwrap_or("");
        bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// One version of the repository's catalog, as `serve` answers with it.
#[derive(Debug, Clone)]
struct Known {
    sha256: String,
    template: String,
    variables: Vec<crate::syntax::prompt::Variable>,
    variables_json: Value,
    contract: String,
    model: Option<Value>,
}

/// One `[[test]]` of a prompt, whose vars the operations page previews a version with.
#[derive(Debug, Clone)]
struct UiTest {
    name: String,
    /// The version the test is written for, if it says.
    version: Option<i64>,
    vars: Map<String, Value>,
}

/// Everything the handlers share.
pub struct Server {
    store: PromptStore,
    /// The repository's versions, by name and number (every version, not only the served ones).
    known: HashMap<String, HashMap<u32, Known>>,
    /// With `--ui`: the operations page is served, with the `[[test]]`s of each prompt (by name).
    ui: Option<HashMap<String, Vec<UiTest>>>,
    limits: Limits,
    admin: Option<Admin>,
    project: Arc<Project>,
    target: Target,
    database: Location,
    prometheus: PrometheusHandle,
    events: broadcast::Sender<Bytes>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// What each served version answers with, computed once (src/serve/cache.rs).
    answers: cache::Answers,
    /// The handles of `metric::REQUESTS`.
    counters: cache::Counters,
}

/// What `prepare` found: the store started and the server state, ready to `run`.
pub struct Prepared {
    pub server: Arc<Server>,
    /// The environment's store, as shown (without credentials).
    pub store_shown: String,
    /// The environment's Redis, as shown (without credentials), if any.
    pub redis_shown: Option<String>,
    /// How many prompts the repository serves in the environment.
    pub prompts: usize,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// Why `serve` could not start or stopped listening (messages never hold credentials).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The project, the environment or the prompts are not servable.
    #[error("{0}")]
    Setup(String),
    /// The runtime options from the `PROMPTCTL_*` variables.
    #[error(transparent)]
    Options(#[from] crate::runtime::OptionsError),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    /// The tokio runtime or the signal handlers.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The `/health` status code: 503 when the server cannot follow the store (every configured tier
/// is down, or none has answered yet since start), 200 otherwise (docs/serve.md).
pub fn health_code(health: &Health) -> StatusCode {
    if health.source == Source::Embedded {
        return StatusCode::OK;
    }
    let configured: Vec<TierStatus> = [health.tiers.redis.status, health.tiers.db.status]
        .into_iter()
        .filter(|status| *status != TierStatus::Disabled)
        .collect();
    let following = configured.contains(&TierStatus::Ok);
    if following || (configured.is_empty() && health.status == Status::Ok) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_their_templates_only() {
        assert_eq!(matches("/v1/prompts/{name}", "/v1/prompts/qa"), Some(vec!["qa"]));
        assert_eq!(matches("/v1/prompts/{name}", "/v1/prompts/"), None);
        assert_eq!(matches("/v1/prompts/{name}", "/v1/prompts/qa/x"), None);
        assert_eq!(
            matches("/v1/prompts/{name}/versions/{version}", "/v1/prompts/qa/versions/2"),
            Some(vec!["qa", "2"])
        );
        assert_eq!(matches("/health", "/health"), Some(vec![]));
        let admin = Admin { token: "s3cret".into(), actor: "ops".into() };
        assert!(admin.accepts(Some("Bearer s3cret")));
        assert!(!admin.accepts(Some("Bearer s3cre")));
        assert!(!admin.accepts(Some("s3cret")));
        assert!(!admin.accepts(None));
        assert!(!format!("{admin:?}").contains("s3cret"));
    }

    #[test]
    fn health_is_503_only_when_no_configured_tier_answers() {
        use crate::runtime::{Counts, TierHealth, Tiers};
        let tier =
            |status| TierHealth { status, prompts: 0, last_ok_seconds_ago: None, last_error: None };
        let health = |source, redis, db| Health {
            status: if redis == TierStatus::Down || db == TierStatus::Down {
                Status::Degraded
            } else {
                Status::Ok
            },
            source,
            environment: "production".into(),
            snapshot_age_seconds: 0.0,
            subscribed: false,
            tiers: Tiers {
                memory: tier(TierStatus::Ok),
                redis: tier(redis),
                db: tier(db),
                embedded: tier(TierStatus::Ok),
            },
            integrity_refusals: 0,
            counts: Counts::default(),
        };
        use TierStatus::{Disabled, Down, Ok as Up, Unknown};
        for (source, redis, db, code) in [
            (Source::Embedded, Disabled, Disabled, 200),
            (Source::Store, Up, Up, 200),
            (Source::Store, Down, Up, 200),
            (Source::Store, Up, Unknown, 200),
            (Source::Store, Disabled, Up, 200),
            (Source::Store, Down, Down, 503),
            (Source::Store, Unknown, Unknown, 503),
            (Source::Store, Down, Unknown, 503),
            (Source::Store, Disabled, Down, 503),
        ] {
            let health = health(source, redis, db);
            assert_eq!(health_code(&health).as_u16(), code, "{source:?} {redis:?} {db:?}");
        }
    }
}
