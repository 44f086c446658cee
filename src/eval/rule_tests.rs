//! Runs the test cases every finding carries (`tests:` with `fires` / `quiet` /
//! `not_evaluable`), for `rules test` and for `cargo test`.
//!
//! A `quiet` case must evaluate and pass: a rule that is quiet only because its
//! signals are missing has not been tested.

use super::EvalOptions;
use crate::evidence::{Input, Origin};
use crate::pack::model::{Expect, Scope};
use crate::pack::{FindingRule, Registry};
use crate::report::{FindingOutcome, Status};
use std::fmt::Write as _;

/// The result of one case, or of a rule-level check (`case` is then `None`).
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub pack: String,
    pub code: String,
    /// `file:line:col` of the case (or of the rule).
    pub location: String,
    pub case: Option<String>,
    /// `None` when it passed; otherwise why it failed.
    pub failure: Option<String>,
}

/// Runs every case of every finding in the given packs (all packs when empty).
pub fn run_rule_tests(registry: &Registry, packs: &[String]) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for rule in &registry.findings {
        if !packs.is_empty() && !packs.contains(&rule.pack) {
            continue;
        }
        let location = format!("{}:{}", rule.file, rule.pos);
        for needed in [Expect::Fires, Expect::Quiet] {
            if !rule.def.tests.iter().any(|t| t.expect == needed) {
                out.push(CaseResult {
                    pack: rule.pack.clone(),
                    code: rule.def.code.clone(),
                    location: location.clone(),
                    case: None,
                    failure: Some(format!("rule has no `{}` test case; every finding needs one `fires` and one `quiet` case", needed.as_str())),
                });
            }
        }
        for (i, case) in rule.def.tests.iter().enumerate() {
            let pos = rule.test_pos.get(i).copied().unwrap_or(rule.pos);
            out.push(CaseResult {
                pack: rule.pack.clone(),
                code: rule.def.code.clone(),
                location: format!("{}:{}", rule.file, pos),
                case: Some(case.name.clone()),
                failure: run_case(registry, rule, i).err(),
            });
        }
    }
    out
}

/// The scrapes of a case: `scrapes` at their times, each of its `endpoint` (one
/// endpoint when they name none), or the one `prom`/`fixture`. The deployment
/// model groups them into endpoints as it groups real inputs.
fn case_inputs(registry: &Registry, rule: &FindingRule, i: usize) -> Result<Vec<Input>, String> {
    let case = &rule.def.tests[i];
    let read = |prom: &Option<String>, fixture: &Option<String>| match (prom, fixture) {
        (Some(t), _) => Ok(t.clone()),
        (None, Some(path)) => registry.read_fixture(rule, path),
        (None, None) => Err("case has neither `prom` nor `fixture`".to_owned()),
    };
    let input = |n: usize,
                 text: String,
                 fixture: &Option<String>,
                 at: Option<f64>,
                 endpoint: &Option<String>| Input {
        source: format!("{}#{n}", fixture.as_deref().unwrap_or("inline")),
        endpoint: case.name.clone(),
        bytes: text.into_bytes(),
        origin: Origin {
            row_time: at,
            row_endpoint: Some(endpoint.clone().unwrap_or_else(|| "case".to_owned())),
            ..Origin::default()
        },
    };
    if case.scrapes.is_empty() {
        return Ok(vec![input(
            0,
            read(&case.prom, &case.fixture)?,
            &case.fixture,
            None,
            &None,
        )]);
    }
    if case.prom.is_some() || case.fixture.is_some() {
        return Err("case has `scrapes` and also `prom`/`fixture`; give one".to_owned());
    }
    case.scrapes
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let text = read(&s.prom, &s.fixture)?;
            Ok(input(n, text, &s.fixture, Some(s.at), &s.endpoint))
        })
        .collect()
}

fn run_case(registry: &Registry, rule: &FindingRule, i: usize) -> Result<(), String> {
    let case = &rule.def.tests[i];
    let inputs = case_inputs(registry, rule, i)?;
    let mut options = EvalOptions {
        forced_engine: case.engine.clone(),
        ..Default::default()
    };
    if let Some(ctx) = &case.context {
        let mut evidence = std::collections::BTreeMap::new();
        for (kind, path) in &ctx.evidence {
            let text = registry.read_fixture(rule, path)?;
            let doc: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("evidence fixture {path}: {e}"))?;
            evidence.insert(*kind, doc);
        }
        options.compat = super::compat::CompatContext::from_case(registry, ctx, evidence);
    }
    let build = crate::deployment::BuildOptions {
        text_bodies: true,
        ..Default::default()
    };
    let deployment = crate::deployment::build(inputs, &build);
    let evaluation = super::pipeline::evaluate(registry, &deployment, &options);
    let outcomes = outcomes_of(rule, &evaluation);
    if outcomes.is_empty() {
        return Err(format!(
            "rule was not evaluated: none of its engines ({}) was detected",
            rule.def.engines.join(", ")
        ));
    }
    let describe = || {
        let mut s = String::new();
        for (endpoint, o) in &outcomes {
            if !s.is_empty() {
                s.push_str("; ");
            }
            if let Some(e) = endpoint.filter(|_| outcomes.len() > 1) {
                let _ = write!(s, "{e}: ");
            }
            let _ = write!(s, "{}", o.status.as_str());
            if !o.missing.is_empty() {
                let _ = write!(s, " (missing {})", o.missing.join(", "));
            }
            if let Some(r) = &o.reason {
                let _ = write!(s, " ({r})");
            }
            if let Some(e) = &o.error {
                let _ = write!(s, " ({e})");
            }
            let values: Vec<String> = o
                .evidence
                .iter()
                .filter_map(|e| {
                    e.value
                        .map(|v| format!("{}={}", e.variable, crate::number::format_number(v)))
                })
                .collect();
            if !values.is_empty() {
                let _ = write!(s, " with {}", values.join(", "));
            }
        }
        s
    };
    let status = |s: Status| outcomes.iter().map(move |(_, o)| o.status == s);
    let ok = match case.expect {
        Expect::Fires => status(Status::Fired).any(|b| b),
        Expect::Quiet => status(Status::Passed).all(|b| b),
        Expect::NotEvaluable => status(Status::NotEvaluable).all(|b| b),
        Expect::NotApplicable => status(Status::NotApplicable).all(|b| b),
    };
    if !ok {
        return Err(format!(
            "expected {}, got {}",
            case.expect.as_str(),
            describe()
        ));
    }
    if !case.endpoints.is_empty() {
        let mut fired: Vec<&str> = outcomes
            .iter()
            .filter(|(_, o)| o.status == Status::Fired)
            .filter_map(|(e, _)| *e)
            .collect();
        fired.dedup();
        let mut want: Vec<&str> = case.endpoints.iter().map(String::as_str).collect();
        want.sort_unstable();
        want.dedup();
        if fired != want {
            return Err(format!(
                "expected to fire on {}, fired on {}: {}",
                want.join(", "),
                fired.join(", "),
                describe()
            ));
        }
    }
    Ok(())
}

/// The rule's outcomes, as `check` reports them: a deployment-scope finding once
/// for the deployment, an endpoint-scope one on each endpoint (named).
fn outcomes_of<'e>(
    rule: &FindingRule,
    evaluation: &'e super::pipeline::Evaluation,
) -> Vec<(Option<&'e str>, &'e FindingOutcome)> {
    let mine = |f: &&FindingOutcome| f.code == rule.def.code;
    match rule.def.scope {
        Scope::Deployment => evaluation
            .deployment
            .findings
            .iter()
            .filter(mine)
            .map(|f| (None, f))
            .collect(),
        Scope::Endpoint => evaluation
            .endpoints
            .iter()
            .flat_map(|e| {
                let id = e.report.endpoint.as_str();
                e.report
                    .findings
                    .iter()
                    .filter(mine)
                    .map(move |f| (Some(id), f))
            })
            .collect(),
    }
}

/// JUnit XML for CI: one suite per pack, one case per rule case.
pub fn junit(results: &[CaseResult]) -> String {
    let mut packs: Vec<&str> = results.iter().map(|r| r.pack.as_str()).collect();
    packs.sort_unstable();
    packs.dedup();
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"inferguard rules\">\n",
    );
    for pack in packs {
        let cases: Vec<_> = results.iter().filter(|r| r.pack == pack).collect();
        let failures = cases.iter().filter(|r| r.failure.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            xml(pack),
            cases.len()
        );
        for r in cases {
            let name = format!(
                "{}: {}",
                r.code,
                r.case.as_deref().unwrap_or("rule has its cases")
            );
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
                xml(pack),
                xml(&name),
                xml(&r.location)
            );
            match &r.failure {
                None => out.push_str("/>\n"),
                Some(f) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(f),
                        xml(&r.location)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
