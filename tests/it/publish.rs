//! `publish`, `rollback`, `status`, `warm` and `db migrate` against real stores: the embedded
//! SQLite file and a PostgreSQL server, with a real redis-server as the cache (the `test-support` crate).
//! Each scenario runs against both stores where both apply.

use crate::support::{redis_connection, Repo, Run};
use promptctl::store::{self, Location};
use std::path::Path;
use std::process::Command;
use test_support::{or_skip, postgres_database, shared_redis, unique, Redis};

/// Runs the binary in `root` as the actor `tester`, with `env` and nothing from the shell's
/// `PROMPTCTL_*` variables.
fn run_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec![("PROMPTCTL_ACTOR", "tester")];
    all.extend_from_slice(env);
    crate::support::run_isolated(root, args, &all)
}

fn run(root: &Path, args: &[&str]) -> Run {
    run_env(root, args, &[])
}

#[track_caller]
pub(crate) fn expect(run: &Run, code: i32, needles: &[&str]) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    for needle in needles {
        assert!(
            all.contains(needle),
            "missing `{needle}` in\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

fn git(root: &Path, args: &[&str]) {
    test_support::git_at(root, Some("2001-02-03T04:05:06Z"), args);
}

fn commit_all(root: &Path, message: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", message]);
}

/// Which store a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A store URL for one test: a new SQLite file, or a new database in the shared PostgreSQL.
fn store_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite:{}", unique("store"))),
        Backend::Postgres => postgres_database(),
    }
}

fn greeter_version(greeting: &str) -> String {
    format!("+++\nvariables.name = {{ type = \"string\", max_len = 100 }}\n+++\n{greeting}, {{{{name}}}}!\n")
}

pub(crate) fn manifest(production: u32, staging: u32, description: &str) -> String {
    format!(
        "description = \"{description}\"\n\n[activate]\nproduction = {production}\nstaging = {staging}\n\n[[test]]\nname = \"greets\"\nvars = {{ name = \"Ada\" }}\ncontains = [\"Ada\"]\n"
    )
}

/// A committed project with two prompts (`greeter` v1..v2, `farewell` v1), a trusted key pair,
/// the given store for both environments (overridable with `--db`), and, when given, the Redis
/// cache with a key prefix of its own.
pub(crate) struct Deploy {
    repo: Repo,
    pub(crate) database: String,
    pub(crate) prefix: String,
    redis: Option<String>,
}

impl Deploy {
    pub(crate) fn new(database: &str, redis: Option<&str>, extra_production: &str) -> Deploy {
        let prefix = format!("{}:", unique("p"));
        let redis_line = redis.map(|url| format!("redis = \"{url}\"\n")).unwrap_or_default();
        let config = format!(
            "prompts_dir = \"prompts\"\nlock_file = \"prompts.lock\"\n\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n\n[cache]\nkey_prefix = \"{prefix}\"\nttl_seconds = 600\n\n[environments.production]\ndatabase = \"{database}\"\n{redis_line}{extra_production}\n[environments.staging]\n{redis_line}"
        );
        let repo = Repo::new(&[("promptctl.toml", config.as_str())]);
        repo.write(".gitignore", ".promptctl/\n");
        repo.write("prompts/greeter/prompt.toml", &manifest(1, 2, "Greets a user"));
        repo.write("prompts/greeter/v1.prompt", &greeter_version("Hello"));
        repo.write("prompts/greeter/v2.prompt", &greeter_version("Welcome"));
        repo.write("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye"));
        repo.write("prompts/farewell/v1.prompt", &greeter_version("Goodbye"));
        expect(&run(repo.path(), &["keygen"]), 0, &[]);
        expect(&run(repo.path(), &["lock"]), 0, &[]);
        git(repo.path(), &["init", "-q"]);
        commit_all(repo.path(), "prompts");
        Deploy { repo, database: database.to_string(), prefix, redis: redis.map(str::to_string) }
    }

    pub(crate) fn path(&self) -> &Path {
        self.repo.path()
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        run(self.path(), args)
    }

    pub(crate) fn build(&self) -> Run {
        let built = run(self.path(), &["build", "--key", ".promptctl/keys/promptctl.key"]);
        expect(&built, 0, &["built"]);
        built
    }

    /// Commits a change of the prompts and builds the next bundle.
    pub(crate) fn change(&self, files: &[(&str, &str)], message: &str) {
        for (path, content) in files {
            self.repo.write(path, content);
        }
        expect(&self.run(&["lock"]), 0, &[]);
        commit_all(self.path(), message);
        self.build();
    }

    pub(crate) fn store(&self) -> Box<dyn store::Connection> {
        let location = Location::parse(&self.database, self.path()).expect("store URL");
        store::open(&location).expect("open the store")
    }

    fn count(&self, table: &str) -> i64 {
        let rows =
            self.store().query(&format!("SELECT COUNT(*) FROM {table}"), &[]).expect("count");
        rows[0].int(0).unwrap()
    }

    fn tables(&self) -> i64 {
        let mut store = self.store();
        let sql = match store.dialect() {
            store::Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
            }
            store::Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        };
        store.query(sql, &[]).unwrap()[0].int(0).unwrap()
    }

    pub(crate) fn active(&self, name: &str) -> Option<i64> {
        let rows = self
            .store()
            .query(
                "SELECT v.version_number FROM prompt_versions v JOIN prompt_templates t ON t.id = v.template_id WHERE t.name = $1 AND v.is_active = $2",
                &[name.into(), true.into()],
            )
            .unwrap();
        rows.first().map(|row| row.int(0).unwrap())
    }

    fn cache_get(&self, key: &str) -> Option<String> {
        let url = self.redis.as_deref()?;
        let mut connection = redis_connection(url);
        redis::cmd("GET").arg(format!("{}{key}", self.prefix)).query(&mut connection).unwrap()
    }

    pub(crate) fn cache_entry(&self, name: &str) -> Option<serde_json::Value> {
        self.cache_get(&format!("{name}:active")).map(|text| serde_json::from_str(&text).unwrap())
    }
}

pub(crate) fn backends() -> Vec<(Backend, String)> {
    [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter_map(|backend| store_url(backend).map(|url| (backend, url)))
        .collect()
}

#[test]
fn publish_then_republish_changes_nothing() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        let plan = deploy.run(&["publish", "--env", "production", "--plan"]);
        expect(
            &plan,
            0,
            &[
                "plan for `production`",
                "+ prompt greeter",
                "+ version greeter v2",
                "* activate greeter (none) -> v1",
            ],
        );
        assert_eq!(deploy.tables(), 0, "{backend:?}: --plan created tables");

        let first = deploy.run(&["publish", "--env", "production"]);
        expect(
            &first,
            0,
            &["published `production`", "* activate farewell (none) -> v1", "greeter"],
        );
        assert_eq!(deploy.count("prompt_templates"), 2, "{backend:?}");
        assert_eq!(deploy.count("prompt_versions"), 3, "{backend:?}");
        assert_eq!(deploy.count("prompt_activations"), 2, "{backend:?}");
        assert_eq!(deploy.count("prompt_deployments"), 1, "{backend:?}");
        assert_eq!(deploy.active("greeter"), Some(1));
        // The status table follows the publish.
        assert!(first.stdout.contains("prompt    repo  store  published"), "{}", first.stdout);

        let audit = deploy.count("prompt_audit_logs");
        let again = deploy.run(&["publish", "--env", "production"]);
        expect(&again, 0, &["is already published to `production`", "nothing changed"]);
        assert_eq!(deploy.count("prompt_activations"), 2, "{backend:?}");
        assert_eq!(deploy.count("prompt_deployments"), 1, "{backend:?}");
        assert_eq!(deploy.count("prompt_audit_logs"), audit, "{backend:?}");

        let migrate = deploy.run(&["db", "migrate", "--env", "production"]);
        expect(&migrate, 0, &["schema up to date (migration 3)"]);
    }
}

#[test]
fn a_new_commit_activates_versions_writes_the_cache_and_notifies() {
    let Some(redis) = shared_redis() else { return };
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, Some(&redis.url()), "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["cache redis://"]);
        let entry = deploy.cache_entry("greeter").expect("greeter cached");
        assert_eq!(entry["version"], 1, "{backend:?}");
        assert_eq!(entry["content"], "Hello, {{name}}!\n");
        let sha = entry["sha256"].as_str().unwrap().to_string();
        assert_eq!(sha, promptctl::publish::content_sha256("Hello, {{name}}!\n"));
        assert_eq!(
            deploy.cache_get(&format!("greeter:sha256:{sha}")).as_deref(),
            Some("Hello, {{name}}!\n")
        );
        assert_eq!(entry["variables"]["name"]["type"], "string");

        // Listen on the channel, then publish production = 2.
        let mut subscriber = redis_connection(&redis.url());
        let channel = format!("{}activations", deploy.prefix);
        let mut pubsub = subscriber.as_pubsub();
        pubsub.subscribe(&channel).unwrap();
        pubsub.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        deploy.change(
            &[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))],
            "serve v2",
        );
        let published = deploy.run(&["publish", "--env", "production"]);
        expect(
            &published,
            0,
            &[
                "* activate greeter v1 -> v2",
                "previous seq 1",
                "1 entries written (changed only), 1 notices",
            ],
        );
        let message = pubsub.get_message().expect("a notice");
        let payload: String = message.get_payload().unwrap();
        let notice: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(notice["name"], "greeter");
        assert_eq!(notice["version"], 2);
        assert_eq!(notice["seq"], 2);
        drop(pubsub);

        let entry = deploy.cache_entry("greeter").unwrap();
        assert_eq!(entry["version"], 2);
        assert_eq!(entry["seq"], 2);
        let again = deploy.run(&["publish", "--env", "production"]);
        expect(&again, 0, &["already published", "up to date (2 entries"]);
        assert_eq!(deploy.active("greeter"), Some(2), "{backend:?}");
        assert_eq!(deploy.active("farewell"), Some(1));
        let rows = deploy
            .store()
            .query(
                "SELECT a.action, a.actor, a.bundle_seq, p.version_number FROM prompt_activations a JOIN prompt_versions p ON p.id = a.previous_version_id",
                &[],
            )
            .unwrap();
        assert_eq!(rows.len(), 1, "{backend:?}");
        assert_eq!(rows[0].text(0).unwrap(), "publish");
        assert_eq!(rows[0].text(1).unwrap(), "tester");
        assert_eq!(rows[0].int(2).unwrap(), 2);
        assert_eq!(rows[0].int(3).unwrap(), 1);

        let status = deploy.run(&["status", "--env", "production", "--format", "json"]);
        expect(&status, 0, &[]);
        let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        let greeter = &status["prompts"][1];
        assert_eq!(greeter["name"], "greeter");
        assert_eq!(greeter["repository"], 2);
        assert_eq!(greeter["store"], 2);
        assert_eq!(greeter["cache"], 2);
        assert_eq!(greeter["drift"], false);
        assert!(greeter["cache_ttl_seconds"].as_i64().unwrap() > 500);
    }
}

#[test]
fn an_older_bundle_is_refused_unless_downgrade_is_allowed() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        let old = deploy.path().join("old");
        std::fs::create_dir_all(&old).unwrap();
        for file in ["bundle.json", "bundle.json.minisig"] {
            std::fs::copy(deploy.path().join(".promptctl/build").join(file), old.join(file))
                .unwrap();
        }
        deploy.change(
            &[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))],
            "serve v2",
        );
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);

        let refused = deploy.run(&["publish", "--env", "production", "--bundle", "old"]);
        expect(
            &refused,
            2,
            &[
                "bundle seq 1 is not higher than the store's last deployment (seq 2",
                "--allow-downgrade",
            ],
        );
        assert_eq!(deploy.active("greeter"), Some(2), "{backend:?}");

        let allowed =
            deploy.run(&["publish", "--env", "production", "--bundle", "old", "--allow-downgrade"]);
        expect(&allowed, 0, &["downgrade allowed", "* activate greeter v2 -> v1"]);
        assert_eq!(deploy.active("greeter"), Some(1));
        let rows = deploy
            .store()
            .query("SELECT seq, downgrade FROM prompt_deployments ORDER BY id", &[])
            .unwrap();
        assert_eq!(rows.len(), 2, "{backend:?}");
        assert_eq!((rows[0].int(0).unwrap(), rows[0].bool(1).unwrap()), (2, false));
        assert_eq!((rows[1].int(0).unwrap(), rows[1].bool(1).unwrap()), (1, true));
        let audit = deploy
            .store()
            .query(
                "SELECT details FROM prompt_audit_logs WHERE action = 'deployed' ORDER BY id DESC",
                &[],
            )
            .unwrap();
        assert_eq!(audit[0].json(0).unwrap()["downgrade"], true);
        assert_eq!(audit[0].json(0).unwrap()["previous_seq"], 2);
        // The highest seq still guards: the old bundle is still not higher than 2.
        let again = deploy.run(&["publish", "--env", "production", "--bundle", "old"]);
        expect(&again, 2, &["not higher"]);
    }
}

#[test]
fn a_stored_version_never_changes() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
        // The store already has greeter v1 with other bytes (another project, a hand edit).
        deploy
            .store()
            .execute(
                "UPDATE prompt_versions SET source_sha256 = $1 WHERE version_number = 2",
                &["0".repeat(64).into()],
            )
            .unwrap();
        deploy.change(
            &[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))],
            "serve v2",
        );
        let before = deploy.count("prompt_audit_logs");
        let refused =
            deploy.run(&["publish", "--env", "production", "--force", "--allow-downgrade"]);
        expect(
            &refused,
            2,
            &[
                "a stored version never changes",
                "`greeter` v2: store sha256:000000000000",
                "there is no flag to overwrite",
            ],
        );
        assert_eq!(deploy.active("greeter"), Some(1), "{backend:?}");
        assert_eq!(deploy.count("prompt_deployments"), 1);
        assert_eq!(deploy.count("prompt_audit_logs"), before);
    }
}

#[test]
fn a_store_belongs_to_one_environment() {
    for (_backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
        let refused = deploy.run(&["publish", "--env", "staging", "--db", &url]);
        expect(&refused, 2, &["the store belongs to environment `production`, not `staging`"]);
        let status = deploy.run(&["status", "--env", "staging", "--db", &url]);
        expect(&status, 2, &["belongs to environment `production`"]);
    }
}

#[test]
fn rollback_is_audited_and_publish_refuses_the_drift_unless_forced() {
    let Some(redis) = shared_redis() else { return };
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, Some(&redis.url()), "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
        deploy.change(
            &[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))],
            "serve v2",
        );
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);

        let no_reason =
            deploy.run(&["rollback", "greeter", "--env", "production", "--reason", " "]);
        expect(&no_reason, 2, &["`--reason` is empty"]);
        let rolled = deploy.run(&[
            "rollback",
            "greeter",
            "--env",
            "production",
            "--reason",
            "v2 confuses users",
            "--actor",
            "oncall",
        ]);
        expect(
            &rolled,
            0,
            &["rolled back `greeter` in `production`", "v2 -> v1 by oncall: v2 confuses users"],
        );
        assert_eq!(deploy.active("greeter"), Some(1), "{backend:?}");
        assert_eq!(deploy.cache_entry("greeter").unwrap()["version"], 1);
        let rows = deploy
            .store()
            .query("SELECT action, actor, reason FROM prompt_activations ORDER BY id DESC", &[])
            .unwrap();
        assert_eq!(rows[0].text(0).unwrap(), "rollback");
        assert_eq!(rows[0].text(1).unwrap(), "oncall");
        assert_eq!(rows[0].text(2).unwrap(), "v2 confuses users");
        let audit = deploy
            .store()
            .query("SELECT details FROM prompt_audit_logs WHERE action = 'rolled_back'", &[])
            .unwrap();
        assert_eq!(audit[0].json(0).unwrap()["reason"], "v2 confuses users");

        let status = deploy.run(&["status", "--env", "production"]);
        expect(&status, 0, &["drift: active is not what the last publish set"]);

        // The next publish would undo the on-call's rollback: refused with the report.
        deploy.change(
            &[("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye politely"))],
            "describe",
        );
        let refused = deploy.run(&["publish", "--env", "production"]);
        expect(
            &refused,
            2,
            &[
                "(drift)",
                "`greeter`: published v2, active v1 (rolled back by oncall: v2 confuses users)",
                "pass `--force`",
            ],
        );
        assert!(!refused.stderr.contains("by hand"), "{}", refused.stderr);
        assert_eq!(deploy.active("greeter"), Some(1));
        // The plan says what the publish would do, with its exit code: refused.
        let plan = deploy.run(&["publish", "--env", "production", "--plan"]);
        expect(
            &plan,
            2,
            &["! drift greeter: published v2, active v1 (refused without --force)", "(drift)"],
        );
        let plan = deploy.run(&["publish", "--env", "production", "--plan", "--force"]);
        expect(&plan, 0, &["! drift greeter: published v2, active v1 (overridden by --force)"]);
        // `build --publish` has no `--force`: its hint names the command that has.
        let built = deploy.run(&[
            "build",
            "--key",
            ".promptctl/keys/promptctl.key",
            "--publish",
            "production",
        ]);
        expect(&built, 2, &["run `promptctl publish --env production --force`"]);
        assert_eq!(deploy.active("greeter"), Some(1));
        let forced = deploy.run(&["publish", "--env", "production", "--force"]);
        expect(
            &forced,
            0,
            &["! drift greeter", "* activate greeter v1 -> v2", "~ description of farewell"],
        );
        assert_eq!(deploy.active("greeter"), Some(2));
        let status = deploy.run(&["status", "--env", "production"]);
        assert!(!status.stdout.contains("drift:"), "{}", status.stdout);

        // Rollback without --to goes back to the version before the current one.
        expect(
            &deploy.run(&["rollback", "greeter", "--env", "production", "--reason", "again"]),
            0,
            &["v2 -> v1"],
        );
        expect(
            &deploy.run(&[
                "rollback",
                "greeter",
                "--env",
                "production",
                "--to",
                "1",
                "--reason",
                "x",
            ]),
            2,
            &["`greeter` v1 is already active"],
        );
        expect(
            &deploy.run(&[
                "rollback",
                "greeter",
                "--env",
                "production",
                "--to",
                "7",
                "--reason",
                "x",
            ]),
            2,
            &["`greeter` v7 is not in the store (stored: v1, v2)"],
        );
        expect(
            &deploy.run(&["rollback", "greeterr", "--env", "production", "--reason", "x"]),
            2,
            &["`greeterr` is not in the store; did you mean `greeter`?"],
        );
        expect(
            &deploy.run(&["rollback", "farewell", "--env", "production", "--reason", "x"]),
            2,
            &["`farewell` has no earlier active version to go back to; pass `--to N`"],
        );
    }
}

#[test]
fn dirty_and_development_signed_bundles_are_refused_where_they_do_not_belong() {
    let Some(postgres) = postgres_database() else { return };
    let deploy = Deploy::new(&postgres, None, "");
    // Uncommitted change: the bundle is dirty.
    deploy.repo.write("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye, uncommitted"));
    deploy.build();
    let refused = deploy.run(&["publish", "--env", "production"]);
    expect(
        &refused,
        2,
        &["built from uncommitted changes (dirty) and `production` is protected", "--force"],
    );
    assert_eq!(deploy.tables(), 0, "a refused publish touched the store");
    let staging_db = format!("sqlite:{}", unique("staging"));
    expect(
        &deploy.run(&["publish", "--env", "staging", "--db", &staging_db]),
        0,
        &["published `staging`"],
    );
    expect(
        &deploy.run(&["publish", "--env", "production", "--force"]),
        0,
        &["published `production`"],
    );
    // Publishing it again says the same as the first time: a dirty bundle needs --force here.
    let again = deploy.run(&["publish", "--env", "production"]);
    expect(&again, 2, &["built from uncommitted changes (dirty)"]);
    expect(&deploy.run(&["publish", "--env", "production", "--force"]), 0, &["already published"]);

    // No key: a development-signed bundle, accepted by the embedded store only.
    let fresh = postgres_database().unwrap();
    let dev = Deploy::new(&fresh, None, "");
    std::fs::remove_file(dev.path().join(".promptctl/keys/promptctl.key")).unwrap();
    expect(&run(dev.path(), &["build"]), 0, &["development key"]);
    let refused = dev.run(&["publish", "--env", "production"]);
    expect(
        &refused,
        2,
        &["the bundle is development-signed and `production` is not the embedded store"],
    );
    let embedded =
        dev.run(&["publish", "--env", "production", "--db", "sqlite:.promptctl/store/dev.sqlite3"]);
    expect(&embedded, 0, &["published `production`"]);
}

#[test]
fn only_limits_the_activations() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(
            &deploy.run(&["publish", "--env", "staging", "--db", &url, "--only", "farewell"]),
            0,
            &["* activate farewell (none) -> v1", "+ version greeter v2"],
        );
        assert_eq!(deploy.active("greeter"), None, "{backend:?}");
        assert_eq!(deploy.active("farewell"), Some(1));
        expect(
            &deploy.run(&["publish", "--env", "staging", "--db", &url, "--only", "greter"]),
            2,
            &["`--only greter`: the bundle has no prompt `greter`; did you mean `greeter`?"],
        );
    }
}

#[test]
fn redis_down_after_the_commit_exits_3_and_warm_repairs_the_cache() {
    let Some(redis) = shared_redis() else { return };
    for (backend, url) in backends() {
        let closed = format!("redis://127.0.0.1:{}/", free_closed_port());
        let deploy = Deploy::new(&url, Some(&redis.url()), "");
        deploy.build();
        let stale = deploy.run(&["publish", "--env", "production", "--redis", &closed]);
        expect(
            &stale,
            3,
            &["cannot reach Redis", "the cache is stale: run `promptctl warm --env production`"],
        );
        assert_eq!(deploy.active("greeter"), Some(1), "{backend:?}: the store was not committed");
        assert_eq!(deploy.cache_entry("greeter"), None);
        let status = deploy.run(&["status", "--env", "production"]);
        expect(&status, 0, &["cache stale: run `promptctl warm`"]);
        let warmed = deploy.run(&["warm", "--env", "production"]);
        expect(&warmed, 0, &["2 entries written"]);
        assert_eq!(deploy.cache_entry("greeter").unwrap()["version"], 1);
        // A re-publish of the same bundle also repairs the cache.
        redis::cmd("DEL")
            .arg(format!("{}greeter:active", deploy.prefix))
            .query::<()>(&mut redis_connection(&redis.url()))
            .unwrap();
        expect(
            &deploy.run(&["publish", "--env", "production"]),
            0,
            &["already published", "2 entries written"],
        );
        assert_eq!(deploy.cache_entry("greeter").unwrap()["version"], 1);
    }
}

fn free_closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_database_failure_before_the_commit_changes_nothing() {
    let Some(url) = postgres_database() else { return };
    let deploy = Deploy::new(&url, None, "");
    deploy.build();
    expect(
        &deploy.run(&["db", "migrate", "--env", "production"]),
        0,
        &["applied migration 1 (prompt tables)"],
    );
    // The last insert of the transaction fails: everything before it must be rolled back.
    deploy
        .store()
        .batch(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'deployments are frozen'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse BEFORE INSERT ON prompt_deployments FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .unwrap();
    let failed = deploy.run(&["publish", "--env", "production"]);
    expect(&failed, 2, &["store error: deployments are frozen"]);
    assert_eq!(deploy.count("prompt_templates"), 0);
    assert_eq!(deploy.count("prompt_versions"), 0);
    assert_eq!(deploy.count("prompt_audit_logs"), 0);
    assert_eq!(deploy.count("promptctl_meta"), 0);
    assert_eq!(deploy.count("promptctl_published"), 0);

    // The connection dies in the middle of the transaction.
    deploy
        .store()
        .batch(
            "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$ LANGUAGE plpgsql;",
        )
        .unwrap();
    let lost = deploy.run(&["publish", "--env", "production"]);
    expect(&lost, 2, &["the connection to the store was lost", "nothing was committed"]);
    assert_eq!(deploy.count("prompt_versions"), 0);
    assert_eq!(deploy.count("prompt_deployments"), 0);
    deploy.store().batch("DROP TRIGGER refuse ON prompt_deployments").unwrap();
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &["published `production`"]);
}

#[test]
fn bad_store_and_environment_arguments_are_clear() {
    let deploy = Deploy::new("sqlite:.promptctl/store/production.sqlite3", None, "");
    deploy.build();
    expect(
        &deploy.run(&["publish", "--env", "prod"]),
        2,
        &["unknown environment `prod`; did you mean `production`?"],
    );
    expect(
        &deploy.run(&["publish", "--env", "production", "--db", "mysql://x"]),
        2,
        &["store URL `mysql://x`: use `postgres://USER@HOST/DB` or `sqlite:PATH`"],
    );
    let port = free_closed_port();
    let unreachable = deploy.run(&[
        "publish",
        "--env",
        "production",
        "--db",
        &format!("postgres://deploy:hunter2@127.0.0.1:{port}/prompts"),
    ]);
    expect(
        &unreachable,
        2,
        &[&format!("cannot connect to the store `postgres://deploy:***@127.0.0.1:{port}/prompts`")],
    );
    assert!(!format!("{}{}", unreachable.stdout, unreachable.stderr).contains("hunter2"));
    let from_env = run_env(
        deploy.path(),
        &["status", "--env", "production"],
        &[(
            "PROMPTCTL_DATABASE_URL",
            &format!("postgres://deploy:hunter2@127.0.0.1:{port}/prompts"),
        )],
    );
    expect(&from_env, 2, &["deploy:***@"]);
    assert!(!format!("{}{}", from_env.stdout, from_env.stderr).contains("hunter2"));
    expect(
        &deploy.run(&["publish", "--env", "production", "--bundle", "nowhere"]),
        2,
        &["cannot read"],
    );
    let empty = Deploy::new("sqlite:x.sqlite3", None, "");
    expect(
        &empty.run(&["publish", "--env", "production"]),
        2,
        &["no bundle at `.promptctl/build/bundle.json`; run `promptctl build` first"],
    );
    expect(
        &empty.run(&["rollback", "greeter", "--env", "production", "--reason", "x"]),
        2,
        &["not initialised"],
    );
    expect(&empty.run(&["warm", "--env", "production"]), 2, &["has no cache"]);

    // A misspelt setting is an error at its line and column, not a silent default.
    let typo =
        Repo::new(&[("promptctl.toml", "[environments.production]\ndatbase = \"sqlite:x\"\n")]);
    let refused = run(typo.path(), &["status", "--env", "production"]);
    expect(&refused, 2, &["promptctl.toml:2:1: unknown field `datbase`"]);
    let missing = Repo::new(&[(
        "promptctl.toml",
        "[environments.production]\ndatabase = \"env:NO_SUCH_VARIABLE\"\n",
    )]);
    let refused = run(missing.path(), &["status", "--env", "production"]);
    expect(&refused, 2, &["`[environments.production] database` is `env:NO_SUCH_VARIABLE` but the environment variable `NO_SUCH_VARIABLE` is not set"]);
}

#[test]
fn the_webhook_is_signed_and_retried() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A real HTTP server on loopback: 502 first, then 200; it records what it received.
    let server = std::thread::spawn(move || {
        let mut received = Vec::new();
        for status in ["502 Bad Gateway", "200 OK"] {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                headers.push(line.trim_end().to_string());
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            received.push((headers, body));
        }
        received
    });
    // The hook's path and query are secrets (a Slack hook's path, a `?token=`): never printed.
    let webhook = format!("[environments.production.webhook]\nurl = \"http://127.0.0.1:{port}/hooks/T0KEN-PATH?token=T0KEN-QUERY\"\nsecret_env = \"HOOK_SECRET\"\n");
    let deploy = Deploy::new("sqlite:store.sqlite3", None, &webhook);
    deploy.build();
    let published =
        run_env(deploy.path(), &["publish", "--env", "production"], &[("HOOK_SECRET", "s3cret")]);
    expect(&published, 0, &["webhook http://127.0.0.1"]);
    let received = server.join().unwrap();
    assert_eq!(received.len(), 2);
    let (headers, body) = &received[1];
    assert_eq!(received[0].1, *body, "the retry sends the same body");
    let signature = headers
        .iter()
        .find_map(|h| {
            h.strip_prefix("X-Promptctl-Signature: ")
                .or_else(|| h.strip_prefix("x-promptctl-signature: "))
        })
        .expect("signature header");
    assert_eq!(signature, promptctl::webhook::signature(b"s3cret", body));
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["event"], "publish");
    assert_eq!(json["environment"], "production");
    assert_eq!(json["activations"][1]["name"], "greeter");
    for secret in ["s3cret", "T0KEN-PATH", "T0KEN-QUERY"] {
        assert!(
            !published.stdout.contains(secret) && !published.stderr.contains(secret),
            "{secret} printed:\n{}{}",
            published.stdout,
            published.stderr
        );
    }
    assert!(published.stdout.contains(&format!("webhook http://127.0.0.1:{port}/*** notified")));

    // Without the secret variable, publish refuses before it touches the store.
    deploy.change(&[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))], "v2");
    let missing = deploy.run(&["publish", "--env", "production"]);
    expect(&missing, 2, &["the webhook secret variable `HOOK_SECRET` is not set"]);
    assert_eq!(deploy.active("greeter"), Some(1));
}

/// The queries an existing application runs keep working: this repository's own prompts
/// published into PostgreSQL and Redis with the default key prefix and TTL.
#[test]
fn the_application_queries_work_after_a_publish_of_this_repository() {
    let Some(database) = postgres_database() else { return };
    let Some(redis) = or_skip(Redis::start()) else { return };
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = Repo::new(&[("README.md", "copy of promptctl's prompts\n")]);
    for folder in ["prompts", "legacy"] {
        test_support::copy_tree(&source.join(folder), &repo.join(folder)).expect("copy");
    }
    std::fs::copy(source.join("prompts.lock"), repo.join("prompts.lock")).unwrap();
    repo.write(
        "promptctl.toml",
        &format!(
            "prompts_dir = \"prompts\"\nlock_file = \"prompts.lock\"\n\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n\n[environments.production]\ndatabase = \"{database}\"\nredis = \"{}\"\n\n[environments.staging]\n{}",
            redis.url(),
            crate::support::repository_models()
        ),
    );
    repo.write(".gitignore", ".promptctl/\n");
    expect(&run(repo.path(), &["keygen"]), 0, &[]);
    git(repo.path(), &["init", "-q"]);
    commit_all(repo.path(), "prompts");
    expect(&run(repo.path(), &["build", "--key", ".promptctl/keys/promptctl.key"]), 0, &[]);
    expect(&run(repo.path(), &["publish", "--env", "production"]), 0, &["published `production`"]);

    let location = Location::parse(&database, repo.path()).unwrap();
    let mut store = store::open(&location).unwrap();
    let tables = store
        .query("SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ('prompt_templates', 'prompt_versions', 'prompt_audit_logs')", &[])
        .unwrap();
    assert_eq!(tables[0].int(0).unwrap(), 3);
    let rows = store
        .query("SELECT name, version_number, is_active FROM prompt_templates pt JOIN prompt_versions pv ON pt.id = pv.template_id", &[])
        .unwrap();
    let mut versions = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for row in &rows {
        let entry = versions.entry(row.text(0).unwrap()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(row.bool(2).unwrap());
    }
    let on_disk: usize = std::fs::read_dir(repo.join("prompts"))
        .unwrap()
        .map(|prompt| {
            std::fs::read_dir(prompt.unwrap().path())
                .unwrap()
                .filter(|file| {
                    file.as_ref().unwrap().path().extension().is_some_and(|e| e == "prompt")
                })
                .count()
        })
        .sum();
    assert_eq!(rows.len(), on_disk, "every version of prompts/ is listed");
    assert_eq!(versions.len(), 7);
    for (name, (_, active)) in &versions {
        // The judge prompt of `promptctl eval` is published with the others but served nowhere.
        let expected = usize::from(name != "eval-judge");
        assert_eq!(*active, expected, "`{name}` has exactly {expected} active version");
    }

    let redis_cli = |args: &[&str]| -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (installed with redis-server)");
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let entry: serde_json::Value =
        serde_json::from_str(&redis_cli(&["GET", "prompt:qa-system-prompt:active"])).unwrap();
    assert_eq!(entry["name"], "qa-system-prompt");
    assert_eq!(entry["version"], 1);
    let v1 = std::fs::read_to_string(repo.join("prompts/qa-system-prompt/v1.prompt")).unwrap();
    assert!(v1.ends_with(entry["content"].as_str().unwrap()), "the content is v1's template");
    let ttl: i64 = redis_cli(&["TTL", "prompt:qa-system-prompt:active"]).trim().parse().unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
}

#[test]
fn a_tampered_bundle_is_refused_and_changes_nothing() {
    let Some(database) = postgres_database() else { return };
    let deploy = Deploy::new(&database, None, "");
    deploy.build();
    let bundle = deploy.path().join(".promptctl/build/bundle.json");
    let text = std::fs::read_to_string(&bundle).unwrap();
    std::fs::write(&bundle, text.replacen("Hello", "Hellö", 1)).unwrap();
    let refused = deploy.run(&["publish", "--env", "production"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("signature"), "{}", refused.stderr);
    assert_eq!(deploy.tables(), 0, "a refused bundle touched the store");
}

/// Eight publishers race with eight bundles (seq 1..8): the lock serialises them, the lower ones
/// that come late are refused as downgrades, and the store ends at seq 8 with one active version
/// per template.
#[test]
fn concurrent_publishes_serialise() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        let mut folders = Vec::new();
        for seq in 1..=8u32 {
            if seq > 1 {
                let version = if seq % 2 == 0 { 2 } else { 1 };
                deploy.change(
                    &[(
                        "prompts/greeter/prompt.toml",
                        &manifest(version, 2, &format!("Greets a user ({seq})")),
                    )],
                    &format!("bundle {seq}"),
                );
            } else {
                deploy.build();
            }
            let folder = deploy.path().join(format!("bundle-{seq}"));
            test_support::copy_tree(&deploy.path().join(".promptctl/build"), &folder)
                .expect("copy the bundle");
            folders.push(folder);
        }
        let children: Vec<_> = folders
            .iter()
            .rev()
            .map(|folder| {
                let mut command = Command::new(crate::support::binary());
                command
                    .arg("--root")
                    .arg(deploy.path())
                    .args(["publish", "--env", "production", "--bundle"])
                    .arg(folder)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                command.spawn().unwrap()
            })
            .collect();
        let mut published = 0;
        for child in children {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            match output.status.code() {
                Some(0) => published += 1,
                Some(2) => assert!(
                    stderr.contains("is not higher than the store's last deployment"),
                    "{backend:?}: {stderr}"
                ),
                other => panic!("{backend:?}: exit {other:?}: {stderr}"),
            }
        }
        assert!(published >= 1, "{backend:?}");
        let mut store = deploy.store();
        let highest =
            store.query("SELECT MAX(seq), COUNT(*) FROM prompt_deployments", &[]).unwrap();
        assert_eq!(highest[0].int(0).unwrap(), 8, "{backend:?}");
        assert_eq!(highest[0].int(1).unwrap(), published, "{backend:?}");
        let actives = store
            .query("SELECT t.name, COUNT(*) FROM prompt_versions v JOIN prompt_templates t ON t.id = v.template_id WHERE v.is_active = $1 GROUP BY t.name ORDER BY t.name", &[true.into()])
            .unwrap();
        assert_eq!(actives.len(), 2);
        for row in &actives {
            assert_eq!(row.int(1).unwrap(), 1, "{backend:?}: {}", row.text(0).unwrap());
        }
        // Bundle 8 serves greeter v2 in production, and nothing can be published after it.
        assert_eq!(deploy.active("greeter"), Some(2), "{backend:?}");
    }
}

/// Another session kills the publisher's connection in the middle of its transaction.
#[test]
fn a_connection_killed_mid_transaction_leaves_the_store_as_it_was() {
    let Some(database) = postgres_database() else { return };
    let deploy = Deploy::new(&database, None, "");
    deploy.build();
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
    deploy.change(&[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))], "serve v2");
    let snapshot = |deploy: &Deploy| -> Vec<i64> {
        [
            "prompt_templates",
            "prompt_versions",
            "prompt_activations",
            "prompt_audit_logs",
            "prompt_deployments",
        ]
        .iter()
        .map(|table| deploy.count(table))
        .collect()
    };
    let before = snapshot(&deploy);
    // Hold the transaction open at its last insert, long enough to be found and killed.
    deploy
        .store()
        .batch(
            "CREATE FUNCTION linger() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER linger BEFORE INSERT ON prompt_deployments FOR EACH ROW EXECUTE FUNCTION linger();",
        )
        .unwrap();
    let child = Command::new(crate::support::binary())
        .arg("--root")
        .arg(deploy.path())
        .args(["publish", "--env", "production"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut killer = deploy.store();
    let started = std::time::Instant::now();
    let killed = loop {
        let rows = killer
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND query LIKE 'INSERT INTO prompt_deployments%'",
                &[],
            )
            .unwrap();
        if !rows.is_empty() {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    assert!(killed, "the publisher never reached its last insert");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the connection to the store was lost")
            && stderr.contains("nothing was committed"),
        "{stderr}"
    );
    deploy.store().batch("DROP TRIGGER linger ON prompt_deployments").unwrap();
    assert_eq!(snapshot(&deploy), before, "the store changed");
    assert_eq!(deploy.active("greeter"), Some(1));
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &["* activate greeter v1 -> v2"]);
}

#[test]
fn redis_stopped_during_a_publish_exits_3_and_warm_repairs() {
    let Some(redis) = or_skip(Redis::start()) else { return };
    let Some(database) = postgres_database() else { return };
    let deploy = Deploy::new(&database, Some(&redis.url()), "");
    deploy.build();
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &["2 entries written"]);
    deploy.change(&[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))], "serve v2");
    redis.stop();
    let stale = deploy.run(&["publish", "--env", "production"]);
    expect(&stale, 3, &["cannot reach Redis", "run `promptctl warm --env production`"]);
    assert_eq!(deploy.active("greeter"), Some(2));
    redis.start_again();
    assert_eq!(deploy.cache_entry("greeter"), None, "a restarted redis-server is empty");
    expect(&deploy.run(&["warm", "--env", "production"]), 0, &["2 entries written"]);
    assert_eq!(deploy.cache_entry("greeter").unwrap()["version"], 2);
}

/// The fast re-publish of a known bundle still refuses what a full verification would.
#[test]
fn a_republished_bundle_must_still_be_trusted_and_unexpired() {
    let deploy = Deploy::new("sqlite:store.sqlite3", None, "");
    deploy.build();
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &["published"]);
    // The key is no longer trusted: the bundle is verified in full, and refused.
    expect(
        &deploy.run(&[
            "keygen",
            "--public",
            "keys/other.pub",
            "--secret",
            ".promptctl/keys/other.key",
        ]),
        0,
        &[],
    );
    let config = deploy.repo.read("promptctl.toml").replace("keys/promptctl.pub", "keys/other.pub");
    deploy.repo.write("promptctl.toml", &config);
    let refused = deploy.run(&["publish", "--env", "production"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("not trusted") || refused.stderr.contains("trusted"),
        "{}",
        refused.stderr
    );
    // Changed bytes no longer match their signature.
    let config = deploy.repo.read("promptctl.toml").replace("keys/other.pub", "keys/promptctl.pub");
    deploy.repo.write("promptctl.toml", &config);
    let bundle = deploy.path().join(".promptctl/build/bundle.json");
    let text = std::fs::read_to_string(&bundle).unwrap();
    std::fs::write(&bundle, text.replacen("Goodbye", "Goodbyf", 1)).unwrap();
    let tampered = deploy.run(&["publish", "--env", "production"]);
    assert_eq!(tampered.code, 2, "{}", tampered.stdout);
}

/// Every row a publish writes that says what is served and why, without ids and times: two stores
/// that went through the same publishes show the same lines.
fn snapshot(root: &Path, url: &str) -> Vec<String> {
    let location = Location::parse(url, root).expect("store URL");
    let mut store = store::open(&location).expect("open the store");
    let mut lines = Vec::new();
    for (what, sql) in [
        ("template", "SELECT name, description FROM prompt_templates"),
        (
            "version",
            "SELECT t.name, v.version_number, v.source_sha256, v.content_sha256, v.is_active, v.contract_fingerprint, v.git_commit FROM prompt_versions v JOIN prompt_templates t ON t.id = v.template_id",
        ),
        (
            "activation",
            "SELECT t.name, v.version_number, p.version_number, a.action, a.actor, a.bundle_seq, a.reason FROM prompt_activations a JOIN prompt_templates t ON t.id = a.template_id JOIN prompt_versions v ON v.id = a.version_id LEFT JOIN prompt_versions p ON p.id = a.previous_version_id",
        ),
        ("audit", "SELECT action, changed_by, details FROM prompt_audit_logs"),
        ("deployment", "SELECT seq, environment, bundle_sha256, git_commit FROM prompt_deployments"),
    ] {
        for row in store.query(sql, &[]).expect(sql) {
            lines.push(format!("{what} {:?}", row.0));
        }
    }
    lines.sort();
    lines
}

#[test]
fn a_publish_looks_only_at_changed_prompts_and_ends_as_a_full_one_would() {
    for (backend, url) in backends() {
        let Some(full) = store_url(backend) else { return };
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        let first = ["publish", "--env", "production"];
        expect(&deploy.run(&first), 0, &["published"]);
        expect(&deploy.run(&["publish", "--env", "production", "--db", &full]), 0, &["published"]);
        assert_eq!(deploy.count("promptctl_published"), 2, "{backend:?}");

        // A new version of one prompt, served; the other prompt is known and left alone.
        deploy.change(
            &[
                ("prompts/greeter/v3.prompt", &greeter_version("Hi")),
                ("prompts/greeter/prompt.toml", &manifest(3, 2, "Greets a user")),
            ],
            "greeter v3",
        );
        let published = deploy.run(&first);
        expect(&published, 0, &["+ version greeter v3", "* activate greeter v1 -> v3"]);
        let plan = published.stdout.split("\nprompt ").next().unwrap_or("");
        assert!(!plan.contains("farewell"), "{}", published.stdout);
        assert_eq!(deploy.count("promptctl_published"), 2, "{backend:?}");
        // The same bundle into a store that forgot what it published is looked at in full.
        let mut other = store::open(&Location::parse(&full, deploy.path()).unwrap()).unwrap();
        other.batch("DELETE FROM promptctl_published").unwrap();
        drop(other);
        expect(&deploy.run(&["publish", "--env", "production", "--db", &full]), 0, &["v1 -> v3"]);
        assert_eq!(
            snapshot(deploy.path(), &url),
            snapshot(deploy.path(), &full),
            "{backend:?}: the incremental publish differs from the full one"
        );
        expect(&deploy.run(&first), 0, &["is already published", "nothing changed"]);
    }
}

#[test]
fn a_rollback_by_hand_in_sql_is_seen_by_the_next_publish() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["published"]);
        deploy.change(
            &[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))],
            "serve v2",
        );
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["v1 -> v2"]);
        // An operator switches greeter back to v1 with SQL, bypassing promptctl.
        let mut store = deploy.store();
        for (number, active) in [(2, false), (1, true)] {
            store
                .execute(
                    "UPDATE prompt_versions SET is_active = $1 WHERE version_number = $2 AND template_id = (SELECT id FROM prompt_templates WHERE name = $3)",
                    &[active.into(), (number as i64).into(), "greeter".into()],
                )
                .unwrap();
        }
        drop(store);
        assert_eq!(deploy.count("promptctl_published"), 1, "{backend:?}: greeter is forgotten");
        // Only farewell changes in the repository; the drift of greeter is still found.
        deploy.change(
            &[("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye politely"))],
            "describe",
        );
        let refused = deploy.run(&["publish", "--env", "production"]);
        expect(&refused, 2, &["(drift)", "`greeter`: published v2, active v1", "--force"]);
        assert_eq!(deploy.active("greeter"), Some(1), "{backend:?}");
        let forced = deploy.run(&["publish", "--env", "production", "--force"]);
        expect(&forced, 0, &["* activate greeter v1 -> v2", "~ description of farewell"]);
        assert_eq!(deploy.active("greeter"), Some(2), "{backend:?}");
        assert_eq!(deploy.count("promptctl_published"), 2, "{backend:?}");
    }
}

#[test]
fn a_prompt_left_out_by_only_is_looked_at_in_full_next_time() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["published"]);
        deploy.change(
            &[
                ("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user")),
                ("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye for now")),
            ],
            "both change",
        );
        let only = deploy.run(&["publish", "--env", "production", "--only", "farewell"]);
        expect(&only, 0, &["~ description of farewell"]);
        assert_eq!(deploy.active("greeter"), Some(1), "{backend:?}");
        // greeter's JSON was published without its activation: nothing is recorded for it.
        deploy.change(
            &[("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye"))],
            "farewell as it was",
        );
        let next = deploy.run(&["publish", "--env", "production"]);
        expect(&next, 0, &["* activate greeter v1 -> v2", "~ description of farewell"]);
        assert_eq!(deploy.active("greeter"), Some(2), "{backend:?}");
        let rows = deploy
            .store()
            .query("SELECT description FROM prompt_templates WHERE name = $1", &["farewell".into()])
            .unwrap();
        assert_eq!(rows[0].text(0).unwrap(), "Says goodbye", "{backend:?}");
    }
}

/// Signs `json` as a bundle with the deploy's key, the way `build` does.
fn sign_bundle(deploy: &Deploy, json: &str) {
    use sha2::Digest;
    let key = promptctl::signing::read_secret_key(
        &deploy.repo.read(".promptctl/keys/promptctl.key"),
        None,
        "test key",
    )
    .expect("key");
    let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let comment = format!(
        "format={} seq={} commit={} sha256={}",
        value["format"].as_str().unwrap(),
        value["seq"],
        value["git_commit"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(json.as_bytes()))
    );
    deploy.repo.write(".promptctl/build/bundle.json", json);
    deploy.repo.write(
        ".promptctl/build/bundle.json.minisig",
        &promptctl::signing::sign(&key, json.as_bytes(), &comment, "test"),
    );
}

#[test]
fn a_corrupt_prompt_in_a_signed_bundle_is_refused_even_when_others_are_known() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["published"]);
        deploy.change(
            &[("prompts/farewell/prompt.toml", &manifest(1, 1, "Says goodbye politely"))],
            "describe",
        );
        let json = deploy.repo.read(".promptctl/build/bundle.json");
        // Signed by the trusted key, but greeter's (unchanged) text no longer matches its sha256.
        let corrupt = json.replacen("Hello, {{name}}", "Hello, {{name}}!", 1);
        assert_ne!(corrupt, json);
        sign_bundle(&deploy, &corrupt);
        let refused = deploy.run(&["publish", "--env", "production"]);
        expect(&refused, 2, &["version 1 of `greeter` in the bundle is corrupt: `sha256` is "]);
        assert_eq!(deploy.count("prompt_deployments"), 1, "{backend:?}");
        // Not canonical inside one prompt: refused too, and nothing written.
        let spaced = json.replacen("\"activate\":{", "\"activate\": {", 1);
        sign_bundle(&deploy, &spaced);
        let refused = deploy.run(&["publish", "--env", "production"]);
        expect(&refused, 2, &["not in canonical form"]);
        assert_eq!(deploy.count("prompt_deployments"), 1, "{backend:?}");
        sign_bundle(&deploy, &json);
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["~ description of farewell"]);
    }
}

/// A bundle `build` would never write (an activation of a version it does not hold), signed with
/// the project's own key: `verify-bundle` and `publish` refuse it with exit 2 (publish once
/// panicked at "every bundled version is stored") and the store is left as it was.
#[test]
fn a_signed_bundle_that_breaks_the_format_is_refused() {
    let deploy = Deploy::new("sqlite:store.sqlite3", None, "");
    deploy.build();
    let bundle_path = deploy.path().join(".promptctl/build/bundle.json");
    let mut bundle: promptctl::bundle::Bundle =
        serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    bundle.prompts.get_mut("greeter").unwrap().activate.insert("production".into(), 9);
    let json = promptctl::bundle::to_json(&bundle);
    let key_text =
        std::fs::read_to_string(deploy.path().join(".promptctl/keys/promptctl.key")).unwrap();
    let key = promptctl::signing::read_secret_key(&key_text, None, "the test key").unwrap();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(json.as_bytes()));
    let signature = promptctl::signing::sign(
        &key,
        json.as_bytes(),
        &promptctl::bundle::trusted_comment(&bundle, &sha256),
        promptctl::bundle::UNTRUSTED_COMMENT,
    );
    std::fs::write(&bundle_path, &json).unwrap();
    std::fs::write(deploy.path().join(".promptctl/build/bundle.json.minisig"), signature).unwrap();
    let expected =
        "prompt `greeter`: it activates version 9 in `production`, which it does not hold";
    let verified = deploy.run(&["verify-bundle", ".promptctl/build/bundle.json"]);
    expect(&verified, 2, &[expected]);
    let published = deploy.run(&["publish", "--env", "production"]);
    expect(&published, 2, &[expected]);
    assert_eq!(deploy.active("greeter"), None);
}

/// `status` is read-only and says what it does not know: a never-published SQLite store is not
/// created, and an unreachable cache makes its entries unknown and the exit code 3, never "ok".
#[test]
fn status_creates_nothing_and_reports_an_unreachable_cache() {
    let deploy = Deploy::new("sqlite:store.sqlite3", None, "");
    let status = deploy.run(&["status", "--env", "production"]);
    expect(&status, 0, &["never published"]);
    assert!(!deploy.path().join("store.sqlite3").exists(), "status created the store");
    let json = deploy.run(&["status", "--env", "production", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["published"], false);
    assert!(!deploy.path().join("store.sqlite3").exists());

    // Published, then the cache is gone: exit 3, the cache unknown, not fresh.
    deploy.build();
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gone = format!("redis://127.0.0.1:{port}/");
    let status = deploy.run(&["status", "--env", "production", "--redis", &gone]);
    expect(&status, 3, &["cache unreachable, its entries unknown"]);
    assert!(!status.stdout.contains("never published"), "{}", status.stdout);
    let json = deploy.run(&["status", "--env", "production", "--redis", &gone, "--format", "json"]);
    assert_eq!(json.code, 3);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["published"], true);
    assert_eq!(json["cache"], "unreachable");
    for prompt in json["prompts"].as_array().unwrap() {
        assert_eq!(prompt["cache_stale"], serde_json::Value::Null, "{prompt}");
    }
}

#[test]
fn an_edited_released_migration_is_refused_and_old_ledgers_adopt_checksums() {
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, None, "");
        deploy.build();
        expect(&deploy.run(&["publish", "--env", "production"]), 0, &["published `production`"]);
        // Every applied migration is recorded with the sha256 of the file it ran.
        let checksums = deploy
            .store()
            .query("SELECT version, checksum FROM promptctl_migrations ORDER BY version", &[])
            .unwrap();
        assert_eq!(checksums.len(), store::schema::MIGRATIONS.len(), "{backend:?}");
        let dialect = deploy.store().dialect();
        for (row, migration) in checksums.iter().zip(store::schema::MIGRATIONS) {
            assert_eq!(row.int(0).unwrap(), migration.version);
            assert_eq!(row.text(1).unwrap(), migration.checksum(dialect), "{backend:?}");
        }

        // A store migrated from other SQL for migration 1 (as if the released file was edited
        // since): every command that uses the schema refuses, naming the migration.
        deploy
            .store()
            .execute(
                "UPDATE promptctl_migrations SET checksum = $1 WHERE version = 1",
                &["0000".into()],
            )
            .unwrap();
        for args in [
            &["db", "migrate", "--env", "production"][..],
            &["publish", "--env", "production"],
            &["status", "--env", "production"],
        ] {
            let refused = deploy.run(args);
            assert_ne!(refused.code, 0, "{backend:?} {args:?}: {}", refused.stdout);
            assert!(
                refused.stderr.contains(
                    "migration 1 (prompt tables) was applied to this store from other SQL"
                ) && refused.stderr.contains("recorded sha256 0000"),
                "{backend:?} {args:?}: {}",
                refused.stderr
            );
        }

        // A ledger written before checksums were kept (no checksum column) passes, and the next
        // `db migrate` records the files' checksums.
        let mut connection = deploy.store();
        connection.batch("ALTER TABLE promptctl_migrations DROP COLUMN checksum").unwrap();
        drop(connection);
        expect(&deploy.run(&["status", "--env", "production"]), 0, &[]);
        expect(
            &deploy.run(&["db", "migrate", "--env", "production"]),
            0,
            &["schema up to date (migration 3)"],
        );
        let adopted = deploy
            .store()
            .query("SELECT COUNT(*) FROM promptctl_migrations WHERE checksum IS NOT NULL", &[])
            .unwrap();
        assert_eq!(
            adopted[0].int(0).unwrap(),
            store::schema::MIGRATIONS.len() as i64,
            "{backend:?}"
        );
    }
}

#[test]
fn rollback_speaks_json() {
    let Some(url) = store_url(Backend::Sqlite) else { return };
    // With a cache, its line goes to stderr: stdout holds the JSON alone.
    let redis = shared_redis();
    let redis_url = redis.as_ref().map(|redis| redis.url());
    let deploy = Deploy::new(&url, redis_url.as_deref(), "");
    deploy.build();
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
    deploy.change(&[("prompts/greeter/prompt.toml", &manifest(2, 2, "Greets a user"))], "serve v2");
    expect(&deploy.run(&["publish", "--env", "production"]), 0, &[]);
    let rolled = deploy.run(&[
        "rollback",
        "greeter",
        "--env",
        "production",
        "--reason",
        "v2 confuses users",
        "--actor",
        "oncall",
        "--format",
        "json",
    ]);
    assert_eq!(rolled.code, 0, "{}{}", rolled.stdout, rolled.stderr);
    let value: serde_json::Value = serde_json::from_str(&rolled.stdout).expect("one JSON object");
    assert_eq!(value["status"], "rolled-back");
    assert_eq!(value["prompt"], "greeter");
    assert_eq!(value["environment"], "production");
    assert_eq!((value["from"].as_i64(), value["to"].as_i64()), (Some(2), Some(1)));
    assert_eq!(
        (value["actor"].as_str(), value["reason"].as_str()),
        (Some("oncall"), Some("v2 confuses users"))
    );
    assert_eq!(deploy.active("greeter"), Some(1));
    if let Some(redis_url) = &redis_url {
        assert!(rolled.stderr.contains(&format!("cache {redis_url}")), "{}", rolled.stderr);
    }

    // A refusal is one JSON object with a code as well, and changes nothing.
    let refused = deploy.run(&[
        "rollback",
        "greeterr",
        "--env",
        "production",
        "--reason",
        "x",
        "--format",
        "json",
    ]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    let value: serde_json::Value = serde_json::from_str(&refused.stdout).expect("one JSON object");
    assert_eq!(value["code"], "failure/refused");
    assert!(
        value["message"].as_str().unwrap_or_default().contains("did you mean `greeter`?"),
        "{value}"
    );
    assert_eq!(deploy.active("greeter"), Some(1));
}
