//! `kokoro serve` and `kokoro wyoming`: the command's settings turned into the
//! servers', then the server until Ctrl-C.

use anyhow::{Context, Result};
use kokoro::settings::Settings;
use kokoro::Tts;

use crate::engine::{self, Log};

/// The engine as a server wants it: requests are short and wait for their
/// first audio, so the streaming layout, one session shared by all; the
/// default voice checked before the first request.
fn engine(settings: &Settings, log: Log) -> Result<Tts> {
    let tts = Tts::open(engine::config(
        settings,
        settings.workers(true),
        false,
        log,
    )?)?;
    tts.voice_set().resolve(&settings.voice)?;
    Ok(tts)
}

#[cfg(feature = "server")]
pub fn main(serve: &crate::cli::ServeArgs, settings: &Settings, log: Log) -> Result<()> {
    let host: std::net::IpAddr = serve
        .host
        .parse()
        .with_context(|| format!("--host: `{}` is not an IP address", serve.host))?;
    if serve.queue == 0 {
        anyhow::bail!("--queue: 0 is too small (at least 1 request beside the first)");
    }
    if serve.max_connections == 0 {
        anyhow::bail!("--max-connections: 0 is too small");
    }
    let grace = grace(serve.grace)?;
    let tts = engine(settings, log)?;
    kokoro_server::serve(
        std::net::SocketAddr::new(host, serve.port),
        tts,
        kokoro_server::ServerOptions {
            api_key: serve.api_key.clone(),
            queue: serve.queue,
            default_voice: settings.voice.clone(),
            allowed_hosts: serve.allowed_host.clone(),
            cors: serve.cors.clone(),
            limits: kokoro_server::Limits {
                max_connections: serve.max_connections,
                grace,
                ..kokoro_server::Limits::default()
            },
            ..kokoro_server::ServerOptions::default()
        },
    )?;
    Ok(())
}

#[cfg(feature = "wyoming")]
pub fn wyoming(args: &crate::cli::WyomingArgs, settings: &Settings, log: Log) -> Result<()> {
    use kokoro_server::wyoming::{serve_wyoming, Endpoint, WyomingOptions};
    let endpoint: Endpoint = args
        .uri
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--uri: {e}"))?;
    if args.queue == 0 {
        anyhow::bail!("--queue: 0 is too small (at least 1 synthesis beside the first)");
    }
    if args.max_connections == 0 {
        anyhow::bail!("--max-connections: 0 is too small");
    }
    let grace = grace(args.grace)?;
    let tts = engine(settings, log)?;
    serve_wyoming(
        &endpoint,
        tts,
        WyomingOptions {
            default_voice: settings.voice.clone(),
            speed: settings.speed,
            queue: args.queue,
            max_connections: args.max_connections,
            grace,
            ..WyomingOptions::default()
        },
    )?;
    Ok(())
}

/// `--grace`: 0 to 3600 seconds.
#[cfg(any(feature = "server", feature = "wyoming"))]
fn grace(seconds: f64) -> Result<std::time::Duration> {
    if !(0.0..=3600.0).contains(&seconds) {
        anyhow::bail!("--grace: {seconds} is out of range (0 to 3600 seconds)");
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}
