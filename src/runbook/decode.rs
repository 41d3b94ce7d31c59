//! Typed values from the located YAML tree, with positions on every error.
//!
//! [`from_node`] is a serde deserializer over [`Node`]: the runbook format and every action's
//! parameter struct are plain serde types (`deny_unknown_fields`), and an error names the exact
//! key or value that is wrong. [`Spanned<T>`] keeps a value's position for later stages, and
//! [`Deferred<T>`] keeps a sub-tree undecoded so that each var and step is decoded on its own and
//! every broken one is reported, not only the first.
//!
//! [`check_lenient`] decodes an action's `with:` before templates are rendered: a template string
//! (`"{{ steps.vpc.vpc_id }}"`) stands in for a value of any type, so only literal values are
//! type-checked. Types that parse strings (CIDR blocks, durations) ask [`is_deferred`] whether a
//! string is such a stand-in.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::diagnostic::Diagnostic;
use super::source::{FileId, Span};
use super::suggest;
use super::yaml::{Node, Value};

/// What went wrong while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    UnknownKey {
        key: String,
        expected: Vec<&'static str>,
    },
    MissingKey {
        key: &'static str,
    },
    WrongType,
    WrongValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: ErrorKind,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
    /// The serde name of the innermost struct being decoded (`step`, `var`, …).
    pub context: Option<&'static str>,
    /// The innermost key whose value was wrong.
    pub key: Option<String>,
}

impl DecodeError {
    fn new(kind: ErrorKind, message: String) -> Self {
        DecodeError {
            kind,
            message,
            span: None,
            help: None,
            context: None,
            key: None,
        }
    }

    fn or_key(mut self, key: &Node) -> Self {
        if self.key.is_none() && matches!(self.kind, ErrorKind::WrongType | ErrorKind::WrongValue) {
            self.key = key.scalar_text();
        }
        self
    }

    fn for_key(&self) -> String {
        self.key
            .as_ref()
            .map_or_else(|| "in ".to_owned(), |k| format!("for `{k}` in "))
    }

    fn or_span(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }

    fn or_context(mut self, context: &'static str) -> Self {
        if !context.starts_with('$') {
            self.context.get_or_insert(context);
        }
        self
    }

    /// A diagnostic; `what` names the thing being decoded ("a step", "`aws.ec2.create_vpc`").
    pub fn into_diagnostic(self, what: &str, key_noun: &str) -> Diagnostic {
        match &self.kind {
            ErrorKind::UnknownKey { key, expected } => {
                let help = suggest::did_you_mean(key, expected.iter().copied())
                    .unwrap_or_else(|| format!("{what} accepts {}", suggest::list(expected)));
                Diagnostic::error(
                    if key_noun == "parameter" {
                        "unknown-parameter"
                    } else {
                        "unknown-key"
                    },
                    format!("unknown {key_noun} `{key}` in {what}"),
                )
                .at_opt(self.span)
                .help(help)
            }
            ErrorKind::MissingKey { key } => Diagnostic::error(
                if key_noun == "parameter" {
                    "missing-parameter"
                } else {
                    "missing-key"
                },
                format!("{what} is missing the required {key_noun} `{key}`"),
            )
            .at_opt(self.span)
            .label(format!("add `{key}:` here")),
            ErrorKind::WrongType => Diagnostic::error(
                "wrong-type",
                format!("wrong type {}{what}: {}", self.for_key(), self.message),
            )
            .at_opt(self.span)
            .help_opt(self.help),
            ErrorKind::WrongValue => Diagnostic::error(
                "wrong-value",
                format!("invalid value {}{what}: {}", self.for_key(), self.message),
            )
            .at_opt(self.span)
            .help_opt(self.help),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

fn describe_unexpected(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Str(s) => format!("the string `{s}`"),
        de::Unexpected::Signed(i) => format!("the integer `{i}`"),
        de::Unexpected::Unsigned(i) => format!("the integer `{i}`"),
        de::Unexpected::Float(f) => format!("the number `{f}`"),
        de::Unexpected::Bool(b) => format!("the boolean `{b}`"),
        de::Unexpected::Unit => "nothing (null)".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Map => "a mapping".into(),
        other => other.to_string(),
    }
}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::new(ErrorKind::WrongValue, msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = exp.to_string();
        let mut e = DecodeError::new(
            ErrorKind::WrongType,
            format!(
                "expected {}, found {}",
                friendly_expected(&expected),
                describe_unexpected(&unexp)
            ),
        );
        let scalar = matches!(
            unexp,
            de::Unexpected::Signed(_)
                | de::Unexpected::Unsigned(_)
                | de::Unexpected::Float(_)
                | de::Unexpected::Bool(_)
        );
        if scalar && expected.contains("string") {
            e.help = Some(format!(
                "put it in quotes to make it a string: \"{}\"",
                unexpected_text(&unexp)
            ));
        }
        if let (de::Unexpected::Str(text), "a sequence") = (&unexp, expected.as_str()) {
            e.help = Some(format!("write it as a list: `{}`", as_list(text)));
        }
        e
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(
            ErrorKind::WrongValue,
            format!(
                "expected {}, found {}",
                friendly_expected(&exp.to_string()),
                describe_unexpected(&unexp)
            ),
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DecodeError::new(
            ErrorKind::UnknownKey {
                key: field.to_owned(),
                expected: expected.to_vec(),
            },
            format!("unknown key `{field}`"),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        DecodeError::new(
            ErrorKind::MissingKey { key: field },
            format!("missing key `{field}`"),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DecodeError::new(
            ErrorKind::WrongValue,
            format!("`{variant}` is not one of {}", suggest::list(expected)),
        );
        e.help = suggest::did_you_mean(variant, expected.iter().copied());
        e
    }
}

/// A string written where a list belongs, as the list it likely means: its words, a template
/// (`{{ vars.name }}`) kept whole; a command line with shell syntax (quotes, pipes, `&&`, `$`)
/// as a shell's `[sh, -c, '…']`.
fn as_list(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    let mut shell = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => depth += 1,
            '}' if chars.peek() == Some(&'}') => depth = depth.saturating_sub(1),
            '|' | '&' | ';' | '<' | '>' | '$' | '\'' | '"' | '`' | '*' | '\\' if depth == 0 => {
                shell = true;
            }
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    if shell {
        return format!("[sh, -c, '{}']", text.trim().replace('\'', "''"));
    }
    // A word YAML reads as itself, a string: no flow syntax, and not a number.
    let plain = |w: &str| {
        w.chars()
            .all(|c| c.is_alphanumeric() || "-_./=+".contains(c))
            && w.parse::<f64>().is_err()
            && !matches!(
                w.to_lowercase().as_str(),
                "true" | "false" | "null" | "yes" | "no" | "on" | "off"
            )
    };
    let quoted = words.iter().map(|w| {
        if plain(w) {
            w.clone()
        } else {
            format!("\"{}\"", w.replace('"', "\\\""))
        }
    });
    format!("[{}]", quoted.collect::<Vec<_>>().join(", "))
}

fn unexpected_text(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Signed(i) => i.to_string(),
        de::Unexpected::Unsigned(i) => i.to_string(),
        de::Unexpected::Float(f) => f.to_string(),
        de::Unexpected::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// serde's names for primitive types, in words.
fn friendly_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        other if other.starts_with("struct ") => "a mapping".into(),
        other => other.to_owned(),
    }
}

thread_local! {
    static LENIENT: Cell<bool> = const { Cell::new(false) };
}

/// Does the string hold template syntax?
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// True while [`check_lenient`] runs and `s` is a template that will only have a value at run
/// time: a type that parses strings then accepts it as a stand-in.
pub fn is_deferred(s: &str) -> bool {
    LENIENT.with(Cell::get) && is_template(s)
}

fn lenient_template(node: &Node) -> bool {
    LENIENT.with(Cell::get) && node.as_str().is_some_and(is_template)
}

/// A template that may stand in for a list or a mapping: only one that is a whole `{{ … }}`
/// expression has a native value; text around a template always renders to a string.
fn lenient_whole(node: &Node) -> bool {
    LENIENT.with(Cell::get)
        && node.as_str().is_some_and(|s| {
            matches!(
                super::template::kind(s),
                super::template::Kind::Expression(_)
            )
        })
}

/// Decode a node into `T`.
pub fn from_node<'de, T: Deserialize<'de>>(node: &'de Node) -> Result<T, DecodeError> {
    T::deserialize(NodeDe(node))
}

/// Decode with templates standing in for values of any type, only to check what is literal.
pub fn check_lenient<'de, T: Deserialize<'de>>(node: &'de Node) -> Result<(), DecodeError> {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            LENIENT.with(|l| l.set(self.0));
        }
    }
    let _reset = Reset(LENIENT.with(|l| l.replace(true)));
    T::deserialize(NodeDe(node)).map(drop)
}

/// A decoded value and where it was written.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub span: Span,
    pub value: T,
}

impl<T> Spanned<T> {
    pub fn new(span: Span, value: T) -> Self {
        Spanned { span, value }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Spanned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

const SPANNED: &str = "$runbook::Spanned";
const NODE: &str = "$runbook::Node";
const FIELDS: &[&str] = &["$file", "$start", "$end", "$value"];

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (file, start, end) = read_position(&mut map)?;
                let value = map.next_value()?;
                Ok(Spanned {
                    span: Span::new(FileId(file), start, end),
                    value,
                })
            }
        }
        d.deserialize_struct(SPANNED, FIELDS, V(PhantomData))
    }
}

fn read_position<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(u32, usize, usize), A::Error> {
    let mut next = || -> Result<usize, A::Error> {
        map.next_key::<de::IgnoredAny>()?;
        map.next_value::<usize>()
    };
    let file = u32::try_from(next()?).map_err(de::Error::custom)?;
    let (start, end) = (next()?, next()?);
    map.next_key::<de::IgnoredAny>()?;
    Ok((file, start, end))
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let (file, start, end) = read_position(&mut map)?;
                let value = map.next_value_seed(ValueSeed)?;
                Ok(Node::new(Span::new(FileId(file), start, end), value))
            }
        }
        d.deserialize_struct(NODE, FIELDS, V)
    }
}

impl schemars::JsonSchema for Node {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyValue".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::from(true)
    }
}

/// The value part of a [`Node`]; only [`NodeDe`] produces it.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::String(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(Value::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Node>()? {
                    entries.push((k, map.next_value::<Node>()?));
                }
                Ok(Value::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// A sub-tree kept as it was written, to be decoded into `T` on its own later.
#[derive(Clone, Debug)]
pub struct Deferred<T> {
    pub node: Node,
    marker: PhantomData<fn() -> T>,
}

impl<T> Deferred<T> {
    pub fn decode<'de>(&'de self) -> Result<T, DecodeError>
    where
        T: Deserialize<'de>,
    {
        from_node(&self.node)
    }
}

impl<'de, T> Deserialize<'de> for Deferred<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Node::deserialize(d).map(|node| Deferred {
            node,
            marker: PhantomData,
        })
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Deferred<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// The serde deserializer over one node.
#[derive(Clone, Copy)]
struct NodeDe<'a>(&'a Node);

impl<'de> NodeDe<'de> {
    fn fail<T>(self, e: DecodeError) -> Result<T, DecodeError> {
        Err(e.or_span(self.0.span))
    }

    fn visit_position<V: Visitor<'de>>(
        self,
        v: V,
        with_value: bool,
    ) -> Result<V::Value, DecodeError> {
        v.visit_map(PositionAccess {
            node: self.0,
            field: 0,
            value_as_node: with_value,
        })
    }
}

macro_rules! lenient_number {
    ($($method:ident => $visit:ident($zero:expr)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
            if lenient_template(self.0) {
                return v.$visit::<DecodeError>($zero).map_err(|e| e.or_span(self.0.span));
            }
            self.deserialize_any(v)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        let result = match &self.0.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Int(i) => v.visit_i64(*i),
            Value::Float(f) => v.visit_f64(*f),
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Seq(items) => v.visit_seq(SeqDe { iter: items.iter() }),
            Value::Map(entries) => v.visit_map(MapDe {
                iter: entries.iter(),
                value: None,
            }),
        };
        result.or_else(|e| self.fail(e))
    }

    lenient_number! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0), deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0), deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0), deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0), deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0), deserialize_f64 => visit_f64(0.0),
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        match self.0.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, DecodeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        if lenient_whole(self.0) {
            return v.visit_seq(SeqDe { iter: [].iter() });
        }
        self.deserialize_any(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        if lenient_whole(self.0) {
            return v.visit_map(MapDe {
                iter: [].iter(),
                value: None,
            });
        }
        self.deserialize_any(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        match name {
            SPANNED => return self.visit_position(v, false),
            NODE => return self.visit_position(v, true),
            _ => {}
        }
        if lenient_template(self.0) {
            return Err(DecodeError::new(
                ErrorKind::WrongType,
                "expected a mapping written out, found a template".into(),
            )
            .or_span(self.0.span)
            .or_context(name));
        }
        match &self.0.value {
            Value::Map(entries) => v.visit_map(MapDe {
                iter: entries.iter(),
                value: None,
            }),
            _ => Err(DecodeError::new(
                ErrorKind::WrongType,
                format!("expected a mapping, found {}", self.0.describe()),
            )),
        }
        .map_err(|e| e.or_span(self.0.span).or_context(name))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.0.value {
            Value::String(s) if lenient_template(self.0) => {
                let first = variants.first().copied().unwrap_or_default();
                v.visit_enum(IntoDeserializer::<DecodeError>::into_deserializer(first))
            }
            Value::String(s) => v.visit_enum(IntoDeserializer::<DecodeError>::into_deserializer(
                s.as_str(),
            )),
            Value::Map(entries) if entries.len() == 1 => {
                v.visit_enum(EnumDe(&entries[0].0, &entries[0].1))
            }
            _ => Err(DecodeError::new(
                ErrorKind::WrongType,
                format!(
                    "expected one of {}, found {}",
                    suggest::list(variants),
                    self.0.describe()
                ),
            )),
        }
        .or_else(|e| self.fail(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct tuple tuple_struct identifier i128 u128
    }
}

/// Feeds `$file`, `$start`, `$end` and `$value` to [`Spanned`] and [`Node`].
struct PositionAccess<'a> {
    node: &'a Node,
    field: usize,
    value_as_node: bool,
}

impl<'de> MapAccess<'de> for PositionAccess<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match FIELDS.get(self.field) {
            Some(name) => seed
                .deserialize(IntoDeserializer::<DecodeError>::into_deserializer(*name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, DecodeError> {
        let span = self.node.span;
        self.field += 1;
        match self.field {
            1 => seed.deserialize(IntoDeserializer::<DecodeError>::into_deserializer(
                span.file.0 as usize,
            )),
            2 => seed.deserialize(IntoDeserializer::<DecodeError>::into_deserializer(
                span.start,
            )),
            3 => seed.deserialize(IntoDeserializer::<DecodeError>::into_deserializer(span.end)),
            _ if self.value_as_node => seed.deserialize(RawValueDe(self.node)),
            _ => seed.deserialize(NodeDe(self.node)),
        }
    }
}

/// Hands a node's value to [`ValueSeed`] (children again as [`Node`]s).
struct RawValueDe<'a>(&'a Node);

impl<'de> de::Deserializer<'de> for RawValueDe<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        // Templates are never stand-ins here: a Node keeps exactly what was written.
        match &self.0.value {
            Value::String(s) => v.visit_borrowed_str(s),
            _ => NodeDe(self.0).deserialize_any(v),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct SeqDe<'a> {
    iter: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for SeqDe<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.iter.next() {
            Some(node) => seed
                .deserialize(NodeDe(node))
                .map(Some)
                .map_err(|e| e.or_span(node.span)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe<'a> {
    iter: std::slice::Iter<'a, (Node, Node)>,
    /// The current entry: its key (for messages) and value.
    value: Option<(&'a Node, &'a Node)>,
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some((k, v));
                seed.deserialize(NodeDe(k))
                    .map(Some)
                    .map_err(|e| e.or_span(k.span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, DecodeError> {
        let (key, node) = self
            .value
            .take()
            .expect("serde asks for a value after its key");
        seed.deserialize(NodeDe(node))
            .map_err(|e| e.or_span(node.span).or_key(key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct EnumDe<'a>(&'a Node, &'a Node);

impl<'de> de::EnumAccess<'de> for EnumDe<'de> {
    type Error = DecodeError;
    type Variant = NodeDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'de>), DecodeError> {
        let variant = seed
            .deserialize(NodeDe(self.0))
            .map_err(|e| e.or_span(self.0.span))?;
        Ok((variant, NodeDe(self.1)))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'de> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(self, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_struct(self, "", fields, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::yaml::parse;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename = "thing")]
    struct Thing {
        name: Spanned<String>,
        count: u32,
        #[serde(default)]
        #[allow(dead_code)]
        tags: Vec<String>,
        rest: Option<Node>,
    }

    fn node(text: &str) -> Node {
        parse(text, FileId(0)).unwrap()
    }

    #[test]
    fn decodes_with_positions() {
        let text = "name: web\ncount: 2\nrest: {a: [1, x]}\n";
        let n = node(text);
        let t: Thing = from_node(&n).unwrap();
        assert_eq!(t.name.value, "web");
        assert_eq!(&text[t.name.span.start..t.name.span.end], "web");
        assert_eq!(t.count, 2);
        assert_eq!(t.rest.unwrap().get("a").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn unknown_keys_point_at_the_key() {
        let text = "name: web\ncout: 2\n";
        let e = from_node::<Thing>(&node(text)).unwrap_err();
        assert!(matches!(&e.kind, ErrorKind::UnknownKey { key, .. } if key == "cout"));
        assert_eq!(e.span.unwrap().start, 10);
        assert_eq!(e.context, Some("thing"));
        let d = e.into_diagnostic("a thing", "key");
        assert_eq!(d.help.as_deref(), Some("did you mean `count`?"));
    }

    #[test]
    fn wrong_types_point_at_the_value_and_say_what_was_expected() {
        let text = "name: web\ncount: many\n";
        let e = from_node::<Thing>(&node(text)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::WrongType);
        assert_eq!(
            e.message,
            "expected a whole number, 0 or more, found the string `many`"
        );
        assert_eq!(e.span.unwrap().start, 17);
    }

    #[test]
    fn a_number_where_a_string_belongs_suggests_quotes() {
        let e = from_node::<Thing>(&node("name: 42\ncount: 1\n")).unwrap_err();
        assert_eq!(
            e.help.as_deref(),
            Some("put it in quotes to make it a string: \"42\"")
        );
    }

    #[test]
    fn templates_stand_in_for_any_type_only_when_lenient() {
        let n = node("name: web\ncount: \"{{ vars.n }}\"\ntags: \"{{ vars.tags }}\"\n");
        assert!(check_lenient::<Thing>(&n).is_ok());
        assert!(from_node::<Thing>(&n).is_err());
        assert!(
            !LENIENT.with(Cell::get),
            "the lenient flag is reset afterwards"
        );
    }
}
