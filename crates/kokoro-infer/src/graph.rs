//! An ONNX graph read from a model's protobuf bytes, as much of it as the
//! model edits need: nodes (their inputs, outputs, operator and domain; the
//! rest kept as bytes), initializers by name, the quantized chains of the
//! int8 export, and the graph written back with every untouched part copied
//! byte for byte. Used by [`crate::dequantize`] and [`crate::fused`].

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::proto::{fields, put_key, put_len_field, put_varint, Field, LEN};

/// `GraphProto.node`, `.initializer`, `.output`,
/// `.value_info`; `NodeProto.input`, `.output`, `.op_type`, `.domain`,
/// `.attribute`; `TensorProto.dims`, `.data_type`, `.float_data`,
/// `.int32_data`, `.name`, `.raw_data`; `ValueInfoProto.name`;
/// `AttributeProto.name`, `.f`, `.i`, `.ints`, `.type`.
pub(crate) const GRAPH_NODE: u64 = 1;
pub(crate) const GRAPH_INITIALIZER: u64 = 5;
pub(crate) const GRAPH_OUTPUT: u64 = 12;
pub(crate) const GRAPH_VALUE_INFO: u64 = 13;
pub(crate) const NODE_INPUT: u64 = 1;
pub(crate) const NODE_OUTPUT: u64 = 2;
pub(crate) const NODE_OP_TYPE: u64 = 4;
pub(crate) const NODE_ATTRIBUTE: u64 = 5;
pub(crate) const NODE_DOMAIN: u64 = 7;
pub(crate) const TENSOR_DIMS: u64 = 1;
pub(crate) const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const TENSOR_INT32_DATA: u64 = 5;
pub(crate) const TENSOR_NAME: u64 = 8;
pub(crate) const TENSOR_RAW_DATA: u64 = 9;
pub(crate) const VALUE_INFO_NAME: u64 = 1;
const ATTRIBUTE_NAME: u64 = 1;
const ATTRIBUTE_F: u64 = 2;
const ATTRIBUTE_I: u64 = 3;
const ATTRIBUTE_S: u64 = 4;
const ATTRIBUTE_INTS: u64 = 8;
const ATTRIBUTE_TYPE: u64 = 20;
/// `TensorProto.DataType`: FLOAT, UINT8, INT8, INT32.
pub(crate) const FLOAT: u64 = 1;
pub(crate) const UINT8: u64 = 2;
pub(crate) const INT8: u64 = 3;
pub(crate) const INT32: u64 = 6;

/// `ModelProto.opset_import`; `OperatorSetIdProto.domain`, `.version`.
pub(crate) const MODEL_OPSET_IMPORT: u64 = 8;

/// A node: what the rewrite reads of it, and its other fields (name,
/// attributes) as bytes.
pub(crate) struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub op: String,
    pub domain: String,
    /// The bytes of its other fields (its name and attributes), keys included.
    pub rest: Vec<u8>,
    /// Its bytes as read, while it is unchanged.
    pub original: Option<Range<usize>>,
    pub kept: bool,
}

/// The graph: its nodes and initializers by name; other fields as bytes.
pub(crate) struct Graph<'a> {
    pub body: &'a [u8],
    pub nodes: Vec<Node>,
    /// Initializers as read: name and the bytes of the `TensorProto`.
    pub initializers: Vec<(String, Range<usize>)>,
    /// Initializers made by the rewrite: name and `TensorProto` bytes.
    pub added: Vec<(String, Vec<u8>)>,
    /// `value_info` entries: name and bytes (key included).
    pub value_info: Vec<(String, Range<usize>)>,
    pub outputs: Vec<String>,
    /// Every other field, keys included, in order.
    pub other: Vec<Range<usize>>,
}

fn string(bytes: &[u8], f: &Field) -> Option<String> {
    String::from_utf8(bytes[f.body.clone()].to_vec()).ok()
}

fn name_of(bytes: &[u8], number: u64) -> Option<String> {
    let f = fields(bytes)?;
    let name = f.iter().find(|f| f.number == number && f.wire == LEN)?;
    string(bytes, name)
}

impl<'a> Graph<'a> {
    /// The graph in `body` (a `GraphProto`'s bytes), or `None` if they are not one.
    pub(crate) fn read(body: &'a [u8]) -> Option<Self> {
        let mut g = Graph {
            body,
            nodes: Vec::new(),
            initializers: Vec::new(),
            added: Vec::new(),
            value_info: Vec::new(),
            outputs: Vec::new(),
            other: Vec::new(),
        };
        for f in fields(body)? {
            let bytes = &body[f.body.clone()];
            match (f.number, f.wire) {
                (GRAPH_NODE, LEN) => {
                    let mut node = Node {
                        inputs: Vec::new(),
                        outputs: Vec::new(),
                        op: String::new(),
                        domain: String::new(),
                        rest: Vec::new(),
                        original: Some(f.start..f.body.end),
                        kept: true,
                    };
                    for nf in fields(bytes)? {
                        match (nf.number, nf.wire) {
                            (NODE_INPUT, LEN) => node.inputs.push(string(bytes, &nf)?),
                            (NODE_OUTPUT, LEN) => node.outputs.push(string(bytes, &nf)?),
                            (NODE_OP_TYPE, LEN) => node.op = string(bytes, &nf)?,
                            (NODE_DOMAIN, LEN) => node.domain = string(bytes, &nf)?,
                            _ => node.rest.extend_from_slice(&bytes[nf.start..nf.body.end]),
                        }
                    }
                    g.nodes.push(node);
                }
                (GRAPH_INITIALIZER, LEN) => {
                    g.initializers
                        .push((name_of(bytes, TENSOR_NAME)?, f.body.clone()));
                }
                (GRAPH_VALUE_INFO, LEN) => {
                    g.value_info
                        .push((name_of(bytes, VALUE_INFO_NAME)?, f.start..f.body.end));
                }
                (GRAPH_OUTPUT, LEN) => {
                    g.outputs.push(name_of(bytes, VALUE_INFO_NAME)?);
                    g.other.push(f.start..f.body.end);
                }
                _ => g.other.push(f.start..f.body.end),
            }
        }
        Some(g)
    }

    /// Drops the nodes whose outputs nothing uses, then the weights and
    /// value infos nothing names.
    pub(crate) fn drop_unused(&mut self) {
        loop {
            let used: HashSet<&str> = self
                .nodes
                .iter()
                .filter(|n| n.kept)
                .flat_map(|n| n.inputs.iter().map(String::as_str))
                .chain(self.outputs.iter().map(String::as_str))
                .collect();
            let dead: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    self.nodes[i].kept
                        && !self.nodes[i]
                            .outputs
                            .iter()
                            .any(|o| used.contains(o.as_str()))
                })
                .collect();
            if dead.is_empty() {
                break;
            }
            for i in dead {
                self.nodes[i].kept = false;
            }
        }
        let named: HashSet<String> = self
            .nodes
            .iter()
            .filter(|n| n.kept)
            .flat_map(|n| n.inputs.iter().chain(&n.outputs).cloned())
            .collect();
        self.initializers.retain(|(name, _)| named.contains(name));
        self.added.retain(|(name, _)| named.contains(name));
        self.value_info.retain(|(name, _)| named.contains(name));
    }

    /// The graph's bytes: kept nodes (unchanged ones as read), initializers
    /// as read and as added, value infos and every other field.
    pub(crate) fn write(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() * 4);
        for node in self.nodes.iter().filter(|n| n.kept) {
            match &node.original {
                Some(range) => out.extend_from_slice(&self.body[range.clone()]),
                None => {
                    let mut b = Vec::new();
                    for i in &node.inputs {
                        put_len_field(&mut b, NODE_INPUT, i.as_bytes());
                    }
                    for o in &node.outputs {
                        put_len_field(&mut b, NODE_OUTPUT, o.as_bytes());
                    }
                    put_len_field(&mut b, NODE_OP_TYPE, node.op.as_bytes());
                    if !node.domain.is_empty() {
                        put_len_field(&mut b, NODE_DOMAIN, node.domain.as_bytes());
                    }
                    b.extend_from_slice(&node.rest);
                    put_len_field(&mut out, GRAPH_NODE, &b);
                }
            }
        }
        for (_, range) in &self.initializers {
            put_len_field(&mut out, GRAPH_INITIALIZER, &self.body[range.clone()]);
        }
        for (_, bytes) in &self.added {
            put_len_field(&mut out, GRAPH_INITIALIZER, bytes);
        }
        for (_, range) in &self.value_info {
            out.extend_from_slice(&self.body[range.clone()]);
        }
        for range in &self.other {
            out.extend_from_slice(&self.body[range.clone()]);
        }
        out
    }
}

/// A weight as read: its shape, type and values.
pub(crate) struct Tensor {
    pub dims: Vec<usize>,
    pub data_type: u64,
    pub raw: Option<Vec<u8>>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
}

impl Tensor {
    pub(crate) fn read(bytes: &[u8]) -> Option<Self> {
        let mut t = Tensor {
            dims: Vec::new(),
            data_type: 0,
            raw: None,
            floats: Vec::new(),
            ints: Vec::new(),
        };
        for f in fields(bytes)? {
            let b = &bytes[f.body.clone()];
            match (f.number, f.wire) {
                (TENSOR_DIMS, 0) => t.dims.push(usize::try_from(varint_at(b)?).ok()?),
                (TENSOR_DIMS, LEN) => {
                    for v in varints(b)? {
                        t.dims.push(usize::try_from(v).ok()?);
                    }
                }
                (TENSOR_DATA_TYPE, 0) => t.data_type = varint_at(b)?,
                (TENSOR_FLOAT_DATA, LEN) => t.floats.extend(
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                ),
                (TENSOR_FLOAT_DATA, 5) => t.floats.push(f32::from_le_bytes(b.try_into().ok()?)),
                (TENSOR_INT32_DATA, LEN) => t
                    .ints
                    .extend(varints(b)?.into_iter().map(|v| i64::from(v as i32))),
                (TENSOR_INT32_DATA, 0) => t.ints.push(i64::from(varint_at(b)? as i32)),
                (TENSOR_RAW_DATA, LEN) => t.raw = Some(b.to_vec()),
                _ => {}
            }
        }
        Some(t)
    }

    pub(crate) fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// An 8-bit tensor's values.
    pub(crate) fn ints(&self) -> std::result::Result<Vec<i64>, &'static str> {
        let v: Vec<i64> = match (&self.raw, self.data_type) {
            (Some(raw), UINT8) => raw.iter().map(|&b| i64::from(b)).collect(),
            (Some(raw), INT8) => raw.iter().map(|&b| i64::from(b as i8)).collect(),
            (None, UINT8 | INT8) => self.ints.clone(),
            _ => return Err("a quantized weight that is not 8-bit"),
        };
        if v.len() != self.len() {
            return Err("a weight whose values do not fill its shape");
        }
        Ok(v)
    }

    /// A float tensor's values.
    pub(crate) fn floats(&self) -> std::result::Result<Vec<f32>, &'static str> {
        let v: Vec<f32> = match (&self.raw, self.data_type) {
            (Some(raw), FLOAT) => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            (None, FLOAT) => self.floats.clone(),
            _ => return Err("a scale that is not float"),
        };
        if v.len() != self.len() {
            return Err("a scale whose values do not fill its shape");
        }
        Ok(v)
    }
}

fn varint_at(bytes: &[u8]) -> Option<u64> {
    let mut at = 0;
    crate::proto::varint(bytes, &mut at)
}

fn varints(bytes: &[u8]) -> Option<Vec<u64>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(crate::proto::varint(bytes, &mut at)?);
    }
    Some(out)
}

/// A `TensorProto` named `name` of `data_type` and `dims` holding `raw`
/// (little-endian values).
pub(crate) fn raw_tensor(name: &str, data_type: u64, dims: &[usize], raw: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(raw.len() + name.len() + 32);
    let mut packed = Vec::new();
    for &d in dims {
        put_varint(&mut packed, d as u64);
    }
    put_len_field(&mut t, TENSOR_DIMS, &packed);
    put_key(&mut t, TENSOR_DATA_TYPE, 0);
    put_varint(&mut t, data_type);
    put_len_field(&mut t, TENSOR_NAME, name.as_bytes());
    put_len_field(&mut t, TENSOR_RAW_DATA, raw);
    t
}

/// A float `TensorProto` of `dims` holding `values`, as raw data.
pub(crate) fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> Vec<u8> {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    raw_tensor(name, FLOAT, dims, &raw)
}

/// A node's attribute, as far as the edits read them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attribute {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Str(Vec<u8>),
    /// Of a kind the edits do not read.
    Other,
}

/// The attributes in a node's other fields, by name.
pub(crate) fn attributes(rest: &[u8]) -> Option<HashMap<String, Attribute>> {
    let mut out = HashMap::new();
    for f in fields(rest)? {
        if f.number != NODE_ATTRIBUTE || f.wire != LEN {
            continue;
        }
        let a = &rest[f.body.clone()];
        let (mut name, mut value, mut ints) = (None, Attribute::Other, Vec::new());
        for af in fields(a)? {
            let b = &a[af.body.clone()];
            match (af.number, af.wire) {
                (ATTRIBUTE_NAME, LEN) => name = Some(string(a, &af)?),
                (ATTRIBUTE_I, 0) => value = Attribute::Int(varint_at(b)? as i64),
                (ATTRIBUTE_F, 5) => {
                    value = Attribute::Float(f32::from_le_bytes(b.try_into().ok()?))
                }
                (ATTRIBUTE_S, LEN) => value = Attribute::Str(b.to_vec()),
                (ATTRIBUTE_INTS, 0) => ints.push(varint_at(b)? as i64),
                (ATTRIBUTE_INTS, LEN) => ints.extend(varints(b)?.into_iter().map(|v| v as i64)),
                _ => {}
            }
        }
        if !ints.is_empty() {
            value = Attribute::Ints(ints);
        }
        out.insert(name?, value);
    }
    Some(out)
}

/// An `int` attribute as a node's field (key included).
pub(crate) fn int_attribute(name: &str, value: i64) -> Vec<u8> {
    const INT: u64 = 2;
    let mut a = Vec::new();
    put_len_field(&mut a, ATTRIBUTE_NAME, name.as_bytes());
    put_key(&mut a, ATTRIBUTE_I, 0);
    put_varint(&mut a, value as u64);
    put_key(&mut a, ATTRIBUTE_TYPE, 0);
    put_varint(&mut a, INT);
    let mut field = Vec::new();
    put_len_field(&mut field, NODE_ATTRIBUTE, &a);
    field
}

/// A `float` attribute as a node's field (key included).
pub(crate) fn float_attribute(name: &str, value: f32) -> Vec<u8> {
    const FLOAT_ATTRIBUTE: u64 = 1;
    let mut a = Vec::new();
    put_len_field(&mut a, ATTRIBUTE_NAME, name.as_bytes());
    put_key(&mut a, ATTRIBUTE_F, 5);
    a.extend_from_slice(&value.to_le_bytes());
    put_key(&mut a, ATTRIBUTE_TYPE, 0);
    put_varint(&mut a, FLOAT_ATTRIBUTE);
    let mut field = Vec::new();
    put_len_field(&mut field, NODE_ATTRIBUTE, &a);
    field
}

/// An `OperatorSetIdProto` for `domain` at `version`, as a model's field.
pub(crate) fn opset_import(domain: &str, version: u64) -> Vec<u8> {
    let mut o = Vec::new();
    put_len_field(&mut o, 1, domain.as_bytes());
    put_key(&mut o, 2, 0);
    put_varint(&mut o, version);
    let mut field = Vec::new();
    put_len_field(&mut field, MODEL_OPSET_IMPORT, &o);
    field
}

/// Who makes and who reads each value of a graph.
pub(crate) struct Links {
    pub producer: HashMap<String, usize>,
    pub consumers: HashMap<String, Vec<usize>>,
}

/// One quantized convolution or matrix product of the int8 export:
/// `DynamicQuantizeLinear` on the input, `ConvInteger` or `MatMulInteger`,
/// the bias (when there is one) quantized at run time,
/// `Reshape(Cast(Floor(Div(bias, scales))))`, and added, `Cast` to float,
/// `Mul` by the scales.
pub(crate) struct Chain {
    /// The float input.
    pub x: String,
    /// The weight, its zero point and its scale (initializers).
    pub w: String,
    pub w_zero_point: String,
    pub w_scale: String,
    /// The float bias.
    pub bias: Option<String>,
    /// The last node, whose output is the chain's.
    pub last: usize,
    /// The chain's other nodes, made unnecessary by its replacement (the
    /// quantizer and the bias's quantization are left to `drop_unused`, as
    /// others may read them).
    pub removed: Vec<usize>,
}

impl Graph<'_> {
    /// Producers and consumers of every value, among the nodes kept.
    pub(crate) fn links(&self) -> Links {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate().filter(|(_, n)| n.kept) {
            for o in &n.outputs {
                producer.insert(o.clone(), i);
            }
            for input in &n.inputs {
                consumers.entry(input.clone()).or_default().push(i);
            }
        }
        Links {
            producer,
            consumers,
        }
    }

    /// The initializers as read, by name.
    pub(crate) fn initializer_ranges(&self) -> HashMap<String, Range<usize>> {
        self.initializers.iter().cloned().collect()
    }

    /// The initializer `name`, read.
    pub(crate) fn tensor(&self, name: &str) -> std::result::Result<Tensor, String> {
        let range = self
            .initializers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| format!("`{name}` is not a weight"))?;
        Tensor::read(&self.body[range]).ok_or_else(|| format!("the weight `{name}` cannot be read"))
    }

    /// The quantized chain of the `ConvInteger` or `MatMulInteger` at
    /// `node`, or why it is not of the export's shape.
    pub(crate) fn chain(
        &self,
        node: usize,
        links: &Links,
        inits: &HashMap<String, Range<usize>>,
    ) -> std::result::Result<Chain, String> {
        let nodes = &self.nodes;
        let n = &nodes[node];
        let made_by = |name: &str, op: &str| -> std::result::Result<usize, String> {
            links
                .producer
                .get(name)
                .copied()
                .filter(|&i| nodes[i].op == op)
                .ok_or_else(|| format!("`{name}` is not made by {op}"))
        };
        let sole = |name: &str, op: &str| -> std::result::Result<usize, String> {
            match links.consumers.get(name).map(Vec::as_slice) {
                Some([i]) if nodes[*i].op == op => Ok(*i),
                _ => Err(format!("`{name}` does not go to one {op}")),
            }
        };
        let other_input = |node: usize, not: &str| -> std::result::Result<String, String> {
            nodes[node]
                .inputs
                .iter()
                .find(|i| i.as_str() != not)
                .cloned()
                .ok_or_else(|| format!("{} has one input", nodes[node].op))
        };
        let [xq, wq, _, wzp] = &n.inputs[..] else {
            return Err(format!("{} without four inputs", n.op));
        };
        let quantizer = made_by(xq, "DynamicQuantizeLinear")?;
        let x = nodes[quantizer].inputs[0].clone();
        let mut removed = vec![node];
        let mut at = n.outputs[0].clone();
        let mut bias = None;
        if let Some(&add) = links
            .consumers
            .get(&at)
            .and_then(|c| c.first())
            .filter(|&&a| nodes[a].op == "Add")
        {
            // The bias, quantized at run time: Reshape(Cast(Floor(Div(bias, scales)))).
            let r = made_by(&other_input(add, &at)?, "Reshape")?;
            let c = made_by(&nodes[r].inputs[0], "Cast")?;
            let f = made_by(&nodes[c].inputs[0], "Floor")?;
            let d = made_by(&nodes[f].inputs[0], "Div")?;
            bias = Some(nodes[d].inputs[0].clone());
            removed.push(add);
            at = nodes[add].outputs[0].clone();
        }
        let cast = sole(&at, "Cast")?;
        removed.push(cast);
        let last = sole(&nodes[cast].outputs[0], "Mul")?;
        let scales = made_by(&other_input(last, &nodes[cast].outputs[0])?, "Mul")?;
        let ws = nodes[scales]
            .inputs
            .iter()
            .find(|s| inits.contains_key(*s))
            .ok_or_else(|| "a weight scale that is not a weight".to_string())?;
        Ok(Chain {
            x,
            w: wq.clone(),
            w_zero_point: wzp.clone(),
            w_scale: ws.clone(),
            bias,
            last,
            removed,
        })
    }
}

/// Small graphs of the export's shapes, for the edits' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::proto::MODEL_GRAPH;

    /// A node's bytes.
    pub(crate) fn node(op: &str, inputs: &[&str], outputs: &[&str], rest: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for i in inputs {
            put_len_field(&mut b, NODE_INPUT, i.as_bytes());
        }
        for o in outputs {
            put_len_field(&mut b, NODE_OUTPUT, o.as_bytes());
        }
        put_len_field(&mut b, NODE_OP_TYPE, op.as_bytes());
        b.extend_from_slice(rest);
        b
    }

    /// A tensor whose dims are written one by one (unpacked), as some
    /// writers store them.
    pub(crate) fn tensor(name: &str, data_type: u64, dims: &[usize], raw: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            put_key(&mut t, TENSOR_DIMS, 0);
            put_varint(&mut t, d as u64);
        }
        put_key(&mut t, TENSOR_DATA_TYPE, 0);
        put_varint(&mut t, data_type);
        put_len_field(&mut t, TENSOR_NAME, name.as_bytes());
        put_len_field(&mut t, TENSOR_RAW_DATA, raw);
        t
    }

    fn floats(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// A convolution as the export quantizes it, with weights `w` of
    /// `dims` (`[c_out, c_in, k]`, padding `(k - 1) / 2`), optionally after
    /// a Snake activation of the input: `DynamicQuantizeLinear`,
    /// `ConvInteger`, the bias quantized at run time and added, `Cast`,
    /// `Mul` by the scales; its result the graph's output `y`.
    pub(crate) fn model(dims: &[usize; 3], w: &[u8], snake: bool) -> Vec<u8> {
        let [c_out, c_in, k] = *dims;
        let mut g = Vec::new();
        let mut conv = Vec::new();
        conv.extend(ints_attribute("kernel_shape", &[k as i64]));
        conv.extend(ints_attribute("pads", &[(k as i64 - 1) / 2; 2]));
        let x = if snake { "snaked" } else { "x" };
        let mut nodes = vec![];
        if snake {
            nodes.extend([
                node("Mul", &["x", "alpha"], &["ax"], &[]),
                node("Sin", &["ax"], &["sin"], &[]),
                node("Pow", &["sin", "two"], &["sin2"], &[]),
                node("Mul", &["recip", "sin2"], &["scaled"], &[]),
                node("Add", &["x", "scaled"], &["snaked"], &[]),
            ]);
        }
        nodes.extend([
            node("DynamicQuantizeLinear", &[x], &["xq", "xs", "xzp"], &[]),
            node("Mul", &["xs", "ws"], &["scales"], &[]),
            node("Div", &["bias", "scales"], &["bq_f"], &[]),
            node("Floor", &["bq_f"], &["bq_r"], &[]),
            node("Cast", &["bq_r"], &["bq"], &[]),
            node("Reshape", &["bq", "shape"], &["bq_shaped"], &[]),
            node(
                "ConvInteger",
                &["xq", "wq", "xzp", "wzp"],
                &["y_int"],
                &conv,
            ),
            node("Add", &["y_int", "bq_shaped"], &["y_biased"], &[]),
            node("Cast", &["y_biased"], &["y_float"], &[]),
            node("Mul", &["y_float", "scales"], &["y"], &[]),
        ]);
        for n in nodes {
            put_len_field(&mut g, GRAPH_NODE, &n);
        }
        let bias: Vec<f32> = (0..c_out).map(|i| i as f32 * 0.25).collect();
        let alpha: Vec<f32> = (0..c_in).map(|i| 1.0 + i as f32 * 0.1).collect();
        let recip: Vec<f32> = alpha.iter().map(|a| 1.0 / a).collect();
        let mut tensors = vec![
            tensor("wq", UINT8, dims, w),
            tensor("wzp", UINT8, &[], &[128]),
            tensor("ws", FLOAT, &[], &0.5f32.to_le_bytes()),
            tensor("bias", FLOAT, &[c_out], &floats(&bias)),
            tensor(
                "shape",
                7,
                &[3],
                &[1i64, c_out as i64, 1].map(i64::to_le_bytes).concat(),
            ),
        ];
        if snake {
            tensors.extend([
                tensor("alpha", FLOAT, &[1, c_in, 1], &floats(&alpha)),
                tensor("recip", FLOAT, &[1, c_in, 1], &floats(&recip)),
                tensor("two", FLOAT, &[], &2f32.to_le_bytes()),
            ]);
        }
        for t in tensors {
            put_len_field(&mut g, GRAPH_INITIALIZER, &t);
        }
        let mut out = Vec::new();
        put_len_field(&mut out, VALUE_INFO_NAME, b"y");
        put_len_field(&mut g, GRAPH_OUTPUT, &out);
        let mut model = Vec::new();
        put_key(&mut model, 1, 0);
        put_varint(&mut model, 9);
        put_len_field(&mut model, MODEL_GRAPH, &g);
        model
    }

    /// [`model`] without a Snake.
    pub(crate) fn quantized_conv(dims: &[usize; 3], w: &[u8]) -> Vec<u8> {
        model(dims, w, false)
    }

    /// An `ints` attribute as a node's field.
    pub(crate) fn ints_attribute(name: &str, values: &[i64]) -> Vec<u8> {
        const INTS: u64 = 7;
        let mut a = Vec::new();
        put_len_field(&mut a, ATTRIBUTE_NAME, name.as_bytes());
        let mut packed = Vec::new();
        for &v in values {
            put_varint(&mut packed, v as u64);
        }
        put_len_field(&mut a, ATTRIBUTE_INTS, &packed);
        put_key(&mut a, ATTRIBUTE_TYPE, 0);
        put_varint(&mut a, INTS);
        let mut field = Vec::new();
        put_len_field(&mut field, NODE_ATTRIBUTE, &a);
        field
    }

    /// The kept nodes of a model's graph: operator, inputs, outputs.
    pub(crate) fn nodes(model: &[u8]) -> Vec<(String, Vec<String>, Vec<String>)> {
        let graph = crate::proto::ModelGraph::of(model).unwrap();
        let graph = Graph::read(graph.body()).unwrap();
        graph
            .nodes
            .iter()
            .map(|n| (n.op.clone(), n.inputs.clone(), n.outputs.clone()))
            .collect()
    }
}
