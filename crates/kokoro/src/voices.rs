//! What a voice's name tells: its language and gender (`af_heart`: American
//! English, female), and the language to speak a text in.

use kokoro_text::Lang;

/// The characters that separate the voices of a blend (`af_sarah:60,am_adam:40`).
const BLEND_SEPARATORS: [char; 3] = [',', ':', '+'];

/// A voice's gender, from the second letter of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Gender {
    /// `?f_*`.
    Female,
    /// `?m_*`.
    Male,
    /// A name without the usual prefix.
    Unknown,
}

impl Gender {
    /// `female`, `male` or `?`.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Unknown => "?",
        }
    }
}

/// One voice, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceInfo {
    /// The voice's name (`af_heart`).
    pub name: String,
    /// Its language, from the first letter of its name.
    pub lang: Option<Lang>,
    /// Its gender, from the second letter.
    pub gender: Gender,
}

impl VoiceInfo {
    /// What a voice's name says about it.
    pub fn of(name: &str) -> Self {
        let gender = match name.chars().nth(1) {
            Some('f') => Gender::Female,
            Some('m') => Gender::Male,
            _ => Gender::Unknown,
        };
        Self {
            name: name.to_string(),
            lang: Lang::from_voice(name),
            gender,
        }
    }

    /// The language code (`en-us`), or `?`.
    pub fn lang_code(&self) -> &'static str {
        self.lang.map_or("?", Lang::code)
    }
}

/// The first voice of a voice or blend spec: `af_sarah` of `af_sarah:60,am_adam:40`.
pub fn first_voice(spec: &str) -> &str {
    spec.split(BLEND_SEPARATORS)
        .next()
        .unwrap_or_default()
        .trim()
}

/// The language a voice (or a blend's first voice) speaks.
pub fn voice_lang(spec: &str) -> Option<Lang> {
    Lang::from_voice(first_voice(spec))
}

/// The language to read a text in, and a warning when the choice is doubtful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangChoice {
    /// The language.
    pub lang: Lang,
    /// Why the voice's accent may show, if it may.
    pub warning: Option<String>,
}

/// The language to speak: `asked` when given, else the (first) voice's. A voice
/// of another language still speaks, with a warning: its accent will show. A
/// voice whose language cannot be told reads en-us, with a warning.
pub fn choose_lang(asked: Option<Lang>, voice: &str) -> LangChoice {
    let first = first_voice(voice);
    match (asked, Lang::from_voice(first)) {
        (Some(lang), of_voice) => LangChoice {
            lang,
            warning: of_voice.filter(|&v| v != lang).map(|v| {
                format!(
                    "voice `{first}` is {} but the text is read as {}; expect an accent",
                    v.name(),
                    lang.name()
                )
            }),
        },
        (None, Some(lang)) => LangChoice {
            lang,
            warning: None,
        },
        (None, None) => LangChoice {
            lang: Lang::EnUs,
            warning: Some(format!(
                "cannot tell the language of voice `{first}`; reading en-us"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_say_their_language_and_gender() {
        let v = VoiceInfo::of("bm_george");
        assert_eq!(v.lang, Some(Lang::EnGb));
        assert_eq!(v.gender, Gender::Male);
        assert_eq!(VoiceInfo::of("x").gender, Gender::Unknown);
        assert_eq!(VoiceInfo::of("x").lang_code(), "?");
    }

    #[test]
    fn a_blend_speaks_its_first_voices_language_whatever_the_separator() {
        for spec in [
            "ef_dora:60,am_adam:40",
            "ef_dora,am_adam",
            "ef_dora+am_adam",
            " ef_dora ",
        ] {
            assert_eq!(voice_lang(spec), Some(Lang::Es), "{spec}");
        }
    }

    #[test]
    fn the_language_comes_from_the_voice_unless_asked() {
        assert_eq!(choose_lang(None, "jf_alpha").lang, Lang::Ja);
        assert_eq!(choose_lang(None, "jf_alpha").warning, None);
        let c = choose_lang(Some(Lang::EnUs), "jf_alpha");
        assert_eq!(c.lang, Lang::EnUs);
        assert!(c.warning.unwrap().contains("expect an accent"));
        let c = choose_lang(None, "mystery");
        assert_eq!(c.lang, Lang::EnUs);
        assert!(c.warning.is_some());
    }
}
