//! SSML, the part people use, read into text with this crate's own markup
//! (`[pause:500ms]`, `[word](/phonemes/)`) in parts that each keep one voice
//! and one rate.
//!
//! | SSML | becomes |
//! |---|---|
//! | `<speak xml:lang="en-GB">` | the root; its language, when given, is the text's |
//! | `<p>`, `<s>` | a paragraph break; a sentence end (a full stop when it has none) |
//! | `<break time="500ms"/>`, `strength="weak"` | `[pause:500ms]`; strengths x-weak 250 ms, weak 500, medium 750 (and a bare `<break/>`), strong 1000, x-strong 1250, none nothing |
//! | `<prosody rate="slow">` | a part at that rate: x-slow 0.5, slow 0.75, medium 1, fast 1.25, x-fast 1.5, a number (`1.2`), a percentage (`120%`, `+20%`); nested rates multiply; `pitch` and `volume` are accepted and ignored, with a warning |
//! | `<phoneme alphabet="ipa" ph="...">word</phoneme>` | `[word](/phonemes/)`, the IPA in Kokoro's symbols (`eɪ` → `A`, `oʊ` → `O`, `ɚ` → `əɹ`...); `alphabet="kokoro"` takes Kokoro's symbols as they are |
//! | `<sub alias="World Wide Web">WWW</sub>` | the alias |
//! | `<say-as interpret-as="...">` | `characters` (and `spell-out`, `verbatim`, `digits`): each letter or digit on its own; `cardinal`: the number without separators; `ordinal`: `3` → `3rd`; `date` (`format` `mdy`, `dmy`, `ymd`...; else guessed): `2024-03-05` → `March 5th, 2024`; `telephone`: digit by digit, in its groups |
//! | `<voice name="am_adam">` | a part spoken by that voice (or blend) |
//! | `<emphasis>`, `<mark>` | accepted: their text is read as it is |
//!
//! Any other element is read as its text, with a warning. Malformed XML is an
//! error that names its line. Work is linear in the input; elements nest at
//! most [`MAX_DEPTH`] deep; a DOCTYPE (and so any entity of the document's
//! own) is refused.

use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::split::MAX_PAUSE_MS;
use crate::Lang;

/// Elements nest at most this deep.
pub const MAX_DEPTH: usize = 64;

/// SSML read: its parts, in order, and what was not understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Ssml {
    /// Stretches of text, each with one voice and rate; their texts joined
    /// are [`Ssml::text`].
    pub parts: Vec<Part>,
    /// `<speak xml:lang>`, when it names a language Kokoro speaks.
    pub lang: Option<Lang>,
    /// Elements and attributes read as plain text or ignored, each with its line.
    pub warnings: Vec<String>,
}

/// A stretch of SSML's text with one voice and rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The text, with pause markup and phoneme overrides.
    pub text: String,
    /// `<voice name>` around it; `None`: the caller's voice.
    pub voice: Option<String>,
    /// `<prosody rate>` around it, a multiple of the caller's speed.
    pub rate: f32,
}

/// Why SSML could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmlError {
    /// The line (from 1) where it went wrong.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for SsmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SSML, line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SsmlError {}

/// Whether `text` is SSML: it opens with `<speak` (after an XML declaration,
/// a byte-order mark or whitespace).
pub fn looks_like_ssml(text: &str) -> bool {
    let mut head = text.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with("<?xml") {
        head = head
            .find("?>")
            .map_or("", |end| head[end + 2..].trim_start());
    }
    while head.starts_with("<!--") {
        head = head
            .find("-->")
            .map_or("", |end| head[end + 3..].trim_start());
    }
    head.starts_with("<speak") && head[6..].starts_with(|c: char| c == '>' || c.is_whitespace())
}

impl Ssml {
    /// Reads SSML (its root must be `<speak>`).
    pub fn parse(src: &str) -> Result<Ssml, SsmlError> {
        Parser::new(src).run()
    }

    /// The whole text: every part's, in order (spans of what is spoken point into it).
    pub fn text(&self) -> String {
        self.parts.iter().map(|p| p.text.as_str()).collect()
    }
}

/// An open element.
struct Frame {
    name: String,
    line: usize,
    voice: Option<String>,
    rate: f32,
    /// Text inside it is gathered, not written (`phoneme`, `say-as`, `sub`).
    gather: Option<Gather>,
}

enum Gather {
    Phoneme(String),
    SayAs {
        kind: String,
        format: Option<String>,
    },
    /// `<sub>`: its text is replaced by the alias, written at the start.
    Skip,
}

struct Parser<'a> {
    src: &'a str,
    reader: Reader<&'a [u8]>,
    stack: Vec<Frame>,
    parts: Vec<Part>,
    /// Text gathered inside the innermost gathering element.
    gathered: String,
    lang: Option<Lang>,
    warnings: Vec<String>,
    seen_root: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        let mut reader = Reader::from_str(src);
        reader.config_mut().trim_text(false);
        Self {
            src,
            reader,
            stack: Vec::new(),
            parts: Vec::new(),
            gathered: String::new(),
            lang: None,
            warnings: Vec::new(),
            seen_root: false,
        }
    }

    fn line_at(&self, pos: u64) -> usize {
        let end = (pos as usize).min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn line(&self) -> usize {
        self.line_at(self.reader.buffer_position())
    }

    fn error(&self, message: impl Into<String>) -> SsmlError {
        SsmlError {
            line: self.line(),
            message: message.into(),
        }
    }

    fn warn(&mut self, message: String) {
        let line = self.line();
        self.warnings.push(format!("SSML, line {line}: {message}"));
    }

    fn voice(&self) -> Option<String> {
        self.stack.last().and_then(|f| f.voice.clone())
    }

    fn rate(&self) -> f32 {
        self.stack.last().map_or(1.0, |f| f.rate)
    }

    fn gathering(&self) -> bool {
        self.stack.iter().any(|f| f.gather.is_some())
    }

    /// Writes spoken text into the part of the current voice and rate.
    fn write(&mut self, text: &str) {
        if self.gathering() {
            if !self
                .stack
                .iter()
                .any(|f| matches!(f.gather, Some(Gather::Skip)))
            {
                self.gathered.push_str(text);
            }
            return;
        }
        let (voice, rate) = (self.voice(), self.rate());
        match self.parts.last_mut() {
            Some(p) if p.voice == voice && p.rate == rate => p.text.push_str(text),
            _ => self.parts.push(Part {
                text: text.to_string(),
                voice,
                rate,
            }),
        }
    }

    /// Ends the sentence written so far, with a full stop if it has no end.
    fn end_sentence(&mut self) {
        let Some(part) = self.parts.last_mut() else {
            return;
        };
        let trimmed = part.text.trim_end();
        let ended = trimmed.is_empty()
            || trimmed.ends_with(['.', '!', '?', '…', ':', ';', '。', '！', '？', ']']);
        if !ended {
            let at = trimmed.len();
            part.text.insert(at, '.');
        }
        part.text.push(' ');
    }

    fn run(mut self) -> Result<Ssml, SsmlError> {
        loop {
            let event = match self.reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    let line = self.line_at(self.reader.error_position());
                    return Err(SsmlError {
                        line,
                        message: format!("malformed XML: {e}"),
                    });
                }
            };
            match event {
                Event::Start(e) => self.open(&e)?,
                Event::Empty(e) => {
                    self.open(&e)?;
                    self.close()?;
                }
                Event::End(_) => self.close()?,
                Event::Text(t) => {
                    let text = t
                        .decode()
                        .map_err(|e| self.error(format!("malformed text: {e}")))?;
                    self.text(&text)?;
                }
                Event::CData(t) => {
                    let text = String::from_utf8_lossy(&t).into_owned();
                    self.text(&text)?;
                }
                Event::GeneralRef(r) => {
                    let text = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = r
                                .decode()
                                .map_err(|e| self.error(format!("malformed entity: {e}")))?;
                            match quick_xml::escape::resolve_predefined_entity(&name) {
                                Some(s) => s.to_string(),
                                None => {
                                    return Err(self.error(format!("unknown entity `&{name};`")))
                                }
                            }
                        }
                        Err(e) => return Err(self.error(format!("bad character reference: {e}"))),
                    };
                    self.text(&text)?;
                }
                Event::DocType(_) => {
                    return Err(self.error("a DOCTYPE is not allowed in SSML here"));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(open) = self.stack.last() {
            return Err(SsmlError {
                line: self.line(),
                message: format!(
                    "<{}> opened on line {} is never closed",
                    open.name, open.line
                ),
            });
        }
        if !self.seen_root {
            return Err(self.error("no <speak> element"));
        }
        // Text with nothing to say (blanks, punctuation) between two parts
        // goes with the part before it, rather than a model call of its own.
        let mut parts: Vec<Part> = Vec::new();
        for part in self.parts {
            match parts.last_mut() {
                Some(last) if !part.text.chars().any(char::is_alphanumeric) => {
                    last.text.push_str(&part.text);
                }
                _ if part.text.is_empty() => {}
                _ => parts.push(part),
            }
        }
        Ok(Ssml {
            parts,
            lang: self.lang,
            warnings: self.warnings,
        })
    }

    fn text(&mut self, text: &str) -> Result<(), SsmlError> {
        if self.stack.is_empty() {
            if text.trim().is_empty() {
                return Ok(());
            }
            return Err(self.error("text outside <speak>"));
        }
        self.write(text);
        Ok(())
    }

    fn open(&mut self, e: &BytesStart<'_>) -> Result<(), SsmlError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| self.error(format!("<{name}>: malformed attribute: {err}")))?;
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map_err(|err| self.error(format!("<{name} {key}>: {err}")))?
                .into_owned();
            attrs.push((key, value));
        }
        let attr = |key: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_string())
        };
        if self.stack.is_empty() {
            if name != "speak" {
                return Err(self.error(format!("the root element is <{name}>, not <speak>")));
            }
            if self.seen_root {
                return Err(self.error("a second <speak> element"));
            }
            self.seen_root = true;
        } else if name == "speak" {
            return Err(self.error("<speak> inside <speak>"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(format!("elements nest more than {MAX_DEPTH} deep")));
        }
        let mut frame = Frame {
            name: name.clone(),
            line: self.line(),
            voice: self.voice(),
            rate: self.rate(),
            gather: None,
        };
        match name.as_str() {
            "speak" => {
                if let Some(code) = attr("lang") {
                    match code.parse::<Lang>() {
                        Ok(lang) => self.lang = Some(lang),
                        Err(_) => self.warn(format!(
                            "xml:lang `{code}` is not a language Kokoro speaks; the voice's is used"
                        )),
                    }
                }
            }
            "p" => self.write("\n\n"),
            "s" | "emphasis" | "mark" => {}
            "break" => {
                let ms = match (attr("time"), attr("strength")) {
                    (Some(time), _) => match duration_ms(&time) {
                        Some(ms) => ms,
                        None => {
                            self.warn(format!("<break time=\"{time}\">: not a time such as 500ms or 1.5s; a medium break instead"));
                            750
                        }
                    },
                    (None, Some(strength)) => match strength.as_str() {
                        "none" => 0,
                        "x-weak" => 250,
                        "weak" => 500,
                        "medium" => 750,
                        "strong" => 1000,
                        "x-strong" => 1250,
                        other => {
                            self.warn(format!(
                                "<break strength=\"{other}\">: unknown; a medium break instead"
                            ));
                            750
                        }
                    },
                    (None, None) => 750,
                };
                if ms > MAX_PAUSE_MS {
                    self.warn(format!(
                        "<break>: {ms} ms is longer than the {MAX_PAUSE_MS} ms allowed; {MAX_PAUSE_MS} ms instead"
                    ));
                }
                if ms > 0 {
                    self.write(&format!(" [pause:{}ms] ", ms.min(MAX_PAUSE_MS)));
                }
            }
            "prosody" => {
                if let Some(rate) = attr("rate") {
                    match rate_of(&rate) {
                        Some(r) => frame.rate *= r,
                        None => self.warn(format!("<prosody rate=\"{rate}\">: not a rate (x-slow..x-fast, 1.2, 120%); ignored")),
                    }
                }
                for ignored in ["pitch", "volume", "contour", "range"] {
                    if attr(ignored).is_some() {
                        self.warn(format!(
                            "<prosody {ignored}>: Kokoro cannot change it; ignored"
                        ));
                    }
                }
            }
            "voice" => match attr("name") {
                Some(voice) if !voice.is_empty() => frame.voice = Some(voice),
                _ => self.warn("<voice> without a name: the voice is unchanged".into()),
            },
            "sub" => match attr("alias") {
                Some(alias) => {
                    self.write(&alias);
                    frame.gather = Some(Gather::Skip);
                }
                None => self.warn("<sub> without an alias: its text is read".into()),
            },
            "phoneme" => {
                let alphabet = attr("alphabet").unwrap_or_else(|| "ipa".into());
                match (attr("ph"), alphabet.as_str()) {
                    (Some(ph), "ipa") => frame.gather = Some(Gather::Phoneme(from_ipa(&ph))),
                    (Some(ph), "kokoro" | "misaki") => frame.gather = Some(Gather::Phoneme(ph)),
                    (Some(_), other) => self.warn(format!(
                        "<phoneme alphabet=\"{other}\">: only ipa and kokoro are read; its text is read instead"
                    )),
                    (None, _) => self.warn("<phoneme> without ph: its text is read".into()),
                }
            }
            "say-as" => match attr("interpret-as") {
                Some(kind) => {
                    frame.gather = Some(Gather::SayAs {
                        kind,
                        format: attr("format"),
                    })
                }
                None => self.warn("<say-as> without interpret-as: its text is read".into()),
            },
            other => self.warn(format!("<{other}> is not supported; its text is read")),
        }
        if frame.gather.is_some() && self.gathering() {
            self.warn(format!(
                "<{name}> inside <phoneme>, <say-as> or <sub>: ignored"
            ));
            frame.gather = None;
        }
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self) -> Result<(), SsmlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(self.error("a closing tag without its opening tag"));
        };
        let gathered = if frame.gather.is_some() {
            std::mem::take(&mut self.gathered)
        } else {
            String::new()
        };
        match frame.gather {
            Some(Gather::Phoneme(ph)) => {
                let word: String = gathered
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace(['[', ']'], "");
                let ph = ph.replace(['/', '(', ')', '[', ']'], "");
                let word = if word.is_empty() {
                    "word".to_string()
                } else {
                    word
                };
                self.write(&format!(" [{word}](/{ph}/) "));
            }
            Some(Gather::SayAs { kind, format }) => {
                let english = self
                    .lang
                    .is_none_or(|l| matches!(l, Lang::EnUs | Lang::EnGb));
                let said = match say_as(&kind, format.as_deref(), gathered.trim(), english) {
                    Some(s) => s,
                    None => {
                        self.warn(format!(
                            "<say-as interpret-as=\"{kind}\">: `{}` read as it is",
                            gathered.trim()
                        ));
                        gathered.clone()
                    }
                };
                self.write(&said);
            }
            Some(Gather::Skip) | None => {}
        }
        match frame.name.as_str() {
            "p" => self.write("\n\n"),
            "s" => self.end_sentence(),
            _ => {}
        }
        Ok(())
    }
}

/// `500ms`, `1.5s`, `2` (seconds) to milliseconds.
fn duration_ms(time: &str) -> Option<u32> {
    let time = time.trim();
    let (number, scale) = if let Some(ms) = time.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = time.strip_suffix('s') {
        (s, 1000.0)
    } else {
        (time, 1000.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0)
        .then(|| (value * scale).round().min(f64::from(u32::MAX)) as u32)
}

/// A `<prosody rate>` as a multiple of the speed.
fn rate_of(rate: &str) -> Option<f32> {
    let rate = rate.trim();
    let named = match rate {
        "x-slow" => Some(0.5),
        "slow" => Some(0.75),
        "medium" | "default" => Some(1.0),
        "fast" => Some(1.25),
        "x-fast" => Some(1.5),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    let value = if let Some(pct) = rate.strip_suffix('%') {
        let relative = pct.starts_with(['+', '-']);
        let p: f32 = pct.parse().ok()?;
        if relative {
            1.0 + p / 100.0
        } else {
            p / 100.0
        }
    } else {
        rate.parse().ok()?
    };
    (value.is_finite() && value > 0.0).then_some(value)
}

/// Standard IPA in Kokoro's (misaki's) symbols: its diphthongs are single
/// letters, its r-coloured vowels spelled out.
fn from_ipa(ph: &str) -> String {
    const PAIRS: [(&str, &str); 14] = [
        ("eɪ", "A"),
        ("aɪ", "I"),
        ("aʊ", "W"),
        ("ɔɪ", "Y"),
        ("oʊ", "O"),
        ("əʊ", "Q"),
        ("tʃ", "ʧ"),
        ("dʒ", "ʤ"),
        ("ɝ", "ɜɹ"),
        ("ɚ", "əɹ"),
        ("r", "ɹ"),
        ("g", "ɡ"),
        ("ɫ", "l"),
        ("'", "ˈ"),
    ];
    let mut out = ph.trim().to_string();
    for (from, to) in PAIRS {
        out = out.replace(from, to);
    }
    stress_on_vowels(&out)
}

/// IPA marks stress before the syllable; Kokoro's symbols mark it before the
/// syllable's vowel (`ˈkOkə` → `kˈOkə`).
fn stress_on_vowels(ph: &str) -> String {
    const VOWELS: &str = "aeiouyæɑɐɒɔəɛɜɪʊʌɨʉøœɘɵɤAIOWYQᵻᵊ";
    let mut out = String::with_capacity(ph.len());
    let mut pending: Option<char> = None;
    for c in ph.chars() {
        match c {
            'ˈ' | 'ˌ' => {
                if let Some(p) = pending.replace(c) {
                    out.push(p);
                }
            }
            '.' | ' ' => {
                // A syllable or word boundary: a mark that found no vowel stays where it was.
                if let Some(p) = pending.take() {
                    out.push(p);
                }
                if c == ' ' {
                    out.push(c);
                }
            }
            _ => {
                if VOWELS.contains(c) {
                    if let Some(p) = pending.take() {
                        out.push(p);
                    }
                }
                out.push(c);
            }
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A number with its English ordinal suffix: `1` → `1st`, `12` → `12th`.
pub(crate) fn ordinal(n: &str) -> String {
    let last_two = n.len().saturating_sub(2);
    let suffix = match (&n[last_two..], n.as_bytes().last()) {
        ("11" | "12" | "13", _) => "th",
        (_, Some(b'1')) => "st",
        (_, Some(b'2')) => "nd",
        (_, Some(b'3')) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What `<say-as>` makes of `text`; `None` when it does not fit the kind.
fn say_as(kind: &str, format: Option<&str>, text: &str, english: bool) -> Option<String> {
    match kind {
        "characters" | "spell-out" | "verbatim" | "digits" | "letters" => Some(
            text.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| match c {
                    // Alone, "A" is read as the article; this is the letter.
                    'a' | 'A' if english => "[A](/ˈA/)".to_string(),
                    c => c.to_uppercase().to_string(),
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "cardinal" | "number" => {
            let digits: String = text
                .chars()
                .filter(|c| !matches!(c, ',' | '_' | ' '))
                .collect();
            let body = digits.strip_prefix('-').unwrap_or(&digits);
            let valid = !body.is_empty()
                && body.chars().all(|c| c.is_ascii_digit() || c == '.')
                && body.chars().filter(|&c| c == '.').count() <= 1;
            valid.then_some(digits)
        }
        "ordinal" => {
            let digits: String = text.chars().filter(|c| !matches!(c, ',' | '_')).collect();
            let digits = digits.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '.');
            (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
                .then(|| ordinal(digits))
        }
        "telephone" => {
            let mut groups = Vec::new();
            let mut plus = false;
            for group in text.split(|c: char| !c.is_ascii_digit() && c != '+') {
                let group = group.trim();
                if group.is_empty() {
                    continue;
                }
                if group.starts_with('+') {
                    plus = groups.is_empty();
                }
                let digits: Vec<String> = group
                    .chars()
                    .filter(char::is_ascii_digit)
                    .map(|c| c.to_string())
                    .collect();
                if !digits.is_empty() {
                    groups.push(digits.join(" "));
                }
            }
            if groups.is_empty() {
                return None;
            }
            let said = groups.join(", ");
            Some(if plus { format!("plus {said}") } else { said })
        }
        "date" => date(format, text),
        _ => None,
    }
}

/// `<say-as interpret-as="date">`: fields split at `-`, `/` or `.`, in the
/// order `format` gives (`ymd`, `mdy`, `dmy`, `md`, `dm`, `ym`, `my`, `y`),
/// else `ymd` when the first field has four digits, else `mdy`.
fn date(format: Option<&str>, text: &str) -> Option<String> {
    let fields: Vec<&str> = text
        .split(['-', '/', '.'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty()
        || fields
            .iter()
            .any(|f| !f.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let order = match format {
        Some(f) => f.to_ascii_lowercase(),
        None if fields[0].len() == 4 => "ymd"[..fields.len().min(3)].to_string(),
        None if fields.len() == 3 => "mdy".to_string(),
        None => "md"[..fields.len().min(2)].to_string(),
    };
    if order.len() != fields.len() || !order.chars().all(|c| matches!(c, 'y' | 'm' | 'd')) {
        return None;
    }
    let (mut y, mut m, mut d) = (None, None, None);
    for (c, f) in order.chars().zip(&fields) {
        match c {
            'y' => y = Some(*f),
            'm' => m = Some(f.parse::<usize>().ok().filter(|m| (1..=12).contains(m))?),
            _ => d = Some(f.parse::<u32>().ok().filter(|d| (1..=31).contains(d))?),
        }
    }
    let month = m.map(|m| MONTHS[m - 1]);
    let day = d.map(|d| ordinal(&d.to_string()));
    Some(match (month, day, y) {
        (Some(m), Some(d), Some(y)) => format!("{m} {d}, {y}"),
        (Some(m), Some(d), None) => format!("{m} {d}"),
        (Some(m), None, Some(y)) => format!("{m} {y}"),
        (None, None, Some(y)) => y.to_string(),
        (Some(m), None, None) => m.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssml_is_recognised_by_its_root() {
        assert!(looks_like_ssml("<speak>Hi</speak>"));
        assert!(looks_like_ssml(
            "\u{feff} <?xml version=\"1.0\"?>\n<!-- a -->\n<speak version=\"1.1\">"
        ));
        assert!(!looks_like_ssml("<speaker>"));
        assert!(!looks_like_ssml("Say <speak> aloud"));
        assert!(!looks_like_ssml("<?xml version=\"1.0\"?>"));
    }

    #[test]
    fn malformed_xml_names_its_line() {
        for (src, line, says) in [
            ("<speak>\nOne\n<p>two</s>\n</speak>", 3, "malformed XML"),
            ("<speak>\n<p>\nOpen", 3, "<p> opened on line 2 is never closed"),
            ("<voice>Hi</voice>", 1, "root element is <voice>"),
            ("<speak>a</speak>\ntrailing", 2, "text outside <speak>"),
            ("<speak>&nope;</speak>", 1, "unknown entity"),
            (
                "<?xml version=\"1.0\"?>\n<!DOCTYPE speak [<!ENTITY a \"aaaa\">]>\n<speak>&a;</speak>",
                2,
                "DOCTYPE",
            ),
        ] {
            let e = Ssml::parse(src).unwrap_err();
            assert_eq!(e.line, line, "{src:?}: {e}");
            assert!(e.to_string().contains(says), "{src:?}: {e}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "<speak>{}x{}</speak>",
            "<s>".repeat(MAX_DEPTH),
            "</s>".repeat(MAX_DEPTH)
        );
        let e = Ssml::parse(&deep).unwrap_err();
        assert!(e.message.contains("nest more than"), "{e}");
        let fits = format!(
            "<speak>{}x{}</speak>",
            "<emphasis>".repeat(MAX_DEPTH - 1),
            "</emphasis>".repeat(MAX_DEPTH - 1)
        );
        assert!(Ssml::parse(&fits).is_ok());
    }

    #[test]
    fn rates_durations_and_ordinals() {
        assert_eq!(rate_of("slow"), Some(0.75));
        assert_eq!(rate_of("1.2"), Some(1.2));
        assert_eq!(rate_of("120%"), Some(1.2));
        assert_eq!(rate_of("+20%"), Some(1.2));
        assert_eq!(rate_of("-10%"), Some(0.9));
        assert_eq!(rate_of("zoom"), None);
        assert_eq!(rate_of("-1"), None);
        assert_eq!(duration_ms("500ms"), Some(500));
        assert_eq!(duration_ms("1.5s"), Some(1500));
        assert_eq!(duration_ms("2"), Some(2000));
        assert_eq!(duration_ms("soon"), None);
        for (n, o) in [
            ("1", "1st"),
            ("2", "2nd"),
            ("3", "3rd"),
            ("4", "4th"),
            ("11", "11th"),
            ("12", "12th"),
            ("13", "13th"),
            ("21", "21st"),
            ("112", "112th"),
        ] {
            assert_eq!(ordinal(n), o);
        }
    }

    #[test]
    fn ipa_stress_moves_to_the_vowel() {
        assert_eq!(from_ipa("ˈkoʊkəˌɹoʊ"), "kˈOkəɹˌO");
        assert_eq!(from_ipa("təˈmeɪtoʊ"), "təmˈAtO");
        assert_eq!(from_ipa("ˈstɹɛŋθ"), "stɹˈɛŋθ");
    }

    #[test]
    fn dates_follow_their_format_or_are_guessed() {
        assert_eq!(date(None, "2024-03-05").as_deref(), Some("March 5th, 2024"));
        assert_eq!(date(None, "03/05/2024").as_deref(), Some("March 5th, 2024"));
        assert_eq!(
            date(Some("dmy"), "05/03/2024").as_deref(),
            Some("March 5th, 2024")
        );
        assert_eq!(date(Some("md"), "12/25").as_deref(), Some("December 25th"));
        assert_eq!(date(Some("ym"), "1999-07").as_deref(), Some("July 1999"));
        assert_eq!(date(None, "13/45/2024"), None);
        assert_eq!(date(Some("dmy"), "2024-03"), None);
    }
}
