//! The parts of TensorFlow's `Event`/`Summary`/`TensorProto` messages that carry scalars,
//! hand-written from tensorflow/core/util/event.proto, core/framework/summary.proto and
//! core/framework/tensor.proto. Fields we do not declare are skipped by prost.

#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    #[prost(string, tag = "1")]
    pub plugin_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShape {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<TensorDim>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorDim {
    #[prost(int64, tag = "1")]
    pub size: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShape>,
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
}

/// TensorFlow `DataType` values we can turn into one scalar (types.proto).
pub const DT_FLOAT: i32 = 1;
pub const DT_DOUBLE: i32 = 2;
pub const DT_INT32: i32 = 3;
pub const DT_INT64: i32 = 9;
pub const DT_BFLOAT16: i32 = 14;
pub const DT_HALF: i32 = 19;

impl TensorProto {
    /// The tensor's single value, if it is a numeric tensor with exactly one element.
    pub fn scalar(&self) -> Option<f64> {
        // checked: adversarial dims must not overflow (a debug-build panic).
        let elements = match &self.tensor_shape {
            Some(s) => s
                .dim
                .iter()
                .try_fold(1i64, |acc, d| acc.checked_mul(d.size)),
            None => Some(1),
        };
        if elements != Some(1) {
            return None;
        }
        let content = self.tensor_content.as_slice();
        match self.dtype {
            DT_FLOAT => self.float_val.first().map(|&v| f64::from(v)).or_else(|| {
                let b: [u8; 4] = content.get(..4)?.try_into().ok()?;
                Some(f64::from(f32::from_le_bytes(b)))
            }),
            DT_DOUBLE => self.double_val.first().copied().or_else(|| {
                let b: [u8; 8] = content.get(..8)?.try_into().ok()?;
                Some(f64::from_le_bytes(b))
            }),
            DT_INT32 => self.int_val.first().map(|&v| f64::from(v)).or_else(|| {
                let b: [u8; 4] = content.get(..4)?.try_into().ok()?;
                Some(f64::from(i32::from_le_bytes(b)))
            }),
            DT_INT64 => self.int64_val.first().map(|&v| v as f64).or_else(|| {
                let b: [u8; 8] = content.get(..8)?.try_into().ok()?;
                Some(i64::from_le_bytes(b) as f64)
            }),
            DT_HALF => {
                let bits = match self.half_val.first() {
                    Some(&v) => v as u16,
                    None => u16::from_le_bytes(content.get(..2)?.try_into().ok()?),
                };
                Some(f16_to_f64(bits))
            }
            DT_BFLOAT16 => {
                let bits = match self.half_val.first() {
                    Some(&v) => v as u16,
                    None => u16::from_le_bytes(content.get(..2)?.try_into().ok()?),
                };
                Some(f64::from(f32::from_bits(u32::from(bits) << 16)))
            }
            _ => None,
        }
    }
}

/// IEEE 754 binary16 to f64, written out because std has no stable f16 yet.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f64;

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert!(f16_to_f64(0x7e00).is_nan());
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
    }
}
