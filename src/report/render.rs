//! Human and Markdown renderings of the check report. They read outcomes only.

use super::{CheckReport, EndpointReport, FindingOutcome, Status};
use crate::number::format_number;
use crate::pack::names::{CACHE, CACHE_TITLE};
use std::fmt::Write as _;

/// Terminal text: what is running, what fired, what could not be evaluated.
pub fn human(report: &CheckReport, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for input in &report.inputs {
        if input.dropped_lines > 0 {
            let first = input
                .dropped
                .first()
                .map(|d| format!(" (first: line {}: {})", d.line, d.reason))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{}: {} line(s) dropped{first}",
                input.source, input.dropped_lines
            );
        }
    }
    for ep in &report.endpoints {
        let _ = writeln!(out, "{}", paint("1", &format!("endpoint {}", ep.endpoint)));
        let _ = writeln!(out, "  scrapes:  {}", scrapes_line(ep));
        let _ = writeln!(out, "  running:  {}", engines_line(ep));
        let fired = fired_in_order(&ep.findings);
        if fired.is_empty() {
            let _ = writeln!(out, "  findings: none fired");
        }
        for f in fired {
            let sev = f.severity.as_str();
            let tag = match sev {
                "critical" => paint("31;1", sev),
                "warning" => paint("33;1", sev),
                _ => paint("36", sev),
            };
            let engine = f
                .engine
                .as_deref()
                .map(|e| format!(" [{e}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {tag:<8} {}{engine}: {}{}",
                f.code,
                f.message.as_deref().unwrap_or(""),
                follows_from(f)
            );
            if let Some(r) = &f.remediation {
                let _ = writeln!(out, "           next: {}", one_line(r));
            }
        }
        let not_eval: Vec<_> = ep
            .findings
            .iter()
            .filter(|f| f.status == Status::NotEvaluable)
            .collect();
        if !not_eval.is_empty() {
            let _ = writeln!(out, "  not evaluable ({}):", not_eval.len());
            for f in not_eval {
                let _ = writeln!(out, "    {} — {}", f.code, not_evaluable_detail(f));
            }
        }
        for f in ep.findings.iter().filter(|f| f.status == Status::Errored) {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint("31", "errored"),
                f.code,
                f.error.as_deref().unwrap_or("")
            );
        }
    }
    let d = &report.deployment;
    let fired = fired_in_order(&d.findings);
    if d.detected_mode != "unknown" || !fired.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                "1",
                &format!(
                    "deployment: {CACHE_TITLE} mode {}, architecture {} ({})",
                    d.detected_mode, d.architecture.label, d.architecture.claim_status
                )
            )
        );
        for f in fired {
            let _ = writeln!(
                out,
                "  {:<8} {}: {}{}",
                f.severity.as_str(),
                f.code,
                f.message.as_deref().unwrap_or(""),
                follows_from(f)
            );
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "summary: endpoints={} critical={} warning={} info={} not_evaluable={} errored={} unidentified={}",
        s.endpoints,
        s.fired.get("critical").copied().unwrap_or(0),
        s.fired.get("warning").copied().unwrap_or(0),
        s.fired.get("info").copied().unwrap_or(0),
        s.not_evaluable,
        s.errored,
        s.unidentified
    );
    out
}

/// Fired findings, causes first: by severity (highest first) and code, each
/// followed by the findings it explains; a finding others explain is listed under
/// its cause, not on its own.
fn fired_in_order(findings: &[FindingOutcome]) -> Vec<&FindingOutcome> {
    let mut fired: Vec<_> = findings
        .iter()
        .filter(|f| f.status == Status::Fired)
        .collect();
    fired.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.code.cmp(&b.code))
    });
    let mut placed = vec![false; fired.len()];
    let mut out = Vec::with_capacity(fired.len());
    for i in 0..fired.len() {
        if fired[i].explained_by.is_empty() {
            place(i, &fired, &mut placed, &mut out);
        }
    }
    // Findings that only explain each other (a cycle) keep their order.
    for i in 0..fired.len() {
        place(i, &fired, &mut placed, &mut out);
    }
    out
}

/// Puts `fired[i]` and then, depth first, the findings it explains.
fn place<'a>(
    i: usize,
    fired: &[&'a FindingOutcome],
    placed: &mut [bool],
    out: &mut Vec<&'a FindingOutcome>,
) {
    if placed[i] {
        return;
    }
    placed[i] = true;
    out.push(fired[i]);
    for j in 0..fired.len() {
        if fired[j].explained_by.contains(&fired[i].code) {
            place(j, fired, placed, out);
        }
    }
}

/// ` (follows from a, b)` for a finding others explain, else nothing.
fn follows_from(f: &FindingOutcome) -> String {
    if f.explained_by.is_empty() {
        String::new()
    } else {
        format!(" (follows from {})", f.explained_by.join(", "))
    }
}

fn engines_line(ep: &EndpointReport) -> String {
    if ep.engine_unidentified && ep.engines.iter().all(|e| !e.forced) {
        return "engine_unidentified (no serving-system metrics recognised)".to_owned();
    }
    ep.engines
        .iter()
        .map(|e| {
            let how = if e.forced { ", forced" } else { "" };
            format!("{} ({:.2}{how})", e.name, e.confidence)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn md_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// Markdown: a table of findings per endpoint.
pub fn markdown(report: &CheckReport) -> String {
    let mut out = String::from("# inferguard check\n\n");
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} endpoint(s); fired: {} critical, {} warning, {} info; {} not evaluable; {} errored.\n",
        s.endpoints,
        s.fired.get("critical").copied().unwrap_or(0),
        s.fired.get("warning").copied().unwrap_or(0),
        s.fired.get("info").copied().unwrap_or(0),
        s.not_evaluable,
        s.errored
    );
    let d = &report.deployment;
    let _ = writeln!(
        out,
        "Deployment: {CACHE_TITLE} mode {}, architecture {} ({}).\n",
        d.detected_mode, d.architecture.label, d.architecture.claim_status
    );
    for f in fired_in_order(&d.findings) {
        let _ = writeln!(
            out,
            "- {} `{}`: {}{}",
            f.severity.as_str(),
            f.code,
            md_cell(f.message.as_deref().unwrap_or("")),
            follows_from(f)
        );
    }
    out.push('\n');
    for ep in &report.endpoints {
        let _ = writeln!(out, "## {}\n", md_cell(&ep.endpoint));
        let _ = writeln!(out, "Scrapes: {}\n", md_cell(&scrapes_line(ep)));
        let _ = writeln!(out, "Running: {}\n", md_cell(&engines_line(ep)));
        out.push_str("| status | severity | code | engine | detail |\n|---|---|---|---|---|\n");
        for f in &ep.findings {
            let detail = match f.status {
                Status::Fired => f.message.clone().unwrap_or_default(),
                Status::NotEvaluable => not_evaluable_detail(f),
                Status::Errored => f.error.clone().unwrap_or_default(),
                Status::NotApplicable => f.reason.clone().unwrap_or_default(),
                Status::Passed => f
                    .evidence
                    .iter()
                    .filter_map(|e| {
                        let absent = if e.absent_as_zero {
                            " (none recorded)"
                        } else {
                            ""
                        };
                        e.value
                            .map(|v| format!("{}={}{absent}", e.variable, format_number(v)))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} |",
                f.status.as_str(),
                f.severity.as_str(),
                f.code,
                f.engine.as_deref().unwrap_or("-"),
                md_cell(&detail)
            );
        }
        out.push('\n');
    }
    out
}

/// Terminal text for path-trace: one block per endpoint, one line per system.
pub fn path_trace_human(report: &super::PathTraceReport) -> String {
    let mut out = String::new();
    for ep in &report.endpoints {
        let _ = writeln!(
            out,
            "endpoint {}  support={}",
            ep.endpoint,
            ep.support_level.as_str()
        );
        if ep.engine_unidentified {
            let _ = writeln!(
                out,
                "  engine_unidentified: no serving-system metrics recognised"
            );
        }
        for s in &ep.systems {
            let forced = if s.forced { ", forced" } else { "" };
            let _ = writeln!(
                out,
                "  {:<30} {:<16} {:.2}{forced}  {}",
                s.name,
                role_str(s.role),
                s.confidence,
                s.support_level.as_str()
            );
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    v.join(", ")
                }
            };
            let _ = writeln!(
                out,
                "      ttft: {}   tpot: {}",
                list(&s.ttft_sources),
                list(&s.tpot_sources)
            );
            if !s.identity_labels.is_empty() || !s.session_labels.is_empty() {
                let _ = writeln!(
                    out,
                    "      identity labels: {}   session labels: {}",
                    list(&s.identity_labels),
                    list(&s.session_labels)
                );
            }
            for c in &s.connectors {
                let _ = writeln!(
                    out,
                    "      connector: {}={} (on {})",
                    c.label, c.value, c.family
                );
            }
        }
        for f in &ep.findings {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                f.severity.as_str(),
                f.code,
                f.message.as_deref().unwrap_or("")
            );
        }
    }
    let s = &report.summary;
    let levels: Vec<String> = s
        .support_levels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "summary: endpoints={} unidentified={} {}",
        s.endpoints,
        s.unidentified,
        levels.join(" ")
    );
    out
}

/// Markdown for path-trace: one table row per system.
pub fn path_trace_markdown(report: &super::PathTraceReport) -> String {
    let mut out = String::from("# inferguard path-trace\n\n| endpoint | system | role | confidence | support | TTFT source | TPOT source | connector |\n|---|---|---|---|---|---|---|---|\n");
    for ep in &report.endpoints {
        if ep.systems.is_empty() {
            let _ = writeln!(
                out,
                "| {} | engine_unidentified | - | - | {} | - | - | - |",
                md_cell(&ep.endpoint),
                ep.support_level.as_str()
            );
        }
        for s in &ep.systems {
            let connectors: Vec<String> = s
                .connectors
                .iter()
                .map(|c| format!("{}={}", c.label, c.value))
                .collect();
            let dash = |v: String| if v.is_empty() { "-".to_owned() } else { v };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {} | {} | {} | {} |",
                md_cell(&ep.endpoint),
                md_cell(&s.name),
                role_str(s.role),
                s.confidence,
                s.support_level.as_str(),
                dash(md_cell(&s.ttft_sources.join(", "))),
                dash(md_cell(&s.tpot_sources.join(", "))),
                dash(md_cell(&connectors.join(", ")))
            );
        }
    }
    out
}

fn role_str(role: crate::pack::model::SystemRole) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Terminal text for lmcache-compat: one row per surface, failures and fired
/// findings, and a one-line summary.
pub fn compat_human(report: &super::CompatReport) -> String {
    let a = &report.analysis;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<15} families (populated/zero/missing/n.a.)",
        "surface", "status"
    );
    for s in &a.surfaces {
        let count =
            |st: super::compat::FamilyStatus| s.families.iter().filter(|f| f.status == st).count();
        use super::compat::FamilyStatus as F;
        let _ = writeln!(
            out,
            "{:<22} {:<15} {}/{}/{}/{}",
            s.id,
            s.status.as_str(),
            count(F::Populated),
            count(F::Zero),
            count(F::Missing),
            count(F::NotApplicable)
        );
    }
    let evidence: Vec<String> = a
        .evidence_surfaces
        .iter()
        .filter(|e| e.status != super::compat::FamilyStatus::Missing)
        .map(|e| format!("{}={}", e.kind, e.status.as_str()))
        .collect();
    if !evidence.is_empty() {
        let _ = writeln!(out, "evidence: {}", evidence.join(" "));
    }
    let _ = writeln!(
        out,
        "architecture: {} ({})",
        a.architecture.label, a.architecture.claim_status
    );
    if !a.candidates.is_empty() {
        let c: Vec<String> = a
            .candidates
            .iter()
            .map(|c| format!("{} [{}]", c.candidate, c.evidence.join(", ")))
            .collect();
        let _ = writeln!(out, "candidates: {}", c.join("; "));
    }
    if a.no_traffic_yet {
        let _ = writeln!(
            out,
            "no traffic observed yet: the MP server exports only its boot-time series"
        );
    }
    for f in &report.failure_reasons {
        let _ = writeln!(out, "FAIL {}: {}", f.code, f.message);
    }
    for f in report
        .findings
        .iter()
        .filter(|f| f.status == Status::Fired && f.fail_on.is_empty())
    {
        let _ = writeln!(
            out,
            "{} {}: {}",
            f.severity.as_str(),
            f.code,
            f.message.as_deref().unwrap_or("")
        );
    }
    if !a.unmapped_series.is_empty() {
        let _ = writeln!(
            out,
            "unmapped {CACHE_TITLE} series: {} (first: {} → add a family in {})",
            a.unmapped_series.len(),
            a.unmapped_series[0].name,
            a.unmapped_series[0].suggested_pack_file
        );
    }
    let _ = writeln!(
        out,
        "detected_mode={} expect_mode={} failure_reasons={} findings={} unmapped={}",
        a.detected_mode,
        a.expected_mode,
        report.failure_reasons.len(),
        report.summary.findings_fired,
        a.unmapped_series.len()
    );
    out
}

/// Markdown for lmcache-compat: surfaces, families, failures and findings.
pub fn compat_markdown(report: &super::CompatReport) -> String {
    let a = &report.analysis;
    let mut out = format!("# inferguard {CACHE}-compat\n\n");
    let _ = writeln!(
        out,
        "Detected mode **{}** (expected {}), architecture **{}** ({}).\n",
        a.detected_mode, a.expected_mode, a.architecture.label, a.architecture.claim_status
    );
    out.push_str(
        "| surface | family | status | required | spelling | series |\n|---|---|---|---|---|---|\n",
    );
    for s in &a.surfaces {
        for f in &s.families {
            let spelling = f
                .spelling
                .map_or("-".to_owned(), |sp| format!("{sp:?}").to_lowercase());
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {} | {} | {} |",
                s.id,
                s.status.as_str(),
                f.id,
                f.status.as_str(),
                if f.required { "yes" } else { "no" },
                spelling,
                f.series
            );
        }
    }
    if !report.failure_reasons.is_empty() {
        out.push_str("\n## Failure reasons\n\n");
        for f in &report.failure_reasons {
            let _ = writeln!(out, "- `{}`: {}", f.code, md_cell(&f.message));
        }
    }
    let fired: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Fired)
        .collect();
    if !fired.is_empty() {
        out.push_str(
            "\n## Findings\n\n| severity | code | evidence level | message |\n|---|---|---|---|\n",
        );
        for f in fired {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                f.severity.as_str(),
                f.code,
                f.evidence_level.as_str(),
                md_cell(f.message.as_deref().unwrap_or(""))
            );
        }
    }
    if !a.unmapped_series.is_empty() {
        out.push_str(&format!("\n## Unmapped {CACHE_TITLE} series\n\n"));
        for u in &a.unmapped_series {
            let _ = writeln!(out, "- `{}` → {}", u.name, u.suggested_pack_file);
        }
    }
    out
}

/// `needs two scrapes of this endpoint (x_delta, …)` or `missing a, b`.
fn not_evaluable_detail(f: &super::FindingOutcome) -> String {
    match &f.reason {
        Some(r) => format!("{r} ({})", f.missing.join(", ")),
        None => format!("missing {}", f.missing.join(", ")),
    }
}

/// How many scrapes, over how long, identified how, with the time source.
fn scrapes_line(ep: &EndpointReport) -> String {
    let identity = serde_json::to_value(ep.identity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let times = |s: &super::ScrapeReport| {
        serde_json::to_value(s.time_source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut sources: Vec<String> = Vec::new();
    for t in ep.scrapes.iter().map(times) {
        if !sources.contains(&t) {
            sources.push(t);
        }
    }
    let window = match ep.window_seconds {
        Some(s) => format!(" over {} s", format_number(s)),
        None if ep.scrapes.len() > 1 => " (times unknown: no window rate)".to_owned(),
        None => " (instant only)".to_owned(),
    };
    format!(
        "{}{window}; identity by {identity}; time from {}",
        ep.scrapes.len(),
        sources.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{IdentitySource, TimeSource};

    /// Each time source is named once, in order of first use, however the
    /// scrapes interleave them.
    #[test]
    fn the_scrapes_line_names_each_time_source_once() {
        let scrape = |time, time_source| super::super::ScrapeReport {
            source: "s".to_owned(),
            time: Some(time),
            time_source,
        };
        let ep = EndpointReport {
            endpoint: "e".to_owned(),
            identity: IdentitySource::PacketManifest,
            target: Default::default(),
            source: "s".to_owned(),
            scrapes: vec![
                scrape(0.0, TimeSource::PacketManifest),
                scrape(30.0, TimeSource::FileMtime),
                scrape(60.0, TimeSource::PacketManifest),
            ],
            window_seconds: Some(60.0),
            engines: Vec::new(),
            engine_unidentified: true,
            signals: Default::default(),
            findings: Vec::new(),
        };
        assert_eq!(
            scrapes_line(&ep),
            "3 over 60 s; identity by packet_manifest; time from packet_manifest, file_mtime"
        );
    }
}
