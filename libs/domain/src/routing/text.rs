//! Text as the rules see it: lower case, German umlauts and ß spelled out (`ä` → `ae`,
//! `ß` → `ss`) and other accents dropped, so "Kündigung" and "Kuendigung" are the same
//! word; everything that is not a letter or digit separates words, except apostrophes,
//! which vanish ("don't" → "dont") because people type them or leave them out at will.

use std::ops::Range;

use super::Language;

/// A field of a ticket, normalised, remembering where each word came from so a match can
/// be shown as the customer wrote it.
#[derive(Debug, Clone)]
pub(super) struct Words<'a> {
    original: &'a str,
    /// The normalised words joined by single spaces: what terms are searched in.
    text: String,
    /// Per word: its bytes in `text` and in `original`.
    spans: Vec<(Range<usize>, Range<usize>)>,
}

impl<'a> Words<'a> {
    pub(super) fn new(original: &'a str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut spans = Vec::new();
        // (start in text, start in original, end in original) of the word being read.
        let mut open: Option<(usize, usize, usize)> = None;
        for (index, c) in original.char_indices() {
            if c.is_alphanumeric() {
                let end = index + c.len_utf8();
                match &mut open {
                    Some((_, _, word_end)) => *word_end = end,
                    None => {
                        if !text.is_empty() {
                            text.push(' ');
                        }
                        open = Some((text.len(), index, end));
                    }
                }
                push_folded(c, &mut text);
            } else if is_apostrophe(c) && open.is_some() {
                continue;
            } else if let Some((text_start, start, end)) = open.take() {
                spans.push((text_start..text.len(), start..end));
            }
        }
        if let Some((text_start, start, end)) = open {
            spans.push((text_start..text.len(), start..end));
        }
        Words {
            original,
            text,
            spans,
        }
    }

    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// The normalised words.
    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|(text, _)| &self.text[text.clone()])
    }

    /// The normalised words a range of [`Self::text`] touches, whole.
    pub(super) fn whole_words(&self, range: &Range<usize>) -> &str {
        let mut touched = self
            .spans
            .iter()
            .filter(|(text, _)| text.start < range.end && range.start < text.end)
            .map(|(text, _)| text);
        let Some(first) = touched.next() else {
            return "";
        };
        let end = touched.next_back().unwrap_or(first).end;
        &self.text[first.start..end]
    }

    /// The customer's own spelling of the words a match in [`Self::text`] touches, so
    /// "kuendig" found in "Kündigung" is shown as "Kündigung".
    pub(super) fn written(&self, range: &Range<usize>) -> &'a str {
        let mut touched = self
            .spans
            .iter()
            .filter(|(text, _)| text.start < range.end && range.start < text.end)
            .map(|(_, original)| original);
        let Some(first) = touched.next() else {
            return "";
        };
        let end = touched.next_back().unwrap_or(first).end;
        &self.original[first.start..end]
    }
}

/// Where `needle` occurs in `text` (normalised words joined by single spaces): anywhere,
/// or only starting at the start of a word and/or ending at the end of one.
pub(super) fn find_in<'s>(
    text: &'s str,
    needle: &'s str,
    word_start: bool,
    word_end: bool,
) -> impl Iterator<Item = Range<usize>> + 's {
    let bytes = text.as_bytes();
    text.match_indices(needle)
        .map(|(start, found)| start..start + found.len())
        .filter(move |range| {
            let starts_word = range.start == 0 || bytes[range.start - 1] == b' ';
            let ends_word = range.end == bytes.len() || bytes[range.end] == b' ';
            (starts_word || !word_start) && (ends_word || !word_end)
        })
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '`' | '´')
}

/// Appends `c` lower-cased and folded to ASCII where a German keyboard or an English one
/// would disagree on the spelling.
fn push_folded(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        match lower {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'à' | 'á' | 'â' | 'ã' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' => out.push('o'),
            'ù' | 'ú' | 'û' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            // Lower-casing can add combining marks (`İ` → `i̇`); they are not letters.
            other if other.is_alphanumeric() => out.push(other),
            _ => {}
        }
    }
}

/// The text as rules match it: lower case, umlauts spelled out, words separated by single
/// spaces, punctuation gone.
pub fn normalize(text: &str) -> String {
    Words::new(text).text
}

/// Function words that are frequent in one language and rare in the other, in their
/// normalised spelling. Words both languages use ("in", "an", "was", "also", "will")
/// are left out on purpose.
const GERMAN_WORDS: &[&str] = &[
    "aber", "auch", "auf", "bei", "bitte", "bis", "dank", "danke", "das", "dass", "dem", "den",
    "der", "des", "die", "doch", "du", "ein", "eine", "einem", "einen", "einer", "er", "es",
    "fuer", "gibt", "gruesse", "guten", "hallo", "haben", "hat", "ich", "ihr", "ihre", "ist", "ja",
    "kann", "kein", "keine", "koennen", "koennt", "leider", "mehr", "mein", "meine", "mit",
    "moechte", "moechten", "muss", "nach", "nicht", "noch", "nur", "oder", "schon", "sehr", "sich",
    "sie", "sind", "ueber", "um", "und", "uns", "unser", "unsere", "von", "vom", "warum", "weil",
    "wenn", "wie", "wir", "wird", "wo", "wurde", "zu", "zum", "zur",
];
const ENGLISH_WORDS: &[&str] = &[
    "a", "about", "after", "all", "and", "any", "are", "be", "been", "but", "can", "cannot",
    "cant", "could", "do", "does", "dont", "for", "from", "get", "have", "hello", "hi", "how", "i",
    "if", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "please", "should",
    "thank", "thanks", "that", "the", "there", "this", "to", "we", "what", "when", "where",
    "which", "why", "with", "would", "you", "your",
];

/// Word endings typical of one language, counted at half a stop word: they decide short
/// subjects without any function word ("Kündigung Vertrag", "Cancelling subscription").
const GERMAN_ENDINGS: &[&str] = &["ung", "keit", "heit", "lich", "chen", "ieren", "iert"];
const ENGLISH_ENDINGS: &[&str] = &["ing", "ness", "ship", "ful"];

/// German or English, by counting function words and typical word endings of each, with
/// every word spelled with an umlaut or ß counting for German. A tie, including text
/// with no evidence at all, is English: it is the lingua franca of mixed-language tickets.
pub fn detect_language(text: &str) -> Language {
    detect_in(&[text])
}

pub(super) fn detect_in(texts: &[&str]) -> Language {
    let mut german = 0.0;
    let mut english = 0.0;
    for text in texts {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if word
                .chars()
                .any(|c| matches!(c, 'ä' | 'ö' | 'ü' | 'ß' | 'Ä' | 'Ö' | 'Ü'))
            {
                german += 1.0;
            }
        }
        for word in Words::new(text).iter() {
            if GERMAN_WORDS.contains(&word) {
                german += 1.0;
            } else if ENGLISH_WORDS.contains(&word) {
                english += 1.0;
            } else if GERMAN_ENDINGS.iter().any(|ending| word.ends_with(ending)) {
                german += 0.5;
            } else if ENGLISH_ENDINGS.iter().any(|ending| word.ends_with(ending)) {
                english += 0.5;
            }
        }
    }
    if german > english {
        Language::German
    } else {
        Language::English
    }
}
