//! Operator context flags and `--fail-on` gates, built from the `context` packs.
//!
//! The packs are loaded before the command line is parsed (embedded packs plus
//! every `--rules DIR` found in the arguments), so a pack that declares a flag
//! gives every context-taking command that flag; the loaded registry is kept for
//! the command, which does not load it twice.

use crate::eval::compat::CompatContext;
use crate::pack::context::{self, ContextRules};
use crate::pack::model::{ContextFlagDef, ContextType, EvidenceKind};
use crate::pack::Registry;
use clap::builder::TypedValueParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The declared flags and gates, for the command line (set once per process).
static DECLARED: OnceLock<Declared> = OnceLock::new();

struct Declared {
    rules: ContextRules,
    /// `(id, --long)` of each flag; `'static` because `DECLARED` is.
    longs: Vec<(String, String)>,
}

thread_local! {
    /// The registry loaded for the command line, until the command takes it.
    static PRELOADED: RefCell<Option<(Vec<PathBuf>, Registry)>> = const { RefCell::new(None) };
}

/// Loads the packs the arguments name and declares their flags. A pack that does
/// not load leaves the embedded packs' flags; the command reports the problem.
pub fn preload(args: &[OsString]) {
    let overrides = rules_args(args);
    match Registry::load(&overrides) {
        Ok(registry) => {
            declare(&registry.context);
            PRELOADED.with(|p| *p.borrow_mut() = Some((overrides, registry)));
        }
        Err(_) => {
            if let Ok(embedded) = Registry::load(&[]) {
                declare(&embedded.context);
            }
        }
    }
}

/// The registry [`preload`] loaded for these overrides, once.
pub fn take_preloaded(overrides: &[PathBuf]) -> Option<Registry> {
    PRELOADED.with(|p| {
        let mut slot = p.borrow_mut();
        match slot.take() {
            Some((o, r)) if o == overrides => Some(r),
            other => {
                *slot = other;
                None
            }
        }
    })
}

/// Every `--rules DIR` / `--rules=DIR` before a `--`.
fn rules_args(args: &[OsString]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        } else if a == "--rules" {
            out.extend(it.next().map(|d| PathBuf::from(d.as_ref())));
        } else if let Some(d) = a.strip_prefix("--rules=") {
            out.push(PathBuf::from(d));
        }
    }
    out
}

fn declare(rules: &ContextRules) {
    let longs = rules
        .flags
        .iter()
        .map(|f| (f.id.clone(), f.id.replace('_', "-")))
        .collect();
    let _ = DECLARED.set(Declared {
        rules: rules.clone(),
        longs,
    });
}

/// The declared flags; the embedded packs' when nothing was preloaded (tests).
fn declared() -> &'static Declared {
    DECLARED.get_or_init(|| {
        let rules = Registry::load(&[]).map(|r| r.context).unwrap_or_default();
        let longs = rules
            .flags
            .iter()
            .map(|f| (f.id.clone(), f.id.replace('_', "-")))
            .collect();
        Declared { rules, longs }
    })
}

/// Context flags that take the name of a flag a command already has (a pack can
/// never take over a built-in flag): one message per clash.
pub fn clashes(cmd: &Command) -> Vec<String> {
    let ids: Vec<&str> = declared().longs.iter().map(|(_, l)| l.as_str()).collect();
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        let mut seen: Vec<&str> = cmd.get_arguments().filter_map(Arg::get_long).collect();
        for long in sub.get_arguments().filter_map(Arg::get_long) {
            if seen.contains(&long) && ids.contains(&long) {
                out.push(format!(
                    "context flag --{long} (declared by a `context` pack) is already a flag of `{}`; rename it in the pack",
                    sub.get_name()
                ));
            }
            seen.push(long);
        }
    }
    out
}

/// The `--fail-on` values: `never` and every declared gate.
pub fn gate_parser() -> clap::builder::PossibleValuesParser {
    let values: Vec<&'static str> = declared()
        .rules
        .gate_values()
        .into_iter()
        .map(|v| &*Box::leak(v.into_boxed_str()))
        .collect();
    clap::builder::PossibleValuesParser::new(values)
}

/// True when a fired finding is a failure reason for `gate` (`never`: never).
pub fn gate_failed(gate: &str, reasons: &[crate::report::FailureReason]) -> bool {
    let id = gate.replace('-', "_");
    reasons.iter().any(|r| r.fail_on.contains(&id))
}

/// The operator flags given on the command line, by flag id.
#[derive(Debug, Clone, Default)]
pub struct ContextArgs {
    given: BTreeMap<String, Value>,
}

impl clap::FromArgMatches for ContextArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = BTreeMap::new();
        let d = declared();
        for (f, (id, _)) in d.rules.flags.iter().zip(&d.longs) {
            if m.value_source(id) != Some(ValueSource::CommandLine) {
                continue;
            }
            let value = match f.ty {
                ContextType::Bool => Some(Value::Bool(m.get_flag(id))),
                _ => m.get_one::<Value>(id).cloned(),
            };
            given.extend(value.map(|v| (id.clone(), v)));
        }
        Ok(ContextArgs { given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for ContextArgs {
    fn augment_args(mut cmd: Command) -> Command {
        let d = declared();
        for (f, (id, long)) in d.rules.flags.iter().zip(&d.longs) {
            let mut arg = Arg::new(id.as_str()).long(long.as_str()).help(help_of(f));
            arg = if f.ty == ContextType::Bool {
                arg.action(ArgAction::SetTrue)
            } else {
                let flag = f.clone();
                let parse = move |s: &str| context::parse_text(&flag, s);
                let arg = arg.action(ArgAction::Set).value_parser(parse);
                match &f.value_name {
                    Some(v) => arg.value_name(v.as_str()),
                    None => arg,
                }
            };
            if f.ty == ContextType::Choice {
                let names: Vec<&'static str> = f.values.iter().map(String::as_str).collect();
                arg = arg.value_parser(
                    clap::builder::PossibleValuesParser::new(names).map(Value::String),
                );
                if let Some(d) = d.rules.flag(id).map(context::default_of) {
                    arg = arg.default_value(match d {
                        Value::String(v) => &*Box::leak(v.into_boxed_str()),
                        _ => f.values[0].as_str(),
                    });
                }
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The pack's help line without its final period (as derived help is), with the
/// default of a valued flag.
fn help_of(f: &ContextFlagDef) -> String {
    let text = f.help.trim_end().trim_end_matches('.');
    match (&f.default, f.ty) {
        (Some(d), ContextType::Integer | ContextType::Number | ContextType::String) => {
            format!("{text} (default {d})")
        }
        _ => text.to_owned(),
    }
}

impl ContextArgs {
    /// These flags over the context a packet was collected with (its manifest's
    /// `context`): a flag given here wins; one not given takes the recorded value
    /// (when it fits the flag), so `--packet DIR` alone answers as the collection did.
    pub fn over_recorded(&self, recorded: &Value) -> ContextArgs {
        let mut given = self.given.clone();
        for f in &declared().rules.flags {
            let Some(v) = recorded.get(&f.id).filter(|v| !v.is_null()) else {
                continue;
            };
            if !given.contains_key(&f.id) && context::typed(f, v).is_ok() {
                given.insert(f.id.clone(), v.clone());
            }
        }
        ContextArgs { given }
    }

    pub fn context(&self, evidence: BTreeMap<EvidenceKind, Value>) -> CompatContext {
        CompatContext {
            values: declared().rules.resolve(&self.given),
            evidence,
        }
    }

    /// What a packet records: every flag as given; one not given is null, except
    /// booleans and choices, recorded at their default.
    pub fn recorded(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for f in &declared().rules.flags {
            let value = match (self.given.get(&f.id), f.ty) {
                (Some(v), _) => v.clone(),
                (None, ContextType::Bool | ContextType::Choice) => context::default_of(f),
                (None, _) => Value::Null,
            };
            out.insert(f.id.clone(), value);
        }
        out
    }
}
