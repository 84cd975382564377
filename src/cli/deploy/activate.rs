//! `publish` (with its plan), `rollback`, `warm` and `db migrate`: each runs its store change, then
//! the cache and the webhook, and maps the outcome to its exit code.

use super::*;

/// Maps refusals of the store to the documented exit code: they are operational (2).
pub(super) fn refused(error: PublishError) -> Result<i32> {
    eprintln!("error: {error}");
    Ok(exit::FAILURE)
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
        from_build: true,
    };
    publish(project, &args, color)
}

pub fn publish(project: &Project, args: &PublishArgs, _color: bool) -> Result<i32> {
    let resolved = resolve(project, &args.target)?;
    let bundle_path = args.bundle.clone().unwrap_or_else(|| project.root.join(".promptctl/build"));
    if args.bundle.is_none() && !bundle_path.join("bundle.json").exists() {
        anyhow::bail!(
            "no bundle at `.promptctl/build/bundle.json`; run `promptctl build` first, or pass `--bundle PATH`"
        );
    }
    let hook = hook(&resolved)?;
    // The prompts are checked as publish uses them: those the store already holds as they are
    // in the bundle are not parsed again.
    let (bundle_path, verified) =
        super::super::read_verified(Some(project), &bundle_path, &args.pubkeys, false)?;
    let mut connection = connect(&resolved)?;
    let since = match store::schema::current(&mut *connection)? {
        0 => None,
        _ => Some(records::revision(&mut *connection)?),
    };
    let options = publish::Options {
        only: args.only.clone(),
        force: args.force,
        allow_downgrade: args.allow_downgrade,
        plan_only: args.plan,
        actor: actor(args.actor.as_deref()),
    };
    let target = publish::Target {
        environment: &resolved.name,
        protected: resolved.protected,
        embedded: resolved.location.is_embedded(),
    };
    // A bar for many new versions, on a terminal; the number is known once the plan is.
    let terminal = std::io::stderr().is_terminal() && !args.plan;
    let mut bar: Option<indicatif::ProgressBar> = None;
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
                new.set_message(format!("publishing to {}", resolved.name));
                bar = Some(new);
            }
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        };
        publish::apply(&mut *connection, &verified, &target, &options, &mut progress)
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(PublishError::Drifted(mut drift)) => {
            let _ = publish::explain_drift(&mut *connection, &mut drift);
            return refused_drift(PublishError::Drifted(drift), &resolved.name, args);
        }
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(PublishError::Bundle(error)) => return Err(error.into()),
        Err(error) => return refused(error),
    };
    let plan = &outcome.plan;
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "plan": plan,
            "committed": outcome.committed,
            "store": resolved.shown,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else {
        print_plan(plan, &resolved, &bundle_path, args.plan, args.force);
    }
    if args.plan {
        // The plan exits as the publish would: refused over drift without `--force`.
        if !plan.drift.is_empty() && !args.force {
            let mut drift = plan.drift.clone();
            let _ = publish::explain_drift(&mut *connection, &mut drift);
            return refused_drift(PublishError::Drifted(drift), &resolved.name, args);
        }
        return Ok(exit::OK);
    }
    let notices: Vec<Notice> = if outcome.committed {
        plan.activations
            .iter()
            .filter_map(|change| {
                let version = verified
                    .prompt(&change.name)
                    .ok()?
                    .versions
                    .iter()
                    .find(|version| i64::from(version.version) == change.to)?;
                Some(Notice {
                    name: change.name.clone(),
                    version: change.to,
                    sha256: publish::content_sha256(&version.template),
                    seq: Some(plan.seq as i64),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut code = refresh_cache(project, &resolved, &mut *connection, &notices, since)?;
    if outcome.committed {
        let body = serde_json::json!({
            "event": "publish",
            "environment": resolved.name,
            "seq": plan.seq,
            "bundle_sha256": plan.bundle_sha256,
            "git_commit": verified.git_commit(),
            "actor": options.actor,
            "activations": plan.activations,
        });
        let notified = notify(hook.as_ref(), "publish", body);
        if code == exit::OK {
            code = notified;
        }
    }
    if args.format == OutputFormat::Human {
        print_short_status(project, &resolved, &mut *connection, verified.len())?;
    }
    Ok(code)
}

/// The status table after a publish, or a pointer to it for large bundles.
pub(super) fn print_short_status(
    project: &Project,
    resolved: &Resolved,
    connection: &mut dyn store::Connection,
    prompts: usize,
) -> Result<()> {
    println!();
    if prompts <= STATUS_TABLE_LIMIT {
        let status = status_rows(project, resolved, Some(connection))?;
        print_status(&status.rows);
    } else {
        println!("{prompts} prompts: `promptctl status --env {}` shows the table", resolved.name);
    }
    Ok(())
}

pub(super) fn print_plan(
    plan: &publish::Plan,
    resolved: &Resolved,
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
    for drift in &plan.drift {
        println!(
            "  ! drift {}: published {}, active {} ({})",
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
    let resolved = resolve(project, &args.target)?;
    if args.reason.trim().is_empty() {
        anyhow::bail!("`--reason` is empty; say why, for the audit trail");
    }
    let hook = hook(&resolved)?;
    let mut connection = connect(&resolved)?;
    let since = match store::schema::current(&mut *connection)? {
        0 => None,
        _ => Some(records::revision(&mut *connection)?),
    };
    let actor = actor(args.actor.as_deref());
    let done = match publish::rollback(
        &mut *connection,
        &resolved.name,
        &args.name,
        args.to,
        &actor,
        &args.reason,
    ) {
        Ok(done) => done,
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(error) => return refused(error),
    };
    println!(
        "rolled back `{}` in `{}` ({}): {} -> v{} by {actor}: {}",
        done.name,
        resolved.name,
        resolved.shown,
        done.from.map_or("(none)".into(), |v| format!("v{v}")),
        done.to,
        args.reason
    );
    let notice = Notice {
        name: done.active.name.clone(),
        version: done.active.version,
        sha256: done.active.content_sha256.clone(),
        seq: None,
    };
    let code = refresh_cache(project, &resolved, &mut *connection, &[notice], since)?;
    let body = serde_json::json!({
        "event": "rollback",
        "environment": resolved.name,
        "name": done.name,
        "from": done.from,
        "to": done.to,
        "actor": actor,
        "reason": args.reason,
    });
    let notified = notify(hook.as_ref(), "rollback", body);
    Ok(if code == exit::OK { notified } else { code })
}

pub fn warm(project: &Project, args: &EnvArgs) -> Result<i32> {
    let resolved = resolve(project, args)?;
    if resolved.redis.is_none() {
        anyhow::bail!(
            "environment `{}` has no cache: set `redis` in `[environments.{}]`, or pass `--redis URL`",
            resolved.name,
            resolved.name
        );
    }
    let mut connection = connect(&resolved)?;
    store::schema::require_current(&mut *connection)?;
    // Services that read a stale entry while Redis was back but not yet warmed are told to read
    // everything again (they keep what they serve unless the new reading is as new or newer).
    let everything = Notice {
        name: crate::cache::EVERYTHING.to_string(),
        version: 0,
        sha256: String::new(),
        seq: None,
    };
    refresh_cache(project, &resolved, &mut *connection, &[everything], None)
}

pub fn db(project: &Project, command: &DbCommand) -> Result<i32> {
    match command {
        DbCommand::Migrate(args) => {
            let resolved = resolve(project, args)?;
            let mut connection = connect(&resolved)?;
            let applied = store::schema::migrate(&mut *connection)?;
            if applied.is_empty() {
                println!(
                    "{}: schema up to date (migration {})",
                    resolved.shown,
                    store::schema::latest()
                );
            }
            for migration in applied {
                println!(
                    "{}: applied migration {} ({})",
                    resolved.shown, migration.version, migration.name
                );
            }
            Ok(exit::OK)
        }
    }
}
