use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use ruff_text_size::{TextRange, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC002",
    name: "requires-grad-typo",
    area: Area::Architecture,
    severity: Severity::Error,
    fix: Some(Applicability::Safe),
    summary: "`p.require_grad = False` (or a similar misspelling) sets a new attribute and freezes nothing.",
    docs: r#"## What it does
Finds assignments to a misspelled `requires_grad` attribute (`require_grad`, `requires_grads`,
`requires_gradient`, `required_grad`, `requieres_grad`, `requires_grad_` ...), typically while
freezing a backbone: `for p in model.backbone.parameters(): p.require_grad = False`.

## Why is this bad?
`torch.Tensor` and `nn.Parameter` accept any new Python attribute, so the misspelled
assignment raises no error: it adds an unused attribute and leaves `requires_grad` as it was.
The "frozen" backbone keeps training, which costs memory and time for its gradients and
optimizer state and, with a small dataset, destroys the pretrained features the code meant to
keep. Nothing in the training log shows it. Assigning to `requires_grad_` (the in-place
method's name) is the same no-op: it replaces the method on that tensor with a bool.

## Example
```python
for p in model.backbone.parameters():
    p.require_grad = False
```

## Use instead
```python
for p in model.backbone.parameters():
    p.requires_grad = False
# or: model.backbone.requires_grad_(False)
```

## Fix
Safe: the misspelled attribute becomes `requires_grad`, which is what the assignment meant; the
typo only created an unused attribute.

## References
- PyTorch autograd mechanics, "Locally disabling gradient computation / Setting requires_grad": <https://pytorch.org/docs/stable/notes/autograd.html#setting-requires-grad>
- `torch.Tensor.requires_grad` and `torch.nn.Module.requires_grad_`: <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.requires_grad_>
"#,
    check,
};

/// Misspellings of `requires_grad` seen in real code. `requires_grad_` is the method name.
const TYPOS: &[&str] = &[
    "require_grad",
    "require_grads",
    "requires_grads",
    "requires_gradient",
    "requires_gradients",
    "require_gradient",
    "required_grad",
    "requieres_grad",
    "requres_grad",
    "reqires_grad",
    "requires_grad_",
    "requiresgrad",
    "requires_Grad",
    "require_grad_",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for binding in &index.bindings {
        let Some((object, attr)) = binding.target.rsplit_once('.') else {
            continue;
        };
        if !TYPOS.contains(&attr) {
            continue;
        }
        // Only `x.attr = <bool literal or simple expression>` statements whose text we can
        // edit: find the attribute in the statement's first line.
        let statement = ctx.text(binding.range);
        let needle = format!(".{attr}");
        let Some(pos) = statement.find(&needle) else {
            continue;
        };
        let start = binding.range.start() + TextSize::from((pos + 1) as u32);
        let attr_range = TextRange::at(start, TextSize::from(attr.len() as u32));
        // Anchor the finding on the whole assignment when it fits on one line.
        let range = if statement.contains('\n') {
            attr_range
        } else {
            binding.range
        };
        // The object as written (`model.layer4[0].conv1.weight`), when on the same line.
        let written = statement[..pos].trim();
        let object = if written.is_empty() || written.contains('\n') || written.contains('=') {
            object
        } else {
            written
        };
        let message = format!(
            "`{object}.{attr}` is a misspelling of `requires_grad`: the assignment adds a new attribute and `{object}` still requires gradients"
        );
        let fixed = if range == binding.range {
            statement.replacen(&needle, ".requires_grad", 1)
        } else {
            "requires_grad".to_string()
        };
        let fix = Fix::new("Spell it `requires_grad`").with_replacement(fixed);
        ctx.report(range, message, Some(fix));
    }
}
