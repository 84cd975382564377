//! Running evaluations: every job (an eval of one version of a prompt) is expanded into calls
//! (case × repetition), each answered from the recorded responses or by its model, then graded
//! by every assertion (`similar_to` and `judge` ask their own models, through the same cache).
//! Calls run on a few threads; each model's own limits pace them. `--offline` makes a miss
//! `not recorded`; `--budget` refuses a call whose worst-case cost would pass it.

use super::assert::{self, Grade, Prepared};
use super::cache::{self, Answer, CallKey, Entry, Origin};
use super::provider::{CallError, ChatRequest, Completion, Model};
use crate::config::{ModelConfig, Price};
use crate::syntax::eval::{AssertKind, AssertSpec};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One eval of one version of a prompt, its cases rendered.
pub struct Job {
    pub prompt: String,
    pub eval: String,
    /// `base` or `head` with `--base`; `None` otherwise.
    pub side: Option<&'static str>,
    pub version: u32,
    /// The `[models]` name of the model under evaluation.
    pub model: String,
    /// Sampling parameters: the model's, with the version's front matter `model` settings over
    /// them.
    pub parameters: Map<String, Value>,
    pub cases: Vec<Case>,
    pub repeat: u32,
    pub asserts: Vec<Assertion>,
    /// The prompt's `evals/recorded/` folder.
    pub recorded: PathBuf,
}

/// A rendered case.
pub struct Case {
    pub label: String,
    /// The rendered prompt as the system message (when the case has a user message).
    pub system: Option<String>,
    pub user: String,
    /// The user message as the eval wrote it (the judge's `input`).
    pub input: Option<String>,
    pub reference: Option<String>,
}

/// An assertion ready to grade.
pub struct Assertion {
    pub spec: AssertSpec,
    /// How the table names it: `contains "king"`, `judge`, …
    pub label: String,
    pub prepared: Prepared,
    /// The embeddings model (`similar_to`) or judge model (`judge`) it asks.
    pub model: Option<String>,
    /// `judge`: the judge prompt's template and the variables it declares.
    pub judge: Option<JudgePrompt>,
}

/// The prompt a judge renders.
pub struct JudgePrompt {
    pub name: String,
    pub version: u32,
    pub template: String,
    /// The variables its contract declares (of `rubric`, `output`, `input`, `reference`).
    pub declared: Vec<String>,
}

/// How a run goes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Call nothing: a miss is `not recorded`.
    pub offline: bool,
    /// USD at most for the calls made in this run.
    pub budget: Option<f64>,
}

/// What became of one call (a case's repetition) and its grades.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub job: usize,
    pub case: usize,
    pub repetition: u32,
    pub status: Status,
    pub completion: Option<Completion>,
    /// The estimated cost of the answer in USD, from its tokens (replayed or not), when the model
    /// has a price; `Outcome::spent` counts only the calls made in this run.
    pub cost: Option<f64>,
    /// Per assertion; `None` when it could not be graded (not recorded, or the call failed).
    pub grades: Vec<Option<Grade>>,
    /// Per assertion: its own call was not recorded (`--offline`).
    pub unrecorded: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Answered(Origin),
    NotRecorded,
    Failed(String),
    /// Not called: it would have passed the budget.
    OverBudget,
}

/// What a run produced: one result per call, and the cache entries each prompt used (for
/// `--record`).
pub struct Outcome {
    pub calls: Vec<CallResult>,
    /// `evals/recorded/` folder to the entries its prompt's evals used.
    pub used: BTreeMap<PathBuf, Vec<Entry>>,
    /// USD spent on calls made in this run (estimated from their tokens).
    pub spent: f64,
    pub stopped_by_budget: bool,
}

struct Runner<'a> {
    jobs: &'a [Job],
    models: BTreeMap<String, (ModelConfig, Result<Model, CallError>)>,
    cache: cache::Cache,
    options: Options,
    /// USD reserved or spent by calls of this run.
    spent: Mutex<f64>,
    over_budget: AtomicBool,
    used: Mutex<BTreeMap<PathBuf, BTreeMap<String, Entry>>>,
}

/// Runs every job. `models` holds every model the jobs name, with its configuration, and the
/// model ready to call or why it is not (a missing key matters only when a call is needed).
pub fn run(
    jobs: &[Job],
    models: BTreeMap<String, (ModelConfig, Result<Model, CallError>)>,
    cache: cache::Cache,
    options: Options,
) -> Outcome {
    let work: Vec<(usize, usize, u32)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(j, job)| {
            (0..job.cases.len()).flat_map(move |c| (0..job.repeat).map(move |r| (j, c, r)))
        })
        .collect();
    let threads: usize = models
        .values()
        .map(|(config, _)| config.max_concurrency.unwrap_or(4) as usize)
        .sum::<usize>()
        .clamp(1, 16)
        .min(work.len().max(1));
    let runner = Runner {
        jobs,
        models,
        cache,
        options,
        spent: Mutex::new(0.0),
        over_budget: AtomicBool::new(false),
        used: Mutex::new(BTreeMap::new()),
    };
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(work.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(job, case, repetition)) = work.get(index) else { break };
                let result = runner.one(job, case, repetition);
                results.lock().unwrap_or_else(|e| e.into_inner()).push(result);
            });
        }
    });
    let mut calls = results.into_inner().unwrap_or_else(|e| e.into_inner());
    calls.sort_by_key(|call| (call.job, call.case, call.repetition));
    let spent = *runner.spent.lock().unwrap_or_else(|e| e.into_inner());
    let used = runner
        .used
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|(dir, entries)| (dir, entries.into_values().collect()))
        .collect();
    Outcome { calls, used, spent, stopped_by_budget: runner.over_budget.load(Ordering::Relaxed) }
}

/// What one request to a model asks, for the key and the call.
enum Request<'a> {
    Chat(&'a ChatRequest),
    Embed(&'a [String]),
}

/// The answer to one request.
enum Asked {
    Answer(Answer, Origin),
    NotRecorded,
    Failed(String),
    OverBudget,
}

impl Runner<'_> {
    fn one(&self, job_index: usize, case_index: usize, repetition: u32) -> CallResult {
        let job = &self.jobs[job_index];
        let case = &job.cases[case_index];
        let request = ChatRequest {
            system: case.system.clone(),
            user: case.user.clone(),
            parameters: job.parameters.clone(),
        };
        let mut result = CallResult {
            job: job_index,
            case: case_index,
            repetition,
            status: Status::NotRecorded,
            completion: None,
            cost: None,
            grades: vec![None; job.asserts.len()],
            unrecorded: vec![false; job.asserts.len()],
        };
        let completion =
            match self.ask(job, &job.model, Request::Chat(&request), &job.parameters, repetition) {
                Asked::Answer(Answer::Chat(completion), origin) => {
                    result.status = Status::Answered(origin);
                    completion
                }
                Asked::Answer(Answer::Embeddings(_), _) => {
                    result.status =
                        Status::Failed("the recorded answer is not a chat answer".into());
                    return result;
                }
                Asked::NotRecorded => {
                    result.unrecorded = vec![true; job.asserts.len()];
                    return result;
                }
                Asked::Failed(message) => {
                    result.status = Status::Failed(message);
                    return result;
                }
                Asked::OverBudget => {
                    result.status = Status::OverBudget;
                    return result;
                }
            };
        let price = self.models.get(&job.model).and_then(|(config, _)| config.price);
        result.cost = price.map(|price| cost(price, &completion));
        for (index, assertion) in job.asserts.iter().enumerate() {
            if let Some(grade) =
                assert::grade(&assertion.spec.kind, &assertion.prepared, &completion, result.cost)
            {
                result.grades[index] = Some(grade);
                continue;
            }
            match self.graded_by_model(job, case, assertion, &completion, repetition) {
                Ok(grade) => result.grades[index] = Some(grade),
                Err(Asked::NotRecorded) => result.unrecorded[index] = true,
                Err(Asked::Failed(message)) => {
                    result.grades[index] =
                        Some(Grade { passed: false, score: None, reason: Some(message) })
                }
                Err(_) => {}
            }
        }
        result.completion = Some(completion);
        result
    }

    /// `similar_to` and `judge`: the grade from the assertion's own model.
    fn graded_by_model(
        &self,
        job: &Job,
        case: &Case,
        assertion: &Assertion,
        answer: &Completion,
        repetition: u32,
    ) -> Result<Grade, Asked> {
        let model_name = assertion.model.as_deref().unwrap_or_default();
        let parameters = self
            .models
            .get(model_name)
            .map(|(config, _)| parameters_of(config))
            .unwrap_or_default();
        match &assertion.spec.kind {
            AssertKind::SimilarTo { reference, min, .. } => {
                let reference =
                    reference.clone().or_else(|| case.reference.clone()).ok_or_else(|| {
                        Asked::Failed(format!("case `{}` has no reference text", case.label))
                    })?;
                let texts = [answer.text.clone(), reference];
                match self.ask(job, model_name, Request::Embed(&texts), &parameters, repetition) {
                    Asked::Answer(Answer::Embeddings(embeddings), _)
                        if embeddings.vectors.len() == 2 =>
                    {
                        Ok(assert::similarity(
                            assert::cosine(&embeddings.vectors[0], &embeddings.vectors[1]),
                            *min,
                        ))
                    }
                    Asked::Answer(..) => {
                        Err(Asked::Failed("the embeddings model did not return two vectors".into()))
                    }
                    other => Err(other),
                }
            }
            AssertKind::Judge { rubric, .. } => {
                let judge = assertion
                    .judge
                    .as_ref()
                    .ok_or_else(|| Asked::Failed("the judge prompt was not prepared".into()))?;
                let user =
                    render_judge(judge, rubric, &answer.text, case).map_err(Asked::Failed)?;
                let request = ChatRequest { system: None, user, parameters: parameters.clone() };
                match self.ask(job, model_name, Request::Chat(&request), &parameters, repetition) {
                    Asked::Answer(Answer::Chat(verdict), _) => Ok(assert::verdict(&verdict.text)),
                    Asked::Answer(..) => Err(Asked::Failed(
                        "the judge's recorded answer is not a chat answer".into(),
                    )),
                    other => Err(other),
                }
            }
            _ => Err(Asked::Failed("graded without a model".into())),
        }
    }

    /// The answer to `request` from the recordings, the local cache, or the model.
    fn ask(
        &self,
        job: &Job,
        model_name: &str,
        request: Request,
        parameters: &Map<String, Value>,
        repetition: u32,
    ) -> Asked {
        let Some((config, model)) = self.models.get(model_name) else {
            return Asked::Failed(format!("there is no model `{model_name}` in [models]"));
        };
        let (kind, sent) = match &request {
            Request::Chat(chat) => {
                ("chat", serde_json::json!({"system": chat.system, "user": chat.user}))
            }
            Request::Embed(texts) => ("embeddings", serde_json::json!({"texts": texts})),
        };
        let key = CallKey {
            kind: kind.into(),
            provider: config.provider.name().into(),
            model: config.model.clone(),
            parameters: parameters.clone(),
            request_sha256: cache::request_sha256(&sent),
            repetition,
        };
        match self.cache.lookup(&job.recorded, &key) {
            Ok(Some((entry, origin))) => {
                let answer = entry.answer.clone();
                self.remember(job, entry);
                return Asked::Answer(answer, origin);
            }
            Ok(None) => {}
            Err(error) => return Asked::Failed(error.to_string()),
        }
        if self.options.offline {
            return Asked::NotRecorded;
        }
        let model = match model {
            Ok(model) => model,
            Err(error) => return Asked::Failed(error.to_string()),
        };
        let reserved = match self.reserve(config, &request) {
            Ok(reserved) => reserved,
            Err(asked) => return asked,
        };
        let called = match &request {
            Request::Chat(chat) => model.complete(chat).map(Answer::Chat),
            Request::Embed(texts) => model.embed(texts).map(Answer::Embeddings),
        };
        let actual = match (&called, config.price) {
            (Ok(Answer::Chat(completion)), Some(price)) => cost(price, completion),
            (Ok(Answer::Embeddings(embeddings)), Some(price)) => {
                embeddings.input_tokens as f64 * price.input / 1e6
            }
            _ => 0.0,
        };
        {
            let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
            *spent += actual - reserved;
        }
        match called {
            Ok(answer) => {
                let entry = Entry { key, answer: answer.clone(), recorded_at: now() };
                if let Err(error) = self.cache.store(&entry) {
                    tracing::warn!("{error}");
                }
                self.remember(job, entry);
                Asked::Answer(answer, Origin::Called)
            }
            Err(error) => Asked::Failed(error.to_string()),
        }
    }

    /// Reserves the worst-case cost of `request` against the budget.
    fn reserve(&self, config: &ModelConfig, request: &Request) -> Result<f64, Asked> {
        let Some(budget) = self.options.budget else { return Ok(0.0) };
        let Some(price) = config.price else {
            self.over_budget.store(true, Ordering::Relaxed);
            return Err(Asked::Failed(format!(
                "model `{}` has no `price`: `--budget` cannot bound its calls",
                config.model
            )));
        };
        let worst = worst_case(price, request);
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        if self.over_budget.load(Ordering::Relaxed) || *spent + worst > budget {
            self.over_budget.store(true, Ordering::Relaxed);
            return Err(Asked::OverBudget);
        }
        *spent += worst;
        Ok(worst)
    }

    fn remember(&self, job: &Job, entry: Entry) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.entry(job.recorded.clone()).or_default().insert(entry.key.id(), entry);
    }
}

fn now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    crate::time::rfc3339(seconds)
}

/// The estimated cost of an answer, from its tokens.
pub fn cost(price: Price, completion: &Completion) -> f64 {
    (completion.input_tokens as f64 * price.input + completion.output_tokens as f64 * price.output)
        / 1e6
}

/// The most a request can cost: its input at a generous 1 token per 3 bytes, and the longest
/// answer its parameters allow (`max_tokens`, else 4,096 tokens).
fn worst_case(price: Price, request: &Request) -> f64 {
    let (bytes, output) = match request {
        Request::Chat(chat) => {
            let bytes = chat.system.as_ref().map_or(0, String::len) + chat.user.len();
            let limit = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
                .iter()
                .find_map(|key| chat.parameters.get(*key).and_then(Value::as_u64))
                .unwrap_or(4096);
            (bytes, limit)
        }
        Request::Embed(texts) => (texts.iter().map(String::len).sum(), 0),
    };
    ((bytes as u64).div_ceil(3) as f64 * price.input + output as f64 * price.output) / 1e6
}

/// The sampling keys a version's front matter `model` table may set over the model's parameters.
pub const SAMPLING_KEYS: [&str; 8] = [
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
];

/// The model's parameters as JSON.
pub fn parameters_of(config: &ModelConfig) -> Map<String, Value> {
    config
        .parameters
        .iter()
        .map(|(key, value)| (key.clone(), crate::syntax::prompt::toml_to_json(value)))
        .collect()
}

/// The model's parameters with the version's `model` settings (`SAMPLING_KEYS` only) over them.
pub fn parameters_for(
    config: &ModelConfig,
    version_model: Option<&toml::Table>,
) -> Map<String, Value> {
    let mut parameters = parameters_of(config);
    if let Some(table) = version_model {
        for key in SAMPLING_KEYS {
            if let Some(value) = table.get(key) {
                parameters.insert(key.into(), crate::syntax::prompt::toml_to_json(value));
            }
        }
    }
    parameters
}

/// The judge prompt rendered for one answer: `rubric` and `output`, and `input` and `reference`
/// when the judge prompt declares them and the case has them.
fn render_judge(
    judge: &JudgePrompt,
    rubric: &str,
    output: &str,
    case: &Case,
) -> Result<String, String> {
    let mut vars = Map::new();
    vars.insert("rubric".into(), Value::from(rubric));
    vars.insert("output".into(), Value::from(output));
    for (name, value) in [("input", &case.input), ("reference", &case.reference)] {
        if let Some(value) = value.as_ref().filter(|_| judge.declared.iter().any(|d| d == name)) {
            vars.insert(name.into(), Value::from(value.as_str()));
        }
    }
    let template = crate::syntax::template::parse(&judge.template).map_err(|_| {
        format!("the judge prompt `{}` v{} does not parse", judge.name, judge.version)
    })?;
    crate::render::render(&template, &judge.template, &Value::Object(vars)).map_err(|error| {
        format!(
            "the judge prompt `{}` v{} fails to render: {}",
            judge.name, judge.version, error.message
        )
    })
}
