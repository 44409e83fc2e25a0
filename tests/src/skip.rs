//! Skipping tests whose prerequisites are missing, loudly.
//!
//! A skipped test passes, but writes one line straight to the process's stderr (not through
//! the test harness's capture), so `cargo test` shows what did not run and why. With
//! `TODO_TEST_REQUIRE_ALL=1` (as CI sets it) a skip panics instead.

use std::{io::Write as _, process::Stdio};

/// True when skips are failures.
pub fn require_all() -> bool {
    std::env::var("TODO_TEST_REQUIRE_ALL").is_ok_and(|value| value.trim() == "1")
}

/// Reports that `test` did not run because of `reason`; panics under `TODO_TEST_REQUIRE_ALL=1`.
pub fn skip(test: &str, reason: &str) {
    assert!(
        !require_all(),
        "{test} cannot run: {reason} (TODO_TEST_REQUIRE_ALL=1 forbids skipping)"
    );
    // Straight to the file descriptor: libtest captures `eprintln!` but not this.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

/// True when `program args` runs and succeeds (an optional tool is installed); otherwise
/// reports that `test` is skipped for `reason`.
pub async fn tool_available(test: &str, program: &str, args: &[&str], reason: &str) -> bool {
    let found = tokio::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success());
    if !found {
        skip(test, reason);
    }
    found
}
