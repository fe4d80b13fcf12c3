//! Voice packs, blends and style rows.
//!
//! A Kokoro voice is a table of style vectors, one row of 256 floats per input
//! length (510 rows). The row used for a call is `n_tokens - 1`, where `n_tokens`
//! counts the phoneme ids without the pads: the convention of hexgrad's pipeline
//! and kokoro-onnx 0.6.1, pinned by a test.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{io_err, Error, Result};

/// Floats in one style row.
pub const STYLE_DIM: usize = 256;

/// A voice (or a blend of voices): its style table.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    name: String,
    data: Vec<f32>,
}

impl Voice {
    /// A voice from raw little-endian float32 bytes, shape (rows, 1, 256).
    pub fn from_bytes(name: &str, bytes: &[u8], origin: &Path) -> Result<Self> {
        let row_bytes = STYLE_DIM * 4;
        if bytes.is_empty() || !bytes.len().is_multiple_of(row_bytes) {
            return Err(Error::BadVoice {
                path: origin.to_path_buf(),
                reason: format!(
                    "{} bytes is not a whole number of 256-float rows",
                    bytes.len()
                ),
            });
        }
        let data: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if data.iter().any(|v| !v.is_finite()) {
            return Err(Error::BadVoice {
                path: origin.to_path_buf(),
                reason: "holds NaN or infinite values".into(),
            });
        }
        Ok(Self {
            name: name.to_string(),
            data,
        })
    }

    /// A voice from its style table, `rows` x 256 floats (a voice made by
    /// arithmetic on others); every value must be finite.
    pub fn from_table(name: &str, data: Vec<f32>) -> Result<Self> {
        if data.is_empty()
            || !data.len().is_multiple_of(STYLE_DIM)
            || data.iter().any(|v| !v.is_finite())
        {
            return Err(Error::BadVoice {
                path: PathBuf::from(name),
                reason: format!(
                    "a style table is rows of {STYLE_DIM} finite floats; this one has {} values",
                    data.len()
                ),
            });
        }
        Ok(Self {
            name: name.to_string(),
            data,
        })
    }

    /// The style table: [`Voice::rows`] rows of 256 floats.
    pub fn table(&self) -> &[f32] {
        &self.data
    }

    /// The voice's name (for a blend, the blend string).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of style rows.
    pub fn rows(&self) -> usize {
        self.data.len() / STYLE_DIM
    }

    /// The style row for a call of `n_tokens` phoneme ids (without pads): row
    /// `n_tokens - 1`, clamped to the table.
    pub fn style_for(&self, n_tokens: usize) -> &[f32] {
        let row = n_tokens.saturating_sub(1).min(self.rows() - 1);
        &self.data[row * STYLE_DIM..(row + 1) * STYLE_DIM]
    }

    /// The weighted sum of voices; weights are normalised to sum to 1.
    pub fn blend(name: &str, parts: &[(Voice, f32)]) -> Result<Self> {
        let total: f32 = parts.iter().map(|(_, w)| w).sum();
        let rows = parts.iter().map(|(v, _)| v.rows()).min().unwrap_or(0);
        if parts.is_empty() || total <= 0.0 || rows == 0 {
            return Err(Error::BadBlend {
                spec: name.to_string(),
                reason: "nothing to blend".into(),
            });
        }
        let mut data = vec![0.0f32; rows * STYLE_DIM];
        for (voice, w) in parts {
            for (d, s) in data.iter_mut().zip(&voice.data) {
                *d += s * (w / total);
            }
        }
        Ok(Self {
            name: name.to_string(),
            data,
        })
    }
}

/// A parsed voice argument: one voice or a weighted blend.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceSpec {
    /// Voice names and their (unnormalised) weights.
    pub parts: Vec<(String, f32)>,
}

impl VoiceSpec {
    /// Parses `af_heart`, `af_sarah:60,am_adam:40` or `af_sarah,am_adam` (equal weights).
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadBlend {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = Vec::new();
        for part in spec.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(bad("empty voice name"));
            }
            let (name, weight) = match part.split_once(':') {
                Some((n, w)) => {
                    let w: f32 = w
                        .trim()
                        .parse()
                        .map_err(|_| bad(&format!("weight `{}` is not a number", w.trim())))?;
                    if !w.is_finite() || w <= 0.0 {
                        return Err(bad(&format!("weight `{w}` must be positive")));
                    }
                    (n.trim(), w)
                }
                None => (part, 1.0),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(&format!("`{name}` is not a voice name")));
            }
            parts.push((name.to_string(), weight));
        }
        Ok(Self { parts })
    }
}

/// Where voices come from: a directory of `<name>.bin` files, or an `.npz` archive
/// (the official `voices-v1.0.bin`).
#[derive(Debug, Clone)]
pub struct VoiceSet {
    path: PathBuf,
    npz: bool,
    names: Vec<String>,
}

impl VoiceSet {
    /// Opens a directory of `.bin` voices or an `.npz` voice archive.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let mut names: Vec<String> = std::fs::read_dir(path)
                .map_err(io_err(path))?
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".bin"))
                        .map(str::to_string)
                })
                .collect();
            names.sort();
            if names.is_empty() {
                return Err(Error::NotFound {
                    what: "voices (.bin files)",
                    path: path.to_path_buf(),
                });
            }
            return Ok(Self {
                path: path.to_path_buf(),
                npz: false,
                names,
            });
        }
        if !path.is_file() {
            return Err(Error::NotFound {
                what: "voices",
                path: path.to_path_buf(),
            });
        }
        let archive = open_zip(path)?;
        let mut names: Vec<String> = archive
            .file_names()
            .filter_map(|n| n.strip_suffix(".npy"))
            .map(str::to_string)
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(Error::BadVoice {
                path: path.to_path_buf(),
                reason: "archive holds no .npy voices".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            npz: true,
            names,
        })
    }

    /// Voice names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Loads one voice by name.
    pub fn load(&self, name: &str) -> Result<Voice> {
        if !self.names.iter().any(|n| n == name) {
            return Err(Error::UnknownVoice {
                name: name.to_string(),
                close: self.close_names(name),
            });
        }
        if !self.npz {
            let file = self.path.join(format!("{name}.bin"));
            let bytes = std::fs::read(&file).map_err(io_err(&file))?;
            return Voice::from_bytes(name, &bytes, &file);
        }
        let mut archive = open_zip(&self.path)?;
        let mut entry = archive
            .by_name(&format!("{name}.npy"))
            .map_err(|e| Error::BadVoice {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io_err(&self.path))?;
        let payload = npy_payload(&bytes).ok_or_else(|| Error::BadVoice {
            path: self.path.clone(),
            reason: format!("{name}.npy is not a little-endian float32 .npy"),
        })?;
        Voice::from_bytes(name, payload, &self.path)
    }

    /// Loads a voice or blend from a spec such as `af_sarah:60,am_adam:40`.
    pub fn resolve(&self, spec: &str) -> Result<Voice> {
        let parsed = VoiceSpec::parse(spec)?;
        if let [(name, _)] = parsed.parts.as_slice() {
            return self.load(name);
        }
        let parts = parsed
            .parts
            .iter()
            .map(|(n, w)| self.load(n).map(|v| (v, *w)))
            .collect::<Result<Vec<_>>>()?;
        Voice::blend(spec, &parts)
    }

    /// Up to three known names closest to `name`.
    fn close_names(&self, name: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &String)> = self
            .names
            .iter()
            .map(|n| (strsim::jaro_winkler(name, n), n))
            .filter(|(s, _)| *s > 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
    }
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    zip::ZipArchive::new(file).map_err(|e| Error::BadVoice {
        path: path.to_path_buf(),
        reason: format!("not a voice directory or .npz archive ({e})"),
    })
}

/// The data of a `.npy` file holding little-endian float32 values.
fn npy_payload(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return None;
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len)?).ok()?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return None;
    }
    bytes.get(start + header_len..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(rows: usize, f: impl Fn(usize) -> f32) -> Voice {
        let bytes: Vec<u8> = (0..rows * STYLE_DIM)
            .flat_map(|i| f(i).to_le_bytes())
            .collect();
        Voice::from_bytes("t", &bytes, Path::new("t")).unwrap()
    }

    #[test]
    fn style_row_is_token_count_minus_one() {
        // Row r holds the value r everywhere.
        let v = voice(510, |i| (i / STYLE_DIM) as f32);
        assert_eq!(v.style_for(252)[0], 251.0); // medium batch 0 of the reference
        assert_eq!(v.style_for(1)[0], 0.0);
        assert_eq!(v.style_for(0)[0], 0.0);
        assert_eq!(v.style_for(5000)[0], 509.0);
    }

    #[test]
    fn blend_weights_are_normalised() {
        let a = voice(2, |_| 1.0);
        let b = voice(2, |_| 3.0);
        let m = Voice::blend("a:60,b:20", &[(a, 60.0), (b, 20.0)]).unwrap();
        assert!((m.style_for(1)[0] - 1.5).abs() < 1e-6);
    }

    #[test]
    fn blend_specs_parse_or_fail_clearly() {
        assert_eq!(
            VoiceSpec::parse("af_sarah:60, am_adam:40").unwrap().parts,
            vec![("af_sarah".into(), 60.0), ("am_adam".into(), 40.0)]
        );
        assert_eq!(VoiceSpec::parse("a,b").unwrap().parts.len(), 2);
        for bad in ["", "a:", "a:x", "a:-1", "a,,b", ":3", "a b"] {
            let e = VoiceSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains("malformed voice blend"), "{bad}: {e}");
        }
    }

    #[test]
    fn malformed_voice_bytes_are_errors() {
        assert!(Voice::from_bytes("x", &[0u8; 10], Path::new("x")).is_err());
    }

    #[test]
    fn npy_header_is_parsed() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 256), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 1024]);
        assert_eq!(npy_payload(&bytes).unwrap().len(), 1024);
    }
}
