//! One walk over the module that records imports, functions, classes, loops, assignments,
//! `with` blocks and calls with their context. Resolution happens afterwards, so an import
//! placed below its use (common in notebooks and inside functions) still resolves.

use std::collections::HashMap;

use ruff_python_ast::visitor::{walk_expr, walk_stmt, Visitor};
use ruff_python_ast::{CmpOp, Expr, ModModule, Stmt};
use ruff_text_size::{Ranged, TextRange};

use super::calls::classify;
use super::literals::{dotted, string};
use super::modules::Class;
use super::{Binding, Call, ClassId, Function, FunctionId, Loop, LoopId, SemanticIndex, WithBlock};
use crate::source::SourceFile;

pub(super) fn collect<'a>(source: &'a SourceFile, module: &'a ModModule) -> SemanticIndex<'a> {
    let mut collector = Collector::default();
    for stmt in &module.body {
        collector.visit_stmt(stmt);
    }
    let mut index = SemanticIndex {
        source,
        module,
        imports: collector.imports,
        calls: Vec::with_capacity(collector.raw_calls.len()),
        functions: collector.functions,
        classes: collector.classes,
        loops: collector.loops,
        bindings: collector.bindings,
        withs: Vec::new(),
        training_loops: Vec::new(),
        flow: Default::default(),
        evaluation: Default::default(),
        has_main_guard: collector.has_main_guard,
        call_ranges: Vec::new(),
    };
    let calls: Vec<Call> = collector
        .raw_calls
        .into_iter()
        .map(|raw| {
            let expr = raw.expr;
            let qualified = index.qualified_name(&expr.func);
            let (method, receiver) = match expr.func.as_ref() {
                Expr::Attribute(attr) => (Some(attr.attr.as_str()), dotted(&attr.value)),
                _ => (None, None),
            };
            let receiver_type = match (&qualified, &receiver) {
                (None, Some(receiver)) => index.constructor_of(receiver),
                _ => None,
            };
            let mut call = Call {
                expr,
                qualified,
                method,
                receiver,
                receiver_type,
                function: raw.function,
                class: raw.class,
                loops: raw.loops,
                kind: super::CallKind::Other,
            };
            call.kind = classify(&call);
            call
        })
        .collect();
    index.calls = calls;
    let mut call_ranges: Vec<(u32, u32, super::CallId)> = index
        .calls
        .iter()
        .enumerate()
        .map(|(id, c)| {
            (
                c.expr.range().start().to_u32(),
                c.expr.range().end().to_u32(),
                id,
            )
        })
        .collect();
    call_ranges.sort_unstable();
    index.call_ranges = call_ranges;
    index.withs = collector
        .withs
        .into_iter()
        .map(|(stmt, function)| WithBlock {
            stmt,
            contexts: stmt
                .items
                .iter()
                .map(|item| {
                    let expr = match &item.context_expr {
                        Expr::Call(call) => call.func.as_ref(),
                        other => other,
                    };
                    index.qualified_name(expr)
                })
                .collect(),
            function,
        })
        .collect();
    index
}

struct RawCall<'a> {
    expr: &'a ruff_python_ast::ExprCall,
    function: Option<FunctionId>,
    class: Option<ClassId>,
    loops: Vec<LoopId>,
}

#[derive(Default)]
struct Collector<'a> {
    imports: HashMap<String, String>,
    raw_calls: Vec<RawCall<'a>>,
    functions: Vec<Function<'a>>,
    classes: Vec<Class<'a>>,
    loops: Vec<Loop>,
    bindings: Vec<Binding<'a>>,
    withs: Vec<(&'a ruff_python_ast::StmtWith, Option<FunctionId>)>,
    has_main_guard: bool,
    function: Option<FunctionId>,
    class: Option<ClassId>,
    loop_stack: Vec<LoopId>,
}

impl<'a> Collector<'a> {
    fn bind(&mut self, target: &'a Expr, value: &'a Expr, range: TextRange) {
        self.bind_element(target, value, range, None);
    }

    /// `element`: the position in a tuple target unpacking `value` (`pred, aux = model(x)`).
    fn bind_element(
        &mut self,
        target: &'a Expr,
        value: &'a Expr,
        range: TextRange,
        element: Option<usize>,
    ) {
        let (elts, unpacked) = match (target, value) {
            (Expr::Tuple(targets), Expr::Tuple(values))
                if targets.elts.len() == values.elts.len() =>
            {
                for (t, v) in targets.elts.iter().zip(values.elts.iter()) {
                    self.bind_element(t, v, range, None);
                }
                return;
            }
            (Expr::Tuple(targets), _) => (&targets.elts, element.is_none()),
            (Expr::List(targets), _) => (&targets.elts, element.is_none()),
            _ => {
                if let Some(target) = dotted(target) {
                    self.bindings.push(Binding {
                        target,
                        value,
                        range,
                        function: self.function,
                        class: self.class,
                        element,
                    });
                }
                return;
            }
        };
        // Positions are exact up to a starred target (`first, *rest = ...`) and only one
        // level deep.
        let mut exact = unpacked;
        for (i, t) in elts.iter().enumerate() {
            if matches!(t, Expr::Starred(_)) {
                exact = false;
            }
            self.bind_element(t, value, range, exact.then_some(i));
        }
    }

    fn record_import(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.as_str();
                    match &alias.asname {
                        Some(asname) => {
                            self.imports.insert(asname.to_string(), full.to_string());
                        }
                        None => {
                            // `import torch.nn` binds `torch`.
                            let head = full.split('.').next().unwrap_or(full);
                            self.imports.insert(head.to_string(), head.to_string());
                        }
                    }
                }
            }
            Stmt::ImportFrom(import) => {
                let mut module = ".".repeat(import.level as usize);
                if let Some(name) = &import.module {
                    module.push_str(name.as_str());
                }
                for alias in &import.names {
                    if alias.name.as_str() == "*" {
                        continue;
                    }
                    let local = alias.asname.as_ref().unwrap_or(&alias.name).to_string();
                    let qualified = if module.is_empty() || module.ends_with('.') {
                        format!("{module}{}", alias.name)
                    } else {
                        format!("{module}.{}", alias.name)
                    };
                    self.imports.insert(local, qualified);
                }
            }
            _ => {}
        }
    }
}

fn is_main_guard(test: &Expr) -> bool {
    let Expr::Compare(compare) = test else {
        return false;
    };
    let left_is_name =
        matches!(compare.left.as_ref(), Expr::Name(n) if n.id.as_str() == "__name__");
    left_is_name
        && compare.ops.first() == Some(&CmpOp::Eq)
        && compare
            .comparators
            .first()
            .and_then(string)
            .is_some_and(|s| s == "__main__")
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(_) | Stmt::ImportFrom(_) => self.record_import(stmt),
            Stmt::FunctionDef(def) => {
                let id = self.functions.len();
                self.functions.push(Function {
                    def,
                    name: def.name.as_str(),
                    class: self
                        .class
                        .filter(|&c| self.classes[c].def.range().contains_range(def.range)),
                    parent: self.function,
                });
                if let Some(class) = self.class {
                    if self.function.is_none() {
                        self.classes[class].methods.push(id);
                    }
                }
                let saved_function = self.function.replace(id);
                let saved_loops = std::mem::take(&mut self.loop_stack);
                walk_stmt(self, stmt);
                self.loop_stack = saved_loops;
                self.function = saved_function;
                return;
            }
            Stmt::ClassDef(def) => {
                let id = self.classes.len();
                self.classes.push(Class::new(def));
                let saved_class = self.class.replace(id);
                let saved_function = self.function.take();
                let saved_loops = std::mem::take(&mut self.loop_stack);
                walk_stmt(self, stmt);
                self.loop_stack = saved_loops;
                self.function = saved_function;
                self.class = saved_class;
                return;
            }
            Stmt::For(for_stmt) => {
                // The iterable is evaluated once, outside the loop.
                self.visit_expr(&for_stmt.iter);
                let header = TextRange::new(for_stmt.range.start(), for_stmt.iter.range().end());
                let id = self.push_loop(for_stmt.range, header, iterated_name(&for_stmt.iter));
                target_names(&for_stmt.target, &mut self.loops[id].targets);
                self.visit_expr(&for_stmt.target);
                for s in &for_stmt.body {
                    self.visit_stmt(s);
                }
                self.loop_stack.pop();
                for s in &for_stmt.orelse {
                    self.visit_stmt(s);
                }
                return;
            }
            Stmt::While(while_stmt) => {
                let header =
                    TextRange::new(while_stmt.range.start(), while_stmt.test.range().end());
                self.push_loop(while_stmt.range, header, None);
                self.visit_expr(&while_stmt.test);
                for s in &while_stmt.body {
                    self.visit_stmt(s);
                }
                self.loop_stack.pop();
                for s in &while_stmt.orelse {
                    self.visit_stmt(s);
                }
                return;
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.bind(target, &assign.value, assign.range);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.bind(&assign.target, value, assign.range);
                }
            }
            Stmt::With(with) => self.withs.push((with, self.function)),
            Stmt::If(if_stmt) if self.function.is_none() && is_main_guard(&if_stmt.test) => {
                self.has_main_guard = true;
            }
            _ => {}
        }
        walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        walk_expr(self, expr);
        // Post-order: in `self.bn(self.drop(x))` the inner call is recorded first, in the
        // order Python evaluates them.
        if let Expr::Call(call) = expr {
            self.raw_calls.push(RawCall {
                expr: call,
                function: self.function,
                class: self.class,
                loops: self.loop_stack.clone(),
            });
        }
    }
}

impl Collector<'_> {
    fn push_loop(
        &mut self,
        range: TextRange,
        header: TextRange,
        iterates_over: Option<String>,
    ) -> LoopId {
        let id = self.loops.len();
        self.loops.push(Loop {
            range,
            header,
            function: self.function,
            parent: self.loop_stack.last().copied(),
            iterates_over,
            targets: Vec::new(),
        });
        self.loop_stack.push(id);
        id
    }
}

/// `loader`, `enumerate(loader)`, `tqdm(enumerate(loader))`, `zip(a, b)` -> the loader's name.
fn iterated_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Call(call) => {
            let first = call.arguments.args.first()?;
            iterated_name(first).or_else(|| dotted(first))
        }
        other => dotted(other),
    }
}

/// The names a `for` target binds: `(i, (x, y))` -> `i`, `x`, `y`.
fn target_names(target: &Expr, out: &mut Vec<String>) {
    match target {
        Expr::Tuple(t) => t.elts.iter().for_each(|e| target_names(e, out)),
        Expr::List(l) => l.elts.iter().for_each(|e| target_names(e, out)),
        Expr::Starred(s) => target_names(&s.value, out),
        Expr::Name(n) => out.push(n.id.as_str().to_string()),
        _ => {}
    }
}
