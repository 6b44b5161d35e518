//! The only IVR file that touches the disk: reads `*.toml` of a directory, each file one flow
//! named after its stem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{FlowError, FlowSet, Known, parse};
use crate::config::Config;

/// The flows new calls start on, and how to load them again from `flows.dir`. A reload
/// swaps in the new set only when all of it is valid; calls already in the IVR keep the
/// version they started with (each run holds its own flow).
#[derive(Clone)]
pub struct FlowLibrary {
    config: Arc<Config>,
    current: Arc<ArcSwap<FlowSet>>,
}

impl FlowLibrary {
    /// Loads `flows.dir` for the first time.
    ///
    /// # Errors
    /// Every error of every file, one line each.
    pub fn load(config: Arc<Config>) -> Result<FlowLibrary, Vec<String>> {
        let set = load_configured(&config, &Known::from_config(&config))?;
        Ok(FlowLibrary {
            config,
            current: Arc::new(ArcSwap::from_pointee(set)),
        })
    }

    /// The running set, as the engine reads it.
    pub fn current(&self) -> Arc<ArcSwap<FlowSet>> {
        self.current.clone()
    }

    /// Loads the directory again, checking names against `known` (the queues, skills and
    /// tiers kefu runs with now); returns how many flows are running now.
    ///
    /// # Errors
    /// The new set is invalid (every error, one line each); the running set stays.
    pub fn reload(&self, known: &Known) -> Result<usize, Vec<String>> {
        let set = load_configured(&self.config, known)?;
        let count = set.len();
        self.current.store(Arc::new(set));
        Ok(count)
    }
}

/// `flows.dir`, checked against the configuration, with every flow the configuration names
/// (default, routes, survey) present.
fn load_configured(config: &Config, known: &Known) -> Result<FlowSet, Vec<String>> {
    let dir = &config.flows.dir;
    let set = load_dir(dir, known)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let named = std::iter::once(&config.flows.default)
        .chain(config.flows.routes.values())
        .chain(config.flows.survey.as_ref());
    let missing: Vec<String> = named
        .filter(|name| set.get(name).is_none())
        .map(|name| format!("{}: no flow `{name}` (named in [flows])", dir.display()))
        .collect();
    if missing.is_empty() {
        Ok(set)
    } else {
        Err(missing)
    }
}

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
