//! The prompts' texts: each chains the tools the way a senior ML engineer would work through
//! the question, so an agent asked "review my training setup" or "why is my run unstable"
//! knows which tools to call, in which order, and what to report.

/// "Review my training setup": code, model, recipe and reproducibility.
pub fn review_training_setup(path: &str) -> String {
    format!(
        "Review the training setup in `{path}` as a senior ML engineer would, with the mleng tools:\n\
         1. Call `review` with paths [\"{path}\"]. Group the findings by severity; errors first.\n\
         2. For each distinct rule code among the errors and warnings, call `explain_rule` once and use its \
            \"Why\" and \"Use instead\" to explain the problem in this project's terms.\n\
         3. Call `model_map` on the file that defines the model: report the parameter count and any bottleneck layer.\n\
         4. Call `recommend` with project \"{path}\" (add data_size, latency and device if you know them): \
            compare the architecture, loss, augmentation and recipe with the advice.\n\
         5. If there are checkpoints or ONNX exports in the project, call `inspect_model` on them.\n\
         6. Call `fix` with paths [\"{path}\"] (write: false) and show the diff of the safe fixes; apply them \
            (write: true) only if I agree.\n\
         Finish with a short, prioritised list: what to fix first and why, each with its file and line."
    )
}

/// "Debug my unstable run": logs first, then the code that produced them.
pub fn debug_unstable_run(run: &str, code: Option<&str>) -> String {
    let code_step = match code {
        Some(code) => format!(
            "3. Call `review` with paths [\"{code}\"] and select [\"TRN\", \"ARC\"]: look for the cause of what \
             the run shows (missing gradient clipping or unscale with AMP, scheduler order, zero_grad, \
             softmax fed to cross-entropy, learning rate)."
        ),
        None => "3. Ask me where the training code is, then call `review` on it with select [\"TRN\", \"ARC\"] \
                 to look for the cause of what the run shows."
            .to_string(),
    };
    format!(
        "My training run in `{run}` is unstable. Find out why with the mleng tools:\n\
         1. Call `diagnose_run` with paths [\"{run}\"]. Report each run's verdict and the first event that went \
            wrong (step, metric, evidence).\n\
         2. For each finding's code (RUN...), call `explain_rule` to understand the check and its thresholds.\n\
         {code_step}\n\
         4. If a checkpoint of the run exists, call `inspect_model` on it to look for NaN/Inf or exploding weights.\n\
         Finish with the most likely cause, the evidence for it from the logs and the code, and the change \
         to try first (with the line to change)."
    )
}
