//! Every output format decodes back to the audio that went in (within each
//! codec's padding), and streaming a file writes the same file.

use std::path::Path;
use std::process::{Command, Stdio};

const TEXT: &str = "The quick brown fox jumps over the lazy dog. Then it rests.";

fn speak(out: &Path, extra: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_kokoro"))
        .args([
            "--text",
            TEXT,
            out.to_str().unwrap(),
            "--quiet",
            "--sequential",
            "--threads",
            "1",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn wav_samples(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec().sample_rate, 24_000);
    r.samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// The reference: 16-bit WAV.
fn reference(dir: &Path) -> Vec<f32> {
    let wav = dir.join("ref.wav");
    speak(&wav, &[]);
    let s = wav_samples(&wav);
    assert!(s.len() > 24_000 && rms(&s) > 0.01);
    s
}

#[test]
fn flac_is_lossless_and_pcm_is_raw() {
    let dir = tempfile::tempdir().unwrap();
    let wav = reference(dir.path());
    let flac = dir.path().join("x.flac");
    speak(&flac, &[]);
    let mut r = claxon::FlacReader::open(&flac).unwrap();
    assert_eq!(r.streaminfo().sample_rate, 24_000);
    assert_eq!(
        r.streaminfo().samples,
        Some(wav.len() as u64),
        "length in STREAMINFO"
    );
    let decoded: Vec<f32> = r.samples().map(|s| s.unwrap() as f32 / 32768.0).collect();
    assert_eq!(decoded, wav);

    let pcm = dir.path().join("x.pcm");
    speak(&pcm, &[]);
    let raw: Vec<f32> = std::fs::read(&pcm)
        .unwrap()
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert_eq!(raw, wav);
}

#[test]
fn mp3_decodes_to_the_same_length_within_frame_padding() {
    let dir = tempfile::tempdir().unwrap();
    let wav = reference(dir.path());
    let mp3 = dir.path().join("x.mp3");
    speak(&mp3, &[]);
    let mut d = rusty_mp3::Mp3Decoder::new();
    d.push(&std::fs::read(&mp3).unwrap());
    d.flush();
    let mut pcm = Vec::new();
    while let Ok(f) = d.next_frame() {
        assert_eq!(f.sample_rate, 24_000);
        pcm.extend_from_slice(&f.samples);
    }
    // Encoder delay (528) + decoder delay (529) + the Info tag frame (576) + padding to a frame.
    let extra = pcm.len() as i64 - wav.len() as i64;
    assert!(
        (1633..1633 + 2 * 576).contains(&extra),
        "{} decoded for {} encoded",
        pcm.len(),
        wav.len()
    );
    let body = &pcm[1633..1633 + wav.len()];
    assert!((rms(body) / rms(&wav) - 1.0).abs() < 0.1, "loudness kept");
}

#[test]
fn opus_decodes_to_exactly_the_same_length() {
    let dir = tempfile::tempdir().unwrap();
    let wav = reference(dir.path());
    let opus = dir.path().join("x.opus");
    speak(&opus, &[]);
    let bytes = std::fs::read(&opus).unwrap();
    let mut r = opus_pure::OggOpusReader::new(std::io::Cursor::new(&bytes)).unwrap();
    let head = r.head().clone();
    let mut dec = head.decoder(24_000).unwrap();
    let mut trim = opus_pure::Trim::new(&head, 24_000, 1).unwrap();
    let mut block = vec![0.0f32; opus_pure::MAX_PACKET_SAMPLES];
    let mut pcm = Vec::new();
    for p in r.packets() {
        let p = p.unwrap();
        let n = dec
            .decode(&p.data, opus_pure::MAX_PACKET_SAMPLES, &mut block)
            .unwrap();
        pcm.extend_from_slice(trim.keep(&p, &block[..n]));
    }
    assert_eq!(pcm.len(), wav.len());
    assert!((rms(&pcm) / rms(&wav) - 1.0).abs() < 0.15, "loudness kept");
}

#[test]
fn a_streamed_file_equals_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["wav", "flac"] {
        let plain = dir.path().join(format!("plain.{ext}"));
        let streamed = dir.path().join(format!("streamed.{ext}"));
        speak(&plain, &[]);
        speak(&streamed, &["--stream"]);
        assert_eq!(
            std::fs::read(&plain).unwrap(),
            std::fs::read(&streamed).unwrap(),
            "{ext}"
        );
    }
}

#[test]
fn pauses_and_trimming_change_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let wav = reference(dir.path());
    let short = dir.path().join("short.wav");
    let long = dir.path().join("long.wav");
    speak(&short, &["--trim", "--pause-sentence", "0.1"]);
    speak(&long, &["--pause-sentence", "1.5"]);
    let (s, l) = (wav_samples(&short), wav_samples(&long));
    assert!(s.len() < wav.len(), "trimming shortens");
    assert!(l.len() > s.len() + 24_000, "a 1.5 s pause instead of 0.1 s");
    assert!(rms(&s[..480]) < 0.05, "starts near silence, not mid-word");
}
