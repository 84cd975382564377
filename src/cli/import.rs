//! `import`: a hard-coded prompt into a new prompt folder, with its legacy seed.

use super::*;

pub(super) fn import(project: &Project, args: &ImportArgs, color: bool) -> Result<i32> {
    use crate::syntax::prompt::{Extract, Unescape};
    if !check::is_valid_name(&args.name) {
        anyhow::bail!("`{}` is not a valid prompt name: use lowercase letters, digits and `-`, starting with a letter (at most 64)", args.name);
    }
    let prompt_dir = project.prompts_path().join(&args.name);
    let relative_dir = source::relative(&project.root, &prompt_dir);
    if prompt_dir.exists() {
        anyhow::bail!("prompt `{}` already exists at `{relative_dir}`; import never overwrites: choose another name, or add a version to the existing prompt", args.name);
    }
    let from = args
        .from
        .canonicalize()
        .with_context(|| format!("cannot read the legacy file `{}`", args.from.display()))?;
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let from_relative = from
        .strip_prefix(&root)
        .map_err(|_| anyhow::anyhow!("`{}` is outside the repository; copy the legacy source into it (e.g. under legacy/) so that the seed check can keep reading it", args.from.display()))?;
    let from_relative = from_relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let bytes = crate::read::read(&from, crate::read::TEXT_BYTES, "a legacy file of `[seed]`")
        .with_context(|| format!("cannot read the legacy file `{from_relative}`"))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("`{from_relative}` is not valid UTF-8; convert it (e.g. `iconv -f windows-1252 -t utf-8`) and commit it first"))?;
    let extract = match (&args.between, &args.lines, &args.json_pointer, &args.toml_key) {
        (Some(markers), _, _, _) => {
            Some(Extract::Between([markers[0].clone(), markers[1].clone()]))
        }
        (_, Some(lines), _, _) => Some(Extract::Lines(lines.clone())),
        (_, _, Some(pointer), _) => Some(Extract::JsonPointer(pointer.clone())),
        (_, _, _, Some(key)) => Some(Extract::TomlKey(key.clone())),
        _ => None,
    };
    let (mode, mode_name) = match args.unescape {
        UnescapeArg::None => (Unescape::None, "none"),
        UnescapeArg::C => (Unescape::C, "c"),
        UnescapeArg::CsharpVerbatim => (Unescape::CsharpVerbatim, "csharp-verbatim"),
        UnescapeArg::JsTemplate => (Unescape::JsTemplate, "js-template"),
    };
    let seed_error = |error: crate::seed::SeedError, literal_start: Option<usize>| {
        let slice = crate::seed::is_slice(extract.as_ref());
        let at = crate::seed::position(
            &from_relative,
            &text,
            error.span.clone().filter(|_| slice),
            literal_start,
        );
        anyhow::anyhow!("`{from_relative}`: {}{at}; {}", error.message, error.help)
    };
    let (literal, literal_range) =
        crate::seed::extract(&text, extract.as_ref()).map_err(|e| seed_error(e, None))?;
    let literal_start = crate::seed::is_slice(extract.as_ref()).then_some(literal_range.start);
    let legacy = crate::seed::unescape(&literal, mode).map_err(|e| seed_error(e, literal_start))?;
    if legacy.trim().is_empty() {
        anyhow::bail!(
            "the extracted text of `{from_relative}` is empty; check the extraction flags"
        );
    }
    let body = crate::seed::escape_for_template(&legacy)
        .map_err(|problem| anyhow::anyhow!("{problem}"))?;

    let quote = |value: &str| toml::Value::String(value.to_string()).to_string();
    let description = args
        .description
        .clone()
        .unwrap_or_else(|| format!("Imported from {from_relative}; say what this prompt is for"));
    // The `#:schema` line only where the project holds the schema (`promptctl schema --write`).
    let schema =
        crate::pipeline::setup::manifest_schema_line(&project.root, &project.config.prompts_dir)
            .unwrap_or_default();
    let mut manifest = format!("{schema}description = {}\n\n[activate]\n", quote(&description));
    for environment in project.config.environments.keys() {
        manifest.push_str(&format!("{environment} = 1\n"));
    }
    manifest.push_str(&format!(
        "\n[seed]            # v1 must render exactly the legacy text\nversion = 1\nfile = {}\n",
        quote(&from_relative)
    ));
    match &extract {
        Some(Extract::Between([start, end])) => manifest.push_str(&format!(
            "extract = {{ between = [{}, {}] }}\n",
            quote(start),
            quote(end)
        )),
        Some(Extract::Lines(lines)) => {
            manifest.push_str(&format!("extract = {{ lines = {} }}\n", quote(lines)))
        }
        Some(Extract::JsonPointer(pointer)) => {
            manifest.push_str(&format!("extract = {{ json_pointer = {} }}\n", quote(pointer)))
        }
        Some(Extract::TomlKey(key)) => {
            manifest.push_str(&format!("extract = {{ toml_key = {} }}\n", quote(key)))
        }
        None => {}
    }
    if mode != Unescape::None {
        manifest.push_str(&format!("unescape = \"{mode_name}\"\n"));
    }
    std::fs::create_dir_all(&prompt_dir)
        .with_context(|| format!("cannot create `{relative_dir}`"))?;
    std::fs::write(prompt_dir.join("prompt.toml"), manifest)
        .with_context(|| format!("cannot write `{relative_dir}/prompt.toml`"))?;
    std::fs::write(prompt_dir.join("v1.prompt"), format!("+++\n+++\n{body}"))
        .with_context(|| format!("cannot write `{relative_dir}/v1.prompt`"))?;
    println!("imported `{}` from {from_relative}: {relative_dir}/prompt.toml and {relative_dir}/v1.prompt ({} bytes)", args.name, legacy.len());

    let paths = std::slice::from_ref(&prompt_dir);
    let run = pipeline::check::check(project, paths, Options::default(), false)?;
    let errors: Vec<&Diagnostic> = run.errors().collect();
    for diagnostic in &errors {
        eprint!("{}", checking::human(&run, diagnostic, color));
    }
    eprint!("{}", report::explain_hint(errors.iter().copied()));
    if !errors.is_empty() {
        eprintln!("error: the imported prompt does not check clean; this is a bug in `promptctl import`, please report it");
        return Ok(exit::ERRORS);
    }
    println!("seed check: v1 reproduces the legacy text byte for byte");
    if quiet() {
        return Ok(exit::OK);
    }
    println!("next: declare variables in v1's front matter and replace literal parts with {{{{name}}}}, with their values in `[seed] vars`; `promptctl check` proves the text did not change. Then add tests, and `promptctl lock`.");
    Ok(exit::OK)
}
