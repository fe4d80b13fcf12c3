//! An OpenAI-compatible speech server with a web page, on the `kokoro` engine.
//!
//! [`router`] gives an `axum` [`Router`] to mount or serve as you like;
//! [`serve`] listens and serves until Ctrl-C.
//!
//! - `POST /v1/audio/speech`: OpenAI's request shape (`input`, `voice`, blends
//!   and OpenAI's voice names included ([`OPENAI_VOICES`]), `response_format`,
//!   `speed`, `instructions` (ignored), `stream_format` `audio` or `sse`; and
//!   `lang`, not OpenAI's), audio streamed in order as chunks complete.
//! - `GET /v1/models`, `GET /v1/models/{id}`: the model names it answers to.
//! - `POST /v1/audio/speech/timed`: the same request, answered with the audio
//!   and each word's start, end and byte span in `input`, chunk by chunk, as
//!   lines of JSON (the native form).
//! - `POST /dev/captioned_speech`: Kokoro-FastAPI's shape of the same (base64
//!   audio and `timestamps` of `word`, `start_time`, `end_time`; one JSON
//!   object, or one line per chunk with `stream`), so that its clients work.
//! - `GET /v1/audio/voices`, `GET /health`, `GET /openapi.json`,
//!   `POST /v1/text/extract` (a document to chapters of text), and `GET /`, a
//!   page to try it, which highlights each word as it is spoken.
//!
//! Requests are validated on the async runtime and spoken each on a thread of
//! its own, never on a runtime thread. Requests in progress share the engine's
//! workers fairly, chunk by chunk, first come, first served, so a one-sentence
//! request is not stuck behind a book; each stream still arrives in order. A
//! client that goes away stops its synthesis at the next chunk. Requests in
//! progress are bounded: past the bound a request gets 429 at once. Every bad
//! request gets a 4xx with OpenAI's JSON error body. `GET /health` says how
//! many requests are in progress and how many model calls run and wait.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tts = kokoro::Tts::open(kokoro::Config::default())?;
//! let addr = "127.0.0.1:8880".parse()?;
//! kokoro_server::serve(addr, tts, kokoro_server::ServerOptions::default())?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod listen;
pub mod wyoming;

pub use listen::{shutdown_signal, Limits, GRACE};

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Request as HttpRequest, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kokoro::audio::{Dest, Format};
use kokoro::captions::{seconds, WordTime};
use kokoro::infer::VoiceSet;
use kokoro::text::ssml::Ssml;
use kokoro::{Lang, Request, SpeakOptions, Tts, VoiceInfo, Word};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Largest request body: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;
/// Largest document for `/v1/text/extract`: 64 MiB.
pub const MAX_DOCUMENT: usize = 64 << 20;
/// Most documents read at once by `/v1/text/extract`, counted from the
/// moment their body starts to arrive: each may hold its body, the parsed
/// document and what its streams inflate to (some hundreds of MiB at the
/// readers' bounds), so more are refused with 429 rather than queued.
pub const MAX_DOCUMENTS_AT_ONCE: usize = 2;
/// Longest `input`, in characters.
pub const MAX_INPUT_CHARS: usize = 100_000;

/// The most characters a book request's chapters may hold together (a long
/// novel: about 3 hours of audio).
pub const MAX_BOOK_CHARS: usize = 2_000_000;

/// The formats `POST /v1/audio/book` writes: whole files, an M4B's index
/// first (so they are made in full before they are sent).
pub const BOOK_FORMATS: [Format; 6] = [
    Format::M4b,
    Format::M4a,
    Format::Mp3,
    Format::Wav,
    Format::Flac,
    Format::Opus,
];

/// How the server is bounded and guarded.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Required on every endpoint but `/health` and the page, when set.
    pub api_key: Option<String>,
    /// Requests that may be in progress beside the first (they share the
    /// workers chunk by chunk); more get 429.
    pub queue: usize,
    /// The voice when a request names none.
    pub default_voice: String,
    /// Host names requests may be addressed to beside `localhost` and IP
    /// addresses (`*`: any). A page of another site can reach a server on
    /// this machine through a name of its own that resolves here (DNS
    /// rebinding); such a request names that site as its `Host` and is refused.
    pub allowed_hosts: Vec<String>,
    /// Origins whose web pages may call the API from a browser (`*`: any);
    /// none by default, so no CORS headers are sent.
    pub cors: Vec<String>,
    /// Time to receive a request's whole body.
    pub body_timeout: std::time::Duration,
    /// Open connections, time for a header, idle time ([`serve`] and [`serve_on`]).
    pub limits: Limits,
}

impl Default for ServerOptions {
    /// No key, 8 waiting requests, `af_heart`, no host names but `localhost`,
    /// no CORS, 30 s for a body, and [`Limits::default`].
    fn default() -> Self {
        Self {
            api_key: None,
            queue: 8,
            default_voice: "af_heart".into(),
            allowed_hosts: Vec::new(),
            cors: Vec::new(),
            body_timeout: std::time::Duration::from_secs(30),
            limits: Limits::default(),
        }
    }
}

/// Whether a request's `Host` header may be served: `localhost`, an IP
/// address (no name for DNS to rebind), or a name in `allowed` (`*`: any).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    // Without its port: `[::1]:8880`, `127.0.0.1:8880`, `name:8880`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':').map_or(host.as_str(), |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host.as_str()
            }
        })
    };
    let name = name.trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok()
        || allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('.').eq_ignore_ascii_case(name))
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(given: &[u8], key: &[u8]) -> bool {
    if given.len() != key.len() {
        return false;
    }
    given.iter().zip(key).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// What can stop the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A queue of 0: at least one request beside the first must be allowed.
    #[error("a queue of 0 is too small (at least 1 request beside the first)")]
    NoQueue,
    /// The async runtime could not start.
    #[error("cannot start the {what}: {source}")]
    Start {
        /// What.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The socket cannot be listened on.
    #[error("cannot listen on {at}: {source}")]
    ListenOn {
        /// Where.
        at: String,
        /// Why.
        source: std::io::Error,
    },
    /// An option out of its range.
    #[error("{0}")]
    Option(String),
}

/// One voice, as `GET /v1/audio/voices` lists it.
#[derive(Debug, Clone, Serialize)]
struct VoiceEntry {
    id: String,
    language: &'static str,
    gender: &'static str,
}

impl From<VoiceInfo> for VoiceEntry {
    fn from(v: VoiceInfo) -> Self {
        Self {
            language: v.lang_code(),
            gender: v.gender.as_str(),
            id: v.name,
        }
    }
}

struct AppState {
    engine: Tts,
    voice_list: Vec<VoiceEntry>,
    /// Requests in progress, and how many may be.
    in_progress: Arc<AtomicUsize>,
    limit: usize,
    /// Documents being received or read ([`MAX_DOCUMENTS_AT_ONCE`]).
    documents: Arc<AtomicUsize>,
    api_key: Option<String>,
    default_voice: String,
    allowed_hosts: Vec<String>,
    cors: Vec<String>,
    body_timeout: std::time::Duration,
    /// Each voice's preview, made on first request (MP3, a few tens of KiB;
    /// at most one per voice).
    previews: std::sync::Mutex<std::collections::HashMap<String, Bytes>>,
}

/// A request accepted for synthesis.
#[derive(Debug)]
struct Job {
    /// What is spoken, and what word spans point into: the input, or the
    /// text of its SSML.
    text: String,
    /// The input read as SSML, when it is.
    ssml: Option<Ssml>,
    options: SpeakOptions,
    format: Format,
    /// Server-sent events rather than the bare audio.
    sse: bool,
    /// What the request made doubtful (a voice reading another language).
    warnings: Vec<String>,
}

impl Job {
    /// Where each voice starts speaking: byte offsets into [`Job::text`]
    /// with the voice from there on (an SSML part's `<voice>`, else the
    /// request's).
    fn voices(&self) -> Vec<(usize, String)> {
        let Some(ssml) = &self.ssml else {
            return vec![(0, self.options.voice.clone())];
        };
        let mut at = 0;
        ssml.parts
            .iter()
            .map(|p| {
                let start = at;
                at += p.text.len();
                (
                    start,
                    p.voice
                        .clone()
                        .unwrap_or_else(|| self.options.voice.clone()),
                )
            })
            .collect()
    }

    fn speak_into(
        &self,
        engine: &Tts,
        sink: impl FnMut(&kokoro::Segment, &[f32]) -> Result<(), kokoro::SinkError>,
    ) -> Result<kokoro::Summary, kokoro::Error> {
        match &self.ssml {
            Some(ssml) => engine.speak_ssml_into(ssml, &self.options, sink),
            None => engine.speak_into(&self.text, &self.options, sink),
        }
    }
}

/// The request body of `POST /v1/audio/speech`, OpenAI's shape.
#[derive(Debug, Deserialize)]
struct SpeechRequest {
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<String>,
    input: String,
    #[serde(default)]
    voice: Option<String>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    speed: Option<f32>,
    /// Not OpenAI's: the language, when not the voice's.
    #[serde(default)]
    lang: Option<String>,
    /// OpenAI's guidance for the voice's tone: accepted, and ignored (Kokoro
    /// takes no instructions).
    #[serde(default)]
    #[allow(dead_code)]
    instructions: Option<String>,
    /// `audio` (the default): the encoded audio as it is made; `sse`:
    /// server-sent events, `speech.audio.delta` with base64 audio, then
    /// `speech.audio.done`.
    #[serde(default)]
    stream_format: Option<String>,
}

/// OpenAI's voices, each with the Kokoro voice that speaks for it: Kokoro
/// v1.0 has five of them by name; the others go to a voice of like register.
/// A Kokoro voice of the same name always wins.
pub const OPENAI_VOICES: [(&str, &str); 13] = [
    ("alloy", "af_alloy"),
    ("ash", "am_michael"),
    ("ballad", "bm_lewis"),
    ("cedar", "am_eric"),
    ("coral", "af_jessica"),
    ("echo", "am_echo"),
    ("fable", "bm_fable"),
    ("marin", "af_kore"),
    ("nova", "af_nova"),
    ("onyx", "am_onyx"),
    ("sage", "af_river"),
    ("shimmer", "af_sky"),
    ("verse", "am_liam"),
];

/// The model names `GET /v1/models` lists; every one speaks with Kokoro.
pub const MODELS: [&str; 4] = ["kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"];

/// The response formats OpenAI's API names, all of which the encoders write.
const RESPONSE_FORMATS: [Format; 6] = [
    Format::Mp3,
    Format::Wav,
    Format::Flac,
    Format::Opus,
    Format::Aac,
    Format::Pcm,
];

/// An error as OpenAI's API writes it.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
        }
    }

    fn param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": kind,
                "param": self.param,
                "code": self.status.as_u16(),
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The server's routes on `engine`.
pub fn router(engine: Tts, options: ServerOptions) -> Result<Router, Error> {
    if options.queue == 0 {
        return Err(Error::NoQueue);
    }
    let voice_list = engine.voices().into_iter().map(VoiceEntry::from).collect();
    let state = Arc::new(AppState {
        engine,
        voice_list,
        in_progress: Arc::new(AtomicUsize::new(0)),
        limit: options.queue + 1,
        documents: Arc::new(AtomicUsize::new(0)),
        api_key: options.api_key,
        default_voice: options.default_voice,
        allowed_hosts: options.allowed_hosts,
        cors: options.cors,
        body_timeout: options.body_timeout,
        previews: std::sync::Mutex::default(),
    });
    Ok(Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/audio/voices", get(list_voices))
        .route("/v1/audio/voices/{id}/preview", get(preview))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        .route("/v1/audio/speech", post(speech))
        .route("/v1/audio/speech/timed", post(timed_speech))
        .route("/v1/audio/book", post(book))
        .route("/dev/captioned_speech", post(captioned_speech))
        .route(
            "/v1/text/extract",
            post(extract).layer(DefaultBodyLimit::max(MAX_DOCUMENT)),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), read_body))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state))
}

/// Listens on `addr` and serves `app` (a [`router`], or your own) within
/// `limits` until `stop` completes, on the current async runtime.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    stop: impl std::future::Future<Output = ()>,
) {
    listen::serve(listener, app, limits, stop).await;
}

/// The whole body, read within the time allowed and the size of its
/// endpoint, before anything else looks at it: a client that sends slowly
/// gets 408 and is not waited for.
async fn read_body(
    State(state): State<Arc<AppState>>,
    request: HttpRequest,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let document = parts.uri.path() == "/v1/text/extract";
    // A document's slot is taken before its body is read, and held until it
    // has been read as text, even by a client gone before then (the reading
    // holds a share of it).
    if document {
        match Admitted::try_new(&state.documents, MAX_DOCUMENTS_AT_ONCE) {
            Some(slot) => {
                parts.extensions.insert(DocumentSlot {
                    _held: Arc::new(slot),
                });
            }
            None => {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "the server is reading as many documents as it may \
                         ({MAX_DOCUMENTS_AT_ONCE}); retry shortly"
                    ),
                )
                .into_response()
            }
        }
    }
    let limit = if document || parts.uri.path() == "/v1/audio/book" {
        MAX_DOCUMENT
    } else {
        MAX_BODY
    };
    let seconds = state.body_timeout.as_secs_f64();
    match tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {seconds} s"),
        )
        .into_response(),
        Ok(Err(_)) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {limit} bytes allowed here, or was cut short"
            ),
        )
        .into_response(),
        Ok(Ok(bytes)) => {
            next.run(HttpRequest::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// CORS for the origins given ([`ServerOptions::cors`]): their preflights are
/// answered, and their responses say they may read them. Others get no CORS
/// headers, so a browser keeps other sites' pages from reading the answers.
async fn cors(State(state): State<Arc<AppState>>, request: HttpRequest, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| {
            state
                .cors
                .iter()
                .any(|c| c == "*" || c.trim_end_matches('/').eq_ignore_ascii_case(o))
        })
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == axum::http::Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    response
}

/// Listens on `addr` and serves `engine` until SIGTERM, SIGINT or SIGHUP
/// ([`shutdown_signal`]), then stops as [`serve_until`] does (a second
/// signal ends the process at once); says where it listens on stderr
/// (`kokoro: listening on http://ADDR (LAYOUT)`).
pub fn serve(addr: SocketAddr, engine: Tts, options: ServerOptions) -> Result<(), Error> {
    serve_until(addr, engine, options, listen::stop_on_signals())
}

/// Listens on `addr` and serves `engine` until `stop` completes; then stops
/// accepting and gives the requests in progress `options.limits.grace` to
/// finish (a stream cut off then ends where it is).
pub fn serve_until(
    addr: SocketAddr,
    engine: Tts,
    options: ServerOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let described = engine.describe().to_string();
    let limits = options.limits;
    let app = router(engine, options)?;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })?;
        // Listen for the stop before saying we listen, so that a stop sent
        // as soon as we have said it is heard.
        let mut stop = Box::pin(stop);
        let stopped = armed(stop.as_mut()).await;
        eprintln!("kokoro: listening on http://{local} ({described})");
        serve_on(listener, app, limits, async move {
            if !stopped {
                stop.await;
            }
            eprintln!(
                "kokoro: stopping: no new connections; requests in progress have {} s to finish",
                limits.grace.as_secs_f64()
            );
        })
        .await;
        Ok(())
    })
}

/// Polls `stop` once, so that what it waits for is set up (signal handlers
/// installed): whether it is already done.
pub(crate) async fn armed<F: std::future::Future>(stop: std::pin::Pin<&mut F>) -> bool {
    let mut stop = stop;
    std::future::poll_fn(|cx| std::task::Poll::Ready(stop.as_mut().poll(cx).is_ready())).await
}

/// The servers' async runtime: two threads, for I/O only (speech is made on
/// threads of its own).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Start {
            what: "async runtime",
            source,
        })
}

/// The `Host` on every request (see [`ServerOptions::allowed_hosts`]); the API
/// key, when one is set, on every endpoint but the health check and the page
/// itself (which asks for the key and sends it).
async fn authorize(
    State(state): State<Arc<AppState>>,
    request: HttpRequest,
    next: Next,
) -> Response {
    if let Some(host) = request.headers().get(header::HOST) {
        let allowed = host
            .to_str()
            .is_ok_and(|h| host_allowed(h, &state.allowed_hosts));
        if !allowed {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server does not answer to the host {:?} (kokoro serve --allowed-host NAME allows it)",
                    String::from_utf8_lossy(host.as_bytes())
                ),
            )
            .into_response();
        }
    }
    let open = matches!(request.uri().path(), "/health" | "/");
    if let (Some(key), false) = (state.api_key.as_deref(), open) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g.as_bytes(), key.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "a valid API key is required (Authorization: Bearer KEY)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let load = state.engine.load();
    Json(serde_json::json!({
        "status": "ok",
        "requests": {
            "in_progress": state.in_progress.load(Ordering::SeqCst),
            "limit": state.limit,
        },
        "model_calls": { "running": load.running, "waiting": load.waiting },
    }))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint (see /openapi.json)",
    )
}

async fn list_voices(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "voices": state.voice_list }))
}

/// What a voice says when previewed: a short sentence in its own language.
fn preview_text(voice: &str) -> String {
    let name = voice.split('_').nth(1).unwrap_or(voice);
    let mut letters = name.chars();
    let name: String = letters
        .next()
        .map(|c| c.to_uppercase().chain(letters).collect())
        .unwrap_or_default();
    match kokoro::voice_lang(voice) {
        Some(kokoro::Lang::Es) => format!("Hola, soy {name}. Así suena mi voz."),
        Some(kokoro::Lang::Fr) => format!("Bonjour, je suis {name}. Voici ma voix."),
        Some(kokoro::Lang::Hi) => "नमस्ते, मेरी आवाज़ ऐसी है।".to_string(),
        Some(kokoro::Lang::It) => format!("Ciao, sono {name}. Questa è la mia voce."),
        Some(kokoro::Lang::PtBr) => format!("Olá, eu sou {name}. Esta é a minha voz."),
        Some(kokoro::Lang::Ja) => "こんにちは。これが私の声です。".to_string(),
        Some(kokoro::Lang::Cmn) => "你好，这是我的声音。".to_string(),
        _ => format!("Hello, I'm {name}. This is how I sound."),
    }
}

/// `GET /v1/audio/voices/{id}/preview`: the voice saying a short sentence in
/// its own language, as MP3. Made once per voice and kept, so that a second
/// play costs nothing (`X-Kokoro-Cache: hit`); browsers may keep it a day.
async fn preview(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let cached = |bytes: Bytes, how: &'static str| {
        (
            [
                (header::CONTENT_TYPE, "audio/mpeg"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
                (header::HeaderName::from_static("x-kokoro-cache"), how),
            ],
            bytes,
        )
            .into_response()
    };
    let kept = state
        .previews
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    if let Some(bytes) = kept {
        return Ok(cached(bytes, "hit"));
    }
    if !state.voice_list.iter().any(|v| v.id == id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no voice `{id}`: see /v1/audio/voices"),
        )
        .param("voice"));
    }
    let job = accept(
        &state,
        SpeechRequest {
            model: None,
            input: preview_text(&id),
            voice: Some(id.clone()),
            response_format: Some("mp3".into()),
            speed: None,
            lang: None,
            instructions: None,
            stream_format: None,
        },
    )?;
    let Some(admitted) = Admitted::try_new(&state.in_progress, state.limit) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "the server is speaking as many requests as it may; retry shortly",
        ));
    };
    let engine = state.engine.clone();
    let made = tokio::task::spawn_blocking(move || {
        let _admitted = admitted;
        let mut all = Vec::new();
        speak_timed(&engine, job, |audio, _| {
            all.extend_from_slice(audio);
            Ok(())
        })
        .map(|_| all)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let bytes = Bytes::from(made);
    state
        .previews
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, bytes.clone());
    Ok(cached(bytes, "miss"))
}

/// The JSON body, or the 4xx that says what is wrong with it.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    let Json(req) = body.map_err(|e| {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, e.body_text())
    })?;
    Ok(req)
}

/// What a request's thread sends: bytes for the client, or the error that ends them.
type Sender = mpsc::Sender<std::io::Result<Bytes>>;

/// Admits a request (or answers 429) and runs `work` on a thread of its own,
/// its output streamed to the client as `content_type`.
fn respond(
    state: &AppState,
    content_type: &'static str,
    work: impl FnOnce(&Tts, Sender) -> Result<(), kokoro::Error> + Send + 'static,
) -> Result<Response, ApiError> {
    let Some(admitted) = Admitted::try_new(&state.in_progress, state.limit) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "the server is speaking as many requests as it may; retry shortly",
        ));
    };
    let (out, rx) = mpsc::channel(8);
    let engine = state.engine.clone();
    std::thread::Builder::new()
        .name("kokoro-request".into())
        .spawn(move || {
            let _admitted = admitted;
            if out.is_closed() {
                return; // the client left before its turn
            }
            if let Err(e) = work(&engine, out.clone()) {
                let _ = out.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        })
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot start speaking: {e}"),
            )
        })?;
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn speech(
    State(state): State<Arc<AppState>>,
    req: Result<Json<SpeechRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let job = accept(&state, body(req)?)?;
    if job.sse {
        return respond(&state, "text/event-stream", move |engine, out| {
            speak_events(engine, job, out)
        });
    }
    respond(&state, job.format.mime_type(), move |engine, out| {
        speak(engine, job, out)
    })
}

/// `stream_format: "sse"`, as OpenAI streams speech: a `speech.audio.delta`
/// event per chunk (its encoded audio, base64), then `speech.audio.done`
/// with the usage (tokens are the input's characters and the audio's
/// samples: Kokoro has no tokens of OpenAI's kind).
fn speak_events(engine: &Tts, job: Job, out: Sender) -> Result<(), kokoro::Error> {
    let input_tokens = job.text.chars().count();
    let events = Messages(out);
    let samples = speak_timed(engine, job, |audio, _| {
        if audio.is_empty() {
            return Ok(());
        }
        events.event(
            &serde_json::json!({ "type": "speech.audio.delta", "audio": BASE64.encode(audio) }),
        )
    })?;
    events
        .event(&serde_json::json!({
            "type": "speech.audio.done",
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": samples,
                "total_tokens": input_tokens + samples,
            }
        }))
        .map_err(kokoro::Error::Sink)
}

/// `GET /v1/models`: the model names requests may give.
async fn list_models() -> Json<serde_json::Value> {
    let data: Vec<serde_json::Value> = MODELS.iter().map(|m| model_entry(m)).collect();
    Json(serde_json::json!({ "object": "list", "data": data }))
}

/// `GET /v1/models/{id}`.
async fn get_model(Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    MODELS
        .iter()
        .find(|m| **m == id)
        .map(|m| Json(model_entry(m)))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("the model `{id}` does not exist (see /v1/models)"),
            )
            .param("model")
        })
}

fn model_entry(id: &str) -> serde_json::Value {
    serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": "kokoro" })
}

/// The request body of `POST /dev/captioned_speech`: OpenAI's, and
/// Kokoro-FastAPI's additions (those that change nothing here are accepted
/// and ignored).
#[derive(Debug, Deserialize)]
struct CaptionedRequest {
    #[serde(flatten)]
    speech: SpeechRequest,
    /// One line of JSON per chunk (the default), or one object at the end.
    #[serde(default)]
    stream: Option<bool>,
    /// Words and their times (the default), or none.
    #[serde(default)]
    return_timestamps: Option<bool>,
    /// Kokoro-FastAPI's name for the language (`a`, `b`, `e`... or a code).
    #[serde(default)]
    lang_code: Option<String>,
}

/// The engine's words must be timed for these endpoints.
fn require_timing(engine: &Tts) -> Result<(), ApiError> {
    if engine.timed() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "word timings are unavailable: the model gives no durations",
        ))
    }
}

/// `POST /v1/audio/speech/timed`: the native form. Lines of JSON, one per
/// chunk as it is made: `{"audio": BASE64, "words": [{"word", "start",
/// "end", "span": [BYTE, BYTE]}]}` (times in seconds from the start, spans
/// into `input`), then `{"done": true, "audio_seconds": S}`.
async fn timed_speech(
    State(state): State<Arc<AppState>>,
    req: Result<Json<SpeechRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_timing(&state.engine)?;
    let job = accept(&state, body(req)?)?;
    respond(&state, "application/x-ndjson", move |engine, out| {
        let text = job.text.clone();
        let voices = job.voices();
        let lines = Messages(out);
        let mut all: Vec<Word> = Vec::new();
        let samples = speak_segments(engine, job, |audio, segment| {
            let words: Vec<WordTime> = segment
                .words
                .iter()
                .map(|w| WordTime::of(w, &text, 0, None))
                .collect();
            all.extend_from_slice(&segment.words);
            let voice = voices
                .iter()
                .rev()
                .find(|(start, _)| *start <= segment.span.start)
                .map(|(_, v)| v.as_str());
            lines.line(&serde_json::json!({
                "audio": BASE64.encode(audio),
                "words": words,
                "voice": voice,
            }))
        })?;
        let cues =
            kokoro::captions::cues(&text, &all, &kokoro::captions::CaptionOptions::default());
        lines
            .line(&serde_json::json!({
                "done": true,
                "audio_seconds": seconds(samples),
                "srt": kokoro::captions::srt(&cues),
                "vtt": kokoro::captions::vtt(&cues),
            }))
            .map_err(kokoro::Error::Sink)?;
        Ok(())
    })
}

/// The request body of `POST /v1/audio/book`.
#[derive(Debug, Deserialize)]
struct BookRequest {
    chapters: Vec<BookChapter>,
    #[serde(default)]
    voice: Option<String>,
    #[serde(default)]
    speed: Option<f32>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    response_format: Option<String>,
}

/// A chapter of a book request.
#[derive(Debug, Deserialize)]
struct BookChapter {
    #[serde(default)]
    title: String,
    text: String,
}

/// `POST /v1/audio/book`: chapters spoken into one file through the
/// library's book pipeline (M4B by default: chapter marks, title, author,
/// narrator). The answer is lines of JSON: `{"progress", "audio_seconds",
/// "label", "left"}` as the work goes, then the file in pieces (`{"audio":
/// BASE64}`, at most 1 MiB each; concatenated they make the file), then
/// `{"done": true, "audio_seconds", "chapters", "format"}`. A client that
/// leaves stops the work at its next chunk.
async fn book(
    State(state): State<Arc<AppState>>,
    req: Result<Json<BookRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req)?;
    let bad = |message: String, param: &'static str| {
        ApiError::new(StatusCode::BAD_REQUEST, message).param(param)
    };
    if req.chapters.iter().all(|c| c.text.trim().is_empty()) {
        return Err(bad(
            "`chapters` hold no text: nothing to speak".into(),
            "chapters",
        ));
    }
    let chars: usize = req.chapters.iter().map(|c| c.text.chars().count()).sum();
    if chars > MAX_BOOK_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the chapters have {chars} characters; the limit is {MAX_BOOK_CHARS}"),
        )
        .param("chapters"));
    }
    let format = response_format(
        req.response_format.as_deref().unwrap_or("m4b"),
        &BOOK_FORMATS,
        " for books",
    )?;
    let prepared = checked(
        Asked {
            voice: req.voice,
            speed: req.speed,
            lang: req.lang.as_deref(),
        },
        None,
        state.engine.voice_set(),
        &state.default_voice,
    )?;
    state.engine.warn(&prepared.warnings);
    let mut book = kokoro::book::Book::from_chapters(
        req.chapters
            .iter()
            .filter(|c| !c.text.trim().is_empty())
            .map(|c| (c.title.as_str(), c.text.as_str())),
    );
    book.title = req.title;
    book.author = req.author;
    respond(&state, "application/x-ndjson", move |engine, out| {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (told, halt) = (Messages(out.clone()), stop.clone());
        let on_event: kokoro::book::EventFn = Arc::new(move |e: &kokoro::book::Event| {
            if let kokoro::book::Event::Progress {
                fraction,
                audio_seconds,
                label,
                left,
            } = e
            {
                let line = serde_json::json!({
                    "progress": fraction,
                    "audio_seconds": audio_seconds,
                    "label": label,
                    "left": left.map(|d| d.as_secs_f64()),
                });
                if told.line(&line).is_err() {
                    halt.store(true, Ordering::SeqCst);
                }
            }
        });
        let options = kokoro::book::BookOptions {
            narrator: Some(prepared.options.voice.clone()),
            speak: SpeakOptions {
                cancel: Some(stop),
                ..prepared.options
            },
            on_event: Some(on_event),
            ..kokoro::book::BookOptions::new(format)
        };
        let dir = tempfile::tempdir().map_err(|e| kokoro::Error::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
        let path = dir.path().join(format!("book.{}", format.extension()));
        let done =
            kokoro::book::speak_book(engine, &book, &options, kokoro::book::Output::file(&path))?;
        let lines = Messages(out);
        let mut file = std::fs::File::open(&path).map_err(|e| kokoro::Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let mut piece = vec![0; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut piece).map_err(|e| kokoro::Error::Io {
                path: path.clone(),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            lines
                .line(&serde_json::json!({ "audio": BASE64.encode(&piece[..n]) }))
                .map_err(kokoro::Error::Sink)?;
        }
        lines
            .line(&serde_json::json!({
                "done": true,
                "audio_seconds": done.audio_seconds,
                "chapters": done.chapters,
                "format": format.extension(),
            }))
            .map_err(kokoro::Error::Sink)?;
        Ok(())
    })
}

/// `POST /dev/captioned_speech`, Kokoro-FastAPI's shape: with `stream` (the
/// default) one line of JSON per chunk, `{"audio": BASE64, "audio_format":
/// MIME, "timestamps": [{"word", "start_time", "end_time"}]}`, the last one
/// carrying what the encoder held back; without, one such object for the
/// whole text. Times are seconds from the start of the audio.
async fn captioned_speech(
    State(state): State<Arc<AppState>>,
    req: Result<Json<CaptionedRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_timing(&state.engine)?;
    let mut req = body(req)?;
    if req.speech.lang.is_none() {
        req.speech.lang = req.lang_code.take();
    }
    let (stream, with_words) = (
        req.stream.unwrap_or(true),
        req.return_timestamps.unwrap_or(true),
    );
    let job = accept(&state, req.speech)?;
    let mime = job.format.mime_type();
    respond(&state, "application/json", move |engine, out| {
        let text = job.text.clone();
        let stamps = |words: &[Word]| -> serde_json::Value {
            if !with_words {
                return serde_json::Value::Null;
            }
            words
                .iter()
                .map(|w| {
                    serde_json::json!({
                        "word": w.text(&text),
                        "start_time": seconds(w.samples.start),
                        "end_time": seconds(w.samples.end),
                    })
                })
                .collect()
        };
        let message = |audio: &[u8], words: &[Word]| {
            serde_json::json!({
                "audio": BASE64.encode(audio),
                "audio_format": mime,
                "timestamps": stamps(words),
            })
        };
        let lines = Messages(out);
        if stream {
            speak_timed(engine, job, |audio, words| {
                lines.line(&message(audio, words))
            })?;
        } else {
            let (mut all, mut timed) = (Vec::new(), Vec::new());
            speak_timed(engine, job, |audio, words| {
                all.extend_from_slice(audio);
                timed.extend_from_slice(words);
                Ok(())
            })?;
            lines
                .line(&message(&all, &timed))
                .map_err(kokoro::Error::Sink)?;
        }
        Ok(())
    })
}

/// Sends JSON values to the client, each framed; fails once the client has gone.
struct Messages(Sender);

impl Messages {
    /// One value as a line of JSON.
    fn line(&self, value: &serde_json::Value) -> Result<(), kokoro::SinkError> {
        self.framed(b"", value, b"\n")
    }

    /// One value as a server-sent event.
    fn event(&self, value: &serde_json::Value) -> Result<(), kokoro::SinkError> {
        self.framed(b"data: ", value, b"\n\n")
    }

    fn framed(
        &self,
        before: &[u8],
        value: &serde_json::Value,
        after: &[u8],
    ) -> Result<(), kokoro::SinkError> {
        let mut bytes = before.to_vec();
        serde_json::to_writer(&mut bytes, value)?;
        bytes.extend_from_slice(after);
        self.0
            .blocking_send(Ok(Bytes::from(bytes)))
            .map_err(|_| "the client went away".into())
    }
}

/// Speaks `job`, handing each chunk's encoded bytes and timed words to
/// `chunk` as they are made (the last call has the bytes the encoder held
/// back, and no words); returns the samples spoken.
fn speak_timed(
    engine: &Tts,
    job: Job,
    mut chunk: impl FnMut(&[u8], &[Word]) -> Result<(), kokoro::SinkError>,
) -> Result<usize, kokoro::Error> {
    speak_segments(engine, job, |audio, segment| chunk(audio, &segment.words))
}

/// [`speak_timed`] with each chunk's whole segment (its span, for the voice
/// that spoke it); the last call, for what the encoder held back, has an
/// empty segment.
fn speak_segments(
    engine: &Tts,
    job: Job,
    mut chunk: impl FnMut(&[u8], &kokoro::Segment) -> Result<(), kokoro::SinkError>,
) -> Result<usize, kokoro::Error> {
    let buffer = SharedBuffer::default();
    let mut encoder = kokoro::audio::encoder(job.format, Dest::writer(buffer.clone()))?;
    let mut samples = 0;
    job.speak_into(engine, |segment, audio| {
        encoder.write(audio)?;
        samples = segment.samples.end;
        chunk(&buffer.take(), segment)
    })?;
    encoder.finish()?.commit()?;
    let end = kokoro::Segment {
        index: usize::MAX,
        span: 0..0,
        samples: samples..samples,
        words: Vec::new(),
        phonemes: String::new(),
    };
    chunk(&buffer.take(), &end).map_err(kokoro::Error::Sink)?;
    Ok(samples)
}

/// Bytes written by an encoder, taken out chunk by chunk.
#[derive(Debug, Clone, Default)]
struct SharedBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `name` as one of `allowed`, or the 400 that lists them (`what`: the
/// endpoint, in words, after "not supported").
fn response_format(name: &str, allowed: &[Format], what: &str) -> Result<Format, ApiError> {
    name.parse::<Format>()
        .ok()
        .filter(|f| allowed.contains(f))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|f| f.extension()).collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "`response_format` `{name}` is not supported{what} ({})",
                    names.join(", ")
                ),
            )
            .param("response_format")
        })
}

/// A request's voice, speed and language as it came.
struct Asked<'a> {
    voice: Option<String>,
    speed: Option<f32>,
    lang: Option<&'a str>,
}

/// The voice, speed and language of a request made into work by
/// [`Request::check`], the one place they are checked; the 400 naming the
/// parameter at fault.
fn checked(
    asked: Asked<'_>,
    ssml: Option<&Ssml>,
    voices: &VoiceSet,
    default_voice: &str,
) -> Result<kokoro::Prepared, ApiError> {
    let bad = |message: String, param: &'static str| {
        ApiError::new(StatusCode::BAD_REQUEST, message).param(param)
    };
    let speed =
        kokoro::check_speed(asked.speed.unwrap_or(1.0)).map_err(|e| bad(e.to_string(), "speed"))?;
    let lang = match asked.lang {
        Some(code) => Some(
            code.parse::<Lang>()
                .map_err(|e| bad(e.to_string(), "lang"))?,
        ),
        None => None,
    };
    let request = Request {
        voice: asked.voice.unwrap_or_else(|| default_voice.to_string()),
        speed,
        lang,
        aliases: &OPENAI_VOICES,
    };
    request
        .check(voices, ssml)
        .map_err(|e| bad(e.to_string(), "voice"))
}

/// A speech request checked against the limits and the voices: the job to
/// queue, or the 4xx to answer.
fn validate(req: SpeechRequest, voices: &VoiceSet, default_voice: &str) -> Result<Job, ApiError> {
    let bad = |message: String, param: &'static str| {
        ApiError::new(StatusCode::BAD_REQUEST, message).param(param)
    };
    if req.input.trim().is_empty() {
        return Err(bad("`input` is empty: nothing to speak".into(), "input"));
    }
    let chars = req.input.chars().count();
    if chars > MAX_INPUT_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("`input` has {chars} characters; the limit is {MAX_INPUT_CHARS}"),
        )
        .param("input"));
    }
    let format = response_format(
        req.response_format.as_deref().unwrap_or("mp3"),
        &RESPONSE_FORMATS,
        "",
    )?;
    let sse = match req.stream_format.as_deref() {
        None | Some("audio") => false,
        Some("sse") => true,
        Some(other) => {
            return Err(bad(
                format!("`stream_format` `{other}` is not supported (audio, sse)"),
                "stream_format",
            ))
        }
    };
    // SSML, when the input opens with `<speak>`.
    let ssml = if kokoro::text::ssml::looks_like_ssml(&req.input) {
        let ssml = Ssml::parse(&req.input).map_err(|e| bad(e.to_string(), "input"))?;
        if ssml.text().trim().is_empty() {
            return Err(bad(
                "the SSML has no text: nothing to speak".into(),
                "input",
            ));
        }
        kokoro::request::check_ssml_voices(voices, &ssml)
            .map_err(|e| bad(format!("SSML <voice>: {e}"), "input"))?;
        Some(ssml)
    } else {
        None
    };
    let prepared = checked(
        Asked {
            voice: req.voice,
            speed: req.speed,
            lang: req.lang.as_deref(),
        },
        ssml.as_ref(),
        voices,
        default_voice,
    )?;
    Ok(Job {
        text: ssml.as_ref().map_or(req.input, Ssml::text),
        ssml,
        options: SpeakOptions {
            streaming: true,
            ..prepared.options
        },
        format,
        sse,
        warnings: prepared.warnings,
    })
}

/// A request made into a job, its doubts told as the engine's warnings.
fn accept(state: &AppState, req: SpeechRequest) -> Result<Job, ApiError> {
    let job = validate(req, state.engine.voice_set(), &state.default_voice)?;
    state.engine.warn(&job.warnings);
    Ok(job)
}

/// `POST /v1/text/extract`: a document's chapters as text (for the page's
/// file drop), read as the command reads its input.
async fn extract(
    slot: Option<axum::Extension<DocumentSlot>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let format = kokoro::text::document::InputFormat::sniff(&body);
    let doc = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        kokoro::text::document::read(
            &body,
            format,
            kokoro::text::document::ReadOptions::default(),
        )
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let chapters: Vec<_> = doc
        .chapters
        .iter()
        .map(|c| serde_json::json!({ "title": c.title, "text": c.text }))
        .collect();
    Ok(Json(
        serde_json::json!({ "chapters": chapters, "warnings": doc.warnings }),
    ))
}

/// Sends encoded bytes to the client; fails once the client has gone.
struct ChannelWriter(Sender);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A document's slot ([`MAX_DOCUMENTS_AT_ONCE`]), shared by the request and
/// the reading of its document: free when both are done.
#[derive(Clone)]
struct DocumentSlot {
    _held: Arc<Admitted>,
}

/// Work counted as in progress until dropped.
struct Admitted(Arc<AtomicUsize>);

impl Admitted {
    /// Counts one more in `in_progress`, unless `limit` are already there.
    fn try_new(in_progress: &Arc<AtomicUsize>, limit: usize) -> Option<Self> {
        if in_progress.fetch_add(1, Ordering::SeqCst) >= limit {
            in_progress.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(in_progress.clone()))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn speak(engine: &Tts, job: Job, out: Sender) -> Result<(), kokoro::Error> {
    let mut encoder = kokoro::audio::encoder(job.format, Dest::writer(ChannelWriter(out)))?;
    job.speak_into(engine, |_, samples| Ok(encoder.write(samples)?))?;
    encoder.finish()?.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voice set of silent voices, as files on disk.
    fn voices() -> (tempfile::TempDir, VoiceSet) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["af_heart", "ef_dora", "af_nova", "nova"] {
            std::fs::write(dir.path().join(format!("{name}.bin")), vec![0u8; 522_240]).unwrap();
        }
        let set = VoiceSet::open(dir.path()).unwrap();
        (dir, set)
    }

    fn request(json: &str) -> SpeechRequest {
        serde_json::from_str(json).unwrap()
    }

    #[track_caller]
    fn refused(json: &str, status: u16, param: Option<&str>, says: &str) {
        let (_dir, voices) = voices();
        let e = validate(request(json), &voices, "af_heart").unwrap_err();
        assert_eq!(e.status.as_u16(), status, "{}", e.message);
        assert_eq!(e.param, param, "{}", e.message);
        assert!(e.message.contains(says), "{}", e.message);
    }

    #[test]
    fn a_valid_request_becomes_a_streaming_job() {
        let (_dir, voices) = voices();
        let job = validate(
            request(r#"{"model":"tts-1","input":"Hola.","voice":"ef_dora","response_format":"flac","speed":1.5}"#),
            &voices,
            "af_heart",
        )
        .unwrap();
        assert_eq!(job.format, Format::Flac);
        assert_eq!(job.options.voice, "ef_dora");
        assert_eq!(job.options.speed, 1.5);
        assert!(job.options.streaming);
        assert_eq!(job.options.lang, Some(Lang::Es), "the voice's language");
        assert!(job.warnings.is_empty());
        let job = validate(request(r#"{"input":"Hi."}"#), &voices, "af_heart").unwrap();
        assert_eq!(
            (job.format, job.options.voice.as_str()),
            (Format::Mp3, "af_heart")
        );
    }

    #[test]
    fn bad_requests_name_the_parameter() {
        refused(r#"{"input":"  "}"#, 400, Some("input"), "empty");
        refused(
            r#"{"input":"Hi.","speed":0.1}"#,
            400,
            Some("speed"),
            "out of range (0.5 to 2.0)",
        );
        refused(
            r#"{"input":"Hi.","response_format":"m4b"}"#,
            400,
            Some("response_format"),
            "mp3, wav, flac, opus, aac, pcm",
        );
        refused(
            r#"{"input":"Hi.","response_format":"wav-float"}"#,
            400,
            Some("response_format"),
            "not supported",
        );
        refused(
            r#"{"input":"Hi.","voice":"af_hart"}"#,
            400,
            Some("voice"),
            "af_heart",
        );
        refused(
            r#"{"input":"Hi.","voice":"af_heart:x"}"#,
            400,
            Some("voice"),
            "blend",
        );
        refused(
            r#"{"input":"Hi.","lang":"xx"}"#,
            400,
            Some("lang"),
            "unknown language",
        );
        let long = format!(r#"{{"input":"{}"}}"#, "a".repeat(MAX_INPUT_CHARS + 1));
        refused(&long, 413, Some("input"), "limit");
    }

    #[test]
    fn openais_voice_names_instructions_and_event_streams() {
        let (_dir, voices) = voices();
        let job = validate(
            request(
                r#"{"input":"Hi.","voice":"shimmer","instructions":"Speak cheerfully.","stream_format":"sse"}"#,
            ),
            &voices,
            "af_heart",
        );
        // "shimmer" is af_sky, which this voice set lacks: the error names the voice.
        assert!(job.unwrap_err().message.contains("af_sky"));
        let job = validate(
            request(r#"{"input":"Hi.","voice":"Nova ","stream_format":"sse"}"#),
            &voices,
            "af_heart",
        )
        .unwrap();
        assert_eq!(job.options.voice, "af_nova");
        assert!(job.sse);
        // A Kokoro voice of the name wins over the mapping.
        let job = validate(
            request(r#"{"input":"Hi.","voice":"nova"}"#),
            &voices,
            "af_heart",
        )
        .unwrap();
        assert_eq!(job.options.voice, "nova");
        assert!(!job.sse);
        refused(
            r#"{"input":"Hi.","stream_format":"chunks"}"#,
            400,
            Some("stream_format"),
            "audio, sse",
        );
        assert!(OPENAI_VOICES
            .iter()
            .all(|(_, k)| k.len() > 3 && k.as_bytes()[2] == b'_'));
    }

    #[test]
    fn only_loopback_names_addresses_and_allowed_hosts_are_served() {
        let none: Vec<String> = Vec::new();
        for ok in [
            "localhost",
            "localhost:8880",
            "127.0.0.1:8880",
            "[::1]:8880",
            "10.0.0.7",
            "LOCALHOST.",
            "app.localhost",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8880",
            "localhost.evil.example",
            "[evil]:80",
            "",
        ] {
            assert!(!host_allowed(refused, &none), "{refused}");
        }
        let allowed = vec!["tts.lan".to_string()];
        assert!(host_allowed("TTS.lan:8880", &allowed));
        assert!(!host_allowed("other.lan", &allowed));
        assert!(host_allowed("anything", &["*".to_string()]));
    }

    #[test]
    fn secrets_are_compared_whole() {
        assert!(same_secret(b"sesame", b"sesame"));
        assert!(!same_secret(b"sesamE", b"sesame"));
        assert!(!same_secret(b"sesam", b"sesame"));
        assert!(!same_secret(b"", b"sesame"));
    }

    #[test]
    fn a_blend_and_a_language_are_accepted() {
        let (_dir, voices) = voices();
        let job = validate(
            request(r#"{"input":"Hi.","voice":"af_heart:60,ef_dora:40","lang":"en-gb"}"#),
            &voices,
            "af_heart",
        )
        .unwrap();
        assert_eq!(job.options.lang, Some(Lang::EnGb));
        // A Spanish voice reading English: spoken, with the one warning.
        let job = validate(
            request(r#"{"input":"Hi.","voice":"ef_dora","lang":"en-us"}"#),
            &voices,
            "af_heart",
        )
        .unwrap();
        assert!(
            job.warnings[0].contains("expect an accent"),
            "{:?}",
            job.warnings
        );
        let aac = validate(
            request(r#"{"input":"Hi.","response_format":"aac"}"#),
            &voices,
            "af_heart",
        );
        assert_eq!(aac.unwrap().format, Format::Aac);
    }
}
