//! The one place a request becomes what is spoken: the voice or blend
//! resolved, the language chosen (with the same warning, as an
//! [`Event::Warning`], whichever door the request came through), the speed
//! checked. The command, the HTTP server, Wyoming, `kokoro batch` and the
//! Python module all go through [`Tts::prepare`].

use kokoro_infer::VoiceSet;
use kokoro_text::ssml::Ssml;
use kokoro_text::Lang;

use crate::voices::choose_lang;
use crate::{Error, Event, Result, SpeakOptions, Tts, SPEED_RANGE};

/// A request as a door receives it: nothing checked yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// A voice (`af_heart`), or a blend (`af_sarah:60,am_adam:40`).
    pub voice: String,
    /// The speed asked for, within [`SPEED_RANGE`].
    pub speed: f32,
    /// The language asked for; `None`: the SSML's `xml:lang`, else the
    /// (first) voice's.
    pub lang: Option<Lang>,
    /// Other names a door knows voices by (OpenAI's `alloy` for `af_alloy`),
    /// tried when the voice is not one of Kokoro's.
    pub aliases: &'static [(&'static str, &'static str)],
}

impl Default for Request {
    /// `af_heart` at normal speed, in its own language.
    fn default() -> Self {
        Self {
            voice: "af_heart".into(),
            speed: 1.0,
            lang: None,
            aliases: &[],
        }
    }
}

/// A request made into work.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The voice (by its Kokoro name), speed and language to speak with;
    /// the rest of the options as [`SpeakOptions::default`] has them.
    pub options: SpeakOptions,
    /// What the door may want to tell its user beside the engine's events
    /// (each was also sent as an [`Event::Warning`]).
    pub warnings: Vec<String>,
}

/// Checks a speed: within [`SPEED_RANGE`], or [`Error::BadSpeed`], the one
/// message every door gives.
pub fn check_speed(speed: f32) -> Result<f32> {
    if SPEED_RANGE.contains(&speed) {
        Ok(speed)
    } else {
        Err(Error::BadSpeed(speed))
    }
}

/// The language a request is spoken in, without the engine: the one asked
/// for, else the SSML's, else the voice's (see [`choose_lang`]); what
/// [`Tts::prepare`] will choose, for a door that loads the language's front
/// end while the engine opens.
pub fn lang_of(request: &Request, ssml: Option<&Ssml>) -> Lang {
    choose_lang(request.lang.or(ssml.and_then(|s| s.lang)), &request.voice).lang
}

impl Request {
    /// Checks the request against `voices`: the speed checked, the voice
    /// resolved (a blend's every voice; an alias's Kokoro name; the SSML's
    /// `<voice>`s too), the language chosen; a doubtful language in
    /// [`Prepared::warnings`]. [`Tts::prepare`] also tells them as events.
    pub fn check(&self, voices: &VoiceSet, ssml: Option<&Ssml>) -> Result<Prepared> {
        let speed = check_speed(self.speed)?;
        let voice = resolve_voice(voices, &self.voice, self.aliases)?;
        if let Some(ssml) = ssml {
            check_ssml_voices(voices, ssml)?;
        }
        let choice = choose_lang(self.lang.or(ssml.and_then(|s| s.lang)), &voice);
        Ok(Prepared {
            options: SpeakOptions {
                voice,
                speed,
                lang: Some(choice.lang),
                ..SpeakOptions::default()
            },
            warnings: choice.warning.into_iter().collect(),
        })
    }
}

/// Checks every `<voice>` an SSML document names.
pub fn check_ssml_voices(voices: &VoiceSet, ssml: &Ssml) -> Result<()> {
    for part in &ssml.parts {
        if let Some(v) = &part.voice {
            voices.resolve(v)?;
        }
    }
    Ok(())
}

/// A voice or blend by its Kokoro name: itself when the voices know it, else
/// what an alias names.
fn resolve_voice(voices: &VoiceSet, asked: &str, aliases: &[(&str, &str)]) -> Result<String> {
    match voices.resolve(asked) {
        Ok(_) => Ok(asked.trim().to_string()),
        Err(e) => {
            let Some((_, name)) = aliases
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(asked.trim()))
            else {
                return Err(e.into());
            };
            voices.resolve(name)?;
            Ok((*name).to_string())
        }
    }
}

impl Tts {
    /// Makes `request` into what is spoken ([`Request::check`] against this
    /// engine's voices), telling a doubtful language as an
    /// [`Event::Warning`], the same for every door.
    pub fn prepare(&self, request: &Request, ssml: Option<&Ssml>) -> Result<Prepared> {
        let prepared = request.check(self.voice_set(), ssml)?;
        self.warn(&prepared.warnings);
        Ok(prepared)
    }

    /// Tells `warnings` as [`Event::Warning`]s.
    pub fn warn(&self, warnings: &[String]) {
        for w in warnings {
            self.emit(&Event::Warning(w.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_speed_range_one_message() {
        assert_eq!(check_speed(1.5).unwrap(), 1.5);
        let e = check_speed(2.5).unwrap_err().to_string();
        assert_eq!(e, "speed 2.5 is out of range (0.5 to 2.0)");
        assert!(check_speed(f32::NAN).is_err());
    }

    #[test]
    fn the_language_before_the_engine_opens() {
        let r = Request {
            voice: "jf_alpha".into(),
            ..Request::default()
        };
        assert_eq!(lang_of(&r, None), Lang::Ja);
        let asked = Request {
            lang: Some(Lang::EnGb),
            ..r
        };
        assert_eq!(lang_of(&asked, None), Lang::EnGb);
    }
}
