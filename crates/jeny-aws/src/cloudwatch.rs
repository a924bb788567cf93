//! CloudWatch's GetMetricData (API 2010-08-01) in its Query protocol: up to 500 metric queries a
//! call, each one metric (namespace, name, dimensions), one period and one statistic; an answer
//! longer than a page continues with `NextToken`, the same query's datapoints spread over
//! several pages.

use crate::query_protocol::Client;
use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};
use jeny_core::Timestamp;
use std::time::Duration;

/// The CloudWatch API version whose Query protocol this speaks.
const API_VERSION: &str = "2010-08-01";
/// The most metric queries GetMetricData takes in one call.
pub(crate) const MAX_QUERIES_PER_CALL: usize = 500;

/// One metric query: what to read, at which period and statistic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricQuery {
    pub namespace: &'static str,
    pub metric: &'static str,
    /// Name and value, in the order CloudWatch knows the metric by (the set is what matters).
    pub dimensions: Vec<(&'static str, String)>,
    pub statistic: &'static str,
    pub period_secs: u64,
}

/// The datapoints of one query: (time in seconds since the epoch, value), oldest first.
pub(crate) type Datapoints = Vec<(i64, f64)>;

/// What a batch of calls gave: the datapoints of each query (by its index in the batch), how
/// many calls it took and how long they waited for AWS.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub datapoints: Vec<Datapoints>,
    pub calls: usize,
    pub waited: Duration,
}

/// Reads `queries` over `[start, end)` (seconds since the epoch, multiples of their periods):
/// calls of at most [`MAX_QUERIES_PER_CALL`] queries, each followed through its `NextToken`s.
pub(crate) async fn get_metric_data(
    client: &Client,
    queries: &[MetricQuery],
    start: i64,
    end: i64,
) -> Result<Fetched, String> {
    let mut fetched = Fetched {
        datapoints: vec![Vec::new(); queries.len()],
        ..Fetched::default()
    };
    for (chunk_index, chunk) in queries.chunks(MAX_QUERIES_PER_CALL).enumerate() {
        let offset = chunk_index * MAX_QUERIES_PER_CALL;
        let form = request_form(chunk, start, end);
        let mut next_token: Option<String> = None;
        loop {
            let mut params = form.clone();
            if let Some(token) = &next_token {
                params.push(("NextToken".to_owned(), token.clone()));
            }
            let answer = client.call(&params).await?;
            fetched.calls += 1;
            fetched.waited += answer.waited;
            let page = parse_page(&answer.body).map_err(|error| {
                format!("CloudWatch's GetMetricData answer could not be read: {error}")
            })?;
            for (id, points) in page.results {
                let Some(index) = query_index(&id).filter(|index| *index < chunk.len()) else {
                    return Err(format!(
                        "CloudWatch's GetMetricData answered a query jeny did not ask ({id})"
                    ));
                };
                fetched.datapoints[offset + index].extend(points);
            }
            match page.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => break,
            }
        }
    }
    for points in &mut fetched.datapoints {
        // pages may come in any order; CloudWatch never gives one time twice for a query
        points.sort_unstable_by_key(|(time, _)| *time);
        points.dedup_by_key(|(time, _)| *time);
    }
    Ok(fetched)
}

/// A query's id in a call: `q` and its index (ids must start with a lowercase letter).
fn query_id(index: usize) -> String {
    format!("q{index}")
}

fn query_index(id: &str) -> Option<usize> {
    id.strip_prefix('q')?.parse().ok()
}

/// The form of one GetMetricData call (without its `NextToken`).
fn request_form(queries: &[MetricQuery], start: i64, end: i64) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = Vec::with_capacity(8 + queries.len() * 9);
    let mut push = |key: String, value: String| form.push((key, value));
    push("Action".to_owned(), "GetMetricData".to_owned());
    push("Version".to_owned(), API_VERSION.to_owned());
    push("StartTime".to_owned(), iso8601(start));
    push("EndTime".to_owned(), iso8601(end));
    push("ScanBy".to_owned(), "TimestampAscending".to_owned());
    for (index, query) in queries.iter().enumerate() {
        let prefix = format!("MetricDataQueries.member.{}", index + 1);
        push(format!("{prefix}.Id"), query_id(index));
        push(
            format!("{prefix}.MetricStat.Metric.Namespace"),
            query.namespace.to_owned(),
        );
        push(
            format!("{prefix}.MetricStat.Metric.MetricName"),
            query.metric.to_owned(),
        );
        for (n, (name, value)) in query.dimensions.iter().enumerate() {
            let dimension = format!("{prefix}.MetricStat.Metric.Dimensions.member.{}", n + 1);
            push(format!("{dimension}.Name"), (*name).to_owned());
            push(format!("{dimension}.Value"), value.clone());
        }
        push(
            format!("{prefix}.MetricStat.Period"),
            query.period_secs.to_string(),
        );
        push(
            format!("{prefix}.MetricStat.Stat"),
            query.statistic.to_owned(),
        );
        push(format!("{prefix}.ReturnData"), "true".to_owned());
    }
    form
}

/// Seconds since the epoch as CloudWatch takes a time: `2026-12-08T10:05:00Z`.
fn iso8601(seconds: i64) -> String {
    let text = Timestamp::from_micros(seconds.saturating_mul(1_000_000)).to_rfc3339();
    // to_rfc3339 writes microseconds; CloudWatch's times are whole seconds
    match text.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => text,
    }
}

/// One page of a GetMetricData answer.
#[derive(Debug, Default, PartialEq)]
struct Page {
    /// Each query's id with its datapoints on this page.
    results: Vec<(String, Datapoints)>,
    next_token: Option<String>,
}

fn parse_page(text: &str) -> Result<Page, XmlDecodeError> {
    let mut document = Document::new(text);
    let mut root = document.root_element()?;
    if !root.start_el().matches("GetMetricDataResponse") {
        return Err(XmlDecodeError::custom(format!(
            "expected GetMetricDataResponse, found {}",
            root.start_el().local()
        )));
    }
    let mut page = Page::default();
    while let Some(mut result) = root.next_tag() {
        if !result.start_el().matches("GetMetricDataResult") {
            continue;
        }
        while let Some(mut part) = result.next_tag() {
            if part.start_el().matches("NextToken") {
                page.next_token = Some(try_data(&mut part)?.into_owned());
            } else if part.start_el().matches("MetricDataResults") {
                while let Some(mut member) = part.next_tag() {
                    page.results.push(parse_result(&mut member)?);
                }
            }
        }
    }
    Ok(page)
}

/// One `MetricDataResults` member: its id, and its timestamps paired with its values.
fn parse_result(
    member: &mut ScopedDecoder<'_, '_>,
) -> Result<(String, Datapoints), XmlDecodeError> {
    let mut id = None;
    let mut times: Vec<i64> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    while let Some(mut field) = member.next_tag() {
        if field.start_el().matches("Id") {
            id = Some(try_data(&mut field)?.into_owned());
        } else if field.start_el().matches("Timestamps") {
            while let Some(mut time) = field.next_tag() {
                let text = try_data(&mut time)?;
                let parsed = Timestamp::parse_rfc3339(&text).ok_or_else(|| {
                    XmlDecodeError::custom(format!("{text:?} is not a CloudWatch time"))
                })?;
                times.push(parsed.as_micros().div_euclid(1_000_000));
            }
        } else if field.start_el().matches("Values") {
            while let Some(mut value) = field.next_tag() {
                let text = try_data(&mut value)?;
                values.push(text.trim().parse().map_err(|_| {
                    XmlDecodeError::custom(format!("{text:?} is not a CloudWatch value"))
                })?);
            }
        }
    }
    let id = id.ok_or_else(|| XmlDecodeError::custom("a metric data result without its Id"))?;
    if times.len() != values.len() {
        return Err(XmlDecodeError::custom(format!(
            "query {id}: {} timestamps for {} values",
            times.len(),
            values.len()
        )));
    }
    Ok((id, times.into_iter().zip(values).collect()))
}

/// The datapoints of queries answered by id, for tests of the paging rule.
#[cfg(test)]
fn merged(pages: &[&str]) -> std::collections::HashMap<String, Datapoints> {
    let mut merged = std::collections::HashMap::<String, Datapoints>::new();
    for text in pages {
        for (id, points) in parse_page(text).unwrap().results {
            merged.entry(id).or_default().extend(points);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST_PAGE: &str = r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult>
    <MetricDataResults>
      <member>
        <Id>q0</Id>
        <Label>CPUUtilization</Label>
        <Timestamps><member>2026-12-08T10:00:00Z</member><member>2026-12-08T10:01:00.000Z</member></Timestamps>
        <Values><member>12.5</member><member>1.0E2</member></Values>
        <StatusCode>PartialData</StatusCode>
      </member>
      <member>
        <Id>q1</Id>
        <Timestamps/>
        <Values/>
        <StatusCode>Complete</StatusCode>
      </member>
    </MetricDataResults>
    <NextToken>page-2</NextToken>
    <Messages/>
  </GetMetricDataResult>
  <ResponseMetadata><RequestId>1f3b</RequestId></ResponseMetadata>
</GetMetricDataResponse>"#;

    const SECOND_PAGE: &str = r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult>
    <MetricDataResults>
      <member>
        <Id>q0</Id>
        <Timestamps><member>2026-12-08T10:02:00Z</member></Timestamps>
        <Values><member>7</member></Values>
        <StatusCode>Complete</StatusCode>
      </member>
    </MetricDataResults>
  </GetMetricDataResult>
</GetMetricDataResponse>"#;

    #[test]
    fn a_page_gives_each_querys_datapoints_and_the_next_token() {
        let page = parse_page(FIRST_PAGE).unwrap();
        let ten = 1_796_724_000; // 2026-12-08T10:00:00Z
        assert_eq!(page.next_token.as_deref(), Some("page-2"));
        assert_eq!(
            page.results,
            vec![
                ("q0".to_owned(), vec![(ten, 12.5), (ten + 60, 100.0)]),
                ("q1".to_owned(), vec![]),
            ]
        );
        assert_eq!(parse_page(SECOND_PAGE).unwrap().next_token, None);
    }

    #[test]
    fn a_query_continues_on_the_next_page() {
        let merged = merged(&[FIRST_PAGE, SECOND_PAGE]);
        let times: Vec<i64> = merged["q0"].iter().map(|(time, _)| *time).collect();
        let ten = 1_796_724_000;
        assert_eq!(times, vec![ten, ten + 60, ten + 120]);
    }

    #[test]
    fn broken_answers_are_refused() {
        assert!(parse_page("<html>a captive portal</html>").is_err());
        assert!(parse_page("not xml").is_err());
        let uneven = FIRST_PAGE.replace("<member>1.0E2</member>", "");
        assert!(parse_page(&uneven).is_err());
        let bad_value = FIRST_PAGE.replace("12.5", "twelve");
        assert!(parse_page(&bad_value).is_err());
        let bad_time = FIRST_PAGE.replace("2026-12-08T10:00:00Z", "yesterday");
        assert!(parse_page(&bad_time).is_err());
    }

    #[test]
    fn a_call_names_each_query_its_dimensions_period_and_statistic() {
        let query = MetricQuery {
            namespace: "AWS/ApplicationELB",
            metric: "RequestCount",
            dimensions: vec![
                ("TargetGroup", "targetgroup/web/73e2d6bc24d8a067".to_owned()),
                ("LoadBalancer", "app/web/50dc6c495c0c9188".to_owned()),
            ],
            statistic: "Sum",
            period_secs: 60,
        };
        let form = request_form(&[query], 1_796_724_000, 1_796_724_300);
        let get = |key: &str| {
            form.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{key} missing"))
        };
        assert_eq!(get("Action"), "GetMetricData");
        assert_eq!(get("StartTime"), "2026-12-08T10:00:00Z");
        assert_eq!(get("EndTime"), "2026-12-08T10:05:00Z");
        assert_eq!(get("MetricDataQueries.member.1.Id"), "q0");
        assert_eq!(
            get("MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.2.Value"),
            "app/web/50dc6c495c0c9188"
        );
        assert_eq!(get("MetricDataQueries.member.1.MetricStat.Period"), "60");
        assert_eq!(get("MetricDataQueries.member.1.MetricStat.Stat"), "Sum");
        assert_eq!(query_index("q499"), Some(499));
        assert_eq!(query_index("x1"), None);
    }
}
