//! Prometheus remote write, as InfluxDB 1.x takes it, so that a Prometheus (or anything speaking
//! its remote-write protocol: Grafana Agent, vmagent, OpenTelemetry's exporter) sends what it
//! scrapes to jeny: `POST /api/v1/prom/write?db=<project>` with a snappy-compressed (block
//! format) protobuf `prometheus.WriteRequest`.
//!
//! Each sample becomes a point as InfluxDB 1.x makes it: the metric name (the `__name__` label)
//! is the measurement (`prom_metric_not_specified` without one), every label is a tag
//! (`__name__` included, as InfluxDB keeps it), the value is the float field `value`, and the
//! time is the sample's milliseconds. Samples InfluxDB cannot store are dropped and the rest
//! written, as InfluxDB 1.8 does: NaN (which includes Prometheus's staleness markers), +Inf and
//! -Inf. A label with an empty value is no label (as in Prometheus and in InfluxDB's series
//! keys). Credentials, the project and the answers are `/write`'s (`influx.rs`): a deployer's
//! or an agent's token, 204, or InfluxDB 1.x's `{"error":...}`.

use axum::Router;
use axum::extract::{RawQuery, Request, State};
use axum::response::Response;
use axum::routing::post;
use http::StatusCode;

use super::influx::{
    Dialect, InfluxError, InfluxV1Error, MAX_DECODED_BYTES, authorized_body, no_content, pairs,
    param, store_error,
};
use crate::line_protocol::{FieldValue, Point};
use crate::service::Metrics;

/// Prometheus's remote-write messages (`prompb/remote.proto` and `prompb/types.proto`), the
/// fields InfluxDB 1.x reads. Other fields (metadata, exemplars, native histograms) are skipped
/// when decoding, as protobuf skips unknown fields.
pub mod prompb {
    /// What one remote-write request carries.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// One series: its labels (`__name__` among them) and its samples.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        /// milliseconds since the epoch
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

pub fn routes(metrics: Metrics) -> Router {
    Router::new()
        .route("/api/v1/prom/write", post(remote_write))
        .with_state(metrics)
}

/// The label that holds a metric's name.
const NAME_LABEL: &str = "__name__";
/// The measurement of a series without a name, as InfluxDB 1.x calls it.
const UNNAMED_MEASUREMENT: &str = "prom_metric_not_specified";
/// The one field every sample is written to.
const VALUE_FIELD: &str = "value";
/// InfluxDB's longest series key: the measurement and tags as line protocol writes them, then 4
/// bytes and the field key.
const MAX_KEY_LENGTH: usize = 65535;

/// A snappy-compressed (block format, not framed) protobuf `prometheus.WriteRequest`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PromWriteRequest(pub Vec<u8>);

/// The samples a request carried that InfluxDB cannot store, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub nan: u64,
    pub positive_infinity: u64,
    pub negative_infinity: u64,
}

impl Dropped {
    fn total(&self) -> u64 {
        self.nan + self.positive_infinity + self.negative_infinity
    }
}

/// Prometheus remote write (InfluxDB 1.x's `/api/v1/prom/write`): the snappy-compressed
/// protobuf `WriteRequest` that Prometheus's `remote_write` sends, into project `db`. Each sample
/// is a point: measurement the metric name, tags every label (`__name__` included), the float
/// field `value`, the sample's time; NaN (staleness markers included) and infinite samples are
/// dropped, as InfluxDB does. Credentials as for `/write`: a deployer's token of the project or
/// an agent's, as `Authorization: Bearer <t>` (Prometheus's `authorization: {credentials: <t>}`),
/// Basic (the token as password) or `?p=<t>`.
#[utoipa::path(
    post,
    path = "/api/v1/prom/write",
    tag = "influxdb",
    params(
        ("db" = String, Query, description = "The project"),
        ("rp" = Option<String>, Query, description = "Retention policy (ignored: retention is the project's)"),
        ("u" = Option<String>, Query, description = "User name (ignored)"),
        ("p" = Option<String>, Query, description = "The token, as InfluxDB clients send a password"),
    ),
    request_body(
        description = "A snappy-compressed (block format) protobuf prometheus.WriteRequest, as Prometheus's remote_write sends it (Content-Type: application/x-protobuf, Content-Encoding: snappy); the Content-Type is not checked",
        content(
            (PromWriteRequest = "application/x-protobuf"),
            (PromWriteRequest = "application/octet-stream")
        )
    ),
    security(("influxdb" = [])),
    responses(
        (status = 204, description = "Every sample written, durably (NaN and infinite ones dropped)"),
        (status = 400, description = "Not snappy, not a WriteRequest, a sample InfluxDB would refuse (nothing written), or points refused by the store", body = InfluxV1Error),
        (status = 401, description = "No token, or not a valid one", body = InfluxV1Error),
        (status = 403, description = "Not a deployer of the project", body = InfluxV1Error),
        (status = 404, description = "No such project", body = InfluxV1Error),
        (status = 413, description = "Body too large, or it expands to more than 256 MiB", body = InfluxV1Error),
        (status = 503, description = "The metrics store cannot write (a full disk, say)", body = InfluxV1Error),
    )
)]
pub async fn remote_write(
    State(metrics): State<Metrics>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, InfluxError> {
    let d = Dialect::V1;
    let pairs = pairs(query.as_deref());
    let (mut parts, body) = request.into_parts();
    let project = param(&pairs, "db").unwrap_or("").to_owned();
    let body = authorized_body(d, &metrics, &mut parts, body, &pairs, &project).await?;
    // InfluxDB reads the body as snappy whatever Content-Encoding says, and so does jeny
    let request = decode(&body)?;
    let (points, dropped) = points_of(request)
        .map_err(|message| InfluxError::new(d, StatusCode::BAD_REQUEST, message))?;
    if dropped.total() > 0 {
        tracing::debug!(
            project = %project,
            nan = dropped.nan,
            positive_infinity = dropped.positive_infinity,
            negative_infinity = dropped.negative_infinity,
            "dropped unsupported prometheus values"
        );
    }
    if points.is_empty() {
        return Ok(no_content());
    }
    let written = metrics
        .write(&project, points)
        .await
        .map_err(|e| store_error(d, e))?;
    match written.reason {
        Some(reason) => Err(InfluxError::new(d, StatusCode::BAD_REQUEST, reason)),
        None => Ok(no_content()),
    }
}

/// The body unsnapped and decoded: 400 for what is not snappy or not a `WriteRequest`, 413 for
/// what would expand past `MAX_DECODED_BYTES`.
fn decode(body: &[u8]) -> Result<prompb::WriteRequest, InfluxError> {
    use prost::Message as _;
    let bad = |message: String| InfluxError::new(Dialect::V1, StatusCode::BAD_REQUEST, message);
    let length = snap::raw::decompress_len(body).map_err(|e| bad(e.to_string()))?;
    if length as u64 > MAX_DECODED_BYTES {
        return Err(InfluxError::new(
            Dialect::V1,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body expands to more than {MAX_DECODED_BYTES} bytes"),
        ));
    }
    let decoded = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| bad(e.to_string()))?;
    prompb::WriteRequest::decode(decoded.as_slice())
        .map_err(|e| bad(format!("the body is not a Prometheus WriteRequest: {e}")))
}

/// A request's samples as points, as InfluxDB 1.x converts them, with the samples it drops. A
/// sample InfluxDB would refuse (a series key too long, a time it cannot hold) refuses the whole
/// request, as there.
pub fn points_of(request: prompb::WriteRequest) -> Result<(Vec<Point>, Dropped), String> {
    let mut points = Vec::with_capacity(request.timeseries.iter().map(|s| s.samples.len()).sum());
    let mut dropped = Dropped::default();
    for series in request.timeseries {
        let mut measurement = UNNAMED_MEASUREMENT.to_owned();
        let mut tags: Vec<(String, String)> = Vec::with_capacity(series.labels.len());
        for label in series.labels {
            if label.name.is_empty() || label.value.is_empty() {
                continue;
            }
            if label.name == NAME_LABEL {
                measurement.clone_from(&label.value);
            }
            tags.push((label.name, label.value));
        }
        // sorted by key; a label given twice keeps its last value, as a map would
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, String)> = Vec::with_capacity(tags.len());
        for tag in tags {
            match unique.last_mut() {
                Some(last) if last.0 == tag.0 => *last = tag,
                _ => unique.push(tag),
            }
        }
        let mut point = Point {
            measurement,
            tags: unique,
            fields: Vec::new(),
            time_ns: 0,
        };
        // a point without fields writes its series key, then " 0"
        let key_length = point.to_line().len() - " 0".len();
        let series_key_length = key_length + 4 + VALUE_FIELD.len();
        if series_key_length > MAX_KEY_LENGTH {
            return Err(format!(
                "max key length exceeded: {series_key_length} > {MAX_KEY_LENGTH}"
            ));
        }
        point
            .fields
            .push((VALUE_FIELD.to_owned(), FieldValue::Float(0.0)));
        for sample in series.samples {
            let value = sample.value;
            if value.is_nan() {
                dropped.nan += 1;
                continue;
            }
            if value == f64::INFINITY {
                dropped.positive_infinity += 1;
                continue;
            }
            if value == f64::NEG_INFINITY {
                dropped.negative_infinity += 1;
                continue;
            }
            let Some(time_ns) = sample.timestamp.checked_mul(1_000_000) else {
                return Err(format!(
                    "time outside range: a sample at {} ms is not a time InfluxDB can hold",
                    sample.timestamp
                ));
            };
            let mut sample_point = point.clone();
            sample_point.fields[0].1 = FieldValue::Float(value);
            sample_point.time_ns = time_ns;
            points.push(sample_point);
        }
    }
    Ok((points, dropped))
}

#[cfg(test)]
mod tests {
    use super::prompb::{Label, Sample, TimeSeries, WriteRequest};
    use super::*;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_sample_is_a_point_named_by_its_metric_with_every_label_a_tag() {
        let request = WriteRequest {
            timeseries: vec![series(
                &[("job", "jeny"), ("__name__", "up"), ("instance", "a:1")],
                &[(1_700_000_000_123, 1.0), (1_700_000_001_123, 0.5)],
            )],
        };
        let (points, dropped) = points_of(request).unwrap();
        assert_eq!(dropped, Dropped::default());
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].measurement, "up");
        assert_eq!(
            points[0].tags,
            owned(&[("__name__", "up"), ("instance", "a:1"), ("job", "jeny")])
        );
        assert_eq!(
            points[1].fields,
            vec![("value".to_owned(), FieldValue::Float(0.5))]
        );
        assert_eq!(points[1].time_ns, 1_700_000_001_123_000_000);
    }

    #[test]
    fn nan_stale_markers_and_infinities_are_dropped_and_the_rest_kept() {
        let stale_marker = f64::from_bits(0x7ff0_0000_0000_0002);
        let request = WriteRequest {
            timeseries: vec![series(
                &[("__name__", "m")],
                &[
                    (1, f64::NAN),
                    (2, stale_marker),
                    (3, f64::INFINITY),
                    (4, f64::NEG_INFINITY),
                    (5, 7.0),
                ],
            )],
        };
        let (points, dropped) = points_of(request).unwrap();
        assert_eq!(
            dropped,
            Dropped {
                nan: 2,
                positive_infinity: 1,
                negative_infinity: 1
            }
        );
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].time_ns, 5_000_000);
    }

    #[test]
    fn a_series_without_a_name_and_odd_labels_are_written_as_influxdb_writes_them() {
        let request = WriteRequest {
            timeseries: vec![series(
                &[("b", "1"), ("empty", ""), ("", "x"), ("b", "2"), ("a", "0")],
                &[(1, 1.0)],
            )],
        };
        let (points, _) = points_of(request).unwrap();
        assert_eq!(points[0].measurement, "prom_metric_not_specified");
        assert_eq!(points[0].tags, owned(&[("a", "0"), ("b", "2")]));
    }

    #[test]
    fn what_influxdb_would_refuse_refuses_the_request() {
        let long = "x".repeat(MAX_KEY_LENGTH);
        let too_long = WriteRequest {
            timeseries: vec![series(&[("__name__", "m"), ("k", &long)], &[(1, 1.0)])],
        };
        assert!(
            points_of(too_long)
                .unwrap_err()
                .starts_with("max key length exceeded")
        );
        let far = WriteRequest {
            timeseries: vec![series(&[("__name__", "m")], &[(i64::MAX / 1000, 1.0)])],
        };
        assert!(
            points_of(far)
                .unwrap_err()
                .starts_with("time outside range")
        );
    }

    #[test]
    fn bodies_that_are_not_snappy_or_not_a_write_request_are_refused() {
        use prost::Message as _;
        assert_eq!(decode(b"").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(decode(b"{}").unwrap_err().status, StatusCode::BAD_REQUEST);
        let not_protobuf = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff")
            .unwrap();
        let refused = decode(&not_protobuf).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.message.contains("WriteRequest"), "{refused:?}");
        let request = WriteRequest {
            timeseries: vec![series(&[("__name__", "m")], &[(1, 2.0)])],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap();
        assert_eq!(decode(&body).unwrap(), request);
    }
}
