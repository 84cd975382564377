//! `promptctl serve --ui` in headless Chromium, driven over the W3C WebDriver protocol
//! (`chromedriver`, plain JSON over HTTP on loopback) against a real PostgreSQL store and Redis
//! cache: the list of prompts, a preview with a test's vars (prompt text holding `<script>` shown
//! as text), the admin token flow, a rollback with a reason and the new version served; the
//! security headers; the page without an admin token. A screenshot is kept as an artefact
//! (`$CARGO_TARGET_TMPDIR/serve-ui.png`).

use crate::runtime::{ok, promptctl, wait, Project};
use crate::serve::{try_request, Serve};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use test_support::{free_port, in_ci, shared_postgres, shared_redis, unique, KillOnDrop};

const TOKEN: &str = "ui-admin-token-never-shown";
const WRONG: &str = "ui-wrong-token-never-logged";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The key W3C WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The first of `names` found on `PATH`.
fn program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium and chromedriver, or `None` after a loud notice (a failure under `CI=true`).
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let chromium = program(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = program(&["chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ => {
            let error = "chromium or chromedriver is not installed (Debian: `apt-get install \
                         chromium chromium-driver`; `cargo xtask verify` installs them)";
            assert!(!in_ci(), "CI=true but {error}");
            eprintln!("\n*** SKIPPED: {error}; this test needs them (CI fails instead) ***\n");
            None
        }
    }
}

/// A WebDriver session in headless Chromium; the session ends and chromedriver is killed when
/// dropped.
struct Browser {
    port: u16,
    session: String,
    _driver: KillOnDrop,
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path, log: &Path) -> Browser {
        let port = free_port();
        let log = std::fs::File::create(log).expect("create the chromedriver log");
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let driver = KillOnDrop(child);
        wait("chromedriver to answer", || {
            driver_request(port, "GET", "/status", "").is_ok_and(|(_, body)| {
                serde_json::from_str::<Value>(&body)
                    .is_ok_and(|status| status["value"]["ready"] == true)
            })
        });
        // CI runs as root: Chromium's sandbox needs `--no-sandbox` there.
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1400"],
            },
        }}});
        let reply = webdriver(port, "POST", "/session", &capabilities);
        let session = reply["sessionId"].as_str().expect("a session id").to_string();
        Browser { port, session, _driver: driver }
    }

    /// One command of the session; its `value`.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        webdriver(self.port, method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", &json!({ "url": url }));
    }

    fn element(&self, css: &str) -> String {
        let found = self.call("POST", "/element", &json!({"using": "css selector", "value": css}));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element `{css}`: {found}")).to_string()
    }

    fn click(&self, css: &str) {
        let element = self.element(css);
        self.call("POST", &format!("/element/{element}/click"), &json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.call("POST", &format!("/element/{element}/clear"), &json!({}));
        self.call("POST", &format!("/element/{element}/value"), &json!({ "text": text }));
    }

    /// The value of a script's `return`.
    fn script(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", &json!({"script": script, "args": []}))
    }

    /// The text of the element `css`, or null when there is none.
    fn text(&self, css: &str) -> Value {
        let css = serde_json::to_string(css).unwrap();
        self.script(&format!(
            "var e = document.querySelector({css}); return e === null ? null : e.textContent;"
        ))
    }

    /// Waits until the text of `css` contains `needle`; returns that text.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut last = Value::Null;
        wait(&format!("`{css}` to show `{needle}`"), || {
            last = self.text(css);
            last.as_str().is_some_and(|text| text.contains(needle))
        });
        last.as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = driver_request(self.port, "DELETE", &path, "");
    }
}

/// One HTTP/1.1 request to chromedriver: status and body. Its answers say `Connection: close`
/// but the connection stays open, so the body is read by its `Content-Length`.
fn driver_request(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    use std::io::{BufRead, BufReader, Read, Write};
    let failed = |error: std::io::Error| error.to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(failed)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120))).map_err(failed)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(failed)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(failed)?;
    let status = line.split(' ').nth(1).and_then(|code| code.parse().ok());
    let status = status.ok_or_else(|| format!("bad status line `{line}`"))?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(failed)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| format!("bad length `{line}`"))?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(failed)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// One WebDriver request; its `value` (a WebDriver error fails the test with its message).
fn webdriver(port: u16, method: &str, path: &str, body: &Value) -> Value {
    let text = if method == "GET" || method == "DELETE" { String::new() } else { body.to_string() };
    let (status, reply) = driver_request(port, method, path, &text)
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    let value: Value = serde_json::from_str(&reply)
        .unwrap_or_else(|error| panic!("{method} {path}: {error}: {reply}"));
    assert_eq!(status, 200, "{method} {path}: {value}");
    value["value"].clone()
}

/// Standard base64 (the screenshot's encoding).
fn base64(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0);
    for character in text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let value = alphabet.iter().position(|a| *a == character).expect("base64") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    bytes
}

/// Adds `markup-note`, a prompt whose text holds markup (untrusted text the page must show as
/// text), locked and committed.
fn add_markup_prompt(project: &Project) {
    let folder = project.path().join("prompts/markup-note");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("prompt.toml"),
        "description = \"A note whose text holds markup\"\nowners = [\"@ops\"]\n\n[activate]\n\
         production = 1\n\n[[test]]\nname = \"plain\"\nvars = { who = \"<i>the on-call</i>\" }\n\
         contains = [\"<b>bold</b>\"]\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("v1.prompt"),
        "+++\ndescription = \"Markup in the text\"\nvariables.who = { type = \"string\", \
         max_len = 100, description = \"Who reads it\" }\n+++\nHello {{who}}: <script>document.\
         title = \"pwned\"</script> and <b>bold</b> & 'quotes'.\n",
    )
    .unwrap();
    ok(promptctl(project.path(), &["lock"]));
    project.commit("markup-note");
}

#[test]
fn the_operations_page_previews_and_rolls_back_in_headless_chromium() {
    let (Some(redis), Some(postgres)) = (shared_redis(), shared_postgres()) else { return };
    let Some((chromium, chromedriver)) = browser_or_skip() else { return };
    let prefix = format!("{}:", unique("serveui"));
    let project = Project::new(&postgres.database(), &redis.url(), &prefix);
    add_markup_prompt(&project);
    project.publish_qa(1);
    project.publish_qa(2);
    let log = project.path().join("serve.log");
    let serve = Serve::start(
        project.path(),
        &log,
        &["--env", "production", "--ui"],
        &[("PROMPTCTL_ADMIN_TOKEN", TOKEN), ("PROMPTCTL_ADMIN_ACTOR", "ops-ui")],
    );
    wait("v2 from the store", || {
        let prompt = serve.get("/v1/prompts/qa-system-prompt").json();
        prompt["version"] == 2 && prompt["tier"] == "redis"
    });
    let base = format!("http://127.0.0.1:{}", serve.port);

    // The headers of every answer of the page, over plain HTTP.
    for path in ["/ui", "/ui/prompts/qa-system-prompt", "/ui/app.js", "/ui/style.css"] {
        let reply = serve.get(path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.headers["content-security-policy"], CSP, "{path}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(reply.headers["cache-control"], "no-store", "{path}");
        assert!(!reply.body.contains(TOKEN), "{path}: the token in the page");
        // No third-party asset, no inline script or style.
        assert!(!reply.body.contains("http://") && !reply.body.contains("https://"), "{path}");
        assert!(!reply.body.contains("<script>") && !reply.body.contains("style="), "{path}");
    }
    let unknown = serve.get("/ui/prompts/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", unknown.body);
    assert_eq!(unknown.headers["content-security-policy"], CSP);

    let browser = Browser::start(&chromium, &chromedriver, &project.path().join("driver.log"));

    // The list: every prompt with its active version and the tier it came from.
    browser.goto(&format!("{base}/ui"));
    assert_eq!(browser.text("tr[data-name=\"qa-system-prompt\"] .active"), "v2");
    assert_eq!(browser.text("tr[data-name=\"qa-system-prompt\"] .tier"), "redis");
    assert_eq!(browser.text("tr[data-name=\"qa-system-prompt\"] .versions"), "v1, v2");
    assert_eq!(browser.text("tr[data-name=\"markup-note\"] .active"), "v1");
    assert_eq!(browser.text("tr[data-tier=\"redis\"] td:nth-child(2)"), "ok");
    // The style sheet applies under the CSP (same origin).
    let background = browser
        .script("return getComputedStyle(document.querySelector('header')).backgroundColor;");
    assert_eq!(background, "rgb(35, 48, 61)");

    // Prompt text holding markup is shown as text: no element inside the preview, no script ran.
    browser.click("tr[data-name=\"markup-note\"] a");
    let preview = browser.wait_text("#preview", "Hello");
    assert_eq!(
        preview,
        "Hello <i>the on-call</i>: <script>document.title = \"pwned\"</script> and <b>bold</b> \
         & 'quotes'.\n"
    );
    assert_eq!(browser.script("return document.querySelectorAll('main pre *').length;"), 0);
    let title = browser.script("return document.title;");
    assert!(!title.as_str().unwrap().contains("pwned"), "{title}");

    // A preview of v1 (not active) with one of its tests, chosen through the GET form: the text
    // `promptctl render` gives.
    browser.goto(&format!("{base}/ui/prompts/qa-system-prompt"));
    browser.click("#version option[value=\"1\"]");
    browser.click("#test option[value=\"chess-v1\"]");
    browser.click("#preview-form button[type=\"submit\"]");
    wait("the preview of v1", || {
        browser.script("return location.search;").as_str().is_some_and(|q| q.contains("version=1"))
    });
    let preview = browser.wait_text("#preview", "Chess");
    let cli =
        ok(promptctl(project.path(), &["render", "qa-system-prompt@1", "--test", "chess-v1"]));
    assert_eq!(preview, cli.stdout);
    assert_eq!(browser.text("#active-version"), "v2");

    // Without the token, the rollback does nothing.
    browser.type_into("#reason", "no token yet");
    browser.click("#rollback");
    browser.wait_text("#rollback-result", "Enter the admin token first");
    assert_eq!(browser.script("return document.getElementById('history').hidden;"), true);
    // A wrong token is refused (and the history stays hidden).
    browser.type_into("#token", WRONG);
    browser.click("#token-form button[type=\"submit\"]");
    browser.wait_text("#admin-status", "refused");
    assert_eq!(browser.script("return document.getElementById('history').hidden;"), true);
    assert_eq!(serve.get("/v1/prompts/qa-system-prompt").json()["version"], 2);

    // The token: the history shows; roll back to v1 with a reason; the page follows.
    browser.type_into("#token", TOKEN);
    browser.click("#token-form button[type=\"submit\"]");
    browser.wait_text("#admin-status", "Token entered");
    browser.wait_text("#history tbody", "publish");
    let field = browser.script("return document.getElementById('token').value;");
    assert_eq!(field, "", "the token field is cleared");
    browser.click("#rollback-to option[value=\"1\"]");
    browser.type_into("#reason", "v2 answers too long <b>(ui)</b>");
    browser.click("#rollback");
    browser.wait_text("#rollback-result", "Rolled back from v2 to v1 by ops-ui");
    browser.wait_text("#active-version", "v1");
    browser.wait_text("#history tbody", "v2 answers too long <b>(ui)</b>");
    assert_eq!(browser.script("return document.querySelectorAll('#history b').length;"), 0);

    // The rolled-back version is what the server serves.
    wait("v1 to be served", || serve.get("/v1/prompts/qa-system-prompt").json()["version"] == 1);
    let bearer = format!("Bearer {TOKEN}");
    let history = try_request(
        serve.port,
        "GET",
        "/v1/prompts/qa-system-prompt/history",
        &[("Authorization", &bearer)],
        "",
    )
    .unwrap();
    let newest = &history.json()["activations"][0];
    assert_eq!(
        (&newest["action"], &newest["actor"], &newest["reason"], &newest["version"]),
        (
            &json!("rollback"),
            &json!("ops-ui"),
            &json!("v2 answers too long <b>(ui)</b>"),
            &json!(1)
        )
    );

    // The screenshot, kept as an artefact.
    let encoded = browser.call("GET", "/screenshot", &Value::Null);
    let png = base64(encoded.as_str().expect("a base64 screenshot"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 4096, "a screenshot of {} bytes", png.len());
    let artefact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-ui.png");
    std::fs::write(&artefact, &png).expect("keep the screenshot");
    eprintln!("screenshot: {}", artefact.display());
    drop(browser);

    // Requests of the page are counted like the others; the token is never logged.
    let metrics = serve.get("/metrics").body;
    assert!(
        metrics.contains(
            "promptctl_serve_requests_total{route=\"/ui/prompts/{name}\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("promptctl_serve_admin_auth_failures_total 1"), "{metrics}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(TOKEN) && !logged.contains(WRONG), "{logged}");
    drop(serve);

    // Without an admin token configured, the page has no admin section at all.
    let plain = Serve::start(project.path(), &log, &["--env", "production", "--ui"], &[]);
    let page = plain.get("/ui/prompts/qa-system-prompt");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"admin-off\""), "{}", page.body);
    assert!(!page.body.contains("rollback-form") && !page.body.contains("id=\"token\""));
}
