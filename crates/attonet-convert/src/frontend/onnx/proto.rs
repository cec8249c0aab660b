//! A bounds-checked reader of the protobuf wire format and of the ONNX
//! messages the converter needs (`ModelProto`, `GraphProto`, `NodeProto`,
//! `AttributeProto`, `TensorProto`, `ValueInfoProto`).
//!
//! Hand-written (no code generator): every length, varint and field is
//! checked against the bytes that are really there, so a truncated or
//! corrupt file gives an error, never a panic. Nothing is allocated beyond a
//! small multiple of the input's size: strings and raw tensor data borrow
//! the input, repeated scalars are counted from the bytes that hold them.
//! Nested messages are read to a fixed depth (subgraphs in attributes are
//! skipped, not parsed), so hostile nesting cannot exhaust the stack.

use std::fmt;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// What was being read (a path such as `graph.node[3].attribute[1]`).
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Results of the wire reader.
pub type WireResult<T> = std::result::Result<T, WireError>;

fn err<T>(at: &str, message: impl Into<String>) -> WireResult<T> {
    Err(WireError {
        at: at.to_string(),
        message: message.into(),
    })
}

/// One field's value as the wire format gives it.
#[derive(Debug, Clone, Copy)]
pub enum Wire<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: bytes, string, message or packed repeated scalars.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// Iterates over the fields of one message.
pub struct Fields<'a, 'b> {
    buf: &'a [u8],
    pos: usize,
    at: &'b str,
}

impl<'a, 'b> Fields<'a, 'b> {
    /// The fields of the message in `buf`; `at` names it in errors.
    pub fn new(buf: &'a [u8], at: &'b str) -> Self {
        Fields { buf, pos: 0, at }
    }

    fn varint(&mut self) -> WireResult<u64> {
        read_varint(self.buf, &mut self.pos, self.at)
    }

    /// The next field number and value, or `None` at the end of the message.
    pub fn next_field(&mut self) -> WireResult<Option<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let start = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u32::MAX as u64 >> 3 {
            return err(
                self.at,
                format!("invalid field number {field} at byte {start}"),
            );
        }
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().map_err(
                |_| WireError {
                    at: self.at.to_string(),
                    message: "short fixed64".into(),
                },
            )?)),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).ok().filter(|&l| l <= self.buf.len());
                let Some(len) = len else {
                    return err(
                        self.at,
                        format!("field {field}: length runs past the end of the message"),
                    );
                };
                Wire::Bytes(self.take(len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().map_err(
                |_| WireError {
                    at: self.at.to_string(),
                    message: "short fixed32".into(),
                },
            )?)),
            t => {
                return err(
                    self.at,
                    format!("field {field} has wire type {t}, which is not supported (groups are deprecated)"),
                )
            }
        };
        Ok(Some((field as u32, value)))
    }

    fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => err(
                self.at,
                format!(
                    "truncated: {n} bytes needed at byte {} of a {}-byte message",
                    self.pos,
                    self.buf.len()
                ),
            ),
        }
    }
}

fn read_varint(buf: &[u8], pos: &mut usize, at: &str) -> WireResult<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return err(at, "truncated varint");
        };
        *pos += 1;
        if i == 9 && b > 1 {
            return err(at, "varint longer than 64 bits");
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    err(at, "varint longer than 10 bytes")
}

fn as_str<'a>(w: Wire<'a>, at: &str, what: &str) -> WireResult<&'a str> {
    match w {
        Wire::Bytes(b) => {
            std::str::from_utf8(b).or_else(|_| err(at, format!("{what} is not UTF-8")))
        }
        _ => err(at, format!("{what} has the wrong wire type")),
    }
}

fn as_bytes<'a>(w: Wire<'a>, at: &str, what: &str) -> WireResult<&'a [u8]> {
    match w {
        Wire::Bytes(b) => Ok(b),
        _ => err(at, format!("{what} has the wrong wire type")),
    }
}

fn as_varint(w: Wire<'_>, at: &str, what: &str) -> WireResult<u64> {
    match w {
        Wire::Varint(v) => Ok(v),
        _ => err(at, format!("{what} has the wrong wire type")),
    }
}

fn as_i64(w: Wire<'_>, at: &str, what: &str) -> WireResult<i64> {
    as_varint(w, at, what).map(|v| v as i64)
}

fn as_i32(w: Wire<'_>, at: &str, what: &str) -> WireResult<i32> {
    // int32 fields are sign-extended to 64 bits on the wire.
    as_varint(w, at, what).map(|v| v as i64 as i32)
}

fn as_f32(w: Wire<'_>, at: &str, what: &str) -> WireResult<f32> {
    match w {
        Wire::Fixed32(v) => Ok(f32::from_bits(v)),
        _ => err(at, format!("{what} has the wrong wire type")),
    }
}

/// Appends a repeated varint field, packed or not.
fn push_varints(out: &mut Vec<i64>, w: Wire<'_>, at: &str, what: &str) -> WireResult<()> {
    match w {
        Wire::Varint(v) => out.push(v as i64),
        Wire::Bytes(b) => {
            let mut pos = 0;
            while pos < b.len() {
                out.push(read_varint(b, &mut pos, at)? as i64);
            }
        }
        _ => return err(at, format!("{what} has the wrong wire type")),
    }
    Ok(())
}

/// Appends a repeated float field, packed or not.
fn push_f32s(out: &mut Vec<f32>, w: Wire<'_>, at: &str, what: &str) -> WireResult<()> {
    match w {
        Wire::Fixed32(v) => out.push(f32::from_bits(v)),
        Wire::Bytes(b) => {
            if b.len() % 4 != 0 {
                return err(
                    at,
                    format!("packed {what} is {} bytes, not a multiple of 4", b.len()),
                );
            }
            out.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        _ => return err(at, format!("{what} has the wrong wire type")),
    }
    Ok(())
}

/// Appends a repeated double field, packed or not.
fn push_f64s(out: &mut Vec<f64>, w: Wire<'_>, at: &str, what: &str) -> WireResult<()> {
    match w {
        Wire::Fixed64(v) => out.push(f64::from_bits(v)),
        Wire::Bytes(b) => {
            if b.len() % 8 != 0 {
                return err(
                    at,
                    format!("packed {what} is {} bytes, not a multiple of 8", b.len()),
                );
            }
            out.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
            );
        }
        _ => return err(at, format!("{what} has the wrong wire type")),
    }
    Ok(())
}

/// `TensorProto.DataType` codes.
pub mod data_type {
    /// float32.
    pub const FLOAT: i32 = 1;
    /// uint8.
    pub const UINT8: i32 = 2;
    /// int8.
    pub const INT8: i32 = 3;
    /// uint16.
    pub const UINT16: i32 = 4;
    /// int16.
    pub const INT16: i32 = 5;
    /// int32.
    pub const INT32: i32 = 6;
    /// int64.
    pub const INT64: i32 = 7;
    /// bool.
    pub const BOOL: i32 = 9;
    /// float64.
    pub const DOUBLE: i32 = 11;

    /// A readable name of a data type code.
    pub fn name(code: i32) -> String {
        match code {
            FLOAT => "float32".into(),
            UINT8 => "uint8".into(),
            INT8 => "int8".into(),
            UINT16 => "uint16".into(),
            INT16 => "int16".into(),
            INT32 => "int32".into(),
            INT64 => "int64".into(),
            8 => "string".into(),
            BOOL => "bool".into(),
            10 => "float16".into(),
            DOUBLE => "float64".into(),
            12 => "uint32".into(),
            13 => "uint64".into(),
            16 => "bfloat16".into(),
            c => format!("data type {c}"),
        }
    }
}

/// A `TensorProto` (an initializer or an attribute's tensor).
#[derive(Debug, Clone, Default)]
pub struct TensorProto<'a> {
    /// Dimensions (may be negative in a corrupt file; checked when used).
    pub dims: Vec<i64>,
    /// `DataType` code.
    pub data_type: i32,
    /// Name.
    pub name: &'a str,
    /// `raw_data`, little-endian.
    pub raw_data: Option<&'a [u8]>,
    /// `float_data`.
    pub float_data: Vec<f32>,
    /// `int32_data` (also holds int8, uint8, int16, uint16, bool).
    pub int32_data: Vec<i64>,
    /// `int64_data`.
    pub int64_data: Vec<i64>,
    /// `double_data`.
    pub double_data: Vec<f64>,
    /// Whether the data lives in an external file (`data_location` EXTERNAL).
    pub external: bool,
    /// Whether the tensor is segmented (not supported).
    pub segmented: bool,
}

/// Decoded tensor contents.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// float32 (float64 is narrowed).
    F32(Vec<f32>),
    /// Any integer type, widened.
    Int(Vec<i64>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::Int(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            TensorData::F32(v) => v.clone(),
            TensorData::Int(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

impl<'a> TensorProto<'a> {
    /// Parses a `TensorProto`.
    pub fn parse(buf: &'a [u8], at: &str) -> WireResult<TensorProto<'a>> {
        let mut t = TensorProto::default();
        let mut f = Fields::new(buf, at);
        while let Some((field, w)) = f.next_field()? {
            match field {
                1 => push_varints(&mut t.dims, w, at, "dims")?,
                2 => t.data_type = as_i32(w, at, "data_type")?,
                3 => t.segmented = true,
                4 => push_f32s(&mut t.float_data, w, at, "float_data")?,
                5 => push_varints(&mut t.int32_data, w, at, "int32_data")?,
                7 => push_varints(&mut t.int64_data, w, at, "int64_data")?,
                8 => t.name = as_str(w, at, "name")?,
                9 => t.raw_data = Some(as_bytes(w, at, "raw_data")?),
                10 => push_f64s(&mut t.double_data, w, at, "double_data")?,
                13 => t.external = true,
                14 => t.external |= as_varint(w, at, "data_location")? == 1,
                _ => {}
            }
        }
        Ok(t)
    }

    /// Dimensions as `usize`, checked (no negative dimension, no overflowing product).
    pub fn shape(&self, at: &str) -> WireResult<Vec<usize>> {
        let mut shape = Vec::with_capacity(self.dims.len());
        let mut n: usize = 1;
        for &d in &self.dims {
            let Ok(d) = usize::try_from(d) else {
                return err(at, format!("tensor '{}' has dimension {d}", self.name));
            };
            n = match n.checked_mul(d) {
                Some(n) => n,
                None => return err(at, format!("tensor '{}' has too many elements", self.name)),
            };
            shape.push(d);
        }
        Ok(shape)
    }

    /// The contents, checked against the shape.
    pub fn data(&self, at: &str) -> WireResult<TensorData> {
        use data_type as dt;
        if self.external {
            return err(
                at,
                format!(
                    "tensor '{}' keeps its data in an external file, which is not supported (save the model with its weights inside)",
                    self.name
                ),
            );
        }
        if self.segmented {
            return err(
                at,
                format!(
                    "tensor '{}' is segmented, which is not supported",
                    self.name
                ),
            );
        }
        let shape = self.shape(at)?;
        let n: usize = shape.iter().product();
        let data = if let Some(raw) = self.raw_data {
            let size = match self.data_type {
                dt::FLOAT | dt::INT32 => 4,
                dt::UINT8 | dt::INT8 | dt::BOOL => 1,
                dt::UINT16 | dt::INT16 => 2,
                dt::INT64 | dt::DOUBLE => 8,
                other => {
                    return err(
                        at,
                        format!(
                            "tensor '{}' is {}, which is not supported",
                            self.name,
                            dt::name(other)
                        ),
                    )
                }
            };
            if Some(raw.len()) != n.checked_mul(size) {
                return err(
                    at,
                    format!(
                        "tensor '{}' has {} bytes of raw data for {n} elements of {size} bytes",
                        self.name,
                        raw.len()
                    ),
                );
            }
            match self.data_type {
                dt::FLOAT => TensorData::F32(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ),
                dt::DOUBLE => TensorData::F32(
                    raw.chunks_exact(8)
                        .map(|c| {
                            f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                                as f32
                        })
                        .collect(),
                ),
                dt::INT32 => TensorData::Int(
                    raw.chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                        .collect(),
                ),
                dt::INT64 => TensorData::Int(
                    raw.chunks_exact(8)
                        .map(|c| {
                            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect(),
                ),
                dt::INT8 => TensorData::Int(raw.iter().map(|&b| b as i8 as i64).collect()),
                dt::UINT8 | dt::BOOL => TensorData::Int(raw.iter().map(|&b| b as i64).collect()),
                dt::INT16 => TensorData::Int(
                    raw.chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                        .collect(),
                ),
                _ => TensorData::Int(
                    raw.chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                        .collect(),
                ),
            }
        } else {
            let d = match self.data_type {
                dt::FLOAT => TensorData::F32(self.float_data.clone()),
                dt::DOUBLE => TensorData::F32(self.double_data.iter().map(|&v| v as f32).collect()),
                dt::INT64 => TensorData::Int(self.int64_data.clone()),
                dt::INT32 => {
                    TensorData::Int(self.int32_data.iter().map(|&v| v as i32 as i64).collect())
                }
                dt::INT8 => {
                    TensorData::Int(self.int32_data.iter().map(|&v| v as i8 as i64).collect())
                }
                dt::UINT8 | dt::BOOL => {
                    TensorData::Int(self.int32_data.iter().map(|&v| v as u8 as i64).collect())
                }
                dt::INT16 => {
                    TensorData::Int(self.int32_data.iter().map(|&v| v as i16 as i64).collect())
                }
                dt::UINT16 => {
                    TensorData::Int(self.int32_data.iter().map(|&v| v as u16 as i64).collect())
                }
                other => {
                    return err(
                        at,
                        format!(
                            "tensor '{}' is {}, which is not supported",
                            self.name,
                            dt::name(other)
                        ),
                    )
                }
            };
            if d.len() != n {
                return err(
                    at,
                    format!(
                        "tensor '{}' holds {} values for shape {shape:?} ({n} elements)",
                        self.name,
                        d.len()
                    ),
                );
            }
            d
        };
        Ok(data)
    }
}

/// An attribute's value.
#[derive(Debug, Clone)]
pub enum AttrValue<'a> {
    /// `f`.
    Float(f32),
    /// `i`.
    Int(i64),
    /// `s`.
    String(&'a [u8]),
    /// `t`.
    Tensor(Box<TensorProto<'a>>),
    /// `floats`.
    Floats(Vec<f32>),
    /// `ints`.
    Ints(Vec<i64>),
    /// A kind the converter never reads (graphs, strings lists, sparse tensors).
    Other(i32),
}

/// An `AttributeProto`.
#[derive(Debug, Clone)]
pub struct Attribute<'a> {
    /// Name.
    pub name: &'a str,
    /// Value.
    pub value: AttrValue<'a>,
}

impl<'a> Attribute<'a> {
    fn parse(buf: &'a [u8], at: &str) -> WireResult<Attribute<'a>> {
        let mut name = "";
        let mut ty: i32 = 0;
        let (mut f_, mut i_, mut s_, mut t_) = (None, None, None, None);
        let (mut floats, mut ints) = (Vec::new(), Vec::new());
        let mut other_seen = false;
        let mut fields = Fields::new(buf, at);
        while let Some((field, w)) = fields.next_field()? {
            match field {
                1 => name = as_str(w, at, "name")?,
                20 => ty = as_i32(w, at, "type")?,
                2 => f_ = Some(as_f32(w, at, "f")?),
                3 => i_ = Some(as_i64(w, at, "i")?),
                4 => s_ = Some(as_bytes(w, at, "s")?),
                5 => t_ = Some(TensorProto::parse(as_bytes(w, at, "t")?, at)?),
                7 => push_f32s(&mut floats, w, at, "floats")?,
                8 => push_varints(&mut ints, w, at, "ints")?,
                6 | 9 | 10 | 11 | 22 | 23 | 14 | 15 => other_seen = true,
                _ => {}
            }
        }
        // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, INTS 7.
        let value = match ty {
            1 => AttrValue::Float(f_.unwrap_or(0.0)),
            2 => AttrValue::Int(i_.unwrap_or(0)),
            3 => AttrValue::String(s_.unwrap_or(b"")),
            4 => match t_ {
                Some(t) => AttrValue::Tensor(Box::new(t)),
                None => {
                    return err(
                        at,
                        format!("attribute '{name}' of type TENSOR has no tensor"),
                    )
                }
            },
            6 => AttrValue::Floats(floats),
            7 => AttrValue::Ints(ints),
            0 => {
                // Very old writers leave the type out: infer it from the field present.
                if let Some(t) = t_ {
                    AttrValue::Tensor(Box::new(t))
                } else if let Some(v) = f_ {
                    AttrValue::Float(v)
                } else if let Some(v) = i_ {
                    AttrValue::Int(v)
                } else if let Some(v) = s_ {
                    AttrValue::String(v)
                } else if !ints.is_empty() {
                    AttrValue::Ints(ints)
                } else if !floats.is_empty() {
                    AttrValue::Floats(floats)
                } else if other_seen {
                    AttrValue::Other(0)
                } else {
                    AttrValue::Ints(Vec::new())
                }
            }
            t => AttrValue::Other(t),
        };
        Ok(Attribute { name, value })
    }
}

/// A `NodeProto`.
#[derive(Debug, Clone, Default)]
pub struct Node<'a> {
    /// Input value names ("" for an omitted optional input).
    pub inputs: Vec<&'a str>,
    /// Output value names.
    pub outputs: Vec<&'a str>,
    /// Node name (may be empty).
    pub name: &'a str,
    /// Operator type, e.g. `Conv`.
    pub op_type: &'a str,
    /// Operator domain ("" or "ai.onnx" for the standard operators).
    pub domain: &'a str,
    /// Attributes.
    pub attributes: Vec<Attribute<'a>>,
}

impl<'a> Node<'a> {
    fn parse(buf: &'a [u8], at: &str) -> WireResult<Node<'a>> {
        let mut n = Node::default();
        let mut f = Fields::new(buf, at);
        let mut attr_index = 0;
        while let Some((field, w)) = f.next_field()? {
            match field {
                1 => n.inputs.push(as_str(w, at, "input")?),
                2 => n.outputs.push(as_str(w, at, "output")?),
                3 => n.name = as_str(w, at, "name")?,
                4 => n.op_type = as_str(w, at, "op_type")?,
                7 => n.domain = as_str(w, at, "domain")?,
                5 => {
                    let at = format!("{at}.attribute[{attr_index}]");
                    attr_index += 1;
                    n.attributes
                        .push(Attribute::parse(as_bytes(w, &at, "attribute")?, &at)?);
                }
                _ => {}
            }
        }
        Ok(n)
    }

    /// The attribute called `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&AttrValue<'a>> {
        self.attributes
            .iter()
            .rev()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }
}

/// One dimension of a `TensorShapeProto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim<'a> {
    /// A fixed size.
    Value(i64),
    /// A named (symbolic) size, such as a batch dimension.
    Param(&'a str),
    /// Neither given.
    Unknown,
}

/// A `ValueInfoProto` for a tensor.
#[derive(Debug, Clone, Default)]
pub struct ValueInfo<'a> {
    /// Name.
    pub name: &'a str,
    /// Element type (0 when not given).
    pub elem_type: i32,
    /// Shape (`None` when not given).
    pub shape: Option<Vec<Dim<'a>>>,
}

impl<'a> ValueInfo<'a> {
    fn parse(buf: &'a [u8], at: &str) -> WireResult<ValueInfo<'a>> {
        let mut v = ValueInfo::default();
        let mut f = Fields::new(buf, at);
        while let Some((field, w)) = f.next_field()? {
            match field {
                1 => v.name = as_str(w, at, "name")?,
                2 => {
                    // TypeProto: 1 tensor_type.
                    let mut tf = Fields::new(as_bytes(w, at, "type")?, at);
                    while let Some((field, w)) = tf.next_field()? {
                        if field != 1 {
                            continue;
                        }
                        // TypeProto.Tensor: 1 elem_type, 2 shape.
                        let mut tt = Fields::new(as_bytes(w, at, "tensor_type")?, at);
                        while let Some((field, w)) = tt.next_field()? {
                            match field {
                                1 => v.elem_type = as_i32(w, at, "elem_type")?,
                                2 => {
                                    let mut dims = Vec::new();
                                    let mut sf = Fields::new(as_bytes(w, at, "shape")?, at);
                                    while let Some((field, w)) = sf.next_field()? {
                                        if field != 1 {
                                            continue;
                                        }
                                        let mut dim = Dim::Unknown;
                                        let mut df = Fields::new(as_bytes(w, at, "dim")?, at);
                                        while let Some((field, w)) = df.next_field()? {
                                            match field {
                                                1 => dim = Dim::Value(as_i64(w, at, "dim_value")?),
                                                2 => dim = Dim::Param(as_str(w, at, "dim_param")?),
                                                _ => {}
                                            }
                                        }
                                        dims.push(dim);
                                    }
                                    v.shape = Some(dims);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(v)
    }
}

/// A `GraphProto`.
#[derive(Debug, Clone, Default)]
pub struct GraphProto<'a> {
    /// Nodes, in topological order.
    pub nodes: Vec<Node<'a>>,
    /// Name.
    pub name: &'a str,
    /// Constant tensors.
    pub initializers: Vec<TensorProto<'a>>,
    /// Graph inputs (may include initializers in older models).
    pub inputs: Vec<ValueInfo<'a>>,
    /// Graph outputs.
    pub outputs: Vec<ValueInfo<'a>>,
    /// Whether the graph has sparse initializers (not supported).
    pub sparse_initializers: bool,
}

impl<'a> GraphProto<'a> {
    fn parse(buf: &'a [u8], at: &str) -> WireResult<GraphProto<'a>> {
        let mut g = GraphProto::default();
        let mut f = Fields::new(buf, at);
        while let Some((field, w)) = f.next_field()? {
            match field {
                1 => {
                    let at = format!("{at}.node[{}]", g.nodes.len());
                    g.nodes.push(Node::parse(as_bytes(w, &at, "node")?, &at)?);
                }
                2 => g.name = as_str(w, at, "name")?,
                5 => {
                    let at = format!("{at}.initializer[{}]", g.initializers.len());
                    g.initializers
                        .push(TensorProto::parse(as_bytes(w, &at, "initializer")?, &at)?);
                }
                15 => g.sparse_initializers = true,
                11 => {
                    let at = format!("{at}.input[{}]", g.inputs.len());
                    g.inputs
                        .push(ValueInfo::parse(as_bytes(w, &at, "input")?, &at)?);
                }
                12 => {
                    let at = format!("{at}.output[{}]", g.outputs.len());
                    g.outputs
                        .push(ValueInfo::parse(as_bytes(w, &at, "output")?, &at)?);
                }
                _ => {}
            }
        }
        Ok(g)
    }
}

/// An `OperatorSetIdProto`.
#[derive(Debug, Clone, Default)]
pub struct OpsetId<'a> {
    /// Domain ("" or "ai.onnx" for the standard operators).
    pub domain: &'a str,
    /// Version.
    pub version: i64,
}

/// A `ModelProto`.
#[derive(Debug, Clone, Default)]
pub struct ModelProto<'a> {
    /// `ir_version`.
    pub ir_version: i64,
    /// Operator sets.
    pub opset_import: Vec<OpsetId<'a>>,
    /// Producer name (e.g. `pytorch`).
    pub producer_name: &'a str,
    /// The graph.
    pub graph: Option<GraphProto<'a>>,
}

impl<'a> ModelProto<'a> {
    /// Parses a whole `.onnx` file.
    pub fn parse(buf: &'a [u8]) -> WireResult<ModelProto<'a>> {
        let at = "model";
        let mut m = ModelProto::default();
        let mut f = Fields::new(buf, at);
        while let Some((field, w)) = f.next_field()? {
            match field {
                1 => m.ir_version = as_i64(w, at, "ir_version")?,
                2 => m.producer_name = as_str(w, at, "producer_name")?,
                7 => m.graph = Some(GraphProto::parse(as_bytes(w, at, "graph")?, "graph")?),
                8 => {
                    let at = "model.opset_import";
                    let mut o = OpsetId::default();
                    let mut of = Fields::new(as_bytes(w, at, "opset_import")?, at);
                    while let Some((field, w)) = of.next_field()? {
                        match field {
                            1 => o.domain = as_str(w, at, "domain")?,
                            2 => o.version = as_i64(w, at, "version")?,
                            _ => {}
                        }
                    }
                    m.opset_import.push(o);
                }
                _ => {}
            }
        }
        Ok(m)
    }
}

/// A cheap check that `bytes` look like an ONNX model: a well-formed message
/// whose first field is `ir_version` and that has a graph field.
pub fn looks_like_onnx(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&0x08) {
        return false;
    }
    let mut f = Fields::new(bytes, "model");
    let mut graph = false;
    loop {
        match f.next_field() {
            Ok(Some((7, Wire::Bytes(_)))) => graph = true,
            Ok(Some(_)) => {}
            Ok(None) => return graph,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0x96, 0x01], &mut pos, "t"), Ok(150));
        let mut pos = 0;
        assert!(read_varint(&[0x96], &mut pos, "t").is_err());
        let mut pos = 0;
        assert!(read_varint(&[0xff; 11], &mut pos, "t").is_err());
        let mut pos = 0;
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&max, &mut pos, "t"), Ok(u64::MAX));
    }

    #[test]
    fn fields_and_lengths() {
        // field 1 varint 5, field 2 bytes "ab", field 5 fixed32.
        let buf = [0x08, 0x05, 0x12, 0x02, b'a', b'b', 0x2d, 0, 0, 0x80, 0x3f];
        let mut f = Fields::new(&buf, "t");
        assert!(matches!(f.next_field(), Ok(Some((1, Wire::Varint(5))))));
        assert!(matches!(f.next_field(), Ok(Some((2, Wire::Bytes(b"ab"))))));
        assert!(matches!(
            f.next_field(),
            Ok(Some((5, Wire::Fixed32(0x3f80_0000))))
        ));
        assert!(matches!(f.next_field(), Ok(None)));
        // A length past the end.
        let buf = [0x12, 0x05, b'a'];
        assert!(Fields::new(&buf, "t").next_field().is_err());
        // Group wire types.
        let buf = [0x0b];
        assert!(Fields::new(&buf, "t").next_field().is_err());
    }

    #[test]
    fn tensor_data_checks_sizes() {
        let mut t = TensorProto {
            dims: vec![2, 2],
            data_type: data_type::FLOAT,
            float_data: vec![1.0, 2.0, 3.0],
            ..Default::default()
        };
        assert!(t.data("t").is_err());
        t.float_data.push(4.0);
        assert_eq!(
            t.data("t").unwrap(),
            TensorData::F32(vec![1.0, 2.0, 3.0, 4.0])
        );
        t.dims = vec![-1];
        assert!(t.data("t").is_err());
        t.dims = vec![i64::MAX, i64::MAX];
        assert!(t.data("t").is_err());
    }
}
