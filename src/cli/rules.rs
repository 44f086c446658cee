//! `inferguard rules …`: the maintainer commands (validate, test, list, explain,
//! schemas, diff).

use super::output::emit;
use super::{load_registry, Outcome};
use crate::eval::rule_tests::{junit, run_rule_tests};
use crate::eval::EvalOptions;
use crate::number::format_number;
use crate::pack::Registry;
use crate::report::Status;
use anyhow::{bail, Context as _};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Check packs against the schema and for meaning; every error at file:line:col.
    Validate {
        /// A pack folder or a folder of packs (default: the packs in use).
        dir: Option<PathBuf>,
    },
    /// Run every finding's own test cases.
    Test {
        /// A pack folder or a folder of packs (default: the packs in use).
        dir: Option<PathBuf>,
        /// Also write JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// List packs, engines and findings.
    List,
    /// Show a finding's documentation; with evidence, every value it reads.
    Explain {
        code: String,
        /// A scrape file or a folder of scrapes.
        #[arg(long, value_name = "FILE|DIR")]
        evidence: Option<String>,
        /// Force the engine, as `check --engine` does.
        #[arg(long)]
        engine: Option<String>,
    },
    /// Classify the change from one pack tree to another as major, minor or patch
    /// (`--check`: exit 1 when a pack.yaml version bump is smaller than needed).
    Diff {
        /// The packs before (a pack folder or a folder of packs).
        old: PathBuf,
        /// The packs after.
        new: PathBuf,
        #[arg(long)]
        check: bool,
    },
    /// Write the JSON Schemas generated from the code (`--check`: fail when stale).
    Schemas {
        #[arg(long, value_name = "DIR", default_value = "schemas")]
        out: PathBuf,
        #[arg(long)]
        check: bool,
    },
}

pub fn run(rules: &[PathBuf], cmd: RulesCommand) -> anyhow::Result<Outcome> {
    match cmd {
        RulesCommand::Validate { dir } => validate(rules, dir.as_deref()),
        RulesCommand::Test { dir, junit } => test(rules, dir.as_deref(), junit.as_deref()),
        RulesCommand::List => list(rules),
        RulesCommand::Explain {
            code,
            evidence,
            engine,
        } => explain(rules, &code, evidence.as_deref(), engine),
        RulesCommand::Schemas { out, check } => schemas(&out, check),
        RulesCommand::Diff { old, new, check } => diff(&old, &new, check),
    }
}

/// The registry plus the pack ids a command should look at.
fn registry_for(rules: &[PathBuf], dir: Option<&Path>) -> anyhow::Result<(Registry, Vec<String>)> {
    match dir {
        None => Ok((super::load_registry_strict(rules)?, Vec::new())),
        Some(d) => Registry::load_dir_over_embedded(d).map_err(|e| {
            for diag in &e.0 {
                eprintln!("{}", crate::redact::line(&diag.to_string()));
            }
            anyhow::anyhow!(
                "{}: {} problem(s) in rule packs (listed above)",
                d.display(),
                e.0.len()
            )
        }),
    }
}

fn validate(rules: &[PathBuf], dir: Option<&Path>) -> anyhow::Result<Outcome> {
    let (registry, selected) = registry_for(rules, dir)?;
    let packs: Vec<_> = registry
        .packs
        .iter()
        .filter(|p| selected.is_empty() || selected.contains(&p.manifest.id))
        .collect();
    let findings = registry
        .findings
        .iter()
        .filter(|f| selected.is_empty() || selected.contains(&f.pack))
        .count();
    let engines = registry
        .engines
        .iter()
        .filter(|e| selected.is_empty() || selected.contains(&e.pack))
        .count();
    emit(
        &format!(
            "ok: {} pack(s), {engines} engine(s), {findings} finding(s) valid\n",
            packs.len()
        ),
        None,
    )?;
    Ok(Outcome::Ok)
}

fn test(
    rules: &[PathBuf],
    dir: Option<&Path>,
    junit_out: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let (registry, selected) = registry_for(rules, dir)?;
    let results = run_rule_tests(&registry, &selected);
    let mut text = String::new();
    for r in &results {
        let case = r.case.as_deref().unwrap_or("(rule)");
        match &r.failure {
            None => {
                let _ = writeln!(text, "ok    {} :: {case}", r.code);
            }
            Some(f) => {
                let _ = writeln!(
                    text,
                    "FAIL  {} :: {case}\n      {}: {f}",
                    r.code, r.location
                );
            }
        }
    }
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    let _ = writeln!(text, "{} passed, {failed} failed", results.len() - failed);
    emit(&text, None)?;
    if let Some(path) = junit_out {
        crate::packet::write_atomic(path, junit(&results).as_bytes())
            .with_context(|| format!("{}: cannot write JUnit report", path.display()))?;
    }
    Ok(if failed == 0 && !results.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn list(rules: &[PathBuf]) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let mut text = String::from("packs:\n");
    for p in &registry.packs {
        let _ = writeln!(
            text,
            "  {:<12} {:<8} {:<10} {}",
            p.manifest.id,
            p.manifest.version,
            p.origin,
            p.manifest.description.trim()
        );
    }
    text.push_str("engines:\n");
    for e in &registry.engines {
        let _ = writeln!(
            text,
            "  {:<20} {:<30} {:<16} {:>3} signal(s)  [{}]",
            e.def.id,
            e.def.name,
            serde_json::to_value(e.def.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            e.signals.len(),
            e.file
        );
    }
    text.push_str("findings:\n");
    for f in &registry.findings {
        let engines = if f.def.engines.is_empty() {
            "any".to_owned()
        } else {
            f.def.engines.join(",")
        };
        let _ = writeln!(
            text,
            "  {:<34} {:<8} {:<32} {:<10} {}",
            f.def.code,
            f.def.severity.as_str(),
            f.def.evidence_level.as_str(),
            engines,
            f.def.title
        );
    }
    emit(&text, None)?;
    Ok(Outcome::Ok)
}

fn explain(
    rules: &[PathBuf],
    code: &str,
    evidence: Option<&str>,
    engine: Option<String>,
) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let Some(rule) = registry.finding(code) else {
        let codes: Vec<&str> = registry
            .findings
            .iter()
            .map(|f| f.def.code.as_str())
            .collect();
        bail!(
            "no finding with code `{code}` (known: {})",
            codes.join(", ")
        );
    };
    let d = &rule.def;
    let mut text = String::new();
    let _ = writeln!(text, "{} — {}", d.code, d.title);
    let _ = writeln!(
        text,
        "severity: {}   evidence level: {}   pack: {} ({}:{})",
        d.severity.as_str(),
        d.evidence_level.as_str(),
        rule.pack,
        rule.file,
        rule.pos
    );
    if !d.engines.is_empty() {
        let _ = writeln!(text, "engines: {}", d.engines.join(", "));
    }
    if !rule.required.is_empty() {
        let _ = writeln!(text, "requires: {}", rule.required.join(", "));
    }
    for (k, v) in &d.params {
        let _ = writeln!(text, "param: {k} = {}", format_number(*v));
    }
    for (k, list) in &d.patterns {
        let _ = writeln!(text, "patterns: {k} = {}", list.join(", "));
    }
    let _ = writeln!(text, "when: {}", d.when.trim());
    for (id, expanded) in &rule.conditions {
        let _ = writeln!(text, "  condition {id} = {expanded}");
    }
    let _ = writeln!(text, "message: {}", d.message.trim());
    let _ = writeln!(text, "remediation: {}\n", d.remediation.trim());
    let _ = writeln!(text, "{}", d.docs.trim());
    if let Some(path) = evidence {
        let engine = engine.filter(|e| e != "auto");
        let read = crate::packet::read_inputs(&[path.to_owned()])?;
        read.warnings.iter().for_each(|w| super::output::warn(w));
        let evaluation = super::evaluate(
            &registry,
            read.scrapes,
            // As `check` reads it: an HTML page or an error text is a scrape.
            &super::DeploymentArgs {
                text_bodies: true,
                ..Default::default()
            },
            &EvalOptions {
                forced_engine: engine.clone(),
                as_deployment: true,
                ..Default::default()
            },
        )?;
        let input = path;
        {
            let report = evaluation.deployment;
            let _ = writeln!(text, "\nevidence {input}:");
            let outcomes: Vec<_> = report
                .findings
                .iter()
                .filter(|f| f.code == d.code)
                .collect();
            if outcomes.is_empty() {
                let _ = writeln!(
                    text,
                    "  not applicable: none of its engines ({}) detected",
                    d.engines.join(", ")
                );
            }
            for o in outcomes {
                if let Some(e) = &o.engine {
                    let _ = writeln!(text, "  engine {e}:");
                }
                let mut vars: Vec<(&str, crate::expr::Var)> = Vec::new();
                for item in &o.evidence {
                    let value = match (item.value, &item.text) {
                        (Some(v), _) => format_number(v),
                        (None, Some(t)) => t.clone(),
                        (None, None) => "missing".to_owned(),
                    };
                    let source = match (&item.family, item.line) {
                        (Some(f), _) if item.absent_as_zero => {
                            format!("  ({f} absent while its siblings move: none recorded)")
                        }
                        (Some(f), Some(l)) if l > 0 => format!("  from {f} (line {l})"),
                        (Some(f), _) => format!("  from {f}"),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        text,
                        "    {:<8} {} = {value}{source}",
                        item.kind, item.variable
                    );
                    if let Some(v) = item.value {
                        vars.push((item.variable.as_str(), v.into()));
                    }
                }
                if !matches!(o.status, Status::NotEvaluable | Status::NotApplicable) {
                    for part in top_level_terms(&d.when) {
                        let known: Vec<&str> = vars.iter().map(|v| v.0).collect();
                        let expanded = registry.expand_conditions(&rule.pack, part);
                        if let Ok(c) = registry.expr.compile(&expanded, &known) {
                            let shown = registry.expr.eval(&c, &vars).map_or_else(
                                |e| format!("error: {}", e.message),
                                |v| v.to_string(),
                            );
                            let _ = writeln!(text, "    term     {} => {shown}", part.trim());
                        }
                    }
                }
                let detail = match o.status {
                    Status::Fired => format!(": {}", o.message.as_deref().unwrap_or("")),
                    Status::NotEvaluable => match &o.reason {
                        Some(r) => format!(": {r} ({})", o.missing.join(", ")),
                        None => format!(": missing {}", o.missing.join(", ")),
                    },
                    Status::Errored => format!(": {}", o.error.as_deref().unwrap_or("")),
                    Status::NotApplicable => format!(": {}", o.reason.as_deref().unwrap_or("")),
                    Status::Passed => String::new(),
                };
                let _ = writeln!(text, "    result   {}{detail}", o.status.as_str());
            }
        }
    }
    emit(&text, None)?;
    Ok(Outcome::Ok)
}

/// The operands of top-level `&&` / `||` in an expression (outside brackets and
/// strings), so explain can show which part decided.
fn top_level_terms(src: &str) -> Vec<&str> {
    let bytes = src.as_bytes();
    let (mut depth, mut start, mut i) = (0i32, 0usize, 0usize);
    let mut terms = Vec::new();
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'`' | b'\'' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b'&' | b'|' if depth == 0 && bytes.get(i + 1) == Some(&c) => {
                    terms.push(&src[start..i]);
                    start = i + 2;
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    if terms.is_empty() {
        return Vec::new();
    }
    terms.push(&src[start..]);
    terms
}

/// `(file name, generated content)` of every schema the tool publishes.
pub fn generated_schemas() -> Vec<(&'static str, String)> {
    let pretty = |v: serde_json::Value| {
        let mut s = serde_json::to_string_pretty(&v).expect("schemas serialize");
        s.push('\n');
        s
    };
    let mut out = vec![
        (
            "rule-pack.schema.json",
            pretty(crate::pack::schema::rule_pack_schema()),
        ),
        (
            "check-report.schema.json",
            pretty(crate::report::check_report_schema()),
        ),
        (
            "path-trace-report.schema.json",
            pretty(crate::report::path_trace_report_schema()),
        ),
        (
            const_format::concatcp!(crate::pack::names::CACHE, "-compat-report.schema.json"),
            pretty(crate::report::compat_report_schema()),
        ),
        (
            "metrics-summary.schema.json",
            pretty(crate::summary::output::summary_schema()),
        ),
        (
            "packet-manifest.schema.json",
            pretty(crate::pack::pointers::written_schema::<
                crate::packet::manifest::PacketManifest<
                    crate::report::ToolInfo,
                    crate::report::CompatSummary,
                >,
            >()),
        ),
    ];
    // Evidence documents, which packs read by JSON pointer (checked at load
    // against these schemas, see `pack::pointers`).
    out.extend(crate::pack::pointers::EVIDENCE_KINDS.map(|kind| {
        (
            crate::pack::pointers::schema_file(kind),
            pretty(crate::pack::pointers::evidence_schema(kind)),
        )
    }));
    out
}

fn diff(old: &Path, new: &Path, check: bool) -> anyhow::Result<Outcome> {
    let packs = crate::pack::diff::diff_trees(old, new).map_err(anyhow::Error::msg)?;
    let mut text = String::new();
    let mut short = Vec::new();
    for p in packs.iter().filter(|p| p.required().is_some()) {
        let enough = diff_pack_header(&mut text, p);
        if !enough {
            short.push(p.id.clone());
        }
        for c in &p.changes {
            let _ = writeln!(text, "  {:<5}  {}: {}", c.class.as_str(), c.item, c.what);
        }
    }
    let overall = packs.iter().filter_map(|p| p.required()).max();
    let _ = match overall {
        Some(c) => writeln!(text, "smallest bump that fits: {}", c.as_str()),
        None => writeln!(text, "no change"),
    };
    if check && !short.is_empty() {
        let _ = writeln!(text, "version bump too small: {}", short.join(", "));
    }
    emit(&text, None)?;
    Ok(if check && !short.is_empty() {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// `pack <id> 0.1.0 -> 0.1.0: needs minor (0.1.1), bumped: none`; whether the
/// bump is big enough.
fn diff_pack_header(text: &mut String, p: &crate::pack::diff::PackDiff) -> bool {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let required = p.required();
    let (bumped, enough) = match p.bumped() {
        Ok(b) => (b.map_or("none", |c| c.as_str()).to_owned(), b >= required),
        Err(e) => (e, false),
    };
    let need = required.map_or("nothing", |c| c.as_str());
    let suggested = p.suggested().map(|v| format!(" ({v})")).unwrap_or_default();
    let _ = writeln!(
        text,
        "pack {} {} -> {}: needs {need}{suggested}, bumped: {bumped}{}",
        p.id,
        show(&p.old_version),
        show(&p.new_version),
        if enough { "" } else { "  <- too small" }
    );
    enough
}

fn schemas(out: &Path, check: bool) -> anyhow::Result<Outcome> {
    let mut stale = Vec::new();
    for (name, content) in generated_schemas() {
        let path = out.join(name);
        if check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != content {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::create_dir_all(out)
                .with_context(|| format!("{}: cannot create", out.display()))?;
            crate::packet::write_atomic(&path, content.as_bytes())
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale schema(s): {}; run `inferguard rules schemas --out {}`",
            stale.join(", "),
            out.display()
        );
    }
    emit(
        &format!(
            "schemas {} in {}\n",
            if check { "up to date" } else { "written" },
            out.display()
        ),
        None,
    )?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::top_level_terms;

    #[test]
    fn splits_only_top_level_operators() {
        assert_eq!(
            top_level_terms("a > 1 && (b || c) || d"),
            vec!["a > 1 ", " (b || c) ", " d"]
        );
        assert!(top_level_terms("a > 1").is_empty());
        assert_eq!(
            top_level_terms("x == \"&&\" && y"),
            vec!["x == \"&&\" ", " y"]
        );
    }
}
