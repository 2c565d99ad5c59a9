//! Dockerfile corpus: every `tests/dockerfiles/<case>/Dockerfile` is parsed
//! and compared with `expected.json` beside it.
//!
//! * A valid case's expected file is `{"ast": <Dockerfile>}`. When the case
//!   also has `build-args.json` (an object, possibly `{}`), the file holds an
//!   `"expanded"` section too: the global args, each stage's resolved base,
//!   and every instruction expanded in a simulated scope (ENV over ARG, ENV
//!   inherited from a parent stage), the way the builder is meant to call
//!   this crate.
//! * An invalid case's expected file is `{"error": "<substring>"}`.
//!
//! `BLESS=1 cargo test -p berth-build --test corpus` rewrites the expected
//! files from the current output; review every change by eye against what
//! Docker does before committing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use berth_build::{Dockerfile, Error, Instruction, Overlay};
use serde_json::{json, Value};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dockerfiles")
}

/// Drops position fields so the expanded section shows only values.
fn strip_source(mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        for key in ["line", "end_line", "original"] {
            map.remove(key);
        }
    }
    value
}

/// Walks the stages as a builder would, expanding every instruction.
fn simulate(dockerfile: &Dockerfile, build_args: &BTreeMap<String, String>) -> Result<Value, Error> {
    let globals = dockerfile.resolve_global_args(build_args)?;
    let lexer = dockerfile.shell_words();
    let mut stage_envs: Vec<Vec<(String, String)>> = Vec::new();
    let mut stages = Vec::new();
    for (index, stage) in dockerfile.stages.iter().enumerate() {
        let base = dockerfile.resolve_base(stage, &globals)?;
        let parent = dockerfile.base_stage(&base.base, index);
        let mut env = parent.and_then(|p| stage_envs.get(p).cloned()).unwrap_or_default();
        let mut args: Vec<(String, String)> = Vec::new();
        let mut expanded = Vec::new();
        for instruction in &stage.instructions {
            let scope = Overlay { top: &env, base: &args };
            let at = |kind| {
                let location =
                    berth_build::Location { file: dockerfile.file.clone(), line: instruction.line(), instruction: Some(instruction.keyword().to_string()) };
                Error::new(location, kind)
            };
            if let Instruction::Arg(arg) = instruction {
                let resolved = arg.resolve(&lexer, &scope, build_args, &globals).map_err(at)?;
                for r in &resolved {
                    if let Some(value) = &r.value {
                        args.push((r.name.clone(), value.clone()));
                    }
                }
                expanded.push(json!({"instruction": "ARG", "resolved": resolved}));
                continue;
            }
            let done = dockerfile.expand(instruction, &scope)?;
            if let Instruction::Env(e) = &done {
                env.extend(e.vars.iter().map(|kv| (kv.key.clone(), kv.value.clone())));
            }
            expanded.push(strip_source(serde_json::to_value(&done).unwrap_or_default()));
        }
        stage_envs.push(env);
        stages.push(json!({
            "base": base.base,
            "platform": base.platform,
            "base_stage": parent,
            "instructions": expanded,
        }));
    }
    Ok(json!({ "global_args": globals, "stages": stages }))
}

fn render(case: &Path) -> Value {
    let text = fs::read(case.join("Dockerfile")).unwrap_or_default();
    let dockerfile = match Dockerfile::parse_bytes(&text, "Dockerfile") {
        Ok(d) => d,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let mut out = json!({ "ast": dockerfile });
    if let Ok(raw) = fs::read_to_string(case.join("build-args.json")) {
        let build_args: BTreeMap<String, String> = serde_json::from_str(&raw).unwrap_or_default();
        match simulate(&dockerfile, &build_args) {
            Ok(expanded) => out["expanded"] = expanded,
            Err(e) => return json!({ "error": e.to_string() }),
        }
    }
    out
}

fn check(case: &Path, actual: &Value, expected: &Value) -> Result<(), String> {
    let expected_error = expected.get("error").and_then(Value::as_str);
    match (expected_error, actual.get("error").and_then(Value::as_str)) {
        (Some(want), Some(got)) if got.contains(want) => Ok(()),
        (Some(want), Some(got)) => Err(format!("error {got:?} does not contain {want:?}")),
        (Some(want), None) => Err(format!("parsed, but expected an error containing {want:?}")),
        (None, Some(got)) => Err(format!("unexpected error: {got}")),
        (None, None) if actual == expected => Ok(()),
        (None, None) => Err(format!("output differs; actual:\n{}", serde_json::to_string_pretty(actual).unwrap_or_default())),
    }
    .map_err(|e| format!("{}: {e}", case.display()))
}

#[test]
fn dockerfile_corpus() {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut cases: Vec<PathBuf> =
        fs::read_dir(corpus_dir()).map(|dir| dir.flatten().map(|e| e.path()).filter(|p| p.join("Dockerfile").is_file()).collect()).unwrap_or_default();
    cases.sort();
    assert!(cases.len() >= 35, "corpus has only {} cases in {}", cases.len(), corpus_dir().display());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render(case);
        let path = case.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&actual).unwrap_or_default() + "\n";
            if let Err(e) = fs::write(&path, text) {
                failures.push(format!("{}: cannot write: {e}", path.display()));
            }
            continue;
        }
        let expected = fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("{}: {e}", path.display())));
        match expected {
            Ok(expected) => failures.extend(check(case, &actual, &expected).err()),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} corpus cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn ast_round_trips_through_json() {
    let text = "# escape=`\nARG V=1\nFROM alpine:${V} AS a\nRUN <<EOF\necho hi\nEOF\nHEALTHCHECK --interval=5s CMD [\"x\"]\nONBUILD COPY --from=0 a b\n";
    let parsed = Dockerfile::parse(text);
    assert!(parsed.is_ok(), "{parsed:?}");
    if let Ok(parsed) = parsed {
        let json = serde_json::to_string(&parsed).unwrap_or_default();
        let back: Result<Dockerfile, _> = serde_json::from_str(&json);
        assert_eq!(back.ok().as_ref(), Some(&parsed));
    }
}
