//! Name patterns used by packs: exact names, globs and anchored regexes.
//!
//! Patterns are compiled once when a pack loads and matched against the *distinct*
//! names of a scrape (thousands), never against every series (millions).

use regex::Regex;

#[derive(Clone, Debug)]
pub enum Pattern {
    /// The name itself.
    Exact(String),
    /// `*` (any run) and `?` (one character) globs, or `re:` regexes, anchored.
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
            let mut re = String::from("^");
            for c in text.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    other => re.push_str(&regex::escape(&other.to_string())),
                }
            }
            re.push('$');
            let regex = Regex::new(&re).map_err(|e| format!("invalid glob `{text}`: {e}"))?;
            return Ok(Pattern::Regex {
                source: text.to_owned(),
                regex,
            });
        }
        Ok(Pattern::Exact(text.to_owned()))
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(n) => n == name,
            Pattern::Regex { regex, .. } => regex.is_match(name),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Pattern::Exact(n) => n,
            Pattern::Regex { source, .. } => source,
        }
    }
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
    }
}
