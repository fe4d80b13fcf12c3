//! Every language's front end: snapshots of phonemes for a few sentences, and
//! the splitter and chunker losing no text under arbitrary input.
#![cfg(all(feature = "espeak", feature = "ja", feature = "zh"))]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use kokoro_text::{ChunkOptions, Diagnostic, EspeakFallback, Frontend, G2p, Lang, MAX_TOKENS};
use proptest::prelude::*;

use crate::common::assert_covered;

fn frontend(lang: Lang) -> &'static Frontend {
    static F: OnceLock<HashMap<Lang, Frontend>> = OnceLock::new();
    let all = F.get_or_init(|| {
        // Kept under the target directory and reused, rather than a new
        // directory in /tmp left behind by every run.
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("espeak-ng-data");
        let espeak = Arc::new(EspeakFallback::install(&dir).expect("espeak-ng data installs"));
        Lang::ALL
            .into_iter()
            .map(|l| {
                (
                    l,
                    Frontend::new(G2p::new(l, espeak.clone()).expect("this build speaks it")),
                )
            })
            .collect()
    });
    &all[&lang]
}

/// A few sentences per language, with numbers and the language's punctuation.
const SAMPLES: [(Lang, &str); 9] = [
    (
        Lang::EnUs,
        "Hello there! The 3 ships sailed at 10:30, didn't they?",
    ),
    (
        Lang::EnGb,
        "The colour of the harbour was grey. I paid £20.",
    ),
    (
        Lang::Es,
        "¿Cómo estás? ¡Muy bien! Tengo 25 años, y Jorge llegó ayer.",
    ),
    (
        Lang::Fr,
        "Bonjour, je m'appelle Jean. Il a 21 ans ; un bon vin (rouge) !",
    ),
    (Lang::Hi, "भारत एक महान देश है। मेरे पास 3 किताबें हैं, ठीक है?"),
    (
        Lang::It,
        "Ciao, grazie mille! La pizza costa 12 euro e gli gnocchi no.",
    ),
    (
        Lang::PtBr,
        "Olá, tudo bem? Não, eu moro no Rio de Janeiro há 15 anos.",
    ),
    (
        Lang::Ja,
        "こんにちは、世界！コーヒーを3杯ください。ちょっと待って。",
    ),
    (
        Lang::Cmn,
        "你好，世界！我有3个苹果。今天天气很好，我们去公园吧？",
    ),
];

fn render(lang: Lang, text: &str) -> String {
    let out = frontend(lang).process(text, ChunkOptions::default());
    let mut s = String::new();
    for c in &out.chunks {
        s += &format!("{:?}\n{}\n", &text[c.span.clone()], c.phonemes);
    }
    for d in &out.diagnostics {
        s += &format!("! {d}\n");
    }
    s
}

#[test]
fn snapshot_each_language() {
    for (lang, text) in SAMPLES {
        insta::assert_snapshot!(format!("phonemes_{}", lang.code()), render(lang, text));
    }
}

#[test]
fn every_language_speaks_something_for_every_sentence() {
    for (lang, text) in SAMPLES {
        let out = frontend(lang).process(text, ChunkOptions::default());
        assert!(!out.chunks.is_empty(), "{lang:?}");
        for c in &out.chunks {
            assert!(c.ids.len() > 5, "{lang:?}: {c:?}");
        }
        // Nothing the model cannot hear: no symbol outside its vocabulary.
        let unknown: Vec<_> = out
            .diagnostics
            .iter()
            .filter(|d| {
                matches!(
                    d,
                    Diagnostic::UnknownSymbol { .. } | Diagnostic::G2pFailed { .. }
                )
            })
            .collect();
        assert!(unknown.is_empty(), "{lang:?}: {unknown:?}");
    }
}

#[test]
fn cjk_and_spanish_punctuation_split_sentences() {
    let zh = kokoro_text::split_sentences("你好。我很好！你呢？好的");
    assert_eq!(zh.len(), 4);
    let es = kokoro_text::split_sentences("Hola. ¿Qué tal? ¡Bien! Adiós.");
    assert_eq!(es.len(), 4);
    let hi = kokoro_text::split_sentences("यह एक है। यह दो है।");
    assert_eq!(hi.len(), 2);
}

/// Text in `lang`'s script with its punctuation, numbers and pause markup.
fn text_in(lang: Lang) -> BoxedStrategy<String> {
    let letters = match lang {
        Lang::EnUs | Lang::EnGb => "[a-zA-Z]{1,8}",
        Lang::Es => "[a-zA-Záéíóúñü¿¡]{1,8}",
        Lang::Fr => "[a-zA-Zàâçéèêëîïôûùüÿœ']{1,8}",
        Lang::Hi => "[कखगघचजटडतदनपबमयरलवसहािीुेों]{1,6}",
        Lang::It => "[a-zA-Zàèéìòù']{1,8}",
        Lang::PtBr => "[a-zA-Zãõáéíóúâêôçà]{1,8}",
        Lang::Ja => "[あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんっゃゅょーアイウエオカキクケコ日本語学生先]{1,6}",
        Lang::Cmn => "[你好我是他们的中国人大学生今天天气很一二三]{1,6}",
    };
    let pieces = prop_oneof![
        6 => letters.prop_map(String::from),
        1 => "[0-9]{1,5}".prop_map(String::from),
        2 => "[ .,;:!?。，、！？।\n()\"«»“”—…]".prop_map(String::from),
        1 => "\\[pause:[0-9]{1,3}ms\\]".prop_map(String::from),
    ];
    proptest::collection::vec(pieces, 0..40)
        .prop_map(|p| p.join(" "))
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_language_loses_text(
        (lang, text) in proptest::sample::select(Lang::ALL.to_vec()).prop_flat_map(|l| (Just(l), text_in(l))),
        target in 1usize..300,
    ) {
        let opts = ChunkOptions { target_tokens: target, ..ChunkOptions::default() };
        let out = frontend(lang).process(&text, opts);
        for c in &out.chunks {
            prop_assert!(c.ids.len() <= MAX_TOKENS);
        }
        assert_covered(&text, &out);
    }
}

#[test]
fn inline_overrides_and_pauses_work_in_every_language() {
    let cases = [
        (
            Lang::Es,
            "Hola [Kokoro](/kˈOkəɹO/), amigo. [pause:1s] Adiós.",
        ),
        (
            Lang::Fr,
            "Bonjour [Kokoro](/kˈOkəɹO/), mon ami. [pause:1s] Au revoir.",
        ),
        (
            Lang::Ja,
            "こんにちは[Kokoro](/kˈOkəɹO/)さん。[pause:1s]さようなら。",
        ),
        (Lang::Cmn, "你好[Kokoro](/kˈOkəɹO/)。[pause:1s]再见。"),
    ];
    for (lang, text) in cases {
        let out = frontend(lang).process(text, ChunkOptions::default());
        assert_eq!(out.chunks.len(), 2, "{lang:?}: {:?}", out.chunks);
        assert!(
            out.chunks[0].phonemes.contains("kˈOkəɹO"),
            "{lang:?}: {}",
            out.chunks[0].phonemes
        );
        assert_eq!(out.chunks[0].pause_after_ms, Some(1000), "{lang:?}");
        assert_covered(text, &out);
    }
}
