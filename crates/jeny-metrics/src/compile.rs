//! The query model compiled to InfluxQL: one `SELECT` per query, which runs unchanged on an
//! InfluxDB and on the embedded store, and is echoed in the answer so that people can paste it
//! into another tool.

use std::collections::BTreeMap;

use jeny_api::Invalid;
use jeny_api::metrics::{MetricQuery, parse_duration};

use crate::influxql::{
    BinaryOp, Dimension, Expr, Field, Fill, Measurement, MeasurementName, SelectStatement,
    Statement, TimeOffset, render,
};

/// Round bucket widths, in seconds: an automatic interval is the first at least as wide as the
/// range over `max_points`.
const ROUND_WIDTHS_S: &[i64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    604_800, 2_592_000,
];

/// A query ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub statement: SelectStatement,
    pub influxql: String,
    pub interval_ns: i64,
}

/// The interval a query gets: what it asks, but never finer than `(to - from) / max_points`;
/// without one, that finest rounded up to a round width.
pub fn interval(asked: Option<i64>, from_ns: i64, to_ns: i64, max_points: u32) -> i64 {
    let span = (to_ns - from_ns).max(1);
    let n = i64::from(max_points.max(1));
    let finest = (span + n - 1) / n;
    match asked {
        Some(asked) if asked >= finest => asked,
        _ => ROUND_WIDTHS_S
            .iter()
            .map(|s| s * 1_000_000_000)
            .find(|&w| w >= finest)
            .unwrap_or(finest),
    }
}

fn aggregation(text: &str, field: Expr, at: &str) -> Result<Expr, Invalid> {
    let text = text.trim();
    let call = |name: &str, args: Vec<Expr>| Expr::Call(name.to_owned(), args);
    if let Some(inner) = text.strip_suffix(')') {
        let (name, arg) = inner
            .split_once('(')
            .ok_or_else(|| Invalid::new(at, format!("{text:?} is not an aggregation")))?;
        return match name.trim() {
            "percentile" => {
                let n: f64 = arg.trim().parse().map_err(|_| {
                    Invalid::new(at, "percentile(N) takes a number N, 0 < N <= 100")
                })?;
                if !(n > 0.0 && n <= 100.0) {
                    return Err(Invalid::new(at, "percentile(N) takes 0 < N <= 100"));
                }
                let n = if n.fract() == 0.0 {
                    Expr::Integer(n as i64)
                } else {
                    Expr::Float(n)
                };
                Ok(call("percentile", vec![field, n]))
            }
            kind @ ("non_negative_derivative" | "derivative") => {
                let unit = parse_duration(arg, at)?;
                Ok(call(
                    kind,
                    vec![call("mean", vec![field]), Expr::Duration(unit)],
                ))
            }
            other => Err(Invalid::new(
                at,
                format!(
                    "{other}(...) is not an aggregation: percentile(N), non_negative_derivative(unit) or derivative(unit)"
                ),
            )),
        };
    }
    match text {
        "count" | "sum" | "mean" | "median" | "min" | "max" | "first" | "last" | "spread"
        | "stddev" => Ok(call(text, vec![field])),
        _ => Err(Invalid::new(
            at,
            format!(
                "{text:?} is not an aggregation: count, sum, mean, median, min, max, first, last, spread, stddev, percentile(N), non_negative_derivative(unit), derivative(unit)"
            ),
        )),
    }
}

fn fill(text: &str, at: &str) -> Result<Fill, Invalid> {
    Ok(match text.trim() {
        "null" => Fill::Null,
        "none" => Fill::None,
        "previous" => Fill::Previous,
        "linear" => Fill::Linear,
        number => {
            if let Ok(i) = number.parse::<i64>() {
                Fill::Integer(i)
            } else if let Ok(f) = number.parse::<f64>()
                && f.is_finite()
            {
                Fill::Float(f)
            } else {
                return Err(Invalid::new(
                    at,
                    format!("{number:?} is not a fill: null, none, previous, linear or a number"),
                ));
            }
        }
    })
}

fn not_empty(text: &str, at: &str, what: &str) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid::new(at, format!("{what} cannot be empty")));
    }
    Ok(())
}

/// Compiles query `index` of a request over `[from_ns, to_ns]`.
pub fn compile(
    index: usize,
    query: &MetricQuery,
    from_ns: i64,
    to_ns: i64,
    max_points: u32,
    variables: &BTreeMap<String, String>,
) -> Result<Compiled, Invalid> {
    let at = |name: &str| format!("queries[{index}].{name}");
    not_empty(&query.reference, &at("ref"), "ref")?;
    not_empty(&query.measurement, &at("measurement"), "measurement")?;
    not_empty(&query.field, &at("field"), "field")?;
    let asked = query
        .interval
        .as_deref()
        .map(|i| parse_duration(i, &at("interval")))
        .transpose()?;
    let interval_ns = interval(asked, from_ns, to_ns, max_points);
    let field = Expr::VarRef(query.field.clone(), None);
    let expr = aggregation(
        query.aggregation.as_deref().unwrap_or("mean"),
        field,
        &at("aggregation"),
    )?;
    let mut condition: Option<Expr> = None;
    let mut and = |e: Expr| {
        condition = Some(match condition.take() {
            None => e,
            Some(c) => Expr::Binary(Box::new(c), BinaryOp::And, Box::new(e)),
        });
    };
    for (i, c) in query.conditions.iter().enumerate() {
        let here = at(&format!("where[{i}]"));
        not_empty(&c.tag, &format!("{here}.tag"), "a condition's tag")?;
        let value = match c.value.strip_prefix('$') {
            Some(name) => variables.get(name).cloned().ok_or_else(|| {
                Invalid::new(
                    format!("{here}.value"),
                    format!("the variable ${name} has no value in `variables`"),
                )
            })?,
            None => c.value.clone(),
        };
        let (op, rhs) = match c.op.as_str() {
            "=" => (BinaryOp::Eq, Expr::String(value)),
            "!=" => (BinaryOp::NotEq, Expr::String(value)),
            "=~" => (BinaryOp::EqRegex, Expr::Regex(value)),
            "!~" => (BinaryOp::NotEqRegex, Expr::Regex(value)),
            other => {
                return Err(Invalid::new(
                    format!("{here}.op"),
                    format!("{other:?} is not an operator: =, !=, =~ or !~"),
                ));
            }
        };
        and(Expr::Binary(
            Box::new(Expr::VarRef(c.tag.clone(), None)),
            op,
            Box::new(rhs),
        ));
    }
    let time = |op, ns| {
        Expr::Binary(
            Box::new(Expr::VarRef("time".into(), None)),
            op,
            Box::new(Expr::Duration(ns)),
        )
    };
    and(time(BinaryOp::GtEq, from_ns));
    and(time(BinaryOp::LtEq, to_ns));
    let mut dimensions = vec![Dimension::Time(interval_ns, None)];
    for (i, tag) in query.group_by.iter().enumerate() {
        not_empty(tag, &at(&format!("group_by[{i}]")), "a group_by tag")?;
        dimensions.push(Dimension::Tag(tag.clone()));
    }
    let statement = SelectStatement {
        fields: vec![Field { expr, alias: None }],
        sources: vec![Measurement {
            database: None,
            retention_policy: None,
            name: MeasurementName::Name(query.measurement.clone()),
        }],
        condition,
        dimensions,
        fill: query
            .fill
            .as_deref()
            .map(|f| fill(f, &at("fill")))
            .transpose()?,
        order: None,
        limit: None,
        offset: None,
        series_limit: None,
        series_offset: None,
        time_zone: None,
    };
    let influxql = render(&[Statement::Select(statement.clone())]);
    Ok(Compiled {
        statement,
        influxql,
        interval_ns,
    })
}

/// The fields each rollup keeps of a field `f`, as InfluxDB names what `SELECT count(*), sum(*),
/// ... INTO` writes: `count_f`, `sum_f`, `min_f`, `max_f`, `first_f`, `last_f`.
pub const ROLLUP_AGGREGATES: [&str; 6] = ["count", "sum", "min", "max", "first", "last"];

/// A compiled query over a rollup (a retention policy that holds `count_f`, `sum_f`, ... per
/// bucket) instead of the points: the same columns, named as the aggregation, exact for `count`,
/// `sum`, `mean`, `min`, `max`, `first`, `last` and `spread`. `None` for any other aggregation,
/// or an interval the rollup's buckets do not divide.
pub fn over_rollup(
    statement: &SelectStatement,
    retention_policy: &str,
    width_ns: i64,
) -> Option<SelectStatement> {
    let [Field { expr, alias: None }] = statement.fields.as_slice() else {
        return None;
    };
    let Expr::Call(name, args) = expr else {
        return None;
    };
    let [Expr::VarRef(field, None)] = args.as_slice() else {
        return None;
    };
    let Some(Dimension::Time(interval, offset)) = statement.dimensions.first() else {
        return None;
    };
    let aligned = match offset {
        None => true,
        Some(TimeOffset::Duration(o)) => o % width_ns == 0,
        Some(TimeOffset::Now) => false,
    };
    if interval % width_ns != 0 || !aligned {
        return None;
    }
    let of = |kept: &str, outer: &str| {
        Expr::Call(
            outer.to_owned(),
            vec![Expr::VarRef(format!("{kept}_{field}"), None)],
        )
    };
    let binary = |l: Expr, op: BinaryOp, r: Expr| Expr::Binary(Box::new(l), op, Box::new(r));
    let expr = match name.as_str() {
        "count" => of("count", "sum"),
        "sum" => of("sum", "sum"),
        "mean" => binary(of("sum", "sum"), BinaryOp::Div, of("count", "sum")),
        "min" => of("min", "min"),
        "max" => of("max", "max"),
        "first" => of("first", "first"),
        "last" => of("last", "last"),
        "spread" => binary(of("max", "max"), BinaryOp::Sub, of("min", "min")),
        _ => return None,
    };
    let mut over = statement.clone();
    over.fields = vec![Field {
        expr,
        alias: Some(name.clone()),
    }];
    for source in &mut over.sources {
        source.retention_policy = Some(retention_policy.to_owned());
    }
    Some(over)
}

/// `statement` with its time range replaced by `from_ns <= time <= to_ns`.
pub fn retimed(statement: &SelectStatement, from_ns: i64, to_ns: i64) -> SelectStatement {
    fn without_time(e: Expr) -> Option<Expr> {
        match e {
            Expr::Binary(l, BinaryOp::And, r) => match (without_time(*l), without_time(*r)) {
                (Some(l), Some(r)) => Some(Expr::Binary(Box::new(l), BinaryOp::And, Box::new(r))),
                (one, other) => one.or(other),
            },
            Expr::Binary(l, _, _) if matches!(&*l, Expr::VarRef(name, _) if name == "time") => None,
            other => Some(other),
        }
    }
    let time = |op, ns| {
        Expr::Binary(
            Box::new(Expr::VarRef("time".into(), None)),
            op,
            Box::new(Expr::Duration(ns)),
        )
    };
    let and = |l: Expr, r: Expr| Expr::Binary(Box::new(l), BinaryOp::And, Box::new(r));
    let from = time(BinaryOp::GtEq, from_ns);
    let mut out = statement.clone();
    let start = match statement.condition.clone().and_then(without_time) {
        Some(rest) => and(rest, from),
        None => from,
    };
    out.condition = Some(and(start, time(BinaryOp::LtEq, to_ns)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jeny_api::metrics::TagCondition;

    const H: i64 = 3_600_000_000_000;

    fn query() -> MetricQuery {
        MetricQuery {
            reference: "A".into(),
            measurement: "deploy".into(),
            field: "duration_ms".into(),
            aggregation: Some("mean".into()),
            conditions: vec![TagCondition {
                tag: "environment".into(),
                op: "=".into(),
                value: "$env".into(),
            }],
            group_by: vec!["environment".into()],
            interval: Some("1h".into()),
            fill: Some("null".into()),
        }
    }

    #[test]
    fn a_query_compiles_to_the_influxql_grafana_would_write() {
        let vars = BTreeMap::from([("env".to_owned(), "production".to_owned())]);
        let c = compile(0, &query(), 0, 168 * H, 1000, &vars).unwrap();
        assert_eq!(c.interval_ns, H);
        let reparsed = crate::influxql::parse(&c.influxql).unwrap();
        assert_eq!(reparsed, [Statement::Select(c.statement.clone())]);
        assert!(
            c.influxql
                .starts_with("SELECT mean(\"duration_ms\") FROM \"deploy\" WHERE"),
            "{}",
            c.influxql
        );
        assert!(
            c.influxql.contains("\"environment\" = 'production'"),
            "{}",
            c.influxql
        );
        assert!(
            c.influxql
                .contains("GROUP BY time(1h), \"environment\" fill(null)"),
            "{}",
            c.influxql
        );
    }

    #[test]
    fn the_interval_is_never_finer_than_the_range_over_max_points() {
        assert_eq!(
            interval(Some(60_000_000_000), 0, 168 * H, 1000),
            60_000_000_000 * 15
        );
        assert_eq!(interval(None, 0, H, 1000), 5_000_000_000);
        assert_eq!(interval(Some(H), 0, H, 10), H);
        let mut q = query();
        q.interval = Some("1s".into());
        q.conditions.clear();
        let c = compile(0, &q, 0, 7 * 24 * H, 100, &BTreeMap::new()).unwrap();
        assert_eq!(c.interval_ns, 2 * H);
    }

    #[test]
    fn a_query_over_a_rollup_reads_its_kept_aggregates() {
        let vars = BTreeMap::from([("env".to_owned(), "production".to_owned())]);
        let c = compile(0, &query(), 0, 168 * H, 1000, &vars).unwrap();
        let over = over_rollup(&c.statement, "jeny_1h", H).unwrap();
        let text = render(&[Statement::Select(retimed(&over, 0, 24 * H - 1))]);
        assert_eq!(
            text,
            "SELECT sum(\"sum_duration_ms\") / sum(\"count_duration_ms\") AS \"mean\" FROM \"jeny_1h\".\"deploy\" \
             WHERE \"environment\" = 'production' AND \"time\" >= 0s AND \"time\" <= 86399999999999ns \
             GROUP BY time(1h), \"environment\" fill(null)"
        );
        assert!(crate::influxql::parse(&text).is_ok(), "{text}");
        // 5-minute buckets do not fit an hourly rollup; a median is not kept
        let mut q = query();
        q.interval = Some("5m".into());
        let c5 = compile(0, &q, 0, H, 1000, &vars).unwrap();
        assert!(over_rollup(&c5.statement, "jeny_1h", H).is_none());
        assert!(over_rollup(&c5.statement, "jeny_5m", H / 12).is_some());
        q.aggregation = Some("median".into());
        let median = compile(0, &q, 0, H, 1000, &vars).unwrap();
        assert!(over_rollup(&median.statement, "jeny_5m", H / 12).is_none());
    }

    #[test]
    fn bad_queries_name_their_field() {
        let vars = BTreeMap::from([("env".to_owned(), "production".to_owned())]);
        type Change = fn(&mut MetricQuery);
        let cases: [(Change, &str); 7] = [
            (
                |q| q.aggregation = Some("avg".into()),
                "queries[0].aggregation",
            ),
            (
                |q| q.aggregation = Some("percentile(101)".into()),
                "queries[0].aggregation",
            ),
            (|q| q.interval = Some("soon".into()), "queries[0].interval"),
            (|q| q.fill = Some("zero".into()), "queries[0].fill"),
            (
                |q| q.conditions[0].op = "<".into(),
                "queries[0].where[0].op",
            ),
            (
                |q| q.conditions[0].value = "$missing".into(),
                "queries[0].where[0].value",
            ),
            (|q| q.measurement = " ".into(), "queries[0].measurement"),
        ];
        for (change, field) in cases {
            let mut q = query();
            change(&mut q);
            assert_eq!(compile(0, &q, 0, H, 100, &vars).unwrap_err().field, field);
        }
        let mut q = query();
        q.aggregation = Some("non_negative_derivative(1s)".into());
        q.conditions.clear();
        let c = compile(0, &q, 0, H, 100, &vars).unwrap();
        assert!(
            c.influxql
                .starts_with("SELECT non_negative_derivative(mean(\"duration_ms\"), 1s)"),
            "{}",
            c.influxql
        );
        q.aggregation = Some("percentile(99.9)".into());
        let c = compile(0, &q, 0, H, 100, &vars).unwrap();
        assert!(
            c.influxql
                .starts_with("SELECT percentile(\"duration_ms\", 99.9)"),
            "{}",
            c.influxql
        );
    }
}
