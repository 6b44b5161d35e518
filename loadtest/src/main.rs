//! `kefu-loadtest`: puts a call-center load on an in-process kefu and reports what happened
//! (see the library docs for what it measures).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kefu_loadtest::{LoadSettings, run, summary};

/// mimalloc, as the `kefu` binary: glibc's malloc took a quarter of the CPU at 1,000 calls/s
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Load test for kefu: simulated FreeSWITCH nodes, callers and agents")]
struct Args {
    /// New calls per second.
    #[arg(long, default_value_t = 100.0)]
    cps: f64,
    /// How long callers keep arriving (e.g. 60s).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Simulated agents.
    #[arg(long, default_value_t = 500)]
    agents: usize,
    /// Simulated FreeSWITCH connections.
    #[arg(long, default_value_t = 1)]
    switches: usize,
    /// Simulated time runs this much faster or slower (0.1 = prompts, ringing and talk 10×
    /// shorter).
    #[arg(long, default_value_t = 0.1)]
    time_scale: f64,
    /// IVR flows directory.
    #[arg(long, default_value = "ivr_flows")]
    flows: PathBuf,
    /// Write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        kefu::telemetry::init(); // kefu's own logs, on request only: they are per call
    }
    let settings = LoadSettings {
        cps: args.cps,
        duration: args.duration,
        agents: args.agents,
        switches: args.switches,
        time_scale: args.time_scale,
        flows: args.flows,
        drain_for: Duration::from_secs(120),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kefu-loadtest: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(run(&settings)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("kefu-loadtest: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", summary(&report));
    if let Some(path) = args.report {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(error) = std::fs::write(&path, json) {
            eprintln!("kefu-loadtest: writing {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.lost == 0 && report.unknown == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
