use mleng_diagnostics::{Area, Fix, Severity};

use super::unseeded_training::display_name;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP008",
    name: "checkpoint-not-resumable",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A training script that says it resumes saves checkpoints without the optimizer, scheduler or GradScaler state or the epoch.",
    docs: r#"## What it does
For each training entry point that *says* it can resume (a `--resume`-style command-line
argument, a `resume` variable or a call to a `*resume*` function, or an optimizer
`load_state_dict`, in the entry point or the file with its training loop), looks at the
checkpoints it and the files it calls into save with `torch.save`, and reports once per
entry point, at the save:
- a checkpoint with model weights but no optimizer state anywhere (no `optimizer.state_dict()`
  saved);
- a checkpoint dict that holds the optimizer state but lacks the state of the LR scheduler or
  the AMP `GradScaler` the training loop steps (`scheduler.step()`, `scaler.step(opt)`), or the
  epoch (or step) to continue from. The message names what is missing. A scheduler built with
  `last_epoch=` is rebuilt from the epoch and need not be saved; a dict the rule cannot read
  (built in a helper, passed in as a parameter) is not judged.
Framework checkpoint APIs (`accelerator.save_state`, `trainer.save_checkpoint`, Lightning and
Hugging Face trainers) save the full training state and are not reported.

## Why is this bad?
Resuming from weights alone restarts the optimizer from zero: Adam's first and second moment
estimates are reset (so the first updates after resuming are as large as at step 0, without
warm-up), momentum is lost, and the learning-rate schedule, the AMP loss scale and the epoch
counter start over. The resumed run is a different run, and a crash in a long training job
cannot be recovered exactly.

## Example
```python
torch.save(model.state_dict(), f"ckpt_{epoch}.pt")
...
if args.resume:
    model.load_state_dict(torch.load(args.resume))
```

## Use instead
```python
torch.save(
    {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": epoch,
    },
    f"ckpt_{epoch}.pt",
)
```

## References
- PyTorch tutorial, "Saving and loading a general checkpoint for inference and/or resuming training": <https://pytorch.org/tutorials/recipes/recipes/saving_and_loading_a_general_checkpoint.html>
- PyTorch AMP, "Saving/Resuming" (save the scaler's state): <https://pytorch.org/docs/stable/notes/amp_examples.html#saving-resuming>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    // Several entry points (`train.py`, `sweep.py`) can reach the same save: report it once.
    let mut reported: Vec<mleng_diagnostics::Location> = Vec::new();
    for entry in ctx.facts.training_entry_points() {
        let files = &entry.reached;
        // The claim must be in the entry point or the file with the training loop: a library
        // file it imports (`utils.smart_resume`) may define resuming that this script never uses.
        let Some(claim) = [entry.file, entry.training_file]
            .iter()
            .find_map(|f| f.claims_resume.as_ref())
        else {
            continue;
        };
        if files.iter().any(|f| f.full_service_trainer) {
            continue;
        }
        let claim_text = crate::context::one_line(&claim.text, 80);
        let optimizer = files.iter().find_map(|f| f.optimizer.clone());
        let scheduler = files
            .iter()
            .find_map(|f| f.scheduler.clone())
            .filter(|_| !files.iter().any(|f| f.scheduler_from_epoch));
        let scaler = files.iter().find_map(|f| f.scaler.clone());
        if !files.iter().any(|f| f.checkpoint_has_optimizer) {
            // Weights only.
            let Some((file, site)) = files
                .iter()
                .find_map(|f| f.checkpoint.as_ref().map(|s| (*f, s)))
            else {
                continue;
            };
            if reported.contains(&site.location) {
                continue;
            }
            reported.push(site.location.clone());
            let mut missing = vec![format!(
                "`{}.state_dict()`",
                optimizer.as_deref().unwrap_or("optimizer")
            )];
            missing.extend(state_of(&scheduler));
            missing.extend(state_of(&scaler));
            let mut effects = vec!["the optimizer state (Adam moments, momentum)"];
            if scheduler.is_some() {
                effects.push("the learning-rate schedule");
            }
            if scaler.is_some() {
                effects.push("the AMP loss scale");
            }
            // The saved dict's keys when it can be read (`state = {"net": ..., "epoch": epoch}`
            // then `torch.save(state, path)`), else the call's own text.
            let saved = file
                .checkpoint_saves
                .iter()
                .find(|(s, _)| s.location == site.location)
                .map_or_else(|| site.text.to_ascii_lowercase(), |(_, c)| c.clone());
            if !["epoch", "step", "iter"].iter().any(|k| saved.contains(k)) {
                missing.push("the epoch".into());
                effects.push("the epoch counter");
            }
            let message = format!(
                "`{}` saves model weights only, but `{}` resumes training: the checkpoint lacks {}, so {} {} over on resume",
                crate::context::one_line(&site.text, 80),
                display_name(entry.file),
                list(&missing, "and"),
                list(&effects.iter().map(|e| e.to_string()).collect::<Vec<_>>(), "and"),
                if effects.len() == 1 { "starts" } else { "start" }
            );
            let finding = ctx.report(
                file,
                site,
                message,
                Some(fix(&optimizer, &scheduler, &scaler)),
            );
            finding.evidence.push(format!("resumes: `{claim_text}`"));
            continue;
        }
        // Optimizer state is saved: does the readable checkpoint dict also hold the scheduler,
        // the scaler and the epoch?
        let Some((file, site, contents)) = files.iter().find_map(|f| {
            f.checkpoint_saves
                .iter()
                .find(|(_, c)| {
                    c.contains("optim")
                        || optimizer.as_ref().is_some_and(|o| {
                            c.contains(&format!("{}.state_dict", o.to_ascii_lowercase()))
                        })
                })
                .map(|(s, c)| (*f, s, c))
        }) else {
            continue;
        };
        let holds = |name: &Option<String>, key: &str| match name {
            Some(name) => {
                let last = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
                contents.contains(key) || contents.contains(&last)
            }
            None => true,
        };
        let mut missing = Vec::new();
        if !holds(&scheduler, "sched") {
            missing.extend(state_of(&scheduler));
        }
        if !holds(&scaler, "scaler") {
            missing.extend(state_of(&scaler));
        }
        if !["epoch", "step", "iter"]
            .iter()
            .any(|k| contents.contains(k))
        {
            missing.push("the epoch".into());
        }
        if missing.is_empty() || reported.contains(&site.location) {
            continue;
        }
        reported.push(site.location.clone());
        let mut effects = Vec::new();
        if !holds(&scheduler, "sched") {
            effects.push("the learning-rate schedule restarts from its first value");
        }
        if !holds(&scaler, "scaler") {
            effects.push("the AMP loss scale restarts at its initial 65536 and skips steps while it recalibrates");
        }
        if missing.iter().any(|m| m == "the epoch") {
            effects.push("the epoch counter starts over");
        }
        let message = format!(
            "`{}` saves the optimizer state but not {}, although `{}` resumes training: on resume {}",
            crate::context::one_line(&site.text, 80),
            list(&missing, "or"),
            display_name(entry.file),
            list(&effects.iter().map(|e| e.to_string()).collect::<Vec<_>>(), "and")
        );
        let finding = ctx.report(
            file,
            site,
            message,
            Some(fix(&optimizer, &scheduler, &scaler)),
        );
        finding.evidence.push(format!("resumes: `{claim_text}`"));
    }
}

fn state_of(name: &Option<String>) -> Option<String> {
    name.as_ref().map(|n| format!("`{n}.state_dict()`"))
}

fn list(items: &[String], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

fn fix(optimizer: &Option<String>, scheduler: &Option<String>, scaler: &Option<String>) -> Fix {
    let mut lines = vec![
        "        \"model\": model.state_dict(),".to_string(),
        format!(
            "        \"optimizer\": {}.state_dict(),",
            optimizer.as_deref().unwrap_or("optimizer")
        ),
    ];
    if let Some(s) = scheduler {
        lines.push(format!("        \"scheduler\": {s}.state_dict(),"));
    }
    if let Some(s) = scaler {
        lines.push(format!("        \"scaler\": {s}.state_dict(),"));
    }
    lines.push("        \"epoch\": epoch,".into());
    Fix::new("Save the full training state in the checkpoint (and load each part on resume)")
        .with_example(format!(
            "torch.save(\n    {{\n{}\n    }},\n    path,\n)",
            lines.join("\n")
        ))
}
