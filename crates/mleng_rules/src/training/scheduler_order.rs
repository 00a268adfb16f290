use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::training::{helper_targets, TrainingScope};
use mleng_python::index::{CallId, CallKind, FunctionId, LoopId};
use mleng_python::SemanticIndex;
use ruff_text_size::TextSize;

use mleng_knowledge::schedulers::{epoch_scheduler, MAX_EPOCH_PERIOD, MAX_PER_EPOCH_GAMMA};
use mleng_python::index::literals::{self, dotted};
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::Ranged;

use super::loop_facts::exclusive;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN009",
    name: "scheduler-before-optimizer",
    area: Area::Training,
    severity: Severity::Warning,
    fix: None,
    summary: "LR scheduler stepped before optimizer.step() in the iteration, a per-batch schedule (OneCycleLR, warmup) stepped per epoch or a per-epoch one (StepLR, CosineAnnealingLR over epochs) per batch, or ReduceLROnPlateau.step() without a metric.",
    docs: r#"## What it does
Looks at how a PyTorch learning-rate scheduler (`torch.optim.lr_scheduler.*`, or a Hugging Face
`get_*_schedule*` warmup schedule) is stepped relative to training:

- `scheduler.step()` runs in an iteration before any `optimizer.step()`: inside the batch loop
  before the optimizer step, or at the top of the epoch loop before the epoch's training;
- a per-batch schedule (`OneCycleLR`, `CyclicLR`, `transformers.get_*_schedule_with_warmup`) is
  stepped once per epoch, outside the batch loop;
- a per-epoch schedule (`StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`) is
  stepped every batch, inside the batch loop, while its period is an epoch count
  (`T_max=args.epochs`, `milestones=[30, 60, 90]`, `gamma=0.95`);
- `CosineAnnealingWarmRestarts` is stepped every batch without the fractional epoch that the
  PyTorch docs pass for per-batch stepping (`scheduler.step(epoch + i / iters)`);
- `ReduceLROnPlateau.step()` is called without the metric it monitors (error);
- a per-batch schedule is returned from a Lightning `configure_optimizers` without
  `"interval": "step"` (in `[opt], [sched]`, `{"optimizer": ..., "lr_scheduler": ...}` or a
  scheduler config dict): Lightning's default interval is `"epoch"`.

The scheduler's type comes from its constructor in the file, from a project class derived
from a torch scheduler (`class WarmUpLR(_LRScheduler)` in `utils.py`), or from what every
caller in the project passes; where none is visible (a factory's result) and the name says
scheduler, only the ordering is checked. A step under a condition about the epoch
(`if epoch <= args.warm:`) still counts; one under a `%` condition (accumulation, every k
steps) is another schedule and is left alone.

## Why is this bad?
Since PyTorch 1.1 the scheduler must be stepped *after* the optimizer: stepping it first skips the
first value of the schedule (PyTorch warns once, "Detected call of `lr_scheduler.step()` before
`optimizer.step()`"), so warmup starts one step late and every epoch-based milestone fires one
epoch early. A per-batch schedule stepped per epoch runs `total_steps` epochs long: `OneCycleLR`
never leaves its warm-up (the learning rate stays near `max_lr / 25` for the whole run), and a
linear warmup over 1000 steps takes 1000 epochs. The reverse is as bad: `CosineAnnealingLR(T_max=90)`
stepped per batch finishes its cosine after 90 batches and climbs back up, `MultiStepLR`
milestones meant as epochs 30/60/90 cut the rate 1000x within the first hundred batches, and
`ExponentialLR(gamma=0.95)` per batch leaves 0.95^1000 = 5e-23 of the rate after 1000 batches.
`CosineAnnealingWarmRestarts.step()` without an argument counts each call as a whole epoch, so
`T_0=10` restarts every 10 batches. `ReduceLROnPlateau.step()` requires the metric
and raises `TypeError` without it.

## Example
```python
scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=len(loader) * epochs)
for epoch in range(epochs):
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    scheduler.step()
```

## Use instead
```python
for epoch in range(epochs):
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
        scheduler.step()  # OneCycleLR steps once per batch
```

## Known problems
Schedulers from other libraries (timm, custom classes) are not checked: many set the rate for the
coming step and are meant to be stepped first. A `scheduler.step()` under a condition, or with an
explicit epoch argument, is not reported. A per-epoch schedule stepped per batch is reported only
when its period is visibly in epochs (a literal of at most 300, or an expression naming epochs and
nothing per-iteration): `T_max=epochs * len(loader)`, `total_steps` or `max_iters` mean the
schedule is counted in iterations and is stepped per batch on purpose; a loop over epochs that
trains on the whole data set each pass (full-batch training) is not a batch loop.

## References
- PyTorch, "How to adjust learning rate" (scheduler after optimizer since 1.1.0): <https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate>
- PyTorch `OneCycleLR` ("should be called after a batch has been used for training"): <https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html>
- PyTorch `CosineAnnealingWarmRestarts` (per-batch `scheduler.step(epoch + i / iters)`): <https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingWarmRestarts.html>
- PyTorch `ReduceLROnPlateau.step(metrics)`: <https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html>
- Hugging Face optimization schedules (stepped per training step): <https://huggingface.co/docs/transformers/main_classes/optimizer_schedules>
"#,
    check,
};

/// Schedules meant to be stepped after every batch.
fn per_batch(ty: &str) -> bool {
    let last = ty.rsplit('.').next().unwrap_or(ty);
    matches!(last, "OneCycleLR" | "CyclicLR")
        || (ty.starts_with("transformers.")
            && last.starts_with("get_")
            && last.contains("schedule"))
}

/// The type of a scheduler whose constructor cannot be seen: only the ordering check runs.
const UNSEEN: &str = "scheduler";

/// A project class derived from a torch scheduler (`class WarmUpLR(_LRScheduler)` in
/// `utils.py`), built here or passed in by every caller in the project.
fn project_scheduler(ctx: &Context, call: CallId) -> Option<String> {
    let index = ctx.index;
    let c = &index.calls[call];
    let receiver = c.receiver.as_deref()?;
    let written = index
        .constructor_call_of(receiver)
        .and_then(|ctor| dotted(&ctor.func))
        .map(|text| (ctx.module, text))
        .or_else(|| {
            let symbol = ctx.project_function(c.function?)?;
            let passed = ctx.project.argument_type(symbol, receiver)?;
            Some((passed.module, passed.text))
        })?;
    let class = ctx.project.class_of(written.0, &written.1)?;
    let derived = ctx.project.class_chain(class).iter().any(|&s| {
        ctx.project.class(s).is_some_and(|k| {
            k.bases
                .iter()
                .any(|b| b.starts_with("torch.optim.lr_scheduler."))
        })
    });
    derived.then(|| "torch.optim.lr_scheduler._LRScheduler".to_string())
}

fn known_scheduler(ty: &str) -> bool {
    ty.starts_with("torch.optim.lr_scheduler.")
        || (ty.starts_with("transformers.") && ty.contains("schedule"))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let training_functions: HashSet<FunctionId> = index
        .training_loops
        .iter()
        .filter_map(|lp| lp.function)
        .collect();
    for (id, call) in index.calls.iter().enumerate() {
        if call.method != Some("step") {
            continue;
        }
        // The scheduler's type: a torch (or Hugging Face) scheduler built here, a project class
        // derived from one, or, for the ordering check only, a scheduler whose constructor is
        // out of sight (a parameter, a factory) but whose name says what it is.
        let Some(ty) = scheduler_type(index, id)
            .filter(|t| known_scheduler(t))
            .or_else(|| project_scheduler(ctx, id))
            .or_else(|| (call.kind == CallKind::SchedulerStep).then(|| UNSEEN.to_string()))
        else {
            continue;
        };
        let ty = ty.as_str();
        let text = ctx.text(call.range()).to_string();
        let has_args = call.arg(0).is_some() || !call.expr.arguments.keywords.is_empty();
        let short = ty.rsplit('.').next().unwrap_or(ty).to_string();
        if short == "ReduceLROnPlateau" {
            if !has_args {
                let receiver = call.receiver.clone().unwrap_or_else(|| "scheduler".into());
                let fix = Fix::new("Pass the monitored metric (the validation loss, or the metric with mode=\"max\")")
                    .with_replacement(format!("{receiver}.step(val_loss)"));
                ctx.report_with_severity(
                    call.range(),
                    Severity::Error,
                    format!("`{text}` on a ReduceLROnPlateau has no metric: it raises TypeError (`step(metrics)` is required)"),
                    Some(fix),
                );
            }
            continue;
        }
        if has_args || call.kind != CallKind::SchedulerStep {
            continue;
        }
        let Some(&lid) = call.loops.last() else {
            continue;
        };
        if deliberate(index, id) {
            continue;
        }
        let steps = step_positions(ctx, lid, &training_functions);
        if steps.is_empty() {
            continue;
        }
        if !on_iteration_path(index, id, lid) {
            // Under a condition about the epoch or step (`if epoch <= args.warm:`), the step
            // still runs before the optimizer's in those iterations; a condition with `%`
            // (accumulation, every k steps) is another schedule, left alone, unless the
            // optimizer steps under the same condition (the accumulation boundary of both).
            let guarded_only = !index
                .flow
                .off_normal_path(call.range(), index.loops[lid].range.end())
                && index
                    .flow
                    .guards(call.range())
                    .filter(|(block, _)| index.loops[lid].range.contains_range(block.range))
                    .all(|(block, in_body)| {
                        !ctx.text(block.test.range()).contains('%')
                            || (in_body
                                && steps.iter().any(|&(_, s)| {
                                    block.body.contains_range(index.calls[s].range())
                                }))
                    });
            if !guarded_only {
                continue;
            }
        }
        let in_batch_loop = index
            .training_loops
            .iter()
            .any(|lp| matches!(lp.scope, TrainingScope::Loop(l) if l == lid));
        if in_batch_loop {
            if let Some(found) = per_epoch_stepped_per_batch(ctx, id, lid, ty) {
                let (message, fix) = found;
                ctx.report(call.range(), message, Some(fix));
                continue;
            }
        }
        if per_batch(ty) && !in_batch_loop {
            let message = format!(
                "`{text}` steps a per-batch schedule ({short}) once per epoch: its `total_steps` are counted in epochs, so the schedule never gets past its warm-up"
            );
            let fix = Fix::new("Step it right after optimizer.step(), inside the batch loop")
                .with_example(format!("optimizer.step()\n{text}"));
            ctx.report(call.range(), message, Some(fix));
            continue;
        }
        // Optimizer steps in another branch of the same `if` never run in the scheduler's
        // iteration (`if epoch < warm: train(warm_opt) else: sched.step(); train(opt)`).
        let steps: Vec<(TextSize, CallId)> = steps
            .into_iter()
            .filter(|&(_, s)| !exclusive(ctx, index.calls[s].range(), call.range()))
            .collect();
        if steps.is_empty() {
            continue;
        }
        let before = steps.iter().all(|&(pos, _)| pos > call.start());
        if before {
            let (_, first) = steps[0];
            let first_text = ctx.text(index.calls[first].range());
            let first_text = if first_text.contains('\n') {
                "optimizer.step()".to_string()
            } else {
                first_text.to_string()
            };
            let what = if index.calls[first].kind.is_step() {
                format!("`{first_text}`")
            } else {
                format!("the optimizer steps in `{first_text}`")
            };
            let message = format!(
                "`{text}` runs before {what} ({}) in each iteration: since PyTorch 1.1 the scheduler steps after the optimizer, otherwise the first value of the schedule is skipped",
                ctx.where_is(index.calls[first].range())
            );
            let fix = Fix::new("Move the scheduler step after the optimizer step")
                .with_example(format!("{first_text}\n{text}"));
            ctx.report(call.range(), message, Some(fix));
        }
    }
    lightning_epoch_stepped(ctx);
}

/// A per-batch schedule handed to Lightning from `configure_optimizers` without
/// `"interval": "step"`: Lightning steps it once per epoch.
fn lightning_epoch_stepped(ctx: &mut Context) {
    for found in super::lightning_schedulers::epoch_stepped(ctx.index, per_batch) {
        let short = found.ty.rsplit('.').next().unwrap_or(&found.ty).to_string();
        let how = if found.explicit_epoch {
            "with `\"interval\": \"epoch\"`"
        } else {
            "without `\"interval\": \"step\"`"
        };
        let message = format!(
            "`{short}` is returned from `configure_optimizers` {how}: Lightning steps it once per epoch, but it is a per-batch schedule, so its warm-up or cycle lasts as many epochs as it has steps"
        );
        let fix = Fix::new("Return the scheduler in a config dict with `\"interval\": \"step\"`")
            .with_example(
                "return {\n    \"optimizer\": optimizer,\n    \"lr_scheduler\": {\"scheduler\": scheduler, \"interval\": \"step\"},\n}",
            );
        ctx.report(found.range, message, Some(fix));
    }
}

/// A per-epoch scheduler (`StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`,
/// `CosineAnnealingWarmRestarts` without the fractional epoch) stepped in the batch loop `lid`,
/// when its period is visibly an epoch count: a small literal, or an expression that names
/// epochs and nothing per-iteration (`T_max=args.epochs`, not `epochs * len(loader)`).
fn per_epoch_stepped_per_batch(
    ctx: &Context,
    call: CallId,
    lid: LoopId,
    ty: &str,
) -> Option<(String, Fix)> {
    let index = ctx.index;
    let sched = epoch_scheduler(ty)?;
    // A loop over epochs that trains on the whole data set each pass (full-batch training).
    let header = ctx.text(index.loops[lid].header).to_ascii_lowercase();
    if header.contains("epoch") {
        return None;
    }
    let ctor = scheduler_ctor(index, call)?;
    let period = argument(ctor, sched.position, sched.period)?;
    let period_text = ctx.text(period.range());
    let in_epochs = if sched.period == "gamma" {
        literals::number(period).is_some_and(|g| g > 0.0 && g <= MAX_PER_EPOCH_GAMMA)
    } else {
        period_in_epochs(ctx, period)
    };
    if !in_epochs {
        return None;
    }
    let c = &index.calls[call];
    let text = ctx.text(c.range());
    let receiver = c.receiver.as_deref().unwrap_or("scheduler");
    let loop_over = index.loops[lid]
        .iterates_over
        .as_deref()
        .map(|l| format!(" over `{l}`"))
        .unwrap_or_default();
    let loader = index.loops[lid]
        .iterates_over
        .as_deref()
        .unwrap_or("loader");
    let (message, fix) = if sched.fractional_epoch {
        (
            format!(
                "`{text}` steps {} (`{}={period_text}`, counted in epochs) once per batch without the epoch: each batch counts as a whole epoch, so the cosine restarts every {period_text} batches",
                sched.name, sched.period
            ),
            Fix::new("Pass the fractional epoch, as the PyTorch docs show for per-batch stepping")
                .with_example(format!(
                    "for i, batch in enumerate({loader}):\n    ...\n    optimizer.step()\n    {receiver}.step(epoch + i / len({loader}))"
                )),
        )
    } else {
        let effect = if sched.period == "gamma" {
            format!("the rate is multiplied by {period_text} after every batch and reaches ~0 within a few hundred batches")
        } else {
            format!("`{}={period_text}` is an epoch count but the schedule advances once per batch, so it is spent after that many batches instead of epochs", sched.period)
        };
        (
            format!(
                "`{text}` steps a per-epoch schedule ({}) inside the batch loop{loop_over}: {effect}",
                sched.name
            ),
            Fix::new(format!("Step it once per epoch, after the batch loop (or give `{}` in iterations, multiplied by `len({loader})`)", sched.period))
                .with_example(format!(
                    "for epoch in range(epochs):\n    for batch in {loader}:\n        ...\n        optimizer.step()\n    {text}"
                )),
        )
    };
    Some((message, fix))
}

/// A period given in epochs: number literals (or a list of them) no larger than
/// [`MAX_EPOCH_PERIOD`], or expressions that mention epochs and nothing counted in iterations.
fn period_in_epochs(ctx: &Context, period: &Expr) -> bool {
    if let Some(values) =
        literals::numbers(period).or_else(|| literals::number(period).map(|v| vec![v]))
    {
        return !values.is_empty() && values.iter().all(|&v| v > 0.0 && v <= MAX_EPOCH_PERIOD);
    }
    let items: Vec<&Expr> = match period {
        Expr::List(l) => l.elts.iter().collect(),
        Expr::Tuple(t) => t.elts.iter().collect(),
        other => vec![other],
    };
    !items.is_empty()
        && items.iter().all(|e| {
            let t = ctx.text(e.range()).to_ascii_lowercase();
            literals::number(e).is_some_and(|v| v <= MAX_EPOCH_PERIOD)
                || (t.contains("epoch")
                    && !["len(", "step", "iter", "batch", "loader", "size", "total"]
                        .iter()
                        .any(|w| t.contains(w)))
        })
}

/// The scheduler's type: the qualified name of its constructor call.
fn scheduler_type(index: &SemanticIndex, call: CallId) -> Option<String> {
    index.qualified_name(&scheduler_ctor(index, call)?.func)
}

/// The scheduler's constructor call, scoped: the last binding of the receiver in the same
/// function before the call; for `self.x` one in the same class; else a file-wide binding only
/// when every binding of that name in the file calls the same constructor.
fn scheduler_ctor<'a>(index: &SemanticIndex<'a>, call: CallId) -> Option<&'a ExprCall> {
    let c = &index.calls[call];
    let receiver = c.receiver.as_deref()?;
    let ctor = |b: &mleng_python::index::Binding<'a>| match b.value {
        Expr::Call(v) => index.qualified_name(&v.func).map(|q| (q, v)),
        _ => None,
    };
    let same = |b: &&mleng_python::index::Binding| b.target == receiver;
    if let Some((_, local)) = index
        .bindings
        .iter()
        .filter(same)
        .filter(|b| b.function == c.function && b.range.end() <= c.start())
        .filter_map(ctor)
        .next_back()
    {
        return Some(local);
    }
    let scope: Vec<(String, &'a ExprCall)> = if receiver.starts_with("self.") {
        index
            .bindings
            .iter()
            .filter(same)
            .filter(|b| b.class == c.class)
            .filter_map(ctor)
            .collect()
    } else {
        index
            .bindings
            .iter()
            .filter(same)
            .filter_map(ctor)
            .collect()
    };
    let (first, call) = scope.first()?;
    scope.iter().all(|(t, _)| t == first).then_some(*call)
}

/// Positional argument `position` of a call, or its keyword `name`.
fn argument<'a>(call: &'a ExprCall, position: usize, name: &str) -> Option<&'a Expr> {
    call.arguments
        .keywords
        .iter()
        .find(|kw| kw.arg.as_ref().is_some_and(|a| a.as_str() == name))
        .map(|kw| &kw.value)
        .or_else(|| call.arguments.args.get(position))
}

/// Code that steps first on purpose and compensates: it sets `<scheduler>.last_epoch` or
/// silences PyTorch's order warning around the call (`warnings.catch_warnings()`).
fn deliberate(index: &SemanticIndex, call: CallId) -> bool {
    let c = &index.calls[call];
    let Some(receiver) = c.receiver.as_deref() else {
        return false;
    };
    let last_epoch = format!("{receiver}.last_epoch");
    let sets_last_epoch = index.bindings.iter().any(|b| b.target == last_epoch);
    let silenced = index.withs.iter().any(|w| {
        w.stmt.range.contains_range(c.range())
            && w.contexts
                .iter()
                .any(|q| q.as_deref() == Some("warnings.catch_warnings"))
    });
    sets_last_epoch || silenced
}

/// The scheduler call runs on every pass of `lid`: no `if` inside the loop around it, not in an
/// early-exit block or handler.
fn on_iteration_path(index: &SemanticIndex, call: CallId, lid: LoopId) -> bool {
    let range = index.calls[call].range();
    let lp = &index.loops[lid];
    !index.flow.off_normal_path(range, lp.range.end())
        && !index
            .flow
            .guards(range)
            .any(|(block, _)| lp.range.contains_range(block.range))
}

/// Where optimizer steps happen in one pass of loop `lid`, sorted: step events of a training
/// loop that is `lid` or nested in it, and calls of local functions that train.
fn step_positions(
    ctx: &Context,
    lid: LoopId,
    training_functions: &HashSet<FunctionId>,
) -> Vec<(TextSize, CallId)> {
    let index = ctx.index;
    let lp_range = index.loops[lid].range;
    let mut out = Vec::new();
    for tl in &index.training_loops {
        if !lp_range.contains_range(tl.range) {
            continue;
        }
        for e in tl.events_of(CallKind::is_step) {
            let at = index.calls[e.via.unwrap_or(e.call)].range();
            if lp_range.contains_range(at) {
                out.push((at.start(), e.via.unwrap_or(e.call)));
            }
        }
    }
    let class = index.loops[lid]
        .function
        .and_then(|f| index.functions[f].class);
    for (cid, c) in index.calls.iter().enumerate() {
        if !c.loops.contains(&lid) {
            continue;
        }
        let local = helper_targets(index, cid, class)
            .iter()
            .any(|f| training_functions.contains(f));
        // A helper of another file that steps the optimizer (`tnt.train(...)` from
        // `train_and_test.py`), as the project model summarises it.
        let elsewhere = || match ctx.resolve_call(cid) {
            Some(symbol @ mleng_project::Symbol::Function(m, _)) if m != ctx.module => {
                ctx.project.behaviour(symbol).optimizer_step
            }
            _ => false,
        };
        if local || elsewhere() {
            out.push((c.start(), cid));
        }
    }
    out.sort();
    out
}
