//! Metric catalogues (`kind: catalogue`): every upstream series a pack reads,
//! spelled once, and the resolution of references to it.
//!
//! Everything else in a pack names a series by reference, `${id}` for an entry of
//! the pack's own catalogue or `${pack.id}` for another pack's. Resolution runs
//! after the packs are selected and before anything is compiled, and rewrites each
//! reference into the spelling the rest of the loader has always read:
//!
//! - in `metrics:` (signals, families), the entry's name, and its aliases appended
//!   to `legacy:`;
//! - in `legacy:`, the entry's name and aliases;
//! - in indicator `series:` / `exclude:`, the name and aliases;
//! - in a detection item's `match:`, the name, or with `legacy: true` the entry's
//!   aliases (the name itself when it has none: a deprecated series);
//! - in prose (descriptions, notes, messages, remediation, docs), the name, so
//!   `${requests}_total` reads as the series an operator greps for;
//!   `${id|legacy}` is the entry's newest alias (for "was called … before").
//!
//! An exact name in a pattern position, or a catalogued spelling in prose, is a
//! located error that names the entry to refer to instead: a rename is then one
//! edit in one catalogue. Test-case evidence (`prom:` of a rule test) is sample
//! data, like a fixture file, and is left as written.

use super::model::*;
use super::yaml::Node;
use super::{diag, Diagnostic, Parsed};
use crate::normalize::pattern::Pattern;
use std::collections::HashMap;

/// One catalogue entry and where it was declared.
#[derive(Clone, Debug)]
pub struct CatalogueRule {
    pub pack: String,
    pub file: String,
    /// Where the entry's `id` is.
    pub pos: super::yaml::Pos,
    pub def: CatalogueEntry,
}

/// Every entry of the selected packs, by `(pack, id)` and by spelling.
#[derive(Clone, Debug, Default)]
pub struct Catalogues {
    pub entries: Vec<CatalogueRule>,
    by_ref: HashMap<(String, String), usize>,
    /// Every spelling (name and aliases, with and without `_total`) to its entry.
    by_name: HashMap<String, usize>,
}

impl Catalogues {
    /// The entry a reference names, seen from `pack`.
    pub fn get(&self, pack: &str, reference: &str) -> Option<&CatalogueRule> {
        let (p, id) = reference.split_once('.').unwrap_or((pack, reference));
        let i = self.by_ref.get(&(p.to_owned(), id.to_owned()))?;
        Some(&self.entries[*i])
    }

    /// The entry that spells `name` (exactly, or with `_total` toggled, or as a
    /// histogram or counter sample name).
    pub fn spelling(&self, name: &str) -> Option<&CatalogueRule> {
        if let Some(i) = self.by_name.get(name) {
            return Some(&self.entries[*i]);
        }
        ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find_map(|base| self.by_name.get(base))
            .map(|i| &self.entries[*i])
    }

    /// How a pack refers to an entry: `${id}` in its own pack, else `${pack.id}`.
    pub fn reference(&self, from_pack: &str, rule: &CatalogueRule) -> String {
        if rule.pack == from_pack {
            format!("${{{}}}", rule.def.id)
        } else {
            format!("${{{}.{}}}", rule.pack, rule.def.id)
        }
    }

    fn add(&mut self, rule: CatalogueRule, node: &Node, at: &str, diags: &mut Vec<Diagnostic>) {
        let i = self.entries.len();
        let key = (rule.pack.clone(), rule.def.id.clone());
        if self.by_ref.insert(key, i).is_some() {
            let msg = format!("catalogue id `{}` is declared twice", rule.def.id);
            diags.push(diag(&rule.file, node.locate(&format!("{at}/id")), msg));
        }
        let aliases = rule.def.aliases.iter().map(|a| a.name.as_str());
        for name in std::iter::once(rule.def.name.as_str()).chain(aliases) {
            for spelling in toggled(name) {
                if let Some(j) = self.by_name.insert(spelling, i) {
                    if j != i {
                        let first = &self.entries[j];
                        let msg = format!(
                            "`{name}` is already in the catalogue as `{}` ({}): one upstream name, one entry",
                            self.reference(&rule.pack, first),
                            first.file
                        );
                        diags.push(diag(&rule.file, node.locate(&format!("{at}/name")), msg));
                    }
                }
            }
        }
        self.entries.push(rule);
    }
}

/// A name and its counter twin (`x` and `x_total`).
fn toggled(name: &str) -> [String; 2] {
    match name.strip_suffix("_total") {
        Some(base) => [name.to_owned(), base.to_owned()],
        None => [name.to_owned(), format!("{name}_total")],
    }
}

/// The catalogues of the selected packs, with the meaning checks on their entries.
pub(super) fn collect(selected: &[(String, &[Parsed])], diags: &mut Vec<Diagnostic>) -> Catalogues {
    let mut out = Catalogues::default();
    for (pack, files) in selected {
        for p in files.iter() {
            let Parsed::Catalogue(file, node, cf) = p else {
                continue;
            };
            for (i, def) in cf.metrics.iter().enumerate() {
                let at = format!("/metrics/{i}");
                check_entry(file, node, &at, def, diags);
                let rule = CatalogueRule {
                    pack: pack.clone(),
                    file: file.clone(),
                    pos: node.locate(&format!("{at}/id")),
                    def: def.clone(),
                };
                out.add(rule, node, &at, diags);
            }
        }
    }
    ids_are_not_spellings(&out, diags);
    out
}

/// An id that is some entry's spelling would read as an upstream name in prose.
fn ids_are_not_spellings(cat: &Catalogues, diags: &mut Vec<Diagnostic>) {
    for (i, rule) in cat.entries.iter().enumerate() {
        let other = cat.by_name.get(&rule.def.id).filter(|j| **j != i);
        if let Some(other) = other.map(|j| &cat.entries[*j]) {
            let msg = format!(
                "catalogue id `{}` is the spelling of `{}`; an id must not look like an upstream name",
                rule.def.id, other.def.name
            );
            diags.push(diag(&rule.file, rule.pos, msg));
        }
    }
}

fn check_entry(
    file: &str,
    node: &Node,
    at: &str,
    def: &CatalogueEntry,
    diags: &mut Vec<Diagnostic>,
) {
    if !super::is_snake(&def.id) {
        let msg = format!("catalogue id `{}` must be snake_case", def.id);
        diags.push(diag(file, node.locate(&format!("{at}/id")), msg));
    }
    let names = std::iter::once(&def.name).chain(def.aliases.iter().map(|a| &a.name));
    for (j, name) in names.enumerate() {
        let field = if j == 0 {
            "name".to_owned()
        } else {
            format!("aliases/{}/name", j - 1)
        };
        if !matches!(Pattern::parse(name), Ok(Pattern::Exact(_))) || name.contains("${") {
            let msg = format!(
                "`{name}` is not a full metric name: a catalogue spells names, not patterns"
            );
            diags.push(diag(file, node.locate(&format!("{at}/{field}")), msg));
        }
        if toggled(name).contains(&def.id) {
            let msg = format!("catalogue id `{}` is an upstream spelling; an id must survive a rename, so pick another", def.id);
            diags.push(diag(file, node.locate(&format!("{at}/id")), msg));
        }
    }
}

/// Where references are resolved and spellings reported: one file of one pack.
pub(super) struct Site<'a> {
    pub cat: &'a Catalogues,
    pub pack: &'a str,
    pub file: &'a str,
    pub node: &'a Node,
}

impl<'a> Site<'a> {
    fn new(cat: &'a Catalogues, pack: &'a str, file: &'a str, node: &'a Node) -> Site<'a> {
        Site {
            cat,
            pack,
            file,
            node,
        }
    }

    fn err(&self, pointer: &str, message: String, diags: &mut Vec<Diagnostic>) {
        diags.push(diag(self.file, self.node.locate(pointer), message));
    }

    /// The entry a whole-string reference (`${id}`) names; `None` for a pattern.
    fn entry(
        &self,
        text: &str,
        pointer: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Option<&CatalogueRule>> {
        let inner = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'));
        let Some(reference) = inner else {
            if text.contains("${") {
                self.err(
                    pointer,
                    format!("`{text}`: a reference must be the whole pattern"),
                    diags,
                );
                return Some(None);
            }
            self.spelled_pattern(text, pointer, diags);
            return None;
        };
        match self.cat.get(self.pack, reference) {
            Some(rule) => Some(Some(rule)),
            None => {
                self.err(pointer, self.unknown(reference), diags);
                Some(None)
            }
        }
    }

    fn unknown(&self, reference: &str) -> String {
        let known: Vec<String> = self
            .cat
            .entries
            .iter()
            .map(|r| self.cat.reference(self.pack, r))
            .collect();
        let wanted = format!("${{{reference}}}");
        format!(
            "`{wanted}` names no catalogue entry{}",
            super::suggest(&wanted, known.iter())
        )
    }

    /// An exact name where a reference belongs is an error naming the entry.
    fn spelled_pattern(&self, text: &str, pointer: &str, diags: &mut Vec<Diagnostic>) {
        if !matches!(Pattern::parse(text), Ok(Pattern::Exact(_))) {
            return;
        }
        let msg = match self.cat.spelling(text) {
            Some(rule) => format!(
                "`{text}` spells an upstream name outside its catalogue (did you mean `{}`?)",
                self.cat.reference(self.pack, rule)
            ),
            None => format!(
                "`{text}` spells an upstream name that no catalogue declares: add it to the pack's `kind: catalogue` file and refer to it by id{}",
                self.closest_id(text)
            ),
        };
        self.err(pointer, msg, diags);
    }

    fn closest_id(&self, text: &str) -> String {
        let names: Vec<String> = self
            .cat
            .entries
            .iter()
            .map(|r| r.def.name.clone())
            .collect();
        let hint = super::suggest(text, names.iter());
        let found = self
            .cat
            .entries
            .iter()
            .find(|r| hint.contains(&format!("`{}`", r.def.name)));
        match found {
            Some(r) => format!(
                " (closest entry: `{}`, `{}`)",
                self.cat.reference(self.pack, r),
                r.def.name
            ),
            None => String::new(),
        }
    }

    /// `metrics:` and `legacy:` of a signal or family, at `base` (`…/metrics`).
    pub fn lists(
        &self,
        metrics: &mut Vec<String>,
        legacy: &mut Vec<String>,
        base: &str,
        diags: &mut Vec<Diagnostic>,
    ) {
        let (mut current, mut old) = (Vec::new(), Vec::new());
        for (j, text) in metrics.iter().enumerate() {
            let at = format!("{base}/metrics/{j}");
            match self.entry(text, &at, diags) {
                None => current.push(text.clone()),
                Some(None) => {}
                Some(Some(rule)) => {
                    if let Some(r) = &rule.def.removed_in {
                        let msg =
                            format!("`{text}` was removed upstream ({r}): list it under `legacy:`");
                        self.err(&at, msg, diags);
                    }
                    current.push(rule.def.name.clone());
                    old.extend(rule.def.aliases.iter().map(|a| a.name.clone()));
                }
            }
        }
        for (j, text) in legacy.iter().enumerate() {
            let at = format!("{base}/legacy/{j}");
            old.extend(self.all_spellings(text, &at, diags));
        }
        dedup(&mut old);
        *metrics = current;
        *legacy = old;
    }

    /// A pattern list where every spelling counts (indicators).
    pub fn patterns(&self, list: &mut Vec<String>, base: &str, diags: &mut Vec<Diagnostic>) {
        let mut out = Vec::new();
        for (j, text) in list.iter().enumerate() {
            out.extend(self.all_spellings(text, &format!("{base}/{j}"), diags));
        }
        dedup(&mut out);
        *list = out;
    }

    fn all_spellings(&self, text: &str, at: &str, diags: &mut Vec<Diagnostic>) -> Vec<String> {
        match self.entry(text, at, diags) {
            None => vec![text.to_owned()],
            Some(None) => Vec::new(),
            Some(Some(rule)) => std::iter::once(&rule.def.name)
                .chain(rule.def.aliases.iter().map(|a| &a.name))
                .cloned()
                .collect(),
        }
    }

    /// A detection item's `match:`; with `legacy`, the entry's old spellings (one
    /// alias as itself, several as one anchored regex), or the name itself when it
    /// has none (a deprecated or removed series).
    pub fn single(&self, text: &mut String, legacy: bool, at: &str, diags: &mut Vec<Diagnostic>) {
        let Some(Some(rule)) = self.entry(text, at, diags) else {
            return;
        };
        let def = &rule.def;
        *text = match (legacy, &def.aliases[..]) {
            (false, _) | (true, []) => def.name.clone(),
            (true, [one]) => one.name.clone(),
            (true, all) => {
                let names: Vec<String> = all.iter().map(|a| regex::escape(&a.name)).collect();
                format!("re:^(?:{})$", names.join("|"))
            }
        };
    }

    /// A single name field (not a pattern): a reference or a catalogued spelling.
    pub fn name(&self, text: &mut String, at: &str, diags: &mut Vec<Diagnostic>) {
        if let Some(Some(rule)) = self.entry(text, at, diags) {
            *text = rule.def.name.clone();
        }
    }

    /// Prose: references replaced by names; a catalogued spelling is an error.
    pub fn prose(&self, text: &mut String, at: &str, diags: &mut Vec<Diagnostic>) {
        for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if let Some(rule) = self.cat.spelling(token) {
                let msg = format!(
                    "`{token}` spells an upstream name in prose; write `{}` (with the suffix after it) so a rename reaches it",
                    self.cat.reference(self.pack, rule)
                );
                self.err(at, msg, diags);
            }
        }
        if !text.contains("${") {
            return;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.err(at, "`${` without a closing `}`".to_owned(), diags);
                return;
            };
            let (reference, legacy) = match after[..end].strip_suffix("|legacy") {
                Some(r) => (r, true),
                None => (&after[..end], false),
            };
            match self.cat.get(self.pack, reference) {
                Some(rule) if legacy => match rule.def.aliases.first() {
                    Some(a) => out.push_str(&a.name),
                    None => self.err(
                        at,
                        format!("`${{{reference}|legacy}}`: the entry has no alias"),
                        diags,
                    ),
                },
                Some(rule) => out.push_str(&rule.def.name),
                None => self.err(at, self.unknown(reference), diags),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        *text = out;
    }
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|s| seen.insert(s.clone()));
}

/// Resolves every reference in one parsed file of `pack`.
pub(super) fn resolve(
    cat: &Catalogues,
    pack: &str,
    parsed: &mut Parsed,
    diags: &mut Vec<Diagnostic>,
) {
    let site = |file, node| Site::new(cat, pack, file, node);
    match parsed {
        Parsed::Engine(file, node, ef) => resolve_engine(&site(file, node), &mut ef.engine, diags),
        Parsed::Families(file, node, ff) => resolve_families(&site(file, node), ff, diags),
        Parsed::Modes(file, node, mf) => resolve_modes(&site(file, node), mf, diags),
        Parsed::Findings(file, node, findings) => {
            let site = site(file, node);
            for (i, def) in findings.iter_mut() {
                resolve_finding(&site, &format!("/findings/{i}"), def, diags);
            }
        }
        Parsed::Conditions(file, node, cf) => {
            let site = site(file, node);
            for (i, c) in cf.conditions.iter_mut().enumerate() {
                site.prose(
                    &mut c.description,
                    &format!("/conditions/{i}/description"),
                    diags,
                );
            }
        }
        _ => {}
    }
}

fn resolve_engine(site: &Site, def: &mut EngineDef, diags: &mut Vec<Diagnostic>) {
    site.prose(&mut def.description, "/engine/description", diags);
    for (i, ev) in def.detection.evidence.iter_mut().enumerate() {
        let at = format!("/engine/detection/evidence/{i}");
        site.single(&mut ev.pattern, ev.legacy, &format!("{at}/match"), diags);
        site.prose(&mut ev.note, &format!("{at}/note"), diags);
    }
    for (name, sig) in def.signals.iter_mut() {
        let at = format!("/engine/signals/{name}");
        site.prose(&mut sig.description, &format!("{at}/description"), diags);
        let refs: Vec<String> = sig.metrics.clone();
        site.lists(&mut sig.metrics, &mut sig.legacy, &at, diags);
        check_types(site, &refs, sig.kind, &format!("{at}/metrics"), diags);
    }
}

/// A signal's type must be the type of every entry its `metrics:` refer to.
fn check_types(
    site: &Site,
    refs: &[String],
    kind: SignalType,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) {
    for (j, text) in refs.iter().enumerate() {
        let inner = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'));
        let Some(rule) = inner.and_then(|r| site.cat.get(site.pack, r)) else {
            continue;
        };
        if let Some(t) = rule.def.kind.filter(|t| *t != kind) {
            let msg = format!("`{text}` is a {t:?} in the catalogue but this signal is a {kind:?}");
            site.err(&format!("{at}/{j}"), msg, diags);
        }
    }
}

fn resolve_families(site: &Site, ff: &mut FamiliesFile, diags: &mut Vec<Diagnostic>) {
    for (i, s) in ff.surfaces.iter_mut().enumerate() {
        site.prose(&mut s.title, &format!("/surfaces/{i}/title"), diags);
        for (j, f) in s.families.iter_mut().enumerate() {
            let at = format!("/surfaces/{i}/families/{j}");
            site.prose(&mut f.description, &format!("{at}/description"), diags);
            site.lists(&mut f.metrics, &mut f.legacy, &at, diags);
        }
    }
}

fn resolve_modes(site: &Site, mf: &mut ModesFile, diags: &mut Vec<Diagnostic>) {
    for (i, ind) in mf.indicators.iter_mut().enumerate() {
        let at = format!("/indicators/{i}");
        site.prose(&mut ind.description, &format!("{at}/description"), diags);
        site.patterns(&mut ind.series, &format!("{at}/series"), diags);
        site.patterns(&mut ind.exclude, &format!("{at}/exclude"), diags);
    }
    if let Some(o) = &mut mf.observability {
        let at = "/observability/service_instance_family";
        site.name(&mut o.service_instance_family, at, diags);
    }
}

fn resolve_finding(site: &Site, at: &str, def: &mut FindingDef, diags: &mut Vec<Diagnostic>) {
    site.prose(&mut def.title, &format!("{at}/title"), diags);
    site.prose(&mut def.message, &format!("{at}/message"), diags);
    site.prose(&mut def.remediation, &format!("{at}/remediation"), diags);
    site.prose(&mut def.docs, &format!("{at}/docs"), diags);
    if let Some(q) = &mut def.upstream_question {
        site.prose(q, &format!("{at}/upstream_question"), diags);
    }
}
