//! git run the same way everywhere: a fixed identity (and, when given, a fixed date), `main` as
//! the default branch, no signing, no automatic `gc` in the background, and none of the machine's
//! own configuration (`~/.gitconfig`, `/etc/gitconfig`), so that commit ids and output depend on
//! the arguments alone.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// Who commits and when.
#[derive(Clone, Copy, Debug)]
pub struct Git<'a> {
    name: &'a str,
    email: &'a str,
    date: Option<&'a str>,
}

impl<'a> Git<'a> {
    /// The integration tests' identity.
    pub const TESTS: Git<'static> =
        Git { name: "promptctl tests", email: "tests@example.invalid", date: None };

    /// Commits as `name <email>`, at the time they are made.
    pub const fn new(name: &'a str, email: &'a str) -> Git<'a> {
        Git { name, email, date: None }
    }

    /// Commits with `date` (any form git reads) as author and committer date.
    pub const fn at(self, date: &'a str) -> Git<'a> {
        Git { date: Some(date), ..self }
    }

    /// `git` in `dir` with the settings above; the caller adds the arguments.
    pub fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new("git");
        command
            .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
            // No `gc --auto` after a commit: on a large repository it repacks in the background,
            // on one of the machine's cores, while what follows is timed.
            .args(["-c", "gc.auto=0"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", self.name)
            .env("GIT_AUTHOR_EMAIL", self.email)
            .env("GIT_COMMITTER_NAME", self.name)
            .env("GIT_COMMITTER_EMAIL", self.email);
        if let Some(date) = self.date {
            command.env("GIT_AUTHOR_DATE", date).env("GIT_COMMITTER_DATE", date);
        }
        command
    }

    /// Runs `git args` in `dir`; its standard output, or an error with git's message.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Result<String, Error> {
        let output = self.command(dir).args(args).output().map_err(|error| {
            Error::missing(format!("cannot run git (is it installed?): {error}"))
        })?;
        if !output.status.success() {
            return Err(Error::failed(format!(
                "git {args:?} failed in {}: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Runs git in `root` as the tests do ([`Git::TESTS`], and with `date` that author and committer
/// date); panics with git's message when it fails. Returns its standard output.
pub fn git_at(root: &Path, date: Option<&str>, args: &[&str]) -> String {
    let git = match date {
        Some(date) => Git::TESTS.at(date),
        None => Git::TESTS,
    };
    git.run(root, args).unwrap_or_else(|error| panic!("{error}"))
}

/// [`git_at`] without a date.
pub fn git(root: &Path, args: &[&str]) -> String {
    git_at(root, None, args)
}
