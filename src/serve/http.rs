//! The HTTP plumbing of `serve`: the response body (whole, or the event stream of `/v1/watch`),
//! JSON and problem responses, and a two-way `select` (tokio's macro is not compiled in).

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::{header, Response, StatusCode};
use serde::Serialize;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A response body: bytes known at once, or a stream of server-sent events that ends when its
/// sender is dropped.
pub enum Body {
    Full(Option<Bytes>),
    Events(mpsc::Receiver<Bytes>),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Body::Events(receiver) => {
                receiver.poll_recv(cx).map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Events(_) => SizeHint::default(),
        }
    }
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    json_bytes(status, json_body(value))
}

/// `value` as the body of a JSON response (with a final newline).
pub fn json_body(value: &impl Serialize) -> Bytes {
    json_body_sized(value, 128)
}

/// `json_body` into a buffer of `capacity` bytes to start with (a render's text is known to be
/// large: growing from empty would copy it several times).
pub fn json_body_sized(value: &impl Serialize, capacity: usize) -> Bytes {
    let mut bytes = Vec::with_capacity(capacity);
    if serde_json::to_writer(&mut bytes, value).is_err() {
        bytes.clear();
        bytes.extend_from_slice(b"{}");
    }
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// A JSON response of `body`, already serialised.
pub fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::Full(Some(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON);
    response
}

const APPLICATION_JSON: header::HeaderValue = header::HeaderValue::from_static("application/json");

/// One problem with a request's vars: a stable code, where (`key`, `key.field`, `key[2]`), and
/// what is wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub code: String,
    pub path: String,
    pub message: String,
}

/// Every error response: `{"code", "message", "problems"?}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<Problem>>,
}

/// An error response without problems.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Body> {
    json(status, &ErrorBody { code, message: message.into(), problems: None })
}

/// Which of two futures finished first.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Waits for the first of `a` and `b` (`a` is polled first); the other is dropped.
pub async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(value));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// The value of `If-None-Match` matches the entity tag `etag` (weak comparison, `*`, lists).
pub fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// How deep a JSON value nests (a scalar is 0, `{}` and `[]` are 1).
pub fn depth(value: &serde_json::Value) -> usize {
    // Iterative: the depth of untrusted input is what is being measured.
    if !(value.is_array() || value.is_object()) {
        return 0;
    }
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        match value {
            serde_json::Value::Array(items) => {
                deepest = deepest.max(level + 1);
                stack.extend(items.iter().map(|item| (item, level + 1)));
            }
            serde_json::Value::Object(map) => {
                deepest = deepest.max(level + 1);
                stack.extend(map.values().map(|item| (item, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_depth() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\", \"x\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
    }
}
