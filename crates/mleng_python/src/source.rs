//! Loading a file into Python text: plain sources as they are, notebooks as the
//! concatenation of their code cells with a map from lines back to cells.

use std::path::{Path, PathBuf};

use mleng_span::LineMap;
use ruff_notebook::Notebook;
use ruff_text_size::{TextRange, TextSize};

/// Why a file could not be turned into Python text. Each variant names the problem in words a
/// user can act on; the path is added by the caller's diagnostic.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    #[error("binary file (contains NUL bytes), not Python source")]
    Binary,
    #[error("not valid UTF-8 (first bad byte at offset {0})")]
    NotUtf8(usize),
    #[error("not a valid Jupyter notebook: {0}")]
    Notebook(String),
    /// A valid notebook whose kernel runs another language (R, Julia...): nothing to review.
    #[error("a notebook for another language than Python")]
    NotPython,
    #[error("file too large to review ({0} bytes; the limit is {LIMIT} bytes)", LIMIT = MAX_FILE_BYTES)]
    TooLarge(u64),
}

/// Larger files are generated data, not code a person wrote; parsing them wastes time.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Python,
    Notebook,
}

/// What we keep of a notebook besides its text: where each code cell starts in the
/// concatenated text, its 1-based number among *all* cells (as Jupyter shows them), and its
/// execution count.
#[derive(Debug, Clone)]
pub struct NotebookCells {
    pub cells: Vec<CodeCell>,
}

#[derive(Debug, Clone)]
pub struct CodeCell {
    /// Range of the cell's text in the concatenated source, without the synthetic newline
    /// that separates cells.
    pub range: TextRange,
    /// 1-based cell number among all cells of the notebook.
    pub number: u32,
    pub execution_count: Option<i64>,
    /// First line of the cell in the concatenated source (1-based).
    pub first_line: u32,
    /// The cell was indented as a whole and its text here is dedented (see `dedent_cell`):
    /// columns differ from the notebook's, so edits cannot be mapped back.
    pub dedented: bool,
}

pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    pub kind: SourceKind,
    pub notebook: Option<NotebookCells>,
    pub lines: LineMap,
}

impl SourceFile {
    pub fn load(path: &Path) -> Result<SourceFile, LoadError> {
        let meta = std::fs::metadata(path)?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge(meta.len()));
        }
        let bytes = std::fs::read(path)?;
        let is_notebook = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("ipynb"));
        if is_notebook {
            Self::from_notebook_bytes(path, &bytes)
        } else {
            Self::from_python_bytes(path, bytes)
        }
    }

    pub fn from_python_bytes(path: &Path, bytes: Vec<u8>) -> Result<SourceFile, LoadError> {
        if bytes.contains(&0) {
            return Err(LoadError::Binary);
        }
        let text = String::from_utf8(bytes)
            .map_err(|err| LoadError::NotUtf8(err.utf8_error().valid_up_to()))?;
        // A UTF-8 byte-order mark is legal in Python files but not part of the code.
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        };
        Ok(SourceFile::python(path, text))
    }

    pub fn python(path: &Path, text: String) -> SourceFile {
        let lines = LineMap::new(&text);
        SourceFile {
            path: path.to_path_buf(),
            text,
            kind: SourceKind::Python,
            notebook: None,
            lines,
        }
    }

    pub fn from_notebook_bytes(path: &Path, bytes: &[u8]) -> Result<SourceFile, LoadError> {
        let json =
            std::str::from_utf8(bytes).map_err(|err| LoadError::NotUtf8(err.valid_up_to()))?;
        // ruff_notebook asserts on a few malformed inputs; a panic there must not take the
        // whole review down, so it is contained and reported as a broken notebook.
        let notebook = crate::contained::contain(|| Notebook::from_source_code(json))
            .map_err(|_| LoadError::Notebook("the notebook structure is malformed".into()))?
            .map_err(|err| LoadError::Notebook(err.to_string()))?;
        if !is_python_notebook(json) {
            return Err(LoadError::NotPython);
        }
        let mut text = notebook.source_code().to_string();
        let offsets: Vec<TextSize> = notebook.cell_offsets().iter().copied().collect();
        let dedented: Vec<bool> = offsets
            .windows(2)
            .map(|window| dedent_cell(&mut text, TextRange::new(window[0], window[1])))
            .collect();
        let lines = LineMap::new(&text);
        let raw_cells = notebook.cells();
        // Code cells that ruff kept (cell magics such as %%bash are skipped by ruff), in order.
        let kept = kept_cell_numbers(&notebook, &offsets);
        let mut cells = Vec::new();
        for (i, window) in offsets.windows(2).enumerate() {
            let (start, end) = (window[0], window[1]);
            // Each cell is followed by one synthetic '\n' separator; exclude it.
            let end = if end > start {
                end - TextSize::from(1)
            } else {
                end
            };
            let Some(&number) = kept.get(i) else { break };
            let execution_count =
                raw_cells
                    .get(number.saturating_sub(1) as usize)
                    .and_then(|cell| match cell {
                        ruff_notebook::Cell::Code(code) => code.execution_count,
                        _ => None,
                    });
            cells.push(CodeCell {
                range: TextRange::new(start, end),
                number,
                execution_count,
                first_line: lines.line_of(start),
                dedented: dedented.get(i).copied().unwrap_or(false),
            });
        }
        Ok(SourceFile {
            path: path.to_path_buf(),
            text,
            kind: SourceKind::Notebook,
            notebook: Some(NotebookCells { cells }),
            lines,
        })
    }

    /// The (cell number, line within the cell) for a 1-based line of the text.
    pub fn cell_of_line(&self, line: u32) -> Option<(u32, u32)> {
        let notebook = self.notebook.as_ref()?;
        let cell = notebook
            .cells
            .iter()
            .rev()
            .find(|cell| cell.first_line <= line)?;
        Some((cell.number, line - cell.first_line + 1))
    }

    pub fn slice(&self, range: TextRange) -> &str {
        self.text
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("")
    }
}

/// The notebook's kernel runs Python. `language_info.name` or `kernelspec.language` decide
/// when present; a kernelspec with only a name (Colab writes
/// `{"name": "python3", "display_name": "Python 3"}`) is Python unless its name or display
/// name says another language; no metadata at all is Python. (ruff_notebook's own check
/// rejects the Colab shape, which would turn every Colab notebook into an error.)
fn is_python_notebook(json: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return true; // already parsed by ruff_notebook; cannot happen
    };
    let metadata = &value["metadata"];
    let text = |v: &serde_json::Value| v.as_str().map(str::to_ascii_lowercase);
    if let Some(language) = text(&metadata["language_info"]["name"]) {
        return language == "python";
    }
    let kernel = &metadata["kernelspec"];
    if let Some(language) = text(&kernel["language"]) {
        return language == "python";
    }
    let names = [text(&kernel["name"]), text(&kernel["display_name"])];
    let other = |n: &str| {
        let words: Vec<&str> = n
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '+')
            .collect();
        OTHER_KERNELS.iter().any(|k| words.contains(k))
    };
    !names
        .iter()
        .flatten()
        .any(|n| !n.contains("python") && other(n))
}

/// Words in the names of common non-Python Jupyter kernels (IRkernel, IJulia, xeus-cling,
/// almond, bash_kernel, IJavascript, evcxr).
const OTHER_KERNELS: &[&str] = &[
    "ir",
    "r",
    "julia",
    "xcpp11",
    "xcpp14",
    "xcpp17",
    "c++",
    "scala",
    "bash",
    "javascript",
    "typescript",
    "rust",
    "go",
    "java",
    "kotlin",
    "sql",
    "octave",
    "matlab",
    "sas",
    "ruby",
];

/// The 1-based numbers (among all cells) of the code cells whose text ruff concatenated.
fn kept_cell_numbers(notebook: &Notebook, _offsets: &[TextSize]) -> Vec<u32> {
    notebook
        .index()
        .iter()
        .map(|start| start.cell_index().get() as u32)
        .collect()
}

/// Line arithmetic over one text, shared by locations and snippets.
pub mod mleng_span {
    use ruff_text_size::TextSize;

    #[derive(Debug, Clone)]
    pub struct LineMap {
        /// Byte offset where each line starts; `starts[0] == 0`.
        starts: Vec<u32>,
    }

    impl LineMap {
        pub fn new(text: &str) -> LineMap {
            let mut starts = vec![0u32];
            for (i, byte) in text.bytes().enumerate() {
                if byte == b'\n' {
                    starts.push(i as u32 + 1);
                }
            }
            LineMap { starts }
        }

        /// 1-based line containing `offset`.
        pub fn line_of(&self, offset: TextSize) -> u32 {
            let offset = offset.to_u32();
            match self.starts.binary_search(&offset) {
                Ok(i) => i as u32 + 1,
                Err(i) => i as u32,
            }
        }

        pub fn line_start(&self, line: u32) -> Option<u32> {
            self.starts.get(line.checked_sub(1)? as usize).copied()
        }

        pub fn line_count(&self) -> u32 {
            self.starts.len() as u32
        }

        /// The text of a 1-based line, without its line terminator.
        pub fn line_text<'t>(&self, text: &'t str, line: u32) -> &'t str {
            let Some(start) = self.line_start(line) else {
                return "";
            };
            let end = self
                .line_start(line + 1)
                .unwrap_or(text.len() as u32)
                .min(text.len() as u32);
            text.get(start as usize..end as usize)
                .unwrap_or("")
                .trim_end_matches(['\n', '\r'])
        }

        /// 1-based (line, character column) of `offset`.
        pub fn line_column(&self, text: &str, offset: TextSize) -> (u32, u32) {
            let line = self.line_of(offset);
            let start = self.line_start(line).unwrap_or(0) as usize;
            let end = (offset.to_u32() as usize).min(text.len());
            let column = text.get(start..end).map_or(0, |s| s.chars().count()) as u32 + 1;
            (line, column)
        }
    }
}

/// A cell indented as a whole (a leading space before `class GAN(...)` and every line under
/// it) runs in IPython, which removes the first line's indentation from the cell
/// (`IPython.core.inputtransformer2.leading_indent`); the parser would call it an unexpected
/// indent. The indentation of each line is moved to the end of that line (before a trailing
/// backslash or `\r`), so the cell parses as IPython runs it while every line keeps its length
/// and every offset after the cell stays where it was. Columns in such a cell are counted as
/// IPython sees the code, without the common indentation.
fn dedent_cell(text: &mut String, range: TextRange) -> bool {
    let (start, end) = (range.start().to_usize(), range.end().to_usize());
    let Some(cell) = text.get(start..end) else {
        return false;
    };
    let Some(first) = cell.lines().find(|l| !l.trim().is_empty()) else {
        return false;
    };
    let indent = &first[..first.len() - first.trim_start_matches([' ', '\t']).len()];
    if indent.is_empty()
        || !cell
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with(indent))
    {
        return false;
    }
    let k = indent.len();
    let mut out = String::with_capacity(cell.len());
    for line in cell.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        if body.trim().is_empty() || body.len() < k {
            out.push_str(line);
            continue;
        }
        let (pad, rest) = body.split_at(k);
        match rest.strip_suffix('\\') {
            Some(code) => {
                out.push_str(code);
                out.push_str(pad);
                out.push('\\');
            }
            None => {
                out.push_str(rest);
                out.push_str(pad);
            }
        }
        out.push_str(newline);
    }
    text.replace_range(start..end, &out);
    true
}

#[cfg(test)]
mod tests {
    use super::is_python_notebook;

    #[test]
    fn a_cell_indented_as_a_whole_parses_as_ipython_runs_it() {
        let json = r#"{"cells": [
            {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": [" import torch.nn as nn\n", " class GAN(nn.Module):\n", "     def forward(self, x):\n", "         return x + \\\n", "             1\n"]},
            {"cell_type": "code", "execution_count": 2, "metadata": {}, "outputs": [], "source": ["  x = 1\n", "y = 2\n"]}
        ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#;
        let source = super::SourceFile::from_notebook_bytes(
            std::path::Path::new("nb.ipynb"),
            json.as_bytes(),
        )
        .unwrap();
        let parsed = crate::ParsedFile::parse(&source);
        let errors = parsed.syntax_errors();
        // The first cell is valid in IPython; the second is not (its lines differ in indent).
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            source
                .cell_of_line(source.lines.line_of(errors[0].range.start()))
                .map(|c| c.0),
            Some(2)
        );
        let index = crate::SemanticIndex::build(&source, parsed.module());
        assert_eq!(index.classes.len(), 1);
        assert!(index.classes[0].is_module);
        // Lines keep their place; the class starts at column 1 of cell 1, line 2.
        let start = ruff_text_size::Ranged::start(index.classes[0].def);
        assert_eq!(source.lines.line_column(&source.text, start), (2, 1));
    }

    fn with_metadata(metadata: &str) -> String {
        format!(r#"{{"cells": [], "metadata": {metadata}, "nbformat": 4, "nbformat_minor": 5}}"#)
    }

    #[test]
    fn colab_kernelspec_without_language_is_python() {
        let colab = r#"{"colab": {"name": "T"}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}"#;
        assert!(is_python_notebook(&with_metadata(colab)));
        assert!(is_python_notebook(&with_metadata("{}")));
        let conda = r#"{"kernelspec": {"name": "conda-env-torch-py", "display_name": "torch"}}"#;
        assert!(is_python_notebook(&with_metadata(conda)));
    }

    #[test]
    fn other_languages_are_not() {
        for metadata in [
            r#"{"language_info": {"name": "R"}}"#,
            r#"{"kernelspec": {"name": "ir", "display_name": "R"}}"#,
            r#"{"kernelspec": {"name": "julia-1.10", "display_name": "Julia 1.10.0"}}"#,
            r#"{"kernelspec": {"name": "xcpp17", "display_name": "C++17"}}"#,
            r#"{"kernelspec": {"language": "scala", "name": "x"}}"#,
        ] {
            assert!(!is_python_notebook(&with_metadata(metadata)), "{metadata}");
        }
        let python_info = r#"{"language_info": {"name": "python"}, "kernelspec": {"name": "ir"}}"#;
        assert!(is_python_notebook(&with_metadata(python_info)));
    }
}
