use super::*;

fn env() -> Vec<(String, String)> {
    [("PWD", "/home"), ("SHELL", "bash"), ("EMPTY", ""), ("SPACED", "  ab c  "), ("VER", "v1.2.3-rc1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn word(input: &str) -> Result<String, ExpandError> {
    ShellWords::default().word(input, &env())
}

fn ok(input: &str) -> String {
    match word(input) {
        Ok(w) => w,
        Err(e) => panic!("{input:?} failed: {e}"),
    }
}

fn words(input: &str) -> Vec<String> {
    match ShellWords::default().words(input, &env()) {
        Ok(w) => w,
        Err(e) => panic!("{input:?} failed: {e}"),
    }
}

#[test]
fn plain_and_quoted_text() {
    assert_eq!(ok("hello"), "hello");
    assert_eq!(ok("he'll'o"), "hello");
    assert_eq!(ok(r#""a b"'c d'"#), "a bc d");
    assert_eq!(ok(r#""it's""#), "it's");
    assert_eq!(ok(r#"'"quoted"'"#), "\"quoted\"");
    assert_eq!(ok(r#""''""#), "''");
}

#[test]
fn escapes_outside_quotes() {
    assert_eq!(ok(r"he\'llo"), "he'llo");
    assert_eq!(ok(r"abc\tdef"), "abctdef");
    assert_eq!(ok(r"hello\"), "hello");
    assert_eq!(ok(r"hello\\"), "hello\\");
    assert_eq!(ok(r"a\ b"), "a b");
    assert_eq!(ok(r"he\$PWD"), "he$PWD");
    assert_eq!(ok(r"he\\$PWD"), "he\\/home");
}

#[test]
fn escapes_inside_quotes() {
    // Inside double quotes only ", $ and the escape itself are escapable.
    assert_eq!(ok(r#""abc\tdef""#), "abc\\tdef");
    assert_eq!(ok(r#""abc\\tdef""#), "abc\\tdef");
    assert_eq!(ok(r#""he\$PWD""#), "he$PWD");
    assert_eq!(ok(r#""say \"hi\"""#), "say \"hi\"");
    // Nothing is special inside single quotes.
    assert_eq!(ok(r"'abc\tdef'"), "abc\\tdef");
    assert_eq!(ok(r"'hello\'"), "hello\\");
    assert_eq!(ok(r"'$PWD'"), "$PWD");
}

#[test]
fn unterminated_quotes_fail() {
    assert!(matches!(word("he'llo"), Err(ExpandError::UnterminatedQuote { quote: "single-quote" })));
    assert!(matches!(word("\"hello"), Err(ExpandError::UnterminatedQuote { quote: "double-quote" })));
    assert!(matches!(word(r#""hello\""#), Err(ExpandError::UnterminatedQuote { .. })));
    assert!(word(r"he\\'llo").is_err());
}

#[test]
fn backtick_escape() {
    let lexer = ShellWords::new('`');
    let vars = env();
    assert_eq!(lexer.word(r"C:\path`$PWD", &vars).ok().as_deref(), Some(r"C:\path$PWD"));
    assert_eq!(lexer.word("a` b", &vars).ok().as_deref(), Some("a b"));
    assert_eq!(lexer.word("\"x`\"y\"", &vars).ok().as_deref(), Some("x\"y"));
}

#[test]
fn simple_references() {
    assert_eq!(ok("he$PWD"), "he/home");
    assert_eq!(ok("he${PWD}x"), "he/homex");
    assert_eq!(ok("he$pwd."), "he.");
    assert_eq!(ok("$."), "$.");
    assert_eq!(ok("a$"), "a$");
    assert_eq!(ok("he$1x"), "hex");
    assert_eq!(ok("\"$PWD\""), "/home");
    assert_eq!(ok("\"he'$PWD'\""), "he'/home'");
}

#[test]
fn bad_braces() {
    assert_eq!(word("${}"), Err(ExpandError::BadSubstitution));
    assert_eq!(word("${:x}"), Err(ExpandError::BadSubstitution));
    assert_eq!(word("he${PWD"), Err(ExpandError::MissingBrace));
    assert_eq!(word("${PWD:-x"), Err(ExpandError::MissingBrace));
    assert_eq!(word("${"), Err(ExpandError::MissingBrace));
    assert!(matches!(word("${.}"), Err(ExpandError::UnsupportedModifier { .. })));
    assert!(matches!(word("${PWD:=x}"), Err(ExpandError::UnsupportedModifier { .. })));
    assert!(matches!(word("${PWD:#x}"), Err(ExpandError::UnsupportedModifier { .. })));
    assert_eq!(ok(r"\${}"), "${}");
}

#[test]
fn default_operators_distinguish_unset_and_empty() {
    assert_eq!(ok("${UNSET:-d}"), "d");
    assert_eq!(ok("${EMPTY:-d}"), "d");
    assert_eq!(ok("${PWD:-d}"), "/home");
    assert_eq!(ok("${UNSET-d}"), "d");
    assert_eq!(ok("${EMPTY-d}"), "");
    assert_eq!(ok("${PWD-d}"), "/home");
    assert_eq!(ok("${UNSET:-${PWD}}"), "/home");
    assert_eq!(ok("${UNSET:-${ALSO:-deep}}"), "deep");
    assert_eq!(ok("${UNSET:-a b}"), "a b");
    assert_eq!(ok("${UNSET:-\"q}\"}"), "q}");
    assert_eq!(ok(r"${UNSET:-\}}"), "}");
}

#[test]
fn alternate_operators() {
    assert_eq!(ok("${UNSET:+x}"), "");
    assert_eq!(ok("${EMPTY:+x}"), "");
    assert_eq!(ok("${PWD:+x}"), "x");
    assert_eq!(ok("${UNSET+x}"), "");
    assert_eq!(ok("${EMPTY+x}"), "x");
    assert_eq!(ok("${PWD:+${SHELL}}"), "bash");
    assert_eq!(ok("${PWD:+${PWD}:}"), "/home:");
}

#[test]
fn required_operators() {
    assert_eq!(word("${UNSET:?must be set}"), Err(ExpandError::Required { name: "UNSET".into(), message: "must be set".into() }));
    assert_eq!(word("${UNSET?}").map_err(|e| e.to_string()), Err("UNSET: is not allowed to be unset".to_string()));
    assert_eq!(word("${EMPTY:?}").map_err(|e| e.to_string()), Err("EMPTY: is not allowed to be empty".to_string()));
    assert_eq!(ok("${EMPTY?}"), "");
    assert_eq!(ok("${PWD:?}"), "/home");
}

#[test]
fn trim_operators() {
    assert_eq!(ok("${VER#v}"), "1.2.3-rc1");
    assert_eq!(ok("${VER#*.}"), "2.3-rc1");
    assert_eq!(ok("${VER##*.}"), "3-rc1");
    assert_eq!(ok("${VER%-*}"), "v1.2.3");
    assert_eq!(ok("${VER%.*}"), "v1.2");
    assert_eq!(ok("${VER%%.*}"), "v1");
    assert_eq!(ok("${VER#x}"), "v1.2.3-rc1");
    assert_eq!(ok("${VER%?}"), "v1.2.3-rc");
    assert_eq!(ok("${UNSET#x}"), "");
    assert!(matches!(word(r"${VER#\x}"), Err(ExpandError::InvalidPattern { .. })));
}

#[test]
fn replace_operators() {
    assert_eq!(ok("${VER/./_}"), "v1_2.3-rc1");
    assert_eq!(ok("${VER//./_}"), "v1_2_3-rc1");
    assert_eq!(ok("${VER/1*3/X}"), "vX-rc1");
    assert_eq!(ok("${VER//x/y}"), "v1.2.3-rc1");
    assert_eq!(ok("${PWD//*/x}"), "x");
    assert_eq!(word("${VER/x"), Err(ExpandError::MissingSlash));
}

#[test]
fn word_splitting() {
    assert_eq!(words("hello there"), ["hello", "there"]);
    assert_eq!(words(r"hello\ there"), ["hello there"]);
    assert_eq!(words("a${SPACED}b"), ["a", "ab", "c", "b"]);
    assert_eq!(words("a\"${SPACED}\"b"), ["a  ab c  b"]);
    assert_eq!(words("a \"\" b"), ["a", "b"]);
    assert_eq!(words("80 443/tcp  ${UNSET}"), ["80", "443/tcp"]);
    assert_eq!(words("x << EOF y"), ["x", "<< EOF", "y"]);
}

#[test]
fn values_are_not_rescanned() {
    let vars = vec![("A".to_string(), "$A$A".to_string())];
    assert_eq!(ShellWords::default().word("$A-${A}", &vars).ok().as_deref(), Some("$A$A-$A$A"));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}x{}", "${U:-".repeat(MAX_NESTING + 5), "}".repeat(MAX_NESTING + 5));
    assert_eq!(word(&deep), Err(ExpandError::TooDeep));
    let fine = format!("{}x{}", "${U:-".repeat(10), "}".repeat(10));
    assert_eq!(ok(&fine), "x");
}

#[test]
fn output_size_is_bounded() {
    let big = vec![("B".to_string(), "x".repeat(1 << 20))];
    let many = "$B".repeat(8);
    assert_eq!(ShellWords::default().word(&many, &big), Err(ExpandError::TooLong));
}

#[test]
fn pattern_work_is_bounded() {
    let big = vec![("B".to_string(), "a".repeat(200_000))];
    let result = ShellWords::default().word("${B//*b*c*d*e/x}", &big);
    assert_eq!(result, Err(ExpandError::TooExpensive));
}

#[test]
fn heredoc_bodies_keep_quotes() {
    let body = ShellWords::heredoc_body("echo \"$PWD\" '$SHELL' \\$x\n", &env());
    assert_eq!(body.ok().as_deref(), Some("echo \"/home\" 'bash' $x\n"));
}

#[test]
fn skip_unset_keeps_references() {
    let lexer = ShellWords::with_options('\\', Options { skip_unset: true, ..Options::default() });
    let vars = env();
    assert_eq!(lexer.word("$NOPE ${NOPE} ${NOPE:-x} $PWD", &vars).ok().as_deref(), Some("$NOPE ${NOPE} ${NOPE:-x} /home"));
}

#[test]
fn raw_quotes_and_escapes() {
    let options = Options { raw_quotes: true, raw_escapes: true, ..Options::default() };
    let lexer = ShellWords::with_options('\\', options);
    assert_eq!(lexer.words(r#"<<"EOF" 'a b' c\ d"#, &NoVars).ok(), Some(vec!["<<\"EOF\"".into(), "'a b'".into(), r"c\ d".into()]));
}
