//! Compiling the `modes` and `families` pack kinds: indicators, connector classes,
//! mode / candidate / architecture rules, and surfaces with their families.
//!
//! Which variables each kind of expression may read is declared here, once, so the
//! loader (strict variables) and the evaluator agree.

use super::conditions::ExprScope;
use super::model::{
    ArchitectureRule, CandidateRule, EvidenceMatch, FamiliesFile, FamilyDef, IndicatorDef,
    ModesFile,
};
use super::yaml::Node;
use super::{diag, Diagnostic};
use crate::expr::Compiled;
use crate::normalize::pattern::Pattern;

/// The analysis variable every compat expression may read besides the operator
/// context (declared by `context` packs).
pub const MODE_VARS: &[(&str, &str)] = &[(
    "mode",
    "detected mode: the first `modes` rule that held, or \"unknown\"",
)];

/// Only in `families` expressions: the spelling generation of the surface.
pub const SURFACE_VARS: &[(&str, &str)] = &[(
    "generation",
    "\"current\" when a family of this surface matched a current spelling, \"legacy\" when only legacy ones matched, else \"none\"",
)];

/// Facts of the compatibility analysis, for findings.
pub const COMPAT_FACTS: &[(&str, &str)] = &[
    ("missing_required_count", "applicable required families that are missing"),
    ("missing_required_families", "those families as `surface.family`, comma-separated"),
    ("unmapped_series", "series under an unmapped prefix that no family matched"),
    ("family", "map from `surface.family` to its status (populated, zero, missing, not_applicable)"),
    ("evidence", "map from evidence kind (http, logs, trace, otel, trace_replay, lookup_hash, launch) to populated, zero or missing"),
    ("http_unhealthy_count", "endpoints of the HTTP evidence marked unhealthy"),
    ("http_unhealthy_endpoints", "their names, comma-separated"),
];

/// Maps of the analysis, for derived facts and findings (packs declare what they mean).
pub const ANALYSIS_VARS: &[(&str, &str)] = &[
    ("family_series", "map from `surface.family` to the number of series it matched"),
    ("family_populated", "map from `surface.family` to its series with a non-zero value"),
    ("surface_series", "map from surface to the series its families matched"),
    ("surface_moving_counters", "map from surface to its families that are neither sampled nor boot-time and have populated series"),
    ("surface_sampled_with_data", "map from surface to its sampled families with populated series"),
    ("family_names", "map from `surface.family` to the names it matched (the first 8, as the report lists them)"),
    ("family_boot", "map from `surface.family` to its `boot` flag"),
    ("family_required", "map from `surface.family` to whether it is required"),
    ("surface_applicable", "map from surface to whether it applies"),
    ("surface_sampled_names", "map from surface to the names of its sampled families with populated series"),
    ("label_values", "map from each label key the modes pack reads to its number of distinct values"),
    ("label_value_lists", "map from each label key the modes pack reads to its distinct values, sorted"),
    ("instance_family", "the name of the service-instance family (`observability.service_instance_family`)"),
    ("instance_ids", "distinct values of the service-instance labels on the service-instance family, sorted"),
];

#[derive(Clone, Debug)]
pub struct IndicatorRule {
    pub pack: String,
    pub def: IndicatorDef,
    pub series: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
    pub label_values: Vec<Pattern>,
}

#[derive(Clone, Debug)]
pub struct ConnectorRule {
    pub pattern: Pattern,
    pub class: String,
    pub note: String,
}

/// Every `modes` file merged, in pack order.
#[derive(Clone, Debug, Default)]
pub struct ModesRules {
    pub indicators: Vec<IndicatorRule>,
    pub connector_keys: Vec<String>,
    pub connectors: Vec<ConnectorRule>,
    pub modes: Vec<(String, Compiled)>,
    pub candidates: Vec<(CandidateRule, Compiled)>,
    pub architectures: Vec<(ArchitectureRule, Compiled, Compiled)>,
    /// The observability names, and the file that declared them.
    pub observability: Option<(crate::pack::model::ObservabilityDef, String)>,
    /// The observability section's derived facts, compiled, in order.
    pub derived: Vec<(String, Compiled)>,
    /// The report section's fields, compiled, in order.
    pub fields: Vec<(crate::pack::model::ReportFieldDef, Compiled)>,
}

impl ModesRules {
    /// Variables of mode, candidate and architecture rules (and of everything after).
    pub fn variables(&self, engine_ids: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.indicators.iter().map(|i| i.def.id.clone()).collect();
        out.extend(
            self.connector_classes()
                .into_iter()
                .map(|c| format!("connector_{c}")),
        );
        out.extend(engine_ids.iter().map(|e| format!("engine_{e}")));
        out
    }

    pub fn connector_classes(&self) -> Vec<String> {
        let mut classes: Vec<String> = self.connectors.iter().map(|c| c.class.clone()).collect();
        classes.sort();
        classes.dedup();
        classes
    }
}

#[derive(Clone, Debug)]
pub struct FamilyRule {
    pub def: FamilyDef,
    pub current: Vec<Pattern>,
    pub legacy: Vec<Pattern>,
    pub applies: Compiled,
    pub required: Compiled,
}

#[derive(Clone, Debug)]
pub struct SurfaceRule {
    pub pack: String,
    pub file: String,
    pub id: String,
    pub title: String,
    pub applies: Compiled,
    pub families: Vec<FamilyRule>,
}

fn patterns(
    list: &[String],
    file: &str,
    node: &Node,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Pattern> {
    list.iter()
        .enumerate()
        .filter_map(|(j, p)| match Pattern::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                diags.push(diag(file, node.locate(&format!("{at}/{j}")), e));
                None
            }
        })
        .collect()
}

fn compile(
    engine: ExprScope,
    src: &str,
    vars: &[&str],
    file: &str,
    node: &Node,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    match engine.compile(src, vars) {
        Ok(c) => Some(c),
        Err(e) => {
            diags.push(diag(
                file,
                node.locate(at),
                format!("expression does not compile: {}", e.message),
            ));
            None
        }
    }
}

/// Adds one `modes` file to `rules`; the expressions compile later, once every
/// indicator and class is known (see [`compile_mode_rules`]).
pub fn add_modes_file(
    rules: &mut ModesRules,
    pack: &str,
    file: &str,
    node: &Node,
    mf: &ModesFile,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(o) = &mf.observability {
        if let Some((_, first)) = &rules.observability {
            diags.push(diag(
                file,
                node.locate("/observability"),
                format!("`observability` is already declared in {first}"),
            ));
        } else {
            rules.observability = Some((o.clone(), file.to_owned()));
        }
    }
    for (i, ind) in mf.indicators.iter().enumerate() {
        let at = format!("/indicators/{i}");
        if rules.indicators.iter().any(|x| x.def.id == ind.id) {
            diags.push(diag(
                file,
                node.locate(&format!("{at}/id")),
                format!("indicator `{}` is declared twice", ind.id),
            ));
        }
        if ind.series.is_empty() && ind.labels.is_none() && ind.evidence.is_empty() {
            diags.push(diag(
                file,
                node.locate(&at),
                format!(
                    "indicator `{}` observes nothing: give `series`, `labels` or `evidence`",
                    ind.id
                ),
            ));
        }
        for (j, ev) in ind.evidence.iter().enumerate() {
            check_evidence_match(ev, file, node, &format!("{at}/evidence/{j}"), diags);
        }
        let label_values = ind
            .labels
            .as_ref()
            .map(|l| patterns(&l.values, file, node, &format!("{at}/labels/values"), diags))
            .unwrap_or_default();
        rules.indicators.push(IndicatorRule {
            pack: pack.to_owned(),
            def: ind.clone(),
            series: patterns(&ind.series, file, node, &format!("{at}/series"), diags),
            exclude: patterns(&ind.exclude, file, node, &format!("{at}/exclude"), diags),
            label_values,
        });
    }
    if let Some(c) = &mf.connectors {
        for k in &c.label_keys {
            if !rules.connector_keys.contains(k) {
                rules.connector_keys.push(k.clone());
            }
        }
        for (j, class) in c.classes.iter().enumerate() {
            match Pattern::parse(&class.pattern) {
                Ok(pattern) => rules.connectors.push(ConnectorRule {
                    pattern,
                    class: class.class.clone(),
                    note: class.note.clone(),
                }),
                Err(e) => diags.push(diag(
                    file,
                    node.locate(&format!("/connectors/classes/{j}/match")),
                    e,
                )),
            }
        }
    }
}

fn check_evidence_match(
    ev: &EvidenceMatch,
    file: &str,
    node: &Node,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if !ev.pointer.is_empty() && !ev.pointer.starts_with('/') {
        diags.push(diag(
            file,
            node.locate(&format!("{at}/pointer")),
            format!(
                "`{}` is not a JSON pointer (it starts with `/`)",
                ev.pointer
            ),
        ));
    }
    let tests = usize::from(ev.equals.is_some())
        + usize::from(ev.contains.is_some())
        + usize::from(ev.positive);
    if tests > 1 {
        diags.push(diag(
            file,
            node.locate(at),
            "give at most one of `equals`, `contains`, `positive`".to_owned(),
        ));
    }
}

/// Compiles the mode, candidate and architecture rules of one `modes` file.
pub fn compile_mode_rules(
    rules: &mut ModesRules,
    engine: ExprScope,
    vars: &[&str],
    file: &str,
    node: &Node,
    mf: &ModesFile,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, m) in mf.modes.iter().enumerate() {
        if let Some(c) = compile(
            engine,
            &m.when,
            vars,
            file,
            node,
            &format!("/modes/{i}/when"),
            diags,
        ) {
            rules.modes.push((m.mode.clone(), c));
        }
    }
    for (i, m) in mf.candidates.iter().enumerate() {
        if let Some(c) = compile(
            engine,
            &m.when,
            vars,
            file,
            node,
            &format!("/candidates/{i}/when"),
            diags,
        ) {
            rules.candidates.push((m.clone(), c));
        }
    }
    for (i, a) in mf.architectures.iter().enumerate() {
        let when = compile(
            engine,
            &a.when,
            vars,
            file,
            node,
            &format!("/architectures/{i}/when"),
            diags,
        );
        let measured = compile(
            engine,
            &a.measured_when,
            vars,
            file,
            node,
            &format!("/architectures/{i}/measured_when"),
            diags,
        );
        if let (Some(w), Some(m)) = (when, measured) {
            rules.architectures.push((a.clone(), w, m));
        }
    }
}

/// Compiles the surfaces of one `families` file.
#[allow(clippy::too_many_arguments)] // each is one input of the one loader step
pub fn compile_surfaces(
    engine: ExprScope,
    vars: &[&str],
    pack: &str,
    file: &str,
    node: &Node,
    ff: &FamiliesFile,
    existing: &[SurfaceRule],
    diags: &mut Vec<Diagnostic>,
) -> Vec<SurfaceRule> {
    let mut out: Vec<SurfaceRule> = Vec::new();
    for (i, s) in ff.surfaces.iter().enumerate() {
        let at = format!("/surfaces/{i}");
        if existing.iter().chain(&out).any(|x| x.id == s.id) {
            diags.push(diag(
                file,
                node.locate(&format!("{at}/id")),
                format!("surface `{}` is declared twice", s.id),
            ));
        }
        let applies = compile(
            engine,
            &s.applies_when,
            vars,
            file,
            node,
            &format!("{at}/applies_when"),
            diags,
        );
        let mut families = Vec::new();
        for (j, f) in s.families.iter().enumerate() {
            let fat = format!("{at}/families/{j}");
            if s.families[..j].iter().any(|g| g.id == f.id) {
                diags.push(diag(
                    file,
                    node.locate(&format!("{fat}/id")),
                    format!("family `{}` is declared twice in surface `{}`", f.id, s.id),
                ));
            }
            if f.metrics.is_empty() && f.legacy.is_empty() {
                diags.push(diag(
                    file,
                    node.locate(&format!("{fat}/metrics")),
                    format!("family `{}` names no metric, current or legacy", f.id),
                ));
            }
            if (f.sampled || f.traffic_dependent) && f.required_when.trim() != "false" {
                diags.push(diag(
                    file,
                    node.locate(&format!("{fat}/required_when")),
                    format!(
                        "family `{}` is sampled or traffic-dependent and so can never be required",
                        f.id
                    ),
                ));
            }
            let current = patterns(&f.metrics, file, node, &format!("{fat}/metrics"), diags);
            let legacy = patterns(&f.legacy, file, node, &format!("{fat}/legacy"), diags);
            let fa = compile(
                engine,
                &f.applies_when,
                vars,
                file,
                node,
                &format!("{fat}/applies_when"),
                diags,
            );
            let fr = compile(
                engine,
                &f.required_when,
                vars,
                file,
                node,
                &format!("{fat}/required_when"),
                diags,
            );
            if let (Some(applies), Some(required)) = (fa, fr) {
                families.push(FamilyRule {
                    def: f.clone(),
                    current,
                    legacy,
                    applies,
                    required,
                });
            }
        }
        if let Some(applies) = applies {
            out.push(SurfaceRule {
                pack: pack.to_owned(),
                file: file.to_owned(),
                id: s.id.clone(),
                title: s.title.clone(),
                applies,
                families,
            });
        }
    }
    out
}

pub use crate::evidence::log_rules::{LogCategoryRule, LogMatcher, LogRules};

fn log_regex(
    src: &str,
    file: &str,
    node: &Node,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<regex_lite::Regex> {
    // regex-lite: each pattern compiles in microseconds (the Unicode-aware `regex`
    // took ~6 ms of every command's start-up for these); the set that log parsing
    // scans with is built from the same sources at first use ([`LogMatcher`]).
    match regex_lite::Regex::new(&format!("(?i){src}")) {
        Ok(r) => Some(r),
        Err(e) => {
            diags.push(diag(
                file,
                node.locate(at),
                format!(
                    "invalid regex `{src}`: {}",
                    e.to_string().lines().last().unwrap_or("").trim()
                ),
            ));
            None
        }
    }
}

/// Adds one `logs` file.
/// `validate`: also check that all log patterns fit in one regex set (for packs
/// that can change: `--rules` packs, and every pack under `rules validate`).
pub fn add_logs_file(
    rules: &mut LogRules,
    file: &str,
    node: &Node,
    lf: &crate::pack::model::LogsFile,
    validate: bool,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, c) in lf.categories.iter().enumerate() {
        let at = format!("/categories/{i}");
        if rules.categories.iter().any(|x| x.id == c.id) {
            diags.push(diag(
                file,
                node.locate(&format!("{at}/id")),
                format!("log category `{}` is declared twice", c.id),
            ));
        }
        let patterns: Vec<_> = c
            .patterns
            .iter()
            .enumerate()
            .filter_map(|(j, p)| log_regex(p, file, node, &format!("{at}/patterns/{j}"), diags))
            .collect();
        let exclude: Vec<_> = c
            .exclude
            .iter()
            .enumerate()
            .filter_map(|(j, p)| log_regex(p, file, node, &format!("{at}/exclude/{j}"), diags))
            .collect();
        if c.patterns.is_empty() {
            diags.push(diag(
                file,
                node.locate(&at),
                format!("log category `{}` has no pattern", c.id),
            ));
        }
        rules.categories.push(LogCategoryRule {
            id: c.id.clone(),
            description: c.description.clone(),
            proves: c.proves.clone(),
            patterns,
            exclude,
        });
    }
    for (name, src) in &lf.values {
        let at = format!("/values/{name}");
        if let Some(r) = log_regex(src, file, node, &at, diags) {
            if r.captures_len() != 2 {
                diags.push(diag(
                    file,
                    node.locate(&at),
                    format!("value regex `{name}` needs exactly one capture group"),
                ));
            } else {
                rules.values.push((name.clone(), r));
            }
        }
    }
    if let Err(e) = rules.check_set(validate) {
        diags.push(diag(
            file,
            node.locate("/categories"),
            format!(
                "the log patterns together do not fit in one regex set ({e}); make them \
                 smaller (fewer repetitions, narrower classes)"
            ),
        ));
    }
}

/// The keys of the analysis itself: a report section may not take one.
pub const ANALYSIS_KEYS: &[&str] = &[
    "detected_mode",
    "mode_evidence",
    "expected_mode",
    "candidates",
    "architecture",
    "indicators",
    "connectors",
    "surfaces",
    "missing_required",
    "no_traffic_yet",
    "unmapped_series",
    "evidence_surfaces",
];

impl ModesRules {
    /// Every label key whose distinct values the analysis collects: connector keys,
    /// indicator label keys, the service-instance labels and the declared `labels`.
    pub fn label_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.connector_keys.clone();
        for ind in &self.indicators {
            if let Some(l) = &ind.def.labels {
                keys.extend(l.keys.iter().cloned());
            }
        }
        if let Some((obs, _)) = &self.observability {
            keys.extend(obs.service_instance_labels.iter().cloned());
            keys.extend(obs.labels.iter().cloned());
        }
        keys.retain(|k| !k.is_empty());
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// The keys each analysis map has, so a literal key an expression indexes with
/// (`family_series["surface.family"]`) is checked at load, not silently
/// missing at run time.
struct MapKeys {
    families: Vec<String>,
    surfaces: Vec<String>,
    labels: Vec<String>,
}

impl MapKeys {
    fn new(rules: &ModesRules, surfaces: &[SurfaceRule]) -> Self {
        MapKeys {
            families: surfaces
                .iter()
                .flat_map(|s| {
                    s.families
                        .iter()
                        .map(move |f| format!("{}.{}", s.id, f.def.id))
                })
                .collect(),
            surfaces: surfaces.iter().map(|s| s.id.clone()).collect(),
            labels: rules.label_keys(),
        }
    }

    /// The first literal key `src` indexes an analysis map with that the map
    /// does not have, as a message.
    fn check(&self, src: &str) -> Option<String> {
        static INDEX: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
        let index = INDEX.get_or_init(|| {
            regex_lite::Regex::new(r#"\b([a-z_][a-z0-9_]*)\s*\[\s*"([^"\\]*)"\s*\]"#)
                .expect("a fixed regex compiles")
        });
        for cap in index.captures_iter(src) {
            let (map, key) = (&cap[1], &cap[2]);
            let (keys, what) = match map {
                "family" | "family_series" | "family_populated" | "family_names"
                | "family_boot" | "family_required" => {
                    (&self.families, "family (`surface.family`)")
                }
                "surface_series"
                | "surface_moving_counters"
                | "surface_sampled_with_data"
                | "surface_applicable"
                | "surface_sampled_names" => (&self.surfaces, "surface"),
                "label_values" | "label_value_lists" => (&self.labels, "label key"),
                _ => continue,
            };
            if !keys.iter().any(|k| k == key) {
                return Some(format!(
                    "`{map}[\"{key}\"]` names no {what} the packs declare (a families file \
                     declares surfaces and families; `observability.labels` label keys)"
                ));
            }
        }
        None
    }
}

/// Compiles what the `observability` section declares: derived facts (each may read
/// the variables `known` gives and the facts before it; ids must be new variables),
/// the surfaces-without-traffic fact, and the report section's fields.
pub fn compile_observability(
    rules: &mut ModesRules,
    expr: ExprScope,
    known: &[String],
    surfaces: &[SurfaceRule],
    file: &str,
    node: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let Some((obs, declared_in)) = &rules.observability else {
        return;
    };
    if declared_in != file {
        return;
    }
    let keys = MapKeys::new(rules, surfaces);
    let site = Site {
        file,
        node,
        expr,
        keys: &keys,
    };
    let mut vars: Vec<&str> = known.iter().map(String::as_str).collect();
    let derived = site.derived(&obs.derived, &mut vars, diags);
    if let Some(nt) = &obs.no_traffic {
        if !obs.derived.iter().any(|d| d.id == nt.surfaces) {
            let msg = format!(
                "`no_traffic.surfaces` names `{}`, which is no derived fact of this section",
                nt.surfaces
            );
            diags.push(diag(
                file,
                node.locate("/observability/no_traffic/surfaces"),
                msg,
            ));
        }
    }
    if !obs.fields.is_empty()
        && (obs.section.is_empty() || ANALYSIS_KEYS.contains(&obs.section.as_str()))
    {
        let msg = format!(
            "`section` must name a new key of the analysis (not one of {})",
            ANALYSIS_KEYS.join(", ")
        );
        diags.push(diag(file, node.locate("/observability/section"), msg));
    }
    let fields = site.fields(&obs.fields, &vars, diags);
    rules.derived = derived;
    rules.fields = fields;
}

/// Where the `observability` section's expressions are compiled and checked.
struct Site<'a> {
    file: &'a str,
    node: &'a Node,
    expr: ExprScope<'a>,
    keys: &'a MapKeys,
}

impl Site<'_> {
    /// Compiles `src` at `at` and checks its literal map keys.
    fn compile(
        &self,
        src: &str,
        vars: &[&str],
        at: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Compiled> {
        if let Some(msg) = self.keys.check(src) {
            diags.push(diag(self.file, self.node.locate(at), msg));
            return None;
        }
        match self.expr.compile(src, vars) {
            Ok(c) => Some(c),
            Err(e) => {
                let msg = format!("`value` does not compile: {}", e.message);
                diags.push(diag(self.file, self.node.locate(at), msg));
                None
            }
        }
    }

    fn derived<'d>(
        &self,
        defs: &'d [crate::pack::model::DerivedFactDef],
        vars: &mut Vec<&'d str>,
        diags: &mut Vec<Diagnostic>,
    ) -> Vec<(String, Compiled)> {
        let mut out = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            let at = format!("/observability/derived/{i}");
            if vars.contains(&d.id.as_str()) {
                let msg = format!("derived fact `{}` has the name of another variable", d.id);
                diags.push(diag(self.file, self.node.locate(&format!("{at}/id")), msg));
                continue;
            }
            if let Some(c) = self.compile(&d.value, vars, &format!("{at}/value"), diags) {
                out.push((d.id.clone(), c));
            }
            vars.push(d.id.as_str());
        }
        out
    }

    fn fields(
        &self,
        defs: &[crate::pack::model::ReportFieldDef],
        vars: &[&str],
        diags: &mut Vec<Diagnostic>,
    ) -> Vec<(crate::pack::model::ReportFieldDef, Compiled)> {
        use crate::pack::model::ReportFieldType;
        let mut out = Vec::new();
        for (i, f) in defs.iter().enumerate() {
            let at = |field: &str| {
                self.node
                    .locate(&format!("/observability/fields/{i}/{field}"))
            };
            if f.key.is_empty() || defs[..i].iter().any(|g| g.key == f.key) {
                let msg = format!("report field `{}` is empty or declared twice", f.key);
                diags.push(diag(self.file, at("key"), msg));
            }
            if f.limit.is_some() && f.ty != ReportFieldType::StringList {
                let msg = format!(
                    "`limit` applies only to a `string_list` (field `{}`)",
                    f.key
                );
                diags.push(diag(self.file, at("limit"), msg));
            }
            let value_at = format!("/observability/fields/{i}/value");
            if let Some(c) = self.compile(&f.value, vars, &value_at, diags) {
                out.push((f.clone(), c));
            }
        }
        out
    }
}
