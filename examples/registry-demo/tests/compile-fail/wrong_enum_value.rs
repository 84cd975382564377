//! An enum variable takes one of its generated variants, not a string.
#[path = "../../src/prompts.rs"]
mod prompts;

fn main() {
    use prompts::qa_system_prompt::staging::Vars;
    let vars = Vars {
        game_name: "Chess".to_string(),
        answer_style: "concise",
        context: String::new(),
        examples: None,
    };
    let _ = vars.render();
}
