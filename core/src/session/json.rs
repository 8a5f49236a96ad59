//! Reading JSON with a path for every finding: what the session and timeline loaders share.

use serde_json::{Map, Value};

use super::Diagnostic;

/// Every finding, one per line.
pub(crate) fn list(items: &[Diagnostic]) -> String {
    items.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
}

/// The findings of one load: every error and warning with its JSON path.
#[derive(Default)]
pub(crate) struct Cx {
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Cx {
    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Diagnostic { path: path.into(), message: message.into() });
    }
    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Diagnostic { path: path.into(), message: message.into() });
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn fmt_num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A JSON object being read, with its path.
pub(crate) struct Obj<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) path: String,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(cx: &mut Cx, value: &'a Value, path: String) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self { map, path }),
            other => {
                cx.error(path, format!("expected an object, found {}", kind_of(other)));
                None
            }
        }
    }

    pub(crate) fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Warns about every field not in `known` (they are ignored).
    pub(crate) fn unknown_fields(&self, cx: &mut Cx, known: &[&str]) {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                cx.warn(self.at(key), format!("unknown field '{key}' ignored"));
            }
        }
    }

    pub(crate) fn typed<T>(&self, cx: &mut Cx, key: &str, what: &str, get: impl Fn(&'a Value) -> Option<T>) -> Option<T> {
        let v = self.map.get(key)?;
        match get(v) {
            Some(x) => Some(x),
            None => {
                cx.error(self.at(key), format!("expected {what}, found {}", kind_of(v)));
                None
            }
        }
    }

    pub(crate) fn str(&self, cx: &mut Cx, key: &str) -> Option<&'a str> {
        self.typed(cx, key, "a string", Value::as_str)
    }

    pub(crate) fn bool(&self, cx: &mut Cx, key: &str) -> Option<bool> {
        self.typed(cx, key, "a boolean", Value::as_bool)
    }

    pub(crate) fn array(&self, cx: &mut Cx, key: &str) -> Option<&'a Vec<Value>> {
        self.typed(cx, key, "an array", Value::as_array)
    }

    pub(crate) fn number(&self, cx: &mut Cx, key: &str) -> Option<f64> {
        self.typed(cx, key, "a number", Value::as_f64)
    }

    /// A number that must lie in `min..=max` (an error names the range).
    pub(crate) fn number_in(&self, cx: &mut Cx, key: &str, min: f64, max: f64, unit: &str) -> Option<f64> {
        let x = self.number(cx, key)?;
        if x < min || x > max {
            cx.error(
                self.at(key),
                format!("{} is out of range {}..{}{}", fmt_num(x), fmt_num(min), fmt_num(max), unit_suffix(unit)),
            );
            return None;
        }
        Some(x)
    }

    /// A whole number in `min..=max`.
    pub(crate) fn integer_in(&self, cx: &mut Cx, key: &str, min: u64, max: u64) -> Option<u64> {
        let v = self.map.get(key)?;
        let Some(x) = v.as_f64() else {
            cx.error(self.at(key), format!("expected a whole number, found {}", kind_of(v)));
            return None;
        };
        if x.fract() != 0.0 {
            cx.error(self.at(key), format!("expected a whole number, found {x}"));
            return None;
        }
        if x < min as f64 || x > max as f64 {
            cx.error(self.at(key), format!("{} is out of range {min}..{max}", fmt_num(x)));
            return None;
        }
        Some(x as u64)
    }
}

/// A unit after a number in a message: " dB", " ms", or nothing.
pub(crate) fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else if unit.starts_with(' ') {
        unit.to_string()
    } else {
        format!(" {unit}")
    }
}
