//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

/// Text in, natural speech out, with the Kokoro-82M model.
///
/// On first use the ONNX Runtime library, the model and the voices are fetched
/// into the per-user cache and verified; later runs work offline.
#[derive(Debug, Parser)]
#[command(
    name = "kokoro",
    version,
    about,
    after_help = "Examples:\n  kokoro input.txt output.wav\n  kokoro --text \"Hello there.\" hello.wav --voice \"af_sarah:60,am_adam:40\"\n  cat book.txt | kokoro - - > book.wav\n  kokoro book.epub --list-chapters\n  kokoro book.epub book.m4b\n  kokoro book.epub read-along.epub\n  kokoro book.epub --split-output book/ --format mp3 --chapters 3-7"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// File to read (text, Markdown, HTML, EPUB or PDF), or `-` for standard input.
    pub input: Option<PathBuf>,
    /// Audio file to write (.wav, .flac, .mp3, .opus, .m4b, .m4a, .aac, .pcm),
    /// or `-` for standard output; `.epub` writes a read-along book (the text
    /// with its audio, highlighted as it is spoken) [default: INPUT's name
    /// with the format's extension, or kokoro.wav].
    pub output: Option<PathBuf>,
    /// Text to speak, instead of INPUT (then the only positional argument is OUTPUT).
    #[arg(long, short = 't')]
    pub text: Option<String>,
    /// Voice, or a blend with weights: `af_sarah:60,am_adam:40`.
    #[arg(long, global = true, short = 'v')]
    pub voice: Option<String>,
    /// Speaking speed, 0.5 to 2.0.
    #[arg(long, global = true, short = 's', allow_negative_numbers = true)]
    pub speed: Option<f32>,
    /// Language: en-us, en-gb, es, fr-fr, hi, it, pt-br, ja, cmn (or a b e f h i p j z)
    /// [default: from the voice's prefix].
    #[arg(long, global = true, short = 'l')]
    pub lang: Option<String>,
    /// Output format: wav, wav-float, flac, mp3, opus, m4b, m4a, aac, pcm [default: from
    /// OUTPUT's extension, else wav; for a read-along book, its audio: m4a (the default) or mp3].
    #[arg(long, global = true, short = 'f')]
    pub format: Option<String>,
    /// Same as --format wav-float: 32-bit float WAV.
    #[arg(long, global = true, conflicts_with = "format")]
    pub float: bool,
    /// Stream: write audio while synthesis goes on. Without OUTPUT, to standard
    /// output, starting with a short first chunk so that a player starts at once;
    /// with OUTPUT, the file grows as chunks complete (and is removed if the run fails).
    #[arg(long)]
    pub stream: bool,
    /// Trim the silence around each chunk and join chunks with the pauses below.
    #[arg(long, global = true)]
    pub trim: bool,
    /// Pause between sentences, in seconds (implies --trim) [default: 0.25].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub pause_sentence: Option<f32>,
    /// Pause between paragraphs, in seconds (implies --trim) [default: 0.6].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub pause_paragraph: Option<f32>,
    /// A user lexicon: one `word phonemes` entry a line, used before the built-in
    /// lexicon (lowercase entries match any case) [env: KOKORO_LEXICON].
    #[arg(long, global = true, value_name = "FILE")]
    pub lexicon: Option<PathBuf>,
    /// What INPUT is: text, markdown, html, epub, pdf, ssml [default: from its extension, else its content; `<speak>` is SSML].
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// Read code blocks (Markdown fences, HTML pre blocks) aloud too.
    #[arg(long, global = true)]
    pub code_blocks: bool,
    /// List the chapters (index, title, words, estimated duration) and exit.
    #[arg(long)]
    pub list_chapters: bool,
    /// Speak only these chapters: 3, 3-7, 10-, or 1,4-6.
    #[arg(long, value_name = "LIST")]
    pub chapters: Option<String>,
    /// Write one file per chapter into DIR (001-TITLE.EXT). A rerun skips
    /// the chapters already complete, so an interrupted book resumes.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["stream", "merge"])]
    pub split_output: Option<PathBuf>,
    /// One file for the whole book, with chapter markers where the format has
    /// them (M4B and M4A chapter lists, MP3 chapter frames, WAV cue points);
    /// the default without --split-output.
    #[arg(long)]
    pub merge: bool,
    /// The title an M4B, MP3 or read-along book carries [default: the
    /// document's, else INPUT's file name for M4B and M4A].
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    /// The author an M4B, MP3 or read-along book carries [default: the document's].
    #[arg(long, value_name = "TEXT")]
    pub author: Option<String>,
    /// A JPEG or PNG cover for an M4B, MP3 or read-along book [default: an EPUB's own].
    #[arg(long, value_name = "IMAGE")]
    pub cover: Option<PathBuf>,
    /// In a read-along book, highlight each word as it is spoken, not each sentence.
    #[arg(long)]
    pub highlight_words: bool,
    /// Write captions to FILE (.srt or .vtt): cues by sentence, at most two
    /// lines, timed by the model's own word durations. With --split-output,
    /// one file per chapter beside its audio, in the format FILE names (`vtt` will do).
    #[arg(long, value_name = "FILE")]
    pub captions: Option<PathBuf>,
    /// Write every word's start and end (seconds) and byte span in the text to
    /// FILE as JSON. With --split-output, one file per chapter beside its audio.
    #[arg(long, value_name = "FILE")]
    pub timestamps: Option<PathBuf>,
    /// Run the model without reading its word durations (no captions or timestamps; the audio is the same).
    #[arg(long, global = true, conflicts_with_all = ["captions", "timestamps"])]
    pub no_timing: bool,
    /// Print the chunks and their phonemes, without running the model.
    #[arg(long)]
    pub phonemes_only: bool,
    /// List the voices and exit.
    #[arg(long)]
    pub list_voices: bool,
    /// List the languages and exit.
    #[arg(long)]
    pub list_languages: bool,
    /// Print phonemes, chunks, diagnostics and the chosen layout to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Print nothing but errors.
    #[arg(long, global = true, short = 'q')]
    pub quiet: bool,
    /// Model file (.onnx) [env: KOKORO_MODEL].
    #[arg(long, global = true)]
    pub model: Option<PathBuf>,
    /// Voices: a directory of .bin files or a voices .npz [env: KOKORO_VOICES].
    #[arg(long, global = true)]
    pub voices: Option<PathBuf>,
    /// ONNX Runtime shared library [env: KOKORO_ORT_LIB].
    #[arg(long, global = true)]
    pub ort_lib: Option<PathBuf>,
    /// Where fetched assets are kept [env: KOKORO_CACHE_DIR].
    #[arg(long, global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Configuration file [default: config.toml in the per-user config directory].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Synthesise chunks in parallel.
    #[arg(long, global = true, conflicts_with = "sequential")]
    pub parallel: bool,
    /// Synthesise chunks one after another.
    #[arg(long, global = true)]
    pub sequential: bool,
    /// Where the model runs: cpu (the default), cuda (ONNX Runtime's GPU build
    /// and CUDA, fetched on first use; an error naming what is missing on a
    /// machine without a usable NVIDIA GPU and driver), or auto (cuda when
    /// usable, else cpu; --debug says which and why).
    #[arg(long, global = true, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Which form of the fetched model runs on the CPU: auto (the default:
    /// the fastest for this processor, found once by a short timed run and
    /// recorded in the cache; --debug says which and why), int8 (the export
    /// as fetched), int8-fused (its convolutions on AVX-512 VNNI, the same
    /// audio to the bit) or float.
    #[arg(long, global = true, value_name = "FORM")]
    pub model_form: Option<String>,
    /// Most sessions working at once.
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub max_workers: Option<String>,
    /// ONNX Runtime intra-op threads per session.
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub threads: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve speech over HTTP: an OpenAI-compatible `POST /v1/audio/speech`, the
    /// voices, and a web page to try them (builds with the `server` feature).
    Serve(ServeArgs),
    /// Speak a library of documents listed in a manifest, each into its own
    /// output under one directory, resumable; `--shard I/N` splits the library
    /// among independent workers (Slurm job arrays, Kubernetes Indexed Jobs).
    Batch(BatchArgs),
    /// Serve speech over the Wyoming protocol, for Home Assistant and other
    /// voice assistants: every voice, whole and streaming synthesis (builds
    /// with the `wyoming` feature).
    Wyoming(WyomingArgs),
}

/// `kokoro batch` options (the voice, speed, format, pause, lexicon, model and
/// worker options above are the defaults for every document).
#[derive(Debug, ClapArgs)]
pub struct BatchArgs {
    /// The manifest: a list of input paths or globs, one a line (`#` starts a
    /// comment), or a TOML (`[[document]]`) or JSON list of documents with
    /// `path` and optionally `voice`, `speed`, `lang`, `format`, `split`.
    /// Relative paths are from the manifest's directory.
    pub manifest: PathBuf,
    /// The output tree: each document's output at its path below --root, with
    /// the format's extension (a directory of chapter files when split).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The directory whose tree the output mirrors [default: the manifest's directory].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Speak only this worker's share: I of N (0 <= I < N), chosen by a stable
    /// hash of each document's path [default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --shards, when set].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// The number of shards, when the index comes from the environment.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Split every document into chapter files unless its entry says otherwise.
    #[arg(long)]
    pub split: bool,
    /// The summary as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// List this shard's documents and their outputs, and exit.
    #[arg(long)]
    pub list: bool,
}

/// `kokoro wyoming` options (the voice, speed, lexicon, model and worker options above apply too).
#[derive(Debug, ClapArgs)]
pub struct WyomingArgs {
    /// Where to listen: tcp://HOST:PORT or unix://PATH.
    #[arg(long, default_value = "tcp://127.0.0.1:10200")]
    pub uri: String,
    /// Syntheses that may be in progress beside the first (they share the
    /// workers chunk by chunk); more get an error event.
    #[arg(long, default_value_t = 8)]
    pub queue: usize,
    /// Open connections at most; more are refused with an error event.
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
    /// On SIGTERM, SIGINT or SIGHUP, seconds the syntheses in progress may
    /// take to finish before the server exits (a second signal: at once).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub grace: f64,
}

/// `kokoro serve` options (the voice, lexicon, model and worker options above apply too).
#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8880)]
    pub port: u16,
    /// Require this key (`Authorization: Bearer KEY`) on every endpoint but /health.
    #[arg(long, env = "KOKORO_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A host name requests may be addressed to, beside `localhost` and IP
    /// addresses (repeatable; `*`: any). Others are refused, so that no web
    /// page can reach the server through a name of its own (DNS rebinding).
    #[arg(long, value_name = "NAME")]
    pub allowed_host: Vec<String>,
    /// Requests that may be in progress beside the first (they share the workers
    /// chunk by chunk); more are refused with 429.
    #[arg(long, default_value_t = 8)]
    pub queue: usize,
    /// An origin whose web pages may call the API from a browser (repeatable;
    /// `*`: any). None by default: no CORS headers are sent.
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Vec<String>,
    /// Open connections at most; more get 503. Each must send its request
    /// header within 10 s and its body within 30 s, and is closed after 60 s
    /// without traffic.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// On SIGTERM, SIGINT or SIGHUP, seconds the requests in progress may
    /// take to finish before the server exits 0 (it stops accepting at once;
    /// a second signal stops it at once). Keep it under the platform's own
    /// grace (Kubernetes: 30 s by default; the manifests give 15).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub grace: f64,
}
