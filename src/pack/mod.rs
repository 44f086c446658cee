//! Rule packs: finding them (embedded in the binary, or `--rules DIR`), reading them
//! in two phases (YAML with positions, then schema and meaning), and the registry the
//! evaluator runs.
//!
//! Every problem in a pack is a [`Diagnostic`] at `file:line:col`; loading collects
//! all of them before giving up, so a maintainer fixes a pack in one pass.

pub mod catalogue;
pub mod compat;
pub mod conditions;
pub mod context;
pub mod diff;
mod evidence_rules;
mod fixture;
pub mod launch;
pub mod model;
/// Names the product's own surface carries.
pub mod names {
    /// The cache system whose name the product pages give to commands
    /// (`…-compat`, `collect-…`), flags (`--…-metrics-file`), evidence files and
    /// report fields, as id and title. What the system is and exports lives in its
    /// packs; only these public names are fixed in code.
    pub const CACHE_NAMES: [&str; 2] = ["lmcache", "LMCache"]; // vendor: public names the seeds fix
    pub const CACHE: &str = CACHE_NAMES[0];
    pub const CACHE_TITLE: &str = CACHE_NAMES[1];
}
pub mod pointers;
pub mod routes;
pub mod schema;
pub mod yaml;

pub use fixture::MAX_FIXTURE_BYTES;
pub use routes::path_safety;

use crate::expr::{Compiled, ExprEngine, Template};
use crate::normalize::pattern::Pattern;
use crate::normalize::window::window_variables;
use crate::normalize::{signal_variables, SignalSpec};
use include_dir::{include_dir, Dir};
use model::Scope;
use model::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use yaml::{Node, Pos};

static EMBEDDED_RULES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// Facts the core computes for every endpoint; rules read them like signals and they
/// are always present.
pub const FACTS: &[(&str, &str)] = &[
    (
        "engines_detected",
        "number of serving systems detected on the endpoint",
    ),
    (
        "engine_forced_mismatch",
        "1 when `--engine X` was given and the scrape does not look like X, else 0",
    ),
    ("series_count", "number of samples in the scrape"),
    ("family_count", "number of metric families in the scrape"),
    (
        "declared_families",
        "families named by a `# HELP`, `# TYPE` or `# UNIT` line",
    ),
    (
        "declared_without_samples",
        "declared families without a single sample",
    ),
    (
        "declared_without_samples_names",
        "the first five of them, in source order, as one text (`a, b, c`)",
    ),
    (
        "body_kind",
        "what the body was: `exposition`, `empty`, `html`, `json` or `text` (no line reads as a sample)",
    ),
    (
        "body_excerpt",
        "the first line of a body that is no exposition, neither blank nor a `#` comment (of an HTML page, the first text outside tags; 120 characters, redacted); empty otherwise",
    ),
    (
        "body_last_line",
        "the last such line (a traceback's exception); empty otherwise",
    ),
    (
        "body_text",
        "the first 4 KiB of a body that is no exposition (redacted); empty otherwise",
    ),
    (
        "operator_role",
        "the part the operator said the endpoint plays: the role of the `--engine` system, else the role a packet recorded (`engine`); empty when none",
    ),
    (
        "detected_roles",
        "the roles (`engine`, `frontend`, `router`, `gateway`, …) of what detection finds on the scrape, whatever `--engine` says: a list",
    ),
    (
        "detected_names",
        "the names of what detection finds on the scrape, whatever `--engine` says, as one text",
    ),
    (
        "dropped_lines",
        "number of exposition lines the scanner could not read",
    ),
    (
        "scrape_count",
        "scrapes of the endpoint (deployment: the most of any endpoint)",
    ),
    (
        "window_seconds",
        "seconds from the first scrape to the last (needs two scrapes)",
    ),
];

/// One problem in a pack, at a location.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) if p.line > 0 => write!(f, "{}:{}: {}", self.file, p, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Loading failed; every diagnostic found is here.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in rule packs, first: {}", .0.len(), .0.first().map(|d| d.to_string()).unwrap_or_default())]
pub struct LoadError(pub Vec<Diagnostic>);

/// Where a pack came from; recorded in every report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    Dir(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Embedded => f.write_str("embedded"),
            Origin::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A pack's raw files before parsing.
struct RawPack {
    origin: Origin,
    /// Display path of the pack directory, e.g. `rules/vllm`.
    display: String,
    /// The project root fixtures are relative to (`<pack>/../..`); `None` = embedded.
    root: Option<PathBuf>,
    /// `(display path, text)` of `pack.yaml`.
    manifest: Option<(String, String)>,
    /// `(display path, text)` of every other `*.yaml` / `*.yml`, sorted by name.
    files: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct LoadedPack {
    pub manifest: PackManifest,
    pub origin: Origin,
    pub display: String,
    root: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct EngineRule {
    pub pack: String,
    pub file: String,
    pub def: EngineDef,
    pub evidence: Vec<(Pattern, DetectionEvidence)>,
    pub signals: Vec<SignalSpec>,
}

#[derive(Clone, Debug)]
pub struct FindingRule {
    pub pack: String,
    pub file: String,
    pub pos: Pos,
    pub def: FindingDef,
    /// The finding's named pattern lists, compiled (`patterns:`).
    pub patterns: Vec<(String, Vec<Pattern>)>,
    pub when: Compiled,
    /// `applies_when`, compiled: false makes the finding `not_applicable`.
    pub applies: Option<Compiled>,
    pub message: Template,
    /// Signals that must be present for the rule to be evaluable.
    pub required: Vec<String>,
    /// Variables the rule reads (condition and message), for evaluation and explain.
    pub variables: Vec<String>,
    /// Position of each test case, for `rules test` reports.
    pub test_pos: Vec<Pos>,
    /// The named conditions `when` reads, each with its expression expanded.
    pub conditions: Vec<(String, String)>,
}

/// What a variable name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarKind {
    /// A signal variable: signal name and suffix (`ttft`, `_p99`).
    Signal(String, &'static str),
    Fact,
    Param,
    /// A named pattern list of the finding: families matching it.
    Patterns,
    /// Operator context, indicators and compatibility facts: always present.
    Context,
}

/// Everything loaded, compiled and checked.
pub struct Registry {
    pub packs: Vec<LoadedPack>,
    pub engines: Vec<EngineRule>,
    pub findings: Vec<FindingRule>,
    pub expr: ExprEngine,
    /// Signal name to its type (one type per name across engines).
    pub signal_types: BTreeMap<String, SignalType>,
    /// Indicators, connector classes, mode / candidate / architecture rules.
    pub modes: compat::ModesRules,
    /// Observable surfaces and their families.
    pub surfaces: Vec<compat::SurfaceRule>,
    /// Log-line categories and value extractors.
    pub logs: compat::LogRules,
    /// The LMCache HTTP API, with each route's safety class.
    pub http_routes: Vec<HttpRouteDef>,
    /// The route table of the packs embedded in the binary, kept even when a
    /// `--rules` pack replaces the pack that declared it: the safety floor no pack
    /// can loosen (see [`routes`]).
    pub http_route_floor: Vec<HttpRouteDef>,
    /// Every catalogue entry of the selected packs.
    pub catalogues: catalogue::Catalogues,
    /// What launch programs, flags, config keys and variables mean (`kind: launch`).
    pub launch: crate::evidence::launch::knowledge::LaunchKnowledge,
    /// Operator flags, their derived variables and `--fail-on` gates (`kind: context`).
    pub context: context::ContextRules,
    /// Each pack's named conditions (`kind: conditions`), by pack id.
    pub conditions: BTreeMap<String, conditions::Conditions>,
    /// How the OTel evidence groups spans by name (`kind: otel`), in order.
    pub otel_groups: Vec<crate::evidence::otel::SpanGroupDef>,
    /// Which answers of the HTTP API say healthy (`health` of `kind: http_routes`).
    pub http_health: crate::evidence::http::HealthWords,
}

/// What a load checks beyond what every run needs.
#[derive(Clone, Copy)]
struct Checks {
    /// The JSON Schema pass over the embedded packs too (`--rules` packs always get it).
    embedded_schema: bool,
    /// Read every fixture a rule test names. Only `rules validate` / `rules test`
    /// (and tests) do: a run must not open files a pack points at.
    fixtures: bool,
}

impl Checks {
    const RUN: Checks = Checks {
        embedded_schema: false,
        fixtures: false,
    };
    const MAINTAINER: Checks = Checks {
        embedded_schema: true,
        fixtures: true,
    };
}

impl Registry {
    /// The embedded packs, then each `--rules DIR` in order; a later pack with the
    /// same id replaces an earlier one.
    ///
    /// Packs given with `--rules` are checked in full, except that the fixtures
    /// their rule tests name are not read (only [`Registry::load_strict`] reads
    /// them). The embedded packs skip the JSON Schema pass (their meaning is still
    /// checked): they cannot change after the build, and `cargo test` and `rules
    /// validate` check them in full, so every run need not pay for it.
    pub fn load(overrides: &[PathBuf]) -> Result<Registry, LoadError> {
        Self::load_checked(overrides, Checks::RUN)
    }

    /// [`Registry::load`] with the embedded packs checked against the schema too,
    /// and every rule test's fixture read (confined to its pack's project root, see
    /// [`fixture`]): `rules validate`, `rules test`, tests.
    pub fn load_strict(overrides: &[PathBuf]) -> Result<Registry, LoadError> {
        Self::load_checked(overrides, Checks::MAINTAINER)
    }

    fn load_checked(overrides: &[PathBuf], checks: Checks) -> Result<Registry, LoadError> {
        let mut raws = embedded_packs();
        let mut diags = Vec::new();
        for dir in overrides {
            match dir_packs(dir) {
                Ok(found) => raws.extend(found),
                Err(d) => diags.push(d),
            }
        }
        build(raws, diags, checks)
    }

    /// Only the packs in `dir` (for `rules validate DIR` / `rules test DIR`), with the
    /// embedded ones underneath so a pack may read signals of a shipped engine;
    /// checked as [`Registry::load_strict`] checks.
    pub fn load_dir_over_embedded(dir: &Path) -> Result<(Registry, Vec<String>), LoadError> {
        let raws = dir_packs(dir).map_err(|d| LoadError(vec![d]))?;
        let ids: Vec<String> = raws.iter().map(|r| r.display.clone()).collect();
        let mut all = embedded_packs();
        all.extend(raws);
        let registry = build(all, Vec::new(), Checks::MAINTAINER)?;
        let selected = registry
            .packs
            .iter()
            .filter(|p| ids.contains(&p.display))
            .map(|p| p.manifest.id.clone())
            .collect();
        Ok((registry, selected))
    }

    pub fn engine(&self, id: &str) -> Option<&EngineRule> {
        self.engines.iter().find(|e| e.def.id == id)
    }

    /// The engines `--engine X` names: the engine with id X, or every engine of the
    /// pack X (`-` ignored, so `llm-d` names pack `llmd`).
    pub fn engines_for(&self, x: &str) -> Vec<&EngineRule> {
        if let Some(e) = self.engine(x) {
            return vec![e];
        }
        let plain = |s: &str| s.replace('-', "");
        self.engines
            .iter()
            .filter(|e| plain(&e.pack) == plain(x))
            .collect()
    }

    pub fn finding(&self, code: &str) -> Option<&FindingRule> {
        self.findings.iter().find(|f| f.def.code == code)
    }

    /// `source`, an expression of `pack`, with the named conditions it reads
    /// expanded (what `rules explain` evaluates).
    pub fn expand_conditions(&self, pack: &str, source: &str) -> String {
        match self.conditions.get(pack) {
            Some(c) => c.expand(source),
            None => source.to_owned(),
        }
    }

    /// Every variable name an expression may read, except a finding's own params.
    pub fn known_variables(&self) -> Vec<String> {
        let mut out: Vec<String> = FACTS.iter().map(|(n, _)| (*n).to_owned()).collect();
        for (name, ty) in &self.signal_types {
            for (suffix, _) in signal_variables(*ty).iter().chain(window_variables(*ty)) {
                out.push(format!("{name}{suffix}"));
            }
        }
        out.extend(self.context_variables());
        out
    }

    /// Operator context, mode variables and compatibility facts.
    pub fn context_variables(&self) -> Vec<String> {
        let engine_ids: Vec<String> = self.engines.iter().map(|e| e.def.id.clone()).collect();
        let mut out = self.modes.variables(&engine_ids);
        out.extend(compat::MODE_VARS.iter().map(|(n, _)| (*n).to_owned()));
        out.extend(self.context.variable_names());
        out.extend(compat::COMPAT_FACTS.iter().map(|(n, _)| (*n).to_owned()));
        out.extend(compat::ANALYSIS_VARS.iter().map(|(n, _)| (*n).to_owned()));
        // Every declared derived fact, compiled or not: a broken one is reported
        // once, at its own `value`, not again at each finding that reads it.
        if let Some((obs, _)) = &self.modes.observability {
            out.extend(obs.derived.iter().map(|d| d.id.clone()));
        }
        out
    }

    /// What a variable of `rule` stands for.
    pub fn var_kind(&self, rule: &FindingRule, var: &str) -> Option<VarKind> {
        if rule.def.params.contains_key(var) {
            return Some(VarKind::Param);
        }
        if rule.def.patterns.contains_key(var) {
            return Some(VarKind::Patterns);
        }
        if FACTS.iter().any(|(n, _)| *n == var) {
            return Some(VarKind::Fact);
        }
        if let Some(signal) = signal_of_variable(&self.signal_types, var) {
            return Some(VarKind::Signal(signal.0, signal.1));
        }
        self.context_variables()
            .iter()
            .any(|c| c == var)
            .then_some(VarKind::Context)
    }

    /// Reads a fixture a rule test names (for `rules test`): relative to its pack's
    /// project root and confined to it, then the shipped fixtures embedded in the
    /// binary (see [`fixture`]).
    pub fn read_fixture(&self, rule: &FindingRule, path: &str) -> Result<String, String> {
        let pack = self
            .packs
            .iter()
            .find(|p| p.manifest.id == rule.pack)
            .ok_or_else(|| format!("pack `{}` not loaded", rule.pack))?;
        fixture::read(pack.root.as_deref(), path)
    }
}

/// `(signal, suffix)` for a variable like `ttft_p99` or `preemptions_rate`; the
/// longest signal name that fits wins.
fn signal_of_variable(
    types: &BTreeMap<String, SignalType>,
    var: &str,
) -> Option<(String, &'static str)> {
    if types.contains_key(var) {
        return Some((var.to_owned(), ""));
    }
    let mut best: Option<(String, &'static str)> = None;
    for (base, ty) in types {
        let Some(rest) = var.strip_prefix(base.as_str()) else {
            continue;
        };
        let suffixes = signal_variables(*ty).iter().chain(window_variables(*ty));
        if let Some((suffix, _)) = suffixes
            .into_iter()
            .find(|(s, _)| !s.is_empty() && *s == rest)
        {
            if best.as_ref().is_none_or(|(b, _)| b.len() < base.len()) {
                best = Some((base.clone(), suffix));
            }
        }
    }
    best
}

fn embedded_packs() -> Vec<RawPack> {
    let mut out = Vec::new();
    let mut dirs: Vec<&Dir> = EMBEDDED_RULES.dirs().collect();
    dirs.sort_by_key(|d| d.path().to_path_buf());
    for dir in dirs {
        let display = format!("rules/{}", dir.path().display());
        let mut raw = RawPack {
            origin: Origin::Embedded,
            display: display.clone(),
            root: None,
            manifest: None,
            files: Vec::new(),
        };
        let mut files: Vec<_> = dir.files().collect();
        files.sort_by_key(|f| f.path().to_path_buf());
        for f in files {
            let name = f
                .path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(f.contents()).into_owned();
            let shown = format!("rules/{}", f.path().display());
            if name == "pack.yaml" {
                raw.manifest = Some((shown, text));
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                raw.files.push((shown, text));
            }
        }
        out.push(raw);
    }
    out
}

/// A `--rules` directory: a pack itself (holds `pack.yaml`) or a folder of packs.
fn dir_packs(dir: &Path) -> Result<Vec<RawPack>, Diagnostic> {
    let unreadable = |e: std::io::Error| Diagnostic {
        file: dir.display().to_string(),
        pos: None,
        message: format!("cannot read rules directory: {e}"),
    };
    if dir.join("pack.yaml").is_file() {
        return Ok(vec![read_pack_dir(dir).map_err(unreadable)?]);
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("pack.yaml").is_file())
        .collect();
    subdirs.sort();
    if subdirs.is_empty() {
        return Err(Diagnostic {
            file: dir.display().to_string(),
            pos: None,
            message: "no rule pack here: expected a pack.yaml, or folders that hold one".to_owned(),
        });
    }
    subdirs
        .iter()
        .map(|d| read_pack_dir(d).map_err(unreadable))
        .collect()
}

fn read_pack_dir(dir: &Path) -> std::io::Result<RawPack> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let root = dir.join("..").join("..");
    let mut raw = RawPack {
        origin: Origin::Dir(dir.to_path_buf()),
        display: dir.display().to_string(),
        root: Some(root),
        manifest: None,
        files: Vec::new(),
    };
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let shown = path.display().to_string();
        if name == "pack.yaml" {
            raw.manifest = Some((shown, text));
        } else {
            raw.files.push((shown, text));
        }
    }
    Ok(raw)
}

/// A file parsed and schema-checked, before meaning checks.
enum Parsed {
    Engine(String, Node, EngineFile),
    /// An engine file the schema rejected (already reported): its id and signal
    /// types, read loosely, so findings that use it are not reported again.
    BrokenEngine(String, Vec<(String, SignalType)>),
    Families(String, Node, FamiliesFile),
    Modes(String, Node, ModesFile),
    Logs(String, Node, LogsFile),
    HttpRoutes(String, Node, HttpRoutesFile),
    Launch(String, Node, LaunchFile),
    Otel(String, Node, OtelFile),
    /// `(index in the file, finding)` for every finding that passed the schema.
    Findings(String, Node, Vec<(usize, FindingDef)>),
    Catalogue(String, Node, CatalogueFile),
    Context(String, Node, ContextFile),
    Conditions(String, Node, ConditionsFile),
}

fn build(
    raws: Vec<RawPack>,
    mut diags: Vec<Diagnostic>,
    checks: Checks,
) -> Result<Registry, LoadError> {
    let tool_version =
        semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate version is semver");
    // id -> (pack, parsed files); later packs with the same id replace earlier ones.
    let mut selected: Vec<(LoadedPack, Vec<Parsed>)> = Vec::new();
    let mut floor: Vec<HttpRouteDef> = Vec::new();
    for raw in raws {
        let Some((manifest_file, manifest_text)) = &raw.manifest else {
            diags.push(Diagnostic {
                file: raw.display.clone(),
                pos: None,
                message: "pack has no pack.yaml".to_owned(),
            });
            continue;
        };
        let Some(manifest) = parse_manifest(
            manifest_file,
            manifest_text,
            &tool_version,
            checks.embedded_schema || raw.origin != Origin::Embedded,
            &mut diags,
        ) else {
            continue;
        };
        let mut parsed = Vec::new();
        for (file, text) in &raw.files {
            if let Some(p) = parse_rule_file(
                file,
                text,
                checks.embedded_schema || raw.origin != Origin::Embedded,
                &mut diags,
            ) {
                parsed.push(p);
            }
        }
        // The shipped route table is the safety floor, read before an override
        // pack with the same id can replace it.
        if raw.origin == Origin::Embedded {
            for p in &parsed {
                if let Parsed::HttpRoutes(_, _, hf) = p {
                    floor.extend(hf.routes.iter().cloned());
                }
            }
        }
        let pack = LoadedPack {
            manifest,
            origin: raw.origin.clone(),
            display: raw.display.clone(),
            root: raw.root.clone(),
        };
        // A replacing pack without a launch (or otel) file keeps the replaced
        // pack's: an override written for a metric rename must not drop what launch
        // flags mean or how spans group.
        let launch_of = |p: &Parsed| matches!(p, Parsed::Launch(..));
        let otel_of = |p: &Parsed| matches!(p, Parsed::Otel(..));
        if let Some(i) = selected
            .iter()
            .position(|(p, _)| p.manifest.id == pack.manifest.id)
        {
            let (_, old) = selected.remove(i);
            let keep_launch = !parsed.iter().any(launch_of);
            let keep_otel = !parsed.iter().any(otel_of);
            parsed.extend(
                old.into_iter()
                    .filter(|p| (keep_launch && launch_of(p)) || (keep_otel && otel_of(p))),
            );
        }
        selected.push((pack, parsed));
    }
    let catalogues = resolve_references(&mut selected, &mut diags);

    // Signals first: expressions compile against the union of all signal names.
    let mut engines = Vec::new();
    let mut signal_types: BTreeMap<String, SignalType> = BTreeMap::new();
    let mut broken_engines: Vec<String> = Vec::new();
    for (_, files) in &selected {
        for p in files {
            if let Parsed::BrokenEngine(id, signals) = p {
                broken_engines.push(id.clone());
                for (name, ty) in signals {
                    signal_types.entry(name.clone()).or_insert(*ty);
                }
            }
        }
    }
    for (pack, files) in &selected {
        for p in files {
            if let Parsed::Engine(file, node, ef) = p {
                if let Some(e) = check_engine(
                    &pack.manifest.id,
                    file,
                    node,
                    ef,
                    &mut signal_types,
                    &mut diags,
                ) {
                    engines.push(e);
                }
            }
        }
    }
    let mut seen_engines: BTreeMap<String, String> = BTreeMap::new();
    for e in &engines {
        if let Some(first) = seen_engines.insert(e.def.id.clone(), e.file.clone()) {
            diags.push(Diagnostic {
                file: e.file.clone(),
                pos: None,
                message: format!("engine id `{}` is also declared in {first}", e.def.id),
            });
        }
    }

    let expr = ExprEngine::new();
    let mut registry = Registry {
        packs: selected.iter().map(|(p, _)| p.clone()).collect(),
        engines,
        findings: Vec::new(),
        expr,
        signal_types,
        modes: compat::ModesRules::default(),
        surfaces: Vec::new(),
        logs: compat::LogRules::default(),
        http_routes: Vec::new(),
        http_route_floor: floor,
        catalogues,
        launch: Default::default(),
        context: Default::default(),
        conditions: BTreeMap::new(),
        otel_groups: Vec::new(),
        http_health: Default::default(),
    };
    {
        let sources: Vec<launch::LaunchSource> = selected
            .iter()
            .flat_map(|(_, files)| files)
            .filter_map(|p| match p {
                Parsed::Launch(file, node, lf) => Some(launch::LaunchSource { file, node, lf }),
                _ => None,
            })
            .collect();
        registry.launch = launch::build_launch(&sources, &mut diags);
    }
    for (pack, files) in &selected {
        // Only packs from outside the binary are held to the floor.
        let floor = (pack.origin != Origin::Embedded).then_some(&registry.http_route_floor[..]);
        for p in files {
            match p {
                Parsed::Logs(file, node, lf) => {
                    let validate = checks.embedded_schema || pack.origin != Origin::Embedded;
                    compat::add_logs_file(&mut registry.logs, file, node, lf, validate, &mut diags);
                    evidence_rules::add_hash_seed_value(
                        &mut registry.logs,
                        file,
                        node,
                        lf,
                        &mut diags,
                    );
                }
                Parsed::HttpRoutes(file, node, hf) => {
                    routes::add_http_routes_file(
                        &mut registry.http_routes,
                        file,
                        node,
                        hf,
                        floor,
                        &mut diags,
                    );
                    evidence_rules::add_health(
                        &mut registry.http_health,
                        file,
                        node,
                        hf,
                        &mut diags,
                    );
                }
                Parsed::Otel(file, node, of) => evidence_rules::add_span_groups(
                    &mut registry.otel_groups,
                    file,
                    node,
                    of,
                    &mut diags,
                ),
                _ => {}
            }
        }
    }
    add_context(&mut registry, &selected, &mut diags);
    // Modes: indicators and classes first (they are the variables), then the rules.
    let mut modes = compat::ModesRules::default();
    for (pack, files) in &selected {
        for p in files {
            if let Parsed::Modes(file, node, mf) = p {
                compat::add_modes_file(&mut modes, &pack.manifest.id, file, node, mf, &mut diags);
                launch::check_launch_pointers(&registry.launch, file, node, mf, &mut diags);
                if checks.embedded_schema || pack.origin != Origin::Embedded {
                    pointers::check_modes_file(&registry, file, node, mf, &mut diags);
                }
            }
        }
    }
    let engine_ids: Vec<String> = registry.engines.iter().map(|e| e.def.id.clone()).collect();
    let mode_vars = modes.variables(&engine_ids);
    for v in &mode_vars {
        if registry.signal_types.contains_key(v) || FACTS.iter().any(|(f, _)| f == v) {
            diags.push(Diagnostic {
                file: "rules".to_owned(),
                pos: None,
                message: format!(
                    "indicator or class variable `{v}` has the name of a signal or fact"
                ),
            });
        }
    }
    registry.conditions = collect_conditions(&registry, &modes, &selected, &mut diags);
    {
        let vars: Vec<&str> = mode_vars.iter().map(String::as_str).collect();
        for (pack, files) in &selected {
            for p in files {
                if let Parsed::Modes(file, node, mf) = p {
                    compat::compile_mode_rules(
                        &mut modes,
                        registry.scope(&pack.manifest.id),
                        &vars,
                        file,
                        node,
                        mf,
                        &mut diags,
                    );
                }
            }
        }
    }
    registry.modes = modes;
    // Surfaces: context, mode variables and the surface's generation.
    {
        let mut vars: Vec<&str> = mode_vars.iter().map(String::as_str).collect();
        let context = registry.context.variable_names();
        vars.extend(compat::MODE_VARS.iter().map(|(n, _)| *n));
        vars.extend(context.iter().map(String::as_str));
        vars.extend(compat::SURFACE_VARS.iter().map(|(n, _)| *n));
        for (pack, files) in &selected {
            for p in files {
                if let Parsed::Families(file, node, ff) = p {
                    let compiled = compat::compile_surfaces(
                        registry.scope(&pack.manifest.id),
                        &vars,
                        &pack.manifest.id,
                        file,
                        node,
                        ff,
                        &registry.surfaces,
                        &mut diags,
                    );
                    registry.surfaces.extend(compiled);
                }
            }
        }
    }
    // Derived facts and report fields: over everything the analysis knows, before
    // findings read them; literal map keys must name declared surfaces and families.
    {
        let mut known = mode_vars.clone();
        known.extend(compat::MODE_VARS.iter().map(|(n, _)| (*n).to_owned()));
        known.extend(registry.context.variable_names());
        known.extend(compat::COMPAT_FACTS.iter().map(|(n, _)| (*n).to_owned()));
        known.extend(compat::ANALYSIS_VARS.iter().map(|(n, _)| (*n).to_owned()));
        for (pack, files) in &selected {
            for p in files {
                if let Parsed::Modes(file, node, _) = p {
                    let scope = conditions::ExprScope {
                        engine: &registry.expr,
                        conditions: registry
                            .conditions
                            .get(&pack.manifest.id)
                            .unwrap_or(&NO_CONDITIONS),
                    };
                    let surfaces = &registry.surfaces;
                    compat::compile_observability(
                        &mut registry.modes,
                        scope,
                        &known,
                        surfaces,
                        file,
                        node,
                        &mut diags,
                    );
                }
            }
        }
    }
    let known = registry.known_variables();
    let mut codes: BTreeMap<String, String> = BTreeMap::new();
    for (pack, files) in &selected {
        for p in files {
            if let Parsed::Findings(file, node, findings) = p {
                for (i, def) in findings.iter().map(|(i, d)| (*i, d)) {
                    let at = |field: &str| node.locate(&format!("/findings/{i}/{field}"));
                    let here = Pos {
                        ..node.locate(&format!("/findings/{i}"))
                    };
                    if let Some(first) = codes.insert(def.code.clone(), format!("{file}:{here}")) {
                        diags.push(diag(
                            file,
                            at("code"),
                            format!("finding code `{}` is already used at {first}", def.code),
                        ));
                    }
                    if checks.fixtures {
                        check_fixtures(pack, file, node, i, def, &mut diags);
                    }
                    if let Some(rule) = check_finding(
                        &registry,
                        pack,
                        file,
                        node,
                        i,
                        def,
                        (&known, &broken_engines),
                        &mut diags,
                    ) {
                        let _ = at;
                        registry.findings.push(rule);
                    }
                }
            }
        }
    }
    check_explains(&selected, &codes, &mut diags);
    if diags.is_empty() {
        Ok(registry)
    } else {
        diags.sort();
        diags.dedup();
        Err(LoadError(diags))
    }
}

/// Every `explains` entry names another finding of the loaded packs.
fn check_explains(
    selected: &[(LoadedPack, Vec<Parsed>)],
    codes: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let known: Vec<String> = codes.keys().cloned().collect();
    for p in selected.iter().flat_map(|(_, f)| f) {
        let Parsed::Findings(file, node, findings) = p else {
            continue;
        };
        for (i, def) in findings {
            for (k, code) in def.explains.iter().enumerate() {
                let problem = if *code == def.code {
                    "a finding cannot explain itself".to_owned()
                } else if codes.contains_key(code) {
                    continue;
                } else {
                    format!(
                        "`explains` names no finding `{code}`{}",
                        suggest(code, known.iter())
                    )
                };
                diags.push(diag(
                    file,
                    node.locate(&format!("/findings/{i}/explains/{k}")),
                    problem,
                ));
            }
        }
    }
}

/// The context files of the selected packs: flags and gates, then the derived
/// variables (which may read any pack's flags).
fn add_context(
    registry: &mut Registry,
    selected: &[(LoadedPack, Vec<Parsed>)],
    diags: &mut Vec<Diagnostic>,
) {
    let files = || {
        selected
            .iter()
            .flat_map(|(_, f)| f)
            .filter_map(|p| match p {
                Parsed::Context(file, node, cf) => Some((file.as_str(), node, cf)),
                _ => None,
            })
    };
    for (file, node, cf) in files() {
        context::add_context_file(&mut registry.context, file, node, cf, diags);
    }
    let mut reserved: Vec<String> = FACTS.iter().map(|(n, _)| (*n).to_owned()).collect();
    reserved.extend(compat::MODE_VARS.iter().map(|(n, _)| (*n).to_owned()));
    reserved.extend(registry.signal_types.keys().cloned());
    for f in files() {
        context::compile_variables(&mut registry.context, &registry.expr, &reserved, f, diags);
    }
}

static NO_CONDITIONS: conditions::Conditions = conditions::Conditions { list: Vec::new() };

impl Registry {
    /// The engine and the named conditions of `pack`, for compiling its expressions.
    fn scope(&self, pack: &str) -> conditions::ExprScope<'_> {
        conditions::ExprScope {
            engine: &self.expr,
            conditions: self.conditions.get(pack).unwrap_or(&NO_CONDITIONS),
        }
    }
}

/// Each pack's named conditions, over every variable any expression may read
/// (signals, facts, mode and context variables, analysis facts, derived facts).
fn collect_conditions(
    registry: &Registry,
    modes: &compat::ModesRules,
    selected: &[(LoadedPack, Vec<Parsed>)],
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, conditions::Conditions> {
    let engine_ids: Vec<String> = registry.engines.iter().map(|e| e.def.id.clone()).collect();
    let mut known: Vec<String> = FACTS.iter().map(|(n, _)| (*n).to_owned()).collect();
    for (name, ty) in &registry.signal_types {
        for (suffix, _) in signal_variables(*ty).iter().chain(window_variables(*ty)) {
            known.push(format!("{name}{suffix}"));
        }
    }
    known.extend(modes.variables(&engine_ids));
    for vars in [
        compat::MODE_VARS,
        compat::SURFACE_VARS,
        compat::COMPAT_FACTS,
        compat::ANALYSIS_VARS,
    ] {
        known.extend(vars.iter().map(|(n, _)| (*n).to_owned()));
    }
    known.extend(registry.context.variable_names());
    if let Some((obs, _)) = &modes.observability {
        known.extend(obs.derived.iter().map(|d| d.id.clone()));
    }
    selected
        .iter()
        .map(|(pack, files)| {
            let found = conditions::collect(files, &registry.expr, &known, diags);
            (pack.manifest.id.clone(), found)
        })
        .collect()
}

/// Where in a pack file an expression's error is: the value's position is its
/// first non-blank line, at the column where the text starts. A literal block
/// (`|`) keeps its lines, minus that common indentation and the leading blank
/// lines the position skips; a single-line value is the same case with `l == 1`.
fn inner_pos(at: Pos, source: &str, e: &crate::expr::ExprError) -> Pos {
    let Some((l, c)) = e.position else {
        return at;
    };
    let blank = source.lines().take_while(|s| s.trim().is_empty()).count();
    Pos {
        line: (at.line + l - 1).saturating_sub(u32::try_from(blank).unwrap_or(0)),
        col: at.col + c - 1,
    }
}

/// The catalogues of the selected packs, with every reference in their files
/// rewritten to the spellings it stands for (see [`catalogue`]).
fn resolve_references(
    selected: &mut [(LoadedPack, Vec<Parsed>)],
    diags: &mut Vec<Diagnostic>,
) -> catalogue::Catalogues {
    let view: Vec<(String, &[Parsed])> = selected
        .iter()
        .map(|(p, files)| (p.manifest.id.clone(), &files[..]))
        .collect();
    let catalogues = catalogue::collect(&view, diags);
    for (pack, files) in selected.iter_mut() {
        for p in files.iter_mut() {
            catalogue::resolve(&catalogues, &pack.manifest.id, p, diags);
        }
    }
    catalogues
}

fn diag(file: &str, pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        pos: Some(pos),
        message,
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded_rules_json.rs"));

/// YAML → positioned tree and its JSON form; a syntax error is a diagnostic.
///
/// Embedded packs loaded without the schema pass (`strict == false`) use the JSON
/// the build script made from them instead: no positions, but a run does not pay
/// for parsing YAML. Nothing can go wrong in them that the tests did not catch.
fn read_yaml(
    file: &str,
    text: &str,
    strict: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Node, serde_json::Value)> {
    if !strict {
        let prebuilt = file
            .strip_prefix("rules/")
            .and_then(|rel| EMBEDDED_JSON.iter().find(|(p, _)| *p == rel))
            .and_then(|(_, json)| *json)
            .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok());
        if let Some(json) = prebuilt {
            return Some((Node::unpositioned(), json));
        }
    }
    match yaml::parse(text) {
        Ok(node) => {
            let json = node.to_json();
            Some((node, json))
        }
        Err(e) => {
            diags.push(Diagnostic {
                file: file.to_owned(),
                pos: e.pos,
                message: format!("invalid YAML: {}", e.message),
            });
            None
        }
    }
}

/// Schema problems as diagnostics at their positions; the JSON pointers that had
/// one. Skipped (`strict == false`) only for packs embedded in the binary, which
/// `cargo test` and `rules validate` check in full.
fn schema_problems(
    file: &str,
    node: &Node,
    json: &serde_json::Value,
    strict: bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    if !strict {
        return Vec::new();
    }
    let mut bad = Vec::new();
    for problem in schema::validate(json) {
        let pos = match &problem.unknown_key {
            Some(key) => node.locate_key(&problem.pointer, key),
            None => node.locate(&problem.pointer),
        };
        diags.push(diag(file, pos, problem.message));
        bad.push(problem.pointer);
    }
    bad
}

/// The typed value, when the schema found nothing.
fn parse_typed<T: serde::de::DeserializeOwned>(
    file: &str,
    node: &Node,
    json: serde_json::Value,
    bad: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    if !bad.is_empty() {
        return None;
    }
    match serde_json::from_value::<T>(json) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(diag(file, node.pos, format!("invalid pack file: {e}")));
            None
        }
    }
}

/// A findings file keeps every finding the schema had no complaint about, so their
/// meaning is checked (and reported) in the same run as the schema problems.
fn parse_findings(
    file: &str,
    node: Node,
    json: &serde_json::Value,
    bad: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Option<Parsed> {
    let items = json
        .get("findings")
        .and_then(|f| f.as_array())
        .cloned()
        .unwrap_or_default();
    let mut findings = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("/findings/{i}");
        if bad
            .iter()
            .any(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        {
            continue;
        }
        match serde_json::from_value::<FindingDef>(item) {
            Ok(def) => findings.push((i, def)),
            Err(e) => diags.push(diag(
                file,
                node.locate(&prefix),
                format!("invalid finding: {e}"),
            )),
        }
    }
    Some(Parsed::Findings(file.to_owned(), node, findings))
}

fn parse_manifest(
    file: &str,
    text: &str,
    tool: &semver::Version,
    strict: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<PackManifest> {
    let (node, json) = read_yaml(file, text, strict, diags)?;
    let bad = schema_problems(file, &node, &json, strict, diags);
    let manifest: PackManifest = parse_typed(file, &node, json, &bad, diags)?;
    let before = diags.len();
    if !is_identifier(&manifest.id) {
        diags.push(diag(
            file,
            node.locate("/id"),
            format!(
                "pack id `{}` must be lowercase letters, digits, `_` or `-`",
                manifest.id
            ),
        ));
    }
    if let Err(e) = semver::Version::parse(&manifest.version) {
        diags.push(diag(
            file,
            node.locate("/version"),
            format!("version `{}` is not semver: {e}", manifest.version),
        ));
    }
    match semver::VersionReq::parse(&manifest.requires.inferguard) {
        Err(e) => diags.push(diag(
            file,
            node.locate("/requires/inferguard"),
            format!(
                "`{}` is not a semver requirement: {e}",
                manifest.requires.inferguard
            ),
        )),
        Ok(req) if !req.matches(tool) => diags.push(diag(
            file,
            node.locate("/requires/inferguard"),
            format!("pack needs inferguard {req}, this is {tool}"),
        )),
        Ok(_) => {}
    }
    (diags.len() == before).then_some(manifest)
}

fn parse_rule_file(
    file: &str,
    text: &str,
    strict: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Parsed> {
    let (node, json) = read_yaml(file, text, strict, diags)?;
    let bad = schema_problems(file, &node, &json, strict, diags);
    // The schema has already said what is wrong with a missing or unknown kind.
    let kind = json.get("kind").and_then(|k| k.as_str()).map(str::to_owned);
    match kind.as_deref() {
        Some("engine") => match parse_typed::<EngineFile>(file, &node, json.clone(), &bad, diags) {
            Some(v) => Some(Parsed::Engine(file.to_owned(), node, v)),
            None => shadow_engine(&json),
        },
        Some("findings") => parse_findings(file, node, &json, &bad, diags),
        Some("families") => parse_typed::<FamiliesFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Families(file.to_owned(), node, v)),
        Some("modes") => parse_typed::<ModesFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Modes(file.to_owned(), node, v)),
        Some("logs") => parse_typed::<LogsFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Logs(file.to_owned(), node, v)),
        Some("http_routes") => parse_typed::<HttpRoutesFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::HttpRoutes(file.to_owned(), node, v)),
        Some("catalogue") => parse_typed::<CatalogueFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Catalogue(file.to_owned(), node, v)),
        Some("context") => parse_typed::<ContextFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Context(file.to_owned(), node, v)),
        Some("launch") => parse_typed::<LaunchFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Launch(file.to_owned(), node, v)),
        Some("conditions") => parse_typed::<ConditionsFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Conditions(file.to_owned(), node, v)),
        Some("otel") => parse_typed::<OtelFile>(file, &node, json, &bad, diags)
            .map(|v| Parsed::Otel(file.to_owned(), node, v)),
        _ => {
            if !strict {
                diags.push(diag(
                    file,
                    node.pos,
                    "a rule file needs a known `kind`".to_owned(),
                ));
            }
            None
        }
    }
}

/// The id and signal types of an engine file that failed the schema, as far as they
/// can be read.
fn shadow_engine(json: &serde_json::Value) -> Option<Parsed> {
    let engine = json.get("engine")?;
    let id = engine.get("id")?.as_str()?.to_owned();
    let signals = engine
        .get("signals")
        .and_then(|s| s.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(name, def)| {
                    let ty = serde_json::from_value::<SignalType>(def.get("type")?.clone()).ok()?;
                    Some((name.clone(), ty))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Parsed::BrokenEngine(id, signals))
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_engine(
    pack: &str,
    file: &str,
    node: &Node,
    ef: &EngineFile,
    types: &mut BTreeMap<String, SignalType>,
    diags: &mut Vec<Diagnostic>,
) -> Option<EngineRule> {
    let def = &ef.engine;
    let before = diags.len();
    if !is_identifier(&def.id) {
        diags.push(diag(
            file,
            node.locate("/engine/id"),
            format!(
                "engine id `{}` must be lowercase letters, digits, `_` or `-`",
                def.id
            ),
        ));
    }
    let mut evidence = Vec::new();
    for (i, ev) in def.detection.evidence.iter().enumerate() {
        if !(ev.weight > 0.0 && ev.weight <= 1.0) {
            diags.push(diag(
                file,
                node.locate(&format!("/engine/detection/evidence/{i}/weight")),
                format!("weight {} must be in (0, 1]", ev.weight),
            ));
        }
        match Pattern::parse(&ev.pattern) {
            Ok(p) => evidence.push((p, ev.clone())),
            Err(e) => diags.push(diag(
                file,
                node.locate(&format!("/engine/detection/evidence/{i}/match")),
                e,
            )),
        }
    }
    let mut signals = Vec::new();
    for (name, sig) in &def.signals {
        let here = |field: &str| node.locate(&format!("/engine/signals/{name}{field}"));
        if !is_snake(name) {
            diags.push(diag(
                file,
                node.locate_key("/engine/signals", name),
                format!("signal name `{name}` must be snake_case (it is a variable in rules)"),
            ));
        }
        if FACTS.iter().any(|(f, _)| f == name) {
            diags.push(diag(
                file,
                node.locate_key("/engine/signals", name),
                format!("signal name `{name}` is a fact name"),
            ));
        }
        match types.get(name) {
            Some(t) if *t != sig.kind => diags.push(diag(
                file,
                here("/type"),
                format!("signal `{name}` is a {:?} here but another engine declares it as {:?}; one name, one type", sig.kind, t),
            )),
            _ => {
                types.insert(name.clone(), sig.kind);
            }
        }
        if sig.metrics.is_empty() {
            diags.push(diag(
                file,
                here("/metrics"),
                format!("signal `{name}` names no metric"),
            ));
        }
        let mut compile = |list: &[String], field: &str| -> Vec<Pattern> {
            list.iter()
                .enumerate()
                .filter_map(|(j, m)| match Pattern::parse(m) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        diags.push(diag(file, here(&format!("/{field}/{j}")), e));
                        None
                    }
                })
                .collect()
        };
        let current = compile(&sig.metrics, "metrics");
        let legacy = compile(&sig.legacy, "legacy");
        signals.push(SignalSpec {
            name: name.clone(),
            kind: sig.kind,
            unit: sig.unit.clone(),
            current,
            legacy,
            aggregate: sig.aggregate.unwrap_or(match sig.kind {
                SignalType::Gauge => Aggregate::Max,
                _ => Aggregate::Sum,
            }),
            labels: sig
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            group_by: sig.group_by.clone(),
            rank_label: def.rank_label.clone(),
            absent_is_zero_when: sig.absent_is_zero_when.clone(),
            value_label: sig.value_label.clone(),
        });
    }
    check_absent_zero(file, node, def, diags);
    for (name, sig) in &def.signals {
        if sig.value_label.is_some() && sig.kind != SignalType::Info {
            diags.push(diag(
                file,
                node.locate(&format!("/engine/signals/{name}/value_label")),
                format!("`value_label` applies to info signals; signal `{name}` is not one"),
            ));
        }
    }
    check_summary(file, node, def, diags);
    check_scrape(file, node, def, diags);
    // Kept even when something above was reported: the load fails anyway, and the
    // findings that use this engine are then checked against it instead of each
    // reporting it as unknown.
    let _ = before;
    Some(EngineRule {
        pack: pack.to_owned(),
        file: file.to_owned(),
        def: def.clone(),
        evidence,
        signals,
    })
}

/// `absent_is_zero_when`: on counters only, naming other signals of the same
/// engine; each problem at its place.
fn check_absent_zero(file: &str, node: &Node, def: &EngineDef, diags: &mut Vec<Diagnostic>) {
    for (name, sig) in &def.signals {
        if sig.absent_is_zero_when.is_empty() {
            continue;
        }
        let at = |field: &str| {
            node.locate(&format!(
                "/engine/signals/{name}/absent_is_zero_when{field}"
            ))
        };
        if sig.kind != SignalType::Counter {
            diags.push(diag(
                file,
                at(""),
                format!(
                    "`absent_is_zero_when` applies to counters; signal `{name}` is a {}",
                    format!("{:?}", sig.kind).to_lowercase()
                ),
            ));
        }
        for (j, sibling) in sig.absent_is_zero_when.iter().enumerate() {
            let why = if sibling == name {
                format!("signal `{name}` names itself; name the sibling signals whose movement proves the exporter live")
            } else if !def.signals.contains_key(sibling) {
                format!(
                    "`{sibling}` is no signal of engine `{}`{}",
                    def.id,
                    suggest(sibling, def.signals.keys())
                )
            } else {
                continue;
            };
            diags.push(diag(file, at(&format!("/{j}")), why));
        }
    }
}

/// The summary section names this engine's signals (a breakdown of histograms) and
/// each equivalent is one signal or one expression over its window variables.
fn check_summary(file: &str, node: &Node, def: &EngineDef, diags: &mut Vec<Diagnostic>) {
    let summary = &def.summary;
    for (i, name) in summary.breakdown.iter().enumerate() {
        let at = node.locate(&format!("/engine/summary/breakdown/{i}"));
        match def.signals.get(name) {
            None => diags.push(diag(file, at, unknown_signal(def, name))),
            Some(s) if s.kind != SignalType::Histogram => diags.push(diag(
                file,
                at,
                format!(
                    "breakdown signal `{name}` is a {:?}, not a histogram",
                    s.kind
                ),
            )),
            _ => {}
        }
    }
    let known: Vec<String> = def
        .signals
        .iter()
        .flat_map(|(name, s)| {
            window_variables(s.kind)
                .iter()
                .map(move |(suffix, _)| format!("{name}{suffix}"))
        })
        .collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let engine = ExprEngine::new();
    for (id, eq) in &summary.equivalents {
        let at = |f: &str| node.locate(&format!("/engine/summary/equivalents/{id}{f}"));
        match (&eq.signal, &eq.expr) {
            (Some(name), None) if !def.signals.contains_key(name) => {
                diags.push(diag(file, at("/signal"), unknown_signal(def, name)))
            }
            (None, Some(expr)) => {
                if let Err(e) = engine.compile(expr, &known) {
                    diags.push(diag(file, at("/expr"), format!("equivalent `{id}`: {e}")));
                }
            }
            (Some(_), None) => {}
            _ => diags.push(diag(
                file,
                at(""),
                format!("equivalent `{id}` needs exactly one of `signal` or `expr`"),
            )),
        }
    }
}

/// Alternative exposition paths are plain absolute paths: a collector appends
/// them to the scraped URL's own origin, so none may name another server, a
/// query, a fragment or a parent folder.
fn check_scrape(file: &str, node: &Node, def: &EngineDef, diags: &mut Vec<Diagnostic>) {
    for (i, path) in def.scrape.alternative_paths.iter().enumerate() {
        let plain = path.starts_with('/')
            && !path.starts_with("//")
            && !path.split('/').any(|seg| seg == "..")
            && !path.chars().any(|c| {
                matches!(c, '?' | '#' | '\\' | '%') || c.is_whitespace() || c.is_control()
            });
        if !plain {
            diags.push(diag(
                file,
                node.locate(&format!("/engine/scrape/alternative_paths/{i}")),
                format!("alternative path `{path}` must be an absolute path (`/prometheus/metrics`) without `//`, `..`, a query, a fragment or escapes"),
            ));
        }
    }
}

fn unknown_signal(def: &EngineDef, name: &str) -> String {
    format!(
        "`{name}` is not a signal of engine `{}`{}",
        def.id,
        suggest(name, def.signals.keys())
    )
}

/// A finding's `patterns:`, compiled; a list name that shadows a variable or a
/// param, or a pattern that does not parse, is a located error.
fn finding_patterns(
    def: &FindingDef,
    (file, node, i): (&str, &Node, usize),
    known: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, Vec<Pattern>)> {
    let mut out = Vec::new();
    for (name, list) in &def.patterns {
        let at = format!("/findings/{i}/patterns");
        if known.iter().any(|k| k == name) || def.params.contains_key(name) {
            diags.push(diag(
                file,
                node.locate_key(&at, name),
                format!("pattern list `{name}` shadows a signal, fact or param of the same name"),
            ));
        }
        if list.is_empty() {
            diags.push(diag(
                file,
                node.locate_key(&at, name),
                format!("pattern list `{name}` is empty"),
            ));
        }
        let mut compiled = Vec::new();
        for (j, text) in list.iter().enumerate() {
            match Pattern::parse(text) {
                Ok(p) => compiled.push(p),
                Err(e) => diags.push(diag(
                    file,
                    node.locate(&format!("{at}/{name}/{j}")),
                    format!("pattern `{text}`: {e}"),
                )),
            }
        }
        out.push((name.clone(), compiled));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn check_finding(
    registry: &Registry,
    pack: &LoadedPack,
    file: &str,
    node: &Node,
    i: usize,
    def: &FindingDef,
    (known, broken_engines): (&[String], &[String]),
    diags: &mut Vec<Diagnostic>,
) -> Option<FindingRule> {
    let unknown_engine =
        |id: &String| registry.engine(id).is_none() && !broken_engines.contains(id);
    let at = |field: &str| node.locate(&format!("/findings/{i}/{field}"));
    let before = diags.len();
    if !is_snake(&def.code) {
        diags.push(diag(
            file,
            at("code"),
            format!("code `{}` must be lowercase snake_case", def.code),
        ));
    }
    for field in [
        ("title", &def.title),
        ("message", &def.message),
        ("remediation", &def.remediation),
        ("docs", &def.docs),
    ] {
        if field.1.trim().is_empty() {
            diags.push(diag(
                file,
                at(field.0),
                format!("`{}` must not be empty", field.0),
            ));
        }
    }
    for (j, engine) in def.engines.iter().enumerate() {
        if unknown_engine(engine) {
            diags.push(diag(
                file,
                at(&format!("engines/{j}")),
                format!("unknown engine `{engine}`"),
            ));
        }
    }
    for (j, sig) in def.requires.iter().enumerate() {
        if !registry.signal_types.contains_key(sig) {
            diags.push(diag(
                file,
                at(&format!("requires/{j}")),
                format!(
                    "unknown signal `{sig}`{}",
                    suggest(sig, registry.signal_types.keys())
                ),
            ));
        }
    }
    for name in def.params.keys() {
        if known.iter().any(|k| k == name) {
            diags.push(diag(
                file,
                node.locate_key(&format!("/findings/{i}/params"), name),
                format!("param `{name}` shadows a signal or fact of the same name"),
            ));
        }
    }
    let patterns = finding_patterns(def, (file, node, i), known, diags);
    let mut vars: Vec<&str> = known.iter().map(String::as_str).collect();
    vars.extend(def.params.keys().map(String::as_str));
    vars.extend(def.patterns.keys().map(String::as_str));
    let scope = registry.scope(&pack.manifest.id);
    for name in def.params.keys() {
        if scope.conditions.get(name).is_some() {
            diags.push(diag(
                file,
                node.locate_key(&format!("/findings/{i}/params"), name),
                format!(
                    "param `{name}` has the name of a condition of pack `{}`; rename one",
                    pack.manifest.id
                ),
            ));
        }
    }
    let when = match scope.compile(&def.when, &vars) {
        Ok(c) => Some(c),
        Err(e) => {
            let hint = unknown_variable(&e.message)
                .map(|v| suggest(v, known.iter().chain(scope.conditions.ids())))
                .unwrap_or_default();
            diags.push(diag(
                file,
                inner_pos(at("when"), &def.when, &e),
                format!("`when` does not compile: {}{hint}", e.message),
            ));
            None
        }
    };
    let applies = def.applies_when.as_ref().map(|src| {
        scope.compile(src, &vars).map_err(|e| {
            let hint = unknown_variable(&e.message)
                .map(|v| suggest(v, known.iter().chain(scope.conditions.ids())))
                .unwrap_or_default();
            diags.push(diag(
                file,
                inner_pos(at("applies_when"), src, &e),
                format!("`applies_when` does not compile: {}{hint}", e.message),
            ));
        })
    });
    let message = match Template::compile(&registry.expr, &def.message, &vars) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(diag(file, at("message"), e.message));
            None
        }
    };
    let at_finding = format!("/findings/{i}");
    context::check_gates(
        &registry.context,
        &def.fail_on,
        (file, node, &at_finding),
        diags,
    );
    let mut test_pos = Vec::new();
    for (j, t) in def.tests.iter().enumerate() {
        let tpos = node.locate(&format!("/findings/{i}/tests/{j}"));
        test_pos.push(tpos);
        let one =
            |prom: &Option<String>, fixture: &Option<String>| prom.is_some() != fixture.is_some();
        let shape = match (t.scrapes.is_empty(), one(&t.prom, &t.fixture)) {
            (true, false) => Some("needs exactly one of `prom`, `fixture` or `scrapes`"),
            (false, _) if t.prom.is_some() || t.fixture.is_some() => {
                Some("gives `scrapes` and also `prom`/`fixture`; give one")
            }
            (false, _) if t.scrapes.iter().any(|s| !one(&s.prom, &s.fixture)) => {
                Some("has a scrape without exactly one of `prom` or `fixture`")
            }
            (false, _) if t.scrapes.iter().any(|s| !s.at.is_finite()) => {
                Some("has a scrape whose `at` is not a number of seconds")
            }
            _ => None,
        };
        if let Some(why) = shape {
            diags.push(diag(file, tpos, format!("test `{}` {why}", t.name)));
        }
        if let Some(c) = &t.context {
            let at = format!("/findings/{i}/tests/{j}/context");
            context::check_case(&registry.context, &c.values, (file, node, &at), diags);
        }
        if let Some((field, why)) = endpoints_problem(t, def.scope) {
            let at = node.locate(&format!("/findings/{i}/tests/{j}{field}"));
            diags.push(diag(file, at, format!("test `{}` {why}", t.name)));
        }
        if let Some(engine) = &t.engine {
            if unknown_engine(engine) && registry.engines_for(engine).is_empty() {
                diags.push(diag(
                    file,
                    node.locate(&format!("/findings/{i}/tests/{j}/engine")),
                    format!("unknown engine `{engine}`"),
                ));
            }
        }
    }
    if diags.len() > before {
        return None;
    }
    let (when, message) = (when?, message?);
    let applies = applies.transpose().ok()?;
    if let Some((field, why)) = grouped_reads(registry, &when, &message) {
        diags.push(diag(file, at(field), why));
        return None;
    }
    if def.scope == Scope::Endpoint {
        let context = registry.context_variables();
        let read = when
            .variables
            .iter()
            .map(String::as_str)
            .chain(
                applies
                    .iter()
                    .flat_map(|a| a.variables.iter().map(String::as_str)),
            )
            .chain(message.variables())
            .find(|v| context.iter().any(|c| c == v));
        if let Some(first) = read {
            diags.push(diag(
                file,
                at("when"),
                format!("`{first}` describes the whole deployment (mode, families, evidence, operator flags): add `scope: deployment`"),
            ));
            return None;
        }
    }
    let mut variables: Vec<String> = when.variables.clone();
    for v in message.variables() {
        if !variables.iter().any(|x| x == v) {
            variables.push(v.to_owned());
        }
    }
    let mut required: BTreeSet<String> = def.requires.iter().cloned().collect();
    for v in &when.variables {
        if def.params.contains_key(v) || def.patterns.contains_key(v) {
            continue;
        }
        if let Some((signal, _)) = signal_of_variable(&registry.signal_types, v) {
            required.insert(signal);
        }
    }
    Some(FindingRule {
        pack: pack.manifest.id.clone(),
        file: file.to_owned(),
        pos: node.locate(&format!("/findings/{i}")),
        def: def.clone(),
        patterns,
        when,
        applies,
        message,
        required: required.into_iter().collect(),
        variables,
        test_pos,
        conditions: scope
            .conditions
            .used_by(&def.when)
            .into_iter()
            .map(|c| (c.def.id.clone(), c.expanded.clone()))
            .collect(),
    })
}

/// A `<signal>_by` variable (`when` or message) of a signal no engine groups: its
/// map would always be empty.
fn grouped_reads(
    registry: &Registry,
    when: &Compiled,
    message: &Template,
) -> Option<(&'static str, String)> {
    let vars = when.variables.iter().map(|v| ("when", v.as_str()));
    let vars = vars.chain(message.variables().map(|v| ("message", v)));
    vars.into_iter().find_map(|(field, v)| {
        let (signal, suffix) = signal_of_variable(&registry.signal_types, v)?;
        let grouped = registry
            .engines
            .iter()
            .flat_map(|e| &e.signals)
            .any(|s| s.name == signal && !s.group_by.is_empty());
        (suffix == "_by" && !grouped).then(|| {
            let why = format!("`{v}` reads `{signal}` per label, but no engine declares `group_by` for `{signal}`");
            (field, why)
        })
    })
}

/// What is wrong with the endpoints of a case, and where (a field under the case):
/// `endpoint` on every scrape or on none; `endpoints` only on a `fires` case of an
/// endpoint-scope finding, naming endpoints of the case.
fn endpoints_problem(t: &RuleTest, scope: Scope) -> Option<(String, String)> {
    let named = t.scrapes.iter().filter(|s| s.endpoint.is_some()).count();
    if named > 0 && named < t.scrapes.len() {
        let k = t
            .scrapes
            .iter()
            .position(|s| s.endpoint.is_none())
            .unwrap_or(0);
        let why = "names the `endpoint` of some scrapes but not of this one; name it on every scrape or on none";
        return Some((format!("/scrapes/{k}"), why.to_owned()));
    }
    if t.endpoints.is_empty() {
        return None;
    }
    let why = if scope == Scope::Deployment {
        "gives `endpoints`, but a `scope: deployment` finding fires for the deployment, not on an endpoint".to_owned()
    } else if t.expect != Expect::Fires {
        "gives `endpoints`, which says where a `fires` case fires; use it with `expect: fires`"
            .to_owned()
    } else {
        let names: Vec<String> = t
            .scrapes
            .iter()
            .filter_map(|s| s.endpoint.clone())
            .collect();
        let (k, unknown) = t
            .endpoints
            .iter()
            .enumerate()
            .find(|(_, e)| !names.contains(e))?;
        let hint = suggest(unknown, names.iter());
        return Some((
            format!("/endpoints/{k}"),
            format!("names endpoint `{unknown}`, which no scrape of the case has{hint}"),
        ));
    };
    Some(("/endpoints".to_owned(), why))
}

/// Every evidence file the test cases of finding `i` name (`fixture`,
/// `context.evidence`) can be read; each refusal at its place.
fn check_fixtures(
    pack: &LoadedPack,
    file: &str,
    node: &Node,
    i: usize,
    def: &FindingDef,
    diags: &mut Vec<Diagnostic>,
) {
    for (j, t) in def.tests.iter().enumerate() {
        let at = format!("/findings/{i}/tests/{j}");
        let evidence = t
            .context
            .iter()
            .flat_map(|c| &c.evidence)
            .map(|(kind, path)| {
                let kind = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (node.locate(&format!("{at}/context/evidence/{kind}")), path)
            });
        let scrapes = t.scrapes.iter().enumerate().filter_map(|(k, s)| {
            let path = s.fixture.as_ref()?;
            Some((node.locate(&format!("{at}/scrapes/{k}/fixture")), path))
        });
        let named = t
            .fixture
            .iter()
            .map(|path| (node.locate(&format!("{at}/fixture")), path))
            .chain(scrapes)
            .chain(evidence);
        for (pos, path) in named {
            if let Err(e) = fixture::read(pack.root.as_deref(), path) {
                diags.push(diag(file, pos, e));
            }
        }
    }
}

fn unknown_variable(message: &str) -> Option<&str> {
    // Rhai's compile error with strict variables: "Undefined variable: kv_usage"
    message
        .split("Undefined variable: ")
        .nth(1)
        .map(|s| s.trim())
}

/// ` (did you mean `x`?)` for the closest known name, when one is close.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let best = known
        .map(|k| (edit_distance(name, k), k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(2));
    best.map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
