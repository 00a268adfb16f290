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

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Option<u64> {
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

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn fixed64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn fixed32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.take(n)
    }

    /// The next (field number, wire type), or `None` at the end or on garbage.
    fn key(&mut self) -> Option<(u64, u8)> {
        let k = self.varint()?;
        Some((k >> 3, (k & 7) as u8))
    }

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
}
