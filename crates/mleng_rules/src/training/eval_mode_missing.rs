use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::evaluation::Mode;
use mleng_python::index::literals::dotted;

use super::epoch_facts::{epochs, model_escapes};
use super::evaluation_functions;
use super::loop_facts::model_names;
use crate::context::Context;
use crate::project::{module_modes, ProjectContext};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN016",
    name: "eval-mode-missing",
    area: Area::Training,
    severity: Severity::Warning,
    fix: None,
    summary: "A validation pass inside the epoch loop runs the model without model.eval().",
    docs: r#"## What it does
Finds validation passes inside an epoch loop (a loop that is not a training loop, under
`torch.no_grad()` / `torch.inference_mode()` or iterating over a `val`/`valid`/`test`/`eval`
loader, directly or in a local helper) that call the model being trained while nothing in the epoch
calls `model.eval()` (or `model.train(False)`). Also, in the same spirit:
- an evaluation pass after the training loop of the same function or script (a
  `fit_one_epoch` that trains, then validates, and never switches);
- evaluation and prediction functions anywhere in the project (`evaluate`, `validate`,
  `predict_img`, also without a loop) that neither they nor any of their callers (functions, or
  a script's top-level code) switch to eval mode;
- `model.train()` called inside a validation loop (over a `val`/`test` loader, no backward)
  before the model runs (Monte Carlo dropout code is left alone);
- an inference script (nothing in the file trains) that loads trained weights
  (`load_state_dict`, or a pickled module from `torch.load`) and runs the model with no
  `eval()` anywhere in the file.

## Why is this bad?
In training mode, Dropout randomly zeroes activations and BatchNorm normalises with the statistics
of the current validation batch and *updates its running statistics with validation data*. The
validation metric is noisy and pessimistic (so early stopping and checkpoint selection pick the
wrong epoch), and the validation set leaks into the BatchNorm statistics of the saved model.
`torch.no_grad()` does not change this: it only turns off gradient tracking.

## Example
```python
for epoch in range(epochs):
    model.train()
    train_one_epoch(model, train_loader, optimizer)
    with torch.no_grad():
        for x, y in val_loader:
            val_loss += criterion(model(x), y).item()
```

## Use instead
```python
for epoch in range(epochs):
    model.train()
    train_one_epoch(model, train_loader, optimizer)
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            val_loss += criterion(model(x), y).item()
```

A model that behaves the same in both modes is left alone: the model's class (`model = Net(...)`)
is looked up in every reviewed file, and when it and every class it is built from or inherits
from hold no Dropout, BatchNorm, InstanceNorm, RReLU, functional dropout or `self.training` test,
and no layer the rule cannot read, `eval()` would change nothing.

## Known problems
Classes from other libraries (a torchvision ResNet, a timm model) count as mode-dependent, as
does a layer built by a helper method. Reviewing one file alone cannot see a model defined in
another, so the finding stays. Evaluation functions (`evaluate`, `validate`, `val_epoch`, `predict`, ...) are judged through
their callers in the project: one that never calls `.eval()` is reported when no function that
calls it does either; one without a caller in the project is not judged.

## References
- PyTorch `nn.Module.eval`: <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval>
- PyTorch autograd notes, "Evaluation Mode (nn.Module.eval())" is not `no_grad`: <https://pytorch.org/docs/stable/notes/autograd.html#evaluation-mode-nn-module-eval>
"#,
    check: crate::project::no_file_check,
};

const EVAL_WORDS: &[&str] = &["val", "valid", "validation", "test", "eval", "dev"];

/// What loader names are made of besides the split: `genval`, `valloader`, `test_dl`,
/// `dataloader_val`, `evalset`.
const LOADER_AFFIXES: &[&str] = &[
    "dataloader",
    "loader",
    "dataset",
    "data",
    "gen",
    "dl",
    "ds",
    "iter",
    "set",
    "batches",
];

pub(crate) fn is_eval_loader(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    last.split('_')
        .any(|w| EVAL_WORDS.contains(&strip_loader_affixes(w)))
        || last.starts_with("val")
        || last.starts_with("test")
}

/// `genval` -> `val`, `evalloader` -> `eval`: a loader word around an evaluation word.
fn strip_loader_affixes(word: &str) -> &str {
    let mut word = word;
    loop {
        let before = word;
        for affix in LOADER_AFFIXES {
            if word.len() > affix.len() {
                word = word.strip_prefix(affix).unwrap_or(word);
                word = word.strip_suffix(affix).unwrap_or(word);
            }
        }
        if word == before {
            return word;
        }
    }
}

/// Confirms each candidate unless its model is a class of the project that computes the same
/// function in both modes (no Dropout, BatchNorm or other mode-dependent part anywhere in it).
pub(crate) fn check_project(ctx: &mut ProjectContext) {
    let candidates: Vec<_> = ctx.candidates().map(|(_, c)| c).collect();
    for candidate in candidates {
        let from_file = candidate.finding.location.path.as_path();
        let mode_free = candidate
            .subject
            .as_deref()
            .is_some_and(|class| module_modes::mode_free(&ctx.facts.files, class, from_file));
        if !mode_free {
            ctx.confirm(candidate);
        }
    }
}

/// The class a model variable is built from, as imported (`from model import Net` then
/// `model = Net(4)` -> `model.Net`) or as written (`Net`), if this file shows it.
fn model_class(index: &mleng_python::SemanticIndex, model: &str) -> Option<String> {
    index.bindings.iter().find_map(|b| {
        if b.target != model {
            return None;
        }
        let mut value = b.value;
        // `Net(4).to(device)`, `Net(4).cuda()`: the class is inside the chain.
        while let ruff_python_ast::Expr::Call(call) = value {
            match call.func.as_ref() {
                ruff_python_ast::Expr::Attribute(a)
                    if matches!(a.attr.as_str(), "to" | "cuda" | "cpu" | "float" | "half") =>
                {
                    value = &a.value;
                }
                func => return index.qualified_name(func).or_else(|| dotted(func)),
            }
        }
        None
    })
}

pub(crate) fn candidates(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    let models = model_names(index);
    let mut reported = Vec::new();
    for epoch in epochs(index) {
        if epoch.switches(index).any(|(_, m)| m == Mode::Eval) {
            continue;
        }
        for &(lid, _) in &epoch.loops {
            let lp = &index.loops[lid];
            if epoch
                .training
                .iter()
                .any(|t| t.contains_range(lp.range) || lp.range.contains_range(*t))
            {
                continue;
            }
            let eval_loader = lp.iterates_over.as_deref().is_some_and(is_eval_loader);
            // A no_grad pass over the training data in train mode is BatchNorm recalibration
            // (SWA's update_bn), not evaluation.
            let over_train_data = lp.iterates_over.as_deref().is_some_and(|n| {
                n.rsplit('.')
                    .next()
                    .unwrap_or(n)
                    .to_ascii_lowercase()
                    .contains("train")
            });
            // The model, called inside the validation loop and also called when training.
            let Some((call, model)) = index.calls.iter().find_map(|c| {
                if !lp.range.contains_range(c.range()) || c.qualified.is_some() {
                    return None;
                }
                let callee = dotted(&c.expr.func)?;
                let trained = epoch
                    .training
                    .iter()
                    .any(|t| ctx.text(*t).contains(&format!("{callee}(")));
                (models.contains(&callee) && trained).then_some((c, callee))
            }) else {
                continue;
            };
            // Autograd off around the loop, or around the model's call in its body (the
            // innermost loop around the call: an outer loop is no validation loop for it).
            let grad_free = index.evaluation.grad_free(lp.range)
                || (call.loops.last() == Some(&lid) && index.evaluation.grad_free(call.range()));
            // A loop that trains something (a fine-tuning loop of a head) is not validation.
            let trains = index
                .training_loops
                .iter()
                .any(|t| lp.range.contains_range(t.range));
            if trains || reported.contains(&lp.range) {
                continue;
            }
            if !eval_loader && (!grad_free || over_train_data) {
                continue;
            }
            if model_escapes(index, &epoch, &model) {
                continue;
            }
            let header = ctx.brief(lp.header);
            let call_text = ctx.text(call.range());
            let call_text = if call_text.contains('\n') || call_text.len() > 60 {
                format!("{model}(...)")
            } else {
                call_text.to_string()
            };
            let message = format!(
                "validation loop `{header}` runs `{call_text}` in training mode: nothing in the epoch calls `{model}.eval()`, so Dropout stays on and BatchNorm uses and updates batch statistics"
            );
            let fix = Fix::new(format!(
                "Call `{model}.eval()` before the validation pass (and `{model}.train()` before training)"
            ))
            .with_example(format!("{model}.eval()\n{header}:\n    ..."));
            ctx.report(lp.header, message, Some(fix));
            if let Some(class) = model_class(index, &model) {
                ctx.set_subject(class);
            }
            reported.push(lp.range);
            break;
        }
    }
    evaluation_function_candidates(ctx, &reported);
    after_training(ctx, &reported);
    train_inside_evaluation(ctx);
    inference_script(ctx);
}

/// A script that only runs a model (nothing in the file trains): it builds the model, loads
/// trained weights into it (`model.load_state_dict(torch.load(...))`) or loads a pickled
/// module (`model = torch.load(f)`), and calls it, while nothing in the file (or in a project
/// function the model is handed to) calls `.eval()`. A module is constructed in training
/// mode, and a pickled one keeps the mode it was saved in (pytorch/examples'
/// `generate.py` until its fix).
fn inference_script(ctx: &mut Context) {
    use mleng_python::index::CallKind;
    let index = ctx.index;
    if !index.training_loops.is_empty()
        || index.calls.iter().any(|c| {
            matches!(c.kind, CallKind::Backward | CallKind::OptimizerStep)
                || matches!(c.method, Some("eval" | "train"))
        })
    {
        return;
    }
    for (load_id, load) in index.calls.iter().enumerate() {
        // `model.load_state_dict(...)` on a model built in this file, or `model = torch.load(f)`.
        let (model, pickled) = if load.method == Some("load_state_dict") {
            let Some(model) = load.receiver.clone() else {
                continue;
            };
            if index.constructor_call_of(&model).is_none() {
                continue;
            }
            (model, false)
        } else if load.qualified.as_deref() == Some("torch.load") {
            let Some(binding) = index
                .bindings
                .iter()
                .find(|b| ruff_text_size::Ranged::range(b.value) == load.range())
            else {
                continue;
            };
            (binding.target.clone(), true)
        } else {
            continue;
        };
        let scope = load.function;
        // The model runs after loading, in the same function (or at module level).
        let Some(run) = index.calls.iter().find(|c| {
            c.function == scope
                && c.start() > load.start()
                && dotted(&c.expr.func).as_deref() == Some(model.as_str())
        }) else {
            continue;
        };
        // Handed to anything before it runs (a project helper may switch modes, a library
        // call may wrap it): unsure.
        let handed_over = index.calls.iter().enumerate().any(|(id, c)| {
            id != load_id
                && c.start() < run.start()
                && c.argument_values()
                    .any(|a| dotted(a).as_deref() == Some(model.as_str()))
                && !c
                    .qualified
                    .as_deref()
                    .is_some_and(|q| q.starts_with("torch.") && q != "torch.compile")
        });
        if handed_over || super::loop_facts::mode_free_here(ctx, &model) {
            continue;
        }
        let run_text = ctx.brief(run.range());
        let message = if pickled {
            format!(
                "`{run_text}` runs a model unpickled with `torch.load` and nothing in this script calls `{model}.eval()`: it runs in whatever mode it was saved in, often training mode (Dropout on, BatchNorm using and updating batch statistics)"
            )
        } else {
            format!(
                "`{run_text}` runs `{model}` in training mode: it was built here (modules start in training mode) and loaded with trained weights, and nothing in this script calls `{model}.eval()`, so Dropout stays on and BatchNorm uses and updates batch statistics"
            )
        };
        let fix = Fix::new(format!(
            "Call `{model}.eval()` after loading the weights, before running the model"
        ))
        .with_example(format!("{}\n{model}.eval()", ctx.brief(load.range())));
        let at_load = ctx.location(load.range());
        ctx.report(run.range(), message, Some(fix)).relate(
            at_load,
            "the weights are loaded here (`.eval()` goes after it)",
        );
        if !pickled {
            if let Some(class) = model_class(index, &model) {
                ctx.set_subject(class);
            }
        }
        return;
    }
}

/// `model.train()` inside a validation loop, before the model runs: a pass over a
/// `val`/`test` loader with autograd off that never backpropagates or steps, yet switches the
/// model to training mode each batch (MultiBench's `Supervised_Learning.py` until its fix).
fn train_inside_evaluation(ctx: &mut Context) {
    use mleng_python::index::CallKind;
    let index = ctx.index;
    let mut reported = Vec::new();
    for lp in &index.loops {
        if !lp.iterates_over.as_deref().is_some_and(is_eval_loader) {
            continue;
        }
        let inside = |c: &mleng_python::index::Call| lp.range.contains_range(c.range());
        if index.calls.iter().any(|c| {
            inside(c)
                && matches!(
                    c.kind,
                    CallKind::Backward | CallKind::OptimizerStep | CallKind::ScalerStep
                )
        }) {
            continue;
        }
        let found = index.calls.iter().enumerate().find_map(|(id, c)| {
            if !inside(c) || index.mode_switch(id) != Some(Mode::Train) {
                return None;
            }
            let model = c.receiver.clone()?;
            // The model runs after the switch, in the same pass, with autograd off.
            let runs = index.calls.iter().any(|r| {
                inside(r)
                    && r.start() > c.start()
                    && dotted(&r.expr.func).as_deref() == Some(model.as_str())
                    && index.evaluation.grad_free(r.range())
            });
            runs.then_some((c, model))
        });
        let Some((switch, model)) = found else {
            continue;
        };
        // Nested evaluation loops (`for loader in loaders: for batch in loader:`): one switch,
        // one finding.
        if reported.contains(&switch.range()) {
            continue;
        }
        reported.push(switch.range());
        // Monte Carlo dropout keeps Dropout on at test time on purpose.
        let scope = lp
            .function
            .map_or(lp.range, |f| index.functions[f].def.range);
        let scope_text = ctx.text(scope).to_ascii_lowercase();
        if [
            "monte",
            "mc_",
            "mc-dropout",
            "uncertain",
            "dropout",
            "n_samples",
            "num_samples",
        ]
        .iter()
        .any(|w| scope_text.contains(w))
        {
            continue;
        }
        let header = ctx.brief(lp.header);
        let message = format!(
            "`{model}.train()` inside the validation loop `{header}` (autograd off, no backward): every batch is evaluated in training mode, with Dropout on and BatchNorm using and updating batch statistics"
        );
        let fix = Fix::new(format!(
            "Remove `{model}.train()` from the validation loop; call `{model}.eval()` before it and `{model}.train()` after it"
        ));
        ctx.report(switch.range(), message, Some(fix));
    }
}

/// An evaluation pass after the training loop in the same scope (a script that trains, then
/// tests under `torch.no_grad()`), running the trained model with no `.eval()` on it since
/// the training ended.
fn after_training(ctx: &mut Context, reported: &[ruff_text_size::TextRange]) {
    let index = ctx.index;
    let models = model_names(index);
    let mut done: Vec<ruff_text_size::TextRange> = reported.to_vec();
    for tl in &index.training_loops {
        let mleng_python::index::TrainingScope::Loop(lid) = tl.scope else {
            continue;
        };
        // The outermost loop of the training (the epoch loop around the batch loop).
        let mut top = lid;
        while let Some(parent) = index.loops[top].parent {
            top = parent;
        }
        let trained = index.loops[top].range;
        let function = index.loops[top].function;
        let training_text = ctx.text(trained);
        for lp in &index.loops {
            if lp.function != function
                || lp.parent.is_some()
                || lp.range.start() < trained.end()
                || done.contains(&lp.range)
            {
                continue;
            }
            let eval_loader = lp.iterates_over.as_deref().is_some_and(is_eval_loader);
            let over_train_data = lp
                .iterates_over
                .as_deref()
                .is_some_and(|n| n.to_ascii_lowercase().contains("train"));
            if over_train_data {
                continue;
            }
            // It trains too (a stray `optimizer.zero_grad()` in a validation loop does not).
            if index.calls.iter().any(|c| {
                use mleng_python::index::CallKind;
                lp.range.contains_range(c.range())
                    && matches!(
                        c.kind,
                        CallKind::Backward | CallKind::OptimizerStep | CallKind::ScalerStep
                    )
            }) {
                continue;
            }
            let Some((call, model)) = index.calls.iter().find_map(|c| {
                if !lp.range.contains_range(c.range()) || c.qualified.is_some() {
                    return None;
                }
                let callee = dotted(&c.expr.func)?;
                (models.contains(&callee) && training_text.contains(&format!("{callee}(")))
                    .then_some((c, callee))
            }) else {
                continue;
            };
            let grad_free = index.evaluation.grad_free(lp.range)
                || (call
                    .loops
                    .last()
                    .is_some_and(|&l| std::ptr::eq(&index.loops[l], lp))
                    && index.evaluation.grad_free(call.range()));
            if !(grad_free || eval_loader) {
                continue;
            }
            // `.eval()` on the model (or anything handed the model) between the training and
            // the pass, or inside the pass before the call.
            let between = ruff_text_size::TextRange::new(trained.end(), call.start());
            let switched_or_escapes = index.calls.iter().enumerate().any(|(id, c)| {
                between.contains_range(c.range())
                    && (index.mode_switch(id).is_some()
                        || c.expr.arguments.args.iter().any(|a| {
                            dotted(a).as_deref() == Some(model.as_str())
                                && !c
                                    .qualified
                                    .as_deref()
                                    .is_some_and(|q| q.starts_with("torch."))
                        }))
            });
            if switched_or_escapes || super::loop_facts::mode_free_here(ctx, &model) {
                continue;
            }
            done.push(lp.range);
            let header = ctx.brief(lp.header);
            let call_text = ctx.text(call.range());
            let call_text = if call_text.contains('\n') || call_text.len() > 60 {
                format!("{model}(...)")
            } else {
                call_text.to_string()
            };
            let message = format!(
                "`{header}` runs `{call_text}` after training, still in training mode: nothing calls `{model}.eval()` after the training loop ({}), so Dropout stays on and BatchNorm uses and updates batch statistics",
                ctx.where_is(index.loops[top].header)
            );
            let fix = Fix::new(format!("Call `{model}.eval()` before evaluating"))
                .with_example(format!("{model}.eval()\n{header}:\n    ..."));
            ctx.report(lp.header, message, Some(fix));
            if let Some(class) = model_class(index, &model) {
                ctx.set_subject(class);
            }
        }
    }
}

/// An evaluation function anywhere in the project (`def evaluate(model, loader)`, a
/// `validate` method) that runs the model over data while neither it nor any function that
/// calls it switches to eval mode. Without a caller in the project, who sets the mode is
/// unknown and nothing is said.
fn evaluation_function_candidates(ctx: &mut Context, reported: &[ruff_text_size::TextRange]) {
    let index = ctx.index;
    for eval in evaluation_functions::find(ctx) {
        if eval.pass.is_some_and(|p| reported.contains(&p.range)) {
            continue;
        }
        if index
            .calls_in_function(eval.function)
            .any(|(id, _)| index.mode_switch(id) == Some(Mode::Eval))
            || evaluation_functions::wrapped_by_name(
                evaluation_functions::text_with_decorators(ctx, eval.function),
                &["eval", "inference"],
            )
        {
            continue;
        }
        let callers = evaluation_functions::callers(ctx, eval.function);
        if callers.is_empty() {
            continue;
        }
        let mut caller_names = Vec::new();
        let mut unsure = false;
        for (module, site) in &callers {
            // `from_pretrained` and `torch.jit.load` hand over a model already in eval mode.
            let loaded_in_eval = site
                .args
                .iter()
                .chain(site.keywords.iter().map(|(_, v)| v))
                .flatten()
                .any(|c| c.ends_with("from_pretrained") || c.ends_with("jit.load"));
            match evaluation_functions::caller_of(ctx, *module, site) {
                Some(caller) if !loaded_in_eval && !ctx.project.behaviour(caller).sets_eval => {
                    if let Some(f) = ctx.project.function(caller) {
                        let name = if f.name == mleng_project::summary::MODULE_CODE {
                            "the script's top-level code".to_string()
                        } else {
                            format!("`{}()`", f.name)
                        };
                        if !caller_names.contains(&name) {
                            caller_names.push(name);
                        }
                    }
                }
                _ => unsure = true,
            }
        }
        if unsure {
            continue;
        }
        let header = ctx.brief(eval.site);
        let call_text = ctx.text(eval.model_call.range());
        let call_text = if call_text.contains('\n') || call_text.len() > 60 {
            format!("{}(...)", eval.model)
        } else {
            call_text.to_string()
        };
        let callers_text = caller_names.join(", ");
        let in_loop = if eval.pass.is_some() {
            format!(" in `{header}`")
        } else {
            String::new()
        };
        let message = format!(
            "`{}()` runs `{call_text}`{in_loop} in training mode: neither it nor its callers ({callers_text}) call `.eval()`, so Dropout stays on and BatchNorm uses and updates batch statistics",
            eval.name
        );
        let fix = Fix::new(format!(
            "Call `{}.eval()` at the start of `{}()` (and `.train()` again before training)",
            eval.model, eval.name
        ))
        .with_example(format!(
            "def {}(...):\n    {}.eval()\n    ...",
            eval.name, eval.model
        ));
        let related = evaluation_functions::caller_locations(ctx, &callers);
        let finding = ctx.report(eval.site, message, Some(fix));
        for location in related {
            finding.relate(location, format!("`{}()` is called here", eval.name));
        }
        // The model class its callers pass, for the project check (a model without Dropout
        // or BatchNorm computes the same in both modes).
        if let Some(class) = passed_class(ctx, eval.function, &eval.model) {
            ctx.set_subject(class);
        }
    }
}

/// The class name of the model the project's callers pass as parameter `param`.
fn passed_class(ctx: &Context, function: usize, param: &str) -> Option<String> {
    let symbol = ctx.project_function(function)?;
    let passed = ctx.project.argument_type(symbol, param)?;
    let class = ctx.project.class_of(passed.module, &passed.text)?;
    Some(ctx.project.class(class)?.name.clone())
}
