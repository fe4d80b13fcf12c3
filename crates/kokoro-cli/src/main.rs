//! `kokoro`: text in, natural speech out.
//!
//! A thin layer over the workspace's libraries: it alone reads argv, the
//! environment and the config file, writes to stdout and chooses the exit code.

mod book;
mod cli;
mod codecs;
mod output;
#[cfg(feature = "playback")]
mod playback;
mod run;
#[cfg(feature = "server")]
mod serve;
mod settings;
mod wav;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    kokoro_infer::return_large_blocks_to_the_system();
    let args = cli::Args::parse();
    match run::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<run::Interrupted>().is_some() => {
            eprintln!("kokoro: interrupted; no output written");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("kokoro: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A closed pipe (the player or `head` went away) ends the run quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().or_else(|| {
            match cause.downcast_ref::<kokoro_sched::Error>() {
                Some(kokoro_sched::Error::Sink(inner)) => inner.downcast_ref::<std::io::Error>(),
                _ => None,
            }
        });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
