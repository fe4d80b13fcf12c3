//! Standard input spoken as it arrives (`kokoro - -`, a language model's
//! reply piped in): each sentence as soon as it is complete, what is there
//! after a stall of a second, the rest at the end of input
//! ([`kokoro::Tts::stream_reader`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use kokoro::audio::{encoder, Dest};
use kokoro::settings::Settings;
use kokoro::{SpeakOptions, Tts};

use crate::engine::{self, Log};
use crate::plan::{Action, Input, Output, Plan, Target};

/// How long the input may stall before what is there is spoken.
const STALL: Duration = Duration::from_secs(1);

/// Whether the plan reads standard input as plain text into a listener (a
/// stream or the device), which is then spoken as it arrives.
pub fn applies(plan: &Plan) -> Option<&Target> {
    use kokoro::text::document::InputFormat;
    let text = matches!(plan.input_format, None | Some(InputFormat::Text));
    let timed = plan.captions.is_some() || plan.timestamps.is_some();
    match &plan.action {
        Action::Speak(Output::Merged(target @ (Target::Stdout | Target::Device)))
            if plan.input == Input::Stdin && text && !timed =>
        {
            Some(target)
        }
        _ => None,
    }
}

/// Speaks standard input into `target` as it arrives.
pub fn speak(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<()> {
    let mut out = match target {
        Target::Device => engine::open_player()?,
        _ => encoder(plan.format, Dest::stdout())?,
    };
    let tts = Tts::open(engine::config(settings, plan.workers, false, log)?)?;
    let prepared = tts.prepare(&engine::request(settings, plan.lang), None)?;
    log.debug(&format!(
        "speaking standard input as it arrives ({})",
        tts.describe()
    ));
    let options = SpeakOptions {
        pauses: plan.pauses,
        streaming: true,
        cancel: Some(cancel.clone()),
        // Unless asked for, SSML's xml:lang, else the voice's.
        lang: plan.lang.and(prepared.options.lang),
        ..prepared.options
    };
    let mut seconds = 0.0;
    for chunk in tts.stream_reader(std::io::stdin(), &options, STALL) {
        let chunk = match chunk {
            Err(kokoro::Error::NothingToSay) => {
                anyhow::bail!("standard input has nothing to speak")
            }
            other => other?,
        };
        seconds += chunk.samples.len() as f64 / f64::from(kokoro::SAMPLE_RATE);
        out.write(&chunk.samples)?;
    }
    out.finish()?.commit()?;
    log.info(&format!(
        "-: {seconds:.1} s of audio, spoken as the input arrived"
    ));
    Ok(())
}
