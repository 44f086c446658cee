//! What a recognized setting does to the document, by its pack-declared kind.

use super::knowledge::{norm_key, NameForm, SettingDef, SettingKind, SettingOrigin};
use super::{clip, Collector, Val, MAX_ITEMS};
use crate::evidence::lct::Location;
use crate::redact::REDACTED;
use serde_json::{Map, Value as Json};

impl<'k> Collector<'k> {
    /// Applies one named setting; true when the name is one the packs know (or a
    /// secret, which is only noted).
    pub(super) fn apply_setting(
        &mut self,
        raw: &str,
        val: Val,
        origin: SettingOrigin,
        program: Option<&str>,
        at: &Location,
    ) -> bool {
        if self.is_secret(raw) {
            self.redact(raw);
            return true;
        }
        let key = norm_key(raw);
        let form = if origin == SettingOrigin::Env {
            NameForm::Env
        } else {
            NameForm::Plain
        };
        let usable = |d: &&SettingDef| d.reads(origin) && d.allowed_under(program);
        // `NAME.field` addresses one field of an object setting.
        if let Some((head, field)) = key.split_once('.') {
            let object = self.know.setting(head, form).filter(usable);
            if let Some(def) = object.filter(|d| d.kind == SettingKind::Object) {
                self.note_hint(def);
                return self.object_field(def, field, &val, raw, true, at);
            }
        }
        match self.know.setting(&key, form).filter(usable) {
            Some(def) => {
                self.accept(def, raw, &key, &val, true, at);
                true
            }
            None => false,
        }
    }

    fn note_hint(&mut self, def: &SettingDef) {
        if let Some(h) = &def.hint {
            if !self.hints.contains(h) {
                self.hints.push(h.clone());
            }
        }
    }

    /// A recognized setting's value; `top` is false inside a nested object.
    pub(super) fn accept(
        &mut self,
        def: &'k SettingDef,
        raw: &str,
        key: &str,
        val: &Val,
        top: bool,
        at: &Location,
    ) {
        self.facts += 1;
        self.note_hint(def);
        self.open_section(def);
        match def.kind {
            SettingKind::AnyTrue => {
                if self.bool_of(raw, val, at) == Some(true) {
                    self.set(def, Json::Bool(true));
                }
            }
            SettingKind::Switch => {
                if let Some(b) = self.bool_of(raw, val, at) {
                    self.set(def, Json::Bool(b));
                }
            }
            SettingKind::Text | SettingKind::FirstText => self.text_setting(def, raw, val, top, at),
            SettingKind::Number | SettingKind::Integer => self.number(def, raw, val, at),
            SettingKind::Append => self.append_values(def, raw, val, at),
            SettingKind::Disable => {
                if self.bool_of(raw, val, at) == Some(true) {
                    let strip = def.strip.as_deref().map(norm_key).unwrap_or_default();
                    let what = key.strip_prefix(strip.as_str()).unwrap_or(key);
                    self.insert_sorted(def, clip(what));
                }
            }
            SettingKind::Spec => self.specs(def, val, at),
            SettingKind::Object => self.object(def, raw, val, at),
            SettingKind::Extra => self.extra(def, raw, val, top, at),
            SettingKind::HashSeed => self.hash_seed(def, raw, val, at),
            SettingKind::Program => {
                let id = self.text_of(raw, val, at);
                if let Some(p) = id.and_then(|id| self.know.program(&id)) {
                    if !self.engines.contains(&p.id) {
                        self.engines.push(p.id.clone());
                    }
                }
            }
        }
    }

    fn text_setting(&mut self, def: &SettingDef, raw: &str, val: &Val, top: bool, at: &Location) {
        let Some(t) = self.text_of(raw, val, at) else {
            return;
        };
        for imp in &def.implies {
            if t.eq_ignore_ascii_case(&imp.value) {
                self.push_distinct(&imp.to, &imp.add);
            }
        }
        if def.kind == SettingKind::Text || (top && self.slot(def).is_some_and(|s| s.is_null())) {
            self.set(def, Json::String(t));
        }
    }

    fn number(&mut self, def: &SettingDef, raw: &str, val: &Val, at: &Location) {
        let Some(t) = self.text_of(raw, val, at) else {
            return;
        };
        if def.kind == SettingKind::Integer {
            match t.parse::<u64>() {
                Ok(n) => self.set(def, Json::from(n)),
                Err(_) => self.unreadable(
                    at.clone(),
                    format!("`{}` is not a non-negative integer", clip(raw)),
                ),
            }
            return;
        }
        match t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) => self.set(def, Json::Number(n)),
            None => self.unreadable(at.clone(), format!("`{}` is not a number", clip(raw))),
        }
    }

    fn append_values(&mut self, def: &SettingDef, raw: &str, val: &Val, at: &Location) {
        let to = def.to.clone().unwrap_or_default();
        if let Val::Json(Json::Array(items)) = val {
            for name in items.iter().filter_map(Json::as_str) {
                let name = self.clean(raw, name);
                self.push_distinct(&to, &name);
            }
        } else if let Some(name) = self.text_of(raw, val, at) {
            self.push_distinct(&to, &name);
        }
    }

    // ---- the document -----------------------------------------------------------------

    /// Creates the section a setting writes into, the first time one is read.
    fn open_section(&mut self, def: &SettingDef) {
        let Some(section) = def.to.as_deref().and_then(section_of) else {
            return;
        };
        let Some(init) = self.know.sections.get(section) else {
            return;
        };
        if let Some(doc) = self.doc.as_object_mut() {
            if !doc.get(section).is_some_and(Json::is_object) {
                doc.insert(section.to_owned(), init.clone());
            }
        }
    }

    fn slot(&mut self, def: &SettingDef) -> Option<&mut Json> {
        let to = def.to.as_deref()?;
        self.doc.pointer_mut(to)
    }

    fn set(&mut self, def: &SettingDef, v: Json) {
        if let Some(slot) = self.slot(def) {
            *slot = v;
        }
    }

    /// Appends `value` to the list at `to` unless it is there (or the list is full).
    fn push_distinct(&mut self, to: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        if let Some(Json::Array(list)) = self.doc.pointer_mut(to) {
            if list.len() < MAX_ITEMS && !list.iter().any(|c| c == value) {
                list.push(Json::String(clip(value)));
            }
        }
    }

    fn push(&mut self, def: &SettingDef, value: String) {
        if let Some(Json::Array(list)) = self.slot(def) {
            if list.len() < MAX_ITEMS {
                list.push(Json::String(value));
            }
        }
    }

    fn insert_sorted(&mut self, def: &SettingDef, value: String) {
        if let Some(Json::Array(list)) = self.slot(def) {
            let v = Json::String(value);
            let pos = list.binary_search_by(|x| x.as_str().cmp(&v.as_str()));
            if let Err(i) = pos {
                if list.len() < MAX_ITEMS {
                    list.insert(i, v);
                }
            }
        }
    }

    // ---- objects ------------------------------------------------------------------------

    /// An `object` setting's value: a JSON object, or a string holding one.
    fn object(&mut self, def: &'k SettingDef, raw: &str, val: &Val, at: &Location) {
        let parsed = match val {
            Val::Json(Json::String(s)) | Val::Text(s) => {
                serde_json::from_str::<Json>(s).map_err(|e| (e.to_string(), s.clone()))
            }
            Val::Json(j) => Ok(j.clone()),
            Val::Bare => Err(("no value".to_owned(), String::new())),
        };
        match parsed {
            Ok(Json::Object(obj)) => self.object_fields(def, &obj, &norm_key(raw), true, at),
            Ok(_) => self.unreadable(at.clone(), format!("`{}` is not a JSON object", clip(raw))),
            Err((e, text)) => {
                self.unreadable(
                    at.clone(),
                    format!(
                        "`{}` is not valid JSON ({e}); known fields scanned from the text",
                        clip(raw)
                    ),
                );
                // Honest fallback: the values are still plainly written there.
                for field in self.fields_of(def).into_iter().filter(|f| f.scan) {
                    for v in scan_string_fields(&text, field.name()) {
                        self.accept(
                            field,
                            field.name(),
                            &norm_key(field.name()),
                            &Val::Text(v),
                            true,
                            at,
                        );
                    }
                }
            }
        }
    }

    fn fields_of(&self, def: &SettingDef) -> Vec<&'k SettingDef> {
        def.fields
            .iter()
            .filter_map(|f| self.know.by_name(f))
            .collect()
    }

    fn object_fields(
        &mut self,
        def: &'k SettingDef,
        obj: &Map<String, Json>,
        name: &str,
        top: bool,
        at: &Location,
    ) {
        for (k, v) in obj {
            if self.is_secret(k) {
                self.redact(&format!("{name}.{k}"));
                continue;
            }
            self.object_field(def, &norm_key(k), &Val::Json(v.clone()), k, top, at);
        }
    }

    /// One field of an object setting; true when the object has such a field.
    pub(super) fn object_field(
        &mut self,
        def: &'k SettingDef,
        field: &str,
        val: &Val,
        raw: &str,
        top: bool,
        at: &Location,
    ) -> bool {
        let found = self
            .fields_of(def)
            .into_iter()
            .find(|f| f.names.iter().any(|n| norm_key(n) == field));
        match found {
            Some(f) => {
                self.accept(f, raw, field, val, top, at);
                true
            }
            None => false,
        }
    }

    /// An `extra` object: stored at the top level, its nested-name entries read as
    /// their settings, its `list` objects read as fields of the enclosing object.
    fn extra(&mut self, def: &'k SettingDef, raw: &str, val: &Val, top: bool, at: &Location) {
        let json = match val {
            Val::Json(Json::String(s)) | Val::Text(s) => match serde_json::from_str(s) {
                Ok(j) => j,
                Err(e) => {
                    let msg = format!("`{}` is not valid JSON ({e})", clip(raw));
                    return self.unreadable(at.clone(), msg);
                }
            },
            Val::Json(j) => j.clone(),
            Val::Bare => return,
        };
        let Json::Object(mut obj) = json else {
            let msg = format!("`{}` is not a JSON object", clip(raw));
            return self.unreadable(at.clone(), msg);
        };
        let name = norm_key(def.name());
        if let Some(list) = def.list.as_deref() {
            let parent = self.know.settings.iter().find(|s| {
                s.kind == SettingKind::Object && s.fields.iter().any(|f| norm_key(f) == name)
            });
            if let (Some(parent), Some(Json::Array(inner))) = (parent, obj.get(list)) {
                for c in inner.clone() {
                    if let Json::Object(c) = c {
                        self.object_fields(parent, &c, &format!("{name}.{list}"), false, at);
                    }
                }
            }
        }
        if self.yaml {
            obj = flatten(obj);
        }
        for (k, v) in obj {
            if let Some(nd) = self.know.setting(&norm_key(&k), NameForm::Nested) {
                self.accept(nd, &k, &norm_key(&k), &Val::Json(v.clone()), true, at);
            }
            if top {
                self.extra_entry(def, &name, &k, v);
            }
        }
    }

    /// Stores one entry of an `extra` object, redacted.
    fn extra_entry(&mut self, def: &SettingDef, name: &str, key: &str, v: Json) {
        let full = self
            .slot(def)
            .and_then(|j| j.as_object())
            .is_none_or(|m| m.len() >= MAX_ITEMS && !m.contains_key(key));
        if full {
            return;
        }
        let path = format!("{name}.{key}");
        let v = if self.is_secret(key) {
            self.redact(&path);
            Json::String(REDACTED.to_owned())
        } else {
            self.redact_json(v, &path, 0)
        };
        if let Some(Json::Object(m)) = self.slot(def) {
            m.insert(clip(key), v);
        }
    }

    fn redact_json(&mut self, v: Json, path: &str, depth: usize) -> Json {
        match v {
            Json::String(s) => Json::String(self.clean(path, &s)),
            Json::Object(map) if depth < 32 => Json::Object(
                map.into_iter()
                    .take(MAX_ITEMS)
                    .map(|(k, v)| {
                        let p = format!("{path}.{k}");
                        let v = if self.is_secret(&k) {
                            self.redact(&p);
                            Json::String(REDACTED.to_owned())
                        } else {
                            self.redact_json(v, &p, depth + 1)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Json::Array(items) if depth < 32 => Json::Array(
                items
                    .into_iter()
                    .take(MAX_ITEMS)
                    .map(|v| self.redact_json(v, path, depth + 1))
                    .collect(),
            ),
            Json::Object(_) | Json::Array(_) => Json::String("<too deep>".to_owned()),
            other => other,
        }
    }

    // ---- specs and the hash seed --------------------------------------------------------

    /// `spec` settings: each JSON spec reduced to its `keep` field.
    fn specs(&mut self, def: &SettingDef, val: &Val, at: &Location) {
        let label = def.label.as_deref().unwrap_or("spec");
        let spec = match val {
            Val::Json(Json::String(s)) | Val::Text(s) => {
                serde_json::from_str::<Json>(s).map_err(|e| e.to_string())
            }
            Val::Json(j) => Ok(j.clone()),
            Val::Bare => Err("no value".to_owned()),
        };
        let specs = match spec {
            Ok(Json::Array(items)) => items,
            Ok(Json::String(s)) => match serde_json::from_str::<Json>(&s) {
                Ok(j) => vec![j],
                Err(e) => return self.unparsed(def, at, format!("{label} spec is not JSON ({e})")),
            },
            Ok(other) => vec![other],
            Err(e) => return self.unparsed(def, at, format!("{label} spec is not JSON ({e})")),
        };
        let keep = def.keep.as_deref().unwrap_or("type");
        for spec in specs {
            match spec.get(keep).and_then(Json::as_str) {
                Some(t) => {
                    let t = self.clean(&format!("{}.{keep}", norm_key(def.name())), t);
                    self.push(def, t);
                }
                None => {
                    let msg = format!("{label} spec has no string `{keep}`");
                    self.unparsed(def, at, msg);
                }
            }
        }
    }

    fn unparsed(&mut self, def: &SettingDef, at: &Location, msg: String) {
        self.unreadable(at.clone(), msg);
        self.push(def, "<unparsed>".to_owned());
    }

    fn hash_seed(&mut self, def: &SettingDef, raw: &str, val: &Val, at: &Location) {
        let Some(v) = self.text_of(raw, val, at) else {
            return;
        };
        if !valid_seed(def, &v) {
            let msg = format!(
                "{} is neither `{}` nor an integer in [0, {}]",
                def.name(),
                def.random_word.as_deref().unwrap_or(""),
                def.max.unwrap_or(u64::MAX)
            );
            self.unreadable(at.clone(), msg);
        }
        if !self.seeds.contains(&v) && self.seeds.len() < MAX_ITEMS {
            self.seeds.push(v);
        }
    }

    /// `(hash_seed_risk, hash_seed_note)` from the seeds read.
    pub(super) fn hash_seed_verdict(&self) -> (bool, String) {
        let def = self
            .know
            .settings
            .iter()
            .find(|s| s.kind == SettingKind::HashSeed);
        let name = def.map_or("the hash seed", |d| d.name());
        let random = def.and_then(|d| d.random_word.as_deref()).unwrap_or("");
        let invalid = self
            .seeds
            .iter()
            .any(|v| def.is_none_or(|d| !valid_seed(d, v)));
        match self.seeds.as_slice() {
            [] => (true, format!("{name} is not set in any launch input")),
            _ if invalid => (
                true,
                format!("{name} has a value Python refuses (neither `{random}` nor an integer)"),
            ),
            [one] if one == random => (true, format!("{name}={random}: hashes differ per process")),
            [one] => (false, format!("{name}={one} wherever it is set")),
            many => (
                true,
                format!("{name} differs between launch inputs: {}", many.join(", ")),
            ),
        }
    }

    // ---- values -----------------------------------------------------------------------

    /// A setting's value as stored text (cleaned), or `None` with the problem noted.
    fn text_of(&mut self, raw: &str, val: &Val, at: &Location) -> Option<String> {
        let text = match val {
            Val::Text(t) => t.clone(),
            Val::Json(Json::String(s)) => s.clone(),
            Val::Json(j @ (Json::Number(_) | Json::Bool(_))) => j.to_string(),
            Val::Json(Json::Null) => return None,
            Val::Json(_) => {
                self.unreadable(at.clone(), format!("`{}` is not a scalar", clip(raw)));
                return None;
            }
            Val::Bare => {
                self.unreadable(at.clone(), format!("`{}` has no value", clip(raw)));
                return None;
            }
        };
        Some(self.clean(raw, text.trim()))
    }

    fn bool_of(&mut self, raw: &str, val: &Val, at: &Location) -> Option<bool> {
        let text = match val {
            Val::Bare => return Some(true),
            Val::Json(Json::Bool(b)) => return Some(*b),
            Val::Json(Json::Number(n)) => return Some(n.as_f64() != Some(0.0)),
            Val::Json(Json::Null) => return None,
            Val::Json(Json::String(s)) | Val::Text(s) => s.trim().to_ascii_lowercase(),
            Val::Json(_) => String::new(),
        };
        match text.as_str() {
            "true" | "1" | "yes" | "on" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "n" | "" => Some(false),
            _ => {
                self.unreadable(at.clone(), format!("`{}` is not a boolean", clip(raw)));
                None
            }
        }
    }
}

/// The section (`/name/field`) a pointer writes into, if it is two levels deep.
fn section_of(pointer: &str) -> Option<&str> {
    let rest = pointer.strip_prefix('/')?;
    let (section, field) = rest.split_once('/')?;
    (!field.is_empty()).then_some(section)
}

/// What Python accepts for its hash seed, as the pack words it: the random word or
/// an integer in [0, max].
fn valid_seed(def: &SettingDef, v: &str) -> bool {
    def.random_word.as_deref() == Some(v)
        || v.parse::<u64>()
            .is_ok_and(|n| n <= def.max.unwrap_or(u64::MAX))
}

/// Nested objects as dotted keys (`{"a": {"b": 1}}` → `{"a.b": 1}`), for YAML
/// blocks; lists are kept.
fn flatten(obj: Map<String, Json>) -> Map<String, Json> {
    let mut out = Map::new();
    fn go(prefix: &str, obj: Map<String, Json>, out: &mut Map<String, Json>, depth: usize) {
        for (k, v) in obj {
            let key = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Json::Object(inner) if depth < 32 && !inner.is_empty() => {
                    go(&key, inner, out, depth + 1)
                }
                v => {
                    out.insert(key, v);
                }
            }
        }
    }
    go("", obj, &mut out, 0);
    out
}

/// Every `"field": "value"` in text that is not valid JSON.
fn scan_string_fields(text: &str, field: &str) -> Vec<String> {
    let needle = format!("\"{field}\"");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let Some(after) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let Some(value) = after.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some(end) = value.find('"') {
            let name = &value[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.push(name.to_owned());
            }
        }
    }
    out
}
