//! The `kefu` command: CLI -> Config -> telemetry -> app, nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use kefu::config::Config;

/// mimalloc: with glibc's malloc, allocation took a quarter of the CPU under load
/// (BENCHMARKS.md, "Load test").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// kefu: a call-center backend that controls FreeSWITCH over its event socket.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run kefu against the FreeSWITCH nodes in the configuration.
    Serve {
        /// Configuration file (defaults are embedded; KEFU_* variables override).
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP listen address.
        #[arg(long)]
        http: Option<SocketAddr>,
    },
    /// Run kefu with a built-in simulated FreeSWITCH, simulated callers and agents.
    Demo {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP listen address.
        #[arg(long)]
        http: Option<SocketAddr>,
    },
    /// Apply the database migrations and exit.
    Migrate {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Read a password from standard input and print its argon2id hash, for a
    /// `password = "$argon2id$…"` line in the configuration (with its `[auth]` cost).
    HashPassword {
        /// Configuration file (for the `[auth]` argon2 cost).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// IVR flow tools.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Validate every flow in a folder; print each error as file:line:column: reason.
    Check {
        /// The folder of flow files.
        dir: PathBuf,
        /// Configuration file (for the queue, skill and tier names flows may use).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Exit code for a configuration refused at start (sysexits EX_CONFIG-like usage error).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    kefu::telemetry::init();
    let env: HashMap<String, String> = std::env::vars().collect();
    let load = |file: Option<PathBuf>| match Config::load(file.as_deref(), &env) {
        Ok(config) => Ok(config),
        Err(error) => {
            eprintln!("kefu: configuration refused: {error}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kefu: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve { config, http } => match load(config) {
            Ok(mut config) => {
                config.http.bind = http.unwrap_or(config.http.bind);
                runtime.block_on(kefu::app::serve(config))
            }
            Err(code) => return code,
        },
        Command::Demo { config, http } => match load(config) {
            Ok(mut config) => {
                config.http.bind = http.unwrap_or(config.http.bind);
                runtime.block_on(kefu::app::demo(config))
            }
            Err(code) => return code,
        },
        Command::Migrate { config } => match load(config) {
            Ok(config) => runtime.block_on(kefu::app::migrate(config)),
            Err(code) => return code,
        },
        Command::HashPassword { config } => match load(config) {
            Ok(config) => runtime.block_on(kefu::app::hash_password(config)),
            Err(code) => return code,
        },
        Command::Flows {
            command: FlowsCommand::Check { dir, config },
        } => match load(config) {
            Ok(config) => return runtime.block_on(kefu::app::check_flows(&config, &dir)),
            Err(code) => return code,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kefu: {error:#}");
            ExitCode::FAILURE
        }
    }
}
