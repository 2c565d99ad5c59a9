//! Where expansion looks variables up.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A read-only set of variables consulted during expansion.
///
/// The builder implements (or reuses) this for the current `ENV` + `ARG`
/// scope of a stage. A variable that is set to the empty string must return
/// `Some("")`: `${v-x}` and `${v:-x}` treat "unset" and "empty" differently.
pub trait Vars {
    /// Value of `name`, or `None` when it is unset.
    fn var(&self, name: &str) -> Option<&str>;
}

impl<T: Vars + ?Sized> Vars for &T {
    fn var(&self, name: &str) -> Option<&str> {
        (**self).var(name)
    }
}

impl<S: BuildHasher> Vars for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Vars for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An ordered list of `(name, value)` pairs; the last definition wins, as in
/// an image's `Env` list.
impl Vars for [(String, String)] {
    fn var(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Vars for Vec<(String, String)> {
    fn var(&self, name: &str) -> Option<&str> {
        self.as_slice().var(name)
    }
}

/// The empty scope: every variable is unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoVars;

impl Vars for NoVars {
    fn var(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// `top` shadowing `base`: used while resolving several `ARG`s on one line,
/// where each default may refer to the ones before it.
#[derive(Clone, Copy)]
pub struct Overlay<'a> {
    /// Definitions that win (last one first).
    pub top: &'a [(String, String)],
    /// Everything else.
    pub base: &'a dyn Vars,
}

impl Vars for Overlay<'_> {
    fn var(&self, name: &str) -> Option<&str> {
        self.top.var(name).or_else(|| self.base.var(name))
    }
}

impl std::fmt::Debug for Overlay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay").field("top", &self.top).finish_non_exhaustive()
    }
}
