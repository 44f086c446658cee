//! The rule-pack JSON Schema, generated from the structs in [`super::model`], and
//! validation of pack files against it.
//!
//! The schema is built at run time from the same structs the loader deserializes
//! into, so it cannot drift from the code; `schemas/rule-pack.schema.json` is the
//! same document written out for editors and external tools (`rules schemas`).

use super::model::{EngineFile, FileKind, FindingsFile, PackManifest};
use schemars::generate::SchemaSettings;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The whole rule-pack schema: `pack.yaml` when there is no `kind`, otherwise the
/// definition for that kind.
pub fn rule_pack_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let manifest = generator.subschema_for::<PackManifest>();
    let engine = generator.subschema_for::<EngineFile>();
    let findings = generator.subschema_for::<FindingsFile>();
    let families = generator.subschema_for::<super::model::FamiliesFile>();
    let modes = generator.subschema_for::<super::model::ModesFile>();
    let logs = generator.subschema_for::<super::model::LogsFile>();
    let http_routes = generator.subschema_for::<super::model::HttpRoutesFile>();
    let catalogue = generator.subschema_for::<super::model::CatalogueFile>();
    let launch = generator.subschema_for::<super::model::LaunchFile>();
    let conditions = generator.subschema_for::<super::model::ConditionsFile>();
    let otel = generator.subschema_for::<super::model::OtelFile>();
    let context = generator.subschema_for::<super::model::ContextFile>();
    let defs = generator.take_definitions(true);
    let kinds: Vec<&str> = FileKind::ALL.iter().map(|k| k.as_str()).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/inferguard/inferguard/schemas/rule-pack.schema.json",
        "title": "inferguard rule pack file",
        "description": "A rule pack is a folder with a pack.yaml (no `kind`) and YAML files of one `kind` each.",
        "type": "object",
        "if": { "required": ["kind"] },
        "then": {
            "properties": { "kind": { "enum": kinds } },
            "allOf": [
                { "if": { "properties": { "kind": { "const": "engine" } } }, "then": engine },
                { "if": { "properties": { "kind": { "const": "findings" } } }, "then": findings },
                { "if": { "properties": { "kind": { "const": "families" } } }, "then": families },
                { "if": { "properties": { "kind": { "const": "modes" } } }, "then": modes },
                { "if": { "properties": { "kind": { "const": "logs" } } }, "then": logs },
                { "if": { "properties": { "kind": { "const": "http_routes" } } }, "then": http_routes },
                { "if": { "properties": { "kind": { "const": "catalogue" } } }, "then": catalogue },
                { "if": { "properties": { "kind": { "const": "launch" } } }, "then": launch },
                { "if": { "properties": { "kind": { "const": "conditions" } } }, "then": conditions },
                { "if": { "properties": { "kind": { "const": "otel" } } }, "then": otel },
                { "if": { "properties": { "kind": { "const": "context" } } }, "then": context }
            ]
        },
        "else": manifest,
        "$defs": defs,
    })
    .pipe(flatten_documented_enums)
}

trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}
impl Pipe for Value {}

/// schemars writes a documented enum as `oneOf` of `const`s, which validators
/// report as "not valid under any of the schemas listed in the 'oneOf'". A plain
/// `enum` with the variants' docs in the description gives pack authors
/// `"engin" is not one of "engine", "kv_cache", …` instead.
fn flatten_documented_enums(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                let consts: Option<Vec<(Value, String)>> = map
                    .get("oneOf")
                    .and_then(|o| o.as_array())
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|i| {
                                let c = i.get("const")?.clone();
                                let d = i
                                    .get("description")
                                    .and_then(|d| d.as_str())
                                    .unwrap_or("")
                                    .to_owned();
                                Some((c, d))
                            })
                            .collect()
                    });
                if let Some(consts) = consts {
                    map.remove("oneOf");
                    let docs: Vec<String> = consts
                        .iter()
                        .filter(|(_, d)| !d.is_empty())
                        .map(|(c, d)| {
                            format!(
                                "`{}`: {}",
                                c.as_str().unwrap_or_default(),
                                d.replace('\n', " ")
                            )
                        })
                        .collect();
                    map.insert(
                        "enum".to_owned(),
                        Value::Array(consts.into_iter().map(|(c, _)| c).collect()),
                    );
                    if !docs.is_empty() {
                        let base = map
                            .get("description")
                            .and_then(|d| d.as_str())
                            .unwrap_or("")
                            .to_owned();
                        let joined = if base.is_empty() {
                            docs.join("; ")
                        } else {
                            format!("{base} {}", docs.join("; "))
                        };
                        map.insert("description".to_owned(), Value::String(joined));
                    }
                }
                for child in map.values_mut() {
                    walk(child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// One schema violation: where (JSON pointer) and what.
#[derive(Debug)]
pub struct Problem {
    pub pointer: String,
    /// For "unknown field" errors: the offending key, so it can be located exactly.
    pub unknown_key: Option<String>,
    pub message: String,
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(&rule_pack_schema())
            .expect("the generated rule-pack schema is a valid JSON Schema")
    })
}

/// Every violation, in document order, with messages written for pack authors.
pub fn validate(instance: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    for error in validator().iter_errors(instance) {
        let pointer = error.instance_path().as_str().to_owned();
        match error.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    out.push(Problem {
                        pointer: pointer.clone(),
                        unknown_key: Some(key.clone()),
                        message: format!(
                            "unknown field '{key}'{}",
                            allowed_hint(instance, &pointer)
                        ),
                    });
                }
            }
            _ => out.push(Problem {
                pointer: pointer.clone(),
                unknown_key: None,
                message: describe(&error.to_string(), &pointer),
            }),
        }
    }
    out
}

fn allowed_hint(_instance: &Value, pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" in {pointer}")
    }
}

fn describe(raw: &str, pointer: &str) -> String {
    // jsonschema's messages quote the whole instance for some errors; keep them short.
    let mut text = raw.to_owned();
    if text.len() > 200 {
        text.truncate(200);
        text.push('…');
    }
    if pointer.is_empty() {
        text
    } else {
        format!("{text} (at {pointer})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_reported_with_its_key() {
        let v = json!({"kind": "findings", "findings": [{"code": "a", "requred_when": 1}]});
        let problems = validate(&v);
        assert!(
            problems
                .iter()
                .any(|p| p.unknown_key.as_deref() == Some("requred_when")
                    && p.pointer == "/findings/0"),
            "{problems:?}"
        );
    }

    #[test]
    fn documented_enum_errors_list_the_allowed_values() {
        let v = json!({"kind": "engine", "engine": {"id": "x", "name": "X", "role": "engin", "detection": {"evidence": []}, "signals": {}}});
        let problems = validate(&v);
        let p = problems
            .iter()
            .find(|p| p.pointer == "/engine/role")
            .expect("role problem");
        assert!(p.message.contains("\"kv_cache\""), "{}", p.message);
    }

    #[test]
    fn unknown_kind_is_reported() {
        let problems = validate(&json!({"kind": "bogus"}));
        assert!(
            problems.iter().any(|p| p.pointer == "/kind"),
            "{problems:?}"
        );
    }

    #[test]
    fn manifest_without_kind_is_checked_as_manifest() {
        let problems = validate(&json!({"id": "x"}));
        assert!(!problems.is_empty());
        let ok = validate(
            &json!({"id": "x", "version": "0.1.0", "requires": {"inferguard": ">=0.1"}, "description": "d"}),
        );
        assert!(ok.is_empty(), "{ok:?}");
    }
}
