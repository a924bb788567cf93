//! EC2's DescribeInstances, the one call the sync makes, in EC2's Query protocol
//! (`query_protocol`: signing, credentials and retries shared with the CloudWatch and load
//! balancer clients), read with `aws-smithy-xml`.

use crate::model::{AddressKind, AwsAccount};
use crate::query_protocol::Client;
use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};
use jeny_hosts::{MAX_HOST_TAGS, ObservedHost, Tags, is_valid_tag};

/// The EC2 API version whose Query protocol this speaks.
const API_VERSION: &str = "2016-11-15";
/// Instances per page (EC2's maximum).
const PAGE_SIZE: &str = "1000";

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
        let mut params = form.clone();
        if let Some(token) = &next_token {
            params.push(("NextToken".to_owned(), token.clone()));
        }
        let page = client.call(&params).await?.body;
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
}
