//! The core (`domain`, `call`, `ivr`, `acd`, `recorder::live`) is pure:
//! no sockets, database, web framework, files, environment, randomness or clock reads
//! (STYLE.md §3). This test reads the core's sources and fails on any forbidden path.
//! `tokio::time::Instant` is allowed as a *type*: latency marks ride along as data.
//! `src/ivr/files.rs` is the one exception: it reads the flow files for the pure parser.

use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "src/domain.rs",
    "src/call",
    "src/call.rs",
    "src/acd",
    "src/acd.rs",
    "src/ivr",
    "src/ivr.rs",
    "src/recorder/live.rs",
    "src/recorder/erlang.rs",
    "src/recorder/report.rs",
];

const FORBIDDEN: &[&str] = &[
    "tokio::net",
    "tokio::spawn",
    "tokio::sync",
    "tokio::fs",
    "tokio::task",
    "tokio::time::sleep",
    "sqlx",
    "axum",
    "tungstenite",
    "std::net",
    "std::fs",
    "std::env",
    "std::process",
    "crate::clock",
    "Utc::now",
    "Instant::now",
    "SystemTime",
    "rand::",
    "crate::esl",
    "crate::gateway",
    "crate::store",
    "crate::engine",
    "crate::app",
    "crate::sim",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)
            .expect("readable source folder")
            .flatten()
        {
            rust_files(&entry.path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

#[test]
fn the_core_uses_no_io_clock_or_randomness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for part in CORE {
        rust_files(&root.join(part), &mut files);
    }
    assert!(files.len() >= 6, "core files found: {files:?}");
    let mut violations = Vec::new();
    for file in &files {
        // The IVR's one door to the disk: it reads the flow files and nothing else.
        if file.ends_with("src/ivr/files.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        // Only the code before the unit tests: tests may build fixtures however they like.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or_default();
            for bad in FORBIDDEN {
                if line.contains(bad) {
                    violations.push(format!("{}:{}: uses `{bad}`", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the core must stay pure:\n{}",
        violations.join("\n")
    );
}
