//! Copies to an accelerator: `x.cuda()`, `x.to(device)`, and which of them move the batches a
//! loop iterates over (`for images, labels in loader: images = images.to(device)`).

use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::literals::{boolean, string};
use super::{CallId, LoopId, SemanticIndex};

/// A `.cuda()` or `.to(<device>)` call.
#[derive(Debug, Clone, Copy)]
pub struct DeviceCopy {
    pub call: CallId,
    /// `non_blocking=` is passed (with any value but a literal `False`).
    pub non_blocking: bool,
    /// The receiver is the value itself or a view of it (`batch["image"]`, `x.view(-1, 784)`),
    /// not a new tensor made on the host first (`x.float()`): pinned memory reaches the copy.
    pub direct: bool,
}

/// Tensor methods that return a view of their input (the same, possibly pinned, storage).
const VIEWS: &[&str] = &[
    "view",
    "reshape",
    "unsqueeze",
    "squeeze",
    "permute",
    "transpose",
    "flatten",
];

/// The receiver reaches its root through attributes, subscripts and views only.
fn direct(expr: &Expr) -> bool {
    match expr {
        Expr::Name(_) => true,
        Expr::Attribute(a) => direct(&a.value),
        Expr::Subscript(s) => direct(&s.value),
        Expr::Call(c) => match c.func.as_ref() {
            Expr::Attribute(a) if VIEWS.contains(&a.attr.as_str()) => direct(&a.value),
            _ => false,
        },
        _ => false,
    }
}

/// The name an expression's value starts from: `batch["image"].float()` -> `batch`.
pub fn root_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => root_name(&a.value),
        Expr::Subscript(s) => root_name(&s.value),
        Expr::Call(c) => root_name(&c.func),
        _ => None,
    }
}

/// Objects whose `.device` is the run's device (`self.device`, `args.device`,
/// `accelerator.device`), unlike a tensor's (`targets.device` may be the CPU).
const DEVICE_HOLDERS: &[&str] = &[
    "self",
    "args",
    "opt",
    "opts",
    "cfg",
    "config",
    "hparams",
    "params",
    "accelerator",
    "trainer",
    "fabric",
    "model",
    "module",
    "net",
];

/// An argument that names a device rather than a dtype or another tensor: `device`,
/// `args.device`, `self.device`, `"cuda"`, `f"cuda:{rank}"`, `torch.device("cuda", rank)`,
/// `local_rank`, `dev` (not `other_tensor.device`, which may be the CPU).
fn names_device(text: &str, expr: &Expr) -> bool {
    if let Some(s) = string(expr) {
        return s.starts_with("cuda");
    }
    if let Expr::Attribute(a) = expr {
        if a.attr.as_str() == "device" {
            let holder = match a.value.as_ref() {
                Expr::Name(n) => Some(n.id.as_str()),
                Expr::Attribute(inner) => Some(inner.attr.as_str()),
                _ => None,
            };
            return holder.is_some_and(|h| DEVICE_HOLDERS.contains(&h));
        }
    }
    let lower = text.to_ascii_lowercase();
    let last = lower.rsplit('.').next().unwrap_or(&lower);
    ["device", "cuda", "gpu", "rank"]
        .iter()
        .any(|w| lower.contains(w))
        || last == "dev"
}

impl SemanticIndex<'_> {
    /// The call, when it copies its receiver to a device: `x.cuda(...)`, `x.to(device)`,
    /// `x.to(device=..., dtype=...)` (not `x.to(torch.float16)` or `x.to(y)`).
    pub fn device_copy(&self, id: CallId) -> Option<DeviceCopy> {
        let call = &self.calls[id];
        if call.qualified.is_some() {
            return None;
        }
        let to_device = match call.method? {
            "cuda" => true,
            "to" => call
                .arg_or_keyword(0, "device")
                .is_some_and(|d| names_device(self.text(d.range()), d)),
            _ => false,
        };
        if !to_device {
            return None;
        }
        let non_blocking = call
            .keyword("non_blocking")
            .is_some_and(|v| boolean(v) != Some(false));
        let Expr::Attribute(attr) = call.expr.func.as_ref() else {
            return None;
        };
        Some(DeviceCopy {
            call: id,
            non_blocking,
            direct: direct(&attr.value),
        })
    }

    /// The names that hold a loop's batch in one iteration: its `for` targets, and names
    /// assigned in the loop from them (`images, labels = batch`, `x = batch["image"]`).
    pub fn batch_names(&self, lid: LoopId) -> Vec<String> {
        let lp = &self.loops[lid];
        let mut names = lp.targets.clone();
        for _round in 0..2 {
            for b in &self.bindings {
                if b.function != lp.function
                    || !lp.range.contains_range(b.range)
                    || names.contains(&b.target)
                    || b.target.contains('.')
                {
                    continue;
                }
                if root_name(b.value).is_some_and(|r| names.iter().any(|n| n == r)) {
                    names.push(b.target.clone());
                }
            }
        }
        names
    }

    /// The device copies of the loop's batch made in the loop (also in loops nested in it).
    pub fn batch_copies(&self, lid: LoopId) -> Vec<DeviceCopy> {
        let names = self.batch_names(lid);
        if names.is_empty() {
            return Vec::new();
        }
        self.calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.loops.contains(&lid))
            .filter_map(|(id, c)| {
                let Expr::Attribute(attr) = c.expr.func.as_ref() else {
                    return None;
                };
                let root = root_name(&attr.value)?;
                if !names.iter().any(|n| n == root) {
                    return None;
                }
                let mut copy = self.device_copy(id)?;
                // `batch = pad(batch)` earlier in the iteration: the name now holds a new
                // tensor made on the host, not the loader's (pinned) one.
                let lp = &self.loops[lid];
                let reassigned = self
                    .bindings
                    .iter()
                    .filter(|b| {
                        b.function == lp.function
                            && b.target == root
                            && lp.range.contains_range(b.range)
                            && b.range.end() <= c.start()
                    })
                    .max_by_key(|b| b.range.start());
                if reassigned.is_some_and(|b| !direct(b.value)) {
                    copy.direct = false;
                }
                Some(copy)
            })
            .collect()
    }
}
