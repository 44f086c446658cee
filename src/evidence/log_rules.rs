//! The log categories of the `logs` packs, compiled: what the log parser scans
//! with. The pack loader fills them (ids, descriptions, the patterns as regex-lite
//! regexes, checked at load); this module owns how they are matched, so the
//! parser needs nothing from the pack layer.

/// A compiled log category.
#[derive(Clone, Debug)]
pub struct LogCategoryRule {
    /// Category id, unique; the evidence counts lines per id.
    pub id: String,
    pub description: String,
    /// Mode candidates a matching line is evidence for.
    pub proves: Vec<String>,
    pub patterns: Vec<regex_lite::Regex>,
    pub exclude: Vec<regex_lite::Regex>,
}

/// Every `logs` file merged.
#[derive(Clone, Debug, Default)]
pub struct LogRules {
    pub categories: Vec<LogCategoryRule>,
    /// `(name, regex with one capture group)`.
    pub values: Vec<(String, regex_lite::Regex)>,
    /// The value whose distinct values decide `hash_seed_risk`.
    pub hash_seed_value: Option<String>,
    /// The patterns compiled for scanning, built at first use: only log parsing
    /// pays for it, not the start-up of every command.
    matcher: std::sync::OnceLock<Option<std::sync::Arc<LogMatcher>>>,
}

/// What a member of the matcher's set stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogSetMember {
    /// A pattern of `categories[i]`.
    Category(usize),
    /// The regex of `values[i]`.
    Value(usize),
}

/// The log rules compiled for scanning: every category pattern and value regex in
/// one `regex::bytes` set, so a line is scanned once for all of them, with Unicode
/// off. That is the meaning regex-lite gives the same patterns at load (ASCII `\b`,
/// `\w` and case folding) on `regex`'s fast engines; Unicode word boundaries would
/// stop its DFA on every line that is not ASCII.
#[derive(Debug)]
pub struct LogMatcher {
    set: regex::bytes::RegexSet,
    members: Vec<LogSetMember>,
    categories: usize,
    exclude: Vec<Vec<regex::bytes::Regex>>,
    values: Vec<regex::bytes::Regex>,
}

impl LogMatcher {
    fn build(rules: &LogRules) -> Result<LogMatcher, regex::Error> {
        let one = |r: &regex_lite::Regex| {
            regex::bytes::RegexBuilder::new(r.as_str())
                .unicode(false)
                .build()
        };
        let mut members = Vec::new();
        let mut sources = Vec::new();
        for (i, c) in rules.categories.iter().enumerate() {
            for r in &c.patterns {
                members.push(LogSetMember::Category(i));
                sources.push(r.as_str());
            }
        }
        for (i, (_, r)) in rules.values.iter().enumerate() {
            members.push(LogSetMember::Value(i));
            sources.push(r.as_str());
        }
        Ok(LogMatcher {
            set: regex::bytes::RegexSetBuilder::new(sources)
                .unicode(false)
                .build()?,
            members,
            categories: rules.categories.len(),
            exclude: rules
                .categories
                .iter()
                .map(|c| c.exclude.iter().map(one).collect())
                .collect::<Result<_, _>>()?,
            values: rules
                .values
                .iter()
                .map(|(_, r)| one(r))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Sets `hits[c]` for each category `c` with a pattern matching `line`, and
    /// `hits[categories + v]` for each value regex `v` that matches; false when
    /// none. A category with several matching patterns is hit once.
    pub fn hits(&self, line: &str, hits: &mut Vec<bool>) -> bool {
        if !self.set.is_match(line.as_bytes()) {
            return false;
        }
        hits.clear();
        hits.resize(self.categories + self.values.len(), false);
        for m in self.set.matches(line.as_bytes()).iter() {
            match self.members[m] {
                LogSetMember::Category(c) => hits[c] = true,
                LogSetMember::Value(v) => hits[self.categories + v] = true,
            }
        }
        true
    }

    /// Whether an exclude pattern of category `c` matches.
    pub fn excluded(&self, c: usize, line: &str) -> bool {
        self.exclude[c].iter().any(|r| r.is_match(line.as_bytes()))
    }

    /// The capture group of value regex `v`, if it matches.
    pub fn capture(&self, v: usize, line: &str) -> Option<String> {
        let caps = self.values[v].captures(line.as_bytes())?;
        Some(String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned())
    }
}

impl LogRules {
    /// The compiled matcher (`None` when there are no patterns, or when they do
    /// not fit in one set, which load reports for every pack that can change).
    pub fn matcher(&self) -> Option<std::sync::Arc<LogMatcher>> {
        self.matcher
            .get_or_init(|| {
                let any = !self.categories.is_empty() || !self.values.is_empty();
                any.then(|| LogMatcher::build(self).ok().map(std::sync::Arc::new))
                    .flatten()
            })
            .clone()
    }

    /// A set has its own size limit, so patterns that compile one by one may still
    /// not fit together: with `validate`, the matcher is built once to say so (the
    /// error's last line); it is built again at first use either way.
    pub fn check_set(&mut self, validate: bool) -> Result<(), String> {
        self.matcher = std::sync::OnceLock::new();
        if !validate {
            return Ok(());
        }
        LogMatcher::build(self).map(drop).map_err(|e| {
            e.to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .trim_end_matches('.')
                .to_owned()
        })
    }
}
