//! Deterministic fuzz-style smoke test that runs with `cargo test`: mutates
//! every corpus Dockerfile many times with parser-relevant fragments and
//! checks that parsing and expansion never panic and stay fast. The real
//! fuzzer (`fuzz/`, target `dockerfile_parse`) explores much further.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_build::{DockerIgnore, Dockerfile, Instruction, NoVars};

const FRAGMENTS: &[&str] = &[
    "\\",
    "`",
    "$",
    "${",
    "}",
    "${A:-",
    "${A:?x}",
    "${A#*}",
    "${A//*/x}",
    "\"",
    "'",
    "<<EOF",
    "<<-\"E\"",
    "\nEOF\n",
    "\n",
    "\r\n",
    "\t",
    " ",
    "#",
    "# escape=`\n",
    "[",
    "]",
    "[\"a\", 1]",
    "--",
    "--from=",
    "--mount=",
    "ONBUILD ",
    "FROM ",
    "ARG ",
    "=",
    "\u{feff}",
    "\u{a0}",
    "é",
    "0",
    "1m30s",
    "**",
    "!",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.next() % 4 {
        let at = if chars.is_empty() { 0 } else { rng.next() % (chars.len() + 1) };
        match rng.next() % 3 {
            0 if at < chars.len() => {
                let len = (rng.next() % 8).min(chars.len() - at);
                chars.drain(at..at + len);
            }
            _ => {
                let fragment = FRAGMENTS[rng.next() % FRAGMENTS.len()];
                chars.splice(at..at, fragment.chars());
            }
        }
    }
    chars.into_iter().collect()
}

fn exercise(text: &str) {
    let env = vec![("A".to_string(), "x y".to_string()), ("E".to_string(), String::new())];
    if let Ok(d) = Dockerfile::parse(text) {
        let globals = d.resolve_global_args(&env).unwrap_or_default();
        let lexer = d.shell_words();
        for (index, stage) in d.stages.iter().enumerate() {
            let _ = d.resolve_base(stage, &globals);
            for instruction in &stage.instructions {
                let _ = d.expand(instruction, &env);
                if let Instruction::Arg(arg) = instruction {
                    let _ = arg.resolve(&lexer, &env, &NoVars, &globals);
                }
                if let Instruction::Copy(copy) = instruction {
                    let _ = copy.from.as_deref().map(|f| d.resolve_from(f, index));
                }
            }
        }
    }
    if let Ok(ignore) = DockerIgnore::parse(text) {
        let _ = ignore.matches("a/b/c.txt");
        let _ = ignore.can_skip_dir("a");
    }
}

#[test]
fn mutated_corpus_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dockerfiles");
    let mut seeds: Vec<String> =
        fs::read_dir(&root).map(|dir| dir.flatten().filter_map(|e| fs::read_to_string(e.path().join("Dockerfile")).ok()).collect()).unwrap_or_default();
    seeds.sort();
    assert!(!seeds.is_empty(), "no corpus found in {}", root.display());
    let mut rng = Rng(0x5eed);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for seed in &seeds {
        let mut current = seed.clone();
        for round in 0..150 {
            if round % 30 == 0 {
                current = seed.clone();
            }
            current = mutate(&current, &mut rng);
            let t = Instant::now();
            exercise(&current);
            slowest = slowest.max(t.elapsed());
        }
    }
    assert!(slowest < Duration::from_secs(2), "slowest input took {slowest:?}");
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn hostile_inputs_are_bounded() {
    let deep = format!("FROM a\nENV X={}x{}\n", "${A:-".repeat(10_000), "}".repeat(10_000));
    let d = Dockerfile::parse(&deep);
    assert!(d.is_ok());
    if let Ok(d) = d {
        let env = Vec::<(String, String)>::new();
        let expanded = d.stages.first().and_then(|s| s.instructions.first()).map(|i| d.expand(i, &env));
        assert!(matches!(expanded, Some(Err(_))), "{expanded:?}");
    }
    let doubling: String = (0..64).map(|_| "ARG A=$A$A$A$A\n").collect::<String>() + "FROM x\n";
    let d = Dockerfile::parse(&format!("ARG A=seed\n{doubling}"));
    let resolved = d.map(|d| d.resolve_global_args(&NoVars).map(|_| ()));
    assert!(matches!(resolved, Ok(Err(_))), "{resolved:?}");
    let many_heredocs = format!("FROM a\nRUN {}\n", "<<E ".repeat(5_000));
    assert!(Dockerfile::parse(&many_heredocs).is_err());
    let long_line = format!("FROM a\nRUN {}\n", "x \\\n".repeat(50_000));
    assert!(Dockerfile::parse(&long_line).is_ok());
}
