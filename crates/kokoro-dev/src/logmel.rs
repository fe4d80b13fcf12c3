//! The log-mel distance between two recordings of the same speech, the
//! quality gate's yardstick for the forms of the model (docs/BENCHMARKS.md).
//!
//! Each signal (24 kHz mono) is cut into frames of 1,024 samples (a Hann
//! window) every 240 samples (10 ms); each frame's power spectrum is summed
//! into 80 triangular mel bands from 0 to 12 kHz (HTK's mel scale), and taken
//! in decibels, floored 80 dB below the loudest band of the signal (so
//! silence does not dominate). The two frame sequences are aligned by
//! dynamic time warping within a band of frames (the forms' durations may
//! differ by a few units), on the mean absolute difference in dB between
//! two frames; the distance is that difference averaged along the best
//! path, in dB. Identical signals are 0 apart; Kokoro's float and int8
//! models, about 1 to 2 dB.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Samples per frame, and between frames.
const FRAME: usize = 1024;
const HOP: usize = 240;
/// Mel bands, and the signal's rate.
pub const BANDS: usize = 80;
const RATE: f32 = 24_000.0;
/// The floor below the loudest band, in dB.
const RANGE_DB: f32 = 80.0;

/// The log-mel spectrogram of `samples`: one row of [`BANDS`] values (dB)
/// per frame.
pub fn log_mel(samples: &[f32]) -> Vec<[f32; BANDS]> {
    let fft = FftPlanner::<f32>::new().plan_fft_forward(FRAME);
    let window: Vec<f32> = (0..FRAME)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / FRAME as f32).cos())
        .collect();
    let filters = mel_filters();
    let frames = if samples.len() <= FRAME {
        1
    } else {
        1 + (samples.len() - FRAME).div_ceil(HOP)
    };
    let mut rows = Vec::with_capacity(frames);
    let mut buf = vec![Complex::new(0.0, 0.0); FRAME];
    for f in 0..frames {
        for (i, c) in buf.iter_mut().enumerate() {
            let s = samples.get(f * HOP + i).copied().unwrap_or(0.0);
            *c = Complex::new(s * window[i], 0.0);
        }
        fft.process(&mut buf);
        let power: Vec<f32> = buf[..=FRAME / 2].iter().map(|c| c.norm_sqr()).collect();
        let mut row = [0f32; BANDS];
        for (b, filter) in filters.iter().enumerate() {
            let e: f32 = filter.iter().map(|&(k, w)| power[k] * w).sum();
            row[b] = 10.0 * e.max(1e-10).log10();
        }
        rows.push(row);
    }
    let top = rows
        .iter()
        .flat_map(|r| r.iter().copied())
        .fold(f32::NEG_INFINITY, f32::max);
    for row in &mut rows {
        for v in row.iter_mut() {
            *v = v.max(top - RANGE_DB);
        }
    }
    rows
}

/// Triangular filters: for each band, the spectrum's bins and weights.
fn mel_filters() -> Vec<Vec<(usize, f32)>> {
    let mel = |hz: f32| 2595.0 * (1.0 + hz / 700.0).log10();
    let hz = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
    let top = mel(RATE / 2.0);
    let edges: Vec<f32> = (0..BANDS + 2)
        .map(|i| hz(top * i as f32 / (BANDS + 1) as f32))
        .collect();
    let bin_hz = RATE / FRAME as f32;
    (0..BANDS)
        .map(|b| {
            let (lo, mid, hi) = (edges[b], edges[b + 1], edges[b + 2]);
            (0..=FRAME / 2)
                .filter_map(|k| {
                    let f = k as f32 * bin_hz;
                    let w = if f <= lo || f >= hi {
                        0.0
                    } else if f <= mid {
                        (f - lo) / (mid - lo)
                    } else {
                        (hi - f) / (hi - mid)
                    };
                    (w > 0.0).then_some((k, w))
                })
                .collect()
        })
        .collect()
}

/// The log-mel distance between `a` and `b` in dB (see the module's
/// documentation): 0 for identical signals.
pub fn distance(a: &[f32], b: &[f32]) -> f64 {
    let (x, y) = (log_mel(a), log_mel(b));
    let frame = |i: usize, j: usize| -> f64 {
        x[i].iter()
            .zip(&y[j])
            .map(|(p, q)| f64::from((p - q).abs()))
            .sum::<f64>()
            / BANDS as f64
    };
    let (n, m) = (x.len(), y.len());
    // Frames further apart than the lengths' difference and half a second
    // are never matched.
    let band = n.abs_diff(m) + 50;
    // Cost and path length of the best path to each cell, row by row.
    let inf = (f64::INFINITY, 0usize);
    let mut prev = vec![inf; m];
    let mut cur = vec![inf; m];
    for i in 0..n {
        let centre = i * m / n.max(1);
        let lo = centre.saturating_sub(band);
        let hi = (centre + band).min(m - 1);
        cur.iter_mut().for_each(|c| *c = inf);
        for j in lo..=hi {
            let d = frame(i, j);
            let best = if i == 0 && j == 0 {
                (0.0, 0)
            } else {
                let mut best = inf;
                for (c, l) in [
                    if i > 0 && j > 0 { prev[j - 1] } else { inf },
                    if i > 0 { prev[j] } else { inf },
                    if j > 0 { cur[j - 1] } else { inf },
                ] {
                    if c < best.0 {
                        best = (c, l);
                    }
                }
                best
            };
            cur[j] = (best.0 + d, best.1 + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let (cost, len) = prev[m - 1];
    cost / len.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, seconds: f32, gain: f32) -> Vec<f32> {
        (0..(RATE * seconds) as usize)
            .map(|i| gain * (2.0 * std::f32::consts::PI * hz * i as f32 / RATE).sin())
            .collect()
    }

    #[test]
    fn identical_signals_are_zero_apart_and_different_ones_are_not() {
        let a = tone(440.0, 1.0, 0.3);
        assert_eq!(distance(&a, &a), 0.0);
        let quieter = tone(440.0, 1.0, 0.15);
        let d = distance(&a, &quieter);
        assert!((d - 6.0).abs() < 0.5, "half the amplitude is 6 dB, got {d}");
        assert!(distance(&a, &tone(2000.0, 1.0, 0.3)) > 10.0);
    }

    #[test]
    fn a_shift_in_time_costs_little_once_aligned() {
        let a = tone(300.0, 1.0, 0.3);
        let mut late = vec![0.0; 600];
        late.extend(&a);
        // 25 ms of silence ahead: aligned away but for the edges.
        assert!(distance(&a, &late) < 3.0, "{}", distance(&a, &late));
    }
}
