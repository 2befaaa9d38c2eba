//! A streaming YAML writer: any `Serialize` value written straight to an `io::Write`, block
//! style, without building a document tree, so printing a status of 100,000 routes holds one
//! route at a time, not the whole document (twice: a JSON value tree and a YAML one).
//!
//! Written here rather than taken from a crate: the YAML must be read back as the same strings by
//! YAML 1.1 readers (kubectl's, calicoctl's, PyYAML), so `since: "09:23:22"` (a base-60 number
//! in 1.1), `"2021-10-18 09:23:19"` (a timestamp) and `"yes"` (a boolean) must be quoted.
//! `serde_yaml_ng`'s emitter quotes only what a YAML 1.2 reader would misread, and `yaml-rust2`
//! (which quotes what is needed) emits only from its own in-memory tree. The layout and the
//! quoting rule are those of the tree writer this replaces: 2-space indentation, sequences of
//! maps as `- key: value`, empty collections as `[]`/`{}`, null as `~`, and a string quoted
//! (double quotes, JSON-like escapes) when it is empty, has leading or trailing spaces, starts
//! with a YAML indicator or `.`, `0x` or `0o` (this one the tree writer missed), contains `:`, a flow or comment character, a quote, a
//! backslash or any control character (the tree writer left DEL, BEL, BS, VT, FF and ESC plain), is a YAML 1.1 boolean or null word, or reads as a number.
//!
//! Keys are written in the order the value gives them (struct fields in declaration order, maps
//! in their own order); a `serde_json::Value` gives them sorted.

use std::io::Write;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a value could not be written as YAML.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// Writing to the output failed.
    #[error("writing YAML: {0}")]
    Io(#[from] std::io::Error),
    /// The value has a shape the writer does not write (a tuple or struct enum variant, a map
    /// key that is not a string or number), or its `Serialize` failed.
    #[error("writing YAML: {0}")]
    Value(String),
}

impl ser::Error for YamlError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self::Value(msg.to_string())
    }
}

/// Writes `value` as one YAML document (no `---`), ending with a newline.
pub fn to_writer<W: Write, T: Serialize + ?Sized>(out: W, value: &T) -> Result<(), YamlError> {
    let mut writer = Writer {
        out,
        level: -1,
        context: Context::Root,
        stack: Vec::new(),
    };
    value.serialize(&mut writer)?;
    writer.out.write_all(b"\n")?;
    Ok(())
}

/// Where the next value goes, which decides what is written before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// The document itself: nothing before it.
    Root,
    /// After `-` of a sequence item: a space, and a collection starts on the same line.
    Item,
    /// After `key:`: a space before a scalar or an empty collection; a collection starts on the
    /// next line, one level deeper.
    Value,
}

/// An open sequence or map: where it started and how many entries it has so far.
struct Open {
    context: Context,
    entries: usize,
    map: bool,
}

struct Writer<W> {
    out: W,
    /// The emitter's nesting level: -1 at the root, +1 per open non-empty collection.
    level: isize,
    context: Context,
    stack: Vec<Open>,
}

impl<W: Write> Writer<W> {
    fn indent(&mut self, level: isize) -> Result<(), YamlError> {
        const SPACES: &[u8; 64] = &[b' '; 64];
        let mut n = usize::try_from(level.max(0)).unwrap_or(0) * 2;
        while n > 0 {
            let k = n.min(SPACES.len());
            self.out.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }

    fn scalar(&mut self, text: &str, quote: bool) -> Result<(), YamlError> {
        if self.context != Context::Root {
            self.out.write_all(b" ")?;
        }
        if quote {
            write_quoted(&mut self.out, text)?;
        } else {
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    fn string(&mut self, text: &str) -> Result<(), YamlError> {
        self.scalar(text, needs_quotes(text))
    }

    fn open(&mut self, map: bool) {
        self.stack.push(Open {
            context: self.context,
            entries: 0,
            map,
        });
    }

    /// Starts the next entry of the innermost collection: the collection's opening on its
    /// first entry, a new line and indentation on the others.
    fn entry(&mut self) -> Result<(), YamlError> {
        let Some(open) = self.stack.last_mut() else {
            return Err(YamlError::Value("an entry outside any collection".into()));
        };
        open.entries += 1;
        if open.entries == 1 {
            let context = open.context;
            match context {
                Context::Root => {}
                Context::Item => self.out.write_all(b" ")?,
                Context::Value => {
                    self.out.write_all(b"\n")?;
                    self.indent(self.level + 1)?;
                }
            }
            self.level += 1;
        } else {
            self.out.write_all(b"\n")?;
            self.indent(self.level)?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), YamlError> {
        let Some(open) = self.stack.pop() else {
            return Err(YamlError::Value("a collection closed twice".into()));
        };
        if open.entries == 0 {
            if open.context != Context::Root {
                self.out.write_all(b" ")?;
            }
            self.out.write_all(if open.map { b"{}" } else { b"[]" })?;
        } else {
            self.level -= 1;
        }
        Ok(())
    }

    fn key(&mut self, key: &str) -> Result<(), YamlError> {
        self.entry()?;
        if needs_quotes(key) {
            write_quoted(&mut self.out, key)?;
        } else {
            self.out.write_all(key.as_bytes())?;
        }
        self.out.write_all(b":")?;
        self.context = Context::Value;
        Ok(())
    }
}

/// True when a plain scalar would not be read back as this string by a YAML 1.1 or 1.2 reader.
pub(crate) fn needs_quotes(s: &str) -> bool {
    /// Booleans and nulls of YAML 1.2's core schema and YAML 1.1's booleans.
    const WORDS: [&str; 26] = [
        "true", "false", "True", "False", "TRUE", "FALSE", "null", "Null", "NULL", "~", "y", "Y",
        "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
    ];
    let Some(&first) = s.as_bytes().first() else {
        return true;
    };
    s.starts_with(' ')
        || s.ends_with(' ')
        || matches!(
            first,
            b'&' | b'*' | b'?' | b'|' | b'-' | b'<' | b'>' | b'=' | b'!' | b'%' | b'@' | b'.'
        )
        || s.bytes().any(|b| {
            matches!(
                b,
                b':' | b'{'
                    | b'}'
                    | b'['
                    | b']'
                    | b','
                    | b'#'
                    | b'`'
                    | b'"'
                    | b'\''
                    | b'\\'
                    | 0x00..=0x1f
                    | 0x7f
            )
        })
        || WORDS.contains(&s)
        || s.starts_with("0x")
        // YAML 1.2's octal, which the tree writer left plain (a 1.2 reader took `0o17` for 15).
        || s.starts_with("0o")
        || s.parse::<i64>().is_ok()
        || s.parse::<f64>().is_ok()
}

/// A double-quoted scalar: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
/// `\uXXXX`.
fn write_quoted(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        if short.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_all(short)?;
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

impl<W: Write> ser::Serializer for &mut Writer<W> {
    type Ok = ();
    type Error = YamlError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Impossible<(), YamlError>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), YamlError>;

    fn serialize_bool(self, v: bool) -> Result<(), YamlError> {
        self.scalar(if v { "true" } else { "false" }, false)
    }
    fn serialize_i8(self, v: i8) -> Result<(), YamlError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), YamlError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), YamlError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), YamlError> {
        self.scalar(&v.to_string(), false)
    }
    fn serialize_u8(self, v: u8) -> Result<(), YamlError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), YamlError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), YamlError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), YamlError> {
        self.scalar(&v.to_string(), false)
    }
    fn serialize_f32(self, v: f32) -> Result<(), YamlError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), YamlError> {
        // As a JSON value would hold it: a finite number in JSON's notation, else null.
        match serde_json::Number::from_f64(v) {
            Some(n) => self.scalar(&n.to_string(), false),
            None => self.serialize_unit(),
        }
    }
    fn serialize_char(self, v: char) -> Result<(), YamlError> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), YamlError> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), YamlError> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), YamlError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), YamlError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), YamlError> {
        self.scalar("~", false)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), YamlError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), YamlError> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), YamlError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), YamlError> {
        self.open(true);
        self.key(variant)?;
        value.serialize(&mut *self)?;
        self.close()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, YamlError> {
        self.open(false);
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, YamlError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, YamlError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, YamlError> {
        Err(YamlError::Value(format!(
            "tuple variant {name}::{variant} is not written"
        )))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, YamlError> {
        self.open(true);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, YamlError> {
        self.open(true);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, YamlError> {
        Err(YamlError::Value(format!(
            "struct variant {name}::{variant} is not written"
        )))
    }
}

impl<W: Write> ser::SerializeSeq for &mut Writer<W> {
    type Ok = ();
    type Error = YamlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), YamlError> {
        self.entry()?;
        self.out.write_all(b"-")?;
        self.context = Context::Item;
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), YamlError> {
        self.close()
    }
}

impl<W: Write> ser::SerializeTuple for &mut Writer<W> {
    type Ok = ();
    type Error = YamlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), YamlError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), YamlError> {
        self.close()
    }
}

impl<W: Write> ser::SerializeTupleStruct for &mut Writer<W> {
    type Ok = ();
    type Error = YamlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), YamlError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), YamlError> {
        self.close()
    }
}

impl<W: Write> ser::SerializeMap for &mut Writer<W> {
    type Ok = ();
    type Error = YamlError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), YamlError> {
        let key = key.serialize(KeyText)?;
        self.key(&key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), YamlError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), YamlError> {
        self.close()
    }
}

impl<W: Write> ser::SerializeStruct for &mut Writer<W> {
    type Ok = ();
    type Error = YamlError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), YamlError> {
        self.key(key)?;
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), YamlError> {
        self.close()
    }
}

/// A map key as text, as a JSON object would have it: strings, and numbers and booleans
/// written as their text.
struct KeyText;

macro_rules! key_as_text {
    ($($method:ident: $t:ty),*) => {
        $(fn $method(self, v: $t) -> Result<String, YamlError> {
            Ok(v.to_string())
        })*
    };
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = YamlError;
    type SerializeSeq = Impossible<String, YamlError>;
    type SerializeTuple = Impossible<String, YamlError>;
    type SerializeTupleStruct = Impossible<String, YamlError>;
    type SerializeTupleVariant = Impossible<String, YamlError>;
    type SerializeMap = Impossible<String, YamlError>;
    type SerializeStruct = Impossible<String, YamlError>;
    type SerializeStructVariant = Impossible<String, YamlError>;

    key_as_text!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char, serialize_str: &str);

    fn serialize_f32(self, _: f32) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_f64(self, _: f64) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_none(self) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_unit(self) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, YamlError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, YamlError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, YamlError> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, YamlError> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, YamlError> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, YamlError> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, YamlError> {
        Err(not_a_key())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, YamlError> {
        Err(not_a_key())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, YamlError> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, YamlError> {
        Err(not_a_key())
    }
}

fn not_a_key() -> YamlError {
    YamlError::Value("a map key that is not a string or a number".into())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::document::{parse_documents, to_yaml, write_yaml};
    use crate::{
        CalicoNodeStatus, CalicoNodeStatusStatus, LearnedFrom, Route, RouteSourceType, RouteStatus,
        RouteType,
    };

    /// The tree writer `to_yaml` used before: yaml-rust2's emitter over a copy of the value.
    fn tree_yaml(value: &Value) -> String {
        fn yaml_of(value: &Value) -> yaml_rust2::Yaml {
            use yaml_rust2::Yaml;
            match value {
                Value::Null => Yaml::Null,
                Value::Bool(b) => Yaml::Boolean(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => Yaml::Integer(i),
                    None => Yaml::Real(n.to_string()),
                },
                Value::String(s) => Yaml::String(s.clone()),
                Value::Array(items) => Yaml::Array(items.iter().map(yaml_of).collect()),
                Value::Object(map) => Yaml::Hash(
                    map.iter()
                        .map(|(k, v)| (Yaml::String(k.clone()), yaml_of(v)))
                        .collect(),
                ),
            }
        }
        let mut out = String::new();
        yaml_rust2::YamlEmitter::new(&mut out)
            .dump(&yaml_of(value))
            .unwrap();
        let mut text = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
        text.push('\n');
        text
    }

    const STRINGS: [&str; 49] = [
        "",
        " ",
        " a",
        "a ",
        "plain",
        "N/A",
        "10.0.0.0/24",
        "fd00::/64",
        "09:23:22",
        "2021-10-18 09:23:19",
        "2021-10-18",
        "1",
        "-1",
        "+1",
        "1.5",
        "1e3",
        ".5",
        "0x1f",
        "inf",
        "nan",
        "NaN",
        ".inf",
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "N",
        "true",
        "False",
        "null",
        "~",
        "Null",
        "a#b",
        "a #b",
        "#a",
        "a\"b",
        "back\\slash",
        "tab\there",
        "new\nline",
        "\u{1}x",
        "é ü",
        "[x]",
        "{x}",
        "a,b",
        "@x",
        "%x",
        "-x",
        "it's",
    ];

    fn shapes() -> Vec<Value> {
        let mut values: Vec<Value> = STRINGS.iter().map(|s| json!(s)).collect();
        values.extend([
            json!(null),
            json!(true),
            json!(0),
            json!(-5),
            json!(u64::MAX),
            json!(1.25),
            json!([]),
            json!({}),
            json!([[]]),
            json!([{}]),
            json!({"a": []}),
            json!({"a": {}}),
            json!([1, [2, [3, {}]], {"k": [], "m": {"n": [{"x": 1, "y": [true, null]}]}}]),
            json!({"list": [{"a": 1, "b": {"c": [1, 2]}}, [], {}, [[1], [2, 3]]], "z": &STRINGS[..]}),
            json!({"09:23:22": "k", "": 1, "yes": {"no": []}}),
        ]);
        values.push(json!({"all": &STRINGS[..], "nested": {"again": &STRINGS[..]}}));
        values
    }

    #[test]
    fn writes_what_the_tree_emitter_wrote_byte_for_byte() {
        for value in shapes() {
            assert_eq!(to_yaml(&value).unwrap(), tree_yaml(&value), "{value}");
        }
    }

    #[test]
    fn what_the_tree_writer_left_plain_and_a_reader_misreads_or_refuses_is_quoted() {
        for (s, quoted) in [
            ("0o17", "\"0o17\"\n"),
            ("\u{7f}", "\"\\u007f\"\n"),
            ("\u{1b}[0m", "\"\\u001b[0m\"\n"),
            ("a\u{7}b", "\"a\\u0007b\"\n"),
        ] {
            assert_eq!(to_yaml(&json!(s)).unwrap(), quoted);
            let read: Value = serde_saphyr::from_str(&to_yaml(&json!([s])).unwrap()).unwrap();
            assert_eq!(read, json!([s]));
        }
    }

    #[test]
    fn quoted_strings_are_read_back_as_the_same_strings() {
        for value in shapes() {
            let text = to_yaml(&value).unwrap();
            let read: Value = serde_saphyr::from_str(&text).unwrap();
            // The YAML reader has no integers above i64 and no floats other than these.
            if value != json!(u64::MAX) {
                assert_eq!(read, value, "{text}");
            }
            let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
            assert_eq!(docs.len(), 1, "{text}");
        }
    }

    fn large_resource(routes: usize) -> CalicoNodeStatus {
        let mut obj = CalicoNodeStatus::new(
            "big",
            crate::CalicoNodeStatusSpec {
                classes: crate::NodeStatusClass::ALL.to_vec(),
                node: "node-1".into(),
                update_period_seconds: 10,
            },
        );
        let route = |i: usize| Route {
            route_type: Some(if i.is_multiple_of(3) {
                RouteType::Rib
            } else {
                RouteType::Fib
            }),
            destination: format!("10.{}.{}.0/24", (i >> 8) & 255, i & 255),
            gateway: if i.is_multiple_of(5) {
                "N/A".into()
            } else {
                format!("10.99.0.{}", i % 7)
            },
            interface: if i.is_multiple_of(5) {
                "blackhole".into()
            } else {
                "eth0".into()
            },
            learned_from: LearnedFrom {
                source_type: Some(RouteSourceType::NodeMesh),
                peer_ip: format!("fd00::{:x}", i % 3),
            },
        };
        obj.status = Some(CalicoNodeStatusStatus {
            last_updated: Some("2027-01-15T08:01:01Z".into()),
            routes: Some(RouteStatus {
                routes_v4: (0..routes).map(route).collect(),
                routes_v6: Vec::new(),
                truncated: None,
            }),
            ..Default::default()
        });
        obj
    }

    #[test]
    fn a_typed_resource_written_as_it_serializes_reads_back_as_the_tree_written_one() {
        let obj = large_resource(2_000);
        let tree = to_yaml(&serde_json::to_value(&obj).unwrap()).unwrap();
        let mut streamed = Vec::new();
        write_yaml(&mut streamed, &obj).unwrap();
        let streamed = String::from_utf8(streamed).unwrap();
        assert_ne!(streamed, tree, "keys in struct order, not sorted");
        let as_value = |text: &str| serde_saphyr::from_str::<Value>(text).unwrap();
        assert_eq!(as_value(&streamed), as_value(&tree));
        let read = parse_documents(&streamed).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].object, obj);
    }

    #[test]
    fn written_resources_serialize_as_the_resource_with_its_form() {
        let mut bare = large_resource(3);
        bare.status = None;
        for obj in [large_resource(3), bare] {
            for form in [crate::ApiVersion::V3, crate::ApiVersion::CrdV1] {
                let mut before = serde_json::to_value(&obj).unwrap();
                let map = before.as_object_mut().unwrap();
                map.insert("apiVersion".into(), json!(form.as_str()));
                map.insert("kind".into(), json!("CalicoNodeStatus"));
                assert_eq!(crate::to_value(&obj, form).unwrap(), before);
                let list = crate::list_value(std::slice::from_ref(&obj), form, Some("7")).unwrap();
                assert_eq!(
                    list,
                    json!({
                        "apiVersion": form.as_str(),
                        "kind": "CalicoNodeStatusList",
                        "metadata": {"resourceVersion": "7"},
                        "items": [before],
                    })
                );
            }
        }
        let empty = crate::list_value(&[], crate::ApiVersion::V3, None).unwrap();
        assert_eq!(empty["metadata"], json!({}));
    }
}
