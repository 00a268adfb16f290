//! Positions: mleng counts 1-based lines and 1-based *character* columns; LSP counts 0-based
//! lines and UTF-16 code units. Every conversion between the two goes through [`LineIndex`],
//! which clamps out-of-range positions instead of failing (a client may send a position past
//! the end of a line, and a finding may refer to a text that has changed since).

use lsp_types::Position;

/// The line starts of one text.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// A 0-based line's text without its `\n` (a `\r` before it stays: mleng counts it as a
    /// character of the line, and so does LSP). `None` past the last line.
    fn line(&self, line: usize) -> Option<(usize, &'a str)> {
        let start = *self.starts.get(line)?;
        let end = self
            .starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        Some((start, &self.text[start..end]))
    }

    /// The LSP position of mleng's 1-based line and character column.
    pub fn to_lsp(&self, line: u32, column: u32) -> Position {
        let line0 = line.saturating_sub(1) as usize;
        let Some((_, text)) = self.line(line0) else {
            return self.end();
        };
        let chars = column.saturating_sub(1) as usize;
        let units: usize = text.chars().take(chars).map(char::len_utf16).sum();
        Position::new(line0 as u32, units as u32)
    }

    /// The byte offset of an LSP position (clamped to the line's end, and to the text's).
    pub fn offset(&self, position: Position) -> usize {
        let Some((start, text)) = self.line(position.line as usize) else {
            return self.text.len();
        };
        let mut units = 0;
        for (i, c) in text.char_indices() {
            if units >= position.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + text.len()
    }

    /// The position just past the last character.
    pub fn end(&self) -> Position {
        let last = self.starts.len() - 1;
        let text = &self.text[self.starts[last]..];
        Position::new(last as u32, text.encode_utf16().count() as u32)
    }

    /// Lines in the text (a text ending in a newline has an empty last line).
    pub fn line_count(&self) -> u32 {
        self.starts.len() as u32
    }

    /// A 1-based line's text (`None` past the end): where `# noqa` goes.
    pub fn line_text(&self, line: u32) -> Option<&'a str> {
        self.line(line.checked_sub(1)? as usize).map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_columns_shift_by_one() {
        let index = LineIndex::new("import torch\nx = 1\n");
        assert_eq!(index.to_lsp(2, 5), Position::new(1, 4));
        assert_eq!(index.offset(Position::new(1, 4)), 17);
    }

    #[test]
    fn non_ascii_counts_utf16_units_for_lsp_and_characters_for_mleng() {
        // 'é' is one UTF-16 unit, '😀' two (a surrogate pair); both are one character.
        let text = "s = 'é😀'; torch.load(p)\n";
        let index = LineIndex::new(text);
        // `torch` starts at character 11 (1-based): s,space,=,space,',é,😀,',;,space -> 10 chars before.
        assert_eq!(index.to_lsp(1, 11), Position::new(0, 11));
        assert_eq!(&text[index.offset(Position::new(0, 11))..][..5], "torch");
        // Inside the surrogate pair a position rounds up to the character after it.
        assert_eq!(&text[index.offset(Position::new(0, 7))..][..1], "'");
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let index = LineIndex::new("ab\ncd");
        assert_eq!(index.to_lsp(1, 99), Position::new(0, 2));
        assert_eq!(index.to_lsp(9, 1), Position::new(1, 2));
        assert_eq!(index.offset(Position::new(0, 99)), 2);
        assert_eq!(index.offset(Position::new(7, 0)), 5);
        assert_eq!(index.end(), Position::new(1, 2));
    }

    #[test]
    fn crlf_keeps_the_carriage_return_on_the_line() {
        let index = LineIndex::new("a\r\nb\r\n");
        assert_eq!(index.line_text(1), Some("a\r"));
        assert_eq!(index.offset(Position::new(1, 0)), 3);
    }
}
