//! The forms of the model, and which one runs on this machine.
//!
//! One network, run by different kernels. Which is fastest depends on the
//! processor: ONNX Runtime runs the int8 export's convolutions (most of the
//! model's work) on uint8 × uint8 kernels that never reach the 8-bit dot
//! products of processors with AVX-512 VNNI, and on processors without fast
//! 8-bit arithmetic the float model can be twice as fast as the int8 one.
//!
//! - [`Form::Int8`]: the int8 export as fetched.
//! - [`Form::Fused`]: each convolution one operator of this project
//!   (`kokoro_infer::fused`), on VNNI; its audio is the export's to the bit.
//! - [`Form::Float`]: the weights made float once (`kokoro_infer::dequantize`).
//!
//! [`FormChoice::Auto`] times each form this processor can run well on a
//! short text, once, and records the winner in the cache with the
//! processor's identity and the runtime's version; later starts read the
//! record. Every form passes the quality gate (docs/BENCHMARKS.md: its
//! audio against the float model's, by log-mel distance, durations and
//! Whisper's word error rate, no worse than the export's), checked by the
//! test suite; a form that failed it would not be offered.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use kokoro_infer::{KokoroSession, SessionOptions, Synthesize, VoiceSet};

use super::pins::ORT_VERSION;
use super::verify::{model_key, processor_features, sha256_hex, write_atomically};
use super::Cache;
use crate::error::Result;

/// A form of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// The int8 export as fetched: ONNX Runtime's integer convolutions.
    Int8,
    /// The int8 export with each convolution fused into one operator on
    /// AVX-512 VNNI: the same audio, to the bit.
    Fused,
    /// The float model: the export's weights dequantized once.
    Float,
}

impl Form {
    /// Every form, in the order they are tried.
    pub const ALL: [Form; 3] = [Form::Int8, Form::Fused, Form::Float];

    /// The form's name, as `--model-form` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Form::Int8 => "int8",
            Form::Fused => "int8-fused",
            Form::Float => "float",
        }
    }

    /// Whether this processor runs the form well enough to be worth a trial:
    /// the fused form needs AVX-512 VNNI (elsewhere its operator runs in
    /// plain Rust); the float form competes only where there is no VNNI
    /// (with it, the float model measured no faster than the int8 export,
    /// docs/BENCHMARKS.md); the int8 export always.
    pub fn eligible(self) -> bool {
        match self {
            Form::Int8 => true,
            Form::Fused => kokoro_infer::fused::vnni(),
            Form::Float => !kokoro_infer::fused::vnni(),
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which form of the fetched model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormChoice {
    /// The fastest form for this machine, found once by a short timed run.
    #[default]
    Auto,
    /// This form, whatever the processor.
    Fixed(Form),
}

/// A form name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model form `{0}` (auto, int8, int8-fused or float)")]
pub struct UnknownForm(pub String);

impl FromStr for FormChoice {
    type Err = UnknownForm;

    fn from_str(s: &str) -> std::result::Result<Self, UnknownForm> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(FormChoice::Auto);
        }
        Form::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .map(FormChoice::Fixed)
            .ok_or_else(|| UnknownForm(s.to_string()))
    }
}

impl fmt::Display for FormChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormChoice::Auto => f.write_str("auto"),
            FormChoice::Fixed(form) => form.fmt(f),
        }
    }
}

/// The form chosen, its model file, and why (for `--debug`).
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub form: Form,
    pub model: PathBuf,
    pub why: String,
}

/// The sentence each form speaks in the trial ("Timing each form, once.",
/// 24 ids: about a second of audio, 0.3 to 1 s of work on one thread).
const TRIAL: &str = "tˈImɪŋ ˈiʧ fˈɔɹm, wˈʌns.";

impl Cache {
    /// The form of `model` (the fetched export, or its timed form) to run:
    /// `choice` if fixed, else the record of an earlier trial on this
    /// machine, else a trial now (`told` hears that it runs). Each form is
    /// made from `model` on first use.
    pub(crate) fn choose_form(
        &self,
        model: &Path,
        voices: &Path,
        choice: FormChoice,
        told: &dyn Fn(String),
    ) -> Result<Chosen> {
        if let FormChoice::Fixed(form) = choice {
            let why = if form.eligible() {
                "as asked".to_string()
            } else {
                format!("as asked, though this processor {}", unfit(form))
            };
            return Ok(Chosen {
                form,
                model: self.form_model(model, form)?,
                why,
            });
        }
        let eligible: Vec<Form> = Form::ALL.into_iter().filter(|f| f.eligible()).collect();
        if let [form] = eligible[..] {
            return Ok(Chosen {
                form,
                model: self.form_model(model, form)?,
                why: "the only form this processor runs well".into(),
            });
        }
        let record = self.form_record(model);
        if let Some((form, said)) = read_record(&record) {
            if eligible.contains(&form) {
                return Ok(Chosen {
                    form,
                    model: self.form_model(model, form)?,
                    why: format!("chosen on this machine before: {said}"),
                });
            }
        }
        told(format!(
            "timing {} on this processor to choose the fastest (once, a few seconds)",
            eligible
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
        let voice = VoiceSet::open(voices)?;
        let style = voice
            .resolve("af_heart")
            .or_else(|_| voice.resolve(voice.names().first().map_or("", String::as_str)))?;
        let mut diagnostics = Vec::new();
        let ids = kokoro_text::vocab::to_ids(TRIAL, &mut diagnostics);
        let mut timings = Vec::new();
        for form in eligible {
            let path = self.form_model(model, form)?;
            let mut session = KokoroSession::open(&path, SessionOptions::default())?;
            let mut best = f64::INFINITY;
            // One call to warm up, one timed.
            for round in 0..2 {
                let start = Instant::now();
                session.synthesize(&ids, style.style_for(ids.len()), 1.0)?;
                if round > 0 {
                    best = best.min(start.elapsed().as_secs_f64());
                }
            }
            timings.push((form, best, path));
        }
        let (form, _, path) = timings
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .cloned()
            .unwrap_or((Form::Int8, 0.0, model.to_path_buf()));
        let said = timings
            .iter()
            .map(|(f, s, _)| format!("{f} {s:.2} s"))
            .collect::<Vec<_>>()
            .join(", ");
        let said = format!("{said} for a test sentence on {}", processor_name());
        // The record is only a shortcut: failing to write it is not an error.
        let _ = write_atomically(&record, format!("{form}\n{said}\n").as_bytes());
        Ok(Chosen {
            form,
            model: path,
            why: format!("chosen now: {said}"),
        })
    }

    /// The file of `form` made from `model`.
    fn form_model(&self, model: &Path, form: Form) -> Result<PathBuf> {
        match form {
            Form::Int8 => Ok(model.to_path_buf()),
            Form::Fused => self.ensure_fused(model),
            Form::Float => self.ensure_float(model),
        }
    }

    /// Where the choice for `model` on this machine is recorded: keyed by
    /// the model file, the processor (its name and features) and the
    /// runtime's version.
    fn form_record(&self, model: &Path) -> PathBuf {
        let machine = format!(
            "{}\n{}\n{ORT_VERSION}",
            processor_name(),
            processor_features()
        );
        let key = model_key(model, &sha256_hex(machine.as_bytes()));
        self.dir().join("forms").join(format!("choice-{key}.txt"))
    }
}

/// What keeps a form from running well here.
fn unfit(form: Form) -> &'static str {
    match form {
        Form::Fused => "has no AVX-512 VNNI (its convolutions run in plain Rust, slowly)",
        Form::Float => "has VNNI, where the int8 forms are faster",
        Form::Int8 => "",
    }
}

/// The form and what was measured, from a record.
fn read_record(path: &Path) -> Option<(Form, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let form = lines.next()?.parse::<FormChoice>().ok()?;
    let FormChoice::Fixed(form) = form else {
        return None;
    };
    Some((form, lines.next().unwrap_or_default().to_string()))
}

/// The processor's name (Linux), or `this processor`.
pub(crate) fn processor_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_string())
        })
        .unwrap_or_else(|| "this processor".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_named_as_the_flag_takes_them() {
        for form in Form::ALL {
            assert_eq!(
                form.name().parse::<FormChoice>(),
                Ok(FormChoice::Fixed(form))
            );
            assert_eq!(FormChoice::Fixed(form).to_string(), form.name());
        }
        assert_eq!("AUTO".parse::<FormChoice>(), Ok(FormChoice::Auto));
        let e = "fast".parse::<FormChoice>().unwrap_err().to_string();
        assert!(e.contains("`fast`") && e.contains("int8-fused"), "{e}");
    }

    #[test]
    fn the_int8_export_is_always_eligible_and_one_of_fused_or_float_besides() {
        assert!(Form::Int8.eligible());
        assert_ne!(Form::Fused.eligible(), Form::Float.eligible());
    }

    #[test]
    fn a_record_names_its_form_or_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("choice.txt");
        std::fs::write(&path, "int8-fused\nint8 0.80 s, int8-fused 0.40 s\n").unwrap();
        assert_eq!(
            read_record(&path),
            Some((Form::Fused, "int8 0.80 s, int8-fused 0.40 s".into()))
        );
        std::fs::write(&path, "auto\n").unwrap();
        assert_eq!(read_record(&path), None);
        std::fs::write(&path, "nonsense").unwrap();
        assert_eq!(read_record(&path), None);
    }

    #[test]
    fn the_trial_sentence_is_all_in_the_vocabulary() {
        let mut diagnostics = Vec::new();
        let ids = kokoro_text::vocab::to_ids(TRIAL, &mut diagnostics);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(ids.len(), 24);
    }
}
