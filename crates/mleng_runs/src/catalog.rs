//! What each `mleng diagnose` check finds, for `mleng explain RUN0xx`. The thresholds, their
//! derivations and references are in `docs/diagnose.md`; each detector's module has the code.

use crate::detect::{
    amp_scaled, divergence, exploding, grad_growth, loss_floor, lr_schedule, nonfinite,
    not_learning, oscillation, overfitting, spikes, throughput, val_better, vanishing,
};

/// (code, name, what it finds).
pub const CHECKS: &[(&str, &str, &str)] = &[
    (nonfinite::CODE, "non-finite-values", "The first step where the loss is NaN or infinite, with the learning rate and gradient norm just before."),
    (exploding::CODE, "exploding-gradients", "The gradient norm grows by orders of magnitude (>= 1e3 x its early median) before a blow-up (AUTOTRAINER, DeepDiagnosis)."),
    (divergence::CODE, "divergence", "The smoothed loss stays above 2x its running minimum without recovering, or blows up early (5x its first value, or > 10x its later level while ending at chance)."),
    (spikes::CODE, "loss-spike", "Loss spikes that cost something: robust z-score > 6 on a rolling median/MAD (window 21), undoing >= 30% of the progress and taking >= 3 logged points to recover (or recurring and growing); single-batch blips are noise."),
    (oscillation::CODE, "oscillating-loss", "The loss oscillates with an amplitude > 30% of its level in the second half without improving (AUTOTRAINER)."),
    (not_learning::CODE, "not-learning", "The loss improves < 2% from the first 10% to the last 20% of the run, or accuracy stays at chance (less than 1/4 of the way from 1/K to 1 at a loss near ln K); reports the learning rate."),
    (overfitting::CODE, "overfitting", "The validation loss rises > 10% above its best for >= 3 evaluations on a rising trend while the training loss falls; a warning when the val metric falls, the train-val gap exceeds 5 points or the rise undoes > 10% of the progress, else info (pick the checkpoint by the metric)."),
    (loss_floor::CODE, "loss-floor-above-zero", "Training accuracy is high but the loss floors at a constant >= 0.05: softmax fed to CrossEntropyLoss floors at ln((e + C - 1)/e), sigmoid fed to BCEWithLogits between 0.3133 (positives) and ln 2 (negatives), label smoothing at the smoothed targets' entropy."),
    (vanishing::CODE, "vanishing-gradients", "The first layer's gradient norm is < 1e-3 of the total."),
    (lr_schedule::CODE, "lr-zero-mid-run / lr-restart / lr-no-warmup", "Learning-rate schedule anomalies: LR 0 before the last 5% of the run, repeated restarts (a resume that restarts the schedule), no warmup before an early failure."),
    (amp_scaled::CODE, "amp-scaled-grad-norm", "Logged gradient norms look like AMP-scaled values (median >= 2^10 with inf skips or x2 level changes): unscale before logging or clipping."),
    (throughput::CODE, "throughput-stall", "Stretches of steps >= 5x slower than the median (throughput below 20% of it), or wall-clock gaps > 10x the median and 10 s; a warning when they cost > 25% of the run's time."),
    (val_better::CODE, "val-better-than-train", "The validation metric beats the training metric by > 3 points from the first evaluation on, or the val loss stays below 0.7x the train loss (possible leakage or a metric bug)."),
    (grad_growth::CODE, "gradients-accumulating", "The gradient norm climbs steadily (>= 20x from the first to the last tenth, rising in >= 7 of 9 tenths) while the loss does not settle: zero_grad() missing or misplaced."),
    (crate::diagnosis::INPUT_CODE, "damaged-log", "A log that could not be read whole: a bad CRC (with its offset), a truncated tail, unreadable lines, or no value at all."),
];

pub fn find(code: &str) -> Option<(&'static str, &'static str, &'static str)> {
    CHECKS
        .iter()
        .copied()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code a detector can emit is described (a new detector must add its line).
    #[test]
    fn every_detector_code_is_in_the_catalog() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/detect");
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            if let Some(at) = text.find("pub const CODE: &str = \"") {
                let code = &text[at + 24..at + 30];
                assert!(find(code).is_some(), "{code} is not in the catalog");
            }
        }
        let mut codes: Vec<&str> = CHECKS.iter().map(|c| c.0).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), CHECKS.len());
    }
}
