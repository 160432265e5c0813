//! Interop client scripts (python3, node) run by the interop tests: each prints one line per
//! observation and `DONE` last, and the test asserts the lines.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

/// Panics with `install` unless `check` runs and exits 0: the client the tests need is there.
/// Checked once per test process and command; `need` names it in the message.
pub fn require(check: &mut std::process::Command, need: &str, install: &str) {
    static CHECKED: Mutex<Option<HashMap<String, Result<(), String>>>> = Mutex::new(None);
    let key = format!("{check:?}");
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    let result = checked
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert_with(|| {
            let out = check
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {:?}: {e}", check.get_program()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
            }
        })
        .clone();
    if let Err(e) = result {
        panic!(
            "these interop tests need {need} ({e}); install with `{install}` (`bash .ci/run` does)"
        );
    }
}

/// Runs `script` (stdin closed, killed if the test ends first) for at most `timeout`, asserts that
/// it exited 0 and printed `DONE` last, and returns the lines before it. `what` names the run in
/// failure messages, which carry the script's stdout and stderr.
pub async fn script_lines(
    mut script: tokio::process::Command,
    what: &str,
    timeout: Duration,
) -> Vec<String> {
    let run = script.stdin(Stdio::null()).kill_on_drop(true).output();
    let out = tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in {timeout:?}"))
        .unwrap_or_else(|e| {
            panic!(
                "{what}: cannot run {:?}: {e}",
                script.as_std().get_program()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}--- stderr\n{stderr}",
        out.status
    );
    let mut lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(
        lines.pop().as_deref(),
        Some("DONE"),
        "{what} did not complete:\n{stdout}{stderr}"
    );
    lines
}

/// The lines a script is expected to print, as [`script_lines`] returns them.
pub fn lines(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}
