//! `init`, `new` and `schema`: their arguments, and what they print of `pipeline::setup`.

use super::*;
use crate::pipeline::setup::{self, Ci, Created, Written};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiArg {
    Github,
    None,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The folder to put under promptctl (default: the working directory, or --root)
    pub dir: Option<PathBuf>,
    /// The CI to set up [default: github when the folder has .github/, else none]
    #[arg(long, value_enum)]
    pub ci: Option<CiArg>,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The prompt's name (lowercase letters, digits and `-`, starting with a letter)
    pub name: String,
    /// The description written into prompt.toml
    #[arg(long, conflicts_with = "next")]
    pub description: Option<String>,
    /// Add the next version of an existing prompt: a copy of its latest, a test for it, and staging pointed at it
    #[arg(long)]
    pub next: bool,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write the JSON Schemas (promptctl.toml, prompt.toml, front matter, bundle.json) into this folder, relative to the project root
    #[arg(long, value_name = "DIR", default_value = setup::SCHEMAS_DIR)]
    pub write: PathBuf,
}

fn print_written(files: &Written) {
    for path in &files.written {
        println!("wrote {path}");
    }
    for path in &files.skipped {
        println!("kept {path} (it exists; never overwritten)");
    }
}

pub(super) fn init(root: Option<&Path>, args: &InitArgs) -> Result<i32> {
    let dir = match (&args.dir, root) {
        (Some(dir), _) => dir.clone(),
        (None, Some(root)) => root.to_path_buf(),
        (None, None) => std::env::current_dir().context("cannot read the working directory")?,
    };
    if !dir.is_dir() {
        anyhow::bail!("`{}` is not a folder; create it first", dir.display());
    }
    let ci = match args.ci {
        Some(CiArg::Github) => Ci::Github,
        Some(CiArg::None) => Ci::None,
        None if dir.join(".github").is_dir() => Ci::Github,
        None => Ci::None,
    };
    let done = setup::init(&dir, ci)?;
    print_written(&done.files);
    if done.gitignore {
        println!("added .promptctl/ to .gitignore");
    }
    if let Some(example) = &done.example {
        println!("`{example}` is an example prompt with a variable, a test and its snapshot: copy it, or delete it");
    }
    if done.files.written.is_empty() && !done.gitignore {
        println!("nothing to do: this folder is set up already");
    }
    if quiet() {
        return Ok(exit::OK);
    }
    println!("\nnext:");
    println!("  promptctl check                # syntax, variables, tests, secrets");
    println!("  promptctl lock                 # record each version's sha256");
    if done.git {
        println!("  git add -A && git commit -m \"promptctl init\" && promptctl build --publish production");
    } else {
        println!("  git init && git add -A && git commit -m \"promptctl init\" && promptctl build --publish production");
    }
    Ok(exit::OK)
}

pub(super) fn new(project: &Project, args: &NewArgs, color: bool) -> Result<i32> {
    let created = if args.next {
        setup::next_version(project, &args.name)?
    } else {
        setup::new_prompt(project, &args.name, args.description.as_deref())?
    };
    match created {
        Created::BadName(diagnostic) => {
            eprint!("{}", report::human(&diagnostic, None, color));
            eprint!("{}", report::explain_hint([&diagnostic]));
            eprintln!("error: not creating `{}`: fix the name", args.name);
            Ok(exit::ERRORS)
        }
        Created::Prompt { dir, files } => {
            print_written(&files);
            if quiet() {
                return Ok(exit::OK);
            }
            println!("\nnext: write the prompt in {dir}/v1.prompt (its variables in the front matter), adjust the test in {dir}/prompt.toml, then `promptctl check` and `promptctl lock`");
            Ok(exit::OK)
        }
        Created::Next { dir, from, to, test, files } => {
            print_written(&files);
            if quiet() {
                return Ok(exit::OK);
            }
            println!(
                "\nv{to} is a copy of v{from}, served in staging; the test `{test}` renders it."
            );
            println!("next: edit {dir}/v{to}.prompt, `promptctl check` (with `--bless` to accept new snapshots), `promptctl lock`, and `promptctl review --base main` to see the change before and after");
            if project.config.codegen.is_some() {
                println!("then `promptctl codegen` and commit the generated module with it");
            }
            Ok(exit::OK)
        }
    }
}

pub(super) fn schema(project: &Project, args: &SchemaArgs) -> Result<i32> {
    let written = setup::write_schemas(&project.root, &args.write)?;
    print_written(&written);
    Ok(exit::OK)
}
