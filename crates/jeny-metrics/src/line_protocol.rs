//! InfluxDB line protocol: `parse` reads a `/write` body into points and per-line errors, and
//! `Point::to_line` writes a point back. The rules are InfluxDB 1.x's own (its `models` package,
//! and what InfluxDB 1.6.7 stores: `tests/line_protocol_vs_influxdb.rs` compares the two on a
//! corpus), including its error messages, which clients show to people. A body's good lines are
//! kept and its bad lines reported, so a caller can answer as InfluxDB does (a partial write).
//!
//! Where jeny deliberately differs from InfluxDB 1.6.7:
//! - the `u` suffix is an unsigned integer (`1u`), as in InfluxDB 1.8 and 2.x; 1.6 refuses it;
//! - a line may end with `\r\n`; 1.6 keeps the `\r` in the line, which refuses most lines and adds
//!   a `"` to a string field that ends one;
//! - a measurement's escapes are a comma and a space only, as documented and as InfluxDB 1.7 and
//!   later read them; 1.6 also reads `\=` and `\"` there;
//! - lines InfluxDB stores as something they do not say are refused: text after a string's closing
//!   quote (`a="x"y`, 1.6 stores `x"`), a field key ending in a backslash (1.6 joins it with the
//!   next field), a field with an empty key, one field twice with two types (1.6 refuses the whole
//!   body), and invalid UTF-8 (1.6 answers 500);
//! - `Precision::parse` refuses what it does not know, and reads `us` as microseconds; 1.6 takes
//!   any unknown precision, `us` included, as nanoseconds.
//!
//! The write path's own rules (a tag or field named `time`, a field's type fixed by its first
//! write) belong to the sinks, not to the parser.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::ops::Range;

/// The longest series key InfluxDB accepts: the measurement and tags as written, and for each
/// field also its key and the 4 bytes storage puts between them.
const MAX_KEY_LENGTH: usize = 65535;
/// InfluxDB keeps the two lowest times for itself and the highest as an exclusive bound.
const MIN_TIME_NS: i64 = i64::MIN + 2;
const MAX_TIME_NS: i64 = i64::MAX - 1;
const TIME_OUT_OF_RANGE: &str = "time outside range -9223372036854775806 - 9223372036854775806";

const MEASUREMENT_ESCAPES: &[u8] = b", ";
const TAG_ESCAPES: &[u8] = b", =";
const FIELD_KEY_ESCAPES: &[u8] = b",\" =";
const STRING_ESCAPES: &[u8] = b"\"\\";

/// The unit of a body's timestamps (`/write?precision=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

/// A `precision` that is none of InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid precision {0:?}: use n, u, ms, s, m or h")]
pub struct InvalidPrecision(pub String);

impl Precision {
    /// InfluxDB 1.x's names (`n`, `u`, `ms`, `s`, `m`, `h`; empty is the default, nanoseconds)
    /// and 2.x's `ns` and `us`.
    pub fn parse(text: &str) -> Result<Precision, InvalidPrecision> {
        match text {
            "" | "n" | "ns" => Ok(Precision::Nanoseconds),
            "u" | "us" => Ok(Precision::Microseconds),
            "ms" => Ok(Precision::Milliseconds),
            "s" => Ok(Precision::Seconds),
            "m" => Ok(Precision::Minutes),
            "h" => Ok(Precision::Hours),
            other => Err(InvalidPrecision(other.to_owned())),
        }
    }

    /// The name InfluxDB 1.x knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "n",
            Precision::Microseconds => "u",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
            Precision::Minutes => "m",
            Precision::Hours => "h",
        }
    }

    /// How many nanoseconds one unit is.
    pub fn nanoseconds(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }
}

/// One point: a measurement, its tags sorted by key, its fields in line order (a key written
/// twice keeps its last value, in its first place, as InfluxDB stores it) and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, FieldValue)>,
    pub time_ns: i64,
}

/// A field's value, typed by how it is written: `1` or `1.5` float, `1i` integer, `1u` unsigned,
/// `"text"` string, `t`/`true`/`f`/`false` (and capitalised) boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(String),
    Boolean(bool),
}

impl FieldValue {
    /// The type's name as InfluxDB says it (`SHOW FIELD KEYS`, type conflicts).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::Unsigned(_) => "unsigned",
            FieldValue::String(_) => "string",
            FieldValue::Boolean(_) => "boolean",
        }
    }
}

/// A body's points and its refused lines, in body order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub points: Vec<Point>,
    pub errors: Vec<LineError>,
}

/// A line that is not a point: where it starts (1-based, counting every newline before it), its
/// text as InfluxDB quotes it (without leading whitespace and line ending), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub text: String,
    pub message: String,
}

/// InfluxDB's own wording: `unable to parse '<line>': <message>`.
impl fmt::Display for LineError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "unable to parse '{}': {}",
            self.text, self.message
        )
    }
}

impl std::error::Error for LineError {}

/// Reads a line-protocol body. Blank lines and lines starting with `#` are skipped; a point
/// without a timestamp gets `now_ns` rounded down to `precision`, as InfluxDB does.
pub fn parse(body: &[u8], precision: Precision, now_ns: i64) -> Parsed {
    let unit = precision.nanoseconds();
    let default_time_ns = now_ns
        .checked_div_euclid(unit)
        .and_then(|units| units.checked_mul(unit))
        .unwrap_or(now_ns);
    let mut parsed = Parsed::default();
    let mut scratch = Scratch::default();
    let mut position = 0;
    let mut line_number = 1;
    while position < body.len() {
        let (end, newlines_inside) = scan_line(body, position);
        let mut line = &body[position..end];
        let first_line_number = line_number;
        line_number += newlines_inside + 1;
        position = end + 1;
        // A line that ends in an escaped newline keeps it up to here, as in InfluxDB.
        if let Some(without_newline) = line.strip_suffix(b"\n") {
            line = without_newline;
        }
        if let Some(without_carriage_return) = line.strip_suffix(b"\r") {
            line = without_carriage_return;
        }
        let start = skip_whitespace(line, 0);
        if start >= line.len() || line[start] == b'#' {
            continue;
        }
        let text = &line[start..];
        match parse_point(text, precision, default_time_ns, &mut scratch) {
            Ok(point) => parsed.points.push(point),
            Err(message) => parsed.errors.push(LineError {
                line: first_line_number,
                text: String::from_utf8_lossy(text).into_owned(),
                message: message.into_owned(),
            }),
        }
    }
    parsed
}

type Refusal = Cow<'static, str>;

/// Where a line ends: at the first newline that is neither escaped nor inside a string field, with
/// InfluxDB's reckoning of "inside a string" (a quote after the first space that follows more `=`
/// than `,`). Also says how many newlines the line holds.
fn scan_line(body: &[u8], start: usize) -> (usize, usize) {
    let mut index = start;
    let mut quoted = false;
    let mut past_first_space = false;
    let mut equals = 0usize;
    let mut commas = 0usize;
    let mut newlines = 0;
    while index < body.len() {
        let byte = body[index];
        if byte == b'\\' {
            if body.get(index + 1) == Some(&b'\n') {
                newlines += 1;
            }
            index += 2;
            continue;
        }
        if byte == b' ' {
            past_first_space = true;
        }
        if past_first_space {
            if !quoted && byte == b'=' {
                equals += 1;
                index += 1;
                continue;
            }
            if !quoted && byte == b',' {
                commas += 1;
                index += 1;
                continue;
            }
            if byte == b'"' && equals > commas {
                quoted = !quoted;
                index += 1;
                continue;
            }
        }
        if byte == b'\n' {
            if !quoted {
                break;
            }
            newlines += 1;
        }
        index += 1;
    }
    (index.min(body.len()), newlines)
}

fn skip_whitespace(line: &[u8], mut index: usize) -> usize {
    while index < line.len() && matches!(line[index], b' ' | b'\t' | 0) {
        index += 1;
    }
    index
}

/// A field as it was found in the line: byte ranges, not yet unescaped or converted.
struct RawField {
    key: Range<usize>,
    value: RawValue,
}

enum RawValue {
    Number(Range<usize>),
    Boolean(bool),
    /// Between the quotes.
    String(Range<usize>),
}

/// What InfluxDB would store as something the line does not say: refused by jeny, but only
/// after every check InfluxDB makes has passed, so that InfluxDB's message wins where it has one.
enum Oddity {
    TextAfterString { key: Range<usize> },
    EmptyFieldKey,
}

/// Byte ranges found while scanning a line, kept from line to line so that a point costs only
/// the allocations of its own strings.
#[derive(Default)]
struct Scratch {
    tags: Vec<(Range<usize>, Range<usize>)>,
    fields: Vec<RawField>,
}

/// One line (without leading whitespace) to a point, with InfluxDB's checks in InfluxDB's order.
fn parse_point(
    line: &[u8],
    precision: Precision,
    default_time_ns: i64,
    scratch: &mut Scratch,
) -> Result<Point, Refusal> {
    scratch.tags.clear();
    scratch.fields.clear();
    let (measurement_end, tags_follow) = scan_measurement(line)?;
    let key_end = if tags_follow {
        scan_tags(line, measurement_end + 1, &mut scratch.tags)?
    } else {
        measurement_end
    };
    // Two keys are the same unescaped exactly when they are the same as written.
    if has_duplicates(&scratch.tags, |(key, _)| &line[key.clone()]) {
        return Err("duplicate tags".into());
    }
    if key_end > MAX_KEY_LENGTH {
        return Err(format!("max key length exceeded: {key_end} > {MAX_KEY_LENGTH}").into());
    }

    let (fields_end, oddity) = scan_fields(line, key_end, &mut scratch.fields)?;
    for field in &scratch.fields {
        let key = &line[field.key.clone()];
        // InfluxDB finds a field's key again by looking for an `=` after something other than a
        // backslash, so a key that ends in one runs into the next field.
        if key.last() == Some(&b'\\') {
            let rest = String::from_utf8_lossy(&line[field.key.start..fields_end]);
            return Err(format!("invalid value: field-key={rest}").into());
        }
        let series_key_length = key_end + 4 + key.len();
        if series_key_length > MAX_KEY_LENGTH {
            return Err(
                format!("max key length exceeded: {series_key_length} > {MAX_KEY_LENGTH}").into(),
            );
        }
    }
    let time_ns = scan_time(line, fields_end, precision, default_time_ns)?;

    match oddity {
        Some(Oddity::TextAfterString { key }) => {
            let written_key = String::from_utf8_lossy(&line[key]);
            let key = unescape(&written_key, FIELD_KEY_ESCAPES);
            return Err(format!(
                "invalid field format: text after the closing quote of string field {key:?}"
            )
            .into());
        }
        Some(Oddity::EmptyFieldKey) => return Err("missing field key".into()),
        None => {}
    }

    // Every separator is ASCII, so the pieces of a UTF-8 line are UTF-8 too.
    let text = std::str::from_utf8(line).map_err(|_| Refusal::from("invalid UTF-8"))?;
    let measurement = unescape(&text[..measurement_end], MEASUREMENT_ESCAPES).into_owned();
    let mut tags: Vec<(String, String)> = scratch
        .tags
        .iter()
        .map(|(key, value)| {
            (
                unescape(&text[key.clone()], TAG_ESCAPES).into_owned(),
                unescape(&text[value.clone()], TAG_ESCAPES).into_owned(),
            )
        })
        .collect();
    if !tags.is_sorted_by(|left, right| left.0 <= right.0) {
        tags.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    }
    let mut fields = Vec::with_capacity(scratch.fields.len());
    for field in scratch.fields.drain(..) {
        let key = unescape(&text[field.key], FIELD_KEY_ESCAPES).into_owned();
        let value = field_value(text, field.value)?;
        fields.push((key, value));
    }
    let fields = keep_last_of_each_key(fields, &measurement)?;
    Ok(Point {
        measurement,
        tags,
        fields,
        time_ns,
    })
}

/// Whether two items have the same key: pairwise when there are few, by sorting when not.
fn has_duplicates<'a, T, K: Ord + ?Sized + 'a>(
    items: &'a [T],
    key: impl Fn(&'a T) -> &'a K,
) -> bool {
    if items.len() <= 16 {
        return items.iter().enumerate().any(|(index, item)| {
            items[..index]
                .iter()
                .any(|earlier| key(earlier) == key(item))
        });
    }
    let mut keys: Vec<&K> = items.iter().map(&key).collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

/// The measurement: up to the first comma (tags follow) or space (fields follow) that does not
/// come right after a backslash.
fn scan_measurement(line: &[u8]) -> Result<(usize, bool), Refusal> {
    if line.first().is_none_or(|&byte| byte == b',') {
        return Err("missing measurement".into());
    }
    let mut index = 0;
    loop {
        index += 1;
        if index >= line.len() {
            return Err("missing fields".into());
        }
        if line[index - 1] == b'\\' {
            continue;
        }
        match line[index] {
            b',' => return Ok((index, true)),
            b' ' => return Ok((index, false)),
            _ => {}
        }
    }
}

/// Tags from `start` (just after the measurement's comma) to the space before the fields, whose
/// index it returns. Separators count unless they come right after a backslash.
fn scan_tags(
    line: &[u8],
    start: usize,
    tags: &mut Vec<(Range<usize>, Range<usize>)>,
) -> Result<usize, Refusal> {
    let mut index = start;
    loop {
        let key_start = index;
        if index >= line.len() || matches!(line[index], b' ' | b',' | b'=') {
            return Err("missing tag key".into());
        }
        let key_end = loop {
            index += 1;
            if index >= line.len()
                || (matches!(line[index], b' ' | b',') && line[index - 1] != b'\\')
            {
                return Err("missing tag value".into());
            }
            if line[index] == b'=' && line[index - 1] != b'\\' {
                break index;
            }
        };
        index += 1;
        let value_start = index;
        if index >= line.len() || matches!(line[index], b',' | b' ') {
            return Err("missing tag value".into());
        }
        loop {
            index += 1;
            if index >= line.len() {
                return Err("missing fields".into());
            }
            let escaped = line[index - 1] == b'\\';
            match line[index] {
                b'=' if !escaped => return Err("invalid tag format".into()),
                b',' if !escaped => {
                    tags.push((key_start..key_end, value_start..index));
                    index += 1;
                    break;
                }
                b' ' if !escaped => {
                    tags.push((key_start..key_end, value_start..index));
                    return Ok(index);
                }
                _ => {}
            }
        }
    }
}

/// The fields, from the space after the key to the next space outside a string. InfluxDB checks
/// them by counting `=` and `,` (a backslash escapes the byte after it), scanning each number and
/// boolean as it meets its `=`; the fields are collected on the way.
fn scan_fields(
    line: &[u8],
    from: usize,
    fields: &mut Vec<RawField>,
) -> Result<(usize, Option<Oddity>), Refusal> {
    let start = skip_whitespace(line, from);
    let mut index = start;
    let mut quoted = false;
    let mut equals = 0usize;
    let mut commas = 0usize;
    let mut key_start = start;
    let mut string_key: Option<Range<usize>> = None;
    let mut string_start = 0;
    let mut oddity = None;
    while index < line.len() {
        let byte = line[index];
        if byte == b'\\' && index + 1 < line.len() {
            index += 2;
            continue;
        }
        if byte == b'"' && equals > commas {
            if quoted {
                if let Some(key) = string_key.take() {
                    let after = line.get(index + 1);
                    if after.is_some_and(|&next| next != b',' && next != b' ') {
                        oddity.get_or_insert(Oddity::TextAfterString { key: key.clone() });
                    }
                    fields.push(RawField {
                        key,
                        value: RawValue::String(string_start..index),
                    });
                }
            } else {
                string_start = index + 1;
            }
            quoted = !quoted;
            index += 1;
            continue;
        }
        if byte == b'=' && !quoted {
            equals += 1;
            // `index` is past the measurement and the space after it, so at least 2.
            let before = line[index - 1];
            if (before == b' ' || before == b',') && line[index - 2] != b'\\' {
                return Err("missing field key".into());
            }
            let Some(&first) = line.get(index + 1) else {
                return Err("missing field value".into());
            };
            if first == b',' || first == b' ' {
                return Err("missing field value".into());
            }
            let key = key_start..index;
            if key.is_empty() {
                oddity.get_or_insert(Oddity::EmptyFieldKey);
            }
            if first.is_ascii_digit() || matches!(first, b'.' | b'-' | b'N' | b'n') {
                let end = scan_number(line, index + 1)?;
                fields.push(RawField {
                    key,
                    value: RawValue::Number(index + 1..end),
                });
                index = end;
                continue;
            }
            if first != b'"' {
                let (end, value) = scan_boolean(line, index + 1)?;
                fields.push(RawField {
                    key,
                    value: RawValue::Boolean(value),
                });
                index = end;
                continue;
            }
            string_key = Some(key);
        }
        if byte == b',' && !quoted {
            commas += 1;
            key_start = index + 1;
        }
        if byte == b' ' && !quoted {
            break;
        }
        index += 1;
    }
    if quoted {
        return Err("unbalanced quotes".into());
    }
    if equals == 0 || commas != equals - 1 {
        return Err("invalid field format".into());
    }
    Ok((index, oddity))
}

const INVALID_NUMBER: &str = "invalid number";

/// A number from `start` to the next comma or space, checked as InfluxDB checks it; returns where
/// it ends. Ranges are checked only where the length allows an overflow, as InfluxDB does (a
/// shorter number always fits).
fn scan_number(line: &[u8], start: usize) -> Result<usize, Refusal> {
    let mut index = start;
    let mut integer = false;
    let mut unsigned = false;
    let mut decimal = false;
    let mut scientific = false;
    if line.get(index) == Some(&b'-') {
        index += 1;
        if index == line.len() {
            return Err(INVALID_NUMBER.into());
        }
    }
    while index < line.len() {
        let byte = line[index];
        if byte == b',' || byte == b' ' {
            break;
        }
        if index > start && !(integer || unsigned) && (byte == b'i' || byte == b'u') {
            integer = byte == b'i';
            unsigned = byte == b'u';
            index += 1;
            continue;
        }
        if byte == b'.' {
            if decimal {
                return Err(INVALID_NUMBER.into());
            }
            decimal = true;
        }
        if index > start && (byte == b'e' || byte == b'E') {
            scientific = true;
            index += 1;
            continue;
        }
        if (byte == b'+' || byte == b'-') && matches!(line[index - 1], b'e' | b'E') {
            index += 1;
            continue;
        }
        if !(byte.is_ascii_digit() || byte == b'.') {
            // NaN and infinities included: InfluxDB stores neither.
            return Err(INVALID_NUMBER.into());
        }
        index += 1;
    }
    if (integer || unsigned) && (decimal || scientific) {
        return Err(INVALID_NUMBER.into());
    }
    let negative = line[start] == b'-';
    let digits =
        (index - start) - usize::from(integer) - usize::from(decimal) - usize::from(negative);
    if digits == 0 {
        return Err(INVALID_NUMBER.into());
    }
    let text = ascii(&line[start..index]);
    if integer || unsigned {
        let suffix = if integer { b'i' } else { b'u' };
        if line[index - 1] != suffix {
            return Err(INVALID_NUMBER.into());
        }
        let number = &text[..text.len() - 1];
        if integer && number.len() >= 19 && number.parse::<i64>().is_err() {
            return Err(format!(
                "unable to parse integer {number}: strconv.ParseInt: parsing \"{number}\": value out of range"
            )
            .into());
        }
        if unsigned {
            if negative {
                return Err(INVALID_NUMBER.into());
            }
            if number.len() >= 20 && number.parse::<u64>().is_err() {
                return Err(format!(
                    "unable to parse unsigned {number}: strconv.ParseUint: parsing \"{number}\": value out of range"
                )
                .into());
            }
        }
    } else if (scientific || text.len() >= 25) && !parse_float(text).is_some_and(f64::is_finite) {
        return Err("invalid float".into());
    }
    Ok(index)
}

/// `t`, `T`, `true`, `True`, `TRUE` and the same for false, up to the next comma or space.
fn scan_boolean(line: &[u8], start: usize) -> Result<(usize, bool), Refusal> {
    let mut end = start;
    while end < line.len() && line[end] != b',' && line[end] != b' ' {
        end += 1;
    }
    match &line[start..end] {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => Ok((end, true)),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => Ok((end, false)),
        _ => Err("invalid boolean".into()),
    }
}

/// The optional timestamp after the fields, in `precision` units, and nothing but spaces after it.
fn scan_time(
    line: &[u8],
    from: usize,
    precision: Precision,
    default_time_ns: i64,
) -> Result<i64, Refusal> {
    let start = skip_whitespace(line, from);
    let mut end = start;
    while end < line.len() && line[end] != b'\n' && line[end] != b' ' {
        if !(line[end].is_ascii_digit() || (end == start && line[end] == b'-')) {
            return Err("bad timestamp".into());
        }
        end += 1;
    }
    if end == start {
        return Ok(default_time_ns);
    }
    let text = ascii(&line[start..end]);
    let units = text.parse::<i64>().map_err(|error| {
        let reason = match error.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        Refusal::from(format!("strconv.ParseInt: parsing \"{text}\": {reason}"))
    })?;
    let time_ns = units
        .checked_mul(precision.nanoseconds())
        .filter(|time_ns| (MIN_TIME_NS..=MAX_TIME_NS).contains(time_ns))
        .ok_or(TIME_OUT_OF_RANGE)?;
    if line[end..].iter().any(|&byte| byte != b' ') {
        return Err("point is invalid".into());
    }
    Ok(time_ns)
}

fn field_value(text: &str, value: RawValue) -> Result<FieldValue, Refusal> {
    Ok(match value {
        RawValue::Boolean(value) => FieldValue::Boolean(value),
        RawValue::String(range) => {
            FieldValue::String(unescape(&text[range], STRING_ESCAPES).into_owned())
        }
        RawValue::Number(range) => {
            let number = &text[range];
            let invalid = || Refusal::from(INVALID_NUMBER);
            if let Some(integer) = number.strip_suffix('i') {
                FieldValue::Integer(integer.parse().map_err(|_| invalid())?)
            } else if let Some(unsigned) = number.strip_suffix('u') {
                FieldValue::Unsigned(unsigned.parse().map_err(|_| invalid())?)
            } else {
                FieldValue::Float(
                    parse_float(number)
                        .filter(|value| value.is_finite())
                        .ok_or_else(invalid)?,
                )
            }
        }
    })
}

/// A key written twice keeps its last value in its first place; with two types the line is
/// refused (InfluxDB refuses the whole body then).
fn keep_last_of_each_key(
    fields: Vec<(String, FieldValue)>,
    measurement: &str,
) -> Result<Vec<(String, FieldValue)>, Refusal> {
    let has_duplicates = has_duplicates(&fields, |(key, _)| key.as_str());
    if !has_duplicates {
        return Ok(fields);
    }
    let mut kept: Vec<(String, FieldValue)> = Vec::with_capacity(fields.len());
    let mut first_index: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    for (key, value) in fields {
        match first_index.get(&key) {
            Some(&index) => {
                let earlier = &kept[index].1;
                if std::mem::discriminant(earlier) != std::mem::discriminant(&value) {
                    return Err(format!(
                        "field type conflict: input field \"{key}\" on measurement \"{measurement}\" is type {}, already exists as type {}",
                        value.type_name(),
                        earlier.type_name()
                    )
                    .into());
                }
                kept[index].1 = value;
            }
            None => {
                first_index.insert(key.clone(), kept.len());
                kept.push((key, value));
            }
        }
    }
    Ok(kept)
}

/// Removes the backslash before each byte of `escapable`; any other backslash stays.
fn unescape<'a>(raw: &'a str, escapable: &[u8]) -> Cow<'a, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut unescaped = String::with_capacity(raw.len());
    let mut kept_from = 0;
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\'
            && bytes
                .get(index + 1)
                .is_some_and(|next| escapable.contains(next))
        {
            // Both bytes are ASCII, so both cuts fall between characters.
            unescaped.push_str(&raw[kept_from..index]);
            kept_from = index + 1;
            index += 2;
        } else {
            index += 1;
        }
    }
    unescaped.push_str(&raw[kept_from..]);
    Cow::Owned(unescaped)
}

/// Bytes the scanners have already checked to be ASCII.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn parse_float(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

impl Point {
    /// The point as one line of line protocol, with every escape it needs and the time in
    /// nanoseconds: what `parse` reads back to this point (`Precision::Nanoseconds`). Floats are
    /// written in Rust's shortest form that reads back to the same bits (an exponent outside
    /// 1e-5..1e16). A point `parse` made always survives; one made by hand does when line
    /// protocol can say it: no newline in a name, no name ending in a backslash or with one before
    /// a character that is escaped there, no measurement starting with `#`, a tab or a NUL, and
    /// finite floats.
    pub fn to_line(&self) -> String {
        let mut line = String::with_capacity(64);
        self.write_line(&mut line);
        line
    }

    /// `to_line`, appended to `out` (no newline).
    pub fn write_line(&self, out: &mut String) {
        push_escaped(out, &self.measurement, MEASUREMENT_ESCAPES);
        for (key, value) in &self.tags {
            out.push(',');
            push_escaped(out, key, TAG_ESCAPES);
            out.push('=');
            push_escaped(out, value, TAG_ESCAPES);
        }
        for (index, (key, value)) in self.fields.iter().enumerate() {
            out.push(if index == 0 { ' ' } else { ',' });
            push_escaped(out, key, FIELD_KEY_ESCAPES);
            out.push('=');
            match value {
                FieldValue::Float(number) => push_float(out, *number),
                FieldValue::Integer(number) => {
                    let _ = write!(out, "{number}i");
                }
                FieldValue::Unsigned(number) => {
                    let _ = write!(out, "{number}u");
                }
                FieldValue::String(text) => {
                    out.push('"');
                    push_escaped(out, text, STRING_ESCAPES);
                    out.push('"');
                }
                FieldValue::Boolean(value) => out.push_str(if *value { "true" } else { "false" }),
            }
        }
        let _ = write!(out, " {}", self.time_ns);
    }
}

fn push_escaped(out: &mut String, text: &str, escapes: &[u8]) {
    for character in text.chars() {
        if character.is_ascii() && escapes.contains(&(character as u8)) {
            out.push('\\');
        }
        out.push(character);
    }
}

fn push_float(out: &mut String, number: f64) {
    let magnitude = number.abs();
    let _ = if magnitude == 0.0 || (1e-5..1e16).contains(&magnitude) {
        write!(out, "{number}")
    } else {
        write!(out, "{number:e}")
    };
}

#[cfg(test)]
mod tests;
