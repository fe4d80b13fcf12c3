//! `kokoro`: text in, natural speech out.
//!
//! A thin layer over the `kokoro` engine and the `kokoro-server` library: it
//! alone reads argv, the environment and the config file, writes to stdout and
//! chooses the exit code.

mod batch;
mod book;
mod cli;
mod live;
mod plan;
#[cfg(feature = "playback")]
mod playback;
mod run;
#[cfg(any(feature = "server", feature = "wyoming"))]
mod serve;
mod settings;
mod timing;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    kokoro::infer::return_large_blocks_to_the_system();
    let args = cli::Args::parse();
    match run::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<run::Interrupted>().is_some() => {
            eprintln!("kokoro: interrupted; no output written");
            ExitCode::from(130)
        }
        Err(e) => {
            match advice(&e) {
                Some(advice) => eprintln!("kokoro: error: {e:#} ({advice})"),
                None => eprintln!("kokoro: error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// What the command adds to a library's error: the flags that fix it.
fn advice(e: &anyhow::Error) -> Option<&'static str> {
    use kokoro::infer::Error as Infer;
    e.chain().find_map(|cause| {
        let infer = cause
            .downcast_ref::<Infer>()
            .or(match cause.downcast_ref() {
                Some(kokoro::Error::Infer(inner)) => Some(inner),
                _ => None,
            })?;
        match infer {
            Infer::RuntimeMissing { .. } => {
                Some("set KOKORO_ORT_LIB or --ort-lib, or let kokoro fetch it")
            }
            Infer::UnknownVoice { close, .. } if close.is_empty() => Some("see --list-voices"),
            _ => None,
        }
    })
}

/// A closed pipe (the player or `head` went away) ends the run quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .or_else(|| cause.downcast_ref::<kokoro::Error>()?.io())
            .or_else(|| cause.downcast_ref::<kokoro::audio::Error>()?.io());
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
