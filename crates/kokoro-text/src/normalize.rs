//! Text normalization before G2P: rewrites for forms the lexicon pipeline reads
//! badly (decades, percentages, clock times, month and street abbreviations,
//! double hyphens, units glued to numbers). Each rewrite only changes how a
//! piece of text is read: spans still point at the user's own words.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Captures, Regex};

use crate::align::Mapped;

struct Rules {
    rule_line: Regex,
    money_magnitude: Regex,
    money_hyphen: Regex,
    score: Regex,
    company: Regex,
    double_hyphen: Regex,
    decade: Regex,
    percent: Regex,
    clock: Regex,
    abbreviation: Regex,
    unit: Regex,
    alnum_hyphen: Regex,
    symbol: Regex,
    url: Regex,
    email: Regex,
    temperature: Regex,
    iso_date: Regex,
    fraction: Regex,
    roman: Regex,
    slash_date: Regex,
    ratio: Regex,
    sharp: Regex,
    plus_minus: Regex,
    minus_plus: Regex,
    lone_hyphen: Regex,
    bracket_run: Regex,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| Rules {
        rule_line: re(r"\s*(?:={3,}|\*{3,}|_{3,}|~{3,}|#{3,}|-{4,}|\+{3,})\s*"),
        money_magnitude: re(r"([$€£])(\d+(?:\.\d+)?)\s?(million|billion|trillion|thousand|mn|bn|m|b|k)\b"),
        money_hyphen: re(r"([$€£]\d+(?:\.\d+)?)-([A-Za-z])"),
        score: re(r"(^|[^\d.,:/-])(\d{1,3})-(\d{1,3})($|[^\d.,:/-]|[.,](?:\s|$))"),
        company: re(r"\b(Ltd|Inc|Corp)\.(\s+\S|\s*$)"),
        double_hyphen: re(r"\s*--+\s*"),
        decade: re(r"'?\b(\d{2}|\d{4})'?s\b"),
        percent: re(r"(\d)\s*%"),
        clock: re(r"\b(\d{1,2}):(\d{2})\b"),
        abbreviation: re(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|St|Mt|Ave|Rd|Blvd|No|Nos|vs|Fig|Prof|approx|Dept|Jr|Sr)\.(\s+|$)(\S?)"),
        unit: re(r"\b(\d+(?:\.\d+)?)\s?(kg|km|cm|mm|mg|ml|lbs?|mph|kph|km/h|GHz|MHz|kHz|Hz|GB|MB|kB|TB)\b"),
        alnum_hyphen: re(r"\b([A-Za-z]{2,})-(\d+)\b"),
        symbol: re(r"\s([=×÷])\s"),
        // A web address: a scheme, or `www.`, or a host ending in a common
        // top-level domain; then its path.
        url: re(r"(?i)\b(?:(?:https?|ftp)://((?:[a-z0-9-]+\.)+[a-z0-9-]+)|((?:www\.)(?:[a-z0-9-]+\.)+[a-z]{2,})|((?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|io|dev|app|ai|info|co|uk|de|fr|eu|us|ca|au)))\b((?:/[A-Za-z0-9._~%+-]*[A-Za-z0-9~%+-])*/?)"),
        email: re(r"\b([A-Za-z0-9._%+-]+)@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})\b"),
        temperature: re(r"(^|[\s(])([-−]?)(\d+(?:\.\d+)?)\s?°(?:\s?([CF])\b)?"),
        iso_date: re(r"\b(\d{4})-(\d{2})-(\d{2})\b"),
        fraction: re(r"(^|[^\d/.,])(?:(\d+)\s)?([1-9])/([2-9]|10)($|[^\w/])"),
        roman: re(r"\b([A-Z][a-z]+)\s+([IVXLC]{1,7})\b"),
        slash_date: re(r"(^|[^\d/.])(\d{1,2})/(\d{1,2})/(\d{4})($|[^\d/])"),
        ratio: re(r"(^|[^\d:.])(\d{1,3}):(\d)($|[^\d:])"),
        sharp: re(r"\b([A-G])#($|[^\w#])"),
        plus_minus: re(r"(^|\s)(\+\s+(?:and|or|&)\s+)-($|[\s,.;:!?)])|(?:\+/-|±)\s*"),
        minus_plus: re(r"(^|\s)-(\s+(?:and|or|&)\s+\+)($|[\s,.;:!?)])"),
        lone_hyphen: re(r"(^|\s)-($|\s)"),
        bracket_run: re(r"\({2,}|\){2,}|\[{2,}|\]{2,}|\{{2,}|\}{2,}"),
    })
}

/// Compiles one of the constant patterns of `rules`. The pattern is fixed at
/// compile time and never depends on the text, and `tests::rewrites` compiles
/// every one, so this cannot fail at run time.
fn re(pattern: &'static str) -> Regex {
    // tidy: infallible (a constant pattern, compiled by tests::rewrites)
    Regex::new(pattern).expect("a constant pattern compiles")
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

fn two_digits(n: u32) -> String {
    match n {
        0..=19 => ONES[n as usize].to_string(),
        _ if n.is_multiple_of(10) => TENS[(n / 10) as usize].to_string(),
        _ => format!("{}-{}", TENS[(n / 10) as usize], ONES[(n % 10) as usize]),
    }
}

/// "1990s" -> "nineteen nineties", "90s" -> "nineties", "2000s" -> "two thousands".
fn decade(digits: &str) -> Option<String> {
    let n: u32 = digits.parse().ok()?;
    let plural = |w: &str| match w.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{w}s"),
    };
    if digits.len() == 2 {
        return n.is_multiple_of(10).then(|| plural(&two_digits(n)));
    }
    let (hi, lo) = (n / 100, n % 100);
    if lo == 0 {
        return Some(if hi.is_multiple_of(10) {
            format!("{} thousands", ONES[(hi / 10) as usize])
        } else {
            format!("{} hundreds", two_digits(hi))
        });
    }
    lo.is_multiple_of(10)
        .then(|| format!("{} {}", two_digits(hi), plural(&two_digits(lo))))
}

fn abbreviation(word: &str, next: &str) -> &'static str {
    let capital_next = next.chars().next().is_some_and(char::is_uppercase);
    let digit_next = next.chars().next().is_some_and(|c| c.is_ascii_digit());
    match word {
        "Jan" => "January",
        "Feb" => "February",
        "Mar" => "March",
        "Apr" => "April",
        "Jun" => "June",
        "Jul" => "July",
        "Aug" => "August",
        "Sep" | "Sept" => "September",
        "Oct" => "October",
        "Nov" => "November",
        "Dec" => "December",
        "St" if capital_next => "Saint",
        "St" => "Street",
        "Mt" => "Mount",
        "Ave" => "Avenue",
        "Rd" => "Road",
        "Blvd" => "Boulevard",
        "No" | "Nos" if digit_next => "number",
        "No" => "No.",
        "Nos" => "Nos.",
        "vs" => "versus",
        "Fig" => "figure",
        "Prof" => "Professor",
        "approx" => "approximately",
        "Dept" => "department",
        "Jr" => "Junior",
        "Sr" => "Senior",
        _ => "",
    }
}

/// The plural name of a currency sign.
fn currency_plural(sign: &str) -> &'static str {
    match sign {
        "€" => "euros",
        "£" => "pounds",
        _ => "dollars",
    }
}

fn unit(u: &str) -> &'static str {
    match u {
        "kg" => "kilograms",
        "km" => "kilometers",
        "cm" => "centimeters",
        "mm" => "millimeters",
        "mg" => "milligrams",
        "ml" => "milliliters",
        "lb" | "lbs" => "pounds",
        "mph" => "miles per hour",
        "kph" | "km/h" => "kilometers per hour",
        "GHz" => "gigahertz",
        "MHz" => "megahertz",
        "kHz" => "kilohertz",
        "Hz" => "hertz",
        "GB" => "gigabytes",
        "MB" => "megabytes",
        "kB" => "kilobytes",
        "TB" => "terabytes",
        _ => "",
    }
}

/// Rewrites one piece of text (whitespace already collapsed) for the G2P of
/// `lang`. The rewrites are English ("10:30" is "10 30"); the other languages'
/// G2Ps read numbers, times and symbols themselves.
pub fn for_lang(text: &str, lang: crate::Lang) -> Cow<'_, str> {
    if lang.is_english() {
        for_speech(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// [`for_lang`], keeping the way back to the source.
pub(crate) fn for_lang_mapped(text: Mapped, lang: crate::Lang) -> Mapped {
    if lang.is_english() {
        for_speech_mapped(text, lang == crate::Lang::EnGb)
    } else {
        text
    }
}

/// Rewrites one piece of English text (whitespace already collapsed) for the G2P.
pub fn for_speech(text: &str) -> Cow<'_, str> {
    let mapped = for_speech_mapped(Mapped::identity(text), false);
    if mapped.text == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(mapped.text)
    }
}

/// [`for_speech`], keeping the way back to the source; `british` reads
/// ambiguous dates day first ("03/04/2025" is the 3rd of April).
fn for_speech_mapped(text: Mapped, british: bool) -> Mapped {
    let r = rules();
    let mut s = text;
    let mut apply = |re: &Regex, f: &dyn Fn(&Captures<'_>) -> String| {
        let edits: Vec<(std::ops::Range<usize>, String)> = re
            .captures_iter(&s.text)
            .filter_map(|c| {
                let m = c.get(0)?;
                let with = f(&c);
                (with != m.as_str()).then(|| (m.range(), with))
            })
            .collect();
        if !edits.is_empty() {
            s = s.rewrite(edits);
        }
    };
    // A run of one bracket, "((((": one is said as much (a pause, a change of
    // tone), and the G2P's tokenizer takes time that grows with the square
    // of such a run.
    apply(&r.bracket_run, &|c| c[0][..1].to_string());
    // Web and e-mail addresses, as they are read aloud: "example dot com
    // slash docs", "info at example dot org", acronyms spelled ("A P I").
    apply(&r.email, &|c| {
        format!(
            "{} at {}",
            address_words(&c[1], false),
            address_words(&c[2], true)
        )
    });
    apply(&r.url, &|c| {
        let host = c
            .get(1)
            .or(c.get(2))
            .or(c.get(3))
            .map_or("", |m| m.as_str());
        let path = c.get(4).map_or("", |m| m.as_str());
        let mut out = address_words(host, true);
        for segment in path.split('/').skip(1).filter(|s| !s.is_empty()) {
            out.push_str(" slash ");
            out.push_str(&address_words(segment, false));
        }
        out
    });
    // "-5°C": minus five degrees Celsius.
    apply(&r.temperature, &|c| {
        let sign = if c[2].is_empty() { "" } else { "minus " };
        let scale = match c.get(4).map(|m| m.as_str()) {
            Some("C") => " Celsius",
            Some("F") => " Fahrenheit",
            _ => "",
        };
        let unit = if &c[3] == "1" { "degree" } else { "degrees" };
        format!("{}{sign}{} {unit}{scale}", &c[1], &c[3])
    });
    // "2024-03-15": March 15th, 2024.
    apply(&r.iso_date, &|c| {
        let (month, day): (usize, u32) = (c[2].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        match (month, day) {
            (1..=12, 1..=31) => format!(
                "{} {}, {}",
                crate::ssml::MONTHS[month - 1],
                crate::ssml::ordinal(&day.to_string()),
                &c[1]
            ),
            _ => c[0].to_string(),
        }
    });
    // "12/25/1990": December 25th, 1990. Month first in American English, day
    // first in British; a first number past 12 is a day either way.
    apply(&r.slash_date, &|c| {
        let (a, b): (usize, usize) = (c[2].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        let day_first = a > 12 || (british && b <= 12);
        let (month, day) = if day_first { (b, a) } else { (a, b) };
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return c[0].to_string();
        }
        let (month, day) = (
            crate::ssml::MONTHS[month - 1],
            crate::ssml::ordinal(&day.to_string()),
        );
        let date = if british {
            format!("the {day} of {month}, {}", &c[4])
        } else {
            format!("{month} {day}, {}", &c[4])
        };
        format!("{}{date}{}", &c[1], &c[5])
    });
    // "1/3", "2 1/2": one third, two and a half.
    apply(&r.fraction, &|c| {
        let (n, d): (u32, u32) = (c[3].parse().unwrap_or(0), c[4].parse().unwrap_or(0));
        match fraction_words(n, d) {
            Some(words) => match c.get(2) {
                Some(whole) => format!("{}{} and {words}{}", &c[1], whole.as_str(), &c[5]),
                None => format!("{}{words}{}", &c[1], &c[5]),
            },
            None => c[0].to_string(),
        }
    });
    // "Henry VIII": Henry the Eighth; "World War II", "Chapter IV": two, four.
    apply(&r.roman, &|c| {
        roman_after(&c[1], &c[2]).unwrap_or_else(|| c[0].to_string())
    });
    // A rule line (=====, *****, ----) is layout, not words: silence.
    apply(&r.rule_line, &|_| " ".to_string());
    // "$1.5 million", "€4.5m", "£1.2bn": the number, its magnitude, then the
    // currency, as it is said.
    apply(&r.money_magnitude, &|c| {
        let magnitude = match &c[3] {
            "m" | "mn" => "million",
            "b" | "bn" => "billion",
            "k" => "thousand",
            other => other,
        };
        format!("{} {magnitude} {}", &c[2], currency_plural(&c[1]))
    });
    // "$20-A-Month": the amount stays an amount.
    apply(&r.money_hyphen, &|c| format!("{} {}", &c[1], &c[2]));
    // A score or a range, "3-2", "10-20": "3 to 2".
    apply(&r.score, &|c| {
        format!("{}{} to {}{}", &c[1], &c[2], &c[3], &c[4])
    });
    // A company's "Ltd.": one that ends a sentence keeps its full stop, one
    // inside a sentence ("Acme Ltd. announced") loses it.
    apply(&r.company, &|c| {
        let full = match &c[1] {
            "Ltd" => "Limited",
            "Inc" => "Incorporated",
            _ => "Corporation",
        };
        let rest = &c[2];
        let inside = rest
            .trim_start()
            .chars()
            .next()
            .is_some_and(|n| n.is_lowercase() || n.is_ascii_digit() || matches!(n, ',' | ';'));
        if inside {
            format!("{full}{rest}")
        } else {
            format!("{full}.{rest}")
        }
    });
    // "C#", "F# minor": sharp.
    apply(&r.sharp, &|c| format!("{} sharp{}", &c[1], &c[2]));
    // "+ and -", "+/-", "±": plus and minus signs as said.
    apply(&r.plus_minus, &|c| match (c.get(1), c.get(2), c.get(3)) {
        (Some(lead), Some(between), Some(end)) => {
            format!("{}{}minus{}", lead.as_str(), between.as_str(), end.as_str())
        }
        _ => "plus or minus ".to_string(),
    });
    apply(&r.minus_plus, &|c| {
        format!("{}minus{}{}", &c[1], &c[2], &c[3])
    });
    apply(&r.double_hyphen, &|_| " — ".to_string());
    // A hyphen standing alone is a dash: a pause, not a symbol.
    apply(&r.lone_hyphen, &|c| format!("{}—{}", &c[1], &c[2]));
    apply(&r.decade, &|c| {
        decade(&c[1]).unwrap_or_else(|| c[0].to_string())
    });
    apply(&r.percent, &|c| format!("{} percent", &c[1]));
    // "16:9", "4:3": a ratio (a clock's minutes have two digits).
    apply(&r.ratio, &|c| {
        format!("{}{} to {}{}", &c[1], &c[2], &c[3], &c[4])
    });
    apply(&r.clock, &|c| {
        let (h, m): (u32, u32) = (c[1].parse().unwrap_or(0), c[2].parse().unwrap_or(0));
        match (h, m) {
            (0..=24, 0) => format!("{h} o'clock"),
            (0..=24, 1..=9) => format!("{h} oh {m}"),
            (0..=24, 10..=59) => format!("{h} {m}"),
            _ => c[0].to_string(),
        }
    });
    apply(&r.abbreviation, &|c| {
        let full = abbreviation(&c[1], &c[3]);
        if full.is_empty() {
            c[0].to_string()
        } else {
            format!("{full}{}{}", &c[2], &c[3])
        }
    });
    apply(&r.unit, &|c| format!("{} {}", &c[1], unit(&c[2])));
    apply(&r.alnum_hyphen, &|c| format!("{} {}", &c[1], &c[2]));
    apply(&r.symbol, &|c| {
        let word = match &c[1] {
            "=" => "equals",
            "×" => "times",
            _ => "divided by",
        };
        format!(" {word} ")
    });
    s
}

/// `n/d` in words when it is a plain fraction: "a half", "two thirds".
fn fraction_words(n: u32, d: u32) -> Option<String> {
    const NAMES: [&str; 11] = [
        "", "", "half", "third", "quarter", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    ];
    if n == 0 || n >= d || d > 10 {
        return None;
    }
    let name = NAMES[d as usize];
    Some(if n == 1 {
        format!("a {name}")
    } else {
        format!("{} {name}s", ONES[n as usize])
    })
}

/// Words that count things with a roman numeral after them.
const COUNTED: &[&str] = &[
    "Chapter", "Part", "Book", "Volume", "Vol", "Act", "Scene", "War", "Bowl", "Phase", "Section",
    "Article", "Appendix", "Level", "Stage", "Round", "Episode", "Season", "Canto", "Psalm",
    "Mark", "Apollo", "Vatican",
];

/// A roman numeral after `word`, as it is said: cardinal after a word that
/// counts ("World War II", "Chapter IV"), "the" and an ordinal after a name
/// ("Henry VIII", "Louis XIV"); `None` when it is not one (or is a word, "I").
fn roman_after(word: &str, numeral: &str) -> Option<String> {
    let n = roman(numeral)?;
    // "L" and "C" alone are letters ("Plan C"), wherever they are.
    if COUNTED.contains(&word) && !matches!(numeral, "L" | "C") {
        return Some(format!("{word} {n}"));
    }
    // A name's numeral: two letters or more of I, V and X (regnal numbers);
    // one letter is too often a letter or the pronoun ("Malcolm X", "Press
    // X", "Then I").
    if numeral.len() < 2 || numeral.contains(['L', 'C']) || n > 39 {
        return None;
    }
    Some(format!(
        "{word} the {}",
        crate::ssml::ordinal(&n.to_string())
    ))
}

/// The value of a well-formed roman numeral up to 399.
fn roman(s: &str) -> Option<u32> {
    let value = |c: char| match c {
        'I' => Some(1),
        'V' => Some(5),
        'X' => Some(10),
        'L' => Some(50),
        'C' => Some(100),
        _ => None,
    };
    let digits: Vec<u32> = s.chars().map(value).collect::<Option<_>>()?;
    let mut total = 0;
    for (i, &d) in digits.iter().enumerate() {
        match digits.get(i + 1) {
            Some(&next) if next > d => total -= d as i64,
            _ => total += d as i64,
        }
    }
    let total = u32::try_from(total).ok().filter(|&t| t > 0)?;
    // Well formed: written back the same.
    (to_roman(total) == s).then_some(total)
}

fn to_roman(mut n: u32) -> String {
    let mut out = String::new();
    for (v, s) in [
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ] {
        while n >= v {
            out.push_str(s);
            n -= v;
        }
    }
    out
}

/// One part of a web or e-mail address as words: dots said, hyphens and the
/// like as spaces, `www`, acronyms (all capitals, or no vowel) and a host's
/// country code spelled letter by letter.
fn address_words(part: &str, host: bool) -> String {
    let mut words = Vec::new();
    let pieces = part.split('.').count();
    for (k, piece) in part.split('.').enumerate() {
        // A country's code ends a host: "U K".
        let country = host && k == pieces - 1 && piece.len() == 2;
        if k > 0 {
            words.push("dot".to_string());
        }
        for word in piece
            .split(['-', '_', '+', '~', '%'])
            .filter(|w| !w.is_empty())
        {
            let letters = word.chars().all(|c| c.is_ascii_alphabetic());
            let capitals = word.len() >= 2 && word.chars().all(|c| c.is_ascii_uppercase());
            let no_vowel = !word.chars().any(|c| "aeiouyAEIOUY".contains(c));
            if letters && word.len() <= 5 && (capitals || no_vowel || country) {
                words.extend(word.chars().map(|c| c.to_ascii_uppercase().to_string()));
            } else {
                words.push(word.to_string());
            }
        }
    }
    words.join(" ")
}

/// Rewrites every number in `text` for a language whose G2P does not read
/// digits: `int` reads the whole part (thousands may be grouped with commas),
/// `point` and `digit` the decimal part, digit by digit. A number too long for
/// `u64`, or with a leading zero ("007"), is read digit by digit.
#[cfg_attr(not(any(feature = "ja", feature = "zh")), allow(dead_code))]
pub(crate) fn spell_numbers(
    text: &str,
    int: impl Fn(u64) -> String,
    point: &str,
    digit: impl Fn(u8) -> &'static str,
) -> String {
    let digits_at = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        let number = &rest[start..];
        let mut len = digits_at(number);
        let mut whole: String = number[..len].to_string();
        // Thousands groups: a comma and exactly three digits.
        while number[len..].starts_with(',') && digits_at(&number[len + 1..]) == 3 {
            whole.push_str(&number[len + 1..len + 4]);
            len += 4;
        }
        match whole.parse::<u64>() {
            Ok(n) if whole.len() <= 16 && !(whole.len() > 1 && whole.starts_with('0')) => {
                out.push_str(&int(n))
            }
            _ => whole.bytes().for_each(|d| out.push_str(digit(d - b'0'))),
        }
        if number[len..].starts_with('.') {
            let frac = digits_at(&number[len + 1..]);
            if frac > 0 {
                out.push_str(point);
                number[len + 1..len + 1 + frac]
                    .bytes()
                    .for_each(|d| out.push_str(digit(d - b'0')));
                len += 1 + frac;
            }
        }
        rest = &number[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: &str) {
        assert_eq!(for_speech(input), expect);
    }

    #[test]
    fn rewrites() {
        check(
            "in the 1990s and the '80s",
            "in the nineteen nineties and the eighties",
        );
        check(
            "the 2000s, the 1900s",
            "the two thousands, the nineteen hundreds",
        );
        check("grew 3.5% or 50 %", "grew 3.5 percent or 50 percent");
        check("at 10:30, 9:05 or 12:00", "at 10 30, 9 oh 5 or 12 o'clock");
        check(
            "on Jan. 5th at Baker St. in St. Louis",
            "on January 5th at Baker Street in Saint Louis",
        );
        check("No. 5 vs. No. I said no.", "number 5 versus No. I said no.");
        check("We met on Baker St.", "We met on Baker Street");
        check("program--to make", "program — to make");
        check(
            "5kg at 60 mph, 3.5 GHz",
            "5 kilograms at 60 miles per hour, 3.5 gigahertz",
        );
        check("COVID-19 and x = y", "COVID 19 and x equals y");
        check("plain text stays", "plain text stays");
        check("It costs $1.5 million.", "It costs 1.5 million dollars.");
        check(
            "€4.5m or £1.2bn or $300k",
            "4.5 million euros or 1.2 billion pounds or 300 thousand dollars",
        );
        check("a $20-A-Month plan", "a $20 A-Month plan");
        check("won 3-2, pages 10-20", "won 3 to 2, pages 10 to 20");
        check(
            "on 2024-01-15 call 555-1234",
            "on January 15th, 2024 call 555-1234",
        );
        check("from 1-2.5 and 3-4,000", "from 1-2.5 and 3-4,000");
        check("Acme Ltd. The next one.", "Acme Limited. The next one.");
        check("Acme Ltd. is here", "Acme Limited is here");
        check("Acme Ltd. announced", "Acme Limited announced");
        check(
            "on 12/25/1990, 25/12/1990 or 13/13/2000",
            "on December 25th, 1990, December 25th, 1990 or 13/13/2000",
        );
        check(
            "a 16:9 screen, 4:3 or 1:1.",
            "a 16 to 9 screen, 4 to 3 or 1 to 1.",
        );
        check(
            "C# and F# minor, not #1 or AC#",
            "C sharp and F sharp minor, not #1 or AC#",
        );
        check(
            "the + and - keys, - or +, +/- 5, ±2",
            "the + and minus keys, minus or +, plus or minus 5, plus or minus 2",
        );
        check("four - five, -5 and a-b", "four — five, -5 and a-b");
        check("((((x)))) [[y]] {{z}} (a) ([b])", "(x) [y] {z} (a) ([b])");
        check("Rule: ===== end", "Rule: end");
        check(
            "See https://www.example.com/docs/API now.",
            "See W W W dot example dot com slash docs slash A P I now.",
        );
        check(
            "Go to www.bbc.co.uk/news or example.com.",
            "Go to W W W dot B B C dot co dot U K slash news or example dot com.",
        );
        check(
            "Mail info@example.org or first.last@mail.my-site.io today.",
            "Mail info at example dot org or first dot last at mail dot my site dot I O today.",
        );
        check(
            "e.g. this, i.e. that, 3.5 kg",
            "e.g. this, i.e. that, 3.5 kilograms",
        );
        check(
            "It fell to -5°C, then rose to 72°F and 1° more.",
            "It fell to minus 5 degrees Celsius, then rose to 72 degrees Fahrenheit and 1 degree more.",
        );
        check(
            "Due 2024-03-15, not 2024-13-40.",
            "Due March 15th, 2024, not 2024-13-40.",
        );
        check(
            "About 1/3 passed; mix 2 1/2 cups; on 12/25/1990; 3/4ths",
            "About a third passed; mix 2 and a half cups; on December 25th, 1990; 3/4ths",
        );
        check(
            "King Henry VIII met Louis XIV after World War II, in Chapter IV of Super Bowl LVII.",
            "King Henry the 8th met Louis the 14th after World War 2, in Chapter 4 of Super Bowl 57.",
        );
        check(
            "Then I left. Size XL. Malcolm X. Press X. Plan C. Part I.",
            "Then I left. Size XL. Malcolm X. Press X. Plan C. Part 1.",
        );
        assert!(matches!(for_speech("plain"), Cow::Borrowed(_)));
        let british = for_speech_mapped(Mapped::identity("on 03/04/2025"), true);
        assert_eq!(british.text, "on the 3rd of April, 2025");
        let m = for_speech_mapped(Mapped::identity("at 10:30 today"), false);
        assert_eq!(m.text, "at 10 30 today");
        assert_eq!((m.source_start(3), m.source_end(8)), (3, 8));
        assert_eq!(m.source_start(9), 9);
    }
}
