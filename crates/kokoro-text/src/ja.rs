//! Japanese G2P (feature `ja`, GPL-3.0 through kakasi).
//!
//! Kokoro's authors read Japanese with misaki's cutlet mode: a morphological
//! dictionary (unidic) gives each word's kana, and a kana table gives phonemes.
//! Here kakasi's built-in dictionary gives the kana of kanji (no download, but
//! no context either: a kanji compound kakasi does not know is read by its most
//! common reading), and misaki's table, reproduced below, gives the phonemes.
//! There are no pitch-accent marks, as in misaki's output for Kokoro v1.0.

/// Phonemes for Japanese text in Kokoro's symbols.
pub fn phonemize(text: &str) -> String {
    let text = numbers_to_kana(text);
    let kana = kakasi::convert(&text).hiragana;
    kana_to_phonemes(&kana)
}

/// Phonemes of one plain kana: misaki's table (katakana already folded).
fn kana(c: char) -> Option<&'static str> {
    Some(match c {
        'あ' | 'ぁ' => "a",
        'い' | 'ぃ' | 'ゐ' => "i",
        'う' | 'ぅ' => "ɯ",
        'え' | 'ぇ' | 'ゑ' => "e",
        'お' | 'ぉ' | 'を' => "o",
        'か' | 'ゕ' => "ka",
        'き' => "kʲi",
        'く' => "kɯ",
        'け' | 'ゖ' => "ke",
        'こ' => "ko",
        'が' => "ɡa",
        'ぎ' => "ɡʲi",
        'ぐ' => "ɡɯ",
        'げ' => "ɡe",
        'ご' => "ɡo",
        'さ' => "sa",
        'し' => "ɕi",
        'す' => "sɨ",
        'せ' => "se",
        'そ' => "so",
        'ざ' => "ʣa",
        'じ' => "ʥi",
        'ず' => "zɨ",
        'ぜ' => "ʣe",
        'ぞ' => "ʣo",
        'た' => "ta",
        'ち' => "ʨi",
        'つ' => "ʦɨ",
        'て' => "te",
        'と' => "to",
        'だ' => "da",
        'ぢ' => "ʥi",
        'づ' => "zɨ",
        'で' => "de",
        'ど' => "do",
        'な' => "na",
        'に' => "ɲi",
        'ぬ' => "nɯ",
        'ね' => "ne",
        'の' => "no",
        'は' => "ha",
        'ひ' => "çi",
        'ふ' => "ɸɯ",
        'へ' => "he",
        'ほ' => "ho",
        'ば' => "ba",
        'び' => "bʲi",
        'ぶ' => "bɯ",
        'べ' => "be",
        'ぼ' => "bo",
        'ぱ' => "pa",
        'ぴ' => "pʲi",
        'ぷ' => "pɯ",
        'ぺ' => "pe",
        'ぽ' => "po",
        'ま' => "ma",
        'み' => "mʲi",
        'む' => "mɯ",
        'め' => "me",
        'も' => "mo",
        'や' | 'ゃ' => "ja",
        'ゆ' | 'ゅ' => "jɯ",
        'よ' | 'ょ' => "jo",
        'ら' => "ɾa",
        'り' => "ɾʲi",
        'る' => "ɾɯ",
        'れ' => "ɾe",
        'ろ' => "ɾo",
        'わ' | 'ゎ' => "βa",
        'ゔ' => "vɯ",
        _ => return None,
    })
}

/// Phonemes of a kana followed by a small kana, where misaki's table has the pair.
fn digraph(first: char, small: char) -> Option<String> {
    let vowel = match small {
        'ゃ' => "a",
        'ゅ' => "ɨ",
        'ょ' => "o",
        'ぇ' => "e",
        _ => "",
    };
    // Palatal rows: the consonant of き, し, ち... and the small kana's vowel.
    if !vowel.is_empty() && "きぎしじちぢにひびぴみり".contains(first) {
        let base = kana(first)?;
        return Some(format!("{}{vowel}", base.strip_suffix('i')?));
    }
    let pair = match (first, small) {
        ('く', 'ぁ') => "kᵝa",
        ('く', 'ぃ') => "kᵝi",
        ('く', 'ぇ') => "kᵝe",
        ('く', 'ぉ') => "kᵝo",
        ('ぐ', 'ぁ') => "ɡᵝa",
        ('ぐ', 'ぃ') => "ɡᵝi",
        ('ぐ', 'ぇ') => "ɡᵝe",
        ('ぐ', 'ぉ') => "ɡᵝo",
        ('い', 'ぇ') => "je",
        ('う', 'ぃ') => "βi",
        ('う', 'ぇ') => "βe",
        ('う', 'ぉ') => "βo",
        ('つ', 'ぁ') => "ʦa",
        ('つ', 'ぃ') => "ʦʲi",
        ('つ', 'ぇ') => "ʦe",
        ('つ', 'ぉ') => "ʦo",
        ('て', 'ぃ') => "tʲi",
        ('て', 'ゅ') => "tʲɨ",
        ('で', 'ぃ') => "dʲi",
        ('で', 'ゅ') => "dʲɨ",
        ('と', 'ぅ') => "tɯ",
        ('ど', 'ぅ') => "dɯ",
        ('ふ', 'ぁ') => "ɸa",
        ('ふ', 'ぃ') => "ɸʲi",
        ('ふ', 'ぇ') => "ɸe",
        ('ふ', 'ぉ') => "ɸo",
        ('ふ', 'ゅ') => "ɸʲɨ",
        ('ふ', 'ょ') => "ɸʲo",
        ('ゔ', 'ぁ') => "va",
        ('ゔ', 'ぃ') => "vʲi",
        ('ゔ', 'ぇ') => "ve",
        ('ゔ', 'ぉ') => "vo",
        ('ゔ', 'ゅ') => "bʲɨ",
        ('ゔ', 'ょ') => "bʲo",
        _ => {
            // Any other pair: the first kana's consonant and the small kana.
            let base = kana(first)?;
            let mut cut = base.to_string();
            cut.pop();
            return Some(cut + kana(small)?);
        }
    };
    Some(pair.to_string())
}

fn is_small(c: char) -> bool {
    "ぁぃぅぇぉゃゅょゎ".contains(c)
}

/// Katakana to hiragana; everything else unchanged.
fn fold_katakana(c: char) -> char {
    match c {
        'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
        _ => c,
    }
}

/// Japanese punctuation to Kokoro's: misaki's mapping.
fn punctuation(c: char) -> Option<&'static str> {
    Some(match c {
        '。' | '.' | '．' => ".",
        '、' | '，' | ',' => ",",
        '？' | '?' => "?",
        '！' | '!' => "!",
        '「' | '『' | '«' | '“' => "“",
        '」' | '』' | '»' | '”' => "”",
        '：' | ':' => ":",
        '；' | ';' => ";",
        '（' | '《' | '(' => "(",
        '）' | '》' | ')' => ")",
        '・' => " ",
        '～' | '〜' | '—' | 'ー' => "—",
        '…' => "…",
        _ => return None,
    })
}

/// Kana (and anything else) to phonemes.
fn kana_to_phonemes(text: &str) -> String {
    let chars: Vec<char> = text.chars().map(fold_katakana).collect();
    // One entry per sound; `ん` is resolved once the next sound is known.
    let mut sounds: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if let Some(small) = next.filter(|&n| is_small(n) && kana(c).is_some()) {
            if let Some(ps) = digraph(c, small) {
                sounds.push(ps);
                i += 2;
                continue;
            }
        }
        let ps = match c {
            'っ' | 'ッ' => "ʔ".to_string(),
            'ー' if sounds.last().is_some_and(|s| s.ends_with(is_vowel)) => "ː".to_string(),
            'ん' => "ɴ".to_string(),
            'ゝ' | 'ヽ' => sounds.last().cloned().unwrap_or_default(),
            '゛' | '゜' | '\u{3099}' | '\u{309a}' => String::new(),
            c if c.is_whitespace() => " ".to_string(),
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase().to_string(),
            c => match kana(c).or_else(|| punctuation(c)) {
                Some(ps) => ps.to_string(),
                // Anything else (a kanji kakasi could not read) is left as it is;
                // the vocabulary reports it rather than dropping it unseen.
                None => c.to_string(),
            },
        };
        sounds.push(ps);
        i += 1;
    }
    // ん takes the place of articulation of what follows it.
    for k in 0..sounds.len() {
        if sounds[k] != "ɴ" {
            continue;
        }
        let following = sounds[k + 1..].iter().find(|s| !s.is_empty());
        let n = match following.and_then(|s| s.chars().next()) {
            Some('m' | 'p' | 'b') => "m",
            Some('k' | 'ɡ') => "ŋ",
            Some('ɲ' | 'ʨ' | 'ʥ') => "ɲ",
            Some('n' | 't' | 'd' | 'ɾ' | 'z' | 'ʦ' | 'ʣ') => "n",
            _ => "ɴ",
        };
        sounds[k] = n.to_string();
    }
    let joined: String = sounds.concat();
    // Marks are followed by a space and not preceded by one, as misaki writes them.
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        match c {
            '.' | ',' | '?' | '!' | ':' | ';' | '”' | ')' | '…' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
                out.push(' ');
            }
            ' ' if out.is_empty() || out.ends_with(' ') => {}
            _ => out.push(c),
        }
    }
    out.trim().to_string()
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'i' | 'ɯ' | 'e' | 'o' | 'ɨ')
}

/// Arabic numerals to their Japanese reading in kana ("25" is にじゅうご).
fn numbers_to_kana(text: &str) -> String {
    crate::normalize::spell_numbers(text, int_kana, "てん", |d| DIGITS[usize::from(d)])
}

const DIGITS: [&str; 10] = [
    "ぜろ",
    "いち",
    "に",
    "さん",
    "よん",
    "ご",
    "ろく",
    "なな",
    "はち",
    "きゅう",
];

/// A whole number in kana, in groups of four digits (万, 億, 兆).
fn int_kana(n: u64) -> String {
    if n == 0 {
        return DIGITS[0].to_string();
    }
    const GROUPS: [&str; 4] = ["", "まん", "おく", "ちょう"];
    let mut out = String::new();
    let mut groups = Vec::new();
    let mut m = n;
    while m > 0 {
        groups.push(m % 10_000);
        m /= 10_000;
    }
    for (g, &value) in groups.iter().enumerate().rev() {
        if value == 0 {
            continue;
        }
        out.push_str(&below_10000(value, g == 0));
        out.push_str(GROUPS.get(g).copied().unwrap_or(""));
    }
    out
}

/// 1..9999 in kana, with the sound changes of 300, 600, 800, 3000 and 8000.
fn below_10000(n: u64, last_group: bool) -> String {
    let (th, h, t, u) = (n / 1000, n / 100 % 10, n / 10 % 10, n % 10);
    let mut s = String::new();
    s.push_str(match th {
        0 => "",
        1 if last_group => "せん",
        1 => "いっせん",
        3 => "さんぜん",
        8 => "はっせん",
        d => return format!("{}せん{}", DIGITS[d as usize], below_10000(n % 1000, true)),
    });
    s.push_str(match h {
        0 => "",
        1 => "ひゃく",
        3 => "さんびゃく",
        6 => "ろっぴゃく",
        8 => "はっぴゃく",
        d => {
            return format!(
                "{s}{}ひゃく{}",
                DIGITS[d as usize],
                below_10000(n % 100, true)
            )
        }
    });
    match t {
        0 => {}
        1 => s.push_str("じゅう"),
        d => {
            s.push_str(DIGITS[d as usize]);
            s.push_str("じゅう");
        }
    }
    if u > 0 {
        s.push_str(DIGITS[u as usize]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_follow_misakis_table() {
        assert_eq!(
            kana_to_phonemes("こんにちは、せかい！"),
            "koɲɲiʨiha, sekai!"
        );
        assert_eq!(kana_to_phonemes("しんぶん"), "ɕimbɯɴ");
        assert_eq!(kana_to_phonemes("ちょっと"), "ʨoʔto");
        assert_eq!(kana_to_phonemes("コーヒー"), "koːçiː");
        assert_eq!(kana_to_phonemes("ファイル"), "ɸaiɾɯ");
    }

    #[test]
    fn numbers_are_read_in_japanese() {
        assert_eq!(numbers_to_kana("25"), "にじゅうご");
        assert_eq!(numbers_to_kana("300円"), "さんびゃく円");
        assert_eq!(numbers_to_kana("8000"), "はっせん");
        assert_eq!(
            numbers_to_kana("12345"),
            "いちまんにせんさんびゃくよんじゅうご"
        );
        assert_eq!(numbers_to_kana("3.14"), "さんてんいちよん");
        assert_eq!(numbers_to_kana("1,000人, 3,"), "せん人, さん,");
    }
}
