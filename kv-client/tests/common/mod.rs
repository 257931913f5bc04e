//! What every CLI test file needs: running the real `client` binary in a
//! clean environment and reading what it printed.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `client` with `args`, pointed at `host`, with an empty environment.
pub fn command(host: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_client"));
    command
        .args(args)
        .env_clear()
        .env("KVSTORE_SERVER_HOST", host);
    command
}

/// Runs `client` with `args` against `host`, with an empty stdin.
pub fn client(host: &str, args: &[&str]) -> Output {
    command(host, args)
        .stdin(Stdio::null())
        .output()
        .expect("run client")
}

/// Runs `client` with `input` on its stdin.
pub fn client_with_stdin(host: &str, args: &[&str], input: impl AsRef<[u8]>) -> Output {
    let mut child = command(host, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run client");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_ref()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("client output")
}

/// What it printed on stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What it printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}
