//! The HPVS secure build lab on the embedded default stack: all six steps through the
//! appliance emulator, ending with a wallet reached over HTTPS.
//!
//! ```text
//! lab [--out DIR] [--keep] [--screenshot FILE] [--production-notary]
//! ```
//!
//! `--out DIR` keeps the outputs there (a fresh directory by default); `--keep` stops after
//! step 5 with the stack up and prints the `hpvs` environment, then cleans up when Enter is
//! pressed; `--screenshot FILE` saves a headless Chromium screenshot of the wallet page;
//! `--production-notary` runs notary-server on PostgreSQL with a separate notary-signer.
//! The steps are [`examples::lab`]'s.

use std::path::PathBuf;
use std::time::Instant;

use examples::lab::{Lab, LabError, LabOptions};
use examples::outln;

const USAGE: &str = "usage: lab [--out DIR] [--keep] [--screenshot FILE] [--production-notary]";

/// The command line.
struct Args {
    out: PathBuf,
    keep: bool,
    screenshot: Option<PathBuf>,
    production_notary: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut keep = false;
    let mut screenshot = None;
    let mut production_notary = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--keep" => keep = true,
            "--screenshot" => screenshot = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--production-notary" => production_notary = true,
            _ => return Err(USAGE.to_owned()),
        }
    }
    let out = match out {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("hpvs-lab-")
            .tempdir()
            .map_err(|e| format!("cannot make an output directory: {e}"))?
            .keep(),
    };
    Ok(Args {
        out,
        keep,
        screenshot,
        production_notary,
    })
}

/// The `hpvs` binary beside this one (the same cargo target directory), or `$HPVS_BIN`.
fn hpvs_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HPVS_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hpvs")))
        .unwrap_or_else(|| PathBuf::from("hpvs"))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("lab: {message}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lab: error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("lab: error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), LabError> {
    let started = Instant::now();
    outln!(
        "HPVS secure build lab, on the embedded default stack{}",
        if args.production_notary {
            " with the production notary topology (PostgreSQL, notary-signer)"
        } else {
            ""
        }
    );
    outln!("Outputs are kept in {}", args.out.display());
    let mut options = LabOptions::new(&args.out, hpvs_binary());
    options.production_notary = args.production_notary;
    let mut lab = Lab::set_up(options).await?;
    let mut times = vec![("set up", started.elapsed())];
    let walked = walk(&mut lab, &args, &mut times).await;
    if let Err(e) = walked {
        let logs = lab.keep_logs();
        return Err(e.look_at(logs));
    }
    if args.keep {
        outln!("\nThe stack stays up. In another shell:");
        for line in lab.env_lines() {
            outln!("  {line}");
        }
        outln!(
            "  hpvs vs list; hpvs sb status --config {}/sb_config.yaml",
            args.out.display()
        );
        outln!(
            "  trust -s \"$NOTARY_URL\" --tlscacert \"$NOTARY_CA\" list {}",
            lab.app_gun()
        );
        outln!(
            "  the wallet: {}/electrum (map {} to 127.0.0.1, e.g. curl --resolve)",
            lab.app_url(),
            examples::lab::APP_SERVER
        );
        outln!("Press Enter to clean up and stop.");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    let before = Instant::now();
    lab.clean_up().await?;
    times.push(("clean up", before.elapsed()));
    let total = started.elapsed();
    outln!(
        "\nlab: done, all six steps in {:.1} s:",
        total.as_secs_f64()
    );
    for (step, took) in times {
        outln!("  {step:<13} {:>6.1} s", took.as_secs_f64());
    }
    Ok(())
}

/// Steps 2 to 5, timed.
async fn walk(
    lab: &mut Lab,
    args: &Args,
    times: &mut Vec<(&'static str, std::time::Duration)>,
) -> Result<(), LabError> {
    let mut before = Instant::now();
    let mut lap = |name, times: &mut Vec<_>| {
        times.push((name, before.elapsed()));
        before = Instant::now();
    };
    lab.secure_build().await?;
    lap("secure build", times);
    lab.register().await?;
    lap("register", times);
    lab.deploy().await?;
    lap("deploy", times);
    let visit = lab.access().await?;
    if let Some(path) = &args.screenshot {
        lab.screenshot(path, &visit.address).await?;
    }
    lap("access", times);
    outln!(
        "\nThe wallet on {} answers at {} (receive address {}).",
        visit.certificate_cn,
        lab.app_url(),
        visit.address
    );
    Ok(())
}
