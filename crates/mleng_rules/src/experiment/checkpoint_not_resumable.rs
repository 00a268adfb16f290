use mleng_diagnostics::{Area, Fix, Severity};

use super::unseeded_training::display_name;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP008",
    name: "checkpoint-not-resumable",
    area: Area::Experiment,
    severity: Severity::Info,
    fixable: false,
    summary: "A training script that says it resumes saves checkpoints with model weights but no optimizer state.",
    docs: r#"## What it does
For each training entry point that *says* it can resume (a `--resume`-style command-line
argument, or an optimizer `load_state_dict`), looks at the checkpoints it and the files it calls
into save with `torch.save`. When a checkpoint has model weights but no optimizer state
anywhere (no `optimizer.state_dict()` saved), reports it once, at the save.
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
    for entry in ctx.facts.training_entry_points() {
        let files = &entry.reached;
        let Some(claim) = files.iter().find_map(|f| f.claims_resume.as_ref()) else {
            continue;
        };
        if files
            .iter()
            .any(|f| f.checkpoint_has_optimizer || f.full_service_trainer)
        {
            continue;
        }
        let Some((file, site)) = files
            .iter()
            .find_map(|f| f.checkpoint.as_ref().map(|s| (*f, s)))
        else {
            continue;
        };
        let save = site.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let message = format!(
            "`{save}` saves model weights only, but `{}` resumes training: the optimizer state (Adam moments, momentum), scheduler, AMP scale and epoch start over on resume",
            display_name(entry.file)
        );
        let fix = Fix::new("Save the full training state in the checkpoint").with_example(
            "torch.save(\n    {\n        \"model\": model.state_dict(),\n        \"optimizer\": optimizer.state_dict(),\n        \"scheduler\": scheduler.state_dict(),\n        \"epoch\": epoch,\n    },\n    path,\n)",
        );
        let claim_text = claim.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let finding = ctx.report(file, site, message, Some(fix));
        finding.evidence.push(format!("resumes: `{claim_text}`"));
    }
}
