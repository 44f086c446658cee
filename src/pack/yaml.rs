//! The first of the two phases in which a pack file is read: YAML text into a tree
//! that remembers where every key and value stood (`line:col`), then into
//! `serde_json::Value` for schema validation and typed deserialization.
//!
//! Why a tree of our own: JSON Schema errors and meaning checks name a JSON pointer
//! (`/findings/3/when`); the tree turns that pointer back into the line and column a
//! maintainer has to edit. serde-saphyr supplies the spans (`Spanned`) and strict
//! booleans (`yes`/`on` stay strings, as in YAML 1.2).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A position in a source file, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    Pos {
        line: u32::try_from(s.referenced.line()).unwrap_or(u32::MAX),
        col: u32::try_from(s.referenced.column()).unwrap_or(u32::MAX),
    }
}

/// One YAML node with its position.
#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A YAML value; mapping keys keep their own positions so that "unknown field" can
/// point at the key rather than at the mapping that holds it.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Pos, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            pos: pos_of(&spanned),
            value: spanned.value,
        })
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyString>>()? {
            let pos = pos_of(&key);
            let node = map.next_value::<Node>()?;
            entries.push((key.value.0, pos, node));
        }
        Ok(Value::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Mapping keys are read as strings whatever their YAML type (`1: x` has key "1").
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<KeyString, E> {
                Ok(KeyString(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".to_owned()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

/// A YAML syntax or structure error, with its position when the parser knows it.
#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Option<Pos>,
    pub message: String,
}

/// Parses one YAML document into a positioned tree. Booleans are YAML 1.2 strict
/// (`true`/`false` only), duplicate keys are an error.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|e| SyntaxError {
        pos: e.location().map(|l| Pos {
            line: u32::try_from(l.line()).unwrap_or(u32::MAX),
            col: u32::try_from(l.column()).unwrap_or(u32::MAX),
        }),
        message: first_line(&e.to_string()),
    })
}

/// The parser's first line without its own `error: line L column C:` prefix; the
/// position is reported separately, once.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let line = line.strip_prefix("error:").unwrap_or(line).trim_start();
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, message)) if position.contains("column") => message.to_owned(),
        _ => line.to_owned(),
    }
}

impl Node {
    /// A node that knows no position (a pack read from prebuilt JSON): every
    /// `locate` answers line 0, which diagnostics print without a position.
    pub fn unpositioned() -> Node {
        Node {
            pos: Pos::default(),
            value: Value::Null,
        }
    }

    /// The JSON form of this node, for schema validation and typed deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The position of the node at a JSON pointer (`/findings/0/when`); the closest
    /// existing ancestor when the pointer goes past the tree (a missing field is
    /// reported where its parent mapping starts).
    pub fn locate(&self, pointer: &str) -> Pos {
        let mut node = self;
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            let next = match &node.value {
                Value::Map(entries) => entries.iter().find(|(k, _, _)| *k == token).map(|e| &e.2),
                Value::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.pos
    }

    /// The position of a mapping key (for "unknown field" errors), falling back to the
    /// mapping itself.
    pub fn locate_key(&self, pointer: &str, key: &str) -> Pos {
        let mut node = self;
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            let next = match &node.value {
                Value::Map(entries) => entries.iter().find(|(k, _, _)| *k == token).map(|e| &e.2),
                Value::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return node.pos,
            }
        }
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map_or(node.pos, |e| e.1),
            _ => node.pos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_values() {
        let text = "kind: findings\nfindings:\n  - code: a\n    requred_when: x > 1\n";
        let root = parse(text).unwrap();
        assert_eq!(root.locate("/findings/0/code"), Pos { line: 3, col: 11 });
        assert_eq!(
            root.locate_key("/findings/0", "requred_when"),
            Pos { line: 4, col: 5 }
        );
        assert_eq!(root.to_json()["findings"][0]["code"], "a");
    }

    #[test]
    fn strict_booleans_keep_yes_as_string() {
        let root = parse("a: yes\nb: true\n").unwrap();
        let json = root.to_json();
        assert_eq!(json["a"], "yes");
        assert_eq!(json["b"], true);
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.is_some(), "{err:?}");
    }

    #[test]
    fn syntax_error_message_does_not_repeat_the_position() {
        let err = parse("a:\n  b: 1\n c: : 2\n").unwrap_err();
        assert!(!err.message.contains("line "), "{}", err.message);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(parse("a: 1\na: 2\n").is_err());
    }
}
