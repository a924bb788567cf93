//! EC2 through the official AWS SDK: the credentials an account says (static keys, a profile,
//! the default chain; then a role to assume, with an external id), DescribeInstances page by
//! page for one region, and an instance as the host it becomes. The HTTP client is rustls with
//! ring, shared by every sync; the SDK retries throttling with exponential backoff.

use crate::model::{AddressKind, AwsAccount};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_ec2::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{Filter, Instance, InstanceStateName};
use aws_smithy_http_client::tls;
use jeny_hosts::{MAX_HOST_TAGS, ObservedHost, Tags, is_valid_tag};
use std::sync::OnceLock;
use std::time::Duration;

/// The HTTP client every sync uses (connection pools are per client: sharing it reuses them).
fn http_client() -> aws_sdk_ec2::config::SharedHttpClient {
    static CLIENT: OnceLock<aws_sdk_ec2::config::SharedHttpClient> = OnceLock::new();
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

/// The credentials to sync an account with.
pub(crate) struct AccountCredentials {
    pub secret_access_key: Option<String>,
}

/// An EC2 client for one region of an account.
pub(crate) async fn client(
    account: &AwsAccount,
    credentials: &AccountCredentials,
    region: &str,
) -> aws_sdk_ec2::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .http_client(http_client())
        // throttling and transient errors are retried with jittered exponential backoff; the
        // next periodic sync is the longer-term retry
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(300)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
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
    if let Some(endpoint) = &account.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let mut config = loader.load().await;
    if let Some(role_arn) = &account.role_arn {
        let mut provider = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(format!("jeny-{}", account.name))
            .configure(&config);
        if let Some(external_id) = &account.external_id {
            provider = provider.external_id(external_id.clone());
        }
        let provider = provider.build().await;
        config = config
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    aws_sdk_ec2::Client::new(&config)
}

/// Every instance of one region that passes the account's tag filters, all pages; AWS's error
/// as it said it otherwise.
pub(crate) async fn describe_instances(
    client: &aws_sdk_ec2::Client,
    account: &AwsAccount,
) -> Result<Vec<Instance>, String> {
    let mut request = client.describe_instances();
    for (key, value) in &account.tag_filters {
        request = request.filters(if value == "*" {
            Filter::builder()
                .name("tag-key")
                .values(key.clone())
                .build()
        } else {
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value.clone())
                .build()
        });
    }
    let mut pages = request.into_paginator().page_size(1000).send();
    let mut instances = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| DisplayErrorContext(error).to_string())?;
        for reservation in page.reservations() {
            instances.extend(reservation.instances().iter().cloned());
        }
    }
    Ok(instances)
}

/// Whether an instance is gone for jeny: terminated or on its way there.
pub(crate) fn is_gone(instance: &Instance) -> bool {
    matches!(
        instance.state().and_then(|state| state.name()),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

/// An instance as the host it becomes: its tags (those jeny can keep) and `aws:*` facts.
/// Returns the host and how many of its tags were skipped.
pub(crate) fn observed(
    instance: &Instance,
    account: &AwsAccount,
    region: &str,
) -> Option<(ObservedHost, usize)> {
    let instance_id = instance.instance_id()?.to_owned();
    let private_ip = instance.private_ip_address();
    let public_ip = instance.public_ip_address();
    let address = match account.address {
        AddressKind::Private => private_ip.or(public_ip),
        AddressKind::Public => public_ip.or(private_ip),
    }
    .or(instance.private_dns_name().filter(|name| !name.is_empty()))
    .unwrap_or(&instance_id)
    .to_owned();
    let mut facts: Vec<(String, String)> = vec![
        ("aws:account".to_owned(), account.name.clone()),
        ("aws:region".to_owned(), region.to_owned()),
        ("aws:instance-id".to_owned(), instance_id.clone()),
    ];
    if let Some(zone) = instance.placement().and_then(|p| p.availability_zone()) {
        facts.push(("aws:az".to_owned(), zone.to_owned()));
    }
    if let Some(kind) = instance.instance_type() {
        facts.push(("aws:instance-type".to_owned(), kind.as_str().to_owned()));
    }
    if let Some(state) = instance.state().and_then(|state| state.name()) {
        facts.push(("aws:state".to_owned(), state.as_str().to_owned()));
    }
    if let Some(ip) = private_ip {
        facts.push(("aws:private-ip".to_owned(), ip.to_owned()));
    }
    if let Some(ip) = public_ip {
        facts.push(("aws:public-ip".to_owned(), ip.to_owned()));
    }
    let mut tags: Tags = facts.into_iter().collect();
    let mut instance_tags: Vec<(&str, &str)> = instance
        .tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?, tag.value().unwrap_or_default())))
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
    Some((
        ObservedHost {
            preferred_name: name.unwrap_or_else(|| instance_id.clone()),
            external_id: instance_id,
            address,
            tags,
        },
        skipped,
    ))
}
