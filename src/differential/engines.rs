//! Outcomes and engines: promptctl's side, the `Engine` trait and handlebars.js under node (one
//! process per run, a batch per line), installed with npm.

use super::*;

/// What one engine did with a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Rendered(String),
    Failed(String),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }

    /// Agreement: the same text, or both failed.
    pub fn agrees(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Rendered(a), Outcome::Rendered(b)) => a == b,
            (Outcome::Failed(_), Outcome::Failed(_)) => true,
            _ => false,
        }
    }

    pub fn shown(&self) -> String {
        match self {
            Outcome::Rendered(text) => format!("{text:?}"),
            Outcome::Failed(message) => format!("error: {message}"),
        }
    }
}

/// promptctl's outcome.
pub fn promptctl(template: &str, vars: &Value) -> Outcome {
    match Compiled::new(template) {
        Err(error) => Outcome::Failed(format!("syntax: {}", error.message)),
        Ok(compiled) => match compiled.render(vars) {
            Ok(text) => Outcome::Rendered(text),
            Err(error) => Outcome::Failed(format!("render: {}", error.message)),
        },
    }
}

/// The engine promptctl is compared with: renders a batch of (template, vars).
pub trait Engine {
    fn name(&self) -> &'static str;
    fn render(&mut self, cases: &[(String, Value)]) -> Result<Vec<Outcome>, String>;
    /// The known differences of this engine, tried in order on each difference.
    fn known(&self) -> &'static [Known];
}

/// handlebars.js under node: one process, fed a batch per line (`tests/differential/render.js`).
pub struct HandlebarsJs {
    pub(super) child: Child,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: BufReader<ChildStdout>,
    pub version: String,
}

impl HandlebarsJs {
    /// Starts `node script prefix`, where `prefix` holds `node_modules/handlebars`.
    pub fn start(script: &Path, prefix: &Path) -> Result<HandlebarsJs, String> {
        let mut child = Command::new("node")
            .arg(script)
            .arg(prefix)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("run node: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| format!("read from node: {e}"))?;
        let hello: Value =
            serde_json::from_str(&line).map_err(|e| format!("node said {line:?}: {e}"))?;
        let version = hello["version"].as_str().unwrap_or_default().to_string();
        Ok(HandlebarsJs { child, stdin, stdout, version })
    }
}

impl Drop for HandlebarsJs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Engine for HandlebarsJs {
    fn name(&self) -> &'static str {
        "handlebars.js"
    }

    fn render(&mut self, cases: &[(String, Value)]) -> Result<Vec<Outcome>, String> {
        let input: Vec<Value> = cases
            .iter()
            .map(|(template, vars)| json!({"template": template, "vars": vars}))
            .collect();
        let mut line = serde_json::to_string(&input).map_err(|e| e.to_string())?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).map_err(|e| format!("write to node: {e}"))?;
        self.stdin.flush().map_err(|e| format!("write to node: {e}"))?;
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).map_err(|e| format!("read from node: {e}"))?;
        let results: Vec<Value> = serde_json::from_str(&answer).map_err(|e| {
            let shown: String = answer.chars().take(300).collect();
            format!("node answered {shown:?}: {e}")
        })?;
        if results.len() != cases.len() {
            return Err(format!(
                "node answered {} results for {} cases",
                results.len(),
                cases.len()
            ));
        }
        Ok(results
            .iter()
            .map(|result| match (result["output"].as_str(), result["error"].as_str()) {
                (Some(text), _) => Outcome::Rendered(text.to_string()),
                (None, Some(message)) => Outcome::Failed(message.to_string()),
                _ => Outcome::Failed(format!("render.js result without output: {result}")),
            })
            .collect())
    }

    fn known(&self) -> &'static [Known] {
        &[Known::AdjacentNumbers, Known::KeyOrder]
    }
}

/// Installs handlebars.js 4 with npm into `<target>/conformance-node` (where the conformance test
/// puts it) unless it is there; `Err` names the missing program.
pub fn install_handlebars_js(target: &Path) -> Result<PathBuf, String> {
    let prefix = target.join("conformance-node");
    let runs = |program: &str| {
        Command::new(program).arg("--version").output().is_ok_and(|output| output.status.success())
    };
    if !runs("node") {
        return Err("node".into());
    }
    if !prefix.join("node_modules/handlebars/package.json").is_file() {
        if !runs("npm") {
            return Err("npm".into());
        }
        let status = Command::new("npm")
            .args(["install", "--prefix"])
            .arg(&prefix)
            .args(["handlebars@4", "--no-audit", "--no-fund", "--silent"])
            .status()
            .map_err(|e| format!("npm: {e}"))?;
        if !status.success() {
            return Err(format!("`npm install --prefix {} handlebars@4` failed", prefix.display()));
        }
    }
    Ok(prefix)
}
