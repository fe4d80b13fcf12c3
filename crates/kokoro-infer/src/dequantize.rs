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

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::{float_tensor, Graph, Node, Tensor};
use crate::proto::ModelGraph;

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
    let rewritten = rewrite(&mut graph)?;
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

/// Rewrites every quantized chain of `graph`; how many.
fn rewrite(graph: &mut Graph<'_>) -> Result<usize> {
    let inits = graph.initializer_ranges();
    let links = graph.links();
    let tensor = |name: &str| graph.tensor(name).map_err(|e| bad(&e));
    let mut edits: Vec<Edit> = Vec::new();
    // Weights shared by several nodes (the text encoder's layers share
    // theirs) are made once: by weight, zero point and scale.
    let mut made: HashMap<[String; 3], String> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        match n.op.as_str() {
            "ConvInteger" | "MatMulInteger" => {
                let conv = n.op == "ConvInteger";
                let chain = graph.chain(i, &links, &inits).map_err(|e| bad(&e))?;
                let key = [
                    chain.w.clone(),
                    chain.w_zero_point.clone(),
                    chain.w_scale.clone(),
                ];
                let mut weights = Vec::new();
                let name = match made.get(&key) {
                    Some(name) => name.clone(),
                    None => {
                        let name = format!("{}_dequantized_{}", chain.w, made.len());
                        let w = tensor(&chain.w)?;
                        let values = dequantized(
                            conv,
                            &w,
                            &tensor(&chain.w_zero_point)?,
                            &tensor(&chain.w_scale)?,
                        )?;
                        weights.push((name.clone(), float_tensor(&name, &w.dims, &values)));
                        made.insert(key, name.clone());
                        name
                    }
                };
                let mut inputs = vec![chain.x, name];
                inputs.extend(chain.bias);
                let new = Node {
                    inputs,
                    outputs: graph.nodes[chain.last].outputs.clone(),
                    op: if conv { "Conv" } else { "MatMul" }.into(),
                    domain: String::new(),
                    rest: n.rest.clone(),
                    original: None,
                    kept: true,
                };
                edits.push((chain.last, new, chain.removed, weights));
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
                        w.ints().map_err(bad)?,
                        tensor(&n.inputs[scale])?.floats().map_err(bad)?,
                        tensor(&n.inputs[zp])?.ints().map_err(bad)?,
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
            graph.nodes[r].kept = false;
        }
        graph.nodes[at] = new;
        graph.added.extend(weights);
    }
    Ok(count)
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
    let (q, zp, s) = (
        w.ints().map_err(bad)?,
        zp.ints().map_err(bad)?,
        scale.floats().map_err(bad)?,
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::testing::quantized_conv;
    use crate::graph::{FLOAT, GRAPH_NODE, INT8, NODE_INPUT, NODE_OP_TYPE, NODE_OUTPUT};
    use crate::proto::{put_len_field, MODEL_GRAPH};

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

    #[test]
    fn a_quantized_convolution_becomes_one_float_convolution_with_its_bias() {
        let model = quantized_conv(&[2, 1, 2], &[130, 128, 126, 129]);
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
        let mut broken = quantized_conv(&[2, 1, 2], &[130, 128, 126, 129]);
        let at = broken.windows(4).position(|w| w == b"Cast").unwrap();
        broken[at..at + 4].copy_from_slice(b"Tanh");
        let e = dequantize(&broken).unwrap_err();
        assert!(e.to_string().contains("Cast"), "{e}");
    }
}
