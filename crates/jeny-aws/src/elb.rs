//! Elastic Load Balancing, what the metrics import needs of it, in its Query protocol: the
//! application load balancers (API 2015-12-01: DescribeLoadBalancers, DescribeTargetGroups,
//! DescribeTargetHealth, DescribeTags) and the classic ones (API 2012-06-01:
//! DescribeLoadBalancers with their instances, DescribeTags). A load balancer's metrics belong
//! to the environment whose hosts are its targets, or that its tags `jeny:project` and
//! `jeny:environment` name.

use crate::query_protocol::Client;
use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};
use std::time::Duration;

const V2_API_VERSION: &str = "2015-12-01";
const CLASSIC_API_VERSION: &str = "2012-06-01";
/// Resources per DescribeTags call (its maximum).
const TAGS_PER_CALL: usize = 20;
/// Load balancers per DescribeLoadBalancers page (the v2 maximum is 400, classic's 400 too).
const PAGE_SIZE: &str = "400";

/// An application load balancer with its target groups, their targets, and its tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LoadBalancer {
    pub arn: String,
    pub name: String,
    /// Its `LoadBalancer` dimension in CloudWatch: `app/<name>/<id>`.
    pub dimension: String,
    pub target_groups: Vec<TargetGroup>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TargetGroup {
    pub arn: String,
    /// Its `TargetGroup` dimension in CloudWatch: `targetgroup/<name>/<id>`.
    pub dimension: String,
    /// The ids of its registered targets (instance ids for instance targets).
    pub targets: Vec<String>,
}

/// A classic load balancer: its name (its `LoadBalancerName` dimension), instances and tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClassicLoadBalancer {
    pub name: String,
    pub instances: Vec<String>,
    pub tags: Vec<(String, String)>,
}

/// What describing a region's load balancers took: calls and time waiting for AWS.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    pub calls: usize,
    pub waited: Duration,
}

impl Calls {
    async fn call(
        &mut self,
        client: &Client,
        params: Vec<(&str, String)>,
    ) -> Result<String, String> {
        let params: Vec<(String, String)> = params
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        let answer = client.call(&params).await?;
        self.calls += 1;
        self.waited += answer.waited;
        Ok(answer.body)
    }
}

fn unreadable(action: &str) -> impl Fn(XmlDecodeError) -> String + '_ {
    move |error| format!("Elastic Load Balancing's {action} answer could not be read: {error}")
}

/// Every application load balancer of the client's region, with its target groups, targets
/// and tags.
pub(crate) async fn application_load_balancers(
    client: &Client,
    calls: &mut Calls,
) -> Result<Vec<LoadBalancer>, String> {
    let mut balancers = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut params = vec![
            ("Action", "DescribeLoadBalancers".to_owned()),
            ("Version", V2_API_VERSION.to_owned()),
            ("PageSize", PAGE_SIZE.to_owned()),
        ];
        if let Some(marker) = &marker {
            params.push(("Marker", marker.clone()));
        }
        let text = calls.call(client, params).await?;
        let (found, next) = parse_members(
            &text,
            "DescribeLoadBalancers",
            "LoadBalancers",
            parse_load_balancer,
        )
        .map_err(unreadable("DescribeLoadBalancers"))?;
        balancers.extend(found.into_iter().flatten());
        match next {
            Some(next) if !next.is_empty() => marker = Some(next),
            _ => break,
        }
    }
    for balancer in &mut balancers {
        let mut marker: Option<String> = None;
        loop {
            let mut params = vec![
                ("Action", "DescribeTargetGroups".to_owned()),
                ("Version", V2_API_VERSION.to_owned()),
                ("LoadBalancerArn", balancer.arn.clone()),
            ];
            if let Some(marker) = &marker {
                params.push(("Marker", marker.clone()));
            }
            let text = match calls.call(client, params).await {
                Ok(text) => text,
                // a load balancer without target groups, as some implementations answer it
                Err(error) if error.starts_with("TargetGroupNotFound") => break,
                Err(error) => return Err(error),
            };
            let (groups, next) = parse_members(
                &text,
                "DescribeTargetGroups",
                "TargetGroups",
                parse_target_group,
            )
            .map_err(unreadable("DescribeTargetGroups"))?;
            balancer.target_groups.extend(groups);
            match next {
                Some(next) if !next.is_empty() => marker = Some(next),
                _ => break,
            }
        }
        for group in &mut balancer.target_groups {
            let text = calls
                .call(
                    client,
                    vec![
                        ("Action", "DescribeTargetHealth".to_owned()),
                        ("Version", V2_API_VERSION.to_owned()),
                        ("TargetGroupArn", group.arn.clone()),
                    ],
                )
                .await?;
            let (targets, _) = parse_members(
                &text,
                "DescribeTargetHealth",
                "TargetHealthDescriptions",
                parse_target,
            )
            .map_err(unreadable("DescribeTargetHealth"))?;
            group.targets = targets.into_iter().flatten().collect();
        }
    }
    let arns: Vec<String> = balancers.iter().map(|b| b.arn.clone()).collect();
    for chunk in arns.chunks(TAGS_PER_CALL) {
        let mut params = vec![
            ("Action", "DescribeTags".to_owned()),
            ("Version", V2_API_VERSION.to_owned()),
        ];
        let keys: Vec<String> = (1..=chunk.len())
            .map(|n| format!("ResourceArns.member.{n}"))
            .collect();
        for (key, arn) in keys.iter().zip(chunk) {
            params.push((key.as_str(), arn.clone()));
        }
        let text = calls.call(client, params).await?;
        let (described, _) = parse_members(&text, "DescribeTags", "TagDescriptions", |member| {
            parse_tag_description(member, "ResourceArn")
        })
        .map_err(unreadable("DescribeTags"))?;
        for (arn, tags) in described {
            if let Some(balancer) = balancers.iter_mut().find(|b| b.arn == arn) {
                balancer.tags = tags;
            }
        }
    }
    Ok(balancers)
}

/// Every classic load balancer of the client's region, with its instances and tags.
pub(crate) async fn classic_load_balancers(
    client: &Client,
    calls: &mut Calls,
) -> Result<Vec<ClassicLoadBalancer>, String> {
    let mut balancers = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut params = vec![
            ("Action", "DescribeLoadBalancers".to_owned()),
            ("Version", CLASSIC_API_VERSION.to_owned()),
            ("PageSize", PAGE_SIZE.to_owned()),
        ];
        if let Some(marker) = &marker {
            params.push(("Marker", marker.clone()));
        }
        let text = calls.call(client, params).await?;
        let (found, next) = parse_members(
            &text,
            "DescribeLoadBalancers",
            "LoadBalancerDescriptions",
            parse_classic,
        )
        .map_err(unreadable("DescribeLoadBalancers"))?;
        balancers.extend(found);
        match next {
            Some(next) if !next.is_empty() => marker = Some(next),
            _ => break,
        }
    }
    let names: Vec<String> = balancers.iter().map(|b| b.name.clone()).collect();
    for chunk in names.chunks(TAGS_PER_CALL) {
        let mut params = vec![
            ("Action", "DescribeTags".to_owned()),
            ("Version", CLASSIC_API_VERSION.to_owned()),
        ];
        let keys: Vec<String> = (1..=chunk.len())
            .map(|n| format!("LoadBalancerNames.member.{n}"))
            .collect();
        for (key, name) in keys.iter().zip(chunk) {
            params.push((key.as_str(), name.clone()));
        }
        let text = calls.call(client, params).await?;
        let (described, _) = parse_members(&text, "DescribeTags", "TagDescriptions", |member| {
            parse_tag_description(member, "LoadBalancerName")
        })
        .map_err(unreadable("DescribeTags"))?;
        for (name, tags) in described {
            if let Some(balancer) = balancers.iter_mut().find(|b| b.name == name) {
                balancer.tags = tags;
            }
        }
    }
    Ok(balancers)
}

/// The members of `<{action}Response><{action}Result><{list}><member>…` read by `read`, and
/// the result's `NextMarker`.
fn parse_members<T>(
    text: &str,
    action: &str,
    list: &str,
    mut read: impl FnMut(&mut ScopedDecoder<'_, '_>) -> Result<T, XmlDecodeError>,
) -> Result<(Vec<T>, Option<String>), XmlDecodeError> {
    let mut document = Document::new(text);
    let mut root = document.root_element()?;
    let response = format!("{action}Response");
    if !root.start_el().matches(&response) {
        return Err(XmlDecodeError::custom(format!(
            "expected {response}, found {}",
            root.start_el().local()
        )));
    }
    let result_name = format!("{action}Result");
    let mut members = Vec::new();
    let mut next_marker = None;
    while let Some(mut result) = root.next_tag() {
        if !result.start_el().matches(&result_name) {
            continue;
        }
        while let Some(mut part) = result.next_tag() {
            if part.start_el().matches("NextMarker") {
                next_marker = Some(try_data(&mut part)?.into_owned());
            } else if part.start_el().matches(list) {
                while let Some(mut member) = part.next_tag() {
                    members.push(read(&mut member)?);
                }
            }
        }
    }
    Ok((members, next_marker))
}

/// An application load balancer; `None` for the other types (network, gateway), whose metrics
/// are in other namespaces.
fn parse_load_balancer(
    member: &mut ScopedDecoder<'_, '_>,
) -> Result<Option<LoadBalancer>, XmlDecodeError> {
    let mut balancer = LoadBalancer::default();
    let mut kind = String::new();
    while let Some(mut field) = member.next_tag() {
        let name = field.start_el().local().to_owned();
        match name.as_str() {
            "LoadBalancerArn" => balancer.arn = try_data(&mut field)?.into_owned(),
            "LoadBalancerName" => balancer.name = try_data(&mut field)?.into_owned(),
            "Type" => kind = try_data(&mut field)?.into_owned(),
            _ => {}
        }
    }
    if kind != "application" {
        return Ok(None);
    }
    balancer.dimension = balancer
        .arn
        .split_once(":loadbalancer/")
        .map(|(_, dimension)| dimension.to_owned())
        .ok_or_else(|| {
            XmlDecodeError::custom(format!("{:?} is not a load balancer ARN", balancer.arn))
        })?;
    Ok(Some(balancer))
}

fn parse_target_group(member: &mut ScopedDecoder<'_, '_>) -> Result<TargetGroup, XmlDecodeError> {
    let mut group = TargetGroup::default();
    while let Some(mut field) = member.next_tag() {
        if field.start_el().matches("TargetGroupArn") {
            group.arn = try_data(&mut field)?.into_owned();
        }
    }
    group.dimension = group
        .arn
        .rsplit_once(':')
        .map(|(_, dimension)| dimension.to_owned())
        .filter(|dimension| dimension.starts_with("targetgroup/"))
        .ok_or_else(|| {
            XmlDecodeError::custom(format!("{:?} is not a target group ARN", group.arn))
        })?;
    Ok(group)
}

/// A target's id (an instance id for instance targets).
fn parse_target(member: &mut ScopedDecoder<'_, '_>) -> Result<Option<String>, XmlDecodeError> {
    let mut id = None;
    while let Some(mut field) = member.next_tag() {
        if field.start_el().matches("Target") {
            while let Some(mut part) = field.next_tag() {
                if part.start_el().matches("Id") {
                    id = Some(try_data(&mut part)?.into_owned());
                }
            }
        }
    }
    Ok(id)
}

fn parse_classic(
    member: &mut ScopedDecoder<'_, '_>,
) -> Result<ClassicLoadBalancer, XmlDecodeError> {
    let mut balancer = ClassicLoadBalancer::default();
    while let Some(mut field) = member.next_tag() {
        if field.start_el().matches("LoadBalancerName") {
            balancer.name = try_data(&mut field)?.into_owned();
        } else if field.start_el().matches("Instances") {
            while let Some(mut instance) = field.next_tag() {
                while let Some(mut part) = instance.next_tag() {
                    if part.start_el().matches("InstanceId") {
                        balancer.instances.push(try_data(&mut part)?.into_owned());
                    }
                }
            }
        }
    }
    Ok(balancer)
}

/// A `TagDescriptions` member: the resource (named by its `key` element) and its tags.
fn parse_tag_description(
    member: &mut ScopedDecoder<'_, '_>,
    key: &str,
) -> Result<(String, Vec<(String, String)>), XmlDecodeError> {
    let mut resource = String::new();
    let mut tags = Vec::new();
    while let Some(mut field) = member.next_tag() {
        if field.start_el().matches(key) {
            resource = try_data(&mut field)?.into_owned();
        } else if field.start_el().matches("Tags") {
            while let Some(mut tag) = field.next_tag() {
                let (mut tag_key, mut value) = (None, String::new());
                while let Some(mut part) = tag.next_tag() {
                    if part.start_el().matches("Key") {
                        tag_key = Some(try_data(&mut part)?.into_owned());
                    } else if part.start_el().matches("Value") {
                        value = try_data(&mut part)?.into_owned();
                    }
                }
                if let Some(tag_key) = tag_key {
                    tags.push((tag_key, value));
                }
            }
        }
    }
    Ok((resource, tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_load_balancers_give_their_dimension_and_others_are_skipped() {
        let text = r#"<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeLoadBalancersResult>
    <LoadBalancers>
      <member>
        <LoadBalancerArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188</LoadBalancerArn>
        <LoadBalancerName>web</LoadBalancerName>
        <Type>application</Type>
        <AvailabilityZones><member><ZoneName>eu-west-1a</ZoneName></member></AvailabilityZones>
      </member>
      <member>
        <LoadBalancerArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/tcp/1234</LoadBalancerArn>
        <LoadBalancerName>tcp</LoadBalancerName>
        <Type>network</Type>
      </member>
    </LoadBalancers>
    <NextMarker>next</NextMarker>
  </DescribeLoadBalancersResult>
</DescribeLoadBalancersResponse>"#;
        let (found, next) = parse_members(
            text,
            "DescribeLoadBalancers",
            "LoadBalancers",
            parse_load_balancer,
        )
        .unwrap();
        assert_eq!(next.as_deref(), Some("next"));
        let found: Vec<LoadBalancer> = found.into_iter().flatten().collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "web");
        assert_eq!(found[0].dimension, "app/web/50dc6c495c0c9188");
    }

    #[test]
    fn target_groups_targets_and_tags_are_read() {
        let groups = r#"<DescribeTargetGroupsResponse><DescribeTargetGroupsResult><TargetGroups><member>
  <TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/73e2d6bc24d8a067</TargetGroupArn>
  <LoadBalancerArns><member>arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188</member></LoadBalancerArns>
</member></TargetGroups></DescribeTargetGroupsResult></DescribeTargetGroupsResponse>"#;
        let (groups, next) = parse_members(
            groups,
            "DescribeTargetGroups",
            "TargetGroups",
            parse_target_group,
        )
        .unwrap();
        assert_eq!(next, None);
        assert_eq!(groups[0].dimension, "targetgroup/web/73e2d6bc24d8a067");
        let health = r#"<DescribeTargetHealthResponse><DescribeTargetHealthResult><TargetHealthDescriptions>
  <member><Target><Id>i-1</Id><Port>80</Port></Target><TargetHealth><State>healthy</State></TargetHealth></member>
  <member><Target><Id>i-2</Id></Target></member>
</TargetHealthDescriptions></DescribeTargetHealthResult></DescribeTargetHealthResponse>"#;
        let (targets, _) = parse_members(
            health,
            "DescribeTargetHealth",
            "TargetHealthDescriptions",
            parse_target,
        )
        .unwrap();
        assert_eq!(
            targets,
            vec![Some("i-1".to_owned()), Some("i-2".to_owned())]
        );
        let tags = r#"<DescribeTagsResponse><DescribeTagsResult><TagDescriptions><member>
  <ResourceArn>arn:lb</ResourceArn>
  <Tags><member><Key>jeny:project</Key><Value>shop</Value></member><member><Key>empty</Key></member></Tags>
</member></TagDescriptions></DescribeTagsResult></DescribeTagsResponse>"#;
        let (described, _) = parse_members(tags, "DescribeTags", "TagDescriptions", |member| {
            parse_tag_description(member, "ResourceArn")
        })
        .unwrap();
        assert_eq!(
            described,
            vec![(
                "arn:lb".to_owned(),
                vec![
                    ("jeny:project".to_owned(), "shop".to_owned()),
                    ("empty".to_owned(), String::new())
                ]
            )]
        );
    }

    #[test]
    fn classic_load_balancers_give_their_instances() {
        let text = r#"<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/">
  <DescribeLoadBalancersResult><LoadBalancerDescriptions><member>
    <LoadBalancerName>old</LoadBalancerName>
    <Instances><member><InstanceId>i-1</InstanceId></member><member><InstanceId>i-2</InstanceId></member></Instances>
    <ListenerDescriptions><member><Listener><InstancePort>80</InstancePort></Listener></member></ListenerDescriptions>
  </member></LoadBalancerDescriptions></DescribeLoadBalancersResult>
</DescribeLoadBalancersResponse>"#;
        let (found, _) = parse_members(
            text,
            "DescribeLoadBalancers",
            "LoadBalancerDescriptions",
            parse_classic,
        )
        .unwrap();
        assert_eq!(found[0].name, "old");
        assert_eq!(found[0].instances, vec!["i-1", "i-2"]);
        assert!(parse_members("<x/>", "DescribeLoadBalancers", "L", parse_classic).is_err());
    }
}
