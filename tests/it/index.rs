//! The file index: a warm `check` trusts unchanged files without reading them, and never trusts a
//! file that changed, even when its size and modification time were made to look the same.

use crate::support::{minimal_prompt, Repo};
use std::time::Duration;

/// Waits until the files just written are old enough for the index to record them: it never
/// trusts a file changed in the last two seconds (its times may not change on the next write).
fn settle() {
    std::thread::sleep(Duration::from_millis(2100));
}

#[test]
fn the_index_is_written_and_a_warm_run_reports_the_same() {
    let repo = Repo::new(&minimal_prompt("hello"));
    settle();
    let cold = repo.run(&["check"]);
    assert_eq!(cold.code, 0, "{}", cold.stdout);
    assert!(repo.join(".promptctl/cache/files.bin").is_file(), "the index is written");
    let warm = repo.run(&["check"]);
    assert_eq!((warm.code, &warm.stdout), (cold.code, &cold.stdout));
}

#[test]
fn a_change_that_keeps_size_and_modification_time_is_still_seen() {
    let repo = Repo::new(&minimal_prompt("hello"));
    settle();
    let past = std::fs::metadata(repo.join("prompts/hello/v1.prompt")).unwrap().modified().unwrap();
    assert_eq!(repo.run(&["check"]).code, 0);
    let index = std::fs::read(repo.join(".promptctl/cache/files.bin")).unwrap();
    assert!(index.windows(b"v1.prompt".len()).any(|w| w == b"v1.prompt"), "the index holds v1");
    // Same length, same mtime: only the change time and the content differ.
    let original = repo.read("prompts/hello/v1.prompt");
    let last_line_start = original.trim_end().rfind('\n').map_or(0, |i| i + 1);
    let mut changed = original.clone();
    let replacement = "{{zzzz}}";
    let end = (last_line_start + replacement.len()).min(changed.len());
    changed.replace_range(last_line_start..end, &replacement[..end - last_line_start]);
    assert_eq!(changed.len(), original.len());
    repo.write("prompts/hello/v1.prompt", &changed);
    let file =
        std::fs::File::options().write(true).open(repo.join("prompts/hello/v1.prompt")).unwrap();
    file.set_modified(past).unwrap();
    drop(file);
    let run = repo.run(&["check", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("variables/undeclared"), "{}", run.stdout);
}

#[test]
fn a_corrupt_index_is_ignored() {
    let repo = Repo::new(&minimal_prompt("hello"));
    settle();
    assert_eq!(repo.run(&["check"]).code, 0);
    // Garbage, and an index of the previous format (no git blob ids), whose entries would
    // otherwise be read with the wrong layout.
    let mut old_format = b"promptctl-file-index/1\n".to_vec();
    old_format.extend_from_slice(&1u64.to_le_bytes());
    for corrupt in [&b"not an index"[..], &old_format] {
        repo.write_bytes(".promptctl/cache/files.bin", corrupt);
        let run = repo.run(&["check"]);
        assert_eq!(run.code, 0, "{}", run.stdout);
        // And it is rewritten.
        assert!(std::fs::read(repo.join(".promptctl/cache/files.bin"))
            .unwrap()
            .starts_with(b"promptctl-file-index/2\n"));
    }
}

#[test]
fn warnings_from_the_cache_still_show_their_snippet() {
    let mut files = minimal_prompt("hello");
    // An unused variable: a warning that the cache replays on the warm run.
    for (path, content) in &mut files {
        if path.ends_with("v1.prompt") {
            *content =
                content.replacen("+++\n", "+++\nvariables.spare = { type = \"string\" }\n", 1);
        }
    }
    let repo = Repo::new(&files);
    settle();
    let cold = repo.run(&["check"]);
    let warm = repo.run(&["check"]);
    assert!(cold.stderr.contains("variables/unused"), "{}", cold.stderr);
    assert!(
        warm.stderr.contains("variables.spare"),
        "the snippet needs the file's text: {}",
        warm.stderr
    );
    assert_eq!(cold.stderr, warm.stderr);
}
