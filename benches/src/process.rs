//! What the benches measure about processes, and the machine chores around a measurement:
//! peak RSS (`VmHWM`) and CPU time from `/proc`, `sync` between measurements, a free loopback
//! port and waiting until a workload answers HTTP on one. Linux only.
//!
//! ```
//! use benches::process::{parse_vm_hwm, peak_rss_kib};
//!
//! assert_eq!(parse_vm_hwm("Name:\tbench\nVmHWM:\t   2048 kB\n"), Some(2048));
//! // This process has a peak RSS of its own.
//! assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
//! ```

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Runs `sync`, so that one run's disk writeback does not land on the next measurement.
pub fn sync() -> Result<(), String> {
    let status = Command::new("sync")
        .status()
        .map_err(|e| format!("cannot run sync: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("sync failed: {status}"))
    }
}

/// Reads `VmHWM` (the peak RSS, in KiB) from the text of a `/proc/PID/status`.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    value.split_whitespace().next()?.parse().ok()
}

/// The peak RSS (`VmHWM`) of process `pid` in KiB, or `None` once it is gone.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The peak RSS (`VmHWM`) of this process in KiB.
pub fn own_peak_rss_kib() -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS (writes `5` to
/// `/proc/self/clear_refs`).
pub fn reset_peak_rss() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// User + system CPU seconds of process `pid` (and of its reaped children, if
/// `with_children`), from `/proc/PID/stat`; `None` once it is gone.
pub fn cpu_seconds(pid: u32, with_children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_stat_ticks(&stat, with_children)? / clock_ticks_per_second()?)
}

/// The CPU clock ticks in the text of a `/proc/PID/stat`: utime + stime (+ cutime + cstime
/// if `with_children`).
pub fn parse_stat_ticks(stat: &str, with_children: bool) -> Option<f64> {
    // Fields after the command name, which is in parentheses and may hold spaces: the
    // state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let mut ticks = field(14)? + field(15)?;
    if with_children {
        ticks += field(16)? + field(17)?;
    }
    Some(ticks)
}

/// `getconf CLK_TCK`, the unit of `/proc/PID/stat` times (asked once).
pub fn clock_ticks_per_second() -> Option<f64> {
    static TICKS: OnceLock<Option<f64>> = OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    })
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `127.0.0.1:port` answers an HTTP GET of `/`, polling every 10 ms; an error
/// once `deadline` has passed.
pub fn wait_http(port: u16, deadline: Duration) -> Result<(), String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while !answers_http(address) {
        if start.elapsed() >= deadline {
            return Err(format!("{address} never answered in {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Whether `address` answers `GET /` with an HTTP status line (of any status).
pub fn answers_http(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_err()
        || stream
            .write_all(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
            .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    head[..read].starts_with(b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};

    use super::*;

    #[test]
    fn parses_vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1234));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
        assert!(own_peak_rss_kib().unwrap() > 0);
    }

    #[test]
    fn parses_stat_ticks_with_spaces_in_the_name() {
        // pid (comm) state ppid ... utime stime cutime cstime ...
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17";
        assert_eq!(parse_stat_ticks(stat, false), Some(11.0 + 12.0));
        assert_eq!(
            parse_stat_ticks(stat, true),
            Some(11.0 + 12.0 + 13.0 + 14.0)
        );
        assert_eq!(parse_stat_ticks("42 (x) S 1", false), None);
        assert!(cpu_seconds(std::process::id(), true).is_some());
    }

    #[test]
    fn http_answer_on_a_loopback_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).unwrap();
            (&stream).write_all(b"HTTP/1.0 200 OK\r\n\r\nhi").unwrap();
            request
        });
        wait_http(port, Duration::from_secs(60)).unwrap();
        assert_eq!(server.join().unwrap(), "GET / HTTP/1.0\r\n");
    }

    #[test]
    fn a_closed_port_does_not_answer() {
        let port = free_port().unwrap();
        assert!(!answers_http(SocketAddr::from(([127, 0, 0, 1], port))));
    }
}
