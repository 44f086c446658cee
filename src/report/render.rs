//! Human and Markdown renderings of the check report. They read outcomes only.

use super::{format_number, CheckReport, EndpointReport, Status};
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
        let _ = writeln!(out, "  running:  {}", engines_line(ep));
        let mut fired: Vec<_> = ep
            .findings
            .iter()
            .filter(|f| f.status == Status::Fired)
            .collect();
        fired.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.code.cmp(&b.code))
        });
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
                "  {tag:<8} {}{engine}: {}",
                f.code,
                f.message.as_deref().unwrap_or("")
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
                let _ = writeln!(out, "    {} — missing {}", f.code, f.missing.join(", "));
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
    for ep in &report.endpoints {
        let _ = writeln!(out, "## {}\n", md_cell(&ep.endpoint));
        let _ = writeln!(out, "Running: {}\n", md_cell(&engines_line(ep)));
        out.push_str("| status | severity | code | engine | detail |\n|---|---|---|---|---|\n");
        for f in &ep.findings {
            let detail = match f.status {
                Status::Fired => f.message.clone().unwrap_or_default(),
                Status::NotEvaluable => format!("missing {}", f.missing.join(", ")),
                Status::Errored => f.error.clone().unwrap_or_default(),
                Status::Passed => f
                    .evidence
                    .iter()
                    .filter_map(|e| {
                        e.value
                            .map(|v| format!("{}={}", e.variable, format_number(v)))
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
