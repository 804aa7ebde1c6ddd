//! The dashboard in headless Chromium: it loads, shows a PE that
//! registers and drops it when the PE dies, following the watch stream.
//! A screenshot goes to `target/tmp/dashboard-test/screenshot.png`.
//!
//! Needs Chromium (`/usr/bin/chromium`, or the path in `CHROMIUM`); CI
//! installs it. Without it the test fails, unless
//! `RSERPOOL_SKIP_BROWSER_TEST=1` says to skip it.
#![allow(clippy::unwrap_used)]

use crate::common::{local, placeholder};
use base64::Engine;
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle};
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::TransportMode;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::{Policy, ServerId};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

const WAIT: Duration = Duration::from_secs(30);

async fn registrar() -> RegistrarHandle {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(0xda5b), placeholder);
    c.mentor_discovery_timeout = Duration::from_millis(300);
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = TransportMode::Tcp;
    d.metrics = Some(local());
    start(d).await.unwrap()
}

async fn pool_element(pool: &str, policy: Policy, registrar: SocketAddr) -> PoolElementHandle {
    let mut cfg = PoolElementConfig::new(pool, policy);
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.transport = TransportMode::Tcp;
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered");
    pe
}

/// A headless Chromium of our own, ended when dropped.
struct Browser {
    child: Child,
    _profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium with a fresh profile; the DevTools WebSocket URL.
    fn start(binary: &Path, dir: &Path) -> (Browser, String) {
        let profile = dir.join("profile");
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1440,900",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let browser = Browser {
            child,
            _profile: profile.clone(),
        };
        // Chromium writes its port and browser path here once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                let mut lines = s.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    return (browser, format!("ws://127.0.0.1:{port}{path}"));
                }
            }
            assert!(Instant::now() < deadline, "Chromium did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A minimal Chrome DevTools Protocol client: commands on one page
/// session over the browser's WebSocket.
struct Cdp {
    ws: WebSocket<TcpStream>,
    next: u64,
    session: Option<String>,
}

impl Cdp {
    fn connect(url: &str) -> Cdp {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, _) = tungstenite::client(url, stream).unwrap();
        Cdp {
            ws,
            next: 1,
            session: None,
        }
    }

    /// Sends a command and waits for its result (events are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page and attaches to it.
    fn open(&mut self, url: &str) {
        let t = self.call("Target.createTarget", json!({"url": url}));
        let s = self.call(
            "Target.attachToTarget",
            json!({"targetId": t["targetId"], "flatten": true}),
        );
        self.session = Some(s["sessionId"].as_str().unwrap().to_string());
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    fn wait_for(&mut self, what: &str, expression: &str) {
        let deadline = Instant::now() + WAIT;
        while self.eval(expression) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "dashboard: {what} did not happen; page text:\n{}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, to: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(to, png).unwrap();
    }
}

fn row(pool: &str, pe: &PoolElementHandle) -> String {
    format!(
        "document.querySelector('tr.pe[data-pe=\"{pool}/{}\"]') !== null",
        pe.pe_id().0
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_follows_pes() {
    let binary = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    if !binary.exists() {
        if std::env::var("RSERPOOL_SKIP_BROWSER_TEST").as_deref() == Ok("1") {
            eprintln!("skipped: no Chromium at {}", binary.display());
            return;
        }
        panic!(
            "no Chromium at {} (apt-get install chromium, or set CHROMIUM; \
             RSERPOOL_SKIP_BROWSER_TEST=1 skips this test)",
            binary.display()
        );
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-test");
    std::fs::create_dir_all(&dir).unwrap();

    let r = registrar().await;
    let http = r.http_addr().unwrap();
    let asap = r.asap_addrs()[0];
    let background = pool_element("compute", Policy::RoundRobin, asap).await;

    let (_browser, url) = Browser::start(&binary, &dir);
    let mut cdp = tokio::task::block_in_place(|| {
        let mut cdp = Cdp::connect(&url);
        cdp.open(&format!("http://{http}/"));
        cdp.wait_for(
            "the watch stream is live",
            "document.getElementById('live').textContent === 'live'",
        );
        cdp.wait_for("the existing PE shows", &row("compute", &background));
        cdp
    });

    // PEs that register now appear by the watch stream.
    let mut pes = Vec::new();
    for load in [0x2000_0000, 0x8000_0000, 0xc000_0000] {
        pes.push(pool_element("web", Policy::LeastUsed { load }, asap).await);
    }
    let victim = pes.remove(1);
    let shows = row("web", &victim);
    let others: Vec<String> = pes.iter().map(|p| row("web", p)).collect();
    tokio::task::block_in_place(|| {
        cdp.wait_for("the new PE shows", &shows);
        for o in &others {
            cdp.wait_for("the other new PEs show", o);
        }
        cdp.wait_for(
            "the registrar's ID shows",
            "document.getElementById('reg-id').textContent === '0x0000da5b'",
        );
        cdp.wait_for(
            "the scope counts the PEs",
            "document.getElementById('registrar').textContent.includes('4 (4 homed here)')",
        );
        // Its history: a click on its row.
        cdp.eval(&format!(
            "document.querySelector('tr.pe[data-pe=\"web/{}\"]').click()",
            victim.pe_id().0
        ));
        cdp.wait_for(
            "the PE's history shows its registration",
            "document.querySelector('#history .badge.registered') !== null",
        );
        cdp.screenshot(&dir.join("screenshot.png"));
    });

    // Killed: it disappears, the others stay.
    victim.kill();
    tokio::task::block_in_place(|| {
        cdp.wait_for("the killed PE disappears", &format!("!({shows})"));
        for o in &others {
            assert_eq!(cdp.eval(o), json!(true), "another PE vanished");
        }
        cdp.wait_for(
            "the removal is in the recent changes",
            "document.querySelector('#changes .badge.removed') !== null",
        );
        cdp.screenshot(&dir.join("screenshot-after-kill.png"));
    });
    eprintln!("screenshot: {}", dir.join("screenshot.png").display());
    drop(pes);
    drop(background);
    r.stop().await.unwrap();
}
