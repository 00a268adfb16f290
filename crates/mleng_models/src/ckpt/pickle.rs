//! A restricted pickle reader for `torch.save` checkpoints.
//!
//! This is not an unpickler: it interprets the opcodes that build plain data (dicts, lists,
//! tuples, strings, numbers) and recognises a short allowlist of globals that `torch.save`
//! of a state dict emits (tensor rebuild functions, typed storages, `OrderedDict`). Nothing is
//! ever imported, called or executed; any other global is refused with its name, and opcodes
//! that only make sense for arbitrary objects (`INST`, `OBJ`, `NEWOBJ`, extensions, buffers)
//! are refused too. Opcode semantics follow CPython's `Lib/pickletools.py` documentation.
//!
//! Objects live in an arena and containers hold arena ids, so memo references share rather
//! than copy: a "billion laughs" pickle costs memory linear in its length.

use std::collections::HashMap;

use super::dtype::DType;

pub type Id = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Allowed),
    Storage(StorageRef),
    Tensor(TensorRef),
}

/// The globals we recognise. Each one is interpreted as data, never looked up or called.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowed {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
    CodecsEncode,
    TorchDevice,
    /// `torch.Size(tuple)`: a tuple.
    TorchSize,
    /// `builtins.set` / `frozenset`: kept as a list.
    Set,
    /// `torch.float32` and friends: the dtype's name.
    TorchDtype(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub dtype: DType,
    pub key: String,
    pub numel: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleError {
    #[error("refused global `{0}`: only the tensor/storage globals torch.save writes for a state dict are allowed, nothing is imported or run")]
    Global(String),
    #[error("refused opcode {name} (0x{code:02x}) at byte {pos}: it builds arbitrary objects")]
    Opcode {
        name: &'static str,
        code: u8,
        pos: usize,
    },
    #[error("unknown opcode 0x{code:02x} at byte {pos}")]
    Unknown { code: u8, pos: usize },
    #[error("truncated pickle at byte {0}")]
    Truncated(usize),
    #[error("malformed pickle at byte {pos}: {what}")]
    Malformed { pos: usize, what: String },
    #[error("pickle has no STOP opcode")]
    NoStop,
}

/// Upper bounds that keep hostile input from costing more than its size suggests.
const MAX_STACK: usize = 1 << 20;
const MAX_DEPTH_MARKS: usize = 1 << 16;

pub struct Pickle {
    pub arena: Vec<Obj>,
    pub root: Id,
}

impl Pickle {
    pub fn get(&self, id: Id) -> Option<&Obj> {
        self.arena.get(id)
    }
}

/// dtype objects that checkpoints store as values (e.g. an AMP config).
const TORCH_DTYPES: &[&str] = &[
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
    "float8_e4m3fn",
    "float8_e5m2",
];

fn allowed(module: &str, name: &str) -> Option<Allowed> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Allowed::OrderedDict,
        ("torch._utils", "_rebuild_tensor") => Allowed::RebuildTensor,
        ("torch._utils", "_rebuild_tensor_v2") => Allowed::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Allowed::RebuildParameter,
        ("_codecs", "encode") => Allowed::CodecsEncode,
        ("torch", "device") => Allowed::TorchDevice,
        ("torch", "Size") => Allowed::TorchSize,
        ("builtins" | "__builtin__", "set" | "frozenset") => Allowed::Set,
        ("torch", d) if TORCH_DTYPES.contains(&d) => Allowed::TorchDtype(
            TORCH_DTYPES
                .iter()
                .find(|x| **x == d)
                .copied()
                .unwrap_or("dtype"),
        ),
        ("torch", s) => Allowed::Storage(DType::from_torch_storage(s)?),
        _ => return None,
    })
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

impl<'a> Vm<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(PickleError::Truncated(self.pos))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(PickleError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = self
            .data
            .get(self.pos..)
            .ok_or(PickleError::Truncated(self.pos))?;
        let nl = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or(PickleError::Truncated(self.pos))?;
        let s = self.take(nl)?;
        self.pos += 1;
        std::str::from_utf8(s).map_err(|_| self.malformed("line is not UTF-8"))
    }
    fn sized(&mut self, n: u64) -> Result<&'a [u8], PickleError> {
        let n = usize::try_from(n).map_err(|_| PickleError::Truncated(self.pos))?;
        self.take(n)
    }
    fn malformed(&self, what: &str) -> PickleError {
        PickleError::Malformed {
            pos: self.pos,
            what: what.to_string(),
        }
    }
    fn new_obj(&mut self, o: Obj) -> Id {
        self.arena.push(o);
        self.arena.len() - 1
    }
    fn push(&mut self, o: Obj) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.malformed("stack too deep"));
        }
        let id = self.new_obj(o);
        self.stack.push(id);
        Ok(())
    }
    fn pop(&mut self) -> Result<Id, PickleError> {
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("pop from an empty stack"))
    }
    fn top(&self) -> Result<Id, PickleError> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.malformed("empty stack"))
    }
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let m = self.marks.pop().ok_or_else(|| self.malformed("no MARK"))?;
        if m > self.stack.len() {
            return Err(self.malformed("MARK past the stack"));
        }
        Ok(self.stack.split_off(m))
    }
    fn obj(&self, id: Id) -> &Obj {
        self.arena.get(id).unwrap_or(&Obj::None)
    }
    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }
    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.malformed(&format!("memo key {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }
    fn int_of(&self, id: Id) -> Option<i64> {
        match self.obj(id) {
            Obj::Int(i) => Some(*i),
            Obj::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
    fn ints_of(&self, id: Id) -> Option<Vec<u64>> {
        match self.obj(id) {
            Obj::Tuple(v) | Obj::List(v) => v
                .iter()
                .map(|&i| self.int_of(i).and_then(|i| u64::try_from(i).ok()))
                .collect(),
            _ => None,
        }
    }
    fn add_items(&mut self, target: Id, items: Vec<Id>) -> Result<(), PickleError> {
        let pos = self.pos;
        match self.arena.get_mut(target) {
            Some(Obj::Dict(d)) => {
                if !items.len().is_multiple_of(2) {
                    return Err(PickleError::Malformed {
                        pos,
                        what: "odd number of dict items".into(),
                    });
                }
                d.extend(items.chunks_exact(2).map(|c| (c[0], c[1])));
                Ok(())
            }
            Some(Obj::List(l)) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(PickleError::Malformed {
                pos,
                what: "items added to something that is not a dict or list".into(),
            }),
        }
    }

    fn reduce(&mut self, func: Id, args: Id) -> Result<Obj, PickleError> {
        let Obj::Global(g) = self.obj(func).clone() else {
            return Err(self.malformed("REDUCE on something that is not an allowed global"));
        };
        let args: Vec<Id> = match self.obj(args) {
            Obj::Tuple(a) => a.clone(),
            _ => return Err(self.malformed("REDUCE arguments are not a tuple")),
        };
        let arg = |i: usize| args.get(i).copied();
        match g {
            Allowed::OrderedDict => Ok(Obj::Dict(Vec::new())),
            Allowed::RebuildTensor | Allowed::RebuildTensorV2 => {
                let storage = match arg(0).map(|i| self.obj(i)) {
                    Some(Obj::Storage(s)) => s.clone(),
                    _ => return Err(self.malformed("tensor rebuild without a storage")),
                };
                let offset = arg(1)
                    .and_then(|i| self.int_of(i))
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or_else(|| self.malformed("tensor storage offset is not an int"))?;
                let shape = arg(2)
                    .and_then(|i| self.ints_of(i))
                    .ok_or_else(|| self.malformed("tensor size is not a tuple of ints"))?;
                let stride = arg(3)
                    .and_then(|i| self.ints_of(i))
                    .ok_or_else(|| self.malformed("tensor stride is not a tuple of ints"))?;
                if stride.len() != shape.len() {
                    return Err(self.malformed("tensor stride and size differ in length"));
                }
                Ok(Obj::Tensor(TensorRef {
                    storage,
                    offset,
                    shape,
                    stride,
                }))
            }
            Allowed::RebuildParameter => match arg(0).map(|i| self.obj(i)) {
                Some(t @ Obj::Tensor(_)) => Ok(t.clone()),
                _ => Err(self.malformed("parameter rebuild without a tensor")),
            },
            Allowed::CodecsEncode => match arg(0).map(|i| self.obj(i)) {
                // `_codecs.encode(str, "latin1")` is how protocol 2 spells a bytes object.
                Some(Obj::Str(s)) => Ok(Obj::Bytes(s.chars().map(|c| c as u32 as u8).collect())),
                _ => Err(self.malformed("_codecs.encode without a string")),
            },
            Allowed::TorchDevice => Ok(Obj::Str(match arg(0).map(|i| self.obj(i)) {
                Some(Obj::Str(s)) => s.clone(),
                _ => "device".into(),
            })),
            Allowed::TorchSize | Allowed::Set => {
                let items = match arg(0).map(|i| self.obj(i)) {
                    Some(Obj::Tuple(v) | Obj::List(v)) => v.clone(),
                    None => Vec::new(),
                    _ => return Err(self.malformed("torch.Size/set without a sequence")),
                };
                Ok(if g == Allowed::TorchSize {
                    Obj::Tuple(items)
                } else {
                    Obj::List(items)
                })
            }
            Allowed::TorchDtype(_) | Allowed::Storage(_) => {
                Err(self.malformed("a dtype or storage type called as a function"))
            }
        }
    }

    fn persistent(&mut self, pid: Id) -> Result<Obj, PickleError> {
        // torch.save: ('storage', <storage type>, key, location, numel)
        let items = match self.obj(pid) {
            Obj::Tuple(v) => v.clone(),
            _ => return Err(self.malformed("persistent id is not a tuple")),
        };
        let get = |i: usize| items.get(i).copied();
        if !matches!(get(0).map(|i| self.obj(i)), Some(Obj::Str(s)) if s == "storage") {
            return Err(self.malformed("persistent id is not a torch storage"));
        }
        let dtype = match get(1).map(|i| self.obj(i)) {
            Some(Obj::Global(Allowed::Storage(d))) => *d,
            _ => return Err(self.malformed("storage without a known storage type")),
        };
        let key = match get(2).map(|i| self.obj(i)) {
            Some(Obj::Str(s)) => s.clone(),
            _ => return Err(self.malformed("storage key is not a string")),
        };
        let numel = get(4)
            .and_then(|i| self.int_of(i))
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| self.malformed("storage size is not an int"))?;
        Ok(Obj::Storage(StorageRef { dtype, key, numel }))
    }
}

fn refused(name: &'static str, code: u8, pos: usize) -> PickleError {
    PickleError::Opcode { name, code, pos }
}

pub fn parse(data: &[u8]) -> Result<Pickle, PickleError> {
    let mut vm = Vm {
        data,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let at = vm.pos;
        let Ok(code) = vm.u8() else {
            return Err(PickleError::NoStop);
        };
        match code {
            0x80 => {
                vm.u8()?; // PROTO
            }
            0x95 => {
                vm.u64()?; // FRAME: a length hint only
            }
            b'.' => {
                let root = vm.pop()?;
                return Ok(Pickle {
                    arena: vm.arena,
                    root,
                });
            }
            b'(' => {
                if vm.marks.len() >= MAX_DEPTH_MARKS {
                    return Err(vm.malformed("too many nested MARKs"));
                }
                vm.marks.push(vm.stack.len());
            }
            b'0' => {
                vm.pop()?;
            }
            b'1' => {
                vm.pop_mark()?;
            }
            b'2' => {
                let t = vm.top()?;
                vm.stack.push(t);
            }
            b'N' => vm.push(Obj::None)?,
            0x88 => vm.push(Obj::Bool(true))?,
            0x89 => vm.push(Obj::Bool(false))?,
            b'J' => {
                let v = vm.u32()? as i32;
                vm.push(Obj::Int(i64::from(v)))?
            }
            b'K' => {
                let v = vm.u8()?;
                vm.push(Obj::Int(i64::from(v)))?
            }
            b'M' => {
                let v = vm.u16()?;
                vm.push(Obj::Int(i64::from(v)))?
            }
            0x8a | 0x8b => {
                let n = if code == 0x8a {
                    u64::from(vm.u8()?)
                } else {
                    u64::from(vm.u32()?)
                };
                let b = vm.sized(n)?;
                if b.len() > 8 {
                    return Err(vm.malformed("integer wider than 64 bits"));
                }
                let mut a = [0u8; 8];
                let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
                if neg {
                    a = [0xff; 8];
                }
                a[..b.len()].copy_from_slice(b);
                vm.push(Obj::Int(i64::from_le_bytes(a)))?
            }
            b'I' | b'L' => {
                let line = vm.line()?.trim_end_matches('L');
                let o = match line {
                    "00" => Obj::Bool(false),
                    "01" => Obj::Bool(true),
                    l => Obj::Int(l.parse().map_err(|_| vm.malformed("bad INT"))?),
                };
                vm.push(o)?
            }
            b'G' => {
                // BINFLOAT is big-endian.
                let b = vm.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                vm.push(Obj::Float(f64::from_be_bytes(a)))?
            }
            b'F' => {
                let v = vm.line()?.parse().map_err(|_| vm.malformed("bad FLOAT"))?;
                vm.push(Obj::Float(v))?
            }
            b'X' | 0x8c | 0x8d => {
                let n = match code {
                    b'X' => u64::from(vm.u32()?),
                    0x8c => u64::from(vm.u8()?),
                    _ => vm.u64()?,
                };
                let b = vm.sized(n)?;
                let s = std::str::from_utf8(b).map_err(|_| vm.malformed("string is not UTF-8"))?;
                vm.push(Obj::Str(s.to_string()))?
            }
            b'S' => {
                // STRING: a quoted Python literal; kept verbatim without unescaping.
                let l = vm.line()?;
                let q = l
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .or_else(|| l.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
                    .ok_or_else(|| vm.malformed("STRING without quotes"))?
                    .to_string();
                vm.push(Obj::Str(q))?
            }
            b'V' => {
                let s = vm.line()?.to_string();
                vm.push(Obj::Str(s))?
            }
            b'T' | b'U' | b'B' | b'C' | 0x8e => {
                let n = match code {
                    b'T' | b'B' => u64::from(vm.u32()?),
                    b'U' | b'C' => u64::from(vm.u8()?),
                    _ => vm.u64()?,
                };
                let b = vm.sized(n)?.to_vec();
                vm.push(Obj::Bytes(b))?
            }
            b')' => vm.push(Obj::Tuple(Vec::new()))?,
            b't' => {
                let items = vm.pop_mark()?;
                vm.push(Obj::Tuple(items))?
            }
            0x85..=0x87 => {
                let n = usize::from(code - 0x84);
                if vm.stack.len() < n {
                    return Err(vm.malformed("tuple from a short stack"));
                }
                let items = vm.stack.split_off(vm.stack.len() - n);
                vm.push(Obj::Tuple(items))?
            }
            b']' => vm.push(Obj::List(Vec::new()))?,
            b'l' => {
                let items = vm.pop_mark()?;
                vm.push(Obj::List(items))?
            }
            b'a' => {
                let v = vm.pop()?;
                let l = vm.top()?;
                vm.add_items(l, vec![v])?
            }
            b'e' => {
                let items = vm.pop_mark()?;
                let l = vm.top()?;
                vm.add_items(l, items)?
            }
            b'}' => vm.push(Obj::Dict(Vec::new()))?,
            b'd' => {
                let items = vm.pop_mark()?;
                if !items.len().is_multiple_of(2) {
                    return Err(vm.malformed("odd number of dict items"));
                }
                let pairs = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                vm.push(Obj::Dict(pairs))?
            }
            b's' => {
                let v = vm.pop()?;
                let k = vm.pop()?;
                let d = vm.top()?;
                vm.add_items(d, vec![k, v])?
            }
            b'u' => {
                let items = vm.pop_mark()?;
                let d = vm.top()?;
                vm.add_items(d, items)?
            }
            0x8f => vm.push(Obj::List(Vec::new()))?, // EMPTY_SET: kept as a list of items
            0x90 => {
                let items = vm.pop_mark()?;
                let s = vm.top()?;
                vm.add_items(s, items)?
            }
            0x91 => {
                let items = vm.pop_mark()?;
                vm.push(Obj::List(items))?
            }
            b'c' => {
                let module = vm.line()?;
                let name = vm.line()?;
                let g = allowed(module, name)
                    .ok_or_else(|| PickleError::Global(format!("{module}.{name}")))?;
                vm.push(Obj::Global(g))?
            }
            0x93 => {
                let name = vm.pop()?;
                let module = vm.pop()?;
                let (Obj::Str(m), Obj::Str(n)) = (vm.obj(module).clone(), vm.obj(name).clone())
                else {
                    return Err(vm.malformed("STACK_GLOBAL needs two strings"));
                };
                let g = allowed(&m, &n).ok_or_else(|| PickleError::Global(format!("{m}.{n}")))?;
                vm.push(Obj::Global(g))?
            }
            b'R' => {
                let args = vm.pop()?;
                let func = vm.pop()?;
                let o = vm.reduce(func, args)?;
                vm.push(o)?
            }
            b'b' => {
                // BUILD: set state. Only dict updates are data; other state is dropped.
                let state = vm.pop()?;
                let target = vm.top()?;
                if let (Obj::Dict(items), Some(Obj::Dict(_))) =
                    (vm.obj(state).clone(), vm.arena.get(target))
                {
                    let flat = items.into_iter().flat_map(|(k, v)| [k, v]).collect();
                    vm.add_items(target, flat)?;
                }
            }
            b'Q' => {
                let pid = vm.pop()?;
                let o = vm.persistent(pid)?;
                vm.push(o)?
            }
            b'P' => return Err(refused("PERSID", code, at)),
            b'h' => {
                let k = vm.u8()?;
                vm.memo_get(u64::from(k))?
            }
            b'j' => {
                let k = vm.u32()?;
                vm.memo_get(u64::from(k))?
            }
            b'g' => {
                let k = vm.line()?.parse().map_err(|_| vm.malformed("bad GET"))?;
                vm.memo_get(k)?
            }
            b'q' => {
                let k = vm.u8()?;
                vm.memo_put(u64::from(k))?
            }
            b'r' => {
                let k = vm.u32()?;
                vm.memo_put(u64::from(k))?
            }
            b'p' => {
                let k = vm.line()?.parse().map_err(|_| vm.malformed("bad PUT"))?;
                vm.memo_put(k)?
            }
            0x94 => {
                let k = vm.memo.len() as u64;
                vm.memo_put(k)?
            }
            b'i' => return Err(refused("INST", code, at)),
            b'o' => return Err(refused("OBJ", code, at)),
            0x81 => return Err(refused("NEWOBJ", code, at)),
            0x92 => return Err(refused("NEWOBJ_EX", code, at)),
            0x82..=0x84 => return Err(refused("EXT", code, at)),
            0x96..=0x98 => return Err(refused("BUFFER", code, at)),
            _ => return Err(PickleError::Unknown { code, pos: at }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_os_system_by_name() {
        // protocol 0: GLOBAL 'os system', then a REDUCE that must never happen.
        let p = b"cos\nsystem\n(S'echo pwned'\ntR.";
        assert_eq!(
            parse(p).err(),
            Some(PickleError::Global("os.system".into()))
        );
        // protocol 4 spelling with STACK_GLOBAL.
        let p = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
        assert_eq!(
            parse(p).err(),
            Some(PickleError::Global("os.system".into()))
        );
    }

    #[test]
    fn builds_plain_data() {
        // {'epoch': 3, 'lr': [0.5]} at protocol 2.
        let p = b"\x80\x02}q\x00(X\x05\x00\x00\x00epochq\x01K\x03X\x02\x00\x00\x00lrq\x02]q\x03G?\xe0\x00\x00\x00\x00\x00\x00au.";
        let pk = parse(p).unwrap();
        let Some(Obj::Dict(items)) = pk.get(pk.root) else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        assert_eq!(pk.get(items[0].1), Some(&Obj::Int(3)));
        let Some(Obj::List(l)) = pk.get(items[1].1) else {
            panic!()
        };
        assert_eq!(pk.get(l[0]), Some(&Obj::Float(0.5)));
    }

    #[test]
    fn allowlisted_data_globals() {
        // CPython: pickle.dumps({'s': {1, 2}}, protocol=2)
        let p = b"\x80\x02}q\x00X\x01\x00\x00\x00sq\x01c__builtin__\nset\nq\x02]q\x03(K\x01K\x02e\x85q\x04Rq\x05s.";
        let pk = parse(p).unwrap();
        let Some(Obj::Dict(items)) = pk.get(pk.root) else {
            panic!()
        };
        assert!(matches!(pk.get(items[0].1), Some(Obj::List(l)) if l.len() == 2));
        assert!(parse(b"ctorch\nfloat16\n.").is_ok());
        assert!(parse(b"ctorch\nSize\n((K\x02K\x03ttR.").is_ok());
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\x80\x02}").is_err());
        assert!(parse(b"\xff").is_err());
        assert!(parse(b"h\x05.").is_err());
    }
}
