//! The GitHub REST API, for the one thing promptctl asks of it: upsert the review comment on a
//! pull request. Finds the earlier comment by a hidden marker and by its author across every
//! page of comments (the `Link` header), updates it in place or creates it, retries server errors
//! and secondary rate limits with backoff, and reports a read-only token (pull requests from
//! forks get one) as an outcome, not an error, so the caller can fall back to the job summary.
//! The token is only ever put in an `Authorization` header marked sensitive: no message, error or
//! `Debug` output holds it, and links from the API are only followed on the API's own origin.

use serde::Deserialize;
use std::time::Duration;

/// The author of comments made with the `GITHUB_TOKEN` of GitHub Actions.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// A token, printed nowhere.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(secret: impl Into<String>) -> Token {
        Token(secret.into())
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Which pull request, on which API, with which credentials.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https://api.github.com`, or `GITHUB_API_URL` on GitHub Enterprise Server.
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    pub pull_request: u64,
    pub token: Token,
    /// The login whose comment is updated; `None`: the token's own (`GET /user`), or
    /// `github-actions[bot]` for tokens that have no user (the `GITHUB_TOKEN` of Actions).
    pub author: Option<String>,
}

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// The first wait; each further wait doubles it.
    pub base_delay: Duration,
    /// No wait is longer than this, whatever `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// What `upsert_comment` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        id: u64,
        url: String,
    },
    Updated {
        id: u64,
        url: String,
    },
    /// The token may read but not write (403): nothing was posted.
    ReadOnly {
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("`{api_url}` is not an http(s) URL; set GITHUB_API_URL or `--api-url` to the API's base, e.g. https://api.github.com")]
    BadApiUrl { api_url: String },
    #[error(
        "`{repository}` is not `owner/name`; set GITHUB_REPOSITORY or pass `--repo OWNER/NAME`"
    )]
    BadRepository { repository: String },
    #[error("cannot reach {method} {url}: {message}; check the network and GITHUB_API_URL")]
    Transport { method: &'static str, url: String, message: String },
    #[error("{method} {url} answered {status}: {message}")]
    Status { method: &'static str, url: String, status: u16, message: String },
    #[error(
        "the token was rejected ({method} {url} answered 401); give the job a valid GITHUB_TOKEN"
    )]
    Unauthorized { method: &'static str, url: String },
    #[error("unexpected answer from {url}: {message}")]
    Unexpected { url: String, message: String },
    #[error("cannot start the HTTP client: {message}")]
    Client { message: String },
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct ApiMessage {
    message: Option<String>,
}

struct Response {
    status: u16,
    body: String,
    next: Option<String>,
}

struct Client {
    http: reqwest::blocking::Client,
    authorization: reqwest::header::HeaderValue,
    api_url: String,
    retry: Retry,
}

/// Creates or updates the one comment on the pull request that holds `marker` and is written by
/// the target's author; other comments, with the marker or not, are left alone.
pub fn upsert_comment(
    target: &Target,
    body: &str,
    marker: &str,
    retry: Retry,
) -> Result<Outcome, GithubError> {
    let api_url = target.api_url.trim_end_matches('/').to_string();
    if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
        return Err(GithubError::BadApiUrl { api_url });
    }
    let repository = target.repository.as_str();
    let valid_part = |part: &str| {
        !part.is_empty()
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repository.split_once('/') {
        Some((owner, name)) if valid_part(owner) && valid_part(name) => {}
        _ => return Err(GithubError::BadRepository { repository: repository.to_string() }),
    }
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", target.token.0)).map_err(
            |_| GithubError::Client {
                message: "the token holds characters a header cannot carry".into(),
            },
        )?;
    authorization.set_sensitive(true);
    crate::tls::install_provider();
    let http = reqwest::blocking::Client::builder()
        .user_agent(concat!("promptctl/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(30))
        // Never carry the token to another host: pages are followed by hand, on the API's origin.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| GithubError::Client { message: error.to_string() })?;
    let client = Client { http, authorization, api_url: api_url.clone(), retry };

    let author = match &target.author {
        Some(author) => author.clone(),
        None => client.token_login()?.unwrap_or_else(|| ACTIONS_BOT.to_string()),
    };
    let mut url = Some(format!(
        "{api_url}/repos/{repository}/issues/{}/comments?per_page=100",
        target.pull_request
    ));
    let mut found = None;
    while let Some(page) = url.take() {
        let response = client.send("GET", &page, None)?;
        if response.status == 403 {
            return Ok(Outcome::ReadOnly { message: api_message(&response.body) });
        }
        client.expect_ok("GET", &page, &response)?;
        let comments: Vec<Comment> =
            serde_json::from_str(&response.body).map_err(|error| GithubError::Unexpected {
                url: page.clone(),
                message: format!("not a list of comments: {error}"),
            })?;
        found = comments.into_iter().find(|comment| {
            comment.body.as_deref().is_some_and(|b| b.contains(marker))
                && comment.user.as_ref().is_some_and(|u| u.login.eq_ignore_ascii_case(&author))
        });
        if found.is_some() {
            break;
        }
        url = response.next;
    }
    let payload = serde_json::json!({ "body": body }).to_string();
    let (method, url) = match &found {
        Some(comment) => {
            ("PATCH", format!("{api_url}/repos/{repository}/issues/comments/{}", comment.id))
        }
        None => (
            "POST",
            format!("{api_url}/repos/{repository}/issues/{}/comments", target.pull_request),
        ),
    };
    let response = client.send(method, &url, Some(&payload))?;
    if response.status == 403 {
        // A read-only token: GitHub answers 403 ("Resource not accessible by integration").
        return Ok(Outcome::ReadOnly { message: api_message(&response.body) });
    }
    client.expect_ok(method, &url, &response)?;
    let comment: Comment = serde_json::from_str(&response.body).map_err(|error| {
        GithubError::Unexpected { url: url.clone(), message: format!("not a comment: {error}") }
    })?;
    let html_url = comment.html_url.unwrap_or_default();
    Ok(match found {
        Some(_) => Outcome::Updated { id: comment.id, url: html_url },
        None => Outcome::Created { id: comment.id, url: html_url },
    })
}

/// The `message` of a GitHub error body, or the start of the body.
fn api_message(body: &str) -> String {
    match serde_json::from_str::<ApiMessage>(body) {
        Ok(ApiMessage { message: Some(message) }) => message,
        _ => body.chars().take(200).collect(),
    }
}

impl Client {
    /// The login of the token's user; `None` when the token has no user (GitHub answers 403 to
    /// installation tokens such as the `GITHUB_TOKEN` of Actions).
    fn token_login(&self) -> Result<Option<String>, GithubError> {
        let url = format!("{}/user", self.api_url);
        let response = self.send("GET", &url, None)?;
        match response.status {
            200..=299 => serde_json::from_str::<User>(&response.body)
                .map(|user| Some(user.login))
                .map_err(|error| GithubError::Unexpected { url, message: error.to_string() }),
            403 | 404 => Ok(None),
            _ => self.expect_ok("GET", &url, &response).map(|()| None),
        }
    }

    fn expect_ok(
        &self,
        method: &'static str,
        url: &str,
        response: &Response,
    ) -> Result<(), GithubError> {
        match response.status {
            200..=299 => Ok(()),
            401 => Err(GithubError::Unauthorized { method, url: url.to_string() }),
            status => Err(GithubError::Status {
                method,
                url: url.to_string(),
                status,
                message: api_message(&response.body),
            }),
        }
    }

    /// One request, retried on 5xx, on 429 and on 403 responses that are secondary rate limits.
    fn send(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&str>,
    ) -> Result<Response, GithubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = match method {
                "GET" => self.http.get(url),
                "POST" => self.http.post(url),
                "PATCH" => self.http.patch(url),
                _ => unreachable!("only GET, POST and PATCH are sent"),
            };
            request = request
                .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let last = attempt >= self.retry.attempts;
            let response = match request.send() {
                Ok(response) => response,
                Err(error) if !last && (error.is_connect() || error.is_timeout()) => {
                    std::thread::sleep(self.backoff(attempt, None));
                    continue;
                }
                Err(error) => {
                    return Err(GithubError::Transport {
                        method,
                        url: url.to_string(),
                        // reqwest's message names the URL, which holds no credentials.
                        message: error.without_url().to_string(),
                    });
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let header =
                |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            let exhausted = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
            let reset_in = header("x-ratelimit-reset")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|reset| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    reset.saturating_sub(now)
                });
            let next = header("link").and_then(|link| next_link(&link, &self.api_url));
            let text = response.text().map_err(|error| GithubError::Transport {
                method,
                url: url.to_string(),
                message: error.without_url().to_string(),
            })?;
            let rate_limited = status == 429
                || (status == 403
                    && (retry_after.is_some()
                        || exhausted
                        || text.to_ascii_lowercase().contains("rate limit")));
            if !last && (status >= 500 || rate_limited) {
                let hint = retry_after.or(if exhausted { reset_in } else { None });
                std::thread::sleep(self.backoff(attempt, hint));
                continue;
            }
            return Ok(Response { status, body: text, next });
        }
    }

    /// The wait before retry `attempt` + 1: what the server asked for, else exponential.
    fn backoff(&self, attempt: u32, asked_seconds: Option<u64>) -> Duration {
        let wait = match asked_seconds {
            Some(seconds) => Duration::from_secs(seconds),
            None => self.retry.base_delay.saturating_mul(1 << (attempt - 1).min(16)),
        };
        wait.min(self.retry.max_delay)
    }
}

/// The `rel="next"` URL of a `Link` header, if it is on the API's origin.
fn next_link(link: &str, api_url: &str) -> Option<String> {
    for part in link.split(',') {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
        if pieces.any(|p| p.trim().replace(' ', "") == "rel=\"next\"") {
            return origin(url)
                .filter(|o| *o == origin(api_url).unwrap_or_default())
                .map(|_| url.to_string());
        }
    }
    None
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

/// The pull request number of a GitHub Actions event payload (`GITHUB_EVENT_PATH`).
pub fn pull_request_number(event: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(event).ok()?;
    value
        .get("pull_request")
        .and_then(|pr| pr.get("number"))
        .or_else(|| value.get("number"))
        .and_then(serde_json::Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_stay_on_the_api_origin() {
        let link = r#"<https://api.github.com/repositories/1/issues/2/comments?page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?page=5>; rel="last""#;
        assert_eq!(
            next_link(link, "https://api.github.com").as_deref(),
            Some("https://api.github.com/repositories/1/issues/2/comments?page=2")
        );
        assert_eq!(next_link(link, "https://ghe.example/api/v3"), None);
        assert_eq!(
            next_link(r#"<https://api.github.com/x>; rel="prev""#, "https://api.github.com"),
            None
        );
    }

    #[test]
    fn event_payloads_name_the_pull_request() {
        assert_eq!(pull_request_number(r#"{"pull_request": {"number": 17}}"#), Some(17));
        assert_eq!(pull_request_number(r#"{"number": 4, "action": "opened"}"#), Some(4));
        assert_eq!(pull_request_number(r#"{"push": {}}"#), None);
        assert_eq!(format!("{:?}", Token::new("ghp_secret")), "Token(***)");
    }
}
