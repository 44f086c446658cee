//! The HTTP evidence document (`lmcache_http_evidence.json`): what each read-only
//! route of the route table answered, classified healthy / unhealthy / unknown, and
//! the routes never called. The collection itself (requests, redirects, legacy
//! paths) is [`crate::packet`]'s; this module owns the document and how one answer
//! is read. Which answers mean healthy is pack data ([`HealthWords`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `schema_version` of the HTTP evidence document.
pub const SCHEMA_VERSION: &str = "inferguard.http-evidence/v1";

/// The HTTP evidence document.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HttpEvidence {
    /// Always `inferguard.http-evidence/v1` for this layout.
    pub schema_version: String,
    /// `measured` when at least one endpoint answered.
    pub claim_status: String,
    /// The base URL routes were requested from, when one was given.
    pub base_url: Option<String>,
    /// Each route asked for, by its id in the route table.
    #[schemars(extend("x-inferguard-keys" = "http_route"))]
    pub endpoints: BTreeMap<String, HttpEndpoint>,
    pub destructive_skipped: Vec<SkippedRoute>,
    pub sensitive_skipped: Vec<SkippedRoute>,
}

/// What one route answered.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HttpEndpoint {
    /// `healthy`, `unhealthy` or `unknown`.
    pub status: String,
    /// The URL (or file) that answered, as requested.
    pub path: Option<String>,
    /// The URL that gave the answer after same-route redirects, when requested live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    pub tried: Vec<Tried>,
    pub http_status: Option<u16>,
    /// The answer, bounded (long lists and strings cut) and with secret-named
    /// values redacted; plain text answers are a string. Its shape is the server's.
    pub fields: Option<Value>,
}

/// One URL tried for a route.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Tried {
    pub path: String,
    /// Where the answer came from when a redirect was followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
}

/// A route the table forbids calling.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SkippedRoute {
    pub route: String,
    pub method: String,
    pub path: String,
    /// `destructive_skipped` or `sensitive_skipped`.
    pub status: String,
}

/// How a JSON answer says whether the server is healthy: the `health` section of a
/// `kind: http_routes` pack file. With none declared, an answer's HTTP status and
/// well-formedness alone decide.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthWords {
    /// Boolean fields of a JSON object answer; the first present decides.
    #[serde(default)]
    pub flags: Vec<String>,
    /// The string field read when no flag is present.
    #[serde(default)]
    pub status_field: Option<String>,
    /// Values of that field (compared without case) that mean healthy…
    #[serde(default)]
    pub healthy: Vec<String>,
    /// …and unhealthy; any other value says nothing.
    #[serde(default)]
    pub unhealthy: Vec<String>,
}

impl HealthWords {
    /// What a parsed answer says: healthy, unhealthy, or nothing.
    pub fn said(&self, answer: &Value) -> Option<bool> {
        for key in &self.flags {
            if let Some(b) = answer.get(key).and_then(Value::as_bool) {
                return Some(b);
            }
        }
        let field = self.status_field.as_deref()?;
        let s = answer.get(field).and_then(Value::as_str)?;
        let is = |words: &[String]| words.iter().any(|w| w.eq_ignore_ascii_case(s));
        if is(&self.healthy) {
            Some(true)
        } else if is(&self.unhealthy) {
            Some(false)
        } else {
            None
        }
    }
}

/// An answer's endpoint status, bounded fields, and an error `(class, message)`.
pub type Classified = (String, Option<Value>, Option<(String, String)>);

/// Reads one answer of `route` with HTTP status `code`: an exposition route
/// (Prometheus text) by its status alone, any other as JSON or text whose
/// health `words` may name.
pub fn classify(
    route: &str,
    exposition: bool,
    code: u16,
    body: &[u8],
    words: &HealthWords,
) -> Classified {
    let ok = (200..300).contains(&code);
    if exposition {
        let status = if ok { "healthy" } else { "unhealthy" };
        let error = (!ok).then(|| ("http_status".to_owned(), format!("HTTP {code}")));
        return (status.to_owned(), None, error);
    }
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let parsed: Option<Value> = serde_json::from_str(trimmed).ok();
    let looks_json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let mut error = None;
    let fields = match (&parsed, looks_json) {
        (Some(v), _) => Some(bound(v, 0)),
        (None, true) => {
            error = Some((
                "invalid_json".to_owned(),
                format!("{route}: the answer is not valid JSON"),
            ));
            None
        }
        (None, false) if !trimmed.is_empty() => Some(Value::String(crate::redact::line(
            &trimmed.chars().take(500).collect::<String>(),
        ))),
        _ => None,
    };
    let said = parsed.as_ref().and_then(|v| words.said(v));
    let status = if !ok {
        if error.is_none() {
            error = Some(("http_status".to_owned(), format!("{route}: HTTP {code}")));
        }
        if code >= 500 || said == Some(false) {
            "unhealthy"
        } else {
            "unknown"
        }
    } else {
        match (said, error.is_some()) {
            (Some(false), _) => "unhealthy",
            (_, true) => "unknown",
            _ => "healthy",
        }
    };
    (status.to_owned(), fields, error)
}

/// A JSON answer made safe to store: lists cut at 20 items, objects at 50 keys,
/// strings at 500 characters, depth at 6, secret-named values redacted.
pub fn bound(v: &Value, depth: usize) -> Value {
    if depth > 6 {
        return Value::String("…".to_owned());
    }
    match v {
        Value::Array(items) => {
            Value::Array(items.iter().take(20).map(|i| bound(i, depth + 1)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .take(50)
                .map(|(k, v)| {
                    let value = if crate::redact::is_secret_name(k) {
                        Value::String(crate::redact::REDACTED.to_owned())
                    } else {
                        bound(v, depth + 1)
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
        Value::String(s) => Value::String(crate::redact::line(
            &s.chars().take(500).collect::<String>(),
        )),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> HealthWords {
        HealthWords {
            flags: vec!["healthy".into(), "is_healthy".into()],
            status_field: Some("status".into()),
            healthy: vec!["healthy".into(), "ok".into()],
            unhealthy: vec!["unhealthy".into(), "degraded".into()],
        }
    }

    #[test]
    fn answers_classify() {
        let w = words();
        let status = |route, code, body: &[u8]| classify(route, false, code, body, &w).0;
        assert_eq!(
            status("healthcheck", 200, br#"{"status":"healthy"}"#),
            "healthy"
        );
        assert_eq!(
            status("healthcheck", 200, br#"{"status":"Degraded"}"#),
            "unhealthy"
        );
        assert_eq!(
            status("healthcheck", 200, br#"{"is_healthy":false}"#),
            "unhealthy"
        );
        assert_eq!(
            status(
                "healthcheck",
                503,
                br#"{"status":"unhealthy","reason":"x"}"#
            ),
            "unhealthy"
        );
        let (s, _, e) = classify("version", false, 200, b"{not json", &w);
        assert_eq!(
            (s.as_str(), e.unwrap().0.as_str()),
            ("unknown", "invalid_json")
        );
        assert_eq!(status("version", 200, b"0.5.6"), "healthy");
        assert_eq!(status("status", 500, b""), "unhealthy");
        assert_eq!(classify("m", true, 404, b"", &w).0, "unhealthy");
        // Without health words only the HTTP status and the JSON decide.
        let none = HealthWords::default();
        assert_eq!(
            classify("h", false, 200, br#"{"status":"unhealthy"}"#, &none).0,
            "healthy"
        );
    }

    #[test]
    fn secrets_in_answers_are_redacted() {
        let v: Value =
            serde_json::from_str(r#"{"hf_token":"hf_abc","nested":{"api_key":"k1","ok":[1,2]}}"#)
                .unwrap();
        let b = bound(&v, 0).to_string();
        assert!(!b.contains("hf_abc") && !b.contains("k1"), "{b}");
    }
}
