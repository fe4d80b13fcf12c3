//! The Wyoming protocol (Home Assistant's voice pipeline) on the `kokoro`
//! engine: `kokoro wyoming --uri tcp://127.0.0.1:10200`.
//!
//! An event is a line of JSON (`type`, optional `data`, `data_length`,
//! `payload_length`), then `data_length` bytes of JSON merged into `data`,
//! then `payload_length` bytes of payload. The server answers:
//!
//! - `describe` with `info`: one TTS program, `kokoro`, with every voice and
//!   its language, and `supports_synthesize_streaming`.
//! - `synthesize` (`text`, `voice` with `name`, `language` or `speaker`,
//!   `text_format` `text` or `ssml`, SSML also when the text opens with
//!   `<speak>`) with `audio-start`, `audio-chunk`s of
//!   24 kHz 16-bit mono PCM as the chunks are made, and `audio-stop`.
//! - The streaming form: `synthesize-start`, `synthesize-chunk`s of text as a
//!   language model writes it, `synthesize-stop`. Each sentence is spoken as
//!   soon as it is complete, into one `audio-start` .. `audio-stop`, then
//!   `synthesize-stopped`. A `synthesize` inside the stream (Home Assistant
//!   sends the whole text again for servers that cannot stream) is ignored.
//! - `ping` with `pong`.
//!
//! Anything wrong with an event gets an `error` event (`text`, `code`) and
//! the connection stays open, except where the stream of events cannot be
//! followed any further (a header line too long or not JSON, a client too
//! slow): then the error is sent and the connection closed. Connections,
//! syntheses in progress and every event's size are bounded.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kokoro::audio::to_i16;
use kokoro::text::ssml::Ssml;
use kokoro::{Lang, SpeakOptions, SpeechStream, Tts};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};

use crate::{Admitted, Error, MAX_INPUT_CHARS};

/// The longest header line of an event, in bytes.
pub const MAX_HEADER: usize = 64 << 10;
/// The most `data` bytes an event may carry.
pub const MAX_DATA: usize = 1 << 20;
/// The most payload bytes an event may carry (a TTS server reads none; they
/// are skipped).
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Samples in one `audio-chunk` at most (about 0.17 s).
const CHUNK_SAMPLES: usize = 4096;
/// The protocol version written on every event.
const VERSION: &str = "1.8.0";

/// Where to listen: `tcp://HOST:PORT` or `unix://PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(std::net::SocketAddr),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(uri: &str) -> Result<Self, String> {
        if let Some(addr) = uri.strip_prefix("tcp://") {
            let addr = addr.replace("localhost", "127.0.0.1");
            return addr.parse().map(Endpoint::Tcp).map_err(|_| {
                format!("`{uri}`: not tcp://ADDRESS:PORT with an IP address and a port")
            });
        }
        if let Some(path) = uri.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("`{uri}`: no socket path after unix://"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        Err(format!(
            "`{uri}`: not a URI this server listens on (tcp://HOST:PORT or unix://PATH)"
        ))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// How the Wyoming server is bounded, and what it speaks with by default.
#[derive(Debug, Clone)]
pub struct WyomingOptions {
    /// The voice when an event names none (nor a language).
    pub default_voice: String,
    /// The speed of every synthesis.
    pub speed: f32,
    /// Syntheses that may be in progress beside the first (they share the
    /// workers chunk by chunk); more get an error event with code `busy`.
    pub queue: usize,
    /// Open connections at most; a connection past it gets an error event
    /// (`too-many-connections`) and is closed.
    pub max_connections: usize,
    /// How long a connection may wait between events (and take to send one)
    /// before it is closed.
    pub idle_timeout: Duration,
    /// Once told to stop, how long syntheses in progress may take to finish.
    pub grace: Duration,
}

impl Default for WyomingOptions {
    /// `af_heart` at speed 1, 8 waiting syntheses, 64 connections, 5 minutes
    /// idle, a grace of [`crate::GRACE`].
    fn default() -> Self {
        Self {
            default_voice: "af_heart".into(),
            speed: 1.0,
            queue: 8,
            max_connections: 64,
            idle_timeout: Duration::from_secs(300),
            grace: crate::GRACE,
        }
    }
}

/// An event, as read or to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `describe`, `synthesize`, `audio-chunk`...
    pub kind: String,
    /// Its data (header `data` and the `data_length` bytes, merged).
    pub data: Map<String, Value>,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Event {
    fn new(kind: &str, data: Value) -> Self {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self {
            kind: kind.into(),
            data,
            payload: Vec::new(),
        }
    }

    fn error(text: impl Into<String>, code: &str) -> Self {
        Self::new("error", json!({ "text": text.into(), "code": code }))
    }

    /// The event as the protocol writes it: the header line, the data, the payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let data = if self.data.is_empty() {
            Vec::new()
        } else {
            serde_json::to_vec(&self.data).unwrap_or_default()
        };
        let mut header = Map::new();
        header.insert("type".into(), Value::from(self.kind.as_str()));
        header.insert("version".into(), Value::from(VERSION));
        if !data.is_empty() {
            header.insert("data_length".into(), Value::from(data.len()));
        }
        if !self.payload.is_empty() {
            header.insert("payload_length".into(), Value::from(self.payload.len()));
        }
        let mut bytes = serde_json::to_vec(&header).unwrap_or_default();
        bytes.push(b'\n');
        bytes.extend_from_slice(&data);
        bytes.extend_from_slice(&self.payload);
        bytes
    }
}

/// Why an event could not be read.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    /// The stream cannot be followed past it: the connection must close.
    Fatal(String),
    /// This event is bad; the next one can still be read.
    Bad(String),
}

/// Reads one event (`None` at the end of the stream), within the bounds.
pub async fn read_event<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Result<Option<Event>, ReadError> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_HEADER as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| ReadError::Fatal(format!("cannot read: {e}")))?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(ReadError::Fatal(if line.len() > MAX_HEADER {
            format!("an event's header line is longer than {MAX_HEADER} bytes")
        } else {
            "the connection ended inside an event's header line".into()
        }));
    }
    let header: Map<String, Value> = serde_json::from_slice(&line).map_err(|e| {
        ReadError::Fatal(format!("an event's header line is not a JSON object: {e}"))
    })?;
    let length = |key: &str, max: usize| -> Result<usize, ReadError> {
        match header.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => match v.as_u64() {
                Some(n) if n as usize <= max => Ok(n as usize),
                Some(n) => Err(ReadError::Fatal(format!(
                    "`{key}` {n} is larger than the {max} bytes allowed"
                ))),
                None => Err(ReadError::Fatal(format!("`{key}` is not a byte count"))),
            },
        }
    };
    let data_length = length("data_length", MAX_DATA)?;
    let payload_length = length("payload_length", MAX_PAYLOAD)?;
    let mut data_bytes = vec![0; data_length];
    let mut payload = vec![0; payload_length];
    let short = |e: std::io::Error| ReadError::Fatal(format!("the event was cut short: {e}"));
    reader.read_exact(&mut data_bytes).await.map_err(short)?;
    reader.read_exact(&mut payload).await.map_err(short)?;
    let Some(kind) = header.get("type").and_then(Value::as_str) else {
        return Err(ReadError::Bad("an event without a `type`".into()));
    };
    let mut data = match header.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ReadError::Bad(format!("`{kind}`: `data` is not an object"))),
    };
    if data_length > 0 {
        match serde_json::from_slice::<Value>(&data_bytes) {
            Ok(Value::Object(more)) => data.extend(more),
            _ => {
                return Err(ReadError::Bad(format!(
                    "`{kind}`: its {data_length} data bytes are not a JSON object"
                )))
            }
        }
    }
    Ok(Some(Event {
        kind: kind.to_string(),
        data,
        payload,
    }))
}

/// The language tag Wyoming clients expect (Home Assistant's are BCP 47).
fn language_tag(lang: Lang) -> &'static str {
    match lang {
        Lang::EnUs => "en-US",
        Lang::EnGb => "en-GB",
        Lang::Es => "es-ES",
        Lang::Fr => "fr-FR",
        Lang::Hi => "hi-IN",
        Lang::It => "it-IT",
        Lang::PtBr => "pt-BR",
        Lang::Ja => "ja-JP",
        Lang::Cmn => "zh-CN",
    }
}

/// The `info` answer to `describe`.
fn info(engine: &Tts) -> Event {
    let attribution = json!({ "name": "hexgrad", "url": "https://github.com/hexgrad/kokoro" });
    let voices: Vec<Value> = engine
        .voices()
        .into_iter()
        .filter_map(|v| {
            let lang = v.lang?;
            Some(json!({
                "name": v.name,
                "description": format!("{} ({}, {})", v.name, language_tag(lang), v.gender.as_str()),
                "attribution": attribution,
                "installed": true,
                "version": null,
                "languages": [language_tag(lang)],
                "speakers": null,
            }))
        })
        .collect();
    Event::new(
        "info",
        json!({
            "asr": [], "handle": [], "intent": [], "wake": [], "mic": [], "snd": [],
            "tts": [{
                "name": "kokoro",
                "description": "Kokoro-82M text to speech on ONNX Runtime",
                "attribution": attribution,
                "installed": true,
                "version": env!("CARGO_PKG_VERSION"),
                "voices": voices,
                "supports_synthesize_streaming": true,
            }],
        }),
    )
}

/// What every connection shares.
struct Shared {
    engine: Tts,
    info: Event,
    options: WyomingOptions,
    in_progress: Arc<AtomicUsize>,
}

impl Shared {
    fn admit(&self) -> Result<Admitted, Event> {
        Admitted::try_new(&self.in_progress, self.options.queue + 1).ok_or_else(|| {
            Event::error(
                "the server is speaking as many texts as it may; retry shortly",
                "busy",
            )
        })
    }

    /// The options for an event's `voice` (`speaker`, then `name`, then
    /// `language`, then the default voice).
    fn speak_options(&self, data: &Map<String, Value>) -> Result<SpeakOptions, Event> {
        let bad = |text: String| Event::error(text, "bad-voice");
        let voice = match data.get("voice") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(v)) => v.clone(),
            Some(_) => return Err(bad("`voice` is not an object".into())),
        };
        let field = |key: &str| -> Result<Option<&str>, Event> {
            match voice.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
                Some(_) => Err(bad(format!("`voice.{key}` is not a non-empty string"))),
            }
        };
        let lang = field("language")?
            .map(|code| code.parse::<Lang>().map_err(|e| bad(e.to_string())))
            .transpose()?;
        let voice = match field("speaker")?.or(field("name")?) {
            Some(name) => name.to_string(),
            None => match lang {
                Some(lang) => self
                    .voice_for(lang)
                    .ok_or_else(|| bad(format!("no voice speaks {}", language_tag(lang))))?,
                None => self.options.default_voice.clone(),
            },
        };
        // The one place a request's voice, speed and language are checked.
        let request = kokoro::Request {
            voice,
            speed: self.options.speed,
            lang,
            aliases: &crate::OPENAI_VOICES,
        };
        let prepared = self
            .engine
            .prepare(&request, None)
            .map_err(|e| bad(e.to_string()))?;
        Ok(SpeakOptions {
            streaming: true,
            // Unless asked for, SSML's xml:lang, else the voice's.
            lang: lang.and(prepared.options.lang),
            ..prepared.options
        })
    }

    /// The default voice if it speaks `lang`, else the first voice that does.
    fn voice_for(&self, lang: Lang) -> Option<String> {
        if kokoro::voice_lang(&self.options.default_voice) == Some(lang) {
            return Some(self.options.default_voice.clone());
        }
        self.engine
            .voices()
            .into_iter()
            .find(|v| v.lang == Some(lang))
            .map(|v| v.name)
    }
}

/// A text for a whole synthesis, checked.
fn text_of(data: &Map<String, Value>, key: &str) -> Result<String, Event> {
    match data.get(key) {
        Some(Value::String(text)) => {
            let chars = text.chars().count();
            if chars > MAX_INPUT_CHARS {
                return Err(Event::error(
                    format!("the text has {chars} characters; the limit is {MAX_INPUT_CHARS}"),
                    "too-long",
                ));
            }
            Ok(text.clone())
        }
        _ => Err(Event::error(
            format!("`{key}` is missing or not a string"),
            "bad-text",
        )),
    }
}

/// Listens on `endpoint` and serves `engine` over Wyoming until SIGTERM,
/// SIGINT or SIGHUP ([`crate::shutdown_signal`]), then stops as [`run`]
/// does (a second signal ends the process at once); says where it listens
/// on stderr.
pub fn serve_wyoming(
    endpoint: &Endpoint,
    engine: Tts,
    options: WyomingOptions,
) -> Result<(), Error> {
    serve_wyoming_until(endpoint, engine, options, crate::listen::stop_on_signals())
}

/// [`serve_wyoming`] until `stop` completes.
pub fn serve_wyoming_until(
    endpoint: &Endpoint,
    engine: Tts,
    options: WyomingOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), Error> {
    check(&options)?;
    let described = engine.describe().to_string();
    let runtime = crate::runtime()?;
    let grace = options.grace;
    runtime.block_on(async move {
        // Listen for the stop before saying we listen (see `serve_until`).
        let mut stop = Box::pin(stop);
        let stopped = crate::armed(stop.as_mut()).await;
        let stop = async move {
            if !stopped {
                stop.await;
            }
            eprintln!(
                "kokoro: stopping: no new connections; syntheses in progress have {} s to finish",
                grace.as_secs_f64()
            );
        };
        match endpoint {
            Endpoint::Tcp(addr) => {
                let addr = *addr;
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::Listen { addr, source })?;
                let local = listener
                    .local_addr()
                    .map_err(|source| Error::Listen { addr, source })?;
                eprintln!("kokoro: Wyoming on tcp://{local} ({described})");
                run(listener, engine, options, stop).await;
            }
            #[cfg(unix)]
            Endpoint::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let listener =
                    tokio::net::UnixListener::bind(path).map_err(|source| Error::ListenOn {
                        at: path.display().to_string(),
                        source,
                    })?;
                eprintln!("kokoro: Wyoming on unix://{} ({described})", path.display());
                run(listener, engine, options, stop).await;
                let _ = std::fs::remove_file(path);
            }
            #[cfg(not(unix))]
            Endpoint::Unix(path) => {
                return Err(Error::ListenOn {
                    at: path.display().to_string(),
                    source: std::io::Error::other("Unix sockets need a Unix system"),
                })
            }
        }
        Ok(())
    })
}

fn check(options: &WyomingOptions) -> Result<(), Error> {
    if options.queue == 0 {
        return Err(Error::NoQueue);
    }
    kokoro::check_speed(options.speed).map_err(|e| Error::Option(e.to_string()))?;
    if options.max_connections == 0 {
        return Err(Error::Option(
            "at least one connection must be allowed".into(),
        ));
    }
    Ok(())
}

/// Something connections are accepted from (a TCP or a Unix listener).
pub trait Accept: Send + 'static {
    /// A connection.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// The next connection.
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> std::io::Result<Self::Stream> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

#[cfg(unix)]
impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> std::io::Result<Self::Stream> {
        Ok(tokio::net::UnixListener::accept(self).await?.0)
    }
}

/// Serves connections from `listener` on the current async runtime until
/// `stop` completes (to embed the server, or test it); then stops accepting
/// and gives the syntheses in progress `options.grace` to finish before it
/// returns (connections still open then are closed when the runtime that
/// runs them ends).
pub async fn run<L: Accept>(
    listener: L,
    engine: Tts,
    options: WyomingOptions,
    stop: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(options.max_connections));
    let shared = Arc::new(Shared {
        info: info(&engine),
        engine,
        options,
        in_progress: Arc::new(AtomicUsize::new(0)),
    });
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(_) => {
                    // Out of descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    connection(stream, shared).await;
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let refusal = Event::error(
                        "the server has as many connections open as it may; retry shortly",
                        "too-many-connections",
                    );
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        stream.write_all(&refusal.to_bytes()),
                    )
                    .await;
                });
            }
        }
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + shared.options.grace;
    while shared.in_progress.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A streaming synthesis in progress.
struct Streaming {
    feed: kokoro::TextFeed,
    /// Raised when the connection ends before `synthesize-stop`.
    cancel: Arc<std::sync::atomic::AtomicBool>,
    forwarder: tokio::task::JoinHandle<Forwarded>,
    chars: usize,
}

/// How a synthesis's audio went out.
struct Forwarded {
    /// `audio-start` was sent.
    started: bool,
    /// The error that ended it early, if any (sent by the caller).
    error: Option<kokoro::Error>,
}

type Out = mpsc::Sender<Event>;

/// Sends a synthesis's chunks as `audio-chunk`s (after an `audio-start`
/// before the first), on a blocking thread; stops when the client is gone.
fn forward(stream: SpeechStream, out: Out, admitted: Admitted) -> Forwarded {
    let _admitted = admitted;
    let format = json!({ "rate": kokoro::SAMPLE_RATE, "width": 2, "channels": 1 });
    let mut started = false;
    let mut samples = 0usize;
    for chunk in stream {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                return Forwarded {
                    started,
                    error: Some(error),
                }
            }
        };
        for piece in chunk.samples.chunks(CHUNK_SAMPLES) {
            let mut data = format.clone();
            data["timestamp"] = json!(samples as u64 * 1000 / u64::from(kokoro::SAMPLE_RATE));
            if !started {
                started = true;
                if out
                    .blocking_send(Event::new("audio-start", data.clone()))
                    .is_err()
                {
                    return Forwarded {
                        started,
                        error: None,
                    };
                }
            }
            let mut event = Event::new("audio-chunk", data);
            event.payload = piece
                .iter()
                .flat_map(|&x| to_i16(x).to_le_bytes())
                .collect();
            samples += piece.len();
            if out.blocking_send(event).is_err() {
                // The client is gone: dropping the stream stops the synthesis.
                return Forwarded {
                    started,
                    error: None,
                };
            }
        }
    }
    Forwarded {
        started,
        error: None,
    }
}

/// The events that close a synthesis.
fn finish(forwarded: Result<Forwarded, tokio::task::JoinError>, streaming: bool) -> Vec<Event> {
    let forwarded = forwarded.unwrap_or_else(|e| Forwarded {
        started: false,
        error: Some(kokoro::Error::Stopped(e.to_string())),
    });
    let mut events = Vec::new();
    match forwarded.error {
        // A stream of nothing but blanks says nothing, which is not an error.
        Some(kokoro::Error::NothingToSay) if streaming => {}
        Some(e) => events.push(Event::error(e.to_string(), "synthesis-failed")),
        None => {}
    }
    if forwarded.started {
        events.insert(0, Event::new("audio-stop", json!({})));
    }
    if streaming {
        events.push(Event::new("synthesize-stopped", json!({})));
    }
    events
}

/// One client, until it closes, idles past the timeout, or breaks the protocol.
async fn connection<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    stream: S,
    shared: Arc<Shared>,
) {
    let (read, write) = tokio::io::split(stream);
    let (out, mut outbox) = mpsc::channel::<Event>(16);
    let writer = tokio::spawn(async move {
        let mut write = tokio::io::BufWriter::new(write);
        while let Some(event) = outbox.recv().await {
            if write.write_all(&event.to_bytes()).await.is_err() {
                return;
            }
            if outbox.is_empty() && write.flush().await.is_err() {
                return;
            }
        }
        let _ = write.flush().await;
        let _ = write.shutdown().await;
    });
    let mut reader = BufReader::new(read);
    let mut streaming: Option<Streaming> = None;
    loop {
        let event = match tokio::time::timeout(shared.options.idle_timeout, read_event(&mut reader))
            .await
        {
            Err(_) => {
                let idle = shared.options.idle_timeout.as_secs_f64();
                let _ = out
                    .send(Event::error(
                        format!("no complete event in {idle} s; closing"),
                        "timeout",
                    ))
                    .await;
                break;
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(event))) => event,
            Ok(Err(ReadError::Bad(text))) => {
                let _ = out.send(Event::error(text, "bad-event")).await;
                continue;
            }
            Ok(Err(ReadError::Fatal(text))) => {
                let _ = out.send(Event::error(text, "bad-event")).await;
                break;
            }
        };
        let reply = handle(event, &shared, &out, &mut streaming).await;
        for event in reply {
            if out.send(event).await.is_err() {
                break;
            }
        }
        if out.is_closed() {
            break;
        }
    }
    // A stream left open is not spoken any further.
    if let Some(s) = streaming.take() {
        s.cancel.store(true, Ordering::Relaxed);
    }
    drop(out);
    let _ = writer.await;
}

/// What an event asks for, and the events it is answered with (audio goes
/// out as it is made, through `out`).
async fn handle(
    event: Event,
    shared: &Arc<Shared>,
    out: &Out,
    streaming: &mut Option<Streaming>,
) -> Vec<Event> {
    match event.kind.as_str() {
        "describe" => vec![shared.info.clone()],
        "ping" => {
            let mut pong = Event::new("pong", json!({}));
            if let Some(text) = event.data.get("text") {
                pong.data.insert("text".into(), text.clone());
            }
            vec![pong]
        }
        "synthesize" if streaming.is_some() => Vec::new(),
        "synthesize" => {
            let (said, options) = match synthesis(&event, shared) {
                Ok(job) => job,
                Err(e) => return vec![e],
            };
            let admitted = match shared.admit() {
                Ok(a) => a,
                Err(e) => return vec![e],
            };
            let stream = match said {
                Said::Text(text) => shared.engine.stream(text, &options),
                Said::Ssml(ssml) => shared.engine.stream_ssml(ssml, &options),
            };
            let out = out.clone();
            let forwarded =
                tokio::task::spawn_blocking(move || forward(stream, out, admitted)).await;
            finish(forwarded, false)
        }
        "synthesize-start" => {
            if streaming.is_some() {
                return vec![Event::error(
                    "a streaming synthesis is already in progress (send synthesize-stop first)",
                    "bad-order",
                )];
            }
            let mut options = match shared.speak_options(&event.data) {
                Ok(o) => o,
                Err(e) => return vec![e],
            };
            let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
            options.cancel = Some(cancel.clone());
            if let Some(format) = event.data.get("text_format").and_then(Value::as_str) {
                if format != "text" {
                    return vec![Event::error(
                        format!("streaming synthesis takes plain text, not `{format}`"),
                        "bad-format",
                    )];
                }
            }
            let admitted = match shared.admit() {
                Ok(a) => a,
                Err(e) => return vec![e],
            };
            let (feed, stream) = shared.engine.feed(&options);
            let out = out.clone();
            *streaming = Some(Streaming {
                feed,
                cancel,
                forwarder: tokio::task::spawn_blocking(move || forward(stream, out, admitted)),
                chars: 0,
            });
            Vec::new()
        }
        "synthesize-chunk" => {
            let Some(s) = streaming.as_mut() else {
                return vec![Event::error(
                    "synthesize-chunk outside a streaming synthesis (send synthesize-start first)",
                    "bad-order",
                )];
            };
            let text = match text_of(&event.data, "text") {
                Ok(t) => t,
                Err(e) => return vec![e],
            };
            s.chars += text.chars().count();
            if s.chars > MAX_INPUT_CHARS {
                return vec![Event::error(
                    format!("the streamed text is longer than {MAX_INPUT_CHARS} characters; the rest is not spoken"),
                    "too-long",
                )];
            }
            s.feed.push(&text);
            Vec::new()
        }
        "synthesize-stop" => {
            let Some(s) = streaming.take() else {
                return vec![Event::error(
                    "synthesize-stop outside a streaming synthesis",
                    "bad-order",
                )];
            };
            s.feed.finish();
            finish(s.forwarder.await, true)
        }
        other => vec![Event::error(
            format!("this server does not handle `{other}` events"),
            "unknown-event",
        )],
    }
}

/// What a `synthesize` event asks to be spoken.
enum Said {
    Text(String),
    Ssml(Ssml),
}

/// A `synthesize` event's text (plain, or SSML: `text_format` `ssml`, or a
/// text that opens with `<speak>`) and options.
fn synthesis(event: &Event, shared: &Shared) -> Result<(Said, SpeakOptions), Event> {
    let text = text_of(&event.data, "text")?;
    let options = shared.speak_options(&event.data)?;
    let ssml = match event.data.get("text_format").and_then(Value::as_str) {
        None => kokoro::text::ssml::looks_like_ssml(&text),
        Some("text") => false,
        Some("ssml") => true,
        Some(other) => {
            return Err(Event::error(
                format!("text_format `{other}` is not supported (text, ssml)"),
                "bad-format",
            ))
        }
    };
    let said = if ssml {
        let ssml = Ssml::parse(&text).map_err(|e| Event::error(e.to_string(), "bad-ssml"))?;
        kokoro::request::check_ssml_voices(shared.engine.voice_set(), &ssml)
            .map_err(|e| Event::error(format!("SSML <voice>: {e}"), "bad-voice"))?;
        if ssml.text().trim().is_empty() {
            return Err(Event::error(
                "the SSML has no text: nothing to speak",
                "bad-text",
            ));
        }
        Said::Ssml(ssml)
    } else {
        if text.trim().is_empty() {
            return Err(Event::error(
                "the text is empty: nothing to speak",
                "bad-text",
            ));
        }
        Said::Text(text)
    };
    Ok((said, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(bytes: &[u8]) -> Vec<Result<Option<Event>, ReadError>> {
        let mut reader = BufReader::new(bytes);
        let mut events = Vec::new();
        loop {
            let e = read_event(&mut reader).await;
            let end = matches!(e, Ok(None) | Err(ReadError::Fatal(_)));
            events.push(e);
            if end {
                return events;
            }
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn an_event_written_reads_back_with_its_data_and_payload() {
        let mut e = Event::new("audio-chunk", json!({ "rate": 24000, "text": "héllo" }));
        e.payload = vec![1, 2, 3, 0, 255];
        let bytes = e.to_bytes();
        let header: Value =
            serde_json::from_slice(&bytes[..bytes.iter().position(|&b| b == b'\n').unwrap()])
                .unwrap();
        assert_eq!(header["type"], "audio-chunk");
        assert_eq!(header["payload_length"], 5);
        assert!(header.get("data").is_none(), "data travels after the line");
        let events = block(read_all(&[bytes.clone(), bytes].concat()));
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].as_ref().unwrap().as_ref().unwrap(), &e);
        assert_eq!(events[2], Ok(None));
    }

    #[test]
    fn data_in_the_header_and_after_it_are_merged() {
        let bytes = b"{\"type\":\"synthesize\",\"data\":{\"text\":\"a\",\"x\":1},\"data_length\":12}\n{\"text\":\"b\"}";
        let events = block(read_all(bytes));
        let e = events[0].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(e.data["text"], "b");
        assert_eq!(e.data["x"], 1);
    }

    #[test]
    fn bad_events_are_told_apart_from_streams_that_cannot_go_on() {
        // A bad event whose bytes were all read: the next one still reads.
        let events = block(read_all(b"{\"data\":{}}\n{\"type\":\"ping\"}\n"));
        assert!(matches!(&events[0], Err(ReadError::Bad(m)) if m.contains("type")));
        assert_eq!(events[1].as_ref().unwrap().as_ref().unwrap().kind, "ping");
        let events = block(read_all(b"{\"type\":\"x\",\"data\":[1]}\n"));
        assert!(matches!(&events[0], Err(ReadError::Bad(m)) if m.contains("not an object")));
        let events = block(read_all(b"{\"type\":\"x\",\"data_length\":3}\n[1]"));
        assert!(matches!(&events[0], Err(ReadError::Bad(m)) if m.contains("not a JSON object")));
        // The stream cannot be followed.
        for (bytes, says) in [
            (&b"not json\n"[..], "not a JSON object"),
            (
                b"{\"type\":\"x\",\"payload_length\":99999999}\n",
                "larger than",
            ),
            (b"{\"type\":\"x\",\"data_length\":-1}\n", "not a byte count"),
            (b"{\"type\":\"x\",\"payload_length\":10}\nabc", "cut short"),
            (b"{\"type\":\"x\"", "ended inside"),
        ] {
            let events = block(read_all(bytes));
            assert!(
                matches!(events.last().unwrap(), Err(ReadError::Fatal(m)) if m.contains(says)),
                "{:?}: {:?}",
                String::from_utf8_lossy(bytes),
                events.last()
            );
        }
    }

    #[test]
    fn a_header_line_is_read_no_further_than_its_bound() {
        let mut bytes = vec![b'{'; MAX_HEADER * 4];
        bytes.push(b'\n');
        let mut reader = BufReader::new(&bytes[..]);
        let e = block(read_event(&mut reader));
        assert!(matches!(e, Err(ReadError::Fatal(m)) if m.contains("longer than")));
        // What it read is the bound and one byte, not the whole line.
        let mut rest = Vec::new();
        block(reader.read_to_end(&mut rest)).unwrap();
        assert_eq!(rest.len(), bytes.len() - MAX_HEADER - 1);
    }

    #[test]
    fn endpoints_are_tcp_or_unix_uris() {
        assert_eq!(
            "tcp://127.0.0.1:10200".parse::<Endpoint>(),
            Ok(Endpoint::Tcp("127.0.0.1:10200".parse().unwrap()))
        );
        assert_eq!(
            "tcp://localhost:10200".parse::<Endpoint>(),
            Ok(Endpoint::Tcp("127.0.0.1:10200".parse().unwrap()))
        );
        assert_eq!(
            "unix:///run/kokoro.sock".parse::<Endpoint>(),
            Ok(Endpoint::Unix("/run/kokoro.sock".into()))
        );
        for bad in ["10200", "tcp://nowhere", "http://127.0.0.1:1", "unix://"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        assert_eq!(
            Endpoint::Tcp("[::1]:5".parse().unwrap()).to_string(),
            "tcp://[::1]:5"
        );
    }

    #[test]
    fn every_language_has_a_tag_that_reads_back_as_it() {
        for lang in Lang::ALL {
            assert_eq!(language_tag(lang).parse::<Lang>().unwrap(), lang);
        }
    }
}
