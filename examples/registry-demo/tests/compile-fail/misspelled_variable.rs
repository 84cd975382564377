//! A misspelled variable does not compile: `Vars` has exactly the declared fields.
#[path = "../../src/prompts.rs"]
mod prompts;

fn main() {
    let vars = prompts::qa_system_prompt::production::Vars { game_nme: "Chess".to_string() };
    let _ = vars.render();
}
