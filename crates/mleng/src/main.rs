//! The `mleng` binary: parses the command line and hands each subcommand to its module.
//! Exit codes: 0 = ran (whatever it found), 1 = a `--fail-on` gate tripped, 2 = usage or I/O error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mleng",
    version,
    about = "An advisory ML engineer for PyTorch code, training logs and model files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Review PyTorch code and notebooks (.py, .ipynb) for ML-engineering pitfalls.
    Review(commands::review::ReviewArgs),
    /// List every rule: code, name, area, severity, fixable.
    Rules(commands::rules::RulesArgs),
    /// Print a rule's documentation: what it finds, why, examples, references.
    Explain(commands::rules::ExplainArgs),
    /// Explain an unstable training run from its logs (TensorBoard, Lightning, HF, MLflow, CSV).
    Diagnose(commands::diagnose::DiagnoseArgs),
    /// Review an ONNX graph or a checkpoint (safetensors, PyTorch zip) without running Python.
    Inspect(commands::inspect::InspectArgs),
    /// Computer-vision advice per task (architectures, losses, augmentation, recipe, metrics), or compared with a project's code.
    Recommend(commands::recommend::RecommendArgs),
    /// Map a model's layers and parameter counts statically: `mleng arch model.py::Net`.
    Arch(commands::arch::ArchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Review(args) => commands::review::run(args),
        Command::Rules(args) => commands::rules::run_rules(args),
        Command::Explain(args) => commands::rules::run_explain(args),
        Command::Diagnose(args) => commands::diagnose::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Recommend(args) => commands::recommend::run(args),
        Command::Arch(args) => commands::arch::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mleng: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
