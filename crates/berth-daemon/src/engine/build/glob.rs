//! `COPY` source globs with Go's `filepath.Match` rules, which the classic builder applies
//! to every path of the context: `*` and `?` never match `/`, `[a-z]` and `[^a-z]` are
//! classes, `\` escapes. Matching goes one path component at a time, listing directories
//! inside the root (a symlinked directory is not descended into, as Go's walk does not).

/// Whether a path has glob characters (Docker: `*`, `?`, `[`; an escaped one does not count).
pub fn has_wildcards(path: &str) -> bool {
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Lists a directory of a tree: names, sorted, each with whether it is a directory.
pub type Lister<'a> = dyn FnMut(&str) -> std::io::Result<Vec<(String, bool)>> + 'a;

/// Every path of a tree matching `pattern` (relative, `/`-separated), sorted: `list` gives
/// a directory's names (sorted) and whether each is itself a directory (the context's
/// index, or a root on disk).
pub fn expand_with(list: &mut Lister<'_>, pattern: &str) -> std::io::Result<Vec<String>> {
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current = vec![String::new()];
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for prefix in &current {
            let entries = match list(prefix) {
                Ok(e) => e,
                Err(e) if prefix.is_empty() => return Err(e),
                Err(_) => continue,
            };
            for (name, is_dir) in entries {
                if (last || is_dir) && matches(comp, &name) {
                    next.push(if prefix.is_empty() { name } else { format!("{prefix}/{name}") });
                }
            }
        }
        current = next;
    }
    current.sort();
    Ok(current)
}

/// Go's `filepath.Match` for one component (no `/` in `name`).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_at(&p, &n)
}

fn match_at(p: &[char], n: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len()).any(|skip| match_at(rest, &n[skip..])),
        '?' => !n.is_empty() && match_at(rest, &n[1..]),
        '[' => match (n.first(), class(rest)) {
            (Some(c), Some((ok, after))) => ok(*c) && match_at(after, &n[1..]),
            _ => false,
        },
        '\\' => match rest.split_first() {
            Some((&lit, after)) => n.first() == Some(&lit) && match_at(after, &n[1..]),
            None => false,
        },
        lit => n.first() == Some(&lit) && match_at(rest, &n[1..]),
    }
}

type ClassFn = Box<dyn Fn(char) -> bool>;

/// Parses a class body after `[`; returns its predicate and the rest of the pattern.
fn class(p: &[char]) -> Option<(ClassFn, &[char])> {
    let (negate, mut p) = match p.first() {
        Some('^') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    loop {
        let (&c, rest) = p.split_first()?;
        if c == ']' && !first {
            p = rest;
            break;
        }
        first = false;
        let (lo, rest) = if c == '\\' { (*rest.first()?, &rest[1..]) } else { (c, rest) };
        let (hi, rest) = match rest {
            ['-', hi, more @ ..] if *hi != ']' => (*hi, more),
            _ => (lo, rest),
        };
        ranges.push((lo, hi));
        p = rest;
    }
    Some((Box::new(move |c| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != negate), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_rules() {
        assert!(matches("*.txt", "a.txt"));
        assert!(!matches("*.txt", "a.txt.bak"));
        assert!(matches("a?c", "abc"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[^a-c]x", "bx"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
        assert!(matches("*", ""));
        assert!(has_wildcards("src/*.rs"));
        assert!(!has_wildcards("src/\\*.rs"));
    }
}
