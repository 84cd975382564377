//! `bundle.json` and its signature (docs/bundle.md): assembling a bundle from the catalog and the
//! commit it was built from, its canonical JSON, the trusted comment, and verification. A bundle
//! whose signature and layout passed is a `Verified`, which only `authenticate` and `verify`
//! make; its prompts are checked on first use. Assembling, signing and verifying are pure;
//! reading the commit's provenance from git (`head`, `Head::provenance`) is the only I/O.
//!
//! Here: the format's types, `assemble` and the errors; `canonical` (the canonical JSON),
//! `write` (writing, hashing, signing), `verify` (authentication and the per-prompt checks) and
//! `provenance` (what git says about the commit).

use crate::catalog::{self, Catalog};
use crate::signing::{self, PublicKey, SecretKey};
use crate::syntax::prompt::{Type, Variable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod canonical;
mod provenance;
mod verify;
mod write;

#[cfg(test)]
use crate::git::parse_stage;
pub use canonical::to_json;
use canonical::*;
#[cfg(test)]
use provenance::*;
pub use provenance::{head, Head, WorkFile};
#[cfg(test)]
use verify::*;
pub use verify::{authenticate, verify, Header, Verified};
use write::*;
pub use write::{sign, trusted_comment, write, write_entries, PromptEntry, Signed, Written};

/// The format of `bundle.json` this version of promptctl writes and reads.
pub const FORMAT: &str = "promptctl.bundle/1";

/// The untrusted comment of every signature (minisign shows it, nobody should trust it).
pub const UNTRUSTED_COMMENT: &str = "promptctl bundle signature";

// Fields are declared in the byte order of their names: serde writes them in declaration order,
// so `to_json` is canonical without sorting (a test compares it with `catalog::canonical_json`).

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The commit's time (RFC 3339, UTC), so that a rebuild of the same commit is identical.
    pub created: String,
    /// Signed with a local development key, not a configured one.
    pub development_signed: bool,
    /// The project's files had uncommitted changes when it was built.
    pub dirty: bool,
    /// The environments of `promptctl.toml`, sorted.
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub format: String,
    pub git_commit: String,
    /// The id of the key that signed it (16 uppercase hex digits, as minisign shows it).
    pub key_id: String,
    pub prompts: BTreeMap<String, BundlePrompt>,
    /// The first-parent commit count of `git_commit`: increases along the deploy branch.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePrompt {
    /// Environment to the version it serves (to every key outside a canary).
    pub activate: BTreeMap<String, u32>,
    /// Environment to its canary (`catalog::Canary`); absent when none rolls one out, so that
    /// bundles without canaries keep their bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canary: BTreeMap<String, catalog::Canary>,
    pub description: String,
    /// Every version, sorted by number.
    pub versions: Vec<BundleVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleVersion {
    /// The variable-contract fingerprint (`catalog::contract` of `variables`).
    pub contract: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The version file up to and including its closing `+++` line.
    pub front_matter: String,
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "sorted_option")]
    pub model: Option<serde_json::Value>,
    /// sha256 of `front_matter` followed by `template`: the version file, as in `prompts.lock`.
    pub sha256: String,
    /// The template: the rest of the version file.
    pub template: String,
    /// The variable specs, keyed by name, in the front matter's shape.
    #[serde(serialize_with = "sorted")]
    pub variables: serde_json::Value,
    pub version: u32,
}

/// Serialises a JSON value with object keys sorted, whatever map type `serde_json` uses.
struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let mut output = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    output.serialize_entry(key, &Sorted(value))?;
                }
                output.end()
            }
            serde_json::Value::Array(items) => {
                let mut output = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    output.serialize_element(&Sorted(item))?;
                }
                output.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

fn sorted<S: serde::Serializer>(
    value: &serde_json::Value,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Sorted(value).serialize(serializer)
}

fn sorted_option<S: serde::Serializer>(
    value: &Option<serde_json::Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_some(&Sorted(value)),
        None => serializer.serialize_none(),
    }
}

/// Where a bundle comes from: the commit and the state of the work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub seq: u64,
    pub git_commit: String,
    /// The committer time, in seconds since the Unix epoch.
    pub commit_time: i64,
    pub dirty: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The bundle expires this many days after its commit's time.
    pub expires_in_days: Option<u32>,
    pub development_signed: bool,
}

/// Operational failures of building and verifying bundles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading HEAD or `git status` failed.
    #[error(transparent)]
    Git(#[from] crate::git::Error),
    #[error("cannot read `{path}`")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("no signature next to the bundle: `{path}` is missing; build with `promptctl build`, or copy the `.minisig` file along with the bundle")]
    SignatureMissing { path: PathBuf },
    #[error("no trusted public key: list them in `[signing] public_keys` of promptctl.toml, or pass `--pubkey FILE`")]
    NoTrustedKeys,
    #[error("the bundle is signed by key {key_id}, which is not trusted (trusted: {trusted}); pass its public key with `--pubkey FILE` if you trust it")]
    UntrustedKey { key_id: String, trusted: String },
    #[error(transparent)]
    Key(#[from] signing::Error),
    #[error("the trusted comment of the signature does not match the bundle: {message}")]
    TrustedComment { message: String },
    #[error("the bundle is not valid JSON of a bundle: {message}")]
    Malformed { message: String },
    #[error("unknown bundle format `{found}`; this promptctl reads `{FORMAT}`: upgrade promptctl")]
    UnknownFormat { found: String },
    #[error("the bundle is not in canonical form (sorted keys, no whitespace); it was not written by `promptctl build`")]
    NotCanonical,
    #[error("the bundle names key {claimed} but is signed by key {actual}")]
    KeyMismatch { claimed: String, actual: String },
    #[error("the bundle expired at {expires} (it is now {now}); build a new one")]
    Expired { expires: String, now: String },
    #[error("version {version} of `{prompt}` in the bundle is corrupt: {message}")]
    Integrity { prompt: String, version: u32, message: String },
    #[error("the bundle breaks a rule of its format: {message}; `promptctl build` never writes such a bundle")]
    Invalid { message: String },
}

/// Builds the bundle of `catalog` (pure).
pub fn assemble(
    catalog: &Catalog,
    provenance: &Provenance,
    key_id: &str,
    options: Options,
) -> Bundle {
    use rayon::prelude::*;
    let prompts: Vec<(String, BundlePrompt)> = catalog
        .prompts
        .par_iter()
        .map(|prompt| {
            let versions = prompt
                .versions
                .iter()
                .map(|version| {
                    let variables = version.variables_json();
                    (version, catalog::contract(&variables), variables)
                })
                .map(|(version, contract, variables)| BundleVersion {
                    version: version.number,
                    description: version.description.clone(),
                    sha256: version.sha256.clone(),
                    contract,
                    front_matter: version.front_matter.clone(),
                    template: version.template.clone(),
                    variables,
                    model: version.model.as_ref().map(|model| {
                        crate::syntax::prompt::toml_to_json(&toml::Value::Table(model.clone()))
                    }),
                })
                .collect();
            let entry = BundlePrompt {
                description: prompt.description.clone(),
                activate: prompt.activate.clone(),
                canary: prompt.canary.clone(),
                versions,
            };
            (prompt.name.clone(), entry)
        })
        .collect();
    Bundle {
        format: FORMAT.to_string(),
        seq: provenance.seq,
        git_commit: provenance.git_commit.clone(),
        created: rfc3339(provenance.commit_time),
        expires: expires(provenance, options),
        key_id: key_id.to_string(),
        dirty: provenance.dirty,
        development_signed: options.development_signed,
        environments: catalog.environments.clone(),
        prompts: prompts.into_iter().collect(),
    }
}

/// When a bundle built from `provenance` with `options` expires (RFC 3339), if it does.
pub fn expires(provenance: &Provenance, options: Options) -> Option<String> {
    options.expires_in_days.map(|days| rfc3339(provenance.commit_time + i64::from(days) * 86_400))
}

pub use crate::time::{parse_rfc3339, rfc3339};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_is_canonical() {
        let version = BundleVersion {
            contract: "c".into(),
            description: Some("d".into()),
            front_matter: "+++\n+++\n".into(),
            model: Some(
                serde_json::json!({ "z": 1, "a": { "y": [2.5, { "b": 1, "a": 0 }], "x": null } }),
            ),
            sha256: "s".into(),
            template: "t".into(),
            variables: serde_json::json!({ "b": { "type": "string" }, "a": { "type": "integer" } }),
            version: 1,
        };
        let bundle = Bundle {
            created: "2001-02-03T04:05:06Z".into(),
            development_signed: true,
            dirty: false,
            environments: vec!["production".into()],
            expires: Some("2001-02-04T04:05:06Z".into()),
            format: FORMAT.into(),
            git_commit: "0".repeat(40),
            key_id: "0123456789ABCDEF".into(),
            prompts: BTreeMap::from([(
                "p".to_string(),
                BundlePrompt {
                    activate: BTreeMap::from([("production".to_string(), 1)]),
                    canary: BTreeMap::new(),
                    description: "x".into(),
                    versions: vec![version],
                },
            )]),
            seq: 7,
        };
        let json = to_json(&bundle);
        let value = serde_json::to_value(&bundle).expect("value");
        assert_eq!(json, catalog::canonical_json(&value));
        assert_eq!(json, serde_json::to_string(&bundle).expect("whole"));
        assert_eq!(serde_json::from_str::<Bundle>(&json).expect("reads back"), bundle);
    }

    fn variable(name: &str, ty: Type) -> Variable {
        Variable {
            name: name.into(),
            ty,
            required: name.len() % 2 == 0,
            description: (name.len() % 3 != 0).then(|| format!("the \"{name}\"\tvariable ünïcode")),
            user_source: name.starts_with('u'),
            span: 0..0,
        }
    }

    /// A catalog with every type, nesting, a model, texts that need escaping, and a prompt out of
    /// order.
    fn catalog() -> Catalog {
        let item = variable(
            "item",
            Type::Object(vec![
                variable("zeta", Type::Number),
                variable("alpha", Type::Enum(vec!["b".into(), "a\"q".into()])),
            ]),
        );
        let variables = vec![
            variable("user_text", Type::String { max_len: Some(4000) }),
            variable("a", Type::Integer),
            variable("Bee", Type::Boolean),
            variable("list", Type::Array(Box::new(item))),
            variable("names", Type::Array(Box::new(variable("n", Type::String { max_len: None })))),
            variable("obj", Type::Object(vec![variable("inner", Type::String { max_len: None })])),
        ];
        let model: toml::Table = toml::from_str(
            "name = \"gpt\"\ntemperature = 0.25\nz = [1, 2.5e300, \"x\"]\n[params]\nb = true\na = 1979-05-27T07:32:00Z\n",
        )
        .expect("model");
        let version = |number: u32, model: Option<toml::Table>| catalog::Version {
            number,
            description: (number == 1).then(|| "first \u{1} \u{7f} \\ / \u{2028}".to_string()),
            front_matter: format!("+++\ndescription = \"v{number}\"\n+++\n"),
            template: "Hello {{user_text}}\r\n\u{8}\u{c}\"quoted\" \\ back\n\u{1f}😀\n".into(),
            sha256: format!("{number:064}"),
            variables: variables.clone(),
            model,
        };
        let prompt = |name: &str| catalog::Prompt {
            name: name.into(),
            description: format!("{name}: \"described\"\n"),
            activate: BTreeMap::from([("staging".to_string(), 2), ("production".to_string(), 1)]),
            // One prompt with a canary: the hand-written writer must match serde on both shapes.
            canary: if name.starts_with('c') {
                BTreeMap::from([(
                    "production".to_string(),
                    catalog::Canary { version: 2, basis_points: 1250 },
                )])
            } else {
                BTreeMap::new()
            },
            versions: vec![version(1, Some(model.clone())), version(2, None)],
        };
        Catalog {
            environments: vec!["production".into(), "staging".into()],
            prompts: vec![prompt("qa"), prompt("b-prompt"), prompt("chess")],
        }
    }

    #[test]
    fn build_writes_the_bytes_of_sign_and_assemble() {
        let (_, secret, _) = signing::generate(None).expect("generate");
        let key = signing::read_secret_key(&secret, None, "test key").expect("read");
        let catalog = catalog();
        for (dirty, options) in [
            (false, Options { expires_in_days: None, development_signed: false }),
            (true, Options { expires_in_days: Some(30), development_signed: true }),
        ] {
            let provenance = Provenance {
                seq: 42,
                git_commit: "ab".repeat(20),
                commit_time: 981_173_106,
                dirty,
            };
            let reference = sign(&assemble(&catalog, &provenance, &key.key_id(), options), &key);
            for batch_size in [1, 2, 3, 256] {
                let mut bytes = Vec::new();
                let written =
                    write_in_batches(&catalog, &provenance, &key, options, &mut bytes, batch_size)
                        .expect("write");
                assert_eq!(String::from_utf8(bytes).expect("utf-8"), reference.json);
                assert_eq!(written.sha256, reference.sha256);
                assert_eq!(written.signature, reference.signature);
            }
            // Entries serialised one by one, in any order, give the same bytes.
            let mut entries: Vec<PromptEntry> =
                catalog.prompts.iter().map(PromptEntry::new).collect();
            entries.reverse();
            let mut bytes = Vec::new();
            let written = write_entries(
                &entries,
                &catalog.environments,
                &provenance,
                &key,
                options,
                &mut bytes,
            )
            .expect("write");
            assert_eq!(String::from_utf8(bytes).expect("utf-8"), reference.json);
            assert_eq!(written.signature, reference.signature);
            let value: serde_json::Value = serde_json::from_str(&reference.json).expect("json");
            assert_eq!(reference.json, catalog::canonical_json(&value));
        }
    }

    /// A signed bundle of `catalog()` with real digests, its key, and the trusted public key.
    fn signed_bundle() -> (Bundle, SecretKey, PublicKey) {
        let (_, secret, _) = signing::generate(None).expect("generate");
        let key = signing::read_secret_key(&secret, None, "test key").expect("read");
        let public = signing::read_public_key(&key.public_key_text(), "test key").expect("public");
        let mut catalog = catalog();
        for prompt in &mut catalog.prompts {
            for version in &mut prompt.versions {
                let mut hasher = Sha256::new();
                hasher.update(version.front_matter.as_bytes());
                hasher.update(version.template.as_bytes());
                version.sha256 = hex::encode(hasher.finalize());
            }
        }
        let provenance = Provenance {
            seq: 7,
            git_commit: "cd".repeat(20),
            commit_time: 981_173_106,
            dirty: false,
        };
        let options = Options { expires_in_days: None, development_signed: false };
        (assemble(&catalog, &provenance, &key.key_id(), options), key, public)
    }

    /// Signs `json` as `build` would sign a bundle with that format, seq and commit.
    fn sign_json(json: &str, bundle: &Bundle, key: &SecretKey) -> String {
        let sha256 = hex::encode(Sha256::digest(json.as_bytes()));
        signing::sign(key, json.as_bytes(), &trusted_comment(bundle, &sha256), UNTRUSTED_COMMENT)
    }

    fn authentic(
        json: &str,
        bundle: &Bundle,
        key: &SecretKey,
        public: &PublicKey,
    ) -> Result<Verified, Error> {
        let signature = sign_json(json, bundle, key);
        authenticate(json.as_bytes().to_vec(), &signature, std::slice::from_ref(public), 0)
    }

    #[test]
    fn a_bundle_is_split_into_its_prompts_without_parsing_them() {
        let (bundle, key, public) = signed_bundle();
        let json = to_json(&bundle);
        let verified = authentic(&json, &bundle, &key, &public).expect("authentic");
        assert_eq!(verified.names().collect::<Vec<_>>(), ["b-prompt", "chess", "qa"]);
        assert_eq!(verified.seq(), 7);
        assert_eq!(verified.header().git_commit, "cd".repeat(20));
        // Each prompt's value is exactly its canonical JSON, whatever its strings hold (quotes,
        // backslashes, braces in the template and descriptions).
        for (name, prompt) in &bundle.prompts {
            assert_eq!(verified.prompt(name).expect("checks"), prompt);
            let entry = verified.entry(name).expect("entry");
            assert_eq!(&json.as_bytes()[entry.value.clone()], serde_json::to_vec(prompt).unwrap());
        }
        verified.check_all().expect("every prompt checks");
        assert!(verify(
            json.as_bytes().to_vec(),
            &sign_json(&json, &bundle, &key),
            std::slice::from_ref(&public),
            0
        )
        .is_ok());

        // The digest follows the prompt's bytes, and only them.
        let mut changed = bundle.clone();
        changed.prompts.get_mut("chess").unwrap().description.push('!');
        let other = authentic(&to_json(&changed), &changed, &key, &public).expect("authentic");
        assert_eq!(other.digest("qa"), verified.digest("qa"));
        assert_eq!(other.digest("b-prompt"), verified.digest("b-prompt"));
        assert_ne!(other.digest("chess"), verified.digest("chess"));
        assert_eq!(verified.digest("nope"), None);
    }

    #[test]
    fn bytes_that_are_not_the_canonical_layout_are_refused() {
        let (bundle, key, public) = signed_bundle();
        let json = to_json(&bundle);
        let refused = |text: &str| match authentic(text, &bundle, &key, &public) {
            Ok(verified) => verified.check_all().expect_err("refused"),
            Err(error) => error,
        };
        let pretty = serde_json::to_string_pretty(&bundle).unwrap();
        assert!(matches!(refused(&pretty), Error::NotCanonical), "{}", refused(&pretty));
        // Prompts out of order, and twice.
        let chess =
            format!("\"chess\":{}", serde_json::to_string(&bundle.prompts["chess"]).unwrap());
        let qa = format!("\"qa\":{}", serde_json::to_string(&bundle.prompts["qa"]).unwrap());
        let swapped = json.replace(&format!("{chess},{qa}"), &format!("{qa},{chess}"));
        assert_ne!(swapped, json);
        assert!(matches!(refused(&swapped), Error::NotCanonical));
        let twice = json.replace(&qa, &format!("{qa},{qa}"));
        assert!(matches!(refused(&twice), Error::NotCanonical));
        // Whitespace inside one prompt: the others still check, that one does not.
        let spaced = json.replacen("\"activate\":{", "\"activate\": {", 1);
        let verified = authentic(&spaced, &bundle, &key, &public).expect("the layout holds");
        assert!(matches!(verified.prompt("b-prompt"), Err(Error::NotCanonical)));
        assert!(verified.prompt("qa").is_ok());
        // An unknown field in a prompt, at the top level, a seq with a leading zero, a cut.
        let extra = json.replacen("\"activate\":{", "\"activatf\":1,\"activate\":{", 1);
        let error = refused(&extra);
        assert!(
            error.to_string().contains("prompt `b-prompt`: unknown field `activatf`"),
            "{error}"
        );
        let top = json.replacen("{\"created\"", "{\"a\":1,\"created\"", 1);
        assert!(matches!(refused(&top), Error::Malformed { .. }), "{}", refused(&top));
        let zero = json.replace(",\"seq\":7}", ",\"seq\":07}");
        assert!(matches!(refused(&zero), Error::Malformed { .. } | Error::NotCanonical));
        for cut in [json.len() - 1, json.len() / 2, 40] {
            assert!(matches!(refused(&json[..cut]), Error::Malformed { .. }), "cut at {cut}");
        }
        let future = json.replace(FORMAT, "promptctl.bundle/2");
        let mut newer = bundle.clone();
        newer.format = "promptctl.bundle/2".into();
        let signature = sign_json(&future, &newer, &key);
        let error = authenticate(future.into_bytes(), &signature, std::slice::from_ref(&public), 0)
            .unwrap_err();
        assert!(matches!(error, Error::UnknownFormat { .. }), "{error}");
    }

    #[test]
    fn bundles_build_never_makes_are_refused_even_signed() {
        let (bundle, key, public) = signed_bundle();
        let refused = |bundle: &Bundle| {
            let json = to_json(bundle);
            let error = match authentic(&json, bundle, &key, &public) {
                Ok(verified) => verified.check_all().expect_err("refused"),
                Err(error) => error,
            };
            assert!(matches!(error, Error::Invalid { .. }), "{error}");
            assert!(!error.to_string().contains('\n'), "a newline reaches the logs: {error}");
            error.to_string()
        };
        // Names outside the pattern: they would reach SQL rows, Redis keys and CI logs.
        for name in ["a\nb", "_revision", "", "Qa", "a*", "a\"b", &"a".repeat(5_000)] {
            let mut odd = bundle.clone();
            let prompt = odd.prompts["qa"].clone();
            odd.prompts.insert(name.to_string(), prompt);
            let message = refused(&odd);
            assert!(message.contains("is not a valid prompt name"), "{message}");
            assert!(message.len() < 400, "{message}");
        }
        let with = |change: &dyn Fn(&mut BundlePrompt)| {
            let mut odd = bundle.clone();
            change(odd.prompts.get_mut("qa").unwrap());
            for version in &mut odd.prompts.get_mut("qa").unwrap().versions {
                let mut hasher = Sha256::new();
                hasher.update(version.front_matter.as_bytes());
                hasher.update(version.template.as_bytes());
                version.sha256 = hex::encode(hasher.finalize());
            }
            refused(&odd)
        };
        let message = with(&|prompt| prompt.versions[1] = prompt.versions[0].clone());
        assert!(message.contains("not numbered 1 to 2"), "{message}");
        let message = with(&|prompt| prompt.versions[0].version = 0);
        assert!(message.contains("not numbered 1 to 2"), "{message}");
        let message = with(&|prompt| prompt.versions.clear());
        assert!(message.contains("no version"), "{message}");
        let message = with(&|prompt| prompt.versions[1].template = "{{#if x}}".into());
        assert!(message.contains("version 2 does not parse"), "{message}");
        let deep = format!("{}x{}", "{{#if x}}".repeat(1_500), "{{/if}}".repeat(1_500));
        let message = with(&|prompt| prompt.versions[1].template = deep.clone());
        assert!(message.contains("blocks nest more than 64 deep"), "{message}");
        let huge = "x".repeat(crate::config::MAX_TEMPLATE_BYTES_CAP as usize + 1);
        let message = with(&|prompt| prompt.versions[0].template = huge.clone());
        assert!(message.contains("over the cap"), "{message}");
        let message = with(&|prompt| {
            prompt.activate.insert("production".into(), 5);
        });
        assert!(message.contains("activates version 5 in `production`"), "{message}");
        let message = with(&|prompt| {
            prompt.activate.insert("nowhere".into(), 1);
        });
        assert!(
            message.contains("`nowhere`, an environment the bundle does not list"),
            "{message}"
        );
        // A seq the store cannot keep (it once became -1, voiding the downgrade guard).
        let mut far = bundle.clone();
        far.seq = i64::MAX as u64 + 1;
        let message = refused(&far);
        assert!(message.contains("above the largest the store keeps"), "{message}");
    }

    #[test]
    fn json_strings_and_objects_end_where_json_says() {
        // `"a\\"` ends after its fourth byte's quote; `"a\"b\\\"c"`: escaped quotes inside.
        let text = br#""a\\"x"#;
        assert_eq!(string_end(text, 0), Some(5));
        let text = br#""a\"b\\\"c"x"#;
        assert_eq!(string_end(text, 0), Some(11));
        assert_eq!(string_end(br#""a\"x"#, 0), None);
        assert_eq!(string_end(br#""open"#, 0), None);
        let text = br#"{"a":{"}":"{"},"b":[{}]}tail"#;
        assert_eq!(object_end(text, 0), Some(text.len() - 4));
        assert_eq!(object_end(br#"{"a":{"b":1}"#, 0), None);
    }

    #[test]
    fn the_index_vouches_only_for_exactly_its_files() {
        let blob = |text: &str| crate::source::git_blob_id(text.as_bytes());
        // `git hash-object` of an empty file and of "hello\n".
        assert_eq!(hex::encode(blob("")), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(hex::encode(blob("hello\n")), "ce013625030ba8dba906f756967f9e9ca394464a");
        let listed = parse_stage(
            b"100644 ce013625030ba8dba906f756967f9e9ca394464a 0\tprompts/a/v1.prompt\0\
              100755 e69de29bb2d1d6434b8b29ae775ad8c2e48c5391 0\tprompts/a tab\tname.txt\0",
        )
        .expect("parses");
        assert_eq!(listed.positions.get("prompts/a tab\tname.txt"), Some(&1));
        let file = |path, text, executable| WorkFile { path, blob: blob(text), executable };
        let exact = [
            file("prompts/a/v1.prompt", "hello\n", false),
            file("prompts/a tab\tname.txt", "", true),
        ];
        assert!(matches_index(&listed, &exact));
        // The same file twice (a lock file inside the prompts folder, say) is one file.
        assert!(matches_index(&listed, &[exact[0], exact[1], exact[0]]));
        let cases: [(&str, Vec<WorkFile>); 5] = [
            ("changed bytes", vec![file("prompts/a/v1.prompt", "hello", false), exact[1]]),
            ("changed mode", vec![file("prompts/a/v1.prompt", "hello\n", true), exact[1]]),
            ("a file the index lacks", vec![exact[0], exact[1], file("prompts/b", "", false)]),
            ("a file of the index not read", vec![exact[0], exact[0]]),
            (
                "two readings of one path",
                vec![exact[0], exact[1], file("prompts/a/v1.prompt", "", false)],
            ),
        ];
        for (what, files) in cases {
            assert!(!matches_index(&listed, &files), "{what}");
        }
        // A conflict (stages 1–3), a symbolic link, a SHA-256 repository's ids or output that
        // is not git's: for git status to judge.
        for output in [
            &b"100644 ce013625030ba8dba906f756967f9e9ca394464a 2\tprompts/a/v1.prompt\0"[..],
            b"120000 ce013625030ba8dba906f756967f9e9ca394464a 0\tprompts/a/v1.prompt\0",
            b"100644 ce013625030ba8dba906f756967f9e9ca394464ace013625030ba8dba906f756 0\tp\0",
            b"garbage\0",
        ] {
            assert!(parse_stage(output).is_none(), "{}", String::from_utf8_lossy(output));
        }
        assert!(parse_stage(b"").is_some_and(|empty| matches_index(&empty, &[])));
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut every: String = (0u32..0x80).filter_map(char::from_u32).collect();
        every.push_str("é€😀\u{2028}\u{feff}");
        let mut texts: Vec<String> =
            [every.as_str(), "", "plain", "\"", "\\", "a\nb"].map(String::from).to_vec();
        // Every special byte at every position of strings around the eight-byte steps.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', 'é', ' ', '\u{7f}'] {
            for length in 0..20 {
                for at in 0..length {
                    let mut text: Vec<char> =
                        "abcdefghij😀klmnopqrst".chars().take(length).collect();
                    text[at] = special;
                    texts.push(text.into_iter().collect());
                }
            }
        }
        for text in &texts {
            let mut ours = String::new();
            push_string(&mut ours, text);
            assert_eq!(ours, serde_json::to_string(text).expect("serde_json"), "{text:?}");
        }
    }

    #[test]
    fn times_round_trip() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (981_173_106, "2001-02-03T04:05:06Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(seconds), text);
            assert_eq!(parse_rfc3339(text), Some(seconds));
        }
        for bad in
            ["2001-02-30T00:00:00Z", "2001-02-03 04:05:06Z", "2001-02-03T04:05:06+01:00", "x"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
