//! Phoneme -> id mapping: the vocabulary Kokoro v1.0 was trained with.

use crate::Diagnostic;

/// The largest number of phoneme ids one model call takes (512 with the two pads).
pub const MAX_TOKENS: usize = 510;

/// Kokoro v1.0's phoneme vocabulary (misaki's symbol set), as in the model's config.
const VOCAB: &[(char, u8)] = &[
    (';', 1),
    (':', 2),
    (',', 3),
    ('.', 4),
    ('!', 5),
    ('?', 6),
    ('—', 9),
    ('…', 10),
    ('"', 11),
    ('(', 12),
    (')', 13),
    ('“', 14),
    ('”', 15),
    (' ', 16),
    ('\u{303}', 17),
    ('ʣ', 18),
    ('ʥ', 19),
    ('ʦ', 20),
    ('ʨ', 21),
    ('ᵝ', 22),
    ('ꭧ', 23),
    ('A', 24),
    ('I', 25),
    ('O', 31),
    ('Q', 33),
    ('S', 35),
    ('T', 36),
    ('W', 39),
    ('Y', 41),
    ('ᵊ', 42),
    ('a', 43),
    ('b', 44),
    ('c', 45),
    ('d', 46),
    ('e', 47),
    ('f', 48),
    ('h', 50),
    ('i', 51),
    ('j', 52),
    ('k', 53),
    ('l', 54),
    ('m', 55),
    ('n', 56),
    ('o', 57),
    ('p', 58),
    ('q', 59),
    ('r', 60),
    ('s', 61),
    ('t', 62),
    ('u', 63),
    ('v', 64),
    ('w', 65),
    ('x', 66),
    ('y', 67),
    ('z', 68),
    ('ɑ', 69),
    ('ɐ', 70),
    ('ɒ', 71),
    ('æ', 72),
    ('β', 75),
    ('ɔ', 76),
    ('ɕ', 77),
    ('ç', 78),
    ('ɖ', 80),
    ('ð', 81),
    ('ʤ', 82),
    ('ə', 83),
    ('ɚ', 85),
    ('ɛ', 86),
    ('ɜ', 87),
    ('ɟ', 90),
    ('ɡ', 92),
    ('ɥ', 99),
    ('ɨ', 101),
    ('ɪ', 102),
    ('ʝ', 103),
    ('ɯ', 110),
    ('ɰ', 111),
    ('ŋ', 112),
    ('ɳ', 113),
    ('ɲ', 114),
    ('ɴ', 115),
    ('ø', 116),
    ('ɸ', 118),
    ('θ', 119),
    ('œ', 120),
    ('ɹ', 123),
    ('ɾ', 125),
    ('ɻ', 126),
    ('ʁ', 128),
    ('ɽ', 129),
    ('ʂ', 130),
    ('ʃ', 131),
    ('ʈ', 132),
    ('ʧ', 133),
    ('ʊ', 135),
    ('ʋ', 136),
    ('ʌ', 138),
    ('ɣ', 139),
    ('ɤ', 140),
    ('χ', 142),
    ('ʎ', 143),
    ('ʒ', 147),
    ('ʔ', 148),
    ('ˈ', 156),
    ('ˌ', 157),
    ('ː', 158),
    ('ʰ', 162),
    ('ʲ', 164),
    ('↓', 169),
    ('→', 171),
    ('↗', 172),
    ('↘', 173),
    ('ᵻ', 177),
];

/// The id of one phoneme symbol, or `None` when the model does not know it.
pub fn id_of(symbol: char) -> Option<i64> {
    VOCAB
        .iter()
        .find(|(c, _)| *c == symbol)
        .map(|(_, id)| i64::from(*id))
}

/// Every symbol the model knows, with its id, in id order.
pub fn symbols() -> impl Iterator<Item = (char, i64)> {
    VOCAB.iter().map(|&(c, id)| (c, i64::from(id)))
}

/// The phoneme symbol of an id, or `None` for an id the model does not use.
pub fn symbol_of(id: i64) -> Option<char> {
    VOCAB
        .iter()
        .find(|(_, i)| i64::from(*i) == id)
        .map(|(c, _)| *c)
}

/// Maps a phoneme string to ids. Symbols outside the vocabulary are dropped, each
/// reported once per call in `diagnostics`, never as a panic.
pub fn to_ids(phonemes: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<i64> {
    let mut ids = Vec::with_capacity(phonemes.len());
    let mut unknown: Vec<char> = Vec::new();
    for c in phonemes.chars() {
        match id_of(c) {
            Some(id) => ids.push(id),
            None => {
                if !unknown.contains(&c) {
                    unknown.push(c);
                }
            }
        }
    }
    for c in unknown {
        diagnostics.push(Diagnostic::UnknownSymbol { symbol: c });
    }
    ids
}

/// Number of ids a phoneme string maps to (its cost against [`MAX_TOKENS`]).
pub fn count_ids(phonemes: &str) -> usize {
    phonemes.chars().filter(|c| id_of(*c).is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_symbols_map_to_model_ids() {
        let mut d = Vec::new();
        // "kˈOkəɹO": values from the model's config.
        assert_eq!(
            to_ids("kˈOkəɹO", &mut d),
            vec![53, 156, 31, 53, 83, 123, 31]
        );
        assert!(d.is_empty());
    }

    #[test]
    fn unknown_symbols_are_dropped_with_one_diagnostic_each() {
        let mut d = Vec::new();
        assert_eq!(to_ids("a❓b❓\n", &mut d), vec![43, 44]);
        assert_eq!(d.len(), 2);
        assert_eq!(count_ids("a❓b"), 2);
    }

    #[test]
    fn vocabulary_matches_the_reference_ids() {
        // The reference phonemes of short.txt give exactly the reference ids.
        let phonemes = "ðə dʒˌiːˌɛnjˈuː";
        let mut d = Vec::new();
        assert_eq!(
            to_ids(phonemes, &mut d),
            vec![81, 83, 16, 46, 147, 157, 51, 158, 157, 86, 56, 52, 156, 63, 158]
        );
    }
}
