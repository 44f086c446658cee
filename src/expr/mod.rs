//! The one place that builds the Rhai engine rules run in, and the small language
//! around it: helper functions, variable discovery and message templates.
//!
//! Sits between `pack` (which compiles every expression once, at load) and `eval`
//! (which runs them many times). The engine is sandboxed: operation, depth, size and
//! call limits; no `eval`, no modules, no script-defined functions, no I/O, no
//! `print`. Every evidence value is an `f64`, so `a / b` is never integer division.

use rhai::{Dynamic, Engine, Scope, AST};
use std::fmt::Write as _;
use std::sync::Arc;

/// Operations one rule may spend per evaluation before it is stopped and reported
/// as errored; generous for any expression, far below a second of CPU.
pub const MAX_OPERATIONS: u64 = 100_000;

/// A compile or run-time error of one expression.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    /// 1-based line and column inside the expression, when Rhai knows them.
    pub position: Option<(u32, u32)>,
}

impl ExprError {
    fn from_parse(e: &rhai::ParseError) -> Self {
        ExprError {
            message: e.err_type().to_string(),
            position: position(e.position()),
        }
    }
    fn from_eval(e: &rhai::EvalAltResult) -> Self {
        let message = match e {
            rhai::EvalAltResult::ErrorTooManyOperations(_) => format!(
                "operation limit of {MAX_OPERATIONS} reached (an endless loop or a very large computation)"
            ),
            other => {
                let text = other.to_string();
                // Rhai appends " (line L, position P)"; the position is kept separately.
                text.split(" (line ").next().unwrap_or(&text).to_owned()
            }
        };
        ExprError {
            message,
            position: position(e.position()),
        }
    }
}

fn position(p: rhai::Position) -> Option<(u32, u32)> {
    match (p.line(), p.position()) {
        (Some(l), c) => Some((
            u32::try_from(l).unwrap_or(u32::MAX),
            u32::try_from(c.unwrap_or(1)).unwrap_or(u32::MAX),
        )),
        _ => None,
    }
}

/// A variable's value: evidence numbers are always `f64`; context flags are
/// booleans, modes strings, family statuses a map; the analysis also hands
/// expressions lists (distinct label values) and maps of lists or flags.
#[derive(Clone, Debug, PartialEq)]
pub enum Var {
    Num(f64),
    Bool(bool),
    Str(String),
    /// An operator setting that was not given: Rhai's `()`, so an expression
    /// tests it with `x == ()`.
    Unset,
    /// String keys to string values (`family["surface.family"]`).
    Map(Vec<(String, String)>),
    /// String keys to numbers (`family_series["surface.family"]`).
    Nums(Vec<(String, f64)>),
    /// A list (`instance_ids`, a derived fact that lists surfaces): a Rhai array.
    List(Vec<Var>),
    /// String keys to any values (`label_value_lists["model_name"]`,
    /// `family_boot["surface.family"]`): a Rhai object map.
    Table(Vec<(String, Var)>),
}

impl From<f64> for Var {
    fn from(x: f64) -> Self {
        Var::Num(x)
    }
}

impl From<bool> for Var {
    fn from(b: bool) -> Self {
        Var::Bool(b)
    }
}

impl From<&str> for Var {
    fn from(s: &str) -> Self {
        Var::Str(s.to_owned())
    }
}

impl From<String> for Var {
    fn from(s: String) -> Self {
        Var::Str(s)
    }
}

impl From<Vec<String>> for Var {
    fn from(items: Vec<String>) -> Self {
        Var::List(items.into_iter().map(Var::Str).collect())
    }
}

impl Var {
    fn to_dynamic(&self) -> Dynamic {
        match self {
            Var::Num(x) => Dynamic::from_float(*x),
            Var::Bool(b) => Dynamic::from_bool(*b),
            Var::Str(s) => Dynamic::from(s.clone()),
            Var::Unset => Dynamic::UNIT,
            Var::List(items) => Dynamic::from_array(items.iter().map(Var::to_dynamic).collect()),
            Var::Table(entries) => {
                let mut map = rhai::Map::new();
                for (k, v) in entries {
                    map.insert(k.as_str().into(), v.to_dynamic());
                }
                Dynamic::from_map(map)
            }
            Var::Map(entries) => {
                let mut map = rhai::Map::new();
                for (k, v) in entries {
                    map.insert(k.as_str().into(), Dynamic::from(v.clone()));
                }
                Dynamic::from_map(map)
            }
            Var::Nums(entries) => {
                let mut map = rhai::Map::new();
                for (k, v) in entries {
                    map.insert(k.as_str().into(), Dynamic::from_float(*v));
                }
                Dynamic::from_map(map)
            }
        }
    }

    /// The value an expression produced, when it is one a variable can hold:
    /// integers become numbers, arrays lists, object maps tables.
    pub fn from_dynamic(value: &Dynamic) -> Option<Var> {
        if let Ok(b) = value.as_bool() {
            return Some(Var::Bool(b));
        }
        if let Ok(x) = value.as_float() {
            return Some(Var::Num(x));
        }
        if let Ok(n) = value.as_int() {
            return Some(Var::Num(n as f64));
        }
        if value.is_unit() {
            return Some(Var::Unset);
        }
        if value.is_string() {
            return Some(Var::Str(value.to_string()));
        }
        if let Some(items) = value.read_lock::<rhai::Array>() {
            return items
                .iter()
                .map(Var::from_dynamic)
                .collect::<Option<_>>()
                .map(Var::List);
        }
        if let Some(map) = value.read_lock::<rhai::Map>() {
            return map
                .iter()
                .map(|(k, v)| Some((k.to_string(), Var::from_dynamic(v)?)))
                .collect::<Option<_>>()
                .map(Var::Table);
        }
        None
    }

    /// A single value (a number, flag, string or unset), evidence a finding lists;
    /// lists and maps are context for the expression.
    pub fn is_scalar(&self) -> bool {
        matches!(self, Var::Num(_) | Var::Bool(_) | Var::Str(_) | Var::Unset)
    }

    /// The number, for evidence and reports.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Var::Num(x) => Some(*x),
            Var::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    /// How the value reads in reports and `explain`.
    pub fn render(&self) -> String {
        match self {
            Var::Num(x) => crate::number::format_number(*x),
            Var::Bool(b) => b.to_string(),
            Var::Str(s) => format!("{s:?}"),
            Var::Unset => "unset".to_owned(),
            Var::List(items) => {
                let items: Vec<String> = items.iter().map(Var::render).collect();
                format!("[{}]", items.join(", "))
            }
            Var::Map(entries) => format!("{} entries", entries.len()),
            Var::Nums(entries) => format!("{} entries", entries.len()),
            Var::Table(entries) => format!("{} entries", entries.len()),
        }
    }
}

/// A compiled expression and the variables it reads.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub source: String,
    ast: Arc<AST>,
    /// Every known variable the source mentions, in order of first use.
    pub variables: Vec<String>,
}

/// A documented helper function; its examples are rendered into `docs/rules.md` and
/// run as tests (`helper_examples_hold`).
pub struct Helper {
    pub name: &'static str,
    pub usage: &'static str,
    pub description: &'static str,
    /// `(expression, expected result rendered with Dynamic's Display)`
    pub examples: &'static [(&'static str, &'static str)],
}

pub const HELPERS: &[Helper] = &[
    Helper {
        name: "ratio",
        usage: "ratio(part, whole)",
        description: "`part / whole`, or 0.0 when `whole` is 0 (no traffic is not a 100 % miss).",
        examples: &[("ratio(30.0, 120.0)", "0.25"), ("ratio(5.0, 0.0)", "0.0")],
    },
    Helper {
        name: "pct",
        usage: "pct(fraction)",
        description: "A 0..1 fraction as a percentage.",
        examples: &[("pct(0.875)", "87.5")],
    },
    Helper {
        name: "at_least",
        usage: "at_least(value, threshold)",
        description: "`value >= threshold`, false for NaN (a NaN gauge proves nothing).",
        examples: &[
            ("at_least(0.97, 0.95)", "true"),
            ("at_least(0.5, 0.95)", "false"),
        ],
    },
    Helper {
        name: "per_minute",
        usage: "per_minute(rate)",
        description: "A per-second window rate (`X_rate`) per minute.",
        examples: &[("per_minute(0.5)", "30.0")],
    },
    Helper {
        name: "per_hour",
        usage: "per_hour(rate)",
        description: "A per-second window rate (`X_rate`) per hour.",
        examples: &[("per_hour(0.01)", "36.0")],
    },
    Helper {
        name: "nonzero",
        usage: "nonzero(map)",
        description: "The entries of a map (a grouped signal's `<signal>_by`) whose value is not 0, largest first, as `key (count)` with thousands separators; `none` when there is none. A message lists the reasons that occurred, not every reason there could be.",
        examples: &[
            (
                "nonzero(#{l1_oom: 12.0, not_found: 0.0, l1_contended: 1250.0})",
                "l1_contended (1,250), l1_oom (12)",
            ),
            ("nonzero(#{not_found: 0.0})", "none"),
        ],
    },
    Helper {
        name: "joined",
        usage: "joined(list)",
        description: "The items of a list (`family_names[\"surface.family\"]`, a derived fact) joined by `, `, without quotes; `none` when it is empty.",
        examples: &[
            (r#"joined(["l1_oom", "not_found"])"#, "l1_oom, not_found"),
            ("joined([])", "none"),
        ],
    },
    Helper {
        name: "clamp",
        usage: "clamp(value, low, high)",
        description: "`value` limited to `[low, high]`.",
        examples: &[
            ("clamp(1.7, 0.0, 1.0)", "1.0"),
            ("clamp(-3.0, 0.0, 1.0)", "0.0"),
        ],
    },
    Helper {
        name: "idle_rank",
        usage: "idle_rank(a_by_rank, b_by_rank)",
        description: "The first rank, in rank order, at which both per-rank maps (`X_by_rank`) read 0 (nothing running and nothing waiting); `\"\"` when none.",
        examples: &[
            (
                "idle_rank(#{\"0\": 48.0, \"1\": 0.0}, #{\"0\": 55.0, \"1\": 0.0})",
                "1",
            ),
            ("idle_rank(#{\"0\": 4.0}, #{\"0\": 0.0}) == \"\"", "true"),
        ],
    },
    Helper {
        name: "rank_value",
        usage: "rank_value(by_rank, rank)",
        description: "The value of one rank in a per-rank map (`X_by_rank`), NaN when that rank does not report it.",
        examples: &[("rank_value(#{\"0\": 48.0, \"1\": 0.0}, \"0\")", "48.0")],
    },
];

/// The first key (numbers in numeric order) at which both maps hold 0.
fn idle_rank(a: rhai::Map, b: rhai::Map) -> String {
    let zero = |m: &rhai::Map, k: &str| m.get(k).and_then(|v| v.as_float().ok()) == Some(0.0);
    let mut keys: Vec<&str> = a.keys().map(|k| k.as_str()).collect();
    keys.sort_by(|x, y| match (x.parse::<u64>(), y.parse::<u64>()) {
        (Ok(p), Ok(q)) => p.cmp(&q),
        _ => x.cmp(y),
    });
    keys.into_iter()
        .find(|k| zero(&a, k) && zero(&b, k))
        .unwrap_or("")
        .to_owned()
}

fn rank_value(m: rhai::Map, rank: &str) -> f64 {
    m.get(rank)
        .and_then(|v| v.as_float().ok())
        .unwrap_or(f64::NAN)
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        part / whole
    }
}

/// `nonzero(map)`: the entries whose number is not 0, largest first (then by key),
/// as `key (count)`.
fn nonzero(map: rhai::Map) -> String {
    let mut entries: Vec<(String, f64)> = map
        .iter()
        .filter_map(|(k, v)| {
            let x = v
                .as_float()
                .ok()
                .or_else(|| v.as_int().ok().map(|i| i as f64))?;
            (x != 0.0 && !x.is_nan()).then(|| (k.to_string(), x))
        })
        .collect();
    if entries.is_empty() {
        return "none".to_owned();
    }
    entries.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let parts: Vec<String> = entries
        .iter()
        .map(|(k, x)| format!("{k} ({})", crate::number::format_count(*x)))
        .collect();
    parts.join(", ")
}

/// `joined(list)`: the items as text, joined by `, `.
fn joined(items: rhai::Array) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

/// The sandboxed engine. Build one per registry and share it.
pub struct ExprEngine {
    engine: Engine,
    /// Packs repeat expressions (`true`, `l2_configured`, …); each distinct source
    /// with the same known variables compiles once.
    cache: std::sync::Mutex<std::collections::HashMap<(String, Vec<String>), Compiled>>,
}

impl Default for ExprEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl ExprEngine {
    pub fn new() -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(MAX_OPERATIONS)
            .set_max_expr_depths(64)
            .set_max_string_size(16 * 1024)
            .set_max_array_size(1024)
            .set_max_map_size(1024)
            .set_strict_variables(true)
            .set_fail_on_invalid_map_property(true)
            .disable_symbol("eval")
            .on_print(|_| {})
            .on_debug(|_, _, _| {});
        engine.register_fn("ratio", ratio);
        engine.register_fn("pct", |x: f64| x * 100.0);
        engine.register_fn("at_least", |v: f64, t: f64| !v.is_nan() && v >= t);
        engine.register_fn("per_minute", |r: f64| r * 60.0);
        engine.register_fn("per_hour", |r: f64| r * 3600.0);
        engine.register_fn("clamp", |v: f64, lo: f64, hi: f64| v.max(lo).min(hi));
        engine.register_fn("idle_rank", idle_rank);
        engine.register_fn("rank_value", rank_value);
        engine.register_fn("nonzero", nonzero);
        engine.register_fn("joined", joined);
        ExprEngine {
            engine,
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Compiles `source` with strict variables: any identifier outside `known` is a
    /// compile error, so a misspelt signal fails at load instead of reading as false.
    pub fn compile(&self, source: &str, known: &[&str]) -> Result<Compiled, ExprError> {
        // Only the known names the source mentions go into the scope: an unknown
        // one stays out and is a compile error all the same, and a registry with
        // hundreds of signal variables does not pay for them on every compile.
        // Plain variables, not constants: the optimizer would fold constants into
        // the AST and every evaluation would see these placeholder zeros.
        let variables: Vec<String> = identifiers(source)
            .into_iter()
            .filter(|id| known.contains(&id.as_str()))
            .collect();
        let key = (source.to_owned(), variables.clone());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let mut scope = Scope::new();
        for name in &variables {
            scope.push(name.as_str(), 0.0_f64);
        }
        let ast = self
            .engine
            .compile_with_scope(&scope, source)
            .map_err(|e| ExprError::from_parse(&e))?;
        let compiled = Compiled {
            source: source.to_owned(),
            ast: Arc::new(ast),
            variables,
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, compiled.clone());
        }
        Ok(compiled)
    }

    /// Evaluates a compiled expression with the given variable values.
    pub fn eval(&self, expr: &Compiled, vars: &[(&str, Var)]) -> Result<Dynamic, ExprError> {
        let mut scope = Scope::new();
        for (name, value) in vars {
            scope.push_constant_dynamic(*name, value.to_dynamic());
        }
        self.engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &expr.ast)
            .map_err(|e| ExprError::from_eval(&e))
    }

    /// Evaluates a condition; anything but a boolean is an error, so `when: x` with a
    /// number never silently counts as false.
    pub fn eval_bool(&self, expr: &Compiled, vars: &[(&str, Var)]) -> Result<bool, ExprError> {
        let value = self.eval(expr, vars)?;
        value.as_bool().map_err(|ty| ExprError {
            message: format!("the condition gave a {ty}, not a boolean"),
            position: None,
        })
    }
}

/// Identifiers a script reads as variables: not keywords, not function names (an
/// identifier followed by `(`), not properties (after `.`), not inside strings.
pub fn identifiers(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for span in variable_spans(source) {
        let word = &source[span];
        if !out.iter().any(|w| w == word) {
            out.push(word.to_owned());
        }
    }
    out
}

/// `source` with every variable (as [`identifiers`] finds them) for which
/// `replace` gives a text replaced by that text; the rest is left as written.
pub fn replace_variables(source: &str, replace: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for span in variable_spans(source) {
        if let Some(text) = replace(&source[span.clone()]) {
            out.push_str(&source[last..span.start]);
            out.push_str(&text);
            last = span.end;
        }
    }
    out.push_str(&source[last..]);
    out
}

/// Whether two expressions parse to the same syntax tree: they differ only in
/// layout, comments or redundant brackets, so they mean the same (`rules diff`
/// uses it to see a condition moved into a named one as no change). Both must
/// compile; variables need not be known.
pub fn same_syntax(a: &str, b: &str) -> bool {
    let engine = Engine::new();
    let tree = |s: &str| {
        let ast = engine.compile(s).ok()?;
        // The tree's debug form, without the positions (`@ 1:5`, `, 1:1)`).
        let text = format!("{ast:?}");
        Some(strip_positions(&text))
    };
    matches!((tree(a), tree(b)), (Some(x), Some(y)) if x == y)
}

fn strip_positions(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let n = digits(i);
        let at_word_start =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if n > 0 && at_word_start && bytes.get(i + n) == Some(&b':') && digits(i + n + 1) > 0 {
            i += n + 1 + digits(i + n + 1);
            continue;
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

/// Byte ranges of the variables a script reads, in order, repeats included.
fn variable_spans(source: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' || c == b'`' || c == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &source[start..i];
            let after_dot = source[..start].trim_end().ends_with('.');
            let is_call = source[i..].trim_start().starts_with('(');
            if !after_dot && !is_call && !is_keyword(word) {
                out.push(start..i);
            }
        } else if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
            {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "true"
            | "false"
            | "let"
            | "const"
            | "if"
            | "else"
            | "switch"
            | "do"
            | "while"
            | "loop"
            | "until"
            | "for"
            | "in"
            | "continue"
            | "break"
            | "return"
            | "throw"
            | "try"
            | "catch"
            | "this"
            | "global"
    )
}

/// A message template: literal text and `{expr[:fmt]}` holes, compiled at load.
#[derive(Clone, Debug)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

#[derive(Clone, Debug)]
enum TemplatePart {
    Text(String),
    Hole { expr: Compiled, format: HoleFormat },
}

#[derive(Clone, Copy, Debug)]
enum HoleFormat {
    Plain,
    Decimals(usize),
    Percent,
    Count,
    Duration,
}

/// Where a hole that starts just before `rest` ends: its closing `}`, braces of
/// the expression inside (`if … {…} else {…}`, `#{…}`) and strings skipped.
fn hole_end(rest: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

impl Template {
    /// Parses `text`; `{{` and `}}` are literal braces.
    pub fn compile(engine: &ExprEngine, text: &str, known: &[&str]) -> Result<Template, ExprError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let Some(end) = hole_end(rest) else {
                        return Err(ExprError {
                            message: format!(
                                "unclosed `{{` at character {} of the message",
                                at + 1
                            ),
                            position: None,
                        });
                    };
                    let hole = &rest[..end];
                    let (src, format) = split_format(hole)?;
                    let expr = engine.compile(src, known).map_err(|e| ExprError {
                        message: format!("in message hole `{{{hole}}}`: {}", e.message),
                        position: None,
                    })?;
                    if !literal.is_empty() {
                        parts.push(TemplatePart::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(TemplatePart::Hole { expr, format });
                    for _ in 0..hole.chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(ExprError {
                        message: format!(
                            "unmatched `}}` at character {} of the message (write `}}}}`)",
                            at + 1
                        ),
                        position: None,
                    })
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Variables the holes read.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().flat_map(|p| match p {
            TemplatePart::Hole { expr, .. } => expr.variables.iter().map(String::as_str).collect(),
            TemplatePart::Text(_) => Vec::new(),
        })
    }

    /// Renders the message; a hole that fails renders as `<error: ...>` rather than
    /// losing the finding.
    pub fn render(&self, engine: &ExprEngine, vars: &[(&str, Var)]) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Hole { expr, format } => match engine.eval(expr, vars) {
                    Ok(v) => render_value(&mut out, &v, *format),
                    Err(e) => {
                        let _ = write!(out, "<error: {}>", e.message);
                    }
                },
            }
        }
        out
    }
}

fn split_format(hole: &str) -> Result<(&str, HoleFormat), ExprError> {
    // A format suffix is the text after the last `:` when it is `.N` or `pct`; Rhai
    // itself never needs a bare `:` in an expression hole.
    // A suffix that is not a plain word (`#{a: 1}` in a map literal) is part of
    // the expression.
    if let Some((src, fmt)) = hole.rsplit_once(':') {
        let fmt = fmt.trim();
        let word = fmt
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        match fmt {
            "pct" => return Ok((src, HoleFormat::Percent)),
            "count" => return Ok((src, HoleFormat::Count)),
            "duration" => return Ok((src, HoleFormat::Duration)),
            _ => {}
        }
        if let Some(n) = fmt.strip_prefix('.').and_then(|n| n.parse::<usize>().ok()) {
            return Ok((src, HoleFormat::Decimals(n.min(12))));
        }
        if word {
            return Err(ExprError {
                message: format!(
                    "unknown format `:{fmt}` in message hole `{{{hole}}}` (use `:.N`, `:pct`, `:count` or `:duration`)"
                ),
                position: None,
            });
        }
    }
    Ok((hole, HoleFormat::Plain))
}

fn render_value(out: &mut String, v: &Dynamic, format: HoleFormat) {
    let number = v
        .as_float()
        .ok()
        .or_else(|| v.as_int().ok().map(|i| i as f64));
    match (number, format) {
        (Some(x), HoleFormat::Decimals(n)) => {
            let _ = write!(out, "{x:.n$}");
        }
        (Some(x), HoleFormat::Percent) => out.push_str(&crate::number::format_percent(x)),
        (Some(x), HoleFormat::Count) => out.push_str(&crate::number::format_count(x)),
        (Some(x), HoleFormat::Duration) => out.push_str(&crate::number::format_duration(x)),
        (Some(x), HoleFormat::Plain) => {
            let _ = write!(out, "{}", crate::number::format_number(x));
        }
        (None, _) => {
            let _ = write!(out, "{v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_examples_hold() {
        let engine = ExprEngine::new();
        for helper in HELPERS {
            assert!(
                !helper.examples.is_empty(),
                "{} has no example",
                helper.name
            );
            for (src, expected) in helper.examples {
                let compiled = engine.compile(src, &[]).unwrap();
                let value = engine.eval(&compiled, &[]).unwrap();
                assert_eq!(
                    value.to_string(),
                    *expected,
                    "example `{src}` of {}",
                    helper.name
                );
            }
        }
    }

    #[test]
    fn pack_author_docs_list_every_helper_and_example() {
        let docs = include_str!("../../docs/rules.md");
        for helper in HELPERS {
            assert!(
                docs.contains(&format!("`{}`", helper.usage)),
                "docs/rules.md does not document {}",
                helper.usage
            );
            for (src, expected) in helper.examples {
                assert!(
                    docs.contains(&format!("`{src}` → {expected}")),
                    "docs/rules.md lacks example `{src}` → {expected}"
                );
            }
        }
    }

    #[test]
    fn strict_variables_reject_unknown_names() {
        let engine = ExprEngine::new();
        let err = engine
            .compile("kv_usage > 0.9", &["kv_cache_usage"])
            .unwrap_err();
        assert!(err.message.contains("kv_usage"), "{}", err.message);
        assert!(engine
            .compile("kv_cache_usage > 0.9", &["kv_cache_usage"])
            .is_ok());
    }

    #[test]
    fn division_is_float_and_mixed_comparisons_work() {
        let engine = ExprEngine::new();
        let c = engine
            .compile("a / b > 0 && a / b < 1", &["a", "b"])
            .unwrap();
        assert!(engine
            .eval_bool(&c, &[("a", 3.0.into()), ("b", 4.0.into())])
            .unwrap());
    }

    #[test]
    fn endless_loop_is_stopped_by_the_operation_limit() {
        let engine = ExprEngine::new();
        let c = engine
            .compile("let x = 0.0; loop { x += 1.0; } false", &[])
            .unwrap();
        let err = engine.eval_bool(&c, &[]).unwrap_err();
        assert!(err.message.contains("operation limit"), "{}", err.message);
    }

    #[test]
    fn lists_tables_and_unset_reach_expressions_and_come_back() {
        let engine = ExprEngine::new();
        let names = Var::from(vec!["b".to_owned(), "a".to_owned()]);
        let table = Var::Table(vec![
            ("x".to_owned(), names.clone()),
            ("on".to_owned(), Var::Bool(true)),
        ]);
        let vars = [("names", names), ("t", table), ("port", Var::Unset)];
        let c = engine
            .compile(
                r#"let l = t["x"]; l.sort(); if port == () && t["on"] { l } else { [] }"#,
                &["names", "t", "port"],
            )
            .unwrap();
        let got = Var::from_dynamic(&engine.eval(&c, &vars).unwrap());
        assert_eq!(got, Some(Var::from(vec!["a".to_owned(), "b".to_owned()])));
        let c = engine
            .compile(r#""a" in names && port != 1.0"#, &["names", "port"])
            .unwrap();
        assert!(engine.eval_bool(&c, &vars).unwrap());
        let c = engine.compile("port", &["port"]).unwrap();
        assert_eq!(
            Var::from_dynamic(&engine.eval(&c, &vars).unwrap()),
            Some(Var::Unset)
        );
    }

    #[test]
    fn eval_is_disabled() {
        let engine = ExprEngine::new();
        assert!(engine.compile("eval(\"1\")", &[]).is_err());
    }

    #[test]
    fn non_boolean_condition_is_an_error() {
        let engine = ExprEngine::new();
        let c = engine.compile("a", &["a"]).unwrap();
        assert!(engine.eval_bool(&c, &[("a", 1.0.into())]).is_err());
    }

    #[test]
    fn identifiers_skip_calls_strings_and_properties() {
        let ids = identifiers(r#"ratio(hits, queries) < min_ratio && x.y == "abc def" // z"#);
        assert_eq!(ids, vec!["hits", "queries", "min_ratio", "x"]);
    }

    #[test]
    fn variables_are_replaced_where_they_are_read_only() {
        let out = replace_variables(r#"seen && f(seen) && x.seen && "seen" == m"#, |v| {
            (v == "seen").then(|| "(a || b)".to_owned())
        });
        assert_eq!(out, r#"(a || b) && f((a || b)) && x.seen && "seen" == m"#);
    }

    #[test]
    fn same_syntax_ignores_layout_and_redundant_brackets() {
        assert!(same_syntax("(a || b) && !c", "(a ||\n   b)  && !c // note"));
        assert!(same_syntax("(a || b) || c && d", "a || b || c && d"));
        assert!(same_syntax(
            "let m = (a || b); m && x > 0.25",
            "let m = a || b; m && x > 0.25"
        ));
        assert!(!same_syntax("(a || b) && c", "a || b && c"));
        assert!(!same_syntax("x > 0.25", "x > 0.5"));
        assert!(
            !same_syntax("a && ", "a && "),
            "what does not compile is never the same"
        );
    }

    #[test]
    fn templates_render_formats() {
        let engine = ExprEngine::new();
        let t = Template::compile(
            &engine,
            "usage {u:pct}, {ratio(a, b):.2} {{literal}} {a}",
            &["u", "a", "b"],
        )
        .unwrap();
        let s = t.render(
            &engine,
            &[("u", 0.973.into()), ("a", 1.0.into()), ("b", 3.0.into())],
        );
        assert_eq!(s, "usage 97.3%, 0.33 {literal} 1");
    }

    #[test]
    fn templates_render_counts_durations_and_nested_braces() {
        let engine = ExprEngine::new();
        let t = Template::compile(
            &engine,
            "{n:count} tokens in {w:duration}; {if n == 0.0 { \"none\" } else { \"some}\" }}; {nonzero(#{a: n, b: 0.0})}",
            &["n", "w"],
        )
        .unwrap();
        let s = t.render(&engine, &[("n", 1_234_567.0.into()), ("w", 0.25.into())]);
        assert_eq!(s, "1,234,567 tokens in 250 ms; some}; a (1,234,567)");
        let s = t.render(&engine, &[("n", 0.0.into()), ("w", 120.0.into())]);
        assert_eq!(s, "0 tokens in 2 min; none; none");
    }

    #[test]
    fn template_errors_are_reported() {
        let engine = ExprEngine::new();
        assert!(Template::compile(&engine, "bad {nope}", &["u"]).is_err());
        assert!(Template::compile(&engine, "bad {u", &["u"]).is_err());
        assert!(Template::compile(&engine, "bad {u:xx}", &["u"]).is_err());
    }
}
