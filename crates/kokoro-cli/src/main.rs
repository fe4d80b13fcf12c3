//! `kokoro`: text in, natural speech out.
//!
//! A thin layer over the `kokoro` engine and the `kokoro-server` library: it
//! alone reads argv, the environment and the config file, writes to stdout and
//! chooses the exit code. `main` dispatches; `engine` is what every
//! subcommand shares and `plan` what a command line asks for; `speak`,
//! `live` (standard input as it arrives), `batch` and `serve` are the jobs,
//! none of which calls another but `batch`, which reads each document as
//! `speak` does.

mod batch;
mod cli;
mod engine;
mod live;
mod plan;
#[cfg(any(feature = "server", feature = "wyoming"))]
mod serve;
mod speak;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Args, Command};
use crate::engine::Log;

fn main() -> ExitCode {
    kokoro::infer::return_large_blocks_to_the_system();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if engine::cancelled(&e) => {
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

/// Dispatches the subcommands.
fn run(args: &Args) -> Result<()> {
    let settings = engine::settings(args, &|k| std::env::var(k).ok())?;
    let log = Log {
        quiet: args.quiet,
        debug: args.debug,
    };
    if args.list_languages {
        for lang in kokoro::Lang::ALL {
            println!("{}\t{}", lang.code(), lang.name());
        }
        return Ok(());
    }
    match &args.command {
        #[cfg(feature = "server")]
        Some(Command::Serve(serve)) => serve::main(serve, &settings, log),
        #[cfg(feature = "wyoming")]
        Some(Command::Wyoming(wyoming)) => serve::wyoming(wyoming, &settings, log),
        #[cfg(not(feature = "server"))]
        Some(Command::Serve(_)) => {
            anyhow::bail!(
                "this kokoro was built without the server: build it with `--features server`"
            )
        }
        #[cfg(not(feature = "wyoming"))]
        Some(Command::Wyoming(_)) => {
            anyhow::bail!(
                "this kokoro was built without Wyoming: build it with `--features wyoming`"
            )
        }
        // The servers stop on signals themselves; everything else watches one flag.
        Some(Command::Batch(batch)) => {
            batch::main(batch, args, &settings, &engine::stop_flag(), log)
        }
        None if args.list_voices => speak::list_voices(&settings, &log),
        None => {
            let plan = plan::Plan::new(args, &settings, cfg!(feature = "playback"))?;
            let cancel = engine::stop_flag();
            match live::applies(&plan) {
                // Standard input to a listener: spoken as it arrives.
                Some(target) => live::speak(&plan, target, &settings, &cancel, log),
                None => speak::main(args, &plan, &settings, &cancel, log),
            }
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
