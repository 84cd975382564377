//! What every provider shares: the blocking HTTP client (rustls, `crate::tls`), the model's
//! limits (requests in flight, requests started per minute), the retry loop (429, 5xx and
//! connection errors, exponential backoff or `Retry-After`), error messages read from the
//! providers' bodies (truncated, scrubbed of the key) and server-sent events.

use super::{CallError, Model};
use crate::config::ModelConfig;
use reqwest::header::{HeaderName, HeaderValue};
use std::io::{BufRead, BufReader, Read};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Requests in flight by default.
const DEFAULT_CONCURRENCY: u32 = 4;
/// Retries after a 429 or a 5xx by default.
const DEFAULT_RETRIES: u32 = 4;
/// Seconds one request may take by default.
const DEFAULT_TIMEOUT: u64 = 120;
/// The first backoff; it doubles with each retry up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured: a server asking for more is waited this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Characters of a server's error message kept in an error.
const MESSAGE_CHARS: usize = 300;
/// The most of one successful answer read (a JSON document, or a whole stream of events): far
/// above any chat answer or batch of embeddings, and a bound on what a server that never stops
/// sending (a wrong `base_url`, a broken proxy) can make promptctl hold.
pub(super) const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

fn too_large() -> Failure {
    Failure::Malformed(format!(
        "the answer is larger than {} MiB, more than any model answer; is `base_url` the model's API?",
        MAX_ANSWER_BYTES >> 20
    ))
}

/// A model's client and limits, shared by every thread that calls it.
pub(super) struct Http {
    client: reqwest::blocking::Client,
    max_retries: u32,
    timeout: Duration,
    limits: Limits,
}

impl Http {
    pub(super) fn new(config: &ModelConfig) -> Result<Http, String> {
        let timeout = Duration::from_secs(config.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT).max(1));
        crate::tls::install_provider();
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("promptctl/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            // A key header must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Http {
            client,
            max_retries: config.max_retries.unwrap_or(DEFAULT_RETRIES),
            timeout,
            limits: Limits::new(
                config.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY),
                config.requests_per_minute,
            ),
        })
    }
}

/// How one attempt's successful (2xx) answer failed to be read.
#[derive(Debug)]
pub(super) enum Failure {
    /// Not the provider's format.
    Malformed(String),
    /// An error the provider reported inside the answer (an `error` event of a stream); retried
    /// like an HTTP status when `status` is 429 or 5xx.
    Status { status: u16, message: String },
    /// The connection broke while the body was read.
    Transport(String),
}

/// A header sent with a request; `secret` marks the key's (reqwest then hides it in its Debug).
pub(super) struct Header {
    pub name: &'static str,
    pub value: String,
    pub secret: bool,
}

impl Header {
    pub(super) fn plain(name: &'static str, value: impl Into<String>) -> Header {
        Header { name, value: value.into(), secret: false }
    }
}

/// A chat call: POSTs `body` to `url`, reads the answer as a stream of server-sent events with
/// `stream` when the model streams, else as one JSON document with `parse`, and records the
/// successful attempt's latency. The frame every provider's `complete` shares.
pub(super) fn chat(
    model: &Model,
    url: &str,
    headers: &[Header],
    body: &serde_json::Value,
    stream: impl Fn(reqwest::blocking::Response) -> Result<super::Completion, Failure>,
    parse: impl Fn(&serde_json::Value) -> Result<super::Completion, Failure>,
) -> Result<super::Completion, CallError> {
    let streaming = model.config.stream;
    let (mut completion, latency) = post(model, url, headers, body, |response| {
        if streaming {
            stream(response)
        } else {
            parse(&read_json(response)?)
        }
    })?;
    completion.latency_ms = latency;
    // A server may echo the key in an answer too: it must reach no cache, file or output.
    completion.text = model.scrub(&completion.text);
    completion.finish_reason =
        completion.finish_reason.map(|reason| crate::text::escape_controls(&model.scrub(&reason)));
    Ok(completion)
}

/// POSTs `body` (JSON) to `url` as `model`, waiting for the model's limits, retrying 429, 5xx and
/// connection errors; `read` turns a 2xx answer into the result. Returns it with the wall time,
/// in milliseconds, of the attempt that succeeded.
pub(super) fn post<T>(
    model: &Model,
    url: &str,
    headers: &[Header],
    body: &serde_json::Value,
    read: impl Fn(reqwest::blocking::Response) -> Result<T, Failure>,
) -> Result<(T, u64), CallError> {
    let http = &model.http;
    let bytes = serde_json::to_vec(body).expect("a request body serialises");
    let mut header_map = reqwest::header::HeaderMap::new();
    for header in headers {
        let mut value = HeaderValue::from_str(&header.value).map_err(|_| CallError::Transport {
            model: model.name.clone(),
            message: format!("the `{}` header holds characters a header cannot carry", header.name),
        })?;
        value.set_sensitive(header.secret);
        header_map.insert(HeaderName::from_static(header.name), value);
    }
    header_map.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let shown = shown_url(url);
    let status_error = |status: u16, message: &str| CallError::Status {
        model: model.name.clone(),
        provider: model.config.provider.name(),
        status,
        message: model.shown(message),
    };
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let last = attempt > http.max_retries;
        let permit = http.limits.acquire();
        let started = Instant::now();
        let sent = http.client.post(url).headers(header_map.clone()).body(bytes.clone()).send();
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                drop(permit);
                let retryable = error.is_connect() || (error.is_request() && !error.is_timeout());
                if retryable && !last {
                    std::thread::sleep(backoff(attempt));
                    continue;
                }
                return Err(CallError::Transport {
                    model: model.name.clone(),
                    message: crate::text::escape_controls(&model.scrub(&transport_message(
                        &error,
                        &shown,
                        http.timeout,
                    ))),
                });
            }
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let outcome = read(response);
            let latency = started.elapsed().as_millis() as u64;
            drop(permit);
            match outcome {
                Ok(value) => return Ok((value, latency)),
                Err(Failure::Malformed(message)) => return Err(model.malformed(message)),
                Err(Failure::Transport(message)) => {
                    // The client's timeout covers the body too: a stream cut off by it fails
                    // reading, and says so as a request that timed out before its answer does.
                    let message = if latency >= http.timeout.as_millis() as u64 {
                        timeout_message(&shown, http.timeout)
                    } else {
                        format!("POST {shown}: {message}")
                    };
                    return Err(CallError::Transport {
                        model: model.name.clone(),
                        message: crate::text::escape_controls(&model.scrub(&message)),
                    });
                }
                Err(Failure::Status { status, message }) => {
                    if retryable_status(status) && !last {
                        std::thread::sleep(backoff(attempt));
                        continue;
                    }
                    if status == 429 {
                        return Err(CallError::RateLimited {
                            model: model.name.clone(),
                            attempts: attempt,
                        });
                    }
                    return Err(status_error(status, &message));
                }
            }
        }
        let wait = retry_after_header(response.headers(), SystemTime::now());
        let text = read_capped(response, 64 * 1024);
        drop(permit);
        if retryable_status(status) {
            if !last {
                std::thread::sleep(
                    wait.map_or_else(|| backoff(attempt), |w| w.min(MAX_RETRY_AFTER)),
                );
                continue;
            }
            if status == 429 {
                return Err(CallError::RateLimited {
                    model: model.name.clone(),
                    attempts: attempt,
                });
            }
        }
        return Err(status_error(status, &error_message(&text)));
    }
}

fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// The wait before retry `attempt` (1-based) without a `Retry-After`: 0.5 s, 1 s, 2 s, … ≤ 30 s.
pub(super) fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// The wait a 429 or 503 answer asks for: `retry-after-ms` (OpenAI's), else `Retry-After`.
fn retry_after_header(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64((ms / 1000.0).min(MAX_RETRY_AFTER.as_secs_f64())));
        }
    }
    text("retry-after").and_then(|value| parse_retry_after(value, now))
}

/// A `Retry-After` value: delta-seconds (`120`, also `1.5`) or an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), as the wait from `now` (zero for a date passed).
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX / 4)));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the weekday optional) as seconds since the
/// epoch.
pub(super) fn parse_http_date(value: &str) -> Option<i64> {
    let value = value.trim();
    let value = match value.split_once(',') {
        Some((_weekday, rest)) => rest.trim(),
        None => value,
    };
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [day, month, year, time, zone] = parts.as_slice() else { return None };
    if !matches!(*zone, "GMT" | "UTC" | "Z" | "+0000") {
        return None;
    }
    const MONTHS: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut clock = time.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some()
        || !(1..=31).contains(&day)
        || !(1970..=9999).contains(&year)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = crate::time::days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The message of a provider's error body: `error.message` (OpenAI, Anthropic, Gemini), else
/// `message`, `error` or `detail` as text, else the body itself; whole (`Model::shown` scrubs the
/// key out before it cuts the message, so that no cut leaves part of a key).
pub(super) fn error_message(body: &str) -> String {
    let found = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|value| {
        let value = match value {
            serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            other => other,
        };
        let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        text(value.pointer("/error/message"))
            .or_else(|| text(value.get("message")))
            .or_else(|| text(value.get("error")))
            .or_else(|| text(value.get("detail")))
    });
    let message = found.unwrap_or_else(|| body.trim().to_string());
    if message.is_empty() {
        return "(no message)".into();
    }
    message
}

/// `text` cut to `MESSAGE_CHARS` characters, with `…` when cut.
pub(super) fn truncate(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Up to `limit` bytes of an error answer's body, as text.
fn read_capped(response: reqwest::blocking::Response, limit: u64) -> String {
    let mut bytes = Vec::new();
    let _ = response.take(limit).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A successful answer's body as JSON.
pub(super) fn read_json(
    response: reqwest::blocking::Response,
) -> Result<serde_json::Value, Failure> {
    let mut bytes = Vec::new();
    response
        .take(MAX_ANSWER_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| Failure::Transport(error.to_string()))?;
    if bytes.len() as u64 > MAX_ANSWER_BYTES {
        return Err(too_large());
    }
    serde_json::from_slice(&bytes)
        .map_err(|error| Failure::Malformed(format!("not JSON ({error})")))
}

/// `url` without its query or user information, to name it in a message.
pub(super) fn shown_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

fn transport_message(error: &reqwest::Error, url: &str, timeout: Duration) -> String {
    if error.is_timeout() {
        return timeout_message(url, timeout);
    }
    format!("POST {url}: {}", chain(error))
}

fn timeout_message(url: &str, timeout: Duration) -> String {
    format!("POST {url}: no answer within {} s (`timeout_seconds`)", timeout.as_secs())
}

/// An error and its sources, without the URL reqwest puts in its message.
fn chain(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut current = std::error::Error::source(error);
    text.push_str(&strip_url(&error.to_string()));
    while let Some(source) = current {
        let next = source.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        current = source.source();
    }
    text
}

/// reqwest's message without ` for url (…)`.
fn strip_url(message: &str) -> String {
    match message.find(" for url (") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// A model's limits: at most `max` requests in flight (a counting semaphore) and, with a
/// requests-per-minute limit, starts at least `60 / rpm` seconds apart.
struct Limits {
    max: usize,
    in_flight: Mutex<usize>,
    freed: Condvar,
    spacing: Option<Duration>,
    next_start: Mutex<Option<Instant>>,
}

/// One request's place among the in-flight ones; freed when dropped.
struct Permit<'a>(&'a Limits);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.0.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *in_flight -= 1;
        drop(in_flight);
        self.0.freed.notify_one();
    }
}

impl Limits {
    fn new(max_concurrency: u32, requests_per_minute: Option<u32>) -> Limits {
        Limits {
            max: max_concurrency.max(1) as usize,
            in_flight: Mutex::new(0),
            freed: Condvar::new(),
            spacing: requests_per_minute
                .filter(|rpm| *rpm > 0)
                .map(|rpm| Duration::from_secs_f64(60.0 / f64::from(rpm))),
            next_start: Mutex::new(None),
        }
    }

    /// Waits for a free place, then for the request's turn under the per-minute limit.
    fn acquire(&self) -> Permit<'_> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        while *in_flight >= self.max {
            in_flight = self.freed.wait(in_flight).unwrap_or_else(|e| e.into_inner());
        }
        *in_flight += 1;
        drop(in_flight);
        let permit = Permit(self);
        if let Some(spacing) = self.spacing {
            let wait = {
                let mut next = self.next_start.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let at = next.map_or(now, |next| next.max(now));
                *next = Some(at + spacing);
                at - now
            };
            std::thread::sleep(wait);
        }
        permit
    }
}

/// One server-sent event: its `event` name (if any) and its `data` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Whether to read on after an event.
pub(super) enum Flow {
    Continue,
    Stop,
}

/// Server-sent events, line by line: a blank line ends an event; `:` lines are comments.
#[derive(Default)]
pub(super) struct Sse {
    event: Option<String>,
    data: Option<String>,
}

impl Sse {
    /// Takes one line (without its line ending); returns the event it completes.
    pub(super) fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.finish();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }

    /// The event pending at the end of the stream, if any.
    pub(super) fn finish(&mut self) -> Option<Event> {
        let event = self.event.take();
        self.data.take().map(|data| Event { event, data })
    }
}

/// Reads `body` as server-sent events, handing each to `each` until it says stop or the body
/// ends.
pub(super) fn events(
    body: impl Read,
    mut each: impl FnMut(Event) -> Result<Flow, Failure>,
) -> Result<(), Failure> {
    let mut reader = BufReader::new(body.take(MAX_ANSWER_BYTES + 1));
    let mut sse = Sse::default();
    let mut line = String::new();
    let mut total: u64 = 0;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|error| match error.kind() {
            std::io::ErrorKind::InvalidData => {
                Failure::Malformed("the stream is not UTF-8 text".into())
            }
            _ => Failure::Transport(error.to_string()),
        })?;
        total += read as u64;
        if total > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        let event =
            if read == 0 { sse.finish() } else { sse.line(line.trim_end_matches(['\n', '\r'])) };
        if let Some(event) = event {
            if let Flow::Stop = each(event)? {
                return Ok(());
            }
        }
        if read == 0 {
            return Ok(());
        }
    }
}

/// A JSON event's data, or `Malformed`.
pub(super) fn event_json(event: &Event) -> Result<serde_json::Value, Failure> {
    serde_json::from_str(&event.data)
        .map_err(|error| Failure::Malformed(format!("an event's data is not JSON ({error})")))
}

/// A number of tokens at `pointer` in `value` (0 when absent).
pub(super) fn tokens(value: &serde_json::Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("0.5", now), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49 GMT"), None);
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_thirty() {
        let waits: Vec<u128> = (1..=8).map(|attempt| backoff(attempt).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff(100), MAX_BACKOFF);
    }

    #[test]
    fn server_sent_events_are_read_line_by_line() {
        let mut sse = Sse::default();
        assert_eq!(sse.line(": a comment"), None);
        assert_eq!(sse.line("event: message_start"), None);
        assert_eq!(sse.line("data: {\"a\":1}"), None);
        assert_eq!(
            sse.line(""),
            Some(Event { event: Some("message_start".into()), data: "{\"a\":1}".into() })
        );
        assert_eq!(sse.line(""), None, "a blank line alone is no event");
        assert_eq!(sse.line("data:one"), None);
        assert_eq!(sse.line("data: two"), None);
        assert_eq!(sse.line(""), Some(Event { event: None, data: "one\ntwo".into() }));
        assert_eq!(sse.line("data: [DONE]"), None);
        assert_eq!(sse.finish(), Some(Event { event: None, data: "[DONE]".into() }));
    }

    #[test]
    fn events_are_read_from_a_body_with_crlf_endings() {
        let body = "data: 1\r\n\r\nevent: x\r\ndata: 2\r\n\r\ndata: 3";
        let mut seen = Vec::new();
        events(body.as_bytes(), |event| {
            seen.push((event.event, event.data));
            Ok(Flow::Continue)
        })
        .unwrap();
        let expected = [(None, "1"), (Some("x".to_string()), "2"), (None, "3")];
        assert_eq!(seen, expected.map(|(e, d)| (e, d.to_string())));
    }

    #[test]
    fn error_messages_come_from_the_body_truncated() {
        assert_eq!(error_message(r#"{"error":{"message":"bad model","type":"x"}}"#), "bad model");
        assert_eq!(error_message(r#"[{"error":{"code":400,"message":"nope"}}]"#), "nope");
        assert_eq!(error_message(r#"{"detail":"not found"}"#), "not found");
        assert_eq!(error_message("plain text"), "plain text");
        assert_eq!(error_message(""), "(no message)");
        let long = "x".repeat(1000);
        assert_eq!(truncate(&error_message(&long)).chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn urls_are_shown_without_query_or_user() {
        assert_eq!(shown_url("https://u:p@host:1/a/b?key=1"), "https://host:1/a/b");
        assert_eq!(shown_url("http://h/x:y?alt=sse"), "http://h/x:y");
    }

    #[test]
    fn requests_per_minute_space_the_starts() {
        let limits = Limits::new(4, Some(1200)); // 50 ms apart
        let started = Instant::now();
        for _ in 0..3 {
            drop(limits.acquire());
        }
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
