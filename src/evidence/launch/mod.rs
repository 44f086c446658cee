//! Launch commands and configuration, read into the launch evidence document
//! (`launch_evidence.json`).
//!
//! Sits at the start of the evidence pipeline next to the other parsers: the bytes
//! of one or more files in, one serializable [`LaunchEvidence`] out. What the
//! programs, flags, config keys and environment variables mean comes from the rule
//! packs (`kind: launch`, see [`knowledge`]); this parser knows only the forms.
//!
//! # What it reads
//!
//! Each file is JSON when it parses as JSON; else a YAML document of maps and lists
//! (read with serde-saphyr, so `env:` lists, Kubernetes `command:`/`args:` and
//! nested config blocks work); else line by line, each line either a YAML
//! `key: value` or a shell command line (split with `shell-words`: quotes, `\`
//! continuations, `#` comments; `;`/`&&`/`|` between commands, `NAME=value`
//! assignments, `export`, `bash -c "…"`, `docker run -e NAME=value`). A JSON file
//! that does not parse is reported and then read as text, so what it does say
//! still counts.
//!
//! A command's program is found from the packs' `programs`; without one, the
//! engine is inferred from the settings' `hint`s. Settings are matched by name
//! wherever they appear, as flags (`--x-y v`, `--x-y=v`), config keys (`x_y: v`)
//! or environment variables; names are compared with `-` and `_` equal and case
//! ignored. A setting limited to some programs is read only from their commands
//! or from inputs that name no program.
//!
//! # Secrets
//!
//! Values are redacted before anything is stored. A setting whose name has a
//! secret word as one of its parts (`TOKEN`, `KEY`, `SECRET`, `PASSWORD`, `AUTH`,
//! `AUTHORIZATION`, `CREDENTIAL`, `COOKIE`, …; so `--api-key`, `HF_TOKEN`,
//! `OPENAI_API_KEY`, `Authorization`, but not `--max-num-batched-tokens`), or that a
//! pack lists in `secret_names`, keeps its name and has its value replaced by
//! `<redacted>`; passwords in URLs (`redis://user:pw@host`), `Bearer`/`Basic`
//! credentials and secret query parameters are replaced inside any stored string.
//! Every name redacted is listed in `redacted`. Unreadable items never echo input.

pub mod knowledge;
mod settings;
mod text;

use super::lct::{Location, Source, Unreadables};
use crate::redact::{is_secret_name, scrub};
use knowledge::{LaunchKnowledge, ProgramDef, SettingOrigin};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use text::{LineKind, Node, Tree};

/// `schema_version` of the launch evidence document.
pub const LAUNCH_EVIDENCE_SCHEMA_VERSION: &str = "inferguard.launch-evidence/v1";

/// The `env` value of a variable set without a literal value (a Kubernetes
/// `valueFrom`, `docker run -e NAME`).
pub const NO_LITERAL: &str = "<no literal value>";

/// Lines (logical, after continuations) longer than this are skipped and reported.
const MAX_LINE: usize = 1 << 20;

/// Entries kept per list or map (connectors, env, redacted names, …).
const MAX_ITEMS: usize = 256;

/// Longest string stored; longer ones are cut.
const MAX_TEXT: usize = 512;

/// Deepest `bash -c "…"` nesting followed.
const MAX_NESTING: usize = 4;

/// The launch evidence document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LaunchEvidence {
    /// Always [`LAUNCH_EVIDENCE_SCHEMA_VERSION`].
    pub schema_version: String,
    /// `measured` when at least one launch fact (program, setting, environment
    /// variable) was read, else `not_proven`.
    pub claim_status: String,
    /// Why the claim is not proven; `null` when measured.
    pub reason: Option<String>,
    pub sources: Vec<Source>,
    /// A program id from the packs, or `unknown`: the first serving program
    /// launched, else the first program, else inferred from settings.
    pub engine: String,
    /// Every program seen, in order.
    pub engines: Vec<String>,
    /// Distinct hash seed values, in order seen.
    pub python_hash_seeds: Vec<String>,
    /// True when the hash seed is set nowhere, differs between inputs, asks for a
    /// random seed or is a value Python refuses: hashes (prefix-cache keys) may
    /// then differ between processes.
    pub hash_seed_risk: bool,
    /// Why `hash_seed_risk` is what it is.
    pub hash_seed_note: String,
    /// Environment assignments seen (`NAME=value`, `env:` blocks), secrets redacted.
    pub env: BTreeMap<String, String>,
    /// Names whose values were redacted, as written (`--api-key`, `HF_TOKEN`,
    /// `Authorization`, `<object>.remote_url`).
    pub redacted: Vec<String>,
    /// The fields the packs declare (`document` and `sections` of `kind: launch`
    /// files), filled by the settings read.
    #[serde(flatten)]
    #[schemars(with = "Map<String, Json>")]
    pub facts: Map<String, Json>,
    #[serde(flatten)]
    pub problems: Unreadables,
}

/// Reads launch inputs, `(path, bytes)` each, with what the packs know. Never
/// fails: problems end up in the document.
pub fn parse(files: &[(&str, &[u8])], know: &LaunchKnowledge) -> LaunchEvidence {
    let mut c = Collector::new(know);
    for (path, bytes) in files {
        c.sources.push(Source {
            path: (*path).to_owned(),
            bytes: bytes.len() as u64,
        });
        c.read_file(path, bytes);
    }
    c.finish()
}

/// A setting's value as found.
#[derive(Debug, Clone)]
enum Val {
    /// A flag without a value (`--enable-x`).
    Bare,
    Text(String),
    Json(Json),
}

/// Everything gathered so far.
struct Collector<'k> {
    know: &'k LaunchKnowledge,
    sources: Vec<Source>,
    /// The file being read.
    path: String,
    /// Set while reading a YAML document: nested `extra` blocks flatten to dotted keys.
    yaml: bool,
    engines: Vec<String>,
    hints: Vec<String>,
    doc: Json,
    seeds: Vec<String>,
    env: BTreeMap<String, String>,
    redacted: BTreeSet<String>,
    facts: u64,
    problems: Unreadables,
}

impl<'k> Collector<'k> {
    fn new(know: &'k LaunchKnowledge) -> Self {
        Collector {
            know,
            sources: Vec::new(),
            path: String::new(),
            yaml: false,
            engines: Vec::new(),
            hints: Vec::new(),
            doc: Json::Object(know.document.clone()),
            seeds: Vec::new(),
            env: BTreeMap::new(),
            redacted: BTreeSet::new(),
            facts: 0,
            problems: Unreadables::default(),
        }
    }

    fn finish(mut self) -> LaunchEvidence {
        let serving = |id: &String| self.know.program(id).is_some_and(|p| p.serving);
        let engine = self
            .engines
            .iter()
            .find(|e| serving(e))
            .or_else(|| self.engines.first())
            .or_else(|| self.hints.first())
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned());
        for section in self.know.sections.keys() {
            if let Some(d) = self.doc.as_object_mut() {
                d.entry(section.clone()).or_insert(Json::Null);
            }
        }
        let (hash_seed_risk, hash_seed_note) = self.hash_seed_verdict();
        let measured = self.facts > 0;
        let reason = (!measured).then(|| {
            if self.sources.is_empty() {
                "no launch inputs".to_owned()
            } else {
                "no launch command or configuration recognized in the inputs".to_owned()
            }
        });
        LaunchEvidence {
            schema_version: LAUNCH_EVIDENCE_SCHEMA_VERSION.to_owned(),
            claim_status: if measured { "measured" } else { "not_proven" }.to_owned(),
            reason,
            sources: self.sources,
            engine,
            engines: self.engines,
            python_hash_seeds: self.seeds,
            hash_seed_risk,
            hash_seed_note,
            env: self.env,
            redacted: self.redacted.into_iter().collect(),
            facts: match self.doc {
                Json::Object(m) => m,
                _ => Map::new(),
            },
            problems: self.problems,
        }
    }

    fn unreadable(&mut self, at: Location, reason: impl Into<String>) {
        let path = self.path.clone();
        self.problems.push(&path, at, reason);
    }

    fn redact(&mut self, name: &str) {
        if self.redacted.len() < MAX_ITEMS {
            self.redacted.insert(clip(name));
        }
    }

    /// A secret name: the built-in secret words always, plus the packs' own.
    fn is_secret(&self, name: &str) -> bool {
        is_secret_name(name) || self.know.is_declared_secret(name)
    }

    /// A string fit to store: credentials inside it replaced (noting `name` as
    /// redacted), cut to [`MAX_TEXT`].
    fn clean(&mut self, name: &str, s: &str) -> String {
        let (out, changed) = scrub(s);
        if changed {
            self.redact(name);
        }
        clip(&out)
    }

    fn read_file(&mut self, path: &str, bytes: &[u8]) {
        self.path = path.to_owned();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(e) => {
                self.unreadable(
                    Location::Offset(e.valid_up_to() as u64),
                    "not valid UTF-8 from here on; read with replacement characters",
                );
                String::from_utf8_lossy(bytes)
            }
        };
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            match serde_json::from_str::<Json>(trimmed) {
                Ok(doc) => {
                    self.walk(&Node::from_json(&doc), "");
                    return;
                }
                Err(e) => {
                    // serde_json's messages name the problem and position only.
                    let skipped = text[..text.len() - trimmed.len()].matches('\n').count();
                    let line = (e.line() + skipped) as u64;
                    self.unreadable(
                        Location::Line(line.max(1)),
                        format!("not valid JSON ({e}); read as text instead"),
                    );
                }
            }
        }
        self.read_text(trimmed);
    }

    fn read_text(&mut self, text: &str) {
        if text.len() <= MAX_LINE.saturating_mul(4) {
            if let Some(doc) = text::yaml_document(text) {
                self.yaml = true;
                self.walk(&doc, "");
                self.yaml = false;
                return;
            }
        }
        for line in text::logical_lines(text, MAX_LINE) {
            let at = Location::Line(line.number);
            if line.text.len() > MAX_LINE {
                self.unreadable(at, format!("line longer than {MAX_LINE} bytes, skipped"));
                continue;
            }
            if line.unterminated {
                self.unreadable(
                    at.clone(),
                    "unterminated quote in a shell command; read to the end of the input",
                );
            }
            match &line.kind {
                LineKind::Yaml(node) => {
                    self.yaml = true;
                    self.walk(node, "");
                    self.yaml = false;
                }
                LineKind::Shell => self.shell(&line.text, &at, 0),
            }
        }
    }

    // ---- JSON and YAML -------------------------------------------------------------

    /// Where a node is: its line (YAML) or its pointer (JSON).
    fn loc(node: &Node, pointer: &str) -> Location {
        match node.line {
            Some(n) => Location::Line(n),
            None => Location::Pointer(pointer.to_owned()),
        }
    }

    fn walk(&mut self, node: &Node, pointer: &str) {
        match &node.tree {
            Tree::Map(entries) => {
                let mut tokens = Vec::new();
                for (k, child) in entries {
                    if k == "_provenance" {
                        continue;
                    }
                    let p = format!("{pointer}/{}", escape_pointer(k));
                    self.walk_entry(k, child, &p, &mut tokens);
                }
                if !tokens.is_empty() {
                    self.apply_command(&tokens, &Self::loc(node, pointer), 0);
                }
            }
            Tree::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, &format!("{pointer}/{i}"));
                }
            }
            Tree::Scalar(Json::String(s)) if looks_like_command(s, self.know) => {
                self.shell(s, &Self::loc(node, pointer), 0);
            }
            Tree::Scalar(_) => {}
        }
    }

    fn walk_entry(&mut self, k: &str, child: &Node, p: &str, tokens: &mut Vec<String>) {
        let key = norm_key(k);
        let at = Self::loc(child, p);
        if is_command_key(&key) {
            self.tree_tokens(child, p, tokens);
        } else if key == "env" || key == "environment" {
            self.tree_env(child, p);
        } else if is_env_name(k) {
            self.apply_env(k, &json_text(&child.to_json()), at);
        } else {
            let val = Val::Json(child.to_json());
            let recognized = self.apply_setting(k, val, SettingOrigin::Config, None, &at);
            if !recognized && child.is_container() {
                self.walk(child, p);
            }
        }
    }

    /// Tokens of a `command`/`args` value (string or list of strings).
    fn tree_tokens(&mut self, node: &Node, pointer: &str, tokens: &mut Vec<String>) {
        match &node.tree {
            Tree::Scalar(Json::String(s)) => self.push_tokens(s, &Self::loc(node, pointer), tokens),
            Tree::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = Self::loc(item, &format!("{pointer}/{i}"));
                    match &item.tree {
                        Tree::Scalar(Json::String(s)) => self.push_tokens(s, &at, tokens),
                        Tree::Scalar(j @ (Json::Number(_) | Json::Bool(_))) => {
                            tokens.push(j.to_string())
                        }
                        _ => self.unreadable(at, "command item is not a string"),
                    }
                }
            }
            _ => self.unreadable(
                Self::loc(node, pointer),
                "command is neither a string nor a list of strings",
            ),
        }
    }

    /// One command item: a whole command line (`"tool serve m --x 1"`) is split,
    /// a single argument is kept as is.
    fn push_tokens(&mut self, s: &str, at: &Location, tokens: &mut Vec<String>) {
        // `--flag={"a": 1}` is one argument even with spaces in it.
        if !s.trim_start().starts_with('-') && looks_like_command(s, self.know) {
            let (commands, unterminated) = text::tokenize(s);
            if unterminated {
                self.unreadable(at.clone(), "unterminated quote in a command");
            }
            for (i, cmd) in commands.into_iter().enumerate() {
                if i > 0 {
                    tokens.push(";".to_owned());
                }
                tokens.extend(cmd);
            }
        } else {
            tokens.push(s.to_owned());
        }
    }

    fn tree_env(&mut self, node: &Node, pointer: &str) {
        match &node.tree {
            Tree::Map(entries) => {
                for (name, value) in entries {
                    let p = format!("{pointer}/{}", escape_pointer(name));
                    self.apply_env(name, &json_text(&value.to_json()), Self::loc(value, &p));
                }
            }
            Tree::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = Self::loc(item, &format!("{pointer}/{i}"));
                    self.env_item(&item.to_json(), at);
                }
            }
            _ => self.unreadable(
                Self::loc(node, pointer),
                "env is neither an object nor a list",
            ),
        }
    }

    fn env_item(&mut self, item: &Json, at: Location) {
        match item {
            Json::Object(o) => match o.get("name").and_then(Json::as_str) {
                // `valueFrom` (a secret reference) has no literal value.
                Some(name) => match o.get("value") {
                    Some(value) => self.apply_env(name, &json_text(value), at),
                    None => self.note_env_name(name),
                },
                None => self.unreadable(at, "env entry has no `name`"),
            },
            Json::String(s) => match s.split_once('=') {
                Some((name, value)) => self.apply_env(name, value, at),
                None => self.unreadable(at, "env entry is not NAME=value"),
            },
            _ => self.unreadable(at, "env entry is neither an object nor a string"),
        }
    }

    // ---- shell ------------------------------------------------------------------------

    fn shell(&mut self, line: &str, at: &Location, depth: usize) {
        let (commands, unterminated) = text::tokenize(line);
        if unterminated && depth > 0 {
            self.unreadable(at.clone(), "unterminated quote in a nested command");
        }
        for cmd in commands {
            self.apply_command(&cmd, at, depth);
        }
    }

    /// One command's tokens (`;` tokens split it further).
    fn apply_command(&mut self, tokens: &[String], at: &Location, depth: usize) {
        for cmd in tokens.split(|t| t == ";") {
            self.apply_one_command(cmd, at, depth);
        }
    }

    fn apply_one_command(&mut self, tokens: &[String], at: &Location, depth: usize) {
        let (program, start) = detect_program(tokens, self.know);
        let program = program.map(|p| p.id.as_str());
        if let Some(p) = program {
            self.facts += 1;
            if !self.engines.iter().any(|e| e == p) {
                self.engines.push(p.to_owned());
            }
        }
        // Assignments and wrappers before the program still count.
        for t in &tokens[..start] {
            if let Some((name, value)) = env_assignment(t) {
                self.apply_env(name, value, at.clone());
            } else {
                self.header_secret(t);
            }
        }
        let rest = &tokens[start..];
        let mut k = 0;
        while k < rest.len() {
            k += self.apply_argument(rest, k, program, at, depth);
        }
    }

    /// Reads the argument at `rest[k]` (with its value, if separate); returns how
    /// many tokens it used.
    fn apply_argument(
        &mut self,
        rest: &[String],
        k: usize,
        program: Option<&str>,
        at: &Location,
        depth: usize,
    ) -> usize {
        let t = rest[k].as_str();
        if (t == "-e" || t == "--env") && k + 1 < rest.len() {
            match rest[k + 1].split_once('=') {
                Some((name, value)) => self.apply_env(name, value, at.clone()),
                None => self.note_env_name(&rest[k + 1]),
            }
            return 2;
        }
        if let Some(flag) = t.strip_prefix("--").filter(|f| !f.is_empty()) {
            let (name, val, used) = match flag.split_once('=') {
                Some((name, value)) => (name, Val::Text(value.to_owned()), 1),
                None => match rest.get(k + 1) {
                    Some(next) if !is_boolean_flag(flag) && !is_option(next) => {
                        (flag, Val::Text(next.clone()), 2)
                    }
                    _ => (flag, Val::Bare, 1),
                },
            };
            self.apply_setting(&format!("--{name}"), val, SettingOrigin::Flag, program, at);
            return used;
        }
        // `bash -c "A=1 tool serve …"`: a whole command, not an assignment.
        let nested = depth < MAX_NESTING && t.contains(char::is_whitespace);
        if nested && runs_program(t, self.know) {
            self.shell(t, at, depth + 1);
        } else if let Some((name, value)) = env_assignment(t) {
            self.apply_env(name, value, at.clone());
        } else if nested && looks_like_command(t, self.know) {
            self.shell(t, at, depth + 1);
        } else {
            self.header_secret(t);
        }
        1
    }

    /// `Authorization: Bearer …` as an argument (`curl -H`): nothing is stored,
    /// the header name is noted as redacted.
    fn header_secret(&mut self, token: &str) {
        if let Some((name, _)) = token.split_once(':') {
            let name = name.trim();
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && self.is_secret(name)
            {
                self.redact(name);
            }
        }
    }

    // ---- environment ------------------------------------------------------------------

    /// An environment variable without a literal value (`valueFrom`, `-e NAME`).
    fn note_env_name(&mut self, name: &str) {
        if is_env_name(name) && self.env.len() < MAX_ITEMS {
            self.facts += 1;
            self.env
                .entry(clip(name))
                .or_insert_with(|| NO_LITERAL.to_owned());
        }
    }

    fn apply_env(&mut self, name: &str, value: &str, at: Location) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        self.facts += 1;
        let secret = self.is_secret(name);
        let stored = if secret {
            self.redact(name);
            crate::redact::REDACTED.to_owned()
        } else {
            self.clean(name, value)
        };
        if self.env.len() < MAX_ITEMS || self.env.contains_key(name) {
            self.env.insert(clip(name), stored);
        }
        if !secret {
            let val = Val::Text(value.to_owned());
            self.apply_setting(name, val, SettingOrigin::Env, None, &at);
        }
    }
}

// ---- programs and tokens ----------------------------------------------------------------

/// The program a command runs and the index of its first argument.
fn detect_program<'k>(
    tokens: &[String],
    know: &'k LaunchKnowledge,
) -> (Option<&'k ProgramDef>, usize) {
    for (i, t) in tokens.iter().enumerate() {
        if let Some(next) = tokens.get(i + 1) {
            if let Some(p) = know.program_of(t, next) {
                return (Some(p), i + 2);
            }
        }
    }
    // No program: read everything after leading assignments and wrappers.
    let start = tokens
        .iter()
        .position(|t| {
            env_assignment(t).is_none()
                && !matches!(
                    t.as_str(),
                    "export" | "env" | "exec" | "nohup" | "sudo" | "time"
                )
        })
        .unwrap_or(tokens.len());
    (None, start)
}

/// `NAME=value` with an environment-style name.
fn env_assignment(t: &str) -> Option<(&str, &str)> {
    let (name, value) = t.split_once('=')?;
    is_env_name(name).then_some((name, value))
}

/// An environment-variable-style name: upper case, digits, `_`, not starting with
/// a digit.
fn is_env_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A string that is a whole command line rather than one argument.
fn looks_like_command(s: &str, know: &LaunchKnowledge) -> bool {
    let s = s.trim();
    if !s.contains(char::is_whitespace) {
        return false;
    }
    let (commands, _) = text::tokenize(s);
    commands.iter().any(|cmd| {
        detect_program(cmd, know).0.is_some()
            || cmd
                .iter()
                .any(|t| t.starts_with("--") || env_assignment(t).is_some())
    })
}

/// A token that is an option rather than a value: `--x`, `-e`, but not `-5`.
fn is_option(t: &str) -> bool {
    t.starts_with('-') && t.len() > 1 && t.parse::<f64>().is_err()
}

/// A string holding a command line that runs a known program.
fn runs_program(s: &str, know: &LaunchKnowledge) -> bool {
    text::tokenize(s)
        .0
        .iter()
        .any(|cmd| detect_program(cmd, know).0.is_some())
}

/// Flags that never take a separate value (the common command-line convention).
fn is_boolean_flag(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    name.starts_with("enable-") || name.starts_with("disable-") || name.starts_with("no-")
}

// ---- names ---------------------------------------------------------------------------

use knowledge::norm_key;

fn is_command_key(norm: &str) -> bool {
    matches!(
        norm,
        "command" | "cmd" | "args" | "argv" | "entrypoint" | "launch_command" | "command_line"
    )
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A string cut to [`MAX_TEXT`] characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
