use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use mleng_python::index::literals::number;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC010",
    name: "high-dropout",
    area: Area::Architecture,
    severity: Severity::Info,
    fix: None,
    summary:
        "A Dropout probability above 0.5 drops most units: the layer after it sees little signal.",
    docs: r#"## What it does
Finds `nn.Dropout(p)` (also `Dropout1d/2d/3d`, `AlphaDropout`) and `F.dropout(x, p)` whose
literal drop probability is above 0.5. `p` is the probability of **zeroing** a unit, not of
keeping it.

## Why is this bad?
With `p=0.8`, four out of five activations are zeroed in every training step and the rest are
scaled by 5: the next layer trains on a very noisy, mostly empty signal, which slows or stops
convergence (underfitting). Srivastava et al. found 0.5 close to optimal for hidden units and
0.8 *retention* (p=0.2) for inputs; values above 0.5 are rare in practice. A common cause is
reading `p` as TensorFlow 1's `keep_prob` (`tf.nn.dropout(x, keep_prob=0.8)`), the opposite
quantity. This is a heuristic (info): a very large, strongly overfitting layer can warrant it. UMLAUT
(Schoop et al. 2021) applies the same threshold in its checks of novice Keras models.

## Example
```python
self.drop = nn.Dropout(0.8)  # meant: keep 80%
```

## Use instead
```python
self.drop = nn.Dropout(0.2)  # drop 20%, keep 80%
```

## References
- Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov. *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*, JMLR 2014 (sections 7.3, appendix A.4: retention 0.5-0.8 for hidden units): <https://jmlr.org/papers/v15/srivastava14a.html>
- PyTorch `nn.Dropout` ("p: probability of an element to be zeroed"): <https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html>
- UMLAUT: Schoop, Huang, Hartmann, *UMLAUT: Debugging Deep Learning Programs using Program Structure and Model Behavior*, CHI 2021: <https://doi.org/10.1145/3411764.3445538>. Its dropout heuristic is this one: "High dropout rate" warns for any Dropout layer with rate above 0.5 ("less than half of the gradient updates will propagate through"; typical values 0.2-0.3, up to 0.1-0.5), `check_dropout_p_less_than_half` in <https://github.com/BerkeleyHCI/umlaut/blob/master/umlaut/heuristics.py>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        if kind(q) != LayerKind::Dropout {
            continue;
        }
        // `F.dropout(x, p)` takes the input first; `nn.Dropout(p)` the probability.
        let short = q.rsplit('.').next().unwrap_or(q);
        let functional = short.starts_with(|c: char| c.is_ascii_lowercase());
        let p = if functional {
            call.arg_or_keyword(1, "p")
        } else {
            call.arg_or_keyword(0, "p")
        };
        let Some(p_expr) = p else {
            continue;
        };
        let Some(value) = number(p_expr) else {
            continue;
        };
        if value <= 0.5 || value >= 1.0 {
            continue;
        }
        let keep = 1.0 - value;
        let message = format!(
            "`{}` zeroes {:.0}% of the units in every training step (p is the drop probability, not the keep probability): the next layer sees a very sparse, noisy signal",
            ctx.text(call.range()),
            value * 100.0
        );
        let fix = Fix::new(format!(
            "If {:.0}% was meant to be kept, use p={keep:.2}; otherwise start at 0.1-0.5 and tune",
            value * 100.0
        ));
        ctx.report(p_expr.range(), message, Some(fix));
    }
}
