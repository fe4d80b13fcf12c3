//! The fused convolution's arithmetic: quantize the input as ONNX Runtime's
//! `DynamicQuantizeLinear` does, convolve the 8-bit values directly (no column
//! buffer) against weights packed once, and dequantize with the bias as the
//! export's `Add`, `Cast` and `Mul` do, so the output equals the export's to
//! the bit.
//!
//! The export computes, per output channel `o` and time `t`,
//! `Σ (x - x_zp)(w - w_zp)` over input channels and taps, in integers. The
//! weights are stored shifted to signed (`w' = w - 128`, `w'_zp = w_zp - 128`),
//! because the processor's 8-bit dot product (`vpdpbusd`, AVX-512 VNNI)
//! multiplies unsigned by signed bytes; the sum is then
//! `Σ x w' - w'_zp Σ x - x_zp Σ w' + N x_zp w'_zp`, where `Σ x` over a window is
//! made from each time step's column sum, `Σ w'` is packed with the weights,
//! and `N` is the window's size. The integers are the same; so are the floats
//! made from them.

use std::ops::Range;

/// Output channels in one packed block of weights (and one tile of the
/// direct convolution).
pub(crate) const BLOCK: usize = 8;

/// The shape of one 1-D convolution (stride 1, one group, symmetric padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub dilation: usize,
    pub pad: usize,
}

impl Shape {
    /// Input channels in groups of four (the dot product's width).
    pub(crate) fn groups(&self) -> usize {
        self.c_in.div_ceil(4)
    }

    /// Bytes of packed weights.
    pub(crate) fn packed_len(&self) -> usize {
        self.c_out * self.k * self.groups() * 4
    }

    /// Output length for an input of `t` steps, if any.
    pub(crate) fn t_out(&self, t: usize) -> Option<usize> {
        (t + 2 * self.pad).checked_sub(self.dilation * (self.k - 1))
    }
}

/// The weights `w` (uint8, `[c_out][c_in][k]`, as the export stores them)
/// packed for the direct convolution: blocks of [`BLOCK`] output channels,
/// each `[tap][group of 4 inputs][channel of the block][4]`, as signed bytes
/// `w - 128` (inputs past `c_in` are 0); and each output channel's sum of
/// `w - 128`.
pub(crate) fn pack(w: &[u8], shape: Shape) -> (Vec<i8>, Vec<i32>) {
    let Shape { c_in, c_out, k, .. } = shape;
    let groups = shape.groups();
    let mut packed = vec![0i8; shape.packed_len()];
    let mut sums = vec![0i32; c_out];
    for (o, sum) in sums.iter_mut().enumerate() {
        let (block, lane) = (o / BLOCK, o % BLOCK);
        for i in 0..c_in {
            for j in 0..k {
                let v = i32::from(w[(o * c_in + i) * k + j]) - 128;
                *sum += v;
                let at = (((block * k + j) * groups + i / 4) * BLOCK + lane) * 4 + i % 4;
                packed[at] = v as i8;
            }
        }
    }
    (packed, sums)
}

/// The scale and zero point ONNX Runtime's `DynamicQuantizeLinear` gives an
/// input whose least and greatest values are `min` and `max`, computed as it
/// computes them (`dynamicquantizelinear.cc`), NaN and all.
pub(crate) fn quantization(min: f32, max: f32) -> (f32, u8) {
    // std::min(min, 0.0f), std::max(max, 0.0f)
    let min = if 0.0 < min { 0.0 } else { min };
    let max = if max < 0.0 { 0.0 } else { max };
    let scale = (max - min) / 255.0;
    let initial = 0.0 - min / scale;
    // std::max(qmin, std::min(qmax, initial))
    let upper = if initial < 255.0 { initial } else { 255.0 };
    let clamped = if 0.0 < upper { upper } else { 0.0 };
    (scale, clamped.round_ties_even() as u8)
}

/// The least and greatest of `x`.
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (if v < lo { v } else { lo }, if v > hi { v } else { hi })
        })
}

/// `value` as a 32-bit integer as the processor's truncating conversion
/// gives it (what ONNX Runtime's `Cast` does): out of range or NaN is
/// `i32::MIN`, where Rust's `as` would saturate.
pub(crate) fn truncate_like_the_processor(value: f32) -> i32 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&value) {
        i32::MIN
    } else {
        value as i32
    }
}

/// One call's input, quantized and laid out for the direct convolution.
pub(crate) struct Quantized {
    /// `[group][step][4]`: each group of four input channels interleaved by
    /// time, with `pad` steps of the zero point on each side and slack after.
    pub bytes: Vec<u8>,
    /// Steps in a group's row.
    pub row: usize,
    /// The sum of each padded step's real input channels.
    pub columns: Vec<i32>,
    pub scale: f32,
    pub zero_point: u8,
}

/// Steps of slack after each padded row, so that a tile may read past the
/// end without a bounds check.
pub(crate) const SLACK: usize = 64;

/// What a convolution reads: its input `x` (`[c][t]`) as it is, or with
/// Kokoro's Snake activation, `x + (1/α) sin²(αx)` per channel, computed
/// as ONNX Runtime computes the export's `Mul`, `Sin`, `Pow` and `Add` for
/// it: its `Sin` is Eigen's ([`sin`]), its `Pow` by 2 a product, its
/// reciprocal the export's own constant. The activation is computed where
/// it is read (twice: for the range, then for the values), never stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    pub x: &'a [f32],
    pub t: usize,
    /// α and 1/α, a value per channel.
    pub snake: Option<(&'a [f32], &'a [f32])>,
}

impl Input<'_> {
    /// Where Eigen's packets end: it works through the whole tensor in
    /// packets of 16, 8 and 4, and takes the last few values (fewer than
    /// 4) one by one with the C library's `sinf`.
    fn packets_end(&self) -> usize {
        self.x.len() - self.x.len() % 4
    }

    /// The activation of channel `c` at steps `s..s + out.len()`.
    fn values(&self, c: usize, s: usize, out: &mut [f32]) {
        let at = c * self.t + s;
        let x = &self.x[at..at + out.len()];
        let Some((alpha, recip)) = self.snake else {
            out.copy_from_slice(x);
            return;
        };
        let (a, r, end) = (alpha[c], recip[c], self.packets_end());
        for (i, (y, &x)) in out.iter_mut().zip(x).enumerate() {
            let s = if at + i < end {
                sin(x * a)
            } else {
                (x * a).sin()
            };
            *y = x + r * (s * s);
        }
    }
}

/// Runs a task for each index below a count, maybe several at once (ONNX
/// Runtime's thread pool in the operator, a loop in tests).
pub(crate) type Par<'a> = &'a dyn Fn(usize, &(dyn Fn(usize) + Sync));

/// A pointer that tasks writing disjoint parts of one buffer share.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: each task writes only its own part (argued where it is used).
unsafe impl<T> Sync for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Send for Shared<T> {}

/// Quantizes `input` as `DynamicQuantizeLinear` does: the range of all its
/// values, then each value divided by the scale, clamped to the zero
/// point's range, rounded to even, and the zero point added (MLAS's
/// `MlasQuantizeLinear`); laid out by groups of four channels, with the
/// column sums the epilogue needs. Channels, groups and runs of steps are
/// tasks of `par`.
pub(crate) fn quantize(input: Input<'_>, shape: Shape, par: Par<'_>) -> Quantized {
    let t = input.t;
    // The range, channel by channel.
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); shape.c_in];
    let out = Shared(ranges.as_mut_ptr());
    par(shape.c_in, &|c| {
        let range = channel_range(input, c);
        // SAFETY: task `c` writes `ranges[c]` alone, within its length.
        unsafe { *{ out }.0.add(c) = range };
    });
    let (min, max) = ranges
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &(l, h)| {
            (if l < lo { l } else { lo }, if h > hi { h } else { hi })
        });
    let (scale, zero_point) = quantization(min, max);
    let row = t + 2 * shape.pad + SLACK;
    let mut q = Quantized {
        bytes: vec![0u8; shape.groups() * row * 4],
        row,
        columns: vec![0i32; row],
        scale,
        zero_point,
    };
    // The values, group by group: each group's row is its own.
    let bytes = Shared(q.bytes.as_mut_ptr());
    let (row_len, params) = (row * 4, (scale, zero_point));
    par(shape.groups(), &|g| {
        // SAFETY: group `g` writes only its row, bytes g·row·4 ..
        // (g + 1)·row·4, which lie in the buffer.
        let dst = unsafe { std::slice::from_raw_parts_mut({ bytes }.0.add(g * row_len), row_len) };
        quantize_group(input, shape, g, params, dst);
    });
    // Each step's column sum, in runs of steps (padding and slack
    // included: their bytes are the zero point's, or 0).
    let groups = shape.groups();
    let columns = Shared(q.columns.as_mut_ptr());
    let bytes = &q.bytes;
    let runs = row.div_ceil(COLUMN_RUN);
    par(runs, &|k| {
        for s in k * COLUMN_RUN..((k + 1) * COLUMN_RUN).min(row) {
            let sum: i32 = (0..groups)
                .map(|g| {
                    let b = &bytes[(g * row + s) * 4..][..4];
                    b.iter().map(|&v| i32::from(v)).sum::<i32>()
                })
                .sum();
            // SAFETY: run `k` writes only its own steps' sums.
            unsafe { *{ columns }.0.add(s) = sum };
        }
    });
    q
}

/// Steps per task of the column sums.
const COLUMN_RUN: usize = 2048;

/// The least and greatest activation of channel `c`.
fn channel_range(input: Input<'_>, c: usize) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if vnni() {
        // SAFETY: the processor has AVX-512 F (checked).
        return unsafe { vnni::channel_range(input, c) };
    }
    let mut buf = [0f32; 256];
    let mut range = (f32::INFINITY, f32::NEG_INFINITY);
    for s in (0..input.t).step_by(buf.len()) {
        let n = (input.t - s).min(buf.len());
        input.values(c, s, &mut buf[..n]);
        let (lo, hi) = min_max(&buf[..n]);
        range = (range.0.min(lo), range.1.max(hi));
    }
    range
}

/// One group of four input channels of [`quantize`], into its row `dst`
/// (`[step][4]`): the zero point in the padding of its real channels.
fn quantize_group(
    input: Input<'_>,
    shape: Shape,
    g: usize,
    (scale, zero_point): (f32, u8),
    dst: &mut [u8],
) {
    let channels = (shape.c_in - g * 4).min(4);
    for lane in 0..channels {
        for s in 0..shape.pad {
            dst[s * 4 + lane] = zero_point;
            dst[(shape.pad + input.t + s) * 4 + lane] = zero_point;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if vnni() {
        // SAFETY: the processor has AVX-512 F and BW (checked); `dst` is the
        // group's row of t + 2 pad + SLACK steps.
        unsafe { vnni::quantize_group(input, shape, g, (scale, zero_point), dst) };
        return;
    }
    let lo = -f32::from(zero_point);
    let hi = 255.0 - f32::from(zero_point);
    let zp = i32::from(zero_point);
    let mut buf = vec![0f32; input.t];
    for lane in 0..channels {
        input.values(g * 4 + lane, 0, &mut buf);
        for (s, &v) in buf.iter().enumerate() {
            // _mm_max_ps(v, lo) then _mm_min_ps(., hi): NaN becomes lo.
            let v = v / scale;
            let v = if v > lo { v } else { lo };
            let v = if v < hi { v } else { hi };
            dst[(shape.pad + s) * 4 + lane] = (v.round_ties_even() as i32 + zp) as u8;
        }
    }
}

/// Inputs this large or larger are reduced by Eigen's Payne-Hanek path.
const HUGE: f32 = 25966.0;

/// `sin(x)` exactly as Eigen's vectorized `psin` computes it for floats
/// on a processor without fused multiply-add (which is how ONNX Runtime
/// 1.31.1's `Sin` runs: bit-identical on 4 million random inputs and 8,000
/// huge ones): `x` reduced by the nearest multiple of π/2 in four steps,
/// or, from 25,966 up, by 192 bits of 2/π; then a polynomial for the sine
/// or the cosine, and the sign.
pub(crate) fn sin(x: f32) -> f32 {
    let ax = x.abs();
    let (r, quadrant) = if ax >= HUGE && ax.is_finite() {
        reduce_huge(ax)
    } else {
        let y = ax * 0.636_619_75;
        let rounded = y + 12_582_912.0;
        let quadrant = rounded.to_bits() as i32;
        let y = rounded - 12_582_912.0;
        let mut r = y * -1.570_312_5 + ax;
        r += y * -0.000_483_989_72;
        r += y * 1.628_650_4e-7;
        r += y * 5.564_431_6e-11;
        (r, quadrant)
    };
    let x2 = r * r;
    let mut cos = 2.437_226_6e-5;
    cos = cos * x2 + -0.001_388_652;
    cos = cos * x2 + 0.041_666_62;
    cos = cos * x2 + -0.5;
    cos = cos * x2 + 1.0;
    let mut sin = -0.000_195_923_4;
    sin = sin * x2 + 0.008_332_687;
    sin = sin * x2 + -0.166_666_62;
    sin *= x2;
    sin = sin * r + r;
    let value = if quadrant & 1 == 0 { sin } else { cos };
    let sign = (x.to_bits() ^ ((quadrant as u32) << 30)) & 0x8000_0000;
    f32::from_bits(value.to_bits() ^ sign)
}

/// Bits of 2/π, in overlapping words (Eigen's table for `trig_reduce_huge`).
const TWO_OVER_PI: [u32; 26] = [
    0x0000_0028,
    0x0000_28be,
    0x0028_be60,
    0x28be_60db,
    0xbe60_db93,
    0x60db_9391,
    0xdb93_9105,
    0x9391_054a,
    0x9105_4a7f,
    0x054a_7f09,
    0x4a7f_09d5,
    0x7f09_d5f4,
    0x09d5_f47d,
    0xd5f4_7d4d,
    0xf47d_4d37,
    0x7d4d_3770,
    0x4d37_7036,
    0x3770_36d8,
    0x7036_d8a5,
    0x36d8_a566,
    0xd8a5_664f,
    0xa566_4f10,
    0x664f_10e4,
    0x4f10_e410,
    0x10e4_1000,
    0xe410_0000,
];

/// A huge `x` (finite, at least [`HUGE`]) less the nearest multiple of π/2,
/// and that multiple: `x · 2/π` in fixed point with 62 fraction bits.
fn reduce_huge(x: f32) -> (f32, i32) {
    let bits = x.to_bits();
    let e = (bits >> 23).wrapping_sub(118);
    let m = ((bits & 0x007f_ffff) | 0x0080_0000) << (e & 7);
    let i = (e >> 3) as usize;
    let (a, b, c) = (TWO_OVER_PI[i - 1], TWO_OVER_PI[i + 3], TWO_OVER_PI[i + 7]);
    let mut p = u64::from(m) * u64::from(c);
    p = (u64::from(m) * u64::from(b)).wrapping_add(p >> 32);
    p = (u64::from(m.wrapping_mul(a)) << 32).wrapping_add(p);
    let q = p.wrapping_add(1 << 61) >> 62;
    p = p.wrapping_sub(q << 62);
    (
        (p as i64 as f64 * 3.406_121_580_086_554_5e-19) as f32,
        q as i32,
    )
}

/// What the output's channels need beyond the raw dot products: per output
/// step the window sum of the input (times `-w'_zp`), and per output channel
/// one constant and the scale.
pub(crate) struct Epilogue {
    /// `-w'_zp · Σ x` over each output step's window.
    pub window: Vec<i32>,
    /// Per output channel: `bias_q - x_zp Σ w' + N x_zp w'_zp`.
    pub constant: Vec<i32>,
    /// `x_scale · w_scale`.
    pub scale: f32,
}

/// The epilogue of a call (see [`Epilogue`]): the bias quantized at run
/// time as the export does it, `Cast(Floor(bias / scale))`.
pub(crate) fn epilogue(
    q: &Quantized,
    t_out: usize,
    shape: Shape,
    sums: &[i32],
    bias: &[f32],
    w_zero_point: u8,
    w_scale: f32,
) -> Epilogue {
    let wzp = i32::from(w_zero_point) - 128;
    let xzp = i32::from(q.zero_point);
    let n = (shape.c_in * shape.k) as i32;
    // Room for a whole last tile.
    let mut window = vec![0i32; t_out + TILE_STEPS];
    for (t, w) in window.iter_mut().enumerate().take(t_out) {
        let sum: i32 = (0..shape.k)
            .map(|j| q.columns[t + j * shape.dilation])
            .sum();
        *w = sum.wrapping_mul(-wzp);
    }
    let scale = q.scale * w_scale;
    let constant = sums
        .iter()
        .zip(bias)
        .map(|(&s, &b)| {
            let bq = truncate_like_the_processor((b / scale).floor());
            bq.wrapping_sub(xzp * s)
                .wrapping_add(n.wrapping_mul(xzp).wrapping_mul(wzp))
        })
        .collect();
    Epilogue {
        window,
        constant,
        scale,
    }
}

/// Output steps in one tile of the vectorized convolution (three registers of 16).
pub(crate) const TILE_STEPS: usize = 48;

/// The tiles of a convolution: blocks of output channels by runs of steps.
pub(crate) fn tiles(shape: Shape, t_out: usize) -> usize {
    (shape.c_out / BLOCK) * t_out.div_ceil(TILE_STEPS)
}

/// The output channels and steps of tile `tile`. Tiles go through every
/// block of output channels before moving on in time, so the input's window
/// stays in the first-level cache while the weights come from the second.
pub(crate) fn tile_bounds(tile: usize, shape: Shape, t_out: usize) -> (usize, Range<usize>) {
    let blocks = shape.c_out / BLOCK;
    let (run, block) = (tile / blocks, tile % blocks);
    let start = run * TILE_STEPS;
    (block, start..(start + TILE_STEPS).min(t_out))
}

/// One tile of the output, `[c_out][t_out]`, written through `y`
/// (a pointer, since tiles are written from several threads at once).
///
/// # Safety
/// `y` must point at `c_out · t_out` floats that no one else writes in this
/// tile's cells while the call runs; `q`, `packed` and `e` must be the
/// call's, made for `shape`.
pub(crate) unsafe fn tile(
    tile: usize,
    shape: Shape,
    t_out: usize,
    q: &Quantized,
    packed: &[i8],
    e: &Epilogue,
    y: *mut f32,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if vnni() {
            // SAFETY: the processor has the features (checked above); the
            // rest is the caller's promise.
            unsafe { vnni::tile(tile, shape, t_out, q, packed, e, y) };
            return;
        }
    }
    // SAFETY: the caller's promise.
    unsafe { portable_tile(tile, shape, t_out, q, packed, e, y) }
}

/// Whether this processor has the 8-bit dot product the fast path uses
/// (AVX-512 VNNI, with AVX-512 F and BW).
pub fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`tile`] in plain Rust, for any processor (and as the reference the
/// vectorized path is tested against).
///
/// # Safety
/// As [`tile`].
unsafe fn portable_tile(
    tile: usize,
    shape: Shape,
    t_out: usize,
    q: &Quantized,
    packed: &[i8],
    e: &Epilogue,
    y: *mut f32,
) {
    let (block, steps) = tile_bounds(tile, shape, t_out);
    let groups = shape.groups();
    for lane in 0..BLOCK {
        let o = block * BLOCK + lane;
        for t in steps.clone() {
            let mut acc = 0i32;
            for j in 0..shape.k {
                for g in 0..groups {
                    let x = &q.bytes[(g * q.row + t + j * shape.dilation) * 4..][..4];
                    let w =
                        &packed[(((block * shape.k + j) * groups + g) * BLOCK + lane) * 4..][..4];
                    for i in 0..4 {
                        acc += i32::from(x[i]) * i32::from(w[i]);
                    }
                }
            }
            let v = acc.wrapping_add(e.window[t]).wrapping_add(e.constant[o]);
            // SAFETY: o < c_out and t < t_out; the cell is this tile's.
            unsafe { *y.add(o * t_out + t) = v as f32 * e.scale };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{tile_bounds, Epilogue, Input, Quantized, Shape, BLOCK};

    /// Registers of 16 steps per tile.
    const R: usize = super::TILE_STEPS / 16;

    /// Up to sixteen activations of channel `c` from step `s` (lanes past
    /// `n` are 0): loaded, or with the Snake computed as Eigen computes it,
    /// sixteen at a time; a run holding a huge argument or reaching Eigen's
    /// tail is done one by one, as Eigen does it.
    ///
    /// # Safety
    /// The processor must have AVX-512 F; `s + n` is at most the input's
    /// steps and `n` at most 16.
    #[target_feature(enable = "avx512f")]
    unsafe fn values16(input: Input<'_>, c: usize, s: usize, n: usize) -> __m512 {
        let mask: __mmask16 = if n >= 16 { 0xffff } else { (1u16 << n) - 1 };
        let at = c * input.t + s;
        // SAFETY: the masked lanes lie in the input (the caller's promise).
        let v = unsafe { _mm512_maskz_loadu_ps(mask, input.x.as_ptr().add(at)) };
        let Some((alpha, recip)) = input.snake else {
            return v;
        };
        let arg = _mm512_mul_ps(v, _mm512_set1_ps(alpha[c]));
        let abs = _mm512_castsi512_ps(_mm512_and_si512(
            _mm512_castps_si512(arg),
            _mm512_set1_epi32(0x7fff_ffff),
        ));
        // Huge and finite (NaN and infinity take the polynomial).
        let big = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(abs, _mm512_set1_ps(super::HUGE))
            & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(abs, _mm512_set1_ps(f32::INFINITY))
            & mask;
        if big != 0 || at + n > input.packets_end() {
            let mut buf = [0f32; 16];
            input.values(c, s, &mut buf[..n]);
            // SAFETY: `buf` holds 16 floats.
            return unsafe { _mm512_loadu_ps(buf.as_ptr()) };
        }
        let sn = sin16(arg, abs);
        let r = _mm512_set1_ps(recip[c]);
        _mm512_add_ps(v, _mm512_mul_ps(r, _mm512_mul_ps(sn, sn)))
    }

    /// [`super::sin`] of sixteen values none of which is huge, with each
    /// multiply and add rounded on its own (no fused multiply-add).
    #[target_feature(enable = "avx512f")]
    fn sin16(x: __m512, ax: __m512) -> __m512 {
        let madd =
            |a: __m512, b: f32, c: __m512| _mm512_add_ps(_mm512_mul_ps(a, _mm512_set1_ps(b)), c);
        let y = _mm512_mul_ps(ax, _mm512_set1_ps(0.636_619_75));
        let magic = _mm512_set1_ps(12_582_912.0);
        let rounded = _mm512_add_ps(y, magic);
        let quadrant = _mm512_castps_si512(rounded);
        let y = _mm512_sub_ps(rounded, magic);
        let mut r = madd(y, -1.570_312_5, ax);
        r = madd(y, -0.000_483_989_72, r);
        r = madd(y, 1.628_650_4e-7, r);
        r = madd(y, 5.564_431_6e-11, r);
        let x2 = _mm512_mul_ps(r, r);
        let poly = |c0: f32, rest: &[f32]| {
            let mut p = _mm512_set1_ps(c0);
            for &c in rest {
                p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(c));
            }
            p
        };
        let cos = poly(2.437_226_6e-5, &[-0.001_388_652, 0.041_666_62, -0.5, 1.0]);
        let mut sin = poly(-0.000_195_923_4, &[0.008_332_687, -0.166_666_62]);
        sin = _mm512_mul_ps(sin, x2);
        sin = _mm512_add_ps(_mm512_mul_ps(sin, r), r);
        let odd = _mm512_test_epi32_mask(quadrant, _mm512_set1_epi32(1));
        let value = _mm512_mask_blend_ps(odd, sin, cos);
        let sign = _mm512_and_si512(
            _mm512_xor_si512(_mm512_castps_si512(x), _mm512_slli_epi32::<30>(quadrant)),
            _mm512_set1_epi32(i32::MIN),
        );
        _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(value), sign))
    }

    /// [`super::channel_range`], sixteen at a time.
    ///
    /// # Safety
    /// The processor must have AVX-512 F; `c` is a channel of the input.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn channel_range(input: Input<'_>, c: usize) -> (f32, f32) {
        let mut lo = _mm512_set1_ps(f32::INFINITY);
        let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut s = 0;
        while s < input.t {
            let n = (input.t - s).min(16);
            let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
            // SAFETY: s + n <= t, n <= 16.
            let v = unsafe { values16(input, c, s, n) };
            lo = _mm512_mask_min_ps(lo, mask, lo, v);
            hi = _mm512_mask_max_ps(hi, mask, hi, v);
            s += n;
        }
        (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi))
    }

    /// [`super::quantize_group`]'s values, sixteen steps at a time: divide,
    /// clamp (`max` then `min`, as MLAS does), round to even (the default
    /// rounding of `vcvtps2dq`), add the zero point; four channels
    /// interleaved into each step's four bytes.
    ///
    /// # Safety
    /// The processor must have AVX-512 F and BW; `dst` is group `g`'s row of
    /// at least t + 2 pad steps of four bytes.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantize_group(
        input: Input<'_>,
        shape: Shape,
        g: usize,
        (scale, zero_point): (f32, u8),
        dst: &mut [u8],
    ) {
        let scale = _mm512_set1_ps(scale);
        let lo = _mm512_set1_ps(-f32::from(zero_point));
        let hi = _mm512_set1_ps(255.0 - f32::from(zero_point));
        let zp = _mm512_set1_epi32(i32::from(zero_point));
        let channels = (shape.c_in - g * 4).min(4);
        let mut s = 0;
        while s < input.t {
            let n = (input.t - s).min(16);
            let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
            let mut packed = _mm512_setzero_si512();
            for lane in 0..channels {
                // SAFETY: s + n <= t, n <= 16, and the channel is real.
                let v = unsafe { values16(input, g * 4 + lane, s, n) };
                let v = _mm512_div_ps(v, scale);
                let v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                let v = _mm512_maskz_add_epi32(mask, _mm512_cvtps_epi32(v), zp);
                let shifted = match lane {
                    0 => v,
                    1 => _mm512_slli_epi32::<8>(v),
                    2 => _mm512_slli_epi32::<16>(v),
                    _ => _mm512_slli_epi32::<24>(v),
                };
                packed = _mm512_or_si512(packed, shifted);
            }
            let at = (shape.pad + s) * 4;
            // SAFETY: the row holds t + 2 pad + SLACK steps of four bytes;
            // the lanes written (n of them) lie within it.
            unsafe { _mm512_mask_storeu_epi32(dst.as_mut_ptr().add(at) as *mut _, mask, packed) };
            s += n;
        }
    }

    /// [`super::tile`] with `vpdpbusd`: a tile of [`BLOCK`] output channels
    /// by 48 steps held in 24 registers, each step's four input bytes
    /// multiplied by a channel's four weights broadcast from memory.
    ///
    /// # Safety
    /// As [`super::tile`], and the processor must have AVX-512 F, BW and VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile(
        tile: usize,
        shape: Shape,
        t_out: usize,
        q: &Quantized,
        packed: &[i8],
        e: &Epilogue,
        y: *mut f32,
    ) {
        // SAFETY: the caller's promise (the features, the output), and the
        // bounds argued at each read below.
        unsafe {
            let (block, steps) = tile_bounds(tile, shape, t_out);
            let groups = shape.groups();
            let row_bytes = q.row * 4;
            let mut acc = [[_mm512_setzero_si512(); R]; BLOCK];
            // SAFETY (loads): a tile reads steps start..start + 48 + (k-1)d of
            // each group's row, which the row's slack (64 steps past the
            // padding) keeps inside `q.bytes`; weights are read within the
            // block's packed range.
            let x0 = q.bytes.as_ptr().add(steps.start * 4);
            let wb = packed.as_ptr().add(block * shape.k * groups * BLOCK * 4) as *const i32;
            for j in 0..shape.k {
                let xj = x0.add(j * shape.dilation * 4);
                let wj = wb.add(j * groups * BLOCK);
                for g in 0..groups {
                    let xp = xj.add(g * row_bytes);
                    let mut a = [_mm512_setzero_si512(); R];
                    for (r, a) in a.iter_mut().enumerate() {
                        *a = _mm512_loadu_si512(xp.add(64 * r) as *const _);
                    }
                    let wp = wj.add(g * BLOCK);
                    for (c, acc) in acc.iter_mut().enumerate() {
                        let b = _mm512_set1_epi32(wp.add(c).read_unaligned());
                        for r in 0..R {
                            acc[r] = _mm512_dpbusd_epi32(acc[r], a[r], b);
                        }
                    }
                }
            }
            let scale = _mm512_set1_ps(e.scale);
            let len = steps.len();
            for (c, acc) in acc.iter().enumerate() {
                let o = block * BLOCK + c;
                let constant = _mm512_set1_epi32(e.constant[o]);
                for (r, &acc) in acc.iter().enumerate() {
                    let first = 16 * r;
                    if first >= len {
                        break;
                    }
                    let mask: __mmask16 = if len - first >= 16 {
                        0xffff
                    } else {
                        (1u16 << (len - first)) - 1
                    };
                    let t = steps.start + first;
                    // The window array has room for a whole last tile.
                    let window = _mm512_loadu_si512(e.window.as_ptr().add(t) as *const _);
                    let v = _mm512_add_epi32(_mm512_add_epi32(acc, window), constant);
                    let f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), scale);
                    _mm512_mask_storeu_ps(y.add(o * t_out + t), mask, f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One convolution's input and weights.
    struct Case<'a> {
        x: &'a [f32],
        t: usize,
        w: &'a [u8],
        shape: Shape,
        bias: &'a [f32],
        wzp: u8,
        ws: f32,
    }

    /// The export's arithmetic, written out: quantize, convolve in
    /// integers with zero points, add the bias quantized at run time, and
    /// scale.
    fn reference(c: &Case<'_>) -> Vec<f32> {
        let Case {
            x,
            t,
            w,
            shape,
            bias,
            wzp,
            ws,
        } = *c;
        let (min, max) = min_max(x);
        let (scale, zp) = quantization(min, max);
        let xq: Vec<i32> = x
            .iter()
            .map(|&v| {
                let v = (v / scale).max(-f32::from(zp)).min(255.0 - f32::from(zp));
                v.round_ties_even() as i32 + i32::from(zp)
            })
            .collect();
        let t_out = shape.t_out(t).unwrap();
        let s = scale * ws;
        let mut y = vec![0f32; shape.c_out * t_out];
        for o in 0..shape.c_out {
            let bq = truncate_like_the_processor((bias[o] / s).floor());
            for to in 0..t_out {
                let mut acc = 0i32;
                for i in 0..shape.c_in {
                    for j in 0..shape.k {
                        let ti = (to + j * shape.dilation) as isize - shape.pad as isize;
                        let xv = if ti < 0 || ti >= t as isize {
                            i32::from(zp)
                        } else {
                            xq[i * t + ti as usize]
                        };
                        acc += (xv - i32::from(zp))
                            * (i32::from(w[(o * shape.c_in + i) * shape.k + j]) - i32::from(wzp));
                    }
                }
                y[o * t_out + to] = (acc + bq) as f32 * s;
            }
        }
        y
    }

    fn run(c: &Case<'_>, fast: bool) -> Vec<f32> {
        let Case {
            x,
            t,
            w,
            shape,
            bias,
            wzp,
            ws,
        } = *c;
        let (packed, sums) = pack(w, shape);
        let q = quantize(Input { x, t, snake: None }, shape, &serial);
        let t_out = shape.t_out(t).unwrap();
        let e = epilogue(&q, t_out, shape, &sums, bias, wzp, ws);
        let mut y = vec![f32::NAN; shape.c_out * t_out];
        for i in 0..tiles(shape, t_out) {
            // SAFETY: y holds c_out · t_out floats; one thread.
            unsafe {
                if fast {
                    tile(i, shape, t_out, &q, &packed, &e, y.as_mut_ptr());
                } else {
                    portable_tile(i, shape, t_out, &q, &packed, &e, y.as_mut_ptr());
                }
            }
        }
        y
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn float(&mut self) -> f32 {
            (self.next() % 2001) as f32 / 1000.0 - 1.3
        }
    }

    #[test]
    fn the_direct_convolution_equals_the_exports_arithmetic_to_the_bit() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Shapes of the model's convolutions, small in time: odd input
        // channels (not a multiple of 4), dilations, lengths that leave a
        // partial last tile, and lengths shorter than one tile.
        for (c_in, c_out, k, dilation, t) in [
            (12, 8, 3, 1, 50),
            (22, 16, 1, 1, 7),
            (16, 8, 11, 5, 131),
            (13, 24, 7, 3, 96),
            (64, 32, 3, 1, 1),
        ] {
            let shape = Shape {
                c_in,
                c_out,
                k,
                dilation,
                pad: dilation * (k - 1) / 2,
            };
            let x: Vec<f32> = (0..c_in * t).map(|_| rng.float()).collect();
            let w: Vec<u8> = (0..c_out * c_in * k).map(|_| rng.next() as u8).collect();
            let bias: Vec<f32> = (0..c_out).map(|_| rng.float() * 0.1).collect();
            let (wzp, ws) = (rng.next() as u8, 0.0031);
            let case = Case {
                x: &x,
                t,
                w: &w,
                shape,
                bias: &bias,
                wzp,
                ws,
            };
            let want = reference(&case);
            for fast in [false, true] {
                let got = run(&case, fast);
                let same = want
                    .iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{shape:?} t={t} fast={fast}: differs");
            }
        }
    }

    /// Runs every task in turn.
    fn serial(n: usize, f: &(dyn Fn(usize) + Sync)) {
        (0..n).for_each(f);
    }

    /// The plain per-value path, for comparison with the vectorized one.
    fn plain_quantize(input: Input<'_>, shape: Shape) -> Quantized {
        let mut values = vec![0f32; input.x.len()];
        for c in 0..shape.c_in {
            input.values(c, 0, &mut values[c * input.t..(c + 1) * input.t]);
        }
        let (min, max) = min_max(&values);
        let (scale, zp) = quantization(min, max);
        let row = input.t + 2 * shape.pad + SLACK;
        let mut bytes = vec![0u8; shape.groups() * row * 4];
        for (i, &v) in values.iter().enumerate() {
            let (c, s) = (i / input.t, i % input.t);
            let v = (v / scale).max(-f32::from(zp)).min(255.0 - f32::from(zp));
            bytes[((c / 4) * row + shape.pad + s) * 4 + c % 4] =
                (v.round_ties_even() as i32 + i32::from(zp)) as u8;
        }
        for c in 0..shape.c_in {
            for s in (0..shape.pad).chain(shape.pad + input.t..2 * shape.pad + input.t) {
                bytes[((c / 4) * row + s) * 4 + c % 4] = zp;
            }
        }
        let columns = (0..row)
            .map(|s| {
                (0..shape.groups() * 4)
                    .map(|k| i32::from(bytes[((k / 4) * row + s) * 4 + k % 4]))
                    .sum()
            })
            .collect();
        Quantized {
            bytes,
            row,
            columns,
            scale,
            zero_point: zp,
        }
    }

    #[test]
    fn the_quantizer_equals_its_plain_definition_with_and_without_the_snake() {
        let mut rng = Rng(7);
        for (c_in, t) in [(5, 37), (128, 300), (3, 16), (4, 1), (6, 4099)] {
            let shape = Shape {
                c_in,
                c_out: 8,
                k: 3,
                dilation: 2,
                pad: 2,
            };
            let x: Vec<f32> = (0..c_in * t).map(|_| rng.float() * 3.0).collect();
            let alpha: Vec<f32> = (0..c_in).map(|c| 0.3 + c as f32).collect();
            let recip: Vec<f32> = alpha.iter().map(|a| 1.0 / a).collect();
            for snake in [None, Some((&alpha[..], &recip[..]))] {
                let input = Input { x: &x, t, snake };
                let (fast, plain) = (
                    quantize(input, shape, &serial),
                    plain_quantize(input, shape),
                );
                assert_eq!(
                    (fast.scale, fast.zero_point),
                    (plain.scale, plain.zero_point)
                );
                assert_eq!(fast.bytes, plain.bytes, "c_in={c_in} t={t}");
                assert_eq!(fast.columns, plain.columns, "c_in={c_in} t={t}");
            }
        }
    }

    #[test]
    fn quantization_matches_dynamic_quantize_linear() {
        // Values worked out from ONNX's definition of the operator.
        // 1 / (2 / 255) is 127.49999 in f32, so 127, not 128.
        assert_eq!(quantization(-1.0, 1.0), (2.0 / 255.0, 127));
        assert_eq!(quantization(0.5, 2.0), (2.0 / 255.0, 0));
        assert_eq!(quantization(-3.0, -1.0), (3.0 / 255.0, 255));
        // All zeros: a scale of 0, and a zero point of 255 (NaN is clamped to qmax).
        assert_eq!(quantization(0.0, 0.0), (0.0, 255));
        assert_eq!(truncate_like_the_processor(f32::INFINITY), i32::MIN);
        assert_eq!(truncate_like_the_processor(-7.9), -7);
    }
}
