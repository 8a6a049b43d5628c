//! Streaming benchmarks, ignored by the normal suite; `scripts/bench-streaming` runs them and
//! docs/BENCHMARKS.md records the figures.
//!
//! * 1,000 connections, each sending an unfinished 1 MB body without a token, to the real binary:
//!   its RSS while they are open and after they close, against its idle RSS.

use crate::support::fake_workspace::FakeWorkspace;
use crate::support::BinaryServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The process's resident set size in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[test]
#[ignore = "benchmark: scripts/bench-streaming"]
fn unfinished_bodies_without_a_token_hold_no_memory() {
    const CONNECTIONS: usize = 1000;
    const SENT: usize = 256 * 1024;
    const ROUNDS: usize = 3;
    let fake = FakeWorkspace::start();
    let server = BinaryServer::start(&[("DATABRICKS_HOST", fake.url().as_str())]);
    let pid = server.child.id();
    // Warm up: the runtime's threads and buffers exist before idle is read.
    for _ in 0..50 {
        let _ = crate::support::get(&server.url("/health"), &[]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(pid);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut after_rounds = Vec::new();
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let chunk = vec![b'x'; SENT];
        let mut open = Vec::with_capacity(CONNECTIONS);
        let mut peak = idle;
        for i in 0..CONNECTIONS {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream
                .set_write_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let head = "POST /api/v1/metrics/usage-events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            // The server may refuse the body before all of this is sent.
            let _ = stream.write_all(&chunk);
            open.push(stream);
            if i % 100 == 99 {
                peak = peak.max(rss_kib(pid));
            }
        }
        let mut answered_401 = 0;
        for stream in &mut open {
            let mut answer = [0u8; 12];
            if stream.read_exact(&mut answer).is_ok() && answer.starts_with(b"HTTP/1.1 401") {
                answered_401 += 1;
            }
        }
        peak = peak.max(rss_kib(pid));
        let sending = started.elapsed();
        drop(open);
        std::thread::sleep(Duration::from_secs(2));
        let after = rss_kib(pid);
        println!(
            "round {round}: {CONNECTIONS} connections × {SENT} bytes sent of 1 MiB announced, no token, in {:.1} s: {answered_401} answered 401; RSS idle {:.1} MiB, peak {:.1} MiB, after close {:.1} MiB ({:+.1} MiB, {:+.0} % of idle)",
            sending.as_secs_f64(),
            mib(idle),
            mib(peak),
            mib(after),
            mib(after) - mib(idle),
            (after as f64 - idle as f64) * 100.0 / idle as f64
        );
        assert_eq!(answered_401, CONNECTIONS, "every request is refused");
        assert!(peak < 128 * 1024, "peak RSS {peak} KiB");
        after_rounds.push(after);
    }
    // What stays after a round is glibc's allocator keeping freed memory in its per-thread
    // arenas for reuse (every connection is closed: the process holds no socket of theirs); it
    // does not grow without bound from round to round.
    assert!(
        after_rounds.iter().all(|kib| *kib < idle + 16 * 1024),
        "RSS after close: {after_rounds:?} KiB, idle {idle} KiB"
    );
}
