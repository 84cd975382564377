//! `serve --ui` (docs/serve.md, "The operations page"): server-rendered HTML for the 3 a.m. case.
//! `/ui` lists the served prompts with their active version, sha256 prefix and the tier each came
//! from, beside the tiers' health; `/ui/prompts/{name}` previews a version rendered with one of the
//! prompt's `[[test]]`s (a plain GET form) and, when the server has an admin token, holds the
//! history and the rollback form. Those two run in `/ui/app.js`, a small same-origin script that
//! keeps the token the operator enters in `sessionStorage` and calls the admin JSON endpoints with
//! `Authorization: Bearer` (the token never reaches a page or a log). Everything shown is escaped
//! (`escape`; prompt text is untrusted), and every answer carries a strict Content-Security-Policy.

use super::*;

/// The page's script: no framework, no third-party asset.
const SCRIPT: &str = include_str!("ui/app.js");
/// The page's style sheet (inline styles are refused by the CSP).
const STYLE: &str = include_str!("ui/style.css");

/// The Content-Security-Policy of every answer of the operations page: only same-origin script,
/// style, images, requests and form targets; no framing, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// How many hex digits of a sha256 the pages show.
const SHA_PREFIX: usize = 12;

/// `text` safe inside HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `text` as one percent-encoded URL path segment or query value (unreserved bytes kept).
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A percent-decoded URL component (`+` is a space in a query); bad escapes are kept as typed.
fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let hex = || std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok();
        match byte {
            b'%' => match hex().and_then(|digits| u8::from_str_radix(digits, 16).ok()) {
                Some(value) => {
                    decoded.push(value);
                    index += 3;
                    continue;
                }
                None => decoded.push(byte),
            },
            b'+' if plus_is_space => decoded.push(b' '),
            _ => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The value of `key` in a query string.
pub(super) fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name, true) == key).then(|| decode(value, true))
    })
}

/// An answer of the operations page, with its security headers.
fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(Body::Full(Some(body.into())))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The script or the style sheet.
pub(super) fn asset(endpoint: Endpoint) -> Response<Body> {
    match endpoint {
        Endpoint::UiScript => respond(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT),
        _ => respond(StatusCode::OK, "text/css; charset=utf-8", STYLE),
    }
}

/// A whole page; `title` and `body` are already escaped HTML.
fn page(status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · promptctl serve</title>\n\
         <link rel=\"stylesheet\" href=\"/ui/style.css\">\n</head>\n<body>\n\
         <header><a href=\"/ui\">promptctl serve</a> · operations</header>\n<main>\n{body}</main>\n\
         <script src=\"/ui/app.js\"></script>\n</body>\n</html>\n"
    );
    respond(status, "text/html; charset=utf-8", html)
}

/// The 404 page (the name is untrusted, and shown escaped).
fn not_found(message: &str) -> Response<Body> {
    let body = format!(
        "<h1>Not found</h1>\n<p class=\"error\" id=\"not-found\">{}</p>\n\
         <p><a href=\"/ui\">All prompts</a></p>\n",
        escape(message)
    );
    page(StatusCode::NOT_FOUND, "Not found", &body)
}

/// The code, message and problems of one of the JSON error responses, as one line.
fn error_text(response: Response<Body>) -> String {
    let status = response.status();
    let Body::Full(Some(bytes)) = response.into_body() else {
        return format!("HTTP {status}");
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return format!("HTTP {status}");
    };
    let mut text = value["message"].as_str().unwrap_or("failed").to_string();
    for problem in value["problems"].as_array().into_iter().flatten() {
        let path = problem["path"].as_str().unwrap_or_default();
        let message = problem["message"].as_str().unwrap_or_default();
        text.push_str(&format!("; {path}: {message}"));
    }
    text
}

/// A JSON value's text (a string without its quotes).
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn sha_prefix(sha256: &str) -> &str {
    sha256.get(..SHA_PREFIX).unwrap_or(sha256)
}

impl Server {
    /// The repository's version numbers of `name`, sorted.
    fn version_numbers(&self, name: &str) -> Vec<u32> {
        let mut numbers: Vec<u32> = self
            .known
            .get(name)
            .map(|versions| versions.keys().copied().collect())
            .unwrap_or_default();
        numbers.sort_unstable();
        numbers
    }

    /// `/ui`: the tiers' health and every served prompt.
    pub(super) fn ui_index(&self) -> Response<Body> {
        let health = self.store.health();
        let health_json = serde_json::to_value(&health).unwrap_or(Value::Null);
        let mut body = format!(
            "<h1>Prompts of <code>{}</code></h1>\n<p id=\"health\">Health: <strong>{}</strong>, \
             source <code>{}</code>, subscribed to notices: {}, snapshot {:.1} s old.</p>\n",
            escape(&health.environment),
            escape(&shown(&health_json["status"])),
            escape(&shown(&health_json["source"])),
            if health.subscribed { "yes" } else { "no" },
            health.snapshot_age_seconds,
        );
        body.push_str(
            "<table id=\"tiers\">\n<thead><tr><th>Tier</th><th>Status</th><th>Prompts served \
             from it</th><th>Last answered</th><th>Last error</th></tr></thead>\n<tbody>\n",
        );
        for (label, key) in [("Redis", "redis"), ("Database", "db"), ("Embedded", "embedded")] {
            let tier = &health_json["tiers"][key];
            let status = shown(&tier["status"]);
            let answered = tier["last_ok_seconds_ago"]
                .as_f64()
                .map(|seconds| format!("{seconds:.1} s ago"))
                .unwrap_or_else(|| "never".to_string());
            body.push_str(&format!(
                "<tr data-tier=\"{key}\"><td>{label}</td><td class=\"status-{}\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&status),
                escape(&status),
                escape(&shown(&tier["prompts"])),
                escape(&answered),
                escape(&shown(&tier["last_error"])),
            ));
        }
        body.push_str(
            "</tbody>\n</table>\n<table id=\"prompts\">\n<thead><tr><th>Prompt</th><th>Active</th>\
             <th>sha256</th><th>Served from</th><th>Activated</th><th>Versions</th></tr></thead>\n\
             <tbody>\n",
        );
        let mut names = self.store.names();
        names.sort();
        for name in names {
            let Some(prompt) = self.store.get(&name) else { continue };
            let versions: Vec<String> =
                self.version_numbers(&name).iter().map(|number| format!("v{number}")).collect();
            body.push_str(&format!(
                "<tr data-name=\"{}\"><td><a href=\"/ui/prompts/{}\">{}</a></td>\
                 <td class=\"active\">v{}</td><td><code>{}</code></td><td class=\"tier\">{}</td>\
                 <td>{}</td><td class=\"versions\">{}</td></tr>\n",
                escape(&name),
                escape(&encode(&name)),
                escape(&name),
                prompt.version,
                escape(sha_prefix(&prompt.sha256)),
                escape(prompt.tier.as_str()),
                escape(prompt.activated_at.as_deref().unwrap_or("")),
                escape(&versions.join(", ")),
            ));
        }
        body.push_str("</tbody>\n</table>\n");
        page(StatusCode::OK, "Prompts", &body)
    }

    /// `/ui/prompts/{name}?version=N&test=T`: the active version, a preview of version N (the
    /// active one by default) rendered with test T's vars (the first test written for N by
    /// default), the template, and the admin section.
    pub(super) async fn ui_prompt(
        self: Arc<Self>,
        raw_name: &str,
        query: Option<&str>,
    ) -> Response<Body> {
        let name = decode(raw_name, false);
        let active = self.store.get(&name);
        let numbers = self.version_numbers(&name);
        if active.is_none() && numbers.is_empty() {
            return not_found(&format!("no prompt `{name}` is served or in the repository"));
        }
        let tests =
            self.ui.as_ref().and_then(|tests| tests.get(&name)).cloned().unwrap_or_default();
        let mut problems = Vec::new();
        let version = match query_value(query, "version").filter(|v| !v.is_empty()) {
            Some(asked) => match asked.trim_start_matches('v').parse::<i64>() {
                Ok(number) => Some(number),
                Err(_) => {
                    problems.push(format!("`{asked}` is not a version number"));
                    None
                }
            },
            None => active
                .as_ref()
                .map(|prompt| prompt.version)
                .or_else(|| numbers.last().map(|number| i64::from(*number))),
        };
        let fits = |test: &UiTest| version.is_some_and(|v| test.version.is_none_or(|t| t == v));
        let test = match query_value(query, "test").filter(|t| !t.is_empty()) {
            Some(asked) => match tests.iter().find(|test| test.name == asked) {
                Some(test) if fits(test) => Some(test),
                Some(test) => {
                    problems.push(format!(
                        "test `{asked}` is written for v{}, not v{}; pick another test or version",
                        test.version.unwrap_or_default(),
                        version.unwrap_or_default()
                    ));
                    None
                }
                None => {
                    problems.push(format!("`{name}` has no test `{asked}`"));
                    None
                }
            },
            None => tests.iter().find(|test| fits(test)),
        };
        if test.is_none() && problems.is_empty() {
            problems.push(match version {
                Some(v) => format!("no [[test]] of `{name}` is written for v{v}: pick one"),
                None => "pick a version".to_string(),
            });
        }

        let mut body = format!("<h1 id=\"name\">{}</h1>\n", escape(&name));
        match &active {
            Some(prompt) => body.push_str(&format!(
                "<p>Active: <strong id=\"active-version\">v{}</strong>, sha256 \
                 <code id=\"active-sha\">{}</code>, served from <span id=\"active-tier\">{}</span>\
                 {}.</p>\n",
                prompt.version,
                escape(sha_prefix(&prompt.sha256)),
                escape(prompt.tier.as_str()),
                prompt
                    .activated_at
                    .as_deref()
                    .map(|at| format!(", activated {}", escape(at)))
                    .unwrap_or_default(),
            )),
            None => body.push_str(
                "<p>Active: <strong id=\"active-version\">none</strong>: not served in this \
                 environment.</p>\n",
            ),
        }

        // The preview form: a plain GET back to this page.
        body.push_str(&format!(
            "<h2>Preview</h2>\n<form id=\"preview-form\" method=\"get\" action=\"/ui/prompts/{}\">\n\
             <label>Version <select name=\"version\" id=\"version\">\n",
            escape(&encode(&name))
        ));
        for number in &numbers {
            let selected = version == Some(i64::from(*number));
            let is_active = active.as_ref().is_some_and(|p| p.version == i64::from(*number));
            body.push_str(&format!(
                "<option value=\"{number}\"{}>v{number}{}</option>\n",
                if selected { " selected" } else { "" },
                if is_active { " (active)" } else { "" },
            ));
        }
        body.push_str("</select></label>\n<label>Test <select name=\"test\" id=\"test\">\n");
        for candidate in &tests {
            let selected = test.is_some_and(|test| test.name == candidate.name);
            body.push_str(&format!(
                "<option value=\"{}\"{}>{}{}</option>\n",
                escape(&candidate.name),
                if selected { " selected" } else { "" },
                escape(&candidate.name),
                candidate.version.map(|v| format!(" (v{v})")).unwrap_or_default(),
            ));
        }
        body.push_str("</select></label>\n<button type=\"submit\">Preview</button>\n</form>\n");

        if let (Some(number), Some(test)) = (version, test) {
            match self.clone().rendered(&name, Some(number), test.vars.clone()).await {
                Ok((text, rendered)) => body.push_str(&format!(
                    "<p>v{} (sha256 <code>{}</code>) rendered with the vars of test \
                     <code>{}</code>:</p>\n<pre id=\"preview\">\n{}</pre>\n",
                    text.version,
                    escape(sha_prefix(&text.sha256)),
                    escape(&test.name),
                    escape(&rendered)
                )),
                Err(response) => problems.push(error_text(response)),
            }
        }
        for problem in &problems {
            body.push_str(&format!("<p class=\"error preview-error\">{}</p>\n", escape(problem)));
        }
        if let Some(number) = version {
            if let Ok(text) = self.clone().text(&name, Some(number)).await {
                body.push_str(&format!(
                    "<details><summary>Template of v{}</summary>\n<pre id=\"template\">\n{}</pre>\n\
                     </details>\n",
                    text.version,
                    escape(&text.content)
                ));
            }
        }
        body.push_str(&self.admin_section(&name, &numbers));
        page(StatusCode::OK, &escape(&name), &body)
    }

    /// The history and rollback section: only when the server has an admin token; the script
    /// asks the operator for it.
    fn admin_section(&self, name: &str, numbers: &[u32]) -> String {
        if self.admin.is_none() {
            return "<h2>Admin</h2>\n<p id=\"admin-off\">History and rollback are off: the server \
                    has no admin token (<code>PROMPTCTL_ADMIN_TOKEN</code>).</p>\n"
                .to_string();
        }
        let mut options = String::from("<option value=\"\">the previous version</option>\n");
        for number in numbers {
            options.push_str(&format!("<option value=\"{number}\">v{number}</option>\n"));
        }
        format!(
            "<section id=\"admin\" data-prompt=\"{}\">\n<h2>Admin</h2>\n\
             <form id=\"token-form\">\n<label>Admin token <input id=\"token\" type=\"password\" \
             autocomplete=\"off\" required></label>\n<button type=\"submit\">Use token</button>\n\
             <button type=\"button\" id=\"forget-token\">Forget token</button>\n</form>\n\
             <p id=\"admin-status\" role=\"status\">Enter the admin token to see the history and \
             roll back; it stays in this tab only.</p>\n\
             <h3>History</h3>\n<table id=\"history\" hidden>\n<thead><tr><th>At</th><th>Action\
             </th><th>Version</th><th>Previous</th><th>Actor</th><th>Reason</th></tr></thead>\n\
             <tbody></tbody>\n</table>\n\
             <h3>Roll back</h3>\n<form id=\"rollback-form\">\n<label>To <select id=\"rollback-to\">\n\
             {options}</select></label>\n<label>Reason <input id=\"reason\" type=\"text\" required \
             maxlength=\"1000\"></label>\n<button type=\"submit\" id=\"rollback\">Roll back</button>\n\
             </form>\n<p id=\"rollback-result\" role=\"status\"></p>\n</section>\n",
            escape(name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_ampersands() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y' <b>"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39; &lt;b&gt;"
        );
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("plain — text"), "plain — text");
    }

    #[test]
    fn queries_decode_and_names_encode() {
        let query = Some("version=2&test=chess%20v1+x&empty=");
        assert_eq!(query_value(query, "version").as_deref(), Some("2"));
        assert_eq!(query_value(query, "test").as_deref(), Some("chess v1 x"));
        assert_eq!(query_value(query, "empty").as_deref(), Some(""));
        assert_eq!(query_value(query, "missing"), None);
        assert_eq!(decode("%3Cb%3E%zz%", false), "<b>%zz%");
        assert_eq!(encode("qa-prompt"), "qa-prompt");
        assert_eq!(encode("a/b <c>"), "a%2Fb%20%3Cc%3E");
    }

    #[test]
    fn error_pages_escape_and_carry_the_policy() {
        let response = not_found("no prompt `<script>x</script>`");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let Body::Full(Some(bytes)) = response.into_body() else { panic!("a whole body") };
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!SCRIPT.contains("innerHTML"), "the script writes text only");
    }
}
