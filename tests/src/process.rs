//! Servers started as child processes: finding the URL they log when they are ready, and
//! keeping what they log.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Child,
    sync::Notify,
};

/// How long a server gets to start before a test fails instead of hanging.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `child`'s stderr until a line containing `ready_marker` has been seen after a line
/// with an `http://` URL, and answers that URL (without a trailing `/`) and the log, which
/// keeps every line: the rest is read as it comes, so the server never blocks on a full pipe.
pub(crate) async fn logged_url(
    child: &mut Child,
    name: &str,
    ready_marker: &str,
) -> (String, ServerLog) {
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let log = ServerLog::default();
    let url = tokio::time::timeout(START_TIMEOUT, async {
        let mut url: Option<String> = None;
        while let Some(line) = lines.next_line().await.expect("read the server's stderr") {
            if let (None, Some(at)) = (&url, line.find("http://")) {
                // In a JSON line the URL ends at a quote.
                let found: String = line[at..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                url = Some(found.trim_end_matches('/').to_owned());
            }
            let ready = line.contains(ready_marker);
            log.push(line);
            if let Some(url) = url.as_ref().filter(|_| ready) {
                return url.clone();
            }
        }
        panic!("{name} exited before it was ready");
    })
    .await
    .unwrap_or_else(|_| panic!("{name} starts in time"));
    let kept = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            kept.push(line);
        }
    });
    (url, log)
}

/// Every line a server process logged so far.
#[derive(Clone, Default)]
pub struct ServerLog(Arc<LogLines>);

#[derive(Default)]
struct LogLines {
    lines: Mutex<Vec<String>>,
    added: Notify,
}

impl ServerLog {
    fn push(&self, line: String) {
        self.0
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line);
        self.0.added.notify_waiters();
    }

    pub fn lines(&self) -> Vec<String> {
        self.0
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits (up to 10 s) until a line containing `text` has been logged.
    pub async fn wait_for(&self, text: &str) {
        let found = async {
            loop {
                let added = self.0.added.notified();
                if self.lines().iter().any(|line| line.contains(text)) {
                    return;
                }
                added.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), found)
            .await
            .unwrap_or_else(|_| panic!("no log line with {text:?}: {:#?}", self.lines()));
    }
}

/// CPU time (user and system, all threads) a process has used so far: `pid`, or this process
/// with `None`. Read from `/proc/<pid>/stat` in clock ticks of 10 ms, so measure spans of
/// seconds.
pub fn cpu_time(pid: Option<u32>) -> Duration {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |pid| format!("/proc/{pid}/stat"),
    );
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {path}: {err}"));
    // The fields after the command name, which is in parentheses and may hold spaces: utime
    // and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let after = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SECOND)
}

/// The resident memory of process `pid` in KB (`VmRSS`), or 0 when it is gone.
pub fn resident_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// `sysconf(_SC_CLK_TCK)`, 100 on every Linux this runs on.
const CLOCK_TICKS_PER_SECOND: u64 = 100;
