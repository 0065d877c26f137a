//! The `hourhand` command line: see `hourhand --help`.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause added only where the message does not already say it
/// (our errors print their source inline, "path: cause", so `{:#}` would repeat it).
fn describe(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

/// Lets a closed pipe end the program quietly, as it does `cat`: Rust ignores SIGPIPE, so
/// `hourhand eval … | head` panicked at the first line `head` no longer read.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resets one signal to its default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Large blocks on cache-line boundaries, so the CPU backend's vectors do not straddle them
/// (see [`hourhand::cpu::alloc`]).
#[global_allocator]
static GLOBAL: hourhand::cpu::alloc::CacheAligned = hourhand::cpu::alloc::CacheAligned;
