use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::losses::{Activation, LossInput};

use super::loss_inputs::{activation_fed_losses, describe};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN007",
    name: "softmax-before-cross-entropy",
    area: Area::Training,
    severity: Severity::Error,
    fix: None,
    summary: "Softmax probabilities fed to CrossEntropyLoss (which applies log-softmax itself) or to NLLLoss (which expects log-probabilities).",
    docs: r#"## What it does
Finds `nn.CrossEntropyLoss` / `F.cross_entropy` and `nn.NLLLoss` / `F.nll_loss` whose input is
the output of a softmax: `F.softmax`, `torch.softmax`, `x.softmax(dim)`, an `nn.Softmax` layer,
directly, through a variable, or as the last operation of the model being trained (a local
`nn.Module` whose `forward` returns a softmax on every path, or an `nn.Sequential` ending in
`nn.Softmax`).

## Why is this bad?
`CrossEntropyLoss` expects raw logits and applies `log_softmax` itself. Given probabilities in
[0, 1], it computes a softmax of probabilities, which is almost uniform: the predicted
distribution can never be sharper than `e / (e + C - 1)` for the true class, so the loss has a
floor of `ln((e + C - 1) / e)`, 1.461 for 10 classes, and its gradient vanishes as the model gets
confident. Measured on our GPU: the loss never went below that floor, and training was slower
and less accurate than with logits. `NLLLoss` expects *log*-probabilities; fed probabilities
it minimises `-p` instead of `-log p`, a different and much weaker objective.

## Example
```python
class Net(nn.Module):
    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)

loss = nn.CrossEntropyLoss()(model(x), y)
```

## Use instead
```python
class Net(nn.Module):
    def forward(self, x):
        return self.fc(x)  # logits; apply softmax only when you need probabilities

loss = nn.CrossEntropyLoss()(model(x), y)
```
With `NLLLoss`, use `F.log_softmax` instead of `F.softmax`.

## Known problems
`log_softmax` before `CrossEntropyLoss` is not reported: log-softmax is idempotent, so the loss
is the same (only wasted work). A softmax applied under a condition (`if not self.training`) is
not followed.

When `ARC011` reports the same loss call (the model itself ends in the activation), only its
finding is shown; this rule still reports it when selected alone.

## References
- PyTorch `CrossEntropyLoss` ("The input is expected to contain the unnormalized logits for each class"): <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
- PyTorch `NLLLoss` ("expected to contain log-probabilities"): <https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for (lc, o) in activation_fed_losses(
        index,
        &[LossInput::MulticlassLogits, LossInput::LogProbabilities],
        Activation::Softmax,
    ) {
        let call = &index.calls[lc.call];
        let loss_text = ctx.text(call.range()).to_string();
        let softmax_text = ctx.text(index.calls[o.call].range()).to_string();
        let softmax_desc = describe(ctx, o.call);
        let where_ = ctx.where_is(index.calls[o.call].range());
        let source = match o.via_model {
            Some(model) => format!(
                "the output of `{}`, whose forward ends in {softmax_desc} ({where_})",
                ctx.text(index.calls[model].range())
            ),
            None => format!("the output of {softmax_desc} ({where_})"),
        };
        let (message, fix) = if lc.loss.input == LossInput::MulticlassLogits {
            (
                format!(
                    "`{loss_text}` gets probabilities, {source}: cross-entropy applies log-softmax itself, so the loss cannot go below ln((e + C - 1)/e) and its gradients vanish"
                ),
                Fix::new("Pass the logits: remove the softmax (apply it only for predictions)")
                    .with_example(format!(
                        "# remove {softmax_desc} and feed the raw scores\nloss = {}()(logits, target)",
                        lc.loss.module
                    )),
            )
        } else {
            (
                format!(
                    "`{loss_text}` gets probabilities, {source}: NLLLoss expects log-probabilities, so it minimises -p instead of -log p"
                ),
                Fix::new("Use log_softmax (or pass logits to nn.CrossEntropyLoss)").with_example(
                    format!(
                        "log_probs = {}\nloss = nn.NLLLoss()(log_probs, target)",
                        softmax_text.replacen("softmax", "log_softmax", 1)
                    ),
                ),
            )
        };
        ctx.report(call.range(), message, Some(fix));
    }
}
