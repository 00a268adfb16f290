use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::{boolean, dotted, string};
use mleng_python::index::training::TrainingLoop;
use mleng_python::index::CallKind;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use super::loop_facts::{
    call_text, exclusive, loop_and_helper_texts, optimizer_name, scaler_name, uses_scaler,
};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN010",
    name: "amp-without-grad-scaler",
    area: Area::Training,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "float16 autocast training without a GradScaler; GradScaler misuse (no update(), double step, unneeded with bfloat16).",
    docs: r#"## What it does
Checks mixed-precision training loops (a training loop with a `torch.autocast` /
`torch.cuda.amp.autocast` block inside it):

- **warning**: float16 autocast (`torch.autocast("cuda")`, `dtype=torch.float16`,
  `torch.cuda.amp.autocast()`) and a plain `loss.backward()` with no `GradScaler` in the loop;
- **error**: `scaler.step(optimizer)` without `scaler.update()` in the iteration;
- **error**: both `scaler.step(optimizer)` and `optimizer.step()` for the same optimizer in one
  iteration;
- **info**: a `GradScaler` used with `dtype=torch.bfloat16` autocast only.

## Why is this bad?
float16 has 5 exponent bits: gradient values below about 6e-8 flush to zero, and many gradients of
a real network are that small. Without loss scaling they vanish silently and training stalls or
diverges late. `GradScaler` multiplies the loss before `backward()` and unscales before the step;
`scaler.update()` adapts the scale factor, so without it the scale never recovers after an
overflow, or never grows. Stepping the optimizer again after `scaler.step(optimizer)` applies the
still-scaled (or inf/NaN, when the scaler skipped the step) gradients a second time. bfloat16 has
float32's exponent range, so scaling is unnecessary with it (harmless, but costs a check per step).

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    with torch.autocast("cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Use instead
```python
scaler = torch.amp.GradScaler("cuda")
for x, y in loader:
    optimizer.zero_grad()
    with torch.autocast("cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
```

## Known problems
Autocast whose dtype or device is not a literal (`**amp_kwargs`, `device_type=device.type`) is
not judged. Backward through a framework (`accelerator.backward`, `fabric.backward`, DeepSpeed)
handles scaling and is not reported.

## Fix
Unsafe: for a missing `scaler.update()`, `--unsafe-fixes` adds it on its own line after
`scaler.step(optimizer)`. Review it where the loop updates the scale elsewhere on purpose (a
different cadence). Other findings of this rule (a second optimizer step, a missing scale)
are shown, not applied.

## References
- PyTorch AMP examples, "Typical Mixed Precision Training": <https://pytorch.org/docs/stable/notes/amp_examples.html>
- PyTorch AMP, gradient scaling ("gradients with small magnitudes may not be representable in float16"): <https://pytorch.org/docs/stable/amp.html#gradient-scaling>
- Micikevicius et al., *Mixed Precision Training*, ICLR 2018: <https://arxiv.org/abs/1710.03740>
"#,
    check,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AmpDtype {
    Float16,
    BFloat16,
    Off,
    Unknown,
}

const AUTOCAST: &[&str] = &[
    "torch.autocast",
    "torch.amp.autocast",
    "torch.amp.autocast_mode.autocast",
    "torch.cuda.amp.autocast",
];

/// The dtype of an autocast context manager call, when the call says it with literals.
fn autocast_dtype(ctx: &Context, qualified: &str, call: &ExprCall) -> AmpDtype {
    let kw = |name: &str| {
        call.arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
            .map(|k| &k.value)
    };
    if call.arguments.keywords.iter().any(|k| k.arg.is_none()) {
        return AmpDtype::Unknown;
    }
    let is_cuda_amp = qualified == "torch.cuda.amp.autocast";
    match kw("enabled").or_else(|| is_cuda_amp.then(|| call.arguments.args.first()).flatten()) {
        Some(e) if boolean(e) == Some(false) => return AmpDtype::Off,
        Some(e) if boolean(e).is_none() => return AmpDtype::Unknown,
        _ => {}
    }
    let dtype = kw("dtype").or_else(|| {
        if is_cuda_amp {
            None
        } else {
            call.arguments.args.get(1)
        }
    });
    if let Some(dtype) = dtype {
        return match ctx
            .index
            .qualified_name(dtype)
            .or_else(|| dotted(dtype))
            .as_deref()
        {
            Some("torch.float16" | "torch.half") => AmpDtype::Float16,
            Some("torch.bfloat16") => AmpDtype::BFloat16,
            _ => AmpDtype::Unknown,
        };
    }
    if is_cuda_amp {
        return AmpDtype::Float16;
    }
    // torch.autocast(device_type): float16 on cuda, bfloat16 on cpu.
    let device = kw("device_type").or_else(|| call.arguments.args.first());
    match device.and_then(string) {
        Some("cuda") => AmpDtype::Float16,
        Some("cpu") => AmpDtype::BFloat16,
        _ => AmpDtype::Unknown,
    }
}

/// Autocast blocks that overlap the loop (inside it, inside a helper it calls, or around it).
fn autocasts(ctx: &Context, lp: &TrainingLoop) -> Vec<(TextRange, AmpDtype)> {
    let index = ctx.index;
    let helper_ranges: Vec<TextRange> = {
        let class = lp.function.and_then(|f| index.functions[f].class);
        index
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| lp.range.contains_range(c.range()))
            .flat_map(|(id, _)| mleng_python::index::training::helper_targets(index, id, class))
            .map(|f| index.functions[f].def.range)
            .collect()
    };
    let mut out = Vec::new();
    for w in &index.withs {
        let range = w.stmt.range;
        let relevant = lp.range.contains_range(range)
            || range.contains_range(lp.range)
            || helper_ranges.iter().any(|h| h.contains_range(range));
        if !relevant {
            continue;
        }
        for (item, q) in w.stmt.items.iter().zip(&w.contexts) {
            let Some(q) = q.as_deref().filter(|q| AUTOCAST.contains(q)) else {
                continue;
            };
            let dtype = match &item.context_expr {
                Expr::Call(call) => autocast_dtype(ctx, q, call),
                _ => AmpDtype::Unknown,
            };
            out.push((item.context_expr.range(), dtype));
        }
    }
    out
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for lp in index.training_loops.clone() {
        let amp = autocasts(ctx, &lp);
        if uses_scaler(&lp) {
            check_scaler_use(ctx, &lp, &amp);
            continue;
        }
        let Some(&(autocast_range, _)) = amp.iter().find(|(_, d)| *d == AmpDtype::Float16) else {
            continue;
        };
        if amp.iter().any(|(_, d)| *d != AmpDtype::Float16) {
            continue;
        }
        // Only a plain `loss.backward()`: framework backward calls scale for you.
        let plain_backward = lp.events_of(|k| k == CallKind::Backward).all(|e| {
            let call = &index.calls[e.call];
            call.method == Some("backward") && call.arg(0).is_none()
        });
        if !plain_backward {
            continue;
        }
        // `if use_amp: autocast ...` and `else: loss.backward()` (ConvNeXt's engine, whose AMP
        // branch goes through timm's loss scaler): the plain backward never follows autocast.
        let backward = lp.events_of(|k| k == CallKind::Backward).find(|e| {
            !exclusive(
                ctx,
                autocast_range,
                index.calls[e.via.unwrap_or(e.call)].range(),
            )
        });
        let Some(backward) = backward else {
            continue;
        };
        let backward_range = index.calls[backward.via.unwrap_or(backward.call)].range();
        let backward_text = call_text(ctx, &lp, |k| k == CallKind::Backward)
            .unwrap_or_else(|| "loss.backward()".into());
        let optimizer = optimizer_name(ctx, &lp);
        let loss = backward_text
            .strip_suffix(".backward()")
            .unwrap_or("loss")
            .to_string();
        let message = format!(
            "`{backward_text}` after float16 autocast (`{}`, {}) without a GradScaler: small gradients underflow to zero in float16",
            ctx.text(autocast_range),
            ctx.where_is(autocast_range)
        );
        let fix = Fix::new("Scale the loss with torch.amp.GradScaler (or autocast to bfloat16)")
            .with_example(format!(
                "scaler = torch.amp.GradScaler(\"cuda\")  # once, before the loop\n...\nscaler.scale({loss}).backward()\nscaler.step({optimizer})\nscaler.update()"
            ));
        ctx.report(backward_range, message, Some(fix));
    }
}

fn check_scaler_use(ctx: &mut Context, lp: &TrainingLoop, amp: &[(TextRange, AmpDtype)]) {
    let index = ctx.index;
    let scaler = scaler_name(ctx, lp).unwrap_or_else(|| "scaler".into());
    // scaler.step without scaler.update
    if let Some(step) = lp.first(|k| k == CallKind::ScalerStep) {
        let needle = format!("{scaler}.update(");
        let updated = loop_and_helper_texts(ctx, lp)
            .iter()
            .any(|t| t.contains(&needle));
        if !updated {
            let range = index.calls[step.via.unwrap_or(step.call)].range();
            let step_text = ctx.text(index.calls[step.call].range()).to_string();
            let message = format!(
                "`{step_text}` without `{scaler}.update()` in the iteration: the loss scale never adapts (it stays too high after an overflow, so steps keep being skipped)"
            );
            let lines = ctx.lines_at(range, &[&step_text, &format!("{scaler}.update()")]);
            let fix = Fix::new(format!("Call `{scaler}.update()` after `{step_text}`"));
            // On its own line only: after `return scaler.step(opt)` the call would never run.
            let fix = if ctx.starts_line(range) && range == index.calls[step.call].range() {
                fix.with_replacement(lines)
            } else {
                fix.with_example(lines)
            };
            ctx.report_with_severity(range, Severity::Error, message, Some(fix));
        }
    }
    // scaler.step(opt) and opt.step() in the same iteration.
    for scaler_step in lp.events_of(|k| k == CallKind::ScalerStep) {
        let call = &index.calls[scaler_step.call];
        let Some(opt) = call.arg(0).and_then(dotted) else {
            continue;
        };
        let s_range = index.calls[scaler_step.via.unwrap_or(scaler_step.call)].range();
        for plain in lp.events_of(|k| k == CallKind::OptimizerStep) {
            let p_call = &index.calls[plain.call];
            if p_call.receiver.as_deref() != Some(opt.as_str()) {
                continue;
            }
            let p_range = index.calls[plain.via.unwrap_or(plain.call)].range();
            // Both inside one helper (`if scaler is not None: scaler.step(opt) else:
            // opt.step()` in `optimizer_step(...)`): the helper's own branches decide.
            let same_helper = scaler_step.via.is_some() && scaler_step.via == plain.via;
            if (same_helper && exclusive(ctx, call.range(), p_call.range()))
                || exclusive(ctx, s_range, p_range)
                || index.flow.off_normal_path(p_range, s_range.start())
                || index.flow.off_normal_path(s_range, p_range.start())
            {
                continue;
            }
            let p_text = ctx.text(p_call.range()).to_string();
            let s_text = ctx.text(call.range()).to_string();
            let message = format!(
                "`{p_text}` steps `{opt}` a second time in the iteration after `{s_text}` ({}): the second update uses the scaled (or inf/NaN) gradients",
                ctx.where_is(s_range)
            );
            let fix = Fix::new(format!(
                "Remove `{p_text}`: `{s_text}` already steps the optimizer"
            ));
            ctx.report_with_severity(p_range, Severity::Error, message, Some(fix));
        }
    }
    // GradScaler with bfloat16 only.
    if !amp.is_empty() && amp.iter().all(|(_, d)| *d == AmpDtype::BFloat16) {
        let Some(scale) = lp.first(|k| matches!(k, CallKind::Scale | CallKind::ScalerStep)) else {
            return;
        };
        let range = index.calls[scale.via.unwrap_or(scale.call)].range();
        let message = format!(
            "`{scaler}` scales the loss, but autocast runs in bfloat16 (`{}`), which has float32's exponent range: no loss scaling is needed",
            ctx.text(amp[0].0)
        );
        let fix = Fix::new(
            "Drop the GradScaler with bfloat16: call loss.backward() and optimizer.step() directly",
        );
        ctx.report_with_severity(range, Severity::Info, message, Some(fix));
    }
}
