use std::collections::HashMap;

use mleng_diagnostics::{Area, Fix, Location, Severity, Span};
use mleng_project::Symbol;
use mleng_python::index::evaluation::Mode;
use mleng_python::index::literals::dotted;
use ruff_text_size::Ranged;

use super::epoch_facts::{epochs, model_escapes};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN015",
    name: "train-mode-not-restored",
    area: Area::Training,
    severity: Severity::Error,
    fix: None,
    summary:
        "model.eval() inside the epoch loop with no model.train() before the next epoch's training.",
    docs: r#"## What it does
Finds epoch loops (a loop around the batch training loop, or around a call to a local function
that trains) in which the model is put in evaluation mode (`model.eval()` or `model.train(False)`,
directly or in a local helper such as `validate()`) but nothing in the epoch, including the
training helper, puts it back with `model.train()`. The same in a batch loop that evaluates
every k steps. Helpers are followed through the project model: functions of other files,
closures defined in the same function (`def _eval_epoch():` inside `main()`), and methods
called through `self` (a `Trainer`'s `self.validate()`, also inherited). A helper handed a model
that is not the one trained (an EMA copy, `eval_model`), or handed two of the models the loop
runs, is left alone. It also reports a method of a class that trains which switches to eval
mode, runs the model, and "restores" the mode with a second `.eval()` where `.train()` was
meant.

## Why is this bad?
`eval()` is sticky. From the second epoch on, the model trains in evaluation mode: dropout is off
(no regularisation) and BatchNorm normalises with its frozen running statistics instead of batch
statistics and stops updating them. Training still converges, just to a worse model, and the
cause is invisible in the loss curve. The usual shape: `model.train()` once before the epoch loop,
`model.eval()` for validation inside it.

## Example
```python
model.train()
for epoch in range(epochs):
    for x, y in train_loader:
        ...
    model.eval()
    with torch.no_grad():
        validate(model, val_loader)
```

## Use instead
```python
for epoch in range(epochs):
    model.train()
    for x, y in train_loader:
        ...
    model.eval()
    with torch.no_grad():
        validate(model, val_loader)
```

Training and evaluation helpers in other files (`train_one_epoch(...)`, `evaluate(...)` from
`engine.py`) are read through the project model: what each sets (`eval()`, `train()`) and
whether it trains, through its own helpers, a few calls deep.

## Known problems
If the epoch passes the model to a function the review cannot see (another package, a
framework), that function may call `train()`, so nothing is reported.

## References
- PyTorch `nn.Module.train` / `eval` (affects Dropout, BatchNorm): <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval>
- PyTorch tutorial, optimization loop (`model.train()` at the start of every training pass): <https://pytorch.org/tutorials/beginner/basics/optimization_tutorial.html#full-implementation>
"#,
    check,
};

/// The related location at the training loop's header: where the other fix goes.
const LOOP_NOTE: &str = "the loop that trains (`.train()` at the start of each pass also fixes it)";

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    let mut reported = Vec::new();
    let mut reported_loops = Vec::new();
    for epoch in epochs(index) {
        let switches: Vec<_> = epoch.switches(index).collect();
        if switches.iter().any(|(_, m)| *m == Mode::Train) {
            continue;
        }
        let Some(&(eval_call, _)) = switches.iter().find(|(_, m)| *m == Mode::Eval) else {
            continue;
        };
        // Two epoch loops calling the same `evaluate()` helper: one mistake, one finding.
        if reported.contains(&eval_call) {
            continue;
        }
        let call = &index.calls[eval_call];
        let Some(model) = call.receiver.clone() else {
            continue;
        };
        let called = format!("{model}(");
        let trains_model = epoch
            .training
            .iter()
            .any(|r| ctx.text(*r).contains(&called))
            || ctx.text(index.loops[epoch.loop_id].range).contains(&called);
        if !trains_model || model_escapes(index, &epoch, &model) {
            continue;
        }
        let eval_text = ctx.text(call.range()).to_string();
        let header = ctx.brief(index.loops[epoch.loop_id].header);
        let where_ = if index.loops[epoch.loop_id]
            .range
            .contains_range(call.range())
        {
            "in"
        } else {
            "in a helper called by"
        };
        let message = format!(
            "`{eval_text}` runs {where_} the epoch loop `{header}` ({}) and nothing calls `{model}.train()` before the next epoch: from the second epoch on the model trains in eval mode (no dropout, frozen BatchNorm statistics)",
            ctx.where_is(index.loops[epoch.loop_id].header)
        );
        let fix = Fix::new(format!(
            "Call `{model}.train()` at the start of every epoch's training pass"
        ))
        .with_example(format!("{header}:\n    {model}.train()\n    ...  # training\n    {eval_text}\n    ...  # validation"));
        let at_loop = ctx.location(index.loops[epoch.loop_id].header);
        ctx.report(call.range(), message, Some(fix))
            .relate(at_loop, LOOP_NOTE);
        reported.push(eval_call);
        reported_loops.push(epoch.loop_id);
    }
    through_helpers(ctx, &reported, &reported_loops);
    restored_as_eval(ctx);
}

/// A method that switches the model to eval mode, runs it, and at its end "restores" the mode
/// with a second `.eval()` where `.train()` was meant (torchtuples' `predict_dataloader`
/// until its fix): in a class that trains, every prediction made during training leaves the
/// model in eval mode for the rest of the fit.
fn restored_as_eval(ctx: &mut Context) {
    use mleng_python::index::CallKind;
    let index = ctx.index;
    for (fid, function) in index.functions.iter().enumerate() {
        let Some(class) = function.class else {
            continue;
        };
        let trains = index.classes[class].methods.iter().any(|&m| {
            index
                .calls_in_function(m)
                .any(|(_, c)| c.kind == CallKind::Backward)
        });
        if !trains {
            continue;
        }
        let calls: Vec<(usize, &mleng_python::index::Call)> =
            index.calls_in_function(fid).collect();
        if calls.iter().any(|(_, c)| c.method == Some("train")) {
            continue;
        }
        let evals: Vec<&mleng_python::index::Call> = calls
            .iter()
            .filter(|(id, _)| index.mode_switch(*id) == Some(Mode::Eval))
            .map(|(_, c)| *c)
            .collect();
        let [first, .., last] = evals.as_slice() else {
            continue;
        };
        let Some(model) = first.receiver.clone() else {
            continue;
        };
        if last.receiver.as_deref() != Some(model.as_str()) {
            continue;
        }
        let called = |c: &&(usize, &mleng_python::index::Call)| {
            dotted(&c.1.expr.func).as_deref() == Some(model.as_str())
        };
        // The model runs between the two switches, and never after the second.
        let between = calls
            .iter()
            .filter(called)
            .any(|(_, c)| c.start() > first.start() && c.start() < last.start());
        let after = calls
            .iter()
            .filter(called)
            .any(|(_, c)| c.start() > last.start());
        if !between || after {
            continue;
        }
        let message = format!(
            "`{}` at the end of `{}()` sets eval mode a second time where the mode was to be restored: the class trains, and after this call the model stays in eval mode (no dropout, frozen BatchNorm statistics) for whatever training follows",
            ctx.text(last.range()),
            function.name
        );
        let fix = Fix::new(format!(
            "Restore the mode the model had: remember `was_training = {model}.training` before `.eval()` and call `{model}.train(was_training)` at the end"
        ))
        .with_example(format!(
            "was_training = {model}.training\n{model}.eval()\n...\n{model}.train(was_training)"
        ));
        ctx.report(last.range(), message, Some(fix));
    }
}

/// What one call in an epoch loop does to the model's mode, as the project model sees it.
struct Event {
    call: usize,
    sets_eval: bool,
    sets_train: bool,
    trains: bool,
    /// A call of a project function (not a direct `model.eval()` or `loss.backward()`).
    helper: bool,
}

/// Loops that train, directly or through helpers of any file (`train_one_epoch(...)` from
/// `engine.py`), and switch to eval mode through a helper (`evaluate(...)`, or a `test()` run
/// every 100 steps inside the batch loop): the mode each helper sets is read from the project
/// model's summaries, through the helpers' own calls.
fn through_helpers(ctx: &mut Context, reported: &[usize], reported_loops: &[usize]) {
    let index = ctx.index;
    let mut reported = reported.to_vec();
    // What each call resolves to, once per file: a project symbol, and for a function what
    // it does.
    // A file calls the same names again and again (`self.norm`, `torch.cat`): resolve each
    // callee, in its class, once.
    let mut memo: HashMap<(Option<usize>, String), Option<Symbol>> = HashMap::new();
    let symbols: Vec<Option<Symbol>> = index
        .calls
        .iter()
        .enumerate()
        .map(|(id, call)| {
            let class = call.function.and_then(|f| index.functions[f].class);
            let callee = dotted(&call.expr.func)?;
            *memo
                .entry((class, callee))
                .or_insert_with(|| ctx.resolve_call(id))
        })
        .collect();
    let resolved: Vec<Option<mleng_project::Behaviour>> = symbols
        .iter()
        .map(|symbol| match symbol {
            Some(symbol @ Symbol::Function(..)) => Some(ctx.project.behaviour(*symbol)),
            _ => None,
        })
        .collect();
    // Nothing trains in this file, directly or through a helper: nothing to judge.
    let trains_here = index
        .calls
        .iter()
        .any(|c| c.kind != mleng_python::index::CallKind::Other)
        || resolved.iter().flatten().any(|b| b.trains());
    if !trains_here {
        return;
    }
    for lp in &index.loops {
        // Loops the pass above judged (an epoch loop, or one inside or around it).
        if reported_loops.iter().any(|&l| {
            let r = index.loops[l].range;
            r.contains_range(lp.range) || lp.range.contains_range(r)
        }) {
            continue;
        }
        let mut events = Vec::new();
        let mut unknown_callees = Vec::new();
        for (id, call) in index.calls.iter().enumerate() {
            if !lp.range.contains_range(call.range()) {
                continue;
            }
            if let Some(mode) = index.mode_switch(id) {
                events.push(Event {
                    call: id,
                    sets_eval: mode == Mode::Eval,
                    sets_train: mode == Mode::Train,
                    trains: false,
                    helper: false,
                });
                continue;
            }
            if call.kind != mleng_python::index::CallKind::Other {
                events.push(Event {
                    call: id,
                    sets_eval: false,
                    sets_train: false,
                    trains: true,
                    helper: false,
                });
                continue;
            }
            if dotted(&call.expr.func).is_none() {
                continue;
            }
            match resolved[id] {
                Some(b) => {
                    if b.sets_eval || b.sets_train || b.trains() {
                        events.push(Event {
                            call: id,
                            sets_eval: b.sets_eval,
                            sets_train: b.sets_train,
                            trains: b.trains(),
                            helper: true,
                        });
                    }
                }
                None if call
                    .qualified
                    .as_deref()
                    .is_some_and(|q| q.starts_with("torch.")) => {}
                None => match symbols[id] {
                    // A class or module of the project: not an unknown function.
                    Some(_) => {}
                    None => unknown_callees.push(id),
                },
            }
        }
        if !events.iter().any(|e| e.trains) || events.iter().any(|e| e.sets_train) {
            continue;
        }
        // `transformer.to(device).train()`: a `.train()` on any receiver may restore the mode.
        if index
            .calls
            .iter()
            .any(|c| lp.range.contains_range(c.range()) && c.method == Some("train"))
        {
            continue;
        }
        // A direct `model.eval()` in a loop with direct training is the pass above's.
        let Some(eval) = events
            .iter()
            .find(|e| e.sets_eval && index.mode_switch(e.call).is_none())
            .or_else(|| events.iter().find(|e| e.sets_eval))
        else {
            continue;
        };
        if reported.contains(&eval.call) {
            continue;
        }
        // One helper that both trains and evaluates (`run(args)` building, fitting and
        // scoring a fresh model per configuration) orders its own modes.
        if eval.trains {
            continue;
        }
        // The model the evaluation is about: the receiver of `model.eval()`, or what the
        // evaluating call is given. A call we cannot see that receives it may call `train()`.
        let eval_call = &index.calls[eval.call];
        // (A helper's receiver is not the model: `self.validate()` evaluates `self.model`.)
        let direct = index.mode_switch(eval.call).is_some();
        // A helper handed two of the models the loop runs (DINOv2's linear evaluation passes
        // the frozen backbone and the trained heads): which one it switches to eval mode is
        // not visible here.
        if !direct {
            let runs: Vec<String> = index
                .calls
                .iter()
                .filter(|c| lp.range.contains_range(c.range()))
                .filter_map(|c| dotted(&c.expr.func))
                .collect();
            let mut handed: Vec<String> = eval_call
                .argument_values()
                .filter_map(|a| match a {
                    // `remove_ddp_wrapper(heads)`, `unwrap(model)`: the model inside.
                    ruff_python_ast::Expr::Call(c) => c.arguments.args.first().and_then(dotted),
                    other => dotted(other),
                })
                .filter(|name| runs.contains(name))
                .collect();
            handed.sort();
            handed.dedup();
            if handed.len() >= 2 {
                continue;
            }
        }
        // A helper's first argument is the model only if the loop runs it (`evaluate(model,
        // loader)`); `self.eval_model(eval_df)` is handed data, and works on `self.model`.
        let runs_in_loop = |name: &str| {
            index.calls.iter().any(|c| {
                lp.range.contains_range(c.range())
                    && c.range() != eval_call.range()
                    && (dotted(&c.expr.func).is_some_and(|f| {
                        f == name || f.strip_prefix(name).is_some_and(|r| r.starts_with('.'))
                    }) || c
                        .expr
                        .arguments
                        .args
                        .iter()
                        .any(|a| dotted(a).as_deref() == Some(name)))
            })
        };
        // A name that reads as a model (`ema.ema`, `image_encoder`, `eval_model`), passed by
        // position or as `model=`: the model the helper evaluates, trained here or not.
        let model_like = |name: &str| {
            let last = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
            [
                "model",
                "net",
                "encoder",
                "ema",
                "classifier",
                "backbone",
                "module",
            ]
            .iter()
            .any(|w| last.contains(w))
        };
        let model = if direct {
            eval_call.receiver.clone()
        } else {
            let keyword_model = eval_call
                .expr
                .arguments
                .keywords
                .iter()
                .filter(|k| k.arg.as_ref().is_some_and(|a| model_like(a.as_str())))
                .find_map(|k| dotted(&k.value));
            eval_call
                .expr
                .arguments
                .args
                .first()
                .and_then(dotted)
                .filter(|a| runs_in_loop(a) || model_like(a))
                .or(keyword_model)
        };
        // The evaluated model must be the trained one: `evaluate(eval_model, ...)` on a copy
        // (`eval_model.load_state_dict(model.state_dict())`) leaves `model` in train mode.
        if let Some(model) = &model {
            // The evaluated model is the trained one, or a part of it (`model.module` of a DDP
            // wrapper: its eval() switches the trained model's layers too).
            let is_trained = |trained: &str| {
                model == trained
                    || model
                        .strip_prefix(trained)
                        .is_some_and(|rest| rest.starts_with('.'))
            };
            let trained = events.iter().filter(|e| e.trains).any(|e| {
                let c = &index.calls[e.call];
                c.argument_values()
                    .any(|a| dotted(a).is_some_and(|a| is_trained(&a)))
            }) || index.calls.iter().any(|c| {
                // Run with autograd on: sampling from an EMA copy under no_grad is not training.
                lp.range.contains_range(c.range())
                    && !index.evaluation.grad_free(c.range())
                    && dotted(&c.expr.func).is_some_and(|f| is_trained(&f))
            });
            if !trained {
                continue;
            }
        }
        // A model of this file that computes the same in both modes (Linear and ReLU only):
        // eval() changes nothing, so not restoring train() changes nothing either.
        if model
            .as_deref()
            .is_some_and(|m| super::loop_facts::mode_free_here(ctx, m))
        {
            continue;
        }
        // A helper that takes no model works on a global one (`test()` in a script).
        let known_model = model.is_some();
        let model = model.unwrap_or_else(|| "model".to_string());
        let escapes = known_model
            && unknown_callees.iter().any(|&id| {
                let c = &index.calls[id];
                c.argument_values()
                    .any(|a| dotted(a).as_deref() == Some(model.as_str()))
            });
        if escapes {
            continue;
        }
        let trainer = events
            .iter()
            .find(|e| e.trains && e.helper)
            .map(|e| ctx.text(index.calls[e.call].expr.func.range()).to_string())
            .unwrap_or_default();
        let eval_text = ctx.text(eval_call.range());
        let eval_text = if eval_text.contains('\n') || eval_text.len() > 60 {
            format!("{}(...)", ctx.text(eval_call.expr.func.range()))
        } else {
            eval_text.to_string()
        };
        let header = ctx.brief(lp.header);
        let trained_by = if trainer.is_empty() {
            String::new()
        } else {
            format!(" (`{trainer}` included, through its helpers)")
        };
        let message = format!(
            "`{eval_text}` puts the model in eval mode in the loop `{header}`, which trains, and nothing in the loop{trained_by} calls `.train()` again: after the first evaluation the model trains in eval mode (no dropout, frozen BatchNorm statistics)"
        );
        let fix = if known_model {
            Fix::new(format!(
                "Call `{model}.train()` again after evaluating (or at the start of each training pass)"
            ))
            .with_example(format!("{eval_text}\n{model}.train()"))
        } else {
            Fix::new("Call `.train()` on the model again after evaluating (or at the start of each training pass)")
        };
        let at_loop = ctx.location(lp.header);
        // The helper's end is the other place the fix can go (restore the mode it found).
        let helper_end = match ctx.resolve_call(eval.call) {
            Some(symbol @ Symbol::Function(..)) if !direct => {
                ctx.project.function(symbol).and_then(|f| {
                    let spot = f.last_statement?;
                    let mut location = Location::file(ctx.project.path_of(symbol).to_path_buf());
                    location.cell = spot.cell;
                    location.span = Some(Span::point(spot.line, spot.column));
                    Some((location, f.name.clone()))
                })
            }
            _ => None,
        };
        let finding = ctx.report(eval_call.range(), message, Some(fix));
        finding.relate(at_loop, LOOP_NOTE);
        if let Some((location, name)) = helper_end {
            finding.relate(
                location,
                format!("`{name}` ends here with the model still in eval mode: restoring `.train()` here also fixes it"),
            );
        }
        reported.push(eval.call);
    }
}
