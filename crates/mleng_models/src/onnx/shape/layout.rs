//! Pure shape arithmetic: matmul broadcasting, reshape, numpy-style slices, squeeze.

use super::ops::{axis, broadcast};
use super::Dim;

pub fn matmul_shape(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let a1 = a.len() == 1;
    let b1 = b.len() == 1;
    let a: Vec<Dim> = if a1 { vec![Some(1), a[0]] } else { a.to_vec() };
    let b: Vec<Dim> = if b1 { vec![b[0], Some(1)] } else { b.to_vec() };
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ab, am) = a.split_at(a.len() - 2);
    let (bb, bn) = b.split_at(b.len() - 2);
    let mut out = broadcast(ab, bb);
    if !a1 {
        out.push(am[0]);
    }
    if !b1 {
        out.push(bn[1]);
    }
    Some(out)
}

pub(super) fn reshape(x: Option<&[Dim]>, target: &[i64], allowzero: bool) -> Option<Vec<Dim>> {
    let mut out: Vec<Dim> = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            0 if !allowzero => out.push(x.and_then(|x| x.get(i).copied()).flatten()),
            -1 => {
                if infer_at.replace(i).is_some() {
                    return None;
                }
                out.push(None);
            }
            t if t >= 0 => out.push(Some(t)),
            _ => return None,
        }
    }
    // A target that cannot hold the input (e.g. a batch size baked in at export and a
    // different --batch now) is not a shape: leave it unknown rather than guess.
    let total = x.and_then(|x| x.iter().try_fold(1i64, |acc, d| acc.checked_mul((*d)?)));
    let fixed = out.iter().try_fold(1i64, |acc, d| acc.checked_mul((*d)?));
    if let (None, Some(t), Some(f)) = (infer_at, total, fixed) {
        if t != f {
            return None;
        }
    }
    if let Some(i) = infer_at {
        let total = x?.iter().try_fold(1i64, |acc, d| acc.checked_mul((*d)?));
        let known = out
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .try_fold(1i64, |acc, (_, d)| acc.checked_mul((*d)?));
        if let (Some(t), Some(k)) = (total, known) {
            if k != 0 {
                out[i] = Some(t / k);
            }
        }
    }
    Some(out)
}

pub(super) fn slice_range(rank: i64, start: i64, end: i64) -> Option<(usize, usize)> {
    let clamp = |v: i64| {
        let v = if v < 0 { v.saturating_add(rank) } else { v };
        v.clamp(0, rank) as usize
    };
    let (a, b) = (clamp(start), clamp(end));
    Some((a, b.max(a)))
}

pub(super) fn slice_len(dim: i64, start: i64, end: i64, step: i64) -> Option<(i64, i64)> {
    if step == 0 {
        return None;
    }
    let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
    let (s, e) = (norm(start), norm(end));
    if step > 0 {
        let s = s.clamp(0, dim);
        let e = e.clamp(0, dim);
        let len = if e > s { (e - s - 1) / step + 1 } else { 0 };
        Some((len, s))
    } else {
        let last = dim.checked_sub(1)?;
        let s = s.clamp(-1, last.max(-1));
        let e = e.clamp(-1, last.max(-1));
        let len = if s > e {
            (s - e - 1) / step.checked_neg()? + 1
        } else {
            0
        };
        Some((len, s))
    }
}

pub(super) fn squeeze(is_squeeze: bool, x: &[Dim], axes: Option<&[i64]>) -> Option<Vec<Dim>> {
    if is_squeeze {
        let axes: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&a| axis(a, x.len())).collect::<Option<_>>()?,
            None => x
                .iter()
                .enumerate()
                .filter(|(_, d)| **d == Some(1))
                .map(|(i, _)| i)
                .collect(),
        };
        Some(
            x.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, d)| *d)
                .collect(),
        )
    } else {
        let axes = axes?;
        let rank = x.len().checked_add(axes.len())?;
        let mut norm: Vec<usize> = axes.iter().map(|&a| axis(a, rank)).collect::<Option<_>>()?;
        norm.sort_unstable();
        let mut src = x.iter();
        Some(
            (0..rank)
                .map(|i| {
                    if norm.contains(&i) {
                        Some(1)
                    } else {
                        src.next().copied().flatten()
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_infers_minus_one() {
        let x = [Some(4), Some(64), Some(4), Some(4)];
        assert_eq!(
            reshape(Some(&x), &[4, -1], false),
            Some(vec![Some(4), Some(1024)])
        );
        assert_eq!(
            reshape(Some(&x), &[0, -1], false),
            Some(vec![Some(4), Some(1024)])
        );
    }

    #[test]
    fn matmul_broadcasts_batch() {
        let a = [Some(1), Some(3), Some(197), Some(64)];
        let b = [Some(1), Some(3), Some(64), Some(197)];
        assert_eq!(
            matmul_shape(&a, &b),
            Some(vec![Some(1), Some(3), Some(197), Some(197)])
        );
        assert_eq!(
            matmul_shape(&[Some(5)], &[Some(5), Some(7)]),
            Some(vec![Some(7)])
        );
    }

    #[test]
    fn slices_like_numpy() {
        assert_eq!(slice_len(10, 0, i64::MAX, 1), Some((10, 0)));
        assert_eq!(slice_len(10, -1, i64::MAX, 1), Some((1, 9)));
        assert_eq!(slice_len(10, -1, i64::MIN, -1), Some((10, 9)));
    }
}
