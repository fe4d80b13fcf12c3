//! What a command line asks for, decided before any work: where the text comes
//! from, what is done with it, and where the audio goes. A pure function of
//! the arguments and the settings, so that every rule here is unit-tested.

use std::path::PathBuf;

use anyhow::{bail, Result};
use kokoro::audio::Format;
use kokoro::captions::CaptionFormat;
use kokoro::settings::Settings;
use kokoro::text::document::InputFormat;
use kokoro::{Lang, Pauses};

use crate::cli::Args;

/// Where the text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `--text "..."`.
    Text(String),
    /// `-`.
    Stdin,
    /// A file.
    File(PathBuf),
}

/// What to do with the text.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `--list-chapters`.
    ListChapters,
    /// `--phonemes-only`.
    PrintPhonemes,
    /// Speak into these outputs.
    Speak(Output),
}

/// Where the audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `--split-output DIR`: one file per chapter, resumable.
    Split {
        /// The directory.
        dir: PathBuf,
    },
    /// One file, or a stream.
    Merged(Target),
    /// OUTPUT ends in `.epub`: an EPUB 3 read-along book.
    ReadAlong {
        /// The book.
        path: PathBuf,
    },
}

/// The destination of one merged output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file written through a temporary file, or in place with `--stream`.
    File {
        /// The file.
        path: PathBuf,
        /// Written as it grows (`--stream`).
        in_place: bool,
    },
    /// Standard output.
    Stdout,
    /// The default audio device (`--stream` without OUTPUT, with `playback`).
    Device,
}

/// A command line, decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The text's source.
    pub input: Input,
    /// `--input-format`, or what INPUT's extension says; `None`: sniff the bytes.
    pub input_format: Option<InputFormat>,
    /// What to do.
    pub action: Action,
    /// The audio format.
    pub format: Format,
    /// The language asked for (`None`: the voice's).
    pub lang: Option<Lang>,
    /// Trimming and pauses, when asked for.
    pub pauses: Option<Pauses>,
    /// A short first chunk, for a listener.
    pub streaming: bool,
    /// The worker layout asked for (the sentence count is filled in later).
    pub workers: kokoro::Workers,
    /// `--captions`: the format, and the file (with `--split-output`, only its format counts).
    pub captions: Option<(CaptionFormat, PathBuf)>,
    /// `--timestamps`: the JSON file (with `--split-output`, one per chapter instead).
    pub timestamps: Option<PathBuf>,
    /// `--no-timing`: the model without its durations output.
    pub skip_timing: bool,
}

impl Plan {
    /// Decides what `args` and `settings` ask for; contradictions are errors.
    /// `playback` says whether this build plays on the audio device.
    pub fn new(args: &Args, settings: &Settings, playback: bool) -> Result<Plan> {
        // --text "..." OUT: the one positional argument is the output.
        let (input_arg, output_arg) = match (&args.text, &args.input, &args.output) {
            (Some(_), Some(one), None) => (None, Some(one.clone())),
            (_, input, output) => (input.clone(), output.clone()),
        };
        let input = match (&args.text, input_arg) {
            (Some(_), Some(_)) => bail!("give either --text or an INPUT file, not both"),
            (Some(t), None) => Input::Text(t.clone()),
            (None, Some(p)) if p.as_os_str() == "-" => Input::Stdin,
            (None, Some(p)) => Input::File(p),
            (None, None) => bail!(
                "no input: give a text file, `-` for standard input, or --text \"...\" (see --help)"
            ),
        };
        let input_format = match (&args.input_format, &input) {
            (Some(f), _) => Some(f.parse::<InputFormat>()?),
            (None, Input::File(p)) => InputFormat::from_path(p),
            (None, _) => None,
        };
        let read_along = args.split_output.is_none()
            && output_arg.as_deref().is_some_and(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("epub"))
            });
        let format = match (&args.format, args.float) {
            (Some(f), _) => f.parse::<Format>()?,
            (None, true) => Format::WavFloat,
            // A read-along book's audio: AAC, which keeps time to the sample.
            (None, false) if read_along => Format::M4a,
            (None, false) => output_arg
                .as_deref()
                .and_then(Format::from_path)
                .unwrap_or(Format::Wav),
        };
        if read_along && !matches!(format, Format::M4a | Format::M4b | Format::Mp3) {
            bail!("--format: a read-along book's audio is m4a or mp3 (the two EPUB 3 allows)");
        }
        let lang = settings.lang.as_deref().map(str::parse).transpose()?;
        let pauses = pauses(args)?;
        let output = match (&args.split_output, &output_arg) {
            (Some(dir), _) => Output::Split { dir: dir.clone() },
            (None, Some(p)) if read_along => {
                if args.stream {
                    bail!("--stream: a read-along book is written whole, at its end");
                }
                if args.captions.is_some() || args.timestamps.is_some() {
                    bail!(
                        "--captions and --timestamps: a read-along book's overlays hold its timing"
                    );
                }
                Output::ReadAlong { path: p.clone() }
            }
            (None, None) if args.stream && playback => Output::Merged(Target::Device),
            (None, Some(p)) if p.as_os_str() == "-" => Output::Merged(Target::Stdout),
            (None, None) if args.stream => Output::Merged(Target::Stdout),
            (None, Some(p)) => Output::Merged(Target::File {
                path: p.clone(),
                in_place: args.stream,
            }),
            (None, None) => {
                let stem = match &input {
                    Input::File(p) => PathBuf::from(p.file_stem().unwrap_or_default()),
                    _ => PathBuf::from("kokoro"),
                };
                Output::Merged(Target::File {
                    path: stem.with_extension(format.extension()),
                    in_place: false,
                })
            }
        };
        // A listener (stdout, a device) hears the start at once; a file gets
        // the same chunks whether streamed or not, so the two are equal.
        let streaming = matches!(
            output,
            Output::Merged(Target::Stdout) | Output::Merged(Target::Device)
        );
        let captions = match &args.captions {
            None => None,
            Some(path) => {
                // `--captions vtt` names the format alone (for --split-output).
                let format = kokoro::book::caption_format(path).ok_or_else(|| {
                    anyhow::anyhow!("--captions: `{}` is neither .srt nor .vtt", path.display())
                })?;
                Some((format, path.clone()))
            }
        };
        let action = if args.list_chapters {
            Action::ListChapters
        } else if args.phonemes_only {
            Action::PrintPhonemes
        } else {
            Action::Speak(output)
        };
        Ok(Plan {
            input,
            input_format,
            action,
            format,
            lang,
            pauses,
            streaming,
            workers: settings.workers(streaming),
            captions,
            timestamps: args.timestamps.clone(),
            skip_timing: args.no_timing,
        })
    }
}

impl Plan {
    /// What `kokoro batch` does to each document unless its entry says
    /// otherwise: the command line's format, language, pauses and layout. The
    /// input and output are each document's; its options that name one input
    /// or output are refused.
    pub fn batch_defaults(args: &Args, settings: &Settings) -> Result<Plan> {
        for (given, flag) in [
            (
                args.input.is_some() || args.output.is_some(),
                "INPUT and OUTPUT",
            ),
            (args.text.is_some(), "--text"),
            (args.stream, "--stream"),
            (args.split_output.is_some(), "--split-output (use --split)"),
            (args.chapters.is_some(), "--chapters"),
            (args.captions.is_some(), "--captions"),
            (args.timestamps.is_some(), "--timestamps"),
            (args.list_chapters, "--list-chapters"),
            (args.phonemes_only, "--phonemes-only"),
        ] {
            if given {
                bail!("kokoro batch: {flag} cannot be given to a batch; each document's input and output come from the manifest");
            }
        }
        let format = match (&args.format, args.float) {
            (Some(f), _) => f.parse::<Format>()?,
            (None, true) => Format::WavFloat,
            (None, false) => Format::Wav,
        };
        Ok(Plan {
            input: Input::Stdin,
            input_format: args
                .input_format
                .as_deref()
                .map(str::parse::<InputFormat>)
                .transpose()?,
            action: Action::PrintPhonemes,
            format,
            lang: settings.lang.as_deref().map(str::parse).transpose()?,
            pauses: pauses(args)?,
            streaming: false,
            workers: settings.workers(false),
            captions: None,
            timestamps: None,
            skip_timing: args.no_timing,
        })
    }
}

/// The pauses to join chunks with, when the user asked for trimming or pauses.
fn pauses(args: &Args) -> Result<Option<Pauses>> {
    for (flag, v) in [
        ("--pause-sentence", args.pause_sentence),
        ("--pause-paragraph", args.pause_paragraph),
    ] {
        if let Some(v) = v {
            if !(0.0..=10.0).contains(&v) {
                bail!("{flag}: {v} is out of range (0 to 10 seconds)");
            }
        }
    }
    if !args.trim && args.pause_sentence.is_none() && args.pause_paragraph.is_none() {
        return Ok(None);
    }
    let d = Pauses::default();
    Ok(Some(Pauses {
        sentence: args.pause_sentence.unwrap_or(d.sentence),
        paragraph: args.pause_paragraph.unwrap_or(d.paragraph),
        clause: d.clause,
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn plan(argv: &[&str]) -> Result<Plan> {
        plan_with(argv, false)
    }

    fn plan_with(argv: &[&str], playback: bool) -> Result<Plan> {
        let args = Args::try_parse_from(std::iter::once("kokoro").chain(argv.iter().copied()))?;
        let settings = crate::engine::settings(&args, &|_| None)?;
        Plan::new(&args, &settings, playback)
    }

    #[test]
    fn captions_take_their_format_from_the_name() {
        let p = plan(&["in.txt", "out.wav", "--captions", "out.srt"]).unwrap();
        assert_eq!(
            p.captions,
            Some((CaptionFormat::Srt, PathBuf::from("out.srt")))
        );
        let p = plan(&["book.epub", "--split-output", "dir", "--captions", "vtt"]).unwrap();
        assert_eq!(p.captions.map(|c| c.0), Some(CaptionFormat::Vtt));
        let e = plan(&["in.txt", "--captions", "out.txt"]).unwrap_err();
        assert!(e.to_string().contains("neither .srt nor .vtt"), "{e}");
        assert!(plan(&["in.txt", "--captions", "a.srt", "--no-timing"]).is_err());
        let p = plan(&["in.txt", "--timestamps", "w.json"]).unwrap();
        assert_eq!(p.timestamps, Some(PathBuf::from("w.json")));
        assert!(!p.skip_timing);
    }

    fn target(p: &Plan) -> &Target {
        match &p.action {
            Action::Speak(Output::Merged(t)) => t,
            other => panic!("not one output: {other:?}"),
        }
    }

    fn file(path: &str, in_place: bool) -> Target {
        Target::File {
            path: path.into(),
            in_place,
        }
    }

    #[test]
    fn the_output_is_named_after_the_input_or_kokoro() {
        let p = plan(&["book.txt"]).unwrap();
        assert_eq!(p.input, Input::File("book.txt".into()));
        assert_eq!(target(&p), &file("book.wav", false));
        let p = plan(&["dir/book.epub", "--format", "mp3"]).unwrap();
        assert_eq!(target(&p), &file("book.mp3", false));
        assert_eq!(p.input_format, Some(InputFormat::Epub));
        let p = plan(&["--text", "Hi."]).unwrap();
        assert_eq!(target(&p), &file("kokoro.wav", false));
    }

    #[test]
    fn with_text_the_one_positional_argument_is_the_output() {
        let p = plan(&["--text", "Hi.", "hi.flac"]).unwrap();
        assert_eq!(p.input, Input::Text("Hi.".into()));
        assert_eq!(target(&p), &file("hi.flac", false));
        assert_eq!(p.format, Format::Flac);
        assert!(plan(&["--text", "Hi.", "a.txt", "b.wav"]).is_err());
    }

    #[test]
    fn formats_come_from_the_flag_then_the_extension() {
        assert_eq!(plan(&["a.txt", "b.mp3"]).unwrap().format, Format::Mp3);
        assert_eq!(
            plan(&["a.txt", "b.mp3", "-f", "opus"]).unwrap().format,
            Format::Opus
        );
        assert_eq!(
            plan(&["a.txt", "b.wav", "--float"]).unwrap().format,
            Format::WavFloat
        );
        assert_eq!(plan(&["a.txt", "b.xyz"]).unwrap().format, Format::Wav);
        assert!(plan(&["a.txt", "-f", "aiff"]).is_err());
    }

    #[test]
    fn standard_streams_and_streaming() {
        let p = plan(&["-", "-"]).unwrap();
        assert_eq!(p.input, Input::Stdin);
        assert_eq!(target(&p), &Target::Stdout);
        assert!(
            p.streaming && p.workers.streaming,
            "a listener gets a short first chunk"
        );
        let p = plan(&["a.txt", "--stream"]).unwrap();
        assert_eq!(target(&p), &Target::Stdout);
        let p = plan_with(&["a.txt", "--stream"], true).unwrap();
        assert_eq!(target(&p), &Target::Device);
        let p = plan(&["a.txt", "out.flac", "--stream"]).unwrap();
        assert_eq!(target(&p), &file("out.flac", true));
        assert!(!p.streaming, "a streamed file gets the file's chunks");
    }

    #[test]
    fn an_epub_output_is_a_read_along_book_with_aac_inside() {
        let p = plan(&["book.epub", "out.epub"]).unwrap();
        assert_eq!(
            p.action,
            Action::Speak(Output::ReadAlong {
                path: "out.epub".into()
            })
        );
        assert_eq!(p.format, Format::M4a);
        assert_eq!(
            plan(&["b.md", "o.epub", "-f", "mp3"]).unwrap().format,
            Format::Mp3
        );
        assert!(plan(&["b.md", "o.epub", "-f", "flac"]).is_err());
        assert!(plan(&["b.md", "o.epub", "--captions", "o.vtt"]).is_err());
        assert_eq!(plan(&["b.md", "o.m4b"]).unwrap().format, Format::M4b);
    }

    #[test]
    fn split_output_list_chapters_and_phonemes() {
        let p = plan(&["book.epub", "--split-output", "out"]).unwrap();
        assert_eq!(p.action, Action::Speak(Output::Split { dir: "out".into() }));
        assert_eq!(
            plan(&["b.epub", "--list-chapters"]).unwrap().action,
            Action::ListChapters
        );
        assert_eq!(
            plan(&["b.txt", "--phonemes-only"]).unwrap().action,
            Action::PrintPhonemes
        );
    }

    #[test]
    fn pauses_imply_trimming_and_are_bounded() {
        assert_eq!(plan(&["a.txt"]).unwrap().pauses, None);
        assert_eq!(
            plan(&["a.txt", "--trim"]).unwrap().pauses,
            Some(Pauses::default())
        );
        let p = plan(&["a.txt", "--pause-sentence", "0.4"]).unwrap();
        assert_eq!(p.pauses.unwrap().sentence, 0.4);
        assert_eq!(p.pauses.unwrap().paragraph, Pauses::default().paragraph);
        let e = plan(&["a.txt", "--pause-paragraph", "11"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("--pause-paragraph: 11 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn input_errors_are_clear() {
        let e = plan(&[]).unwrap_err();
        assert!(e.to_string().starts_with("no input"), "{e}");
        let e = plan(&["a.txt", "--input-format", "docx"]).unwrap_err();
        assert!(e.to_string().contains("docx"), "{e}");
        let e = plan(&["a.txt", "--lang", "xx"]).unwrap_err();
        assert!(e.to_string().contains("unknown language"), "{e}");
    }

    #[test]
    fn the_layout_flags_reach_the_workers() {
        let p = plan(&[
            "a.txt",
            "--parallel",
            "--max-workers",
            "3",
            "--threads",
            "1",
        ])
        .unwrap();
        assert_eq!(p.workers.parallel, Some(true));
        assert_eq!(p.workers.max_workers, Some(3));
        assert_eq!(p.workers.intra_threads, Some(1));
        assert_eq!(
            plan(&["a.txt", "--sequential"]).unwrap().workers.parallel,
            Some(false)
        );
    }
}
