//! Parses arbitrary bytes as a Dockerfile and drives every expansion entry
//! point over the result; also feeds the raw input to the word expander.
//! Any panic, hang or runaway allocation is a bug.

#![no_main]

use berth_build::{Dockerfile, Instruction, NoVars, ShellWords};
use libfuzzer_sys::fuzz_target;

fn scope() -> Vec<(String, String)> {
    [
        ("A", "x y"),
        ("EMPTY", ""),
        ("LONG", "abcabcabcabc"),
        ("SELF", "$SELF$SELF"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn exercise(dockerfile: &Dockerfile) {
    let env = scope();
    let globals = dockerfile.resolve_global_args(&env).unwrap_or_default();
    let lexer = dockerfile.shell_words();
    for (index, stage) in dockerfile.stages.iter().enumerate() {
        if let Ok(base) = dockerfile.resolve_base(stage, &globals) {
            let _ = dockerfile.base_stage(&base.base, index);
        }
        for instruction in &stage.instructions {
            let _ = dockerfile.expand(instruction, &env);
            match instruction {
                Instruction::Arg(arg) => {
                    let _ = arg.resolve(&lexer, &env, &NoVars, &globals);
                }
                Instruction::Copy(copy) => {
                    if let Some(from) = &copy.from {
                        let _ = dockerfile.resolve_from(from, index);
                    }
                }
                Instruction::Expose(expose) => {
                    let _ = berth_build::parse_ports(&expose.ports);
                }
                _ => {}
            }
        }
    }
    let _ = serde_json::to_string(dockerfile);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(dockerfile) = Dockerfile::parse_bytes(data, "Dockerfile") {
        exercise(&dockerfile);
    }
    let text = String::from_utf8_lossy(data);
    let env = scope();
    for lexer in [ShellWords::new('\\'), ShellWords::new('`')] {
        let _ = lexer.word(&text, &env);
        let _ = lexer.words(&text, &env);
    }
    let _ = ShellWords::heredoc_body(&text, &env);
    let _ = berth_build::parse_duration(&text);
});
