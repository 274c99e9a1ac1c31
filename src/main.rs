//! The `floodgate` binary: command line, then hands over to the library. `anyhow` lives only here.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use floodgate::config::{Config, Overrides};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "floodgate",
    version,
    about = "A container-native I2P floodfill and relay router"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArgs {
    /// YAML configuration file (optional: embedded defaults apply without it).
    #[arg(long, short = 'c', env = "FLOODGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overrides `http.listen`.
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Overrides `log.level`.
    #[arg(long)]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router until SIGTERM/SIGINT.
    Run(ConfigArgs),
    /// Create the router keys if missing, write `<data_dir>/router.info`, print the router hash.
    Keys(ConfigArgs),
    /// Probe a running router's ops endpoint; exit 0 when healthy (for plain `docker` users).
    Healthcheck {
        /// Ops HTTP address of the router.
        #[arg(
            long,
            default_value = "127.0.0.1:7670",
            env = "FLOODGATE_HEALTHCHECK_ADDR"
        )]
        addr: SocketAddr,
        /// Check readiness (/readyz) instead of liveness (/livez).
        #[arg(long, conflicts_with = "get")]
        ready: bool,
        /// GET this path (e.g. /metrics, /status, /readyz) and print the body; exit 0 only on
        /// 200. The runtime image has no curl: this is how to look inside from `docker exec`.
        #[arg(long, value_name = "PATH")]
        get: Option<String>,
        /// Seconds to wait for an answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Load a router from the outside and measure it (floodgate or any other I2P router).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Build K tunnels through the router under test and push TunnelData through all of them.
    Transit(TransitArgs),
    /// Store fresh LeaseSet2s at a floodfill under test, then look each one up.
    Netdb(NetdbArgs),
}

/// The router under test, as both bench modes address it.
#[derive(clap::Args)]
struct UutArgs {
    /// The router under test's router.info file.
    #[arg(long)]
    router_info: PathBuf,
    /// Its NTCP2 address (default: the one published in the router.info).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// PID of the router under test, for CPU (and with `transit`, memory) readings from /proc.
    #[arg(long)]
    uut_pid: Option<u32>,
}

#[derive(clap::Args)]
struct NetdbArgs {
    #[command(flatten)]
    uut: UutArgs,
    /// LeaseSets to store and look up.
    #[arg(long, default_value_t = 2000)]
    entries: usize,
    /// Requests outstanding at once.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Seconds of lookups (round the stored entries; at least one full round).
    #[arg(long, default_value_t = 5.0)]
    lookup_duration: f64,
    /// Seconds after which an unanswered request counts as lost.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Source address of the bench router.
    #[arg(long, default_value = "198.18.0.102")]
    a_ip: std::net::IpAddr,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Exit 1 unless every store was acknowledged and every lookup answered correctly.
    #[arg(long)]
    check: bool,
}

#[derive(clap::Args)]
struct TransitArgs {
    #[command(flatten)]
    uut: UutArgs,
    /// Tunnels to build (K).
    #[arg(long, default_value_t = 100)]
    tunnels: usize,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds of traffic before the measurement starts.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Most TunnelData messages in flight (sent, not yet back).
    #[arg(long, default_value_t = 512)]
    window: usize,
    /// TunnelData messages per NTCP2 frame.
    #[arg(long, default_value_t = 16)]
    frame_messages: usize,
    /// Most build requests outstanding at once.
    #[arg(long, default_value_t = 32)]
    build_window: usize,
    /// Seconds after which an unanswered build counts as lost.
    #[arg(long, default_value_t = 10.0)]
    build_timeout: f64,
    /// Most builds started per second (default: as fast as --build-window allows).
    #[arg(long)]
    build_rate: Option<f64>,
    /// Source address of router A (the tunnel creator).
    #[arg(long, default_value = "198.18.0.102")]
    a_ip: std::net::IpAddr,
    /// Source address of a router B (the next hop); repeat for several B routers, over which
    /// the tunnels are spread.
    #[arg(long, default_value = "198.18.0.103")]
    b_ip: Vec<std::net::IpAddr>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Exit 1 unless every tunnel was accepted, traffic arrived, and no message was corrupted.
    #[arg(long)]
    check: bool,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the example configuration (every key with its default and a comment).
    Example,
    /// Load and validate the configuration (file + environment + flags), print the result.
    Check(ConfigArgs),
}

fn load(args: &ConfigArgs) -> Result<Config> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        http_listen: args.http_listen,
        log_level: args.log_level.clone(),
    };
    Ok(Config::load(
        args.config.as_deref(),
        std::env::vars(),
        &overrides,
    )?)
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("floodgate: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            let cfg = load(&args)?;
            let guard = floodgate::ops::telemetry::init(&cfg.log, &cfg.telemetry)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("floodgate")
                .build()
                .context("starting the async runtime")?;
            let result = rt.block_on(floodgate::router::run(cfg));
            // Shut the runtime down before flushing spans: the exporter has its own thread.
            drop(rt);
            guard.shutdown();
            result?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Keys(args) => {
            let cfg = load(&args)?;
            let id = floodgate::router::prepare_identity(&cfg)?;
            println!("{}", id.router_hash_b64);
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Healthcheck {
            addr,
            ready,
            get,
            timeout,
        } => {
            let path = match (&get, ready) {
                (Some(p), _) => p.as_str(),
                (None, true) => "/readyz",
                (None, false) => "/livez",
            };
            if !path.starts_with('/') {
                anyhow::bail!("--get wants a path starting with '/', got {path:?}");
            }
            match http_get(addr, path, std::time::Duration::from_secs(timeout)) {
                Ok((code, body)) => {
                    if get.is_some() {
                        use std::io::Write;
                        std::io::stdout().write_all(&body)?;
                    }
                    if code == 200 {
                        return Ok(std::process::ExitCode::SUCCESS);
                    }
                    eprintln!("floodgate healthcheck: {path} answered {code}");
                    Ok(std::process::ExitCode::from(1))
                }
                Err(e) => {
                    eprintln!("floodgate healthcheck: {addr}{path}: {e}");
                    Ok(std::process::ExitCode::from(1))
                }
            }
        }
        Command::Config(ConfigCommand::Example) => {
            print!("{}", Config::example_yaml());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check(args)) => {
            let cfg = load(&args)?;
            print!("{}", serde_yaml::to_string(&cfg)?);
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Transit(a)) => bench_transit(a),
        Command::Bench(BenchCommand::Netdb(a)) => bench_netdb(a),
        Command::Version => {
            println!(
                "floodgate {} (I2P router API {})",
                env!("CARGO_PKG_VERSION"),
                floodgate::router::ROUTER_API_VERSION
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

fn secs(v: f64, what: &str) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v).with_context(|| format!("--{what} {v}"))
}

/// Logging to stderr for the bench subcommands (stdout carries the report).
fn bench_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLOODGATE_BENCH_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
}

fn bench_uut(
    path: &std::path::Path,
    addr: Option<SocketAddr>,
) -> Result<floodgate::bench::session::Uut> {
    let ri = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(floodgate::bench::session::Uut::from_router_info(&ri, addr)?)
}

/// One thread: the bench is pinned to one core, and its routers share their counters.
fn bench_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn bench_netdb(a: NetdbArgs) -> Result<std::process::ExitCode> {
    use floodgate::bench::netdb;
    bench_logging();
    let uut = bench_uut(&a.uut.router_info, a.uut.addr)?;
    let params = netdb::NetdbParams {
        entries: a.entries,
        window: a.window,
        timeout: secs(a.timeout, "timeout")?,
        lookup_duration: secs(a.lookup_duration, "lookup-duration")?,
        uut_pid: a.uut.uut_pid,
        a_ip: a.a_ip,
    };
    let report = bench_runtime()?.block_on(netdb::run(&uut, &params))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if a.check
        && (report.stores_acked != report.entries
            || report.lookups_correct != report.lookups_sent
            || report.lookups_sent < report.entries)
    {
        eprintln!(
            "floodgate bench: check failed: not every store acknowledged and lookup answered correctly"
        );
        return Ok(std::process::ExitCode::from(1));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn bench_transit(a: TransitArgs) -> Result<std::process::ExitCode> {
    use floodgate::bench::transit;
    bench_logging();
    let uut = bench_uut(&a.uut.router_info, a.uut.addr)?;
    let params = transit::TransitParams {
        tunnels: a.tunnels,
        build_window: a.build_window,
        build_rate: a.build_rate.filter(|r| *r > 0.0),
        build_timeout: secs(a.build_timeout, "build-timeout")?,
        warmup: secs(a.warmup, "warmup")?,
        duration: secs(a.duration, "duration")?,
        window: a.window,
        frame_messages: a.frame_messages,
        uut_pid: a.uut.uut_pid,
        a_ip: a.a_ip,
        b_ips: a.b_ip,
    };
    let report = bench_runtime()?.block_on(transit::run(&uut, &params))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if a.check {
        let mut failed = Vec::new();
        if report.tunnels_accepted != report.tunnels_requested {
            failed.push("not every tunnel was accepted");
        }
        if report.messages_forwarded == 0 {
            failed.push("no TunnelData arrived at B in the measured window");
        }
        if report.checksum_failures > 0 || report.wrong_tunnel > 0 {
            failed.push("corrupted or misrouted TunnelData");
        }
        if !failed.is_empty() {
            eprintln!("floodgate bench: check failed: {}", failed.join("; "));
            return Ok(std::process::ExitCode::from(1));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Minimal HTTP/1.0 GET returning the status code. A scratch image has no curl or wget, so the
/// healthcheck lives in the binary and must not need a TLS or HTTP client library.
/// A minimal HTTP/1.0 GET (the probe must not need an HTTP client library or a shell): the
/// status code and the body. Bodies larger than 64 MiB are refused.
fn http_get(addr: SocketAddr, path: &str, timeout: std::time::Duration) -> Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    const MAX: u64 = 64 * 1024 * 1024;
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    // HTTP/1.0 with Connection: close: the server ends the body by closing.
    let mut resp = Vec::new();
    (&mut s).take(MAX + 1).read_to_end(&mut resp)?;
    if resp.len() as u64 > MAX {
        bail!("response larger than {MAX} bytes");
    }
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(resp.len());
    let head = std::str::from_utf8(&resp[..head_end]).unwrap_or("");
    let Some(code) = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
    else {
        bail!("not an HTTP response");
    };
    let body = resp.get(head_end + 4..).unwrap_or_default().to_vec();
    Ok((code, body))
}
