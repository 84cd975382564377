//! A consumer of the typed registry that `promptctl codegen` writes to `src/prompts.rs`: renders the
//! rules Q&A system prompt that production serves and the one staging serves, through typed vars.
//! When a version that an environment serves drops or renames a variable, this stops compiling.

use registry_demo::prompts;
use registry_demo::prompts::qa_system_prompt;
use std::process::ExitCode;

/// The system prompt production serves, for `game_name`.
fn production_prompt(game_name: &str) -> Result<String, promptctl::render::RenderError> {
    qa_system_prompt::production::Vars { game_name: game_name.to_string() }.render()
}

/// The system prompt staging serves: rule excerpts inline, a concise answer style, one example.
fn staging_prompt(
    game_name: &str,
    context: &str,
) -> Result<String, promptctl::render::RenderError> {
    use qa_system_prompt::staging::{AnswerStyle, ExamplesItem, Vars};
    Vars {
        game_name: game_name.to_string(),
        answer_style: AnswerStyle::Concise,
        context: context.to_string(),
        examples: Some(vec![ExamplesItem {
            question: "Can a pawn move backwards?".to_string(),
            answer: "No. Pawns only move forward [Pawns §1].".to_string(),
        }]),
    }
    .render()
}

fn main() -> ExitCode {
    let game_name = std::env::args().nth(1).unwrap_or_else(|| "Chess".to_string());
    let context = "[Castling §3] The king moves two squares towards a rook.";
    let entry = prompts::lookup(qa_system_prompt::NAME).expect("the registry serves this prompt");
    for (environment, text) in [
        ("production", production_prompt(&game_name)),
        ("staging", staging_prompt(&game_name, context)),
    ] {
        let version = entry.active(environment).map_or(0, |version| version.version);
        match text {
            Ok(text) => println!("=== {} v{version} ({environment})\n{text}\n", entry.name),
            Err(error) => {
                eprintln!("error: cannot render `{}` for {environment}: {error}", entry.name);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_renders_the_game_name() {
        let text = production_prompt("Go").expect("renders");
        assert!(
            text.starts_with("You are MeepleAI, a board-game rules assistant for Go."),
            "{text}"
        );
    }

    #[test]
    fn staging_renders_typed_vars() {
        let text =
            staging_prompt("Chess", "[Castling §3] The king moves two squares.").expect("renders");
        assert!(text.contains("Answer style: concise."), "{text}");
        assert!(text.contains("[Castling §3] The king moves two squares."), "{text}");
        assert!(text.contains("Can a pawn move backwards?"), "{text}");
    }

    #[test]
    fn lookup_finds_served_prompts_only() {
        let entry = prompts::lookup("qa-system-prompt").expect("served");
        assert_eq!(
            entry.active("production").map(|v| v.version),
            Some(qa_system_prompt::v1::VERSION)
        );
        assert_eq!(entry.active("staging").map(|v| v.version), Some(qa_system_prompt::v2::VERSION));
        assert!(prompts::lookup("no-such-prompt").is_none());
        let names: Vec<&str> = prompts::ALL.iter().map(|entry| entry.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn untyped_render_matches_typed_render() {
        let version = prompts::lookup("cto").and_then(|e| e.active("production")).expect("served");
        let vars = promptctl::codegen::runtime::serde_json::json!({ "company_name": "Acme", "team_size": 3 });
        let typed =
            prompts::cto::production::Vars { company_name: "Acme".into(), team_size: 3 }.render();
        assert_eq!((version.render)(&vars), typed);
    }
}
