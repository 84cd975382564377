//! `publish` (with its plan), `rollback`, `warm` and `db migrate`: what each prints of its store
//! change, the cache and the webhook, and the exit code that follows.

use super::*;
use crate::cli::quiet;

/// Maps refusals of the store to the documented exit code: they are operational (2).
pub(super) fn refused(error: PublishError) -> Result<i32> {
    eprintln!("error: {error}");
    Ok(exit::FAILURE)
}

/// A refusal of `rollback` or `rollout`: under `--format json` also the `failure/refused` object
/// on stdout.
fn refused_as(format: OutputFormat, error: PublishError) -> Result<i32> {
    if format == OutputFormat::Json {
        let json = serde_json::json!({
            "code": "failure/refused",
            "severity": "error",
            "message": error.to_string(),
            "causes": [],
            "exit": exit::FAILURE,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    }
    refused(error)
}

/// The exit code after a commit: the cache's (a stale cache first), else the webhook's.
fn after_commit_code(cache: &CacheRefresh, webhook: &Webhook, environment: &Environment) -> i32 {
    let code = cache_code(cache, environment);
    let notified = webhook_code(webhook);
    if code == exit::OK {
        notified
    } else {
        code
    }
}

/// The drift refusal, with the way over it that the command at hand has.
pub(super) fn refused_drift(
    error: PublishError,
    environment: &str,
    args: &PublishArgs,
) -> Result<i32> {
    let over = if args.from_build {
        format!("to publish over it anyway, run `promptctl publish --env {environment} --force` (`build --publish` has no `--force`)")
    } else {
        "to publish over it anyway, pass `--force`".to_string()
    };
    eprintln!("error: {error}\n{over}; `promptctl status --env {environment}` shows the details");
    Ok(exit::FAILURE)
}

/// `build --publish ENV`: publishes the bundle just written to `out`, with the overrides of the
/// environment variables and no flags.
pub fn publish_built(
    project: &Project,
    environment: &str,
    out: &std::path::Path,
    color: bool,
) -> Result<i32> {
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let args = PublishArgs {
        target: EnvArgs {
            environment: environment.to_string(),
            database: variable(DATABASE_VARIABLE),
            redis: variable(REDIS_VARIABLE),
            redis_ca: variable("PROMPTCTL_REDIS_CA").map(std::path::PathBuf::from),
            redis_insecure: variable("PROMPTCTL_REDIS_INSECURE")
                .is_some_and(|value| matches!(value.as_str(), "true" | "1" | "yes" | "on")),
            no_cache: false,
        },
        bundle: Some(out.to_path_buf()),
        pubkeys: Vec::new(),
        plan: false,
        only: Vec::new(),
        force: false,
        allow_downgrade: false,
        actor: None,
        format: OutputFormat::Human,
        metrics_file: None,
        from_build: true,
    };
    publish(project, &args, color)
}

/// `publish`; with `--metrics-file`, then writes the run's figures (a failed write is a warning:
/// the exit code stays the publish's).
pub fn publish(project: &Project, args: &PublishArgs, color: bool) -> Result<i32> {
    let started = std::time::Instant::now();
    let mut figures = metrics::Figures::default();
    let result = publish_run(project, args, color, &mut figures);
    let code = match &result {
        Ok(code) => *code,
        Err(_) => exit::FAILURE,
    };
    let environment = &args.target.environment;
    tracing::info!(
        environment = %environment,
        seq = figures.seq,
        committed = figures.committed,
        activations = figures.activations,
        code,
        duration_seconds = started.elapsed().as_secs_f64(),
        "publish finished"
    );
    if let Some(path) = &args.metrics_file {
        if let Err(error) = metrics::write(path, environment, &figures, code, started.elapsed()) {
            eprintln!("warning: cannot write the metrics file `{}`: {error}", path.display());
        }
    }
    result
}

fn publish_run(
    project: &Project,
    args: &PublishArgs,
    _color: bool,
    figures: &mut metrics::Figures,
) -> Result<i32> {
    let request = stage::PublishRequest {
        bundle: args.bundle.clone(),
        pubkeys: args.pubkeys.clone(),
        plan_only: args.plan,
        only: args.only.clone(),
        force: args.force,
        allow_downgrade: args.allow_downgrade,
        actor: args.actor.clone(),
        status: args.format == OutputFormat::Human,
    };
    // A bar for many new versions, on a terminal; the number is known once the plan is.
    let terminal = std::io::stderr().is_terminal() && !args.plan;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let environment = &args.target.environment;
    let outcome = {
        let mut progress = |done: u64, total: u64| {
            if bar.is_none() && terminal && total > PROGRESS_THRESHOLD {
                let new = indicatif::ProgressBar::new(total);
                new.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:40}] {pos}/{len} versions",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                new.set_message(format!("publishing to {environment}"));
                bar = Some(new);
            }
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        };
        stage::publish(project, &args.target.target(), &request, &mut progress)
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let deployed = match outcome? {
        stage::Publish::Refused { environment, error: error @ PublishError::Drifted(_) } => {
            if let PublishError::Drifted(drift) = &error {
                figures.drifted = Some(drift.len());
            }
            return refused_drift(error, &environment.name, args);
        }
        stage::Publish::Refused { error, .. } => return refused(error),
        stage::Publish::Planned { environment, bundle_path, plan, drift } => {
            figures.plan(&plan);
            figures.committed = Some(false);
            print_publish(&plan, false, &environment, &bundle_path, args);
            // The plan exits as the publish would: refused over drift without `--force`.
            return match drift {
                Some(error) => refused_drift(error, &environment.name, args),
                None => Ok(exit::OK),
            };
        }
        stage::Publish::Deployed(deployed) => deployed,
    };
    figures.plan(&deployed.plan);
    figures.prompts = Some(deployed.prompts);
    figures.committed = Some(deployed.committed);
    figures.cache_stale = Some(matches!(deployed.cache, CacheRefresh::Stale { .. }));
    figures.webhook_failed = Some(matches!(deployed.webhook, Webhook::Failed { .. }));
    let environment = &deployed.environment;
    print_publish(&deployed.plan, deployed.committed, environment, &deployed.bundle_path, args);
    let code = after_commit_code(&deployed.cache, &deployed.webhook, environment);
    if args.format == OutputFormat::Human && !quiet() {
        println!();
        match &deployed.status {
            Some(status) => print_status(&status.rows),
            None => println!(
                "{} prompts: `promptctl status --env {}` shows the table",
                deployed.prompts, environment.name
            ),
        }
    }
    Ok(code)
}

/// The plan, as JSON or as text.
fn print_publish(
    plan: &publish::Plan,
    committed: bool,
    environment: &Environment,
    bundle_path: &std::path::Path,
    args: &PublishArgs,
) {
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "plan": plan,
            "committed": committed,
            "store": environment.shown,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else if !quiet() || args.plan {
        // `--plan` asks for the plan: it is the output, not a summary.
        print_plan(plan, environment, bundle_path, args.plan, args.force);
    }
}

fn print_plan(
    plan: &publish::Plan,
    resolved: &Environment,
    bundle: &std::path::Path,
    plan_only: bool,
    force: bool,
) {
    let verb = if plan_only { "plan for" } else { "published" };
    if plan.already_published {
        println!(
            "{} seq {} is already published to `{}` ({}): nothing changed",
            bundle.display(),
            plan.seq,
            resolved.name,
            resolved.shown
        );
        return;
    }
    println!(
        "{verb} `{}` ({}): bundle seq {} sha256 {}{}",
        resolved.name,
        resolved.shown,
        plan.seq,
        &plan.bundle_sha256[..12],
        plan.previous_seq.map(|seq| format!(", previous seq {seq}")).unwrap_or_default()
    );
    if plan.downgrade {
        println!("  downgrade allowed (--allow-downgrade): recorded in the audit log");
    }
    for name in &plan.new_prompts {
        println!("  + prompt {name}");
    }
    for (name, version) in &plan.new_versions {
        println!("  + version {name} v{version}");
    }
    for name in &plan.description_changes {
        println!("  ~ description of {name}");
    }
    for change in &plan.activations {
        println!(
            "  * activate {} {} -> v{}",
            change.name,
            change.from.map_or("(none)".into(), |v| format!("v{v}")),
            change.to
        );
    }
    let canary = |state: Option<publish::CanaryState>| {
        state.map_or("no canary".to_string(), |c| {
            format!(
                "v{} canary {}",
                c.version,
                crate::rollout::basis_points_display(c.basis_points as u32)
            )
        })
    };
    for rollout in &plan.rollouts {
        // "production: v4 canary 10 % → 50 %" when only the share moves.
        let line = match (rollout.from, rollout.to) {
            (Some(from), Some(to)) if from.version == to.version => format!(
                "v{} canary {} -> {}",
                to.version,
                crate::rollout::basis_points_display(from.basis_points as u32),
                crate::rollout::basis_points_display(to.basis_points as u32)
            ),
            (from, to) => format!("{} -> {}", canary(from), canary(to)),
        };
        println!("  * rollout {} beside v{}: {line}", rollout.name, rollout.stable);
    }
    for drift in &plan.drift {
        let canaries = if drift.published_canary.is_some() || drift.active_canary.is_some() {
            format!(
                "; published {}, served {}",
                canary(drift.published_canary),
                canary(drift.active_canary)
            )
        } else {
            String::new()
        };
        println!(
            "  ! drift {}: published {}, active {}{canaries} ({})",
            drift.name,
            drift.published.map_or("none".into(), |v| format!("v{v}")),
            drift.active.map_or("none".into(), |v| format!("v{v}")),
            if force { "overridden by --force" } else { "refused without --force" }
        );
    }
    for change in &plan.adopted {
        println!(
            "  = {} stays at v{}: the bundle agrees with the version activated outside publish (drift resolved)",
            change.name, change.to
        );
    }
    for name in &plan.not_in_bundle {
        println!("  = {name} is in the store but not in the bundle: left as it is");
    }
    if !plan.changes_store() {
        println!("  no prompt changes (the deployment is recorded)");
    }
}

pub fn rollback(project: &Project, args: &RollbackArgs) -> Result<i32> {
    let request = stage::RollbackRequest {
        name: args.name.clone(),
        to: args.to,
        reason: args.reason.clone(),
        actor: args.actor.clone(),
    };
    let rolled = match stage::rollback(project, &args.target.target(), &request)? {
        stage::Rollback::Refused(error) => {
            return refused_as(args.format, error);
        }
        stage::Rollback::RolledBack(rolled) => rolled,
    };
    let (environment, done) = (&rolled.environment, &rolled.done);
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "status": "rolled-back",
            "prompt": done.name,
            "environment": environment.name,
            "store": environment.shown,
            "from": done.from,
            "to": done.to,
            "actor": rolled.actor,
            "reason": args.reason,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else if !quiet() {
        println!(
            "rolled back `{}` in `{}` ({}): {} -> v{} by {}: {}",
            done.name,
            environment.name,
            environment.shown,
            done.from.map_or("(none)".into(), |v| format!("v{v}")),
            done.to,
            rolled.actor,
            args.reason
        );
    }
    let code = after_commit_code(&rolled.cache, &rolled.webhook, environment);
    tracing::info!(
        environment = %environment.name,
        prompt = %done.name,
        from = done.from,
        to = done.to,
        code,
        "rollback finished"
    );
    Ok(code)
}

pub fn rollout(project: &Project, args: &RolloutArgs) -> Result<i32> {
    let action = match (args.percent, args.promote, args.abort) {
        (Some(percent), false, false) => match crate::rollout::percent_to_basis_points(percent) {
            Ok(basis_points) => publish::RolloutAction::Share(basis_points),
            Err(problem) => anyhow::bail!("`--percent {percent}`: {problem}; give a share from 0 to 100 with at most two decimals"),
        },
        (None, true, false) => publish::RolloutAction::Promote,
        (None, false, true) => publish::RolloutAction::Abort,
        _ => anyhow::bail!("give one of `--percent P`, `--promote` or `--abort`"),
    };
    let request = stage::RolloutRequest {
        name: args.name.clone(),
        action,
        reason: args.reason.clone(),
        actor: args.actor.clone(),
    };
    let rolled = match stage::rollout(project, &args.target.target(), &request)? {
        stage::Rollout::Refused(error) => {
            return refused_as(args.format, error);
        }
        stage::Rollout::Done(rolled) => rolled,
    };
    let (environment, done) = (&rolled.environment, &rolled.done);
    let show = |canary: Option<publish::CanaryState>| {
        canary.map_or("no canary".to_string(), |canary| {
            format!(
                "v{} canary {}",
                canary.version,
                crate::rollout::basis_points_display(canary.basis_points as u32)
            )
        })
    };
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "status": match action {
                publish::RolloutAction::Share(_) => "rollout-changed",
                publish::RolloutAction::Promote => "rollout-promoted",
                publish::RolloutAction::Abort => "rollout-aborted",
            },
            "prompt": done.name,
            "environment": environment.name,
            "store": environment.shown,
            "stable_before": done.stable_before,
            "stable": done.stable,
            "from": done.from,
            "to": done.to,
            "actor": rolled.actor,
            "reason": args.reason,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else if !quiet() {
        println!(
            "`{}` in `{}` ({}): v{} with {} -> v{} with {} by {}: {}",
            done.name,
            environment.name,
            environment.shown,
            done.stable_before,
            show(done.from),
            done.stable,
            show(done.to),
            rolled.actor,
            args.reason
        );
    }
    let code = after_commit_code(&rolled.cache, &rolled.webhook, environment);
    tracing::info!(
        environment = %environment.name,
        prompt = %done.name,
        stable = done.stable,
        code,
        "rollout finished"
    );
    Ok(code)
}

pub fn warm(project: &Project, args: &EnvArgs) -> Result<i32> {
    let started = std::time::Instant::now();
    let warmed = stage::warm(project, &args.target())?;
    let code = cache_code(&warmed.cache, &warmed.environment);
    tracing::info!(
        environment = %warmed.environment.name,
        code,
        duration_seconds = started.elapsed().as_secs_f64(),
        "warm finished"
    );
    Ok(code)
}

pub fn db(project: &Project, command: &DbCommand) -> Result<i32> {
    match command {
        DbCommand::Migrate(args) => {
            let stage::Migrated { environment, applied } = stage::migrate(project, &args.target())?;
            if applied.is_empty() && !quiet() {
                println!(
                    "{}: schema up to date (migration {})",
                    environment.shown,
                    crate::store::schema::latest()
                );
            }
            for migration in applied.iter().filter(|_| !quiet()) {
                println!(
                    "{}: applied migration {} ({})",
                    environment.shown, migration.version, migration.name
                );
            }
            Ok(exit::OK)
        }
    }
}
