//! What `serve` computes once per served version instead of once per request: the body and the
//! entity tag of `GET /v1/prompts/{name}` and the parsed variable contract a render is checked
//! against (both depend only on the served `Prompt` and the repository's catalog, which never
//! change for a given `Arc<Prompt>`), and the handles of the request counter by route and status.

use super::*;
use hyper::header::HeaderValue;
use std::sync::RwLock;

/// Answers kept per prompt name: the active version and a canary's, with room for a change of
/// either (older ones are dropped first).
const KEPT_PER_NAME: usize = 4;

/// The answers of one served version.
pub(super) struct Answer {
    /// The version they were computed for (compared by pointer: a new activation is a new `Arc`).
    prompt: Arc<Prompt>,
    /// The JSON body of `GET /v1/prompts/{name}` (with its newline).
    pub(super) body: Bytes,
    /// `"sha256"`, the ETag.
    pub(super) etag: String,
    pub(super) etag_header: Option<HeaderValue>,
    /// The variable contract renders are checked against; none when it cannot be read.
    pub(super) variables: Option<Arc<[crate::syntax::prompt::Variable]>>,
}

/// The answers of every served version seen, by prompt name.
#[derive(Default)]
pub(super) struct Answers {
    by_name: RwLock<HashMap<String, Vec<Arc<Answer>>>>,
}

impl Answers {
    /// The answers of `prompt`, computed with `build` the first time this version is seen.
    pub(super) fn get(&self, prompt: &Arc<Prompt>, build: impl FnOnce() -> Answer) -> Arc<Answer> {
        let find = |map: &HashMap<String, Vec<Arc<Answer>>>| {
            map.get(&prompt.name)?
                .iter()
                .find(|answer| Arc::ptr_eq(&answer.prompt, prompt))
                .cloned()
        };
        // A poisoned lock only means a panic elsewhere while holding it; the map stays usable.
        if let Some(found) = find(&self.by_name.read().unwrap_or_else(|e| e.into_inner())) {
            return found;
        }
        let answer = Arc::new(build());
        let mut map = self.by_name.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = find(&map) {
            return found;
        }
        let kept = map.entry(prompt.name.clone()).or_default();
        if kept.len() >= KEPT_PER_NAME {
            kept.remove(0);
        }
        kept.push(answer.clone());
        answer
    }
}

impl Answer {
    pub(super) fn new(
        prompt: Arc<Prompt>,
        body: Bytes,
        variables: Option<Vec<crate::syntax::prompt::Variable>>,
    ) -> Answer {
        let etag = format!("\"{}\"", prompt.sha256);
        Answer {
            prompt,
            body,
            etag_header: HeaderValue::from_str(&etag).ok(),
            etag,
            variables: variables.map(Arc::from),
        }
    }
}

/// The handles of `metric::REQUESTS`, by route (an index into `ROUTES`, or `ROUTES.len()` for
/// `unmatched`) and status, registered the first time each pair is counted.
pub(super) struct Counters {
    by_route: Vec<RwLock<Vec<(u16, metrics::Counter)>>>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters { by_route: (0..=ROUTES.len()).map(|_| RwLock::default()).collect() }
    }
}

impl Counters {
    /// Counts one answer with `status` on the route at `index` (`ROUTES.len()`: unmatched).
    pub(super) fn count(&self, index: usize, status: StatusCode) {
        let Some(slot) = self.by_route.get(index) else { return };
        let status = status.as_u16();
        let find = |list: &[(u16, metrics::Counter)]| {
            list.iter().find(|(code, _)| *code == status).map(|(_, counter)| counter.increment(1))
        };
        if find(&slot.read().unwrap_or_else(|e| e.into_inner())).is_some() {
            return;
        }
        let mut list = slot.write().unwrap_or_else(|e| e.into_inner());
        if find(&list).is_none() {
            let route = ROUTES.get(index).map_or("unmatched", |route| route.path);
            let counter = metrics::counter!(
                metric::REQUESTS,
                "route" => route,
                "status" => status.to_string()
            );
            counter.increment(1);
            list.push((status, counter));
        }
    }
}
