use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::{
    MIXED_PRECISION_MARKERS, PRECISION_FRAMEWORKS, TF32_MARKERS, TRANSFORMER_LAYERS,
};
use mleng_project::Symbol;
use mleng_python::index::literals::dotted;
use mleng_python::index::{TrainingLoop, TrainingScope};
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF013",
    name: "fp32-matmul-without-tf32",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "A transformer trained in float32 on CUDA with neither autocast nor TF32 matmuls: on Ampere and newer GPUs its matmuls run at a fraction of the tensor-core speed (once per training script).",
    docs: r#"## What it does
Once per training script (a file with a training loop, in a file that names a CUDA device),
reports a model called in the training loop that is built from transformer layers
(`nn.TransformerEncoderLayer`, `nn.MultiheadAttention`, ...: the layer itself, an
`nn.Sequential` holding one, or a model class of the file or of the project with one among its
layers) trained with neither mixed precision (`torch.autocast`, a grad scaler,
`.half()`, a `bf16`/`fp16`/`mixed_precision` option) nor a float32 matmul precision setting
(`torch.backends.cuda.matmul.allow_tf32`, `torch.set_float32_matmul_precision`, a `tf32`
option). Code written for Accelerate, Lightning, Composer, Ignite or DeepSpeed, which set
precision from their configuration, is not reviewed.

Off by default: on the 139 repositories and the PyPI corpus it reports one training script
(PyTorch's `language_translation` example, correct) after its first version also reported a
notebook that built an `nn.Transformer` but trained another model: too few findings to measure
its precision. Select it with `--select PRF013`.

## Why is this bad?
Since PyTorch 1.12 float32 matrix multiplications do not use TF32 by default
(`torch.backends.cuda.matmul.allow_tf32 = False`; cuDNN convolutions still do). On Ampere and
newer GPUs (A100, RTX 30xx and later, H100) a float32 matmul then runs on the CUDA cores
instead of the tensor cores; NVIDIA quotes up to 8x the float32 throughput for TF32 on the
A100. A transformer spends most of its step in matmuls, so the whole step is several times
slower than it needs to be. TF32 keeps float32's range with a 10-bit mantissa, which PyTorch
documents as enough for training most networks; autocast to bfloat16 or float16 is faster
still and halves activation memory. On older GPUs (V100, T4) TF32 does not exist and the
setting does nothing.

The effect is documented (the CUDA semantics notes and NVIDIA's A100 figures); it was not
measured here (no GPU).

## Example
```python
model = nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 8), 6).cuda()
for tokens, targets in loader:
    loss = criterion(model(tokens.cuda()), targets.cuda())
    ...
```

## Use instead
```python
torch.set_float32_matmul_precision("high")  # TF32 matmuls on Ampere and newer
model = nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 8), 6).cuda()
for tokens, targets in loader:
    with torch.autocast("cuda", dtype=torch.bfloat16):  # or mixed precision
        loss = criterion(model(tokens.cuda()), targets.cuda())
    ...
```

## Known problems
Code that needs full float32 matmul precision (some scientific models, numerically sensitive
losses) should keep TF32 off, and say so with `torch.set_float32_matmul_precision("highest")`.

## References
- CUDA semantics, "TensorFloat-32 (TF32) on Ampere (and later) devices": <https://pytorch.org/docs/stable/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices>
- `torch.set_float32_matmul_precision`: <https://pytorch.org/docs/stable/generated/torch.set_float32_matmul_precision.html>
- PyTorch Performance Tuning Guide, "Use mixed precision and AMP": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- NVIDIA, "TensorFloat-32 in the A100 GPU Accelerates AI Training, HPC up to 20x": <https://blogs.nvidia.com/blog/tensorfloat-32-precision-format/>
"#,
    check,
};

/// The transformer layer in a model constructed by `call`: the layer itself, an
/// `nn.Sequential(...)` holding one, or a model class (of this file or of the project) with one
/// among its layers (`model = GPT(config)` with `GPT` in `model.py`).
fn transformer_in(ctx: &Context, call: &ExprCall) -> Option<String> {
    let index = ctx.index;
    let qualified = |c: &ExprCall| index.qualified_name(&c.func);
    if let Some(q) = qualified(call).filter(|q| TRANSFORMER_LAYERS.contains(&q.as_str())) {
        return Some(format!("`{q}`"));
    }
    if index.is_sequential(call) {
        return index
            .sequential_items(call)
            .into_iter()
            .flatten()
            .filter_map(qualified)
            .find(|q| TRANSFORMER_LAYERS.contains(&q.as_str()))
            .map(|q| format!("`{q}`"));
    }
    let written = dotted(&call.func)?;
    let symbol = ctx.project.class_of(ctx.module, &written)?;
    ctx.project.class_chain(symbol).into_iter().find_map(|s| {
        let Symbol::Class(m, _) = s else {
            return None;
        };
        let class = ctx.project.class(s)?;
        class.layers.iter().find_map(|(_, layer)| {
            let q = ctx.project.qualify_in(m, layer);
            TRANSFORMER_LAYERS
                .contains(&q.as_str())
                .then(|| format!("`{q}` in `{}`", class.name))
        })
    })
}

/// The transformer the training loop runs: a model called in the loop (`model(x)`,
/// `self.net(x)`) whose constructor holds a transformer layer.
fn trained_transformer(ctx: &Context, training: &TrainingLoop) -> Option<String> {
    let index = ctx.index;
    index
        .calls
        .iter()
        .filter(|c| training.range.contains_range(c.range()) && c.qualified.is_none())
        .filter_map(|c| {
            let callee = match c.expr.func.as_ref() {
                Expr::Attribute(a) if a.attr.as_str() == "forward" => dotted(&a.value),
                other => dotted(other),
            }?;
            index.constructor_call_of(&callee)
        })
        .find_map(|constructor| transformer_in(ctx, constructor))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    let Some(training) = index.training_loops.first() else {
        return;
    };
    let text = &index.source.text;
    if !text.contains("cuda") || index.imports_any(PRECISION_FRAMEWORKS) {
        return;
    }
    let lower = text.to_ascii_lowercase();
    if MIXED_PRECISION_MARKERS
        .iter()
        .chain(TF32_MARKERS)
        .any(|w| lower.contains(w))
    {
        return;
    }
    let Some(layer) = trained_transformer(ctx, training) else {
        return;
    };
    let range = match training.scope {
        TrainingScope::Loop(id) => index.loops[id].header,
        TrainingScope::Function(id) => {
            let def = index.functions[id].def;
            TextRange::new(def.range().start(), def.name.range().end())
        }
    };
    let message = format!(
        "This training loop runs a transformer ({layer}) in float32 on CUDA with neither autocast nor TF32 matmuls: on Ampere and newer GPUs its matmuls do not use the tensor cores"
    );
    let fix = Fix::new("Allow TF32 matmuls once at start-up, or train under autocast")
        .with_example("torch.set_float32_matmul_precision(\"high\")");
    ctx.report(range, message, Some(fix));
}
