//! Name patterns used by packs: exact names, globs and anchored regexes.
//!
//! Patterns are compiled once when a pack loads and matched against the *distinct*
//! names of a scrape (thousands), never against every series (millions).

use regex_lite::Regex;

#[derive(Clone, Debug)]
pub enum Pattern {
    /// The name itself.
    Exact(String),
    /// `*` (any run) and `?` (one character), matched without a regex: packs hold
    /// hundreds of globs and compiling a regex for each would dominate start-up.
    Glob(String),
    /// `re:` regexes, anchored.
    Regex { source: String, regex: Regex },
}

impl Pattern {
    /// `vllm:num_requests_running` (exact), `vllm:*` (glob), `re:^vllm:.*_seconds$` (regex).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("empty name pattern".to_owned());
        }
        if let Some(re) = text.strip_prefix("re:") {
            if !re.starts_with('^') || !re.ends_with('$') {
                return Err(format!(
                    "regex pattern `{text}` must be anchored with `^` and `$`"
                ));
            }
            let regex = Regex::new(re)
                .map_err(|e| format!("invalid regex `{re}`: {}", first_line(&e.to_string())))?;
            return Ok(Pattern::Regex {
                source: text.to_owned(),
                regex,
            });
        }
        if text.contains('*') || text.contains('?') {
            return Ok(Pattern::Glob(text.to_owned()));
        }
        Ok(Pattern::Exact(text.to_owned()))
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(n) => n == name,
            Pattern::Glob(g) => glob_matches(g.as_bytes(), name.as_bytes()),
            Pattern::Regex { regex, .. } => regex.is_match(name),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Pattern::Exact(n) | Pattern::Glob(n) => n,
            Pattern::Regex { source, .. } => source,
        }
    }
}

/// Glob matching with `*` and `?` over bytes (`?` matches one byte). Iterative with
/// one backtrack point, so never exponential.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or("").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_pattern() {
        assert!(Pattern::parse("vllm:*")
            .unwrap()
            .matches("vllm:num_requests_running"));
        assert!(!Pattern::parse("vllm:*").unwrap().matches("xvllm:a"));
        assert!(Pattern::parse("lmcache_mp_l?_x")
            .unwrap()
            .matches("lmcache_mp_l1_x"));
        assert!(Pattern::parse("re:^sglang:.*_seconds$")
            .unwrap()
            .matches("sglang:ttft_seconds"));
        assert!(Pattern::parse("a.b").unwrap().matches("a.b"));
        assert!(!Pattern::parse("a.b").unwrap().matches("axb"));
        assert!(Pattern::parse("re:vllm").is_err());
        assert!(Pattern::parse("re:^(unclosed$").is_err());
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("*_total").unwrap().matches("vllm:x_total"));
        assert!(Pattern::parse("a*b*c").unwrap().matches("a__b__c"));
        assert!(!Pattern::parse("a*b*c").unwrap().matches("a__b__"));
        assert!(Pattern::parse("*").unwrap().matches(""));
        assert!(!Pattern::parse("lmcache_mp_*_x")
            .unwrap()
            .matches("lmcache_mp_x"));
    }
}
