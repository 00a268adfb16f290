//! Small robust statistics used by the detectors. All functions ignore non-finite values
//! and return `None` on empty input instead of panicking.

pub fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = finite(values);
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        Some((v.get(mid - 1)? + v.get(mid)?) / 2.0)
    } else {
        v.get(mid).copied()
    }
}

/// Median absolute deviation scaled by 1.4826, so it estimates sigma for normal data.
pub fn mad(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    let dev: Vec<f64> = finite(values).iter().map(|v| (v - m).abs()).collect();
    median(&dev).map(|d| d * 1.4826)
}

/// Median of the first `frac` of the values (at least `min` of them).
pub fn head_median(values: &[f64], frac: f64, min: usize) -> Option<f64> {
    let n = ((values.len() as f64 * frac).ceil() as usize)
        .max(min)
        .min(values.len());
    median(values.get(..n)?)
}

/// Median of the last `frac` of the values (at least `min` of them).
pub fn tail_median(values: &[f64], frac: f64, min: usize) -> Option<f64> {
    let n = ((values.len() as f64 * frac).ceil() as usize)
        .max(min)
        .min(values.len());
    median(values.get(values.len() - n..)?)
}

/// Trailing rolling median of width `w` (window ends at each point, inclusive).
pub fn rolling_median(values: &[f64], w: usize) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            let lo = (i + 1).saturating_sub(w);
            values.get(lo..=i).and_then(median).unwrap_or(f64::NAN)
        })
        .collect()
}

/// Compact human number: 0.0123, 2.303, 1.8e14.
pub fn fmt(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_stats() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(mad(&[1.0, 1.0, 1.0, 10.0]), Some(0.0));
        assert_eq!(head_median(&[1.0, 2.0, 3.0, 4.0], 0.5, 1), Some(1.5));
        assert_eq!(tail_median(&[1.0, 2.0, 3.0, 4.0], 0.25, 1), Some(4.0));
        assert_eq!(fmt(1.8e14), "1.80e14");
        assert_eq!(fmt(2.5), "2.5");
    }
}
