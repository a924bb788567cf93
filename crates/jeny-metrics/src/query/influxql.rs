//! InfluxQL statements executed over the embedded store, answering as InfluxDB 1.6 answers
//! `/query`: the same series, columns, rows, value types, time stamps and error texts, so that
//! Grafana, Chronograf and InfluxDB's clients read jeny as they read InfluxDB. `execute` runs one
//! statement (`SELECT`, `SHOW MEASUREMENTS`, `SHOW TAG KEYS`, `SHOW TAG VALUES`, `SHOW FIELD
//! KEYS`); `to_json` writes the results as InfluxDB's body. Checked against the real InfluxDB
//! 1.6.7 by `tests/query_vs_influxdb.rs`.
//!
//! How a `SELECT` runs, as InfluxDB runs it:
//! - the measurements (a name or a regex) are read one by one, in name order; their series are
//!   grouped by the `GROUP BY` tags (a missing tag groups as `""`), groups ordered by their tags;
//!   `SLIMIT`/`SOFFSET` pick groups; `ORDER BY time DESC` reverses rows and series;
//! - the `WHERE` condition is split into the time range and the rest; the rest is evaluated per
//!   series over tags, or per point when it names fields (a name that is no field is a tag, and
//!   a missing tag is `""`);
//! - a raw query (fields and tags, math over them) has a row for each time where a selected field
//!   of a series has a value; rows of several series in a group are merged by time (at equal
//!   times in series order: InfluxDB's order there is not defined);
//! - an aggregate query has one stream per call (`count`, `sum`, `mean`, `median`, `min`, `max`,
//!   `first`, `last`, `spread`, `stddev`, `percentile`, and `derivative` or
//!   `non_negative_derivative` over a field or over one of those); each is bucketed by `GROUP BY
//!   time(i[, offset])`, reduced as InfluxDB's reducers reduce (selectors keep the earliest point
//!   on ties, `first`/`last` the larger value, `stddev` of one point is null, `median` of two is
//!   `lo + (hi - lo) / 2`, integers stay integers), filled (`fill(null|none|previous|linear|n)`,
//!   `count` filling nulls with 0), limited by `LIMIT`/`OFFSET`, and the streams are joined by
//!   time into rows; a derivative reads one bucket before the range, as InfluxDB does;
//! - without `GROUP BY time`, a lone selector keeps its point's time; any other aggregate is
//!   timed at the range's start (0 when the range has no start);
//! - whole 5-minute buckets of `count`, `sum`, `mean`, `min`, `max`, `spread` (and `first`,
//!   `last` of one series) are read from the store's rollups when `GROUP BY time` falls on
//!   5-minute edges and the condition names no field.
//!
//! Where jeny differs, deliberately:
//! - a `GROUP BY time` query gets at most `MAX_BUCKETS_PER_SERIES` buckets per series, else a
//!   clear error (InfluxDB 1.6 allocates them all, from the first point when the range has no
//!   start, and may run out of memory);
//! - a statement is answered for the request's database only: `ON db` or `FROM "db"..."m"` naming
//!   another is refused (the HTTP layer authorizes one database per request: see `database_of`),
//!   and the one retention policy is `autogen`;
//! - unsupported, with a clear error: `tz()`, `top`/`bottom`/`distinct`/`difference`/
//!   `moving_average` and the other transformations, math functions (`abs()`...), subqueries
//!   (refused by the parser);
//! - `SHOW` statements ignore time conditions in their `WHERE`, and read its other names as tags;
//! - sums, means and standard deviations add in time order over all series of a group, where
//!   InfluxDB adds per series and shard first: floats may differ in their last bits;
//! - integers are summed in 64 bits as InfluxDB sums them, except from rollups, which hold 64-bit
//!   floats (exact up to 2^53).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Number, Value as Json};

use crate::influxql::{
    BinaryOp, DataType, Dimension, Expr, Field, Fill, MAX_TIME_NS, Measurement, MeasurementName,
    SelectStatement, Show, ShowKind, SortOrder, Statement, TagKeyFilter, TimeOffset,
};
use crate::query::aggregate::{self, Aggregation, Window};
use crate::store::{Bucket, FieldType, HOUR_NS, ROLLUP_NS, Store, TagFilter, Value, Values};

/// At most this many `GROUP BY time` buckets per series and call.
pub const MAX_BUCKETS_PER_SERIES: i64 = 100_000;

/// The one retention policy jeny has, as InfluxDB names its default.
pub const RETENTION_POLICY: &str = "autogen";

const SECOND_NS: i64 = 1_000_000_000;

/// One series of a statement's result, as InfluxDB's JSON has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The measurement (`measurements` for `SHOW MEASUREMENTS`).
    pub name: String,
    /// The `GROUP BY` tags and their values; `None` without `GROUP BY` tags.
    pub tags: Option<BTreeMap<String, String>>,
    /// `time` first for a `SELECT`, then one column per field.
    pub columns: Vec<String>,
    /// The rows, one cell per column.
    pub values: Vec<Vec<Cell>>,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A time in nanoseconds since the epoch (the `time` column).
    Time(i64),
    /// A float (NaN is written as null, as InfluxDB writes it).
    Float(f64),
    /// A signed integer.
    Integer(i64),
    /// An unsigned integer.
    Unsigned(u64),
    /// A string (string fields, tag values, `SHOW` answers).
    String(String),
    /// A boolean.
    Boolean(bool),
    /// No value.
    Null,
}

/// The unit of `epoch=`: times as integers in it instead of RFC 3339 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// `ns`, and any unit InfluxDB does not know (`µ` included, as in InfluxDB 1.x).
    Nanoseconds,
    /// `u`.
    Microseconds,
    /// `ms`.
    Milliseconds,
    /// `s`.
    Seconds,
    /// `m`.
    Minutes,
    /// `h`.
    Hours,
}

impl Epoch {
    /// The `epoch` parameter as InfluxDB 1.x reads it: absent or empty means RFC 3339 times
    /// (`None`); `u`, `ms`, `s`, `m`, `h` their units; anything else nanoseconds.
    pub fn parse(text: &str) -> Option<Epoch> {
        Some(match text.trim() {
            "" => return None,
            "u" => Epoch::Microseconds,
            "ms" => Epoch::Milliseconds,
            "s" => Epoch::Seconds,
            "m" => Epoch::Minutes,
            "h" => Epoch::Hours,
            _ => Epoch::Nanoseconds,
        })
    }

    /// The unit in nanoseconds.
    pub fn nanoseconds(self) -> i64 {
        match self {
            Epoch::Nanoseconds => 1,
            Epoch::Microseconds => 1_000,
            Epoch::Milliseconds => 1_000_000,
            Epoch::Seconds => SECOND_NS,
            Epoch::Minutes => 60 * SECOND_NS,
            Epoch::Hours => 3600 * SECOND_NS,
        }
    }
}

/// The database a statement names (`ON db`, `FROM "db"."rp"."m"`), when it names one: the HTTP
/// layer authorizes that one, and `execute` refuses any other than the one it is given.
pub fn database_of(statement: &Statement) -> Option<&str> {
    match statement {
        Statement::Select(select) => select
            .sources
            .iter()
            .find_map(|source| source.database.as_deref()),
        Statement::Show(show) => show.database.as_deref().or_else(|| {
            show.sources
                .iter()
                .find_map(|source| source.database.as_deref())
        }),
        Statement::ShowRetentionPolicies(database) => database.as_deref(),
        Statement::ShowDatabases | Statement::CreateDatabase(_) => None,
    }
}

/// Runs one statement over `db` at `now_ns` (what `now()` is, and the end of a `GROUP BY time`
/// range without one). The error is the text InfluxDB's answer carries in `"error"`.
pub fn execute(
    store: &Store,
    db: &str,
    statement: &Statement,
    now_ns: i64,
) -> Result<Vec<Series>, String> {
    match statement {
        Statement::Select(select) => Select::plan(store, db, select, now_ns)?.run(),
        Statement::Show(show) => execute_show(store, db, show, now_ns),
        Statement::ShowDatabases => Err("SHOW DATABASES is answered by /query itself".to_owned()),
        Statement::ShowRetentionPolicies(_) => {
            Err("SHOW RETENTION POLICIES is answered by /query itself".to_owned())
        }
        Statement::CreateDatabase(_) => {
            Err("CREATE DATABASE is answered by /query itself".to_owned())
        }
    }
}

/// InfluxDB 1.x's `/query` body for the results of a request's statements (each with its
/// `statement_id`): `{"results":[{"statement_id":0,"series":[...]}]}`, an empty result as
/// `{"statement_id":0}`, an error as `{"statement_id":0,"error":"..."}`. Times are RFC 3339 with
/// nanoseconds trimmed as InfluxDB writes them, or integers in `epoch` units; floats that are
/// whole numbers are written as integers, as Go's JSON writes them.
pub fn to_json(results: &[(usize, Result<Vec<Series>, String>)], epoch: Option<Epoch>) -> Json {
    let results = results
        .iter()
        .map(|(statement_id, result)| {
            let mut object = Map::new();
            object.insert("statement_id".to_owned(), Json::from(*statement_id));
            match result {
                Ok(series) if series.is_empty() => {}
                Ok(series) => {
                    let series = series.iter().map(|one| series_json(one, epoch)).collect();
                    object.insert("series".to_owned(), Json::Array(series));
                }
                Err(error) => {
                    object.insert("error".to_owned(), Json::String(error.clone()));
                }
            }
            Json::Object(object)
        })
        .collect();
    let mut body = Map::new();
    body.insert("results".to_owned(), Json::Array(results));
    Json::Object(body)
}

fn series_json(series: &Series, epoch: Option<Epoch>) -> Json {
    let mut object = Map::new();
    object.insert("name".to_owned(), Json::String(series.name.clone()));
    if let Some(tags) = series.tags.as_ref().filter(|tags| !tags.is_empty()) {
        let tags = tags
            .iter()
            .map(|(key, value)| (key.clone(), Json::String(value.clone())))
            .collect();
        object.insert("tags".to_owned(), Json::Object(tags));
    }
    let columns = series.columns.iter().cloned().map(Json::String).collect();
    object.insert("columns".to_owned(), Json::Array(columns));
    let values = series
        .values
        .iter()
        .map(|row| Json::Array(row.iter().map(|cell| cell_json(cell, epoch)).collect()))
        .collect();
    object.insert("values".to_owned(), Json::Array(values));
    Json::Object(object)
}

fn cell_json(cell: &Cell, epoch: Option<Epoch>) -> Json {
    match cell {
        Cell::Time(ns) => match epoch {
            // Go's integer division truncates toward zero, and so does Rust's.
            Some(epoch) => Json::from(ns / epoch.nanoseconds()),
            None => Json::String(format_rfc3339_nano(*ns)),
        },
        Cell::Float(value) => float_json(*value),
        Cell::Integer(value) => Json::from(*value),
        Cell::Unsigned(value) => Json::from(*value),
        Cell::String(text) => Json::String(text.clone()),
        Cell::Boolean(value) => Json::Bool(*value),
        Cell::Null => Json::Null,
    }
}

/// A float as Go's `encoding/json` writes it: a whole number without a fraction (`2`, not
/// `2.0`), NaN and infinities as null (InfluxDB turns NaN into null before writing).
fn float_json(value: f64) -> Json {
    const TWO_TO_THE_63: f64 = 9_223_372_036_854_775_808.0;
    if value.is_finite() && value.fract() == 0.0 && value.abs() < TWO_TO_THE_63 {
        if value == 0.0 && value.is_sign_negative() {
            return Number::from_f64(value).map_or(Json::Null, Json::Number);
        }
        return Json::from(value as i64);
    }
    Number::from_f64(value).map_or(Json::Null, Json::Number)
}

/// RFC 3339 in UTC with nanoseconds, trailing zeros trimmed (Go's `time.RFC3339Nano`).
pub fn format_rfc3339_nano(ns: i64) -> String {
    let nanos = ns.rem_euclid(SECOND_NS);
    let (year, month, day, hour, minute, second) =
        crate::influxql::civil_from_seconds(ns.div_euclid(SECOND_NS));
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

// -------------------------------------------------------------------------------------------------
// Sources, schema and series

/// A store failure: logged in full, answered opaquely.
fn store_failure(error: crate::store::StoreError) -> String {
    tracing::error!(error = %error, "an InfluxQL query could not read the metrics store");
    "internal error: the metrics store could not be read".to_owned()
}

/// The measurements `sources` name in `db`, sorted and without duplicates.
fn resolve_sources(
    store: &Store,
    db: &str,
    sources: &[Measurement],
) -> Result<Vec<String>, String> {
    let existing = store.measurements(db);
    let mut names = BTreeSet::new();
    for source in sources {
        check_database(db, source.database.as_deref())?;
        if let Some(policy) = source.retention_policy.as_deref()
            && policy != RETENTION_POLICY
        {
            return Err(format!("retention policy not found: {policy}"));
        }
        match &source.name {
            MeasurementName::Name(name) => {
                names.insert(name.clone());
            }
            MeasurementName::Regex(pattern) => {
                let regex = regex::Regex::new(pattern)?;
                names.extend(existing.iter().filter(|m| regex.is_match(m)).cloned());
            }
        }
    }
    Ok(names.into_iter().collect())
}

fn check_database(db: &str, named: Option<&str>) -> Result<(), String> {
    match named {
        Some(other) if other != db => Err(format!(
            "database {other:?} is not this request's database {db:?}: ask /query with db={other}"
        )),
        _ => Ok(()),
    }
}

/// What a measurement has: its fields and their types, and its tag keys.
#[derive(Debug, Default)]
struct Schema {
    fields: BTreeMap<String, FieldType>,
    tag_keys: BTreeSet<String>,
}

impl Schema {
    fn of(store: &Store, db: &str, measurement: &str) -> Schema {
        Schema {
            fields: store.field_keys(db, measurement).into_iter().collect(),
            tag_keys: store.tag_keys(db, measurement).into_iter().collect(),
        }
    }

    /// Whether `name` (with its cast) reads a field: a field key not cast to a tag.
    fn is_field(&self, name: &str, cast: Option<DataType>) -> bool {
        cast != Some(DataType::Tag) && self.fields.contains_key(name)
    }
}

/// A series' tags, sorted by key.
type Tags = Vec<(String, String)>;

/// Per field, the store's series and the field's type.
type FieldSeries = BTreeMap<String, (u32, FieldType)>;

/// One series key: its tags and its fields.
#[derive(Debug)]
struct Tagset {
    tags: Tags,
    fields: FieldSeries,
}

impl Tagset {
    fn tag(&self, key: &str) -> &str {
        self.tags
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .map_or("", |index| self.tags[index].1.as_str())
    }
}

/// A measurement's series keys whose tags `keep` accepts, in series-key order.
fn tagsets(store: &Store, db: &str, measurement: &str, keep: &TagFilter<'_>) -> Vec<Tagset> {
    let mut by_tags: BTreeMap<Tags, FieldSeries> = BTreeMap::new();
    for series in store.series(db, measurement, None, keep) {
        by_tags
            .entry(series.tags)
            .or_default()
            .insert(series.field, (series.id, series.ty));
    }
    by_tags
        .into_iter()
        .map(|(tags, fields)| Tagset { tags, fields })
        .collect()
}

/// A field's points in `[start, end]`, as cells.
#[derive(Debug, Default, Clone)]
struct Column {
    times: Vec<i64>,
    values: Vec<Cell>,
}

impl Column {
    fn read(
        store: &Store,
        sid: u32,
        ty: FieldType,
        start: i64,
        end: i64,
    ) -> Result<Column, String> {
        let points = store
            .read(sid, start, end.saturating_add(1))
            .map_err(store_failure)?;
        let values = match points.values {
            Values::Bits(bits) => bits
                .into_iter()
                .map(|bits| cell_of(&Value::Bits(bits), ty))
                .collect(),
            Values::Text(texts) => texts
                .into_iter()
                .map(|text| Cell::String(text.into()))
                .collect(),
        };
        Ok(Column {
            times: points.times,
            values,
        })
    }

    fn at(&self, time: i64) -> Cell {
        self.times
            .binary_search(&time)
            .map_or(Cell::Null, |index| self.values[index].clone())
    }
}

fn cell_of(value: &Value, ty: FieldType) -> Cell {
    use crate::line_protocol::FieldValue;
    match value.typed(ty) {
        FieldValue::Float(v) => Cell::Float(v),
        FieldValue::Integer(v) => Cell::Integer(v),
        FieldValue::Unsigned(v) => Cell::Unsigned(v),
        FieldValue::String(v) => Cell::String(v),
        FieldValue::Boolean(v) => Cell::Boolean(v),
    }
}

// -------------------------------------------------------------------------------------------------
// Conditions and math

/// The regexes of a statement, compiled once.
#[derive(Debug, Default)]
struct Regexes(HashMap<String, regex::Regex>);

impl Regexes {
    fn collect(expr: &Expr, into: &mut Regexes) -> Result<(), String> {
        match expr {
            Expr::Regex(pattern) if !into.0.contains_key(pattern) => {
                into.0.insert(pattern.clone(), regex::Regex::new(pattern)?);
            }
            Expr::Binary(lhs, _, rhs) => {
                Regexes::collect(lhs, into)?;
                Regexes::collect(rhs, into)?;
            }
            Expr::Paren(inner) => Regexes::collect(inner, into)?,
            Expr::Call(_, args) => {
                for arg in args {
                    Regexes::collect(arg, into)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn get(&self, pattern: &str) -> Option<&regex::Regex> {
        self.0.get(pattern)
    }
}

/// The names a condition reads (`name`, cast).
fn var_refs<'a>(expr: &'a Expr, into: &mut Vec<(&'a str, Option<DataType>)>) {
    match expr {
        Expr::VarRef(name, cast) => into.push((name.as_str(), *cast)),
        Expr::Binary(lhs, _, rhs) => {
            var_refs(lhs, into);
            var_refs(rhs, into);
        }
        Expr::Paren(inner) => var_refs(inner, into),
        Expr::Call(_, args) => args.iter().for_each(|arg| var_refs(arg, into)),
        _ => {}
    }
}

/// An expression's value, as InfluxDB's `ValuerEval` computes it: `lookup` gives a name's value
/// (`Null` when it has none); with `integer_float_division`, integer / integer is a float (as in
/// the field list; conditions divide integers as integers).
fn eval(
    expr: &Expr,
    lookup: &dyn Fn(&str, Option<DataType>) -> Cell,
    regexes: &Regexes,
    integer_float_division: bool,
) -> Cell {
    match expr {
        Expr::VarRef(name, cast) => lookup(name, *cast),
        Expr::Integer(value) => Cell::Integer(*value),
        Expr::Unsigned(value) => Cell::Unsigned(*value),
        Expr::Float(value) => Cell::Float(*value),
        Expr::String(text) => Cell::String(text.clone()),
        Expr::Boolean(value) => Cell::Boolean(*value),
        Expr::Paren(inner) => eval(inner, lookup, regexes, integer_float_division),
        Expr::Binary(lhs, op @ (BinaryOp::EqRegex | BinaryOp::NotEqRegex), rhs) => {
            let lhs = eval(lhs, lookup, regexes, integer_float_division);
            let regex = match rhs.as_ref() {
                Expr::Regex(pattern) => regexes.get(pattern),
                _ => None,
            };
            match (lhs, regex) {
                (Cell::String(text), Some(regex)) => {
                    Cell::Boolean(regex.is_match(&text) == (*op == BinaryOp::EqRegex))
                }
                _ => Cell::Boolean(false),
            }
        }
        Expr::Binary(lhs, op, rhs) => {
            let lhs = eval(lhs, lookup, regexes, integer_float_division);
            let rhs = eval(rhs, lookup, regexes, integer_float_division);
            binary(lhs, *op, rhs, integer_float_division)
        }
        _ => Cell::Null,
    }
}

/// `lhs op rhs` over two values, InfluxDB's rules: numbers of mixed types compare and compute as
/// floats, a division (or remainder) by zero is 0, a null beside a boolean is false, values that
/// cannot be compared compare false, and math over them is null.
fn binary(lhs: Cell, op: BinaryOp, rhs: Cell, integer_float_division: bool) -> Cell {
    use BinaryOp as Op;
    let (lhs, rhs) = match (lhs, rhs) {
        (Cell::Null, rhs @ Cell::Boolean(_)) => (Cell::Boolean(false), rhs),
        (lhs @ Cell::Boolean(_), Cell::Null) => (lhs, Cell::Boolean(false)),
        pair => pair,
    };
    let compared = |ordering: Option<Ordering>| -> Option<Cell> {
        let result = match op {
            Op::Eq => ordering == Some(Ordering::Equal),
            Op::NotEq => ordering.is_some_and(|o| o != Ordering::Equal),
            Op::Lt => ordering == Some(Ordering::Less),
            Op::LtEq => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => ordering == Some(Ordering::Greater),
            Op::GtEq => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
            _ => return None,
        };
        Some(Cell::Boolean(result))
    };
    let result = match (&lhs, &rhs) {
        (Cell::Boolean(a), Cell::Boolean(b)) => Some(Cell::Boolean(match op {
            Op::And | Op::BitAnd => *a && *b,
            Op::Or | Op::BitOr => *a || *b,
            Op::BitXor => a != b,
            Op::Eq => a == b,
            Op::NotEq => a != b,
            _ => return Cell::Null,
        })),
        (Cell::Boolean(_), _) => match op {
            Op::And | Op::Or | Op::BitAnd | Op::BitOr | Op::BitXor | Op::Eq | Op::NotEq => {
                Some(Cell::Boolean(false))
            }
            _ => None,
        },
        (Cell::Float(_), _) | (Cell::Integer(_) | Cell::Unsigned(_), Cell::Float(_)) => {
            match (as_float(&lhs), as_float(&rhs)) {
                (Some(a), Some(b)) => compared(a.partial_cmp(&b)).or_else(|| {
                    Some(Cell::Float(match op {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div if b == 0.0 => 0.0,
                        Op::Div => a / b,
                        Op::Mod => a % b,
                        _ => return None,
                    }))
                }),
                (Some(_), None) => compared(None),
                _ => None,
            }
        }
        (Cell::Integer(a), Cell::Integer(b)) => {
            let (a, b) = (*a, *b);
            compared(Some(a.cmp(&b))).or_else(|| {
                Some(match op {
                    Op::Add => Cell::Integer(a.wrapping_add(b)),
                    Op::Sub => Cell::Integer(a.wrapping_sub(b)),
                    Op::Mul => Cell::Integer(a.wrapping_mul(b)),
                    Op::Div if integer_float_division && b == 0 => Cell::Float(0.0),
                    Op::Div if integer_float_division => Cell::Float(a as f64 / b as f64),
                    Op::Div | Op::Mod if b == 0 => Cell::Integer(0),
                    Op::Div => Cell::Integer(a.wrapping_div(b)),
                    Op::Mod => Cell::Integer(a.wrapping_rem(b)),
                    Op::BitAnd => Cell::Integer(a & b),
                    Op::BitOr => Cell::Integer(a | b),
                    Op::BitXor => Cell::Integer(a ^ b),
                    _ => return None,
                })
            })
        }
        (Cell::Integer(_) | Cell::Unsigned(_), Cell::Integer(_) | Cell::Unsigned(_)) => {
            let ordering = match (&lhs, &rhs) {
                (Cell::Integer(a), Cell::Unsigned(_)) if *a < 0 => Some(Ordering::Less),
                (Cell::Unsigned(_), Cell::Integer(b)) if *b < 0 => Some(Ordering::Greater),
                _ => Some(as_unsigned(&lhs).cmp(&as_unsigned(&rhs))),
            };
            let (a, b) = (as_unsigned(&lhs), as_unsigned(&rhs));
            let equality = matches!(op, Op::Eq | Op::NotEq);
            // InfluxDB compares a negative integer with an unsigned by its bits for = and !=
            let ordering = if equality { Some(a.cmp(&b)) } else { ordering };
            compared(ordering).or_else(|| {
                Some(Cell::Unsigned(match op {
                    Op::Add => a.wrapping_add(b),
                    Op::Sub => a.wrapping_sub(b),
                    Op::Mul => a.wrapping_mul(b),
                    Op::Div | Op::Mod if b == 0 => 0,
                    Op::Div => a / b,
                    Op::Mod => a % b,
                    Op::BitAnd => a & b,
                    Op::BitOr => a | b,
                    Op::BitXor => a ^ b,
                    _ => return None,
                }))
            })
        }
        (Cell::String(a), Cell::String(b)) => match op {
            Op::Eq => Some(Cell::Boolean(a == b)),
            Op::NotEq => Some(Cell::Boolean(a != b)),
            _ => None,
        },
        _ => None,
    };
    result.unwrap_or(match op {
        Op::Eq | Op::NotEq | Op::Lt | Op::LtEq | Op::Gt | Op::GtEq => Cell::Boolean(false),
        _ => Cell::Null,
    })
}

fn as_float(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Float(v) => Some(*v),
        Cell::Integer(v) => Some(*v as f64),
        Cell::Unsigned(v) => Some(*v as f64),
        _ => None,
    }
}

fn as_unsigned(cell: &Cell) -> u64 {
    match cell {
        Cell::Integer(v) => *v as u64,
        Cell::Unsigned(v) => *v,
        _ => 0,
    }
}

/// A `WHERE` condition without its time comparisons, ready for one measurement.
struct Condition<'a> {
    expr: Option<&'a Expr>,
    regexes: &'a Regexes,
    /// The fields it reads (names that are fields of the measurement).
    fields: Vec<String>,
}

impl<'a> Condition<'a> {
    fn new(expr: Option<&'a Expr>, regexes: &'a Regexes, schema: &Schema) -> Condition<'a> {
        let mut refs = Vec::new();
        if let Some(expr) = expr {
            var_refs(expr, &mut refs);
        }
        let mut fields: Vec<String> = refs
            .into_iter()
            .filter(|(name, cast)| schema.is_field(name, *cast))
            .map(|(name, _)| name.to_owned())
            .collect();
        fields.sort();
        fields.dedup();
        Condition {
            expr,
            regexes,
            fields,
        }
    }

    /// Whether a series is read at all: with fields in the condition, every series is (and
    /// points are filtered); else its tags decide.
    fn keeps_series(&self, tags: &[(String, String)], schema: &Schema) -> bool {
        let Some(expr) = self.expr else { return true };
        if !self.fields.is_empty() {
            return true;
        }
        let lookup = |name: &str, cast: Option<DataType>| tag_or_null(tags, name, cast, schema);
        eval(expr, &lookup, self.regexes, false) == Cell::Boolean(true)
    }

    /// Whether a point of a series at `time` is kept, `columns` holding the series' condition
    /// fields (in `self.fields` order).
    fn keeps_point(
        &self,
        tags: &[(String, String)],
        schema: &Schema,
        columns: &[Option<Column>],
        time: i64,
    ) -> bool {
        let Some(expr) = self.expr.filter(|_| !self.fields.is_empty()) else {
            return true;
        };
        let lookup = |name: &str, cast: Option<DataType>| {
            if schema.is_field(name, cast) {
                let index = self.fields.iter().position(|field| field == name);
                return index
                    .and_then(|index| columns[index].as_ref())
                    .map_or(Cell::Null, |column| column.at(time));
            }
            tag_or_null(tags, name, cast, schema)
        };
        eval(expr, &lookup, self.regexes, false) == Cell::Boolean(true)
    }

    /// The condition's fields of one series, read over `[start, end]`.
    fn columns(
        &self,
        store: &Store,
        tagset: &Tagset,
        start: i64,
        end: i64,
    ) -> Result<Vec<Option<Column>>, String> {
        self.fields
            .iter()
            .map(|field| {
                tagset
                    .fields
                    .get(field)
                    .map(|&(sid, ty)| Column::read(store, sid, ty, start, end))
                    .transpose()
            })
            .collect()
    }
}

/// A tag's value in a condition: a name that is no field is a tag, a missing tag is `""`.
fn tag_or_null(
    tags: &[(String, String)],
    name: &str,
    cast: Option<DataType>,
    schema: &Schema,
) -> Cell {
    if schema.is_field(name, cast) {
        return Cell::Null;
    }
    let value = tags
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str());
    Cell::String(value.to_owned())
}

// -------------------------------------------------------------------------------------------------
// SELECT: planning

/// What a call computes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Function {
    Aggregate(Aggregation),
    /// Over a field (`inner` none) or over an aggregate; `unit` in nanoseconds when given.
    Derivative {
        inner: Option<Aggregation>,
        unit: Option<i64>,
        non_negative: bool,
    },
}

impl Function {
    fn is_selector(self) -> bool {
        matches!(
            self,
            Function::Aggregate(
                Aggregation::First
                    | Aggregation::Last
                    | Aggregation::Min
                    | Aggregation::Max
                    | Aggregation::Percentile(_)
            )
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    function: Function,
    field: String,
}

/// What a column reads: a field or tag (a raw query, or beside a lone selector), or a call.
#[derive(Debug, Clone, PartialEq)]
enum Input {
    Ref(String, Option<DataType>),
    Call(Call),
}

/// How a column is computed from the inputs.
#[derive(Debug, Clone)]
enum Output {
    Input(usize),
    Literal(Cell),
    Binary(Box<Output>, BinaryOp, Box<Output>),
}

impl Output {
    fn eval(&self, inputs: &[Cell]) -> Cell {
        match self {
            Output::Input(index) => inputs[*index].clone(),
            Output::Literal(cell) => cell.clone(),
            Output::Binary(lhs, op, rhs) => binary(lhs.eval(inputs), *op, rhs.eval(inputs), true),
        }
    }
}

/// Functions InfluxDB 1.6 has and jeny does not yet.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "distinct",
    "mode",
    "sample",
    "top",
    "bottom",
    "difference",
    "non_negative_difference",
    "moving_average",
    "cumulative_sum",
    "elapsed",
    "integral",
    "holt_winters",
    "holt_winters_with_fit",
    "exponential_moving_average",
    "double_exponential_moving_average",
    "triple_exponential_moving_average",
    "relative_strength_index",
    "triple_exponential_derivative",
    "kaufmans_efficiency_ratio",
    "kaufmans_adaptive_moving_average",
    "chande_momentum_oscillator",
    "abs",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "exp",
    "log",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "pow",
    "floor",
    "ceil",
    "round",
];

/// What compiling the field list learned, as InfluxDB's compiler tracks it.
#[derive(Debug)]
struct Compiled {
    calls: usize,
    only_selectors: bool,
    auxiliary: bool,
}

/// The statement's options once checked.
struct Select<'a> {
    store: &'a Store,
    db: &'a str,
    statement: &'a SelectStatement,
    measurements: Vec<String>,
    /// `[start, end]`, start `None` when the range has none.
    start: Option<i64>,
    end: i64,
    empty_range: bool,
    interval: Option<(i64, i64)>,
    condition: Option<Expr>,
    regexes: Regexes,
    dimensions: Vec<String>,
    time_column: String,
    columns: Vec<String>,
    inputs: Vec<Input>,
    outputs: Vec<Output>,
    aggregate: bool,
    selector: bool,
    descending: bool,
    fill: Fill,
}

impl<'a> Select<'a> {
    fn plan(
        store: &'a Store,
        db: &'a str,
        statement: &'a SelectStatement,
        now_ns: i64,
    ) -> Result<Select<'a>, String> {
        if statement.time_zone.is_some() {
            return Err("jeny does not support tz() yet: buckets are aligned to UTC".to_owned());
        }
        let (range, condition) = statement.time_range(now_ns).map_err(|error| error.0)?;
        let interval = statement.group_by_time().map(|(interval, offset)| {
            let offset = match offset {
                None => 0,
                Some(TimeOffset::Duration(offset)) => offset,
                Some(TimeOffset::Now) => now_ns,
            };
            (interval, offset.rem_euclid(interval))
        });
        let measurements = resolve_sources(store, db, &statement.sources)?;
        let mut regexes = Regexes::default();
        if let Some(condition) = &condition {
            Regexes::collect(condition, &mut regexes)?;
        }

        // `time` in the field list only names the time column
        let mut time_column = "time".to_owned();
        let mut fields: Vec<Field> = Vec::new();
        for field in &statement.fields {
            match &field.expr {
                Expr::VarRef(name, _) if name == "time" => {
                    if let Some(alias) = &field.alias {
                        time_column = alias.clone();
                    }
                }
                _ => fields.push(field.clone()),
            }
        }
        if fields.is_empty() {
            return Err("at least 1 non-time field must be queried".to_owned());
        }
        let mut compiled = Compiled {
            calls: 0,
            only_selectors: true,
            auxiliary: false,
        };
        for field in &fields {
            compile_expr(&field.expr, interval.is_some(), true, &mut compiled)?;
        }
        let fill = statement.fill.unwrap_or(Fill::Null);
        if compiled.calls == 0 {
            match fill {
                Fill::None => return Err("fill(none) must be used with a function".to_owned()),
                Fill::Linear => return Err("fill(linear) must be used with a function".to_owned()),
                _ => {}
            }
            if interval.is_some() {
                return Err("GROUP BY requires at least one aggregate function".to_owned());
            }
        }
        if compiled.auxiliary {
            if !compiled.only_selectors {
                return Err(
                    "mixing aggregate and non-aggregate queries is not supported".to_owned(),
                );
            }
            if compiled.calls > 1 {
                return Err(
                    "mixing multiple selector functions with tags or fields is not supported"
                        .to_owned(),
                );
            }
        }

        // the schema of every source, for wildcards and types
        let mut all_fields: BTreeMap<String, FieldType> = BTreeMap::new();
        let mut all_tags: BTreeSet<String> = BTreeSet::new();
        for measurement in &measurements {
            let schema = Schema::of(store, db, measurement);
            for (name, ty) in schema.fields {
                all_fields.entry(name).or_insert(ty);
            }
            all_tags.extend(schema.tag_keys);
        }
        let dimension_wildcard = statement
            .dimensions
            .iter()
            .any(|dimension| matches!(dimension, Dimension::Wildcard));
        let mut dimensions: BTreeSet<String> = BTreeSet::new();
        for dimension in &statement.dimensions {
            match dimension {
                Dimension::Time(..) => {}
                Dimension::Tag(key) => {
                    dimensions.insert(key.clone());
                }
                Dimension::Wildcard => dimensions.extend(all_tags.iter().cloned()),
                Dimension::Regex(pattern) => {
                    let regex = regex::Regex::new(pattern)?;
                    dimensions.extend(all_tags.iter().filter(|key| regex.is_match(key)).cloned());
                }
            }
        }
        let fields = expand_wildcards(
            fields,
            &all_fields,
            &all_tags,
            &statement.dimensions,
            dimension_wildcard,
        )?;
        let columns = column_names(&fields);

        let mut inputs: Vec<Input> = Vec::new();
        let mut outputs = Vec::with_capacity(fields.len());
        for field in &fields {
            outputs.push(plan_output(&field.expr, &mut inputs)?);
        }
        let calls: Vec<&Call> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Call(call) => Some(call),
                Input::Ref(..) => None,
            })
            .collect();
        let selector = calls.len() == 1 && calls[0].function.is_selector();
        let aggregate = !calls.is_empty();

        let start = range.start_ns();
        let end = match (range.end_ns(), interval) {
            (Some(end), _) => end,
            (None, Some(_)) => now_ns,
            (None, None) => MAX_TIME_NS,
        };
        let empty_range = start.is_some_and(|start| start > end);
        Ok(Select {
            store,
            db,
            statement,
            measurements,
            start,
            end,
            empty_range,
            interval,
            condition,
            regexes,
            dimensions: dimensions.into_iter().collect(),
            time_column,
            columns,
            inputs,
            outputs,
            aggregate,
            selector,
            descending: statement.order == Some(SortOrder::Descending),
            fill,
        })
    }

    fn run(&self) -> Result<Vec<Series>, String> {
        if self.empty_range {
            return Ok(Vec::new());
        }
        if let (Some((interval, offset)), Some(start)) = (self.interval, self.start) {
            let window = window(start, self.end, interval, offset);
            let buckets = (i128::from(window.bucket_of(self.end))
                - i128::from(window.bucket_of(start)))
                / i128::from(interval)
                + 1;
            check_buckets(buckets)?;
        }
        let mut answer: Vec<(String, String, Series)> = Vec::new();
        for measurement in &self.measurements {
            for (id, series) in self.run_measurement(measurement)? {
                answer.push((measurement.clone(), id, series));
            }
        }
        answer.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        if self.descending {
            answer.reverse();
        }
        Ok(answer.into_iter().map(|(_, _, series)| series).collect())
    }

    /// One measurement's series, each with its group's ID (InfluxDB's order of groups).
    fn run_measurement(&self, measurement: &str) -> Result<Vec<(String, Series)>, String> {
        let schema = Schema::of(self.store, self.db, measurement);
        for input in &self.inputs {
            if let Input::Call(call) = input
                && let Some(&ty) = schema.fields.get(&call.field)
            {
                check_type(call.function, ty)?;
            }
        }
        let condition = Condition::new(self.condition.as_ref(), &self.regexes, &schema);
        let keep = |tags: &[(String, String)]| condition.keeps_series(tags, &schema);
        let tagsets = tagsets(self.store, self.db, measurement, &keep);

        // groups by the dimensions' values, in the order of their IDs
        let mut groups: BTreeMap<String, (Tags, Vec<&Tagset>)> = BTreeMap::new();
        for tagset in &tagsets {
            let key: Tags = self
                .dimensions
                .iter()
                .map(|dimension| (dimension.clone(), tagset.tag(dimension).to_owned()))
                .collect();
            let id = group_id(&key);
            groups
                .entry(id)
                .or_insert_with(|| (key, Vec::new()))
                .1
                .push(tagset);
        }
        let offset = self.statement.series_offset.unwrap_or(0) as usize;
        let limit = self
            .statement
            .series_limit
            .map_or(usize::MAX, |limit| limit as usize);
        let limit = if limit == 0 { usize::MAX } else { limit };

        let mut answer = Vec::new();
        for (id, (key, members)) in groups.into_iter().skip(offset).take(limit) {
            let group = Group {
                schema: &schema,
                condition: &condition,
                tagsets: members,
            };
            let rows = if self.aggregate {
                self.aggregate_rows(&group)?
            } else {
                self.raw_rows(&group)?
            };
            if rows.is_empty() {
                continue;
            }
            let mut columns = Vec::with_capacity(self.columns.len() + 1);
            columns.push(self.time_column.clone());
            columns.extend(self.columns.iter().cloned());
            let tags = (!self.dimensions.is_empty()).then(|| key.into_iter().collect());
            answer.push((
                id,
                Series {
                    name: measurement.to_owned(),
                    tags,
                    columns,
                    values: rows,
                },
            ));
        }
        Ok(answer)
    }

    /// The rows of a raw query: one for each time where a selected field of a series has a value.
    fn raw_rows(&self, group: &Group<'_>) -> Result<Vec<Vec<Cell>>, String> {
        let start = self.start.unwrap_or(i64::MIN);
        let mut rows: Vec<(i64, usize, Vec<Cell>)> = Vec::new();
        for (order, tagset) in group.tagsets.iter().enumerate() {
            let mut columns: Vec<Option<Column>> = Vec::with_capacity(self.inputs.len());
            for input in &self.inputs {
                let column = match input {
                    Input::Ref(name, cast) if group.schema.is_field(name, *cast) => tagset
                        .fields
                        .get(name)
                        .map(|&(sid, ty)| Column::read(self.store, sid, ty, start, self.end))
                        .transpose()?,
                    _ => None,
                };
                columns.push(column);
            }
            let condition_columns = group
                .condition
                .columns(self.store, tagset, start, self.end)?;
            let mut times: Vec<i64> = columns
                .iter()
                .flatten()
                .flat_map(|column| column.times.iter().copied())
                .collect();
            times.sort_unstable();
            times.dedup();
            for time in times {
                if !group.condition.keeps_point(
                    &tagset.tags,
                    group.schema,
                    &condition_columns,
                    time,
                ) {
                    continue;
                }
                let values = self
                    .inputs
                    .iter()
                    .zip(&columns)
                    .map(|(input, column)| match (input, column) {
                        (_, Some(column)) => column.at(time),
                        (Input::Ref(name, cast), None) if !group.schema.is_field(name, *cast) => {
                            tag_cell(tagset, name)
                        }
                        _ => Cell::Null,
                    })
                    .collect();
                rows.push((time, order, values));
            }
        }
        rows.sort_by_key(|(time, order, _)| (*time, *order));
        if self.descending {
            rows.reverse();
        }
        let offset = self.statement.offset.unwrap_or(0) as usize;
        let limit = self
            .statement
            .limit
            .map_or(usize::MAX, |limit| limit as usize);
        let limit = if limit == 0 { usize::MAX } else { limit };
        Ok(rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(time, _, inputs)| self.row(time, &inputs))
            .collect())
    }

    fn row(&self, time: i64, inputs: &[Cell]) -> Vec<Cell> {
        let mut row = Vec::with_capacity(self.outputs.len() + 1);
        row.push(Cell::Time(time));
        row.extend(self.outputs.iter().map(|output| match output.eval(inputs) {
            Cell::Float(value) if value.is_nan() => Cell::Null,
            cell => cell,
        }));
        row
    }

    /// The rows of an aggregate query: each call's stream, joined by time.
    fn aggregate_rows(&self, group: &Group<'_>) -> Result<Vec<Vec<Cell>>, String> {
        let mut streams: Vec<Option<Vec<Entry>>> = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            streams.push(match input {
                Input::Call(call) => Some(self.call_stream(call, group)?),
                Input::Ref(..) => None,
            });
        }
        let mut times: Vec<i64> = streams
            .iter()
            .flatten()
            .flat_map(|stream| stream.iter().map(|entry| entry.time))
            .collect();
        times.sort_unstable();
        times.dedup();
        if self.descending {
            times.reverse();
        }
        // the point a lone selector chose gives the other columns their values
        let mut auxiliary = AuxiliaryValues::default();
        let mut cursors = vec![0_usize; streams.len()];
        let mut rows = Vec::with_capacity(times.len());
        for time in times {
            let mut chosen = None;
            let mut values = Vec::with_capacity(self.inputs.len());
            for (index, stream) in streams.iter().enumerate() {
                let Some(stream) = stream else {
                    values.push(Cell::Null);
                    continue;
                };
                let cursor = &mut cursors[index];
                match stream.get(*cursor) {
                    Some(entry) if entry.time == time => {
                        values.push(entry.value.clone());
                        chosen = chosen.or(entry.chosen);
                        *cursor += 1;
                    }
                    _ => values.push(Cell::Null),
                }
            }
            if self.selector {
                for (index, input) in self.inputs.iter().enumerate() {
                    if let (Input::Ref(name, cast), Some((series, point_time))) = (input, chosen) {
                        values[index] = auxiliary.value(
                            self,
                            group,
                            group.tagsets[series],
                            name,
                            *cast,
                            point_time,
                        )?;
                    }
                }
            }
            rows.push(self.row(time, &values));
        }
        Ok(rows)
    }

    /// One call's rows for a group, in output order, filled and limited.
    fn call_stream(&self, call: &Call, group: &Group<'_>) -> Result<Vec<Entry>, String> {
        let Some(&ty) = group.schema.fields.get(&call.field) else {
            return Ok(Vec::new());
        };
        let entries = match (call.function, self.interval) {
            (Function::Aggregate(aggregation), Some((interval, offset))) => {
                self.bucketed(aggregation, ty, &call.field, group, interval, offset, false)?
            }
            (Function::Aggregate(aggregation), None) => {
                self.single_bucket(aggregation, &call.field, group)?
            }
            (
                Function::Derivative {
                    inner: Some(aggregation),
                    unit,
                    non_negative,
                },
                Some((interval, offset)),
            ) => {
                let inner =
                    self.bucketed(aggregation, ty, &call.field, group, interval, offset, true)?;
                derivative(
                    &inner,
                    unit.unwrap_or(interval),
                    non_negative,
                    self.descending,
                )
            }
            (
                Function::Derivative {
                    inner: None,
                    unit,
                    non_negative,
                },
                None,
            ) => {
                let start = self.start.unwrap_or(i64::MIN);
                let points = self.points(&call.field, group, start, self.end)?;
                let mut entries: Vec<Entry> = points
                    .into_iter()
                    .map(|point| Entry {
                        time: point.time,
                        value: point.value,
                        chosen: None,
                    })
                    .collect();
                if self.descending {
                    entries.reverse();
                }
                derivative(
                    &entries,
                    unit.unwrap_or(SECOND_NS),
                    non_negative,
                    self.descending,
                )
            }
            // refused when planning
            (Function::Derivative { .. }, _) => Vec::new(),
        };
        let offset = self.statement.offset.unwrap_or(0) as usize;
        let limit = self
            .statement
            .limit
            .map_or(usize::MAX, |limit| limit as usize);
        let limit = if limit == 0 { usize::MAX } else { limit };
        Ok(entries.into_iter().skip(offset).take(limit).collect())
    }

    /// A group's points of `field` in `[start, end]`, merged by time (at equal
    /// times in series order), the condition's field comparisons applied.
    fn points(
        &self,
        field: &str,
        group: &Group<'_>,
        start: i64,
        end: i64,
    ) -> Result<Vec<PointOf>, String> {
        let mut points = Vec::new();
        for (series, tagset) in group.tagsets.iter().enumerate() {
            let Some(&(sid, ty)) = tagset.fields.get(field) else {
                continue;
            };
            let column = Column::read(self.store, sid, ty, start, end)?;
            let condition_columns = group.condition.columns(self.store, tagset, start, end)?;
            for (time, value) in column.times.into_iter().zip(column.values) {
                if group
                    .condition
                    .keeps_point(&tagset.tags, group.schema, &condition_columns, time)
                {
                    points.push(PointOf {
                        time,
                        series,
                        value,
                    });
                }
            }
        }
        points.sort_by_key(|point| (point.time, point.series));
        Ok(points)
    }

    /// An aggregate without `GROUP BY time`: one row, at the chosen point's time for a lone
    /// selector, else at the range's start (0 without one).
    fn single_bucket(
        &self,
        aggregation: Aggregation,
        field: &str,
        group: &Group<'_>,
    ) -> Result<Vec<Entry>, String> {
        let points = self.points(field, group, self.start.unwrap_or(i64::MIN), self.end)?;
        let Some(reduced) = reduce(aggregation, &points) else {
            return Ok(Vec::new());
        };
        let time = match reduced.chosen {
            Some((_, time)) if self.selector => time,
            _ => self.start.unwrap_or(0),
        };
        Ok(vec![Entry {
            time,
            value: reduced.value,
            chosen: reduced.chosen,
        }])
    }

    /// An aggregate over `GROUP BY time` buckets, in output order and filled; for a derivative,
    /// from one bucket before the range (after it, in descending order).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call's whole context, read once"
    )]
    fn bucketed(
        &self,
        aggregation: Aggregation,
        ty: FieldType,
        field: &str,
        group: &Group<'_>,
        interval: i64,
        offset: i64,
        for_derivative: bool,
    ) -> Result<Vec<Entry>, String> {
        let extra_before = for_derivative && !self.descending;
        let extra_after = for_derivative && self.descending;
        let start = self.start.map(|start| {
            if extra_before {
                start.saturating_sub(interval)
            } else {
                start
            }
        });
        let end = if extra_after {
            self.end.saturating_add(interval).min(MAX_TIME_NS)
        } else {
            self.end
        };
        let shape = |first_time: i64| -> Result<(Window, i64, usize), String> {
            let window = window(first_time, end, interval, offset);
            let first = window.bucket_of(first_time);
            let count =
                (i128::from(window.bucket_of(end)) - i128::from(first)) / i128::from(interval) + 1;
            check_buckets(count)?;
            Ok((window, first, count as usize))
        };

        let rollups = match start {
            Some(start) => {
                self.read_rollups(aggregation, ty, field, group, start, end, interval, offset)?
            }
            None => None,
        };
        let (first, buckets) = match rollups {
            Some(Bucketed { first, buckets }) => (first, buckets),
            None => {
                let points = self.points(field, group, start.unwrap_or(i64::MIN), end)?;
                let Some(first_time) = start.or(points.first().map(|point| point.time)) else {
                    return Ok(Vec::new());
                };
                let (window, first, count) = shape(first_time)?;
                let mut buckets: Vec<Option<Reduced>> = vec![None; count];
                let mut from = 0;
                while from < points.len() {
                    let bucket = window.bucket_of(points[from].time);
                    let mut to = from;
                    while to < points.len() && points[to].time < bucket + interval {
                        to += 1;
                    }
                    let index = ((bucket - first) / interval) as usize;
                    if let Some(slot) = buckets.get_mut(index) {
                        *slot = reduce(aggregation, &points[from..to]);
                    }
                    from = to;
                }
                (first, buckets)
            }
        };
        // a group without points in the range has no rows, whatever the fill
        if buckets.iter().all(Option::is_none) {
            return Ok(Vec::new());
        }
        let mut order: Vec<usize> = (0..buckets.len()).collect();
        if self.descending {
            order.reverse();
        }
        let rows: Vec<(i64, Option<Reduced>)> = order
            .into_iter()
            .map(|index| (first + index as i64 * interval, buckets[index].clone()))
            .collect();
        Ok(fill(
            rows,
            self.fill,
            aggregation,
            result_type(aggregation, ty),
            interval,
        ))
    }

    /// The buckets from the store's 5-minute rollups, when they answer exactly: `GROUP BY time`
    /// on 5-minute edges, an aggregation rollups keep (first and last of one series only), a
    /// number field, no field in the condition, no field or tag beside a selector.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call's whole context, read once"
    )]
    fn read_rollups(
        &self,
        aggregation: Aggregation,
        ty: FieldType,
        field: &str,
        group: &Group<'_>,
        start: i64,
        end: i64,
        interval: i64,
        offset: i64,
    ) -> Result<Option<Bucketed>, String> {
        let series: Vec<&Tagset> = group
            .tagsets
            .iter()
            .copied()
            .filter(|tagset| tagset.fields.contains_key(field))
            .collect();
        let order_free = matches!(
            aggregation,
            Aggregation::Count
                | Aggregation::Sum
                | Aggregation::Mean
                | Aggregation::Min
                | Aggregation::Max
                | Aggregation::Spread
        );
        let in_order = matches!(aggregation, Aggregation::First | Aggregation::Last);
        let numeric = matches!(
            ty,
            FieldType::Float | FieldType::Integer | FieldType::Unsigned
        );
        let auxiliary = self
            .inputs
            .iter()
            .any(|input| matches!(input, Input::Ref(..)));
        // the coarsest rollup whose buckets nest in the window's: hourly, else 5 minutes
        let width = if interval % HOUR_NS == 0 && offset % HOUR_NS == 0 {
            HOUR_NS
        } else {
            ROLLUP_NS
        };
        // the rollups' edges, widened to the width: the same buckets when the window's edges
        // fall on it
        let widened = Window {
            start: start.div_euclid(width) * width,
            end: end
                .saturating_add(1)
                .saturating_add(width - 1)
                .div_euclid(width)
                * width,
            interval,
            offset,
        };
        let usable = (order_free || (in_order && series.len() == 1))
            && numeric
            && group.condition.fields.is_empty()
            && !auxiliary
            && widened.aligned_to(width)
            && end < MAX_TIME_NS;
        if !usable {
            return Ok(None);
        }
        let mut buckets: Vec<Bucket> = Vec::new();
        for tagset in &series {
            let (sid, _) = tagset.fields[field];
            let read = self
                .store
                .buckets(sid, start, end + 1, width)
                .map_err(store_failure)?;
            buckets.extend(read);
        }
        buckets.sort_by_key(|bucket| bucket.time);
        let first = widened.bucket_of(start);
        let values = aggregate::from_rollups(&widened, aggregation, &buckets);
        let typed = |value: f64| -> Cell {
            match (aggregation, ty) {
                (Aggregation::Count, _) => Cell::Integer(value as i64),
                (Aggregation::Mean, _) | (_, FieldType::Float) => Cell::Float(value),
                (_, FieldType::Unsigned) => Cell::Unsigned(value as u64),
                _ => Cell::Integer(value as i64),
            }
        };
        let reduced = values
            .into_iter()
            .map(|value| {
                value.map(|value| Reduced {
                    value: typed(value),
                    chosen: None,
                })
            })
            .collect();
        Ok(Some(Bucketed {
            first,
            buckets: reduced,
        }))
    }
}

fn window(start: i64, end: i64, interval: i64, offset: i64) -> Window {
    Window {
        start,
        end: end.saturating_add(1),
        interval,
        offset,
    }
}

fn check_buckets(count: i128) -> Result<(), String> {
    if count > i128::from(MAX_BUCKETS_PER_SERIES) {
        return Err(format!(
            "the query asks for {count} GROUP BY time buckets per series, more than jeny's \
             {MAX_BUCKETS_PER_SERIES}: narrow the time range or widen the interval"
        ));
    }
    Ok(())
}

/// The series of one group, and what reading them needs.
struct Group<'a> {
    schema: &'a Schema,
    condition: &'a Condition<'a>,
    tagsets: Vec<&'a Tagset>,
}

/// The ID InfluxDB orders groups by: keys and values joined by NUL.
fn group_id(key: &[(String, String)]) -> String {
    let mut id = String::new();
    for (index, (tag, value)) in key.iter().enumerate() {
        if index > 0 {
            id.push('\0');
        }
        id.push_str(tag);
        id.push('\0');
        id.push_str(value);
    }
    id
}

/// A tag's value as a column: null when missing or empty, as InfluxDB writes it.
fn tag_cell(tagset: &Tagset, key: &str) -> Cell {
    match tagset.tag(key) {
        "" => Cell::Null,
        value => Cell::String(value.to_owned()),
    }
}

/// Field and tag values beside a lone selector, read once per series and field.
#[derive(Default)]
struct AuxiliaryValues {
    columns: HashMap<(u32, String), Column>,
}

impl AuxiliaryValues {
    fn value(
        &mut self,
        select: &Select<'_>,
        group: &Group<'_>,
        tagset: &Tagset,
        name: &str,
        cast: Option<DataType>,
        time: i64,
    ) -> Result<Cell, String> {
        if !group.schema.is_field(name, cast) {
            return Ok(tag_cell(tagset, name));
        }
        let Some(&(sid, ty)) = tagset.fields.get(name) else {
            return Ok(Cell::Null);
        };
        let key = (sid, name.to_owned());
        if !self.columns.contains_key(&key) {
            let start = select.start.unwrap_or(i64::MIN);
            let column = Column::read(select.store, sid, ty, start, select.end)?;
            self.columns.insert(key.clone(), column);
        }
        Ok(self.columns[&key].at(time))
    }
}

/// Checks what InfluxDB's compiler checks of one field expression.
fn compile_expr(
    expr: &Expr,
    has_interval: bool,
    allow_wildcard: bool,
    compiled: &mut Compiled,
) -> Result<(), String> {
    match expr {
        Expr::VarRef(..) => {
            compiled.auxiliary = true;
            Ok(())
        }
        Expr::Wildcard(_) => {
            compiled.auxiliary = true;
            if allow_wildcard {
                Ok(())
            } else {
                Err("unable to use wildcard in a binary expression".to_owned())
            }
        }
        Expr::Regex(_) => {
            compiled.auxiliary = true;
            if allow_wildcard {
                Ok(())
            } else {
                Err("unable to use regex in a binary expression".to_owned())
            }
        }
        Expr::Call(name, args) => {
            compiled.calls += 1;
            compile_call(name, args, has_interval, allow_wildcard, compiled)
        }
        Expr::Distinct(_) => Err("jeny does not support distinct() yet".to_owned()),
        Expr::Binary(lhs, _, rhs) => {
            let literal = |expr: &Expr| is_literal(expr);
            match (literal(lhs), literal(rhs)) {
                (true, true) => {
                    Err("cannot perform a binary expression on two literals".to_owned())
                }
                (true, false) => compile_expr(rhs, has_interval, false, compiled),
                (false, true) => compile_expr(lhs, has_interval, false, compiled),
                (false, false) => {
                    compile_expr(lhs, has_interval, false, compiled)?;
                    compile_expr(rhs, has_interval, false, compiled)
                }
            }
        }
        Expr::Paren(inner) => compile_expr(inner, has_interval, allow_wildcard, compiled),
        _ => Err("field must contain at least one variable".to_owned()),
    }
}

fn is_literal(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Integer(_)
            | Expr::Unsigned(_)
            | Expr::Float(_)
            | Expr::String(_)
            | Expr::Boolean(_)
            | Expr::Duration(_)
            | Expr::Regex(_)
    )
}

fn compile_call(
    name: &str,
    args: &[Expr],
    has_interval: bool,
    allow_wildcard: bool,
    compiled: &mut Compiled,
) -> Result<(), String> {
    let symbol = |args: &[Expr], compiled: &mut Compiled| -> Result<(), String> {
        match args.first() {
            Some(Expr::VarRef(..)) => Ok(()),
            Some(Expr::Wildcard(_)) if allow_wildcard => {
                compiled.only_selectors = false;
                Ok(())
            }
            Some(Expr::Wildcard(_)) => {
                Err(format!("unsupported expression with wildcard: {name}()"))
            }
            Some(Expr::Regex(_)) if allow_wildcard => {
                compiled.only_selectors = false;
                Ok(())
            }
            Some(Expr::Regex(_)) => {
                Err(format!("unsupported expression with regex field: {name}()"))
            }
            _ => Err(format!("expected field argument in {name}()")),
        }
    };
    match name {
        "percentile" => {
            if args.len() != 2 {
                return Err(format!(
                    "invalid number of arguments for percentile, expected 2, got {}",
                    args.len()
                ));
            }
            if !matches!(args[1], Expr::Integer(_) | Expr::Float(_)) {
                return Err("expected float argument in percentile()".to_owned());
            }
            symbol(args, compiled)
        }
        "derivative" | "non_negative_derivative" => {
            if args.is_empty() || args.len() > 2 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected at least 1 but no more than 2, got {}",
                    args.len()
                ));
            }
            if let Some(unit) = args.get(1) {
                match unit {
                    Expr::Duration(ns) if *ns <= 0 => {
                        return Err(format!(
                            "duration argument must be positive, got {}",
                            crate::influxql::format_duration(*ns)
                        ));
                    }
                    Expr::Duration(_) => {}
                    other => {
                        return Err(format!(
                            "second argument to {name} must be a duration, got *influxql.{}",
                            literal_type(other)
                        ));
                    }
                }
            }
            compiled.only_selectors = false;
            match &args[0] {
                Expr::Call(inner, inner_args) => {
                    if !has_interval {
                        return Err(format!("{name} aggregate requires a GROUP BY interval"));
                    }
                    compiled.calls += 1;
                    compile_call(inner, inner_args, has_interval, allow_wildcard, compiled)
                }
                _ => {
                    if has_interval {
                        return Err(format!(
                            "aggregate function required inside the call to {name}"
                        ));
                    }
                    symbol(args, compiled)
                }
            }
        }
        "count"
            if matches!(args.first(), Some(Expr::Distinct(_)))
                || matches!(args.first(), Some(Expr::Call(inner, _)) if inner == "distinct") =>
        {
            Err("jeny does not support distinct() yet".to_owned())
        }
        "max" | "min" | "first" | "last" | "count" | "sum" | "mean" | "median" | "stddev"
        | "spread" => {
            if !matches!(name, "max" | "min" | "first" | "last") {
                compiled.only_selectors = false;
            }
            if args.len() != 1 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected 1, got {}",
                    args.len()
                ));
            }
            symbol(args, compiled)
        }
        other if UNSUPPORTED_FUNCTIONS.contains(&other) => {
            Err(format!("jeny does not support {other}() yet"))
        }
        other => Err(format!("undefined function {other}()")),
    }
}

fn literal_type(expr: &Expr) -> &'static str {
    match expr {
        Expr::Integer(_) => "IntegerLiteral",
        Expr::Unsigned(_) => "UnsignedLiteral",
        Expr::Float(_) => "NumberLiteral",
        Expr::String(_) => "StringLiteral",
        Expr::Boolean(_) => "BooleanLiteral",
        Expr::Regex(_) => "RegexLiteral",
        Expr::VarRef(..) => "VarRef",
        Expr::Call(..) => "Call",
        Expr::Wildcard(_) => "Wildcard",
        Expr::Binary(..) => "BinaryExpr",
        Expr::Paren(_) => "ParenExpr",
        Expr::Distinct(_) => "Distinct",
        Expr::Duration(_) => "DurationLiteral",
    }
}

/// `*`, `/re/` and calls over them, expanded as InfluxDB's `RewriteFields` does: fields and tags
/// sorted together by name (tags not when grouping by `*`, nor the tags grouped by); a call over
/// `*` once per field its function takes, named `<call>_<field>`.
fn expand_wildcards(
    fields: Vec<Field>,
    all_fields: &BTreeMap<String, FieldType>,
    all_tags: &BTreeSet<String>,
    dimensions: &[Dimension],
    dimension_wildcard: bool,
) -> Result<Vec<Field>, String> {
    let mut names: Vec<(String, Option<DataType>)> =
        all_fields.keys().map(|name| (name.clone(), None)).collect();
    if !dimension_wildcard {
        for tag in all_tags {
            let grouped = dimensions
                .iter()
                .any(|dimension| matches!(dimension, Dimension::Tag(key) if key == tag));
            if !grouped {
                names.push((tag.clone(), Some(DataType::Tag)));
            }
        }
    }
    names.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.is_some().cmp(&b.1.is_some()))
    });
    let mut expanded = Vec::with_capacity(fields.len());
    for field in fields {
        match &field.expr {
            Expr::Wildcard(kind) => {
                for (name, cast) in &names {
                    let wanted = match kind {
                        Some(DataType::Field) => cast.is_none(),
                        Some(DataType::Tag) => cast.is_some(),
                        _ => true,
                    };
                    if wanted {
                        expanded.push(Field {
                            expr: Expr::VarRef(name.clone(), *cast),
                            alias: None,
                        });
                    }
                }
            }
            Expr::Regex(pattern) => {
                let regex = regex::Regex::new(pattern)?;
                for (name, cast) in &names {
                    if regex.is_match(name) {
                        expanded.push(Field {
                            expr: Expr::VarRef(name.clone(), *cast),
                            alias: None,
                        });
                    }
                }
            }
            Expr::Call(name, args)
                if matches!(args.first(), Some(Expr::Wildcard(_) | Expr::Regex(_))) =>
            {
                let regex = match &args[0] {
                    Expr::Regex(pattern) => Some(regex::Regex::new(pattern)?),
                    _ => None,
                };
                let prefix = field.alias.clone().unwrap_or_else(|| name.clone());
                for (field_name, ty) in all_fields {
                    if regex
                        .as_ref()
                        .is_some_and(|regex| !regex.is_match(field_name))
                    {
                        continue;
                    }
                    let accepted = match name.as_str() {
                        "count" | "first" | "last" => true,
                        "min" | "max" => *ty != FieldType::String,
                        _ => !matches!(ty, FieldType::String | FieldType::Boolean),
                    };
                    if !accepted {
                        continue;
                    }
                    let mut call_args = args.clone();
                    call_args[0] = Expr::VarRef(field_name.clone(), None);
                    expanded.push(Field {
                        expr: Expr::Call(name.clone(), call_args),
                        alias: Some(format!("{prefix}_{field_name}")),
                    });
                }
            }
            _ => expanded.push(field),
        }
    }
    Ok(expanded)
}

/// InfluxDB's column names: the alias, else the call's name, the field's, or the names in a
/// math expression joined by `_`; a name met again gets `_1`, `_2`...
fn column_names(fields: &[Field]) -> Vec<String> {
    let mut names: Vec<Option<String>> = fields.iter().map(|field| field.alias.clone()).collect();
    let mut taken: HashMap<String, usize> = HashMap::new();
    for name in names.iter().flatten() {
        taken.insert(name.clone(), 1);
    }
    for (index, field) in fields.iter().enumerate() {
        if names[index].is_some() {
            continue;
        }
        let mut name = expr_name(&field.expr);
        if let Some(&count) = taken.get(&name) {
            let mut count = count;
            loop {
                let resolved = format!("{name}_{count}");
                if !taken.contains_key(&resolved) {
                    taken.insert(name.clone(), count + 1);
                    name = resolved;
                    break;
                }
                count += 1;
            }
        }
        *taken.entry(name.clone()).or_insert(0) += 1;
        names[index] = Some(name);
    }
    names.into_iter().map(Option::unwrap_or_default).collect()
}

fn expr_name(expr: &Expr) -> String {
    fn walk(expr: &Expr, names: &mut Vec<String>) {
        match expr {
            Expr::VarRef(name, _) => names.push(name.clone()),
            Expr::Call(name, _) => names.push(name.clone()),
            Expr::Binary(lhs, _, rhs) => {
                walk(lhs, names);
                walk(rhs, names);
            }
            Expr::Paren(inner) => walk(inner, names),
            _ => {}
        }
    }
    match expr {
        Expr::Call(name, _) => name.clone(),
        Expr::VarRef(name, _) => name.clone(),
        Expr::Paren(inner) => expr_name(inner),
        Expr::Binary(..) => {
            let mut names = Vec::new();
            walk(expr, &mut names);
            names.join("_")
        }
        _ => String::new(),
    }
}

/// A field expression as an output over inputs (each input once).
fn plan_output(expr: &Expr, inputs: &mut Vec<Input>) -> Result<Output, String> {
    let mut input = |wanted: Input| -> Output {
        let index = inputs
            .iter()
            .position(|input| *input == wanted)
            .unwrap_or_else(|| {
                inputs.push(wanted);
                inputs.len() - 1
            });
        Output::Input(index)
    };
    Ok(match expr {
        Expr::VarRef(name, cast) => input(Input::Ref(name.clone(), *cast)),
        Expr::Call(..) => input(Input::Call(plan_call(expr)?)),
        Expr::Paren(inner) => plan_output(inner, inputs)?,
        Expr::Binary(lhs, op, rhs) => Output::Binary(
            Box::new(plan_output(lhs, inputs)?),
            *op,
            Box::new(plan_output(rhs, inputs)?),
        ),
        Expr::Integer(value) => Output::Literal(Cell::Integer(*value)),
        Expr::Unsigned(value) => Output::Literal(Cell::Unsigned(*value)),
        Expr::Float(value) => Output::Literal(Cell::Float(*value)),
        Expr::String(text) => Output::Literal(Cell::String(text.clone())),
        Expr::Boolean(value) => Output::Literal(Cell::Boolean(*value)),
        _ => Output::Literal(Cell::Null),
    })
}

fn plan_call(expr: &Expr) -> Result<Call, String> {
    let Expr::Call(name, args) = expr else {
        return Err(format!("expected a function call, found {expr}"));
    };
    let field = |arg: &Expr| -> Result<String, String> {
        match arg {
            Expr::VarRef(field, _) => Ok(field.clone()),
            _ => Err(format!("expected field argument in {name}()")),
        }
    };
    let aggregation = |name: &str, args: &[Expr]| -> Result<Aggregation, String> {
        Ok(match name {
            "count" => Aggregation::Count,
            "sum" => Aggregation::Sum,
            "mean" => Aggregation::Mean,
            "median" => Aggregation::Median,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "first" => Aggregation::First,
            "last" => Aggregation::Last,
            "spread" => Aggregation::Spread,
            "stddev" => Aggregation::Stddev,
            "percentile" => Aggregation::Percentile(match args.get(1) {
                Some(Expr::Integer(value)) => *value as f64,
                Some(Expr::Float(value)) => *value,
                _ => return Err("expected float argument in percentile()".to_owned()),
            }),
            other => return Err(format!("undefined function {other}()")),
        })
    };
    match name.as_str() {
        "derivative" | "non_negative_derivative" => {
            let unit = match args.get(1) {
                Some(Expr::Duration(ns)) => Some(*ns),
                _ => None,
            };
            let non_negative = name == "non_negative_derivative";
            match &args[0] {
                Expr::Call(inner, inner_args) => Ok(Call {
                    function: Function::Derivative {
                        inner: Some(aggregation(inner, inner_args)?),
                        unit,
                        non_negative,
                    },
                    field: field(&inner_args[0])?,
                }),
                arg => Ok(Call {
                    function: Function::Derivative {
                        inner: None,
                        unit,
                        non_negative,
                    },
                    field: field(arg)?,
                }),
            }
        }
        _ => Ok(Call {
            function: Function::Aggregate(aggregation(name, args)?),
            field: field(&args[0])?,
        }),
    }
}

/// The error InfluxDB gives a call over a field of a type it cannot take.
fn check_type(function: Function, ty: FieldType) -> Result<(), String> {
    let (name, aggregation) = match function {
        Function::Aggregate(aggregation) => (aggregation.name(), Some(aggregation)),
        Function::Derivative { inner, .. } => ("derivative", inner),
    };
    let accepted = |aggregation: Option<Aggregation>| match aggregation {
        Some(Aggregation::Count | Aggregation::First | Aggregation::Last) => true,
        Some(Aggregation::Min | Aggregation::Max) => ty != FieldType::String,
        _ => !matches!(ty, FieldType::String | FieldType::Boolean),
    };
    let refused_name = if !accepted(aggregation) {
        Some(aggregation.map_or(name, Aggregation::name))
    } else if matches!(function, Function::Derivative { .. }) {
        // the derivative takes what its inner call gives
        let given = aggregation.map_or(ty, |aggregation| result_type(aggregation, ty));
        matches!(given, FieldType::String | FieldType::Boolean).then_some(name)
    } else {
        None
    };
    match refused_name {
        Some(refused) => {
            let given = match function {
                Function::Derivative {
                    inner: Some(aggregation),
                    ..
                } if refused == "derivative" => result_type(aggregation, ty),
                _ => ty,
            };
            Err(format!(
                "unsupported {refused} iterator type: *query.{}InterruptIterator",
                given.name()
            ))
        }
        None => Ok(()),
    }
}

/// The type an aggregation of a field of type `ty` gives.
fn result_type(aggregation: Aggregation, ty: FieldType) -> FieldType {
    match aggregation {
        Aggregation::Count => FieldType::Integer,
        Aggregation::Mean | Aggregation::Median | Aggregation::Stddev => FieldType::Float,
        _ => ty,
    }
}

// -------------------------------------------------------------------------------------------------
// SELECT: reducing, filling, derivatives

/// One point of a group: its time, its series (the group's order), its value.
#[derive(Debug, Clone)]
struct PointOf {
    time: i64,
    series: usize,
    value: Cell,
}

/// A bucket's value, and for a selector the point it chose (series, time).
#[derive(Debug, Clone)]
struct Reduced {
    value: Cell,
    chosen: Option<(usize, i64)>,
}

/// A call's buckets: the first one's time, and each one's value (`None` when empty).
#[derive(Debug)]
struct Bucketed {
    first: i64,
    buckets: Vec<Option<Reduced>>,
}

/// One row of a call's stream.
#[derive(Debug, Clone)]
struct Entry {
    time: i64,
    value: Cell,
    chosen: Option<(usize, i64)>,
}

/// Reduces a bucket's points (time order) as InfluxDB's reducers do; `None` when it gives no
/// point (no points, or a percentile outside them).
fn reduce(aggregation: Aggregation, points: &[PointOf]) -> Option<Reduced> {
    let first = points.first()?;
    let value = |value: Cell| {
        Some(Reduced {
            value,
            chosen: None,
        })
    };
    let chose = |point: &PointOf| {
        Some(Reduced {
            value: point.value.clone(),
            chosen: Some((point.series, point.time)),
        })
    };
    let count = points.len();
    match aggregation {
        Aggregation::Count => value(Cell::Integer(count as i64)),
        Aggregation::Sum => value(match &first.value {
            Cell::Integer(_) => Cell::Integer(
                points
                    .iter()
                    .fold(0_i64, |sum, point| sum.wrapping_add(integer(&point.value))),
            ),
            Cell::Unsigned(_) => Cell::Unsigned(
                points
                    .iter()
                    .fold(0_u64, |sum, point| sum.wrapping_add(unsigned(&point.value))),
            ),
            _ => Cell::Float(points.iter().map(|point| float(&point.value)).sum()),
        }),
        Aggregation::Mean => value(Cell::Float(match &first.value {
            Cell::Integer(_) => {
                let sum = points
                    .iter()
                    .fold(0_i64, |sum, point| sum.wrapping_add(integer(&point.value)));
                sum as f64 / count as f64
            }
            Cell::Unsigned(_) => {
                let sum = points
                    .iter()
                    .fold(0_u64, |sum, point| sum.wrapping_add(unsigned(&point.value)));
                sum as f64 / count as f64
            }
            _ => points.iter().map(|point| float(&point.value)).sum::<f64>() / count as f64,
        })),
        Aggregation::Median => {
            let mut sorted: Vec<&Cell> = points.iter().map(|point| &point.value).collect();
            sorted.sort_by(|a, b| compare_values(a, b));
            let middle = count / 2;
            let median = if count % 2 == 1 {
                float(sorted[middle])
            } else {
                let (low, high) = (sorted[middle - 1], sorted[middle]);
                match (low, high) {
                    (Cell::Integer(low), Cell::Integer(high)) => {
                        *low as f64 + high.wrapping_sub(*low) as f64 / 2.0
                    }
                    (Cell::Unsigned(low), Cell::Unsigned(high)) => {
                        *low as f64 + high.wrapping_sub(*low) as f64 / 2.0
                    }
                    _ => float(low) + (float(high) - float(low)) / 2.0,
                }
            };
            value(Cell::Float(median))
        }
        Aggregation::Stddev => {
            if count < 2 {
                return value(Cell::Float(f64::NAN));
            }
            let mut mean = 0.0;
            let mut seen = 0_usize;
            for point in points {
                let v = float(&point.value);
                if v.is_nan() {
                    continue;
                }
                seen += 1;
                mean += (v - mean) / seen as f64;
            }
            let variance: f64 = points
                .iter()
                .map(|point| float(&point.value))
                .filter(|v| !v.is_nan())
                .map(|v| (v - mean).powi(2))
                .sum();
            value(Cell::Float((variance / (seen as f64 - 1.0)).sqrt()))
        }
        Aggregation::Spread => value(match &first.value {
            Cell::Integer(_) => {
                let values = points.iter().map(|point| integer(&point.value));
                let (min, max) =
                    values.fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
                Cell::Integer(max.wrapping_sub(min))
            }
            Cell::Unsigned(_) => {
                let values = points.iter().map(|point| unsigned(&point.value));
                let (min, max) = values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
                Cell::Unsigned(max.wrapping_sub(min))
            }
            _ => {
                let values = points.iter().map(|point| float(&point.value));
                let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
                Cell::Float(max - min)
            }
        }),
        Aggregation::Min | Aggregation::Max => {
            let wanted = if aggregation == Aggregation::Min {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            let mut best = first;
            for point in &points[1..] {
                let ordering = compare_values(&point.value, &best.value);
                if ordering == wanted || (ordering == Ordering::Equal && point.time < best.time) {
                    best = point;
                }
            }
            chose(best)
        }
        Aggregation::First | Aggregation::Last => {
            let mut best = first;
            for point in &points[1..] {
                let later = if aggregation == Aggregation::First {
                    point.time < best.time
                } else {
                    point.time > best.time
                };
                let tie_wins = point.time == best.time
                    && match (&point.value, &best.value) {
                        // InfluxDB's boolean first() prefers false on a tie, last() true
                        (Cell::Boolean(current), Cell::Boolean(previous)) => {
                            if aggregation == Aggregation::First {
                                !current && *previous
                            } else {
                                *current && !previous
                            }
                        }
                        (current, previous) => {
                            compare_values(current, previous) == Ordering::Greater
                        }
                    };
                if later || tie_wins {
                    best = point;
                }
            }
            chose(best)
        }
        Aggregation::Percentile(percentile) => {
            let index = (count as f64 * percentile / 100.0 + 0.5).floor() as i64 - 1;
            if index < 0 || index as usize >= count {
                return None;
            }
            let mut sorted: Vec<&PointOf> = points.iter().collect();
            sorted.sort_by(|a, b| compare_values(&a.value, &b.value));
            chose(sorted[index as usize])
        }
    }
}

fn compare_values(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        (Cell::Integer(a), Cell::Integer(b)) => a.cmp(b),
        (Cell::Unsigned(a), Cell::Unsigned(b)) => a.cmp(b),
        (Cell::String(a), Cell::String(b)) => a.cmp(b),
        (Cell::Boolean(a), Cell::Boolean(b)) => a.cmp(b),
        (a, b) => float(a).partial_cmp(&float(b)).unwrap_or(Ordering::Equal),
    }
}

fn float(cell: &Cell) -> f64 {
    as_float(cell).unwrap_or(f64::NAN)
}

fn integer(cell: &Cell) -> i64 {
    match cell {
        Cell::Integer(v) => *v,
        Cell::Unsigned(v) => *v as i64,
        Cell::Float(v) => *v as i64,
        _ => 0,
    }
}

fn unsigned(cell: &Cell) -> u64 {
    match cell {
        Cell::Unsigned(v) => *v,
        Cell::Integer(v) => *v as u64,
        Cell::Float(v) => *v as u64,
        _ => 0,
    }
}

/// Fills the empty buckets of a stream (in output order) as InfluxDB's fill iterator does:
/// `previous` and `linear` look at the buckets that had points, in output order; `count`
/// fills nulls with 0; a bucket whose value is NaN (one point's `stddev`) is no empty bucket.
fn fill(
    rows: Vec<(i64, Option<Reduced>)>,
    mode: Fill,
    aggregation: Aggregation,
    ty: FieldType,
    interval: i64,
) -> Vec<Entry> {
    let mode = match (mode, aggregation) {
        (Fill::Null, Aggregation::Count) => Fill::Integer(0),
        (mode, _) => mode,
    };
    let number = |value: f64| -> Cell {
        match ty {
            FieldType::Float => Cell::Float(value),
            FieldType::Integer => Cell::Integer(value as i64),
            FieldType::Unsigned => Cell::Unsigned(value as u64),
            FieldType::String => Cell::String(String::new()),
            FieldType::Boolean => Cell::Boolean(false),
        }
    };
    let mut entries = Vec::with_capacity(rows.len());
    let mut previous: Option<(i64, Cell)> = None;
    for (index, (time, reduced)) in rows.iter().enumerate() {
        if let Some(reduced) = reduced {
            previous = Some((*time, reduced.value.clone()));
            entries.push(Entry {
                time: *time,
                value: reduced.value.clone(),
                chosen: reduced.chosen,
            });
            continue;
        }
        let value = match mode {
            Fill::None => continue,
            Fill::Null => Cell::Null,
            Fill::Integer(value) => number(value as f64),
            Fill::Float(value) => number(value),
            Fill::Previous => previous
                .as_ref()
                .map_or(Cell::Null, |(_, value)| value.clone()),
            Fill::Linear => {
                let next = rows[index + 1..]
                    .iter()
                    .find_map(|(time, reduced)| reduced.as_ref().map(|r| (*time, &r.value)));
                match (&previous, next) {
                    (Some((previous_time, previous)), Some((next_time, next))) => linear(
                        *time / interval,
                        previous_time / interval,
                        next_time / interval,
                        previous,
                        next,
                    ),
                    _ => Cell::Null,
                }
            }
        };
        entries.push(Entry {
            time: *time,
            value,
            chosen: None,
        });
    }
    entries
}

/// InfluxDB's `linearFloat`/`linearInteger`: the slope from the previous to the next value,
/// times the distance from the previous, plus the previous value (times in intervals).
fn linear(window: i64, previous_time: i64, next_time: i64, previous: &Cell, next: &Cell) -> Cell {
    let x = (window - previous_time) as f64;
    let span = (next_time - previous_time) as f64;
    match (previous, next) {
        (Cell::Float(a), Cell::Float(b)) => Cell::Float((b - a) / span * x + a),
        (Cell::Integer(a), Cell::Integer(b)) => {
            let slope = b.wrapping_sub(*a) as f64 / span;
            Cell::Integer((slope * x + *a as f64) as i64)
        }
        (Cell::Unsigned(a), Cell::Unsigned(b)) => {
            let slope = b.wrapping_sub(*a) as f64 / span;
            Cell::Unsigned((slope * x + *a as f64) as u64)
        }
        _ => Cell::Null,
    }
}

/// `derivative(unit)` over a stream in output order, as InfluxDB's reducer: rows without a value
/// are skipped, a row at the time of the previous one too; each change is divided by the time
/// since the previous row in `unit`s; `non_negative` drops decreases.
fn derivative(entries: &[Entry], unit: i64, non_negative: bool, descending: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut current: Option<&Entry> = None;
    for entry in entries {
        if entry.value == Cell::Null {
            continue;
        }
        if current.is_some_and(|current| current.time == entry.time) {
            continue;
        }
        let previous = current.replace(entry);
        let Some(previous) = previous else { continue };
        let difference = match (&entry.value, &previous.value) {
            (Cell::Integer(now), Cell::Integer(before)) => now.wrapping_sub(*before) as f64,
            (Cell::Unsigned(now), Cell::Unsigned(before)) if now >= before => (now - before) as f64,
            (Cell::Unsigned(now), Cell::Unsigned(before)) => -((before - now) as f64),
            (now, before) => float(now) - float(before),
        };
        let mut elapsed = entry.time - previous.time;
        if descending {
            elapsed = -elapsed;
        }
        if non_negative && difference < 0.0 {
            continue;
        }
        out.push(Entry {
            time: entry.time,
            value: Cell::Float(difference / (elapsed as f64 / unit as f64)),
            chosen: None,
        });
    }
    out
}

// -------------------------------------------------------------------------------------------------
// SHOW

fn execute_show(store: &Store, db: &str, show: &Show, now_ns: i64) -> Result<Vec<Series>, String> {
    check_database(db, show.database.as_deref())?;
    let condition = match &show.condition {
        Some(condition) => {
            crate::influxql::time_range(condition, now_ns)
                .map_err(|error| error.0)?
                .1
        }
        None => None,
    };
    let mut regexes = Regexes::default();
    if let Some(condition) = &condition {
        Regexes::collect(condition, &mut regexes)?;
    }
    let measurements = if show.sources.is_empty() {
        store.measurements(db)
    } else {
        resolve_sources(store, db, &show.sources)?
    };
    // the series of a measurement the condition keeps (tags only: fields read as null)
    let matching = |measurement: &str| -> Vec<Tags> {
        let schema = Schema::of(store, db, measurement);
        let keep = |tags: &[(String, String)]| match &condition {
            None => true,
            Some(condition) => {
                let lookup =
                    |name: &str, cast: Option<DataType>| tag_or_null(tags, name, cast, &schema);
                eval(condition, &lookup, &regexes, false) == Cell::Boolean(true)
            }
        };
        let mut tags: Vec<Tags> = store
            .series(db, measurement, None, &keep)
            .into_iter()
            .map(|series| series.tags)
            .collect();
        tags.sort();
        tags.dedup();
        tags
    };
    let page = |values: Vec<Vec<Cell>>| -> Vec<Vec<Cell>> {
        let offset = show.offset.unwrap_or(0) as usize;
        let limit = show.limit.map_or(usize::MAX, |limit| limit as usize);
        let limit = if limit == 0 { usize::MAX } else { limit };
        values.into_iter().skip(offset).take(limit).collect()
    };
    let series = |name: &str, columns: &[&str], values: Vec<Vec<Cell>>| Series {
        name: name.to_owned(),
        tags: None,
        columns: columns.iter().map(|column| (*column).to_owned()).collect(),
        values,
    };
    let mut answer = Vec::new();
    match &show.kind {
        ShowKind::Measurements(with) => {
            let with_regex = match with.as_ref().map(|with| &with.name) {
                Some(MeasurementName::Regex(pattern)) => Some(regex::Regex::new(pattern)?),
                _ => None,
            };
            let names: Vec<Vec<Cell>> = store
                .measurements(db)
                .into_iter()
                .filter(|name| match with.as_ref().map(|with| &with.name) {
                    Some(MeasurementName::Name(wanted)) => name == wanted,
                    Some(MeasurementName::Regex(_)) => with_regex
                        .as_ref()
                        .is_some_and(|regex| regex.is_match(name)),
                    None => true,
                })
                .filter(|name| condition.is_none() || !matching(name).is_empty())
                .map(|name| vec![Cell::String(name)])
                .collect();
            let values = page(names);
            if !values.is_empty() {
                answer.push(series("measurements", &["name"], values));
            }
        }
        ShowKind::TagKeys => {
            for measurement in &measurements {
                let keys: Vec<String> = match &condition {
                    None => store.tag_keys(db, measurement),
                    Some(_) => {
                        let keys: BTreeSet<String> = matching(measurement)
                            .into_iter()
                            .flatten()
                            .map(|(key, _)| key)
                            .collect();
                        keys.into_iter().collect()
                    }
                };
                let values = page(
                    keys.into_iter()
                        .map(|key| vec![Cell::String(key)])
                        .collect(),
                );
                if !values.is_empty() {
                    answer.push(series(measurement, &["tagKey"], values));
                }
            }
        }
        ShowKind::TagValues(filter) => {
            let filter_regex = match filter {
                TagKeyFilter::Regex(pattern) | TagKeyFilter::NotRegex(pattern) => {
                    Some(regex::Regex::new(pattern)?)
                }
                _ => None,
            };
            let wanted = |key: &str| match filter {
                TagKeyFilter::Equal(wanted) => key == wanted,
                TagKeyFilter::NotEqual(unwanted) => key != unwanted,
                TagKeyFilter::In(keys) => keys.iter().any(|wanted| wanted == key),
                TagKeyFilter::Regex(_) => filter_regex.as_ref().is_some_and(|r| r.is_match(key)),
                TagKeyFilter::NotRegex(_) => {
                    filter_regex.as_ref().is_some_and(|r| !r.is_match(key))
                }
            };
            for measurement in &measurements {
                let pairs: BTreeSet<(String, String)> = match &condition {
                    None => store
                        .tag_keys(db, measurement)
                        .into_iter()
                        .filter(|key| wanted(key))
                        .flat_map(|key| {
                            store
                                .tag_values(db, measurement, &key)
                                .into_iter()
                                .map(move |value| (key.clone(), value))
                        })
                        .collect(),
                    Some(_) => matching(measurement)
                        .into_iter()
                        .flatten()
                        .filter(|(key, _)| wanted(key))
                        .collect(),
                };
                let values = page(
                    pairs
                        .into_iter()
                        .map(|(key, value)| vec![Cell::String(key), Cell::String(value)])
                        .collect(),
                );
                if !values.is_empty() {
                    answer.push(series(measurement, &["key", "value"], values));
                }
            }
        }
        ShowKind::FieldKeys => {
            for measurement in &measurements {
                let values = page(
                    store
                        .field_keys(db, measurement)
                        .into_iter()
                        .map(|(key, ty)| {
                            vec![Cell::String(key), Cell::String(ty.name().to_owned())]
                        })
                        .collect(),
                );
                if !values.is_empty() {
                    answer.push(series(measurement, &["fieldKey", "fieldType"], values));
                }
            }
        }
    }
    Ok(answer)
}

// -------------------------------------------------------------------------------------------------
// Regexes

/// Regular expressions in the syntax InfluxQL takes (Go's RE2), compiled by `regex-lite`, whose
/// syntax is RE2's nearly everywhere Grafana and InfluxDB's clients go: literals and escapes,
/// `.`, classes (`[a-z]`, `[^...]`, `\d \w \s`, `[[:alpha:]]`), anchors `^ $ \A \z \b \B`,
/// groups (`(?:...)`, `(?P<name>...)`), the flags `i m s U`, alternation and the quantifiers
/// `* + ? {n} {n,} {n,m}`. Matching is unanchored and runs in time linear in the text (a Pike
/// VM), so a query cannot make it backtrack; `regex-lite`'s size limit bounds a compiled pattern.
///
/// Where it differs from Go: `(?i)` folds ASCII letters only; `\pL` and `\Q...\E` are refused;
/// a `{` that starts no repetition must be escaped (Go reads it as a literal); `\<` and `\>` are
/// word boundaries (in Go, the characters); the `x` flag is accepted.
mod regex {
    #[derive(Debug, Clone)]
    pub struct Regex(regex_lite::Regex);

    impl Regex {
        /// Compiles `pattern`, or says why it cannot (framed as Go's `regexp` frames it).
        pub fn new(pattern: &str) -> Result<Regex, String> {
            regex_lite::Regex::new(pattern)
                .map(Regex)
                .map_err(|why| format!("error parsing regexp: {why}: `{pattern}`"))
        }

        /// Whether the pattern matches anywhere in `text`.
        pub fn is_match(&self, text: &str) -> bool {
            self.0.is_match(text)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::Regex;

        fn matches(pattern: &str, text: &str) -> bool {
            Regex::new(pattern).unwrap().is_match(text)
        }

        #[test]
        fn grafana_patterns_match_as_go_matches_them() {
            assert!(matches("^(a|b)$", "a"));
            assert!(matches("^(a|b)$", "b"));
            assert!(!matches("^(a|b)$", "ab"));
            assert!(matches("^web-\\d+$", "web-12"));
            assert!(!matches("^web-\\d+$", "web-12a"));
            assert!(matches("^web\\-01\\.example\\.com$", "web-01.example.com"));
            assert!(!matches("^web\\-01\\.example\\.com$", "web-01xexample.com"));
            assert!(matches("^a\\/b$", "a/b"));
            assert!(matches("eu", "prod-eu-1"));
            assert!(matches("", "anything"));
            assert!(matches("^$", ""));
            assert!(!matches("^$", "x"));
        }

        #[test]
        fn classes_quantifiers_flags_and_anchors() {
            assert!(matches("^[a-c]+\\d{2,3}$", "abc12"));
            assert!(!matches("^[a-c]+\\d{2,3}$", "abc1234"));
            assert!(matches("^[^x]*$", "abc"));
            assert!(!matches("^[^x]*$", "axc"));
            assert!(matches("(?i)^CPU", "cpu0"));
            assert!(matches("^(?i:c)pu$", "Cpu"));
            assert!(!matches("^(?i:c)pu$", "CPU"));
            assert!(matches("\\bio\\b", "disk io wait"));
            assert!(!matches("\\bio\\b", "radio"));
            assert!(matches("a.c", "abc"));
            assert!(!matches("a.c", "a\nc"));
            assert!(matches("x{2}?y", "xxy"));
            assert!(matches("[.]", "a.b"));
            assert!(matches("[a-]$", "x-"));
            assert!(matches("^(?P<host>web)-\\d$", "web-1"));
        }

        #[test]
        fn bad_patterns_are_refused_in_go_s_frame() {
            for pattern in ["(a", "a)", "[a", "*a", "\\", "x{3,2}", "[z-a]", "\\pL"] {
                let error = Regex::new(pattern).err().unwrap_or_default();
                assert!(
                    error.starts_with("error parsing regexp: ")
                        && error.ends_with(&format!(": `{pattern}`")),
                    "{pattern}: {error}"
                );
            }
        }

        #[test]
        fn large_patterns_are_refused_and_matching_stays_linear() {
            let text = "a".repeat(5000);
            assert!(!matches("^(a|a?)+b$", &text));
            assert!(Regex::new("(((a{1000}){1000}){1000})").is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(time: i64, series: usize, value: Cell) -> PointOf {
        PointOf {
            time,
            series,
            value,
        }
    }

    #[test]
    fn times_are_written_as_influxdb_writes_them() {
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(1_796_601_600_500_000_000),
            "2026-12-07T00:00:00.5Z"
        );
        assert_eq!(format_rfc3339_nano(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(format_rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
        let rows = vec![(
            0,
            Ok(vec![Series {
                name: "cpu".to_owned(),
                tags: None,
                columns: vec!["time".to_owned(), "v".to_owned()],
                values: vec![vec![Cell::Time(-1_500_000_000), Cell::Float(2.0)]],
            }]),
        )];
        let seconds = to_json(&rows, Epoch::parse("s"));
        let expected = serde_json::json!({"results": [{"statement_id": 0, "series": [
            {"name": "cpu", "columns": ["time", "v"], "values": [[-1, 2]]}
        ]}]});
        assert_eq!(seconds, expected);
        assert_eq!(
            seconds["results"][0]["series"][0]["values"][0][1].to_string(),
            "2"
        );
        assert_eq!(Epoch::parse(""), None);
        assert_eq!(Epoch::parse("µ"), Some(Epoch::Nanoseconds));
    }

    #[test]
    fn empty_results_and_errors_have_only_their_statement_id_and_error() {
        let body = to_json(&[(0, Ok(vec![])), (1, Err("boom".to_owned()))], None);
        let expected = serde_json::json!({"results": [
            {"statement_id": 0},
            {"statement_id": 1, "error": "boom"}
        ]});
        assert_eq!(body, expected);
    }

    #[test]
    fn floats_are_written_as_go_writes_them() {
        assert_eq!(float_json(2.0).to_string(), "2");
        assert_eq!(float_json(0.25).to_string(), "0.25");
        assert_eq!(float_json(f64::NAN), Json::Null);
        assert_eq!(float_json(-3.0).to_string(), "-3");
    }

    #[test]
    fn selectors_break_ties_as_influxdb_does() {
        let points = [
            point(0, 0, Cell::Float(1.0)),
            point(0, 1, Cell::Float(2.0)),
            point(10, 0, Cell::Float(2.0)),
            point(10, 1, Cell::Float(1.0)),
        ];
        let first = reduce(Aggregation::First, &points).unwrap();
        assert_eq!(
            (first.value, first.chosen),
            (Cell::Float(2.0), Some((1, 0)))
        );
        let last = reduce(Aggregation::Last, &points).unwrap();
        assert_eq!((last.value, last.chosen), (Cell::Float(2.0), Some((0, 10))));
        let max = reduce(Aggregation::Max, &points).unwrap();
        assert_eq!(max.chosen, Some((1, 0)));
        let min = reduce(Aggregation::Min, &points).unwrap();
        assert_eq!(min.chosen, Some((0, 0)));
    }

    #[test]
    fn integer_aggregates_stay_integers_and_stddev_of_one_point_is_nan() {
        let points = [point(0, 0, Cell::Integer(3)), point(1, 0, Cell::Integer(8))];
        let value = |aggregation| reduce(aggregation, &points).unwrap().value;
        assert_eq!(value(Aggregation::Sum), Cell::Integer(11));
        assert_eq!(value(Aggregation::Spread), Cell::Integer(5));
        assert_eq!(value(Aggregation::Mean), Cell::Float(5.5));
        assert_eq!(value(Aggregation::Median), Cell::Float(5.5));
        assert_eq!(value(Aggregation::Count), Cell::Integer(2));
        let one = reduce(Aggregation::Stddev, &points[..1]).unwrap().value;
        assert!(matches!(one, Cell::Float(v) if v.is_nan()));
        assert!(reduce(Aggregation::Percentile(0.0), &points).is_none());
    }

    #[test]
    fn linear_fill_and_derivatives_follow_influxdb() {
        let reduced = |value: f64| {
            Some(Reduced {
                value: Cell::Float(value),
                chosen: None,
            })
        };
        let rows = vec![
            (0, reduced(1.0)),
            (10, None),
            (20, None),
            (30, reduced(2.0)),
            (40, None),
        ];
        let filled = fill(rows, Fill::Linear, Aggregation::Mean, FieldType::Float, 10);
        let values: Vec<Cell> = filled.iter().map(|entry| entry.value.clone()).collect();
        let third = (2.0 - 1.0) / 3.0;
        assert_eq!(
            values,
            [
                Cell::Float(1.0),
                Cell::Float(third + 1.0),
                Cell::Float(third * 2.0 + 1.0),
                Cell::Float(2.0),
                Cell::Null
            ]
        );
        let derived = derivative(&filled, 10, false, false);
        assert_eq!(derived.len(), 3);
        assert_eq!(derived[2].time, 30);
    }

    #[test]
    fn math_follows_influxdb_rules() {
        let b = |lhs, op, rhs| binary(lhs, op, rhs, true);
        assert_eq!(
            b(Cell::Integer(7), BinaryOp::Div, Cell::Integer(2)),
            Cell::Float(3.5)
        );
        assert_eq!(
            b(Cell::Integer(7), BinaryOp::Div, Cell::Integer(0)),
            Cell::Float(0.0)
        );
        assert_eq!(
            binary(Cell::Integer(7), BinaryOp::Div, Cell::Integer(2), false),
            Cell::Integer(3)
        );
        assert_eq!(
            b(Cell::Float(1.5), BinaryOp::Mul, Cell::Integer(2)),
            Cell::Float(3.0)
        );
        assert_eq!(b(Cell::Null, BinaryOp::Add, Cell::Integer(2)), Cell::Null);
        assert_eq!(
            b(Cell::Null, BinaryOp::Gt, Cell::Integer(2)),
            Cell::Boolean(false)
        );
        assert_eq!(
            b(Cell::Null, BinaryOp::Or, Cell::Boolean(true)),
            Cell::Boolean(true)
        );
        assert_eq!(
            b(
                Cell::String("a".into()),
                BinaryOp::NotEq,
                Cell::String("b".into())
            ),
            Cell::Boolean(true)
        );
    }

    fn store_with(lines: &str) -> (tempfile::TempDir, Store) {
        let folder = tempfile::tempdir().unwrap();
        let options = crate::store::Options {
            background: false,
            ..crate::store::Options::default()
        };
        let store = Store::open(folder.path(), options).unwrap();
        let parsed = crate::line_protocol::parse(
            lines.as_bytes(),
            crate::line_protocol::Precision::Seconds,
            0,
        );
        assert!(parsed.errors.is_empty());
        store.write("p", &parsed.points).unwrap();
        (folder, store)
    }

    fn run(store: &Store, query: &str) -> Result<Vec<Series>, String> {
        let statements = crate::influxql::parse(query).unwrap();
        execute(store, "p", &statements[0], 1_000 * SECOND_NS)
    }

    #[test]
    fn other_databases_and_unsupported_clauses_are_refused_clearly() {
        let (_folder, store) = store_with("cpu,host=a v=1 10\ncpu,host=b v=2 20\n");
        let statements = crate::influxql::parse(
            r#"SELECT v FROM "other"."autogen"."cpu"; SHOW TAG KEYS ON "other"; SHOW MEASUREMENTS"#,
        )
        .unwrap();
        let databases: Vec<Option<&str>> = statements.iter().map(database_of).collect();
        assert_eq!(databases, [Some("other"), Some("other"), None]);
        for statement in &statements[..2] {
            let error = execute(&store, "p", statement, 0).unwrap_err();
            assert!(error.contains("\"other\""), "{error}");
        }
        let error = run(
            &store,
            "SELECT mean(v) FROM cpu GROUP BY time(1s) tz('Europe/Paris')",
        );
        assert!(error.unwrap_err().contains("tz()"));
        let error = run(&store, "SELECT top(v, 3) FROM cpu").unwrap_err();
        assert_eq!(error, "jeny does not support top() yet");
        let error = run(&store, "SELECT count(distinct(v)) FROM cpu").unwrap_err();
        assert_eq!(error, "jeny does not support distinct() yet");
    }

    #[test]
    fn buckets_beyond_the_cap_are_refused_before_reading() {
        let (_folder, store) = store_with("cpu,host=a v=1 10\n");
        let query =
            "SELECT count(v) FROM cpu WHERE time >= 0s AND time < 200000s GROUP BY time(1s)";
        let error = run(&store, query).unwrap_err();
        assert!(
            error.contains("200000") && error.contains("100000"),
            "{error}"
        );
        // without a lower bound, buckets start at the first point's
        let answer = run(
            &store,
            "SELECT count(v) FROM cpu WHERE time <= 30s GROUP BY time(10s)",
        );
        let values = &answer.unwrap()[0].values;
        let times: Vec<&Cell> = values.iter().map(|row| &row[0]).collect();
        assert_eq!(
            times,
            [
                &Cell::Time(10 * SECOND_NS),
                &Cell::Time(20 * SECOND_NS),
                &Cell::Time(30 * SECOND_NS)
            ]
        );
    }

    #[test]
    fn column_names_resolve_duplicates_as_influxdb_does() {
        let statement = crate::influxql::parse(
            "SELECT mean(a), mean(b) * 2, a + b, max(a) AS mean_1, mean(c) FROM m",
        )
        .unwrap();
        let Statement::Select(select) = &statement[0] else {
            panic!("a select")
        };
        assert_eq!(
            column_names(&select.fields),
            ["mean", "mean_2", "a_b", "mean_1", "mean_3"]
        );
    }
}
