//! A float model from the int8 export, for the GPU.
//!
//! The int8 Kokoro v1.0 export is ONNX Runtime's dynamic quantization of the
//! float model: each convolution is `DynamicQuantizeLinear` on its input,
//! `ConvInteger`, the quantized bias added, a `Cast` and a `Mul` by the two
//! scales; each matrix product the same with `MatMulInteger`; each LSTM a
//! `DynamicQuantizeLSTM`. ONNX Runtime's CUDA provider has no kernel for
//! `ConvInteger` (most of the model's work) nor for the dynamic quantizers,
//! so on a GPU those run on the CPU, with copies on each side.
//!
//! [`dequantize`] rewrites each such chain as the float operator it stands
//! for (`Conv` with its float bias, `MatMul`, `LSTM`), with the weights
//! dequantized once, `(q - zero_point) * scale`, and drops what is left
//! unused. The rest of the graph is copied byte for byte. The result is the
//! float model the export was made from, up to the weights' rounding to 8
//! bits; the activations are no longer rounded, so its audio is close to the
//! int8 model's, not equal to it.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::proto::{fields, put_key, put_len_field, put_varint, Field, ModelGraph, LEN};

/// `GraphProto.node`, `.initializer`, `.output`,
/// `.value_info`; `NodeProto.input`, `.output`, `.op_type`, `.domain`;
/// `TensorProto.dims`, `.data_type`, `.float_data`, `.int32_data`, `.name`,
/// `.raw_data`; `ValueInfoProto.name`.
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const GRAPH_OUTPUT: u64 = 12;
const GRAPH_VALUE_INFO: u64 = 13;
const NODE_INPUT: u64 = 1;
const NODE_OUTPUT: u64 = 2;
const NODE_OP_TYPE: u64 = 4;
const NODE_DOMAIN: u64 = 7;
const TENSOR_DIMS: u64 = 1;
const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const TENSOR_INT32_DATA: u64 = 5;
const TENSOR_NAME: u64 = 8;
const TENSOR_RAW_DATA: u64 = 9;
const VALUE_INFO_NAME: u64 = 1;
/// `TensorProto.DataType`: FLOAT, UINT8, INT8.
const FLOAT: u64 = 1;
const UINT8: u64 = 2;
const INT8: u64 = 3;

/// The operators that must be gone from a dequantized model.
pub const QUANTIZED_OPS: [&str; 4] = [
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeLinear",
    "DynamicQuantizeLSTM",
];

/// The model's bytes with every quantized convolution, matrix product and
/// LSTM made float again (see the module's documentation). An error names
/// the first chain not of the export's shape; a model with nothing quantized
/// is an error too (there is nothing to do).
pub fn dequantize(model: &[u8]) -> Result<Vec<u8>> {
    let graph_field = ModelGraph::of(model).map_err(bad)?;
    let mut graph =
        Graph::read(graph_field.body()).ok_or_else(|| bad("its graph cannot be read"))?;
    let rewritten = graph.rewrite()?;
    if rewritten == 0 {
        return Err(bad("the model has no quantized operators"));
    }
    graph.drop_unused();
    Ok(graph_field.replaced(&graph.write()))
}

/// The operator types of a model's graph, each with its count.
pub fn op_counts(model: &[u8]) -> Result<HashMap<String, usize>> {
    let graph = ModelGraph::of(model).map_err(bad)?;
    let graph = Graph::read(graph.body()).ok_or_else(|| bad("its graph cannot be read"))?;
    let mut counts = HashMap::new();
    for node in &graph.nodes {
        *counts.entry(node.op.clone()).or_default() += 1;
    }
    Ok(counts)
}

fn bad(reason: &str) -> Error {
    Error::BadInput(format!("cannot make the float model: {reason}"))
}

/// A node: what the rewrite reads of it, and its other fields (name,
/// attributes) as bytes.
struct Node {
    inputs: Vec<String>,
    outputs: Vec<String>,
    op: String,
    domain: String,
    /// The bytes of its other fields, keys included.
    rest: Vec<u8>,
    /// Its bytes as read, while it is unchanged.
    original: Option<Range<usize>>,
    kept: bool,
}

/// The graph: its nodes and initializers by name; other fields as bytes.
struct Graph<'a> {
    body: &'a [u8],
    nodes: Vec<Node>,
    /// Initializers as read: name and the bytes of the `TensorProto`.
    initializers: Vec<(String, Range<usize>)>,
    /// Initializers made by the rewrite: name and `TensorProto` bytes.
    added: Vec<(String, Vec<u8>)>,
    /// `value_info` entries: name and bytes (key included).
    value_info: Vec<(String, Range<usize>)>,
    outputs: Vec<String>,
    /// Every other field, keys included, in order.
    other: Vec<Range<usize>>,
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
    fn read(body: &'a [u8]) -> Option<Self> {
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

    /// Rewrites every quantized chain; how many.
    fn rewrite(&mut self) -> Result<usize> {
        let inits: HashMap<String, Range<usize>> = self.initializers.iter().cloned().collect();
        let tensor = |name: &str| -> Result<Tensor> {
            let range = inits
                .get(name)
                .ok_or_else(|| bad(&format!("`{name}` is not a weight")))?;
            Tensor::read(&self.body[range.clone()])
                .ok_or_else(|| bad(&format!("the weight `{name}` cannot be read")))
        };
        let mut producer: HashMap<String, usize> = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for o in &n.outputs {
                producer.insert(o.clone(), i);
            }
            for input in &n.inputs {
                consumers.entry(input.clone()).or_default().push(i);
            }
        }
        let nodes = &self.nodes;
        let made_by = |name: &str, op: &str| -> Result<usize> {
            producer
                .get(name)
                .copied()
                .filter(|&i| nodes[i].op == op)
                .ok_or_else(|| bad(&format!("`{name}` is not made by {op}")))
        };
        let sole = |name: &str, op: &str| -> Result<usize> {
            match consumers.get(name).map(Vec::as_slice) {
                Some([i]) if nodes[*i].op == op => Ok(*i),
                _ => Err(bad(&format!("`{name}` does not go to one {op}"))),
            }
        };
        let other_input = |node: usize, not: &str| -> Result<String> {
            nodes[node]
                .inputs
                .iter()
                .find(|i| i.as_str() != not)
                .cloned()
                .ok_or_else(|| bad(&format!("{} has one input", nodes[node].op)))
        };
        let mut edits: Vec<Edit> = Vec::new();
        // Weights shared by several nodes (the text encoder's layers share
        // theirs) are made once: by weight, zero point and scale.
        let mut made: HashMap<[String; 3], String> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            match n.op.as_str() {
                "ConvInteger" | "MatMulInteger" => {
                    let conv = n.op == "ConvInteger";
                    let [xq, wq, _, wzp] = &n.inputs[..] else {
                        return Err(bad(&format!("{} without four inputs", n.op)));
                    };
                    let x = nodes[made_by(xq, "DynamicQuantizeLinear")?].inputs[0].clone();
                    let mut removed = vec![i];
                    let mut at = n.outputs[0].clone();
                    let mut bias = None;
                    if let Some(add) = consumers
                        .get(&at)
                        .and_then(|c| c.first())
                        .filter(|&&a| nodes[a].op == "Add")
                    {
                        let add = *add;
                        // The bias, quantized at run time:
                        // Reshape(Cast(Floor(Div(bias, scales)))).
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
                    let mul = sole(&nodes[cast].outputs[0], "Mul")?;
                    let scales = made_by(&other_input(mul, &nodes[cast].outputs[0])?, "Mul")?;
                    let ws = nodes[scales]
                        .inputs
                        .iter()
                        .find(|s| inits.contains_key(*s))
                        .ok_or_else(|| bad("a weight scale that is not a weight"))?;
                    let key = [wq.clone(), wzp.clone(), ws.clone()];
                    let mut weights = Vec::new();
                    let name = match made.get(&key) {
                        Some(name) => name.clone(),
                        None => {
                            let name = format!("{wq}_dequantized_{}", made.len());
                            let w = tensor(wq)?;
                            let values = dequantized(conv, &w, &tensor(wzp)?, &tensor(ws)?)?;
                            weights.push((name.clone(), float_tensor(&name, &w.dims, &values)));
                            made.insert(key, name.clone());
                            name
                        }
                    };
                    let mut inputs = vec![x, name];
                    inputs.extend(bias);
                    let new = Node {
                        inputs,
                        outputs: nodes[mul].outputs.clone(),
                        op: if conv { "Conv" } else { "MatMul" }.into(),
                        domain: String::new(),
                        rest: n.rest.clone(),
                        original: None,
                        kept: true,
                    };
                    edits.push((mul, new, removed, weights));
                }
                "DynamicQuantizeLSTM" => {
                    if n.inputs.len() < 12 {
                        return Err(bad("DynamicQuantizeLSTM without its scales"));
                    }
                    let mut weights = Vec::new();
                    let mut inputs: Vec<String> = n.inputs[..8].to_vec();
                    for (slot, (scale, zp)) in [(1, (8, 9)), (2, (10, 11))] {
                        let w = tensor(&n.inputs[slot])?;
                        let [dirs, rows, cols] = w.dims[..] else {
                            return Err(bad("an LSTM weight that is not three-dimensional"));
                        };
                        let (q, s, z) = (
                            w.ints()?,
                            tensor(&n.inputs[scale])?.floats()?,
                            tensor(&n.inputs[zp])?.ints()?,
                        );
                        if s.len() != dirs || z.len() != dirs {
                            return Err(bad("LSTM scales not one per direction"));
                        }
                        // [directions, input, 4 * hidden] to ONNX's
                        // [directions, 4 * hidden, input].
                        let mut values = vec![0f32; q.len()];
                        for d in 0..dirs {
                            for r in 0..rows {
                                for c in 0..cols {
                                    values[(d * cols + c) * rows + r] =
                                        (q[(d * rows + r) * cols + c] - z[d]) as f32 * s[d];
                                }
                            }
                        }
                        let name = format!("{}_dequantized", n.inputs[slot]);
                        weights.push((
                            name.clone(),
                            float_tensor(&name, &[dirs, cols, rows], &values),
                        ));
                        inputs[slot] = name;
                    }
                    let new = Node {
                        inputs,
                        outputs: n.outputs.clone(),
                        op: "LSTM".into(),
                        domain: String::new(),
                        rest: n.rest.clone(),
                        original: None,
                        kept: true,
                    };
                    edits.push((i, new, vec![], weights));
                }
                _ => {}
            }
        }
        let count = edits.len();
        for (at, new, removed, weights) in edits {
            for r in removed {
                self.nodes[r].kept = false;
            }
            self.nodes[at] = new;
            self.added.extend(weights);
        }
        Ok(count)
    }

    /// Drops the nodes whose outputs nothing uses, then the weights and
    /// value infos nothing names.
    fn drop_unused(&mut self) {
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

    fn write(&self) -> Vec<u8> {
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

/// A convolution's or matrix product's weight, `(q - zero_point) * scale`,
/// each per tensor or per output channel (a convolution's first dimension, a
/// matrix product's last).
fn dequantized(conv: bool, w: &Tensor, zp: &Tensor, scale: &Tensor) -> Result<Vec<f32>> {
    let channels = if conv {
        w.dims[0]
    } else {
        *w.dims.last().unwrap_or(&1)
    };
    let per = |t: &Tensor, what: &str| -> Result<()> {
        if t.len() == 1 || t.len() == channels {
            Ok(())
        } else {
            Err(bad(&format!(
                "a {what} of {} values for {channels} channels",
                t.len()
            )))
        }
    };
    per(zp, "zero point")?;
    per(scale, "scale")?;
    let (q, zp, s) = (w.ints()?, zp.ints()?, scale.floats()?);
    let inner = q.len() / channels.max(1);
    let values: Vec<f32> = (0..q.len())
        .map(|k| {
            let c = if conv { k / inner } else { k % channels };
            let pick = |v: usize| if v == 1 { 0 } else { c };
            (q[k] - zp[pick(zp.len())]) as f32 * s[pick(s.len())]
        })
        .collect();
    Ok(values)
}

/// One rewrite: the node replaced, its replacement, the nodes removed, and
/// the weights made (name, `TensorProto` bytes).
type Edit = (usize, Node, Vec<usize>, Vec<(String, Vec<u8>)>);

/// A weight as read: its shape, type and values.
struct Tensor {
    dims: Vec<usize>,
    data_type: u64,
    raw: Option<Vec<u8>>,
    floats: Vec<f32>,
    ints: Vec<i64>,
}

impl Tensor {
    fn read(bytes: &[u8]) -> Option<Self> {
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

    fn len(&self) -> usize {
        self.dims.iter().product()
    }

    fn ints(&self) -> Result<Vec<i64>> {
        let v: Vec<i64> = match (&self.raw, self.data_type) {
            (Some(raw), UINT8) => raw.iter().map(|&b| i64::from(b)).collect(),
            (Some(raw), INT8) => raw.iter().map(|&b| i64::from(b as i8)).collect(),
            (None, UINT8 | INT8) => self.ints.clone(),
            _ => return Err(bad("a quantized weight that is not 8-bit")),
        };
        if v.len() != self.len() {
            return Err(bad("a weight whose values do not fill its shape"));
        }
        Ok(v)
    }

    fn floats(&self) -> Result<Vec<f32>> {
        let v: Vec<f32> = match (&self.raw, self.data_type) {
            (Some(raw), FLOAT) => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            (None, FLOAT) => self.floats.clone(),
            _ => return Err(bad("a scale that is not float")),
        };
        if v.len() != self.len() {
            return Err(bad("a scale whose values do not fill its shape"));
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

/// A float `TensorProto` of `dims` holding `values`, as raw data.
fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> Vec<u8> {
    let mut t = Vec::with_capacity(values.len() * 4 + name.len() + 32);
    let mut packed = Vec::new();
    for &d in dims {
        put_varint(&mut packed, d as u64);
    }
    put_len_field(&mut t, TENSOR_DIMS, &packed);
    put_key(&mut t, TENSOR_DATA_TYPE, 0);
    put_varint(&mut t, FLOAT);
    put_len_field(&mut t, TENSOR_NAME, name.as_bytes());
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put_len_field(&mut t, TENSOR_RAW_DATA, &raw);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::MODEL_GRAPH;

    fn int8(dims: &[usize], values: &[i8]) -> Tensor {
        Tensor {
            dims: dims.to_vec(),
            data_type: INT8,
            raw: Some(values.iter().map(|&v| v as u8).collect()),
            floats: Vec::new(),
            ints: Vec::new(),
        }
    }

    fn float(values: &[f32]) -> Tensor {
        Tensor {
            dims: vec![values.len()],
            data_type: FLOAT,
            raw: None,
            floats: values.to_vec(),
            ints: Vec::new(),
        }
    }

    #[test]
    fn weights_are_dequantized_per_tensor_and_per_channel() {
        let w = int8(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let zp = int8(&[1], &[1]);
        // A convolution's channels are its first dimension ...
        assert_eq!(
            dequantized(true, &w, &zp, &float(&[1.0, 10.0])).unwrap(),
            [0.0, 1.0, 2.0, 30.0, 40.0, 50.0]
        );
        // ... a matrix product's its last.
        assert_eq!(
            dequantized(false, &w, &zp, &float(&[1.0, 10.0, 100.0])).unwrap(),
            [0.0, 10.0, 200.0, 3.0, 40.0, 500.0]
        );
        assert_eq!(
            dequantized(true, &w, &int8(&[2], &[0, -1]), &float(&[0.5])).unwrap(),
            [0.5, 1.0, 1.5, 2.5, 3.0, 3.5]
        );
        let e = dequantized(true, &w, &zp, &float(&[1.0, 2.0, 3.0])).unwrap_err();
        assert!(e.to_string().contains("3 values for 2 channels"), "{e}");
    }

    #[test]
    fn a_model_with_nothing_quantized_or_not_a_model_is_an_error() {
        let mut node = Vec::new();
        put_len_field(&mut node, NODE_INPUT, b"x");
        put_len_field(&mut node, NODE_OUTPUT, b"y");
        put_len_field(&mut node, NODE_OP_TYPE, b"Relu");
        let mut graph = Vec::new();
        put_len_field(&mut graph, GRAPH_NODE, &node);
        let mut model = Vec::new();
        put_len_field(&mut model, MODEL_GRAPH, &graph);
        let e = dequantize(&model).unwrap_err();
        assert!(e.to_string().contains("no quantized operators"), "{e}");
        assert_eq!(op_counts(&model).unwrap()["Relu"], 1);
        assert!(dequantize(b"\xff\xff").is_err());
        assert!(dequantize(b"").is_err());
    }

    fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        for i in inputs {
            put_len_field(&mut b, NODE_INPUT, i.as_bytes());
        }
        for o in outputs {
            put_len_field(&mut b, NODE_OUTPUT, o.as_bytes());
        }
        put_len_field(&mut b, NODE_OP_TYPE, op.as_bytes());
        b
    }

    fn raw_tensor(name: &str, data_type: u64, dims: &[usize], raw: &[u8]) -> Vec<u8> {
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

    /// A convolution as the export quantizes it: `DynamicQuantizeLinear`,
    /// `ConvInteger`, the bias quantized at run time and added, `Cast`,
    /// `Mul` by the scales; its result the graph's output.
    fn quantized_conv() -> Vec<u8> {
        let mut g = Vec::new();
        for n in [
            node("DynamicQuantizeLinear", &["x"], &["xq", "xs", "xzp"]),
            node("Mul", &["xs", "ws"], &["scales"]),
            node("Div", &["bias", "scales"], &["bq_f"]),
            node("Floor", &["bq_f"], &["bq_r"]),
            node("Cast", &["bq_r"], &["bq"]),
            node("Reshape", &["bq", "shape"], &["bq_shaped"]),
            node("ConvInteger", &["xq", "wq", "xzp", "wzp"], &["y_int"]),
            node("Add", &["y_int", "bq_shaped"], &["y_biased"]),
            node("Cast", &["y_biased"], &["y_float"]),
            node("Mul", &["y_float", "scales"], &["y"]),
        ] {
            put_len_field(&mut g, GRAPH_NODE, &n);
        }
        for t in [
            raw_tensor("wq", UINT8, &[2, 1, 2], &[130, 128, 126, 129]),
            raw_tensor("wzp", UINT8, &[], &[128]),
            raw_tensor("ws", FLOAT, &[], &0.5f32.to_le_bytes()),
            raw_tensor(
                "bias",
                FLOAT,
                &[2],
                &[1f32.to_le_bytes(), 2f32.to_le_bytes()].concat(),
            ),
            raw_tensor(
                "shape",
                7,
                &[3],
                &[[1i64, 2, 1].map(i64::to_le_bytes).concat()].concat(),
            ),
        ] {
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

    #[test]
    fn a_quantized_convolution_becomes_one_float_convolution_with_its_bias() {
        let model = quantized_conv();
        let float = dequantize(&model).unwrap();
        let graph = ModelGraph::of(&float).unwrap();
        let graph = Graph::read(graph.body()).unwrap();
        // The whole chain, the quantizer and the bias's quantization included,
        // is one convolution making the same output; only its weights stay.
        let kept: Vec<(&str, Vec<&str>, Vec<&str>)> = graph
            .nodes
            .iter()
            .map(|n| {
                (
                    n.op.as_str(),
                    n.inputs.iter().map(String::as_str).collect(),
                    n.outputs.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [("Conv", vec!["x", "wq_dequantized_0", "bias"], vec!["y"])]
        );
        let names: Vec<&str> = graph.initializers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bias", "wq_dequantized_0"]);
        let w = Tensor::read(&graph.body[graph.initializers[1].1.clone()]).unwrap();
        assert_eq!((w.dims.as_slice(), w.data_type), (&[2, 1, 2][..], FLOAT));
        assert_eq!(w.floats().unwrap(), [1.0, 0.0, -1.0, 0.5]);
        // The model's other fields are kept.
        assert_eq!(float[..2], model[..2]);
        // A chain of another shape is an error that says where.
        let mut broken = quantized_conv();
        let at = broken.windows(4).position(|w| w == b"Cast").unwrap();
        broken[at..at + 4].copy_from_slice(b"Tanh");
        let e = dequantize(&broken).unwrap_err();
        assert!(e.to_string().contains("Cast"), "{e}");
    }
}
