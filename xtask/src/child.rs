//! Runs one child process and measures it: wall time, CPU time and peak RSS from `wait4`'s rusage.
//! This is the only unsafe code of the workspace's tools; it must stay this one libc call.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What one run of a child cost.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub status: ExitStatus,
    /// From just before `spawn` to the return of `wait4` (process start-up included).
    pub wall: Duration,
    pub user: Duration,
    pub system: Duration,
    /// `ru_maxrss` of the child, which Linux reports in KiB.
    pub max_rss_bytes: u64,
}

/// Spawns `command` (its stdio as the caller configured it) and reaps it with `wait4`.
///
/// The caller must not give the child a piped stdout or stderr: nothing reads the pipe while this
/// waits, so a chatty child would block forever.
pub fn measure(command: &mut Command) -> Result<Measured> {
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("cannot start {command:?}"))?;
    let pid = libc::pid_t::try_from(child.id()).context("child pid does not fit in pid_t")?;
    let (raw_status, usage) = wait4(pid).with_context(|| format!("cannot wait for {command:?}"))?;
    let wall = started.elapsed();
    // `child` has been reaped above; dropping the handle only closes its (unused) stdio handles.
    drop(child);
    Ok(Measured {
        status: ExitStatus::from_raw(raw_status),
        wall,
        user: timeval(usage.ru_utime),
        system: timeval(usage.ru_stime),
        max_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    })
}

#[allow(unsafe_code)]
fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut raw_status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the types wait4(2) expects, and
        // `pid` is our own unreaped child, so no other waiter can race for it.
        let reaped = unsafe { libc::wait4(pid, &mut raw_status, 0, &mut usage) };
        if reaped == pid {
            return Ok((raw_status, usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn timeval(value: libc::timeval) -> Duration {
    let seconds = u64::try_from(value.tv_sec).unwrap_or(0);
    let micros = u32::try_from(value.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(u64::from(micros))
}
