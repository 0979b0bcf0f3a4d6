//! Hook-point name filters: a list of glob patterns (`*` matches any run of characters, `?` one
//! character, everything else literally); a name is selected when any pattern matches it whole.
//!
//! `layers.*.hook_post` selects every layer's post-activation; `layers.0.hook_pre` exactly one.

use crate::{Error, Result};

/// A set of glob patterns over hook-point names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameFilter {
    patterns: Vec<String>,
}

impl NameFilter {
    /// A filter from glob patterns; an empty list or an empty pattern is an error.
    pub fn new(patterns: &[String]) -> Result<Self> {
        if patterns.is_empty() {
            return Err(Error::BadPattern {
                pattern: String::new(),
                reason: "the filter needs at least one pattern, e.g. \"layers.*.hook_post\"".into(),
            });
        }
        for p in patterns {
            if p.trim().is_empty() {
                return Err(Error::BadPattern {
                    pattern: p.clone(),
                    reason: "a pattern must not be empty".into(),
                });
            }
        }
        Ok(Self {
            patterns: patterns.to_vec(),
        })
    }

    /// A filter that selects every name.
    pub fn all() -> Self {
        Self {
            patterns: vec!["*".into()],
        }
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| glob_match(p.as_bytes(), name.as_bytes()))
    }

    /// The names (in the given order) this filter selects; an error if it selects none of them.
    pub fn select<'a>(&self, names: &'a [String]) -> Result<Vec<&'a str>> {
        let picked: Vec<&str> = names
            .iter()
            .filter(|n| self.matches(n))
            .map(|n| n.as_str())
            .collect();
        if picked.is_empty() {
            return Err(Error::NoMatch {
                patterns: self.patterns.clone(),
                available: names.join(", "),
            });
        }
        Ok(picked)
    }
}

/// Glob match of the whole `text` by `pat` with `*` and `?`, iterative with one backtrack point.
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: &[&str]) -> NameFilter {
        NameFilter::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        let post = f(&["layers.*.hook_post"]);
        assert!(post.matches("layers.0.hook_post"));
        assert!(post.matches("layers.12.hook_post"));
        assert!(!post.matches("layers.0.hook_pre"));
        assert!(!post.matches("layers.0.hook_post_extra"));
        assert!(f(&["layers.?.hook_*"]).matches("layers.3.hook_pre"));
        assert!(!f(&["layers.?.hook_*"]).matches("layers.10.hook_pre"));
        assert!(f(&["*"]).matches(""));
        assert!(f(&["a*b*c"]).matches("axxbyyc"));
        assert!(!f(&["a*b*c"]).matches("axxbyy"));
    }

    #[test]
    fn a_list_is_a_union() {
        let names: Vec<String> = [
            "layers.0.hook_pre",
            "layers.0.hook_post",
            "layers.1.hook_post",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let sel = f(&["layers.0.hook_pre", "layers.1.*"])
            .select(&names)
            .unwrap();
        assert_eq!(sel, vec!["layers.0.hook_pre", "layers.1.hook_post"]);
    }

    #[test]
    fn matching_nothing_is_an_error_listing_the_names() {
        let names = vec!["layers.0.hook_pre".to_string()];
        let err = f(&["blocks.*"]).select(&names).unwrap_err().to_string();
        assert!(
            err.contains("blocks.*") && err.contains("layers.0.hook_pre"),
            "{err}"
        );
        assert!(NameFilter::new(&[]).is_err());
        assert!(NameFilter::new(&[" ".into()]).is_err());
    }
}
