//! The parser's rules one by one (InfluxDB 1.x's, and jeny's few differences), and two
//! properties: no input makes it panic, and every point it can represent survives `to_line`.

use super::*;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_123_456_789_012;

fn parse_ns(body: &str) -> Parsed {
    parse(body.as_bytes(), Precision::Nanoseconds, NOW)
}

/// The only point of a body that must parse cleanly.
fn point(body: &str) -> Point {
    let parsed = parse_ns(body);
    assert_eq!(parsed.errors, [], "{body:?} has errors");
    assert_eq!(parsed.points.len(), 1, "{body:?} is one point");
    parsed.points.into_iter().next().unwrap()
}

/// The message of the only line of a body, which must be refused.
fn refusal(body: &str) -> String {
    let parsed = parse_ns(body);
    assert_eq!(parsed.points, [], "{body:?} makes no point");
    assert_eq!(parsed.errors.len(), 1, "{body:?} is one error");
    parsed.errors[0].message.clone()
}

fn field(body: &str) -> FieldValue {
    let point = point(body);
    assert_eq!(point.fields.len(), 1, "{body:?} has one field");
    point.fields[0].1.clone()
}

fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn a_line_has_a_measurement_tags_fields_and_a_time() {
    let point = point("cpu,host=a,region=eu usage=0.5,count=3i,up=true,note=\"fine\" 1234");

    assert_eq!(
        point,
        Point {
            measurement: "cpu".to_owned(),
            tags: strings(&[("host", "a"), ("region", "eu")]),
            fields: vec![
                ("usage".to_owned(), FieldValue::Float(0.5)),
                ("count".to_owned(), FieldValue::Integer(3)),
                ("up".to_owned(), FieldValue::Boolean(true)),
                ("note".to_owned(), FieldValue::String("fine".to_owned())),
            ],
            time_ns: 1234,
        }
    );
}

#[test]
fn tags_are_sorted_by_key_and_fields_stay_in_line_order() {
    let point = point("m,zone=z,app=a,host=h b=1,a=2 1");

    assert_eq!(
        point.tags,
        strings(&[("app", "a"), ("host", "h"), ("zone", "z")])
    );
    let keys: Vec<&str> = point.fields.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["b", "a"]);
}

#[test]
fn the_measurement_escapes_comma_and_space_only() {
    assert_eq!(point(r"my\ cpu\,x v=1 1").measurement, "my cpu,x");
    assert_eq!(point(r"a\=b\x v=1 1").measurement, r"a\=b\x");
    assert_eq!(point(r#"a"b=c v=1 1"#).measurement, r#"a"b=c"#);
}

#[test]
fn tag_keys_and_values_escape_comma_equals_and_space() {
    let point = point(r"m,k\ e\,y\==v\ a\,l\=ue,q\x=\x v=1 1");

    assert_eq!(
        point.tags,
        strings(&[("k e,y=", "v a,l=ue"), (r"q\x", r"\x")])
    );
}

#[test]
fn a_tag_value_may_start_with_an_equals_sign() {
    assert_eq!(point("m,t==x v=1 1").tags, strings(&[("t", "=x")]));
}

#[test]
fn field_keys_escape_comma_equals_space_and_double_quote() {
    let point = point(r#"m a\ b=1,c\,d=2,e\=f=3,g\"h=4,"q"=5,x\y=6 1"#);

    let keys: Vec<&str> = point.fields.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["a b", "c,d", "e=f", "g\"h", "\"q\"", r"x\y"]);
}

#[test]
fn a_string_escapes_double_quote_and_backslash_and_keeps_other_backslashes() {
    assert_eq!(
        field(r#"m s="say \"hi\" \\ \n \t" 1"#),
        FieldValue::String(r#"say "hi" \ \n \t"#.to_owned())
    );
    assert_eq!(field(r#"m s="" 1"#), FieldValue::String(String::new()));
    assert_eq!(
        field(r#"m s="a,b c=d" 1"#),
        FieldValue::String("a,b c=d".to_owned())
    );
}

#[test]
fn a_string_may_hold_a_newline_and_the_next_line_counts_it() {
    let parsed = parse_ns("m s=\"one\ntwo\" 1\nbad\n");

    assert_eq!(
        parsed.points[0].fields[0].1,
        FieldValue::String("one\ntwo".to_owned())
    );
    assert_eq!(parsed.errors[0].line, 3);
}

#[test]
fn a_backslash_before_a_newline_continues_the_line() {
    let parsed = parse_ns("m,t=a\\\nb v=1 1\nbad");

    assert_eq!(parsed.points[0].tags, strings(&[("t", "a\\\nb")]));
    assert_eq!(parsed.errors[0].line, 3);
}

#[test]
fn every_boolean_spelling_is_read() {
    for (text, value) in [
        ("t", true),
        ("T", true),
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("f", false),
        ("F", false),
        ("false", false),
        ("False", false),
        ("FALSE", false),
    ] {
        assert_eq!(
            field(&format!("m b={text} 1")),
            FieldValue::Boolean(value),
            "{text}"
        );
    }
}

#[test]
fn other_boolean_spellings_are_refused() {
    for text in ["tRUE", "fAlse", "yes", "tru", "+1", "t\"", "TRUe"] {
        assert_eq!(
            refusal(&format!("m b={text} 1")),
            "invalid boolean",
            "{text}"
        );
    }
}

#[test]
fn floats_are_read_in_every_form() {
    for (text, value) in [
        ("1", 1.0),
        ("-1", -1.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("5.", 5.0),
        ("1e5", 1e5),
        ("1E+5", 1e5),
        ("1.5e-3", 1.5e-3),
        ("-2E2", -200.0),
        ("1.7976931348623157e308", f64::MAX),
        ("4.9e-324", 5e-324),
        ("1e-400", 0.0),
        ("123456789012345678901234567890", 1.2345678901234568e29),
        ("0000000000000000000000000000001.5", 1.5),
    ] {
        let FieldValue::Float(parsed) = field(&format!("m v={text} 1")) else {
            panic!("{text} is a float");
        };
        assert_eq!(parsed.to_bits(), value.to_bits(), "{text}");
    }
    let FieldValue::Float(negative_zero) = field("m v=-0.0 1") else {
        panic!("-0.0 is a float");
    };
    assert!(negative_zero == 0.0 && negative_zero.is_sign_negative());
}

#[test]
fn malformed_numbers_are_refused_as_influxdb_refuses_them() {
    for (text, message) in [
        ("1.2.3", "invalid number"),
        ("1-2", "invalid number"),
        ("0x1", "invalid number"),
        ("nan", "invalid number"),
        ("NaN", "invalid number"),
        ("-inf", "invalid number"),
        (".", "invalid number"),
        ("-", "invalid number"),
        ("-.", "invalid number"),
        ("1i2", "invalid number"),
        ("1.5i", "invalid number"),
        ("1e5i", "invalid number"),
        ("1ii", "invalid number"),
        ("-i", "invalid number"),
        ("1\\", "invalid number"),
        ("1e", "invalid float"),
        ("-e", "invalid float"),
        ("1e400", "invalid float"),
        ("-1e400", "invalid float"),
        ("1e.5", "invalid float"),
        (&"9".repeat(400), "invalid float"),
    ] {
        assert_eq!(refusal(&format!("m v={text} 1")), message, "{text}");
    }
    assert_eq!(refusal("m v=-"), "invalid number");
}

#[test]
fn integers_take_an_i_and_must_fit_64_bits() {
    assert_eq!(
        field("m v=9223372036854775807i 1"),
        FieldValue::Integer(i64::MAX)
    );
    assert_eq!(
        field("m v=-9223372036854775808i 1"),
        FieldValue::Integer(i64::MIN)
    );
    assert_eq!(field("m v=00012i 1"), FieldValue::Integer(12));
    assert_eq!(field("m v=-0i 1"), FieldValue::Integer(0));
    assert_eq!(
        refusal("m v=9223372036854775808i 1"),
        "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing \"9223372036854775808\": value out of range"
    );
    assert_eq!(
        refusal("m v=-9223372036854775809i 1"),
        "unable to parse integer -9223372036854775809: strconv.ParseInt: parsing \"-9223372036854775809\": value out of range"
    );
}

#[test]
fn unsigned_integers_take_a_u_as_in_influxdb_1_8_and_2() {
    assert_eq!(field("m v=1u 1"), FieldValue::Unsigned(1));
    assert_eq!(
        field("m v=18446744073709551615u 1"),
        FieldValue::Unsigned(u64::MAX)
    );
    assert_eq!(
        refusal("m v=18446744073709551616u 1"),
        "unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing \"18446744073709551616\": value out of range"
    );
    for text in ["-1u", "1.5u", "1e5u", "1u2", "1ui", "-u"] {
        assert_eq!(
            refusal(&format!("m v={text} 1")),
            "invalid number",
            "{text}"
        );
    }
}

#[test]
fn comments_blank_lines_and_leading_whitespace_are_skipped() {
    let parsed = parse_ns("# a comment\n\n   \n  # indented\n\t m v=1 1\n\0m v=2 2\n#m v=3 3\n");

    assert_eq!(parsed.errors, []);
    let times: Vec<i64> = parsed.points.iter().map(|point| point.time_ns).collect();
    assert_eq!(times, [1, 2]);
}

#[test]
fn a_measurement_cannot_start_with_a_hash_it_is_a_comment() {
    assert_eq!(parse_ns("#m v=1 1"), Parsed::default());
    assert_eq!(point(r"\#m v=1 1").measurement, r"\#m");
}

#[test]
fn crlf_line_endings_are_accepted() {
    let parsed = parse_ns("m v=1 1\r\nm v=\"s\" 2\r\n\r\nm b=t\r\n# c\r\n");

    assert_eq!(parsed.errors, []);
    assert_eq!(parsed.points.len(), 3);
    assert_eq!(
        parsed.points[1].fields[0].1,
        FieldValue::String("s".to_owned())
    );
    assert_eq!(parsed.points[2].fields[0].1, FieldValue::Boolean(true));
}

#[test]
fn spaces_around_the_fields_and_the_time_are_allowed() {
    let point = point("m,t=a   v=1   5   ");

    assert_eq!(point.time_ns, 5);
}

#[test]
fn timestamps_are_scaled_by_the_precision() {
    for (precision, time_ns) in [
        (Precision::Nanoseconds, 7),
        (Precision::Microseconds, 7_000),
        (Precision::Milliseconds, 7_000_000),
        (Precision::Seconds, 7_000_000_000),
        (Precision::Minutes, 420_000_000_000),
        (Precision::Hours, 25_200_000_000_000),
    ] {
        let parsed = parse(b"m v=1 7\nm v=1 -7", precision, NOW);
        let times: Vec<i64> = parsed.points.iter().map(|point| point.time_ns).collect();
        assert_eq!(times, [time_ns, -time_ns], "{precision:?}");
    }
}

#[test]
fn a_missing_timestamp_is_now_rounded_down_to_the_precision() {
    for (precision, time_ns) in [
        (Precision::Nanoseconds, NOW),
        (Precision::Microseconds, 1_700_000_123_456_789_000),
        (Precision::Milliseconds, 1_700_000_123_456_000_000),
        (Precision::Seconds, 1_700_000_123_000_000_000),
        (Precision::Minutes, 1_700_000_100_000_000_000),
        (Precision::Hours, 1_699_999_200_000_000_000),
    ] {
        let parsed = parse(b"m v=1", precision, NOW);
        assert_eq!(parsed.points[0].time_ns, time_ns, "{precision:?}");
    }
    let before_1970 = parse(b"m v=1", Precision::Seconds, -1_500_000_000);
    assert_eq!(before_1970.points[0].time_ns, -2_000_000_000);
}

#[test]
fn timestamps_outside_influxdbs_range_are_refused() {
    let out_of_range = "time outside range -9223372036854775806 - 9223372036854775806";
    assert_eq!(point("m v=1 9223372036854775806").time_ns, i64::MAX - 1);
    assert_eq!(point("m v=1 -9223372036854775806").time_ns, i64::MIN + 2);
    for time in [
        "9223372036854775807",
        "-9223372036854775807",
        "-9223372036854775808",
    ] {
        assert_eq!(refusal(&format!("m v=1 {time}")), out_of_range, "{time}");
    }
    assert_eq!(
        refusal("m v=1 99999999999999999999"),
        "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
    );
    let milliseconds = parse(
        b"m v=1 9223372036854\nm v=1 9223372036855",
        Precision::Milliseconds,
        NOW,
    );
    assert_eq!(milliseconds.points[0].time_ns, 9_223_372_036_854_000_000);
    assert_eq!(milliseconds.errors[0].message, out_of_range);
    let hours = parse(
        b"m v=1 2562047\nm v=1 2562048\nm v=1 -2562048",
        Precision::Hours,
        NOW,
    );
    assert_eq!(hours.points.len(), 1);
    assert_eq!(hours.errors.len(), 2);
}

#[test]
fn malformed_timestamps_are_refused() {
    for (line, message) in [
        ("m v=1 1.5", "bad timestamp"),
        ("m v=1 1e5", "bad timestamp"),
        ("m v=1 --1", "bad timestamp"),
        ("m v=1 12a", "bad timestamp"),
        ("m v=1 123\t", "bad timestamp"),
        ("m v=1 -", "strconv.ParseInt: parsing \"-\": invalid syntax"),
        ("m v=1 123 456", "point is invalid"),
    ] {
        assert_eq!(refusal(line), message, "{line}");
    }
}

#[test]
fn missing_pieces_get_influxdbs_messages() {
    for (line, message) in [
        ("m", "missing fields"),
        ("m,t=1", "missing fields"),
        ("m,t=a,u", "missing tag value"),
        ("m,t= v=1", "missing tag value"),
        ("m,t=,u=1 v=1", "missing tag value"),
        ("m,t v=1", "missing tag value"),
        ("m,=1 v=1", "missing tag key"),
        ("m, v=1", "missing tag key"),
        ("m,t=a,  v=1", "missing tag key"),
        (",t=1 v=1", "missing measurement"),
        ("m,t=a=b v=1", "invalid tag format"),
        ("m ", "invalid field format"),
        ("m a", "invalid field format"),
        ("m a=1,b", "invalid field format"),
        ("m a=1,b 1", "invalid field format"),
        ("m a=1,", "invalid field format"),
        ("m a=1,,b=2", "invalid field format"),
        ("m a=", "missing field value"),
        ("m a= 1", "missing field value"),
        ("m a=,b=1", "missing field value"),
        ("m =1", "missing field key"),
        ("m a=1,=2", "missing field key"),
        ("m a==1", "invalid boolean"),
        ("m a=\"x", "unbalanced quotes"),
        ("m,a=1,a=2 v=1", "duplicate tags"),
        ("m,b=1,a=2,b=3 v=1", "duplicate tags"),
    ] {
        assert_eq!(refusal(line), message, "{line}");
    }
}

#[test]
fn an_unbalanced_quote_takes_the_rest_of_the_body() {
    let parsed = parse_ns("m v=1 1\nm s=\"open 2\nm v=3 3\n");

    assert_eq!(parsed.points.len(), 1);
    assert_eq!(parsed.errors[0].line, 2);
    assert_eq!(parsed.errors[0].text, "m s=\"open 2\nm v=3 3");
    assert_eq!(parsed.errors[0].message, "unbalanced quotes");
}

#[test]
fn errors_say_where_and_quote_the_line_as_influxdb_does() {
    let parsed = parse_ns("m v=1 1\n  bad line\r\nm v=2 2");

    assert_eq!(
        parsed.errors,
        [LineError {
            line: 2,
            text: "bad line".to_owned(),
            message: "invalid field format".to_owned()
        }]
    );
    assert_eq!(
        parsed.errors[0].to_string(),
        "unable to parse 'bad line': invalid field format"
    );
    assert_eq!(parsed.points.len(), 2);
}

#[test]
fn a_field_written_twice_keeps_its_last_value_in_its_first_place() {
    let repeated = point("m a=1,b=2,a=3 1");

    assert_eq!(
        repeated.fields,
        [
            ("a".to_owned(), FieldValue::Float(3.0)),
            ("b".to_owned(), FieldValue::Float(2.0))
        ]
    );
    let many: Vec<String> = (0..40)
        .map(|index| format!("f{}={index}i", index % 20))
        .collect();
    let wide = point(&format!("m {} 1", many.join(",")));
    assert_eq!(wide.fields.len(), 20);
    assert_eq!(wide.fields[0], ("f0".to_owned(), FieldValue::Integer(20)));
}

#[test]
fn a_field_written_twice_with_two_types_is_refused() {
    assert_eq!(
        refusal("m d=1,d=2i 1"),
        "field type conflict: input field \"d\" on measurement \"m\" is type integer, already exists as type float"
    );
}

#[test]
fn text_after_a_strings_closing_quote_is_refused() {
    assert_eq!(
        refusal(r#"m a="x"y 1"#),
        "invalid field format: text after the closing quote of string field \"a\""
    );
    assert_eq!(refusal(r#"m a="x"y,b=1 1"#), refusal(r#"m a="x"y 1"#));
    // Where InfluxDB refuses the line anyway, its message stands.
    assert_eq!(refusal(r#"m a="x"y=1 1"#), "invalid field format");
    assert_eq!(refusal(r#"m a="x"y 1.5"#), "bad timestamp");
}

#[test]
fn a_field_key_ending_in_a_backslash_is_refused() {
    assert_eq!(refusal(r"m a\\=1 1"), r"invalid value: field-key=a\\=1");
    assert_eq!(
        refusal(r"m a\\=1,b=2 1"),
        r"invalid value: field-key=a\\=1,b=2"
    );
}

#[test]
fn a_field_with_an_empty_key_is_refused() {
    assert_eq!(refusal("m \t=1 1"), "missing field key");
}

#[test]
fn backslashes_follow_influxdbs_two_readings() {
    // Names and tags: a byte right after a backslash is never a separator.
    assert_eq!(refusal(r"m\\ v=1 1"), "invalid field format");
    assert_eq!(point(r"a\\\,b v=1 1").measurement, r"a\\,b");
    assert_eq!(refusal(r"m,t=\\ v=1 1"), "invalid tag format");
    // Fields: a backslash escapes the byte after it, itself included.
    assert_eq!(
        field(r#"m s="a\\" 1"#),
        FieldValue::String(r"a\".to_owned())
    );
    assert_eq!(point(r"m a\\b=1 1").fields[0].0, r"a\\b");
}

#[test]
fn keys_longer_than_influxdb_allows_are_refused() {
    let longest_measurement = "m".repeat(65535 - 5);
    let fits = format!("{longest_measurement} v=1 1");
    assert_eq!(point(&fits).measurement.len(), 65530);
    assert_eq!(
        refusal(&format!("{longest_measurement} vv=1 1")),
        "max key length exceeded: 65536 > 65535"
    );
    assert_eq!(
        refusal(&format!("{} v=1 1", "m".repeat(65536))),
        "max key length exceeded: 65536 > 65535"
    );
}

#[test]
fn invalid_utf8_is_refused_and_quoted_lossily() {
    let parsed = parse(
        b"m\xff v=1 1\nm,t=\xfe v=1 2\nm \xfd=1 3\nm s=\"\xfc\" 4\nm v=1 5",
        Precision::Nanoseconds,
        NOW,
    );

    let messages: Vec<&str> = parsed
        .errors
        .iter()
        .map(|error| error.message.as_str())
        .collect();
    assert_eq!(messages, ["invalid UTF-8"; 4]);
    assert_eq!(parsed.errors[0].text, "m\u{fffd} v=1 1");
    assert_eq!(parsed.points.len(), 1);
}

#[test]
fn precisions_have_influxdbs_names_and_2x_spellings() {
    for (text, precision) in [
        ("", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("ns", Precision::Nanoseconds),
        ("u", Precision::Microseconds),
        ("us", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
        ("m", Precision::Minutes),
        ("h", Precision::Hours),
    ] {
        assert_eq!(Precision::parse(text), Ok(precision), "{text}");
    }
    assert_eq!(
        Precision::parse("xx").unwrap_err().to_string(),
        "invalid precision \"xx\": use n, u, ms, s, m or h"
    );
    assert_eq!(Precision::parse("ms").map(Precision::as_str), Ok("ms"));
}

#[test]
fn to_line_escapes_what_each_position_needs() {
    let point = Point {
        measurement: "my cpu,x=\"y\"".to_owned(),
        tags: strings(&[("k e,y=", "v a,l=ue")]),
        fields: vec![
            (
                "f k,e=y\"".to_owned(),
                FieldValue::String("say \"hi\" \\ now".to_owned()),
            ),
            ("i".to_owned(), FieldValue::Integer(-3)),
            ("u".to_owned(), FieldValue::Unsigned(3)),
            ("b".to_owned(), FieldValue::Boolean(false)),
            ("f".to_owned(), FieldValue::Float(1.5)),
            ("big".to_owned(), FieldValue::Float(1e300)),
            ("tiny".to_owned(), FieldValue::Float(-5e-324)),
            ("whole".to_owned(), FieldValue::Float(2.0)),
        ],
        time_ns: -5,
    };

    let line = point.to_line();

    assert_eq!(
        line,
        r#"my\ cpu\,x="y",k\ e\,y\==v\ a\,l\=ue f\ k\,e\=y\"="say \"hi\" \\ now",i=-3i,u=3u,b=false,f=1.5,big=1e300,tiny=-5e-324,whole=2 -5"#
    );
    assert_eq!(parse_ns(&line).points, [point]);
}

/// Names line protocol can carry: no newline, no backslash at the end or before a character
/// escaped in that position (`escapes`), and for a measurement no `#`, tab or NUL first.
fn representable(name: &str, escapes: &[u8]) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && !name.contains('\n')
        && bytes.last() != Some(&b'\\')
        && !bytes
            .windows(2)
            .any(|pair| pair[0] == b'\\' && escapes.contains(&pair[1]))
}

fn name() -> impl Strategy<Value = String> {
    // Every byte that is special somewhere, a few ordinary ones and some beyond ASCII.
    proptest::collection::vec(
        prop_oneof![
            Just(','),
            Just(' '),
            Just('='),
            Just('"'),
            Just('\\'),
            Just('#'),
            Just('\t'),
            Just('\r'),
            Just('i'),
            Just('u'),
            Just('1'),
            Just('-'),
            Just('é'),
            Just('🦀'),
            proptest::char::range('a', 'z'),
        ],
        1..8,
    )
    .prop_map(|characters| characters.into_iter().collect())
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<f64>()
            .prop_filter("line protocol has no NaN or infinity", |value| value
                .is_finite())
            .prop_map(FieldValue::Float),
        any::<i64>().prop_map(FieldValue::Integer),
        any::<u64>().prop_map(FieldValue::Unsigned),
        any::<bool>().prop_map(FieldValue::Boolean),
        ".{0,12}".prop_map(FieldValue::String),
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just(','),
                Just(' '),
                Just('=')
            ],
            0..6
        )
        .prop_map(|characters| FieldValue::String(characters.into_iter().collect())),
    ]
}

fn representable_point() -> impl Strategy<Value = Point> {
    (
        name().prop_filter("a measurement line protocol can say", |name| {
            representable(name, MEASUREMENT_ESCAPES) && !name.starts_with(['#', '\t', '\0'])
        }),
        proptest::collection::btree_map(
            name().prop_filter("a tag key", |name| representable(name, TAG_ESCAPES)),
            name().prop_filter("a tag value", |name| representable(name, TAG_ESCAPES)),
            0..4,
        ),
        proptest::collection::vec(
            (
                name().prop_filter("a field key", |name| {
                    representable(name, FIELD_KEY_ESCAPES) && !name.starts_with(['\t', '\0'])
                }),
                field_value(),
            ),
            1..5,
        ),
        MIN_TIME_NS..=MAX_TIME_NS,
    )
        .prop_map(|(measurement, tags, fields, time_ns)| {
            let mut unique_fields: Vec<(String, FieldValue)> = Vec::new();
            for (key, value) in fields {
                if !unique_fields.iter().any(|(existing, _)| *existing == key) {
                    unique_fields.push((key, value));
                }
            }
            Point {
                measurement,
                tags: tags.into_iter().collect(),
                fields: unique_fields,
                time_ns,
            }
        })
}

/// A point with its field values as text, floats as their bits.
type Exact = (String, Vec<(String, String)>, Vec<(String, String)>, i64);

/// Floats compared bit for bit, so that -0.0 is not 0.0.
fn exact(point: &Point) -> Exact {
    let fields = point
        .fields
        .iter()
        .map(|(key, value)| {
            let value = match value {
                FieldValue::Float(number) => format!("float bits {:#x}", number.to_bits()),
                other => format!("{other:?}"),
            };
            (key.clone(), value)
        })
        .collect();
    (
        point.measurement.clone(),
        point.tags.clone(),
        fields,
        point.time_ns,
    )
}

fn line_protocol_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(b" ,=\"\\\n\r\t#-.0123456789eEiuntfTF".to_vec()),
            1 => any::<u8>(),
        ],
        0..80,
    )
}

proptest! {
    #[test]
    fn any_bytes_parse_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&body, Precision::Nanoseconds, NOW);
    }

    #[test]
    fn line_protocols_own_bytes_parse_without_panicking(body in line_protocol_bytes(), precision in 0..6usize) {
        let precision = [
            Precision::Nanoseconds,
            Precision::Microseconds,
            Precision::Milliseconds,
            Precision::Seconds,
            Precision::Minutes,
            Precision::Hours,
        ][precision];
        let parsed = parse(&body, precision, NOW);
        for point in &parsed.points {
            prop_assert!(!point.fields.is_empty());
            prop_assert!(point.tags.windows(2).all(|pair| pair[0].0 < pair[1].0));
        }
    }

    #[test]
    fn a_representable_point_survives_to_line_and_parse(point in representable_point()) {
        let line = point.to_line();

        let parsed = parse(line.as_bytes(), Precision::Nanoseconds, NOW);

        prop_assert_eq!(&parsed.errors, &[], "line {:?}", line);
        prop_assert_eq!(parsed.points.len(), 1, "line {:?}", line);
        prop_assert_eq!(exact(&parsed.points[0]), exact(&point), "line {:?}", line);
    }

    #[test]
    fn a_parsed_point_survives_to_line_and_parse(body in line_protocol_bytes()) {
        let parsed = parse(&body, Precision::Nanoseconds, NOW);
        for point in parsed.points {
            let line = point.to_line();
            let again = parse(line.as_bytes(), Precision::Nanoseconds, NOW);
            prop_assert_eq!(again.points.len(), 1, "line {:?} from {:?}", line, String::from_utf8_lossy(&body));
            prop_assert_eq!(exact(&again.points[0]), exact(&point), "line {:?}", line);
        }
    }
}
