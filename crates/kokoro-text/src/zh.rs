//! Mandarin G2P (feature `zh`): misaki's v1.0 reading of Chinese, offline.
//!
//! As misaki does for Kokoro v1.0: numbers become Chinese numerals, jieba cuts
//! the text into words (its dictionary is built in), each character gets its
//! pinyin, and pinyin becomes IPA with tone arrows (`→ ↗ ↓ ↘`) by misaki's table.
//! Limits: a character with several readings gets its most common one (misaki
//! uses phrase readings), and there is no tone sandhi (misaki has none in v1.0).

use jieba_rs::Jieba;
use pinyin::ToPinyin;

/// Reads Mandarin; holds jieba's dictionary (~0.3 s and ~40 MB to build).
pub struct Mandarin {
    jieba: Jieba,
}

impl std::fmt::Debug for Mandarin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mandarin")
    }
}

impl Default for Mandarin {
    fn default() -> Self {
        Self::new()
    }
}

impl Mandarin {
    /// Loads jieba's built-in dictionary.
    pub fn new() -> Self {
        Self {
            jieba: Jieba::new(),
        }
    }

    /// Phonemes for Mandarin text in Kokoro's symbols.
    pub fn phonemize(&self, text: &str) -> String {
        let text = numbers_to_hanzi(text);
        let mut out = String::new();
        for token in self.jieba.cut(&text, true) {
            let word = token.word;
            if word.chars().any(is_han) {
                let ps: String = word.chars().map(syllable).collect();
                push_word(&mut out, &ps);
                continue;
            }
            for c in word.chars() {
                match punctuation(c) {
                    Some(p) => push_mark(&mut out, p),
                    None if c.is_whitespace() => push_word(&mut out, ""),
                    // Latin letters pass through, as misaki lets them.
                    None => {
                        if out.ends_with(|p: char| !p.is_ascii_alphanumeric() && p != ' ') {
                            out.push(' ');
                        }
                        out.extend(c.to_lowercase());
                    }
                }
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn push_word(out: &mut String, ps: &str) {
    if !out.is_empty() && !out.ends_with([' ', '“', '(']) {
        out.push(' ');
    }
    out.push_str(ps);
}

fn push_mark(out: &mut String, mark: char) {
    if matches!(mark, '“' | '(') {
        push_word(out, "");
        out.push(mark);
    } else {
        while out.ends_with(' ') {
            out.pop();
        }
        out.push(mark);
        out.push(' ');
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// misaki's punctuation mapping for Chinese.
fn punctuation(c: char) -> Option<char> {
    Some(match c {
        '、' | '，' | ',' => ',',
        '。' | '．' | '.' => '.',
        '！' | '!' => '!',
        '？' | '?' => '?',
        '：' | ':' => ':',
        '；' | ';' => ';',
        '«' | '《' | '「' | '【' | '“' | '『' => '“',
        '»' | '》' | '」' | '】' | '”' | '』' => '”',
        '（' | '(' => '(',
        '）' | ')' => ')',
        '—' | '…' => c,
        _ => return None,
    })
}

/// One character's phonemes: its pinyin through misaki's table.
fn syllable(c: char) -> String {
    match c.to_pinyin() {
        Some(p) => pinyin_to_ipa(p.with_tone_num_end()).unwrap_or_default(),
        None => String::new(),
    }
}

/// IPA with a tone arrow for one pinyin syllable with its tone number at the
/// end ("hao3"; no number or 5 for the neutral tone), by misaki's table.
pub fn pinyin_to_ipa(py: &str) -> Option<String> {
    let (body, tone) = match py.chars().last()? {
        d @ '1'..='5' => (&py[..py.len() - 1], d),
        _ => (py, '5'),
    };
    let body = body.replace('ü', "v");
    const INITIALS: [(&str, &str); 21] = [
        ("zh", "ꭧ"),
        ("ch", "ꭧʰ"),
        ("sh", "ʂ"),
        ("b", "p"),
        ("p", "pʰ"),
        ("m", "m"),
        ("f", "f"),
        ("d", "t"),
        ("t", "tʰ"),
        ("n", "n"),
        ("l", "l"),
        ("g", "k"),
        ("k", "kʰ"),
        ("h", "x"),
        ("j", "ʨ"),
        ("q", "ʨʰ"),
        ("x", "ɕ"),
        ("r", "ɻ"),
        ("z", "ʦ"),
        ("c", "ʦʰ"),
        ("s", "s"),
    ];
    // Syllabic nasals and interjections stand alone.
    let arrow = match tone {
        '1' => "→",
        '2' => "↗",
        '3' => "↓",
        '4' => "↘",
        _ => "",
    };
    let alone = match body.as_str() {
        "m" | "n" | "ng" | "hm" | "hng" => Some(body.replace("ng", "ŋ") + arrow),
        "er" => Some(format!("ɚ{arrow}")),
        "o" => Some(format!("ɔ{arrow}")),
        "ê" => Some(format!("ɛ{arrow}")),
        "io" => Some(format!("jɔ{arrow}")),
        _ => None,
    };
    if alone.is_some() {
        return alone;
    }
    let (initial, ipa_initial, rest) = INITIALS
        .iter()
        .find(|(p, _)| body.starts_with(p))
        .map_or(("", "", body.as_str()), |&(p, ipa)| {
            (p, ipa, &body[p.len()..])
        });
    // Spelling rules: y/w stand for i/u/ü, and j q x write ü as u.
    let final_ = match (initial, rest) {
        ("", r) if r.starts_with("yu") => format!("v{}", &r[2..]),
        ("", r) if r.starts_with("yi") => r[1..].to_string(),
        ("", r) if r.starts_with('y') => format!("i{}", &r[1..]),
        ("", r) if r.starts_with("wu") => r[1..].to_string(),
        ("", r) if r.starts_with('w') => format!("u{}", &r[1..]),
        ("j" | "q" | "x", r) if r.starts_with('u') => format!("v{}", &r[1..]),
        (_, r) => r.to_string(),
    };
    let final_ = match final_.as_str() {
        "iu" => "iou",
        "ui" => "uei",
        "un" => "uen",
        f => f,
    };
    let sibilant = matches!(initial, "zh" | "ch" | "sh" | "r" | "z" | "c" | "s");
    let template = match final_ {
        "i" if sibilant => "ɨT",
        "a" => "aT",
        "ai" => "aiT",
        "an" => "aTn",
        "ang" => "aTŋ",
        "ao" => "auT",
        "e" => "ɤT",
        "ei" => "eiT",
        "en" => "əTn",
        "eng" => "əTŋ",
        "i" => "iT",
        "ia" => "jaT",
        "ian" => "jɛTn",
        "iang" => "jaTŋ",
        "iao" => "jauT",
        "ie" => "jeT",
        "in" => "iTn",
        "iou" => "jouT",
        "ing" => "iTŋ",
        "iong" => "jʊTŋ",
        "ong" => "ʊTŋ",
        "ou" => "ouT",
        "u" => "uT",
        "uei" => "weiT",
        "ua" => "waT",
        "uai" => "waiT",
        "uan" => "waTn",
        "uen" => "wəTn",
        "uang" => "waTŋ",
        "ueng" => "wəTŋ",
        "uo" | "o" => "woT",
        "v" => "yT",
        "ve" | "ue" => "ɥeT",
        "van" => "ɥɛTn",
        "vn" => "yTn",
        "er" => "ɚT",
        _ => return None,
    };
    Some(format!("{ipa_initial}{}", template.replace('T', arrow)))
}

/// Arabic numerals to Chinese numerals, as misaki's `cn2an` step does.
fn numbers_to_hanzi(text: &str) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    crate::normalize::spell_numbers(text, int_hanzi, "点", |d| DIGITS[usize::from(d)])
}

/// A whole number in Chinese numerals (十, 百, 千, 万, 亿).
fn int_hanzi(n: u64) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    const UNITS: [&str; 4] = ["", "十", "百", "千"];
    const GROUPS: [&str; 4] = ["", "万", "亿", "万亿"];
    if n == 0 {
        return "零".to_string();
    }
    let mut groups = Vec::new();
    let mut m = n;
    while m > 0 {
        groups.push(m % 10_000);
        m /= 10_000;
    }
    let mut out = String::new();
    let mut zero = false;
    for (g, &value) in groups.iter().enumerate().rev() {
        if value == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero || (!out.is_empty() && value < 1000) {
            out.push('零');
        }
        zero = false;
        let digits = [value / 1000, value / 100 % 10, value / 10 % 10, value % 10];
        let mut pending_zero = false;
        for (k, &d) in digits.iter().enumerate() {
            let unit = UNITS[3 - k];
            if d == 0 {
                pending_zero = !out.is_empty() && !out.ends_with('零');
                continue;
            }
            if pending_zero {
                out.push('零');
            }
            pending_zero = false;
            // "十五", not "一十五", at the head of a number.
            if !(d == 1 && unit == "十" && out.is_empty()) {
                out.push_str(DIGITS[d as usize]);
            }
            out.push_str(unit);
        }
        out.push_str(GROUPS.get(g).copied().unwrap_or(""));
    }
    out.trim_end_matches('零').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_follows_misakis_table() {
        assert_eq!(pinyin_to_ipa("ni3").as_deref(), Some("ni↓"));
        assert_eq!(pinyin_to_ipa("hao3").as_deref(), Some("xau↓"));
        assert_eq!(pinyin_to_ipa("shi4").as_deref(), Some("ʂɨ↘"));
        assert_eq!(pinyin_to_ipa("zhong1").as_deref(), Some("ꭧʊ→ŋ"));
        assert_eq!(pinyin_to_ipa("wen2").as_deref(), Some("wə↗n"));
        assert_eq!(pinyin_to_ipa("yue4").as_deref(), Some("ɥe↘"));
        assert_eq!(pinyin_to_ipa("quan2").as_deref(), Some("ʨʰɥɛ↗n"));
        assert_eq!(pinyin_to_ipa("liu2").as_deref(), Some("ljou↗"));
        assert_eq!(pinyin_to_ipa("de").as_deref(), Some("tɤ"));
    }

    #[test]
    fn numbers_become_chinese_numerals() {
        assert_eq!(numbers_to_hanzi("3个"), "三个");
        assert_eq!(numbers_to_hanzi("15"), "十五");
        assert_eq!(numbers_to_hanzi("105"), "一百零五");
        assert_eq!(numbers_to_hanzi("2024"), "二千零二十四");
        assert_eq!(numbers_to_hanzi("10000"), "一万");
        assert_eq!(numbers_to_hanzi("3.14"), "三点一四");
    }

    #[test]
    fn sentences_read_like_misaki() {
        let zh = Mandarin::new();
        assert_eq!(zh.phonemize("你好，世界！"), "ni↓xau↓, ʂɨ↘ʨje↘!");
    }
}
