//! The fuzz targets' kept inputs, replayed on the stable toolchain (docs/fuzzing.md): every file
//! of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the same
//! `promptctl::fuzzing::<target>` function the cargo-fuzz target calls, on a stack the size of a
//! rayon worker's. A panic fails the test; a stack overflow or an abort kills it, which fails it
//! too. Inputs of bugs not fixed yet wait in `fuzz/pending/<target>/`, which is not replayed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use promptctl::fuzzing::{self, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a target's folder, sorted; dot files (`.gitkeep`) are not inputs. Panics if the
/// folder is missing, so that a renamed target cannot replay nothing.
fn inputs(folder: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(folder).unwrap_or_else(|error| {
        panic!(
            "`{}` is missing ({error}): every fuzz target keeps its inputs there",
            folder.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| {
            path.is_file()
                && !path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// The targets of `fuzz/fuzz_targets/` are exactly `fuzzing::TARGETS`.
#[test]
fn every_fuzz_target_is_replayed() {
    let mut found: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .map(|path| path.file_stem().expect("a name").to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut expected: Vec<String> = TARGETS.iter().map(|name| name.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected, "fuzz/fuzz_targets/ and promptctl::fuzzing::TARGETS differ");
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for target in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{target}.rs\"")),
            "fuzz/Cargo.toml has no [[bin]] for `{target}`"
        );
    }
}

/// Replays one target's corpus and regressions, naming every input that fails; each input must
/// also finish within a generous bound (the fuzzer's is 1 s in an optimised build; this is a debug
/// build).
fn replay(target: &str) {
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ is empty: seed it (docs/fuzzing.md)");
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("a kept input");
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            fuzzing::on_worker_stack(|| {
                assert!(fuzzing::run(target, &data), "unknown target `{target}`");
            })
        });
        let took = started.elapsed();
        if let Err(panic) = outcome {
            failures.push(format!("{}: {}", path.display(), message(&*panic)));
        } else if took > Duration::from_secs(20) {
            failures.push(format!("{}: took {took:?}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_default()
}

/// Every target of `fuzzing::TARGETS` (so a new target is replayed without a new test), side by
/// side; the failures of all are reported together.
#[test]
fn every_kept_input_replays() {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> =
            TARGETS.iter().map(|target| (target, scope.spawn(move || replay(target)))).collect();
        threads
            .into_iter()
            .filter_map(|(target, thread)| {
                thread.join().err().map(|panic| format!("{target}: {}", message(&*panic)))
            })
            .collect()
    });
    assert!(failures.is_empty(), "kept fuzz inputs fail:\n{}", failures.join("\n"));
}
