//! `--plot`: loss, metric, learning-rate and gradient-norm curves in a 2x2 grid, with the
//! detected events drawn as vertical lines (red: first NaN/inf, orange: spikes, green:
//! best validation loss, purple: other events). SVG, PNG, or an HTML page with the SVG
//! and the findings. Plotters' ab_glyph text backend needs a registered font, so DejaVu
//! Sans (Bitstream Vera licence, see assets/) is compiled in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::detect::{Level, Marker, MarkerKind};
use crate::diagnosis::Diagnosis;
use crate::error::{Result, RunsError};
use crate::roles::{Role, RunView};
use crate::series::{Run, Series};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1400, 900);
const LINEAR_LIMIT: f64 = 1e200;

fn ensure_font() -> std::result::Result<(), String> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, FONT).is_ok()
            && register_font(FAMILY, FontStyle::Bold, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the built-in font did not load".into())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Svg,
    Png,
    Html,
}

fn kind_of(path: &Path) -> Result<Kind> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "svg" => Ok(Kind::Svg),
        "png" => Ok(Kind::Png),
        "html" | "htm" => Ok(Kind::Html),
        _ => Err(RunsError::Usage(format!(
            "--plot {}: the file name must end in .svg, .png or .html",
            path.display()
        ))),
    }
}

/// Writes one plot per run; with several runs the run name is added before the extension.
pub fn write_plots(
    path: &Path,
    runs: &[Run],
    diagnoses: &[Diagnosis],
    overrides: &[(Role, String)],
    classes: Option<u32>,
) -> Result<Vec<PathBuf>> {
    let kind = kind_of(path)?;
    let mut written = Vec::new();
    for (run, diag) in runs.iter().zip(diagnoses) {
        let target = if runs.len() == 1 {
            path.to_path_buf()
        } else {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
            let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("svg");
            let safe: String = run
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            path.with_file_name(format!("{stem}-{safe}.{ext}"))
        };
        let view = RunView::new(run, overrides, classes);
        let err = |message: String| RunsError::Plot {
            path: target.clone(),
            message,
        };
        ensure_font().map_err(err)?;
        match kind {
            Kind::Svg => {
                let svg = render_svg(&view, diag).map_err(err)?;
                std::fs::write(&target, svg).map_err(|e| RunsError::io(&target, e))?;
            }
            Kind::Png => {
                let png = render_png(&view, diag).map_err(err)?;
                std::fs::write(&target, png).map_err(|e| RunsError::io(&target, e))?;
            }
            Kind::Html => {
                let svg = render_svg(&view, diag).map_err(err)?;
                std::fs::write(&target, html(&svg, diag)).map_err(|e| RunsError::io(&target, e))?;
            }
        }
        written.push(target);
    }
    Ok(written)
}

fn render_svg(view: &RunView<'_>, diag: &Diagnosis) -> std::result::Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, view, diag)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Draws into an RGB buffer with plotters' bitmap backend and encodes it with the `png` crate.
/// Plotters' own file encoder (`bitmap_encoder`) would build the whole `image` crate with its
/// JPEG and BMP codecs, about 20 s of a first build, for the one format written here.
fn render_png(view: &RunView<'_>, diag: &Diagnosis) -> std::result::Result<Vec<u8>, String> {
    let (width, height) = SIZE;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, view, diag)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html(svg: &str, d: &Diagnosis) -> String {
    let mut items = String::new();
    for e in &d.events {
        items.push_str(&format!(
            "<li><b>{} {} ({})</b>: {}<ul>{}</ul></li>\n",
            e.severity,
            e.code,
            e.name,
            escape(&e.title),
            e.evidence
                .iter()
                .chain(e.fixes.iter())
                .map(|l| format!("<li>{}</li>", escape(l)))
                .collect::<String>()
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>mleng diagnose: {run}</title>\
         <style>body{{font-family:sans-serif;max-width:1440px;margin:1em auto}}</style></head>\n\
         <body><h1>{run}</h1><p><b>{verdict}</b></p>\n{svg}\n<ul>{items}</ul></body></html>\n",
        run = escape(&d.run),
        verdict = escape(&d.verdict),
    )
}

struct Line<'a> {
    label: &'a str,
    series: &'a Series,
    color: RGBColor,
}

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(214, 39, 40);
const OTHER: RGBColor = RGBColor(44, 160, 44);

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    view: &RunView<'_>,
    diag: &Diagnosis,
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (header, body) = root.split_vertically(70);
    header
        .draw(&Text::new(
            format!("{}  —  {}", diag.run, diag.status.label()),
            (14, 8),
            (FAMILY, 24).into_font().style(FontStyle::Bold),
        ))
        .map_err(e)?;
    let verdict: String = diag.verdict.chars().take(170).collect();
    header
        .draw(&Text::new(verdict, (14, 42), (FAMILY, 16).into_font()))
        .map_err(e)?;
    let markers: Vec<&Marker> = diag
        .events
        .iter()
        .flat_map(|ev| ev.markers.iter())
        .collect();
    let levels: Vec<&Level> = diag.events.iter().flat_map(|ev| ev.levels.iter()).collect();
    let panels = body.split_evenly((2, 2));
    let line = |role: Role, label: &'static str, color| {
        view.get(role).map(|series| Line {
            label,
            series,
            color,
        })
    };
    let specs: [(&str, Vec<Line<'_>>, bool); 4] = [
        (
            "loss",
            [
                line(Role::TrainLoss, "train", TRAIN),
                line(Role::ValLoss, "val", VAL),
            ]
            .into_iter()
            .flatten()
            .collect(),
            true,
        ),
        (
            "metric",
            [
                line(Role::TrainMetric, "train", TRAIN),
                line(Role::ValMetric, "val", VAL),
            ]
            .into_iter()
            .flatten()
            .collect(),
            false,
        ),
        (
            "learning rate",
            [line(Role::LearningRate, "lr", OTHER)]
                .into_iter()
                .flatten()
                .collect(),
            false,
        ),
        (
            "gradient norm",
            [
                line(Role::GradNorm, "total", TRAIN),
                line(Role::GradNormFirstLayer, "first layer", VAL),
            ]
            .into_iter()
            .flatten()
            .collect(),
            true,
        ),
    ];
    // One x range for all four panels so events line up vertically.
    let steps = view
        .run
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.step));
    let x0 = steps.clone().min().unwrap_or(0) as f64;
    let x1 = (steps.max().unwrap_or(1) as f64).max(x0 + 1.0);
    for (i, (area, (title, lines, log))) in panels.iter().zip(specs.iter()).enumerate() {
        let overlay = Overlay {
            markers: &markers,
            levels: if i == 0 { &levels } else { &[] },
            x: (x0, x1),
            labels: i == 0,
        };
        panel(area, title, lines, *log, &overlay)?;
    }
    Ok(())
}

/// What every panel draws over its curves: event lines, reference levels (loss panel
/// only), the shared x range, and whether to write the event labels.
struct Overlay<'a> {
    markers: &'a [&'a Marker],
    levels: &'a [&'a Level],
    x: (f64, f64),
    labels: bool,
}

/// One chart. `log`: plot log10 of positive values when they span > 2 decades.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[Line<'_>],
    log: bool,
    overlay: &Overlay<'_>,
) -> std::result::Result<(), String> {
    let Overlay {
        markers,
        levels,
        x: (x0, x1),
        labels,
    } = *overlay;
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let finite: Vec<(i64, f64)> = lines
        .iter()
        .flat_map(|l| l.series.points.iter())
        .filter(|p| p.value.is_finite())
        .map(|p| (p.step, p.value))
        .collect();
    if finite.is_empty() {
        area.draw(&Text::new(
            format!("{title}: not logged"),
            (20, 20),
            (FAMILY, 16).into_font(),
        ))
        .map_err(e)?;
        return Ok(());
    }
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let use_log = log && lo > 0.0 && hi / lo > 100.0;
    // Plotters' tick search never ends when the axis span overflows (e.g. a loss logged
    // as -1.7e308 and +1.7e308); nothing that large is readable on a linear axis anyway.
    let tf = |v: f64| {
        if use_log {
            v.log10()
        } else {
            v.clamp(-LINEAR_LIMIT, LINEAR_LIMIT)
        }
    };
    let (mut y0, mut y1) = (tf(lo), tf(hi));
    if (y1 - y0).abs() <= 1e-9 * y0.abs().max(1e-300) {
        // A constant curve (a fixed LR): centre it instead of squashing it to 0.
        let half = if use_log {
            0.5
        } else {
            (y0.abs() * 0.5).max(1e-12)
        };
        y0 -= half;
        y1 += half;
    }
    let pad = (y1 - y0) * 0.05;
    let (y0, y1) = (y0 - pad, y1 + pad);
    let caption = if use_log {
        format!("{title} (log10)")
    } else {
        title.to_string()
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    let log_label = |v: &f64| log_tick(*v);
    let lin_label = |v: &f64| crate::stats::fmt(*v);
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|v: &f64| format!("{v:.0}"))
        .y_label_formatter(if use_log { &log_label } else { &lin_label })
        .label_style((FAMILY, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    // Shade everything after the first NaN/inf: those values are garbage.
    if let Some(nan) = markers.iter().find(|m| m.kind == MarkerKind::NonFinite) {
        let x = (nan.step as f64).clamp(x0, x1);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x, y0), (x1, y1)],
                RGBColor(255, 220, 220).filled(),
            )))
            .map_err(e)?;
    }
    let mut labelled = 0;
    for m in markers {
        let x = m.step as f64;
        if x < x0 || x > x1 {
            continue;
        }
        let (color, width) = match m.kind {
            MarkerKind::NonFinite => (RGBColor(220, 0, 0), 3),
            MarkerKind::Spike => (RGBColor(255, 140, 0), 1),
            MarkerKind::BestEpoch => (RGBColor(0, 150, 0), 2),
            MarkerKind::Event => (RGBColor(128, 0, 160), 2),
        };
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, y0), (x, y1)],
                color.stroke_width(width),
            )))
            .map_err(e)?;
        if labels && m.kind != MarkerKind::Spike {
            // Stagger labels so markers a few steps apart stay readable.
            labelled += 1;
            let y = y1 - (y1 - y0) * (0.04 + 0.06 * f64::from((labelled - 1) % 4));
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {}", m.label),
                    (x, y),
                    (FAMILY, 13).into_font().color(&color),
                )))
                .map_err(e)?;
        }
    }
    for l in lines {
        let pts: Vec<(f64, f64)> = l
            .series
            .points
            .iter()
            .filter(|p| p.value.is_finite() && (!use_log || p.value > 0.0))
            .map(|p| (p.step as f64, tf(p.value)))
            .collect();
        let color = l.color;
        let name = format!("{} ({})", l.label, l.series.name);
        if pts.len() <= 60 {
            chart
                .draw_series(PointSeries::of_element(
                    pts.clone(),
                    3,
                    color.filled(),
                    &|c, s, st| Circle::new(c, s, st),
                ))
                .map_err(e)?;
        }
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    // Drawn over the curves so the reference stays visible.
    for level in levels {
        let y = tf(level.value);
        if !(y0..=y1).contains(&y) {
            continue;
        }
        let grey = RGBColor(90, 90, 90);
        // Dashed: short segments across the panel.
        let n = 60;
        let seg = (x1 - x0) / f64::from(n);
        chart
            .draw_series((0..n).step_by(2).map(|k| {
                let a = x0 + seg * f64::from(k);
                PathElement::new(vec![(a, y), (a + seg, y)], grey.stroke_width(2))
            }))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{} = {}", level.label, crate::stats::fmt(level.value)),
                (x0 + (x1 - x0) * 0.55, y + (y1 - y0) * 0.035),
                (FAMILY, 13).into_font().color(&grey),
            )))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A tick on a log10 axis: whole decades as `0.01`, `1`, `100`, and beyond that as `1e4`,
/// `1e-5`, so one axis does not mix `10000.0` with `1.00e14`; other ticks as numbers.
fn log_tick(exponent: f64) -> String {
    let decade = exponent.round();
    if (exponent - decade).abs() > 1e-9 {
        return crate::stats::fmt(10f64.powf(exponent));
    }
    match decade as i64 {
        d @ 0..=2 => 10i64.pow(d as u32).to_string(),
        -1 => "0.1".to_string(),
        -2 => "0.01".to_string(),
        d => format!("1e{d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_decades_beyond_three_orders() {
        assert_eq!(log_tick(4.0), "1e4");
        assert_eq!(log_tick(35.0), "1e35");
        assert_eq!(log_tick(-5.0), "1e-5");
        assert_eq!(log_tick(2.0), "100");
        assert_eq!(log_tick(0.0), "1");
        assert_eq!(log_tick(-2.0), "0.01");
        assert_eq!(log_tick(2.5), crate::stats::fmt(10f64.powf(2.5)));
    }
}
