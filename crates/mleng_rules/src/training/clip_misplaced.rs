use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::CallKind;

use super::loop_facts::call_text;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN003",
    name: "grad-clip-misplaced",
    area: Area::Training,
    severity: Severity::Warning,
    fix: None,
    summary: "Gradient clipping runs before backward() or after the optimizer step, where it has no effect.",
    docs: r#"## What it does
Finds gradient clipping in a training loop that runs before every `backward()` of the
iteration or after its last optimizer step.

## Why is this bad?
Clipping rewrites `.grad` in place. Before `backward()` the gradients of this iteration do not
exist yet (and are usually just zeroed); after `optimizer.step()` the update has already been
applied and the next `zero_grad()` throws the clipped values away. Either way the step runs on
unclipped gradients, and the protection you meant to add is not there.

## Example
```python
loss.backward()
optimizer.step()
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
```

## Use instead
```python
loss.backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
optimizer.step()
```

## References
- PyTorch `clip_grad_norm_` ("Gradients are modified in-place"): <https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html>
- PyTorch AMP examples, gradient clipping between `backward` and `step`: <https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-clipping>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for lp in index.training_loops.clone() {
        let (Some(first_backward), Some(last_step)) = (
            lp.first(|k| k == CallKind::Backward).copied(),
            lp.last(CallKind::is_step).copied(),
        ) else {
            continue;
        };
        let backward = call_text(ctx, &lp, |k| k == CallKind::Backward)
            .unwrap_or_else(|| "loss.backward()".into());
        let step =
            call_text(ctx, &lp, CallKind::is_step).unwrap_or_else(|| "optimizer.step()".into());
        for clip in lp.events_of(|k| matches!(k, CallKind::Clip(_))) {
            let where_ = if clip.position < first_backward.position {
                "before"
            } else if clip.position > last_step.position {
                "after"
            } else {
                continue;
            };
            let clip_call = &index.calls[clip.via.unwrap_or(clip.call)];
            let clip_text = ctx.text(clip_call.range()).to_string();
            let message = if where_ == "before" {
                format!("`{clip_text}` runs before `{backward}`: it clips gradients that do not exist yet, so `{step}` uses unclipped ones")
            } else {
                format!("`{clip_text}` runs after `{step}`: the update already used the unclipped gradients")
            };
            let fix = Fix::new("Move the clipping between backward() and step()")
                .with_example(format!("{backward}\n{clip_text}\n{step}"));
            ctx.report(clip_call.range(), message, Some(fix));
        }
    }
}
