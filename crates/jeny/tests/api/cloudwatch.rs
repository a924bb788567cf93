//! The CloudWatch and load balancer metrics import against a local AWS emulator (moto in server
//! mode): instances, an application load balancer with a target group and metrics are made with
//! the real AWS SDKs, the instances synced to hosts that environments select, and the imported
//! points read back through `/query` with their host, project, environment, region and values.
//! Also: more than 500 queries take several GetMetricData calls, a restart reads on from the
//! cursor with no gap and nothing twice, and datapoints of no project are dropped and counted.

use crate::{call, environment};
use aws_sdk_elasticloadbalancingv2 as elbv2;
use jeny_testkit::{Backend, Client, Moto, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const REGION: &str = "eu-west-1";

fn load_balancing(moto: &Moto) -> elbv2::Client {
    let config = elbv2::Config::builder()
        .behavior_version(elbv2::config::BehaviorVersion::latest())
        .region(elbv2::config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(elbv2::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "jeny-tests",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    elbv2::Client::from_conf(config)
}

/// A datapoint to put: (metric, dimensions, time in seconds, value).
type Datapoint<'a> = (&'a str, Vec<(&'a str, String)>, i64, f64);

/// Puts datapoints, 500 a call. PutMetricData in
/// CloudWatch's Query protocol: the current aws-sdk-cloudwatch speaks a newer protocol that moto
/// 5.2.5 does not route (404), and moto does not check signatures, only which service the
/// credential scope names.
async fn put(moto: &Moto, namespace: &str, datapoints: &[Datapoint<'_>]) {
    let http = reqwest::Client::new();
    for chunk in datapoints.chunks(500) {
        let mut form: Vec<(String, String)> = vec![
            ("Action".into(), "PutMetricData".into()),
            ("Version".into(), "2010-08-01".into()),
            ("Namespace".into(), namespace.into()),
        ];
        for (index, (metric, dimensions, time, value)) in chunk.iter().enumerate() {
            let prefix = format!("MetricData.member.{}", index + 1);
            form.push((format!("{prefix}.MetricName"), (*metric).to_owned()));
            form.push((
                format!("{prefix}.Timestamp"),
                jeny_core::Timestamp::from_micros(time * 1_000_000).to_rfc3339(),
            ));
            form.push((format!("{prefix}.Value"), value.to_string()));
            for (n, (name, dimension_value)) in dimensions.iter().enumerate() {
                let dimension = format!("{prefix}.Dimensions.member.{}", n + 1);
                form.push((format!("{dimension}.Name"), (*name).to_owned()));
                form.push((format!("{dimension}.Value"), dimension_value.clone()));
            }
        }
        let answer = http
            .post(&moto.url)
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=testing/20261208/{REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        assert!(
            status.is_success(),
            "PutMetricData: {status} {}",
            answer.text().await.unwrap()
        );
    }
}

/// The end of the latest window jeny imports now: the last whole minute that ended at least
/// five minutes ago.
fn latest_end() -> i64 {
    let now = jeny_core::Timestamp::now().as_micros() / 1_000_000;
    (now - 300).div_euclid(60) * 60
}

async fn create_account(admin: &Client, moto: &Moto) {
    let (status, account) = call(
        admin,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({
            "name": "main", "regions": [REGION], "access_key_id": "testing",
            "secret_access_key": "testing", "endpoint_url": moto.url,
            // imports on demand only: the test says when
            "enabled": false, "metrics_import": true, "metrics_period_secs": 60,
        })),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["metrics_import"], true);
    assert_eq!(account["metrics_period_secs"], 60);
    let (status, report) = call(admin, Method::POST, "/api/v1/aws/accounts/main/sync", None).await;
    assert_eq!(status, 200, "{report}");
}

async fn import(admin: &Client) -> Value {
    let (status, report) = call(
        admin,
        Method::POST,
        "/api/v1/aws/accounts/main/metrics/import",
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    report
}

/// The rows of an InfluxQL query on `project`, each as column -> value.
async fn rows(admin: &Client, project: &str, q: &str) -> Vec<BTreeMap<String, Value>> {
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let answer: Value = admin
        .request(Method::GET, &format!("/query?db={project}&epoch=s&q={q}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for series in answer["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let columns: Vec<String> = series["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        for values in series["values"].as_array().unwrap() {
            rows.push(
                columns
                    .iter()
                    .cloned()
                    .zip(values.as_array().unwrap().iter().cloned())
                    .collect(),
            );
        }
    }
    rows
}

async fn points_carry_host_project_environment_region_and_values(backend: Backend) {
    let moto = Moto::start().await;
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let web = moto
        .run_instances(REGION, 2, &[("Name", "web"), ("role", "web")])
        .await;
    let batch = moto
        .run_instances(REGION, 1, &[("Name", "batch"), ("role", "batch")])
        .await;
    // An application load balancer whose targets are the web instances, and one with no
    // targets that its tags place in shop/canary.
    let ec2 = moto.ec2(REGION).await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.0.1.0/24", "eu-west-1a"), ("10.0.2.0/24", "eu-west-1b")] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet.unwrap().subnet_id.unwrap());
    }
    let lb = load_balancing(&moto);
    let web_lb = lb
        .create_load_balancer()
        .name("web")
        .set_subnets(Some(subnets.clone()))
        .send()
        .await
        .unwrap()
        .load_balancers
        .unwrap()
        .remove(0);
    let group = lb
        .create_target_group()
        .name("web")
        .protocol(elbv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .target_type(elbv2::types::TargetTypeEnum::Instance)
        .send()
        .await
        .unwrap()
        .target_groups
        .unwrap()
        .remove(0);
    let group_arn = group.target_group_arn.unwrap();
    let mut register = lb.register_targets().target_group_arn(&group_arn);
    for id in &web {
        register = register.targets(elbv2::types::TargetDescription::builder().id(id).build());
    }
    register.send().await.unwrap();
    lb.create_listener()
        .load_balancer_arn(web_lb.load_balancer_arn.clone().unwrap())
        .protocol(elbv2::types::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            elbv2::types::Action::builder()
                .r#type(elbv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&group_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let api_lb = lb
        .create_load_balancer()
        .name("api")
        .set_subnets(Some(subnets))
        .tags(
            elbv2::types::Tag::builder()
                .key("jeny:project")
                .value("shop")
                .build(),
        )
        .tags(
            elbv2::types::Tag::builder()
                .key("jeny:environment")
                .value("canary")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .load_balancers
        .unwrap()
        .remove(0);
    let dimension_of = |arn: &str| arn.split_once(":loadbalancer/").unwrap().1.to_owned();
    let web_dimension = dimension_of(web_lb.load_balancer_arn.as_deref().unwrap());
    let api_dimension = dimension_of(api_lb.load_balancer_arn.as_deref().unwrap());
    let group_dimension = group_arn.rsplit_once(':').unwrap().1.to_owned();
    // Project shop: production and canary both pick the web hosts; nothing picks batch.
    create_account(&admin, &moto).await;
    admin.create_project(&crate::project("shop")).await.unwrap();
    for name in ["production", "canary"] {
        admin
            .create_environment("shop", &environment(name, &[("role", "web")]))
            .await
            .unwrap();
    }
    // One minute of datapoints inside the first import's window (the last three hours' first).
    let at = latest_end() - 3 * 3600 + 600;
    let instance = |id: &String| vec![("InstanceId", id.clone())];
    put(
        &moto,
        "AWS/EC2",
        &[
            ("CPUUtilization", instance(&web[0]), at, 10.0),
            ("CPUUtilization", instance(&web[0]), at + 20, 20.0),
            ("NetworkIn", instance(&web[0]), at, 1000.0),
            ("NetworkIn", instance(&web[0]), at + 30, 500.0),
            ("StatusCheckFailed", instance(&web[1]), at, 1.0),
            ("CPUUtilization", instance(&batch[0]), at, 99.0),
        ],
    )
    .await;
    put(
        &moto,
        "AWS/ApplicationELB",
        &[
            (
                "RequestCount",
                vec![("LoadBalancer", web_dimension.clone())],
                at,
                7.0,
            ),
            (
                "HealthyHostCount",
                vec![
                    ("TargetGroup", group_dimension.clone()),
                    ("LoadBalancer", web_dimension.clone()),
                ],
                at,
                2.0,
            ),
            (
                "TargetResponseTime",
                vec![("LoadBalancer", api_dimension.clone())],
                at,
                0.25,
            ),
        ],
    )
    .await;

    let report = import(&admin).await;

    assert_eq!(report["status"], "ok", "{report}");
    let region = &report["regions"][0];
    assert_eq!(region["status"], "ok", "{report}");
    assert!(region["error"].is_null(), "{report}");
    // 3 instances × 4, the web balancer's 3 and its target group's 4, the api balancer's 3
    assert_eq!(region["queries"], 22, "{report}");
    assert_eq!(region["calls"], 1);
    assert_eq!(region["datapoints"], 7, "{report}");
    assert_eq!(report["unattributed"], 1, "batch's datapoint: {report}");
    assert_eq!(region["unattributed"], 1);
    // web-0 (cpu and network in one point) and web-1, each in two environments; the web
    // balancer and its target group in both; the api balancer in canary
    assert_eq!(report["points"], 9, "{report}");
    let ec2_rows = rows(&admin, "shop", "SELECT * FROM cloudwatch_aws_ec2").await;
    let web0: Vec<_> = ec2_rows
        .iter()
        .filter(|row| row["instance_id"] == web[0].as_str())
        .collect();
    assert_eq!(web0.len(), 2, "{ec2_rows:?}");
    let mut environments: Vec<&str> = web0
        .iter()
        .map(|row| row["environment"].as_str().unwrap())
        .collect();
    environments.sort_unstable();
    assert_eq!(environments, ["canary", "production"]);
    for row in &web0 {
        assert_eq!(row["time"], at);
        assert_eq!(row["host"], "web", "named after its Name tag: {row:?}");
        assert_eq!(row["project"], "shop");
        assert_eq!(row["region"], REGION);
        assert_eq!(row["cpu_utilization_average"], 15.0);
        assert_eq!(row["network_in_sum"], 1500.0);
    }
    let web1: Vec<_> = ec2_rows
        .iter()
        .filter(|row| row["instance_id"] == web[1].as_str())
        .collect();
    assert_eq!(web1.len(), 2);
    assert_eq!(web1[0]["status_check_failed_maximum"], 1.0);
    assert!(
        ec2_rows
            .iter()
            .all(|row| row["instance_id"] != batch[0].as_str()),
        "no environment picks batch: its datapoint is dropped"
    );
    let lb_rows = rows(
        &admin,
        "shop",
        "SELECT * FROM cloudwatch_aws_application_elb",
    )
    .await;
    let web_requests: Vec<_> = lb_rows
        .iter()
        .filter(|row| {
            row["load_balancer"] == web_dimension.as_str()
                && row.get("target_group").is_none_or(Value::is_null)
        })
        .collect();
    assert_eq!(web_requests.len(), 2, "{lb_rows:?}");
    assert_eq!(web_requests[0]["request_count_sum"], 7.0);
    let healthy: Vec<_> = lb_rows
        .iter()
        .filter(|row| row.get("target_group") == Some(&json!(group_dimension)))
        .collect();
    assert_eq!(healthy.len(), 2, "{lb_rows:?}");
    assert_eq!(healthy[0]["healthy_host_count_average"], 2.0);
    let api: Vec<_> = lb_rows
        .iter()
        .filter(|row| row["load_balancer"] == api_dimension.as_str())
        .collect();
    assert_eq!(api.len(), 1, "{lb_rows:?}");
    assert_eq!(api[0]["environment"], "canary");
    assert_eq!(api[0]["target_response_time_average"], 0.25);
    // The account shows its last import.
    let (_, account) = call(&admin, Method::GET, "/api/v1/aws/accounts/main", None).await;
    assert_eq!(account["last_metrics_import"]["points"], 9, "{account}");
}

async fn many_queries_take_several_calls_and_a_restart_reads_on_without_gap_or_double(
    backend: Backend,
) {
    let moto = Moto::start().await;
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    // 126 instances × 4 metrics: 504 queries, more than one call's 500
    let instances = moto.run_instances(REGION, 126, &[("role", "web")]).await;
    create_account(&admin, &moto).await;
    admin.create_project(&crate::project("shop")).await.unwrap();
    admin
        .create_environment("shop", &environment("production", &[("role", "web")]))
        .await
        .unwrap();
    // A datapoint every minute of the last three hours and ten minutes for two instances, the
    // value its minute's time; the import reads them in windows of an hour.
    let end = latest_end();
    let minutes: Vec<i64> = (end - 3 * 3600 - 600..end).step_by(60).collect();
    let watched = [&instances[0], &instances[125]];
    let datapoints: Vec<_> = watched
        .iter()
        .flat_map(|id| {
            minutes.iter().map(move |minute| {
                (
                    "CPUUtilization",
                    vec![("InstanceId", (*id).clone())],
                    *minute,
                    *minute as f64,
                )
            })
        })
        .collect();
    put(&moto, "AWS/EC2", &datapoints).await;

    let first = import(&admin).await;
    assert_eq!(first["regions"][0]["queries"], 504, "{first}");
    assert_eq!(
        first["regions"][0]["calls"], 2,
        "at most 500 queries a call: {first}"
    );
    // A restart: the next imports read on from the cursor.
    let database = app.stop().await;
    let app = TestApp::spawn_on(database, |_| {}).await;
    let admin = app.with_admin().await;
    let mut reports = vec![first];
    loop {
        let report = import(&admin).await;
        let region = report["regions"][0].clone();
        assert_ne!(region["status"], "error", "{report}");
        if region["status"] == "idle" {
            break;
        }
        reports.push(report);
        assert!(reports.len() < 10, "the import never caught up");
    }
    // The windows follow one another with no gap and no overlap.
    let windows: Vec<(i64, i64)> = reports
        .iter()
        .map(|report| {
            let at = |key: &str| {
                jeny_core::Timestamp::parse_rfc3339(report["regions"][0][key].as_str().unwrap())
                    .unwrap()
                    .as_micros()
                    / 1_000_000
            };
            (at("from"), at("to"))
        })
        .collect();
    assert!(
        windows.len() >= 3,
        "three hours in windows of one: {windows:?}"
    );
    for pair in windows.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "{windows:?}");
    }
    let (from, to) = (windows[0].0, windows.last().unwrap().1);
    // Each minute of the windows once per watched instance, with its value.
    for id in watched {
        let rows = rows(
            &admin,
            "shop",
            &format!(
                "SELECT cpu_utilization_average FROM cloudwatch_aws_ec2 WHERE instance_id = '{id}'"
            ),
        )
        .await;
        let times: Vec<i64> = rows
            .iter()
            .map(|row| row["time"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = minutes
            .iter()
            .copied()
            .filter(|minute| (from..to).contains(minute))
            .collect();
        assert_eq!(times, expected, "{id}");
        for row in &rows {
            assert_eq!(
                row["cpu_utilization_average"].as_f64(),
                row["time"].as_f64()
            );
        }
    }
    let total: usize = reports
        .iter()
        .map(|report| report["points"].as_u64().unwrap() as usize)
        .sum();
    let expected = minutes.iter().filter(|m| (from..to).contains(*m)).count() * 2;
    assert_eq!(total, expected, "each datapoint written once");
}

both_backends!(
    points_carry_host_project_environment_region_and_values,
    many_queries_take_several_calls_and_a_restart_reads_on_without_gap_or_double
);
