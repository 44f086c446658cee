//! Launch commands and configuration of vLLM, SGLang and the LMCache MP server, read
//! into the launch evidence document (`launch_evidence.json`).
//!
//! Sits at the start of the evidence pipeline next to the other parsers: the bytes
//! of one or more files in, one serializable [`LaunchEvidence`] out. `lmcache-compat`
//! reads `/engine`, `/connectors`, `/kv_role` and `/flags/*` from it.
//!
//! # What it reads
//!
//! Each file is JSON when it parses as JSON; otherwise every line is either
//! YAML-ish (`key: value`, `- item`, read with indentation so `env:` lists,
//! `kv_connector_extra_config:` blocks and Kubernetes `command:`/`args:` work) or a
//! shell command line (quotes, `\` continuations, `#` comments, `;`/`&&`/`|`,
//! `NAME=value` assignments, `export`, `bash -c "…"`, `docker run -e NAME=value`).
//! A JSON file that does not parse is reported and then read as text, so what it
//! does say still counts.
//!
//! Programs: `vllm serve` and `python -m vllm.entrypoints…` (vLLM),
//! `python -m sglang.launch_server` (SGLang), `lmcache server` and
//! `python -m lmcache.v1.multiprocess.server` (LMCache MP server). Without a
//! program, the engine is inferred from the settings: a KV transfer config or
//! offloading backend means vLLM, `enable_lmcache` SGLang, MP-only flags the MP
//! server.
//!
//! Settings are matched by name wherever they appear, as flags (`--kv-role x`,
//! `--kv-role=x`), config keys (`kv_role: x`, `"kv_role": "x"`) or environment
//! variables (`LMCACHE_ENABLE_P2P=true`); names are compared with `-` and `_`
//! equal and case ignored. `--kv-transfer-config` takes JSON (and vLLM's
//! `--kv-transfer-config.kv_role=x` form); `kv_connector` values found anywhere in
//! it, including inside a `MultiConnector`'s `connectors` list, become
//! `connectors`. `--kv-offloading-backend lmcache` adds `LMCacheConnectorV1`, the
//! connector vLLM configures for it.
//!
//! MP server flags are only taken from an `lmcache server` command or from inputs
//! that name no program, so vLLM's own `--disable-log-stats` is not read as an MP
//! setting.
//!
//! # Secrets
//!
//! Values are redacted before anything is stored. A setting whose name has a
//! secret word as one of its parts (`TOKEN`, `KEY`, `SECRET`, `PASSWORD`, `AUTH`,
//! `AUTHORIZATION`, `CREDENTIAL`, `COOKIE`, …; so `--api-key`, `HF_TOKEN`,
//! `OPENAI_API_KEY`, `Authorization`, but not `--max-num-batched-tokens`) keeps
//! its name and has its value replaced by `<redacted>`; passwords in URLs
//! (`redis://user:pw@host`), `Bearer`/`Basic` credentials and secret query
//! parameters are replaced inside any stored string. Every name redacted is listed
//! in `redacted`. Unreadable items never echo input.

use super::lct::{Location, Source, Unreadables};
use crate::redact::{is_secret_name, scrub, REDACTED};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// `schema_version` of the launch evidence document.
pub const LAUNCH_EVIDENCE_SCHEMA_VERSION: &str = "inferguard.launch-evidence/v1";

/// The `env` value of a variable set without a literal value (a Kubernetes
/// `valueFrom`, `docker run -e NAME`).
pub const NO_LITERAL: &str = "<no literal value>";

/// The connector vLLM configures for `--kv-offloading-backend lmcache`.
pub const OFFLOAD_CONNECTOR: &str = "LMCacheConnectorV1";

/// Lines (logical, after continuations) longer than this are skipped and reported.
const MAX_LINE: usize = 1 << 20;

/// Entries kept per list or map (connectors, env, redacted names, …).
const MAX_ITEMS: usize = 256;

/// Longest string stored; longer ones are cut.
const MAX_TEXT: usize = 512;

/// Deepest `bash -c "…"` nesting followed.
const MAX_NESTING: usize = 4;

/// The launch evidence document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LaunchEvidence {
    /// Always [`LAUNCH_EVIDENCE_SCHEMA_VERSION`].
    pub schema_version: String,
    /// `measured` when at least one launch fact (program, connector, setting,
    /// environment variable) was read, else `not_proven`.
    pub claim_status: String,
    /// Why the claim is not proven; `null` when measured.
    pub reason: Option<String>,
    pub sources: Vec<Source>,
    /// `vllm`, `sglang`, `lmcache_server` or `unknown`: the first serving engine
    /// launched (vLLM or SGLang), else the MP server, else inferred from settings.
    pub engine: String,
    /// Every program seen, in order (`vllm`, `sglang`, `lmcache_server`).
    pub engines: Vec<String>,
    /// Connector class names, in order seen: `kv_connector` values (nested
    /// `MultiConnector` ones included) and [`OFFLOAD_CONNECTOR`] for
    /// `--kv-offloading-backend lmcache`.
    pub connectors: Vec<String>,
    /// `kv_role` of the KV transfer config (`kv_producer`, `kv_consumer`,
    /// `kv_both`); the first one seen.
    pub kv_role: Option<String>,
    /// `kv_connector_module_path` (set for `LMCacheConnectorV1Dynamic`).
    pub kv_connector_module_path: Option<String>,
    /// The top-level `kv_connector_extra_config` object, secrets redacted; YAML
    /// blocks are flattened to dotted keys.
    pub kv_connector_extra_config: serde_json::Map<String, Json>,
    pub flags: LaunchFlags,
    /// Distinct `PYTHONHASHSEED` values, in order seen.
    pub python_hash_seeds: Vec<String>,
    /// True when `PYTHONHASHSEED` is set nowhere, differs between inputs, is
    /// `random` or is a value Python refuses: hashes (prefix-cache keys) may then
    /// differ between processes.
    pub hash_seed_risk: bool,
    /// Why `hash_seed_risk` is what it is.
    pub hash_seed_note: String,
    /// LMCache MP server settings; `null` when no MP server launch was seen.
    pub mp_server: Option<MpServer>,
    /// Environment assignments seen (`NAME=value`, `env:` blocks), secrets redacted.
    pub env: BTreeMap<String, String>,
    /// Names whose values were redacted, as written (`--api-key`, `HF_TOKEN`,
    /// `Authorization`, `kv_connector_extra_config.remote_url`).
    pub redacted: Vec<String>,
    #[serde(flatten)]
    pub problems: Unreadables,
}

/// Feature flags read from engine flags, LMCache config and `LMCACHE_*` variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct LaunchFlags {
    /// SGLang `--enable-lmcache`.
    pub enable_lmcache: bool,
    /// LMCache `enable_p2p`.
    pub enable_p2p: bool,
    /// LMCache `enable_pd` (disaggregated prefill).
    pub enable_pd: bool,
    /// vLLM `--kv-offloading-backend`.
    pub kv_offloading_backend: Option<String>,
    /// LMCache `pd_role` (`sender`, `receiver`).
    pub pd_role: Option<String>,
    /// LMCache `transfer_channel` (`nixl`, …).
    pub transfer_channel: Option<String>,
    /// `LMCACHE_CONFIG_FILE` or SGLang `--lmcache-config-file`.
    pub lmcache_config_file: Option<String>,
    /// Engine `--enable-metrics` (SGLang).
    pub enable_metrics: bool,
}

/// Settings of an `lmcache server` launch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct MpServer {
    /// `--trace-level` (`storage`, `events`).
    pub trace_level: Option<String>,
    /// `--trace-output`.
    pub trace_output: Option<String>,
    /// `--metrics-sample-rate` (LMCache default 0.01).
    pub metrics_sample_rate: Option<f64>,
    /// `--event-bus-queue-size` (LMCache default 10000).
    pub event_bus_queue_size: Option<u64>,
    /// What `--disable-*` flags turn off (`metrics`, `logging`, `observability`,
    /// `grpc_metrics`, …), sorted.
    pub disabled: Vec<String>,
    /// `--enable-tracing`.
    pub tracing_enabled: bool,
    /// `--otlp-endpoint`, credentials redacted.
    pub otlp_endpoint: Option<String>,
    /// The `type` of each `--l2-adapter` JSON spec, in order; `<unparsed>` for a
    /// spec that is not JSON. The specs themselves are not kept (they can hold
    /// credentials).
    pub l2_adapters: Vec<String>,
    /// `--lookup-hash-log-dir`.
    pub lookup_hash_log_dir: Option<String>,
    /// `--instance-id` (the OTel `service_instance_id`).
    pub instance_id: Option<String>,
    /// `--http-port` (default 8080; serves `/metrics`).
    pub http_port: Option<u64>,
    /// `--prometheus-port` (default 9090, without the HTTP frontend).
    pub prometheus_port: Option<u64>,
}

/// Reads launch inputs, `(path, bytes)` each. Never fails: problems end up in the
/// document.
pub fn parse(files: &[(&str, &[u8])]) -> LaunchEvidence {
    let mut c = Collector::default();
    for (path, bytes) in files {
        c.sources.push(Source {
            path: (*path).to_owned(),
            bytes: bytes.len() as u64,
        });
        c.read_file(path, bytes);
    }
    c.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Vllm,
    Sglang,
    LmcacheServer,
    Unknown,
}

impl Engine {
    fn as_str(self) -> &'static str {
        match self {
            Engine::Vllm => "vllm",
            Engine::Sglang => "sglang",
            Engine::LmcacheServer => "lmcache_server",
            Engine::Unknown => "unknown",
        }
    }
}

/// Where a setting came from, which decides how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Flag,
    Config,
    Env,
}

/// A setting's value as found.
#[derive(Debug, Clone)]
enum Val {
    /// A flag without a value (`--enable-lmcache`).
    Bare,
    Text(String),
    Json(Json),
}

/// Everything gathered so far.
#[derive(Default)]
struct Collector {
    sources: Vec<Source>,
    /// The file being read.
    path: String,
    engines: Vec<Engine>,
    hints: Vec<Engine>,
    connectors: Vec<String>,
    kv_role: Option<String>,
    kv_connector_module_path: Option<String>,
    extra: serde_json::Map<String, Json>,
    flags: LaunchFlags,
    seeds: Vec<String>,
    mp: Option<MpServer>,
    disabled: BTreeSet<String>,
    env: BTreeMap<String, String>,
    redacted: BTreeSet<String>,
    facts: u64,
    problems: Unreadables,
}

impl Collector {
    fn finish(mut self) -> LaunchEvidence {
        let engine = self
            .engines
            .iter()
            .find(|e| matches!(e, Engine::Vllm | Engine::Sglang))
            .or_else(|| self.engines.first())
            .or_else(|| self.hints.first())
            .copied()
            .unwrap_or(Engine::Unknown);
        if let Some(mp) = &mut self.mp {
            mp.disabled = self.disabled.iter().cloned().collect();
        }
        let invalid = self.seeds.iter().any(|v| !valid_hash_seed(v));
        let (hash_seed_risk, hash_seed_note) = match self.seeds.as_slice() {
            [] => (
                true,
                "PYTHONHASHSEED is not set in any launch input".to_owned(),
            ),
            _ if invalid => (
                true,
                "PYTHONHASHSEED has a value Python refuses (neither `random` nor an integer)"
                    .to_owned(),
            ),
            [one] if one == "random" => (
                true,
                "PYTHONHASHSEED=random: hashes differ per process".to_owned(),
            ),
            [one] => (false, format!("PYTHONHASHSEED={one} wherever it is set")),
            many => (
                true,
                format!(
                    "PYTHONHASHSEED differs between launch inputs: {}",
                    many.join(", ")
                ),
            ),
        };
        let measured = self.facts > 0;
        let reason = (!measured).then(|| {
            if self.sources.is_empty() {
                "no launch inputs".to_owned()
            } else {
                "no launch command or configuration recognized in the inputs".to_owned()
            }
        });
        LaunchEvidence {
            schema_version: LAUNCH_EVIDENCE_SCHEMA_VERSION.to_owned(),
            claim_status: if measured { "measured" } else { "not_proven" }.to_owned(),
            reason,
            sources: self.sources,
            engine: engine.as_str().to_owned(),
            engines: self.engines.iter().map(|e| e.as_str().to_owned()).collect(),
            connectors: self.connectors,
            kv_role: self.kv_role,
            kv_connector_module_path: self.kv_connector_module_path,
            kv_connector_extra_config: self.extra,
            flags: self.flags,
            python_hash_seeds: self.seeds,
            hash_seed_risk,
            hash_seed_note,
            mp_server: self.mp,
            env: self.env,
            redacted: self.redacted.into_iter().collect(),
            problems: self.problems,
        }
    }

    fn unreadable(&mut self, at: Location, reason: impl Into<String>) {
        let path = self.path.clone();
        self.problems.push(&path, at, reason);
    }

    fn redact(&mut self, name: &str) {
        if self.redacted.len() < MAX_ITEMS {
            self.redacted.insert(clip(name));
        }
    }

    /// A string fit to store: credentials inside it replaced (noting `name` as
    /// redacted), cut to [`MAX_TEXT`].
    fn clean(&mut self, name: &str, s: &str) -> String {
        let (out, changed) = scrub(s);
        if changed {
            self.redact(name);
        }
        clip(&out)
    }

    fn read_file(&mut self, path: &str, bytes: &[u8]) {
        self.path = path.to_owned();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(e) => {
                self.unreadable(
                    Location::Offset(e.valid_up_to() as u64),
                    "not valid UTF-8 from here on; read with replacement characters",
                );
                String::from_utf8_lossy(bytes)
            }
        };
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            match serde_json::from_str::<Json>(trimmed) {
                Ok(doc) => {
                    self.walk_json(&doc, "", Engine::Unknown);
                    return;
                }
                Err(e) => {
                    // serde_json's messages name the problem and position only.
                    let skipped = text[..text.len() - trimmed.len()].matches('\n').count();
                    let line = (e.line() + skipped) as u64;
                    self.unreadable(
                        Location::Line(line.max(1)),
                        format!("not valid JSON ({e}); read as text instead"),
                    );
                }
            }
        }
        self.read_text(&text);
    }

    // ---- JSON ---------------------------------------------------------------------

    fn walk_json(&mut self, v: &Json, pointer: &str, engine: Engine) {
        match v {
            Json::Object(map) => {
                let mut tokens = Vec::new();
                for (k, child) in map {
                    let p = format!("{pointer}/{}", escape_pointer(k));
                    let key = norm_key(k);
                    if k == "_provenance" {
                        continue;
                    }
                    if is_command_key(&key) {
                        self.json_tokens(child, &p, &mut tokens);
                        continue;
                    }
                    if key == "env" || key == "environment" {
                        self.json_env(child, &p);
                        continue;
                    }
                    if is_env_name(k) {
                        self.apply_env(k, &json_text(child), Location::Pointer(p));
                        continue;
                    }
                    let at = Location::Pointer(p.clone());
                    let recognized = self.apply_setting(
                        k,
                        Val::Json(child.clone()),
                        Origin::Config,
                        engine,
                        &at,
                    );
                    if !recognized && (child.is_object() || child.is_array()) {
                        self.walk_json(child, &p, engine);
                    }
                }
                if !tokens.is_empty() {
                    self.apply_command(&tokens, &Location::Pointer(pointer.to_owned()), 0);
                }
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk_json(item, &format!("{pointer}/{i}"), engine);
                }
            }
            Json::String(s) if looks_like_command(s) => {
                self.shell(s, &Location::Pointer(pointer.to_owned()), 0);
            }
            _ => {}
        }
    }

    /// Tokens of a JSON `command`/`args` value (string or array of strings).
    fn json_tokens(&mut self, v: &Json, pointer: &str, tokens: &mut Vec<String>) {
        match v {
            Json::String(s) => self.push_tokens(s, &Location::Pointer(pointer.to_owned()), tokens),
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = Location::Pointer(format!("{pointer}/{i}"));
                    match item {
                        Json::String(s) => self.push_tokens(s, &at, tokens),
                        Json::Number(_) | Json::Bool(_) => tokens.push(item.to_string()),
                        _ => self.unreadable(at, "command item is not a string"),
                    }
                }
            }
            _ => self.unreadable(
                Location::Pointer(pointer.to_owned()),
                "command is neither a string nor a list of strings",
            ),
        }
    }

    /// One command item: a whole command line (`"vllm serve m --x 1"`) is split,
    /// a single argument is kept as is.
    fn push_tokens(&mut self, s: &str, at: &Location, tokens: &mut Vec<String>) {
        // `--flag={"a": 1}` is one argument even with spaces in it.
        if !s.trim_start().starts_with('-') && looks_like_command(s) {
            let (commands, unterminated) = tokenize(s);
            if unterminated {
                self.unreadable(at.clone(), "unterminated quote in a command");
            }
            for (i, cmd) in commands.into_iter().enumerate() {
                if i > 0 {
                    tokens.push(";".to_owned());
                }
                tokens.extend(cmd);
            }
        } else {
            tokens.push(s.to_owned());
        }
    }

    fn json_env(&mut self, v: &Json, pointer: &str) {
        match v {
            Json::Object(map) => {
                for (name, value) in map {
                    let at = Location::Pointer(format!("{pointer}/{}", escape_pointer(name)));
                    self.apply_env(name, &json_text(value), at);
                }
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = Location::Pointer(format!("{pointer}/{i}"));
                    match item {
                        Json::Object(o) => match o.get("name").and_then(Json::as_str) {
                            // `valueFrom` (a secret reference) has no literal value.
                            Some(name) => match o.get("value") {
                                Some(value) => self.apply_env(name, &json_text(value), at),
                                None => self.note_env_name(name),
                            },
                            None => self.unreadable(at, "env entry has no `name`"),
                        },
                        Json::String(s) => match s.split_once('=') {
                            Some((name, value)) => self.apply_env(name, value, at),
                            None => self.unreadable(at, "env entry is not NAME=value"),
                        },
                        _ => self.unreadable(at, "env entry is neither an object nor a string"),
                    }
                }
            }
            _ => self.unreadable(
                Location::Pointer(pointer.to_owned()),
                "env is neither an object nor a list",
            ),
        }
    }

    // ---- text: YAML-ish lines and shell commands --------------------------------------

    fn read_text(&mut self, text: &str) {
        let mut yaml = YamlState::default();
        for line in logical_lines(text) {
            let at = Location::Line(line.number);
            if line.text.len() > MAX_LINE {
                self.unreadable(at, format!("line longer than {MAX_LINE} bytes, skipped"));
                continue;
            }
            if line.unterminated {
                self.unreadable(
                    at.clone(),
                    "unterminated quote in a shell command; read to the end of the input",
                );
            }
            match line.kind {
                LineKind::Yaml => self.yaml_line(&mut yaml, &line.text, line.number),
                LineKind::Shell => {
                    self.flush_yaml_command(&mut yaml);
                    self.shell(&line.text, &at, 0);
                }
            }
        }
        self.flush_yaml_command(&mut yaml);
        self.drop_env_item(&mut yaml);
    }

    fn flush_yaml_command(&mut self, yaml: &mut YamlState) {
        if let Some(cmd) = yaml.cmd.take() {
            self.apply_command(&cmd.tokens, &Location::Line(cmd.line), 0);
        }
    }

    fn yaml_line(&mut self, y: &mut YamlState, raw: &str, n: u64) {
        let line = strip_yaml_comment(raw);
        if line.trim().is_empty() {
            return;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        let at = Location::Line(n);
        if let Some(rest) = body
            .strip_prefix('-')
            .filter(|r| r.is_empty() || r.starts_with(' '))
        {
            let content_indent = indent + 1 + (rest.len() - rest.trim_start().len());
            let rest = rest.trim();
            while y.stack.last().is_some_and(|p| p.indent > indent) {
                y.stack.pop();
            }
            if y.cmd.as_ref().is_some_and(|c| indent < c.indent) {
                self.flush_yaml_command(y);
            }
            self.drop_env_item(y);
            let parent = y.stack.last().map(|p| p.norm.clone()).unwrap_or_default();
            if let Some((key, value)) = split_yaml_key(rest) {
                if parent == "env" || parent == "environment" {
                    let mut item = EnvItem {
                        indent: content_indent,
                        ..EnvItem::default()
                    };
                    item.set(&key, &value, n);
                    y.env_item = Some(item);
                    self.finish_env_item(y);
                } else {
                    self.yaml_key(y, content_indent, &key, &value, n);
                }
                return;
            }
            let item = unquote(rest);
            if is_command_key(&parent) {
                if let Some(cmd) = y.cmd.as_mut() {
                    let mut tokens = std::mem::take(&mut cmd.tokens);
                    self.push_tokens(&item, &at, &mut tokens);
                    if let Some(cmd) = y.cmd.as_mut() {
                        cmd.tokens = tokens;
                    }
                }
            } else if parent == "env" || parent == "environment" {
                match item.split_once('=') {
                    Some((name, value)) => self.apply_env(name, value, at),
                    None => self.unreadable(at, "env entry is not NAME=value"),
                }
            } else if let Some(p) = y.stack.last().cloned() {
                if matches!(p.norm.as_str(), "connectors" | "l2_adapters" | "l2_adapter") {
                    self.apply_setting(
                        &p.raw,
                        Val::Text(item),
                        Origin::Config,
                        Engine::Unknown,
                        &at,
                    );
                }
            }
            return;
        }
        match split_yaml_key(body) {
            Some((key, value)) => self.yaml_key(y, indent, &key, &value, n),
            None => self.unreadable(at, "neither `key: value`, a list item nor a command"),
        }
    }

    /// Ends an env item; a name without a literal value (`valueFrom`) is noted.
    fn drop_env_item(&mut self, y: &mut YamlState) {
        if let Some(EnvItem {
            name: Some(name),
            value: None,
            ..
        }) = y.env_item.take()
        {
            self.note_env_name(&name);
        }
    }

    fn finish_env_item(&mut self, y: &mut YamlState) {
        if let Some(item) = &y.env_item {
            if let (Some(name), Some(value)) = (&item.name, &item.value) {
                let (name, value, line) = (name.clone(), value.clone(), item.line);
                self.apply_env(&name, &value, Location::Line(line));
                y.env_item = None;
            }
        }
    }

    fn yaml_key(&mut self, y: &mut YamlState, indent: usize, key: &str, value: &str, n: u64) {
        let at = Location::Line(n);
        if let Some(item) = y.env_item.as_mut() {
            if indent == item.indent {
                item.set(key, value, n);
                self.finish_env_item(y);
                return;
            }
            if indent > item.indent {
                // Inside the item (`valueFrom:` and below).
                return;
            }
            self.drop_env_item(y);
        }
        while y.stack.last().is_some_and(|p| p.indent >= indent) {
            y.stack.pop();
        }
        if y.cmd.as_ref().is_some_and(|c| indent < c.indent) {
            self.flush_yaml_command(y);
        }
        // `"key": {` opens a block when JSON that did not parse is read as text.
        let value = if value == "{" || value == "[" {
            ""
        } else {
            value
        };
        let norm = norm_key(key);
        let extra_at = y
            .stack
            .iter()
            .position(|p| p.norm == "kv_connector_extra_config");
        if value.is_empty() {
            if is_secret_name(key) {
                self.redact(key);
            }
            if is_command_key(&norm) && y.cmd.is_none() {
                y.cmd = Some(CmdBuf {
                    indent,
                    tokens: Vec::new(),
                    line: n,
                });
            }
            y.stack.push(Parent {
                indent,
                raw: key.to_owned(),
                norm,
            });
            return;
        }
        let val = yaml_value(value);
        if let Some(i) = extra_at {
            let path: Vec<&str> = y.stack[i + 1..]
                .iter()
                .map(|p| p.raw.as_str())
                .chain(std::iter::once(key))
                .collect();
            let json = match val {
                Val::Json(j) => j,
                Val::Text(t) => yaml_scalar_json(&t),
                Val::Bare => Json::Null,
            };
            self.extra_entry(&path.join("."), json, &at);
            return;
        }
        let parent = y.stack.last().map(|p| p.norm.as_str()).unwrap_or_default();
        if parent == "env" || parent == "environment" || is_env_name(key) {
            let text = match &val {
                Val::Json(j) => json_text(j),
                Val::Text(t) => t.clone(),
                Val::Bare => String::new(),
            };
            self.apply_env(key, &text, at);
            return;
        }
        if is_command_key(&norm) {
            let cmd = y.cmd.get_or_insert(CmdBuf {
                indent,
                tokens: Vec::new(),
                line: n,
            });
            let mut tokens = std::mem::take(&mut cmd.tokens);
            match &val {
                Val::Json(j) => self.json_tokens(j, "", &mut tokens),
                Val::Text(t) => self.push_tokens(t, &at, &mut tokens),
                Val::Bare => {}
            }
            if let Some(cmd) = y.cmd.as_mut() {
                cmd.tokens = tokens;
            }
            return;
        }
        self.apply_setting(key, val, Origin::Config, Engine::Unknown, &at);
    }

    // ---- shell ------------------------------------------------------------------------

    fn shell(&mut self, line: &str, at: &Location, depth: usize) {
        let (commands, unterminated) = tokenize(line);
        if unterminated && depth > 0 {
            self.unreadable(at.clone(), "unterminated quote in a nested command");
        }
        for cmd in commands {
            self.apply_command(&cmd, at, depth);
        }
    }

    /// One command's tokens (`;` tokens split it further).
    fn apply_command(&mut self, tokens: &[String], at: &Location, depth: usize) {
        for cmd in tokens.split(|t| t == ";") {
            self.apply_one_command(cmd, at, depth);
        }
    }

    fn apply_one_command(&mut self, tokens: &[String], at: &Location, depth: usize) {
        let (engine, start) = detect_program(tokens);
        if engine != Engine::Unknown {
            self.facts += 1;
            if !self.engines.contains(&engine) {
                self.engines.push(engine);
            }
        }
        // Assignments and wrappers before the program still count.
        for t in &tokens[..start] {
            if let Some((name, value)) = env_assignment(t) {
                self.apply_env(name, value, at.clone());
            } else {
                self.header_secret(t);
            }
        }
        let rest = &tokens[start..];
        let mut k = 0;
        while k < rest.len() {
            let t = rest[k].as_str();
            if (t == "-e" || t == "--env") && k + 1 < rest.len() {
                match rest[k + 1].split_once('=') {
                    Some((name, value)) => self.apply_env(name, value, at.clone()),
                    None => self.note_env_name(&rest[k + 1]),
                }
                k += 2;
                continue;
            }
            if let Some(flag) = t.strip_prefix("--").filter(|f| !f.is_empty()) {
                let (name, val, used) = match flag.split_once('=') {
                    Some((name, value)) => (name, Val::Text(value.to_owned()), 1),
                    None => match rest.get(k + 1) {
                        Some(next) if !is_boolean_flag(flag) && !is_option(next) => {
                            (flag, Val::Text(next.clone()), 2)
                        }
                        _ => (flag, Val::Bare, 1),
                    },
                };
                self.apply_setting(&format!("--{name}"), val, Origin::Flag, engine, at);
                k += used;
                continue;
            }
            // `bash -c "A=1 vllm serve …"`: a whole command, not an assignment.
            let nested = depth < MAX_NESTING && t.contains(char::is_whitespace);
            if nested && runs_program(t) {
                self.shell(t, at, depth + 1);
            } else if let Some((name, value)) = env_assignment(t) {
                self.apply_env(name, value, at.clone());
            } else if nested && looks_like_command(t) {
                self.shell(t, at, depth + 1);
            } else {
                self.header_secret(t);
            }
            k += 1;
        }
    }

    /// `Authorization: Bearer …` as an argument (`curl -H`): nothing is stored,
    /// the header name is noted as redacted.
    fn header_secret(&mut self, token: &str) {
        if let Some((name, _)) = token.split_once(':') {
            let name = name.trim();
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && is_secret_name(name)
            {
                self.redact(name);
            }
        }
    }

    // ---- settings -----------------------------------------------------------------------

    /// An environment variable without a literal value (`valueFrom`, `-e NAME`).
    fn note_env_name(&mut self, name: &str) {
        if is_env_name(name) && self.env.len() < MAX_ITEMS {
            self.facts += 1;
            self.env
                .entry(clip(name))
                .or_insert_with(|| NO_LITERAL.to_owned());
        }
    }

    fn apply_env(&mut self, name: &str, value: &str, at: Location) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        self.facts += 1;
        let stored = if is_secret_name(name) {
            self.redact(name);
            REDACTED.to_owned()
        } else {
            self.clean(name, value)
        };
        if self.env.len() < MAX_ITEMS || self.env.contains_key(name) {
            self.env.insert(clip(name), stored);
        }
        if !is_secret_name(name) {
            self.apply_setting(
                name,
                Val::Text(value.to_owned()),
                Origin::Env,
                Engine::Unknown,
                &at,
            );
        }
    }

    /// Applies one named setting; true when the name is one this parser knows.
    fn apply_setting(
        &mut self,
        raw: &str,
        val: Val,
        origin: Origin,
        engine: Engine,
        at: &Location,
    ) -> bool {
        if is_secret_name(raw) {
            self.redact(raw);
            return true;
        }
        let mut key = norm_key(raw);
        if origin == Origin::Env {
            if let Some(k) = key.strip_prefix("lmcache_") {
                if matches!(
                    k,
                    "enable_p2p" | "enable_pd" | "pd_role" | "transfer_channel"
                ) {
                    key = k.to_owned();
                }
            }
        }
        if let Some(sub) = key.strip_prefix("kv_transfer_config.") {
            self.hint(Engine::Vllm);
            return self.kv_field(sub, &val, raw, true, at);
        }
        let known = match key.as_str() {
            "pythonhashseed" => {
                self.hash_seed(raw, &val, at);
                true
            }
            "kv_transfer_config" => {
                self.hint(Engine::Vllm);
                self.kv_transfer(raw, &val, at);
                true
            }
            "kv_connector"
            | "kv_role"
            | "kv_connector_module_path"
            | "kv_connector_extra_config" => self.kv_field(&key, &val, raw, true, at),
            "kv_offloading_backend" => {
                self.hint(Engine::Vllm);
                if let Some(t) = self.text_of(raw, &val, at) {
                    if t.eq_ignore_ascii_case("lmcache") {
                        self.connector(OFFLOAD_CONNECTOR);
                    }
                    self.flags.kv_offloading_backend = Some(t);
                }
                true
            }
            "enable_lmcache" | "lmcache_enabled" | "sglang_enable_lmcache" => {
                self.hint(Engine::Sglang);
                if let Some(b) = self.bool_of(raw, &val, at) {
                    self.flags.enable_lmcache |= b;
                }
                true
            }
            "enable_p2p" | "enable_pd" | "enable_metrics" => {
                if let Some(b) = self.bool_of(raw, &val, at) {
                    let flag = match key.as_str() {
                        "enable_p2p" => &mut self.flags.enable_p2p,
                        "enable_pd" => &mut self.flags.enable_pd,
                        _ => &mut self.flags.enable_metrics,
                    };
                    *flag |= b;
                }
                true
            }
            "pd_role" => {
                self.flags.pd_role = self.text_of(raw, &val, at);
                true
            }
            "transfer_channel" => {
                self.flags.transfer_channel = self.text_of(raw, &val, at);
                true
            }
            "lmcache_config_file" => {
                self.flags.lmcache_config_file = self.text_of(raw, &val, at);
                true
            }
            "engine" if origin == Origin::Config => {
                let e = match self.text_of(raw, &val, at).as_deref() {
                    Some("vllm") => Engine::Vllm,
                    Some("sglang") => Engine::Sglang,
                    Some("lmcache_server") => Engine::LmcacheServer,
                    _ => Engine::Unknown,
                };
                if e != Engine::Unknown && !self.engines.contains(&e) {
                    self.engines.push(e);
                }
                true
            }
            "connectors" if origin == Origin::Config => {
                match &val {
                    Val::Json(Json::Array(items)) => {
                        for name in items.iter().filter_map(Json::as_str) {
                            let name = self.clean(raw, name);
                            self.connector(&name);
                        }
                    }
                    _ => {
                        if let Some(name) = self.text_of(raw, &val, at) {
                            self.connector(&name);
                        }
                    }
                }
                true
            }
            _ if origin == Origin::Env => false,
            _ => return self.mp_setting(raw, &key, &val, engine, at),
        };
        if known {
            self.facts += 1;
        }
        known
    }

    /// MP server settings, taken only where an MP server can be meant.
    fn mp_setting(
        &mut self,
        raw: &str,
        key: &str,
        val: &Val,
        engine: Engine,
        at: &Location,
    ) -> bool {
        if matches!(engine, Engine::Vllm | Engine::Sglang) {
            return false;
        }
        let server = engine == Engine::LmcacheServer;
        let unambiguous = matches!(
            key,
            "trace_level"
                | "trace_output"
                | "metrics_sample_rate"
                | "event_bus_queue_size"
                | "enable_tracing"
                | "otlp_endpoint"
                | "l2_adapter"
                | "l2_adapters"
                | "lookup_hash_log_dir"
                | "disable_observability"
                | "disable_metrics"
                | "disable_logging"
                | "disable_grpc_metrics"
        );
        let server_only = matches!(key, "instance_id" | "http_port" | "prometheus_port")
            || key.starts_with("disable_");
        if !(unambiguous || (server && server_only)) {
            return false;
        }
        self.facts += 1;
        self.hint(Engine::LmcacheServer);
        self.mp.get_or_insert_with(MpServer::default);
        match key {
            "trace_level" => {
                let v = self.text_of(raw, val, at);
                self.mp_mut().trace_level = v;
            }
            "trace_output" => {
                let v = self.text_of(raw, val, at);
                self.mp_mut().trace_output = v;
            }
            "otlp_endpoint" => {
                let v = self.text_of(raw, val, at);
                self.mp_mut().otlp_endpoint = v;
            }
            "lookup_hash_log_dir" => {
                let v = self.text_of(raw, val, at);
                self.mp_mut().lookup_hash_log_dir = v;
            }
            "instance_id" => {
                let v = self.text_of(raw, val, at);
                self.mp_mut().instance_id = v;
            }
            "metrics_sample_rate" => match self.text_of(raw, val, at).map(|t| t.parse::<f64>()) {
                Some(Ok(x)) if x.is_finite() => self.mp_mut().metrics_sample_rate = Some(x),
                Some(_) => self.unreadable(at.clone(), format!("`{}` is not a number", clip(raw))),
                None => {}
            },
            "event_bus_queue_size" | "http_port" | "prometheus_port" => {
                match self.text_of(raw, val, at).map(|t| t.parse::<u64>()) {
                    Some(Ok(x)) => {
                        let mp = self.mp_mut();
                        let slot = match key {
                            "event_bus_queue_size" => &mut mp.event_bus_queue_size,
                            "http_port" => &mut mp.http_port,
                            _ => &mut mp.prometheus_port,
                        };
                        *slot = Some(x);
                    }
                    Some(Err(_)) => self.unreadable(
                        at.clone(),
                        format!("`{}` is not a non-negative integer", clip(raw)),
                    ),
                    None => {}
                }
            }
            "enable_tracing" => {
                if let Some(b) = self.bool_of(raw, val, at) {
                    self.mp_mut().tracing_enabled = b;
                }
            }
            "l2_adapter" | "l2_adapters" => self.l2_adapters(val, at),
            _ => {
                let what = key.strip_prefix("disable_").unwrap_or(key).to_owned();
                if let Some(b) = self.bool_of(raw, val, at) {
                    if b && self.disabled.len() < MAX_ITEMS {
                        self.disabled.insert(clip(&what));
                    }
                }
            }
        }
        true
    }

    fn mp_mut(&mut self) -> &mut MpServer {
        self.mp.get_or_insert_with(MpServer::default)
    }

    fn l2_adapters(&mut self, val: &Val, at: &Location) {
        let spec = match val {
            Val::Json(j) => Ok(j.clone()),
            Val::Text(t) => serde_json::from_str::<Json>(t).map_err(|e| e.to_string()),
            Val::Bare => Err("no value".to_owned()),
        };
        let specs = match spec {
            Ok(Json::Array(items)) => items,
            Ok(Json::String(s)) => match serde_json::from_str::<Json>(&s) {
                Ok(j) => vec![j],
                Err(e) => {
                    self.unreadable(at.clone(), format!("L2 adapter spec is not JSON ({e})"));
                    self.push_l2("<unparsed>".to_owned());
                    return;
                }
            },
            Ok(other) => vec![other],
            Err(e) => {
                self.unreadable(at.clone(), format!("L2 adapter spec is not JSON ({e})"));
                self.push_l2("<unparsed>".to_owned());
                return;
            }
        };
        for spec in specs {
            match spec.get("type").and_then(Json::as_str) {
                Some(t) => {
                    let t = self.clean("l2_adapter.type", t);
                    self.push_l2(t);
                }
                None => {
                    self.unreadable(at.clone(), "L2 adapter spec has no string `type`");
                    self.push_l2("<unparsed>".to_owned());
                }
            }
        }
    }

    fn push_l2(&mut self, t: String) {
        let mp = self.mp_mut();
        if mp.l2_adapters.len() < MAX_ITEMS {
            mp.l2_adapters.push(t);
        }
    }

    fn hint(&mut self, e: Engine) {
        if !self.hints.contains(&e) {
            self.hints.push(e);
        }
    }

    fn connector(&mut self, name: &str) {
        let name = name.trim();
        if !name.is_empty()
            && self.connectors.len() < MAX_ITEMS
            && !self.connectors.iter().any(|c| c == name)
        {
            self.connectors.push(clip(name));
        }
    }

    fn hash_seed(&mut self, raw: &str, val: &Val, at: &Location) {
        let Some(v) = self.text_of(raw, val, at) else {
            return;
        };
        if !valid_hash_seed(&v) {
            self.unreadable(
                at.clone(),
                "PYTHONHASHSEED is neither `random` nor an integer in [0, 4294967295]",
            );
        }
        if !self.seeds.contains(&v) && self.seeds.len() < MAX_ITEMS {
            self.seeds.push(v);
        }
    }

    /// A KV transfer config value: a JSON object, or a string holding one.
    fn kv_transfer(&mut self, raw: &str, val: &Val, at: &Location) {
        let parsed = match val {
            Val::Json(Json::String(s)) | Val::Text(s) => {
                serde_json::from_str::<Json>(s).map_err(|e| (e.to_string(), s.clone()))
            }
            Val::Json(j) => Ok(j.clone()),
            Val::Bare => Err(("no value".to_owned(), String::new())),
        };
        match parsed {
            Ok(Json::Object(obj)) => self.kv_object(&obj, raw, true, at),
            Ok(_) => self.unreadable(at.clone(), format!("`{}` is not a JSON object", clip(raw))),
            Err((e, text)) => {
                self.unreadable(
                    at.clone(),
                    format!(
                        "`{}` is not valid JSON ({e}); connector names scanned from the text",
                        clip(raw)
                    ),
                );
                // Honest fallback: the names are still plainly written there.
                for name in scan_string_fields(&text, "kv_connector") {
                    self.connector(&name);
                }
                if self.kv_role.is_none() {
                    if let Some(role) = scan_string_fields(&text, "kv_role").into_iter().next() {
                        self.kv_role = Some(clip(&role));
                    }
                }
            }
        }
    }

    fn kv_object(
        &mut self,
        obj: &serde_json::Map<String, Json>,
        raw: &str,
        top: bool,
        at: &Location,
    ) {
        for (k, v) in obj {
            if is_secret_name(k) {
                self.redact(&format!("{}.{k}", norm_key(raw)));
                continue;
            }
            self.kv_field(&norm_key(k), &Val::Json(v.clone()), k, top, at);
        }
    }

    /// One field of a KV transfer config (only vLLM has one).
    fn kv_field(&mut self, key: &str, val: &Val, raw: &str, top: bool, at: &Location) -> bool {
        if matches!(
            key,
            "kv_connector" | "kv_role" | "kv_connector_module_path" | "kv_connector_extra_config"
        ) {
            self.hint(Engine::Vllm);
        }
        match key {
            "kv_connector" => {
                if let Some(name) = self.text_of(raw, val, at) {
                    self.connector(&name);
                }
            }
            "kv_role" => {
                let role = self.text_of(raw, val, at);
                if top && self.kv_role.is_none() {
                    self.kv_role = role;
                }
            }
            "kv_connector_module_path" => {
                let path = self.text_of(raw, val, at);
                if top && self.kv_connector_module_path.is_none() {
                    self.kv_connector_module_path = path;
                }
            }
            "kv_connector_extra_config" => {
                let json = match val {
                    Val::Json(Json::String(s)) | Val::Text(s) => match serde_json::from_str(s) {
                        Ok(j) => j,
                        Err(e) => {
                            self.unreadable(
                                at.clone(),
                                format!("`{}` is not valid JSON ({e})", clip(raw)),
                            );
                            return true;
                        }
                    },
                    Val::Json(j) => j.clone(),
                    Val::Bare => return true,
                };
                let Json::Object(obj) = json else {
                    self.unreadable(at.clone(), format!("`{}` is not a JSON object", clip(raw)));
                    return true;
                };
                // A MultiConnector lists its connectors' own KV configs.
                if let Some(Json::Array(inner)) = obj.get("connectors") {
                    for c in inner {
                        if let Json::Object(c) = c {
                            self.kv_object(c, "kv_connector_extra_config.connectors", false, at);
                        }
                    }
                }
                for (k, v) in &obj {
                    if top {
                        self.extra_entry(k, v.clone(), at);
                    } else {
                        self.lmcache_extra_flag(k, v, at);
                    }
                }
            }
            _ => return false,
        }
        self.facts += 1;
        true
    }

    /// LMCache reads its own settings from `lmcache.`-prefixed extra config keys.
    fn lmcache_extra_flag(&mut self, key: &str, v: &Json, at: &Location) {
        if let Some(lm) = key.strip_prefix("lmcache.") {
            if matches!(
                lm,
                "enable_p2p" | "enable_pd" | "pd_role" | "transfer_channel"
            ) {
                self.apply_setting(
                    lm,
                    Val::Json(v.clone()),
                    Origin::Config,
                    Engine::Unknown,
                    at,
                );
            }
        }
    }

    /// Stores one `kv_connector_extra_config` entry, redacted.
    fn extra_entry(&mut self, key: &str, v: Json, at: &Location) {
        self.lmcache_extra_flag(key, &v, at);
        if self.extra.len() >= MAX_ITEMS && !self.extra.contains_key(key) {
            return;
        }
        let path = format!("kv_connector_extra_config.{key}");
        let v = if is_secret_name(key) {
            self.redact(&path);
            Json::String(REDACTED.to_owned())
        } else {
            self.redact_json(v, &path, 0)
        };
        self.extra.insert(clip(key), v);
    }

    fn redact_json(&mut self, v: Json, path: &str, depth: usize) -> Json {
        match v {
            Json::String(s) => Json::String(self.clean(path, &s)),
            Json::Object(map) if depth < 32 => Json::Object(
                map.into_iter()
                    .take(MAX_ITEMS)
                    .map(|(k, v)| {
                        let p = format!("{path}.{k}");
                        let v = if is_secret_name(&k) {
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

// ---- YAML-ish state -------------------------------------------------------------------

#[derive(Default)]
struct YamlState {
    stack: Vec<Parent>,
    cmd: Option<CmdBuf>,
    env_item: Option<EnvItem>,
}

#[derive(Clone)]
struct Parent {
    indent: usize,
    raw: String,
    norm: String,
}

/// Tokens of a `command:`/`args:` block, applied when the block ends.
struct CmdBuf {
    indent: usize,
    tokens: Vec<String>,
    line: u64,
}

/// A `- name: X` / `value: Y` item of an `env:` list.
#[derive(Default)]
struct EnvItem {
    indent: usize,
    name: Option<String>,
    value: Option<String>,
    line: u64,
}

impl EnvItem {
    fn set(&mut self, key: &str, value: &str, line: u64) {
        match key {
            "name" => {
                self.name = Some(unquote(value));
                self.line = line;
            }
            "value" => self.value = Some(unquote(value)),
            _ => {}
        }
    }
}

/// `key: value` of a YAML-ish line (`value` may be empty); `None` when it is not one.
fn split_yaml_key(body: &str) -> Option<(String, String)> {
    let (key, rest) = if let Some(q) = body.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], q[end + 1..].trim_start().strip_prefix(':')?)
    } else if let Some(q) = body.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], q[end + 1..].trim_start().strip_prefix(':')?)
    } else {
        let end = body.find(':')?;
        let key = body[..end].trim_end();
        if key.is_empty() || !key.chars().all(is_key_char) {
            return None;
        }
        (key, &body[end + 1..])
    };
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let value = rest.trim().trim_end_matches(',').trim_end();
    Some((key.to_owned(), value.to_owned()))
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// A YAML scalar or flow value: JSON when it parses as JSON (`{…}`, `[…]`,
/// `"…"`), else the unquoted text.
fn yaml_value(value: &str) -> Val {
    if value.starts_with(['{', '[']) {
        if let Ok(j) = serde_json::from_str::<Json>(value) {
            return Val::Json(j);
        }
    }
    Val::Text(unquote(value))
}

/// A YAML plain scalar as JSON, for `kv_connector_extra_config` blocks.
fn yaml_scalar_json(t: &str) -> Json {
    match t {
        "true" | "True" => Json::Bool(true),
        "false" | "False" => Json::Bool(false),
        "null" | "~" => Json::Null,
        _ => t
            .parse::<i64>()
            .map(Json::from)
            .ok()
            .or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
            })
            .unwrap_or_else(|| Json::String(t.to_owned())),
    }
}

/// The line without a ` #` comment (outside quotes).
fn strip_yaml_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            // A quote opens a quoted scalar only where one can start.
            None if (c == '"' || c == '\'') && (prev.is_whitespace() || prev == ':' || i == 0) => {
                quote = Some(c);
            }
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_owned();
        }
    }
    s.to_owned()
}

// ---- lines and shell tokens --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Yaml,
    Shell,
}

struct LogicalLine {
    /// 1-based line where it starts.
    number: u64,
    text: String,
    kind: LineKind,
    /// A shell quote was still open at the end of the input.
    unterminated: bool,
}

/// Splits text into logical lines: YAML-ish lines stand alone; a shell line runs
/// on over `\` continuations and newlines inside quotes.
fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i];
        let number = i as u64 + 1;
        i += 1;
        let trimmed = first.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if is_yaml_line(first) {
            out.push(LogicalLine {
                number,
                text: first.to_owned(),
                kind: LineKind::Yaml,
                unterminated: false,
            });
            continue;
        }
        let mut buf = first.to_owned();
        let mut state = scan_shell(first, Quote::None);
        while state.open != Quote::None || state.continued {
            let Some(next) = lines.get(i) else {
                break;
            };
            i += 1;
            if state.open != Quote::None {
                buf.push('\n');
            } else {
                // Drop the continuation backslash.
                let cut = buf.trim_end().len() - 1;
                buf.truncate(cut);
                buf.push(' ');
            }
            buf.push_str(next);
            state = scan_shell(next, state.open);
        }
        out.push(LogicalLine {
            number,
            text: buf,
            kind: LineKind::Shell,
            unterminated: state.open != Quote::None,
        });
    }
    out
}

/// A line of YAML rather than shell: `key: …`, `"key": …` or a `- ` list item.
fn is_yaml_line(line: &str) -> bool {
    let body = line.trim_start();
    if body == "-" || body.starts_with("- ") {
        return true;
    }
    split_yaml_key(body).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

struct ShellState {
    open: Quote,
    /// The line ends with an unquoted `\`.
    continued: bool,
}

/// Quote state at the end of one physical line.
fn scan_shell(line: &str, mut open: Quote) -> ShellState {
    let mut chars = line.chars().peekable();
    let mut prev_space = true;
    let mut continued = false;
    while let Some(c) = chars.next() {
        continued = false;
        match open {
            Quote::Single => {
                if c == '\'' {
                    open = Quote::None;
                }
            }
            Quote::Double => match c {
                '\\' => {
                    chars.next();
                }
                '"' => open = Quote::None,
                _ => {}
            },
            Quote::None => match c {
                '\\' => continued = chars.next().is_none(),
                '\'' => open = Quote::Single,
                '"' => open = Quote::Double,
                '#' if prev_space => break,
                _ => {}
            },
        }
        prev_space = c.is_whitespace();
    }
    ShellState { open, continued }
}

/// Shell words of a command line, split into commands at unquoted `;`, `&&`,
/// `||`, `|`, `&` and newlines. The flag is set when a quote never closes.
fn tokenize(line: &str) -> (Vec<Vec<String>>, bool) {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let mut unterminated = false;
    let end_command = |words: &mut Vec<String>, commands: &mut Vec<Vec<String>>| {
        if !words.is_empty() {
            commands.push(std::mem::take(words));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => {
                            unterminated = true;
                            break;
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => {
                                unterminated = true;
                                break;
                            }
                        },
                        Some(ch) => word.push(ch),
                        None => {
                            unterminated = true;
                            break;
                        }
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(ch) => {
                    in_word = true;
                    word.push(ch);
                }
            },
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for ch in chars.by_ref() {
                    if ch == '\n' {
                        break;
                    }
                }
                end_command(&mut words, &mut commands);
            }
            ';' | '|' | '&' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                while chars.peek().is_some_and(|n| matches!(n, '|' | '&')) {
                    chars.next();
                }
                end_command(&mut words, &mut commands);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    end_command(&mut words, &mut commands);
    (commands, unterminated)
}

/// The program a command runs and the index of its first argument.
fn detect_program(tokens: &[String]) -> (Engine, usize) {
    let base = |t: &str| t.rsplit('/').next().unwrap_or(t).to_owned();
    for (i, t) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).map(String::as_str);
        let b = base(t);
        match (b.as_str(), next) {
            ("vllm", Some("serve")) => return (Engine::Vllm, i + 2),
            ("lmcache", Some("server")) => return (Engine::LmcacheServer, i + 2),
            ("-m", Some(module)) => {
                let engine = if module.starts_with("vllm.entrypoints") {
                    Engine::Vllm
                } else if module == "sglang.launch_server" {
                    Engine::Sglang
                } else if module == "lmcache.v1.multiprocess.server" {
                    Engine::LmcacheServer
                } else {
                    continue;
                };
                return (engine, i + 2);
            }
            _ => {}
        }
    }
    // No program: read everything after leading assignments and wrappers.
    let start = tokens
        .iter()
        .position(|t| {
            env_assignment(t).is_none()
                && !matches!(
                    t.as_str(),
                    "export" | "env" | "exec" | "nohup" | "sudo" | "time"
                )
        })
        .unwrap_or(tokens.len());
    (Engine::Unknown, start)
}

/// What Python accepts for `PYTHONHASHSEED`: `random` or an integer in
/// [0, 4294967295].
fn valid_hash_seed(v: &str) -> bool {
    v == "random" || v.parse::<u64>().is_ok_and(|n| n <= u32::MAX as u64)
}

/// `NAME=value` with an environment-style name.
fn env_assignment(t: &str) -> Option<(&str, &str)> {
    let (name, value) = t.split_once('=')?;
    is_env_name(name).then_some((name, value))
}

/// An environment-variable-style name: upper case, digits, `_`, not starting with
/// a digit.
fn is_env_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A string that is a whole command line rather than one argument.
fn looks_like_command(s: &str) -> bool {
    let s = s.trim();
    if !s.contains(char::is_whitespace) {
        return false;
    }
    let (commands, _) = tokenize(s);
    commands.iter().any(|cmd| {
        detect_program(cmd).0 != Engine::Unknown
            || cmd
                .iter()
                .any(|t| t.starts_with("--") || env_assignment(t).is_some())
    })
}

/// A token that is an option rather than a value: `--x`, `-e`, but not `-5`.
fn is_option(t: &str) -> bool {
    t.starts_with('-') && t.len() > 1 && t.parse::<f64>().is_err()
}

/// A string holding a command line that runs a known program.
fn runs_program(s: &str) -> bool {
    tokenize(s)
        .0
        .iter()
        .any(|cmd| detect_program(cmd).0 != Engine::Unknown)
}

/// Flags that never take a separate value.
fn is_boolean_flag(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    name.starts_with("enable-") || name.starts_with("disable-") || name.starts_with("no-")
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

// ---- names and redaction -------------------------------------------------------------------

/// `--Kv-Role` → `kv_role`.
fn norm_key(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('-')
        .to_ascii_lowercase()
        .replace('-', "_")
}

fn is_command_key(norm: &str) -> bool {
    matches!(
        norm,
        "command" | "cmd" | "args" | "argv" | "entrypoint" | "launch_command" | "command_line"
    )
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A string cut to [`MAX_TEXT`] characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_handles_quotes_and_separators() {
        let (cmds, open) = tokenize(r#"A=1 vllm serve m --x '{"a": 1}' && echo "b \"c\"" # tail"#);
        assert!(!open);
        assert_eq!(cmds[0], ["A=1", "vllm", "serve", "m", "--x", r#"{"a": 1}"#]);
        assert_eq!(cmds[1], ["echo", r#"b "c""#]);
        assert!(tokenize("echo 'open").1);
    }
}
