//! The module generated for a fixture with every variable type, keyword names and odd enum values
//! (`examples/registry-demo/tests/compile-fail/every-type/prompts.rs`, kept up to date by `build::every_type_module`)
//! compiles, and its typed vars render.
#[path = "../every-type/prompts.rs"]
mod prompts;

use prompts::every_type::production::{
    Game, GameMovesItem, GameOwner, ModesItem, Style, Vars, VarsValue,
};

fn main() {
    let vars = Vars {
        count: 3,
        game: Game {
            moves: vec![GameMovesItem { san: "e4".into() }],
            owner: GameOwner { name: "Ada".into(), score: Some(0.5) },
            title: "Chess".into(),
        },
        grid: vec![vec![1, 2], vec![3]],
        modes: Some(vec![ModesItem::Blitz]),
        name: "Bob".into(),
        ratio: None,
        style: Style::Gpt4o,
        r#type: "keyword".into(),
        vars: VarsValue { a: "A".into() },
        verbose: true,
    };
    let text = vars.render().expect("renders");
    assert_eq!(text, "Bob 3  v gpt-4o keyword A\n123\nblitz\nChess Ada 0.5\ne4\n");
    assert_eq!(Style::VSelf.as_str(), "self");
    assert_eq!(
        prompts::every_type::staging::Vars { name: "Eve".into() }.render().unwrap(),
        "Hello Eve\n"
    );
    assert_eq!(
        prompts::r#match::production::Vars {}.render().unwrap(),
        "No variables, a \"# quote, a \\ backslash and a tab:\t.\n"
    );
    assert!(prompts::lookup("draft").is_none());
    assert_eq!(
        prompts::lookup("every-type").and_then(|e| e.active("eu-west")).map(|v| v.version),
        Some(2)
    );
}
