//! What the launch parser knows, as rule-pack data (`kind: launch` files): which
//! programs start which system, what each flag, config key and environment variable
//! means and where its value goes in `launch_evidence.json`. The parser itself knows
//! only shell, JSON and YAML; every vendor name comes from here.
//!
//! The types live in the evidence layer (the parser reads them) and are loaded and
//! checked by the pack loader, which may use evidence types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// Where a setting was found, which decides whether it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingOrigin {
    /// A command-line flag (`--kv-role x`, `--kv-role=x`).
    Flag,
    /// A key of a JSON or YAML config (`kv_role: x`).
    Config,
    /// An environment variable (`NAME=value`, `env:` blocks, `docker run -e`).
    Env,
}

/// What a setting's value does to the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingKind {
    /// A boolean that stays true once any input sets it (`to` holds a bool).
    AnyTrue,
    /// A boolean, the last value read wins.
    Switch,
    /// Text, the last value read wins.
    Text,
    /// Text, the first value read at the top level of a config wins.
    FirstText,
    /// A finite number.
    Number,
    /// A non-negative integer.
    Integer,
    /// Text appended to the list at `to` (each value once); a list value appends each.
    Append,
    /// A boolean switch whose name after `strip` is added to the sorted set at `to`
    /// when true (`--disable-metrics` adds `metrics`).
    Disable,
    /// JSON specs (or a list of them) reduced to the string field `keep`, appended
    /// to `to`; `<unparsed>` for a spec that is not JSON. The specs are not kept
    /// (they can hold credentials).
    Spec,
    /// A JSON object (or a string holding one) whose fields are the settings named
    /// in `fields`; `NAME.field` flags address one field.
    Object,
    /// An object of free-form entries stored at `to` (secrets redacted) when read at
    /// the top level; entries named by a setting's `nested` names are read as that
    /// setting, and the objects listed under `list` are read as fields of the
    /// enclosing `object` setting, nested (not top level).
    Extra,
    /// The hash seed: distinct values listed in `python_hash_seeds`, checked
    /// against `random_word` and `max`.
    HashSeed,
    /// The value names a program by its id.
    Program,
}

/// One program that starts a system.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramDef {
    /// The id written to `engine` / `engines`.
    pub id: String,
    /// A serving engine: it wins `engine` over programs that are not.
    #[serde(default)]
    pub serving: bool,
    /// Executable (compared by file name) and sub-command, e.g. `[tool, serve]`.
    #[serde(default)]
    pub commands: Vec<[String; 2]>,
    /// Python modules run with `-m`; a trailing `*` matches any module starting
    /// with what comes before it.
    #[serde(default)]
    pub modules: Vec<String>,
}

/// `--kv-offloading-backend X`-style consequences: a value that implies another.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Implies {
    /// The value (compared case-insensitively).
    pub value: String,
    /// The `append` list the implied value goes to.
    pub to: String,
    pub add: String,
}

/// One setting: its names, where it may be read, and what it does.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingDef {
    /// Flag, config key and environment names (`-`/`_` and case ignored, leading
    /// dashes dropped); a trailing `*` makes a prefix (`disable_*`). The first name
    /// is the one messages use.
    pub names: Vec<String>,
    /// Names read only from environment variables (`PREFIX_ENABLE_X`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Names read only as entries of an `extra` object (`prefix.enable_x`).
    #[serde(default)]
    pub nested: Vec<String>,
    /// Origins the setting is read from; all three when empty.
    #[serde(default)]
    pub from: Vec<SettingOrigin>,
    /// Read only from commands of these programs, or from inputs naming none.
    #[serde(default)]
    pub programs: Vec<String>,
    /// With `programs`: read only from commands of these programs.
    #[serde(default)]
    pub program_only: bool,
    pub kind: SettingKind,
    /// JSON pointer of the value in the launch evidence document.
    #[serde(default)]
    pub to: Option<String>,
    /// The program a setting implies when no program is named (`unknown` otherwise).
    #[serde(default)]
    pub hint: Option<String>,
    /// `object`: the settings its fields are, by their first name.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Field of an `object` whose string values are scanned from text that is not
    /// valid JSON.
    #[serde(default)]
    pub scan: bool,
    /// `extra`: the entry holding a list of nested objects.
    #[serde(default)]
    pub list: Option<String>,
    /// `disable`: the name part dropped to get what is disabled.
    #[serde(default)]
    pub strip: Option<String>,
    /// `spec`: the string field kept of each spec.
    #[serde(default)]
    pub keep: Option<String>,
    /// `spec`: what the spec is called in messages.
    #[serde(default)]
    pub label: Option<String>,
    /// `hash_seed`: the word that asks for a random seed.
    #[serde(default)]
    pub random_word: Option<String>,
    /// `hash_seed`: the largest integer seed accepted.
    #[serde(default)]
    pub max: Option<u64>,
    #[serde(default)]
    pub implies: Vec<Implies>,
}

/// The launch knowledge of every loaded pack together.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchKnowledge {
    #[serde(default)]
    pub programs: Vec<ProgramDef>,
    /// Fields always present in the document, with their values before any input
    /// (objects merge across packs).
    #[serde(default)]
    pub document: Map<String, Json>,
    /// Top-level objects that are `null` until a setting writes into them, with
    /// their fields' initial values.
    #[serde(default)]
    pub sections: Map<String, Json>,
    #[serde(default)]
    pub settings: Vec<SettingDef>,
    /// Setting names whose values are secrets, beyond the built-in secret words
    /// (which always apply: a pack can add secrets, never remove one).
    #[serde(default)]
    pub secret_names: Vec<String>,
}

/// `--Kv-Role` → `kv_role`.
pub fn norm_key(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('-')
        .to_ascii_lowercase()
        .replace('-', "_")
}

/// How a setting was named where it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameForm {
    Plain,
    Env,
    Nested,
}

impl LaunchKnowledge {
    /// Adds another pack's knowledge; `document` and `sections` objects merge.
    pub fn merge(&mut self, other: LaunchKnowledge) {
        self.programs.extend(other.programs);
        self.settings.extend(other.settings);
        self.secret_names.extend(other.secret_names);
        merge_objects(&mut self.document, other.document);
        merge_objects(&mut self.sections, other.sections);
    }

    /// The setting a normalized name means in this form: exact names first, then
    /// the longest prefix.
    pub fn setting(&self, key: &str, form: NameForm) -> Option<&SettingDef> {
        let list = |s: &SettingDef| -> Vec<String> {
            match form {
                NameForm::Plain => s.names.clone(),
                NameForm::Env => s.env.iter().chain(&s.names).cloned().collect(),
                NameForm::Nested => s.nested.clone(),
            }
        };
        let mut best: Option<(&SettingDef, usize)> = None;
        for s in &self.settings {
            for n in list(s) {
                let n = norm_key(&n);
                match n.strip_suffix('*') {
                    None if n == key => return Some(s),
                    Some(p) if key.starts_with(p) && best.is_none_or(|(_, l)| p.len() > l) => {
                        best = Some((s, p.len()));
                    }
                    _ => {}
                }
            }
        }
        best.map(|(s, _)| s)
    }

    /// The setting whose first name is `name`.
    pub fn by_name(&self, name: &str) -> Option<&SettingDef> {
        let key = norm_key(name);
        self.settings
            .iter()
            .find(|s| s.names.first().is_some_and(|n| norm_key(n) == key))
    }

    /// The program a command runs: `tool sub` or `-m module`.
    pub fn program_of(&self, exe: &str, next: &str) -> Option<&ProgramDef> {
        self.programs.iter().find(|p| {
            if exe == "-m" {
                p.modules.iter().any(|m| match m.strip_suffix('*') {
                    Some(prefix) => next.starts_with(prefix),
                    None => next == m,
                })
            } else {
                let base = exe.rsplit('/').next().unwrap_or(exe);
                p.commands.iter().any(|[c, sub]| c == base && sub == next)
            }
        })
    }

    pub fn program(&self, id: &str) -> Option<&ProgramDef> {
        self.programs.iter().find(|p| p.id == id)
    }

    /// A pack-declared secret name (in addition to the built-in secret words).
    pub fn is_declared_secret(&self, name: &str) -> bool {
        let key = norm_key(name);
        self.secret_names.iter().any(|s| norm_key(s) == key)
    }
}

fn merge_objects(into: &mut Map<String, Json>, from: Map<String, Json>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Json::Object(a)), Json::Object(b)) => merge_objects(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

impl SettingDef {
    /// The name messages use.
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or("setting")
    }

    pub fn reads(&self, origin: SettingOrigin) -> bool {
        self.from.is_empty() || self.from.contains(&origin)
    }

    /// Whether a command of `program` (`None`: no program named) may set it.
    pub fn allowed_under(&self, program: Option<&str>) -> bool {
        match program {
            _ if self.programs.is_empty() => true,
            Some(p) => self.programs.iter().any(|q| q == p),
            None => !self.program_only,
        }
    }
}
