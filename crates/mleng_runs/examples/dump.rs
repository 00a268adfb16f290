//! Prints what the readers found: `cargo run -p mleng_runs --example dump -- PATH...`.
//! A debugging aid for new log formats.

use mleng_runs::roles::RunView;

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let runs = match mleng_runs::discover::load_runs(&paths) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    for run in &runs {
        println!("run {} ({})", run.name, run.root.display());
        let view = RunView::new(run, &[], None);
        for (role, s) in &view.roles {
            println!("  role {:?} = {}", role, s.name);
        }
        for s in run
            .series
            .iter()
            .filter(|_| std::env::var_os("DUMP_SERIES").is_some())
        {
            let v = s.values();
            let show: Vec<String> = v.iter().take(6).map(|x| format!("{x:.3e}")).collect();
            let tail: Vec<String> = v
                .iter()
                .rev()
                .take(3)
                .rev()
                .map(|x| format!("{x:.3e}"))
                .collect();
            println!(
                "  {} n={} steps {:?}..{:?} [{}] .. [{}]",
                s.name,
                s.points.len(),
                s.points.first().map(|p| p.step),
                s.points.last().map(|p| p.step),
                show.join(", "),
                tail.join(", ")
            );
        }
        let d = mleng_runs::diagnosis::diagnose(run, &[], None);
        println!("  VERDICT {}", d.verdict);
        for e in &d.events {
            println!("  [{}] {} {}", e.severity, e.code, e.title);
            for ev in &e.evidence {
                println!("      - {ev}");
            }
            for c in &e.causes {
                println!("      cause: {c}");
            }
        }
        for n in &run.notes {
            println!("  note: {}: {}", n.path.display(), n.message);
        }
    }
}
