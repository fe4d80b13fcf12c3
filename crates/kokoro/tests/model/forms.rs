//! The forms of the model on the real model: the fused form speaks the
//! export's audio to the bit; every form passes the quality gate against the
//! float model; the choice is made once, recorded, and can be named.

use std::path::Path;
use std::sync::{Arc, Mutex};

use kokoro::assets::Cache;
use kokoro::infer::{KokoroSession, SessionOptions, Synthesis, Synthesize, VoiceSet};
use kokoro::{AssetOptions, Config, Event, Form, FormChoice, Tts};

use crate::assets;

fn one_thread(model: &Path) -> KokoroSession {
    KokoroSession::open(
        model,
        SessionOptions {
            intra_threads: 1,
            ..SessionOptions::default()
        },
    )
    .unwrap()
}

/// Reference batches of the corpus' short and medium texts (their ids), in
/// that order.
fn batches() -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for name in ["short", "medium"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../test_data/reference")
            .join(format!("{name}.batches.json"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for b in json["batches"].as_array().unwrap() {
            out.push(
                b["token_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect(),
            );
        }
    }
    out
}

/// The quality gate on a short text: each form's audio against the float
/// model's, by log-mel distance (no larger than the export's) and durations
/// (equal to the export's, or within rounding); and the fused form, which
/// is the export's arithmetic, equal to the export to the bit.
#[test]
fn every_form_passes_the_quality_gate_and_the_fused_one_is_the_export_to_the_bit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let timed = cache.ensure_timed(&assets().model).unwrap();
    let fused = cache.ensure_fused(&timed).unwrap();
    let float = cache.ensure_float(&timed).unwrap();
    let (mut export, mut ours, mut reference) =
        (one_thread(&timed), one_thread(&fused), one_thread(&float));
    let voice = VoiceSet::open(&assets().voices)
        .unwrap()
        .load("af_heart")
        .unwrap();
    // A short text: the short reference and the first of the medium's
    // batches (`cargo xtask bench-forms` takes the whole corpus). Without
    // VNNI the fused operator runs in plain Rust, slowly: one batch.
    let batches = batches();
    let take = if kokoro::infer::fused::vnni() { 2 } else { 1 };
    let (mut d_export, mut d_fused) = (0.0, 0.0);
    for ids in batches.iter().take(take) {
        let style = voice.style_for(ids.len());
        let run =
            |s: &mut KokoroSession| -> Synthesis { s.synthesize_timed(ids, style, 1.0).unwrap() };
        let (e, f, r) = (run(&mut export), run(&mut ours), run(&mut reference));
        assert!(
            e.audio.len() == f.audio.len()
                && e.audio
                    .iter()
                    .zip(&f.audio)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{} ids: the fused form's audio differs from the export's",
            ids.len()
        );
        assert_eq!(e.durations, f.durations, "{} ids: durations", ids.len());
        let (de, df) = (
            kokoro_dev::logmel::distance(&e.audio, &r.audio),
            kokoro_dev::logmel::distance(&f.audio, &r.audio),
        );
        let (ue, ur): (i64, i64) = (
            e.durations.unwrap().iter().sum(),
            r.durations.unwrap().iter().sum(),
        );
        eprintln!(
            "{} ids: log-mel distance to the float model: export {de:.3} dB, fused {df:.3} dB; units {ue} vs {ur}",
            ids.len()
        );
        assert!(
            (ue - ur).abs() * 50 <= ue,
            "durations within rounding: {ue} vs {ur}"
        );
        d_export += de;
        d_fused += df;
    }
    assert!(
        d_fused <= d_export,
        "fused {d_fused} against export {d_export}"
    );
    assert!(
        d_export > 0.1 && d_export / (take as f64) < 4.0,
        "the export is near the float model but not equal: {d_export}"
    );
}

/// A cache holding the fetched model (linked, not copied), where forms are
/// made and the choice recorded.
fn fresh_cache() -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(assets().model.parent().unwrap()).unwrap();
    std::fs::hard_link(&assets().model, dir.path().join(kokoro::assets::MODEL_FILE)).unwrap();
    dir
}

fn config(cache: &Path, form: FormChoice, said: &Arc<Mutex<Vec<String>>>) -> Config {
    let said = said.clone();
    Config {
        assets: AssetOptions {
            cache_dir: Some(cache.to_path_buf()),
            runtime: Some(assets().runtime.clone()),
            voices: Some(assets().voices.clone()),
            model: None,
        },
        form,
        on_event: Some(Arc::new(move |e: &Event| {
            if let Event::Form(s) | Event::Progress(s) = e {
                said.lock().unwrap().push(s.clone());
            }
        })),
        ..Config::default()
    }
}

#[test]
fn the_form_is_chosen_once_recorded_and_can_be_named() {
    let cache = fresh_cache();
    let said = Arc::new(Mutex::new(Vec::new()));
    let text = "Chosen once.";
    let first = Tts::open(config(cache.path(), FormChoice::Auto, &said)).unwrap();
    let a = first.speak(text, &Default::default()).unwrap();
    let told = std::mem::take(&mut *said.lock().unwrap());
    eprintln!("{told:?}");
    assert!(
        told.iter().any(|s| s.starts_with("timing ")),
        "the trial is told: {told:?}"
    );
    assert!(told.iter().any(|s| s.contains("chosen now")), "{told:?}");
    assert!(
        cache.path().join("forms").read_dir().unwrap().count() == 1,
        "recorded"
    );
    drop(first);

    let again = Tts::open(config(cache.path(), FormChoice::Auto, &said)).unwrap();
    let told = std::mem::take(&mut *said.lock().unwrap());
    assert!(
        told.iter()
            .any(|s| s.contains("chosen on this machine before")),
        "the record is read: {told:?}"
    );
    assert!(
        !told.iter().any(|s| s.starts_with("timing ")),
        "no second trial"
    );
    let b = again.speak(text, &Default::default()).unwrap();
    assert_eq!(a.samples, b.samples);
    drop(again);

    // Named: used as asked, and with the fused form the same audio.
    for form in [Form::Int8, Form::Fused] {
        let named = Tts::open(config(cache.path(), FormChoice::Fixed(form), &said)).unwrap();
        let told = std::mem::take(&mut *said.lock().unwrap());
        assert!(
            told.iter()
                .any(|s| s.contains(&format!("model form: {form} (as asked"))),
            "{told:?}"
        );
        let c = named.speak(text, &Default::default()).unwrap();
        assert_eq!(a.samples, c.samples, "{form}: the same audio");
    }

    // The pinned export given by path (as kokoro-onnx's users have it) is
    // the fetched model: its forms apply, with the same audio.
    let mut given = config(cache.path(), FormChoice::Fixed(Form::Fused), &said);
    given.assets.model = Some(assets().model.clone());
    let d = Tts::open(given)
        .unwrap()
        .speak(text, &Default::default())
        .unwrap();
    assert_eq!(a.samples, d.samples, "the export given by path, fused");

    // Any other model given by path is used as it is: a named form is an error.
    let other = cache.path().join("other.onnx");
    std::fs::write(&other, b"a model of someone's own").unwrap();
    let mut given = config(cache.path(), FormChoice::Fixed(Form::Fused), &said);
    given.assets.model = Some(other);
    let e = Tts::open(given).unwrap_err().to_string();
    assert!(e.contains("applies to the fetched model"), "{e}");
}
