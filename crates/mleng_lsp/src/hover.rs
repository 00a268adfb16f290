//! Hover on a diagnostic's span: the finding and the rule's documentation (What it does /
//! Why is this bad? / Example / Use instead / References), as `mleng explain` prints it.

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind, Position, Range};
use mleng_rules::registry;

use crate::lookup::DocumentFindings;

pub fn hover(found: &DocumentFindings, position: Position) -> Option<Hover> {
    let here = found.touching(Range::new(position, position));
    if here.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    let mut range = None;
    for (finding, finding_range) in here {
        range.get_or_insert(finding_range);
        let mut part = format!(
            "**{} `{}`** ({}): {}",
            finding.code, finding.name, finding.severity, finding.message
        );
        match registry::find(&finding.code) {
            Some(rule) => {
                part.push_str("\n\n");
                part.push_str(rule.docs.trim());
            }
            None => {
                if let Some(fix) = &finding.fix {
                    part.push_str(&format!("\n\nhelp: {}", fix.message));
                }
            }
        }
        parts.push(part);
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: parts.join("\n\n---\n\n"),
        }),
        range,
    })
}
