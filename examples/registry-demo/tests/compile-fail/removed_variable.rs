//! Passing a variable that the served version does not declare (staging's v2 has `context`,
//! production's v1 does not) does not compile.
#[path = "../../src/prompts.rs"]
mod prompts;

fn main() {
    let vars = prompts::qa_system_prompt::production::Vars {
        game_name: "Chess".to_string(),
        context: "[Castling §3] The king moves two squares.".to_string(),
    };
    let _ = vars.render();
}
