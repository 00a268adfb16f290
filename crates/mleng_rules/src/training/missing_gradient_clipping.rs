use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::RECURRENT_LAYERS;
use mleng_python::index::literals::{number, string};
use mleng_python::index::training::TrainingLoop;
use mleng_python::index::CallKind;

use super::loop_facts::{call_text, optimizer_name, parameters_text, scaler_name, uses_scaler};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN001",
    name: "missing-gradient-clipping",
    area: Area::Training,
    severity: Severity::Info,
    fix: None,
    summary: "A training loop steps the optimizer without clipping gradients (warning for RNN/Transformer, AMP or high LR).",
    docs: r#"## What it does
Finds training loops (a loop or step function with `backward()` and an optimizer or
`GradScaler` step) that never clip gradients: no `torch.nn.utils.clip_grad_norm_` /
`clip_grad_value_`, `accelerator.clip_grad_norm_`, `fabric.clip_gradients` or Lightning's
`self.clip_gradients`, directly or in a helper the loop calls, and no
`Trainer(gradient_clip_val=...)` in the file.

Context sets the severity. It is a **warning** when the file builds recurrent or attention
models (`nn.LSTM`, `nn.GRU`, `nn.RNN`, `nn.Transformer*`, `nn.MultiheadAttention`, or anything
from `transformers`), trains with AMP, or uses a high literal learning rate (Adam-family >= 1e-2,
SGD >= 1.0); otherwise, e.g. a plain CNN with SGD, it stays **info**.

## Why is this bad?
One bad batch can produce a gradient orders of magnitude larger than usual; without clipping the
step it drives can throw the weights into a region the run never recovers from (a loss spike, then
NaN). Recurrent networks are the classic case (Pascanu et al. 2013), and clipping by global norm at
about 1.0 is standard practice for Transformers (it is the default `max_grad_norm=1.0` of Hugging
Face's `TrainingArguments`). Clipping costs one reduction over the gradients.

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
```
With a `GradScaler`, call `scaler.unscale_(optimizer)` before clipping (see TRN002).

Training handed to DeepSpeed or Megatron-LM (the file imports them, or uses Accelerate's
`DummyOptim`, `deepspeed_plugin` or `MegatronLMPlugin`) is not reported: their engines clip as
their configuration says (`"gradient_clipping"` in the DeepSpeed JSON), which the code does not
show.

## Known problems
Clipping done somewhere we cannot see (a hook, a custom optimizer, a helper imported from another
module) is not recognised; any call or name containing `clip` in the loop silences the rule, as
does a file that dispatches plugin events (`run_event`, `fire_event`, callback hooks), since
clipping may be one of them. Test files (`test_*.py`, `*_test.py`, `conftest.py`) are skipped: they train toy
models to check behaviour.

## References
- Pascanu, Mikolov, Bengio. *On the difficulty of training recurrent neural networks*, ICML 2013. <https://arxiv.org/abs/1211.5063>
- PyTorch `torch.nn.utils.clip_grad_norm_`: <https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html>
- Hugging Face `TrainingArguments.max_grad_norm` (default 1.0): <https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments>
"#,
    check,
};

/// Transformer stacks; with [`RECURRENT_LAYERS`], the models whose gradients commonly explode.
const ATTENTION_STACKS: &[&str] = &[
    "torch.nn.Transformer",
    "torch.nn.TransformerEncoder",
    "torch.nn.TransformerDecoder",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if trainer_clips(ctx)
        || ctx.is_test_file()
        || dispatches_plugin_events(ctx)
        || engine_configures_clipping(ctx)
    {
        return;
    }
    let loops: Vec<TrainingLoop> = index.training_loops.clone();
    for lp in &loops {
        if lp.has(|k| matches!(k, CallKind::Clip(_))) || mentions_clipping(ctx, lp) {
            continue;
        }
        let Some(step) = lp.first(CallKind::is_step) else {
            continue;
        };
        let reasons = risk_reasons(ctx, lp);
        let severity = if reasons.is_empty() {
            Severity::Info
        } else {
            Severity::Warning
        };
        let optimizer = optimizer_name(ctx, lp);
        let params = parameters_text(ctx, &optimizer);
        let backward = call_text(ctx, lp, |k| k == CallKind::Backward)
            .unwrap_or_else(|| "loss.backward()".into());
        let step_text =
            call_text(ctx, lp, CallKind::is_step).unwrap_or_else(|| format!("{optimizer}.step()"));
        let scaler = scaler_name(ctx, lp).filter(|_| uses_scaler(lp));
        let example = match &scaler {
            Some(scaler) => format!(
                "{backward}\n{scaler}.unscale_({optimizer})  # clip the real gradients, not the scaled ones\ntorch.nn.utils.clip_grad_norm_({params}, max_norm=1.0)\n{step_text}"
            ),
            None => format!("{backward}\ntorch.nn.utils.clip_grad_norm_({params}, max_norm=1.0)\n{step_text}"),
        };
        let mut message = format!(
            "`{step_text}` follows `{backward}` with no gradient clipping in this training loop"
        );
        if !reasons.is_empty() {
            message.push_str(&format!(" ({})", reasons.join("; ")));
        }
        let step_range = index.calls[step.via.unwrap_or(step.call)].range();
        let fix =
            Fix::new("Clip the gradient norm between backward() and step()").with_example(example);
        let finding = ctx.report_with_severity(step_range, severity, message, Some(fix));
        if reasons.is_empty() {
            finding.evidence.push(
                "no recurrent/attention layers, AMP or high learning rate seen: advisory only"
                    .into(),
            );
        }
    }
}

/// `Trainer(gradient_clip_val=...)` (Lightning) or `TrainingArguments(max_grad_norm=...)`.
fn trainer_clips(ctx: &Context) -> bool {
    ctx.index.calls.iter().any(|call| {
        call.keyword("gradient_clip_val")
            .is_some_and(|v| !mleng_python::index::literals::is_none(v))
            || call.keyword("max_grad_norm").is_some()
    })
}

/// DeepSpeed and Megatron-LM clip inside their engine's `step()`, as their configuration
/// says (`"gradient_clipping"` in the DeepSpeed JSON, Megatron's `clip_grad`), which the code
/// does not show: a file that hands training to them (imports `deepspeed`, or uses
/// Accelerate's `DummyOptim`/`deepspeed_plugin`/`MegatronLMPlugin`) is left alone.
fn engine_configures_clipping(ctx: &Context) -> bool {
    let index = ctx.index;
    index.imports_any(&["deepspeed", "megatron"])
        || index.imports.values().any(|q| {
            matches!(
                q.rsplit('.').next(),
                Some("DummyOptim" | "MegatronLMPlugin" | "DeepSpeedPlugin")
            )
        })
        || index.source.text.contains("deepspeed_plugin")
}

/// Framework loops that fire events or callbacks around the step (composer's `run_event`,
/// ignite's `fire_event`, callback lists): clipping may be a plugin we cannot see.
fn dispatches_plugin_events(ctx: &Context) -> bool {
    ctx.index.calls.iter().any(|c| {
        c.method.is_some_and(|m| {
            matches!(
                m,
                "run_event"
                    | "fire_event"
                    | "trigger_event"
                    | "call_hook"
                    | "_call_callback_hooks"
                    | "run_callbacks"
            )
        })
    })
}

/// Any call or name in the loop that talks about clipping: clipping we cannot resolve.
fn mentions_clipping(ctx: &Context, lp: &TrainingLoop) -> bool {
    let text = ctx.text(lp.range).to_ascii_lowercase();
    text.contains("clip") || text.contains("max_grad_norm") || text.contains("max_norm")
}

fn risk_reasons(ctx: &Context, lp: &TrainingLoop) -> Vec<String> {
    let index = ctx.index;
    let mut reasons = Vec::new();
    if let Some(layer) = index
        .calls
        .iter()
        .filter_map(|c| c.qualified.as_deref())
        .find(|q| RECURRENT_LAYERS.contains(q) || ATTENTION_STACKS.contains(q))
    {
        reasons.push(format!(
            "the file builds `{}`, which is prone to exploding gradients",
            short(layer)
        ));
    } else if index.imports_any(&["transformers"]) {
        reasons
            .push("the file trains a `transformers` model, usually clipped at max_norm=1.0".into());
    }
    let autocast_in_loop = index.calls.iter().any(|c| {
        c.qualified
            .as_deref()
            .is_some_and(|q| q.ends_with("autocast"))
            && lp.range.contains_range(c.range())
    });
    if uses_scaler(lp) || autocast_in_loop {
        reasons.push("mixed precision makes overflowing gradients more likely".into());
    }
    if let Some((optimizer, lr)) = high_learning_rate(ctx) {
        reasons.push(format!("{optimizer} with lr={lr} is a high learning rate"));
    }
    reasons
}

fn high_learning_rate(ctx: &Context) -> Option<(String, f64)> {
    ctx.index.calls.iter().find_map(|call| {
        let q = call.qualified.as_deref()?;
        let optimizer = q.strip_prefix("torch.optim.")?;
        let lr = call.arg_or_keyword(1, "lr").and_then(number)?;
        let threshold = match optimizer {
            "Adam" | "AdamW" | "NAdam" | "RAdam" | "Adamax" => 1e-2,
            "SGD" => 1.0,
            _ => return None,
        };
        (lr >= threshold).then(|| (format!("torch.optim.{optimizer}"), lr))
    })
}

fn short(qualified: &str) -> String {
    let _ = string;
    format!("nn.{}", qualified.rsplit('.').next().unwrap_or(qualified))
}
