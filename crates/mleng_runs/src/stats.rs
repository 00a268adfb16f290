//! Small robust statistics used by the detectors. All functions ignore non-finite values
//! and return `None` on empty input instead of panicking.

pub fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

pub fn median(values: &[f64]) -> Option<f64> {
    median_with(values, &mut Vec::new())
}

/// [`median`] that reuses `scratch` instead of allocating: the detectors call it once per
/// point over a sliding window. Selection (`select_nth_unstable_by` with `total_cmp`, a
/// total order on the finite values) gives exactly the order statistics a full sort gives,
/// in O(n) instead of O(n log n).
pub fn median_with(values: &[f64], scratch: &mut Vec<f64>) -> Option<f64> {
    scratch.clear();
    scratch.extend(values.iter().copied().filter(|v| v.is_finite()));
    median_in_place(scratch)
}

/// Median of finite `v` (reorders it).
fn median_in_place(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let even = v.len().is_multiple_of(2);
    let (left, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if even {
        let below = left.iter().copied().max_by(f64::total_cmp)?;
        Some((below + m) / 2.0)
    } else {
        Some(m)
    }
}

/// Median absolute deviation scaled by 1.4826, so it estimates sigma for normal data.
pub fn mad(values: &[f64]) -> Option<f64> {
    median_mad_with(values, &mut Vec::new()).map(|(_, d)| d)
}

/// `(median, mad)` of `values` in one pass over a reused `scratch` buffer.
pub fn median_mad_with(values: &[f64], scratch: &mut Vec<f64>) -> Option<(f64, f64)> {
    let m = median_with(values, scratch)?;
    // scratch holds the finite values (reordered); the deviations' median does not care.
    for v in scratch.iter_mut() {
        *v = (*v - m).abs();
    }
    let d = median_in_place(scratch)?;
    Some((m, d * 1.4826))
}

/// The finite values of `values[lo..hi]`, kept sorted while the window slides right, so a
/// rolling median and MAD cost O(w) per step without allocating or re-sorting. Gives
/// exactly what [`median_mad_with`] gives on the same window.
pub struct SlidingWindow<'a> {
    values: &'a [f64],
    lo: usize,
    hi: usize,
    sorted: Vec<f64>,
}

impl<'a> SlidingWindow<'a> {
    pub fn new(values: &'a [f64]) -> SlidingWindow<'a> {
        SlidingWindow {
            values,
            lo: 0,
            hi: 0,
            sorted: Vec::new(),
        }
    }

    /// Makes the window `values[lo..hi]`: incremental when both ends move right and the
    /// windows overlap, else rebuilt.
    pub fn set(&mut self, lo: usize, hi: usize) {
        let hi = hi.min(self.values.len());
        let lo = lo.min(hi);
        let incremental = lo >= self.lo && hi >= self.hi && lo <= self.hi;
        if !incremental || !self.slide(lo, hi) {
            self.sorted.clear();
            let window = self.values.get(lo..hi).unwrap_or(&[]);
            self.sorted
                .extend(window.iter().copied().filter(|v| v.is_finite()));
            self.sorted.sort_unstable_by(f64::total_cmp);
        }
        self.lo = lo;
        self.hi = hi;
    }

    fn slide(&mut self, lo: usize, hi: usize) -> bool {
        let leaving = self.values.get(self.lo..lo).unwrap_or(&[]);
        for v in leaving.iter().filter(|v| v.is_finite()) {
            match self.sorted.binary_search_by(|x| x.total_cmp(v)) {
                Ok(at) => {
                    self.sorted.remove(at);
                }
                Err(_) => return false,
            }
        }
        let entering = self.values.get(self.hi..hi).unwrap_or(&[]);
        for v in entering.iter().filter(|v| v.is_finite()) {
            let at = self.sorted.partition_point(|x| x.total_cmp(v).is_lt());
            self.sorted.insert(at, *v);
        }
        true
    }

    /// The window's median, as [`median`].
    pub fn median(&self) -> Option<f64> {
        let s = &self.sorted;
        let mid = s.len() / 2;
        if s.len().is_multiple_of(2) {
            Some((s.get(mid.checked_sub(1)?)? + s.get(mid)?) / 2.0)
        } else {
            s.get(mid).copied()
        }
    }

    /// `(median, mad)` of the window, as [`median_mad_with`].
    pub fn median_mad(&self) -> Option<(f64, f64)> {
        let m = self.median()?;
        let s = &self.sorted;
        let n = s.len();
        let mid = n / 2;
        // Deviations grow outward from the middle on both sides: merge the two sorted
        // streams up to the middle one instead of sorting them.
        let mut left = s.get(..mid)?.iter().rev().map(|v| (v - m).abs()).peekable();
        let mut right = s.get(mid..)?.iter().map(|v| (v - m).abs()).peekable();
        let (mut prev, mut cur) = (f64::NAN, f64::NAN);
        for _ in 0..=mid {
            let take_left = match (left.peek(), right.peek()) {
                (Some(a), Some(b)) => a.total_cmp(b).is_le(),
                (Some(_), None) => true,
                _ => false,
            };
            let next = if take_left { left.next() } else { right.next() };
            prev = cur;
            cur = next?;
        }
        let d = if n.is_multiple_of(2) {
            (prev + cur) / 2.0
        } else {
            cur
        };
        Some((m, d * 1.4826))
    }
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
    let mut window = SlidingWindow::new(values);
    (0..values.len())
        .map(|i| {
            window.set((i + 1).saturating_sub(w), i + 1);
            window.median().unwrap_or(f64::NAN)
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

    /// The selection-based median must equal the sort-based definition exactly.
    fn sorted_median(values: &[f64]) -> Option<f64> {
        let mut v = finite(values);
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        match v.len() {
            0 => None,
            n if n % 2 == 0 => Some((v[mid - 1] + v[mid]) / 2.0),
            _ => Some(v[mid]),
        }
    }

    #[test]
    fn selection_median_matches_sorting() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut scratch = Vec::new();
        for n in 0..60 {
            let vals: Vec<f64> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match (x % 11, i % 5) {
                        (0, _) => f64::NAN,
                        (1, _) => 1.0,
                        (_, 0) => -((x >> 11) as f64) / 1e6,
                        _ => ((x >> 11) as f64) / 1e9,
                    }
                })
                .collect();
            let m = sorted_median(&vals);
            assert_eq!(
                median_with(&vals, &mut scratch).map(f64::to_bits),
                m.map(f64::to_bits)
            );
            let d = m.and_then(|m| {
                let dev: Vec<f64> = finite(&vals).iter().map(|v| (v - m).abs()).collect();
                sorted_median(&dev).map(|d| d * 1.4826)
            });
            assert_eq!(mad(&vals).map(f64::to_bits), d.map(f64::to_bits));
        }
    }

    #[test]
    fn sliding_window_matches_median_mad() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let vals: Vec<f64> = (0..3000)
            .map(|_| match next() % 13 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => 0.5,
                3 => -0.0,
                4 => 0.0,
                _ => ((next() >> 11) as f64 / 1e12) * if next() % 2 == 0 { 1.0 } else { -1.0 },
            })
            .collect();
        let mut win = SlidingWindow::new(&vals);
        let mut scratch = Vec::new();
        let (mut lo, mut hi) = (0usize, 0usize);
        while hi < vals.len() {
            match next() % 20 {
                0 => hi += (next() % 50) as usize,
                1 => lo = hi,
                2 => lo = lo.saturating_sub(5),
                _ => hi += 1,
            }
            lo = lo.max(hi.saturating_sub(21));
            win.set(lo, hi);
            let want = median_mad_with(
                vals.get(lo..hi.min(vals.len())).unwrap_or(&[]),
                &mut scratch,
            );
            let got = win.median_mad();
            assert_eq!(
                got.map(|(m, d)| (m.to_bits(), d.to_bits())),
                want.map(|(m, d)| (m.to_bits(), d.to_bits())),
                "window {lo}..{hi}"
            );
        }
    }

    #[test]
    fn robust_stats() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(mad(&[1.0, 1.0, 1.0, 10.0]), Some(0.0));
        assert_eq!(head_median(&[1.0, 2.0, 3.0, 4.0], 0.5, 1), Some(1.5));
        assert_eq!(tail_median(&[1.0, 2.0, 3.0, 4.0], 0.25, 1), Some(4.0));
        assert_eq!(fmt(1.8e14), "1.80e14");
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[-0.0, 0.0]), Some(0.0));
        let wavy: Vec<f64> = (0..200).map(|i| (f64::from(i) * 0.7).sin()).collect();
        let by_definition: Vec<u64> = (0..wavy.len())
            .map(|i| {
                median(&wavy[(i + 1).saturating_sub(9)..=i])
                    .unwrap_or(f64::NAN)
                    .to_bits()
            })
            .collect();
        let rolling: Vec<u64> = rolling_median(&wavy, 9)
            .into_iter()
            .map(f64::to_bits)
            .collect();
        assert_eq!(rolling, by_definition);
        assert_eq!(fmt(2.5), "2.5");
    }
}
