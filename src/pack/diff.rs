//! `rules diff OLD NEW`: what a pack change means for the people who gate on it,
//! as a semver class, and whether `pack.yaml`'s version bump is big enough.
//!
//! Both trees are compared as declared (YAML read into JSON), item by item: a
//! catalogue entry, a signal, an engine's detection, a surface, a family, a
//! finding, an indicator, a log category, an HTTP route, the rest of a modes file.
//! Packs refer to series by catalogue id, so a rename shows up once, on its
//! catalogue entry. The classes:
//!
//! - **major**: something removed or renamed (an id, an entry, a spelling, a
//!   signal, a finding, a param), a type changed, a finding made stricter (a
//!   threshold moved the way that fires more, a changed `when`, `requires`,
//!   `engines`, `scope` or `fail_on`) or its severity lowered, and every change
//!   this module cannot compare (a changed mode rule, indicator, detection): a
//!   conservative default.
//! - **minor**: something added (an item, a spelling, an alias, a param, a
//!   pattern), severity raised, evidence level changed.
//! - **patch**: prose only (descriptions, notes, titles, messages, remediation,
//!   docs, test cases), units, a threshold loosened.
//!
//! A threshold is a number under a finding's `params`. Its direction is read off
//! the `when` text: `x < p`, `x <= p`, `p > x`, `p >= x` make `p` an upper bound
//! (raising it fires more: stricter); `x > p`, `x >= p`, `p < x`, `p <= x` and
//! `at_least(x, p)` a lower bound (lowering it is stricter). A param used both
//! ways, or in no comparison of those shapes, counts as stricter whichever way
//! it moves. Negations (`!(x < p)`) are not seen: write thresholds plainly.
//!
//! Expressions are compared as they mean, not as they are spelt: each named
//! condition they read is expanded first, and two expressions with the same
//! syntax tree (layout, comments, redundant brackets aside) are the same. So
//! moving a repeated clause into a named condition changes nothing but adds the
//! condition.

use super::yaml;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How much a change can break someone who relied on the old packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Patch,
    Minor,
    Major,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Patch => "patch",
            Class::Minor => "minor",
            Class::Major => "major",
        }
    }
}

/// One classified change of one item.
#[derive(Clone, Debug)]
pub struct Change {
    pub class: Class,
    /// `signal <engine>.<name>`, `finding <code>`, `catalogue entry <id>`.
    pub item: String,
    pub what: String,
}

/// The changes of one pack id, its versions and what they need.
#[derive(Clone, Debug)]
pub struct PackDiff {
    pub id: String,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    pub changes: Vec<Change>,
}

impl PackDiff {
    /// The smallest bump the changes need (`None`: nothing changed).
    pub fn required(&self) -> Option<Class> {
        self.changes.iter().map(|c| c.class).max()
    }

    /// The bump `pack.yaml` made, by Cargo's rules: below 1.0.0 a minor step is
    /// breaking (major) and a patch step compatible (minor or patch). `Err` when
    /// a version is not semver or went down.
    pub fn bumped(&self) -> Result<Option<Class>, String> {
        let (Some(old), Some(new)) = (&self.old_version, &self.new_version) else {
            return Ok(Some(Class::Major));
        };
        let parse = |v: &str| semver::Version::parse(v).map_err(|e| format!("version `{v}`: {e}"));
        let (a, b) = (parse(old)?, parse(new)?);
        if b < a {
            return Err(format!("version went down from {a} to {b}"));
        }
        Ok(
            match (
                a.major,
                b.major > a.major,
                b.minor > a.minor,
                b.patch > a.patch,
            ) {
                (_, true, _, _) => Some(Class::Major),
                (0, false, true, _) => Some(Class::Major),
                (0, false, false, true) => Some(Class::Minor),
                (_, false, true, _) => Some(Class::Minor),
                (_, false, false, true) => Some(Class::Patch),
                _ => (a != b).then_some(Class::Patch),
            },
        )
    }

    /// The version the smallest sufficient bump gives.
    pub fn suggested(&self) -> Option<String> {
        let old = semver::Version::parse(self.old_version.as_deref()?).ok()?;
        let class = self.required()?;
        let (x, y, z) = (old.major, old.minor, old.patch);
        let v = match class {
            Class::Major if x == 0 => semver::Version::new(0, y + 1, 0),
            Class::Major => semver::Version::new(x + 1, 0, 0),
            Class::Minor if x == 0 => semver::Version::new(0, y, z + 1),
            Class::Minor => semver::Version::new(x, y + 1, 0),
            Class::Patch => semver::Version::new(x, y, z + 1),
        };
        Some(v.to_string())
    }
}

/// One pack as declared: its manifest and every file's JSON, by file name.
struct RawTreePack {
    manifest: Value,
    files: BTreeMap<String, Value>,
}

/// Every pack of a tree (a pack folder or a folder of packs), by id.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, RawTreePack>, String> {
    let mut dirs = Vec::new();
    if dir.join("pack.yaml").is_file() {
        dirs.push(dir.to_path_buf());
    } else {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        dirs.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("pack.yaml").is_file()),
        );
    }
    if dirs.is_empty() {
        return Err(format!(
            "{}: no rule pack here: expected a pack.yaml, or folders that hold one",
            dir.display()
        ));
    }
    let mut out = BTreeMap::new();
    for d in dirs {
        let pack = read_pack(&d)?;
        let id = pack.manifest["id"].as_str().unwrap_or_default().to_owned();
        out.insert(id, pack);
    }
    Ok(out)
}

fn read_pack(dir: &Path) -> Result<RawTreePack, String> {
    let mut files = BTreeMap::new();
    let mut manifest = Value::Null;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for path in entries.flatten().map(|e| e.path()) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let node = yaml::parse(&text).map_err(|e| {
            let at = e.pos.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}{at}: invalid YAML: {}", path.display(), e.message)
        })?;
        if name == "pack.yaml" {
            manifest = node.to_json();
        } else {
            files.insert(name, node.to_json());
        }
    }
    Ok(RawTreePack { manifest, files })
}

/// Keys whose string values are Rhai expressions (findings, families, modes).
const EXPRESSIONS: &[&str] = &[
    "when",
    "measured_when",
    "applies_when",
    "required_when",
    "value",
];

/// The pack's named conditions in order, each expanded over those before it.
fn declared_conditions(pack: &RawTreePack) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for doc in pack.files.values().filter(|d| d["kind"] == "conditions") {
        for c in doc["conditions"].as_array().into_iter().flatten() {
            let (Some(id), Some(when)) = (c["id"].as_str(), c["when"].as_str()) else {
                continue;
            };
            let expanded = expand(when, &out);
            out.push((id.to_owned(), expanded));
        }
    }
    out
}

fn expand(source: &str, conditions: &[(String, String)]) -> String {
    super::conditions::substitute(source, |v| {
        conditions
            .iter()
            .find(|(id, _)| id == v)
            .map(|(_, e)| e.clone())
    })
}

/// Every expression in `v` with the named conditions it reads expanded.
fn expand_expressions(v: &mut Value, conditions: &[(String, String)]) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s) if EXPRESSIONS.contains(&k.as_str()) => {
                        *s = expand(s, conditions);
                    }
                    _ => expand_expressions(x, conditions),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| expand_expressions(x, conditions)),
        _ => {}
    }
}

/// `new` with each expression that has the syntax tree of the one at the same
/// place in `old` written as in `old`, so that only changes of meaning remain.
fn align_expressions(old: &Value, new: &mut Value) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, y) in b.iter_mut() {
                let Some(x) = a.get(k) else { continue };
                match (x, &*y) {
                    (Value::String(p), Value::String(q))
                        if EXPRESSIONS.contains(&k.as_str())
                            && p != q
                            && crate::expr::same_syntax(p, q) =>
                    {
                        *y = x.clone();
                    }
                    _ => align_expressions(x, y),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.iter()
                .zip(b.iter_mut())
                .for_each(|(x, y)| align_expressions(x, y));
        }
        _ => {}
    }
}

/// Every comparable item of a pack, by `kind id`.
fn items(pack: &RawTreePack) -> BTreeMap<String, Value> {
    let conditions = declared_conditions(pack);
    let mut out = BTreeMap::new();
    for (name, doc) in &pack.files {
        let mut rest = doc.clone();
        let kind = doc["kind"].as_str().unwrap_or_default();
        if matches!(kind, "findings" | "families" | "modes") {
            expand_expressions(&mut rest, &conditions);
        }
        match kind {
            "conditions" => take_list(&mut rest, "conditions", "id", "condition", "", &mut out),
            "catalogue" => take_list(&mut rest, "metrics", "id", "catalogue entry", "", &mut out),
            "findings" => take_list(&mut rest, "findings", "code", "finding", "", &mut out),
            "logs" => take_list(&mut rest, "categories", "id", "log category", "", &mut out),
            "http_routes" => take_list(&mut rest, "routes", "id", "http route", "", &mut out),
            "modes" => take_list(&mut rest, "indicators", "id", "indicator", "", &mut out),
            "engine" => engine_items(&mut rest, &mut out),
            "families" => surface_items(&mut rest, &mut out),
            _ => {}
        }
        if let Value::Object(m) = &mut rest {
            m.remove("kind");
        }
        if rest != Value::Object(Map::new()) {
            out.insert(format!("{kind} file {name}"), rest);
        }
    }
    out
}

/// Moves the items of `doc[key]` (objects with an `id_key`) into `out`.
fn take_list(
    doc: &mut Value,
    key: &str,
    id_key: &str,
    label: &str,
    prefix: &str,
    out: &mut BTreeMap<String, Value>,
) {
    let Some(list) = doc.as_object_mut().and_then(|m| m.remove(key)) else {
        return;
    };
    for item in list.as_array().into_iter().flatten() {
        let id = item[id_key].as_str().unwrap_or_default();
        out.insert(format!("{label} {prefix}{id}"), item.clone());
    }
}

fn engine_items(doc: &mut Value, out: &mut BTreeMap<String, Value>) {
    let Some(mut engine) = doc.as_object_mut().and_then(|m| m.remove("engine")) else {
        return;
    };
    let id = engine["id"].as_str().unwrap_or_default().to_owned();
    if let Some(Value::Object(signals)) = engine.as_object_mut().and_then(|m| m.remove("signals")) {
        for (name, sig) in signals {
            out.insert(format!("signal {id}.{name}"), sig);
        }
    }
    // The summary section: each breakdown signal and equivalent its own item, so
    // adding one is minor and dropping one major.
    if let Some(summary) = engine.as_object_mut().and_then(|m| m.remove("summary")) {
        for (i, signal) in summary["breakdown"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = signal.as_str().unwrap_or_default();
            out.insert(format!("breakdown {id}.{name}"), Value::from(i));
        }
        for (eq, def) in summary["equivalents"].as_object().into_iter().flatten() {
            out.insert(format!("equivalent {id}.{eq}"), def.clone());
        }
    }
    // Alternative scrape paths: adding one is minor, dropping one major.
    if let Some(scrape) = engine.as_object_mut().and_then(|m| m.remove("scrape")) {
        for path in scrape["alternative_paths"].as_array().into_iter().flatten() {
            let path = path.as_str().unwrap_or_default();
            out.insert(format!("scrape path {id} {path}"), Value::Bool(true));
        }
    }
    out.insert(format!("engine {id}"), engine);
}

fn surface_items(doc: &mut Value, out: &mut BTreeMap<String, Value>) {
    let Some(list) = doc.as_object_mut().and_then(|m| m.remove("surfaces")) else {
        return;
    };
    for mut surface in list.as_array().cloned().unwrap_or_default() {
        let id = surface["id"].as_str().unwrap_or_default().to_owned();
        take_list(
            &mut surface,
            "families",
            "id",
            "family",
            &format!("{id}."),
            out,
        );
        out.insert(format!("surface {id}"), surface);
    }
}

/// Compares two trees pack by pack.
pub fn diff_trees(old: &Path, new: &Path) -> Result<Vec<PackDiff>, String> {
    let (a, b) = (read_tree(old)?, read_tree(new)?);
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for id in ids {
        let version = |p: Option<&RawTreePack>| {
            p.and_then(|p| p.manifest["version"].as_str().map(str::to_owned))
        };
        let (pa, pb) = (a.get(id), b.get(id));
        let changes = match (pa, pb) {
            (Some(x), Some(y)) => diff_pack(x, y),
            (Some(_), None) => vec![change(Class::Major, &format!("pack {id}"), "removed")],
            (None, _) => vec![change(Class::Minor, &format!("pack {id}"), "added")],
        };
        out.push(PackDiff {
            id: id.clone(),
            old_version: version(pa),
            new_version: version(pb),
            changes,
        });
    }
    Ok(out)
}

fn change(class: Class, item: &str, what: &str) -> Change {
    Change {
        class,
        item: item.to_owned(),
        what: what.to_owned(),
    }
}

fn diff_pack(a: &RawTreePack, b: &RawTreePack) -> Vec<Change> {
    let mut out = manifest_changes(&a.manifest, &b.manifest);
    let (ia, ib) = (items(a), items(b));
    for (key, old) in &ia {
        let Some(mut new) = ib.get(key).cloned() else {
            out.push(change(Class::Major, key, "removed or renamed"));
            continue;
        };
        align_expressions(old, &mut new);
        if new != *old {
            out.extend(classify(key, old, &new));
        }
    }
    for key in ib.keys().filter(|k| !ia.contains_key(*k)) {
        out.push(change(Class::Minor, key, "added"));
    }
    out
}

fn manifest_changes(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for key in ["requires", "description", "upstream"] {
        if a[key] != b[key] {
            let class = if key == "requires" {
                Class::Major
            } else {
                Class::Patch
            };
            out.push(change(class, "pack.yaml", &format!("`{key}` changed")));
        }
    }
    out
}

/// Keys whose values are prose, examples or presentation (`explains` orders the
/// report, it decides nothing): a change there is a patch.
const PROSE: &[&str] = &[
    "explains",
    "description",
    "note",
    "title",
    "message",
    "remediation",
    "docs",
    "upstream_question",
    "tests",
    "since",
    "renamed_in",
    "unit",
];

fn without_prose(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !PROSE.contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), without_prose(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_prose).collect()),
        other => other.clone(),
    }
}

/// The changes of one item that exists in both trees.
fn classify(key: &str, old: &Value, new: &Value) -> Vec<Change> {
    if without_prose(old) == without_prose(new) {
        let keys = changed_keys(old, new).join(", ");
        return vec![change(
            Class::Patch,
            key,
            &format!("prose changed ({keys})"),
        )];
    }
    let kind = key.split(' ').next().unwrap_or_default();
    let found: Vec<(Class, String)> = match kind {
        "catalogue" => catalogue_changes(old, new),
        "signal" => signal_changes(old, new),
        "family" => family_changes(old, new),
        "finding" => finding_changes(old, new),
        _ if only_added(old, new) => changed_keys(&without_prose(old), &without_prose(new))
            .into_iter()
            .map(|k| (Class::Minor, format!("`{k}` added")))
            .collect(),
        _ => vec![(
            Class::Major,
            format!(
                "changed ({}): not comparable, counted as major",
                changed_keys(old, new).join(", ")
            ),
        )],
    };
    let mut out: Vec<Change> = found.into_iter().map(|(c, w)| change(c, key, &w)).collect();
    let prose: Vec<String> = changed_keys(old, new)
        .into_iter()
        .filter(|k| PROSE.contains(&k.as_str()))
        .collect();
    if !prose.is_empty() {
        let what = format!("prose changed ({})", prose.join(", "));
        out.push(change(Class::Patch, key, &what));
    }
    out
}

/// Every key that differs (after prose) is new: a section added to a file, which
/// changes nothing that was declared before.
fn only_added(old: &Value, new: &Value) -> bool {
    let (old, new) = (without_prose(old), without_prose(new));
    let changed = changed_keys(&old, &new);
    !changed.is_empty() && changed.iter().all(|k| old.get(k).is_none())
}

fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Keys not in `handled` that differ (after prose): not comparable, major.
fn other_keys(old: &Value, new: &Value, handled: &[&str]) -> Vec<(Class, String)> {
    changed_keys(&without_prose(old), &without_prose(new))
        .into_iter()
        .filter(|k| !handled.contains(&k.as_str()))
        .map(|k| (Class::Major, format!("`{k}` changed: counted as major")))
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// Spellings: the name and the aliases; losing one is major, gaining one minor.
fn catalogue_changes(old: &Value, new: &Value) -> Vec<(Class, String)> {
    let spellings = |e: &Value| -> BTreeSet<String> {
        let aliases = e["aliases"].as_array().into_iter().flatten();
        let names = aliases.filter_map(|a| a["name"].as_str().map(str::to_owned));
        names.chain(e["name"].as_str().map(str::to_owned)).collect()
    };
    let (a, b) = (spellings(old), spellings(new));
    let mut out = list_changes(&a, &b, "spelling");
    if old["name"] != new["name"] {
        let kept = a.contains(new["name"].as_str().unwrap_or_default())
            || b.contains(old["name"].as_str().unwrap_or_default());
        let class = if kept { Class::Minor } else { Class::Major };
        out.push((
            class,
            format!("current name {} -> {}", old["name"], new["name"]),
        ));
    }
    if old["type"] != new["type"] {
        out.push((
            Class::Major,
            format!("type {} -> {}", old["type"], new["type"]),
        ));
    }
    if without_prose(&old["labels"]) != without_prose(&new["labels"])
        || old["removed_in"] != new["removed_in"]
    {
        out.push((Class::Minor, "labels or removed_in changed".to_owned()));
    }
    out.extend(other_keys(
        old,
        new,
        &["name", "aliases", "type", "labels", "removed_in"],
    ));
    out
}

fn list_changes(a: &BTreeSet<String>, b: &BTreeSet<String>, what: &str) -> Vec<(Class, String)> {
    let mut out = Vec::new();
    for gone in a.difference(b) {
        out.push((Class::Major, format!("{what} `{gone}` removed")));
    }
    for added in b.difference(a) {
        out.push((Class::Minor, format!("{what} `{added}` added")));
    }
    out
}

/// Patterns and references: as catalogue spellings. Type, aggregation, label
/// filter or grouping: they change values, major.
fn signal_changes(old: &Value, new: &Value) -> Vec<(Class, String)> {
    let mut out = patterns(old, new);
    for key in ["type", "aggregate", "labels", "group_by"] {
        if old[key] != new[key] {
            out.push((
                Class::Major,
                format!("`{key}` {} -> {}", old[key], new[key]),
            ));
        }
    }
    out.extend(other_keys(
        old,
        new,
        &[
            "metrics",
            "legacy",
            "type",
            "aggregate",
            "labels",
            "group_by",
        ],
    ));
    out
}

fn patterns(old: &Value, new: &Value) -> Vec<(Class, String)> {
    let mut out = Vec::new();
    for key in ["metrics", "legacy"] {
        let (a, b) = (strings(&old[key]), strings(&new[key]));
        out.extend(list_changes(&a, &b, &format!("`{key}` pattern")));
        if a == b && old[key] != new[key] {
            out.push((
                Class::Minor,
                format!("`{key}` reordered (first match wins)"),
            ));
        }
    }
    out
}

fn family_changes(old: &Value, new: &Value) -> Vec<(Class, String)> {
    let mut out = patterns(old, new);
    out.extend(other_keys(old, new, &["metrics", "legacy"]));
    out
}

/// Severity down is major, up minor; thresholds by their direction in `when`;
/// a changed condition, signal list, engine list, scope or gate is major.
fn finding_changes(old: &Value, new: &Value) -> Vec<(Class, String)> {
    let mut out = Vec::new();
    let rank = |v: &Value| ["info", "warning", "critical"].iter().position(|s| v == *s);
    let (sa, sb) = (rank(&old["severity"]), rank(&new["severity"]));
    if sa != sb {
        let class = if sb < sa { Class::Major } else { Class::Minor };
        out.push((
            class,
            format!("severity {} -> {}", old["severity"], new["severity"]),
        ));
    }
    if old["evidence_level"] != new["evidence_level"] {
        out.push((
            Class::Minor,
            format!(
                "evidence level {} -> {}",
                old["evidence_level"], new["evidence_level"]
            ),
        ));
    }
    if old["when"] != new["when"] {
        out.push((
            Class::Major,
            "`when` changed: a changed condition may fire where it did not (counted as stricter)"
                .to_owned(),
        ));
    }
    let when = new["when"].as_str().unwrap_or_default();
    out.extend(param_changes(&old["params"], &new["params"], when));
    let handled = ["severity", "evidence_level", "when", "params"];
    out.extend(other_keys(old, new, &handled));
    out
}

fn param_changes(old: &Value, new: &Value, when: &str) -> Vec<(Class, String)> {
    let empty = Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut out = Vec::new();
    for (name, va) in a {
        let Some(vb) = b.get(name) else {
            out.push((
                Class::Major,
                format!("param `{name}` removed (a --rule-config key)"),
            ));
            continue;
        };
        let (Some(x), Some(y)) = (va.as_f64(), vb.as_f64()) else {
            continue;
        };
        if x == y {
            continue;
        }
        let stricter = match direction(when, name) {
            Some(Bound::Upper) => y > x,
            Some(Bound::Lower) => y < x,
            None => true,
        };
        let (class, how) = if stricter {
            (Class::Major, "stricter")
        } else {
            (Class::Patch, "looser")
        };
        out.push((class, format!("param `{name}` {x} -> {y} ({how})")));
    }
    for name in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push((Class::Minor, format!("param `{name}` added")));
    }
    out
}

/// How a threshold bounds the value it is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `x < p`: the rule fires below `p`; raising `p` fires more.
    Upper,
    /// `x >= p`, `at_least(x, p)`: the rule fires above `p`; lowering `p` fires more.
    Lower,
}

/// The direction of `param` in `when`, when every comparison agrees.
pub fn direction(when: &str, param: &str) -> Option<Bound> {
    let p = regex::escape(param);
    let upper = [format!(r"<=?\s*{p}\b"), format!(r"\b{p}\s*>")];
    let lower = [
        format!(r">=?\s*{p}\b"),
        format!(r"\b{p}\s*<"),
        format!(r"at_least\([^,()]+,\s*{p}\s*\)"),
    ];
    let any = |list: &[String]| {
        list.iter()
            .any(|r| regex::Regex::new(r).is_ok_and(|re| re.is_match(when)))
    };
    match (any(&upper), any(&lower)) {
        (true, false) => Some(Bound::Upper),
        (false, true) => Some(Bound::Lower),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_directions_are_read_off_the_condition() {
        let ratio = "lookup_requested_tokens > 0 && ratio(hit, req) < min_hit_ratio";
        assert_eq!(direction(ratio, "min_hit_ratio"), Some(Bound::Upper));
        assert_eq!(
            direction("at_least(kv, kv_usage_threshold)", "kv_usage_threshold"),
            Some(Bound::Lower)
        );
        assert_eq!(
            direction("queue_waiting >= min_waiting", "min_waiting"),
            Some(Bound::Lower)
        );
        assert_eq!(
            direction("min_waiting <= queue_waiting", "min_waiting"),
            Some(Bound::Lower)
        );
        assert_eq!(direction("max_gap > gap", "max_gap"), Some(Bound::Upper));
        assert_eq!(direction("a > p || b < p", "p"), None);
        assert_eq!(direction("a > pp", "p"), None);
    }

    #[test]
    fn bumps_follow_cargo_below_one() {
        let d = |o: &str, n: &str| PackDiff {
            id: "x".into(),
            old_version: Some(o.into()),
            new_version: Some(n.into()),
            changes: vec![change(Class::Major, "finding x", "removed")],
        };
        assert_eq!(d("0.1.0", "0.2.0").bumped(), Ok(Some(Class::Major)));
        assert_eq!(d("0.1.0", "0.1.1").bumped(), Ok(Some(Class::Minor)));
        assert_eq!(d("1.1.0", "1.1.1").bumped(), Ok(Some(Class::Patch)));
        assert_eq!(d("1.1.0", "1.2.0").bumped(), Ok(Some(Class::Minor)));
        assert_eq!(d("1.1.0", "1.1.0").bumped(), Ok(None));
        assert!(d("1.1.0", "1.0.0").bumped().is_err());
        assert_eq!(d("0.1.0", "0.1.0").suggested().as_deref(), Some("0.2.0"));
        assert_eq!(d("1.4.2", "1.4.2").suggested().as_deref(), Some("2.0.0"));
    }
}
