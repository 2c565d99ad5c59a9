use super::*;

fn ignore(text: &str) -> DockerIgnore {
    match DockerIgnore::parse(text) {
        Ok(d) => d,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

#[test]
fn cleaning() {
    assert_eq!(clean_path("a/./b/../c/"), "a/c");
    assert_eq!(clean_path("/a//b"), "/a/b");
    assert_eq!(clean_path("../x"), "../x");
    assert_eq!(clean_path("/../x"), "/x");
    assert_eq!(clean_path(""), ".");
    assert_eq!(clean_path("./"), ".");
}

#[test]
fn parsing_rules() {
    let d = ignore("\u{feff}# comment\n  \n/node_modules/\n ./build/../dist \n!  keep.txt\n  # not a comment\r\n");
    let patterns: Vec<(&str, bool)> = d.patterns().collect();
    assert_eq!(patterns, [("node_modules", false), ("dist", false), ("keep.txt", true), ("# not a comment", false)]);
}

#[test]
fn parse_errors() {
    assert_eq!(DockerIgnore::parse("a\n!\n"), Err(IgnoreError::IllegalExclusion { line: 2 }));
    assert_eq!(DockerIgnore::parse("[abc\n"), Err(IgnoreError::BadPattern { line: 1, pattern: "[abc".into() }));
}

#[test]
fn parents_match() {
    let d = ignore("node_modules\n*.log\n");
    assert!(d.matches("node_modules"));
    assert!(d.matches("node_modules/a/b.js"));
    assert!(!d.matches("src/node_modules"));
    assert!(d.matches("app.log"));
    assert!(!d.matches("logs/app.log"));
    assert!(!d.matches("."));
    assert!(!d.matches(""));
}

#[test]
fn exceptions_last_match_wins() {
    let d = ignore("*.md\n!README.md\nREADME.md\n!docs/README.md\n");
    assert!(d.matches("CHANGES.md"));
    assert!(d.matches("README.md"));
    assert!(!d.matches("docs/README.md"));
    let d = ignore("docs\n!docs/keep\n");
    assert!(d.matches("docs/other"));
    assert!(!d.matches("docs/keep"));
    assert!(!d.matches("docs/keep/inner.txt"));
}

#[test]
fn double_star_and_leading_slash() {
    let d = ignore("**/*.pyc\n/target\n");
    assert!(d.matches("a.pyc"));
    assert!(d.matches("pkg/sub/a.pyc"));
    assert!(d.matches("target/debug/x"));
    assert!(!d.matches("crates/x/target"));
    assert!(d.matches("/target"));
}

#[test]
fn everything_but() {
    let d = ignore("*\n!src\n!Cargo.toml\n");
    assert!(d.matches("README.md"));
    assert!(!d.matches("src/main.rs"));
    assert!(!d.matches("Cargo.toml"));
}

#[test]
fn skipping_directories() {
    let d = ignore("target\nnode_modules\n!node_modules/keep/**\n");
    assert!(d.can_skip_dir("target"));
    assert!(!d.can_skip_dir("src"));
    let d = ignore("vendor\n!vendor/keep.txt\ncache\n");
    assert!(!d.can_skip_dir("vendor"));
    assert!(d.can_skip_dir("cache"));
    assert!(d.can_skip_dir("cache/sub"));
    let d = ignore("a\n!b/c\n");
    assert!(d.can_skip_dir("a"));
    let d = ignore("*\n!**/*.go\n");
    assert!(!d.can_skip_dir("anything"));
    assert!(d.has_exceptions());
}
