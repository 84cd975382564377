//! trybuild: the module generated for a fixture with every variable type compiles and renders
//! (`compile-fail/pass/`); passing a misspelled or removed variable, leaving one out, or a string
//! for an enum does not compile (`compile-fail/*.rs`, each with the compiler's message beside it).
//! `tests/it/build.rs` keeps `compile-fail/every-type/prompts.rs` equal to what `codegen` writes.

#[test]
fn typed_vars_reject_wrong_variables_at_compile_time() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/compile-fail/pass/*.rs");
    cases.compile_fail("tests/compile-fail/*.rs");
}
