//! Leaving out a required variable does not compile.
#[path = "../../src/prompts.rs"]
mod prompts;

fn main() {
    let vars = prompts::cto::production::Vars { company_name: "MeepleAI".to_string() };
    let _ = vars.render();
}
