//! Python's `json.dumps` (and so Hugging Face's `trainer_state.json`) writes the bare tokens
//! `NaN`, `Infinity` and `-Infinity`, which strict JSON parsers reject. We rewrite them,
//! outside strings only, into marker strings that [`number`] turns back into floats.

use serde_json::Value;

const NAN: &str = "\"\\u0001NaN\"";
const INF: &str = "\"\\u0001Infinity\"";
const NEG_INF: &str = "\"\\u0001-Infinity\"";

/// Rewrites non-finite tokens outside JSON strings.
pub fn sanitize(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    let mut copied_to = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let replacement = if b == b'"' {
            in_string = true;
            None
        } else if rest.starts_with(b"NaN") {
            Some((3, NAN))
        } else if rest.starts_with(b"Infinity") {
            Some((8, INF))
        } else if rest.starts_with(b"-Infinity") {
            Some((9, NEG_INF))
        } else {
            None
        };
        match replacement {
            Some((len, marker)) => {
                out.push_str(&text[copied_to..i]);
                out.push_str(marker);
                i += len;
                copied_to = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied_to..]);
    out
}

/// A JSON value as a float: numbers, our non-finite markers, and the strings `"nan"`,
/// `"inf"`, `"-inf"` some loggers write. Booleans and other strings are not numbers.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim_start_matches('\u{1}');
            match t.to_ascii_lowercase().as_str() {
                "nan" => Some(f64::NAN),
                "inf" | "infinity" | "+inf" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_tokens_outside_strings_only() {
        let text = r#"{"a": NaN, "b": -Infinity, "c": "NaN \" Infinity", "d": Infinity}"#;
        let v: Value = serde_json::from_str(&sanitize(text)).unwrap();
        assert!(number(&v["a"]).unwrap().is_nan());
        assert_eq!(number(&v["b"]), Some(f64::NEG_INFINITY));
        assert_eq!(v["c"], Value::String("NaN \" Infinity".into()));
        assert_eq!(number(&v["d"]), Some(f64::INFINITY));
    }
}
