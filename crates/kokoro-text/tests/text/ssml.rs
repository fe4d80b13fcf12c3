//! SSML: what each tag becomes (parts with their voice and rate, the text with
//! pause markup and phoneme overrides, and the phonemes and pauses the English
//! front end makes of it), as a snapshot; and the properties every reading has.

use std::sync::{Arc, OnceLock};

use kokoro_text::ssml::Ssml;
use kokoro_text::{ChunkOptions, Frontend, G2p, Lang, SpellingFallback};
use proptest::prelude::*;

fn frontend() -> &'static Frontend {
    static F: OnceLock<Frontend> = OnceLock::new();
    F.get_or_init(|| {
        Frontend::new(
            G2p::new(Lang::EnUs, Arc::new(SpellingFallback)).expect("English needs no backend"),
        )
    })
}

const CASES: [(&str, &str); 16] = [
    ("speak", r#"<speak>Hello there.</speak>"#),
    (
        "p and s",
        r#"<speak><p><s>First sentence</s><s>Second one</s></p><p>A new paragraph.</p></speak>"#,
    ),
    (
        "break time",
        r#"<speak>Wait for it <break time="1.5s"/> now.</speak>"#,
    ),
    (
        "break strength",
        r#"<speak>One <break strength="weak"/> two <break strength="x-strong"/> three <break/> four <break strength="none"/> five.</speak>"#,
    ),
    (
        "prosody rate",
        r#"<speak>Normal. <prosody rate="slow">Slow words.</prosody> <prosody rate="150%">Fast <prosody rate="x-slow">then nested.</prosody></prosody></speak>"#,
    ),
    (
        "phoneme ipa",
        r#"<speak>Say <phoneme alphabet="ipa" ph="ˈkoʊkəˌɹoʊ">Kokoro</phoneme> right.</speak>"#,
    ),
    (
        "phoneme kokoro",
        r#"<speak>Say <phoneme alphabet="kokoro" ph="kˈOkəɹO">Kokoro</phoneme> right.</speak>"#,
    ),
    (
        "sub",
        r#"<speak>The <sub alias="World Wide Web">WWW</sub> is big.</speak>"#,
    ),
    (
        "say-as characters",
        r#"<speak>Spell <say-as interpret-as="characters">abc</say-as> please.</speak>"#,
    ),
    (
        "say-as cardinal",
        r#"<speak>We have <say-as interpret-as="cardinal">12,345</say-as> users.</speak>"#,
    ),
    (
        "say-as ordinal",
        r#"<speak>She came <say-as interpret-as="ordinal">3</say-as> in the race.</speak>"#,
    ),
    (
        "say-as date",
        r#"<speak>Born on <say-as interpret-as="date" format="dmy">05/03/1990</say-as>.</speak>"#,
    ),
    (
        "say-as telephone",
        r#"<speak>Call <say-as interpret-as="telephone">+1 555-0142</say-as> now.</speak>"#,
    ),
    (
        "voice",
        r#"<speak>Hello, I am Heart. <voice name="am_adam">And I am Adam.</voice> Back to Heart.</speak>"#,
    ),
    (
        "emphasis and mark",
        r#"<speak>This is <emphasis level="strong">very</emphasis> <mark name="m1"/>important.</speak>"#,
    ),
    (
        "unknown tag",
        r#"<speak>An <audio src="x.wav">audio fallback</audio> text, &amp; entities &#233;.</speak>"#,
    ),
];

fn render(name: &str, src: &str) -> String {
    let ssml = Ssml::parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut s = format!("== {name}\n{src}\n");
    for w in &ssml.warnings {
        s += &format!("  warning: {w}\n");
    }
    for part in &ssml.parts {
        s += &format!(
            "  part voice={} rate={}: {:?}\n",
            part.voice.as_deref().unwrap_or("-"),
            part.rate,
            part.text
        );
        for c in frontend()
            .process(&part.text, ChunkOptions::default())
            .chunks
        {
            let mut pauses = String::new();
            if c.pause_before_ms > 0 {
                pauses += &format!(" (pause {} ms before)", c.pause_before_ms);
            }
            if let Some(ms) = c.pause_after_ms {
                pauses += &format!(" (pause {ms} ms after)");
            }
            s += &format!("    {}{pauses}\n", c.phonemes);
        }
    }
    s
}

#[test]
fn what_each_tag_becomes() {
    let all: String = CASES.iter().map(|(name, src)| render(name, src)).collect();
    insta::assert_snapshot!(all);
}

#[test]
fn a_voice_switch_and_a_rate_make_parts_of_their_own() {
    let ssml = Ssml::parse(CASES[13].1).unwrap();
    let voices: Vec<_> = ssml.parts.iter().map(|p| p.voice.as_deref()).collect();
    assert_eq!(voices, [None, Some("am_adam"), None]);
    let ssml = Ssml::parse(CASES[4].1).unwrap();
    let rates: Vec<_> = ssml.parts.iter().map(|p| p.rate).collect();
    assert_eq!(
        rates,
        [1.0, 0.75, 1.5, 0.75],
        "the blank between two rates joins the part before"
    );
}

#[test]
fn the_language_comes_from_speak() {
    let ssml = Ssml::parse(r#"<speak xml:lang="en-GB">Colour.</speak>"#).unwrap();
    assert_eq!(ssml.lang, Some(Lang::EnGb));
    let ssml = Ssml::parse(r#"<speak xml:lang="tlh">Qapla'.</speak>"#).unwrap();
    assert_eq!(ssml.lang, None);
    assert!(ssml.warnings[0].contains("tlh"), "{:?}", ssml.warnings);
}

proptest! {
    /// Whatever the bytes, reading ends in parts or an error with a line in
    /// the input, never a panic; and every word of plain text inside
    /// `<speak>` is in the parts.
    #[test]
    fn any_input_reads_or_fails_with_a_line(src in "\\PC{0,200}") {
        match Ssml::parse(&src) {
            Ok(ssml) => prop_assert!(ssml.parts.iter().all(|p| !p.text.is_empty())),
            Err(e) => prop_assert!(e.line >= 1 && e.line <= src.lines().count().max(1) + 1),
        }
    }

    #[test]
    fn plain_words_are_all_spoken(words in proptest::collection::vec("[a-zA-Z]{1,10}", 1..30)) {
        let src = format!("<speak><p>{}</p></speak>", words.join(" "));
        let text = Ssml::parse(&src).unwrap().text();
        let spoken: Vec<&str> = text.split_whitespace().collect();
        prop_assert_eq!(spoken, words.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn markup_soup_never_panics(tags in proptest::collection::vec(prop_oneof![
        Just("<p>"), Just("</p>"), Just("<s>"), Just("</s>"), Just("<break/>"),
        Just("<prosody rate=\"fast\">"), Just("</prosody>"), Just("<voice name=\"am_adam\">"),
        Just("</voice>"), Just("<say-as interpret-as=\"date\">"), Just("</say-as>"),
        Just("<sub alias=\"x\">"), Just("</sub>"), Just("<phoneme ph=\"a\">"), Just("</phoneme>"),
        Just("word "), Just("12/05 "), Just("&amp;"),
    ], 0..40)) {
        let src = format!("<speak>{}</speak>", tags.concat());
        let _ = Ssml::parse(&src);
    }
}
