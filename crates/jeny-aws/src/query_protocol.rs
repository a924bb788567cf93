//! AWS's Query protocol, which EC2, CloudWatch and Elastic Load Balancing all speak: a
//! form-encoded POST signed with Signature Version 4 by `aws-sigv4`, an XML answer read with
//! `aws-smithy-xml` (the SDK's own signer and XML reader). Credentials come from `aws-config` as
//! the account says: static keys, a profile, the default chain, then a role to assume with an
//! external id. One [`Session`] per account and region resolves them once; each service's client
//! ([`Session::client`]) signs with them.
//!
//! Why not the generated `aws-sdk-*` clients: each holds every operation of its service
//! (hundreds for EC2); `aws-sdk-ec2` alone was about 10 of a first release build's 16 minutes and
//! a large part of the binary (issue 15, `docs/performance.md`, "First build and binary"). jeny
//! makes a handful of calls; the tests run them against a local AWS emulator whose resources the
//! real SDKs create.
//!
//! Throttling and transient failures are retried as the SDKs' standard mode does: four attempts,
//! jittered exponential backoff from 300 ms; the next periodic round is the longer-term retry.

use crate::model::AwsAccount;
use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_xml::decode::{Document, try_data};
use jeny_core::ErrorChain;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The first retry's backoff; each next one doubles, jittered, at most [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(300);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client aws-config fetches credentials with (STS, the instance metadata service),
/// shared by every session: connection pools are per client.
fn credentials_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    static CLIENT: OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient> =
        OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https()
        })
        .clone()
}

/// The client every AWS request goes through, shared by every session.
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .expect("an HTTP client with rustls builds")
    })
}

/// The credentials to reach an account with.
pub(crate) struct AccountCredentials {
    pub secret_access_key: Option<String>,
}

/// An account's credentials resolved for one region.
pub(crate) struct Session {
    region: String,
    credentials: Credentials,
    endpoint_url: Option<String>,
}

/// One service of AWS, as its Query API is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Ec2,
    CloudWatch,
    /// Elastic Load Balancing: application and network load balancers (API 2015-12-01) and
    /// classic ones (API 2012-06-01) share its endpoint.
    Elb,
}

impl Service {
    /// The name requests are signed for.
    fn signing_name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::CloudWatch => "monitoring",
            Service::Elb => "elasticloadbalancing",
        }
    }

    /// What its errors call it.
    fn label(self) -> &'static str {
        match self {
            Service::Ec2 => "EC2",
            Service::CloudWatch => "CloudWatch",
            Service::Elb => "Elastic Load Balancing",
        }
    }
}

/// The session for `region` of `account`; the credentials' error as a sentence otherwise.
pub(crate) async fn session(
    account: &AwsAccount,
    credentials: &AccountCredentials,
    region: &str,
) -> Result<Session, String> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .http_client(credentials_http_client());
    if let Some(profile) = &account.profile {
        loader = loader.profile_name(profile);
    }
    if let (Some(key), Some(secret)) = (&account.access_key_id, &credentials.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            key.clone(),
            secret.clone(),
            None,
            None,
            "jeny-aws-account",
        ));
    }
    // STS is asked at the account's endpoint too, so that an emulator answers both
    if let Some(endpoint) = &account.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let config = loader.load().await;
    let mut provider = config
        .credentials_provider()
        .ok_or("no AWS credentials: give the account keys or a profile, or run jeny where the default chain finds some")?;
    if let Some(role_arn) = &account.role_arn {
        let mut role = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(format!("jeny-{}", account.name))
            .configure(&config);
        if let Some(external_id) = &account.external_id {
            role = role.external_id(external_id.clone());
        }
        provider = SharedCredentialsProvider::new(role.build().await);
    }
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|error| format!("AWS credentials: {}", ErrorChain(&error)))?;
    Ok(Session {
        region: region.to_owned(),
        credentials,
        endpoint_url: account.endpoint_url.clone(),
    })
}

impl Session {
    /// A client of `service` in this session's region, at the account's endpoint if it names
    /// one (an emulator answers every service at one address), else at AWS's own.
    pub(crate) fn client(&self, service: Service) -> Client {
        Client {
            endpoint: self
                .endpoint_url
                .clone()
                .unwrap_or_else(|| default_endpoint(service, &self.region)),
            region: self.region.clone(),
            service,
            credentials: self.credentials.clone(),
        }
    }
}

/// A service's public endpoint in `region`: `amazonaws.com.cn` in the China regions,
/// `amazonaws.com` elsewhere (other partitions set the account's `endpoint_url`).
fn default_endpoint(service: Service, region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let host = match service {
        Service::Ec2 => "ec2",
        Service::CloudWatch => "monitoring",
        Service::Elb => "elasticloadbalancing",
    };
    format!("https://{host}.{region}.{domain}/")
}

/// A client of one service in one region, its credentials resolved.
pub(crate) struct Client {
    endpoint: String,
    region: String,
    service: Service,
    credentials: Credentials,
}

/// A request's answer, and how long it took to come (the time spent waiting for AWS, which an
/// import reports apart from its own).
pub(crate) struct Answer {
    pub body: String,
    pub waited: Duration,
}

impl Client {
    /// One action with its parameters (`Action` and `Version` included), signed, retried on
    /// throttling and transient failures; the answer's body, or AWS's error as it said it.
    pub(crate) async fn call(&self, params: &[(String, String)]) -> Result<Answer, String> {
        let body = {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            serializer.extend_pairs(params.iter());
            serializer.finish()
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (retryable, error) = match self.attempt_once(&body).await {
                Ok(text) => {
                    return Ok(Answer {
                        body: text,
                        waited: started.elapsed(),
                    });
                }
                Err(failure) => failure,
            };
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(error);
            }
            tracing::debug!(
                service = self.service.label(), region = %self.region, attempt, %error,
                "AWS request retried"
            );
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// The request for `body`, signed for now.
    fn signed_request(&self, body: &str) -> Result<reqwest::RequestBuilder, String> {
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity = self.credentials.clone().into();
        let what = self.service.label();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| format!("signing a {what} request: {error}"))?
            .into();
        let signed = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .and_then(|request| sign(request, &params))
        .map_err(|error| format!("signing a {what} request: {}", ErrorChain(&error)))?;
        let (instructions, _signature) = signed.into_parts();
        let mut request = http()
            .post(&self.endpoint)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body.to_owned());
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        Ok(request)
    }

    /// One attempt: the body, or whether to retry and the error.
    async fn attempt_once(&self, body: &str) -> Result<String, (bool, String)> {
        let what = self.service.label();
        let request = self.signed_request(body).map_err(|error| (false, error))?;
        let response = match request.send().await {
            Ok(response) => response,
            // connection refused, reset, timed out: transient
            Err(error) => {
                return Err((
                    true,
                    format!("{what} in {}: {}", self.region, ErrorChain(&error)),
                ));
            }
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(error) => {
                return Err((
                    true,
                    format!("{what} in {}: {}", self.region, ErrorChain(&error)),
                ));
            }
        };
        if status.is_success() {
            return Ok(text);
        }
        let (code, message) = parse_error(&text).unwrap_or_default();
        let retryable = status.is_server_error() || is_throttling(&code);
        let error = if code.is_empty() {
            format!("{what} in {} answered {status}", self.region)
        } else {
            format!("{code}: {message} ({what} in {}, {status})", self.region)
        };
        Err((retryable, error))
    }
}

/// The wait before retry `attempt` + 1: a random share of 300 ms × 2^(attempt − 1), at most 20 s
/// ("full jitter", as the SDKs' standard retry mode).
fn backoff(attempt: u32) -> Duration {
    let ceiling = INITIAL_BACKOFF
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(MAX_BACKOFF);
    let mut random = [0u8; 4];
    // a clock-based fallback is fine for jitter if the OS cannot give randomness
    let fraction = match getrandom::getrandom(&mut random) {
        Ok(()) => f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    ceiling.mul_f64(fraction.max(0.1))
}

/// The error codes AWS's SDKs retry as throttling.
fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "InternalError"
    )
}

/// The code and message of an error document: EC2's
/// `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>…</Response>`,
/// or the other Query services' `<ErrorResponse><Error><Type/><Code/><Message/></Error>…`.
fn parse_error(text: &str) -> Option<(String, String)> {
    let mut document = Document::new(text);
    let mut root = document.root_element().ok()?;
    while let Some(mut child) = root.next_tag() {
        if child.start_el().matches("Errors") {
            while let Some(mut error) = child.next_tag() {
                if error.start_el().matches("Error") {
                    return read_error(&mut error);
                }
            }
        } else if child.start_el().matches("Error") {
            return read_error(&mut child);
        }
    }
    None
}

fn read_error(
    error: &mut aws_smithy_xml::decode::ScopedDecoder<'_, '_>,
) -> Option<(String, String)> {
    let (mut code, mut message) = (String::new(), String::new());
    while let Some(mut field) = error.next_tag() {
        if field.start_el().matches("Code") {
            code = try_data(&mut field).ok()?.into_owned();
        } else if field.start_el().matches("Message") {
            message = try_data(&mut field).ok()?.into_owned();
        }
    }
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_errors_give_their_code_and_message() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>ab12</RequestID></Response>"#;
        assert_eq!(
            parse_error(text),
            Some((
                "AuthFailure".to_owned(),
                "AWS was not able to validate the provided access credentials".to_owned()
            ))
        );
        assert_eq!(parse_error("<html>502 Bad Gateway</html>"), None);
        assert_eq!(parse_error(""), None);
        assert!(is_throttling("RequestLimitExceeded"));
        assert!(!is_throttling("AuthFailure"));
        assert!(!is_throttling("UnauthorizedOperation"));
    }

    #[test]
    fn other_query_services_errors_give_their_code_and_message() {
        let text = r#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>c1b6b4f0</RequestId>
</ErrorResponse>"#;
        assert_eq!(
            parse_error(text),
            Some(("Throttling".to_owned(), "Rate exceeded".to_owned()))
        );
        assert!(is_throttling("Throttling"));
    }

    #[test]
    fn endpoints_follow_the_service_and_the_partition() {
        assert_eq!(
            default_endpoint(Service::Ec2, "eu-west-1"),
            "https://ec2.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            default_endpoint(Service::Ec2, "cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            default_endpoint(Service::CloudWatch, "us-east-1"),
            "https://monitoring.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            default_endpoint(Service::Elb, "eu-west-1"),
            "https://elasticloadbalancing.eu-west-1.amazonaws.com/"
        );
    }

    #[test]
    fn backoff_is_jittered_exponential_and_capped() {
        for attempt in 1..10 {
            let ceiling = (INITIAL_BACKOFF * 2u32.pow(attempt - 1)).min(MAX_BACKOFF);
            let wait = backoff(attempt);
            assert!(
                wait <= ceiling && wait >= ceiling.mul_f64(0.1),
                "{attempt}: {wait:?}"
            );
        }
    }
}
