//! Control-flow facts at the statement level: `if` blocks with their tests and branches,
//! blocks that leave the iteration (`break`, `continue`, `return`, `raise` as their last
//! statement), and `except` handlers. Rules use them to tell the normal path of a training
//! iteration from an error path or an early exit, and to see conditional steps
//! (`if (i + 1) % accum == 0: optimizer.step()`).

use ruff_python_ast::visitor::{walk_body, walk_except_handler, walk_stmt, Visitor};
use ruff_python_ast::{ExceptHandler, Expr, ModModule, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

#[derive(Debug)]
pub struct IfBlock<'a> {
    pub test: &'a Expr,
    /// The whole statement, `elif`/`else` included.
    pub range: TextRange,
    /// The body run when `test` holds.
    pub body: TextRange,
    /// The `elif`/`else` clauses, if any.
    pub orelse: Option<TextRange>,
}

#[derive(Debug, Default)]
pub struct Flow<'a> {
    pub ifs: Vec<IfBlock<'a>>,
    /// Statement blocks whose last statement is `break`, `continue`, `return` or `raise`.
    pub exit_blocks: Vec<TextRange>,
    /// `except` handler bodies.
    pub handlers: Vec<TextRange>,
}

impl<'a> Flow<'a> {
    /// Is `at` inside a block that ends by leaving the iteration, or in an `except` handler,
    /// where that block does not also contain `other` (the code it would run before)?
    pub fn off_normal_path(&self, at: TextRange, other: TextSize) -> bool {
        self.exit_blocks
            .iter()
            .chain(self.handlers.iter())
            .any(|b| b.contains_range(at) && !b.contains(other))
    }

    /// The `if` blocks whose body or else-branch contains `at`, innermost last, with `true`
    /// when `at` is in the body (the test holds).
    pub fn guards(&self, at: TextRange) -> impl Iterator<Item = (&IfBlock<'a>, bool)> {
        self.ifs.iter().filter_map(move |block| {
            if block.body.contains_range(at) {
                Some((block, true))
            } else if block.orelse.is_some_and(|r| r.contains_range(at)) {
                Some((block, false))
            } else {
                None
            }
        })
    }
}

pub(super) fn analyze(module: &ModModule) -> Flow<'_> {
    let mut walker = Walker::default();
    walker.visit_body(&module.body);
    walker.flow
}

#[derive(Default)]
struct Walker<'a> {
    flow: Flow<'a>,
}

fn suite_range(body: &[Stmt]) -> Option<TextRange> {
    let first = body.first()?;
    let last = body.last()?;
    Some(TextRange::new(first.range().start(), last.range().end()))
}

impl<'a> Visitor<'a> for Walker<'a> {
    fn visit_body(&mut self, body: &'a [Stmt]) {
        if let (Some(range), Some(last)) = (suite_range(body), body.last()) {
            if matches!(
                last,
                Stmt::Break(_) | Stmt::Continue(_) | Stmt::Return(_) | Stmt::Raise(_)
            ) {
                self.flow.exit_blocks.push(range);
            }
        }
        walk_body(self, body);
    }

    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::If(if_stmt) = stmt {
            let orelse = match (
                if_stmt.elif_else_clauses.first(),
                if_stmt.elif_else_clauses.last(),
            ) {
                (Some(first), Some(last)) => {
                    Some(TextRange::new(first.range().start(), last.range().end()))
                }
                _ => None,
            };
            if let Some(body) = suite_range(&if_stmt.body) {
                self.flow.ifs.push(IfBlock {
                    test: &if_stmt.test,
                    range: if_stmt.range,
                    body,
                    orelse,
                });
            }
        }
        walk_stmt(self, stmt);
    }

    fn visit_except_handler(&mut self, handler: &'a ExceptHandler) {
        let ExceptHandler::ExceptHandler(h) = handler;
        if let Some(range) = suite_range(&h.body) {
            self.flow.handlers.push(range);
        }
        walk_except_handler(self, handler);
    }

    // Statements only: expressions hold no statements (lambdas have none).
    fn visit_expr(&mut self, _expr: &'a Expr) {}
}

impl Flow<'_> {
    /// Does code at `at` run whenever code at `use_at` runs, as far as `if` branches and
    /// `except` handlers tell? `false` when `at` sits in a branch or handler `use_at` is not in.
    pub fn same_path(&self, at: TextRange, use_at: TextSize) -> bool {
        let branch_ok = self.ifs.iter().all(|block| {
            if block.body.contains_range(at) {
                block.body.contains(use_at)
            } else if let Some(orelse) = block.orelse.filter(|o| o.contains_range(at)) {
                orelse.contains(use_at)
            } else {
                true
            }
        });
        branch_ok
            && self
                .handlers
                .iter()
                .all(|h| !h.contains_range(at) || h.contains(use_at))
    }
}
