//! The review comment upsert against a real HTTP server on loopback: a small fake of the GitHub
//! REST API (std::net, one thread) that records every request and serves the comments of a pull
//! request in pages of 30 with `Link` headers, like GitHub. Covers create, update, pagination,
//! another author's comment with the same marker, the read-only token of fork pull requests,
//! retries of 5xx and secondary rate limits, and that the token is never printed.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptctl::github::{self, Outcome, Retry, Target, Token};
use serde_json::json;

use crate::review::{review_in, GitRepo};

const TOKEN: &str = "ghs_TestTokenThatMustNeverBePrinted0123";
const MARKER: &str = "<!-- promptctl-review -->";
const PAGE: usize = 30;

#[derive(Debug, Clone)]
struct Comment {
    id: u64,
    login: String,
    body: String,
}

/// A canned answer for the next request with this method.
struct Failure {
    method: &'static str,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Default)]
struct State {
    comments: Vec<Comment>,
    /// `GET /user`: the token's login, or 403 as for an installation token.
    user: Option<String>,
    failures: VecDeque<Failure>,
    requests: Vec<Request>,
    next_id: u64,
}

struct Server {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(state: State) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State { next_id: 1000, ..state }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, url) = (state.clone(), stop.clone(), url.clone());
            std::thread::spawn(move || {
                // Bounded: the server stops by itself after a minute whatever the test does.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &state, &url),
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2))
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Server { url, state, stop, thread: Some(thread) }
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }

    /// `METHOD path` of every request, without the query.
    fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target.split('?').next().unwrap_or("")))
            .collect()
    }

    fn target(&self) -> Target {
        Target {
            api_url: self.url.clone(),
            repository: "acme/shop".into(),
            pull_request: 7,
            token: Token::new(TOKEN),
            author: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, url: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(position) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break position + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("").to_string();
    let mut length = 0;
    let mut authorization = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    while buffer.len() < header_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buffer[header_end..]).into_owned();
    let request = Request { method, target, authorization, body };
    let (status, headers, body) = answer(&mut state.lock().unwrap(), &request, url);
    let mut response = format!(
        "HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn comment_json(comment: &Comment) -> serde_json::Value {
    json!({
        "id": comment.id,
        "body": comment.body,
        "html_url": format!("https://github.invalid/acme/shop/pull/7#issuecomment-{}", comment.id),
        "user": { "login": comment.login },
    })
}

/// What the fake GitHub answers: status, extra headers, body.
fn answer(
    state: &mut State,
    request: &Request,
    url: &str,
) -> (u16, Vec<(&'static str, String)>, String) {
    state.requests.push(request.clone());
    if state.failures.front().is_some_and(|f| f.method == request.method) {
        let failure = state.failures.pop_front().expect("a failure");
        return (failure.status, failure.headers, failure.body);
    }
    if request.authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return (401, Vec::new(), json!({"message": "Bad credentials"}).to_string());
    }
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let not_found = (404, Vec::new(), json!({"message": "Not Found"}).to_string());
    match (request.method.as_str(), path) {
        ("GET", "/user") => match &state.user {
            Some(login) => (200, Vec::new(), json!({ "login": login }).to_string()),
            None => (
                403,
                Vec::new(),
                json!({"message": "Resource not accessible by integration"}).to_string(),
            ),
        },
        ("GET", "/repos/acme/shop/issues/7/comments") => {
            // 30 per page whatever `per_page` asks, so that paging is exercised.
            let page: usize = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("page="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let start = (page - 1) * PAGE;
            let items: Vec<serde_json::Value> =
                state.comments.iter().skip(start).take(PAGE).map(comment_json).collect();
            let mut headers = Vec::new();
            if start + PAGE < state.comments.len() {
                let last = state.comments.len().div_ceil(PAGE);
                headers.push((
                    "Link",
                    format!(
                        "<{url}{path}?per_page=100&page={}>; rel=\"next\", <{url}{path}?per_page=100&page={last}>; rel=\"last\"",
                        page + 1
                    ),
                ));
            }
            (200, headers, serde_json::Value::Array(items).to_string())
        }
        ("POST", "/repos/acme/shop/issues/7/comments") => {
            let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
            state.next_id += 1;
            let comment = Comment {
                id: state.next_id,
                login: state.user.clone().unwrap_or_else(|| github::ACTIONS_BOT.into()),
                body: body["body"].as_str().unwrap_or_default().to_string(),
            };
            state.comments.push(comment.clone());
            (201, Vec::new(), comment_json(&comment).to_string())
        }
        ("PATCH", path) if path.starts_with("/repos/acme/shop/issues/comments/") => {
            let id: u64 = path.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
            match state.comments.iter_mut().find(|c| c.id == id) {
                Some(comment) => {
                    comment.body = body["body"].as_str().unwrap_or_default().to_string();
                    (200, Vec::new(), comment_json(comment).to_string())
                }
                None => not_found,
            }
        }
        _ => not_found,
    }
}

fn fast() -> Retry {
    Retry {
        attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(50),
    }
}

fn others(count: usize) -> Vec<Comment> {
    (0..count)
        .map(|i| Comment {
            id: i as u64 + 1,
            login: format!("reviewer{i}"),
            body: format!("LGTM {i}"),
        })
        .collect()
}

#[test]
fn creates_the_comment_when_there_is_none() {
    let server = Server::start(State { comments: others(2), ..State::default() });
    let outcome =
        github::upsert_comment(&server.target(), &format!("{MARKER}\nreport"), MARKER, fast())
            .unwrap();
    let Outcome::Created { id, url } = outcome else { panic!("{outcome:?}") };
    assert_eq!(url, format!("https://github.invalid/acme/shop/pull/7#issuecomment-{id}"));
    assert_eq!(
        server.calls(),
        [
            "GET /user",
            "GET /repos/acme/shop/issues/7/comments",
            "POST /repos/acme/shop/issues/7/comments"
        ]
    );
    let requests = server.requests();
    assert!(requests
        .iter()
        .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])));
    assert_eq!(requests[2].body, json!({ "body": format!("{MARKER}\nreport") }).to_string());
    let comments = server.comments();
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[2].login, "github-actions[bot]");
}

#[test]
fn updates_its_own_comment_in_place() {
    let mut comments = others(3);
    comments.insert(
        1,
        Comment { id: 55, login: "github-actions[bot]".into(), body: format!("{MARKER}\nold") },
    );
    let server = Server::start(State { comments, ..State::default() });
    let outcome =
        github::upsert_comment(&server.target(), &format!("{MARKER}\nnew"), MARKER, fast())
            .unwrap();
    assert!(matches!(outcome, Outcome::Updated { id: 55, .. }), "{outcome:?}");
    assert_eq!(server.calls().last().unwrap(), "PATCH /repos/acme/shop/issues/comments/55");
    let comments = server.comments();
    assert_eq!(comments.len(), 4);
    assert_eq!(comments[1].body, format!("{MARKER}\nnew"));
}

#[test]
fn finds_its_comment_beyond_the_first_pages() {
    let mut comments = others(70);
    comments.push(Comment {
        id: 99,
        login: "github-actions[bot]".into(),
        body: format!("{MARKER}\nold"),
    });
    let server = Server::start(State { comments, ..State::default() });
    let outcome =
        github::upsert_comment(&server.target(), &format!("{MARKER}\nnew"), MARKER, fast())
            .unwrap();
    assert!(matches!(outcome, Outcome::Updated { id: 99, .. }), "{outcome:?}");
    let pages: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.target.contains("/comments"))
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(
        pages,
        [
            "/repos/acme/shop/issues/7/comments?per_page=100",
            "/repos/acme/shop/issues/7/comments?per_page=100&page=2",
            "/repos/acme/shop/issues/7/comments?per_page=100&page=3"
        ]
    );
    assert_eq!(server.comments().len(), 71, "no second comment");
}

#[test]
fn leaves_another_authors_comment_with_the_marker_alone() {
    let mut comments = others(1);
    comments.push(Comment {
        id: 7,
        login: "mallory".into(),
        body: format!("{MARKER}\nquoted by someone"),
    });
    let server = Server::start(State { comments, ..State::default() });
    let outcome =
        github::upsert_comment(&server.target(), &format!("{MARKER}\nreport"), MARKER, fast())
            .unwrap();
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
    let comments = server.comments();
    assert_eq!(comments[1].body, format!("{MARKER}\nquoted by someone"));
    assert!(!server.calls().iter().any(|c| c.starts_with("PATCH")));
}

#[test]
fn the_author_is_the_tokens_user_or_the_configured_one() {
    // A personal token: GET /user names the author.
    let comments = vec![
        Comment { id: 1, login: "github-actions[bot]".into(), body: format!("{MARKER}\nbot") },
        Comment { id: 2, login: "octo".into(), body: format!("{MARKER}\nmine") },
    ];
    let server = Server::start(State {
        comments: comments.clone(),
        user: Some("octo".into()),
        ..State::default()
    });
    let outcome =
        github::upsert_comment(&server.target(), &format!("{MARKER}\nnew"), MARKER, fast())
            .unwrap();
    assert!(matches!(outcome, Outcome::Updated { id: 2, .. }), "{outcome:?}");
    // A configured author skips GET /user.
    let server = Server::start(State { comments, ..State::default() });
    let target = Target { author: Some("OCTO".into()), ..server.target() };
    let outcome =
        github::upsert_comment(&target, &format!("{MARKER}\nnew"), MARKER, fast()).unwrap();
    assert!(matches!(outcome, Outcome::Updated { id: 2, .. }), "{outcome:?}");
    assert_eq!(server.calls()[0], "GET /repos/acme/shop/issues/7/comments");
}

#[test]
fn a_read_only_token_is_an_outcome_not_an_error() {
    let failure = Failure {
        method: "POST",
        status: 403,
        headers: Vec::new(),
        body: json!({"message": "Resource not accessible by integration"}).to_string(),
    };
    let server = Server::start(State { failures: VecDeque::from([failure]), ..State::default() });
    let outcome = github::upsert_comment(&server.target(), MARKER, MARKER, fast()).unwrap();
    assert_eq!(
        outcome,
        Outcome::ReadOnly { message: "Resource not accessible by integration".into() }
    );
    assert_eq!(
        server.calls().iter().filter(|c| c.starts_with("POST")).count(),
        1,
        "a plain 403 is not retried"
    );
}

#[test]
fn server_errors_and_rate_limits_are_retried() {
    let failures = VecDeque::from([
        Failure { method: "GET", status: 502, headers: Vec::new(), body: "bad gateway".into() },
        Failure { method: "GET", status: 502, headers: Vec::new(), body: "bad gateway".into() },
        Failure {
            method: "POST",
            status: 403,
            headers: vec![("Retry-After", "1".into())],
            body: json!({"message": "You have exceeded a secondary rate limit"}).to_string(),
        },
        Failure {
            method: "POST",
            status: 429,
            headers: vec![("x-ratelimit-remaining", "0".into()), ("x-ratelimit-reset", "0".into())],
            body: "{}".into(),
        },
    ]);
    let server = Server::start(State { failures, ..State::default() });
    let target = Target { author: Some("github-actions[bot]".into()), ..server.target() };
    let outcome = github::upsert_comment(&target, MARKER, MARKER, fast()).unwrap();
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
    assert_eq!(
        server.calls(),
        [
            "GET /repos/acme/shop/issues/7/comments",
            "GET /repos/acme/shop/issues/7/comments",
            "GET /repos/acme/shop/issues/7/comments",
            "POST /repos/acme/shop/issues/7/comments",
            "POST /repos/acme/shop/issues/7/comments",
            "POST /repos/acme/shop/issues/7/comments",
        ]
    );
    // Past the attempts, the error names the status, never the token.
    let failures = (0..4).map(|_| Failure {
        method: "GET",
        status: 503,
        headers: Vec::new(),
        body: "{\"message\":\"down\"}".into(),
    });
    let server = Server::start(State { failures: failures.collect(), ..State::default() });
    let target = Target { author: Some("x".into()), ..server.target() };
    let error = github::upsert_comment(&target, MARKER, MARKER, fast()).unwrap_err().to_string();
    assert!(error.contains("answered 503: down"), "{error}");
    assert!(!error.contains(TOKEN) && !format!("{target:?}").contains(TOKEN), "{error}");
    assert_eq!(server.calls().len(), 4);
}

/// A repository with a change to review, and the GitHub Actions environment of a pull request
/// pointing at `server`.
fn actions_env(repo: &GitRepo, server: &Server) -> Vec<(String, String)> {
    let event = repo.repo.join("event.json");
    std::fs::write(
        &event,
        json!({ "action": "opened", "pull_request": { "number": 7 } }).to_string(),
    )
    .unwrap();
    vec![
        ("GITHUB_API_URL".into(), server.url.clone()),
        ("GITHUB_REPOSITORY".into(), "acme/shop".into()),
        ("GITHUB_EVENT_PATH".into(), event.display().to_string()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("GITHUB_STEP_SUMMARY".into(), repo.repo.join("summary.md").display().to_string()),
        ("PROMPTCTL_GITHUB_RETRY_BASE_MS".into(), "1".into()),
    ]
}

fn changed_repo() -> GitRepo {
    let repo = GitRepo::base(&[
        ("prompts/summary/prompt.toml", "description = \"Summarises\"\n\n[activate]\nproduction = 1\n\n[[test]]\nname = \"t\"\nvars = { ticket = \"Printer on fire\" }\n"),
        ("prompts/summary/v1.prompt", "+++\nvariables.ticket = { type = \"string\" }\n+++\nSummarise: {{ticket}}\n"),
    ]);
    repo.write(
        "prompts/summary/v2.prompt",
        "+++\nvariables.ticket = { type = \"string\" }\n+++\nSummarise briefly: {{ticket}}\n",
    );
    repo.write(
        "prompts/summary/prompt.toml",
        &repo.repo.read("prompts/summary/prompt.toml").replace("production = 1", "production = 2"),
    );
    repo
}

fn run_review(repo: &GitRepo, env: &[(String, String)], extra: &[&str]) -> crate::support::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut args = vec!["--base", "main", "--post-comment"];
    args.extend_from_slice(extra);
    review_in(repo.repo.path(), &args, &env)
}

#[test]
fn the_command_posts_once_then_updates() {
    let repo = changed_repo();
    let server = Server::start(State { comments: others(31), ..State::default() });
    let env = actions_env(&repo, &server);
    let first = run_review(&repo, &env, &[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(
        first.stderr.contains(
            "posted the review comment https://github.invalid/acme/shop/pull/7#issuecomment-"
        ),
        "{}",
        first.stderr
    );
    repo.write(
        "prompts/summary/v2.prompt",
        "+++\nvariables.ticket = { type = \"string\" }\n+++\nSummarise in one line: {{ticket}}\n",
    );
    let second = run_review(&repo, &env, &["--format", "json"]);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    assert!(second.stderr.contains("updated the review comment"), "{}", second.stderr);
    let comments = server.comments();
    assert_eq!(comments.len(), 32, "one review comment, updated in place");
    let ours = comments.last().unwrap();
    assert!(ours.body.starts_with(MARKER), "{}", ours.body);
    assert!(ours.body.contains("Summarise in one line"), "{}", ours.body);
    for run in [&first, &second] {
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    }
    let summary = repo.repo.read("summary.md");
    assert_eq!(
        summary.matches(MARKER).count(),
        2,
        "each run appends its report to the job summary"
    );
}

#[test]
fn a_fork_pull_request_falls_back_to_the_job_summary() {
    let repo = changed_repo();
    let failure = Failure {
        method: "POST",
        status: 403,
        headers: Vec::new(),
        body: json!({"message": "Resource not accessible by integration"}).to_string(),
    };
    let server = Server::start(State { failures: VecDeque::from([failure]), ..State::default() });
    let env = actions_env(&repo, &server);
    let run = run_review(&repo, &env, &["--format", "github"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.ends_with("::notice title=promptctl review::cannot post the review comment: the token is read-only (Resource not accessible by integration), as for pull requests from forks\n"), "{}", run.stdout);
    let summary = repo.repo.read("summary.md");
    assert!(summary.starts_with(MARKER), "{summary}");
    assert!(summary.ends_with("> [!NOTE]\n> cannot post the review comment: the token is read-only (Resource not accessible by integration), as for pull requests from forks; the review is above, in the job summary.\n"), "{summary}");
    assert!(server.comments().is_empty());
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
}

#[test]
fn missing_settings_are_named() {
    let repo = changed_repo();
    let run = review_in(
        repo.repo.path(),
        &["--base", "main", "--post-comment", "--repo", "acme/shop", "--pr", "7"],
        &[],
    );
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr, "error: no token to comment with: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`)\n");
    let run = review_in(
        repo.repo.path(),
        &["--base", "main", "--post-comment"],
        &[("GITHUB_TOKEN", TOKEN)],
    );
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: no repository to comment on: pass `--repo OWNER/NAME` or set GITHUB_REPOSITORY\n"
    );
}
