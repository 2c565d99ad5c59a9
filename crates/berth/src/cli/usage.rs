//! Turns clap's parse errors into docker's wording and exit codes: flag errors exit 125
//! (`unknown flag: --x`), argument count errors and unknown commands exit 1.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use super::Cli;

/// Global flags that take a value (skipped when looking for the verb).
const GLOBAL_WITH_VALUE: [&str; 6] = ["-H", "--host", "--config", "-l", "--log-level", "--context"];

/// The verbs the user typed (`["container", "run"]`), found by skipping global flags.
fn command_path(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmd = Cli::command();
    cmd.build();
    let mut current = &cmd;
    let mut iter = args.iter().skip(1);
    while let Some(a) = iter.next() {
        if out.is_empty() && GLOBAL_WITH_VALUE.contains(&a.as_str()) {
            iter.next();
            continue;
        }
        if a.starts_with('-') {
            if out.is_empty() {
                continue;
            }
            break;
        }
        match current.find_subcommand(a) {
            Some(sub) => {
                out.push(sub.get_name().to_string());
                current = sub;
            }
            None => break,
        }
    }
    out
}

/// The (built) command at `path`.
fn command_at(path: &[String]) -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    for name in path {
        match cmd.find_subcommand(name).cloned() {
            Some(sub) => cmd = sub,
            None => break,
        }
    }
    cmd
}

fn usage_of(path: &[String]) -> String {
    let usage = command_at(path).render_usage().to_string();
    usage.trim_start_matches("Usage:").trim().to_string()
}

/// Prints the help of a command path (no path: the top level).
pub fn print_help(path: &[String]) {
    let _ = command_at(path).print_help();
}

fn context(e: &clap::Error, kind: ContextKind) -> String {
    match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(" "),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// docker's `"-m, --memory"` for clap's `--memory <MEMORY>`.
fn flag_name(arg: &str, path: &[String]) -> String {
    let long = arg.split(['<', ' ', '=']).next().unwrap_or(arg).trim().to_string();
    let name = long.trim_start_matches('-');
    let cmd = command_at(path);
    let short = cmd.get_arguments().find(|a| a.get_long() == Some(name)).and_then(|a| a.get_short());
    match short {
        Some(s) => format!("-{s}, {long}"),
        None => long,
    }
}

fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
    line.replace('\'', "")
}

/// Prints a clap error like docker does and returns the exit code.
pub fn report(e: clap::Error, args: &[String]) -> i32 {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = e.print();
        return 0;
    }
    let path = command_path(args);
    let full = std::iter::once("berth".to_string()).chain(path.iter().cloned()).collect::<Vec<_>>().join(" ");
    let (message, code) = match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = context(&e, ContextKind::InvalidArg);
            if let Some(long) = arg.strip_prefix("--") {
                (format!("unknown flag: --{}", long.split('=').next().unwrap_or(long)), 125)
            } else if let Some(short) = arg.strip_prefix('-') {
                let c = short.chars().next().unwrap_or('-');
                (format!("unknown shorthand flag: '{c}' in {arg}"), 125)
            } else {
                (format!("berth: '{full}' accepts no arguments"), 1)
            }
        }
        ErrorKind::InvalidSubcommand => {
            let sub = context(&e, ContextKind::InvalidSubcommand);
            eprintln!("berth: unknown command: {full} {sub}\n\nRun '{full} --help' for more information");
            return 1;
        }
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => (format!("berth: '{full}' requires at least 1 argument"), 1),
        ErrorKind::MissingSubcommand => {
            print_help(&path);
            return 0;
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let arg = flag_name(&context(&e, ContextKind::InvalidArg), &path);
            let value = context(&e, ContextKind::InvalidValue);
            let reason = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| first_line(&e));
            (format!("invalid argument \"{value}\" for \"{arg}\" flag: {reason}"), 125)
        }
        _ => (first_line(&e), 125),
    };
    eprintln!("{message}\n\nUsage:  {}\n\nRun '{full} --help' for more information", usage_of(&path));
    code
}
