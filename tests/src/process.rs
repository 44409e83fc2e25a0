//! Servers started as child processes: finding the URL they log when they are ready.

use std::time::Duration;

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Child,
};

/// How long a server gets to start before a test fails instead of hanging.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `child`'s stderr until a line containing `ready_marker` has been seen after a line
/// with an `http://` URL, and answers that URL (without a trailing `/`). The rest of the log
/// keeps being drained so the server never blocks on a full pipe.
pub(crate) async fn logged_url(child: &mut Child, name: &str, ready_marker: &str) -> String {
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let url = tokio::time::timeout(START_TIMEOUT, async {
        let mut url: Option<String> = None;
        while let Some(line) = lines.next_line().await.expect("read the server's stderr") {
            if let (None, Some(at)) = (&url, line.find("http://")) {
                let found = line[at..].split_whitespace().next().unwrap_or_default();
                url = Some(found.trim_end_matches('/').to_owned());
            }
            if let Some(url) = url.as_ref().filter(|_| line.contains(ready_marker)) {
                return url.clone();
            }
        }
        panic!("{name} exited before it was ready");
    })
    .await
    .unwrap_or_else(|_| panic!("{name} starts in time"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}
