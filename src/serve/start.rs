//! Starting `serve`: the runtime store built from the repository's catalog for one environment
//! and following its store and Redis, the Prometheus recorder, and the accept loop with its
//! connection limit, timeouts and graceful shutdown.

use super::*;

/// The runtime options `serve` starts its store with: the environment's store and Redis (and
/// `--redis-ca`/`--redis-insecure`), the project's key prefix, and the timings and allow-list of
/// the `PROMPTCTL_*` variables (docs/runtime.md); the source is always `store`.
fn options(
    project: &Project,
    environment: &deploy::Environment,
) -> Result<crate::runtime::Options, ServeError> {
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
    ui: bool,
) -> Result<Prepared, ServeError> {
    use crate::pipeline::check::{gate, Gate, Keep};
    let setup = |error: &dyn std::fmt::Display| ServeError::Setup(format!("{error:#}"));
    let environment = deploy::resolve(&project, &target).map_err(|e| setup(&e))?;
    let run = match gate(&project, Keep::Catalog).map_err(|e| setup(&e))? {
        Gate::Clean(run) => run,
        Gate::Errors(run) => {
            return Err(ServeError::Setup(format!(
                "the prompts do not check ({} errors); `promptctl check` shows them",
                run.errors().count()
            )))
        }
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
    let ui = ui.then(|| ui_tests(&project, &run.catalog));
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
        .map_err(|error| ServeError::Setup(format!("histogram buckets: {error}")))?
        .install_recorder()
        .map_err(|error| {
            ServeError::Setup(format!("cannot install the Prometheus recorder: {error}"))
        })?;
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
        ui,
        limits,
        admin,
        project: Arc::new(project),
        target,
        database: environment.location.clone(),
        prometheus,
        events,
        shutdown,
        answers: cache::Answers::default(),
        counters: cache::Counters::default(),
    };
    Ok(Prepared {
        server: Arc::new(server),
        store_shown,
        redis_shown,
        prompts: served,
        shutdown: shutdown_sender,
    })
}

/// The `[[test]]`s of every prompt of `catalog` (their names, versions and vars), for the
/// operations page's previews; a manifest that cannot be read lends none (it checked clean).
fn ui_tests(project: &Project, catalog: &[catalog::Prompt]) -> HashMap<String, Vec<UiTest>> {
    let mut tests = HashMap::new();
    for prompt in catalog {
        let path = project.prompts_path().join(&prompt.name).join("prompt.toml");
        let shown = crate::source::relative(&project.root, &path);
        let manifest = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| crate::syntax::prompt::read_manifest(&shown, &text).0);
        let found = manifest
            .map(|manifest| {
                manifest
                    .tests
                    .iter()
                    .map(|test| {
                        let test = test.get_ref();
                        UiTest {
                            name: test.name.get_ref().clone(),
                            version: test.version.as_ref().map(|version| *version.get_ref()),
                            vars: match crate::check::vars_to_json(&test.vars) {
                                Value::Object(vars) => vars,
                                _ => Map::new(),
                            },
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        tests.insert(prompt.name.clone(), found);
    }
    tests
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
    /// with the address once listening. `workers`: the threads serving requests (none: one per
    /// core; 1: a single-threaded runtime, no hand-offs between threads).
    pub fn run(
        self,
        listen: SocketAddr,
        workers: Option<usize>,
        bound: impl FnOnce(SocketAddr),
    ) -> Result<(), ServeError> {
        let mut builder = match workers {
            Some(1) => tokio::runtime::Builder::new_current_thread(),
            Some(workers) => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(workers.max(1));
                builder
            }
            None => tokio::runtime::Builder::new_multi_thread(),
        };
        let runtime = builder.enable_io().enable_time().thread_name("promptctl-serve").build()?;
        runtime.block_on(self.serve(listen, bound))
    }

    async fn serve(
        self,
        listen: SocketAddr,
        bound: impl FnOnce(SocketAddr),
    ) -> Result<(), ServeError> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use tokio::signal::unix::{signal, SignalKind};
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Listen { address: listen, source })?;
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
