//! A YAML tree that remembers where every node came from.
//!
//! `serde_yaml` (deprecated) reports positions for syntax errors only, so runbooks are read with
//! saphyr-parser's event stream, which carries a span for every event, into [`Node`]s. Plain
//! scalars are typed with the YAML 1.2 core schema (so `yes` and `on` stay strings), quoted and
//! block scalars are always strings. Anchors and aliases work, but the nodes that aliases expand
//! to are counted against a budget, so an "alias bomb" is refused instead of eating memory.
//! Duplicate keys are errors; `<<` merge keys are supported because runbook authors use them.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::diagnostic::Diagnostic;
use super::source::{FileId, Span};

/// Most nodes one file may hold once aliases are expanded.
pub const MAX_NODES: usize = 100_000;
/// Deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(span: Span, value: Value) -> Self {
        Node { span, value }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node of `key` in a mapping (to point at the key rather than its value).
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// A short description of the kind of value, for messages ("a mapping", "the integer 3").
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "nothing (null)".into(),
            Value::Bool(b) => format!("the boolean `{b}`"),
            Value::Int(i) => format!("the integer `{i}`"),
            Value::Float(f) => format!("the number `{f}`"),
            Value::String(s) => format!("the string `{s}`"),
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }

    /// Visit this node and every node under it, values and keys alike.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        f(self);
        match &self.value {
            Value::Seq(items) => items.iter().for_each(|n| n.walk(f)),
            Value::Map(entries) => {
                for (k, v) in entries {
                    k.walk(f);
                    v.walk(f);
                }
            }
            _ => {}
        }
    }

    fn count(&self) -> usize {
        let mut n = 0;
        self.walk(&mut |_| n += 1);
        n
    }

    /// The same data as JSON (spans dropped; keys rendered as strings).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a scalar as a string (keys that YAML typed as numbers or booleans).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::String(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder<'t> {
    file: FileId,
    text: &'t str,
    /// Byte offset of each character, when the text is not pure ASCII (saphyr counts characters).
    char_bytes: Option<Vec<usize>>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
    errors: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn byte(&self, char_index: usize) -> usize {
        match &self.char_bytes {
            None => char_index.min(self.text.len()),
            Some(table) => table.get(char_index).copied().unwrap_or(self.text.len()),
        }
    }

    fn span(&self, s: saphyr_parser::Span) -> Span {
        Span::new(
            self.file,
            self.byte(s.start.index()),
            self.byte(s.end.index()),
        )
    }

    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { key, .. }) if key.is_none() => *key = Some(node),
            Some(Frame::Map { entries, key, .. }) => {
                let k = key.take().expect("checked above");
                let dup = k.as_str().and_then(|name| {
                    entries
                        .iter()
                        .find(|(e, _)| e.as_str() == Some(name))
                        .map(|(e, _)| e.span)
                });
                match dup {
                    Some(first) if k.as_str() != Some("<<") => self.errors.push(
                        Diagnostic::error(
                            "duplicate-key",
                            format!("duplicate key `{}`", k.as_str().unwrap_or_default()),
                        )
                        .at(k.span)
                        .label("defined again here")
                        .related(first, "first defined here")
                        .help("remove one of them; YAML would silently keep only the last"),
                    ),
                    _ => entries.push((k, node)),
                }
            }
        }
    }

    fn count_nodes(&mut self, n: usize, at: Span) -> Result<(), Diagnostic> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(Diagnostic::error(
                "too-many-nodes",
                format!("the document expands to more than {MAX_NODES} values"),
            )
            .at(at)
            .label("limit passed while expanding this")
            .help("a runbook this large is almost certainly an alias bomb; use fewer aliases"));
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), node.count()));
        }
    }
}

/// Resolve a plain scalar with the YAML 1.2 core schema.
fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(s.to_owned())
}

fn tagged_scalar(tag: &Tag, s: &str, span: Span) -> Result<Value, Diagnostic> {
    let bad = |what: &str| {
        Diagnostic::error("yaml-tag", format!("`{s}` is not {what}"))
            .at(span)
            .label(format!("tagged {tag}"))
    };
    if !tag.is_yaml_core_schema() {
        return Err(
            Diagnostic::error("yaml-tag", format!("unsupported YAML tag `{tag}`"))
                .at(span)
                .help("runbooks use plain YAML values; remove the tag"),
        );
    }
    match tag.suffix.as_str() {
        "str" => Ok(Value::String(s.to_owned())),
        "int" => match plain_scalar(s) {
            v @ Value::Int(_) => Ok(v),
            _ => Err(bad("an integer")),
        },
        "float" => match plain_scalar(s) {
            Value::Int(i) => Ok(Value::Float(i as f64)),
            v @ Value::Float(_) => Ok(v),
            _ => Err(bad("a number")),
        },
        "bool" => match plain_scalar(s) {
            v @ Value::Bool(_) => Ok(v),
            _ => Err(bad("a boolean")),
        },
        "null" => Ok(Value::Null),
        other => {
            Err(Diagnostic::error("yaml-tag", format!("unsupported YAML tag `!!{other}`")).at(span))
        }
    }
}

/// Merge `<<: *anchor` entries into their mapping (keys already present win).
fn apply_merge_keys(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, Diagnostic> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return Ok(entries);
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (k, v) in entries {
        if k.as_str() != Some("<<") {
            own.push((k, v));
            continue;
        }
        let sources: Vec<Node> = match v.value {
            Value::Map(_) => vec![v],
            Value::Seq(items) => items,
            _ => {
                return Err(Diagnostic::error(
                    "yaml-merge",
                    "a `<<` merge key needs a mapping or a list of mappings",
                )
                .at(v.span));
            }
        };
        for src in sources {
            let Value::Map(src_entries) = src.value else {
                return Err(Diagnostic::error(
                    "yaml-merge",
                    "a `<<` merge key needs a mapping or a list of mappings",
                )
                .at(src.span));
            };
            merged.extend(src_entries);
        }
    }
    for (k, v) in merged {
        let name = k.as_str().map(str::to_owned);
        if !own
            .iter()
            .any(|(e, _)| e.as_str().map(str::to_owned) == name)
        {
            own.push((k, v));
        }
    }
    Ok(own)
}

/// Parse one YAML document into a located tree. Syntax errors are fatal (the parser cannot go
/// on); duplicate keys are collected, and the tree is returned with the errors when there are
/// only those.
pub fn parse(text: &str, file: FileId) -> Result<Node, Vec<Diagnostic>> {
    let mut b = Builder {
        file,
        text,
        char_bytes: (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect()),
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        errors: Vec::new(),
    };
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(e) => e,
            Err(e) => {
                let at = b.byte(e.marker().index());
                let info = e.info().to_owned();
                return Err(vec![
                    Diagnostic::error("yaml-syntax", format!("invalid YAML: {info}"))
                        .at(Span::new(file, at, at + usize::from(at < text.len())))
                        .help(if info.contains("tab") {
                            "YAML indents with spaces only; replace the tab with spaces"
                        } else {
                            "check the indentation and quoting around here"
                        }),
                ]);
            }
        };
        let here = b.span(span);
        if b.stack.len() > MAX_DEPTH {
            return Err(vec![
                Diagnostic::error(
                    "too-deep",
                    format!("values are nested more than {MAX_DEPTH} levels deep"),
                )
                .at(here),
            ]);
        }
        let result = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(vec![
                        Diagnostic::error(
                            "yaml-multiple-documents",
                            "a runbook file holds one YAML document",
                        )
                        .at(here)
                        .label("a second document starts here")
                        .help("put each runbook in its own file, or remove the `---`"),
                    ]);
                }
                Ok(())
            }
            Event::Scalar(value, style, anchor, tag) => {
                let value = match (&tag, style) {
                    (Some(tag), _) => tagged_scalar(tag, &value, here),
                    (None, ScalarStyle::Plain) => Ok(plain_scalar(&value)),
                    (None, _) => Ok(Value::String(value.into_owned())),
                };
                value.and_then(|value| {
                    b.count_nodes(1, here)?;
                    let node = Node::new(here, value);
                    b.remember(anchor, &node);
                    b.push(node);
                    Ok(())
                })
            }
            Event::SequenceStart(anchor, _) => {
                b.stack.push(Frame::Seq {
                    start: here.start,
                    anchor,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                b.stack.push(Frame::Map {
                    start: here.start,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = b
                    .stack
                    .pop()
                    .expect("the parser balances start and end events");
                let (start, anchor, value) = match frame {
                    Frame::Seq {
                        start,
                        anchor,
                        items,
                    } => (start, anchor, Ok(Value::Seq(items))),
                    Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    } => (start, anchor, apply_merge_keys(entries).map(Value::Map)),
                };
                // Block collections end where their last child ends, not at the next token.
                let end = match &value {
                    Ok(Value::Seq(items)) => items.last().map_or(here.end, |n| n.span.end),
                    Ok(Value::Map(entries)) => entries
                        .iter()
                        .map(|(_, v)| v.span.end)
                        .max()
                        .unwrap_or(here.end),
                    _ => here.end,
                };
                let end = if text[start..].starts_with(['[', '{']) {
                    here.end
                } else {
                    end.max(start)
                };
                value.and_then(|value| {
                    b.count_nodes(1, here)?;
                    let node = Node::new(Span::new(file, start, end), value);
                    b.remember(anchor, &node);
                    b.push(node);
                    Ok(())
                })
            }
            Event::Alias(id) => match b.anchors.get(&id).cloned() {
                Some((node, size)) => b.count_nodes(size, here).map(|()| {
                    // The copy keeps the anchor's positions inside, but the alias itself is here.
                    b.push(Node { span: here, ..node });
                }),
                None => {
                    Err(Diagnostic::error("yaml-syntax", "alias to an unknown anchor").at(here))
                }
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        };
        if let Err(d) = result {
            return Err(vec![d]);
        }
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    b.root.ok_or_else(|| {
        vec![
            Diagnostic::error("empty-file", "the file is empty")
                .help("a runbook starts with `runbook: 1`"),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(text, FileId(0)).expect("valid YAML")
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        let n = p("a: 1\nb: yes\nc: true\nd: 1.5\ne: ~\nf: '1'\ng: 10.0.0.0/16\n");
        assert_eq!(n.get("a").unwrap().value, Value::Int(1));
        assert_eq!(n.get("b").unwrap().value, Value::String("yes".into()));
        assert_eq!(n.get("c").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("d").unwrap().value, Value::Float(1.5));
        assert_eq!(n.get("e").unwrap().value, Value::Null);
        assert_eq!(n.get("f").unwrap().value, Value::String("1".into()));
        assert_eq!(
            n.get("g").unwrap().value,
            Value::String("10.0.0.0/16".into())
        );
    }

    #[test]
    fn spans_are_byte_offsets_even_after_multibyte_text() {
        let text = "name: \"Ünïcode\"\nkey: value\n";
        let n = p(text);
        let v = n.get("key").unwrap();
        assert_eq!(&text[v.span.start..v.span.end], "value");
    }

    #[test]
    fn aliases_expand_and_merge_keys_merge() {
        let n = p("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let other = n.get("other").unwrap();
        assert_eq!(other.get("x").unwrap().value, Value::Int(1));
        assert_eq!(other.get("y").unwrap().value, Value::Int(3));
    }

    #[test]
    fn an_alias_bomb_is_refused_without_expanding_it() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let errors = parse(&text, FileId(0)).unwrap_err();
        assert_eq!(errors[0].code, "too-many-nodes");
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let errors = parse("a: 1\nb: 2\na: 3\n", FileId(0)).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "duplicate-key");
        assert_eq!(errors[0].span.unwrap().start, 10);
        assert_eq!(errors[0].related[0].0.start, 0);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let errors = parse("a: [1, 2\nb: 3\n", FileId(0)).unwrap_err();
        assert_eq!(errors[0].code, "yaml-syntax");
        assert!(errors[0].span.is_some());
    }

    #[test]
    fn block_mapping_spans_end_at_their_last_value() {
        let text = "outer:\n  a: 1\n  b: two\nnext: 3\n";
        let n = p(text);
        let outer = n.get("outer").unwrap();
        assert_eq!(&text[outer.span.start..outer.span.end], "a: 1\n  b: two");
    }
}
