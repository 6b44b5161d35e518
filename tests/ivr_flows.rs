//! Flow files: the shipped flows load against the default configuration, `kefu flows check`
//! says so, and each file in `tests/ivr_flows/invalid/` is refused with exactly the errors in
//! the `.expected` file beside it (`path:line:col: message`, one per line).

use std::path::Path;

use kefu::config::Config;
use kefu::ivr::{Known, check_dir, load_dir, parse_flow};

fn known() -> Known {
    Known::from_config(&Config::defaults().expect("defaults"))
}

#[test]
fn the_shipped_flows_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr_flows");
    let flows = load_dir(&dir, &known()).unwrap_or_else(|errors| {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("shipped flows invalid:\n{}", listed.join("\n"))
    });
    let names: Vec<&str> = flows.names().collect();
    assert_eq!(names, ["after_hours", "main", "survey"]);
}

#[test]
fn each_invalid_flow_gets_exactly_its_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ivr_flows/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("invalid flows folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the invalid flows are there: {files:?}");
    let mut mismatches = Vec::new();
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let text = std::fs::read_to_string(&file).expect("readable");
        let shown = format!("{name}.toml");
        let errors = match parse_flow(name, &shown, &text, &known()) {
            Ok(_) => panic!("{shown} was accepted"),
            Err(errors) => errors,
        };
        let got: String = errors.iter().map(|e| format!("{e}\n")).collect();
        let expected_file = file.with_extension("expected");
        if std::env::var("KEFU_BLESS").is_ok() {
            std::fs::write(&expected_file, &got).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|_| panic!("{} is missing", expected_file.display()));
        if got != expected {
            mismatches.push(format!("{shown}\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_directory_check_reports_every_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ivr_flows/invalid");
    let errors = check_dir(&dir, &known());
    let files: std::collections::BTreeSet<_> = errors.iter().map(|e| e.path.clone()).collect();
    assert_eq!(files.len(), 18, "{files:?}");
    assert!(
        check_dir(Path::new("/nonexistent/flows"), &known())[0]
            .message
            .contains("cannot read the flows directory")
    );
}

#[test]
fn kefu_flows_check_prints_each_error_and_fails() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kefu = env!("CARGO_BIN_EXE_kefu");
    let ok = std::process::Command::new(kefu)
        .args(["flows", "check"])
        .arg(root.join("ivr_flows"))
        .output()
        .expect("kefu runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("flows OK"));

    let bad = std::process::Command::new(kefu)
        .args(["flows", "check"])
        .arg(root.join("tests/ivr_flows/invalid"))
        .output()
        .expect("kefu runs");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("syntax_error.toml:5:21: invalid basic string"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unreachable.toml:7:8: node `orphan` is unreachable"),
        "{stderr}"
    );
}
