//! `todo-agent` start-up: a bad value stops it with one line naming the variable.

use std::process::Command;

#[expect(clippy::expect_used, reason = "a panic is how a test fails")]
fn start(vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_todo-agent"));
    command.arg("serve").env_clear();
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("run todo-agent")
}

#[test]
fn production_without_a_secret_refuses_to_start() {
    let output = start(&[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("JWT_SECRET is not set"), "{stderr}");
}

#[test]
fn a_bad_value_is_named_in_one_line() {
    for (variable, value) in [
        ("BIND", "nowhere"),
        ("APP_MODE", "staging"),
        ("DATABASE_URL", "mysql://x"),
    ] {
        let output = start(&[("APP_MODE", "developer"), (variable, value)]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
}
