//! `kind: context`: the operator's flags, the rule variables derived from them and
//! the `--fail-on` gates, declared once in a pack. The command line, rule test
//! cases, packet manifests and the evaluator all read them from here, so a new
//! flag is one pack edit.

use super::model::{ContextFile, ContextFlagDef, ContextType, DerivedFactDef, GateDef};
use super::yaml::{Node, Pos};
use super::{diag, suggest, Diagnostic};
use crate::expr::{Compiled, ExprEngine, Var};
use serde_json::Value;
use std::collections::BTreeMap;

/// Every `context` file merged, in pack order.
#[derive(Clone, Debug, Default)]
pub struct ContextRules {
    pub flags: Vec<ContextFlagDef>,
    /// Derived variables, compiled, in order.
    pub variables: Vec<(DerivedFactDef, Compiled)>,
    pub gates: Vec<GateDef>,
    /// The file that declared each flag, by id.
    pub sources: BTreeMap<String, String>,
}

impl ContextRules {
    /// The variables expressions may read: every flag id, then every derived one.
    pub fn variable_names(&self) -> Vec<String> {
        let flags = self.flags.iter().map(|f| f.id.clone());
        flags
            .chain(self.variables.iter().map(|(d, _)| d.id.clone()))
            .collect()
    }

    pub fn flag(&self, id: &str) -> Option<&ContextFlagDef> {
        self.flags.iter().find(|f| f.id == id)
    }

    /// Every flag's value: `given` when it holds a valid one, else the default
    /// (bool: false, none: null).
    pub fn resolve(&self, given: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for f in &self.flags {
            let value = given
                .get(&f.id)
                .and_then(|v| typed(f, v).ok())
                .unwrap_or_else(|| default_of(f));
            out.insert(f.id.clone(), value);
        }
        out
    }

    /// The variables of compatibility expressions: flag values, then the derived
    /// variables in order (one that fails to evaluate is left out).
    pub fn vars(&self, expr: &ExprEngine, values: &BTreeMap<String, Value>) -> Vec<(String, Var)> {
        let mut out: Vec<(String, Var)> = self
            .flags
            .iter()
            .map(|f| (f.id.clone(), to_var(f, values.get(&f.id))))
            .collect();
        for (def, compiled) in &self.variables {
            let refs: Vec<(&str, Var)> = out.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let Ok(value) = expr.eval(compiled, &refs) else {
                continue;
            };
            let var = if let Ok(b) = value.as_bool() {
                Var::Bool(b)
            } else if let Ok(x) = value.as_float() {
                Var::Num(x)
            } else if let Ok(n) = value.as_int() {
                Var::Num(n as f64)
            } else if let Ok(s) = value.into_string() {
                Var::Str(s)
            } else {
                continue;
            };
            out.push((def.id.clone(), var));
        }
        out
    }

    /// `--fail-on` values: `never`, then every gate with `-` for `_`.
    pub fn gate_values(&self) -> Vec<String> {
        let gates = self.gates.iter().map(|g| g.id.replace('_', "-"));
        std::iter::once("never".to_owned()).chain(gates).collect()
    }
}

/// The value of a flag not given: its default, false for a bool, else null.
pub fn default_of(f: &ContextFlagDef) -> Value {
    match (&f.default, f.ty) {
        (Some(v), _) => v.clone(),
        (None, ContextType::Bool) => Value::Bool(false),
        (None, ContextType::Choice) => f.values.first().cloned().map_or(Value::Null, Value::String),
        (None, _) => Value::Null,
    }
}

/// A value read as the flag's type, within its bounds; the error says why not.
pub fn typed(f: &ContextFlagDef, v: &Value) -> Result<Value, String> {
    match (f.ty, v) {
        (ContextType::Bool, Value::Bool(_)) | (ContextType::String, Value::String(_)) => {
            Ok(v.clone())
        }
        (ContextType::Choice, Value::String(s)) if f.values.contains(s) => Ok(v.clone()),
        (ContextType::Choice, _) => Err(format!("expected one of {}", f.values.join(", "))),
        (ContextType::Integer, Value::Number(n)) if n.is_u64() || n.is_i64() => bounded(f, v),
        (ContextType::Number, Value::Number(_)) => bounded(f, v),
        (ContextType::Integer, _) => Err("expected an integer".to_owned()),
        (ContextType::Number, _) => Err("expected a number".to_owned()),
        (ContextType::Bool, _) => Err("expected true or false".to_owned()),
        (ContextType::String, _) => Err("expected a string".to_owned()),
    }
}

fn bounded(f: &ContextFlagDef, v: &Value) -> Result<Value, String> {
    let x = v.as_f64().unwrap_or(f64::NAN);
    let low = f.min.is_none_or(|m| x >= m) && f.above.is_none_or(|a| x > a);
    if !(low && f.max.is_none_or(|m| x <= m)) {
        return Err(format!("{x} is outside {}", range_text(f)));
    }
    Ok(v.clone())
}

/// `[1, 65535]`, `(0, 1]`, `[0, ∞)`.
pub fn range_text(f: &ContextFlagDef) -> String {
    let (open, low) = match (f.above, f.min) {
        (Some(a), _) => ("(", a.to_string()),
        (None, Some(m)) => ("[", m.to_string()),
        (None, None) => ("(", "-∞".to_owned()),
    };
    let high = f.max.map_or("∞)".to_owned(), |m| format!("{m}]"));
    format!("{open}{low}, {high}")
}

/// A flag's text on the command line, as its type.
pub fn parse_text(f: &ContextFlagDef, text: &str) -> Result<Value, String> {
    let value = match f.ty {
        ContextType::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("`{text}` is not true or false")),
        },
        ContextType::String | ContextType::Choice => Value::String(text.to_owned()),
        ContextType::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{text}` is not an integer"))?,
        ContextType::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("`{text}` is not a number"))?,
    };
    typed(f, &value)
}

fn to_var(f: &ContextFlagDef, v: Option<&Value>) -> Var {
    match (f.ty, v) {
        (ContextType::Bool, Some(Value::Bool(b))) => Var::Bool(*b),
        (ContextType::Bool, _) => Var::Bool(false),
        (_, Some(Value::Number(n))) => Var::Num(n.as_f64().unwrap_or(0.0)),
        (_, Some(Value::String(s))) => Var::Str(s.clone()),
        // Unset (no default, not given): `()` in expressions.
        (_, _) => Var::Unset,
    }
}

/// Adds a context file's flags and gates, checking each one at its place.
pub fn add_context_file(
    rules: &mut ContextRules,
    file: &str,
    node: &Node,
    cf: &ContextFile,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, f) in cf.flags.iter().enumerate() {
        let at = |field: &str| node.locate(&format!("/flags/{i}/{field}"));
        if let Some(first) = rules.sources.get(&f.id) {
            let msg = format!("context flag `{}` is already declared in {first}", f.id);
            diags.push(diag(file, at("id"), msg));
            continue;
        }
        if let Some(problem) = flag_problem(f) {
            diags.push(diag(file, at("id"), problem));
            continue;
        }
        if let Some(Err(e)) = f.default.as_ref().map(|d| typed(f, d)) {
            let msg = format!("default of `{}` does not fit its type: {e}", f.id);
            diags.push(diag(file, at("default"), msg));
            continue;
        }
        rules.sources.insert(f.id.clone(), file.to_owned());
        rules.flags.push(f.clone());
    }
    for (i, g) in cf.gates.iter().enumerate() {
        let clash = rules.gates.iter().any(|x| x.id == g.id);
        if clash || !super::is_snake(&g.id) || g.id == "never" {
            let msg = format!(
                "gate id `{}` must be snake_case, not `never`, and unique",
                g.id
            );
            diags.push(diag(file, node.locate(&format!("/gates/{i}/id")), msg));
            continue;
        }
        rules.gates.push(g.clone());
    }
}

fn flag_problem(f: &ContextFlagDef) -> Option<String> {
    if !super::is_snake(&f.id) {
        return Some(format!("context flag id `{}` must be snake_case", f.id));
    }
    if f.ty == ContextType::Choice && f.values.is_empty() {
        return Some(format!("choice flag `{}` needs `values`", f.id));
    }
    None
}

/// Compiles a context file's derived variables over the flags and the variables
/// before them; `reserved` are names they must not take.
pub fn compile_variables(
    rules: &mut ContextRules,
    expr: &ExprEngine,
    reserved: &[String],
    (file, node, cf): (&str, &Node, &ContextFile),
    diags: &mut Vec<Diagnostic>,
) {
    for (i, d) in cf.variables.iter().enumerate() {
        let at = format!("/variables/{i}");
        let names = rules.variable_names();
        if names.contains(&d.id) || reserved.contains(&d.id) || !super::is_snake(&d.id) {
            let msg = format!(
                "context variable `{}` must be snake_case and a new name",
                d.id
            );
            diags.push(diag(file, node.locate(&format!("{at}/id")), msg));
            continue;
        }
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        match expr.compile(&d.value, &known) {
            Ok(c) => rules.variables.push((d.clone(), c)),
            Err(e) => diags.push(diag(
                file,
                node.locate(&format!("{at}/value")),
                format!("`value` does not compile: {}", e.message),
            )),
        }
    }
}

/// A rule test case's context values: each key a declared flag, each value of its
/// type; problems at `at` (`/findings/i/tests/j/context`).
pub fn check_case(
    rules: &ContextRules,
    values: &BTreeMap<String, Value>,
    (file, node, at): (&str, &Node, &str),
    diags: &mut Vec<Diagnostic>,
) {
    for (key, value) in values {
        let pos: Pos = node.locate(&format!("{at}/{key}"));
        let problem = match rules.flag(key) {
            None => Some(format!(
                "unknown context flag `{key}`{}",
                suggest(key, rules.flags.iter().map(|f| &f.id))
            )),
            Some(f) => typed(f, value)
                .err()
                .map(|e| format!("context `{key}`: {e}")),
        };
        if let Some(message) = problem {
            diags.push(diag(file, pos, message));
        }
    }
}

/// A finding's `fail_on` entries must name declared gates.
pub fn check_gates(
    rules: &ContextRules,
    fail_on: &[String],
    (file, node, at): (&str, &Node, &str),
    diags: &mut Vec<Diagnostic>,
) {
    for (k, gate) in fail_on.iter().enumerate() {
        if !rules.gates.iter().any(|g| &g.id == gate) {
            let hint = suggest(gate, rules.gates.iter().map(|g| &g.id));
            diags.push(diag(
                file,
                node.locate(&format!("{at}/fail_on/{k}")),
                format!("unknown `--fail-on` gate `{gate}`{hint}"),
            ));
        }
    }
}
