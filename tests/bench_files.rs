//! Files benchmarks, ignored by the normal suite; `scripts/bench-files` runs them.
//!
//! * 1 GiB downloaded and uploaded through the real binary with curl, against curl talking to
//!   the same fake Files API directly in the same run: throughput ratio, and the binary's RSS
//!   growth over its idle RSS (sampled every 20 ms during the transfer).
//! * A listing of 10,000 entries (10 upstream pages of 1,000) through the binary, against the
//!   same 10 pages fetched directly: the time brickbox adds.
//!
//! `BRICKBOX_BIN` picks the binary to measure (default: the debug build the tests use).

use crate::support::fake_workspace::files::{generated, generated_path, MANY_DIR, VOLUME};
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::BinaryServer;
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GIB: u64 = 1024 * 1024 * 1024;
const ROUNDS: usize = 5;

/// The binary under test: `BRICKBOX_BIN`, else the debug build.
fn start(fake: &FakeWorkspace) -> BinaryServer {
    let url = fake.url();
    let env = [("DATABRICKS_HOST", url.as_str())];
    match std::env::var("BRICKBOX_BIN") {
        Ok(bin) if !bin.is_empty() => BinaryServer::start_binary(&bin, &env),
        _ => BinaryServer::start(&env),
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// Run curl with `args`; `(http_code, bytes moved, seconds)`, and the peak RSS of `pid` meanwhile.
fn curl(args: &[&str], pid: u32) -> (u16, u64, f64, u64) {
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let output = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download} %{size_upload} %{time_total}",
        ])
        .args(args)
        .output()
        .expect("curl runs");
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let parts: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(parts.len(), 4, "curl said {text:?}");
    let code = parts[0].parse().unwrap();
    let moved = parts[1].parse::<u64>().unwrap() + parts[2].parse::<u64>().unwrap();
    let secs = parts[3].parse().unwrap();
    (code, moved, secs, peak.load(Ordering::Relaxed))
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: scripts/bench-files"]
fn one_gib_through_brickbox_against_curl_direct() {
    let fake = FakeWorkspace::start();
    let server = start(&fake);
    let pid = server.child.id();
    let token_header = format!("X-Forwarded-Access-Token: {}", scim::ALICE);
    let bearer = format!("Authorization: Bearer {}", scim::ALICE);

    // The upload source: 1 GiB of the generated pattern on disk (in the page cache after writing).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-files");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("1gib.bin");
    if std::fs::metadata(&source).map(|m| m.len()).ok() != Some(GIB) {
        let mut f = std::fs::File::create(&source).unwrap();
        let piece = generated(0, 65_521 * 64);
        let mut written = 0u64;
        while written < GIB {
            let n = (GIB - written).min(piece.len() as u64) as usize;
            f.write_all(&piece[..n]).unwrap();
            written += n as u64;
        }
    }
    let source = source.to_str().unwrap().to_string();

    let path = generated_path(GIB);
    let direct_get = format!("{}/api/2.0/fs/files{path}", fake.url());
    let through_get = server.url(&format!(
        "/api/files/download?path={}",
        shared::util::percent_encode(&path)
    ));
    let target = format!("{VOLUME}/bench/1gib.bin");
    let direct_put = format!("{}/api/2.0/fs/files{target}?overwrite=true", fake.url());
    let through_put = server.url(&format!(
        "/api/files/upload?path={}&overwrite=true",
        shared::util::percent_encode(&target)
    ));

    // Warm up: threads, pools and buffers exist before idle is read.
    let small = generated_path(8 * 1024 * 1024);
    for _ in 0..3 {
        let url = server.url(&format!(
            "/api/files/download?path={}",
            shared::util::percent_encode(&small)
        ));
        assert_eq!(curl(&["-H", &token_header, &url], pid).0, 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    let idle = rss_kib(pid);

    let (mut down_direct, mut down_through, mut up_direct, mut up_through) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut peak = idle;
    for round in 1..=ROUNDS {
        let (code, n, secs, _) = curl(&["-H", &bearer, &direct_get], pid);
        assert_eq!((code, n), (200, GIB));
        down_direct.push(mib_s(n, secs));
        let (code, n, secs, p) = curl(&["-H", &token_header, &through_get], pid);
        assert_eq!((code, n), (200, GIB));
        down_through.push(mib_s(n, secs));
        peak = peak.max(p);

        let (code, n, secs, _) = curl(
            &[
                "-H",
                &bearer,
                "-H",
                "Content-Type: application/octet-stream",
                "-T",
                &source,
                &direct_put,
            ],
            pid,
        );
        assert_eq!((code, n), (200, GIB));
        up_direct.push(mib_s(n, secs));
        let (code, n, secs, p) = curl(
            &[
                "-H",
                &token_header,
                "-H",
                "Content-Type: application/octet-stream",
                "-T",
                &source,
                &through_put,
            ],
            pid,
        );
        assert_eq!(code, 201);
        assert!(n >= GIB);
        up_through.push(mib_s(GIB, secs));
        peak = peak.max(p);
        let stored = fake.state().files.files.get(&target).map(|f| f.size);
        assert_eq!(stored, Some(GIB));
        println!(
            "round {round}: download direct {:.0} MiB/s, through {:.0} MiB/s; upload direct {:.0} MiB/s, through {:.0} MiB/s",
            down_direct[round - 1], down_through[round - 1], up_direct[round - 1], up_through[round - 1]
        );
    }
    // Each round's pair ran back to back: the ratio of a pair is steadier on a shared machine than
    // the ratio of two medians.
    let ratio = |through: &[f64], direct: &[f64]| {
        median(through.iter().zip(direct).map(|(t, d)| t / d).collect())
    };
    let down = ratio(&down_through, &down_direct);
    let up = ratio(&up_through, &up_direct);
    let growth_mib = (peak as f64 - idle as f64) / 1024.0;
    println!(
        "1 GiB download: through brickbox {:.0} MiB/s vs curl direct {:.0} MiB/s (medians of {ROUNDS}); median ratio of the paired rounds {:.2}",
        median(down_through),
        median(down_direct),
        down
    );
    println!(
        "1 GiB upload:   through brickbox {:.0} MiB/s vs curl direct {:.0} MiB/s (medians of {ROUNDS}); median ratio of the paired rounds {:.2}",
        median(up_through),
        median(up_direct),
        up
    );
    println!(
        "brickbox RSS: idle {:.1} MiB, peak during the transfers {:.1} MiB (+{growth_mib:.1} MiB)",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(growth_mib < 32.0, "RSS grew by {growth_mib:.1} MiB");
    assert!(down >= 0.8, "download ratio {down:.2}");
    assert!(up >= 0.8, "upload ratio {up:.2}");
}

#[test]
#[ignore = "benchmark: scripts/bench-files"]
fn listing_ten_thousand_entries_adds_little_to_the_upstream_time() {
    let fake = FakeWorkspace::start();
    let server = start(&fake);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let direct = |token: &str| {
        let started = Instant::now();
        let mut page_token: Option<String> = None;
        let mut entries = 0;
        loop {
            let mut url = format!(
                "{}/api/2.0/fs/directories{MANY_DIR}?page_size=1000",
                fake.url()
            );
            if let Some(t) = &page_token {
                url.push_str(&format!("&page_token={t}"));
            }
            let mut r = agent
                .get(&url)
                .header("Authorization", format!("Bearer {token}"))
                .call()
                .unwrap();
            let page: serde_json::Value = serde_json::from_slice(
                &r.body_mut()
                    .with_config()
                    .limit(64 << 20)
                    .read_to_vec()
                    .unwrap(),
            )
            .unwrap();
            entries += page["contents"].as_array().unwrap().len();
            page_token = page["next_page_token"].as_str().map(str::to_string);
            if page_token.is_none() {
                break;
            }
        }
        assert_eq!(entries, 10_000);
        started.elapsed().as_secs_f64() * 1000.0
    };
    let url = server.url(&format!(
        "/api/files/list?path={}",
        shared::util::percent_encode(MANY_DIR)
    ));
    let through = || {
        let started = Instant::now();
        let mut r = agent
            .get(&url)
            .header("X-Forwarded-Access-Token", scim::ALICE)
            .call()
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(
            &r.body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(body["entries"].as_array().unwrap().len(), 10_000);
        started.elapsed().as_secs_f64() * 1000.0
    };
    // Warm up (identity cache, connections).
    direct(scim::ALICE);
    through();
    let (mut d, mut t) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        d.push(direct(scim::ALICE));
        t.push(through());
    }
    let (d, t) = (median(d), median(t));
    println!(
        "listing 10,000 entries (10 upstream pages): through brickbox {t:.1} ms, upstream pages fetched directly {d:.1} ms, added {:.1} ms (median of 7)",
        t - d
    );
    assert!(t - d <= 200.0, "brickbox added {:.1} ms", t - d);
}
