use mleng_diagnostics::{Area, Fix, Severity};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN017",
    name: "data-parallel",
    area: Area::Training,
    severity: Severity::Info,
    fix: None,
    summary: "nn.DataParallel is used; DistributedDataParallel is faster and is what PyTorch recommends, even on one machine.",
    docs: r#"## What it does
Finds `nn.DataParallel(model)` in a file that does not also offer `DistributedDataParallel`:
in scripts, under the usual `if torch.cuda.device_count() > 1:` (that is where it is used),
and in trainer classes (`self.model = nn.DataParallel(self.model)`). Classes that implement a
parallelism backend for others (a framework's `...Strategy`, `...Plugin`) are left alone.

## Why is this bad?
`DataParallel` is single-process and multi-threaded: every step it scatters the batch from GPU 0,
replicates the model to every GPU, gathers the outputs back on GPU 0 and computes the loss there.
The Python GIL and the replication make it slower than `DistributedDataParallel` even on a single
machine, GPU 0 runs out of memory first (it holds all outputs), and BatchNorm statistics are per
replica and not synchronised. PyTorch's documentation recommends `DistributedDataParallel`
instead "even if there is only a single node".

## Example
```python
model = nn.DataParallel(model).cuda()
```

## Use instead
```python
# launched with: torchrun --nproc_per_node=NUM_GPUS train.py
dist.init_process_group("nccl")
local_rank = int(os.environ["LOCAL_RANK"])
torch.cuda.set_device(local_rank)
model = DDP(model.cuda(local_rank), device_ids=[local_rank])
# and a DistributedSampler for the training loader
```

## References
- PyTorch `nn.DataParallel` ("It is recommended to use DistributedDataParallel, instead of this class, to do multi-GPU training, even if there is only a single node"): <https://pytorch.org/docs/stable/generated/torch.nn.DataParallel.html>
- PyTorch notes, "Use nn.parallel.DistributedDataParallel instead of multiprocessing or nn.DataParallel": <https://pytorch.org/docs/stable/notes/cuda.html#cuda-nn-ddp-instead>
"#,
    check,
};

const DATA_PARALLEL: &[&str] = &[
    "torch.nn.DataParallel",
    "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.data_parallel.DataParallel",
];

/// Classes that implement a parallelism backend for others (a framework's strategy or
/// plugin), where offering DataParallel is the point.
fn is_framework_class(name: &str) -> bool {
    ["Strategy", "Plugin", "Accelerator", "Parallel", "Launcher"]
        .iter()
        .any(|w| name.contains(w))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("DataParallel") {
        return;
    }
    if ctx.is_test_file() || index.source.text.contains("DistributedDataParallel") {
        return;
    }
    for call in &index.calls {
        if !call
            .qualified
            .as_deref()
            .is_some_and(|q| DATA_PARALLEL.contains(&q))
            || call
                .class
                .is_some_and(|c| is_framework_class(index.classes[c].name))
        {
            continue;
        }
        let text = ctx.text(call.range());
        let text = if text.contains('\n') {
            "nn.DataParallel(...)".to_string()
        } else {
            text.to_string()
        };
        let message = format!(
            "`{text}`: DataParallel replicates the model and gathers outputs on GPU 0 every step in one process; DistributedDataParallel is faster and balances memory, even on one machine"
        );
        let fix = Fix::new("Use DistributedDataParallel with one process per GPU (torchrun)")
            .with_example(
                "dist.init_process_group(\"nccl\")\nlocal_rank = int(os.environ[\"LOCAL_RANK\"])\nmodel = DDP(model.cuda(local_rank), device_ids=[local_rank])",
            );
        ctx.report(call.range(), message, Some(fix));
    }
}
