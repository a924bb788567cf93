//! EC2's DescribeInstances, the one call the sync makes, spoken directly: EC2's Query protocol
//! (a form-encoded POST, an XML answer), signed with Signature Version 4 by `aws-sigv4` and read
//! with `aws-smithy-xml`, the SDK's own signer and XML reader. Credentials come from `aws-config`
//! as the account says: static keys, a profile, the default chain, then a role to assume with an
//! external id.
//!
//! Why not `aws-sdk-ec2`: that generated client holds every EC2 operation (hundreds of them); it
//! was about 10 of a first release build's 16 minutes and a large part of the binary (issue 15,
//! `docs/performance.md`, "First build and binary"). The tests run this client against a local
//! AWS emulator whose instances the real SDK creates.
//!
//! Throttling and transient failures are retried as the SDK's standard mode does: four attempts,
//! jittered exponential backoff from 300 ms; the next periodic sync is the longer-term retry.

use crate::model::{AddressKind, AwsAccount};
use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};
use jeny_core::ErrorChain;
use jeny_hosts::{MAX_HOST_TAGS, ObservedHost, Tags, is_valid_tag};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The EC2 API version whose Query protocol this speaks.
const API_VERSION: &str = "2016-11-15";
/// Instances per page (EC2's maximum).
const PAGE_SIZE: &str = "1000";
/// Attempts per page, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The first retry's backoff; each next one doubles, jittered, at most [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(300);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client aws-config fetches credentials with (STS, the instance metadata service),
/// shared by every sync: connection pools are per client.
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

/// The client EC2 requests go through, shared by every sync.
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

/// The credentials to sync an account with.
pub(crate) struct AccountCredentials {
    pub secret_access_key: Option<String>,
}

/// An EC2 client for one region of an account, its credentials resolved.
pub(crate) struct Client {
    endpoint: String,
    region: String,
    credentials: Credentials,
}

/// The client for `region` of `account`; the credentials' error as a sentence otherwise.
pub(crate) async fn client(
    account: &AwsAccount,
    credentials: &AccountCredentials,
    region: &str,
) -> Result<Client, String> {
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
    Ok(Client {
        endpoint: account
            .endpoint_url
            .clone()
            .unwrap_or_else(|| default_endpoint(region)),
        region: region.to_owned(),
        credentials,
    })
}

/// EC2's public endpoint in `region`: `amazonaws.com.cn` in the China regions, `amazonaws.com`
/// elsewhere (other partitions set the account's `endpoint_url`).
fn default_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{domain}/")
}

/// An instance as DescribeInstances tells it, with what jeny keeps of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Instance {
    pub instance_id: String,
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping` or `stopped`.
    pub state: Option<String>,
    pub instance_type: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub private_dns_name: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// Every instance of the client's region that passes the account's tag filters, all pages;
/// AWS's error as it said it otherwise.
pub(crate) async fn describe_instances(
    client: &Client,
    account: &AwsAccount,
) -> Result<Vec<Instance>, String> {
    let mut form: Vec<(String, String)> = vec![
        ("Action".to_owned(), "DescribeInstances".to_owned()),
        ("Version".to_owned(), API_VERSION.to_owned()),
        ("MaxResults".to_owned(), PAGE_SIZE.to_owned()),
    ];
    for (index, (key, value)) in account.tag_filters.iter().enumerate() {
        let n = index + 1;
        let (name, value) = if value == "*" {
            ("tag-key".to_owned(), key.clone())
        } else {
            (format!("tag:{key}"), value.clone())
        };
        form.push((format!("Filter.{n}.Name"), name));
        form.push((format!("Filter.{n}.Value.1"), value));
    }
    let mut instances = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let body = {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            serializer.extend_pairs(form.iter());
            if let Some(token) = &next_token {
                serializer.append_pair("NextToken", token);
            }
            serializer.finish()
        };
        let page = call(client, body).await?;
        let (found, token) = parse_page(&page).map_err(|error| {
            format!("EC2's DescribeInstances answer could not be read: {error}")
        })?;
        instances.extend(found);
        match token {
            Some(token) if !token.is_empty() => next_token = Some(token),
            _ => return Ok(instances),
        }
    }
}

/// One signed request, retried on throttling and transient failures; the answer's body.
async fn call(client: &Client, body: String) -> Result<String, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (retryable, error) = match attempt_once(client, &body).await {
            Ok(text) => return Ok(text),
            Err(failure) => failure,
        };
        if !retryable || attempt >= MAX_ATTEMPTS {
            return Err(error);
        }
        tracing::debug!(region = %client.region, attempt, %error, "EC2 request retried");
        tokio::time::sleep(backoff(attempt)).await;
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

/// The request for `body`, signed for now.
fn signed_request(client: &Client, body: &str) -> Result<reqwest::RequestBuilder, String> {
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let identity = client.credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&client.region)
        .name("ec2")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| format!("signing an EC2 request: {error}"))?
        .into();
    let signed = SignableRequest::new(
        "POST",
        client.endpoint.as_str(),
        [("content-type", content_type)].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .and_then(|request| sign(request, &params))
    .map_err(|error| format!("signing an EC2 request: {}", ErrorChain(&error)))?;
    let (instructions, _signature) = signed.into_parts();
    let mut request = http()
        .post(&client.endpoint)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body.to_owned());
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    Ok(request)
}

/// One attempt: the body, or whether to retry and the error.
async fn attempt_once(client: &Client, body: &str) -> Result<String, (bool, String)> {
    let request = signed_request(client, body).map_err(|error| (false, error))?;
    let response = match request.send().await {
        Ok(response) => response,
        // connection refused, reset, timed out: transient
        Err(error) => {
            return Err((
                true,
                format!("EC2 in {}: {}", client.region, ErrorChain(&error)),
            ));
        }
    };
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        Err(error) => {
            return Err((
                true,
                format!("EC2 in {}: {}", client.region, ErrorChain(&error)),
            ));
        }
    };
    if status.is_success() {
        return Ok(text);
    }
    let (code, message) = parse_error(&text).unwrap_or_default();
    let retryable = status.is_server_error() || is_throttling(&code);
    let error = if code.is_empty() {
        format!("EC2 in {} answered {status}", client.region)
    } else {
        format!("{code}: {message} (EC2 in {}, {status})", client.region)
    };
    Err((retryable, error))
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

/// The code and message of EC2's error document,
/// `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>…</Response>`.
fn parse_error(text: &str) -> Option<(String, String)> {
    let mut document = Document::new(text);
    let mut root = document.root_element().ok()?;
    while let Some(mut errors) = root.next_tag() {
        if !errors.start_el().matches("Errors") {
            continue;
        }
        while let Some(mut error) = errors.next_tag() {
            if !error.start_el().matches("Error") {
                continue;
            }
            let (mut code, mut message) = (String::new(), String::new());
            while let Some(mut field) = error.next_tag() {
                if field.start_el().matches("Code") {
                    code = try_data(&mut field).ok()?.into_owned();
                } else if field.start_el().matches("Message") {
                    message = try_data(&mut field).ok()?.into_owned();
                }
            }
            return Some((code, message));
        }
    }
    None
}

/// The instances of one DescribeInstances page and its `nextToken`.
fn parse_page(text: &str) -> Result<(Vec<Instance>, Option<String>), XmlDecodeError> {
    let mut document = Document::new(text);
    let mut root = document.root_element()?;
    if !root.start_el().matches("DescribeInstancesResponse") {
        return Err(XmlDecodeError::custom(format!(
            "expected DescribeInstancesResponse, found {}",
            root.start_el().local()
        )));
    }
    let mut instances = Vec::new();
    let mut next_token = None;
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().matches("nextToken") {
            next_token = Some(try_data(&mut tag)?.into_owned());
        } else if tag.start_el().matches("reservationSet") {
            while let Some(mut reservation) = tag.next_tag() {
                while let Some(mut part) = reservation.next_tag() {
                    if part.start_el().matches("instancesSet") {
                        while let Some(mut item) = part.next_tag() {
                            instances.push(parse_instance(&mut item)?);
                        }
                    }
                }
            }
        }
    }
    Ok((instances, next_token))
}

/// One `instancesSet` item: only its own children are read (a network interface's
/// `privateIpAddress` or `tagSet` is not the instance's).
fn parse_instance(item: &mut ScopedDecoder<'_, '_>) -> Result<Instance, XmlDecodeError> {
    let mut instance = Instance::default();
    while let Some(mut field) = item.next_tag() {
        let name = field.start_el().local().to_owned();
        match name.as_str() {
            "instanceId" => instance.instance_id = try_data(&mut field)?.into_owned(),
            "instanceType" => instance.instance_type = Some(try_data(&mut field)?.into_owned()),
            "privateIpAddress" => instance.private_ip = Some(try_data(&mut field)?.into_owned()),
            "ipAddress" => instance.public_ip = Some(try_data(&mut field)?.into_owned()),
            "privateDnsName" => {
                instance.private_dns_name = Some(try_data(&mut field)?.into_owned());
            }
            "instanceState" => {
                while let Some(mut part) = field.next_tag() {
                    if part.start_el().matches("name") {
                        instance.state = Some(try_data(&mut part)?.into_owned());
                    }
                }
            }
            "placement" => {
                while let Some(mut part) = field.next_tag() {
                    if part.start_el().matches("availabilityZone") {
                        instance.availability_zone = Some(try_data(&mut part)?.into_owned());
                    }
                }
            }
            "tagSet" => {
                while let Some(mut tag) = field.next_tag() {
                    let (mut key, mut value) = (None, String::new());
                    while let Some(mut part) = tag.next_tag() {
                        if part.start_el().matches("key") {
                            key = Some(try_data(&mut part)?.into_owned());
                        } else if part.start_el().matches("value") {
                            value = try_data(&mut part)?.into_owned();
                        }
                    }
                    if let Some(key) = key {
                        instance.tags.push((key, value));
                    }
                }
            }
            _ => {}
        }
    }
    if instance.instance_id.is_empty() {
        return Err(XmlDecodeError::custom("an instance without an instanceId"));
    }
    Ok(instance)
}

/// Whether an instance is gone for jeny: terminated or on its way there.
pub(crate) fn is_gone(instance: &Instance) -> bool {
    matches!(
        instance.state.as_deref(),
        Some("terminated" | "shutting-down")
    )
}

/// An instance as the host it becomes: its tags (those jeny can keep) and `aws:*` facts.
/// Returns the host and how many of its tags were skipped.
pub(crate) fn observed(
    instance: &Instance,
    account: &AwsAccount,
    region: &str,
) -> (ObservedHost, usize) {
    let instance_id = instance.instance_id.clone();
    let private_ip = instance.private_ip.as_deref().filter(|ip| !ip.is_empty());
    let public_ip = instance.public_ip.as_deref().filter(|ip| !ip.is_empty());
    let address = match account.address {
        AddressKind::Private => private_ip.or(public_ip),
        AddressKind::Public => public_ip.or(private_ip),
    }
    .or(instance
        .private_dns_name
        .as_deref()
        .filter(|name| !name.is_empty()))
    .unwrap_or(&instance_id)
    .to_owned();
    let mut facts: Vec<(String, String)> = vec![
        ("aws:account".to_owned(), account.name.clone()),
        ("aws:region".to_owned(), region.to_owned()),
        ("aws:instance-id".to_owned(), instance_id.clone()),
    ];
    let optional = [
        ("aws:az", instance.availability_zone.as_deref()),
        ("aws:instance-type", instance.instance_type.as_deref()),
        ("aws:state", instance.state.as_deref()),
        ("aws:private-ip", private_ip),
        ("aws:public-ip", public_ip),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            facts.push((key.to_owned(), value.to_owned()));
        }
    }
    let mut tags: Tags = facts.into_iter().collect();
    let mut instance_tags: Vec<(&str, &str)> = instance
        .tags
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    instance_tags.sort_unstable();
    let mut skipped = 0;
    let mut name = None;
    for (key, value) in instance_tags {
        if key == "Name" {
            name = Some(value.to_owned());
        }
        // AWS's own tags (aws:autoscaling:groupName, ...) are kept; none is named like one of
        // the facts above, which win if one ever is
        if tags.contains_key(key) || !is_valid_tag(key, value) || tags.len() >= MAX_HOST_TAGS {
            skipped += 1;
            continue;
        }
        tags.insert(key.to_owned(), value.to_owned());
    }
    (
        ObservedHost {
            preferred_name: name.unwrap_or_else(|| instance_id.clone()),
            external_id: instance_id,
            address,
            tags,
        },
        skipped,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as EC2 writes it: two reservations, one instance with a network interface whose
    /// own `privateIpAddress`, `tagSet` and `groupSet` must not be taken for the instance's.
    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-1234567890abcdef0</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>i-1234567890abcdef0</instanceId>
                    <imageId>ami-bff32ccc</imageId>
                    <instanceState><code>16</code><name>running</name></instanceState>
                    <privateDnsName>ip-192-168-1-88.eu-west-1.compute.internal</privateDnsName>
                    <dnsName>ec2-54-194-252-215.eu-west-1.compute.amazonaws.com</dnsName>
                    <instanceType>t3.micro</instanceType>
                    <placement><availabilityZone>eu-west-1c</availabilityZone><tenancy>default</tenancy></placement>
                    <privateIpAddress>192.168.1.88</privateIpAddress>
                    <ipAddress>54.194.252.215</ipAddress>
                    <groupSet><item><groupId>sg-e4076980</groupId><groupName>SecurityGroup1</groupName></item></groupSet>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-0fd2b4ca</networkInterfaceId>
                            <privateIpAddress>192.168.1.99</privateIpAddress>
                            <tagSet><item><key>eni</key><value>not the instance's</value></item></tagSet>
                        </item>
                    </networkInterfaceSet>
                    <tagSet>
                        <item><key>Name</key><value>web &amp; api</value></item>
                        <item><key>role</key><value>web</value></item>
                        <item><key>empty</key><value/></item>
                    </tagSet>
                </item>
            </instancesSet>
        </item>
        <item>
            <reservationId>r-2</reservationId>
            <instancesSet>
                <item>
                    <instanceId>i-2</instanceId>
                    <instanceState><code>48</code><name>terminated</name></instanceState>
                    <privateDnsName/>
                    <tagSet/>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
    <nextToken>eyJ2IjoiMiIsImMiOiJleGFtcGxl</nextToken>
</DescribeInstancesResponse>"#;

    #[test]
    fn a_page_gives_its_instances_own_fields_and_the_next_token() {
        let (instances, token) = parse_page(PAGE).unwrap();
        assert_eq!(token.as_deref(), Some("eyJ2IjoiMiIsImMiOiJleGFtcGxl"));
        assert_eq!(
            instances[0],
            Instance {
                instance_id: "i-1234567890abcdef0".to_owned(),
                state: Some("running".to_owned()),
                instance_type: Some("t3.micro".to_owned()),
                availability_zone: Some("eu-west-1c".to_owned()),
                private_ip: Some("192.168.1.88".to_owned()),
                public_ip: Some("54.194.252.215".to_owned()),
                private_dns_name: Some("ip-192-168-1-88.eu-west-1.compute.internal".to_owned()),
                tags: vec![
                    ("Name".to_owned(), "web & api".to_owned()),
                    ("role".to_owned(), "web".to_owned()),
                    ("empty".to_owned(), String::new()),
                ],
            }
        );
        assert_eq!(instances[1].instance_id, "i-2");
        assert!(is_gone(&instances[1]));
        assert!(!is_gone(&instances[0]));
        assert_eq!(instances.len(), 2);
    }

    #[test]
    fn the_last_page_has_no_token_and_other_documents_are_refused() {
        let last = PAGE.replace("<nextToken>eyJ2IjoiMiIsImMiOiJleGFtcGxl</nextToken>", "");
        assert_eq!(parse_page(&last).unwrap().1, None);
        let empty = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><reservationSet/></DescribeInstancesResponse>"#;
        assert_eq!(parse_page(empty).unwrap(), (Vec::new(), None));
        assert!(parse_page("<html>a captive portal</html>").is_err());
        assert!(parse_page("not xml").is_err());
        let nameless = PAGE.replace("<instanceId>i-2</instanceId>", "");
        assert!(parse_page(&nameless).is_err());
    }

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
    fn endpoints_follow_the_partition() {
        assert_eq!(
            default_endpoint("eu-west-1"),
            "https://ec2.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
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
