//! `cargo xtask profile`: where one model call's time goes, operator by
//! operator (ONNX Runtime's profiler), for each form of the model at a few
//! lengths, with the operations per second each group of operators achieves
//! against this processor's peak, and the memory a call holds.
//!
//! The peak is measured here, on one core: a loop of independent 8-bit dot
//! products (`vpdpbusd`, AVX-512 VNNI: 64 multiply-adds each, a multiply-add
//! counted as 2 operations) and of float multiply-adds (`vfmadd231ps` on 16
//! floats), long enough to ignore the loop's overhead. Operations are counted
//! from each operator's shapes as the profiler records them (convolutions:
//! 2·c_out·c_in·k·t_out; matrix products: 2·m·k·n; LSTMs: 2·t·4h·(i+h) per
//! direction); other operators get their time only.
//!
//! Each (form, length) runs in a child process of its own (`profile-run`):
//! the session at one intra-op thread, one call to warm up and one
//! profiled; its memory is the peak RSS during the call less the RSS before
//! it (what the call's activations and buffers hold at their height).
//!
//! Flags: `--forms int8,int8-fused` (default: int8 and the forms this
//! processor runs well), `--ids 30,150,500`, `--threads 1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use kokoro::infer::{init_runtime, KokoroSession, SessionOptions, Synthesize, VoiceSet};

use crate::bench::{flag, machine, model_for, parse_layout, rss_mib_of};

pub fn run(args: &[String]) -> Result<()> {
    crate::fetch::run()?;
    let forms: Vec<kokoro::Form> = match flag(args, "--forms") {
        Some(list) => list
            .split(',')
            .map(|f| match f.parse::<kokoro::FormChoice>() {
                Ok(kokoro::FormChoice::Fixed(form)) => Ok(form),
                _ => anyhow::bail!("--forms: `{f}` is not a form"),
            })
            .collect::<Result<_>>()?,
        None => kokoro::Form::ALL
            .into_iter()
            .filter(|f| *f == kokoro::Form::Int8 || f.eligible())
            .collect(),
    };
    let sizes: Vec<usize> = flag(args, "--ids")
        .unwrap_or("30,150,500")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let threads = flag(args, "--threads").unwrap_or("1");
    let (int8_peak, float_peak) = peaks();
    let mut out = format!(
        "### One call, operator by operator ({}, {threads} intra-op thread(s))\n\n\
         Peak of one core, measured: {} G int8 ops/s (`vpdpbusd`), {:.0} G float ops/s (`vfmadd231ps`).\n\n",
        machine(),
        int8_peak.map_or("no VNNI: no".into(), |p| format!("{p:.0}")),
        float_peak
    );
    let exe = std::env::current_exe()?;
    for form in &forms {
        for &n in &sizes {
            let dir = std::env::temp_dir().join(format!("kokoro-profile-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            eprintln!("xtask: profile {form} at {n} ids ...");
            let letter = match form {
                kokoro::Form::Int8 => "",
                kokoro::Form::Fused => "f",
                kokoro::Form::Float => "d",
            };
            let output = Command::new(&exe)
                .args(["profile-run", "--layout", &format!("1x{threads}t{letter}")])
                .args(["--ids", &n.to_string(), "--dir"])
                .arg(&dir)
                .output()?;
            anyhow::ensure!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .context("no RESULT")?;
            let v: BTreeMap<&str, &str> = line
                .split_whitespace()
                .filter_map(|p| p.split_once('='))
                .collect();
            let profile = PathBuf::from(v["profile"]);
            let groups = groups(&profile)?;
            let _ = std::fs::remove_dir_all(&dir);
            let total: f64 = groups.values().map(|g| g.ms).sum();
            out += &format!(
                "#### {form}, {n} ids ({} s of audio): {:.0} ms, {} MiB held by the call\n\n\
                 | operators | ms | share | G ops/s | of the core's peak |\n|---|---:|---:|---:|---:|\n",
                v["audio"], total, v["call_mib"]
            );
            let mut sorted: Vec<(&String, &Group)> = groups.iter().collect();
            sorted.sort_by(|a, b| b.1.ms.total_cmp(&a.1.ms));
            for (name, g) in sorted {
                let (rate, of_peak) = if g.ops > 0.0 {
                    let rate = g.ops / (g.ms / 1000.0) / 1e9;
                    let peak = if g.int8 { int8_peak } else { Some(float_peak) };
                    (
                        format!("{rate:.1}"),
                        peak.map_or(String::new(), |p| format!("{:.0} %", 100.0 * rate / p)),
                    )
                } else {
                    (String::new(), String::new())
                };
                out += &format!(
                    "| {name} | {:.1} | {:.1} % | {rate} | {of_peak} |\n",
                    g.ms,
                    100.0 * g.ms / total
                );
            }
            out += "\n";
        }
    }
    println!("{out}");
    Ok(())
}

/// The child: one profiled call.
pub fn run_one(args: &[String]) -> Result<()> {
    kokoro::infer::return_large_blocks_to_the_system();
    let bench = parse_layout(flag(args, "--layout").context("--layout")?)?;
    let n: usize = flag(args, "--ids").context("--ids")?.parse()?;
    let dir = PathBuf::from(flag(args, "--dir").context("--dir")?);
    let paths = crate::fetch::options().cache()?.paths();
    let model = model_for(&bench)?;
    init_runtime(&paths.runtime)?;
    let voice = VoiceSet::open(&paths.voices)?.resolve("af_heart")?;
    let ids = reference_ids(n)?;
    let mut session = KokoroSession::open_profiled(
        &model,
        SessionOptions {
            intra_threads: bench.threads,
            ..SessionOptions::default()
        },
        &dir.join("call"),
    )?;
    let style = voice.style_for(ids.len());
    // A call to warm up, then the one recorded: the profile keeps the last.
    session.synthesize(&ids, style, 1.0)?;
    let before = rss_mib_of("self", "VmRSS:");
    reset_peak();
    let start = Instant::now();
    let audio = session.synthesize(&ids, style, 1.0)?;
    let wall = start.elapsed().as_secs_f64();
    let peak = rss_mib_of("self", "VmHWM:");
    let profile = session.end_profiling()?;
    println!(
        "RESULT profile={} audio={:.1} wall={wall:.3} call_mib={:.0}",
        profile.display(),
        audio.len() as f64 / 24_000.0,
        peak - before
    );
    Ok(())
}

/// Clears the process's peak RSS, so that the next reading is this call's
/// (Linux: writing 5 to `clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The first `n` ids of medium.txt's reference batches.
fn reference_ids(n: usize) -> Result<Vec<i64>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../test_data/reference/medium.batches.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let ids: Vec<i64> = json["batches"]
        .as_array()
        .context("batches")?
        .iter()
        .flat_map(|b| b["token_ids"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_i64())
        .take(n)
        .collect();
    anyhow::ensure!(
        ids.len() == n,
        "the reference has {} ids, fewer than {n}",
        ids.len()
    );
    Ok(ids)
}

/// One group of operators: its time in the recorded call, the operations
/// counted, and whether they are 8-bit.
#[derive(Debug, Default)]
struct Group {
    ms: f64,
    ops: f64,
    int8: bool,
}

/// The last call's operators, grouped.
fn groups(profile: &Path) -> Result<BTreeMap<String, Group>> {
    let events: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(profile)?)?;
    // The last model_run's window.
    let run = events
        .iter()
        .rfind(|e| e["cat"] == "Session" && e["name"] == "model_run")
        .context("no run in the profile")?;
    let (from, to) = (
        run["ts"].as_f64().unwrap_or(0.0),
        run["ts"].as_f64().unwrap_or(0.0) + run["dur"].as_f64().unwrap_or(0.0),
    );
    let mut out: BTreeMap<String, Group> = BTreeMap::new();
    for e in &events {
        let name = e["name"].as_str().unwrap_or_default();
        let ts = e["ts"].as_f64().unwrap_or(0.0);
        if e["cat"] != "Node" || !name.ends_with("_kernel_time") || ts < from || ts > to {
            continue;
        }
        let op = e["args"]["op_name"].as_str().unwrap_or("?");
        let shapes = |key: &str| -> Vec<Vec<f64>> {
            e["args"][key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_object()?.values().next()?.as_array().cloned())
                        .map(|dims| dims.iter().filter_map(|d| d.as_f64()).collect())
                        .collect()
                })
                .unwrap_or_default()
        };
        let (inputs, outputs) = (shapes("input_type_shape"), shapes("output_type_shape"));
        let (group, ops, int8) = classify(op, &inputs, &outputs);
        let g = out.entry(group.to_string()).or_default();
        g.ms += e["dur"].as_f64().unwrap_or(0.0) / 1000.0;
        g.ops += ops;
        g.int8 |= int8;
    }
    Ok(out)
}

/// An operator's group, its operations (0 when not counted) and whether
/// they are 8-bit.
fn classify(op: &str, inputs: &[Vec<f64>], outputs: &[Vec<f64>]) -> (&'static str, f64, bool) {
    let dims = |v: &[Vec<f64>], i: usize| v.get(i).cloned().unwrap_or_default();
    let product = |d: &[f64]| d.iter().product::<f64>();
    let conv = || {
        // x [1, c_in, ...], w [c_out, c_in / group, k...], y [1, c_out, ...]
        let (w, y) = (dims(inputs, 1), dims(outputs, 0));
        if w.len() < 3 || y.len() < 3 {
            return 0.0;
        }
        2.0 * product(&w) * product(&y[2..])
    };
    match op {
        "ConvInteger" => (
            "convolutions, ONNX Runtime's int8 (ConvInteger)",
            conv(),
            true,
        ),
        "FusedConv1d" | "FusedSnakeConv1d" => {
            // x [1, c_in, t], packed weights, y [1, c_out, t_out]
            let (x, y) = (dims(inputs, 0), dims(outputs, 0));
            let packed = dims(inputs, if op == "FusedConv1d" { 1 } else { 3 });
            let ops = match (x.as_slice(), y.as_slice(), packed.as_slice()) {
                ([_, c_in, _], [_, c_out, t_out], [len]) => {
                    let k = len / (c_out * (c_in / 4.0).ceil() * 4.0);
                    2.0 * c_out * c_in * k * t_out
                }
                _ => 0.0,
            };
            ("convolutions, fused int8 (with the Snake)", ops, true)
        }
        "Conv" | "NchwcConv" => ("convolutions, float", conv(), false),
        "ConvTranspose" => {
            // x [1, c_in, t], w [c_in, c_out / group, k]
            let (x, w) = (dims(inputs, 0), dims(inputs, 1));
            let ops = if x.len() >= 3 && w.len() >= 3 {
                2.0 * product(&w) * product(&x[2..])
            } else {
                0.0
            };
            ("transposed convolutions, float", ops, false)
        }
        "MatMulInteger"
        | "MatMulIntegerToFloat"
        | "DynamicQuantizeMatMul"
        | "MatMul"
        | "FusedMatMul" => {
            // a [.., m, k] into y [.., m, n] (ONNX Runtime's prepacked
            // weights are recorded flattened, so n is read from y).
            let (a, y) = (dims(inputs, 0), dims(outputs, 0));
            let ops = match y.last() {
                Some(n) if a.len() >= 2 => 2.0 * product(&a) * n,
                _ => 0.0,
            };
            let int8 = op != "MatMul" && op != "FusedMatMul";
            (
                if int8 {
                    "matrix products, int8"
                } else {
                    "matrix products, float"
                },
                ops,
                int8,
            )
        }
        "LSTM" | "DynamicQuantizeLSTM" => {
            // x [t, batch, i], w [directions, 4h, i] (the quantized one is
            // [directions, i, 4h]), y [t, directions, batch, h]
            let (x, y) = (dims(inputs, 0), dims(outputs, 0));
            let ops = match (x.as_slice(), y.as_slice()) {
                ([t, b, i], [_, d, _, h]) => 2.0 * t * b * d * 4.0 * h * (i + h),
                _ => 0.0,
            };
            ("LSTMs", ops, op == "DynamicQuantizeLSTM")
        }
        "Sin" | "Cos" | "Atan" | "STFT" => ("STFT and trigonometry (vocoder)", 0.0, false),
        "DynamicQuantizeLinear" | "DequantizeLinear" | "QuantizeLinear" => {
            ("quantizers", 0.0, false)
        }
        "ReduceMean"
        | "LayerNormalization"
        | "SkipLayerNormalization"
        | "InstanceNormalization"
        | "Sqrt" => ("normalization", 0.0, false),
        "Add" | "Mul" | "Div" | "Sub" | "Pow" | "Exp" | "Tanh" | "Sigmoid" | "LeakyRelu"
        | "FastGelu" | "Cast" | "Clip" | "Floor" | "Round" | "Where" | "Equal" | "Less"
        | "Greater" | "GreaterOrEqual" | "And" | "Softmax" => ("elementwise", 0.0, false),
        _ => ("data movement and the rest", 0.0, false),
    }
}

/// One core's peak: int8 operations a second on `vpdpbusd` (None without
/// VNNI) and float operations a second on `vfmadd231ps`, in G ops/s.
fn peaks() -> (Option<f64>, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        let vnni = std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512f");
        // SAFETY: each is called only where the processor has its features.
        let int8 = vnni.then(|| unsafe { peak::int8() });
        let float = if std::arch::is_x86_feature_detected!("avx512f") {
            unsafe { peak::float512() }
        } else if std::arch::is_x86_feature_detected!("fma") {
            unsafe { peak::float256() }
        } else {
            f64::NAN
        };
        (int8, float)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (None, f64::NAN)
    }
}

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;
    use std::time::Instant;

    const ROUNDS: u64 = 20_000_000;

    /// # Safety
    /// The processor must have AVX-512 F and VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn int8() -> f64 {
        let mut acc = [_mm512_set1_epi32(1); 12];
        let (a, b) = (
            _mm512_set1_epi32(0x0101_0101),
            _mm512_set1_epi32(0x0101_0101),
        );
        let start = Instant::now();
        for _ in 0..ROUNDS {
            for x in acc.iter_mut() {
                *x = _mm512_dpbusd_epi32(*x, a, b);
            }
        }
        let s = start.elapsed().as_secs_f64();
        std::hint::black_box(&acc);
        (ROUNDS * 12 * 64 * 2) as f64 / s / 1e9
    }

    /// # Safety
    /// The processor must have AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn float512() -> f64 {
        let mut acc = [_mm512_set1_ps(1.0); 12];
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let start = Instant::now();
        for _ in 0..ROUNDS {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let s = start.elapsed().as_secs_f64();
        std::hint::black_box(&acc);
        (ROUNDS * 12 * 16 * 2) as f64 / s / 1e9
    }

    /// # Safety
    /// The processor must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn float256() -> f64 {
        let mut acc = [_mm256_set1_ps(1.0); 12];
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let start = Instant::now();
        for _ in 0..ROUNDS {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let s = start.elapsed().as_secs_f64();
        std::hint::black_box(&acc);
        (ROUNDS * 12 * 8 * 2) as f64 / s / 1e9
    }
}
