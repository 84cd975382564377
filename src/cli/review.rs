//! `promptctl review`: reads the two sides from git, classifies, prints the report, appends it to
//! the job summary, and upserts the pull-request comment. The glue only: the work is in
//! `review` (git, classify, output) and `github`.

use crate::cli::exit;
use crate::config::{self, Project};
use crate::git;
use crate::github;
use crate::review::{self, output};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewFormat {
    Markdown,
    Json,
    Github,
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The branch, tag or commit to compare with; the review starts at its merge base with the head
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The commit to review (default: the working tree, uncommitted and untracked files included)
    #[arg(long, value_name = "REV")]
    pub head: Option<String>,
    /// markdown: the pull-request comment; json: the whole report; github: workflow annotations
    #[arg(long, value_enum, default_value_t = ReviewFormat::Markdown)]
    pub format: ReviewFormat,
    /// Create or update the review comment on the pull request (GitHub REST API)
    #[arg(long)]
    pub post_comment: bool,
    /// The repository of the pull request, OWNER/NAME [default: GITHUB_REPOSITORY]
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// The pull request's number [default: from the event payload named by GITHUB_EVENT_PATH]
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// The environment variable that holds the API token (never pass a token as an argument)
    #[arg(long, value_name = "NAME", default_value = "GITHUB_TOKEN")]
    pub token_env: String,
    /// The REST API's base URL [default: GITHUB_API_URL, then https://api.github.com]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// The login whose earlier comment is updated [default: PROMPTCTL_COMMENT_AUTHOR, then the token's user, then github-actions[bot]]
    #[arg(long, value_name = "LOGIN")]
    pub comment_author: Option<String>,
    /// Where the whole markdown report goes when the comment has to be shortened [default: .promptctl/review/review.md]
    #[arg(long, value_name = "FILE")]
    pub full_report: Option<PathBuf>,
    /// The JSON report of `promptctl eval --base … --out FILE`: its before/after table joins the comment
    #[arg(long, value_name = "FILE")]
    pub eval: Option<PathBuf>,
}

/// Variables read from the environment, named once.
const STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
const REPOSITORY: &str = "GITHUB_REPOSITORY";
const EVENT_PATH: &str = "GITHUB_EVENT_PATH";
const API_URL: &str = "GITHUB_API_URL";
const COMMENT_AUTHOR: &str = "PROMPTCTL_COMMENT_AUTHOR";
/// Milliseconds of the first retry wait of the GitHub client (tests shorten it).
const RETRY_BASE_MS: &str = "PROMPTCTL_GITHUB_RETRY_BASE_MS";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The project on disk, if there is one: the folder given with `--root`, or the first folder
/// with `promptctl.toml` at or above the working directory. A bare clone has none.
fn project_on_disk(root: Option<&Path>, working: &Path) -> Result<Option<Project>> {
    let found = match root {
        Some(root) => root.join(config::FILE_NAME).is_file().then(|| root.to_path_buf()),
        None => config::find_root(working).ok(),
    };
    Ok(match found {
        Some(root) => Some(config::load(&root)?),
        None => None,
    })
}

pub fn run(root: Option<&Path>, args: &ReviewArgs) -> Result<i32> {
    let working = std::env::current_dir().context("cannot read the working directory")?;
    let project = project_on_disk(root, &working)?;
    let start = root.map_or_else(|| working.clone(), Path::to_path_buf);
    if project.is_none() && args.head.is_none() {
        // Nothing on disk to review: a bare clone needs `--head`, anything else a project.
        return Err(match git::Repo::discover(&start) {
            Ok(repo) if repo.is_bare() => git::Error::Bare.into(),
            Ok(_) => config::ConfigError::NotFound { start }.into(),
            Err(error) => error.into(),
        });
    }
    let request = review::input::Request {
        start: &start,
        project: project.as_ref().map(|p| (p.root.as_path(), &p.config)),
        base: &args.base,
        head: args.head.as_deref(),
    };
    let input = review::input::read(&request)?;
    let report = review::classify(&input);

    let base_dir = project.as_ref().map_or(working.as_path(), |p| p.root.as_path());
    let full_report =
        args.full_report.clone().unwrap_or_else(|| base_dir.join(".promptctl/review/review.md"));
    let shown = full_report.strip_prefix(base_dir).unwrap_or(&full_report).display().to_string();
    let mut markdown = output::markdown(&report, output::COMMENT_LIMIT, &shown);
    if let Some(path) = &args.eval {
        markdown.text.push_str(&eval_section(path)?);
    }
    if markdown.truncated {
        if let Some(parent) = full_report.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&full_report, output::markdown_full(&report))
            .with_context(|| format!("cannot write `{}`", full_report.display()))?;
        eprintln!(
            "note: the report is longer than a comment may be ({} characters); the comment is shortened, the whole report is in {shown}",
            output::COMMENT_LIMIT
        );
    }

    {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        match args.format {
            ReviewFormat::Markdown => out.write_all(markdown.text.as_bytes())?,
            ReviewFormat::Json => out.write_all(output::json(&report).as_bytes())?,
            ReviewFormat::Github => out.write_all(output::github(&report).as_bytes())?,
        }
        out.flush()?;
    }

    let summary = env(STEP_SUMMARY).map(PathBuf::from);
    if let Some(path) = &summary {
        append(path, &format!("{}\n", markdown.text))?;
    }
    if args.post_comment {
        post_comment(args, &markdown.text, summary.as_deref())?;
    }
    let forbidden = report.forbidden().count();
    if forbidden > 0 {
        eprintln!(
            "error: {forbidden} forbidden change(s) to locked versions; restore them and put changes in new versions"
        );
        return Ok(exit::ERRORS);
    }
    Ok(exit::OK)
}

/// The model evaluation section of the comment, from `eval`'s JSON report at `path`.
fn eval_section(path: &Path) -> Result<String> {
    // The read error says why in one line (its source would repeat it).
    let bytes =
        crate::read::read(path, crate::read::CONFIG_BYTES, "an eval report").map_err(|error| {
            anyhow::anyhow!("cannot read the eval report `{}`: {error}", path.display())
        })?;
    let report: crate::eval::report::Report =
        serde_json::from_slice(&bytes).with_context(|| {
            format!("`{}` is not a report of `promptctl eval --format json`", path.display())
        })?;
    Ok(format!("\n{}", crate::eval::report::review_section(&report)))
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the job summary `{}`", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write the job summary `{}`", path.display()))
}

fn post_comment(args: &ReviewArgs, body: &str, summary: Option<&Path>) -> Result<()> {
    let repository = args.repo.clone().or_else(|| env(REPOSITORY)).context(
        "no repository to comment on: pass `--repo OWNER/NAME` or set GITHUB_REPOSITORY",
    )?;
    let pull_request = match args.pr {
        Some(number) => number,
        None => {
            let path = env(EVENT_PATH).context(
                "no pull request to comment on: pass `--pr N`, or run in a `pull_request` workflow (GITHUB_EVENT_PATH)",
            )?;
            let event = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the event payload `{path}`"))?;
            github::pull_request_number(&event).with_context(|| {
                format!("the event payload `{path}` names no pull request; run on `pull_request`, or pass `--pr N`")
            })?
        }
    };
    let token = env(&args.token_env).with_context(|| {
        format!("no token to comment with: set {} (in a workflow: `env: {}: ${{{{ secrets.GITHUB_TOKEN }}}}`)", args.token_env, args.token_env)
    })?;
    let target = github::Target {
        api_url: args
            .api_url
            .clone()
            .or_else(|| env(API_URL))
            .unwrap_or_else(|| "https://api.github.com".into()),
        repository,
        pull_request,
        token: github::Token::new(token),
        author: args.comment_author.clone().or_else(|| env(COMMENT_AUTHOR)),
    };
    let mut retry = github::Retry::default();
    if let Some(millis) = env(RETRY_BASE_MS).and_then(|v| v.parse::<u64>().ok()) {
        retry.base_delay = std::time::Duration::from_millis(millis);
    }
    match github::upsert_comment(&target, body, output::MARKER, retry)? {
        github::Outcome::Created { url, .. } => eprintln!("posted the review comment {url}"),
        github::Outcome::Updated { url, .. } => eprintln!("updated the review comment {url}"),
        github::Outcome::ReadOnly { message } => {
            let notice = format!("cannot post the review comment: the token is read-only ({message}), as for pull requests from forks");
            match summary {
                Some(path) => {
                    append(
                        path,
                        &format!(
                            "> [!NOTE]\n> {notice}; the review is above, in the job summary.\n"
                        ),
                    )?;
                    eprintln!("note: {notice}; the review is in the job summary");
                }
                None => eprintln!(
                    "note: {notice}; set GITHUB_STEP_SUMMARY to keep the review in the job summary"
                ),
            }
            if args.format == ReviewFormat::Github {
                println!(
                    "::notice title=promptctl review::{}",
                    crate::report::github_data(&notice)
                );
            }
        }
    }
    Ok(())
}
