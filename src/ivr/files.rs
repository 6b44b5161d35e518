//! The only IVR file that touches the disk: reads `*.toml` of a directory, each file one flow
//! named after its stem.

use std::path::{Path, PathBuf};

use super::{FlowError, FlowSet, Known, parse};

/// Loads every flow of `dir`, or returns every error of every file.
///
/// # Errors
/// An unreadable directory or file, or any invalid flow.
pub fn load_dir(dir: &Path, known: &Known) -> Result<FlowSet, Vec<FlowError>> {
    let files = flow_files(dir)?;
    let mut known = known.clone();
    known.flows = files.iter().map(|(name, _)| name.clone()).collect();
    let mut set = FlowSet::default();
    let mut errors = Vec::new();
    for (name, path) in files {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                errors.push(whole_file(&shown, format!("cannot read: {e}")));
                continue;
            }
        };
        match parse::parse_flow(&name, &shown, &text, &known) {
            Ok(flow) => {
                set.flows.insert(name, std::sync::Arc::new(flow));
            }
            Err(mut found) => errors.append(&mut found),
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

/// Every error of the flows in `dir` (empty when all are valid).
pub fn check_dir(dir: &Path, known: &Known) -> Vec<FlowError> {
    load_dir(dir, known).err().unwrap_or_default()
}

fn flow_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Vec<FlowError>> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![whole_file(
            &shown,
            format!("cannot read the flows directory: {e}"),
        )]
    })?;
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(vec![whole_file(&shown, "no flows (*.toml) here".into())]);
    }
    Ok(files)
}

fn whole_file(path: &str, message: String) -> FlowError {
    FlowError {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message,
    }
}
