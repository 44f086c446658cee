//! `kind: launch` files: merged into one [`LaunchKnowledge`] for the launch parser,
//! after checks that make a typo a located load error rather than a setting that
//! silently never applies: every `to` pointer names a declared document field of
//! the right type, every `hint`/`programs` id and `fields` name is declared, no name
//! means two settings.

use super::model::LaunchFile;
use super::yaml::Node;
use super::{diag, Diagnostic};
use crate::evidence::launch::knowledge::{norm_key, LaunchKnowledge, SettingDef, SettingKind};
use serde_json::{Map, Value as Json};

/// One launch file, as read, with where it came from.
pub struct LaunchSource<'a> {
    pub file: &'a str,
    pub node: &'a Node,
    pub lf: &'a LaunchFile,
}

/// Merges every launch file, then checks the whole (a pack may name a program
/// another pack declares).
pub fn build_launch(sources: &[LaunchSource], diags: &mut Vec<Diagnostic>) -> LaunchKnowledge {
    let mut know = LaunchKnowledge::default();
    for s in sources {
        know.merge(LaunchKnowledge {
            programs: s.lf.programs.clone(),
            document: s.lf.document.clone(),
            sections: s.lf.sections.clone(),
            settings: s.lf.settings.clone(),
            secret_names: s.lf.secret_names.clone(),
        });
    }
    let mut names: Vec<(String, String)> = Vec::new();
    for s in sources {
        check_programs(s, &know, diags);
        for (i, def) in s.lf.settings.iter().enumerate() {
            let at = format!("/settings/{i}");
            check_setting(s, &at, def, &know, diags);
            check_names(s, &at, def, &mut names, diags);
        }
    }
    let seeds = know
        .settings
        .iter()
        .filter(|d| d.kind == SettingKind::HashSeed)
        .count();
    if seeds > 1 {
        diags.push(Diagnostic {
            file: "rules".to_owned(),
            pos: None,
            message: format!("{seeds} `hash_seed` settings are declared; one is read"),
        });
    }
    know
}

fn check_programs(s: &LaunchSource, know: &LaunchKnowledge, diags: &mut Vec<Diagnostic>) {
    for (i, p) in s.lf.programs.iter().enumerate() {
        if know.programs.iter().filter(|q| q.id == p.id).count() > 1 {
            let pos = s.node.locate(&format!("/programs/{i}/id"));
            let msg = format!("program `{}` is declared twice", p.id);
            diags.push(diag(s.file, pos, msg));
        }
        if p.commands.is_empty() && p.modules.is_empty() {
            let pos = s.node.locate(&format!("/programs/{i}"));
            let msg = format!("program `{}` has neither `commands` nor `modules`", p.id);
            diags.push(diag(s.file, pos, msg));
        }
    }
}

/// The JSON type a kind writes, for its `to` field.
fn slot_type(kind: SettingKind) -> Option<&'static str> {
    Some(match kind {
        SettingKind::AnyTrue | SettingKind::Switch => "boolean",
        SettingKind::Append | SettingKind::Disable | SettingKind::Spec => "array",
        SettingKind::Extra => "object",
        SettingKind::Text | SettingKind::FirstText | SettingKind::Number | SettingKind::Integer => {
            "null"
        }
        SettingKind::Object | SettingKind::HashSeed | SettingKind::Program => return None,
    })
}

fn kind_name(kind: SettingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn type_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// The initial value a pointer names in `document` or a section.
fn initial<'a>(know: &'a LaunchKnowledge, pointer: &str) -> Option<&'a Json> {
    let rest = pointer.strip_prefix('/')?;
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let head = head.replace("~1", "/").replace("~0", "~");
    let root = know
        .document
        .get(&head)
        .or_else(|| know.sections.get(&head))?;
    if tail.is_empty() {
        Some(root)
    } else {
        root.pointer(&format!("/{tail}"))
    }
}

fn check_pointer(
    s: &LaunchSource,
    at: &str,
    pointer: &str,
    want: &str,
    know: &LaunchKnowledge,
    diags: &mut Vec<Diagnostic>,
) {
    let pos = s.node.locate(at);
    match initial(know, pointer) {
        None => {
            let fields = declared_pointers(know);
            let hint = super::suggest(pointer, fields.iter());
            let msg = format!("`{pointer}` is not a field of the launch document (`document` or `sections`){hint}");
            diags.push(diag(s.file, pos, msg));
        }
        Some(v) if type_of(v) != want => {
            let msg = format!(
                "`{pointer}` starts as {} in the launch document; this setting writes where it starts as {want}",
                type_of(v)
            );
            diags.push(diag(s.file, pos, msg));
        }
        Some(_) => {}
    }
}

/// Every pointer the document and sections declare, for did-you-mean.
fn declared_pointers(know: &LaunchKnowledge) -> Vec<String> {
    fn go(prefix: &str, m: &Map<String, Json>, out: &mut Vec<String>) {
        for (k, v) in m {
            let p = format!("{prefix}/{k}");
            if let Json::Object(inner) = v {
                go(&p, inner, out);
            }
            out.push(p);
        }
    }
    let mut out = Vec::new();
    go("", &know.document, &mut out);
    go("", &know.sections, &mut out);
    out
}

fn check_setting(
    s: &LaunchSource,
    at: &str,
    def: &SettingDef,
    know: &LaunchKnowledge,
    diags: &mut Vec<Diagnostic>,
) {
    let mut err = |field: &str, msg: String| {
        diags.push(diag(s.file, s.node.locate(&format!("{at}/{field}")), msg));
    };
    match (slot_type(def.kind), def.to.as_deref()) {
        (Some(_), None) => err(
            "kind",
            format!("a `{}` setting needs `to`", kind_name(def.kind)),
        ),
        (None, Some(_)) => err(
            "to",
            format!(
                "a `{}` setting writes nowhere; drop `to`",
                kind_name(def.kind)
            ),
        ),
        (Some(want), Some(p)) => check_pointer(s, &format!("{at}/to"), p, want, know, diags),
        (None, None) => {}
    }
    let mut err = |field: &str, msg: String| {
        diags.push(diag(s.file, s.node.locate(&format!("{at}/{field}")), msg));
    };
    for id in def.hint.iter().chain(&def.programs) {
        if know.program(id).is_none() {
            err("hint", format!("no launch file declares program `{id}`"));
        }
    }
    for f in &def.fields {
        if know.by_name(f).is_none() {
            err(
                "fields",
                format!("field `{f}` is not the first name of any setting"),
            );
        }
    }
    if def.kind == SettingKind::Object && def.fields.is_empty() {
        err("fields", "an `object` setting needs `fields`".to_owned());
    }
    if def.program_only && def.programs.is_empty() {
        err("program_only", "`program_only` needs `programs`".to_owned());
    }
    for (j, imp) in def.implies.iter().enumerate() {
        let here = format!("{at}/implies/{j}/to");
        check_pointer(s, &here, &imp.to, "array", know, diags);
    }
}

/// No name means two settings in the same form.
fn check_names(
    s: &LaunchSource,
    at: &str,
    def: &SettingDef,
    seen: &mut Vec<(String, String)>,
    diags: &mut Vec<Diagnostic>,
) {
    if def.names.is_empty() {
        let msg = "a setting needs at least one name".to_owned();
        diags.push(diag(s.file, s.node.locate(&format!("{at}/names")), msg));
    }
    let forms = [
        ("names", &def.names),
        ("env", &def.env),
        ("nested", &def.nested),
    ];
    for (form, list) in forms {
        for (j, n) in list.iter().enumerate() {
            let key = format!("{form}:{}", norm_key(n));
            let here = format!("{}:{}", s.file, s.node.locate(&format!("{at}/{form}/{j}")));
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                let msg = format!("setting name `{n}` is already declared at {first}");
                diags.push(diag(
                    s.file,
                    s.node.locate(&format!("{at}/{form}/{j}")),
                    msg,
                ));
            } else {
                seen.push((key, here));
            }
        }
    }
}

/// Checks every pointer a `modes` file's indicators read from the launch evidence
/// against the document the packs declare (plus the fields every launch document
/// has): a typo is a located load error, not an indicator that never holds.
pub fn check_launch_pointers(
    know: &LaunchKnowledge,
    file: &str,
    node: &Node,
    mf: &super::model::ModesFile,
    diags: &mut Vec<Diagnostic>,
) {
    let fixed = fixed_fields();
    for (i, ind) in mf.indicators.iter().enumerate() {
        for (j, m) in ind.evidence.iter().enumerate() {
            if m.file != super::model::EvidenceKind::Launch {
                continue;
            }
            let head = m
                .pointer
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("");
            if fixed.iter().any(|f| f == head) || initial(know, &m.pointer).is_some() {
                continue;
            }
            let mut known = declared_pointers(know);
            known.extend(fixed.iter().map(|f| format!("/{f}")));
            let hint = super::suggest(&m.pointer, known.iter());
            let at = node.locate(&format!("/indicators/{i}/evidence/{j}/pointer"));
            let msg = format!(
                "`{}` is not a field of the launch evidence document{hint}",
                m.pointer
            );
            diags.push(diag(file, at, msg));
        }
    }
}

/// The top-level fields every launch evidence document has, from its schema (the
/// pack-declared ones are flattened in and checked against `document`/`sections`).
fn fixed_fields() -> Vec<String> {
    let schema = schemars::schema_for!(crate::evidence::launch::LaunchEvidence);
    schema
        .get("properties")
        .and_then(Json::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}
