//! The `mleng` binary: parses the command line and hands each subcommand to its module.
//! Exit codes: 0 = ran (whatever it found), 1 = a `--fail-on` gate tripped, 2 = usage or I/O error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(name = "mleng", version, about = "An advisory ML engineer for PyTorch code, training logs and model files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain an unstable training run from its logs (TensorBoard, Lightning, HF, MLflow, CSV).
    Diagnose(commands::diagnose::DiagnoseArgs),
    /// Review an ONNX graph or a checkpoint (safetensors, PyTorch zip) without running Python.
    Inspect(commands::inspect::InspectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Diagnose(args) => commands::diagnose::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mleng: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
