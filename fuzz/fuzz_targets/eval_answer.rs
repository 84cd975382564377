//! `promptctl::fuzzing::eval_answer` (docs/fuzzing.md), on a stack the size of a rayon worker's.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    promptctl::fuzzing::on_worker_stack(|| promptctl::fuzzing::eval_answer(data));
});
