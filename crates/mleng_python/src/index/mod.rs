//! The semantic index: everything rules ask about one file, computed once.
//!
//! It answers "what is this call" (qualified name through imports and aliases, or the
//! constructor of the variable a method is called on), "which classes are `nn.Module`s, what
//! layers do they create and in which order does `forward` use them", and "which loops train"
//! (see [`training`]). Rules read it; they never walk the AST themselves for these questions.

mod calls;
mod collect;
pub mod dataflow;
pub mod device;
pub mod evaluation;
pub mod flow;
pub mod literals;
pub mod modules;
pub mod training;

use std::collections::HashMap;

use ruff_python_ast::{Expr, ExprCall, ModModule, StmtFunctionDef, StmtWith};
use ruff_text_size::{Ranged, TextRange, TextSize};

pub use calls::{receiver_kind, CallKind, ClipKind, ReceiverKind};
pub use modules::{Class, Layer, LayerUse};
pub use training::{TrainingLoop, TrainingScope};

use crate::source::SourceFile;

pub type FunctionId = usize;
pub type ClassId = usize;
pub type LoopId = usize;
pub type CallId = usize;

/// A call expression and its context.
#[derive(Debug)]
pub struct Call<'a> {
    pub expr: &'a ExprCall,
    /// Fully qualified callee through imports (`torch.nn.utils.clip_grad_norm_`), if the
    /// callee is an imported name or an attribute chain rooted in one.
    pub qualified: Option<String>,
    /// The attribute called, for method calls (`step` in `opt.step()`).
    pub method: Option<&'a str>,
    /// Dotted text of the receiver for method calls (`self.optimizer`, `scaler`).
    pub receiver: Option<String>,
    /// The qualified constructor of the receiver variable, if it was assigned from a call we
    /// can resolve (`opt = torch.optim.Adam(...)` makes `opt.step` a `torch.optim.Adam` step).
    pub receiver_type: Option<String>,
    pub function: Option<FunctionId>,
    pub class: Option<ClassId>,
    /// Enclosing loops inside the same function, outermost first.
    pub loops: Vec<LoopId>,
    pub kind: CallKind,
}

impl Call<'_> {
    pub fn range(&self) -> TextRange {
        self.expr.range()
    }

    pub fn start(&self) -> TextSize {
        self.expr.range().start()
    }

    pub fn keyword(&self, name: &str) -> Option<&Expr> {
        self.expr
            .arguments
            .keywords
            .iter()
            .find(|kw| kw.arg.as_ref().is_some_and(|arg| arg.as_str() == name))
            .map(|kw| &kw.value)
    }

    pub fn arg(&self, index: usize) -> Option<&Expr> {
        self.expr.arguments.args.get(index)
    }

    /// Every argument value, positional then keyword (`**kwargs` included as its value).
    pub fn argument_values(&self) -> impl Iterator<Item = &Expr> {
        self.expr
            .arguments
            .args
            .iter()
            .chain(self.expr.arguments.keywords.iter().map(|k| &k.value))
    }

    /// Positional argument `index`, or the keyword `name`.
    pub fn arg_or_keyword(&self, index: usize, name: &str) -> Option<&Expr> {
        self.keyword(name).or_else(|| self.arg(index))
    }

    /// The qualified callee, or failing that the receiver's type plus the method.
    pub fn resolved(&self) -> Option<String> {
        if let Some(q) = &self.qualified {
            return Some(q.clone());
        }
        match (&self.receiver_type, self.method) {
            (Some(ty), Some(method)) => Some(format!("{ty}.{method}")),
            _ => None,
        }
    }

    /// Last segment of the qualified callee (`BatchNorm2d` for `torch.nn.BatchNorm2d`).
    pub fn short_name(&self) -> Option<&str> {
        self.qualified.as_deref().and_then(|q| q.rsplit('.').next())
    }
}

#[derive(Debug)]
pub struct Function<'a> {
    pub def: &'a StmtFunctionDef,
    pub name: &'a str,
    pub class: Option<ClassId>,
    pub parent: Option<FunctionId>,
}

#[derive(Debug)]
pub struct Loop {
    pub range: TextRange,
    /// Range of the `for ... in ...:` / `while ...:` header.
    pub header: TextRange,
    pub function: Option<FunctionId>,
    pub parent: Option<LoopId>,
    /// Dotted text of what a `for` loop iterates over (`train_loader`, `enumerate(loader)` -> `loader`).
    pub iterates_over: Option<String>,
    /// Names a `for` loop binds on each iteration (`images`, `labels`, `i` in
    /// `for i, (images, labels) in enumerate(loader)`); empty for `while`.
    pub targets: Vec<String>,
}

/// An assignment `target = value` (also `for`-less augmented and annotated assignments).
#[derive(Debug)]
pub struct Binding<'a> {
    /// Dotted target (`model`, `self.bn1`); tuple targets bind each element to the whole value.
    pub target: String,
    pub value: &'a Expr,
    pub range: TextRange,
    pub function: Option<FunctionId>,
    pub class: Option<ClassId>,
    /// The target's position when a tuple target unpacks one value (`pred` is 0 in
    /// `pred, aux = model(x)`); `None` for a plain target or when the position is unsure.
    pub element: Option<usize>,
}

#[derive(Debug)]
pub struct WithBlock<'a> {
    pub stmt: &'a StmtWith,
    /// Qualified names of the context managers (`torch.no_grad`, `torch.autocast`).
    pub contexts: Vec<Option<String>>,
    pub function: Option<FunctionId>,
}

pub struct SemanticIndex<'a> {
    pub source: &'a SourceFile,
    pub module: &'a ModModule,
    /// Local name -> qualified name, for every import in the file.
    pub imports: HashMap<String, String>,
    pub calls: Vec<Call<'a>>,
    pub functions: Vec<Function<'a>>,
    pub classes: Vec<Class<'a>>,
    pub loops: Vec<Loop>,
    pub bindings: Vec<Binding<'a>>,
    pub withs: Vec<WithBlock<'a>>,
    pub training_loops: Vec<TrainingLoop>,
    /// Statement-level control flow: `if` blocks, early exits, `except` handlers.
    pub flow: flow::Flow<'a>,
    /// Autograd-free regions and in-place accumulations.
    pub evaluation: evaluation::Evaluation<'a>,
    /// `if __name__ == "__main__":` present: the file is meant to be run.
    pub has_main_guard: bool,
    /// Each call's range (start, end) and id, sorted, for [`SemanticIndex::call_id_at`]: asked
    /// for every argument and name the data-flow answers follow, which scanned all calls.
    call_ranges: Vec<(u32, u32, CallId)>,
}

impl<'a> SemanticIndex<'a> {
    pub fn build(source: &'a SourceFile, module: &'a ModModule) -> SemanticIndex<'a> {
        let mut index = collect::collect(source, module);
        modules::analyze(&mut index);
        index.flow = flow::analyze(module);
        index.evaluation = evaluation::analyze(&index, module);
        index.training_loops = training::find(&index);
        index
    }

    /// Resolves a name or attribute chain through the file's imports:
    /// `nn.BatchNorm2d` -> `torch.nn.BatchNorm2d`.
    pub fn qualified_name(&self, expr: &Expr) -> Option<String> {
        // Most names are not imports (`self.conv`, `x.view`, `model`): look the head up before
        // building the dotted name, as [`SemanticIndex::qualify_dotted`] would.
        self.imports.get(literals::head_name(expr)?)?;
        let dotted = literals::dotted(expr)?;
        self.qualify_dotted(&dotted)
    }

    pub fn qualify_dotted(&self, dotted: &str) -> Option<String> {
        let (head, rest) = match dotted.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (dotted, None),
        };
        let base = self.imports.get(head)?;
        Some(match rest {
            Some(rest) => format!("{base}.{rest}"),
            None => base.clone(),
        })
    }

    /// The qualified constructor of the value last bound to `dotted` (`model`,
    /// `self.scaler`) anywhere in the file, when that value is a call we can resolve (through
    /// self-returning methods: `Net().to(device)` is a `Net`).
    pub fn constructor_of(&self, dotted: &str) -> Option<String> {
        self.bindings
            .iter()
            .rev()
            .filter(|b| b.target == dotted)
            .find_map(|b| match b.value {
                Expr::Call(call) => self.qualified_name(&literals::unchain(call).func),
                _ => None,
            })
    }

    /// The call expression last bound to `dotted`, if any.
    pub fn constructor_call_of(&self, dotted: &str) -> Option<&'a ExprCall> {
        self.bindings
            .iter()
            .rev()
            .filter(|b| b.target == dotted)
            .find_map(|b| match b.value {
                Expr::Call(call) => Some(literals::unchain(call)),
                _ => None,
            })
    }

    pub fn calls_in_function(
        &self,
        function: FunctionId,
    ) -> impl Iterator<Item = (CallId, &Call<'a>)> {
        self.calls
            .iter()
            .enumerate()
            .filter(move |(_, call)| call.function == Some(function))
    }

    /// Functions defined in this file with this name (module-level functions and methods).
    pub fn functions_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = FunctionId> + 's {
        self.functions
            .iter()
            .enumerate()
            .filter(move |(_, f)| f.name == name)
            .map(|(id, _)| id)
    }

    /// Does any import in the file come from one of these top-level packages?
    pub fn imports_any(&self, packages: &[&str]) -> bool {
        self.imports.values().any(|q| {
            let top = q.split('.').next().unwrap_or(q);
            packages.contains(&top)
        })
    }

    /// Calls whose resolved callee satisfies `pred`.
    pub fn calls_resolving<'s>(
        &'s self,
        pred: impl Fn(&str) -> bool + 's,
    ) -> impl Iterator<Item = &'s Call<'a>> + 's {
        self.calls
            .iter()
            .filter(move |call| call.qualified.as_deref().is_some_and(&pred))
    }

    pub fn text(&self, range: TextRange) -> &'a str {
        self.source.slice(range)
    }
}
