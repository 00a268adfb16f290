//! The floor a parser-based reviewer can reach: discover, load and parse every file under the
//! given roots with the same parser and the same parallelism as `mleng review`, and nothing
//! else. `scripts/bench-review.sh` times it beside `mleng review` and `ruff check`.
//!
//! Usage: cargo run --release -p mleng_python --example parse_only -- ROOT...

use std::path::PathBuf;

use mleng_python::discover::{build_globset, discover};
use mleng_python::parse::ParsedFile;
use mleng_python::SourceFile;
use rayon::prelude::*;

// The allocator `mleng` uses, so that the floor is measured under the same conditions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let Ok(exclude) = build_globset(&[]) else {
        eprintln!("parse_only: cannot build the (empty) exclude set");
        std::process::exit(2);
    };
    let found = discover(&roots, &exclude);
    let (files, errors): (usize, usize) = found
        .files
        .par_iter()
        .map(|path| match SourceFile::load(path) {
            Ok(source) => {
                let parsed = ParsedFile::parse(&source);
                (1, usize::from(!parsed.syntax_errors().is_empty()))
            }
            Err(_) => (0, 0),
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("parsed {files} files ({errors} with syntax errors)");
}
