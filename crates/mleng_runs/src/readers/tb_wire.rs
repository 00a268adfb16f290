//! A zero-copy reader for the few protobuf fields of `Event` and `Summary.Value` that the
//! hot path needs (wall_time, step, tag, simple_value). Decoding every record with prost
//! allocates a String and two Vecs per scalar; this keeps a 100 MB event file near disk
//! speed. Tensors and metadata (TF2, rare per record) still go through prost.
//! Wire format: https://protobuf.dev/programming-guides/encoding/ . Every read is
//! bounds-checked; malformed input yields `None`.

pub struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    pub fn new(buf: &'a [u8]) -> Wire<'a> {
        Wire { buf, pos: 0 }
    }

    #[inline]
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        // Keys, tag lengths and small steps are one byte.
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Some(u64::from(b))
            }
            _ => self.varint_long(),
        }
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    #[inline]
    fn fixed64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    #[inline]
    fn fixed32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    #[inline]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.take(n)
    }

    /// The next (field number, wire type), or `None` at the end or on garbage.
    #[inline]
    fn key(&mut self) -> Option<(u64, u8)> {
        let k = self.varint()?;
        Some((k >> 3, (k & 7) as u8))
    }

    #[inline]
    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.take(4).map(|_| ()),
            _ => None,
        }
    }
}

pub struct EventView<'a> {
    pub wall_time: f64,
    pub step: i64,
    pub summary: Option<&'a [u8]>,
}

pub fn event(buf: &[u8]) -> Option<EventView<'_>> {
    let mut w = Wire::new(buf);
    let mut ev = EventView {
        wall_time: 0.0,
        step: 0,
        summary: None,
    };
    while !w.done() {
        match w.key()? {
            (1, 1) => ev.wall_time = f64::from_bits(w.fixed64()?),
            (2, 0) => ev.step = w.varint()? as i64,
            (5, 2) => ev.summary = Some(w.bytes()?),
            (_, wire) => w.skip(wire)?,
        }
    }
    Some(ev)
}

#[derive(Default)]
pub struct ValueView<'a> {
    pub tag: &'a [u8],
    pub simple_value: Option<f32>,
    pub tensor: Option<&'a [u8]>,
    pub metadata: Option<&'a [u8]>,
}

/// Calls `f` for each `Summary.value`; `None` if the summary is malformed.
pub fn summary_values<'a>(buf: &'a [u8], mut f: impl FnMut(ValueView<'a>)) -> Option<()> {
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, 2) => f(value(w.bytes()?)?),
            (_, wire) => w.skip(wire)?,
        }
    }
    Some(())
}

fn value(buf: &[u8]) -> Option<ValueView<'_>> {
    let mut w = Wire::new(buf);
    let mut v = ValueView::default();
    while !w.done() {
        match w.key()? {
            (1, 2) => v.tag = w.bytes()?,
            (2, 5) => v.simple_value = Some(f32::from_bits(w.fixed32()?)),
            (8, 2) => v.tensor = Some(w.bytes()?),
            (9, 2) => v.metadata = Some(w.bytes()?),
            (_, wire) => w.skip(wire)?,
        }
    }
    Some(v)
}

/// One `add_scalar` record as PyTorch and TF1 write it: an Event of `wall_time`, `step`
/// and a Summary of one Value holding `tag` and `simple_value`, fields in that order.
pub struct SimpleScalar<'a> {
    pub wall_time: f64,
    pub step: i64,
    pub tag: &'a [u8],
    pub value: f32,
}

/// Reads `buf` if it is exactly the [`SimpleScalar`] layout, in one pass without the
/// nested decoders; `None` means "decode it the general way" (step 0 is not written, other
/// fields, other orders, several values). Where it answers, the answer is the general
/// decoders' answer.
pub fn simple_scalar(buf: &[u8]) -> Option<SimpleScalar<'_>> {
    let mut w = Wire::new(buf);
    if w.key()? != (1, 1) {
        return None;
    }
    let wall_time = f64::from_bits(w.fixed64()?);
    if w.key()? != (2, 0) {
        return None;
    }
    let step = w.varint()? as i64;
    // The summary, then its only value, each run to the end of the buffer.
    for field in [(5, 2), (1, 2)] {
        if w.key()? != field || usize::try_from(w.varint()?).ok()? != buf.len() - w.pos {
            return None;
        }
    }
    if w.key()? != (1, 2) {
        return None;
    }
    let tag = w.bytes()?;
    if w.key()? != (2, 5) {
        return None;
    }
    let value = f32::from_bits(w.fixed32()?);
    w.done().then_some(SimpleScalar {
        wall_time,
        step,
        tag,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::tb_proto::{Event, Summary, SummaryValue};
    use prost::Message;

    #[test]
    fn agrees_with_prost() {
        let e = Event {
            wall_time: 1.5e9,
            step: -3,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: "train/loss".into(),
                    simple_value: Some(0.25),
                    tensor: None,
                    metadata: None,
                }],
            }),
        };
        let bytes = e.encode_to_vec();
        let v = event(&bytes).unwrap();
        assert_eq!((v.wall_time, v.step), (1.5e9, -3));
        let mut seen = Vec::new();
        summary_values(v.summary.unwrap(), |x| {
            seen.push((x.tag.to_vec(), x.simple_value))
        })
        .unwrap();
        assert_eq!(seen, vec![(b"train/loss".to_vec(), Some(0.25))]);
    }

    proptest::proptest! {
        /// Wherever the shortcut answers, it answers what the general decoders say.
        #[test]
        fn simple_scalar_agrees_with_the_general_path(
            wall in proptest::prelude::any::<f64>(),
            step in proptest::prelude::any::<i64>(),
            tag in "[a-z/_]{0,12}",
            value in proptest::prelude::any::<Option<f32>>(),
            values in 0usize..3,
            cut in 0usize..64,
        ) {
            let e = Event {
                wall_time: wall,
                step,
                summary: Some(Summary {
                    value: (0..values)
                        .map(|_| SummaryValue { tag: tag.clone(), simple_value: value, tensor: None, metadata: None })
                        .collect(),
                }),
            };
            let mut bytes = e.encode_to_vec();
            for buf in [bytes.clone(), { bytes.truncate(bytes.len().saturating_sub(cut)); bytes }] {
                if let Some(s) = simple_scalar(&buf) {
                    let ev = event(&buf).unwrap();
                    proptest::prop_assert_eq!(ev.wall_time.to_bits(), s.wall_time.to_bits());
                    proptest::prop_assert_eq!(ev.step, s.step);
                    let mut seen = Vec::new();
                    summary_values(ev.summary.unwrap(), |v| seen.push((v.tag.to_vec(), v.simple_value.map(f32::to_bits), v.tensor.is_some(), v.metadata.is_some()))).unwrap();
                    proptest::prop_assert_eq!(seen, vec![(s.tag.to_vec(), Some(s.value.to_bits()), false, false)]);
                }
            }
        }
    }
}
