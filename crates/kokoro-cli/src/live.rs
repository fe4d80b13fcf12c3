//! Standard input spoken as it arrives (`kokoro - -`, a language model's
//! reply piped in): each sentence as soon as it is complete, what is there
//! after a stall of a second, the rest at the end of input.

use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kokoro::{Config, Frontends, SpeakOptions, Tts};

use crate::plan::{Plan, Target};
use crate::run::{Interrupted, Log};
use crate::settings::Settings;

/// How long the input may stall before what is there is spoken.
const STALL: Duration = Duration::from_secs(1);

/// Speaks standard input into `target` as it arrives.
pub fn speak(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    config: Config,
    lang: kokoro::Lang,
    cancel: &Arc<AtomicBool>,
    log: &Log,
) -> Result<()> {
    // Read as it comes, on a thread of its own: whole UTF-8 characters only.
    let (texts, inbox) = channel::<Result<String>>();
    std::thread::Builder::new()
        .name("kokoro-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut carry: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = texts.send(Err(
                            anyhow::Error::new(e).context("cannot read standard input")
                        ));
                        return;
                    }
                };
                carry.extend_from_slice(&buf[..n]);
                let valid = match std::str::from_utf8(&carry) {
                    Ok(s) => s.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => {
                        let _ =
                            texts.send(Err(anyhow::anyhow!("standard input is not UTF-8 text")));
                        return;
                    }
                };
                let rest = carry.split_off(valid);
                let text =
                    String::from_utf8(std::mem::replace(&mut carry, rest)).unwrap_or_default();
                if texts.send(Ok(text)).is_err() {
                    return;
                }
            }
            if !carry.is_empty() {
                let _ = texts.send(Err(anyhow::anyhow!("standard input is not UTF-8 text")));
            }
        })
        .context("cannot start a thread to read standard input")?;

    let mut out = crate::run::open_merged(target, plan.format, &[])?;
    let tts = Tts::open(config)?;
    tts.voice_set().resolve(&settings.voice)?;
    log.debug(&format!(
        "speaking standard input as it arrives ({})",
        tts.describe()
    ));
    let options = SpeakOptions {
        voice: settings.voice.clone(),
        speed: settings.speed,
        lang: Some(lang),
        pauses: plan.pauses,
        streaming: true,
        cancel: Some(cancel.clone()),
        ..SpeakOptions::default()
    };
    // The first text says what the input is: SSML is read whole (its
    // elements span it), anything else spoken as it arrives.
    let mut first = String::new();
    while undecided(&first) {
        match inbox.recv() {
            Ok(text) => first.push_str(&text?),
            Err(_) => break,
        }
    }
    let (failed, failure) = channel::<anyhow::Error>();
    let speech = if kokoro::text::ssml::looks_like_ssml(&first) {
        let mut whole = first;
        for text in inbox {
            whole.push_str(&text?);
        }
        let ssml = kokoro::text::ssml::Ssml::parse(&whole).context("standard input")?;
        for w in &ssml.warnings {
            log.warn(&format!("-: {w}"));
        }
        log.debug("standard input is SSML: read whole");
        let mut options = options;
        options.lang = plan.lang.or(ssml.lang).or(Some(lang));
        tts.stream_ssml(ssml, &options)
    } else {
        let (mut feed, speech) = tts.feed(&options);
        feed.push(&first);
        // The text goes to the feed from a thread of its own, so that audio is
        // written here while more text arrives.
        std::thread::Builder::new()
            .name("kokoro-feed-input".into())
            .spawn(move || loop {
                match inbox.recv_timeout(STALL) {
                    Ok(Ok(text)) => feed.push(&text),
                    Ok(Err(e)) => {
                        let _ = failed.send(e);
                        return; // dropping the feed ends the stream
                    }
                    Err(RecvTimeoutError::Timeout) => feed.flush(),
                    Err(RecvTimeoutError::Disconnected) => {
                        feed.finish();
                        return;
                    }
                }
            })
            .context("cannot start a thread to feed the engine")?;
        speech
    };
    let mut seconds = 0.0;
    for chunk in speech {
        match chunk {
            Ok(chunk) => {
                seconds += chunk.samples.len() as f64 / f64::from(kokoro::SAMPLE_RATE);
                out.write(&chunk.samples)?;
            }
            Err(kokoro::Error::Cancelled) => return Err(Interrupted.into()),
            Err(kokoro::Error::NothingToSay) => match failure.try_recv() {
                Ok(e) => return Err(e),
                Err(_) => bail!("standard input has nothing to speak"),
            },
            Err(e) => return Err(e.into()),
        }
    }
    if let Ok(e) = failure.try_recv() {
        return Err(e);
    }
    out.finish()?.commit()?;
    log.info(&format!(
        "-: {seconds:.1} s of audio, spoken as the input arrived"
    ));
    Ok(())
}

/// Whether the input so far may still turn out to be SSML (nothing but
/// blanks, the start of `<speak`, or a declaration or comment before it).
fn undecided(so_far: &str) -> bool {
    let head = so_far.trim_start_matches('\u{feff}').trim_start();
    head.is_empty()
        || ("<speak".starts_with(head))
        || ((head.starts_with("<?xml") || head.starts_with("<!--"))
            && !head.contains("<speak")
            && head.len() < 4096)
}

/// Whether the plan reads standard input as plain text into a listener (a
/// stream or the device), which is then spoken as it arrives.
pub fn applies(plan: &Plan) -> Option<&Target> {
    use crate::plan::{Action, Input, Output};
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

/// The engine's configuration for the live path: as the command's, with the
/// same model as every other run (its cached forms are there).
pub fn config(
    assets: &kokoro::AssetOptions,
    frontends: Frontends,
    plan: &Plan,
    settings: &Settings,
    log: &Log,
) -> Config {
    crate::run::engine_config(assets, plan.workers, frontends, false, settings, *log)
}
