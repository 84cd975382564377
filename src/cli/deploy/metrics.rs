//! `publish --metrics-file PATH`: the publish's figures in the Prometheus text format, for the
//! deploy job to hand to a node exporter's textfile collector or to push to a Pushgateway
//! (docs/runtime.md, "Metrics"). Written after every run, failed ones included, by a rename (a
//! collector never reads half a file); a failed run carries the last success's time over from the
//! file it replaces.

use super::*;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The publish-side metric names, each a gauge labelled `environment`.
pub mod name {
    /// Unix time at which this run ended.
    pub const LAST_RUN: &str = "promptctl_publish_last_run_timestamp_seconds";
    /// Unix time of the last run that exited 0 (carried over from the previous file).
    pub const LAST_SUCCESS: &str = "promptctl_publish_last_success_timestamp_seconds";
    /// Wall time of this run.
    pub const DURATION: &str = "promptctl_publish_duration_seconds";
    /// 1 when this run exited 0, else 0.
    pub const SUCCESS: &str = "promptctl_publish_success";
    /// This run's exit code (docs/commands.md).
    pub const EXIT_CODE: &str = "promptctl_publish_exit_code";
    /// The bundle's seq.
    pub const BUNDLE_SEQ: &str = "promptctl_publish_bundle_seq";
    /// The bundle's prompts.
    pub const PROMPTS: &str = "promptctl_publish_prompts";
    /// Activations this run changed.
    pub const ACTIVATIONS: &str = "promptctl_publish_activations";
    /// Versions this run stored.
    pub const NEW_VERSIONS: &str = "promptctl_publish_new_versions";
    /// Prompts activated outside publish since the last deployment.
    pub const DRIFTED: &str = "promptctl_publish_drifted_prompts";
    /// 1 when this run changed the store.
    pub const COMMITTED: &str = "promptctl_publish_committed";
    /// 1 when the store is ahead of the cache (exit code 3: run `warm`).
    pub const CACHE_STALE: &str = "promptctl_publish_cache_stale";
    /// 1 when the webhook could not be notified.
    pub const WEBHOOK_FAILED: &str = "promptctl_publish_webhook_failed";

    /// Every name above.
    pub const ALL: &[&str] = &[
        LAST_RUN,
        LAST_SUCCESS,
        DURATION,
        SUCCESS,
        EXIT_CODE,
        BUNDLE_SEQ,
        PROMPTS,
        ACTIVATIONS,
        NEW_VERSIONS,
        DRIFTED,
        COMMITTED,
        CACHE_STALE,
        WEBHOOK_FAILED,
    ];
}

/// What a run got to know; `None` where it stopped before.
#[derive(Debug, Default)]
pub(super) struct Figures {
    pub seq: Option<u64>,
    pub prompts: Option<usize>,
    pub activations: Option<usize>,
    pub new_versions: Option<usize>,
    pub drifted: Option<usize>,
    pub committed: Option<bool>,
    pub cache_stale: Option<bool>,
    pub webhook_failed: Option<bool>,
}

impl Figures {
    pub(super) fn plan(&mut self, plan: &publish::Plan) {
        self.seq = Some(plan.seq);
        self.activations = Some(plan.activations.len());
        self.new_versions = Some(plan.new_versions.len());
        self.drifted = Some(plan.drift.len());
    }
}

fn unix(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A label value, escaped as the text format wants (`\\`, `\"`, `\n`).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The value of `metric` for `environment` in a previous file, if it has one.
fn previous(text: &str, metric: &str, environment: &str) -> Option<f64> {
    let series = format!("{metric}{{environment=\"{}\"}} ", label(environment));
    text.lines().find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
}

/// The file's text.
pub(super) fn render(
    environment: &str,
    figures: &Figures,
    code: i32,
    duration: Duration,
    now: SystemTime,
    last_success: Option<f64>,
) -> String {
    let flag = |value: bool| if value { 1.0 } else { 0.0 };
    let count = |value: usize| value as f64;
    let ended = unix(now);
    let last_success = if code == exit::OK { Some(ended) } else { last_success };
    let rows: [(&str, &str, Option<f64>); 13] = [
        (name::LAST_RUN, "Unix time at which the last publish ended.", Some(ended)),
        (name::LAST_SUCCESS, "Unix time of the last publish that exited 0.", last_success),
        (name::DURATION, "Wall time of the last publish.", Some(duration.as_secs_f64())),
        (name::SUCCESS, "1 when the last publish exited 0.", Some(flag(code == exit::OK))),
        (name::EXIT_CODE, "Exit code of the last publish.", Some(f64::from(code))),
        (name::BUNDLE_SEQ, "Seq of the bundle published.", figures.seq.map(|s| s as f64)),
        (name::PROMPTS, "Prompts in the bundle published.", figures.prompts.map(count)),
        (
            name::ACTIVATIONS,
            "Activations the last publish changed.",
            figures.activations.map(count),
        ),
        (name::NEW_VERSIONS, "Versions the last publish stored.", figures.new_versions.map(count)),
        (name::DRIFTED, "Prompts activated outside publish.", figures.drifted.map(count)),
        (
            name::COMMITTED,
            "1 when the last publish changed the store.",
            figures.committed.map(flag),
        ),
        (
            name::CACHE_STALE,
            "1 when the store is ahead of the cache.",
            figures.cache_stale.map(flag),
        ),
        (
            name::WEBHOOK_FAILED,
            "1 when the webhook was not notified.",
            figures.webhook_failed.map(flag),
        ),
    ];
    let environment = label(environment);
    let mut text = String::new();
    for (metric, help, value) in rows {
        let Some(value) = value else { continue };
        text.push_str(&format!(
            "# HELP {metric} {help}\n# TYPE {metric} gauge\n{metric}{{environment=\"{environment}\"}} {value}\n"
        ));
    }
    text
}

/// Writes the file (through a temporary file beside it and a rename).
pub(super) fn write(
    path: &Path,
    environment: &str,
    figures: &Figures,
    code: i32,
    duration: Duration,
) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let last_success = previous(&old, name::LAST_SUCCESS, environment);
    let text = render(environment, figures, code, duration, SystemTime::now(), last_success);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_the_last_success() {
        let figures = Figures { seq: Some(7), committed: Some(true), ..Figures::default() };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let ok = render("prod \"eu\"", &figures, exit::OK, Duration::from_millis(1500), at, None);
        assert!(ok.contains("promptctl_publish_bundle_seq{environment=\"prod \\\"eu\\\"\"} 7\n"));
        assert!(ok
            .contains("promptctl_publish_duration_seconds{environment=\"prod \\\"eu\\\"\"} 1.5\n"));
        assert!(!ok.contains("promptctl_publish_prompts"), "unknown figures are left out");
        let carried = previous(&ok, name::LAST_SUCCESS, "prod \"eu\"");
        assert_eq!(carried, Some(1000.0));
        let later = at + Duration::from_secs(60);
        let failed = render(
            "prod \"eu\"",
            &Figures::default(),
            exit::FAILURE,
            Duration::ZERO,
            later,
            carried,
        );
        assert!(failed.contains(
            "promptctl_publish_last_success_timestamp_seconds{environment=\"prod \\\"eu\\\"\"} 1000\n"
        ));
        assert!(failed.contains("promptctl_publish_success{environment=\"prod \\\"eu\\\"\"} 0\n"));
        assert_eq!(previous(&failed, name::LAST_SUCCESS, "staging"), None);
    }
}
