//! Value pools built once at start-up with `fake` (a `fake` call allocates and
//! costs 100-250 ns; a draw from a pool costs a few ns). Seeded from the
//! dataset seed, so the pools are part of the deterministic output. Nothing
//! here is real personal data: names come from fake's word lists and every
//! address uses a reserved domain.

use fake::faker::company::en::{Buzzword, CatchPhrase};
use fake::faker::lorem::en::{Sentence, Word};
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use rand::RngCore;

use super::rng::{stream, tag};

pub struct Pools {
    pub first_names: Vec<String>,
    pub last_names: Vec<String>,
    /// Lower-case ASCII letters of first names, for usernames.
    pub handles: Vec<String>,
    pub group_names: Vec<String>,
    pub sentences: Vec<String>,
    /// ASCII prose; message text is a slice of it starting at a word.
    pub corpus: String,
    pub word_starts: Vec<u32>,
}

const CORPUS_BYTES: usize = 256 * 1024;
/// Longest text slice: the corpus must be longer than this.
pub const MAX_TEXT: usize = 5_000;

impl Pools {
    pub fn new(seed: u64) -> Pools {
        let mut r = stream(seed, tag::POOLS, 0);
        let first_names: Vec<String> = (0..512)
            .map(|_| FirstName().fake_with_rng(&mut r))
            .collect();
        let last_names: Vec<String> = (0..512).map(|_| LastName().fake_with_rng(&mut r)).collect();
        let handles = first_names
            .iter()
            .map(|n| {
                let h: String = n
                    .chars()
                    .filter(|c| c.is_ascii_alphabetic())
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                if h.is_empty() {
                    "user".to_string()
                } else {
                    h
                }
            })
            .collect();
        let group_names = (0..512)
            .map(|i| {
                if i % 2 == 0 {
                    CatchPhrase().fake_with_rng::<String, _>(&mut r)
                } else {
                    let b: String = Buzzword().fake_with_rng(&mut r);
                    format!("{} team", capitalise(&b))
                }
            })
            .collect();
        let sentences: Vec<String> = (0..512)
            .map(|_| Sentence(4..14).fake_with_rng(&mut r))
            .collect();
        let mut words: Vec<String> = (0..400).map(|_| Word().fake_with_rng(&mut r)).collect();
        words.extend(
            [
                "ok", "thanks", "meeting", "tomorrow", "lunch", "deploy", "review", "coffee",
                "call", "later", "sounds", "good", "the", "a", "we", "should", "ship", "it",
                "today", "weekend", "photo", "link", "see", "you", "soon", "great", "idea",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let mut corpus = String::with_capacity(CORPUS_BYTES + 64);
        let mut word_starts = Vec::new();
        let mut sentence_len = 0;
        while corpus.len() < CORPUS_BYTES {
            word_starts.push(corpus.len() as u32);
            let w = &words[(r.next_u64() % words.len() as u64) as usize];
            if sentence_len == 0 {
                corpus.push_str(&capitalise(w));
            } else {
                corpus.push_str(w);
            }
            sentence_len += 1;
            if sentence_len > 4 && r.next_u64().is_multiple_of(8) {
                corpus.push_str(if r.next_u64().is_multiple_of(5) {
                    "? "
                } else {
                    ". "
                });
                sentence_len = 0;
            } else {
                corpus.push(' ');
            }
        }
        debug_assert!(corpus.is_ascii());
        word_starts.retain(|&s| (s as usize) + MAX_TEXT < corpus.len());
        Pools {
            first_names,
            last_names,
            handles,
            group_names,
            sentences,
            corpus,
            word_starts,
        }
    }

    /// `len` characters of prose starting at a random word.
    #[inline]
    pub fn text<R: RngCore>(&self, r: &mut R, len: usize) -> &str {
        let len = len.min(MAX_TEXT);
        let s = self.word_starts[(r.next_u64() % self.word_starts.len() as u64) as usize] as usize;
        &self.corpus[s..s + len]
    }
}

#[inline]
pub fn pick<'a, R: RngCore>(r: &mut R, v: &'a [String]) -> &'a str {
    &v[(r.next_u64() % v.len() as u64) as usize]
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_deterministic_and_text_is_exact_length() {
        let (a, b) = (Pools::new(1), Pools::new(1));
        assert_eq!(a.first_names, b.first_names);
        assert_eq!(a.corpus, b.corpus);
        assert_ne!(Pools::new(2).corpus, a.corpus);
        let mut r = stream(1, 1, 1);
        for len in [1, 90, 5000] {
            assert_eq!(a.text(&mut r, len).chars().count(), len);
        }
        assert!(a
            .handles
            .iter()
            .all(|h| h.bytes().all(|c| c.is_ascii_lowercase())));
    }
}
