//! The numbers behind the thresholds the calibration corpus set (docs/diagnose.md):
//! `cargo run -p mleng_runs --example corpus_stats -- crates/mleng_runs/tests/corpus/tune`.
//! Per run: the largest spike candidate (share of progress undone, logged points to
//! recover), the gradient norm's growth (last 10% over first 5%), the train-val metric gap
//! and the val-loss rise over the progress at the end, the median val/train loss ratio, and
//! for classifiers whose first losses sit at ln K: the share of ln K the end loss removed
//! (the larger of train and val, whose last-20% medians are compared with ln K) and the
//! recent accuracy over chance, (acc - 1/K) / (1 - 1/K).

use mleng_runs::detect::{not_learning, spikes, Context};
use mleng_runs::roles::{Role, RunView};
use mleng_runs::stats;

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let runs = match mleng_runs::discover::load_runs(&paths) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!("run\tspike_undone\tspike_points\tgrad_growth\tgap_pts\tval_rise_of_progress\tval_train_loss_ratio\tK\tlnK_removed\tacc_over_chance");
    for run in &runs {
        let view = RunView::new(run, &[], None);
        let ctx = Context::new(&view);
        let (_, loss) = ctx.loss();
        let worst = spikes::find(&loss).into_iter().max_by(|a, b| {
            (a.undone.min(1.0) * a.elevated_points as f64)
                .total_cmp(&(b.undone.min(1.0) * b.elevated_points as f64))
        });
        let (undone, points) = worst.map_or((0.0, 0), |s| (s.undone, s.elevated_points));
        let gn: Vec<f64> = ctx.clean(Role::GradNorm).iter().map(|p| p.1).collect();
        let growth = if gn.len() >= 30 {
            let head = stats::median(&gn[..(gn.len() / 20).max(3)]).unwrap_or(f64::NAN);
            let tail = stats::median(&gn[gn.len() - gn.len() / 10..]).unwrap_or(f64::NAN);
            tail / head
        } else {
            f64::NAN
        };
        let last = |r: Role| ctx.clean(r).last().map(|p| p.1);
        let gap = match (last(Role::TrainMetric), last(Role::ValMetric)) {
            (Some(t), Some(v)) if t <= 1.0 && v <= 1.0 => 100.0 * (t - v),
            _ => f64::NAN,
        };
        let val: Vec<f64> = ctx.clean(Role::ValLoss).iter().map(|p| p.1).collect();
        let rise = match (
            val.first(),
            val.iter().copied().reduce(f64::min),
            stats::tail_median(&val, 0.0, 3),
        ) {
            (Some(first), Some(best), Some(end)) if first > &best => (end - best) / (first - best),
            _ => f64::NAN,
        };
        let train = ctx.clean(Role::TrainLoss);
        let mut prev = i64::MIN;
        let mut ratios = Vec::new();
        for (s, v) in ctx.clean(Role::ValLoss) {
            let w: Vec<f64> = train
                .iter()
                .filter(|t| t.0 > prev && t.0 <= s)
                .map(|t| t.1)
                .collect();
            prev = s;
            if let Some(t) = stats::median(&w).filter(|t| *t > 0.0) {
                ratios.push(v / t);
            }
        }
        let ratio = stats::median(&ratios).unwrap_or(f64::NAN);
        let (k, removed, over) = match ctx.initial_classes {
            Some(k) => (
                k.to_string(),
                not_learning::chance_entropy_removed(&ctx, k).unwrap_or(f64::NAN),
                not_learning::accuracy_over_chance(&ctx, k).unwrap_or(f64::NAN),
            ),
            None => ("-".into(), f64::NAN, f64::NAN),
        };
        println!(
            "{}\t{undone:.2}\t{points}\t{growth:.1}\t{gap:.1}\t{rise:.3}\t{ratio:.2}\t{k}\t{removed:.3}\t{over:.3}",
            run.name
        );
    }
}
