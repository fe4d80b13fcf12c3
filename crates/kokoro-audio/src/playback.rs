//! Playback on the default audio device (feature `playback`), for `--stream`
//! without OUTPUT: chunks are queued as they arrive and played in order.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::{Dest, Encoder, Error, Result, SAMPLE_RATE};

fn device(reason: String) -> Error {
    Error::Device(reason)
}

/// Seconds of audio queued at most; synthesis waits beyond that.
const MAX_QUEUED_SECONDS: usize = 60;

struct Queue {
    frames: VecDeque<f32>,
}

/// Plays audio as it is written.
pub struct Player {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    _stream: cpal::Stream,
    rate: u32,
}

impl Player {
    /// Opens the default output device.
    pub fn open() -> Result<Self> {
        let device = cpal::default_host()
            .default_output_device()
            .ok_or_else(|| {
                self::device("no audio output device (write to a file or `-` instead)".into())
            })?;
        let supported = device
            .default_output_config()
            .map_err(|e| self::device(format!("audio device: {e}")))?;
        let config = supported.config();
        let channels = usize::from(config.channels.max(1));
        let rate = config.sample_rate;
        let queue = Arc::new((
            Mutex::new(Queue {
                frames: VecDeque::new(),
            }),
            Condvar::new(),
        ));
        let feed = queue.clone();
        let stream = device
            .build_output_stream::<f32, _, _>(
                config,
                move |out: &mut [f32], _| {
                    let (lock, wake) = &*feed;
                    let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                    for frame in out.chunks_mut(channels) {
                        let s = q.frames.pop_front().unwrap_or(0.0);
                        frame.iter_mut().for_each(|x| *x = s);
                    }
                    wake.notify_all();
                },
                |e| eprintln!("kokoro-audio: audio device error: {e}"),
                None,
            )
            .map_err(|e| self::device(format!("cannot open the audio device: {e}")))?;
        stream
            .play()
            .map_err(|e| self::device(format!("cannot start playback: {e}")))?;
        Ok(Self {
            queue,
            _stream: stream,
            rate,
        })
    }
}

/// Linear resampling from the model's 24 kHz to the device's rate.
fn resample(samples: &[f32], to: u32) -> Vec<f32> {
    if to == SAMPLE_RATE || samples.is_empty() {
        return samples.to_vec();
    }
    let n = (samples.len() as u64 * u64::from(to) / u64::from(SAMPLE_RATE)) as usize;
    let step = f64::from(SAMPLE_RATE) / f64::from(to);
    (0..n)
        .map(|i| {
            let pos = i as f64 * step;
            let k = pos as usize;
            let frac = (pos - k as f64) as f32;
            let a = samples[k.min(samples.len() - 1)];
            let b = samples[(k + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

impl Encoder for Player {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let resampled = resample(samples, self.rate);
        let (lock, wake) = &*self.queue;
        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
        let limit = MAX_QUEUED_SECONDS * self.rate as usize;
        while q.frames.len() > limit {
            q = wake
                .wait_timeout(q, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        q.frames.extend(resampled);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Dest> {
        let (lock, wake) = &*self.queue;
        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !q.frames.is_empty() {
            q = wake
                .wait_timeout(q, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(q);
        // Let the device play out its own buffer.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Dest::nowhere())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_duration() {
        let one_second = vec![0.5f32; 24_000];
        assert_eq!(resample(&one_second, 48_000).len(), 48_000);
        assert_eq!(resample(&one_second, 44_100).len(), 44_100);
        assert!(resample(&one_second, 44_100)
            .iter()
            .all(|&s| (s - 0.5).abs() < 1e-6));
    }
}
