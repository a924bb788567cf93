//! A local AWS API emulator for the EC2 sync tests: the PyPI package moto in server mode,
//! installed by `tests/peers/aws/setup`, started on a free port. Tests create instances in it
//! with the real AWS SDK (`ec2`), and point an account's `endpoint_url` at it. Started with
//! `requiring_credentials`, it checks every request's credentials as AWS does (IAM on), so
//! that unknown keys are refused.

use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
    _process: tokio::process::Child,
}

impl Moto {
    /// An emulator that accepts any credentials.
    pub async fn start() -> Moto {
        Moto::launch(false).await
    }

    /// An emulator that refuses credentials IAM does not know (it knows none).
    pub async fn requiring_credentials() -> Moto {
        Moto::launch(true).await
    }

    async fn launch(check_credentials: bool) -> Moto {
        let program = crate::peer_program("moto-5.2.5/bin/moto_server", "tests/peers/aws/setup");
        let port = crate::free_port();
        let mut command = tokio::process::Command::new(&program);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONWARNINGS", "ignore")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if check_credentials {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let process = command.spawn().expect("cannot start moto_server");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto {
            url,
            _process: process,
        }
    }

    /// An EC2 client of the emulator in `region`.
    pub async fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "jeny-testkit",
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    /// Starts `count` instances in `region` with `tags`; their ids.
    pub async fn run_instances(
        &self,
        region: &str,
        count: i32,
        tags: &[(&str, &str)],
    ) -> Vec<String> {
        use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (key, value) in tags {
            spec = spec.tags(Tag::builder().key(*key).value(*value).build());
        }
        let answer = self
            .ec2(region)
            .await
            .run_instances()
            .image_id("ami-12345678")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(count)
            .max_count(count)
            .tag_specifications(spec.build())
            .send()
            .await
            .expect("the emulator runs instances");
        answer
            .instances()
            .iter()
            .filter_map(|instance| instance.instance_id().map(str::to_owned))
            .collect()
    }
}
