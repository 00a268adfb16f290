//! Where values come from across a function boundary: what a function returns, and which
//! model a call such as `model(x)`, `self(x)` or `self.net(x)` runs (a local `nn.Module`
//! class, whose `forward` we can read, or an `nn.Sequential(...)` built in the file).

use ruff_python_ast::{Expr, ExprCall, Stmt, StmtReturn};

use super::literals::dotted;
use super::{CallId, ClassId, FunctionId, SemanticIndex};

/// The model a call runs.
#[derive(Debug, Clone, Copy)]
pub enum ModelTarget<'a> {
    /// A module class defined in this file: its `forward` is what runs.
    Class(ClassId),
    /// `nn.Sequential(...)` bound to the called name: its last element is the output layer.
    Sequential(&'a ExprCall),
}

impl<'a> SemanticIndex<'a> {
    /// The expressions of the `return` statements of a function (not of functions nested in it).
    pub fn returns_of(&self, function: FunctionId) -> Vec<&'a Expr> {
        self.return_statements(function)
            .into_iter()
            .filter_map(|ret| ret.value.as_deref())
            .collect()
    }

    /// Every `return` statement of a function, bare ones included (not of nested functions).
    pub fn return_statements(&self, function: FunctionId) -> Vec<&'a StmtReturn> {
        let mut out = Vec::new();
        collect_returns(&self.functions[function].def.body, &mut out);
        out
    }

    /// The local class with this name.
    pub fn class_named(&self, name: &str) -> Option<ClassId> {
        self.classes.iter().position(|c| c.name == name)
    }

    /// The model a call runs: `self(x)` / `self.forward(x)` (the enclosing module class),
    /// `model(x)` / `model.forward(x)` / `self.net(x)` where that name was bound to a local module
    /// class or an `nn.Sequential(...)`.
    pub fn model_target(&self, call: CallId) -> Option<ModelTarget<'a>> {
        let call = &self.calls[call];
        let callee = match call.expr.func.as_ref() {
            Expr::Attribute(attr) if attr.attr.as_str() == "forward" => dotted(&attr.value)?,
            other => dotted(other)?,
        };
        if callee == "self" {
            let class = call.class?;
            return self.classes[class]
                .is_module
                .then_some(ModelTarget::Class(class));
        }
        let constructor = self.constructor_call_of(&callee)?;
        if self.is_sequential(constructor) {
            return Some(ModelTarget::Sequential(constructor));
        }
        let class = self.class_named(dotted(&constructor.func)?.as_str())?;
        self.classes[class]
            .is_module
            .then_some(ModelTarget::Class(class))
    }
}

fn collect_returns<'a>(body: &'a [Stmt], out: &mut Vec<&'a StmtReturn>) {
    for stmt in body {
        match stmt {
            Stmt::Return(ret) => out.push(ret),
            Stmt::If(s) => {
                collect_returns(&s.body, out);
                for clause in &s.elif_else_clauses {
                    collect_returns(&clause.body, out);
                }
            }
            Stmt::For(s) => {
                collect_returns(&s.body, out);
                collect_returns(&s.orelse, out);
            }
            Stmt::While(s) => {
                collect_returns(&s.body, out);
                collect_returns(&s.orelse, out);
            }
            Stmt::With(s) => collect_returns(&s.body, out),
            Stmt::Try(s) => {
                collect_returns(&s.body, out);
                for handler in &s.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(h) = handler;
                    collect_returns(&h.body, out);
                }
                collect_returns(&s.orelse, out);
                collect_returns(&s.finalbody, out);
            }
            Stmt::Match(s) => {
                for case in &s.cases {
                    collect_returns(&case.body, out);
                }
            }
            _ => {}
        }
    }
}
