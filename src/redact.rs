//! Secrets out of everything inferguard writes or prints. One module, used by every
//! writer (packet files, reports, evidence documents) and every printer (stdout,
//! stderr), so a credential an endpoint, a log or a launch command carries never
//! reaches an output in clear.
//!
//! What counts as a secret is decided by the *name* it stands under (`api_key`,
//! `AccountKey`, `HF_TOKEN`, `--api-key`), by its shape (URL user-info, `Bearer`
//! values) or by where it sits (a secret query parameter). Values are replaced by
//! [`REDACTED`]; names and structure stay, so a redacted scrape still parses and a
//! redacted JSON document is still valid JSON.

use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// What replaces a secret value.
pub const REDACTED: &str = "<redacted>";

/// Words that make a name secret when they are one of its parts.
const SECRET_WORDS: &[&str] = &[
    "APIKEY",
    "APIKEYS",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWORDS",
    "PASSWD",
    "PASSPHRASE",
    "PWD",
    "AUTH",
    "AUTHORIZATION",
    "CREDENTIAL",
    "CREDENTIALS",
    "COOKIE",
    "PRIVATE",
    "SIGNATURE",
];

/// Words that make a name secret only as its last part: `HF_TOKEN`, `api_key`,
/// `REDIS_PASS`, `X-Amz-Sig`, but not `prompt_token_ids`, `token_count`,
/// `api_key_errors` or `pass_rate`, which count or describe rather than hold.
const LAST_WORDS: &[&str] = &["TOKEN", "KEY", "KEYS", "PASS", "SIG"];

/// True when a setting's name says its value is a secret: one of its parts
/// (split at anything not a letter or digit, and where camel case turns upper:
/// `AccountKey` is `Account` + `Key`) is a secret word, its last part is one of
/// `LAST_WORDS`, or a part ends in `TOKEN`, `APIKEY`, `SECRET` or `PASSWORD`
/// (`HFTOKEN`, `XAPIKEY`). `PWD` counts only as a part of a longer name
/// (`DB_PWD`), not the shell's own `PWD`.
pub fn is_secret_name(name: &str) -> bool {
    let parts = name_parts(name);
    if parts == ["PWD"] {
        return false;
    }
    let last = parts.len().saturating_sub(1);
    parts.iter().enumerate().any(|(i, p)| {
        SECRET_WORDS.contains(&p.as_str())
            || (i == last && LAST_WORDS.contains(&p.as_str()))
            || ["TOKEN", "APIKEY", "SECRET", "PASSWORD"]
                .iter()
                .any(|w| p.len() > w.len() && p.ends_with(w))
    })
}

/// Upper-cased parts of a name: `SharedAccessKey` → `SHARED`, `ACCESS`, `KEY`;
/// `hf_token` → `HF`, `TOKEN`; `APIKey` → `APIKEY` (no lower letter to split at).
fn name_parts(name: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            parts.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            parts.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_uppercase());
    }
    parts.extend((!current.is_empty()).then_some(current));
    parts
}

/// Replaces credentials inside a string: URL passwords (or a bare user-info
/// token), `Bearer`/`Basic` values and secret query parameters. Returns
/// the result and whether anything changed.
pub fn scrub(s: &str) -> (String, bool) {
    let mut changed = false;
    // URL user-info.
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | ',') || c.is_whitespace())
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            let userinfo = &rest[..at];
            match userinfo.find(':') {
                // GitHub's `TOKEN:x-oauth-basic@`: the user part is the secret.
                Some(colon) if userinfo[colon + 1..].eq_ignore_ascii_case("x-oauth-basic") => {
                    out.push_str(REDACTED);
                    out.push_str(&userinfo[colon..]);
                }
                Some(colon) => {
                    out.push_str(&userinfo[..=colon]);
                    out.push_str(REDACTED);
                }
                None => out.push_str(REDACTED),
            }
            out.push('@');
            rest = &rest[at + 1..];
            changed = true;
        }
    }
    out.push_str(rest);
    // Authorization schemes.
    for scheme in ["bearer ", "basic "] {
        // ASCII lower-casing keeps byte offsets, so they index `out` too.
        let lower = out.to_ascii_lowercase();
        let mut next = String::with_capacity(out.len());
        let mut pos = 0;
        while let Some(i) = lower[pos..].find(scheme) {
            let start = pos + i + scheme.len();
            let end = out[start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ','))
                .map_or(out.len(), |e| start + e);
            next.push_str(&out[pos..start]);
            if end > start && &out[start..end] != REDACTED {
                next.push_str(REDACTED);
                changed = true;
            } else {
                next.push_str(&out[start..end]);
            }
            pos = end;
        }
        next.push_str(&out[pos..]);
        out = next;
    }
    // Query parameters with secret names.
    let mut result = String::with_capacity(out.len());
    let mut chars = out.char_indices().peekable();
    let bytes = out.as_str();
    let mut last = 0;
    while let Some((i, c)) = chars.next() {
        if c != '?' && c != '&' {
            continue;
        }
        let tail = &bytes[i + 1..];
        let Some(eq) = tail.find('=') else { continue };
        let name = &tail[..eq];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            continue;
        }
        if !is_secret_name(name) {
            continue;
        }
        let vstart = i + 1 + eq + 1;
        let vend = bytes[vstart..]
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || matches!(c, '"' | '\''))
            .map_or(bytes.len(), |e| vstart + e);
        if vend > vstart && &bytes[vstart..vend] != REDACTED {
            result.push_str(&bytes[last..vstart]);
            result.push_str(REDACTED);
            last = vend;
            changed = true;
            while chars.peek().is_some_and(|(j, _)| *j < vend) {
                chars.next();
            }
        }
    }
    result.push_str(&bytes[last..]);
    (result, changed)
}

/// `name<sep>value` pairs in free text: `api_key: x`, `auth_token = x`,
/// `AccountKey=x;`, `"password": "x"`, `secret='x y'`. The value is a quoted string
/// or runs to the next separator of connection strings, query strings and JSON.
static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<sep>(?:\\?["'])?[ \t]*[:=][ \t]*)(?P<val>"#,
        // \"…\" (JSON inside a string), "…", '…', […] (a list), or a bare word.
        r#"\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|\[[^\]\n]*\]|[^\s;,"'}\])\\]+)"#,
    ))
    .expect("the pair pattern is a valid regex")
});

/// A line where none of these occurs cannot hold a secret this module finds: a
/// secret word followed (within its name) by `:` or `=`, a secret flag, URL
/// user-info, or an `Authorization` scheme. Most lines of a large log or scrape
/// ("Stored 256 tokens") skip the pair scan on this one pass.
static HINT: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    // A name is secret when a part of it is one of these words (or ends in one):
    // the word, then the end of the name, a separator or a camel-case hump, then
    // `:` or `=`. It may say yes where no secret is (`TOKENS=`), never the reverse.
    let word = "token|keys?|apikeys?|secrets?|passwords?|passwd|passphrase|pass|pwd|auth|\
                authorization|credentials?|cookie|private|signature|sig";
    // ASCII case folding (Unicode off) keeps the literal prefilter fast.
    regex::bytes::RegexBuilder::new(&format!(
        r#"(?i)(?:{word})(?-i:[_.\-A-Z][A-Za-z0-9_.\-]*)?\\?["']?[ \t]*[:=]|--[A-Za-z0-9_\-]*(?:{word})|://[^\s/@]*@|bearer\s|basic\s|(?:^|\s)(?:-u|--user)\s"#
    ))
    .unicode(false)
    .build()
    .expect("the hint pattern is a valid regex")
});

/// False when [`line`] would return `line` unchanged: it names no secret word,
/// scheme or user-info. Lets a large copy skip the redactor on most lines.
pub fn may_hold_secret(text: &str) -> bool {
    HINT.is_match(text.as_bytes())
}

/// One line of free text (a log line, a config answer, an excerpt, an error
/// message) with credentials replaced: URL user-info, `Bearer`/`Basic` values and
/// secret query parameters ([`scrub`]), secret `name=value` / `name: value` pairs,
/// also inside quoted values, and the word after a secret flag (`--api-key x`).
pub fn line(text: &str) -> String {
    if !HINT.is_match(text.as_bytes()) {
        return text.to_owned();
    }
    line_ungated(text)
}

fn line_ungated(text: &str) -> String {
    let (scrubbed, _) = scrub(text);
    let paired = pairs(&scrubbed);
    secret_flags(&paired)
}

/// Every secret pair's value replaced. A pair whose name is not secret is searched
/// again from its value on, so `config: api_key=x` and `conn="AccountKey=x;"`
/// are found too.
fn pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(c) = PAIR.captures_at(text, at) {
        let (name, sep) = (&c["name"], &c["sep"]);
        let val = c.name("val").expect("val is not optional");
        let (start, end) = value_span(text, sep, val.start(), val.end());
        if is_secret_name(name) && !is_redacted(&text[start..end]) {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
            at = end;
        } else {
            // Search on inside the value: `config: api_key=x`, `conn="AccountKey=x;"`.
            at = start;
        }
        if at >= text.len() {
            break;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The part of a matched value to replace: inside its quotes or brackets; for a
/// bare value after `:` (a header or YAML line: `Authorization: Token x`,
/// `password: correct horse`), everything to the end of the line or of the
/// enclosing JSON string.
fn value_span(text: &str, sep: &str, start: usize, end: usize) -> (usize, usize) {
    let v = &text[start..end];
    if v.starts_with("\\\"") {
        return (start + 2, end - 2);
    }
    if v.starts_with(['"', '\'', '[']) {
        return (start + 1, end - 1);
    }
    if sep.contains(':') {
        let rest = &text[start..];
        let stop = rest.find(['"', '\n', '\r']).unwrap_or(rest.len());
        let trimmed = rest[..stop].trim_end().trim_end_matches(',').len();
        return (start, start + trimmed.max(end - start).min(stop));
    }
    (start, end)
}

fn is_redacted(value: &str) -> bool {
    value
        .trim_start_matches(['"', '\'', '\\'])
        .starts_with(REDACTED)
}

/// The word after a secret flag: `--api-key sk-1` → `--api-key <redacted>`.
fn secret_flags(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut redact_next = false;
    let mut user_next = false;
    for word in text.split(' ') {
        if redact_next && !word.is_empty() {
            out.push(REDACTED.to_owned());
            redact_next = false;
            continue;
        }
        // `curl -u user:password`, `--user user:password`.
        if user_next && !word.is_empty() {
            user_next = false;
            if let Some((user, pass)) = word.split_once(':') {
                if !pass.is_empty() && pass != REDACTED {
                    out.push(format!("{user}:{REDACTED}"));
                    continue;
                }
            }
        }
        user_next = word == "-u" || word == "--user";
        if let Some(flag) = word.strip_prefix("--") {
            let plain = flag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            redact_next = plain && is_secret_name(flag);
        }
        out.push(word.to_owned());
    }
    out.join(" ")
}

/// [`text`], without a copy when nothing in it can be a secret.
pub fn text_cow(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(PEM_BEGIN) && !HINT.is_match(text.as_bytes()) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(self::text(text))
    }
}

/// Free text of many lines, each through [`line`]; line endings are kept. The
/// body of a PEM private key (`-----BEGIN … PRIVATE KEY-----` to its `END`) is
/// replaced whole.
pub fn text(text: &str) -> String {
    let pem = text.contains(PEM_BEGIN);
    if !pem && !HINT.is_match(text.as_bytes()) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_key = false;
    for piece in text.split_inclusive('\n') {
        let (body, end) = split_ending(piece);
        if in_key {
            in_key = !body.contains("-----END");
            if in_key {
                out.push_str(REDACTED);
                out.push_str(end);
                continue;
            }
        } else if pem && body.contains(PEM_BEGIN) && body.contains("PRIVATE KEY") {
            in_key = !body.contains("-----END");
        }
        out.push_str(&line(body));
        out.push_str(end);
    }
    out
}

const PEM_BEGIN: &str = "-----BEGIN";

/// `["--api-key", "sk-…"]`: the item after a secret flag in an argv array.
fn redact_argv(items: &mut [Value]) {
    for i in 1..items.len() {
        let flag = items[i - 1].as_str().and_then(|f| f.strip_prefix("--"));
        if flag.is_some_and(|f| !f.contains('=') && is_secret_name(f)) {
            if let Value::String(v) = &mut items[i] {
                *v = REDACTED.to_owned();
            }
        }
    }
}

fn split_ending(piece: &str) -> (&str, &str) {
    let body = piece.trim_end_matches(['\n', '\r']);
    (body, &piece[body.len()..])
}

/// Bytes of text (a raw answer, a log): decoded lossily, then [`text`].
pub fn text_bytes(bytes: &[u8]) -> Vec<u8> {
    text(&String::from_utf8_lossy(bytes)).into_bytes()
}

/// A Prometheus or OpenMetrics exposition made safe to store: secret-named label
/// values and secrets inside label values and comments are replaced; metric names
/// and numbers are never touched, so the copy parses to the same samples.
pub fn exposition(bytes: &[u8]) -> Vec<u8> {
    if !HINT.is_match(bytes) {
        return bytes.to_vec();
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (body, end) = split_ending(piece);
        out.push_str(&exposition_line(body));
        out.push_str(end);
    }
    out.into_bytes()
}

fn exposition_line(l: &str) -> String {
    if !HINT.is_match(l.as_bytes()) {
        return l.to_owned();
    }
    if let Some(rest) = l
        .strip_prefix("# HELP ")
        .or_else(|| l.strip_prefix("# TYPE "))
    {
        // The metric name is kept as it is; only HELP text is free text.
        let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let head = l.len() - rest.len() + name_end;
        return match l.starts_with("# HELP ") {
            true => format!("{}{}", &l[..head], line(&l[head..])),
            false => l.to_owned(),
        };
    }
    if l.trim_start().starts_with('#') {
        return line(l);
    }
    // The metric name is kept as it is (it may hold `:`); everything that is not
    // the name (labels, a broken tail) is free text.
    let name_end = match l.find(|c: char| c == '{' || c.is_whitespace()) {
        Some(i) if l[i..].starts_with('{') => i + 1,
        Some(i) => i,
        None => l.len(),
    };
    let (name, rest) = l.split_at(name_end);
    format!("{name}{}", line(rest))
}

/// A JSON document made safe to store or print: the scalar value of every key
/// that names a secret is replaced, and every string goes through [`line`].
/// Objects and arrays under a secret-looking key are searched, not dropped, so
/// structure (and schemas) survive.
pub fn json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // `{"name": "HF_TOKEN", "value": "…"}`: a Kubernetes env entry.
            let secret_entry = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(is_secret_name);
            if secret_entry
                && map
                    .get("value")
                    .is_some_and(|v| v.is_string() || v.is_number())
            {
                map.insert("value".to_owned(), Value::String(REDACTED.to_owned()));
            }
            for (key, v) in map.iter_mut() {
                if is_secret_name(key) && matches!(v, Value::String(_) | Value::Number(_)) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    json(v);
                }
            }
        }
        Value::Array(items) => {
            items.iter_mut().for_each(json);
            redact_argv(items);
        }
        Value::String(s) if HINT.is_match(s.as_bytes()) || s.contains(PEM_BEGIN) => {
            let red = text(s);
            if red != *s {
                *s = red;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "--api-key",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "OPENAI_API_KEY",
            "Authorization",
            "X-Api-Key",
            "aws_secret_access_key",
            "--hf-token",
            "redis_password",
            "APIKEY",
            "DB_PWD",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "--max-num-batched-tokens",
            "--tokenizer",
            "HASH_SEED",
            "kv_connector_extra_config",
            "--kv-role",
            "PWD",
            "--trace-level",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn scrub_replaces_credentials_only() {
        let cases = [
            (
                "redis://user:hunter2@host:6379/0",
                "redis://user:<redacted>@host:6379/0",
            ),
            (
                "https://tok123@github.com/x",
                "https://<redacted>@github.com/x",
            ),
            ("Bearer abc.def", "Bearer <redacted>"),
            (
                "http://h/p?x=1&api_key=zzz&y=2",
                "http://h/p?x=1&api_key=<redacted>&y=2",
            ),
            ("lm://localhost:65432", "lm://localhost:65432"),
            ("nixl", "nixl"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input).0, want, "{input}");
        }
    }

    #[test]
    fn camel_case_and_connection_string_names_are_secret() {
        for name in [
            "AccountKey",
            "SharedAccessKey",
            "apiKey",
            "SharedAccessSignature",
            "sig",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["AccountName", "EndpointSuffix", "numTokens", "max_tokens"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    /// Issue 10, item 2: every shape of secret the hostile server plants.
    #[test]
    fn secrets_in_text_lines_are_redacted() {
        let cases = [
            ("api_key: sk-live-1", "api_key: <redacted>"),
            ("auth_token = tok-2", "auth_token = <redacted>"),
            (
                "conn=DefaultEndpointsProtocol=https;AccountName=a;AccountKey=K3y==;EndpointSuffix=x",
                "conn=DefaultEndpointsProtocol=https;AccountName=a;AccountKey=<redacted>;EndpointSuffix=x",
            ),
            (r#""password": "p w 4""#, r#""password": "<redacted>""#),
            ("config: api_key=sk-5 other=1", "config: api_key=<redacted> other=1"),
            ("toyeng serve m --api-key sk-6", "toyeng serve m --api-key <redacted>"),
            ("HF_TOKEN=hf_7 url=http://u:pw8@host/x", "HF_TOKEN=<redacted> url=http://u:<redacted>@host/x"),
            ("Stored 256 tokens in 0.010 seconds", "Stored 256 tokens in 0.010 seconds"),
            ("kv_role: kv_both", "kv_role: kv_both"),
        ];
        for (input, want) in cases {
            assert_eq!(line(input), want, "{input}");
        }
        assert_eq!(line(&line(cases[0].0)), cases[0].1, "idempotent");
    }

    #[test]
    fn expositions_keep_names_and_numbers() {
        let scrape = b"# HELP x_info build api_key=sk-9\ntoyeng:x_info{api_key=\"sk-10\",conn=\"AccountKey=k11;A=b\",model=\"m\"} 1\ntoycache:token_hits_total 5\n";
        let red = String::from_utf8(exposition(scrape)).unwrap();
        for secret in ["sk-9", "sk-10", "k11"] {
            assert!(!red.contains(secret), "{red}");
        }
        assert!(
            red.contains("toyeng:x_info{") && red.contains("model=\"m\"} 1"),
            "{red}"
        );
        assert!(red.contains("toycache:token_hits_total 5"), "{red}");
    }

    #[test]
    fn json_keeps_structure() {
        let mut v: Value = serde_json::from_str(
            r#"{"hf_token":"hf_abc","nested":{"api_key":12,"ok":[1,"Bearer t0k"]},"tokens":{"n":3},"note":"AccountKey=zz;"}"#,
        )
        .unwrap();
        json(&mut v);
        let s = v.to_string();
        for secret in ["hf_abc", "12", "t0k", "zz"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert_eq!(v["tokens"]["n"], 3, "{s}");
    }

    /// The hint only skips lines the full redactor would leave as they are:
    /// generated lines over the characters the redactor looks at.
    #[test]
    fn lines_without_a_hint_need_no_redaction() {
        let pieces = [
            "a", "b", ":", "/", "?", "&", "=", "@", "-", "_", " ", "\"", "'", "\t", "1", "é",
            "Bearer ", "basic", "key", "TOKEN", "pass", "Sig", "://", "--", "Account", "wd",
            "word", "s", "X", "api", "Cookie", "\\\"", "[", "]", "Pass", "_ids", "-u", "--user",
        ];
        let mut x: u64 = 11;
        let (mut skipped, mut hinted) = (0, 0);
        for _ in 0..50_000 {
            let mut l = String::new();
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for _ in 0..(x >> 59) + 1 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                l.push_str(pieces[(x >> 33) as usize % pieces.len()]);
            }
            if may_hold_secret(&l) {
                hinted += 1;
            } else {
                skipped += 1;
                assert_eq!(line_ungated(&l), l);
            }
        }
        assert!(
            skipped > 1000 && hinted > 1000,
            "{skipped} skipped, {hinted} hinted"
        );
    }

    /// Shapes found by the hostile review of issue 10: escaped quotes, values of
    /// several words, lists, headers, env entries, argv arrays, PEM keys.
    #[test]
    fn review_shapes_are_redacted() {
        let cases = [
            (
                r#"conf="{\"token\": \"X1\"}""#,
                r#"conf="{\"token\": \"<redacted>\"}""#,
            ),
            (
                r#"extra_config: "{\"api_key\": \"X2\"}""#,
                r#"extra_config: "{\"api_key\": \"<redacted>\"}""#,
            ),
            ("password: correct X3 battery", "password: <redacted>"),
            ("Authorization: Token X4", "Authorization: <redacted>"),
            ("'api_key': ['X5']", "'api_key': [<redacted>]"),
            (
                "Namespace(api_key=['X6'], port=8000)",
                "Namespace(api_key=[<redacted>], port=8000)",
            ),
            ("Cookie: a=1; sessionid=X7", "Cookie: <redacted>"),
            ("db_password=a&X8 next", "db_password=<redacted> next"),
            ("REDIS_PASS=X9", "REDIS_PASS=<redacted>"),
            (
                "https://X10:x-oauth-basic@github.com/o/r",
                "https://<redacted>:x-oauth-basic@github.com/o/r",
            ),
            ("prompt_token_ids: [1, 2, 3]", "prompt_token_ids: [1, 2, 3]"),
            ("token_count=5 pass_rate=0.9", "token_count=5 pass_rate=0.9"),
            (
                "curl -u admin:X15 http://h/",
                "curl -u admin:<redacted> http://h/",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(line(input), want, "{input}");
        }
        let pem = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIX11\nabc\n-----END RSA PRIVATE KEY-----\nok\n";
        let red = text(pem);
        assert!(
            !red.contains("MIIX11") && red.contains("ok\n") && red.contains("-----END"),
            "{red}"
        );
        let mut v: Value = serde_json::from_str(
            r#"{"env":[{"name":"HF_TOKEN","value":"X12"},{"name":"PORT","value":"80"}],"argv":["serve","--api-key","X13","--port","8000"]}"#,
        )
        .unwrap();
        json(&mut v);
        let s = v.to_string();
        assert!(
            !s.contains("X12") && !s.contains("X13") && s.contains("\"80\"") && s.contains("8000"),
            "{s}"
        );
    }

    /// Metric names in HELP and TYPE lines are names, not secrets.
    #[test]
    fn exposition_metadata_names_are_kept() {
        let scrape = b"# TYPE job:api_key_errors:rate5m gauge\n# HELP instance:toyeng_generation_token:rate5m rate api_key=X14\ninstance:toyeng_generation_token:rate5m 2\n";
        let red = String::from_utf8(exposition(scrape)).unwrap();
        assert!(red.starts_with("# TYPE job:api_key_errors:rate5m gauge\n# HELP instance:toyeng_generation_token:rate5m rate api_key=<redacted>\n"), "{red}");
        assert!(
            red.ends_with("instance:toyeng_generation_token:rate5m 2\n"),
            "{red}"
        );
    }
}
