//! `kokoro serve`: the command's settings turned into the server's, then the
//! server until Ctrl-C.

use std::sync::Arc;

use anyhow::{Context, Result};
use kokoro::{AssetOptions, Config, Event, Frontends, Tts, Workers};

use crate::cli::ServeArgs;
use crate::run::Log;
use crate::settings::Settings;

pub fn main(
    serve: &ServeArgs,
    settings: &Settings,
    assets: &AssetOptions,
    log: &Log,
) -> Result<()> {
    let host: std::net::IpAddr = serve
        .host
        .parse()
        .with_context(|| format!("--host: `{}` is not an IP address", serve.host))?;
    if serve.queue == 0 {
        anyhow::bail!("--queue: 0 is too small (at least 1 request beside the first)");
    }
    let log = *log;
    let tts = Tts::open(Config {
        assets: assets.clone(),
        // Requests are short and wait for their first audio: the streaming layout.
        workers: Workers {
            parallel: settings.use_parallel,
            max_workers: settings.max_workers,
            intra_threads: settings.intra_threads,
            sentences: None,
            streaming: true,
            session_per_worker: false,
        },
        frontends: Some(Frontends::new(
            crate::run::fallback(assets, &log),
            crate::run::load_lexicon(settings)?,
        )),
        on_event: Some(Arc::new(move |e: &Event| log.event(e))),
        skip_timing: false,
    })?;
    tts.voice_set().resolve(&settings.voice)?;
    kokoro_server::serve(
        std::net::SocketAddr::new(host, serve.port),
        tts,
        kokoro_server::ServerOptions {
            api_key: serve.api_key.clone(),
            queue: serve.queue,
            default_voice: settings.voice.clone(),
            allowed_hosts: serve.allowed_host.clone(),
        },
    )?;
    Ok(())
}
