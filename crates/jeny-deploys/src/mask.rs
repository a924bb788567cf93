//! Masking secret values in a deploy's output, as it streams. Every secret variable's value is
//! replaced by `***` wherever it appears, and so are its base64 forms (standard and URL-safe,
//! with and without padding) and its URL-encoded forms (`%20` and `+` for spaces), since commands
//! print those too (an `Authorization: Basic` header, a URL with a password).
//!
//! Output arrives in chunks that can cut a secret in two, so a `Masker` holds back the end of a
//! chunk only when it could be the start of a secret (never more, so live output is not delayed
//! by a fixed window), and masks it together with the next chunk; `finish` releases what is left.
//! Masking chunk by chunk gives exactly what masking the whole output at once gives.
//!
//! Values shorter than `MIN_MASKED_LEN` bytes are not masked: a two-character secret would star
//! out every occurrence of those two characters in the output, making it unreadable while
//! protecting little. The deploys API should warn when such a secret is set.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// What a secret becomes in the output.
pub const MASK: &[u8] = b"***";
/// Shorter values are left as they are (see the module documentation).
pub const MIN_MASKED_LEN: usize = 4;

/// Masks the secrets it was made with in a stream of output chunks.
#[derive(Debug)]
pub struct Masker {
    /// `None` when there is nothing to mask.
    matcher: Option<AhoCorasick>,
    patterns: Vec<Vec<u8>>,
    /// The end of the output so far that could be the start of a secret, not yet released.
    held: Vec<u8>,
}

/// Every form of `secret` that is masked.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let bytes = secret.as_bytes();
    let mut forms = vec![bytes.to_vec()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(bytes).into_bytes());
    }
    let form_encoded: String = form_urlencoded::byte_serialize(bytes).collect();
    forms.push(form_encoded.clone().into_bytes());
    forms.push(form_encoded.replace('+', "%20").into_bytes());
    forms
}

impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut patterns: Vec<Vec<u8>> = secrets
            .into_iter()
            .filter(|secret| secret.len() >= MIN_MASKED_LEN)
            .flat_map(forms)
            .collect();
        patterns.sort();
        patterns.dedup();
        let matcher = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .expect("literal patterns always build"),
            )
        };
        Masker {
            matcher,
            patterns,
            held: Vec::new(),
        }
    }

    /// True when there is nothing to mask (no secret long enough): `push` returns its input.
    pub fn masks_nothing(&self) -> bool {
        self.matcher.is_none()
    }

    /// Masks `chunk` and returns what can be released now; the end of the output that a secret
    /// could still start in is held back for the next call.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.matcher.is_none() {
            return chunk.to_vec();
        }
        let mut pending = std::mem::take(&mut self.held);
        pending.extend_from_slice(chunk);
        self.release(pending, false)
    }

    /// Masks and releases what is held back: the output has ended.
    pub fn finish(&mut self) -> Vec<u8> {
        let pending = std::mem::take(&mut self.held);
        self.release(pending, true)
    }

    /// Masks `pending` as far as it is decided, and holds the rest. A match is decided when it
    /// starts before the earliest position from which a secret could still match with more
    /// output: every secret that could start there is then entirely in `pending`, so the
    /// leftmost-longest choice is the one the whole output would give.
    fn release(&mut self, pending: Vec<u8>, output_ended: bool) -> Vec<u8> {
        let Some(matcher) = &self.matcher else {
            return pending;
        };
        let undecided_from = if output_ended {
            pending.len()
        } else {
            self.earliest_possible_start(&pending)
        };
        let mut released = Vec::with_capacity(pending.len());
        let mut position = 0;
        for found in matcher.find_iter(&pending) {
            if found.start() >= undecided_from {
                break;
            }
            released.extend_from_slice(&pending[position..found.start()]);
            released.extend_from_slice(MASK);
            position = found.end();
        }
        let hold_from = position.max(undecided_from);
        released.extend_from_slice(&pending[position..hold_from]);
        self.held = pending[hold_from..].to_vec();
        released
    }

    /// The first position whose rest of `output` is the beginning of a secret (but not all of it),
    /// or the end of `output` when there is none.
    fn earliest_possible_start(&self, output: &[u8]) -> usize {
        let longest_pattern = self.patterns.iter().map(Vec::len).max().unwrap_or(0);
        let first_candidate = output
            .len()
            .saturating_sub(longest_pattern.saturating_sub(1));
        (first_candidate..output.len())
            .find(|&start| {
                let rest = &output[start..];
                self.patterns
                    .iter()
                    .any(|pattern| pattern.len() > rest.len() && pattern.starts_with(rest))
            })
            .unwrap_or(output.len())
    }
}

/// Masks a whole output at once.
pub fn mask_all<'a>(secrets: impl IntoIterator<Item = &'a str>, output: &[u8]) -> Vec<u8> {
    let mut masker = Masker::new(secrets);
    let mut masked = masker.push(output);
    masked.extend(masker.finish());
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masked(secrets: &[&str], output: &str) -> String {
        String::from_utf8(mask_all(secrets.iter().copied(), output.as_bytes())).unwrap()
    }

    #[test]
    fn a_secret_and_its_encodings_are_masked() {
        let secret = "p@ss word/1";
        let output = format!(
            "plain {secret}; basic {}; url {}; url-safe {}; done",
            STANDARD.encode(secret),
            "p%40ss+word%2F1",
            URL_SAFE_NO_PAD.encode(secret)
        );
        assert_eq!(
            masked(&[secret], &output),
            "plain ***; basic ***; url ***; url-safe ***; done"
        );
        assert_eq!(masked(&[secret], "p%40ss%20word%2F1"), "***");
    }

    #[test]
    fn short_values_and_no_secrets_leave_the_output_alone() {
        assert_eq!(masked(&["abc"], "abcabc"), "abcabc");
        assert_eq!(masked(&[], "anything"), "anything");
    }

    #[test]
    fn a_secret_cut_across_chunks_is_still_masked_and_nothing_extra_is_held() {
        let mut masker = Masker::new(["hunter22"]);
        let mut output = masker.push(b"login hun");
        assert_eq!(
            output, b"login ",
            "only the possible start of the secret is held"
        );
        output.extend(masker.push(b"ter22 ok\n"));
        assert_eq!(output, b"login *** ok\n");
        assert_eq!(masker.push(b"hunt"), b"");
        assert_eq!(
            masker.finish(),
            b"hunt",
            "at the end, what was held is released as it is"
        );
        let mut masker = Masker::new(["cbcc", "acbccaa"]);
        assert_eq!(
            masker.push(b"x acbcc"),
            b"x ",
            "a shorter secret inside a longer one's start waits"
        );
        assert_eq!(
            masker.finish(),
            b"a***",
            "and is masked when the output ends"
        );
    }

    #[test]
    fn the_longest_overlapping_secret_wins() {
        assert_eq!(
            masked(&["token", "token-extended"], "x token-extended y"),
            "x *** y"
        );
    }

    proptest! {
        #[test]
        fn masking_in_chunks_equals_masking_at_once_and_leaks_nothing(
            secrets in proptest::collection::vec("[a-c]{4,7}", 1..4),
            noise in proptest::collection::vec("[a-d \\n]{0,6}", 1..12),
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let mut output = Vec::new();
            for (index, piece) in noise.iter().enumerate() {
                output.extend_from_slice(piece.as_bytes());
                output.extend_from_slice(secrets[index % secrets.len()].as_bytes());
            }
            let whole = mask_all(secrets.iter().map(String::as_str), &output);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(output.len())).collect();
            cuts.sort();
            let mut masker = Masker::new(secrets.iter().map(String::as_str));
            let mut chunked = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([output.len()]) {
                chunked.extend(masker.push(&output[start..cut]));
                start = cut;
            }
            chunked.extend(masker.finish());
            prop_assert_eq!(&chunked, &whole);
            for secret in &secrets {
                prop_assert!(!whole.windows(secret.len()).any(|w| w == secret.as_bytes()));
            }
        }
    }
}
