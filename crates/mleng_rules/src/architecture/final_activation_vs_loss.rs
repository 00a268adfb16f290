use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::losses::{final_activation, logit_loss, Activation};
use mleng_python::index::literals::dotted;
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC011",
    name: "final-activation-vs-loss",
    area: Area::Architecture,
    severity: Severity::Error,
    fixable: false,
    summary: "The model ends in softmax/sigmoid/ReLU but its output feeds a loss that expects raw logits.",
    docs: r#"## What it does
Finds a model whose output goes through a final `Softmax`, `Sigmoid` or `ReLU` (the last item of
an `nn.Sequential`, or the value `forward` returns) and whose output is passed, in the same
file, to a loss that expects unconstrained logits: `nn.CrossEntropyLoss` /
`F.cross_entropy`, or `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits`
(`loss = criterion(model(x), y)`, `out = self(x)` in a LightningModule, ...).

A `forward` with more than one `return`, or that checks `self.training` (softmax only at
inference), is not judged.

## Why is this bad?
These losses apply the softmax (or sigmoid) themselves. A softmax before `CrossEntropyLoss`
computes `softmax(softmax(z))`: the inputs are squeezed into [0, 1], the second softmax is
nearly uniform, the gradients shrink and the model trains slowly to a worse optimum. A sigmoid
before `BCEWithLogitsLoss` confines predictions to (0.5, 0.73): the model can never predict a
negative. A final ReLU clips negative logits to zero. Nothing crashes; accuracy is just lower.

## Example
```python
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))
criterion = nn.CrossEntropyLoss()
loss = criterion(model(x), y)
```

## Use instead
```python
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
criterion = nn.CrossEntropyLoss()
loss = criterion(model(x), y)
probs = model(x).softmax(dim=1)  # only where probabilities are needed
```

## References
- `nn.CrossEntropyLoss`: "The input is expected to contain the unnormalized logits for each class": <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
- `nn.BCEWithLogitsLoss`: "This loss combines a Sigmoid layer and the BCELoss in one single class": <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>
"#,
    check,
};

/// A model definition that ends in an activation.
struct Ending {
    /// Local class name, or the variable holding an `nn.Sequential`.
    model: String,
    is_class: bool,
    activation: Activation,
    at: TextRange,
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let endings = endings(index);
    if endings.is_empty() {
        return;
    }
    for call in &index.calls {
        // The loss: a `torch.nn` loss object or the functional form.
        let loss_name = call.qualified.as_deref().and_then(logit_loss).or_else(|| {
            let callee = dotted(&call.expr.func)?;
            let ctor = constructor(index, call.class, &callee)?;
            logit_loss(&ctor)
        });
        let Some(loss) = loss_name else {
            continue;
        };
        let Some(input) = call.arg(0) else {
            continue;
        };
        let Some(model_call) = (match input {
            Expr::Call(c) => Some(c),
            other => index
                .producer(call.function, other, call.start())
                .map(|id| index.calls[id].expr),
        }) else {
            continue;
        };
        let Some(ending) = model_of(index, call.class, model_call, &endings) else {
            continue;
        };
        let Some(problem) = loss.problem(ending.activation) else {
            continue;
        };
        let loss_text = ctx.text(call.expr.func.range()).to_string();
        let message = format!(
            "`{}` passes the output of `{}`, which ends in {}, to `{loss_text}`: {}; {}",
            ctx.text(call.range()),
            ending.model,
            ending.activation.name(),
            loss.expects,
            problem
        );
        let fix = Fix::new(format!(
            "Remove the final {} from the model and return logits; apply it only where probabilities are needed (inference, metrics)",
            ending.activation.name()
        ));
        let evidence = format!(
            "final {} at {}: `{}`",
            ending.activation.name(),
            ctx.where_is(ending.at),
            ctx.text(ending.at)
        );
        ctx.report(call.range(), message, Some(fix))
            .evidence
            .push(evidence);
    }
}

/// Constructor of a loss object: `criterion` or `self.criterion`.
fn constructor(index: &SemanticIndex, class: Option<usize>, callee: &str) -> Option<String> {
    if let Some(attr) = callee.strip_prefix("self.") {
        return index.layer(class?, attr)?.constructor.clone();
    }
    index.constructor_of(callee)
}

fn model_of<'e>(
    index: &SemanticIndex,
    class: Option<usize>,
    call: &ExprCall,
    endings: &'e [Ending],
) -> Option<&'e Ending> {
    let callee = dotted(&call.func)?;
    // `self(x)` / `self.forward(x)` inside the model class (LightningModule steps).
    if callee == "self" || callee == "self.forward" {
        let name = index.classes[class?].name;
        return endings.iter().find(|e| e.is_class && e.model == name);
    }
    if let Some(attr) = callee.strip_prefix("self.") {
        let layer = index.layer(class?, attr)?;
        let ctor = layer.constructor.as_deref()?;
        return endings.iter().find(|e| e.is_class && e.model == ctor);
    }
    let binding_call = index.constructor_call_of(&callee)?;
    if index.is_sequential(binding_call) {
        return endings.iter().find(|e| !e.is_class && e.model == callee);
    }
    let ctor = dotted(&binding_call.func)?;
    endings.iter().find(|e| e.is_class && e.model == ctor)
}

fn endings(index: &SemanticIndex) -> Vec<Ending> {
    let mut out = Vec::new();
    // `model = nn.Sequential(..., nn.Softmax(dim=1))`
    for binding in &index.bindings {
        let Expr::Call(call) = binding.value else {
            continue;
        };
        if binding.target.starts_with("self.") || !index.is_sequential(call) {
            continue;
        }
        if let Some((activation, at)) = sequential_ending(index, call) {
            out.push(Ending {
                model: binding.target.clone(),
                is_class: false,
                activation,
                at,
            });
        }
    }
    // Module classes whose single `return` in forward is an activation.
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        let Some(forward) = index.method(class_id, "forward") else {
            continue;
        };
        let def = index.functions[forward].def;
        if index.text(def.range()).contains("self.training") {
            continue;
        }
        let returns = index.return_statements(forward);
        let [ret] = returns.as_slice() else {
            continue;
        };
        let Some(value) = ret.value.as_deref() else {
            continue;
        };
        // The return must be the last statement of forward's body.
        if def.body.last().map(|s| s.range()) != Some(ret.range) {
            continue;
        }
        let call = match value {
            Expr::Call(c) => Some(c),
            other => index
                .producer(Some(forward), other, other.range().start())
                .map(|id| index.calls[id].expr),
        };
        let Some(call) = call else {
            continue;
        };
        if let Some(activation) = activation_of(index, class_id, call) {
            out.push(Ending {
                model: class.name.to_string(),
                is_class: true,
                activation,
                at: call.range(),
            });
        }
    }
    out
}

/// The final activation a call applies: `self.softmax(x)`, `F.softmax(x)`, `torch.sigmoid(x)`,
/// `x.softmax(dim=1)`, or `self.net(x)` where `self.net` is an `nn.Sequential` ending in one.
fn activation_of(index: &SemanticIndex, class: usize, call: &ExprCall) -> Option<Activation> {
    if let Some(attr) = dotted(&call.func)
        .as_deref()
        .and_then(|d| d.strip_prefix("self."))
    {
        let layer = index.layer(class, attr)?;
        if index.is_sequential(layer.call) {
            return sequential_ending(index, layer.call).map(|(a, _)| a);
        }
        return final_activation(layer.constructor.as_deref()?);
    }
    if let Some(q) = index.qualified_name(&call.func) {
        return final_activation(&q);
    }
    match call.func.as_ref() {
        Expr::Attribute(attr) => final_activation(attr.attr.as_str()),
        _ => None,
    }
}

fn sequential_ending(index: &SemanticIndex, call: &ExprCall) -> Option<(Activation, TextRange)> {
    let last = (*index.sequential_items(call).last()?)?;
    let q = index.qualified_name(&last.func)?;
    final_activation(&q).map(|a| (a, last.range()))
}
