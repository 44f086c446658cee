//! Pack data the evidence parsers apply, checked at load: how the OTel evidence
//! groups spans (`kind: otel`), which answers of the HTTP API say healthy (`health`
//! of `kind: http_routes`) and which extracted log value is the hash seed
//! (`hash_seed_value` of `kind: logs`). The parsers know none of these names.

use super::model::{HttpRoutesFile, LogsFile, OtelFile};
use super::yaml::Node;
use super::{diag, is_snake, Diagnostic};
use crate::evidence::http::HealthWords;
use crate::evidence::log_rules::LogRules;
use crate::evidence::otel::SpanGroupDef;

/// Appends the span groups of one `otel` file: ids snake_case and unique across
/// files, at most one catch-all, and nothing after it (it would never take a span).
pub fn add_span_groups(
    groups: &mut Vec<SpanGroupDef>,
    file: &str,
    node: &Node,
    of: &OtelFile,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, g) in of.span_groups.iter().enumerate() {
        let at = |field: &str| node.locate(&format!("/span_groups/{i}/{field}"));
        if !is_snake(&g.id) {
            let msg = format!("span group id `{}` is not lowercase snake_case", g.id);
            diags.push(diag(file, at("id"), msg));
        }
        if groups.iter().any(|x| x.id == g.id) {
            let msg = format!("span group `{}` is declared twice", g.id);
            diags.push(diag(file, at("id"), msg));
        }
        if let Some(all) = groups.iter().find(|x| x.is_catch_all()) {
            let msg = format!(
                "span group `{}` comes after the catch-all group `{}` (no `names` or \
                 `prefixes`) and would never take a span; move it before",
                g.id, all.id
            );
            diags.push(diag(file, at("id"), msg));
        }
        let empty = g.names.iter().chain(&g.prefixes).any(String::is_empty);
        if empty {
            let msg = format!("span group `{}` has an empty name or prefix", g.id);
            diags.push(diag(file, at("id"), msg));
        }
        groups.push(g.clone());
    }
}

/// Takes the `health` section of an `http_routes` file; one across all packs.
pub fn add_health(
    health: &mut HealthWords,
    file: &str,
    node: &Node,
    hf: &HttpRoutesFile,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(h) = &hf.health else { return };
    if *health != HealthWords::default() {
        let msg = "`health` is already declared by another http_routes file".to_owned();
        diags.push(diag(file, node.locate("/health"), msg));
        return;
    }
    if h.status_field.is_none() && !(h.healthy.is_empty() && h.unhealthy.is_empty()) {
        let msg = "`healthy` and `unhealthy` words need a `status_field` to read".to_owned();
        diags.push(diag(file, node.locate("/health"), msg));
    }
    *health = h.clone();
}

/// Takes `hash_seed_value` of a `logs` file: one across all packs, naming a value
/// declared under `values` of this or an earlier logs file.
pub fn add_hash_seed_value(
    logs: &mut LogRules,
    file: &str,
    node: &Node,
    lf: &LogsFile,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(name) = &lf.hash_seed_value else {
        return;
    };
    let pos = node.locate("/hash_seed_value");
    if let Some(first) = &logs.hash_seed_value {
        let msg = format!("`hash_seed_value` is already declared (as `{first}`)");
        diags.push(diag(file, pos, msg));
        return;
    }
    let names: Vec<String> = logs.values.iter().map(|(n, _)| n.clone()).collect();
    if !names.contains(name) {
        let hint = super::suggest(name, names.iter());
        let msg =
            format!("`hash_seed_value` names `{name}`, which no `values` entry declares{hint}");
        diags.push(diag(file, pos, msg));
        return;
    }
    logs.hash_seed_value = Some(name.clone());
}
