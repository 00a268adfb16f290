//! Per-file summaries: what the rest of the project needs to know about a file, distilled from
//! its semantic index while the index is alive (in the parallel phase), owned so that the
//! project model can outlive the indexes' borrows of the syntax tree.

use std::collections::HashMap;
use std::path::PathBuf;

use mleng_knowledge::experiment::seeded_by;
use mleng_knowledge::losses::{activation, final_activation, Activation};
use mleng_python::index::evaluation::Mode;
use mleng_python::index::literals::{dotted, unchain};
use mleng_python::index::{CallKind, ClassId, FunctionId};
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextRange};

/// One file of the project, as other files see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleSummary {
    pub path: PathBuf,
    /// Local name -> qualified name, for every import (relative ones keep their leading dots:
    /// `from .model import Net` is `.model.Net`).
    pub imports: HashMap<String, String>,
    /// Module-level names bound to another name: `Model = ResNet`, `Net = models.Net`.
    pub aliases: HashMap<String, String>,
    pub classes: Vec<ClassSummary>,
    pub functions: Vec<FunctionSummary>,
    /// Calls to functions that may be defined elsewhere in the project, with what is known of
    /// their arguments (for parameters whose type only a caller knows).
    pub call_sites: Vec<CallSite>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassSummary {
    pub name: String,
    /// Bases: qualified through imports, else as written (`BaseModel`, `nn.Module`).
    pub bases: Vec<String>,
    /// An `nn.Module` (or Lightning module) by this file's own imports.
    pub is_module: bool,
    /// The activation `forward` ends in, when it has one unconditional return.
    pub ending: Option<Ending>,
    /// The class defines `forward` (an ending of `None` then means "returns something else").
    pub has_forward: bool,
    /// A loss module whose `forward` hands its first input to a known loss (a focal loss that
    /// calls `F.binary_cross_entropy_with_logits(inputs, ...)`): that loss, qualified.
    pub wraps_loss: Option<String>,
    /// `self.<attr> = <constructor>(...)` in the class's methods, as written.
    pub layers: Vec<(String, String)>,
    /// For a dataset: the call that reads and decodes a file per sample in `__getitem__` (or
    /// the helpers it calls), or the torchvision base class that does (`PIL.Image.open`,
    /// `torchvision.datasets.ImageFolder`).
    pub decodes: Option<String>,
}

/// A model's final activation: what, and where (for evidence that points across files).
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub activation: Activation,
    /// The code applying it (`F.softmax(x, dim=1)`).
    pub text: String,
    /// 1-based line in the file (notebooks: the line in the whole text).
    pub line: u32,
    /// Where, in the file's text.
    pub range: TextRange,
    /// The position in a tuple `forward` returns (`return torch.sigmoid(x), feature_map`: 0);
    /// `None` when the whole return value ends in the activation.
    pub element: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSummary {
    pub name: String,
    /// The class the function is a method of (by name).
    pub class: Option<String>,
    /// Defined at module level or in a class body (not nested in another function).
    pub top_level: bool,
    /// Parameter names in order (`self` included for methods).
    pub params: Vec<String>,
    /// What the function does by itself (not through its callees; see
    /// [`crate::ProjectModel::behaviour`]).
    pub behaviour: Behaviour,
    /// Callees as written (`engine.train_one_epoch`, `evaluate`, `self.train_step`), resolved
    /// by the project model through the file's imports.
    pub calls: Vec<String>,
    /// The constructor of what the function returns, as written (`Net` for `return Net(cfg)`
    /// or `model = Net(); return model`): factories such as `build_model(cfg)`.
    pub returns: Option<String>,
    /// 1-based line of the `def`.
    pub line: u32,
    /// Where the body's last statement starts (the module's code: none): where a finding
    /// about what the function leaves behind (a model still in eval mode) can point.
    pub last_statement: Option<Spot>,
}

/// A position for a finding's related location: the notebook cell (if any) and the 1-based
/// line and column within it (or within the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spot {
    pub cell: Option<u32>,
    pub line: u32,
    pub column: u32,
}

impl Spot {
    fn at(source: &mleng_python::SourceFile, offset: ruff_text_size::TextSize) -> Spot {
        let (line, column) = source.lines.line_column(&source.text, offset);
        match source.cell_of_line(line) {
            Some((cell, line_in_cell)) => Spot {
                cell: Some(cell),
                line: line_in_cell,
                column,
            },
            None => Spot {
                cell: None,
                line,
                column,
            },
        }
    }
}

/// What a function does to a training run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviour {
    pub backward: bool,
    pub optimizer_step: bool,
    pub zero_grad: bool,
    /// Calls `.eval()` (or `.train(False)`) on something.
    pub sets_eval: bool,
    /// Calls `.train()` on something.
    pub sets_train: bool,
    /// Runs (some of) its body with autograd off: `with torch.no_grad()`, a decorator.
    pub disables_grad: bool,
    /// Calls a known seeding function.
    pub seeds: bool,
    /// Calls `torch.save`.
    pub saves: bool,
    /// Copies the batches of a loop it runs to a device (`for x, y in loader: x = x.cuda()`).
    pub moves_batches: bool,
}

impl Behaviour {
    pub fn union(self, other: Behaviour) -> Behaviour {
        Behaviour {
            backward: self.backward || other.backward,
            optimizer_step: self.optimizer_step || other.optimizer_step,
            zero_grad: self.zero_grad || other.zero_grad,
            sets_eval: self.sets_eval || other.sets_eval,
            sets_train: self.sets_train || other.sets_train,
            disables_grad: self.disables_grad || other.disables_grad,
            seeds: self.seeds || other.seeds,
            saves: self.saves || other.saves,
            moves_batches: self.moves_batches || other.moves_batches,
        }
    }

    /// Backward and an optimizer step: the function trains.
    pub fn trains(self) -> bool {
        self.backward && self.optimizer_step
    }
}

/// A call of a function that may be defined in another file, with the constructors of its
/// arguments where the caller knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSite {
    /// The callee as written-and-qualified (see [`FunctionSummary::calls`]).
    pub callee: String,
    /// Per positional argument: the constructor of the value, as written in the caller.
    pub args: Vec<Option<String>>,
    pub keywords: Vec<(String, Option<String>)>,
    /// The call runs with autograd off (`with torch.no_grad(): evaluate(...)`).
    pub grad_free: bool,
    /// The 1-based line of the `def` of the function that makes the call (module level: none;
    /// [`crate::ProjectModel::caller_of`] resolves both).
    pub caller: Option<u32>,
    /// Where the call is, for a finding to point at it: the notebook cell (if any) and the
    /// 1-based line and column within it (or within the file).
    pub cell: Option<u32>,
    pub line: u32,
    pub column: u32,
}

/// Distils a file's index into its summary.
pub fn summarize(index: &SemanticIndex) -> ModuleSummary {
    let source = index.source;
    let line_of = |range: TextRange| source.lines.line_of(range.start());
    let mut summary = ModuleSummary {
        path: source.path.clone(),
        imports: index.imports.clone(),
        ..ModuleSummary::default()
    };
    for stmt in &index.module.body {
        if let Stmt::Assign(assign) = stmt {
            if let ([Expr::Name(target)], Some(value)) =
                (assign.targets.as_slice(), dotted(&assign.value))
            {
                summary
                    .aliases
                    .insert(target.id.as_str().to_string(), value);
            }
        }
    }
    for (class_id, class) in index.classes.iter().enumerate() {
        let forward = index.method(class_id, "forward");
        summary.classes.push(ClassSummary {
            name: class.name.to_string(),
            bases: class.bases.clone(),
            is_module: class.is_module,
            ending: class_ending(index, class_id).map(|(activation, at, element)| Ending {
                activation,
                text: index.text(at).to_string(),
                line: line_of(at),
                range: at,
                element,
            }),
            wraps_loss: wrapped_loss(index, class_id),
            has_forward: forward.is_some(),
            layers: class
                .layers
                .iter()
                .filter_map(|l| Some((l.attr.clone(), dotted(&l.call.func)?)))
                .collect(),
            decodes: sample_decoder(index, class_id),
        });
    }
    for (function_id, function) in index.functions.iter().enumerate() {
        summary.functions.push(function_summary(
            index,
            function_id,
            line_of(function.def.range()),
        ));
    }
    summary.functions.extend(module_code_summary(index));
    for call in &index.calls {
        let Some(callee) = callee_as_written(index, call.expr) else {
            continue;
        };
        if call.qualified.is_none() && callee.contains('.') && !callee.starts_with("self.") {
            // A method of some object (`model.train()`): not a project function.
            continue;
        }
        let local = !callee.contains('.') || callee.starts_with("self.");
        if !local && !imports_project_like(index, &callee) {
            // The big libraries' functions are never the project's.
            continue;
        }
        // A bare name is a project function only if it is defined here or imported (not a
        // builtin, not a variable holding a model: `print(...)`, `model(x)`); `self.name` only
        // if a method of that name exists in this file.
        let bare = callee.strip_prefix("self.").unwrap_or(&callee);
        if local
            && !bare.contains('.')
            && index.functions_named(bare).next().is_none()
            && (callee.starts_with("self.")
                || (index.class_named(bare).is_none() && !index.imports.contains_key(bare)))
        {
            continue;
        }
        let constructor = |expr: &Expr| -> Option<String> {
            match expr {
                Expr::Call(c) => dotted(&unchain(c).func),
                Expr::Name(_) | Expr::Attribute(_) => {
                    let name = dotted(expr)?;
                    let call = index
                        .producer(call.function, expr, call.start())
                        .map_or_else(
                            || index.constructor_call_of(&name),
                            |id| Some(index.calls[id].expr),
                        )?;
                    dotted(&unchain(call).func)
                }
                _ => None,
            }
        };
        let args: Vec<Option<String>> = call.expr.arguments.args.iter().map(constructor).collect();
        let keywords: Vec<(String, Option<String>)> = call
            .expr
            .arguments
            .keywords
            .iter()
            .filter_map(|kw| Some((kw.arg.as_ref()?.to_string(), constructor(&kw.value))))
            .collect();
        let grad_free = index.evaluation.grad_free(call.range());
        let (line, column) = source.lines.line_column(&source.text, call.range().start());
        let (cell, line) = match source.cell_of_line(line) {
            Some((cell, line_in_cell)) => (Some(cell), line_in_cell),
            None => (None, line),
        };
        summary.call_sites.push(CallSite {
            callee,
            args,
            keywords,
            grad_free,
            caller: call
                .function
                .map(|f| line_of(index.functions[f].def.range())),
            cell,
            line,
            column,
        });
    }
    summary
}

/// Whether the head of a dotted callee is an import that may be a project module (anything
/// but the big libraries whose functions are never the project's own).
fn imports_project_like(index: &SemanticIndex, callee: &str) -> bool {
    let head = callee.split('.').next().unwrap_or(callee);
    let Some(qualified) = index.imports.get(head) else {
        return false;
    };
    let top = qualified
        .trim_start_matches('.')
        .split('.')
        .next()
        .unwrap_or("");
    qualified.starts_with('.') || !LIBRARIES.contains(&top)
}

/// Packages that are never the reviewed project (their calls are not project calls).
const LIBRARIES: &[&str] = &[
    "torch",
    "torchvision",
    "numpy",
    "np",
    "os",
    "sys",
    "math",
    "random",
    "json",
    "re",
    "time",
    "logging",
    "argparse",
    "collections",
    "itertools",
    "functools",
    "pathlib",
    "typing",
    "timm",
    "transformers",
    "PIL",
    "cv2",
    "sklearn",
    "scipy",
    "pandas",
    "matplotlib",
    "tqdm",
    "wandb",
    "lightning",
    "pytorch_lightning",
    "accelerate",
    "albumentations",
    "einops",
    "tensorflow",
    "jax",
    "yaml",
    "shutil",
    "glob",
    "pickle",
];

/// The callee of a call as written (`engine.train_one_epoch`, `evaluate`, `self.step`): the
/// project model resolves it through the file's imports.
fn callee_as_written(_index: &SemanticIndex, call: &ExprCall) -> Option<String> {
    dotted(&call.func)
}

/// The name of the pseudo-function that stands for a module's top-level statements (a script's
/// `if __name__ == "__main__":` block): never a Python identifier.
pub const MODULE_CODE: &str = "<module>";

/// What a module's top-level statements do, as a function summary named [`MODULE_CODE`] at
/// line 0 (the `caller` of a module-level [`CallSite`]), or `None` when they call nothing.
fn module_code_summary(index: &SemanticIndex) -> Option<FunctionSummary> {
    let top: Vec<(usize, &mleng_python::index::Call)> = index
        .calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.function.is_none())
        .collect();
    if top.is_empty() {
        return None;
    }
    let (behaviour, calls) = behaviour_of_calls(index, top.into_iter());
    Some(FunctionSummary {
        name: MODULE_CODE.to_string(),
        class: None,
        top_level: false,
        params: Vec::new(),
        behaviour,
        calls,
        returns: None,
        line: 0,
        last_statement: None,
    })
}

/// What a sequence of calls does (backward, steps, mode switches, seeding, saving), and their
/// callees as written.
fn behaviour_of_calls<'i, 'a: 'i>(
    index: &SemanticIndex,
    calls_made: impl Iterator<Item = (usize, &'i mleng_python::index::Call<'a>)>,
) -> (Behaviour, Vec<String>) {
    let mut behaviour = Behaviour::default();
    let mut calls = Vec::new();
    for (call_id, call) in calls_made {
        match call.kind {
            CallKind::Backward => behaviour.backward = true,
            CallKind::OptimizerStep | CallKind::ScalerStep => behaviour.optimizer_step = true,
            CallKind::ZeroGrad => behaviour.zero_grad = true,
            _ => {}
        }
        match index.mode_switch(call_id) {
            Some(Mode::Eval) => behaviour.sets_eval = true,
            Some(Mode::Train) => behaviour.sets_train = true,
            // `model.train(set_training_mode)`: the mode is a variable; it may restore training
            // mode, which is what the callers' rules must not contradict.
            None if call.method == Some("train") && call.receiver.is_some() => {
                behaviour.sets_train = true
            }
            None => {}
        }
        if let Some(q) = call.qualified.as_deref() {
            if seeded_by(q).is_some_and(|rngs| !rngs.is_empty()) {
                behaviour.seeds = true;
            }
            if q == "torch.save" {
                behaviour.saves = true;
            }
        }
        if let Some(callee) = callee_as_written(index, call.expr) {
            if !calls.contains(&callee) {
                calls.push(callee);
            }
        }
    }
    (behaviour, calls)
}

fn function_summary(index: &SemanticIndex, id: FunctionId, line: u32) -> FunctionSummary {
    let function = &index.functions[id];
    let def = function.def;
    let (mut behaviour, calls) = behaviour_of_calls(index, index.calls_in_function(id));
    behaviour.moves_batches = index
        .loops
        .iter()
        .enumerate()
        .any(|(lid, lp)| lp.function == Some(id) && !index.batch_copies(lid).is_empty());
    behaviour.disables_grad = index
        .evaluation
        .grad_free
        .iter()
        .any(|r| def.range().contains_range(*r));
    let params = def
        .parameters
        .posonlyargs
        .iter()
        .chain(&def.parameters.args)
        .chain(&def.parameters.kwonlyargs)
        .map(|p| p.parameter.name.as_str().to_string())
        .collect();
    // A factory with one constructor per branch (`if name == "lr": return LR(...)` ...
    // `return FM(...)`) returns none of them for sure: only a constructor every returned call
    // agrees on is kept.
    let mut constructors = index.returns_of(id).into_iter().filter_map(|value| {
        let call = match value {
            Expr::Call(c) => Some(c),
            other => index
                .producer(Some(id), other, other.range().start())
                .map(|c| index.calls[c].expr),
        }?;
        dotted(&unchain(call).func)
    });
    let returns = constructors
        .next()
        .filter(|first| constructors.all(|other| &other == first));
    FunctionSummary {
        name: function.name.to_string(),
        class: function.class.map(|c| index.classes[c].name.to_string()),
        top_level: function.parent.is_none(),
        params,
        behaviour,
        calls,
        returns,
        line,
        last_statement: def
            .body
            .last()
            .map(|stmt| Spot::at(index.source, stmt.range().start())),
    }
}

/// The activation a module class's `forward` ends in: its single return, the last statement,
/// applies softmax/sigmoid/log-softmax/ReLU (directly, through a layer, or as the last item
/// of an `nn.Sequential` layer). A `forward` that looks at `self.training` (softmax only at
/// inference) is not judged.
pub fn class_ending(
    index: &SemanticIndex,
    class_id: ClassId,
) -> Option<(Activation, TextRange, Option<usize>)> {
    let class = &index.classes[class_id];
    if !class.is_module {
        return None;
    }
    let forward = index.method(class_id, "forward")?;
    let def = index.functions[forward].def;
    if index.text(def.range()).contains("self.training") {
        return None;
    }
    let returns = index.return_statements(forward);
    let [ret] = returns.as_slice() else {
        return None;
    };
    let value = ret.value.as_deref()?;
    // The return must be the last statement of forward's body.
    if def.body.last().map(|s| s.range()) != Some(ret.range) {
        return None;
    }
    let ending_of = |value: &Expr| {
        let call = match value {
            Expr::Call(c) => Some(c),
            other => index
                .producer(Some(forward), other, other.range().start())
                .map(|id| index.calls[id].expr),
        }?;
        activation_of(index, class_id, call).map(|a| (a, call.range()))
    };
    // `return torch.sigmoid(logits), feature_map`: the element that ends in an activation.
    if let Expr::Tuple(tuple) = value {
        return tuple
            .elts
            .iter()
            .enumerate()
            .find_map(|(i, elt)| ending_of(elt).map(|(a, at)| (a, at, Some(i))));
    }
    ending_of(value).map(|(a, at)| (a, at, None))
}

/// The known loss a loss module's `forward` applies to its first input: `class FocalLoss`
/// whose `forward(self, inputs, targets)` calls `F.binary_cross_entropy_with_logits(inputs,
/// ...)`. Only a direct call on the parameter itself counts.
fn wrapped_loss(index: &SemanticIndex, class_id: ClassId) -> Option<String> {
    if !index.classes[class_id].is_module {
        return None;
    }
    let forward = index.method(class_id, "forward")?;
    let def = index.functions[forward].def;
    let input = def.parameters.args.get(1)?.parameter.name.as_str();
    index.calls_in_function(forward).find_map(|(_, call)| {
        let q = call.qualified.as_deref()?;
        mleng_knowledge::losses::logit_loss(q)?;
        let first = call.arg_or_keyword(0, "input")?;
        matches!(first, Expr::Name(n) if n.id.as_str() == input).then(|| q.to_string())
    })
}

/// The final activation a call applies: `self.softmax(x)`, `F.softmax(x)`, `torch.sigmoid(x)`,
/// `x.softmax(dim=1)`, `torch.exp(F.log_softmax(x))` (a softmax), or `self.net(x)` where
/// `self.net` is an `nn.Sequential` ending in one.
pub fn activation_of(index: &SemanticIndex, class: ClassId, call: &ExprCall) -> Option<Activation> {
    if let Some(attr) = dotted(&call.func)
        .as_deref()
        .and_then(|d| d.strip_prefix("self."))
    {
        let layer = index.layer(class, attr)?;
        if index.is_sequential(layer.call) {
            return sequential_ending(index, layer.call).map(|(a, _)| a);
        }
        return final_activation(layer.constructor.as_deref()?);
    }
    if let Some(q) = index.qualified_name(&call.func) {
        if matches!(q.as_str(), "torch.exp" | "torch.Tensor.exp") {
            return exp_of_log_softmax(index, call.arguments.args.first()?);
        }
        return final_activation(&q);
    }
    match call.func.as_ref() {
        // `F.log_softmax(x).exp()`
        Expr::Attribute(attr) if attr.attr.as_str() == "exp" => {
            exp_of_log_softmax(index, &attr.value)
        }
        Expr::Attribute(attr) => final_activation(attr.attr.as_str()),
        _ => None,
    }
}

/// `exp(log_softmax(x))` is `softmax(x)`.
fn exp_of_log_softmax(index: &SemanticIndex, inner: &Expr) -> Option<Activation> {
    let Expr::Call(inner) = inner else {
        return None;
    };
    let is_log_softmax = match index.qualified_name(&inner.func) {
        Some(q) => activation(&q) == Some(Activation::LogSoftmax),
        None => {
            matches!(inner.func.as_ref(), Expr::Attribute(a) if a.attr.as_str() == "log_softmax")
        }
    };
    is_log_softmax.then_some(Activation::Softmax)
}

/// The activation an `nn.Sequential(...)` call ends in, and where.
pub fn sequential_ending(
    index: &SemanticIndex,
    call: &ExprCall,
) -> Option<(Activation, TextRange)> {
    let last = (*index.sequential_items(call).last()?)?;
    let q = index.qualified_name(&last.func)?;
    final_activation(&q).map(|a| (a, last.range()))
}

/// What a dataset class decodes per sample: a file decoder called by `__getitem__` or the
/// helpers it calls (methods of the class and functions of the file, two calls deep), or a
/// torchvision base class that decodes files (`class Faces(ImageFolder)`).
fn sample_decoder(index: &SemanticIndex, class_id: ClassId) -> Option<String> {
    use mleng_knowledge::performance::{decoding_dataset, FILE_DECODERS};
    let class = &index.classes[class_id];
    if let Some(base) = class.bases.iter().find(|b| decoding_dataset(b)) {
        return Some(base.clone());
    }
    let mut functions = vec![index.method(class_id, "__getitem__")?];
    let mut seen = 0;
    for _depth in 0..3 {
        let end = functions.len();
        for at in seen..end {
            let function = functions[at];
            for (call_id, call) in index.calls_in_function(function) {
                if let Some(q) = call.qualified.as_deref() {
                    if FILE_DECODERS.contains(&q) {
                        return Some(q.to_string());
                    }
                }
                for target in
                    mleng_python::index::training::helper_targets(index, call_id, Some(class_id))
                {
                    if !functions.contains(&target) {
                        functions.push(target);
                    }
                }
            }
        }
        seen = end;
    }
    None
}
