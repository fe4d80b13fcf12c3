//! Settings every door reads alike: built-in defaults < the config file <
//! the environment (`KOKORO_*`) < what the user gave (a command's flags, a
//! Python call's arguments).
//!
//! Each layer is checked on its own, so an error names its source: the flag,
//! the variable, or the file and line. [`Settings::engine_config`] makes
//! them the engine's [`crate::Config`]: the one place the command, its
//! servers and the Python module build it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use config::{Config, FileFormat};
use serde::Deserialize;

use crate::{AssetOptions, Error, EventFn, Frontends, Lexicon, Workers};

/// An error in the settings, naming where the bad value came from.
fn bad(message: impl std::fmt::Display) -> Error {
    Error::Settings(message.to_string())
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Every setting, after layering.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `Some(true)` parallel, `Some(false)` sequential, `None` automatic.
    pub use_parallel: Option<bool>,
    /// Most sessions at once (`None`: automatic).
    pub max_workers: Option<usize>,
    /// Intra-op threads per session (`None`: automatic).
    pub intra_threads: Option<usize>,
    /// The voice or blend (`af_heart`, `af_sarah:60,am_adam:40`).
    pub voice: String,
    /// The speed, checked against [`crate::SPEED_RANGE`].
    pub speed: f32,
    /// The language asked for (`None`: the voice's).
    pub lang: Option<String>,
    /// The model file (`None`: fetched into the cache).
    pub model: Option<PathBuf>,
    /// The voices file or directory (`None`: fetched).
    pub voices: Option<PathBuf>,
    /// ONNX Runtime's library (`None`: fetched).
    pub ort_lib: Option<PathBuf>,
    /// Where fetched assets are kept (`None`: the per-user cache).
    pub cache_dir: Option<PathBuf>,
    /// The user's lexicon file.
    pub lexicon: Option<PathBuf>,
    /// `cpu`, `cuda` or `auto` (checked as it is read).
    pub device: String,
    /// `auto`, `int8`, `int8-fused` or `float` (checked as it is read).
    pub model_form: String,
}

impl Settings {
    /// Where the model runs.
    pub fn device(&self) -> crate::Device {
        self.device.parse().unwrap_or_default()
    }

    /// Which form of the fetched model runs.
    pub fn form(&self) -> crate::FormChoice {
        self.model_form.parse().unwrap_or_default()
    }

    /// The assets these settings name; the rest come from the cache.
    pub fn assets(&self) -> AssetOptions {
        AssetOptions {
            cache_dir: self.cache_dir.clone(),
            runtime: self.ort_lib.clone(),
            model: self.model.clone(),
            voices: self.voices.clone(),
        }
    }

    /// The worker layout these settings ask for; `streaming` for a listener
    /// (a short first chunk, the streaming layout).
    pub fn workers(&self, streaming: bool) -> Workers {
        Workers {
            parallel: self.use_parallel,
            max_workers: self.max_workers,
            intra_threads: self.intra_threads,
            sentences: None,
            streaming,
            ..Workers::default()
        }
    }

    /// The user's lexicon file as text (empty without one).
    pub fn lexicon_text(&self) -> Result<String> {
        match &self.lexicon {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read lexicon {}: {e}", path.display()))),
            None => Ok(String::new()),
        }
    }

    /// The user's lexicon, or an empty one.
    pub fn lexicon(&self) -> Result<Lexicon> {
        let text = self.lexicon_text()?;
        let path = self.lexicon.as_deref().unwrap_or(Path::new(""));
        Lexicon::parse(&text).map_err(|e| bad(format!("lexicon {}: {e}", path.display())))
    }

    /// The front ends: this build's out-of-lexicon fallback (its data in the
    /// cache; a warning if it cannot be used) and the user's lexicon.
    pub fn frontends(&self, on_event: Option<&EventFn>) -> Result<Frontends> {
        let warn = |w: String| {
            if let Some(f) = on_event {
                f(&crate::Event::Warning(w));
            }
        };
        let fallback: Arc<dyn kokoro_text::OovFallback> = match self.assets().cache() {
            Ok(cache) => {
                let (fallback, warning) = crate::default_fallback(cache.dir());
                warning.into_iter().for_each(warn);
                fallback
            }
            Err(e) => {
                warn(format!("{e}; unknown words will be spelled out"));
                Arc::new(kokoro_text::SpellingFallback)
            }
        };
        Ok(Frontends::new(fallback, self.lexicon()?))
    }

    /// What a book's audio depends on beside its text and voice (the model
    /// and the lexicon): a change of either makes a resumed book speak its
    /// chapters again.
    pub fn depends_on(&self) -> Result<String> {
        Ok(format!("{:?}\n{}", self.model, self.lexicon_text()?))
    }

    /// The engine's configuration: these settings' assets, device, model
    /// form and front ends, the `workers` given, events to `on_event`;
    /// `skip_timing` runs the model without its durations.
    pub fn engine_config(
        &self,
        workers: Workers,
        skip_timing: bool,
        on_event: Option<EventFn>,
    ) -> Result<crate::Config> {
        Ok(crate::Config {
            assets: self.assets(),
            workers,
            frontends: Some(self.frontends(on_event.as_ref())?),
            on_event,
            skip_timing,
            device: self.device(),
            form: self.form(),
        })
    }
}

/// The keys of the file, with the type each takes.
const KEYS: &[(&str, Kind)] = &[
    ("use_parallel", Kind::Bool),
    ("max_workers", Kind::Count),
    ("intra_threads", Kind::Count),
    ("voice", Kind::Text),
    ("speed", Kind::Speed),
    ("lang", Kind::Text),
    ("model", Kind::Text),
    ("voices", Kind::Text),
    ("ort_lib", Kind::Text),
    ("cache_dir", Kind::Text),
    ("lexicon", Kind::Text),
    ("device", Kind::Device),
    ("model_form", Kind::Form),
];

/// Environment variables and the keys they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("KOKORO_USE_PARALLEL", "use_parallel"),
    ("KOKORO_MAX_WORKERS", "max_workers"),
    ("KOKORO_INTRA_THREADS", "intra_threads"),
    ("KOKORO_VOICE", "voice"),
    ("KOKORO_SPEED", "speed"),
    ("KOKORO_LANG", "lang"),
    ("KOKORO_MODEL", "model"),
    ("KOKORO_VOICES", "voices"),
    ("KOKORO_ORT_LIB", "ort_lib"),
    ("KOKORO_CACHE_DIR", "cache_dir"),
    ("KOKORO_LEXICON", "lexicon"),
    ("KOKORO_DEVICE", "device"),
    ("KOKORO_MODEL_FORM", "model_form"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Count,
    Speed,
    Text,
    Device,
    Form,
}

/// A checked value of one setting.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl From<Value> for config::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Bool(b) => b.into(),
            Value::Int(i) => i.into(),
            Value::Float(f) => f.into(),
            Value::Text(s) => s.into(),
        }
    }
}

fn kind_of(key: &str) -> Kind {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map_or(Kind::Text, |(_, kind)| *kind)
}

/// Parses and checks a value given as text (flag or environment variable).
fn parse_text(kind: Kind, raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    match kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
            "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "`{raw}` is not a boolean (true/false, 1/0, yes/no, on/off)"
            )),
        },
        Kind::Count => match raw.parse::<i64>() {
            Ok(n) => check_count(n),
            Err(_) => Err(format!("`{raw}` is not a whole number")),
        },
        Kind::Speed => match raw.parse::<f64>() {
            Ok(s) => check_speed(s),
            Err(_) => Err(format!("`{raw}` is not a number")),
        },
        Kind::Text => Ok(Value::Text(raw.to_string())),
        Kind::Device => check_device(raw),
        Kind::Form => check_form(raw),
    }
}

fn check_form(raw: &str) -> Result<Value, String> {
    raw.parse::<crate::FormChoice>()
        .map(|f| Value::Text(f.to_string()))
        .map_err(|e| e.to_string())
}

fn check_device(raw: &str) -> Result<Value, String> {
    raw.parse::<crate::Device>()
        .map(|d| Value::Text(d.name().to_string()))
        .map_err(|e| e.to_string())
}

fn check_count(n: i64) -> Result<Value, String> {
    if (1..=1024).contains(&n) {
        Ok(Value::Int(n))
    } else {
        Err(format!("{n} is out of range (1 to 1024)"))
    }
}

fn check_speed(s: f64) -> Result<Value, String> {
    crate::check_speed(s as f32)
        .map(|_| Value::Float(s))
        .map_err(|e| e.to_string())
}

/// Checks a value from the TOML file.
fn check_toml(kind: Kind, value: &toml::Value) -> Result<Value, String> {
    match (kind, value) {
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
        (Kind::Count, toml::Value::Integer(n)) => check_count(*n),
        (Kind::Speed, toml::Value::Float(f)) => check_speed(*f),
        (Kind::Speed, toml::Value::Integer(n)) => check_speed(*n as f64),
        (Kind::Text, toml::Value::String(s)) => Ok(Value::Text(s.clone())),
        (Kind::Device, toml::Value::String(s)) => check_device(s),
        (Kind::Device, v) => Err(format!("expected \"cpu\", \"cuda\" or \"auto\", found {v}")),
        (Kind::Form, toml::Value::String(s)) => check_form(s),
        (Kind::Form, v) => Err(format!(
            "expected \"auto\", \"int8\", \"int8-fused\" or \"float\", found {v}"
        )),
        (Kind::Bool, v) => Err(format!("expected true or false, found {v}")),
        (Kind::Count, v) => Err(format!("expected a whole number, found {v}")),
        (Kind::Speed, v) => Err(format!("expected a number, found {v}")),
        (Kind::Text, v) => Err(format!("expected a string, found {v}")),
    }
}

/// The per-user config file, if the platform has a config directory.
pub fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "kokoro").map(|d| d.config_dir().join("config.toml"))
}

/// Reads and checks a config file; errors name the file and line.
fn file_layer(path: &Path) -> Result<Vec<(String, Value)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read config file {}: {e}", path.display())))?;
    config_from_text(&text, path)
}

/// A config file's text, checked; errors name `path` and the line.
fn config_from_text(text: &str, path: &Path) -> Result<Vec<(String, Value)>> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map(|s| line_of(text, s.start));
        bad(format!(
            "config file {}{}: {}",
            path.display(),
            line.map(|l| format!(" line {l}")).unwrap_or_default(),
            e.message()
        ))
    })?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with(key.as_str()))
            .map_or(0, |i| i + 1);
        let at = format!("config file {} line {line}", path.display());
        if !KEYS.iter().any(|(k, _)| k == key) {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            return Err(bad(format!(
                "{at}: unknown key `{key}` (known keys: {})",
                known.join(", ")
            )));
        }
        let v = check_toml(kind_of(key), value).map_err(|e| bad(format!("{at}: `{key}`: {e}")))?;
        out.push((key.clone(), v));
    }
    Ok(out)
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

/// Reads and checks the environment variables through `get`.
fn env_layer(get: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (var, key) in ENV_VARS {
        if let Some(raw) = get(var) {
            let v = parse_text(kind_of(key), &raw)
                .map_err(|e| bad(format!("environment variable {var}: {e}")))?;
            out.push((key.to_string(), v));
        }
    }
    Ok(out)
}

/// A value the user gave directly: a command's flag, a Python argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    /// How the user named it, for errors (`--speed`, `speed=`).
    pub name: String,
    /// The setting's key (`speed`, `max_workers`: see [`ENV_VARS`]),
    /// checked when the settings are loaded.
    pub key: String,
    /// The value as given.
    pub raw: String,
}

impl Given {
    /// `raw` for `key`, named `name`.
    pub fn new(name: impl Into<String>, key: impl Into<String>, raw: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key: key.into(),
            raw: raw.into(),
        }
    }
}

/// Reads and checks the values given.
fn given_layer(given: &[Given]) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for g in given {
        if !KEYS.iter().any(|(k, _)| *k == g.key) {
            return Err(bad(format!("{}: no setting `{}`", g.name, g.key)));
        }
        let v = parse_text(kind_of(&g.key), &g.raw).map_err(|e| bad(format!("{}: {e}", g.name)))?;
        out.push((g.key.clone(), v));
    }
    Ok(out)
}

/// Layers the defaults, the config file (`config`, or the per-user file if
/// it exists), the environment (read through `env`) and the values `given`.
pub fn load(
    config: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    given: &[Given],
) -> Result<Settings> {
    let file = match config {
        Some(path) => Some(path.to_path_buf()),
        None => default_config_file().filter(|p| p.is_file()),
    };
    let mut builder = Config::builder()
        .set_default("voice", "af_heart")
        .and_then(|b| b.set_default("speed", 1.0))
        .and_then(|b| b.set_default("device", "cpu"))
        .and_then(|b| b.set_default("model_form", "auto"))
        .map_err(bad)?
        .add_source(config::File::from_str("", FileFormat::Toml));
    let mut layers = Vec::new();
    if let Some(file) = &file {
        layers.extend(file_layer(file)?);
    }
    layers.extend(env_layer(env)?);
    layers.extend(given_layer(given)?);
    for (key, value) in layers {
        builder = builder.set_override(key, value).map_err(bad)?;
    }
    builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| bad(format!("invalid configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any config file text: settings or an error naming the file, never a
        /// panic.
        #[test]
        fn any_config_file_is_settings_or_an_error(
            text in "(\\PC|[\\[\\]\"=\n]|voice|speed|workers|device|format){0,80}",
        ) {
            if let Err(e) = config_from_text(&text, Path::new("c.toml")) {
                proptest::prop_assert!(e.to_string().contains("c.toml"), "{}", e);
            }
        }
    }

    /// What a command line gives: `--config FILE`, `--parallel`,
    /// `--sequential`, and `--flag VALUE` for the rest.
    struct Args {
        config: Option<PathBuf>,
        given: Vec<Given>,
    }

    fn args(argv: &[&str]) -> Args {
        let key = |flag: &str| -> &'static str {
            match flag {
                "--max-workers" => "max_workers",
                "--threads" => "intra_threads",
                "--speed" => "speed",
                "--device" => "device",
                "--voice" => "voice",
                other => panic!("{other}"),
            }
        };
        let mut a = Args {
            config: None,
            given: Vec::new(),
        };
        let mut it = argv.iter();
        while let Some(&flag) = it.next() {
            match flag {
                "--config" => a.config = it.next().map(PathBuf::from),
                "--parallel" => a.given.push(Given::new(flag, "use_parallel", "true")),
                "--sequential" => a.given.push(Given::new(flag, "use_parallel", "false")),
                _ => a
                    .given
                    .push(Given::new(flag, key(flag), *it.next().unwrap())),
            }
        }
        a
    }

    fn load(a: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        super::load(a.config.as_deref(), env, &a.given)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn the_device_comes_from_the_file_the_environment_or_the_flag() {
        let no = load(&args(&[]), &no_env).unwrap();
        assert_eq!(no.device(), crate::Device::Cpu);
        let file = config_file("device = \"auto\"\n");
        let path = file.path().to_str().unwrap().to_string();
        let s = load(&args(&["--config", &path]), &no_env).unwrap();
        assert_eq!(s.device(), crate::Device::Auto);
        let env = |k: &str| (k == "KOKORO_DEVICE").then(|| "CUDA".to_string());
        let s = load(&args(&["--config", &path]), &env).unwrap();
        assert_eq!(s.device(), crate::Device::Cuda);
        let s = load(&args(&["--config", &path, "--device", "cpu"]), &env).unwrap();
        assert_eq!(s.device(), crate::Device::Cpu);
        let bad = config_file("device = 3\n");
        let path = bad.path().to_str().unwrap().to_string();
        let e = load(&args(&["--config", &path]), &no_env).unwrap_err();
        assert!(format!("{e:#}").contains("device"), "{e:#}");
        let e = load(&args(&["--device", "tpu"]), &no_env).unwrap_err();
        assert!(
            format!("{e:#}").contains("--device: unknown device `tpu`"),
            "{e:#}"
        );
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let file = config_file(
            "max_workers = 3\nintra_threads = 2\nvoice = \"bf_emma\"\nuse_parallel = false\n",
        );
        let path = file.path().to_str().unwrap().to_string();
        let s = load(&args(&["--config", &path]), &no_env).unwrap();
        assert_eq!(
            (
                s.max_workers,
                s.intra_threads,
                s.voice.as_str(),
                s.use_parallel
            ),
            (Some(3), Some(2), "bf_emma", Some(false))
        );
        assert_eq!(s.speed, 1.0);

        let env = |k: &str| {
            (k == "KOKORO_MAX_WORKERS")
                .then(|| "4".to_string())
                .or_else(|| (k == "KOKORO_USE_PARALLEL").then(|| "yes".into()))
        };
        let s = load(&args(&["--config", &path]), &env).unwrap();
        assert_eq!(
            (s.max_workers, s.intra_threads, s.use_parallel),
            (Some(4), Some(2), Some(true))
        );

        let s = load(
            &args(&[
                "--config",
                &path,
                "--max-workers",
                "1",
                "--sequential",
                "--threads",
                "1",
            ]),
            &env,
        )
        .unwrap();
        assert_eq!(
            (s.max_workers, s.intra_threads, s.use_parallel),
            (Some(1), Some(1), Some(false))
        );
    }

    #[test]
    fn built_in_defaults() {
        let s = load(
            &args(&["--config", config_file("").path().to_str().unwrap()]),
            &no_env,
        )
        .unwrap();
        assert_eq!(s.voice, "af_heart");
        assert_eq!(
            (s.max_workers, s.intra_threads, s.use_parallel),
            (None, None, None)
        );
    }

    #[track_caller]
    fn check_err(argv: &[&str], env: &dyn Fn(&str) -> Option<String>, expect: &[&str]) {
        let e = format!("{:#}", load(&args(argv), env).unwrap_err());
        for part in expect {
            assert!(e.contains(part), "`{e}` lacks `{part}`");
        }
    }

    #[test]
    fn invalid_flags_name_the_flag() {
        check_err(
            &["--max-workers", "0"],
            &no_env,
            &["--max-workers", "out of range"],
        );
        check_err(
            &["--max-workers", "abc"],
            &no_env,
            &["--max-workers", "not a whole number"],
        );
        check_err(
            &["--threads", "-2"],
            &no_env,
            &["--threads", "out of range"],
        );
        check_err(&["--speed", "3"], &no_env, &["--speed", "out of range"]);
    }

    #[test]
    fn invalid_env_names_the_variable() {
        for (var, val, msg) in [
            ("KOKORO_MAX_WORKERS", "0", "out of range"),
            ("KOKORO_MAX_WORKERS", "abc", "not a whole number"),
            ("KOKORO_INTRA_THREADS", "-1", "out of range"),
            ("KOKORO_USE_PARALLEL", "maybe", "not a boolean"),
        ] {
            let env = move |k: &str| (k == var).then(|| val.to_string());
            check_err(
                &["--config", config_file("").path().to_str().unwrap()],
                &env,
                &[var, msg],
            );
        }
    }

    #[test]
    fn invalid_file_values_name_the_file_and_line() {
        for (text, line, msg) in [
            (
                "voice = \"af_heart\"\nmax_workers = 0\n",
                "line 2",
                "out of range",
            ),
            (
                "max_workers = \"abc\"\n",
                "line 1",
                "expected a whole number",
            ),
            ("\nintra_threads = -1\n", "line 2", "out of range"),
            (
                "voice = \"x\"\n\nbogus = 1\n",
                "line 3",
                "unknown key `bogus`",
            ),
            ("max_workers = = 2\n", "line 1", ""),
        ] {
            let f = config_file(text);
            let p = f.path().to_str().unwrap();
            check_err(&["--config", p], &no_env, &[p, line, msg]);
        }
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        check_err(
            &["--config", "/nonexistent/kokoro.toml"],
            &no_env,
            &["cannot read config file /nonexistent/kokoro.toml"],
        );
    }
}
