//! The `quota-sentinel` command line: `serve` (default), `keygen`, `simulate`.
//! Wiring only; everything testable lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use quota_sentinel::config::{Config, Overrides};
use quota_sentinel::types::LimitFields;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: a proxied call makes dozens of short-lived allocations
/// across threads, where glibc's arenas spent about a tenth of the gateway's CPU in `make bench`.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A self-hosted, OpenAI-compatible gateway that meters every call per workspace, enforces
/// quotas and budgets, and alerts in real time. Point OPENAI_BASE_URL at http://HOST:PORT/v1.
#[derive(Parser, Debug)]
#[command(name = "quota-sentinel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

// Parsed once at start; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Print a new workspace key and its SHA-256 (put the hash in `key_sha256`).
    Keygen,
    /// Run the built-in OpenAI-compatible simulator (for trying the gateway without OpenAI).
    Simulate(SimulateArgs),
    /// Serve the gateway and UI with a simulated OpenAI and synthetic traffic from three
    /// workspaces that go through every status within a minute.
    Demo(DemoArgs),
}

#[derive(Args, Debug, Clone, Default)]
struct ServeArgs {
    /// Configuration file (TOML); every setting is optional.
    #[arg(long, env = "QS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "QS_LISTEN")]
    listen: Option<String>,
    /// Database URL: sqlite:… or postgres://… [default: sqlite://data/quota-sentinel.db].
    #[arg(long, env = "QS_DATABASE_URL")]
    database_url: Option<String>,
    /// Where ledger batches wait while the database does not take them [default: beside a
    /// SQLite file; data/ledger.spool for PostgreSQL]. One per instance.
    #[arg(long, env = "QS_SPOOL_FILE")]
    spool_file: Option<String>,
    /// Redis URL (redis://host:port) for the state several instances share: counters,
    /// reservations, statuses [default: none, state stays in this process].
    #[arg(long, env = "QS_REDIS_URL")]
    redis_url: Option<String>,
    /// Upstream OpenAI base URL [default: https://api.openai.com/v1].
    #[arg(long, env = "QS_UPSTREAM_URL")]
    upstream_url: Option<String>,
    /// The OpenAI key the gateway sends upstream (never logged). Prefer the environment or
    /// --upstream-key-file: a flag's value is visible to every user in the process list.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    upstream_key: Option<String>,
    /// A file that holds the OpenAI key (e.g. a mounted secret).
    #[arg(long, env = "OPENAI_API_KEY_FILE", conflicts_with = "upstream_key")]
    upstream_key_file: Option<PathBuf>,
    /// The admin key for /api/admin and reset; the admin API is off when unset. Prefer the
    /// environment or --admin-key-file: a flag's value is visible in the process list.
    #[arg(long, env = "QUOTA_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// A file that holds the admin key.
    #[arg(long, env = "QUOTA_ADMIN_KEY_FILE", conflicts_with = "admin_key")]
    admin_key_file: Option<PathBuf>,
    /// Secret that signs browser sessions (with a salt kept in the database). Unset: derived
    /// from the admin key; with neither, sessions end when the process stops.
    #[arg(long, env = "QS_SESSION_SECRET", hide_env_values = true)]
    session_secret: Option<String>,
    /// Default requests per minute for workspaces that set none [default: 500].
    #[arg(long, env = "OPENAI_RATE_LIMIT_PER_MINUTE")]
    requests_per_minute: Option<u64>,
    /// Default requests per day [default: 10000].
    #[arg(long, env = "OPENAI_RATE_LIMIT_PER_DAY")]
    requests_per_day: Option<u64>,
    /// Default tokens per minute [default: 150000].
    #[arg(long, env = "OPENAI_TOKEN_LIMIT_PER_MINUTE")]
    tokens_per_minute: Option<u64>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Address the demo gateway listens on.
    #[arg(
        long = "demo-listen",
        env = "QS_DEMO_LISTEN",
        default_value = "127.0.0.1:3000"
    )]
    listen: String,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// Address the simulator listens on.
    #[arg(
        long = "sim-listen",
        env = "QS_SIM_LISTEN",
        default_value = "127.0.0.1:3100"
    )]
    listen: String,
    /// Bearer key the simulator expects (any when unset).
    #[arg(long = "sim-api-key", env = "QS_SIM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Latency added to every answer, in milliseconds.
    #[arg(
        long = "sim-latency-ms",
        env = "QS_SIM_LATENCY_MS",
        default_value_t = 0
    )]
    latency_ms: u64,
    /// Pause between two events of a streamed answer, in milliseconds.
    #[arg(
        long = "sim-stream-chunk-delay-ms",
        env = "QS_SIM_STREAM_CHUNK_DELAY_MS",
        default_value_t = 0
    )]
    stream_chunk_delay_ms: u64,
    /// Precede each streamed event with an SSE comment event `: sent_ns=<Unix time in ns>`, the
    /// moment it left the simulator (for measuring each chunk's transit; clients ignore it).
    #[arg(long = "sim-stamp-stream-events", env = "QS_SIM_STAMP_STREAM_EVENTS")]
    stamp_stream_events: bool,
}

/// A secret from its flag or environment variable, or else from the file named by its
/// `*-file` twin (trimmed); empty means unset.
fn secret(
    value: Option<&String>,
    file: Option<&PathBuf>,
    flag: &str,
) -> Result<Option<SecretString>, String> {
    let text = match (value, file) {
        (Some(v), _) => v.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --{flag}-file {}: {e}", path.display()))?
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    Ok((!text.is_empty()).then(|| SecretString::from(text)))
}

fn overrides(a: &ServeArgs) -> Result<Overrides, String> {
    Ok(Overrides {
        listen: a.listen.clone(),
        database_url: a.database_url.clone(),
        spool_file: a.spool_file.clone(),
        redis_url: a.redis_url.clone(),
        upstream_url: a.upstream_url.clone(),
        upstream_key: secret(
            a.upstream_key.as_ref(),
            a.upstream_key_file.as_ref(),
            "upstream-key",
        )?,
        admin_key: secret(a.admin_key.as_ref(), a.admin_key_file.as_ref(), "admin-key")?,
        session_secret: secret(a.session_secret.as_ref(), None, "session-secret")?,
        limits: LimitFields {
            requests_per_minute: a.requests_per_minute,
            requests_per_day: a.requests_per_day,
            tokens_per_minute: a.tokens_per_minute,
            ..LimitFields::default()
        },
    })
}

/// The secret flags given on the command line itself (not through their environment twins):
/// their values are readable by every user of the machine in the process list.
fn secrets_on_command_line(m: &clap::ArgMatches) -> Vec<&'static str> {
    let m = m.subcommand_matches("serve").unwrap_or(m);
    [
        ("upstream_key", "--upstream-key"),
        ("admin_key", "--admin-key"),
    ]
    .into_iter()
    .filter(|(id, _)| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    .map(|(_, flag)| flag)
    .collect()
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in a log file or journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests and flushing the ledger");
    token.cancel();
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let path = args.config.as_deref().filter(|p| !p.as_os_str().is_empty());
    let config = Config::load(path, overrides(&args)?).map_err(|e| e.to_string())?;
    let listener = quota_sentinel::server::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let token = CancellationToken::new();
    let mut running = quota_sentinel::server::start(config, listener, token.clone())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(addr = %running.addr, "Quota Sentinel is listening; set OPENAI_BASE_URL=http://{}/v1", running.addr);
    // On the standard output, never through the log: the token must be on this line only.
    if let Some(line) = running.setup_link.take() {
        #[allow(
            clippy::print_stdout,
            reason = "the setup link goes to stdout, never the log"
        )]
        {
            println!("{line}");
        }
    }
    tokio::spawn(shutdown_signal(token));
    running.wait().await.map_err(|e| e.to_string())
}

async fn simulate(args: SimulateArgs) -> Result<(), String> {
    use quota_sentinel::simulator::{serve, SimConfig, Simulator};
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let sim = Simulator::new(SimConfig {
        api_key: args.api_key,
        latency_ms: args.latency_ms,
        stream_chunk_delay_ms: args.stream_chunk_delay_ms,
        stamp_stream_events: args.stamp_stream_events,
        ..SimConfig::default()
    });
    tracing::info!(addr = %args.listen, "OpenAI simulator listening");
    let token = CancellationToken::new();
    tokio::spawn(shutdown_signal(token.clone()));
    serve(listener, sim, async move { token.cancelled().await })
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let exposed = secrets_on_command_line(&matches);
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    if let Command::Keygen = command {
        let key = quota_sentinel::api::new_key();
        let hash = hex::encode(quota_sentinel::registry::key_hash(&key));
        #[allow(clippy::print_stdout, reason = "keygen's output is its answer")]
        {
            println!("key:        {key}\nkey_sha256: {hash}");
        }
        return ExitCode::SUCCESS;
    }
    init_tracing();
    for flag in exposed {
        tracing::warn!(
            flag,
            "a secret given as a command-line flag is visible to every user in the process list; use its environment variable or its -file flag"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quota-sentinel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(a) => serve(a).await,
            Command::Simulate(a) => simulate(a).await,
            Command::Demo(a) => {
                let token = CancellationToken::new();
                tokio::spawn(shutdown_signal(token.clone()));
                quota_sentinel::demo::run(&a.listen, token).await
            }
            Command::Keygen => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quota-sentinel: {e}");
            ExitCode::FAILURE
        }
    }
}
