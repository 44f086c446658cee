//! The evidence documents packs read by JSON pointer, and the check that every
//! pointer a pack reads can exist in its document.
//!
//! Each evidence kind has a typed document and a published schema
//! (`schemas/<kind>-evidence.schema.json`, generated here from the structs). At
//! load, each `evidence: [{ file, pointer }]` of a `modes` indicator is walked
//! through its document's schema: `properties`, `additionalProperties` (maps),
//! `items` (array indices), `$ref`, and `anyOf` / `oneOf` / `allOf` (any branch
//! may take the step). A step no branch takes is a located error with the fields
//! that were possible there. Where a map's keys are pack data (its schema says
//! which with `x-inferguard-keys`: log categories, log values, HTTP routes, span
//! groups), the key must be one the loaded packs declare. Below a value whose
//! shape is the upstream server's (an HTTP answer's `fields`) or open to packs
//! (the launch document's declared fields, checked by [`super::launch`]),
//! nothing can be checked.

use super::model::{EvidenceKind, ModesFile};
use super::yaml::Node;
use super::{diag, Diagnostic, Registry};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every evidence kind, in the order of `EvidenceKind`.
pub const EVIDENCE_KINDS: [EvidenceKind; 7] = [
    EvidenceKind::Http,
    EvidenceKind::Logs,
    EvidenceKind::Trace,
    EvidenceKind::Otel,
    EvidenceKind::TraceReplay,
    EvidenceKind::LookupHash,
    EvidenceKind::Launch,
];

/// The schema keyword that names where a map's keys come from.
pub const KEYS_KEYWORD: &str = "x-inferguard-keys";

/// The JSON Schema of an evidence document, from the struct the tool writes.
pub fn evidence_schema(kind: EvidenceKind) -> Value {
    use crate::evidence::*;
    match kind {
        EvidenceKind::Http => written_schema::<http::HttpEvidence>(),
        EvidenceKind::Logs => written_schema::<logs::LogEvidence>(),
        EvidenceKind::Trace => written_schema::<lct::TraceEvidence>(),
        EvidenceKind::Otel => written_schema::<otel::OtelEvidence>(),
        EvidenceKind::TraceReplay => written_schema::<replay::ReplayEvidence>(),
        EvidenceKind::LookupHash => written_schema::<lookup_hash::LookupHashEvidence>(),
        EvidenceKind::Launch => written_schema::<launch::LaunchEvidence>(),
    }
}

/// The schema of a document as the tool serializes it: a field left out when
/// empty (`skip_serializing_if`) is not required.
pub fn written_schema<T: schemars::JsonSchema>() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    serde_json::to_value(schema).expect("schemas serialize")
}

/// The file name of an evidence kind's schema under `schemas/`.
pub fn schema_file(kind: EvidenceKind) -> &'static str {
    match kind {
        EvidenceKind::Http => "http-evidence.schema.json",
        EvidenceKind::Logs => "log-evidence.schema.json",
        EvidenceKind::Trace => "trace-evidence.schema.json",
        EvidenceKind::Otel => "otel-evidence.schema.json",
        EvidenceKind::TraceReplay => "trace-replay-evidence.schema.json",
        EvidenceKind::LookupHash => "lookup-hash-evidence.schema.json",
        EvidenceKind::Launch => "launch-evidence.schema.json",
    }
}

fn kind_name(kind: EvidenceKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The keys the loaded packs declare for a map the schema marks with
/// [`KEYS_KEYWORD`], and what they are called; `None`: any key.
pub fn declared_keys(registry: &Registry, set: &str) -> Option<(Vec<String>, &'static str)> {
    use super::model::Safety;
    Some(match set {
        "log_category" => (
            registry
                .logs
                .categories
                .iter()
                .map(|c| c.id.clone())
                .collect(),
            "log category a `logs` file declares",
        ),
        "log_value" => (
            registry
                .logs
                .values
                .iter()
                .map(|(n, _)| n.clone())
                .collect(),
            "value a `logs` file extracts",
        ),
        "http_route" => (
            registry
                .http_routes
                .iter()
                .filter(|r| r.safety == Safety::ReadOnly)
                .map(|r| r.id.clone())
                .collect(),
            "read-only route of the `http_routes` table",
        ),
        "span_group" => (
            registry.otel_groups.iter().map(|g| g.id.clone()).collect(),
            "span group an `otel` file declares",
        ),
        _ => return None,
    })
}

/// Checks every evidence pointer of a `modes` file's indicators, each error at
/// its `pointer`.
pub fn check_modes_file(
    registry: &Registry,
    file: &str,
    node: &Node,
    mf: &ModesFile,
    diags: &mut Vec<Diagnostic>,
) {
    let mut schemas: Vec<(EvidenceKind, Value)> = Vec::new();
    for (i, ind) in mf.indicators.iter().enumerate() {
        for (j, m) in ind.evidence.iter().enumerate() {
            if !m.pointer.starts_with('/') {
                continue; // reported by the modes checks
            }
            if !schemas.iter().any(|(k, _)| *k == m.file) {
                schemas.push((m.file, evidence_schema(m.file)));
            }
            let (_, schema) = schemas
                .iter()
                .find(|(k, _)| *k == m.file)
                .expect("pushed above");
            let keys = |set: &str| declared_keys(registry, set);
            if let Err(why) = resolve(schema, &m.pointer, &keys) {
                let at = node.locate(&format!("/indicators/{i}/evidence/{j}/pointer"));
                let doc = kind_name(m.file);
                let msg = format!(
                    "`{}` cannot exist in the {doc} evidence document: {why}",
                    m.pointer
                );
                diags.push(diag(file, at, msg));
            }
        }
    }
}

/// What one step of a pointer leads to from one schema node.
enum Step<'s> {
    /// Anything may be below: nothing more to check.
    Open,
    To(&'s Value),
    /// Not here; the field names that were possible, or why a key is wrong.
    No(Vec<String>, Option<String>),
}

type Keys<'k> = &'k dyn Fn(&str) -> Option<(Vec<String>, &'static str)>;

/// Whether `pointer` can name a value in documents of `schema`; the reason when
/// not.
pub fn resolve(schema: &Value, pointer: &str, keys: Keys) -> Result<(), String> {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut current = Vec::new();
    expand(schema, schema, &mut current, 0);
    for (i, token) in tokens.iter().enumerate() {
        let mut next = Vec::new();
        let (mut names, mut key_problem) = (BTreeSet::new(), None);
        for node in &current {
            match step(node, token, keys) {
                Step::Open => return Ok(()),
                Step::To(v) => expand(schema, v, &mut next, 0),
                Step::No(n, k) => {
                    names.extend(n);
                    key_problem = key_problem.or(k);
                }
            }
        }
        if next.is_empty() {
            let at = match i {
                0 => "the document".to_owned(),
                _ => format!("`/{}`", tokens[..i].join("/")),
            };
            return Err(key_problem.unwrap_or_else(|| no_field(&at, token, &names)));
        }
        current = next;
    }
    Ok(())
}

fn no_field(at: &str, token: &str, names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return format!("{at} has nothing below it");
    }
    let names: Vec<String> = names.iter().cloned().collect();
    let hint = super::suggest(token, names.iter());
    format!("{at} has no field `{token}`{hint}")
}

/// The nodes a schema node stands for: itself, and what its `$ref`, `anyOf`,
/// `oneOf` and `allOf` lead to (any branch may take the next step).
fn expand<'s>(root: &'s Value, node: &'s Value, out: &mut Vec<&'s Value>, depth: usize) {
    if depth > 32 {
        return;
    }
    out.push(node);
    if let Some(target) = node.get("$ref").and_then(Value::as_str) {
        let name = target.rsplit('/').next().unwrap_or_default();
        if let Some(def) = root.get("$defs").and_then(|d| d.get(name)) {
            expand(root, def, out, depth + 1);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            expand(root, branch, out, depth + 1);
        }
    }
}

fn step<'s>(node: &'s Value, token: &str, keys: Keys) -> Step<'s> {
    let obj = match node {
        Value::Bool(true) => return Step::Open,
        Value::Object(o) => o,
        _ => return Step::No(Vec::new(), None),
    };
    let shaped = ["type", "properties", "additionalProperties", "items"]
        .iter()
        .any(|k| obj.contains_key(*k));
    if !shaped {
        // Only a `$ref` or branches (expanded beside it), or no constraint at all.
        let composite = ["$ref", "anyOf", "oneOf", "allOf"]
            .iter()
            .any(|k| obj.contains_key(*k));
        return if composite {
            Step::No(Vec::new(), None)
        } else {
            Step::Open
        };
    }
    let props = obj.get("properties").and_then(Value::as_object);
    if let Some(p) = props.and_then(|p| p.get(token)) {
        return Step::To(p);
    }
    let names: Vec<String> = props
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    match obj.get("additionalProperties") {
        Some(Value::Bool(true)) => return Step::Open,
        Some(extra @ Value::Object(_)) => return map_key(obj, extra, token, keys),
        _ => {}
    }
    if let Some(items) = obj.get("items") {
        if token.bytes().all(|b| b.is_ascii_digit()) && !token.is_empty() {
            return Step::To(items);
        }
        return Step::No(names, Some(format!("`{token}` is not an array index")));
    }
    Step::No(names, None)
}

/// A step into a map: any key, or one the packs declare when the map says whose.
fn map_key<'s>(
    obj: &serde_json::Map<String, Value>,
    extra: &'s Value,
    token: &str,
    keys: Keys,
) -> Step<'s> {
    let declared = obj.get(KEYS_KEYWORD).and_then(Value::as_str).and_then(keys);
    match declared {
        Some((known, what)) if !known.iter().any(|k| k == token) => {
            let hint = super::suggest(token, known.iter());
            Step::No(Vec::new(), Some(format!("`{token}` is no {what}{hint}")))
        }
        _ => Step::To(extra),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: EvidenceKind, pointer: &str) -> Result<(), String> {
        let registry = Registry::load_strict(&[]).expect("shipped packs load");
        let keys = |set: &str| declared_keys(&registry, set);
        resolve(&evidence_schema(kind), pointer, &keys)
    }

    #[test]
    fn pointers_resolve_through_maps_options_and_arrays() {
        for (kind, pointer) in [
            (EvidenceKind::Logs, "/categories/nixl/count"),
            (EvidenceKind::Logs, "/mode_candidates/0"),
            (EvidenceKind::Logs, "/values/python_hash_seed/0"),
            (EvidenceKind::Http, "/endpoints/healthcheck/status"),
            (
                EvidenceKind::Http,
                "/endpoints/status/fields/anything/below",
            ),
            (EvidenceKind::Otel, "/span_groups/mp/latency_ms/p99"),
            (EvidenceKind::Otel, "/hit_tokens/request/hit_rate"),
            (EvidenceKind::Launch, "/engine"),
        ] {
            assert_eq!(check(kind, pointer), Ok(()), "{pointer}");
        }
    }

    #[test]
    fn impossible_pointers_say_why() {
        let cases = [
            (
                EvidenceKind::Logs,
                "/categories/nixl/cont",
                "has no field `cont` (did you mean `count`?)",
            ),
            (
                EvidenceKind::Logs,
                "/categories/nixll/count",
                "`nixll` is no log category a `logs` file declares (did you mean `nixl`?)",
            ),
            (
                EvidenceKind::Http,
                "/endpoints/env/status",
                "`env` is no read-only route",
            ),
            (
                EvidenceKind::Otel,
                "/span_groups/mp/count/x",
                "`/span_groups/mp/count` has nothing below it",
            ),
            (
                EvidenceKind::Otel,
                "/span_group/mp/count",
                "the document has no field `span_group` (did you mean `span_groups`?)",
            ),
            (
                EvidenceKind::Logs,
                "/mode_candidates/first",
                "`first` is not an array index",
            ),
        ];
        for (kind, pointer, want) in cases {
            let got = check(kind, pointer).expect_err(pointer);
            assert!(got.contains(want), "{pointer}: {got}");
        }
    }
}
