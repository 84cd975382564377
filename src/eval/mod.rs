//! Model evaluation (`promptctl eval`, docs/eval.md): `[[eval]]` entries of `prompt.toml` run
//! against the models of `[models.NAME]`. `provider` speaks each provider's HTTP API; `cache`
//! records every answer by what was asked, so that a run replays without keys or cost; `assert`
//! grades an answer; `run` expands the entries into calls and grades them; `report` prints the
//! results table and the before/after delta.

pub mod provider;
pub mod assert;
pub mod cache;
pub mod run;
pub mod report;
