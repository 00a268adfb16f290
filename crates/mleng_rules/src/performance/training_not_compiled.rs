use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::{
    COMPILABLE_MODEL_BUILDERS, PRECISION_FRAMEWORKS, RECURRENT_LAYERS, TORCH_COMPILE_SINCE,
};
use mleng_python::index::literals::dotted;
use mleng_python::index::{TrainingLoop, TrainingScope};
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF015",
    name: "training-not-compiled",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "A model trained on CUDA for many steps, and nothing in the project compiles it: `torch.compile` often makes PyTorch 2.x training steps 1.2-1.5x faster (once per project).",
    docs: r#"## What it does
Once per project, reports a training loop that runs on CUDA (the file names a CUDA device)
for many steps (a batch loop inside an epoch loop, a `while` loop, or a loop in a function
such as `train_one_epoch` that callers run per epoch) and trains a model it can name: a
model class of the project, a torchvision, timm, segmentation-models or Hugging Face model,
or an `nn.Sequential` (also through `nn.DataParallel` / `DistributedDataParallel`), when no
reviewed file compiles anything: no `torch.compile`, `model.compile()`, TorchScript
(`torch.jit.script`/`trace`), TorchDynamo, and no option that offers it (`--compile`,
`compile=...`, `torch_compile`). The other training loops of the project without it are
listed in the finding's evidence, not reported again.

Silent for projects that pin PyTorch below 2.0 (where `torch.compile` does not exist), for
recurrent models (an `nn.LSTM`/`nn.GRU` among the model's layers or its sub-modules': the
compiled graph breaks around cuDNN's RNN kernels, so there is little to gain), for loops of
two or three epochs (`for epoch in range(3):`: the compile time is not paid back),
for code written for Lightning, Accelerate, Composer, Ignite or DeepSpeed (they offer
compilation through their own configuration), and in tests.

## Why is this bad?
`torch.compile` (PyTorch 2.0 and later) captures the model's forward and backward as graphs
and generates fused kernels for them: fewer kernel launches, fewer round trips of
activations through GPU memory. PyTorch's own benchmark of 163 open-source models (Hugging
Face, timm, TorchBench) on an A100 measured training 43% faster on average (21% in float32,
51% with AMP), with the model compiling in 93% of them. The price is a compilation of tens
of seconds to minutes at the first steps (and again for new input shapes), paid back within
the first epoch of a long run. The gain depends on the model: MMAction2 measured anywhere
from 20% faster (a video Swin transformer) to 20% slower with more memory (a ResNet-50 TSN),
so this is advice to try and measure, not a finding that something is wrong.

The figures are the cited benchmarks'; they were not measured here (no GPU was available
to this project).

## Example
```python
model = Net().cuda()
for epoch in range(args.epochs):
    for images, labels in loader:
        loss = criterion(model(images.cuda()), labels.cuda())
        optimizer.zero_grad(); loss.backward(); optimizer.step()
```

## Use instead
```python
model = Net().cuda()
model = torch.compile(model)  # PyTorch >= 2.0; compiles on the first steps
for epoch in range(args.epochs):
    for images, labels in loader:
        loss = criterion(model(images.cuda()), labels.cuda())
        optimizer.zero_grad(); loss.backward(); optimizer.step()
```

## Known problems
A model whose `forward` has Python control flow on tensor values, calls `.item()` or
non-PyTorch code breaks the graph into pieces ("graph breaks") and gains less; dynamic input
shapes recompile (pass `dynamic=True`). Save `model.state_dict()` of the uncompiled module
(`model._orig_mod` after compiling), or the checkpoint's keys gain an `_orig_mod.` prefix.
Windows support arrived late (PyTorch 2.4 and later, with a compiler installed).

## References
- PyTorch 2.0 overview (the 163-model benchmark: 93% compile, 43% faster training on an A100): <https://pytorch.org/get-started/pytorch-2.0/>
- `torch.compile`: <https://pytorch.org/docs/stable/generated/torch.compile.html>
- Introduction to `torch.compile` (tutorial): <https://pytorch.org/tutorials/intermediate/torch_compile_tutorial.html>
- MMAction2, "PyTorch 2.0 Compatibility and Benchmark" (per-model training time with and without compile): <https://github.com/open-mmlab/mmaction2/blob/main/docs/en/notes/pytorch2.0.md>
"#,
    check: crate::project::no_file_check,
};

/// Wrappers that hold the trained model as their first argument.
const WRAPPERS: &[&str] = &[
    "torch.nn.DataParallel",
    "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel",
];

/// How deep a model is looked for through wrappers and re-bindings.
const MAX_DEPTH: usize = 4;

/// Epoch loops this short do not pay back the compile time.
const SHORT_RUN_EPOCHS: i64 = 3;

/// The model a constructor call builds, named for the message: a project `nn.Module` class,
/// a known library model, or an `nn.Sequential`; through `nn.DataParallel(model)`.
fn model_name(ctx: &Context, call: &ExprCall, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let index = ctx.index;
    if let Some(written) = dotted(&call.func) {
        if let Some(class) = ctx.project.class_of(ctx.module, &written) {
            return module_class_name(ctx, class);
        }
    }
    let qualified = index.qualified_name(&call.func)?;
    if WRAPPERS.contains(&qualified.as_str()) {
        return match call.arguments.args.first()? {
            Expr::Call(inner) => model_name(ctx, inner, depth + 1),
            other => {
                let name = dotted(other)?;
                let inner = index.constructor_call_of(&name)?;
                if std::ptr::eq(inner, call) {
                    // `model = nn.DataParallel(model)`: the binding before this one.
                    earlier_model(ctx, &name, call, depth)
                } else {
                    model_name(ctx, inner, depth + 1)
                }
            }
        };
    }
    if qualified == "torch.nn.Sequential" {
        return Some("`nn.Sequential`".to_string());
    }
    library_model(&qualified)
}

/// A project `nn.Module` class that is not a loss, named for the message.
fn module_class_name(ctx: &Context, class: mleng_project::Symbol) -> Option<String> {
    if !ctx.project.is_module_class(class) {
        return None;
    }
    let summary = ctx.project.class(class)?;
    let loss = summary.wraps_loss.is_some() || names_a_loss(&summary.name);
    (!loss && !is_recurrent(ctx, class, 0)).then(|| format!("`{}`", summary.name))
}

/// A model class with a recurrent layer (an `nn.LSTM`, or a project sub-module that has one):
/// compiled graphs break around the cuDNN RNN, so compiling gains little.
fn is_recurrent(ctx: &Context, class: mleng_project::Symbol, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    ctx.project.class_chain(class).into_iter().any(|symbol| {
        let mleng_project::Symbol::Class(module, _) = symbol else {
            return false;
        };
        let Some(summary) = ctx.project.class(symbol) else {
            return false;
        };
        summary.layers.iter().any(|(_, layer)| {
            let qualified = ctx.project.qualify_in(module, layer);
            RECURRENT_LAYERS.contains(&qualified.as_str())
                || ctx
                    .project
                    .class_of(module, layer)
                    .is_some_and(|sub| sub != class && is_recurrent(ctx, sub, depth + 1))
        })
    })
}

/// For `model = nn.DataParallel(model)`: the model bound to `name` before `wrapper`.
fn earlier_model(ctx: &Context, name: &str, wrapper: &ExprCall, depth: usize) -> Option<String> {
    let index = ctx.index;
    index
        .bindings
        .iter()
        .rev()
        .filter(|b| b.target == name && b.range.end() <= wrapper.range().start())
        .find_map(|b| match b.value {
            Expr::Call(call) => {
                let call = mleng_python::index::literals::unchain(call);
                model_name(ctx, call, depth + 1)
            }
            _ => None,
        })
}

/// The model the training loop runs: something called in the loop (`model(x)`,
/// `self.net(x)`, `model.forward(x)`) that a constructor of this file builds.
fn trained_model(ctx: &Context, training: &TrainingLoop) -> Option<String> {
    let index = ctx.index;
    index
        .calls
        .iter()
        .filter(|c| training.range.contains_range(c.range()) && c.qualified.is_none())
        .filter_map(|c| {
            let callee = match c.expr.func.as_ref() {
                Expr::Attribute(a) if a.attr.as_str() == "forward" => dotted(&a.value),
                other => dotted(other),
            }?;
            // The loss is called in the loop too (`criterion(out, y)`): not the model.
            if names_a_loss(&callee) {
                return None;
            }
            match index.constructor_call_of(&callee) {
                Some(constructor) => model_name(ctx, constructor, 0),
                None => passed_model(ctx, training, &callee),
            }
        })
        .next()
}

/// `criterion`, `loss_fn`, `self.loss`, `NT_Xent`-style losses bound to a loss-like name.
fn names_a_loss(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("loss") || lower.contains("criterion")
}

/// The model the project's callers pass as parameter `param` of the function the loop is in
/// (`train_one_epoch(model, ...)` called with `Net()` from `train.py`).
fn passed_model(ctx: &Context, training: &TrainingLoop, param: &str) -> Option<String> {
    let symbol = ctx.project_function(training.function?)?;
    let passed = ctx.project.argument_type(symbol, param)?;
    if let Some(class) = ctx.project.class_of(passed.module, &passed.text) {
        return module_class_name(ctx, class);
    }
    let qualified = ctx.project.qualify_in(passed.module, &passed.text);
    library_model(&qualified)
}

/// A model of a library `torch.compile` is benchmarked on, by its qualified builder.
fn library_model(qualified: &str) -> Option<String> {
    let library = COMPILABLE_MODEL_BUILDERS
        .iter()
        .any(|p| qualified.starts_with(p));
    // `transformers` also has tokenizers and configs: only its model classes.
    let is_model = !qualified.starts_with("transformers.")
        || qualified
            .split('.')
            .nth(1)
            .is_some_and(|class| class.contains("Model") || class.contains("For"));
    (library && is_model).then(|| format!("`{qualified}`"))
}

/// `range(3)` / `range(1, 4)` with literal bounds: how many iterations.
fn literal_range_count(header: &str) -> Option<i64> {
    let inside = header.split_once("range(")?.1.split_once(')')?.0;
    let bounds: Vec<i64> = inside
        .split(',')
        .map(|p| p.trim().replace('_', "").parse::<i64>())
        .collect::<Result<_, _>>()
        .ok()?;
    match bounds.as_slice() {
        [end] => Some(*end),
        [start, end] | [start, end, _] => Some(end - start),
        _ => None,
    }
}

/// Whether the training loop runs for many steps: inside an epoch loop that is not a literal
/// two or three epochs, a `while` loop, a loop in a function (callers run it per epoch), or
/// a step function.
fn runs_long(ctx: &Context, training: &TrainingLoop) -> bool {
    let index = ctx.index;
    let TrainingScope::Loop(id) = training.scope else {
        return true;
    };
    let lp = &index.loops[id];
    let header = ctx.text(lp.header);
    if header.trim_start().starts_with("while") {
        return true;
    }
    match lp.parent {
        Some(parent) => {
            let outer = ctx.text(index.loops[parent].header);
            literal_range_count(outer).is_none_or(|n| n > SHORT_RUN_EPOCHS)
        }
        None => lp.function.is_some(),
    }
}

/// Per file: the first long training loop whose model can be named (whether the project runs
/// on CUDA is the project half's question: the device is often chosen in another file).
pub(crate) fn candidates(ctx: &mut Context) {
    let index = ctx.index;
    if index.imports_any(PRECISION_FRAMEWORKS) {
        return;
    }
    let found = index.training_loops.iter().find_map(|training| {
        if !runs_long(ctx, training) {
            return None;
        }
        let model = trained_model(ctx, training)?;
        let range = match training.scope {
            TrainingScope::Loop(id) => index.loops[id].header,
            TrainingScope::Function(id) => {
                let def = index.functions[id].def;
                TextRange::new(def.range().start(), def.name.range().end())
            }
        };
        Some((range, model))
    });
    let Some((range, model)) = found else {
        return;
    };
    let message = format!(
        "This loop trains {model} on CUDA for many steps and nothing in the project compiles it: on PyTorch 2.x, `torch.compile(model)` often makes training steps 1.2-1.5x faster after a one-time compilation (measure it: some models gain nothing)"
    );
    let fix = Fix::new("Compile the model once before the loop, and compare the step time")
        .with_example("model = torch.compile(model)");
    ctx.report(range, message, Some(fix));
}

/// Reports the first candidate (in a file that is run, if any) when no reviewed file
/// compiles anything and PyTorch is not pinned below 2.0; the other loops become evidence.
pub(crate) fn check_project(ctx: &mut ProjectContext) {
    let files = &ctx.facts.files;
    if files.iter().any(|f| f.mentions_compile) || !files.iter().any(|f| f.mentions_cuda) {
        return;
    }
    let requirements = &ctx.facts.requirements;
    let mut candidates: Vec<_> = ctx
        .candidates()
        .filter(|(file, _)| {
            requirements
                .torch_below(&file.path, TORCH_COMPILE_SINCE)
                .is_none()
        })
        .collect();
    // Entry points first (a script that is run), then in review order.
    candidates.sort_by_key(|(file, _)| !file.is_entry_point);
    let Some(((_, first), rest)) = candidates.split_first() else {
        return;
    };
    let others: Vec<String> = rest
        .iter()
        .map(|(_, c)| {
            let name = c
                .finding
                .location
                .path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let line = c.finding.location.span.map_or(0, |s| s.start_line);
            match c.finding.location.cell {
                Some(cell) => format!("`{name}` cell {cell}:{line}"),
                None => format!("`{name}:{line}`"),
            }
        })
        .collect();
    let finding = ctx.confirm(first);
    if !others.is_empty() {
        let shown = others
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = others.len().saturating_sub(5);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        finding.evidence.push(format!(
            "also trained without it: {shown}{tail} (one finding for the project)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::literal_range_count;

    #[test]
    fn literal_ranges() {
        assert_eq!(literal_range_count("for epoch in range(3):"), Some(3));
        assert_eq!(literal_range_count("for epoch in range(1, 11):"), Some(10));
        assert_eq!(
            literal_range_count("for epoch in range(args.epochs):"),
            None
        );
        assert_eq!(literal_range_count("for batch in loader:"), None);
    }
}
