//! A real browser for the page tests: headless Chromium from the Debian packages, driven over
//! `WebDriver` by chromium-driver on a loopback port. Where no browser is installed the test fails
//! saying so (`.ci/run` installs both), rather than passing without having looked.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub struct Browser {
    driver: Child,
    client: Client,
    rt: tokio::runtime::Runtime,
}

/// The first of these that is installed.
fn installed(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()?;
        found
            .status
            .success()
            .then(|| String::from_utf8_lossy(&found.stdout).trim().to_owned())
    })
}

impl Browser {
    pub fn start() -> Browser {
        let driver = installed(&["chromedriver", "chromium-driver"]).unwrap_or_else(|| {
            panic!(
                "no browser for the page tests: chromedriver is not installed. Install Chromium and its \
                 WebDriver (Debian: apt-get install chromium chromium-driver); .ci/run does"
            )
        });
        let chromium = installed(&["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| {
                panic!(
                    "no browser for the page tests: Chromium is not installed (Debian: apt-get install \
                     chromium chromium-driver); .ci/run does"
                )
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            }),
        );
        let client = rt.block_on(async {
            let started = Instant::now();
            loop {
                let connected =
                    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                        .capabilities(capabilities.clone())
                        .connect(&format!("http://127.0.0.1:{port}"))
                        .await;
                match connected {
                    Ok(client) => break client,
                    Err(e) if started.elapsed() > Duration::from_secs(30) => {
                        panic!("headless Chromium did not start through chromedriver: {e}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Browser { driver, client, rt }
    }

    /// The text a person sees on the page at `url` (the body's rendered text).
    pub fn text(&self, url: &str) -> String {
        self.rt.block_on(async {
            self.client.goto(url).await.expect("the page loads");
            self.client
                .find(Locator::Css("body"))
                .await
                .expect("a body")
                .text()
                .await
                .expect("its text")
        })
    }

    /// The text of each element `css` selects on the page at `url`, in order.
    pub fn texts(&self, url: &str, css: &str) -> Vec<String> {
        self.rt.block_on(async {
            self.client.goto(url).await.expect("the page loads");
            let mut out = Vec::new();
            for e in self
                .client
                .find_all(Locator::Css(css))
                .await
                .expect("the query runs")
            {
                out.push(e.text().await.expect("its text"));
            }
            out
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
