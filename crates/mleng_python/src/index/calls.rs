//! What a call *does* in training terms. Classification uses the resolved name when there is
//! one and the receiver's constructor when it is known; it falls back to the receiver's name
//! only in the narrow cases listed here (`opt.step()`, `scaler.step(opt)`), because instance
//! types are not tracked across functions.

use super::Call;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `loss.backward()`, `scaler.scale(loss).backward()`, `accelerator.backward(loss)`,
    /// `fabric.backward(loss)`, `self.manual_backward(loss)`, `torch.autograd.backward(...)`.
    Backward,
    /// `optimizer.step()` (or `scaler.step(optimizer)`, see [`CallKind::ScalerStep`]).
    OptimizerStep,
    /// `scaler.step(optimizer)`: steps the optimizer through the AMP scaler.
    ScalerStep,
    /// `scheduler.step()`.
    SchedulerStep,
    ZeroGrad,
    Clip(ClipKind),
    /// `scaler.unscale_(optimizer)`.
    Unscale,
    /// `scaler.scale(loss)`.
    Scale,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipKind {
    /// `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`: acts on whatever is in `.grad`,
    /// so with a `GradScaler` it needs `scaler.unscale_` first.
    Torch,
    /// `accelerator.clip_grad_norm_`, `fabric.clip_gradients`, Lightning's
    /// `self.clip_gradients`: the framework unscales for you.
    Framework,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    Optimizer,
    Scaler,
    Scheduler,
    Unknown,
}

const TORCH_CLIP_FUNCTIONS: &[&str] = &[
    "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad.clip_grad_norm_",
    "torch.nn.utils.clip_grad.clip_grad_value_",
    "torch.nn.utils.get_total_norm",
];

/// Classifies the object a method is called on, by constructor when known, else by name.
pub fn receiver_kind(call: &Call) -> ReceiverKind {
    if let Some(ty) = &call.receiver_type {
        if ty.contains("lr_scheduler") || ty.to_ascii_lowercase().contains("schedule") {
            return ReceiverKind::Scheduler;
        }
        if ty.ends_with("GradScaler") {
            return ReceiverKind::Scaler;
        }
        if ty.starts_with("torch.optim.")
            || ty.starts_with("bitsandbytes.optim")
            || ty.starts_with("apex.optimizers")
        {
            return ReceiverKind::Optimizer;
        }
    }
    let Some(receiver) = &call.receiver else {
        return ReceiverKind::Unknown;
    };
    let last = receiver
        .rsplit('.')
        .next()
        .unwrap_or(receiver)
        .to_ascii_lowercase();
    if last.contains("sched") || last.starts_with("lr_") || last == "lr" || last.contains("warmup")
    {
        ReceiverKind::Scheduler
    } else if last.contains("scaler") {
        ReceiverKind::Scaler
    } else if last.contains("optim")
        || last == "opt"
        || last.starts_with("opt_")
        || last.ends_with("_opt")
    {
        ReceiverKind::Optimizer
    } else {
        ReceiverKind::Unknown
    }
}

pub(super) fn classify(call: &Call) -> CallKind {
    if let Some(q) = call.qualified.as_deref() {
        if TORCH_CLIP_FUNCTIONS.contains(&q) {
            return CallKind::Clip(ClipKind::Torch);
        }
        if q == "torch.autograd.backward" {
            return CallKind::Backward;
        }
    }
    let Some(method) = call.method else {
        return CallKind::Other;
    };
    match method {
        "backward" | "manual_backward" => CallKind::Backward,
        "zero_grad" => CallKind::ZeroGrad,
        "unscale_" => CallKind::Unscale,
        "clip_grad_norm_" | "clip_grad_value_" => {
            // `nn.utils.clip_grad_norm_` when `nn` did not resolve, or a framework's method.
            let receiver = call.receiver.as_deref().unwrap_or("");
            if receiver.ends_with("utils") || receiver.ends_with("clip_grad") {
                CallKind::Clip(ClipKind::Torch)
            } else {
                CallKind::Clip(ClipKind::Framework)
            }
        }
        "clip_gradients" => CallKind::Clip(ClipKind::Framework),
        "scale" if receiver_kind(call) == ReceiverKind::Scaler => CallKind::Scale,
        "step" => match receiver_kind(call) {
            ReceiverKind::Optimizer => CallKind::OptimizerStep,
            ReceiverKind::Scaler => CallKind::ScalerStep,
            ReceiverKind::Scheduler => CallKind::SchedulerStep,
            ReceiverKind::Unknown => CallKind::Other,
        },
        _ => CallKind::Other,
    }
}

impl CallKind {
    /// Either way of stepping an optimizer.
    pub fn is_step(self) -> bool {
        matches!(self, CallKind::OptimizerStep | CallKind::ScalerStep)
    }
}
