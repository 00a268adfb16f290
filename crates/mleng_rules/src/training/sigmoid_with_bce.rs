use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::losses::{Activation, LossInput};

use super::loss_inputs::{activation_fed_losses, describe};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN008",
    name: "sigmoid-with-bce",
    area: Area::Training,
    severity: Severity::Error,
    fix: None,
    summary: "sigmoid output fed to BCEWithLogitsLoss (double sigmoid, error) or to BCELoss (use BCEWithLogitsLoss, warning).",
    docs: r#"## What it does
Finds binary cross-entropy whose input is the output of a sigmoid (`torch.sigmoid`,
`F.sigmoid`, `x.sigmoid()`, an `nn.Sigmoid` layer), directly, through a variable, or as the last
operation of the model being trained:

- **error**: fed to `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits`, which applies
  the sigmoid again;
- **warning**: fed to `nn.BCELoss` / `F.binary_cross_entropy`: correct in exact arithmetic, but
  `BCEWithLogitsLoss` on the logits is the numerically stable form.

## Why is this bad?
A double sigmoid squeezes every prediction into [0.5, 0.73]: the loss cannot approach zero, the
gradients shrink by the sigmoid's slope twice, and the decision threshold is no longer 0.5.
With `sigmoid` + `BCELoss`, a saturated sigmoid returns exactly 0 or 1 in float32 (from about
|x| > 17) or float16, `log(0)` is clamped to -100 by PyTorch, and the gradient through the
saturated sigmoid is zero: confidently wrong examples stop contributing. `BCEWithLogitsLoss` uses
the log-sum-exp trick and stays exact; `F.binary_cross_entropy` is also refused inside
`torch.autocast` for this reason.

## Example
```python
probs = torch.sigmoid(model(x))
loss = nn.BCEWithLogitsLoss()(probs, y)
```

## Use instead
```python
logits = model(x)
loss = nn.BCEWithLogitsLoss()(logits, y)
probs = torch.sigmoid(logits)  # only for metrics / predictions
```

## Known problems
When `ARC011` reports the same loss call (the model itself ends in the activation), only its
finding is shown; this rule still reports it when selected alone.

## References
- PyTorch `BCEWithLogitsLoss` ("more numerically stable than using a plain Sigmoid followed by a BCELoss"): <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>
- PyTorch `BCELoss` (log clamped to >= -100): <https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html>
- PyTorch AMP, ops that autocast refuses (`binary_cross_entropy`): <https://pytorch.org/docs/stable/amp.html#prefer-binary-cross-entropy-with-logits-over-binary-cross-entropy>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for (lc, o) in activation_fed_losses(
        index,
        &[LossInput::BinaryLogits, LossInput::BinaryProbabilities],
        Activation::Sigmoid,
    ) {
        let call = &index.calls[lc.call];
        let loss_text = ctx.text(call.range()).to_string();
        let sigmoid_desc = describe(ctx, o.call);
        let where_ = ctx.where_is(index.calls[o.call].range());
        let source = match o.via_model {
            Some(model) => format!(
                "the output of `{}`, whose forward ends in {sigmoid_desc} ({where_})",
                ctx.text(index.calls[model].range())
            ),
            None => format!("the output of {sigmoid_desc} ({where_})"),
        };
        let fix = Fix::new("Feed the logits to BCEWithLogitsLoss; apply sigmoid only for predictions")
            .with_example(format!(
                "# remove {sigmoid_desc} and feed the raw scores\nloss = nn.BCEWithLogitsLoss()(logits, target)"
            ));
        if lc.loss.input == LossInput::BinaryLogits {
            let message = format!(
                "`{loss_text}` applies a sigmoid to {source}: a double sigmoid keeps predictions in [0.5, 0.73], so the loss cannot reach zero"
            );
            ctx.report(call.range(), message, Some(fix));
        } else {
            let message = format!(
                "`{loss_text}` gets {source}: sigmoid + BCELoss saturates (log clamped at -100, zero gradient for confident mistakes); BCEWithLogitsLoss on the logits is the stable form"
            );
            ctx.report_with_severity(call.range(), Severity::Warning, message, Some(fix));
        }
    }
}
