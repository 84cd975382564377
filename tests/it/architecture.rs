//! The invariants ARCHITECTURE.md states, checked over the source as the document says a reader
//! can check them by grep: a stage layer that prints nothing, `anyhow` only at the edges, no I/O
//! in the pure stages, files of a size a reader can hold, and a code map that names every module.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, relative to the package root, with its text.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&root().join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("UTF-8 source");
            let relative = path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            (relative, text)
        })
        .collect()
}

/// The lines of `text` that are code (comments and doc comments left out).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// `(file:line, line)` of every code line of the files under one of `dirs` holding one of `needles`.
fn find(dirs: &[&str], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if !dirs.iter().any(|dir| path.starts_with(dir)) {
            continue;
        }
        for (number, line) in code_lines(&text) {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_pipeline_prints_nothing_and_never_exits() {
    let found = find(&["src/pipeline/"], &["println!", "eprintln!", "print!(", "process::exit"]);
    assert!(found.is_empty(), "the pipeline returns outcomes; the CLI prints them:\n{found:#?}");
}

#[test]
fn anyhow_lives_only_in_the_cli_and_the_pipeline() {
    let found = find(&["src/"], &["anyhow"])
        .into_iter()
        .filter(|hit| !hit.starts_with("src/cli/") && !hit.starts_with("src/pipeline/"))
        .collect::<Vec<_>>();
    assert!(found.is_empty(), "library errors are typed (thiserror):\n{found:#?}");
}

#[test]
fn the_pure_stages_do_no_io() {
    let pure = ["src/syntax/", "src/render/", "src/check/", "src/seed.rs", "src/lock.rs"];
    let more = ["src/diff.rs", "src/report.rs", "src/catalog.rs", "src/codegen/"];
    let dirs: Vec<&str> = pure.iter().chain(&more).copied().collect();
    let found = find(&dirs, &["std::fs", "File::", "Command::new", "TcpStream", "std::env::var"]);
    assert!(found.is_empty(), "files arrive as bytes from `source`:\n{found:#?}");
}

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 800)
        .map(|(path, text)| format!("{path}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these along their seams (ARCHITECTURE.md):\n{long:#?}");
}

#[test]
fn only_the_git_adapter_touches_git() {
    let found = find(&["src/"], &["git2::", "Command::new(\"git\")"])
        .into_iter()
        .filter(|hit| !hit.starts_with("src/git/"))
        .collect::<Vec<_>>();
    assert!(found.is_empty(), "git is reached through `src/git/` only:\n{found:#?}");
}

#[test]
fn the_code_map_names_every_module() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let headings: Vec<&str> = map.lines().filter(|line| line.starts_with("### ")).collect();
    let mut missing = Vec::new();
    for (path, _) in sources() {
        // A module is its file under src/, or the folder holding it.
        let parts: Vec<&str> = path.split('/').collect();
        let named = match parts.as_slice() {
            ["src", file] => format!("`src/{file}`"),
            ["src", folder, ..] => format!("`src/{folder}/`"),
            _ => unreachable!("{path}"),
        };
        if !headings.iter().any(|heading| heading.contains(&named)) {
            missing.push(named);
        }
    }
    missing.dedup();
    assert!(missing.is_empty(), "ARCHITECTURE.md's code map lacks a heading for:\n{missing:#?}");
}
