//! `promptctl serve` (docs/serve.md): an HTTP server over the runtime client. The prompts come
//! from a `runtime::PromptStore` seeded with the repository's served versions for one environment
//! and following that environment's store and Redis (the same tiers, refusals and metrics as any
//! application); renders check the vars against the version's contract with the rules of
//! `promptctl render` (`pipeline::render::vars_problems`) and render with the engine of `check`.
//! The routes are the table `ROUTES`, which `schemas/serve.openapi.json` describes (a test
//! compares the two). Nothing here prints; the CLI (`cli::serve`) says where it listens.

mod http;

use crate::catalog;
use crate::config::Project;
use crate::pipeline::deploy::{self, Target};
use crate::runtime::{Activation, Health, Prompt, PromptStore, Source, Status, TierStatus};
use crate::store::Location;
use bytes::Bytes;
use http::{error, json, select, Body, Either, ErrorBody, Problem};
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
    /// How deep the vars of a render may nest; deeper is a 422.
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

/// Everything the handlers share.
pub struct Server {
    store: PromptStore,
    /// The repository's versions, by name and number (every version, not only the served ones).
    known: HashMap<String, HashMap<u32, Known>>,
    limits: Limits,
    admin: Option<Admin>,
    project: Arc<Project>,
    target: Target,
    database: Location,
    prometheus: PrometheusHandle,
    events: broadcast::Sender<Bytes>,
    shutdown: tokio::sync::watch::Receiver<bool>,
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

/// The runtime options `serve` starts its store with: the environment's store and Redis (and
/// `--redis-ca`/`--redis-insecure`), the project's key prefix, and the timings and allow-list of
/// the `PROMPTCTL_*` variables (docs/runtime.md); the source is always `store`.
fn options(
    project: &Project,
    environment: &deploy::Environment,
) -> anyhow::Result<crate::runtime::Options> {
    use crate::runtime::variables::*;
    let ignored =
        [SOURCE, ENVIRONMENT, REDIS_URL, REDIS_CA, REDIS_INSECURE, DATABASE_URL, KEY_PREFIX];
    let mut options = crate::runtime::Options::from_lookup(|name| {
        if ignored.contains(&name) {
            None
        } else {
            std::env::var(name).ok()
        }
    })?;
    options.source = Source::Store;
    options.environment = environment.name.clone();
    options.redis_url = environment.redis.clone();
    options.redis_ca = environment.redis_tls.ca.clone();
    options.redis_insecure = environment.redis_tls.insecure;
    options.database_url = Some(match &environment.location {
        Location::Postgres { url } => url.clone(),
        Location::Sqlite { path } => format!("sqlite:{}", path.display()),
    });
    options.key_prefix = project.config.cache.key_prefix.clone();
    Ok(options)
}

/// A registry for the runtime built from the catalog at run time (the generated module's `ALL`,
/// without generating code). Leaked: it lives as long as the process, as a generated one does.
fn registry(prompts: &[catalog::Prompt]) -> &'static [crate::registry::Entry] {
    fn leak(text: &str) -> &'static str {
        Box::leak(text.to_string().into_boxed_str())
    }
    let mut entries: Vec<crate::registry::Entry> = prompts
        .iter()
        .filter_map(|prompt| prompt.clone().served_only())
        .map(|prompt| {
            let activate: Vec<(&'static str, u32)> =
                prompt.activate.iter().map(|(env, version)| (leak(env), *version)).collect();
            let versions: Vec<crate::registry::EntryVersion> = prompt
                .versions
                .iter()
                .map(|version| crate::registry::EntryVersion {
                    version: version.number,
                    sha256: leak(&crate::text::sha256_hex(&version.template)),
                    contract: leak(&version.contract()),
                    template: leak(&version.template),
                    // The runtime renders its own parse of `template`; nothing calls this.
                    render: |_| {
                        Err(crate::render::RenderError {
                            message: "rendered through the runtime".into(),
                            span: 0..0,
                        })
                    },
                })
                .collect();
            crate::registry::Entry {
                name: leak(&prompt.name),
                description: leak(&prompt.description),
                activate: Box::leak(activate.into_boxed_slice()),
                versions: Box::leak(versions.into_boxed_slice()),
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(b.name));
    Box::leak(entries.into_boxed_slice())
}

/// Checks the project, installs the Prometheus recorder, starts the runtime store for the
/// environment of `target`, and returns the server state (not listening yet).
pub fn prepare(
    project: Project,
    target: Target,
    limits: Limits,
    admin: Option<Admin>,
) -> anyhow::Result<Prepared> {
    use crate::pipeline::check::{gate, Gate, Keep};
    let environment = deploy::resolve(&project, &target)?;
    let run = match gate(&project, Keep::Catalog)? {
        Gate::Clean(run) => run,
        Gate::Errors(run) => anyhow::bail!(
            "the prompts do not check ({} errors); `promptctl check` shows them",
            run.errors().count()
        ),
    };
    let mut known: HashMap<String, HashMap<u32, Known>> = HashMap::new();
    for prompt in &run.catalog {
        let versions = known.entry(prompt.name.clone()).or_default();
        for version in &prompt.versions {
            let variables_json = version.variables_json();
            versions.insert(
                version.number,
                Known {
                    sha256: crate::text::sha256_hex(&version.template),
                    template: version.template.clone(),
                    variables: version.variables.clone(),
                    contract: catalog::contract(&variables_json),
                    variables_json,
                    model: version.model.as_ref().map(|model| {
                        crate::syntax::prompt::toml_to_json(&toml::Value::Table(model.clone()))
                    }),
                },
            );
        }
    }
    let registry = registry(&run.catalog);
    let served = registry.iter().filter(|entry| entry.active(&environment.name).is_some()).count();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                crate::runtime::metric::ACTIVATION_LAG.into(),
            ),
            &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0],
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            )
        })
        .map_err(|error| anyhow::anyhow!("histogram buckets: {error}"))?
        .install_recorder()
        .map_err(|error| anyhow::anyhow!("cannot install the Prometheus recorder: {error}"))?;
    for name in [metric::REJECTED_CONNECTIONS, metric::ADMIN_AUTH_FAILURES] {
        metrics::counter!(name).absolute(0);
    }
    metrics::gauge!(metric::CONNECTIONS).set(0.0);
    metrics::gauge!(metric::WATCHERS).set(0.0);
    let store = PromptStore::start(registry, options(&project, &environment)?);
    let (events, _) = broadcast::channel(1024);
    let sender = events.clone();
    store.on_activation(move |activation| {
        // No receiver (nobody watching) is not an error.
        let _ = sender.send(event(activation));
    });
    let (shutdown_sender, shutdown) = tokio::sync::watch::channel(false);
    let store_shown = environment.shown.clone();
    let redis_shown = environment.redis.as_deref().map(crate::store::redact_url);
    let server = Server {
        store,
        known,
        limits,
        admin,
        project: Arc::new(project),
        target,
        database: environment.location.clone(),
        prometheus,
        events,
        shutdown,
    };
    Ok(Prepared {
        server: Arc::new(server),
        store_shown,
        redis_shown,
        prompts: served,
        shutdown: shutdown_sender,
    })
}

/// The SSE event of one activation.
fn event(activation: &Activation) -> Bytes {
    let prompt = &activation.prompt;
    let data = serde_json::json!({
        "name": prompt.name,
        "version": prompt.version,
        "previous": activation.previous,
        "sha256": prompt.sha256,
        "seq": prompt.seq,
        "activated_at": prompt.activated_at,
        "tier": prompt.tier.as_str(),
    });
    Bytes::from(format!("event: activation\ndata: {data}\n\n"))
}

impl Prepared {
    /// Serves on `listener` until SIGTERM or SIGINT, then stops accepting, lets in-flight requests
    /// finish (up to `Limits::shutdown_timeout`) and ends the watch streams. `bound` is called
    /// with the address once listening.
    pub fn run(self, listen: SocketAddr, bound: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .enable_time()
            .thread_name("promptctl-serve")
            .build()?;
        runtime.block_on(self.serve(listen, bound))
    }

    async fn serve(self, listen: SocketAddr, bound: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use tokio::signal::unix::{signal, SignalKind};
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen on {listen}: {error}"))?;
        bound(listener.local_addr()?);
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let server = self.server.clone();
        let permits = Arc::new(Semaphore::new(server.limits.max_connections));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(server.limits.header_timeout);
        loop {
            let stop = select(terminate.recv(), interrupt.recv());
            let accepted = match select(stop, listener.accept()).await {
                Either::Left(_) => break,
                Either::Right(accepted) => accepted,
            };
            let (stream, _) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(target: LOG_TARGET, %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                metrics::counter!(metric::REJECTED_CONNECTIONS).increment(1);
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = server.clone();
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(request).await) }
            });
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                metrics::gauge!(metric::CONNECTIONS).increment(1.0);
                let _ = connection.await;
                metrics::gauge!(metric::CONNECTIONS).decrement(1.0);
                drop(permit);
            });
        }
        tracing::info!(target: LOG_TARGET, "shutting down: finishing in-flight requests");
        drop(listener);
        // Ends the watch streams, so that their connections can close.
        let _ = self.shutdown.send(true);
        let timeout = server.limits.shutdown_timeout;
        if tokio::time::timeout(timeout, graceful.shutdown()).await.is_err() {
            tracing::warn!(target: LOG_TARGET, ?timeout, "connections still open at the shutdown timeout");
        }
        Ok(())
    }
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

/// The JSON of one prompt version.
#[derive(Serialize)]
struct VersionBody<'a> {
    name: &'a str,
    version: i64,
    sha256: &'a str,
    content: &'a str,
    variables: &'a Value,
    contract: &'a str,
    model: Option<&'a Value>,
    activated_at: Option<&'a str>,
    seq: Option<i64>,
    tier: Option<&'a str>,
    active: bool,
}

/// A render request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderRequest {
    #[serde(default)]
    vars: Option<Value>,
    #[serde(default)]
    version: Option<i64>,
}

/// A rollback request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    to: Option<i64>,
    reason: String,
}

/// A version to answer with or render: its text and contract.
struct Text {
    name: String,
    version: i64,
    sha256: String,
    content: String,
    variables: Value,
    contract: String,
    model: Option<Value>,
    /// The served prompt, when this is the active version (its parse is reused).
    served: Option<Arc<Prompt>>,
}

impl Server {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let found = ROUTES.iter().find_map(|route| {
            matches(route.path, &path)
                .filter(|_| route.method == method.as_str())
                .map(|parameters| (route, parameters.into_iter().map(str::to_string).collect()))
        });
        let Some((route, parameters)) = found else {
            let allowed: Vec<&str> = ROUTES
                .iter()
                .filter(|route| matches(route.path, &path).is_some())
                .filter(|route| !route.admin || self.admin.is_some())
                .map(|route| route.method)
                .collect();
            let response = if allowed.is_empty() {
                error(StatusCode::NOT_FOUND, "not-found", format!("no route `{path}`"))
            } else {
                let mut response = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    format!("`{path}` answers {}", allowed.join(", ")),
                );
                if let Ok(value) = allowed.join(", ").parse() {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            };
            count("unmatched", &response);
            return response;
        };
        let parameters: Vec<String> = parameters;
        let response = if route.endpoint == Endpoint::Watch {
            self.watch()
        } else {
            let timeout = self.limits.request_timeout;
            match tokio::time::timeout(timeout, self.clone().dispatch(route, parameters, request))
                .await
            {
                Ok(response) => response,
                Err(_) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    format!("the request took longer than {} ms", timeout.as_millis()),
                ),
            }
        };
        count(route.path, &response);
        response
    }

    async fn dispatch(
        self: Arc<Self>,
        route: &Route,
        parameters: Vec<String>,
        request: Request<Incoming>,
    ) -> Response<Body> {
        if route.admin {
            let Some(admin) = &self.admin else {
                let path = request.uri().path();
                return error(StatusCode::NOT_FOUND, "not-found", format!("no route `{path}`"));
            };
            let authorization =
                request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if !admin.accepts(authorization) {
                metrics::counter!(metric::ADMIN_AUTH_FAILURES).increment(1);
                tracing::warn!(
                    target: LOG_TARGET,
                    route = route.path,
                    token_given = authorization.is_some(),
                    "admin request refused: missing or wrong token"
                );
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a missing or wrong admin token (`Authorization: Bearer …`)",
                );
                response.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().unwrap());
                return response;
            }
        }
        let name = parameters.first().cloned().unwrap_or_default();
        match route.endpoint {
            Endpoint::List => self.list(),
            Endpoint::Get => self.get(&name, &request),
            Endpoint::Version => {
                let Ok(number) = parameters[1].trim_start_matches('v').parse::<i64>() else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "bad-version",
                        format!("`{}` is not a version number", parameters[1]),
                    );
                };
                match self.clone().text(&name, Some(number)).await {
                    Ok(text) => version_response(&text, None),
                    Err(response) => response,
                }
            }
            Endpoint::Render => self.render(&name, request).await,
            Endpoint::Health => {
                let health = self.store.health();
                json(health_code(&health), &health)
            }
            Endpoint::Metrics => {
                self.store.update_metrics();
                Response::builder()
                    .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
                    .body(Body::Full(Some(Bytes::from(self.prometheus.render()))))
                    .unwrap_or_else(|_| Response::new(Body::empty()))
            }
            Endpoint::History => self.history(&name).await,
            Endpoint::Rollback => self.rollback(&name, request).await,
            Endpoint::Watch => unreachable!("answered without a timeout"),
        }
    }

    fn list(&self) -> Response<Body> {
        #[derive(Serialize)]
        struct Item {
            name: String,
            version: i64,
            sha256: String,
            tier: &'static str,
        }
        let prompts: Vec<Item> = self
            .store
            .names()
            .into_iter()
            .filter_map(|name| self.store.get(&name))
            .map(|prompt| Item {
                name: prompt.name.clone(),
                version: prompt.version,
                sha256: prompt.sha256.clone(),
                tier: prompt.tier.as_str(),
            })
            .collect();
        json(StatusCode::OK, &serde_json::json!({ "prompts": prompts }))
    }

    /// What the repository knows of `name`'s version with this text, if anything.
    fn known(&self, name: &str, version: i64, sha256: &str) -> Option<&Known> {
        let number = u32::try_from(version).ok()?;
        self.known.get(name)?.get(&number).filter(|known| known.sha256 == sha256)
    }

    fn served_text(&self, prompt: Arc<Prompt>) -> Text {
        let known = self.known(&prompt.name, prompt.version, &prompt.sha256);
        let variables = if prompt.variables.is_null() {
            known.map(|known| known.variables_json.clone()).unwrap_or(Value::Null)
        } else {
            prompt.variables.clone()
        };
        Text {
            name: prompt.name.clone(),
            version: prompt.version,
            sha256: prompt.sha256.clone(),
            content: prompt.content.clone(),
            variables,
            contract: prompt.contract.clone(),
            model: known.and_then(|known| known.model.clone()),
            served: Some(prompt),
        }
    }

    fn get(&self, name: &str, request: &Request<Incoming>) -> Response<Body> {
        let Some(prompt) = self.store.get(name) else {
            return no_prompt(name);
        };
        let etag = format!("\"{}\"", prompt.sha256);
        let unchanged = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| http::none_match(value, &etag));
        if unchanged {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            if let Ok(value) = etag.parse() {
                response.headers_mut().insert(header::ETAG, value);
            }
            return response;
        }
        let text = self.served_text(prompt);
        version_response(&text, Some(&etag))
    }

    /// The active version of `name` (`version` none or the active one), else the repository's
    /// version `version`, else the store's; an error response when there is none.
    async fn text(
        self: Arc<Self>,
        name: &str,
        version: Option<i64>,
    ) -> Result<Text, Response<Body>> {
        let active = self.store.get(name);
        match (version, active) {
            (None, Some(prompt)) => return Ok(self.served_text(prompt)),
            (None, None) => return Err(no_prompt(name)),
            (Some(number), Some(prompt)) if prompt.version == number => {
                return Ok(self.served_text(prompt))
            }
            _ => {}
        }
        let number = version.unwrap_or_default();
        if let Some(known) = u32::try_from(number).ok().and_then(|n| self.known.get(name)?.get(&n))
        {
            return Ok(Text {
                name: name.to_string(),
                version: number,
                sha256: known.sha256.clone(),
                content: known.template.clone(),
                variables: known.variables_json.clone(),
                contract: known.contract.clone(),
                model: known.model.clone(),
                served: None,
            });
        }
        let location = self.database.clone();
        let owned = name.to_string();
        let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
            if let Location::Sqlite { path } = &location {
                if !path.exists() {
                    return Ok(None);
                }
            }
            let mut connection = crate::store::open(&location)?;
            if crate::store::schema::current(&mut *connection)? == 0 {
                return Ok(None);
            }
            crate::store::records::stored_text(&mut *connection, &owned, number)
        })
        .await;
        match read {
            Ok(Ok(Some(stored))) => {
                // Read from the database: untrusted, like every tier's entry.
                if crate::text::sha256_hex(&stored.content) != stored.content_sha256 {
                    return Err(error(
                        StatusCode::BAD_GATEWAY,
                        "integrity",
                        format!("the store's `{name}` v{number} does not match its sha256"),
                    ));
                }
                Ok(Text {
                    name: stored.name,
                    version: stored.version,
                    sha256: stored.content_sha256,
                    content: stored.content,
                    variables: stored.variables,
                    contract: stored.contract,
                    model: stored.model,
                    served: None,
                })
            }
            Ok(Ok(None)) => Err(error(
                StatusCode::NOT_FOUND,
                "no-version",
                format!("neither the repository nor the store has `{name}` v{number}"),
            )),
            Ok(Err(store_error)) => {
                tracing::warn!(target: LOG_TARGET, error = %store_error, "cannot read a stored version");
                Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    format!("cannot read `{name}` v{number} from the store: {store_error}"),
                ))
            }
            Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the read failed")),
        }
    }

    async fn render(self: Arc<Self>, name: &str, request: Request<Incoming>) -> Response<Body> {
        let body = match read_body(request, self.limits.max_body_bytes).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let parsed: RenderRequest = match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(problem) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad-json",
                    format!("the body is not a render request (`{{\"vars\": {{…}}, \"version\": N}}`): {problem}"),
                )
            }
        };
        let vars = match parsed.vars {
            None => Map::new(),
            Some(Value::Object(vars)) => vars,
            Some(_) => {
                return error(StatusCode::BAD_REQUEST, "bad-vars", "`vars` must be a JSON object")
            }
        };
        let depth = http::depth(&Value::Object(vars.clone()));
        if depth > self.limits.max_vars_depth {
            return problems(
                "vars-too-deep",
                format!(
                    "the vars nest {depth} deep, more than the limit of {}",
                    self.limits.max_vars_depth
                ),
                vec![Problem {
                    code: "vars-too-deep".into(),
                    path: String::new(),
                    message: format!(
                        "at most {} levels of objects and arrays",
                        self.limits.max_vars_depth
                    ),
                }],
            );
        }
        let text = match self.clone().text(name, parsed.version).await {
            Ok(text) => text,
            Err(response) => return response,
        };
        let Some(variables) = catalog::variables_from_json(&text.variables).or_else(|| {
            // Embedded texts carry no specs: the repository's version with the same text does.
            self.known(&text.name, text.version, &text.sha256).map(|known| known.variables.clone())
        }) else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no-contract",
                format!("the variable contract of `{name}` v{} cannot be read", text.version),
            );
        };
        let found = crate::pipeline::render::vars_problems(&vars, &variables);
        if !found.is_empty() {
            let list = found
                .iter()
                .map(|problem| Problem {
                    code: problem.code().as_str().to_string(),
                    path: problem.path().to_string(),
                    message: problem.message(),
                })
                .collect();
            return problems(
                "vars",
                format!("the vars do not fit the contract of `{name}` v{}", text.version),
                list,
            );
        }
        let vars = Value::Object(vars);
        let rendered = match &text.served {
            Some(prompt) => prompt.render_json(&vars).map_err(|error| match error {
                crate::runtime::RenderError::Render { source, .. } => source.message,
                other => other.to_string(),
            }),
            None => crate::render::Compiled::new(text.content.as_str())
                .map_err(|error| format!("the text does not parse: {}", error.message))
                .and_then(|compiled| compiled.render(&vars).map_err(|error| error.message)),
        };
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(message) => {
                return problems(
                    "render-failed",
                    format!("`{name}` v{} fails to render with these vars", text.version),
                    vec![Problem {
                        code: crate::diagnostic::Code::RenderFailed.as_str().into(),
                        path: String::new(),
                        message,
                    }],
                )
            }
        };
        if rendered.len() > self.limits.max_rendered_bytes {
            return problems(
                "rendered-too-large",
                format!(
                    "the rendered text has {} bytes, more than the limit of {}",
                    rendered.len(),
                    self.limits.max_rendered_bytes
                ),
                vec![],
            );
        }
        json(
            StatusCode::OK,
            &serde_json::json!({
                "name": text.name,
                "version": text.version,
                "sha256": text.sha256,
                "text": rendered,
            }),
        )
    }

    fn watch(&self) -> Response<Body> {
        let mut events = self.events.subscribe();
        let mut shutdown = self.shutdown.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
        let hello = format!(": watching {} prompts\n\n", self.store.names().len());
        tokio::spawn(async move {
            metrics::gauge!(metric::WATCHERS).increment(1.0);
            if sender.send(Bytes::from(hello)).await.is_ok() {
                loop {
                    let stopped = async {
                        let _ = shutdown.wait_for(|stop| *stop).await;
                    };
                    let next = select(
                        stopped,
                        tokio::time::timeout(Duration::from_secs(15), events.recv()),
                    )
                    .await;
                    let bytes = match next {
                        Either::Left(_) => break,
                        // A comment keeps proxies from closing an idle stream, and shows a client
                        // that left.
                        Either::Right(Err(_)) => Bytes::from_static(b": keep-alive\n\n"),
                        Either::Right(Ok(Ok(event))) => event,
                        Either::Right(Ok(Err(broadcast::error::RecvError::Lagged(missed)))) => {
                            Bytes::from(format!(
                                "event: lagged\ndata: {{\"missed\": {missed}}}\n\n"
                            ))
                        }
                        Either::Right(Ok(Err(broadcast::error::RecvError::Closed))) => break,
                    };
                    if sender.send(bytes).await.is_err() {
                        break;
                    }
                }
            }
            metrics::gauge!(metric::WATCHERS).decrement(1.0);
        });
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::Events(receiver))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }

    async fn history(self: Arc<Self>, name: &str) -> Response<Body> {
        let owned = name.to_string();
        let server = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            deploy::history(&server.project, &server.target, Some(&owned), 100, false)
        })
        .await;
        match read {
            Ok(Ok(history)) => json(
                StatusCode::OK,
                &serde_json::json!({ "name": name, "activations": history.activations }),
            ),
            Ok(Err(failure)) => refused(&failure),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the read failed"),
        }
    }

    async fn rollback(self: Arc<Self>, name: &str, request: Request<Incoming>) -> Response<Body> {
        let body = match read_body(request, self.limits.max_body_bytes).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let parsed: RollbackRequest = match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(problem) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad-json",
                    format!("the body is not a rollback request (`{{\"to\": N, \"reason\": \"…\"}}`): {problem}"),
                )
            }
        };
        if parsed.reason.trim().is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "no-reason",
                "`reason` is empty; say why, for the audit trail",
            );
        }
        let actor = self.admin.as_ref().map(|admin| admin.actor.clone());
        let request = deploy::RollbackRequest {
            name: name.to_string(),
            to: parsed.to,
            reason: parsed.reason,
            actor,
        };
        let server = self.clone();
        let done = tokio::task::spawn_blocking(move || {
            deploy::rollback(&server.project, &server.target, &request)
        })
        .await;
        match done {
            Ok(Ok(deploy::Rollback::RolledBack(done))) => {
                let cache = match &done.cache {
                    deploy::CacheRefresh::None => "none",
                    deploy::CacheRefresh::Refreshed { .. } => "refreshed",
                    deploy::CacheRefresh::Stale { .. } => "stale",
                };
                tracing::info!(target: LOG_TARGET, prompt = %done.done.name, from = done.done.from, to = done.done.to, actor = %done.actor, "rollback");
                json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "name": done.done.name,
                        "from": done.done.from,
                        "to": done.done.to,
                        "actor": done.actor,
                        "cache": cache,
                    }),
                )
            }
            Ok(Ok(deploy::Rollback::Refused(refusal))) => {
                error(StatusCode::CONFLICT, "refused", refusal.to_string())
            }
            Ok(Err(failure)) => refused(&failure),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the rollback failed"),
        }
    }
}

/// A failure of the store behind an admin request (messages never hold credentials).
fn refused(failure: &anyhow::Error) -> Response<Body> {
    let message = format!("{failure:#}");
    if message.contains("has never held a prompt") {
        error(StatusCode::NOT_FOUND, "no-prompt", message)
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", message)
    }
}

fn no_prompt(name: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, "no-prompt", format!("no prompt `{name}` is served"))
}

fn problems(code: &str, message: String, problems: Vec<Problem>) -> Response<Body> {
    json(StatusCode::UNPROCESSABLE_ENTITY, &ErrorBody { code, message, problems: Some(problems) })
}

fn version_response(text: &Text, etag: Option<&str>) -> Response<Body> {
    let served = text.served.as_deref();
    let body = VersionBody {
        name: &text.name,
        version: text.version,
        sha256: &text.sha256,
        content: &text.content,
        variables: &text.variables,
        contract: &text.contract,
        model: text.model.as_ref(),
        activated_at: served.and_then(|prompt| prompt.activated_at.as_deref()),
        seq: served.and_then(|prompt| prompt.seq),
        tier: served.map(|prompt| prompt.tier.as_str()),
        active: served.is_some(),
    };
    let mut response = json(StatusCode::OK, &body);
    if let Some(value) = etag.and_then(|etag| etag.parse().ok()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The request's body, at most `limit` bytes (a 413 beyond).
async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Response<Body>> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the body is over the limit of {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(failure) if failure.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(error(StatusCode::BAD_REQUEST, "bad-body", "the body could not be read")),
    }
}

fn count(route: &'static str, response: &Response<Body>) {
    metrics::counter!(metric::REQUESTS, "route" => route, "status" => response.status().as_u16().to_string())
        .increment(1);
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
}
