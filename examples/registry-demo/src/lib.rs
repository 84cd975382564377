//! The typed registry that `promptctl codegen` writes to `src/prompts.rs`, as a library, so that
//! applications of this workspace (`examples/qa-service`) compile against the same module.

pub mod prompts;
