//! PyTorch learning-rate schedulers whose period is counted in epochs: the argument that holds
//! the period, so a rule can tell an epoch count from an iteration count.
//!
//! Source: PyTorch `torch.optim.lr_scheduler` documentation
//! (<https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate>): the examples for
//! `StepLR`, `MultiStepLR`, `ExponentialLR` and `CosineAnnealingLR` call `scheduler.step()` once
//! per epoch; `CosineAnnealingWarmRestarts` is stepped per batch only with the fractional epoch,
//! `scheduler.step(epoch + i / iters)`
//! (<https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingWarmRestarts.html>).

#[derive(Debug, Clone, Copy)]
pub struct EpochScheduler {
    /// Class name in `torch.optim.lr_scheduler`.
    pub name: &'static str,
    /// Keyword of the period argument (`step_size`, `milestones`, `T_max`, `T_0`); `gamma` for
    /// `ExponentialLR`, whose decay per step is the period.
    pub period: &'static str,
    /// Position of that argument in the constructor call (the optimizer is 0).
    pub position: usize,
    /// Stepped per batch only with a fractional epoch argument.
    pub fractional_epoch: bool,
}

const EPOCH_SCHEDULERS: &[EpochScheduler] = &[
    EpochScheduler {
        name: "StepLR",
        period: "step_size",
        position: 1,
        fractional_epoch: false,
    },
    EpochScheduler {
        name: "MultiStepLR",
        period: "milestones",
        position: 1,
        fractional_epoch: false,
    },
    EpochScheduler {
        name: "ExponentialLR",
        period: "gamma",
        position: 1,
        fractional_epoch: false,
    },
    EpochScheduler {
        name: "CosineAnnealingLR",
        period: "T_max",
        position: 1,
        fractional_epoch: false,
    },
    EpochScheduler {
        name: "CosineAnnealingWarmRestarts",
        period: "T_0",
        position: 1,
        fractional_epoch: true,
    },
];

/// The epoch-based scheduler for a qualified constructor (`torch.optim.lr_scheduler.StepLR`).
pub fn epoch_scheduler(qualified: &str) -> Option<&'static EpochScheduler> {
    let name = qualified.strip_prefix("torch.optim.lr_scheduler.")?;
    EPOCH_SCHEDULERS.iter().find(|s| s.name == name)
}

/// A period literal at or under this many steps reads as an epoch count: 300 epochs covers the
/// long ImageNet and detection schedules, while iteration schedules run into the thousands.
pub const MAX_EPOCH_PERIOD: f64 = 300.0;

/// An `ExponentialLR` gamma at or under this decays the rate by more than 10^4 within 1000
/// batches when stepped per batch (0.99^1000 = 4e-5): meant per epoch.
pub const MAX_PER_EPOCH_GAMMA: f64 = 0.99;
