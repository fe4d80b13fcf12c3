//! `kokoro serve` (feature `server`): an OpenAI-compatible speech server with a
//! web page, on the same front end, scheduler and encoders as the command.
//!
//! Requests are validated on the async runtime and queued to one synthesis
//! thread, which owns the sessions (through the scheduler) and never runs on a
//! runtime thread. Audio is encoded as chunks complete and streamed to the
//! client in order; a client that goes away stops its synthesis at the next
//! chunk. The queue is bounded: when it is full, a request gets 429 at once.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request as HttpRequest, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kokoro_infer::{Joiner, Voice, VoiceSet};
use kokoro_sched::{Audio, Control, Request, Scheduler, SinkError};
use kokoro_text::{ChunkOptions, Frontend, G2p, Lang, Lexicon, OovFallback};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::output::{self, Dest, Format};

/// Largest request body: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;
/// Largest document for `/v1/text/extract`: 64 MiB.
pub const MAX_DOCUMENT: usize = 64 << 20;
/// Longest `input`, in characters.
pub const MAX_INPUT_CHARS: usize = 100_000;

/// How the server is reached and bounded.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (127.0.0.1 unless told otherwise).
    pub addr: SocketAddr,
    /// Required on every endpoint but `/health`, when set.
    pub api_key: Option<String>,
    /// Requests that may wait for synthesis; more get 429.
    pub queue: usize,
    /// The voice when a request names none.
    pub default_voice: String,
}

/// What the synthesis thread needs to start.
pub struct Engine {
    /// The worker layout of the sessions.
    pub layout: kokoro_sched::Layout,
    /// The model file.
    pub model: std::path::PathBuf,
    /// Out-of-lexicon fallback and non-English G2P.
    pub fallback: Arc<dyn OovFallback>,
    /// The user's lexicon.
    pub lexicon: Lexicon,
}

/// One voice, as `GET /v1/audio/voices` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct VoiceInfo {
    /// The voice's name (`af_heart`).
    pub id: String,
    /// Its language code (`en-us`).
    pub language: &'static str,
    /// `female` or `male`.
    pub gender: &'static str,
}

struct AppState {
    voices: Arc<VoiceSet>,
    voice_list: Vec<VoiceInfo>,
    jobs: SyncSender<Job>,
    api_key: Option<String>,
    default_voice: String,
}

/// A request accepted for synthesis.
struct Job {
    text: String,
    voice: Voice,
    lang: Lang,
    speed: f32,
    format: Format,
    out: mpsc::Sender<std::io::Result<Bytes>>,
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
}

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

/// Runs the server until Ctrl-C.
pub fn serve(opts: ServeOptions, engine: Engine, voices: VoiceSet) -> Result<()> {
    let voice_list = voices
        .names()
        .iter()
        .map(|id| VoiceInfo {
            language: crate::run::voice_language(id),
            gender: crate::run::voice_gender(id),
            id: id.to_string(),
        })
        .collect();
    let (jobs, queue) = sync_channel::<Job>(opts.queue);
    // The sessions are made on the thread that uses them; the server starts
    // listening once they are loaded.
    let (ready_tx, ready) = sync_channel::<Result<String, String>>(1);
    std::thread::Builder::new()
        .name("kokoro-synthesis".into())
        .spawn(move || {
            let built = engine
                .layout
                .build(|o| kokoro_infer::KokoroSession::open(&engine.model, o));
            match built {
                Ok(scheduler) => {
                    let _ = ready_tx.send(Ok(scheduler.describe()));
                    synthesis_thread(scheduler, engine.fallback, engine.lexicon, queue);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            }
        })
        .context("cannot start the synthesis thread")?;
    let described = ready
        .recv()
        .context("the synthesis thread stopped")?
        .map_err(|e| anyhow::anyhow!(e))?;
    let state = Arc::new(AppState {
        voices: Arc::new(voices),
        voice_list,
        jobs,
        api_key: opts.api_key.clone(),
        default_voice: opts.default_voice.clone(),
    });
    let app = router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .with_context(|| format!("cannot listen on {}", opts.addr))?;
        let local = listener.local_addr()?;
        eprintln!("kokoro: listening on http://{local} ({described})");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("server failed")
    })
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/audio/voices", get(voices))
        .route("/v1/audio/speech", post(speech))
        .route(
            "/v1/text/extract",
            post(extract).layer(DefaultBodyLimit::max(MAX_DOCUMENT)),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The API key, when one is set, on every endpoint but the health check and
/// the page itself (which asks for the key and sends it).
async fn authorize(
    State(state): State<Arc<AppState>>,
    request: HttpRequest,
    next: Next,
) -> Response {
    let open = matches!(request.uri().path(), "/health" | "/");
    if let (Some(key), false) = (state.api_key.as_deref(), open) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(key) {
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

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
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

async fn voices(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "voices": state.voice_list }))
}

async fn speech(
    State(state): State<Arc<AppState>>,
    body: Result<Json<SpeechRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, e.body_text())
    })?;
    if req.input.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`input` is empty: nothing to speak",
        )
        .param("input"));
    }
    let chars = req.input.chars().count();
    if chars > MAX_INPUT_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("`input` has {chars} characters; the limit is {MAX_INPUT_CHARS}"),
        )
        .param("input"));
    }
    let speed = req.speed.unwrap_or(1.0);
    if !(0.5..=2.0).contains(&speed) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`speed` {speed} is out of range (0.5 to 2.0)"),
        )
        .param("speed"));
    }
    let format = match req.response_format.as_deref().unwrap_or("mp3") {
        "mp3" => Format::Mp3,
        "wav" => Format::Wav,
        "flac" => Format::Flac,
        "opus" => Format::Opus,
        "pcm" => Format::Pcm,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`response_format` `{other}` is not supported (mp3, wav, flac, opus, pcm)"),
            )
            .param("response_format"))
        }
    };
    let spec = req.voice.unwrap_or_else(|| state.default_voice.clone());
    let voice = state
        .voices
        .resolve(&spec)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).param("voice"))?;
    let lang = match req.lang.as_deref() {
        Some(code) => code
            .parse::<Lang>()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).param("lang"))?,
        None => {
            let first = spec.split([',', ':']).next().unwrap_or_default().trim();
            Lang::from_voice(first).unwrap_or(Lang::EnUs)
        }
    };
    let (out, rx) = mpsc::channel(8);
    let job = Job {
        text: req.input,
        voice,
        lang,
        speed,
        format,
        out,
    };
    match state.jobs.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "the synthesis queue is full; retry shortly",
            ))
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the synthesis thread has stopped",
            ))
        }
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [(header::CONTENT_TYPE, content_type(format))],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /v1/text/extract`: a document's chapters as text (for the page's
/// file drop), read as the command reads its input.
async fn extract(body: Bytes) -> Result<Json<serde_json::Value>, ApiError> {
    let format = kokoro_text::document::InputFormat::sniff(&body);
    let doc = tokio::task::spawn_blocking(move || {
        kokoro_text::document::read(&body, format, kokoro_text::document::ReadOptions::default())
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

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Mp3 => "audio/mpeg",
        Format::Wav | Format::WavFloat => "audio/wav",
        Format::Flac => "audio/flac",
        Format::Opus => "audio/ogg",
        Format::Pcm => "audio/L16;rate=24000;channels=1",
    }
}

/// Sends encoded bytes to the client; fails once the client has gone.
struct ChannelWriter(mpsc::Sender<std::io::Result<Bytes>>);

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

/// Takes jobs one at a time; each runs the scheduler (which may use every core).
fn synthesis_thread(
    mut scheduler: Box<dyn Scheduler>,
    fallback: Arc<dyn OovFallback>,
    lexicon: Lexicon,
    queue: std::sync::mpsc::Receiver<Job>,
) {
    let mut frontends: HashMap<Lang, Frontend> = HashMap::new();
    while let Ok(job) = queue.recv() {
        if job.out.is_closed() {
            continue; // the client left while it waited
        }
        let frontend = match frontends.entry(job.lang) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match G2p::new(job.lang, fallback.clone()) {
                    Ok(g2p) => e.insert(Frontend::new(g2p.with_lexicon(lexicon.clone()))),
                    Err(err) => {
                        let _ = job
                            .out
                            .blocking_send(Err(std::io::Error::other(err.to_string())));
                        continue;
                    }
                }
            }
        };
        let out = job.out.clone();
        if let Err(e) = speak(scheduler.as_mut(), frontend, job) {
            let _ = out.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    }
}

fn speak(scheduler: &mut dyn Scheduler, frontend: &Frontend, job: Job) -> Result<()> {
    let mut encoder = output::encoder(job.format, Dest::writer(Box::new(ChannelWriter(job.out))))?;
    let request = Request {
        text: &job.text,
        voice: &job.voice,
        speed: job.speed,
    };
    let mut chunks = frontend.chunks(&job.text, ChunkOptions::streaming());
    let mut joiner = Joiner::raw();
    let mut joined = Vec::new();
    let mut sink = |audio: Audio| -> Result<(), SinkError> {
        joined.clear();
        joiner.push(&audio.samples, audio.boundary(), &mut joined);
        Ok(encoder.write(&joined)?)
    };
    scheduler.run(&request, &mut chunks, &mut sink, &Control::default())?;
    encoder.finish()?.commit()?;
    Ok(())
}
