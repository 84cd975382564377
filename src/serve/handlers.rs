//! The endpoints of `serve` (docs/serve.md): reads, renders checked against the contract, the
//! watch stream, health, metrics, and the admin endpoints.

use super::*;

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
    /// A caller's key: the version a canary rollout serves it (without `version`).
    #[serde(default)]
    key: Option<String>,
}

/// A rollback request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    to: Option<i64>,
    reason: String,
}

/// A version to answer with or render: its text and contract.
pub(super) struct Text {
    pub(super) name: String,
    pub(super) version: i64,
    pub(super) sha256: String,
    pub(super) content: String,
    variables: Value,
    contract: String,
    model: Option<Value>,
    /// The served prompt, when this is the active version (its parse is reused).
    pub(super) served: Option<Arc<Prompt>>,
}

/// Which version rendered: its name, number and sha256.
pub(super) struct Head {
    pub(super) name: String,
    pub(super) version: i64,
    pub(super) sha256: String,
}

impl Head {
    fn of(name: &str, version: i64, sha256: &str) -> Head {
        Head { name: name.to_string(), version, sha256: sha256.to_string() }
    }
}

impl Server {
    pub(super) async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let found = ROUTES.iter().enumerate().find_map(|(index, route)| {
            matches(route.path, &path).filter(|_| route.method == method.as_str()).map(
                |parameters| (index, route, parameters.into_iter().map(str::to_string).collect()),
            )
        });
        let Some((index, route, parameters)) = found else {
            let allowed: Vec<&str> = ROUTES
                .iter()
                .filter(|route| matches(route.path, &path).is_some())
                .filter(|route| !route.admin || self.admin.is_some())
                .filter(|route| !route.endpoint.ui() || self.ui.is_some())
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
            self.counters.count(ROUTES.len(), response.status());
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
        self.counters.count(index, response.status());
        response
    }

    async fn dispatch(
        self: Arc<Self>,
        route: &Route,
        parameters: Vec<String>,
        request: Request<Incoming>,
    ) -> Response<Body> {
        if route.endpoint.ui() && self.ui.is_none() {
            let path = request.uri().path();
            return error(StatusCode::NOT_FOUND, "not-found", format!("no route `{path}`"));
        }
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
                    Ok(text) => version_response(&text),
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
            Endpoint::UiIndex => self.ui_index(),
            Endpoint::UiPrompt => self.ui_prompt(&name, request.uri().query()).await,
            Endpoint::UiScript | Endpoint::UiStyle => ui::asset(route.endpoint),
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
        // `?key=`: the version a canary rollout serves this caller.
        let served = match super::ui::query_value(request.uri().query(), "key") {
            Some(key) => self.store.get_for(name, &key),
            None => self.store.get(name),
        };
        let Some(prompt) = served else {
            return no_prompt(name);
        };
        let answer = self.answer(&prompt);
        let unchanged = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| http::none_match(value, &answer.etag));
        let mut response = if unchanged {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            json_bytes(StatusCode::OK, answer.body.clone())
        };
        if let Some(value) = &answer.etag_header {
            response.headers_mut().insert(header::ETAG, value.clone());
        }
        response
    }

    /// What the served version `prompt` answers with: its GET body, ETag and variable contract,
    /// computed the first time it is asked for (src/serve/cache.rs).
    fn answer(&self, prompt: &Arc<Prompt>) -> Arc<cache::Answer> {
        self.answers.get(prompt, || {
            let text = self.served_text(prompt.clone());
            let variables = self.contract(&text);
            cache::Answer::new(prompt.clone(), version_body(&text), variables)
        })
    }

    /// The variable contract of `text`: its stored specs, else the repository's version with the
    /// same text (embedded texts carry no specs).
    fn contract(&self, text: &Text) -> Option<Vec<crate::syntax::prompt::Variable>> {
        catalog::variables_from_json(&text.variables).or_else(|| {
            self.known(&text.name, text.version, &text.sha256).map(|known| known.variables.clone())
        })
    }

    /// The served version to answer with for `version` given the `active` one: the active
    /// version (no version asked, or its number), or its canary's; else `Err(Some(number))` (look
    /// for it in the repository and the store) or `Err(None)` (nothing is served).
    fn pick(version: Option<i64>, active: Option<Arc<Prompt>>) -> Result<Arc<Prompt>, Option<i64>> {
        match (version, active) {
            (None, Some(prompt)) => Ok(prompt),
            (None, None) => Err(None),
            (Some(number), Some(prompt)) if prompt.version == number => Ok(prompt),
            (Some(number), Some(prompt)) => match &prompt.canary {
                Some(canary) if canary.prompt.version == number => Ok(canary.prompt.clone()),
                _ => Err(Some(number)),
            },
            (Some(number), None) => Err(Some(number)),
        }
    }

    /// The active version of `name` (`version` none or the active one), else the repository's
    /// version `version`, else the store's; an error response when there is none.
    pub(super) async fn text(
        self: Arc<Self>,
        name: &str,
        version: Option<i64>,
    ) -> Result<Text, Response<Body>> {
        match Self::pick(version, self.store.get(name)) {
            Ok(prompt) => Ok(self.served_text(prompt)),
            Err(None) => Err(no_prompt(name)),
            Err(Some(number)) => self.unserved(name, number).await,
        }
    }

    /// Version `number` of `name`, not served: the repository's, else the store's.
    async fn unserved(self: Arc<Self>, name: &str, number: i64) -> Result<Text, Response<Body>> {
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
        // The nesting of the values (a string var is 0, a list of strings 1), as types nest.
        let depth = vars.values().map(http::depth).max().unwrap_or(0);
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
        // Without a version, a key renders the version a canary rollout serves it.
        let version = match (parsed.version, &parsed.key) {
            (None, Some(key)) => self.store.get_for(name, key).map(|prompt| prompt.version),
            (version, _) => version,
        };
        let (text, rendered) = match self.rendered(name, version, vars).await {
            Ok(done) => done,
            Err(response) => return response,
        };
        #[derive(Serialize)]
        struct RenderBody<'a> {
            name: &'a str,
            version: i64,
            sha256: &'a str,
            text: &'a str,
        }
        let body = RenderBody {
            name: &text.name,
            version: text.version,
            sha256: &text.sha256,
            text: &rendered,
        };
        // The text, its escapes (a newline is two bytes) and the other fields.
        let capacity = rendered.len() + rendered.len() / 8 + 256;
        json_bytes(StatusCode::OK, http::json_body_sized(&body, capacity))
    }

    /// `name`'s version `version` (the active one when none) rendered with `vars`, checked
    /// against its contract first; an error response when it cannot be.
    pub(super) async fn rendered(
        self: Arc<Self>,
        name: &str,
        version: Option<i64>,
        vars: Map<String, Value>,
    ) -> Result<(Head, String), Response<Body>> {
        // A served version's contract is read once (`answer`); others' on each request.
        let (head, variables, text) = match Self::pick(version, self.store.get(name)) {
            Ok(prompt) => {
                let variables = self.answer(&prompt).variables.clone();
                (Head::of(&prompt.name, prompt.version, &prompt.sha256), variables, Err(prompt))
            }
            Err(None) => return Err(no_prompt(name)),
            Err(Some(number)) => {
                let text = self.clone().unserved(name, number).await?;
                let variables = self.contract(&text).map(Arc::from);
                (Head::of(&text.name, text.version, &text.sha256), variables, Ok(text))
            }
        };
        let Some(variables) = variables else {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no-contract",
                format!("the variable contract of `{name}` v{} cannot be read", head.version),
            ));
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
            return Err(problems(
                "vars",
                format!("the vars do not fit the contract of `{name}` v{}", head.version),
                list,
            ));
        }
        let vars = Value::Object(vars);
        let rendered = match &text {
            Err(prompt) => prompt.render_json(&vars).map_err(|error| match error {
                crate::runtime::RenderError::Render { source, .. } => source.message,
                other => other.to_string(),
            }),
            Ok(text) => crate::render::Compiled::new(text.content.as_str())
                .map_err(|error| format!("the text does not parse: {}", error.message))
                .and_then(|compiled| compiled.render(&vars).map_err(|error| error.message)),
        };
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(message) => {
                return Err(problems(
                    "render-failed",
                    format!("`{name}` v{} fails to render with these vars", head.version),
                    vec![Problem {
                        code: crate::diagnostic::Code::RenderFailed.as_str().into(),
                        path: String::new(),
                        message,
                    }],
                ))
            }
        };
        if rendered.len() > self.limits.max_rendered_bytes {
            return Err(problems(
                "rendered-too-large",
                format!(
                    "the rendered text has {} bytes, more than the limit of {}",
                    rendered.len(),
                    self.limits.max_rendered_bytes
                ),
                vec![],
            ));
        }
        Ok((head, rendered))
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
            Ok(Err(failure)) => refused(format!("{failure:#}")),
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
            Ok(Err(failure)) => refused(format!("{failure:#}")),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the rollback failed"),
        }
    }
}

/// A failure of the store behind an admin request (messages never hold credentials).
fn refused(message: String) -> Response<Body> {
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

fn version_response(text: &Text) -> Response<Body> {
    json_bytes(StatusCode::OK, version_body(text))
}

/// The JSON of one version, as `version_response` answers with it.
fn version_body(text: &Text) -> Bytes {
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
    http::json_body(&body)
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
