//! What every subcommand shares: the settings from the command line, the
//! engine's configuration (built here, once, for the main job, the live
//! path, batch and the servers), messages on stderr, the stop flag, and the
//! progress bar.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use kokoro::book::Event as BookEvent;
use kokoro::settings::{Given, Settings};
use kokoro::{Config, Event, FetchEvent, Workers};

use crate::cli::Args;

/// The settings: defaults, the config file, `KOKORO_*` (through `env`), and
/// the flags.
pub fn settings(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
    let mut given = Vec::new();
    let mut flag = |name: &str, key: &'static str, raw: Option<String>| {
        if let Some(raw) = raw {
            given.push(Given::new(format!("--{name}"), key, raw));
        }
    };
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    flag("max-workers", "max_workers", args.max_workers.clone());
    flag("threads", "intra_threads", args.threads.clone());
    flag("speed", "speed", args.speed.map(|s| s.to_string()));
    flag("voice", "voice", args.voice.clone());
    flag("lang", "lang", args.lang.clone());
    flag("model", "model", path(&args.model));
    flag("voices", "voices", path(&args.voices));
    flag("ort-lib", "ort_lib", path(&args.ort_lib));
    flag("cache-dir", "cache_dir", path(&args.cache_dir));
    flag("lexicon", "lexicon", path(&args.lexicon));
    flag("device", "device", args.device.clone());
    flag("model-form", "model_form", args.model_form.clone());
    flag(
        "parallel",
        "use_parallel",
        args.parallel.then(|| "true".into()),
    );
    flag(
        "sequential",
        "use_parallel",
        args.sequential.then(|| "false".into()),
    );
    Ok(kokoro::settings::load(args.config.as_deref(), env, &given)?)
}

/// The engine's configuration for `workers`, its events told through `log`:
/// the one place the command builds it.
pub fn config(
    settings: &Settings,
    workers: Workers,
    skip_timing: bool,
    log: Log,
) -> Result<Config> {
    Ok(settings.engine_config(workers, skip_timing, Some(log.events()))?)
}

/// The request the settings make: voice, speed, language.
pub fn request(settings: &Settings, lang: Option<kokoro::Lang>) -> kokoro::Request {
    kokoro::Request {
        voice: settings.voice.clone(),
        speed: settings.speed,
        lang,
        ..kokoro::Request::default()
    }
}

#[cfg(feature = "playback")]
pub fn open_player() -> Result<Box<dyn kokoro::audio::Encoder>> {
    Ok(Box::new(kokoro::audio::Player::open()?))
}

#[cfg(not(feature = "playback"))]
pub fn open_player() -> Result<Box<dyn kokoro::audio::Encoder>> {
    anyhow::bail!("this build has no audio playback (build with --features playback)")
}

/// SIGINT (Ctrl-C), SIGTERM (how systemd, container engines and Kubernetes
/// stop a process) and SIGHUP (the terminal went away) raise the flag
/// returned: the run stops at its next check (between chunks, and inside the
/// front end), its temporary files are removed and only complete outputs are
/// left (exit 130). A second signal stops the process at once, leaving at
/// most a hidden temporary file, which the next run of the same output
/// removes. Failing to install the handler only loses the clean stop. (The
/// servers stop on signals themselves.)
pub fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if raised.swap(true, Ordering::SeqCst) {
            eprintln!("kokoro: stopped at once");
            std::process::exit(130);
        }
    });
    flag
}

/// Whether `e` is a run stopped by a signal.
pub fn cancelled(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<kokoro::Error>(),
            Some(kokoro::Error::Cancelled)
        )
    })
}

/// Messages on stderr, as `--quiet` and `--debug` allow.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub quiet: bool,
    pub debug: bool,
}

impl Log {
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("kokoro: {msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("kokoro: warning: {msg}");
        }
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            eprintln!("kokoro: {msg}");
        }
    }

    /// [`Log::event`] as the engine's callback.
    pub fn events(&self) -> kokoro::EventFn {
        let log = *self;
        Arc::new(move |e: &Event| log.event(e))
    }

    /// What the engine reports: fetching is news, a verified asset only under
    /// `--debug`.
    pub fn event(&self, event: &Event) {
        match event {
            Event::Fetch(FetchEvent::Fetching { what, command }) => {
                self.info(&format!("fetching {what} ({command})"))
            }
            Event::Fetch(FetchEvent::Verified { what, path }) => {
                self.debug(&format!("{what}: {} (SHA-256 verified)", path.display()))
            }
            Event::Warning(w) => self.warn(w),
            Event::Device(d) => self.debug(&format!("device: {d}")),
            Event::Form(f) => self.debug(f),
            Event::Progress(p) => self.info(p),
            _ => {}
        }
    }

    /// What a book reports: a progress bar over the whole book on a
    /// terminal, a line per chapter otherwise.
    pub fn book_events(&self) -> kokoro::book::EventFn {
        let log = *self;
        let bar = progress_bar(self).map(|b| Mutex::new(Bar(b)));
        Arc::new(move |e: &BookEvent| {
            let guard = bar
                .as_ref()
                .map(|b| b.lock().unwrap_or_else(|p| p.into_inner()));
            let bar = guard.as_ref().map(|b| &b.0);
            match e {
                BookEvent::Progress {
                    fraction,
                    audio_seconds,
                    label,
                    left,
                    ..
                } => {
                    if let Some(bar) = &bar {
                        bar.set_position((fraction * 1000.0) as u64);
                        let prefix = if label.is_empty() {
                            String::new()
                        } else {
                            format!("{label}: ")
                        };
                        let left = left.map_or(String::new(), |l| {
                            format!(", {} left", clock(l.as_secs_f64()))
                        });
                        bar.set_message(format!(
                            "{prefix}{} of audio{left}",
                            clock(*audio_seconds)
                        ));
                    }
                }
                BookEvent::Skipped { path, label } => {
                    let file = path.file_name().unwrap_or_default().to_string_lossy();
                    let line = format!("{label}: {file} is done already; skipped");
                    match &bar {
                        Some(bar) => bar.println(format!("kokoro: {line}")),
                        None => log.info(&line),
                    }
                }
                BookEvent::Spoken {
                    path,
                    audio_seconds,
                    label,
                    ..
                } => {
                    let line = match path {
                        Some(p) => {
                            format!("{label}: {} ({audio_seconds:.1} s of audio)", p.display())
                        }
                        None if label.is_empty() => return,
                        None => format!("{label}: {audio_seconds:.1} s of audio"),
                    };
                    match &bar {
                        Some(bar) if !log.quiet => bar.println(format!("kokoro: {line}")),
                        Some(_) => {}
                        None => log.info(&line),
                    }
                }
                _ => {}
            }
        })
    }
}

/// The progress bar, cleared when the run is over.
struct Bar(ProgressBar);

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn progress_bar(log: &Log) -> Option<ProgressBar> {
    if log.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(1000);
    bar.set_style(ProgressStyle::with_template("{bar:30} {percent}%, {msg}").ok()?);
    Some(bar)
}

/// `h:mm:ss`.
pub fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
