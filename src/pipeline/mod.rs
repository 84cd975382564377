//! The pipeline: the stages the commands run, each returning a typed outcome instead of printing
//! (the CLI prints them and maps them to exit codes). `check` (the parallel check with the result
//! cache and the file index, the gate later stages pass, `lock`), `build` (the signed bundle and
//! the generated registry, the signing key, reading a verified bundle) and `deploy` (`publish`,
//! `rollback`, `warm`, `db migrate`, `status`: the store change, then the cache and the webhook),
//! `render` (one version rendered with vars checked against its contract), `diff` (two versions
//! rendered with the same vars, compared with `review`'s machinery), and `setup`
//! (`keygen`, `init`, `new`).

pub mod build;
pub mod check;
pub mod deploy;
pub mod diff;
pub mod eval;
pub mod render;
pub mod setup;
