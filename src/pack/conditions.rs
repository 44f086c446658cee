//! Named conditions (`kind: conditions`): a pack names a boolean expression once,
//! and its findings, families, mode rules and derived facts read it by id as a
//! variable, so a guard repeated across rules is written (and changed) in one place.
//!
//! Resolved at load, before anything is evaluated: each use is replaced by the
//! condition's expression (in brackets), so evaluation, required signals and
//! reports see the expression itself. A condition reads the variables the packs
//! offer and the conditions declared before it in its pack; it may be used only
//! where every variable it reads is available. Conditions belong to their pack.

use super::model::ConditionDef;
use super::yaml::Pos;
use super::{diag, inner_pos, is_snake, suggest, unknown_variable, Diagnostic, Parsed};
use crate::expr::{identifiers, replace_variables, Compiled, ExprEngine, ExprError};

/// One condition, resolved.
#[derive(Clone, Debug)]
pub struct ConditionRule {
    pub def: ConditionDef,
    pub file: String,
    pub pos: Pos,
    /// The expression with the conditions it reads expanded.
    pub expanded: String,
    /// The variables the expanded expression reads.
    pub variables: Vec<String>,
}

/// The conditions of one pack, in declaration order.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub list: Vec<ConditionRule>,
}

impl Conditions {
    pub fn get(&self, id: &str) -> Option<&ConditionRule> {
        self.list.iter().find(|c| c.def.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.list.iter().map(|c| &c.def.id)
    }

    /// The conditions `source` reads, in order of first use.
    pub fn used_by(&self, source: &str) -> Vec<&ConditionRule> {
        identifiers(source)
            .iter()
            .filter_map(|v| self.get(v))
            .collect()
    }

    /// `source` with every condition it reads replaced by its expression.
    pub fn expand(&self, source: &str) -> String {
        substitute(source, |id| self.get(id).map(|c| c.expanded.clone()))
    }
}

/// `source` with each variable `lookup` knows replaced by its expression, in
/// brackets, or bare when the source is that variable alone.
pub fn substitute(source: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    if let Some(alone) = lookup(source.trim()) {
        return alone;
    }
    replace_variables(source, |v| lookup(v).map(|e| format!("({e})")))
}

/// The expression engine and the conditions of the pack whose expressions are
/// being compiled.
#[derive(Clone, Copy)]
pub struct ExprScope<'a> {
    pub engine: &'a ExprEngine,
    pub conditions: &'a Conditions,
}

impl ExprScope<'_> {
    /// Compiles `source`, which may read the conditions, over `known` variables.
    ///
    /// The text as written compiles first, so that an error points into it; then
    /// every condition it reads must read only `known` variables; then the
    /// expansion compiles.
    pub fn compile(&self, source: &str, known: &[&str]) -> Result<Compiled, ExprError> {
        let used = self.conditions.used_by(source);
        if used.is_empty() {
            return self.engine.compile(source, known);
        }
        let mut with_ids = known.to_vec();
        with_ids.extend(self.conditions.ids().map(String::as_str));
        self.engine.compile(source, &with_ids)?;
        for c in &used {
            if let Some(v) = c.variables.iter().find(|v| !known.contains(&v.as_str())) {
                return Err(ExprError {
                    message: format!(
                        "condition `{}` reads `{v}`, which is not available here",
                        c.def.id
                    ),
                    position: None,
                });
            }
        }
        let expanded = self.conditions.expand(source);
        self.engine
            .compile(&expanded, known)
            .map_err(|e| ExprError {
                message: format!("with its conditions expanded: {}", e.message),
                position: None,
            })
    }
}

/// The conditions of one pack's files, checked: ids new and snake_case, each
/// reading only `known` variables and the conditions before it, one expression.
pub(super) fn collect(
    files: &[Parsed],
    engine: &ExprEngine,
    known: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Conditions {
    let declared: Vec<(&str, &super::yaml::Node, usize, &ConditionDef)> = files
        .iter()
        .filter_map(|p| match p {
            Parsed::Conditions(file, node, cf) => Some((file.as_str(), node, &cf.conditions)),
            _ => None,
        })
        .flat_map(|(file, node, list)| {
            list.iter()
                .enumerate()
                .map(move |(i, d)| (file, node, i, d))
        })
        .collect();
    let mut out = Conditions::default();
    // Conditions already reported: one that reads them is not reported again.
    let mut broken: Vec<&str> = Vec::new();
    for (n, (file, node, i, def)) in declared.iter().enumerate() {
        let at = |field: &str| node.locate(&format!("/conditions/{i}/{field}"));
        let later: Vec<&ConditionDef> = declared[n..].iter().map(|d| d.3).collect();
        if identifiers(&def.when)
            .iter()
            .any(|v| broken.contains(&v.as_str()))
        {
            broken.push(&def.id);
            continue;
        }
        let problem = id_problem(def, known, &out)
            .map(|m| (at("id"), m))
            .or_else(|| order_problem(def, &later).map(|m| (at("when"), m)));
        if let Some((pos, message)) = problem {
            diags.push(diag(file, pos, message));
            broken.push(&def.id);
            continue;
        }
        match resolve(def, engine, known, &out) {
            Ok((expanded, variables)) => out.list.push(ConditionRule {
                def: (*def).clone(),
                file: (*file).to_owned(),
                pos: at("id"),
                expanded,
                variables,
            }),
            Err(e) => {
                let hint = unknown_variable(&e.message)
                    .map(|v| suggest(v, known.iter().chain(out.ids())))
                    .unwrap_or_default();
                let pos = inner_pos(at("when"), &def.when, &e);
                let message = format!(
                    "condition `{}` does not compile: {}{hint}",
                    def.id, e.message
                );
                diags.push(diag(file, pos, message));
                broken.push(&def.id);
            }
        }
    }
    out
}

/// Why `def.id` cannot name a condition, if it cannot.
fn id_problem(def: &ConditionDef, known: &[String], before: &Conditions) -> Option<String> {
    let id = &def.id;
    if !is_snake(id) {
        Some(format!(
            "condition id `{id}` must be lowercase snake_case (it is a variable in rules)"
        ))
    } else if known.contains(id) {
        Some(format!("condition id `{id}` is already a variable (a signal, fact, indicator or context variable); choose another name"))
    } else {
        before.get(id).map(|first| {
            format!(
                "condition `{id}` is already declared at {}:{}",
                first.file, first.pos
            )
        })
    }
}

/// A condition reads only conditions declared before it: naming itself or a later
/// one (which could name it back) is refused.
fn order_problem(def: &ConditionDef, later: &[&ConditionDef]) -> Option<String> {
    let read = identifiers(&def.when);
    let name = read.iter().find(|v| later.iter().any(|l| &l.id == *v))?;
    if *name == def.id {
        return Some(format!("condition `{name}` reads itself"));
    }
    let back = later
        .iter()
        .find(|l| &l.id == name)
        .is_some_and(|l| reaches(l, &def.id, later, 0));
    Some(if back {
        format!("conditions `{}` and `{name}` read each other (a cycle); a condition reads only those declared before it", def.id)
    } else {
        format!(
            "condition `{}` reads `{name}`, which is declared after it; move `{name}` above",
            def.id
        )
    })
}

/// Whether `from` reads `target`, directly or through other later conditions.
fn reaches(from: &ConditionDef, target: &str, later: &[&ConditionDef], depth: usize) -> bool {
    if depth > later.len() {
        return false;
    }
    identifiers(&from.when).iter().any(|v| {
        v == target
            || later
                .iter()
                .find(|l| &l.id == v)
                .is_some_and(|l| reaches(l, target, later, depth + 1))
    })
}

/// The expansion of `def` and the variables it reads; the text as written must
/// compile over `known` and the conditions before it, and be one expression.
fn resolve(
    def: &ConditionDef,
    engine: &ExprEngine,
    known: &[String],
    before: &Conditions,
) -> Result<(String, Vec<String>), ExprError> {
    let mut vars: Vec<&str> = known.iter().map(String::as_str).collect();
    vars.extend(before.ids().map(String::as_str));
    engine.compile(&def.when, &vars)?;
    let expanded = before.expand(&def.when);
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    // Bracketed, as every use will be: a `let` or `;` does not fit there.
    let compiled = engine
        .compile(&format!("({expanded})"), &known)
        .map_err(|_| ExprError {
            message: "a condition is one expression (no `let` or `;`)".to_owned(),
            position: None,
        })?;
    Ok((expanded.trim().to_owned(), compiled.variables))
}
