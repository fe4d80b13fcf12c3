//! The fused model: the int8 export with each quantized 1-D convolution run
//! by one operator of this crate, on the processor's 8-bit dot product.
//!
//! In the export, each convolution is a chain: `DynamicQuantizeLinear` on
//! its input, `ConvInteger`, the bias quantized at run time and added, a
//! `Cast` and a `Mul` by the scales. ONNX Runtime runs its `ConvInteger` on
//! uint8 weights and uint8 activations, which on x86 never reaches the
//! processor's VNNI kernels; it builds a column buffer of `c_in · k · t`
//! bytes and repacks the weights on every call. Those convolutions are most
//! of the model's work (docs/BENCHMARKS.md).
//!
//! [`fuse`] replaces each chain with one `ai.kokoro.FusedConv1d` node whose
//! weights are packed once, into the model, for a direct convolution: the
//! input quantized exactly as the export quantizes it, the 8-bit products
//! summed by `vpdpbusd` with the zero points folded in afterwards, the bias
//! and scales applied as the export applies them. The integers are the
//! export's, and so are the floats made from them: the fused model's audio
//! is the export's to the bit, with no column buffer. Sessions register the
//! operator themselves ([`crate::session`]); on a processor without AVX-512
//! VNNI it runs in plain Rust, correct but slow, so the engine offers this
//! form only where [`vnni`] holds.

pub(crate) mod kernel;
pub(crate) mod op;

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::{
    attributes, float_attribute, int_attribute, opset_import, raw_tensor, Attribute, Graph, Node,
    INT32, INT8, UINT8,
};
use crate::proto::{put_len_field, ModelGraph};
pub use kernel::vnni;
pub use op::{DOMAIN, NAME, SNAKE_NAME};

/// `NodeProto.name`.
const NODE_NAME: u64 = 3;

/// The model's bytes with every quantized convolution of the export's shape
/// (stride 1, one group, symmetric padding, output channels a multiple of
/// 8, a bias) fused; the others are left as they are. An error if the bytes
/// are not a model, or no convolution could be fused.
pub fn fuse(model: &[u8]) -> Result<Vec<u8>> {
    let field = ModelGraph::of(model).map_err(bad)?;
    let mut graph = Graph::read(field.body()).ok_or_else(|| bad("its graph cannot be read"))?;
    let fused = rewrite(&mut graph)?;
    if fused == 0 {
        return Err(bad("the model has no quantized convolution to fuse"));
    }
    graph.drop_unused();
    take_in_snakes(&mut graph)?;
    graph.drop_unused();
    let mut out = field.replaced(&graph.write());
    out.extend_from_slice(&opset_import(DOMAIN, 1));
    Ok(out)
}

fn bad(reason: &str) -> Error {
    Error::BadInput(format!("cannot make the fused model: {reason}"))
}

/// The shape of the convolution at `node` if it can be fused.
fn shape_of(node: &Node, w: &crate::graph::Tensor) -> Option<kernel::Shape> {
    let attrs = attributes(&node.rest)?;
    let ints = |name: &str| match attrs.get(name) {
        Some(Attribute::Ints(v)) => Some(v.clone()),
        _ => None,
    };
    let one = |name: &str, default: i64| match attrs.get(name) {
        Some(Attribute::Ints(v)) if v.len() == 1 => Some(v[0]),
        None => Some(default),
        _ => None,
    };
    if !matches!(attrs.get("group"), None | Some(Attribute::Int(1))) {
        return None;
    }
    // Only padding written out (NOTSET) is fused.
    if !matches!(attrs.get("auto_pad"), None | Some(Attribute::Str(_)))
        || attrs
            .get("auto_pad")
            .is_some_and(|a| *a != Attribute::Str(b"NOTSET".to_vec()))
    {
        return None;
    }
    if one("strides", 1)? != 1 {
        return None;
    }
    let dilation = usize::try_from(one("dilations", 1)?).ok()?;
    let pads = ints("pads").unwrap_or_else(|| vec![0, 0]);
    let [a, b] = pads[..] else { return None };
    if a != b || a < 0 {
        return None;
    }
    let [c_out, c_in, k] = w.dims[..] else {
        return None;
    };
    if ints("kernel_shape").is_some_and(|ks| ks != [k as i64]) {
        return None;
    }
    let shape = kernel::Shape {
        c_in,
        c_out,
        k,
        dilation,
        pad: a as usize,
    };
    (c_out % kernel::BLOCK == 0 && c_in > 0 && k > 0 && dilation > 0).then_some(shape)
}

/// Fuses every convolution that can be; how many.
fn rewrite(graph: &mut Graph<'_>) -> Result<usize> {
    let inits = graph.initializer_ranges();
    let links = graph.links();
    // Weights shared by several nodes are packed once.
    let mut packed: HashMap<String, (String, String)> = HashMap::new();
    let mut edits = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        if n.op != "ConvInteger" {
            continue;
        }
        let Ok(chain) = graph.chain(i, &links, &inits) else {
            continue;
        };
        let Some(bias) = chain.bias.clone() else {
            continue;
        };
        let tensor = |name: &str| graph.tensor(name).map_err(|e| bad(&e));
        let w = tensor(&chain.w)?;
        if w.data_type != UINT8 {
            continue;
        }
        let Some(shape) = shape_of(n, &w) else {
            continue;
        };
        let zp = tensor(&chain.w_zero_point)?.ints().map_err(bad)?;
        let scale = tensor(&chain.w_scale)?.floats().map_err(bad)?;
        let (&[zp], &[scale]) = (&zp[..], &scale[..]) else {
            // Per-channel scales or zero points are not the export's.
            continue;
        };
        let Ok(zp) = u8::try_from(zp) else { continue };
        let mut weights = Vec::new();
        let (packed_name, sums_name) = match packed.get(&chain.w) {
            Some(names) => names.clone(),
            None => {
                let values: Vec<u8> = w
                    .ints()
                    .map_err(bad)?
                    .into_iter()
                    .map(|v| v as u8)
                    .collect();
                let (p, sums) = kernel::pack(&values, shape);
                let names = (
                    format!("{}_fused", chain.w),
                    format!("{}_fused_sums", chain.w),
                );
                let raw: Vec<u8> = p.iter().map(|&v| v as u8).collect();
                weights.push((
                    names.0.clone(),
                    raw_tensor(&names.0, INT8, &[raw.len()], &raw),
                ));
                let raw: Vec<u8> = sums.iter().flat_map(|v| v.to_le_bytes()).collect();
                weights.push((
                    names.1.clone(),
                    raw_tensor(&names.1, INT32, &[sums.len()], &raw),
                ));
                packed.insert(chain.w.clone(), names.clone());
                names
            }
        };
        let mut rest = Vec::new();
        let name = node_name(&n.rest).unwrap_or_else(|| format!("conv_{i}"));
        put_len_field(&mut rest, NODE_NAME, format!("{name}_fused").as_bytes());
        for (key, value) in [
            ("c_in", shape.c_in),
            ("c_out", shape.c_out),
            ("kernel", shape.k),
            ("dilation", shape.dilation),
            ("pad", shape.pad),
            ("w_zero_point", usize::from(zp)),
        ] {
            rest.extend(int_attribute(key, value as i64));
        }
        rest.extend(float_attribute("w_scale", scale));
        let new = Node {
            inputs: vec![chain.x.clone(), packed_name, sums_name, bias],
            outputs: graph.nodes[chain.last].outputs.clone(),
            op: NAME.into(),
            domain: DOMAIN.into(),
            rest,
            original: None,
            kept: true,
        };
        edits.push((chain.last, new, chain.removed, weights));
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

/// Moves each Snake activation, `x + (1/α) sin²(αx)`, whose result only
/// fused convolutions read, into those convolutions ([`SNAKE_NAME`]): its
/// five elementwise operators over the whole activation are then one pass
/// inside the convolution's own, computed as ONNX Runtime computes them.
/// How many were moved.
fn take_in_snakes(graph: &mut Graph<'_>) -> Result<usize> {
    let links = graph.links();
    let nodes = &graph.nodes;
    let made_by = |name: &str, op: &str| -> Option<usize> {
        links
            .producer
            .get(name)
            .copied()
            .filter(|&i| nodes[i].op == op)
    };
    let only_to = |node: usize| -> bool {
        nodes[node]
            .outputs
            .iter()
            .all(|o| links.consumers.get(o).is_some_and(|c| c.len() == 1))
    };
    let scalar = |name: &str| -> Option<f32> {
        let t = graph.tensor(name).ok()?;
        match t.floats().ok()?[..] {
            [v] => Some(v),
            _ => None,
        }
    };
    let per_channel = |name: &str, c: usize| -> bool {
        graph
            .tensor(name)
            .is_ok_and(|t| t.dims == [1, c, 1] && t.data_type == crate::graph::FLOAT)
    };
    let mut edits = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, n) in nodes.iter().enumerate() {
        if !n.kept || n.op != NAME || !seen.insert(n.inputs[0].clone()) {
            continue;
        }
        let x = &n.inputs[0];
        let readers = &links.consumers[x];
        if !readers
            .iter()
            .all(|&r| nodes[r].op == NAME && nodes[r].inputs[0] == *x)
        {
            continue;
        }
        let c_in = match attributes(&n.rest).and_then(|a| a.get("c_in").cloned()) {
            Some(Attribute::Int(c)) => c as usize,
            _ => continue,
        };
        let matched = (|| {
            let add = made_by(x, "Add")?;
            let [p, q] = &nodes[add].inputs[..] else {
                return None;
            };
            // Add(x, Mul(1/α, Pow(Sin(Mul(x, α)), 2))), either way round.
            let (xa, scaled) = [(p, q), (q, p)]
                .into_iter()
                .find(|(_, m)| made_by(m, "Mul").is_some())?;
            let mul2 = made_by(scaled, "Mul")?;
            let [a, b] = &nodes[mul2].inputs[..] else {
                return None;
            };
            let (recip, pow_out) = [(a, b), (b, a)]
                .into_iter()
                .find(|(_, p)| made_by(p, "Pow").is_some())?;
            let pow = made_by(pow_out, "Pow")?;
            let [sin_out, two] = &nodes[pow].inputs[..] else {
                return None;
            };
            if scalar(two)? != 2.0 {
                return None;
            }
            let sin = made_by(sin_out, "Sin")?;
            let mul1 = made_by(&nodes[sin].inputs[0], "Mul")?;
            let [a, b] = &nodes[mul1].inputs[..] else {
                return None;
            };
            let alpha = if a == xa {
                b
            } else if b == xa {
                a
            } else {
                return None;
            };
            if !per_channel(alpha, c_in) || !per_channel(recip, c_in) {
                return None;
            }
            let inner = [mul1, sin, pow, mul2];
            if !inner.iter().all(|&k| only_to(k)) {
                return None;
            }
            Some((
                xa.clone(),
                alpha.clone(),
                recip.clone(),
                [add, mul1, sin, pow, mul2],
            ))
        })();
        if let Some((xa, alpha, recip, removed)) = matched {
            edits.push((readers.clone(), xa, alpha, recip, removed));
        }
        let _ = i;
    }
    let count = edits.len();
    for (readers, xa, alpha, recip, removed) in edits {
        for r in readers {
            let node = &mut graph.nodes[r];
            node.op = SNAKE_NAME.into();
            let weights = node.inputs.split_off(1);
            node.inputs = [vec![xa.clone(), alpha.clone(), recip.clone()], weights].concat();
        }
        for k in removed {
            graph.nodes[k].kept = false;
        }
    }
    Ok(count)
}

/// A node's name, from its other fields.
fn node_name(rest: &[u8]) -> Option<String> {
    let fields = crate::proto::fields(rest)?;
    let f = fields.iter().find(|f| f.number == NODE_NAME)?;
    String::from_utf8(rest[f.body.clone()].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::testing::{model, nodes, quantized_conv};

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_quantized_convolution_becomes_one_fused_convolution() {
        let w: Vec<u8> = (0..8 * 5 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let fused = fuse(&quantized_conv(&[8, 5, 3], &w)).unwrap();
        assert_eq!(
            nodes(&fused),
            [(
                NAME.to_string(),
                strings(&["x", "wq_fused", "wq_fused_sums", "bias"]),
                strings(&["y"])
            )]
        );
        let graph = ModelGraph::of(&fused).unwrap();
        let graph = Graph::read(graph.body()).unwrap();
        let node = &graph.nodes[0];
        assert_eq!(node.domain, DOMAIN);
        let a = attributes(&node.rest).unwrap();
        for (key, value) in [
            ("c_in", 5),
            ("c_out", 8),
            ("kernel", 3),
            ("dilation", 1),
            ("pad", 1),
            ("w_zero_point", 128),
        ] {
            assert_eq!(a[key], Attribute::Int(value), "{key}");
        }
        assert_eq!(a["w_scale"], Attribute::Float(0.5));
        // The packed weights and their sums replace the export's weights.
        let shape = kernel::Shape {
            c_in: 5,
            c_out: 8,
            k: 3,
            dilation: 1,
            pad: 1,
        };
        let (packed, sums) = kernel::pack(&w, shape);
        let t = graph.tensor("wq_fused").unwrap();
        assert_eq!(
            t.raw.unwrap(),
            packed.iter().map(|&v| v as u8).collect::<Vec<_>>()
        );
        let t = graph.tensor("wq_fused_sums").unwrap();
        assert_eq!(
            t.raw.unwrap(),
            sums.iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        assert!(
            graph.tensor("wq").is_err(),
            "the export's weights are dropped"
        );
        // The model declares the operator's domain.
        assert!(fused.windows(DOMAIN.len()).any(|w| w == DOMAIN.as_bytes()));
    }

    #[test]
    fn a_snake_before_the_convolution_is_taken_in() {
        let w = vec![129u8; 8 * 4 * 3];
        let fused = fuse(&model(&[8, 4, 3], &w, true)).unwrap();
        assert_eq!(
            nodes(&fused),
            [(
                SNAKE_NAME.to_string(),
                strings(&["x", "alpha", "recip", "wq_fused", "wq_fused_sums", "bias"]),
                strings(&["y"])
            )]
        );
    }

    #[test]
    fn what_cannot_be_fused_is_left_or_refused() {
        // Eight output channels to a block: two cannot be fused.
        let two = quantized_conv(&[2, 1, 2], &[130, 128, 126, 129]);
        let e = fuse(&two).unwrap_err();
        assert!(e.to_string().contains("no quantized convolution"), "{e}");
        assert!(fuse(b"").is_err());
        assert!(fuse(b"\xff\xff").is_err());
    }
}
