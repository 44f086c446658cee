//! The text forms a launch input comes in: YAML documents (read with serde-saphyr
//! into an ordered tree that keeps each node's line), single `key: value` lines, and
//! shell command lines (split into words by the `shell-words` crate).
//!
//! Hand-written here is only what those crates do not do: finding where a shell
//! command ends (a quote still open, a trailing `\`) so that a command spread over
//! several physical lines is handed to `shell-words` whole, and splitting its words
//! into commands at `;`, `&&`, `||`, `|` and `&`.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use serde_saphyr::Spanned;
use std::fmt;

/// A YAML or JSON node; maps keep their order.
#[derive(Debug, Clone)]
pub enum Tree {
    Scalar(Json),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A node with the line it starts on (`None` for JSON, located by pointer).
#[derive(Debug, Clone)]
pub struct Node {
    pub line: Option<u64>,
    pub tree: Tree,
}

impl Node {
    pub fn from_json(v: &Json) -> Node {
        let tree = match v {
            Json::Array(items) => Tree::Seq(items.iter().map(Node::from_json).collect()),
            Json::Object(map) => Tree::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
            other => Tree::Scalar(other.clone()),
        };
        Node { line: None, tree }
    }

    pub fn to_json(&self) -> Json {
        match &self.tree {
            Tree::Scalar(v) => v.clone(),
            Tree::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Tree::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    pub fn is_container(&self) -> bool {
        !matches!(self.tree, Tree::Scalar(_))
    }

    /// Every map key, at any depth, is a plain name (no spaces, quotes or
    /// brackets): a shell line that happens to parse as YAML has a key that is not.
    fn keys_are_names(&self) -> bool {
        match &self.tree {
            Tree::Scalar(_) => true,
            Tree::Seq(items) => items.iter().all(Node::keys_are_names),
            Tree::Map(entries) => entries
                .iter()
                .all(|(k, v)| is_plain_key(k) && v.keys_are_names()),
        }
    }

    fn set_line(&mut self, line: u64) {
        self.line = Some(line);
        match &mut self.tree {
            Tree::Scalar(_) => {}
            Tree::Seq(items) => items.iter_mut().for_each(|n| n.set_line(line)),
            Tree::Map(entries) => entries.iter_mut().for_each(|(_, n)| n.set_line(line)),
        }
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with('-')
        && !k
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '{' | '}' | '[' | ']' | '='))
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Tree>::deserialize(d)?;
        Ok(Node {
            line: Some(spanned.referenced.line()),
            tree: spanned.value,
        })
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar(Json::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar(Json::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        Tree::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Scalar(Json::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Scalar(Json::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Scalar(Json::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Scalar(
            serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Scalar(Json::String(v.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            entries.push((key.0, map.next_value::<Node>()?));
        }
        Ok(Tree::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

/// A mapping key as text, whatever scalar it is (`8080: x`, `true: y`).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Tree::deserialize(d)? {
            Tree::Scalar(Json::String(s)) => Ok(KeyText(s)),
            Tree::Scalar(Json::Null) => Ok(KeyText(String::new())),
            Tree::Scalar(other) => Ok(KeyText(other.to_string())),
            _ => Err(de::Error::custom("a mapping key is not a scalar")),
        }
    }
}

/// A whole text as a YAML document of maps and lists with plain keys, or `None`
/// when it is not one (a shell script, broken YAML): then it is read line by line.
pub fn yaml_document(text: &str) -> Option<Node> {
    let node = serde_saphyr::from_str::<Node>(text).ok()?;
    (node.is_container() && node.keys_are_names()).then_some(node)
}

/// One line as a YAML `key: value` map (a trailing `,` of JSON read as text
/// dropped), every node on line `n`.
fn yaml_line(line: &str, n: u64) -> Option<Node> {
    let body = line.trim().trim_end_matches(',');
    if body.starts_with('-') || body.starts_with('#') {
        return None;
    }
    let mut node = serde_saphyr::from_str::<Node>(body).ok()?;
    if !matches!(&node.tree, Tree::Map(e) if !e.is_empty()) || !node.keys_are_names() {
        return None;
    }
    node.set_line(n);
    Some(node)
}

/// What a logical line is.
pub enum LineKind {
    Yaml(Node),
    Shell,
}

pub struct LogicalLine {
    /// 1-based line where it starts.
    pub number: u64,
    pub text: String,
    pub kind: LineKind,
    /// A shell quote was still open at the end of the input.
    pub unterminated: bool,
}

/// Splits text into logical lines: a YAML `key: value` line stands alone; a shell
/// line runs on over `\` continuations and newlines inside quotes. Lines longer
/// than `max` are not parsed (the caller reports them).
pub fn logical_lines(text: &str, max: usize) -> Vec<LogicalLine> {
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
        if first.len() <= max {
            if let Some(node) = yaml_line(first, number) {
                let (text, unterminated) = (first.to_owned(), false);
                let kind = LineKind::Yaml(node);
                out.push(LogicalLine {
                    number,
                    text,
                    kind,
                    unterminated,
                });
                continue;
            }
        }
        let mut buf = first.to_owned();
        let mut state = scan_shell(first, Quote::None);
        while (state.open != Quote::None || state.continued) && buf.len() <= max {
            let Some(next) = lines.get(i) else {
                break;
            };
            i += 1;
            buf.push('\n');
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
    let mut chars = line.chars();
    let mut prev_space = true;
    let mut continued = false;
    while let Some(c) = chars.next() {
        continued = false;
        match (open, c) {
            (Quote::Single, '\'') | (Quote::Double, '"') => open = Quote::None,
            (Quote::Double, '\\') => {
                chars.next();
            }
            (Quote::None, '\\') => continued = chars.next().is_none(),
            (Quote::None, '\'') => open = Quote::Single,
            (Quote::None, '"') => open = Quote::Double,
            (Quote::None, '#') if prev_space => break,
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    ShellState { open, continued }
}

/// Shell words of a command line, split into commands at `;`, `&&`, `||`, `|`
/// and `&` words. The flag is set when a quote never closes (the words are then
/// read as if it closed at the end).
pub fn tokenize(line: &str) -> (Vec<Vec<String>>, bool) {
    let (words, unterminated) = match shell_words::split(line) {
        Ok(w) => (w, false),
        Err(_) => {
            let close = match scan_lines(line) {
                Quote::Single => "'",
                Quote::Double => "\"",
                Quote::None => "",
            };
            let words = shell_words::split(&format!("{line}{close}")).unwrap_or_default();
            (words, true)
        }
    };
    let mut commands = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for mut w in words {
        let ends = w.len() > 1 && w.ends_with(';');
        if ends {
            w.pop();
        }
        if matches!(w.as_str(), ";" | "&&" | "||" | "|" | "&") {
            commands.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            continue;
        }
        current.push(w);
        if ends {
            commands.push(std::mem::take(&mut current));
        }
    }
    commands.extend((!current.is_empty()).then_some(current));
    (commands, unterminated)
}

/// The quote still open at the end of a (multi-line) command.
fn scan_lines(text: &str) -> Quote {
    text.split('\n')
        .fold(Quote::None, |open, line| scan_shell(line, open).open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_handles_quotes_and_separators() {
        let (cmds, open) =
            tokenize(r#"A=1 toyserve run m --x '{"a": 1}' && echo "b \"c\"" # tail"#);
        assert!(!open);
        assert_eq!(
            cmds[0],
            ["A=1", "toyserve", "run", "m", "--x", r#"{"a": 1}"#]
        );
        assert_eq!(cmds[1], ["echo", r#"b "c""#]);
        assert!(tokenize("echo 'open").1);
        assert_eq!(tokenize("a b; c").0, [vec!["a", "b"], vec!["c"]]);
    }

    #[test]
    fn yaml_keeps_order_and_lines() {
        let node = yaml_document("command: [a]\nargs:\n  - b\n").unwrap();
        let Tree::Map(entries) = &node.tree else {
            panic!("{node:?}")
        };
        assert_eq!(entries[0].0, "command");
        assert_eq!(entries[1].0, "args");
        assert_eq!(entries[1].1.line, Some(3));
        assert!(yaml_document("toyserve run m --x 1\n").is_none());
        assert!(yaml_document("echo \"a: b\" c: d\n").is_none());
    }
}
