//! Masking secret values in a deploy's output, as it streams. Commands print secrets in more
//! ways than as they are, so each secret becomes a set of patterns, and every byte of the output
//! that any pattern covers is masked; overlapping occurrences become one `***`.
//!
//! What is masked, for every secret variable's value of at least `MIN_MASKED_LEN` bytes:
//!
//! - **The value as it is**, and with the spaces and newlines around it trimmed (a value read
//!   from a file often ends with a newline the command does not print); both in all the forms
//!   below.
//! - **Each line of it**, when it has several (a PEM key): every line, with the spaces and `\r`
//!   around it trimmed, of at least `MIN_MASKED_LEN` bytes, as it is, so the value is masked
//!   when a tool prints it with `\r\n`, indents it, or joins its lines.
//! - **Its base64 forms**, in the standard (`+/`) and URL-safe (`-_`) alphabets, with or without
//!   padding, wherever the value sits in the encoded text (`printf 'user:%s' "$SECRET" | base64`,
//!   an `Authorization: Basic` header, a longer encoded blob). Base64 turns 3 bytes into 4
//!   characters, so a value starting at byte offset 0, 1 or 2 (mod 3) of the encoded text gives
//!   three different encodings. For each of them the pattern is the value's *stable core*: the
//!   characters whose 6 bits all come from the value, leaving out the one or two characters at
//!   either end that mix its first or last bits with the neighbouring bytes. When the value ends
//!   the encoded text, the core with the closing character (and `=` padding) is a pattern too.
//!   A few bits of the value's first and last bytes can stay visible in the characters left out.
//! - **Its URL-encoded forms**: `application/x-www-form-urlencoded` (`+` for a space), the same
//!   with `%20`, RFC 3986's (curl, Python's `quote`) and JavaScript's `encodeURIComponent`, each
//!   with upper or lower case hex.
//!
//! Values shorter than `MIN_MASKED_LEN` bytes are not masked: a two-character secret would star
//! out every occurrence of those two characters in the output, making it unreadable while
//! protecting little. The deploys API should warn when such a secret is set. For the same reason
//! a base64 pattern needs `MIN_BASE64_FORM_LEN` characters besides padding: a 4-byte value is
//! masked in base64 only when it is the whole encoded text.
//!
//! Not masked: the encoded value in base64 that a tool wraps with a line break inside it
//! (`base64` wraps at 76 characters, every 57 bytes of input, so a value of more than 56 bytes is
//! always cut), and a multi-line value re-wrapped at another width (only its lines that survive
//! whole are masked).
//!
//! Output arrives in chunks that can cut a secret in two, so a `Masker` holds back the end of a
//! chunk only when it could be the start of a pattern (never more, so live output is not delayed
//! by a fixed window), and masks it together with the next chunk; `finish` releases what is left.
//! Masking chunk by chunk gives exactly what masking the whole output at once gives. All patterns
//! are in one Aho-Corasick automaton; each byte is scanned once, apart from the few held back and
//! those of an occurrence (searched again from its second byte for occurrences overlapping it).

use aho_corasick::{AhoCorasick, Input, MatchKind};
use base64::Engine;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// What a secret becomes in the output.
pub const MASK: &[u8] = b"***";
/// Shorter values are left as they are (see the module documentation).
pub const MIN_MASKED_LEN: usize = 4;
/// Base64 patterns with fewer characters (not counting `=` padding) are left out. Six characters
/// carry 36 bits of the secret, at least the 32 of the shortest value masked as it is, so no
/// base64 pattern is likelier to match unrelated output by chance than a raw value is. Values of
/// 5 bytes and more have a core of at least 6 characters at every alignment; a 4-byte value has
/// 4 or 5, and is masked only as a whole encoded value (6 characters and `==`).
pub const MIN_BASE64_FORM_LEN: usize = 6;

/// The base64 alphabets masked: (with padding, without padding).
const BASE64_ALPHABETS: [(&GeneralPurpose, &GeneralPurpose); 2] =
    [(&STANDARD, &STANDARD_NO_PAD), (&URL_SAFE, &URL_SAFE_NO_PAD)];

/// Masks the secrets it was made with in a stream of output chunks. A clone shares the automaton
/// (one stream's masker, cloned for the others, is built once).
#[derive(Debug, Clone)]
pub struct Masker {
    /// `None` when there is nothing to mask.
    matcher: Option<AhoCorasick>,
    /// Every pattern, sorted and without duplicates, to find where one could still begin.
    patterns: Vec<Vec<u8>>,
    longest_pattern: usize,
    /// The first two bytes of every pattern, a bit per pair: most positions of the output are
    /// ruled out as a pattern's beginning by one look-up.
    first_pairs: Box<[u64; 1024]>,
    /// The end of the output so far from the first position where a pattern could still begin,
    /// not yet released.
    held: Vec<u8>,
    /// How many bytes at the start of `held` belong to a masked run already released as `***`
    /// (a pattern that begins in `held` and overlaps them extends that run).
    held_masked: usize,
}

/// The patterns of `secret`: every form of the value, and of the value with the spaces and
/// newlines around it trimmed; and each line of a value of several lines, trimmed, as it is.
fn patterns_of(secret: &str) -> Vec<Vec<u8>> {
    let mut patterns = Vec::new();
    for value in [secret, secret.trim_ascii()] {
        if value.len() >= MIN_MASKED_LEN {
            patterns.extend(forms(value.as_bytes()));
        }
    }
    for line in secret.lines().map(str::trim_ascii) {
        if line.len() >= MIN_MASKED_LEN {
            patterns.push(line.as_bytes().to_vec());
        }
    }
    patterns
}

/// Every form of `value` that is masked.
fn forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![value.to_vec()];
    forms.extend(base64_forms(value));
    forms.extend(url_encoded_forms(value));
    forms
}

/// The base64 patterns of `value` at each of the three alignments: its stable core and, for
/// when it ends the encoded text, the core with the closing character, padded or not.
fn base64_forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = Vec::new();
    for offset in 0..3 {
        // What comes before the value only changes the characters before its stable core.
        let mut plaintext = vec![0; offset];
        plaintext.extend_from_slice(value);
        let first_stable_char = (8 * offset).div_ceil(6);
        let stable_end = 8 * plaintext.len() / 6;
        for (padded_engine, unpadded_engine) in BASE64_ALPHABETS {
            let unpadded = unpadded_engine.encode(&plaintext);
            let padded = padded_engine.encode(&plaintext);
            let core = &unpadded[first_stable_char..stable_end];
            let ending = &unpadded[first_stable_char..];
            let ending_padded = &padded[first_stable_char..];
            for form in [core, ending, ending_padded] {
                if form.trim_end_matches('=').len() >= MIN_BASE64_FORM_LEN {
                    forms.push(form.as_bytes().to_vec());
                }
            }
        }
    }
    forms
}

/// The URL-encoded patterns of `value`. Encoders agree on letters, digits and `%XX` for most
/// other bytes; they differ on a space, on a few punctuation marks left as they are, and on the
/// case of the hex digits.
fn url_encoded_forms(value: &[u8]) -> Vec<Vec<u8>> {
    // Keeps `*-._`, a space is `+`.
    let form_encoded: String = form_urlencoded::byte_serialize(value).collect();
    let space_as_percent = form_encoded.replace('+', "%20");
    // Keeps `-._~`.
    let rfc_3986 = space_as_percent.replace('*', "%2A").replace("%7E", "~");
    // Keeps `-_.!~*'()`.
    let uri_component = ["%7E", "~", "%21", "!", "%27", "'", "%28", "(", "%29", ")"]
        .chunks(2)
        .fold(space_as_percent.clone(), |encoded, pair| {
            encoded.replace(pair[0], pair[1])
        });
    let upper_case = [form_encoded, space_as_percent, rfc_3986, uri_component];
    let lower_case = upper_case.clone().map(|encoded| lower_case_hex(&encoded));
    upper_case
        .into_iter()
        .chain(lower_case)
        .map(String::into_bytes)
        .collect()
}

/// `encoded` with the two hex digits after each `%` in lower case (the rest is left alone).
fn lower_case_hex(encoded: &str) -> String {
    let mut lowered = String::with_capacity(encoded.len());
    let mut hex_digits_left = 0;
    for character in encoded.chars() {
        if hex_digits_left > 0 {
            lowered.push(character.to_ascii_lowercase());
            hex_digits_left -= 1;
        } else {
            if character == '%' {
                hex_digits_left = 2;
            }
            lowered.push(character);
        }
    }
    lowered
}

impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut patterns: Vec<Vec<u8>> = secrets.into_iter().flat_map(patterns_of).collect();
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
        let mut first_pairs = Box::new([0; 1024]);
        // Every pattern has at least `MIN_MASKED_LEN` bytes, so at least two.
        for pattern in &patterns {
            let pair = first_pair_index(pattern[0], pattern[1]);
            first_pairs[pair / 64] |= 1 << (pair % 64);
        }
        Masker {
            matcher,
            longest_pattern: patterns.iter().map(Vec::len).max().unwrap_or(0),
            patterns,
            first_pairs,
            held: Vec::new(),
            held_masked: 0,
        }
    }

    /// True when there is nothing to mask (no secret long enough): `push` returns its input.
    pub fn masks_nothing(&self) -> bool {
        self.matcher.is_none()
    }

    /// Masks `chunk` and returns what can be released now; the end of the output that a pattern
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

    /// Masks `pending` as far as it is decided, and holds the rest. Every occurrence starting
    /// before the earliest position from which a pattern could still match with more output is
    /// entirely in `pending`, so the masked runs it forms are the ones the whole output would
    /// give, except that the last may go on: it is released as `***` now, and an occurrence in
    /// the held bytes that overlaps it extends it without a second `***`.
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
        // Everything before it is released, as itself or inside a `***`.
        let mut released_until = self.held_masked;
        // Each search finds the occurrence that starts first from there on, the longest of those
        // that start at that position (the shorter ones are inside it), so searching again from
        // the byte after its start meets every position where an occurrence starts, in order.
        let mut search_from = 0;
        while let Some(found) = matcher.find(Input::new(&pending).span(search_from..pending.len()))
        {
            if found.start() >= undecided_from {
                break;
            }
            if found.start() < released_until {
                released_until = released_until.max(found.end());
            } else {
                released.extend_from_slice(&pending[released_until..found.start()]);
                released.extend_from_slice(MASK);
                released_until = found.end();
            }
            search_from = found.start() + 1;
        }
        if released_until < undecided_from {
            released.extend_from_slice(&pending[released_until..undecided_from]);
            self.held_masked = 0;
        } else {
            self.held_masked = released_until - undecided_from;
        }
        debug_assert!(pending.len() - undecided_from < self.longest_pattern.max(1));
        self.held = pending[undecided_from..].to_vec();
        released
    }

    /// The first position whose rest of `output` is the beginning of a pattern (but not all of
    /// it), or the end of `output` when there is none.
    fn earliest_possible_start(&self, output: &[u8]) -> usize {
        let first_candidate = output
            .len()
            .saturating_sub(self.longest_pattern.saturating_sub(1));
        (first_candidate..output.len())
            .find(|&start| self.begins_a_pattern(&output[start..]))
            .unwrap_or(output.len())
    }

    /// True when `rest` is the beginning of a longer pattern. Patterns that begin with `rest`
    /// sort right after it, so only the first pattern greater than `rest` needs a look.
    fn begins_a_pattern(&self, rest: &[u8]) -> bool {
        if let [first, second, ..] = rest {
            let pair = first_pair_index(*first, *second);
            if self.first_pairs[pair / 64] & (1 << (pair % 64)) == 0 {
                return false;
            }
        }
        let first_greater = self
            .patterns
            .partition_point(|pattern| pattern.as_slice() <= rest);
        self.patterns
            .get(first_greater)
            .is_some_and(|pattern| pattern.starts_with(rest))
    }
}

/// The bit of `first_pairs` for a pattern beginning with `first` and `second`.
fn first_pair_index(first: u8, second: u8) -> usize {
    usize::from(first) << 8 | usize::from(second)
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

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    /// The characters of `encoded` (the base64 of some text) whose 6 bits all come from the
    /// `length` bytes at `offset` in that text.
    fn stable_core(encoded: &str, offset: usize, length: usize) -> &str {
        let first_char = (8 * offset).div_ceil(6);
        let end_char = 8 * (offset + length) / 6;
        &encoded[first_char..end_char.max(first_char)]
    }

    /// Masks `output` cut at `cuts`, chunk by chunk.
    fn masked_in_chunks(secrets: &[&str], output: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut.min(output.len())).collect();
        cuts.sort();
        let mut masker = Masker::new(secrets.iter().copied());
        let mut masked = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([output.len()]) {
            masked.extend(masker.push(&output[start..cut]));
            start = cut;
        }
        masked.extend(masker.finish());
        masked
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
    fn a_basic_auth_header_of_user_and_secret_is_masked() {
        let secret = "s3cr3t-T0ken";
        let header = format!(
            "Authorization: Basic {}",
            STANDARD.encode(format!("deploy:{secret}"))
        );
        assert_eq!(header, "Authorization: Basic ZGVwbG95OnMzY3IzdC1UMGtlbg==");

        assert_eq!(
            masked(&[secret], &header),
            "Authorization: Basic ZGVwbG95On***",
            "the characters mixing the user's last bits with the secret's first stay"
        );
    }

    #[test]
    fn a_user_and_secret_pair_piped_to_base64_is_masked() {
        // What `printf 'usr:%s' "$SECRET" | base64` prints.
        let secret = "hunter2-but-longer";
        let printed = format!("{}\n", STANDARD.encode(format!("usr:{secret}")));

        let masked = masked(&[secret], &printed);

        assert!(!masked.contains(stable_core(&printed, 4, secret.len())));
        assert!(masked.starts_with("dXNyO") && masked.ends_with("***\n"));
    }

    #[test]
    fn a_secret_inside_a_longer_encoded_blob_is_masked_at_every_alignment() {
        let secret = "correct horse battery";
        for prefix in ["", "a", "ab", "abc", "abcd", "abcde"] {
            let plaintext = format!("{prefix}{secret} and more text after it");
            let blob = STANDARD_NO_PAD.encode(&plaintext);

            let masked = masked(&[secret], &format!("blob={blob};"));

            let core = stable_core(&blob, prefix.len(), secret.len());
            assert!(!masked.contains(core), "prefix {prefix:?}: {masked}");
            assert!(masked.contains("***"), "prefix {prefix:?}: {masked}");
            assert!(masked.ends_with(";"), "the text after the secret stays");
        }
    }

    #[test]
    fn url_safe_base64_without_padding_is_masked() {
        let secret = "\u{fb}\u{ff}\u{fe}secret??>>";
        let encoded = URL_SAFE_NO_PAD.encode(format!("x{secret}"));
        assert!(encoded.contains('-') || encoded.contains('_'));

        let masked = masked(&[secret], &encoded);

        assert!(!masked.contains(stable_core(&encoded, 1, secret.len())));
    }

    #[test]
    fn a_four_byte_secret_is_masked_in_base64_only_as_a_whole_encoded_value() {
        let whole = STANDARD.encode("abcd");
        let inside = STANDARD.encode("user:abcd");

        assert_eq!(masked(&["abcd"], &whole), "***");
        assert_eq!(
            masked(&["abcd"], &inside),
            inside,
            "a core of 4 or 5 characters would mask unrelated text"
        );
    }

    #[test]
    fn a_url_encoded_secret_is_masked_with_plus_or_percent_20_and_either_hex_case() {
        let secret = "a b/c~d*e'f";
        for encoded in [
            "a+b%2Fc%7Ed*e%27f",
            "a%20b%2Fc%7Ed*e%27f",
            "a%20b%2fc%7ed*e%27f",
            "a%20b%2Fc~d%2Ae%27f",
            "a%20b%2fc~d*e'f",
        ] {
            assert_eq!(
                masked(&[secret], &format!("?q={encoded}&x=1")),
                "?q=***&x=1",
                "{encoded}"
            );
        }
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_masked_even_with_crlf_endings_or_indented() {
        let secret = "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\nq7BFUcV2bU1f\n-----END KEY-----\n";
        let printed = "key: |\r\n  -----BEGIN KEY-----\r\n  MIIEowIBAAKCAQEA\r\n  \
            q7BFUcV2bU1f\r\n  -----END KEY-----\r\n";

        assert_eq!(
            masked(&[secret], printed),
            "key: |\r\n  ***\r\n  ***\r\n  ***\r\n  ***\r\n"
        );
        assert_eq!(masked(&[secret], secret), "***");
    }

    #[test]
    fn a_secret_with_a_trailing_newline_is_masked_without_it() {
        assert_eq!(masked(&["hunter22\n"], "pw=hunter22;"), "pw=***;");
    }

    #[test]
    fn short_values_and_no_secrets_leave_the_output_alone() {
        assert_eq!(masked(&["abc"], "abcabc"), "abcabc");
        assert_eq!(masked(&["ab\ncd"], "ab cd"), "ab cd");
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
    fn a_secret_that_starts_a_longer_one_is_masked_with_it() {
        assert_eq!(
            masked(&["token", "token-extended"], "x token-extended y"),
            "x *** y"
        );
    }

    #[test]
    fn overlapping_secrets_are_masked_as_one_run_and_neither_shows() {
        assert_eq!(
            masked(&["hunter22", "22password"], "x hunter22password y"),
            "x *** y"
        );
        assert_eq!(
            masked(&["hunter22"], "hunter22hunter22"),
            "******",
            "occurrences that only touch are masked one by one"
        );
    }

    #[test]
    fn a_run_of_overlapping_occurrences_is_released_as_it_comes_and_stays_one_mask() {
        let mut masker = Masker::new(["aaaa"]);
        let mut output = masker.push(b"x aaaaaa");
        assert_eq!(output, b"x ***", "the run is released before it ends");
        for _ in 0..1000 {
            output.extend(masker.push(b"aaaa"));
        }
        assert!(masker.held.len() < 4, "what is held stays bounded");
        output.extend(masker.push(b"a y"));
        output.extend(masker.finish());
        assert_eq!(output, b"x *** y");
    }

    /// How the secret is printed, in `a_secret_printed_in_any_form_never_shows`.
    #[derive(Debug, Clone)]
    enum Printed {
        AsItIs,
        Base64 {
            before: Vec<u8>,
            after: Vec<u8>,
            url_safe: bool,
            padded: bool,
        },
        UrlEncoded {
            space_as_plus: bool,
            lower_case_hex: bool,
        },
        LineByLine {
            crlf: bool,
            indent: String,
        },
    }

    fn printed() -> impl Strategy<Value = Printed> {
        prop_oneof![
            Just(Printed::AsItIs),
            (
                proptest::collection::vec(any::<u8>(), 0..=5),
                proptest::collection::vec(any::<u8>(), 0..=4),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(before, after, url_safe, padded)| Printed::Base64 {
                    before,
                    after,
                    url_safe,
                    padded,
                }),
            (any::<bool>(), any::<bool>()).prop_map(|(space_as_plus, lower_case_hex)| {
                Printed::UrlEncoded {
                    space_as_plus,
                    lower_case_hex,
                }
            }),
            (any::<bool>(), "[ \t]{0,3}")
                .prop_map(|(crlf, indent)| Printed::LineByLine { crlf, indent }),
        ]
    }

    /// Prints `secret` as `how` says; returns what is printed and the encoded text that must
    /// not show: the URL-encoded value, or the base64 stable core when it is long enough to be
    /// masked (none when only the raw value and its lines are checked).
    fn print(secret: &str, how: &Printed) -> (Vec<u8>, Option<String>) {
        match how {
            Printed::AsItIs => (secret.as_bytes().to_vec(), None),
            Printed::Base64 {
                before,
                after,
                url_safe,
                padded,
            } => {
                let engine = match (url_safe, padded) {
                    (false, true) => &STANDARD,
                    (false, false) => &STANDARD_NO_PAD,
                    (true, true) => &URL_SAFE,
                    (true, false) => &URL_SAFE_NO_PAD,
                };
                let mut plaintext = before.clone();
                plaintext.extend_from_slice(secret.as_bytes());
                plaintext.extend_from_slice(after);
                let encoded = engine.encode(&plaintext);
                let core = stable_core(&encoded, before.len(), secret.len()).to_string();
                let core_is_masked = core.len() >= MIN_BASE64_FORM_LEN;
                (encoded.into_bytes(), core_is_masked.then_some(core))
            }
            Printed::UrlEncoded {
                space_as_plus,
                lower_case_hex,
            } => {
                let mut encoded = String::new();
                for &byte in secret.as_bytes() {
                    match byte {
                        b' ' if *space_as_plus => encoded.push('+'),
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                            encoded.push(char::from(byte));
                        }
                        _ if *lower_case_hex => encoded.push_str(&format!("%{byte:02x}")),
                        _ => encoded.push_str(&format!("%{byte:02X}")),
                    }
                }
                (encoded.clone().into_bytes(), Some(encoded))
            }
            Printed::LineByLine { crlf, indent } => {
                let line_ending = if *crlf { "\r\n" } else { "\n" };
                let printed: String = secret
                    .lines()
                    .map(|line| format!("{indent}{line}{line_ending}"))
                    .collect();
                (printed.into_bytes(), None)
            }
        }
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
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let whole = mask_all(secrets.iter().copied(), &output);
            let chunked = masked_in_chunks(&secrets, &output, &cuts);
            prop_assert_eq!(&chunked, &whole);
            for secret in &secrets {
                prop_assert!(!contains(&whole, secret.as_bytes()));
            }
        }

        #[test]
        fn a_secret_printed_in_any_form_never_shows(
            first_line in "[a-zA-Z0-9 :@/+=._~%\u{e9}-]{4,16}",
            more_lines in proptest::collection::vec("[a-zA-Z0-9 :@/+=._~%-]{0,16}", 0..3),
            how in printed(),
            before in proptest::collection::vec(any::<u8>(), 0..24),
            after in proptest::collection::vec(any::<u8>(), 0..24),
            cuts in proptest::collection::vec(0usize..120, 0..8),
        ) {
            let secret = std::iter::once(first_line).chain(more_lines).collect::<Vec<_>>().join("\n");
            let (printed, must_not_show) = print(&secret, &how);
            let mut output = before;
            output.extend_from_slice(&printed);
            output.extend_from_slice(&after);

            let whole = mask_all([secret.as_str()], &output);
            let chunked = masked_in_chunks(&[secret.as_str()], &output, &cuts);

            prop_assert_eq!(&chunked, &whole);
            prop_assert!(!contains(&whole, secret.as_bytes()));
            for line in secret.lines().map(str::trim_ascii) {
                if line.len() >= MIN_MASKED_LEN {
                    prop_assert!(!contains(&whole, line.as_bytes()), "line {:?} shows", line);
                }
            }
            if let Some(encoded) = must_not_show {
                prop_assert!(!contains(&whole, encoded.as_bytes()), "{:?} shows", encoded);
            }
        }
    }
}
