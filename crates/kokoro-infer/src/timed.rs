//! The timed model: Kokoro's ONNX graph with one more output, the duration of
//! each input id, which the model computes anyway (the tensor
//! `/encoder/Gather_output_0`, int64, one value per id, pads included, in
//! units of 600 samples). The edit appends one `ValueInfoProto` to the graph's
//! outputs, in the protobuf bytes, without decoding the rest: the weights are
//! copied as they are, and the audio output is unchanged.

use crate::error::{Error, Result};
#[cfg(test)]
use crate::proto::MODEL_GRAPH;
use crate::proto::{fields, put_key, put_len_field, put_varint, ModelGraph, LEN};

/// The tensor that holds each id's duration in the int8 Kokoro v1.0 export.
pub const DURATIONS_TENSOR: &str = "/encoder/Gather_output_0";

/// Samples per unit of duration (25 ms at 24 kHz).
pub const SAMPLES_PER_DURATION_UNIT: usize = 600;

/// How far the audio runs ahead of the durations, in units at normal speed: a
/// phoneme is heard about three units (75 ms) before the durations before it
/// add up to, and that lead is divided by the speed (at 1.5, 50 ms). Measured
/// on speech onsets of single words and against Whisper's word times at
/// speeds 0.75 to 2; at speed 1 it is the offset the model's reference
/// pipeline (hexgrad's `join_timestamps`) takes.
pub const AUDIO_LEAD_UNITS: usize = 3;

/// `GraphProto.output`, `GraphProto.node` and `NodeProto.output`.
const GRAPH_OUTPUT: u64 = 12;
const GRAPH_NODE: u64 = 1;
const NODE_OUTPUT: u64 = 2;

/// The model's bytes with `tensor` added as a last graph output (int64). An
/// error when the bytes are not a model, or no node of the graph makes
/// `tensor` (a model of another export: timing is then unavailable).
pub fn with_output(model: &[u8], tensor: &str) -> Result<Vec<u8>> {
    let bad = |reason: &str| Error::BadInput(format!("cannot add the durations output: {reason}"));
    let graph = ModelGraph::of(model).map_err(bad)?;
    let body = graph.body();
    if !makes(body, tensor).ok_or_else(|| bad("the graph cannot be read"))? {
        return Err(bad(&format!("the model has no tensor `{tensor}`")));
    }
    let mut new_body = Vec::with_capacity(body.len() + 64);
    new_body.extend_from_slice(body);
    put_len_field(&mut new_body, GRAPH_OUTPUT, &int64_value_info(tensor));
    Ok(graph.replaced(&new_body))
}

/// Whether a node of the graph `body` has `tensor` among its outputs.
fn makes(body: &[u8], tensor: &str) -> Option<bool> {
    for node in fields(body)?
        .iter()
        .filter(|f| f.number == GRAPH_NODE && f.wire == LEN)
    {
        let node = &body[node.body.clone()];
        for out in fields(node)?
            .iter()
            .filter(|f| f.number == NODE_OUTPUT && f.wire == LEN)
        {
            if &node[out.body.clone()] == tensor.as_bytes() {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// `ValueInfoProto { name, type: TypeProto { tensor_type: { elem_type: INT64 } } }`.
fn int64_value_info(name: &str) -> Vec<u8> {
    const INT64: u64 = 7;
    let mut tensor = Vec::new();
    put_key(&mut tensor, 1, 0);
    put_varint(&mut tensor, INT64);
    let mut type_proto = Vec::new();
    put_len_field(&mut type_proto, 1, &tensor);
    let mut info = Vec::new();
    put_len_field(&mut info, 1, name.as_bytes());
    put_len_field(&mut info, 2, &type_proto);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of two nodes making `a` and `b`, with an ir_version before the
    /// graph and a producer after it.
    fn model() -> Vec<u8> {
        let mut graph = Vec::new();
        for name in ["a", "b"] {
            let mut node = Vec::new();
            put_len_field(&mut node, NODE_OUTPUT, name.as_bytes());
            put_len_field(&mut graph, GRAPH_NODE, &node);
        }
        put_len_field(&mut graph, GRAPH_OUTPUT, &int64_value_info("a"));
        let mut m = Vec::new();
        put_key(&mut m, 1, 0);
        put_varint(&mut m, 8);
        put_len_field(&mut m, MODEL_GRAPH, &graph);
        put_len_field(&mut m, 2, b"test");
        m
    }

    fn outputs(model: &[u8]) -> Vec<String> {
        let f = fields(model).unwrap();
        let g = f.iter().find(|f| f.number == MODEL_GRAPH).unwrap();
        let graph = &model[g.body.clone()];
        fields(graph)
            .unwrap()
            .iter()
            .filter(|f| f.number == GRAPH_OUTPUT)
            .map(|o| {
                let info = &graph[o.body.clone()];
                let name = fields(info)
                    .unwrap()
                    .into_iter()
                    .find(|f| f.number == 1)
                    .unwrap();
                String::from_utf8(info[name.body].to_vec()).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_tensor_becomes_the_last_output_and_the_rest_is_kept() {
        let before = model();
        let after = with_output(&before, "b").unwrap();
        assert_eq!(outputs(&after), vec!["a", "b"]);
        let (f0, f1) = (fields(&before).unwrap(), fields(&after).unwrap());
        assert_eq!(f0.len(), f1.len());
        assert_eq!(
            &after[f1[2].body.clone()],
            b"test",
            "fields after the graph kept"
        );
        assert_eq!(after[..2], before[..2], "fields before the graph kept");
    }

    #[test]
    fn a_model_without_the_tensor_or_not_a_model_is_an_error() {
        let e = with_output(&model(), "/encoder/Gather_output_0").unwrap_err();
        assert!(e.to_string().contains("no tensor"), "{e}");
        assert!(with_output(b"\xff\xff\xff", "a").is_err());
        assert!(with_output(b"", "a").is_err());
        let mut cut = model();
        cut.truncate(cut.len() - 3);
        assert!(with_output(&cut, "a").is_err());
    }
}
