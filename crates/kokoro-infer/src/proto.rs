//! The protobuf wire format, as much of it as editing an ONNX model's bytes
//! needs: the fields of a message (each with where its bytes lie, so what is
//! not edited is copied as it is) and the writing of fields.

/// The wire type of length-delimited fields.
pub(crate) const LEN: u64 = 2;
/// `ModelProto.graph`.
pub(crate) const MODEL_GRAPH: u64 = 7;

/// A model's one graph: the bytes of its `GraphProto`, and the model with
/// another graph in its place (every other field of the model kept).
pub(crate) struct ModelGraph<'a> {
    model: &'a [u8],
    field: Field,
}

impl<'a> ModelGraph<'a> {
    /// The graph of `model`, or why there is none.
    pub(crate) fn of(model: &'a [u8]) -> Result<Self, &'static str> {
        let mut graphs = fields(model)
            .ok_or("not an ONNX model")?
            .into_iter()
            .filter(|f| f.number == MODEL_GRAPH && f.wire == LEN);
        match (graphs.next(), graphs.next()) {
            (Some(field), None) => Ok(Self { model, field }),
            _ => Err("not an ONNX model with one graph"),
        }
    }

    /// The `GraphProto`'s bytes.
    pub(crate) fn body(&self) -> &'a [u8] {
        &self.model[self.field.body.clone()]
    }

    /// The model with `graph` for its graph.
    pub(crate) fn replaced(&self, graph: &[u8]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.model.len() - self.field.body.len() + graph.len() + 16);
        out.extend_from_slice(&self.model[..self.field.start]);
        put_len_field(&mut out, MODEL_GRAPH, graph);
        out.extend_from_slice(&self.model[self.field.body.end..]);
        out
    }
}

/// One field of a protobuf message: its number, wire type, where it starts
/// (its key) and where its body lies.
#[derive(Debug)]
pub(crate) struct Field {
    pub number: u64,
    pub wire: u64,
    pub start: usize,
    pub body: std::ops::Range<usize>,
}

/// The top-level fields of a message; `None` if the bytes are not one.
pub(crate) fn fields(bytes: &[u8]) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let key = varint(bytes, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return None;
        }
        let body = match wire {
            0 => {
                let from = at;
                varint(bytes, &mut at)?;
                from..at
            }
            1 => at..at.checked_add(8)?,
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                at..at.checked_add(len)?
            }
            5 => at..at.checked_add(4)?,
            _ => return None,
        };
        if body.end > bytes.len() {
            return None;
        }
        at = body.end;
        out.push(Field {
            number,
            wire,
            start,
            body,
        });
    }
    Some(out)
}

pub(crate) fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_key(out: &mut Vec<u8>, number: u64, wire: u64) {
    put_varint(out, number << 3 | wire);
}

pub(crate) fn put_len_field(out: &mut Vec<u8>, number: u64, body: &[u8]) {
    put_key(out, number, LEN);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut at = 0;
            assert_eq!(varint(&b, &mut at), Some(v));
            assert_eq!(at, b.len());
        }
    }
}
