//! Evaluation facts: regions where autograd is off (`with torch.no_grad()`,
//! `torch.inference_mode()`, `torch.set_grad_enabled(False)`, functions decorated with them),
//! `.eval()` / `.train()` mode switches, and in-place accumulations (`total += loss`) that
//! decide whether a loop keeps autograd graphs alive.

use ruff_python_ast::visitor::{walk_stmt, Visitor};
use ruff_python_ast::{Expr, ModModule, Operator, Stmt};
use ruff_text_size::{Ranged, TextRange};

use super::literals::{boolean, dotted};
use super::{CallId, SemanticIndex};

/// `target op= value`.
#[derive(Debug)]
pub struct AugAssign<'a> {
    pub target: String,
    pub op: Operator,
    pub value: &'a Expr,
    pub range: TextRange,
}

#[derive(Debug, Default)]
pub struct Evaluation<'a> {
    /// Code ranges that run with autograd disabled.
    pub grad_free: Vec<TextRange>,
    pub aug_assigns: Vec<AugAssign<'a>>,
}

/// A mode switch on a module: `model.eval()`, `model.train()`, `model.train(False)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Eval,
    Train,
}

const GRAD_OFF: &[&str] = &[
    "torch.no_grad",
    "torch.inference_mode",
    "torch.autograd.no_grad",
    "torch.autograd.grad_mode.no_grad",
    "torch.autograd.grad_mode.inference_mode",
];

impl Evaluation<'_> {
    pub fn grad_free(&self, range: TextRange) -> bool {
        self.grad_free.iter().any(|r| r.contains_range(range))
    }
}

impl<'a> SemanticIndex<'a> {
    /// What mode switch a call is, if it is one (`x.eval()`, `x.train()`, `x.train(False)`).
    pub fn mode_switch(&self, call: CallId) -> Option<Mode> {
        let c = &self.calls[call];
        c.receiver.as_ref()?;
        match c.method? {
            "eval" if c.expr.arguments.is_empty() => Some(Mode::Eval),
            "train" => match c.arg_or_keyword(0, "mode") {
                None => Some(Mode::Train),
                Some(e) => match boolean(e) {
                    Some(true) => Some(Mode::Train),
                    Some(false) => Some(Mode::Eval),
                    None => None,
                },
            },
            _ => None,
        }
    }
}

pub(super) fn analyze<'a>(index: &SemanticIndex<'a>, module: &'a ModModule) -> Evaluation<'a> {
    let mut out = Evaluation::default();
    let is_grad_off = |expr: &Expr| -> bool {
        let (func, call) = match expr {
            Expr::Call(call) => (call.func.as_ref(), Some(call)),
            other => (other, None),
        };
        let Some(q) = index.qualified_name(func) else {
            return false;
        };
        if GRAD_OFF.contains(&q.as_str()) {
            return true;
        }
        // torch.set_grad_enabled(False)
        q == "torch.set_grad_enabled"
            && call
                .and_then(|c| c.arguments.args.first())
                .and_then(boolean)
                == Some(false)
    };
    for w in &index.withs {
        if w.stmt
            .items
            .iter()
            .any(|item| is_grad_off(&item.context_expr))
        {
            out.grad_free.push(w.stmt.range);
        }
    }
    for f in &index.functions {
        if f.def
            .decorator_list
            .iter()
            .any(|d| is_grad_off(&d.expression))
        {
            out.grad_free.push(f.def.range);
        }
    }
    let mut walker = Walker { out: Vec::new() };
    for stmt in &module.body {
        walker.visit_stmt(stmt);
    }
    out.aug_assigns = walker.out;
    out
}

struct Walker<'a> {
    out: Vec<AugAssign<'a>>,
}

impl<'a> Visitor<'a> for Walker<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::AugAssign(aug) = stmt {
            if let Some(target) = dotted(&aug.target) {
                self.out.push(AugAssign {
                    target,
                    op: aug.op,
                    value: &aug.value,
                    range: aug.range(),
                });
            }
        }
        walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, _expr: &'a Expr) {}
}
