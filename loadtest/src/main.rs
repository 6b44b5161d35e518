//! `kefu-loadtest`: puts a call-center load on an in-process kefu and reports what happened
//! (see the library docs for what it measures).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kefu_loadtest::agents::{AgentsOnly, agents_summary, drive};
use kefu_loadtest::{LoadSettings, Target, ramp, ramp_summary, run, summary};

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
    /// How long callers keep arriving (e.g. 60s; 10s when not given). With
    /// `--agents-only`: how long the agents run (until Ctrl-C when not given).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
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
    /// Offers in a hundred that the agent's phone leaves ringing unanswered.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=100))]
    missed_percent: u8,
    /// IVR flows directory.
    #[arg(long, default_value = "ivr_flows")]
    flows: PathBuf,
    /// Write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Ramp instead of one run: `START:STEP:MAX` calls/s, each rate a fresh run of
    /// `--duration`, until a step loses a call or its p99 enqueue → screen-pop reaches
    /// `--ramp-limit-ms`; reports the highest rate that passed.
    #[arg(long, value_parser = parse_ramp)]
    ramp: Option<Rates>,
    /// The ramp's p99 enqueue → screen-pop limit.
    #[arg(long, default_value_t = 50.0)]
    ramp_limit_ms: f64,
    /// Run this kefu binary (`target/release/kefu`) as its own process, so that its CPU
    /// time and peak memory are measured apart from the load generator's.
    #[arg(long)]
    kefu: Option<PathBuf>,
    /// Only the agents, against the kefu at this HTTP address (`10.0.0.9:8080`), which has
    /// a real FreeSWITCH behind it: `--agents` of them from `--first-agent` on, password in
    /// KEFU_AGENT_PASSWORD (default `demo`).
    #[arg(long, value_name = "HTTP_ADDR")]
    agents_only: Option<String>,
    /// The first agent id of `--agents-only`.
    #[arg(long, default_value_t = 1001)]
    first_agent: u64,
    /// After-call work of `--agents-only` agents before their disposition.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    wrap_up: Duration,
    /// Load the kefu already running at this HTTP address (`10.0.0.9:8080`) with the
    /// configuration `--config`: the simulated switches listen on its nodes' ports (point
    /// its `[[freeswitch]]` hosts at this machine), its agents log in (password in
    /// KEFU_AGENT_PASSWORD, default `demo`), its database is read for the check.
    /// `--agents` and `--switches` are then the configuration's; give each node its own
    /// port, as the switches all listen on this machine.
    #[arg(long, value_name = "HTTP_ADDR", requires = "config")]
    target: Option<SocketAddr>,
    /// The `--target` kefu's configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The ramp's rates, calls/s (one value to clap, not a list of values).
#[derive(Clone, Debug, PartialEq)]
struct Rates(Vec<f64>);

/// `100:100:1000` → 100, 200, …, 1000.
fn parse_ramp(text: &str) -> Result<Rates, String> {
    let parts: Vec<f64> = text
        .split(':')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("`{p}`: {e}")))
        .collect::<Result<_, _>>()?;
    let [start, step, max] = parts[..] else {
        return Err("START:STEP:MAX, e.g. 100:100:1000".into());
    };
    if start <= 0.0 || step <= 0.0 || max < start {
        return Err("needs 0 < START <= MAX and STEP > 0".into());
    }
    let steps = ((max - start) / step).floor() as usize;
    if steps > 1000 {
        return Err("more than 1,000 steps".into());
    }
    Ok(Rates(
        (0..=steps).map(|i| start + step * i as f64).collect(),
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        kefu::telemetry::init(); // kefu's own logs, on request only: they are per call
    }
    let settings = LoadSettings {
        cps: args.cps,
        duration: args.duration.unwrap_or(Duration::from_secs(10)),
        agents: args.agents,
        switches: args.switches,
        time_scale: args.time_scale,
        missed_percent: args.missed_percent,
        flows: args.flows,
        drain_for: Duration::from_secs(120),
        kefu: args.kefu,
        target: args.target.zip(args.config).map(|(http, config)| Target {
            http,
            config,
            agent_password: agent_password(),
        }),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kefu-loadtest: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(http) = &args.agents_only {
        let settings = AgentsOnly {
            http: http.clone(),
            first: args.first_agent,
            count: args.agents,
            password: agent_password(),
            wrap_up: args.wrap_up,
            duration: args.duration,
        };
        let report = runtime.block_on(drive(&settings));
        println!("{}", agents_summary(&report));
        if let Some(path) = &args.report
            && !write_json(path, &report)
        {
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    if let Some(Rates(rates)) = &args.ramp {
        return ramp_main(
            &runtime,
            &settings,
            rates,
            args.ramp_limit_ms,
            args.report.as_ref(),
        );
    }
    let report = match runtime.block_on(run(&settings)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("kefu-loadtest: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", summary(&report));
    if let Some(path) = &args.report
        && !write_json(path, &report)
    {
        return ExitCode::FAILURE;
    }
    if report.is_sound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `--ramp`: exit 0 when some rate passed, 2 when none did.
fn ramp_main(
    runtime: &tokio::runtime::Runtime,
    settings: &LoadSettings,
    rates: &[f64],
    limit_ms: f64,
    report_path: Option<&PathBuf>,
) -> ExitCode {
    let found = match runtime.block_on(ramp(settings, rates, limit_ms)) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("kefu-loadtest: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", ramp_summary(&found));
    if let Some(path) = report_path
        && !write_json(path, &found)
    {
        return ExitCode::FAILURE;
    }
    if found.highest_passing_cps.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The agents' password for `--agents-only` and `--target`.
fn agent_password() -> String {
    std::env::var("KEFU_AGENT_PASSWORD").unwrap_or_else(|_| "demo".into())
}

fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> bool {
    let json = serde_json::to_string_pretty(value).unwrap_or_default();
    match std::fs::write(path, json) {
        Ok(()) => true,
        Err(error) => {
            eprintln!("kefu-loadtest: writing {}: {error}", path.display());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Args, Rates, parse_ramp};

    #[test]
    fn ramp_steps_are_start_step_max() {
        assert_eq!(
            parse_ramp("100:100:300"),
            Ok(Rates(vec![100.0, 200.0, 300.0]))
        );
        assert_eq!(parse_ramp("50:100:120"), Ok(Rates(vec![50.0])));
        let args =
            Args::try_parse_from(["kefu-loadtest", "--ramp", "100:100:300"]).expect("parses");
        assert_eq!(args.ramp, Some(Rates(vec![100.0, 200.0, 300.0])));
        assert!(parse_ramp("100:0:300").is_err());
        assert!(parse_ramp("300:100:100").is_err());
        assert!(parse_ramp("100:100").is_err());
        assert!(parse_ramp("a:b:c").is_err());
    }
}
