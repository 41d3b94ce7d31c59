//! The AWS API emulator for tests: moto's server from the project's virtualenv
//! (`scripts/emulator install`), one per test on a free loopback port, stopped when dropped.

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::test::root;

pub const REGION: &str = "ap-south-1";

pub struct Emulator {
    child: Child,
    pub url: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        let bin = root().join(".venv/bin/moto_server");
        assert!(
            bin.exists(),
            "the AWS emulator is not installed: run `scripts/emulator install` (scripts/test does)"
        );
        // Port 0: the server picks a free port and says which, so two emulators starting at
        // once never race for one port (a port picked here and freed could be taken by both).
        let mut child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            // Read every line, for ever: a full pipe would stop the server.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port: u16 = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the emulator says its port within a minute")
            .parse()
            .expect("a port number");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the emulator did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Emulator {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Pause (`STOP`) or resume (`CONT`) the emulator's process: paused, it accepts connections
    /// and never answers.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "could not send {signal} to the emulator");
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        self.ec2_in(REGION)
    }

    /// EC2 of another region (the emulator serves every region).
    pub fn ec2_in(&self, region: &str) -> aws_sdk_ec2::Client {
        let creds =
            aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests");
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(creds)
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }
}

impl Emulator {
    pub fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        self.elbv2_in(REGION)
    }

    /// `ELBv2` of another region.
    pub fn elbv2_in(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        let creds = aws_sdk_elasticloadbalancingv2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        );
        let config = aws_sdk_elasticloadbalancingv2::Config::builder()
            .behavior_version(aws_sdk_elasticloadbalancingv2::config::BehaviorVersion::latest())
            .region(aws_sdk_elasticloadbalancingv2::config::Region::new(
                region.to_owned(),
            ))
            .endpoint_url(&self.url)
            .credentials_provider(creds)
            .build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(config)
    }
}

impl Emulator {
    pub fn route53(&self) -> aws_sdk_route53::Client {
        let creds =
            aws_sdk_route53::config::Credentials::new("testing", "testing", None, None, "tests");
        let config = aws_sdk_route53::Config::builder()
            .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
            .region(aws_sdk_route53::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(creds)
            .build();
        aws_sdk_route53::Client::from_conf(config)
    }
}

impl Emulator {
    /// S3 of the same emulator, path-style (an address has no bucket subdomains).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests");
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A bucket in the emulator's S3, in the tests' region.
    pub async fn create_bucket(&self, name: &str) {
        self.s3()
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::ApSouth1)
                    .build(),
            )
            .send()
            .await
            .expect("a bucket in the emulator");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment of a `runbook` process that must only ever talk to the emulator: dummy
/// credentials, no shared config files, no instance metadata.
pub fn isolate(cmd: &mut Command, home: &std::path::Path) {
    for key in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        cmd.env_remove(key);
    }
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
}
