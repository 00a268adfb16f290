use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::dotted;
use mleng_python::index::CallKind;

use super::epoch_facts::epochs;
use super::eval_mode_missing::is_eval_loader;
use super::evaluation_functions;
use super::loop_facts::model_names;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN021",
    name: "no-grad-missing",
    area: Area::Training,
    severity: Severity::Warning,
    fix: None,
    summary: "A validation pass (in the epoch loop, or an evaluate()/validate()/predict() function anywhere) runs the model with autograd on.",
    docs: r#"## What it does
Finds validation passes inside an epoch loop, a loop over a `val`/`valid`/`test`/`eval` loader
(directly or in a local helper the epoch calls) that calls the model being trained and never
calls `backward()`, where nothing turns autograd off: no `with torch.no_grad()` /
`torch.inference_mode()` around the loop or around the helper call, no decorator, no
`torch.set_grad_enabled(False)` in the function.

Also evaluation functions anywhere in the project (`evaluate`, `validate`, `val_epoch`,
`run_test`, `predict`, `inference`, ...; a function or a method) that loop over data and run
the model they are given (`model`, `net`, `self.model`, ...), never backpropagate or step, and
where nothing turns autograd off: not in the function, and not around any of its calls in the
project (`with torch.no_grad(): evaluate(model, loader)` in `main.py` counts for
`engine.evaluate`). Lightning's `validation_step`/`test_step` and methods of framework classes
(Hugging Face `Trainer`, Lightning) are left alone: the framework turns autograd off. A function
that mentions `requires_grad`, `enable_grad` or `autograd.grad` needs gradients (saliency,
adversarial inputs) and is not judged.

And a model class's own prediction method (`def predict(self, x)` in an `nn.Module`) that calls
`self.eval()` and runs `self.forward(x)` (or `self(x)`) with autograd on: a public inference API
that callers run batch after batch.

## Why is this bad?
With autograd on, every forward pass records its graph and keeps the activations it would need for
a backward that never comes: evaluation uses several times the memory it needs (often the reason a
validation batch size has to be smaller than the training one) and runs slower. If an output is
accumulated across batches (`all_logits.append(out)`), the graphs of the whole validation set stay
alive and the run goes out of memory. `model.eval()` does not turn autograd off.

## Example
```python
model.eval()
for x, y in val_loader:
    val_loss += criterion(model(x), y).item()
```

## Use instead
```python
model.eval()
with torch.inference_mode():
    for x, y in val_loader:
        val_loss += criterion(model(x), y).item()
```

## References
- PyTorch `torch.no_grad` ("useful for inference ... reduce memory consumption"): <https://pytorch.org/docs/stable/generated/torch.no_grad.html>
- PyTorch `torch.inference_mode`: <https://pytorch.org/docs/stable/generated/torch.inference_mode.html>
- PyTorch autograd notes, "Locally disabling gradient computation": <https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation>
"#,
    check,
};

fn check(ctx: &mut Context) {
    if ctx.is_test_file() {
        return;
    }
    let reported = validation_in_epochs(ctx);
    let functions = evaluation_functions(ctx, &reported);
    inference_loops(ctx, &functions);
    inference_methods(ctx);
}

/// A model class's own inference method (`def predict(self, x)` in an `nn.Module`) that puts
/// the model in eval mode and runs its forward with autograd on: a public prediction API that
/// callers run batch after batch (segmentation_models.pytorch's `predict` until its fix).
/// Without the `self.eval()` the method may be meant for training code too: left alone.
fn inference_methods(ctx: &mut Context) {
    let index = ctx.index;
    let mut reports = Vec::new();
    for class in index
        .classes
        .iter()
        .filter(|c| c.is_module && !c.is_lightning)
    {
        for &fid in &class.methods {
            let function = &index.functions[fid];
            let lower = function.name.to_ascii_lowercase();
            let predicts = lower
                .split('_')
                .any(|w| matches!(w, "predict" | "inference" | "infer"));
            if !predicts {
                continue;
            }
            let calls: Vec<_> = index.calls_in_function(fid).collect();
            let sets_eval = calls.iter().any(|(id, c)| {
                c.receiver.as_deref() == Some("self")
                    && index.mode_switch(*id) == Some(mleng_python::index::evaluation::Mode::Eval)
            });
            if !sets_eval || calls.iter().any(|(_, c)| c.kind != CallKind::Other) {
                continue;
            }
            let text = evaluation_functions::text_with_decorators(ctx, fid);
            if evaluation_functions::GRAD_AWARE
                .iter()
                .any(|m| text.contains(m))
                || evaluation_functions::wrapped_by_name(text, &["grad", "inference", "eval"])
            {
                continue;
            }
            let forward = calls.iter().find(|(_, c)| {
                matches!(
                    dotted(&c.expr.func).as_deref(),
                    Some("self" | "self.forward")
                ) && !index.evaluation.grad_free(c.range())
            });
            let Some((_, forward)) = forward else {
                continue;
            };
            let message = format!(
                "`{}()` puts the model in eval mode and runs `{}` with autograd on: every prediction records the graph and keeps the activations for a backward that never comes (memory grows with each output a caller keeps)",
                function.name,
                ctx.brief(forward.range())
            );
            let fix = Fix::new(format!(
                "Decorate `{}` with @torch.inference_mode() (or @torch.no_grad())",
                function.name
            ))
            .with_example(format!(
                "@torch.inference_mode()\ndef {}(self, ...):\n    ...",
                function.name
            ));
            reports.push((forward.range(), message, fix));
        }
    }
    for (range, message, fix) in reports {
        ctx.report(range, message, Some(fix));
    }
}

/// Validation passes in an epoch loop of this file; the loops reported.
fn validation_in_epochs(ctx: &mut Context) -> Vec<usize> {
    let index = ctx.index;
    if index.training_loops.is_empty() {
        return Vec::new();
    }
    let models = model_names(index);
    let mut reported = Vec::new();
    for epoch in epochs(index) {
        for &(lid, site) in &epoch.loops {
            if reported.contains(&lid) {
                continue;
            }
            let lp = &index.loops[lid];
            if epoch
                .training
                .iter()
                .any(|t| t.contains_range(lp.range) || lp.range.contains_range(*t))
            {
                continue;
            }
            if !lp.iterates_over.as_deref().is_some_and(is_eval_loader) {
                continue;
            }
            if index.evaluation.grad_free(lp.range) || index.evaluation.grad_free(site) {
                continue;
            }
            let function_text = lp
                .function
                .map(|f| ctx.text(index.functions[f].def.range))
                .unwrap_or("");
            if [
                "set_grad_enabled",
                "no_grad",
                "inference_mode",
                "enable_grad",
            ]
            .iter()
            .any(|m| function_text.contains(m))
            {
                continue;
            }
            let in_loop: Vec<_> = index
                .calls
                .iter()
                .filter(|c| lp.range.contains_range(c.range()))
                .collect();
            if in_loop.iter().any(|c| c.kind != CallKind::Other) {
                continue; // backward or steps: test-time training, not evaluation
            }
            let Some((call, model)) = in_loop.iter().find_map(|c| {
                if c.qualified.is_some() {
                    return None;
                }
                let callee = dotted(&c.expr.func)?;
                let trained = epoch
                    .training
                    .iter()
                    .any(|t| ctx.text(*t).contains(&format!("{callee}(")));
                (models.contains(&callee) && trained).then_some((*c, callee))
            }) else {
                continue;
            };
            reported.push(lid);
            let header = ctx.brief(lp.header);
            let call_text = ctx.text(call.range());
            let call_text = if call_text.contains('\n') || call_text.len() > 60 {
                format!("{model}(...)")
            } else {
                call_text.to_string()
            };
            let message = format!(
                "validation loop `{header}` runs `{call_text}` with autograd on: every forward records its graph and keeps activations for a backward that never comes"
            );
            let fix = Fix::new(
                "Run the validation pass under torch.inference_mode() (or torch.no_grad())",
            )
            .with_example(format!(
                "with torch.inference_mode():\n    {header}:\n        ..."
            ));
            ctx.report(lp.header, message, Some(fix));
        }
    }
    reported
}

/// Calls that load a trained model for use (the model they return is run, not trained).
const MODEL_LOADERS: &[&str] = &[
    "torch.load",
    "torch.jit.load",
    "torch.hub.load",
    "attempt_load",
    "load_model",
    "from_pretrained",
];

/// An inference script: a file that never trains, where a model put in eval mode or loaded
/// from a checkpoint is run in a loop over inputs with autograd on (`for path, img in
/// dataset: pred = model(img)` in `detect.py`). `Variable(x, volatile=True)` turns nothing
/// off since PyTorch 0.4.
fn inference_loops(ctx: &mut Context, reported: &[ruff_text_size::TextRange]) {
    let index = ctx.index;
    if ctx.is_test_file() || index.calls.iter().any(|c| c.kind != CallKind::Other) {
        return;
    }
    let models = inference_models(ctx);
    if models.is_empty() {
        return;
    }
    for lp in &index.loops {
        if reported
            .iter()
            .any(|r| r.contains_range(lp.range) || lp.range.contains_range(*r))
        {
            continue;
        }
        let scope_text = match lp.function {
            Some(f) => evaluation_functions::text_with_decorators(ctx, f),
            None => index.source.text.as_str(),
        };
        if evaluation_functions::GRAD_AWARE
            .iter()
            .any(|m| scope_text.contains(m))
            || evaluation_functions::wrapped_by_name(scope_text, &["grad", "inference", "eval"])
        {
            continue;
        }
        let runs: Vec<(&mleng_python::index::Call, String)> = index
            .calls
            .iter()
            .filter_map(|c| {
                if !lp.range.contains_range(c.range()) || index.evaluation.grad_free(c.range()) {
                    return None;
                }
                let callee = dotted(&c.expr.func)?;
                let ready = models.iter().any(|(function, name, at)| {
                    *function == lp.function && *name == callee && *at < lp.range.start()
                });
                (c.qualified.is_none() && ready).then_some((c, callee))
            })
            .collect();
        // The call whose output is kept (`pred = model(img)[0]`: it holds the graph) rather
        // than a warm-up call whose output is dropped (YOLOv7's `detect.py`).
        let kept = |c: &mleng_python::index::Call| {
            index
                .bindings
                .iter()
                .any(|b| ruff_text_size::Ranged::range(b.value).contains_range(c.range()))
        };
        let Some((call, model)) = runs
            .iter()
            .find(|(c, _)| kept(c))
            .or_else(|| runs.first())
            .map(|(c, m)| (*c, m.clone()))
        else {
            continue;
        };
        // Only the outermost such loop.
        if lp
            .parent
            .is_some_and(|p| index.loops[p].range.contains_range(call.range()))
        {
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
            "`{header}` runs `{call_text}` for inference with autograd on (nothing here trains, and no torch.no_grad()/inference_mode()): every forward records its graph and keeps activations for a backward that never comes"
        );
        let fix = Fix::new("Run inference under torch.inference_mode() (or torch.no_grad())")
            .with_example(format!(
                "with torch.inference_mode():\n    {header}:\n        ..."
            ));
        ctx.report(call.range(), message, Some(fix));
    }
}

/// Names that hold a model ready for inference, by scope and from where: put in eval mode
/// (`model.eval()`), or bound from a checkpoint loader (`model = attempt_load(weights)`,
/// `torch.load(path)`, `X.from_pretrained(...)`, not a tokenizer or processor).
fn inference_models(ctx: &Context) -> Vec<(Option<usize>, String, ruff_text_size::TextSize)> {
    let index = ctx.index;
    let mut out = Vec::new();
    for (id, c) in index.calls.iter().enumerate() {
        if c.method == Some("eval")
            && index.mode_switch(id) == Some(mleng_python::index::evaluation::Mode::Eval)
        {
            if let Some(receiver) = &c.receiver {
                out.push((c.function, receiver.clone(), c.start()));
            }
        }
    }
    for b in &index.bindings {
        let ruff_python_ast::Expr::Call(call) = b.value else {
            continue;
        };
        let call = mleng_python::index::literals::unchain(call);
        let Some(q) = index
            .qualified_name(&call.func)
            .or_else(|| dotted(&call.func))
        else {
            continue;
        };
        let last = q.rsplit('.').next().unwrap_or(&q);
        let not_a_model = ["Tokenizer", "Processor", "FeatureExtractor", "Config"]
            .iter()
            .any(|w| q.contains(w));
        if !not_a_model && MODEL_LOADERS.iter().any(|l| q == *l || last == *l) {
            out.push((b.function, b.target.clone(), b.range.start()));
        }
    }
    out
}

/// An evaluation function anywhere (`def evaluate(model, loader)`, a `validate` method): it
/// loops over data, runs the model, never steps or backpropagates, and nothing turns autograd
/// off, neither in it nor at any of its callers in the project (`with torch.no_grad():
/// evaluate(...)` in another file counts).
/// Returns the passes it reported (their loop ranges).
fn evaluation_functions(ctx: &mut Context, reported: &[usize]) -> Vec<ruff_text_size::TextRange> {
    let index = ctx.index;
    let mut passes = Vec::new();
    for eval in evaluation_functions::find(ctx) {
        if eval.generates {
            continue; // `generate()` runs under no_grad itself
        }
        // One forward in a prediction function without a loop: the graph of one call is not
        // worth a warning.
        let Some(pass) = eval.pass else {
            continue;
        };
        let lid = index.loops.iter().position(|l| std::ptr::eq(l, pass));
        if lid.is_some_and(|lid| reported.contains(&lid)) {
            continue;
        }
        let text = evaluation_functions::text_with_decorators(ctx, eval.function);
        if evaluation_functions::GRAD_AWARE
            .iter()
            .any(|m| text.contains(m))
            || evaluation_functions::wrapped_by_name(text, &["grad", "inference", "eval"])
        {
            continue;
        }
        let callers = evaluation_functions::callers(ctx, eval.function);
        if callers.iter().any(|(_, site)| site.grad_free) {
            continue;
        }
        // The fix may as well go around a call (`with torch.no_grad(): validate(...)`).
        let related = evaluation_functions::caller_locations(ctx, &callers);
        let header = ctx.brief(pass.header);
        let call_text = ctx.text(eval.model_call.range());
        let call_text = if call_text.contains('\n') || call_text.len() > 60 {
            format!("{}(...)", eval.model)
        } else {
            call_text.to_string()
        };
        let message = format!(
            "`{}()` runs `{call_text}` in `{header}` with autograd on (no torch.no_grad()/inference_mode() in it or around any of its calls in the project): every forward records its graph and keeps activations for a backward that never comes",
            eval.name
        );
        let fix = Fix::new(
            "Decorate the evaluation function with @torch.inference_mode() (or @torch.no_grad())",
        )
        .with_example(format!(
            "@torch.inference_mode()\ndef {}(...):\n    ...",
            eval.name
        ));
        let finding = ctx.report(eval.model_call.range(), message, Some(fix));
        for location in related {
            finding.relate(location, format!("`{}()` is called here", eval.name));
        }
        passes.push(pass.range);
    }
    passes
}
