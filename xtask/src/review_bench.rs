//! `cargo xtask bench --review`: times `promptctl review` on synthetic repositories committed to
//! git, with 10, 100 and 1,000 prompts changed on a branch (a new version with an edited body,
//! served in staging), both against the branch's commit (`--head`) and against a working tree
//! checked out at it, and once more with the new versions locked (so that the two locks differ).
//! Shows that the cost follows the number of changed prompts, not the size of the repository.
//! Timings are reported, never asserted.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{ensure, Context, Result};

use crate::child::{self, Measured};
use crate::synth;

/// How many prompts each branch changes.
const CHANGED: [usize; 3] = [10, 100, 1_000];

struct Row {
    prompts: usize,
    changed: usize,
    head: Vec<Measured>,
    worktree: Vec<Measured>,
    /// `--head` of the same change with its new versions locked.
    locked: Vec<Measured>,
}

fn git(repo: &Path, args: &[&str]) -> Result<()> {
    crate::BENCH_GIT.run(repo, args)?;
    Ok(())
}

/// The prompt folders of the synthetic repository, sorted.
fn prompt_names(repo: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(repo.join("prompts"))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// On a new branch `changed-K` from main: `changed` prompts, spread over the repository, get a
/// v4 (v3 with one more sentence) that staging serves.
fn branch(repo: &Path, names: &[String], changed: usize) -> Result<String> {
    let branch = format!("changed-{changed}");
    git(repo, &["checkout", "-q", "-B", &branch, "main"])?;
    let step = (names.len() / changed).max(1);
    for name in names.iter().step_by(step).take(changed) {
        let folder = repo.join("prompts").join(name);
        let v3 = fs::read_to_string(folder.join("v3.prompt"))?;
        fs::write(
            folder.join("v4.prompt"),
            format!("{v3}Always answer in the user's language.\n"),
        )?;
        let manifest = fs::read_to_string(folder.join("prompt.toml"))?;
        fs::write(folder.join("prompt.toml"), manifest.replace("staging = 3", "staging = 4"))?;
    }
    git(repo, &["add", "-A", "prompts"])?;
    git(repo, &["commit", "-q", "-m", &branch])?;
    Ok(branch)
}

/// On a new branch `locked-K` from `changed-K`: the new versions locked with `promptctl lock`, so
/// that the head's lock differs from the base's in the changed prompts' entries.
fn locked_branch(promptctl: &Path, repo: &Path, branch: &str) -> Result<String> {
    let locked = branch.replace("changed-", "locked-");
    git(repo, &["checkout", "-q", "-B", &locked, branch])?;
    let status = Command::new(promptctl)
        .arg("--root")
        .arg(repo)
        .arg("lock")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("cannot run promptctl lock")?;
    ensure!(status.success(), "`promptctl lock` failed ({status}) in {}", repo.display());
    git(repo, &["commit", "-q", "-am", &locked])?;
    git(repo, &["checkout", "-q", "main"])?;
    Ok(locked)
}

fn time(promptctl: &Path, repo: &Path, args: &[&str], runs: u32) -> Result<Vec<Measured>> {
    let mut measured = Vec::new();
    for _ in 0..runs {
        let mut command = Command::new(promptctl);
        command
            .arg("--root")
            .arg(repo)
            .arg("review")
            .args(args)
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let run = child::measure(&mut command)?;
        ensure!(
            run.status.success(),
            "`promptctl review {}` failed ({}) in {}",
            args.join(" "),
            run.status,
            repo.display()
        );
        measured.push(run);
    }
    Ok(measured)
}

pub fn run(promptctl: &Path, out: &Path, seed: u64, sizes: &[usize], runs: u32) -> Result<()> {
    let machine = crate::bench::machine();
    let mut rows = Vec::new();
    for &prompts in sizes {
        let repo = out.join("tmp").join(format!("review-{prompts}"));
        if repo.exists() {
            fs::remove_dir_all(&repo)
                .with_context(|| format!("cannot remove the old {}", repo.display()))?;
        }
        let started = Instant::now();
        synth::write(&repo, seed, prompts)?;
        fs::write(repo.join(".gitignore"), ".promptctl/\n")?;
        git(&repo, &["init", "-q"])?;
        git(&repo, &["add", "-A"])?;
        git(&repo, &["commit", "-q", "-m", "base"])?;
        // Packed, as in a clone; the branches' few objects stay loose.
        git(&repo, &["gc", "-q"])?;
        let names = prompt_names(&repo)?;
        println!(
            "==> review, {prompts} prompts: generated and committed in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            repo.display()
        );
        for changed in CHANGED.into_iter().filter(|&c| c <= prompts) {
            let branch = branch(&repo, &names, changed)?;
            // The branch is checked out: the working tree is the head, as in CI.
            let worktree = time(promptctl, &repo, &["--base", "main"], runs)?;
            git(&repo, &["checkout", "-q", "main"])?;
            let head = time(promptctl, &repo, &["--base", "main", "--head", &branch], runs)?;
            let locked_branch = locked_branch(promptctl, &repo, &branch)?;
            let locked =
                time(promptctl, &repo, &["--base", "main", "--head", &locked_branch], runs)?;
            println!(
                "    {changed} changed: --head {} · working tree {} · --head, locked {}",
                crate::bench::spread(&walls(&head)),
                crate::bench::spread(&walls(&worktree)),
                crate::bench::spread(&walls(&locked))
            );
            rows.push(Row { prompts, changed, head, worktree, locked });
        }
    }
    let table = markdown(&machine, runs, &rows);
    println!("\n{table}");
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("review.md");
    fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn walls(runs: &[Measured]) -> Vec<std::time::Duration> {
    runs.iter().map(|run| run.wall).collect()
}

fn markdown(machine: &str, runs: u32, rows: &[Row]) -> String {
    let mut out = String::from("# `promptctl review` benchmark\n\n");
    let _ = writeln!(out, "Machine: {machine}. Medians of {runs} runs, [min–max] in brackets.");
    let _ = writeln!(
        out,
        "`--head`: `review --base main --head changed-K` (tree to tree). Working tree: the branch \
         checked out, `review --base main`. Locked: `--head locked-K`, the same change with its new \
         versions locked (the two locks differ). Markdown to /dev/null.\n"
    );
    out.push_str("| prompts | changed | --head median [min–max] | working tree median [min–max] | --head, locked median [min–max] | peak RSS MB |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let rss = row
            .head
            .iter()
            .chain(&row.worktree)
            .chain(&row.locked)
            .map(|r| r.max_rss_bytes)
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} |",
            row.prompts,
            row.changed,
            crate::bench::spread(&walls(&row.head)),
            crate::bench::spread(&walls(&row.worktree)),
            crate::bench::spread(&walls(&row.locked)),
            rss as f64 / 1e6
        );
    }
    out
}
