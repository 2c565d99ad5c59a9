use super::*;
use crate::{Dockerfile, ErrorKind, FromRef, NoVars, ShellWords};

fn parse(text: &str) -> Dockerfile {
    match Dockerfile::parse(text) {
        Ok(d) => d,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn error(text: &str) -> String {
    match Dockerfile::parse(text) {
        Ok(d) => panic!("{text:?} parsed: {d:?}"),
        Err(e) => e.to_string(),
    }
}

fn only(text: &str) -> Instruction {
    let d = parse(&format!("FROM scratch\n{text}\n"));
    d.stages.into_iter().next().and_then(|s| s.instructions.into_iter().next()).unwrap_or_else(|| panic!("no instruction"))
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn error_messages_name_file_line_and_instruction() {
    assert_eq!(error("FROM a\nRUN x\nFORM b\n"), "Dockerfile:3: unknown instruction: FORM (did you mean FROM?)");
    assert_eq!(error("FROM a\nRUN <<EOF\nx\n"), "Dockerfile:2: RUN: unterminated heredoc \"EOF\"");
    let named = Dockerfile::parse_named("FROM a\nUSER\n", "ci/Dockerfile.test").err().map(|e| e.to_string());
    assert_eq!(named.as_deref(), Some("ci/Dockerfile.test:2: USER: requires exactly one argument"));
}

#[test]
fn missing_arguments() {
    for (text, message) in [
        ("ENV", "ENV: requires at least one argument"),
        ("ENV a", "ENV: must have two arguments"),
        ("ENV =x", "ENV: names can not be blank"),
        ("LABEL", "LABEL: requires at least one argument"),
        ("ARG", "ARG: requires at least one argument"),
        ("ARG =x", "ARG: names can not be blank"),
        ("EXPOSE", "EXPOSE: requires at least one argument"),
        ("VOLUME", "VOLUME: requires at least one argument"),
        ("VOLUME [\"\"]", "VOLUME: VOLUME specified can not be an empty string"),
        ("WORKDIR", "WORKDIR: requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL: requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER: requires exactly one argument"),
        ("SHELL", "SHELL: requires at least one argument"),
        ("SHELL []", "SHELL: requires at least one argument"),
        ("ONBUILD", "ONBUILD: requires at least one argument"),
        ("HEALTHCHECK", "HEALTHCHECK: requires at least one argument"),
        ("HEALTHCHECK CMD", "HEALTHCHECK: missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "HEALTHCHECK: missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK TCP 80", "HEALTHCHECK: unknown type \"TCP\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK --retries=-1 CMD x", "HEALTHCHECK: invalid value \"-1\" for --retries"),
        ("COPY <<EOF <<EOF2\nx\nEOF\ny\nEOF2", "COPY: cannot accept a heredoc as a destination"),
        ("ADD a", "ADD: requires at least two arguments"),
        ("ONBUILD MAINTAINER me", "ONBUILD: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("ONBUILD BOGUS x", "unknown instruction: BOGUS"),
        ("RUN --security=lax x", "RUN: invalid value \"lax\" for --security"),
        ("COPY --link=maybe a b", "COPY: expecting boolean value for flag --link, not: maybe"),
        ("COPY --from=a --from=b x y", "COPY: duplicate flag specified: --from"),
        ("ENV --x=1 a=b", "ENV: unknown flag: --x"),
    ] {
        let got = error(&format!("FROM scratch\n{text}\n"));
        assert!(got.contains(message), "{text:?}: {got:?} lacks {message:?}");
    }
}

#[test]
fn command_forms() {
    let Instruction::Cmd(cmd) = only("CMD echo hi") else { panic!("not CMD") };
    assert_eq!(cmd.command.to_argv(&["/bin/sh".into(), "-c".into()]), ["/bin/sh", "-c", "echo hi"]);
    let Instruction::Entrypoint(ep) = only("ENTRYPOINT [\"a\", \"b\"]") else { panic!("not ENTRYPOINT") };
    assert!(ep.command.is_exec());
    assert_eq!(ep.command.to_argv(&[]), ["a", "b"]);
    let Instruction::Run(run) = only("RUN --mount=type=cache,target=/c --network=host make") else { panic!("not RUN") };
    assert_eq!((run.mounts(), run.network(), run.security()), (vec!["type=cache,target=/c"], Some("host"), None));
}

#[test]
fn healthcheck_test_values() {
    let Instruction::Healthcheck(h) = only("HEALTHCHECK --interval=30s CMD curl -f x") else { panic!("not HEALTHCHECK") };
    assert_eq!(h.check.test(), ["CMD-SHELL", "curl -f x"]);
    let Instruction::Healthcheck(h) = only("HEALTHCHECK CMD [\"/check\"]") else { panic!("not HEALTHCHECK") };
    assert_eq!(h.check.test(), ["CMD", "/check"]);
    let Instruction::Healthcheck(h) = only("HEALTHCHECK NONE") else { panic!("not HEALTHCHECK") };
    assert_eq!(h.check.test(), ["NONE"]);
}

#[test]
fn expansion_follows_docker_rules() {
    let lexer = ShellWords::default();
    let scope = vars(&[("V", "1.0"), ("D", "/opt"), ("U", "app")]);
    let expand = |text: &str| only(text).expand(&lexer, &scope);
    let Ok(Instruction::Copy(c)) = expand("COPY --chown=$U --from=x src-$V \"$D/dest\"") else { panic!("copy") };
    assert_eq!((c.chown.as_deref(), c.dest.as_str(), c.from.as_deref()), (Some("app"), "/opt/dest", Some("x")));
    assert_eq!(c.sources, [CopySource::Path("src-1.0".into())]);
    // RUN/CMD are left to the shell.
    let Ok(Instruction::Run(r)) = expand("RUN echo $V") else { panic!("run") };
    assert_eq!(r.command, CommandForm::Shell("echo $V".into()));
    let Ok(Instruction::Cmd(c)) = expand("CMD [\"$V\"]") else { panic!("cmd") };
    assert_eq!(c.command, CommandForm::Exec(vec!["$V".into()]));
    // ONBUILD triggers are expanded by the child build, not here.
    let Ok(Instruction::Onbuild(o)) = expand("ONBUILD WORKDIR $D") else { panic!("onbuild") };
    assert_eq!(o.expression, "WORKDIR $D");
    let Ok(Instruction::Workdir(w)) = expand("WORKDIR $D/${U}") else { panic!("workdir") };
    assert_eq!(w.path, "/opt/app");
    let err = expand("USER ${MISSING:?set the user}");
    assert!(matches!(err, Err(ErrorKind::Expand { .. })), "{err:?}");
}

#[test]
fn arg_resolution_precedence() {
    let Instruction::Arg(arg) = only("ARG A=default B=$A-b C D") else { panic!("not ARG") };
    let lexer = ShellWords::default();
    let build = vars(&[("C", "from-build")]);
    let globals = vars(&[("D", "from-global"), ("A", "ignored-global")]);
    let resolved = arg.resolve(&lexer, &NoVars, &build, &globals).unwrap_or_default();
    let values: Vec<(&str, Option<&str>)> = resolved.iter().map(|r| (r.name.as_str(), r.value.as_deref())).collect();
    assert_eq!(values, [("A", Some("default")), ("B", Some("default-b")), ("C", Some("from-build")), ("D", Some("from-global"))]);
}

#[test]
fn global_args_and_from_references() {
    let d = parse("ARG V=1 W=${V}.5\nFROM a:$W AS one\nFROM one\nCOPY --from=ONE x y\nCOPY --from=0 x y\nCOPY --from=img:1 x y\n");
    let globals = d.resolve_global_args(&vars(&[("V", "2")])).unwrap_or_default();
    assert_eq!(globals, vars(&[("V", "2"), ("W", "2.5")]));
    let first = d.stages.first().map(|s| d.resolve_base(s, &globals).map(|b| b.base));
    assert_eq!(first, Some(Ok("a:2.5".to_string())));
    assert_eq!(d.base_stage("one", 1), Some(0));
    assert_eq!(d.base_stage("one", 0), None);
    assert_eq!(d.resolve_from("one", 1), Ok(FromRef::Stage(0)));
    assert_eq!(d.resolve_from("img:1", 1), Ok(FromRef::Image("img:1".into())));
    assert_eq!(d.resolve_from("7", 1), Err(ErrorKind::InvalidStageIndex { index: "7".into() }));
    assert_eq!(d.resolve_from("1", 1), Err(ErrorKind::CircularStage { name: "1".into() }));
}

#[test]
fn heredoc_fd_and_onbuild_heredoc() {
    let Instruction::Run(r) = only("RUN 3<<EOF cat /dev/fd/3\ndata\nEOF") else { panic!("not RUN") };
    assert_eq!(r.heredocs.first().and_then(|h| h.fd), Some(3));
    // JSON form never takes heredocs: the next line is an instruction.
    let d = parse("FROM a\nRUN [\"cat\", \"<<EOF\"]\nUSER x\n");
    assert_eq!(d.stages.first().map(|s| s.instructions.len()), Some(2));
}
