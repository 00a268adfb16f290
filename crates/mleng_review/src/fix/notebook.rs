//! Fixing a notebook: edits apply to one code cell's source, and only that cell's `source`
//! value is rewritten in the JSON text. Outputs, metadata, key order, indentation and every
//! other byte of the file stay as they were.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct RawNotebook<'a> {
    #[serde(borrow)]
    cells: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawCell<'a> {
    #[serde(borrow)]
    source: &'a RawValue,
}

/// Where one cell's `source` value sits in the notebook's JSON text, and what it holds.
pub(crate) struct CellSource {
    pub start: usize,
    pub end: usize,
    /// The source as one string (list items joined, as Jupyter runs it).
    pub text: String,
}

/// The `source` of cell `number` (1-based among all cells, as findings count them).
pub(crate) fn cell_source(json: &str, number: u32) -> Result<CellSource, String> {
    let notebook: RawNotebook =
        serde_json::from_str(json).map_err(|err| format!("not a notebook: {err}"))?;
    let cell = notebook
        .cells
        .get((number as usize).checked_sub(1).ok_or("no cell 0")?)
        .ok_or_else(|| format!("the notebook has no cell {number}"))?;
    let parsed: RawCell = serde_json::from_str(cell.get())
        .map_err(|err| format!("cell {number} has no readable source: {err}"))?;
    let raw = parsed.source.get();
    let start = offset_in(json, raw).ok_or("cannot locate the cell in the file")?;
    let text = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or("a source line is not a string"))
            .collect::<Result<String, _>>()?,
        _ => {
            return Err(format!(
                "cell {number}'s source is neither a string nor lines"
            ))
        }
    };
    Ok(CellSource {
        start,
        end: start + raw.len(),
        text,
    })
}

/// The JSON text with cell `cell`'s source replaced by `new_source`, written in the style the
/// file already uses (a list of lines with the same indentation, or one string).
pub(crate) fn replace_source(json: &str, cell: &CellSource, new_source: &str) -> String {
    let raw = &json[cell.start..cell.end];
    let encoded = if raw.starts_with('[') {
        encode_lines(raw, new_source)
    } else {
        quote(new_source)
    };
    let mut out = String::with_capacity(json.len() + encoded.len());
    out.push_str(&json[..cell.start]);
    out.push_str(&encoded);
    out.push_str(&json[cell.end..]);
    out
}

/// `["line\n", "line"]` with the separators the original list used (`,\n    ` for a notebook
/// written by Jupyter, `, ` for a compact one).
fn encode_lines(raw: &str, source: &str) -> String {
    let inner = &raw[1..raw.len() - 1];
    let lead: String = inner.chars().take_while(|c| c.is_whitespace()).collect();
    let trail: String = inner
        .chars()
        .rev()
        .take_while(|c| c.is_whitespace())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let (lead, trail) = if inner.trim().is_empty() {
        // An empty list shows no style: Jupyter's (one space more than the key's line).
        ("\n".to_string(), "\n".to_string())
    } else {
        (lead, trail)
    };
    let separator = format!(",{lead}");
    let lines: Vec<String> = source.split_inclusive('\n').map(quote).collect();
    if lines.is_empty() {
        return "[]".to_string();
    }
    format!("[{lead}{}{trail}]", lines.join(&separator))
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// Byte offset of `part` (a slice of `whole`) in `whole`.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NB: &str = "{\n \"cells\": [\n  {\n   \"cell_type\": \"markdown\",\n   \"metadata\": {},\n   \"source\": [\"# T\"]\n  },\n  {\n   \"cell_type\": \"code\",\n   \"execution_count\": 1,\n   \"metadata\": {},\n   \"outputs\": [{\"text\": \"é\"}],\n   \"source\": [\n    \"import torch\\n\",\n    \"w = torch.load(p)\"\n   ]\n  }\n ],\n \"metadata\": {},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n";

    #[test]
    fn only_the_cell_source_changes() {
        let cell = cell_source(NB, 2).unwrap();
        assert_eq!(cell.text, "import torch\nw = torch.load(p)");
        let fixed = replace_source(
            NB,
            &cell,
            "import torch\nw = torch.load(p, weights_only=True)",
        );
        let expected = NB.replace(
            "\"w = torch.load(p)\"",
            "\"w = torch.load(p, weights_only=True)\"",
        );
        assert_eq!(fixed, expected);
    }

    #[test]
    fn added_lines_use_the_file_indentation() {
        let cell = cell_source(NB, 2).unwrap();
        let fixed = replace_source(NB, &cell, "import torch\nx = 1\nw = 2");
        assert!(
            fixed.contains("[\n    \"import torch\\n\",\n    \"x = 1\\n\",\n    \"w = 2\"\n   ]")
        );
        let reparsed = cell_source(&fixed, 2).unwrap();
        assert_eq!(reparsed.text, "import torch\nx = 1\nw = 2");
    }

    #[test]
    fn a_missing_cell_is_an_error_not_a_panic() {
        assert!(cell_source(NB, 9).is_err());
        assert!(cell_source(NB, 0).is_err());
        assert!(cell_source("{\"cells\": 3}", 1).is_err());
    }
}
