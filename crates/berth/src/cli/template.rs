//! A subset of Go's `text/template`, enough for docker's `--format` strings.
//!
//! Supported: `{{.A.B}}`, `{{.}}`, `$` and `$var` (with `:=`), pipelines with `|`,
//! parenthesised arguments, string/number/bool literals, `if`/`else if`/`else`, `range`
//! (with `$i, $v :=`), `with`, trim markers `{{-` / `-}}`, and the functions docker adds
//! (`json`, `join`, `split`, `upper`, `lower`, `title`, `pad`, `truncate`) plus Go's
//! `index`, `len`, `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`,
//! `or`, `not`. Data is JSON: a missing key prints `<no value>`, maps print as `map[k:v]`.
//!
//! Docker's list rows have methods with arguments (`{{.Label "k"}}`); a row carries them as
//! an object under the key [`method_key`]`("Label")`, hidden from printing and `json`.

use serde_json::{Map, Value};

/// A template that failed to parse or run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

type Res<T> = Result<T, TemplateError>;

fn err<T>(m: impl Into<String>) -> Res<T> {
    Err(TemplateError(m.into()))
}

/// The key under which a row stores the method `name` (see the module docs).
pub fn method_key(name: &str) -> String {
    format!("\u{1}{name}")
}

fn hidden(key: &str) -> bool {
    key.starts_with('\u{1}')
}

#[derive(Debug, Clone)]
enum Operand {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(serde_json::Number),
    Paren(Box<Pipe>),
}

#[derive(Debug, Clone, Default)]
struct Pipe {
    decl: Vec<String>,
    cmds: Vec<Vec<Operand>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    html_json: bool,
}

enum Segment {
    Text(String),
    Action(String),
}

fn segments(src: &str) -> Res<Vec<Segment>> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let after = &rest[start + 2..];
        let trim_before = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_next {
            text = text.trim_start().to_string();
        }
        if trim_before {
            text = text.trim_end().to_string();
        }
        out.push(Segment::Text(text));
        let body = if trim_before { &after[1..] } else { after };
        let end = find_close(body).ok_or_else(|| TemplateError("template: unclosed action".into()))?;
        let mut inner = &body[..end];
        trim_next = inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-");
        if trim_next {
            inner = &inner[..inner.len() - 1];
        }
        out.push(Segment::Action(inner.trim().to_string()));
        rest = &body[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    out.push(Segment::Text(text.to_string()));
    Ok(out)
}

fn find_close(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q == b'"' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    Bar,
    Declare,
    Comma,
}

fn split_fields(s: &str) -> Vec<String> {
    s.split('.').filter(|p| !p.is_empty()).map(String::from).collect()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '$'
}

fn lex(src: &str) -> Res<Vec<Tok>> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '|' | ',' => {
                toks.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '|' => Tok::Bar,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '"' | '`' => {
                let (s, next) = lex_string(&chars, i)?;
                toks.push(Tok::Str(s));
                i = next;
            }
            _ => {
                let start = i;
                // A bare identifier ends at '.', so `range.X` is `range .X`.
                let ident = c.is_alphabetic() || c == '_';
                while i < chars.len() && (is_word(chars[i]) || (i == start && (c == '-' || c == '+'))) {
                    if ident && chars[i] == '.' {
                        break;
                    }
                    i += 1;
                }
                if start == i {
                    return err(format!("template: unexpected {c:?} in command"));
                }
                toks.push(word_token(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(toks)
}

fn word_token(w: String) -> Tok {
    if w.starts_with('.') {
        Tok::Field(split_fields(&w))
    } else if let Some(var) = w.strip_prefix('$') {
        let (name, path) = var.split_once('.').unwrap_or((var, ""));
        Tok::Var(format!("${name}"), split_fields(path))
    } else if w.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        Tok::Num(w)
    } else {
        Tok::Ident(w)
    }
}

fn lex_string(chars: &[char], start: usize) -> Res<(String, usize)> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return Ok((out, i + 1));
        }
        if c == '\\' && quote == '"' {
            i += 1;
            match chars.get(i) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(&other) => out.push(other),
                None => break,
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    err("template: unterminated quoted string")
}

fn parse_pipe(toks: &[Tok]) -> Res<Pipe> {
    let mut pipe = Pipe::default();
    let mut toks = toks;
    if let Some(at) = toks.iter().position(|t| *t == Tok::Declare) {
        for t in &toks[..at] {
            match t {
                Tok::Var(name, path) if path.is_empty() => pipe.decl.push(name.clone()),
                Tok::Comma => {}
                _ => return err("template: bad variable declaration"),
            }
        }
        toks = &toks[at + 1..];
    }
    let mut cmd = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Bar => {
                if cmd.is_empty() {
                    return err("template: missing command in pipeline");
                }
                pipe.cmds.push(std::mem::take(&mut cmd));
            }
            Tok::LParen => {
                let close = matching_paren(toks, i)?;
                cmd.push(Operand::Paren(Box::new(parse_pipe(&toks[i + 1..close])?)));
                i = close;
            }
            Tok::Field(f) => cmd.push(Operand::Field(f.clone())),
            Tok::Var(n, p) => cmd.push(Operand::Var(n.clone(), p.clone())),
            Tok::Ident(n) => cmd.push(Operand::Ident(n.clone())),
            Tok::Str(s) => cmd.push(Operand::Str(s.clone())),
            Tok::Num(n) => cmd.push(Operand::Num(parse_number(n)?)),
            Tok::RParen | Tok::Declare | Tok::Comma => return err("template: unexpected token in command"),
        }
        i += 1;
    }
    if cmd.is_empty() {
        return err("template: missing value for command");
    }
    pipe.cmds.push(cmd);
    Ok(pipe)
}

fn matching_paren(toks: &[Tok], open: usize) -> Res<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    err("template: unclosed left paren")
}

fn parse_number(n: &str) -> Res<serde_json::Number> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    n.parse::<f64>().ok().and_then(serde_json::Number::from_f64).ok_or_else(|| TemplateError(format!("template: bad number syntax: {n:?}")))
}

/// Where a block ended while parsing a list of nodes.
enum Stop {
    Eof,
    End,
    Else(Option<Pipe>),
}

struct Parser {
    segs: std::vec::IntoIter<Segment>,
}

impl Parser {
    fn list(&mut self) -> Res<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while let Some(seg) = self.segs.next() {
            let action = match seg {
                Segment::Text(t) if t.is_empty() => continue,
                Segment::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Segment::Action(a) => a,
            };
            if action.starts_with("/*") {
                continue;
            }
            let toks = lex(&action)?;
            let (head, rest) = match toks.split_first() {
                Some((Tok::Ident(w), rest)) => (w.as_str(), rest),
                Some(_) => ("", toks.as_slice()),
                None => return err("template: missing value for command"),
            };
            match head {
                "end" => return Ok((nodes, Stop::End)),
                "else" if rest.is_empty() => return Ok((nodes, Stop::Else(None))),
                "else" => match rest.split_first() {
                    Some((Tok::Ident(w), cond)) if w == "if" => return Ok((nodes, Stop::Else(Some(parse_pipe(cond)?)))),
                    _ => return err("template: unexpected else"),
                },
                "if" | "range" | "with" => nodes.push(self.block(head, parse_pipe(rest)?)?),
                "define" | "template" | "block" | "break" | "continue" => return err(format!("template: {head:?} is not supported")),
                _ => nodes.push(Node::Action(parse_pipe(&toks)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn block(&mut self, kind: &str, pipe: Pipe) -> Res<Node> {
        let (body, stop) = self.list()?;
        let els = match stop {
            Stop::Eof => return err(format!("template: unexpected EOF in {kind}")),
            Stop::End => Vec::new(),
            Stop::Else(None) => match self.list()? {
                (els, Stop::End) => els,
                _ => return err(format!("template: expected end after else in {kind}")),
            },
            Stop::Else(Some(cond)) => vec![self.block("if", cond)?],
        };
        Ok(match kind {
            "if" => Node::If(pipe, body, els),
            "range" => Node::Range(pipe, body, els),
            _ => Node::With(pipe, body, els),
        })
    }
}

impl Template {
    /// Parses `src`.
    pub fn parse(src: &str) -> Result<Self, TemplateError> {
        let mut parser = Parser { segs: segments(src)?.into_iter() };
        match parser.list()? {
            (nodes, Stop::Eof) => Ok(Self { nodes, html_json: false }),
            (_, Stop::End) => err("template: unexpected {{end}}"),
            (_, Stop::Else(_)) => err("template: unexpected {{else}}"),
        }
    }

    /// Makes `json` escape `<`, `>` and `&` like Go's `json.Marshal` (docker's list rows).
    pub fn with_html_json(mut self) -> Self {
        self.html_json = true;
        self
    }

    /// Runs the template with `dot` as `.` and `$`.
    pub fn render(&self, dot: &Value) -> Result<String, TemplateError> {
        let mut ex = Exec { vars: vec![("$".to_string(), dot.clone())], html_json: self.html_json };
        let mut out = String::new();
        ex.nodes(&self.nodes, dot, &mut out)?;
        Ok(out)
    }
}

struct Exec {
    vars: Vec<(String, Value)>,
    html_json: bool,
}

/// A value, or `None` for a missing map key (printed `<no value>`).
type Val = Option<Value>;

impl Exec {
    fn nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Res<()> {
        let mark = self.vars.len();
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        out.push_str(&print(&v));
                    }
                }
                Node::If(p, then, els) => {
                    let branch = if truthy(&self.pipe(p, dot)?) { then } else { els };
                    self.nodes(branch, dot, out)?;
                }
                Node::With(p, body, els) => match self.pipe(p, dot)? {
                    Some(v) if truthy(&Some(v.clone())) => self.nodes(body, &v, out)?,
                    _ => self.nodes(els, dot, out)?,
                },
                Node::Range(p, body, els) => self.range(p, body, els, dot, out)?,
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn range(&mut self, p: &Pipe, body: &[Node], els: &[Node], dot: &Value, out: &mut String) -> Res<()> {
        let decl = p.decl.clone();
        let plain = Pipe { decl: Vec::new(), cmds: p.cmds.clone() };
        let items: Vec<(Value, Value)> = match self.pipe(&plain, dot)? {
            Some(Value::Array(a)) => a.into_iter().enumerate().map(|(i, v)| (Value::from(i), v)).collect(),
            Some(Value::Object(m)) => m.into_iter().filter(|(k, _)| !hidden(k)).map(|(k, v)| (Value::String(k), v)).collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => return err(format!("template: range can't iterate over {}", print(&Some(other)))),
        };
        if items.is_empty() {
            return self.nodes(els, dot, out);
        }
        for (key, value) in items {
            let mark = self.vars.len();
            match decl.as_slice() {
                [v] => self.vars.push((v.clone(), value.clone())),
                [k, v] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), value.clone()));
                }
                _ => {}
            }
            self.nodes(body, &value, out)?;
            self.vars.truncate(mark);
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Res<Val> {
        let mut last: Option<Val> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(None);
        if let Some(name) = p.decl.first() {
            self.vars.push((name.clone(), v.clone().unwrap_or(Value::Null)));
        }
        Ok(v)
    }

    fn command(&mut self, cmd: &[Operand], dot: &Value, piped: Option<Val>) -> Res<Val> {
        let (first, rest) = cmd.split_first().ok_or_else(|| TemplateError("template: empty command".into()))?;
        if let Operand::Ident(name) = first {
            if !matches!(name.as_str(), "true" | "false" | "nil") {
                let mut args = rest.iter().map(|a| self.operand(a, dot)).collect::<Res<Vec<Val>>>()?;
                args.extend(piped);
                return self.call(name, args);
            }
        }
        if !rest.is_empty() || piped.is_some() {
            let mut args = rest.iter().map(|a| self.operand(a, dot)).collect::<Res<Vec<Val>>>()?;
            args.extend(piped);
            return self.method(first, dot, &args);
        }
        self.operand(first, dot)
    }

    fn method(&mut self, target: &Operand, dot: &Value, args: &[Val]) -> Res<Val> {
        let (base, path) = match target {
            Operand::Field(path) => (Some(dot.clone()), path.clone()),
            Operand::Var(name, path) => (self.var(name)?, path.clone()),
            _ => return err("template: can't give argument to non-function"),
        };
        let Some((name, parents)) = path.split_last() else {
            return err("template: can't give argument to non-function");
        };
        let holder = lookup(base, parents);
        let method = holder.as_ref().and_then(|h| h.get(method_key(name)));
        let key = args.first().map(print).unwrap_or_default();
        Ok(match method {
            Some(Value::Object(m)) => Some(m.get(&key).cloned().unwrap_or(Value::String(String::new()))),
            Some(Value::String(s)) => Some(Value::String(s.clone())),
            Some(Value::Null) => Some(Value::String(key)),
            _ => return err(format!("template: can't evaluate field {name}: it is not a method")),
        })
    }

    fn var(&self, name: &str) -> Res<Val> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(Some(v.clone())),
            None => err(format!("template: undefined variable: {name}")),
        }
    }

    fn operand(&mut self, op: &Operand, dot: &Value) -> Res<Val> {
        Ok(match op {
            Operand::Field(path) => lookup(Some(dot.clone()), path),
            Operand::Var(name, path) => lookup(self.var(name)?, path),
            Operand::Str(s) => Some(Value::String(s.clone())),
            Operand::Num(n) => Some(Value::Number(n.clone())),
            Operand::Paren(p) => self.pipe(p, dot)?,
            Operand::Ident(w) => match w.as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                "nil" => Some(Value::Null),
                f => self.call(f, Vec::new())?,
            },
        })
    }

    fn call(&mut self, name: &str, args: Vec<Val>) -> Res<Val> {
        call_function(name, args, self.html_json)
    }
}

fn lookup(base: Val, path: &[String]) -> Val {
    let mut cur = base?;
    for key in path {
        cur = match cur {
            Value::Object(mut m) => m.remove(key)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn truthy(v: &Val) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => m.keys().any(|k| !hidden(k)),
    }
}

/// Prints a value like Go's `fmt.Sprint` does for decoded JSON.
fn print(v: &Val) -> String {
    match v {
        None => "<no value>".into(),
        Some(v) => print_value(v),
    }
}

fn print_value(v: &Value) -> String {
    match v {
        // Docker formats typed structs, where a JSON null is mostly an empty slice.
        Value::Null => "[]".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_f64().filter(|_| n.is_f64()).map_or_else(|| n.to_string(), |f| crate::cli::format::go_g(f, 17)),
        Value::Array(a) => format!("[{}]", a.iter().map(print_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!("map[{}]", m.iter().filter(|(k, _)| !hidden(k)).map(|(k, v)| format!("{k}:{}", print_value(v))).collect::<Vec<_>>().join(" "))
        }
    }
}

fn strip_hidden(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().filter(|(k, _)| !hidden(k)).map(|(k, v)| (k.clone(), strip_hidden(v))).collect::<Map<_, _>>()),
        Value::Array(a) => Value::Array(a.iter().map(strip_hidden).collect()),
        other => other.clone(),
    }
}

fn arg_str(args: &[Val], i: usize) -> String {
    args.get(i).map(print).unwrap_or_default()
}

fn call_function(name: &str, args: Vec<Val>, html_json: bool) -> Res<Val> {
    let s = |v: String| Ok(Some(Value::String(v)));
    match name {
        "json" => {
            let v = strip_hidden(&args.first().cloned().flatten().unwrap_or(Value::Null));
            s(if html_json { crate::cli::format::go_json_escaped(&v) } else { serde_json::to_string(&v).unwrap_or_default() })
        }
        "index" => index(args),
        "len" => match args.first().cloned().flatten() {
            Some(Value::Array(a)) => Ok(Some(a.len().into())),
            Some(Value::Object(m)) => Ok(Some(m.keys().filter(|k| !hidden(k)).count().into())),
            Some(Value::String(t)) => Ok(Some(t.len().into())),
            _ => err("template: len of unsupported type"),
        },
        "join" => match args.first().cloned().flatten() {
            Some(Value::Array(a)) => s(a.iter().map(print_value).collect::<Vec<_>>().join(&arg_str(&args, 1))),
            other => s(print(&other)),
        },
        "split" => Ok(Some(Value::Array(arg_str(&args, 0).split(&arg_str(&args, 1)).map(|p| Value::String(p.into())).collect()))),
        "upper" => s(arg_str(&args, 0).to_uppercase()),
        "lower" => s(arg_str(&args, 0).to_lowercase()),
        "title" => s(title(&arg_str(&args, 0))),
        "truncate" => {
            let n = args.get(1).cloned().flatten().and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            s(arg_str(&args, 0).chars().take(n).collect())
        }
        "pad" => {
            let n = |i| args.get(i).cloned().flatten().and_then(|v: Value| v.as_u64()).unwrap_or(0) as usize;
            s(format!("{}{}{}", " ".repeat(n(1)), arg_str(&args, 0), " ".repeat(n(2))))
        }
        "print" => s(args.iter().map(print).collect::<Vec<_>>().join("")),
        "println" => s(format!("{}\n", args.iter().map(print).collect::<Vec<_>>().join(" "))),
        "printf" => s(printf(&arg_str(&args, 0), &args[1.min(args.len())..])),
        "not" => Ok(Some(Value::Bool(!truthy(&args.first().cloned().flatten())))),
        "and" => Ok(args.iter().find(|a| !truthy(a)).or(args.last()).cloned().flatten()),
        "or" => Ok(args.iter().find(|a| truthy(a)).or(args.last()).cloned().flatten()),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare(name, &args),
        _ => err(format!("template: function {name:?} not defined")),
    }
}

fn index(args: Vec<Val>) -> Res<Val> {
    let mut it = args.into_iter();
    let mut cur = it.next().flatten();
    for key in it {
        cur = match (cur, key) {
            (Some(Value::Object(mut m)), Some(Value::String(k))) => Some(m.remove(&k).unwrap_or(Value::String(String::new()))),
            (Some(Value::Array(a)), Some(Value::Number(n))) => {
                let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                Some(a.get(i).cloned().ok_or_else(|| TemplateError(format!("template: index out of range: {i}")))?)
            }
            (None | Some(Value::Null), _) => Some(Value::String(String::new())),
            _ => return err("template: can't index item"),
        };
    }
    Ok(cur)
}

fn compare(op: &str, args: &[Val]) -> Res<Val> {
    let a = args.first().cloned().flatten().unwrap_or(Value::Null);
    if op == "eq" && args.len() > 2 {
        return Ok(Some(Value::Bool(args[1..].iter().any(|b| b.clone().unwrap_or(Value::Null) == a))));
    }
    let b = args.get(1).cloned().flatten().unwrap_or(Value::Null);
    let ord = match (&a, &b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    };
    use std::cmp::Ordering::*;
    let r = match op {
        "eq" => a == b,
        "ne" => a != b,
        "lt" => ord == Some(Less),
        "le" => matches!(ord, Some(Less | Equal)),
        "gt" => ord == Some(Greater),
        _ => matches!(ord, Some(Greater | Equal)),
    };
    Ok(Some(Value::Bool(r)))
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// A small `printf`: `%s`, `%v`, `%d`, `%q`, `%%`.
fn printf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&crate::cli::format::go_quote(&args.next().map(print).unwrap_or_default())),
            Some(_) => out.push_str(&args.next().map(print).unwrap_or_else(|| "%!v(MISSING)".into())),
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).and_then(|t| t.render(v)).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn fields_json_index() {
        let v = json!({"State":{"Status":"running","Pid":42},"Config":{"Labels":{"k":"v"},"Cmd":["sh","-c"]}});
        assert_eq!(r("{{.State.Status}}", &v), "running");
        assert_eq!(r("{{.State.Pid}}", &v), "42");
        assert_eq!(r("{{json .Config.Labels}}", &v), r#"{"k":"v"}"#);
        assert_eq!(r(r#"{{index .Config.Labels "k"}}"#, &v), "v");
        assert_eq!(r(r#"{{index .Config.Labels "zz"}}"#, &v), "");
        assert_eq!(r("{{.Config.Cmd}}", &v), "[sh -c]");
        assert_eq!(r("{{.Config.Labels}}", &v), "map[k:v]");
        assert_eq!(r("{{.Nope}}", &v), "<no value>");
        assert_eq!(r("{{.State.Health.Status}}", &v), "<no value>");
        assert_eq!(r(r#"{{join .Config.Cmd ","}}"#, &v), "sh,-c");
        assert_eq!(r("{{.State.Status | upper}}", &v), "RUNNING");
    }

    #[test]
    fn control_flow() {
        let v = json!({"A":true,"N":{"b":{"IP":"2"},"a":{"IP":"1"}},"L":[]});
        assert_eq!(r("{{if .A}}y{{else}}n{{end}}", &v), "y");
        assert_eq!(r("{{if .L}}y{{else if .A}}z{{end}}", &v), "z");
        assert_eq!(r("{{range .N}}{{.IP}} {{end}}", &v), "1 2 ");
        assert_eq!(r("{{range $k, $v := .N}}{{$k}}={{$v.IP}};{{end}}", &v), "a=1;b=2;");
        assert_eq!(r("{{range .L}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(r("{{with .N.a}}{{.IP}}{{end}}", &v), "1");
        assert_eq!(r("{{range.N}}{{.IP}}{{end}}", &v), "12");
        assert_eq!(r("{{if.A}}y{{end}}", &v), "y");
        assert_eq!(r(r#"{{if eq .N.a.IP "1"}}one{{end}}"#, &v), "one");
        assert_eq!(r("a {{- .N.a.IP -}} b", &v), "a1b");
        assert_eq!(r("{{$x := .N.b.IP}}{{$x}}", &v), "2");
        assert!(r("{{if .A}}", &v).starts_with("ERR"));
        assert!(r("{{nosuch .A}}", &v).contains("not defined"));
    }

    #[test]
    fn methods_on_rows() {
        let mut row = json!({"ID":"abc"});
        row[method_key("Label")] = json!({"a":"b"});
        assert_eq!(r(r#"{{.ID}} {{.Label "a"}} {{.Label "x"}}"#, &row), "abc b ");
        assert_eq!(r("{{json .}}", &row), r#"{"ID":"abc"}"#);
        let mut header = json!({"ID":"CONTAINER ID"});
        header[method_key("Label")] = Value::Null;
        assert_eq!(r(r#"{{.ID}}|{{.Label "a"}}"#, &header), "CONTAINER ID|a");
    }

    #[test]
    fn html_escaping_json_for_rows() {
        let v = json!({"Ports":"0.0.0.0:80->80/tcp"});
        let t = Template::parse("{{json .}}").map(Template::with_html_json);
        assert_eq!(t.and_then(|t| t.render(&v)).ok().as_deref(), Some(r#"{"Ports":"0.0.0.0:80-\u003e80/tcp"}"#));
    }
}
