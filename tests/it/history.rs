//! `promptctl history`: the activations a store recorded, newest first, on PostgreSQL and SQLite
//! (who, when, from → to, why, bundle seq, commit), `--limit`, one prompt, `--audit`, JSON; a
//! store never published to; and the actor recorded when none is given: git's `user.email`, then
//! the OS user, never "unknown".

use crate::runtime::{ok, promptctl, Project};
use crate::support::run_isolated;
use serde_json::Value;
use test_support::{git, postgres_database, shared_redis, unique};

fn json(run: &crate::support::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn stores() -> Vec<String> {
    let mut stores = vec!["sqlite:.promptctl/production.sqlite3".to_string()];
    stores.extend(postgres_database());
    stores
}

#[test]
fn history_lists_publishes_and_rollbacks_newest_first() {
    let Some(redis) = shared_redis() else { return };
    for database in stores() {
        let prefix = format!("{}:", unique("hist"));
        let project = Project::new(&database, &redis.url(), &prefix);
        let root = project.path();

        let never = ok(promptctl(root, &["history", "--env", "production"]));
        assert!(never.stdout.contains("never published: no history"), "{}", never.stdout);

        project.publish_qa(1);
        project.publish_qa(2);
        ok(promptctl(
            root,
            &[
                "rollback",
                "qa-system-prompt",
                "--env",
                "production",
                "--to",
                "1",
                "--reason",
                "v2 cites wrongly",
            ],
        ));

        let human = ok(promptctl(root, &["history", "qa-system-prompt", "--env", "production"]));
        let lines: Vec<&str> = human.stdout.lines().skip(1).collect();
        assert_eq!(lines.len(), 3, "{}", human.stdout);
        assert!(lines[0].contains("rollback") && lines[0].contains("v2 → v1"), "{}", lines[0]);
        assert!(lines[0].contains("by tester") && lines[0].contains("reason: v2 cites wrongly"));
        assert!(
            lines[1].contains("publish")
                && lines[1].contains("v1 → v2")
                && lines[1].contains("seq 2")
        );
        assert!(lines[2].contains("(none) → v1") && lines[2].contains("seq 1"));

        let all =
            json(&ok(promptctl(root, &["history", "--env", "production", "--format", "json"])));
        let activations = all["activations"].as_array().unwrap();
        // Every prompt's first publish, then v2, then the rollback.
        assert_eq!(activations.len(), 6 + 2, "{all}");
        assert_eq!(activations[0]["action"], "rollback");
        assert_eq!(activations[0]["previous"], 2);
        let head = git(root, &["rev-parse", "HEAD"]);
        assert_eq!(activations[1]["git_commit"], head.trim());
        assert_eq!(activations[1]["bundle_seq"], 2);
        assert!(all.get("audit").is_none());

        let limited = json(&ok(promptctl(
            root,
            &["history", "--env", "production", "--limit", "1", "--audit", "--format", "json"],
        )));
        assert_eq!(limited["activations"].as_array().unwrap().len(), 1);
        assert_eq!(limited["audit"].as_array().unwrap().len(), 1);
        let audit = json(&ok(promptctl(
            root,
            &["history", "qa-system-prompt", "--env", "production", "--audit", "--format", "json"],
        )));
        let actions: Vec<&str> = audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions.first(), Some(&"rolled_back"), "{actions:?}");
        assert!(actions.contains(&"template_created"), "{actions:?}");

        let unknown = promptctl(root, &["history", "qa-sytem-prompt", "--env", "production"]);
        assert_eq!(unknown.code, 2, "{}", unknown.stderr);
        assert!(
            unknown.stderr.contains("has never held a prompt `qa-sytem-prompt`"),
            "{}",
            unknown.stderr
        );
    }
}

#[test]
fn the_actor_falls_back_to_git_then_the_os_user() {
    let Some(redis) = shared_redis() else { return };
    let prefix = format!("{}:", unique("actor"));
    let project = Project::new("sqlite:.promptctl/production.sqlite3", &redis.url(), &prefix);
    let root = project.path();
    project.build_qa(1);
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    // No PROMPTCTL_ACTOR or GITHUB_ACTOR (run_isolated removes them), no global git identity.
    let env = [
        ("HOME", home),
        ("XDG_CONFIG_HOME", home),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("USER", "os-user"),
    ];
    git(root, &["config", "user.email", "dev@example.com"]);
    let published = run_isolated(root, &["publish", "--env", "production"], &env);
    assert_eq!(published.code, 0, "{}", published.stderr);
    git(root, &["config", "--unset", "user.email"]);
    let rolled = run_isolated(
        root,
        &["rollback", "qa-system-prompt", "--env", "production", "--to", "2", "--reason", "again"],
        &env,
    );
    assert_eq!(rolled.code, 0, "{}{}", rolled.stdout, rolled.stderr);
    let history =
        json(&run_isolated(root, &["history", "--env", "production", "--format", "json"], &env));
    let actors: Vec<&str> = history["activations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors[0], "os-user", "{actors:?}");
    assert!(actors[1..].iter().all(|actor| *actor == "dev@example.com"), "{actors:?}");
}
