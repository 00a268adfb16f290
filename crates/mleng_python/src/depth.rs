//! How deeply a file nests, measured before any recursive walk of its syntax tree: generated
//! code (`y = a + a + ... + a` with 200,000 terms, a literal nested 100,000 brackets deep)
//! would otherwise overflow the stack of whatever walks it, the parser, our index or the
//! tree's own drop, and abort the whole review.

use ruff_python_ast::visitor::{walk_expr, walk_stmt, Visitor};
use ruff_python_ast::{Expr, ModModule, Stmt};

/// The deepest bracket nesting of a text (`(`, `[`, `{`), counting brackets inside strings
/// and comments too: an over-estimate, which is the safe side for a guard.
pub fn bracket_depth(text: &str) -> usize {
    let mut depth: usize = 0;
    let mut max = 0;
    for byte in text.bytes() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Whether the tree nests more than `limit` statements and expressions deep. The walk itself
/// stops descending at the limit, so its own recursion is bounded.
pub fn tree_deeper_than(module: &ModModule, limit: usize) -> bool {
    let mut walker = DepthWalker {
        depth: 0,
        limit,
        exceeded: false,
    };
    walker.visit_body(&module.body);
    walker.exceeded
}

struct DepthWalker {
    depth: usize,
    limit: usize,
    exceeded: bool,
}

impl DepthWalker {
    /// One level down, unless the limit is already passed.
    fn descend(&mut self, walk: impl FnOnce(&mut Self)) {
        if self.exceeded {
            return;
        }
        self.depth += 1;
        if self.depth > self.limit {
            self.exceeded = true;
        } else {
            walk(self);
        }
        self.depth -= 1;
    }
}

impl<'a> Visitor<'a> for DepthWalker {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        self.descend(|w| walk_stmt(w, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        self.descend(|w| walk_expr(w, expr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ParsedFile;
    use crate::SourceFile;
    use std::path::Path;

    #[test]
    fn brackets_and_chains_are_measured() {
        assert_eq!(bracket_depth("f(a[1], {2: (3,)})"), 3);
        assert_eq!(bracket_depth(")))"), 0);
        let chain = format!("y = {}\n", vec!["a"; 500].join(" + "));
        let source = SourceFile::python(Path::new("gen.py"), chain);
        let parsed = ParsedFile::parse(&source);
        assert!(tree_deeper_than(parsed.module(), 100));
        assert!(!tree_deeper_than(parsed.module(), 1_000));
    }
}
