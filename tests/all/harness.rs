//! The real loaders, run against private stores: `docker load` (a private `dockerd`),
//! `ctr images import` (the containerd that this dockerd starts) and `podman load` (a private
//! vfs store), with a minimal Engine API client for comparing against the daemon.
//!
//! Self-contained (std, `serde_json`, `tempfile`): the test modules use it as
//! `crate::harness`.
//!
//! Everything lives under one fresh temporary directory per test process: dockerd's
//! data-root, exec-root, socket and pidfile, the containerd it starts, and podman's stores.
//! Nothing is shared with the machine's own daemons or stores. dockerd is started lazily, once
//! per process, by [`available`]; it runs under a small watchdog shell that holds a pipe from
//! this process and, when the pipe closes (this process ended, however it ended), stops
//! dockerd, unmounts what is left and removes the directory. Directories of earlier runs whose
//! owner process is gone are cleaned up on start.
//!
//! Each load starts from an empty store: docker's images (and containers) are removed after
//! every load, containerd's namespace `test` is emptied (images, leases, content, snapshots),
//! and podman gets a new store for each load. Loads are serialized per loader, so tests may run
//! on parallel threads. [`Docker::with_loaded`] (and its containerd and podman counterparts)
//! keeps the loaded images in place while a closure compares against them.
//!
//! Skipping: [`available`] answers `Err` when `IMGTAR_LOADERS=0`; each loader answers `Err`
//! with the reason when its binary is missing or its daemon did not come up. Callers report
//! that with [`skipped`], which prints `SKIPPED: <loader>: <reason>` past the test harness's
//! output capture, so a skip is never silent. `IMGTAR_LOADERS=docker,podman` enables only the
//! loaders named.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The Engine API version every request of these tests names in its path (Docker 20.10).
pub const API: &str = "/v1.41";

/// The containerd namespace `ctr` imports into.
pub const CTR_NAMESPACE: &str = "test";

/// Prefix of the per-process temporary directory.
const ROOT_PREFIX: &str = "imgtar-loaders-";

/// How long dockerd (and its containerd) may take to answer after start.
const DAEMON_START: Duration = Duration::from_secs(90);

/// How long one load may take unless `IMGTAR_LOADERS_TIMEOUT` (seconds) says otherwise.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a housekeeping command (listing, removing) may take.
const SHORT_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/// One of the three loaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loader {
    /// `docker load` against a private dockerd.
    Docker,
    /// `ctr images import --all-platforms` against that dockerd's containerd.
    Containerd,
    /// `podman load` into a private vfs store.
    Podman,
}

impl Loader {
    /// Every loader, in the order outcomes are reported.
    pub const ALL: [Loader; 3] = [Loader::Docker, Loader::Containerd, Loader::Podman];

    /// `docker`, `containerd` or `podman`.
    pub fn name(self) -> &'static str {
        match self {
            Loader::Docker => "docker",
            Loader::Containerd => "containerd",
            Loader::Podman => "podman",
        }
    }
}

/// What a loader made of an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The command succeeded (possibly loading nothing: see [`Outcome::images`]).
    Loads,
    /// The command failed and nothing was loaded.
    Refuses,
    /// The command failed after loading some images.
    Partial,
}

impl Verdict {
    /// `loads`, `refuses` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Loads => "loads",
            Verdict::Refuses => "refuses",
            Verdict::Partial => "partial",
        }
    }

    fn from_run(success: bool, loaded: usize) -> Verdict {
        match (success, loaded) {
            (true, _) => Verdict::Loads,
            (false, 0) => Verdict::Refuses,
            (false, _) => Verdict::Partial,
        }
    }
}

/// One image in a loader's store after a load.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadedImage {
    /// docker and podman: the image ID (`sha256:` + the config digest); containerd: the
    /// digest of the image's target (its manifest or index).
    pub id: String,
    /// Names as the loader lists them: docker `dive-test:latest`, containerd
    /// `docker.io/library/dive-test:latest`, podman `localhost/dive-test:latest`. Sorted.
    pub tags: Vec<String>,
}

/// The result of one load.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `docker`, `containerd` or `podman`.
    pub loader: &'static str,
    /// The loader's major.minor version, e.g. `20.10`, `1.6`, `4.3`.
    pub version: String,
    /// Loads, refuses, or partial (failed after loading some images).
    pub verdict: Verdict,
    /// Every image in the store after the load (the store was empty before), sorted by ID.
    pub images: Vec<LoadedImage>,
    /// The loader's own error text (its standard error), trimmed; empty on a quiet success.
    pub message: String,
    /// The command's exit code; `None` when it was killed (by a signal or the time limit).
    pub exit_code: Option<i32>,
    /// The command's standard output, trimmed (`Loaded image: …` lines).
    pub stdout: String,
    /// The archive, as given to the loader (absolute).
    pub input: PathBuf,
    /// How long the load command took.
    pub elapsed: Duration,
    /// The temporary root, for [`Outcome::stable_message`].
    root: PathBuf,
}

impl Outcome {
    /// Every tag of every loaded image.
    pub fn tags(&self) -> Vec<&str> {
        self.images
            .iter()
            .flat_map(|i| i.tags.iter().map(String::as_str))
            .collect()
    }

    /// The IDs of the loaded images.
    pub fn ids(&self) -> Vec<&str> {
        self.images.iter().map(|i| i.id.as_str()).collect()
    }

    /// [`Outcome::message`] with run-dependent parts replaced: the input path by `<input>`,
    /// the temporary root by `<tmp>`, and random numbers in temporary names by `N`.
    pub fn stable_message(&self) -> String {
        stable_text(&self.message, &self.input, &self.root)
    }

    /// The outcome as recorded in `testdata/loaders/observed.json`.
    pub fn to_json(&self) -> Value {
        json!({
            "verdict": self.verdict.as_str(),
            "exit_code": self.exit_code,
            "image_count": self.images.len(),
            "images": self
                .images
                .iter()
                .map(|i| json!({"id": i.id, "tags": i.tags.iter().map(|t| stable_tag(t)).collect::<Vec<_>>()}))
                .collect::<Vec<_>>(),
            "error": self.stable_message(),
        })
    }

    /// One line for assertion messages.
    pub fn summary(&self) -> String {
        format!(
            "{} {}: {} (exit {:?}), {} image(s) {:?}; message: {:?}",
            self.loader,
            self.version,
            self.verdict.as_str(),
            self.exit_code,
            self.images.len(),
            self.tags(),
            self.stable_message()
        )
    }
}

/// Replaces what differs from run to run: `input` by `<input>`, `root` by `<tmp>`, and in
/// every path below the root (or below `/tmp` and `/var/tmp`) each word made of digits only,
/// and each run of 6 or more digits in a word that is not a hex digest, by `N` (the random
/// parts of names such as `docker-import-4157664440`, `oci3749121710` or
/// `storage409358266/8`). Lines of informational
/// logging (logrus `level=info`/`level=debug`, with their timestamps) are left out.
pub fn stable_text(text: &str, input: &Path, root: &Path) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !(l.starts_with("time=\"")
                && (l.contains(" level=info ") || l.contains(" level=debug ")))
        })
        .collect();
    let mut s = kept.join("\n");
    let input = input.to_string_lossy();
    if !input.is_empty() {
        s = s.replace(input.as_ref(), "<input>");
    }
    let root = root.to_string_lossy();
    if !root.is_empty() {
        s = s.replace(root.as_ref(), "<tmp>");
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    let next = |r: &str| {
        ["<tmp>", "/var/tmp/", "/tmp/"]
            .iter()
            .filter_map(|p| r.find(p))
            .min()
    };
    while let Some(at) = next(rest) {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ':' || c == ',')
            .unwrap_or(after.len());
        out.push_str(&mask_numbers(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Masks each alphanumeric word of `token` made of digits only, and digit runs of 6 or more in
/// the other words that are not hex digests (32 or more hex digits).
fn mask_numbers(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let digest = word.len() >= 32 && word.bytes().all(|b| b.is_ascii_hexdigit());
        if digest {
            out.push_str(word);
        } else if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
            // A number of its own (`storage409358266/8`: the 8 is a counter).
            out.push('N');
        } else {
            let mut digits = String::new();
            for c in word.chars() {
                if c.is_ascii_digit() {
                    digits.push(c);
                    continue;
                }
                out.push_str(if digits.len() >= 6 { "N" } else { &digits });
                digits.clear();
                out.push(c);
            }
            out.push_str(if digits.len() >= 6 { "N" } else { &digits });
        }
        word.clear();
    };
    for c in token.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `import-2026-12-01:latest` (the name `ctr images import` gives an OCI index entry whose
/// `org.opencontainers.image.ref.name` is not a full reference) as `import-<date>:latest`.
pub fn stable_tag(tag: &str) -> String {
    match tag.strip_prefix("import-") {
        Some(rest)
            if rest.len() >= 10
                && rest.as_bytes()[..10].iter().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        *b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                }) =>
        {
            format!("import-<date>{}", &rest[10..])
        }
        _ => tag.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------

/// The three loaders of this process, each available or with the reason it is not.
pub struct Loaders {
    root: PathBuf,
    docker: Result<Docker, String>,
    containerd: Result<Containerd, String>,
    podman: Result<Podman, String>,
    /// The write end of the watchdog's pipe: held for the life of the process.
    _watchdog: Option<Mutex<ChildStdin>>,
}

static LOADERS: OnceLock<Result<Loaders, String>> = OnceLock::new();

/// The loaders of this test process, started on first use. `Err` when the loaders are
/// deliberately off (`IMGTAR_LOADERS=0`) or no temporary directory could be made; a missing
/// binary or a daemon that did not come up is reported per loader ([`Loaders::docker`] …).
pub fn available() -> Result<&'static Loaders, String> {
    LOADERS
        .get_or_init(Loaders::start)
        .as_ref()
        .map_err(Clone::clone)
}

/// The loader, or `None` after printing `SKIPPED: <loader>: <reason>`.
pub fn loader_or_skip(which: Loader) -> Option<&'static dyn Load> {
    match available().and_then(|l| l.get(which)) {
        Ok(l) => Some(l),
        Err(reason) => {
            skipped(which.name(), &reason);
            None
        }
    }
}

/// The private Docker daemon, or `None` after saying why it is skipped.
pub fn docker_or_skip() -> Option<&'static Docker> {
    match available().and_then(|l| l.docker()) {
        Ok(d) => Some(d),
        Err(reason) => {
            skipped("docker", &reason);
            None
        }
    }
}

/// Prints `SKIPPED: <what>: <reason>` on standard error, past the test harness's capture (it
/// writes to the stream, not through `eprintln!`), so a skipped check is visible in every run.
pub fn skipped(what: &str, reason: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "SKIPPED: {what}: {reason}");
    let _ = err.flush();
}

/// What every loader does.
pub trait Load: Sync {
    /// `docker`, `containerd` or `podman`.
    fn name(&self) -> &'static str;
    /// major.minor, e.g. `20.10`.
    fn version(&self) -> &str;
    /// The full version the loader reports, e.g. `20.10.24+dfsg1`.
    fn full_version(&self) -> &str;
    /// Loads `path` into an empty store, lists what it holds afterwards, and empties it again.
    fn load(&self, path: &Path) -> Outcome;
}

fn enabled(which: Loader) -> bool {
    match std::env::var("IMGTAR_LOADERS") {
        Ok(v) if v.trim() == "0" || v.trim().is_empty() => false,
        Ok(v) if v.trim() == "1" || v.trim().eq_ignore_ascii_case("all") => true,
        Ok(v) => v
            .split(',')
            .any(|n| n.trim().eq_ignore_ascii_case(which.name())),
        Err(_) => true,
    }
}

impl Loaders {
    fn start() -> Result<Loaders, String> {
        if matches!(std::env::var("IMGTAR_LOADERS"), Ok(v) if v.trim() == "0") {
            return Err("IMGTAR_LOADERS=0".to_string());
        }
        clean_stale_roots();
        let root = make_root()?;
        let mut docker: Result<Docker, String> = Err("disabled by IMGTAR_LOADERS".into());
        let mut containerd: Result<Containerd, String> = Err("disabled by IMGTAR_LOADERS".into());
        let want_daemon = enabled(Loader::Docker) || enabled(Loader::Containerd);
        let dockerd = if want_daemon {
            dockerd_command(&root)
        } else {
            Err("disabled by IMGTAR_LOADERS".into())
        };
        // The watchdog cleans up the root whether or not dockerd is wanted or could start.
        let watchdog = Watchdog::spawn(&root, dockerd.as_ref().ok().map(Vec::as_slice));
        let daemon = match (&watchdog, dockerd) {
            (Ok(_), Ok(_)) => Daemon::wait_ready(&root),
            (Err(e), Ok(_)) => Err(e.clone()),
            (_, Err(e)) => Err(e),
        };
        if want_daemon {
            match daemon {
                Ok(daemon) => {
                    if enabled(Loader::Docker) {
                        docker = Docker::new(&root, daemon.engine.clone(), &daemon.version);
                    }
                    if enabled(Loader::Containerd) {
                        containerd = Containerd::new(&root, &daemon.containerd_socket);
                    }
                }
                Err(e) => {
                    // Whatever came up (or hangs) goes now, not at the end of the process.
                    stop_dockerd(&root);
                    if enabled(Loader::Docker) {
                        docker = Err(e.clone());
                    }
                    if enabled(Loader::Containerd) {
                        containerd = Err(format!("its containerd is dockerd's: {e}"));
                    }
                }
            }
        }
        let podman = if enabled(Loader::Podman) {
            Podman::new(&root)
        } else {
            Err("disabled by IMGTAR_LOADERS".into())
        };
        Ok(Loaders {
            root,
            docker,
            containerd,
            podman,
            _watchdog: watchdog.ok().map(Mutex::new),
        })
    }

    /// The temporary directory everything lives under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// docker, or why not.
    pub fn docker(&self) -> Result<&Docker, String> {
        self.docker.as_ref().map_err(Clone::clone)
    }

    /// containerd (`ctr`), or why not.
    pub fn containerd(&self) -> Result<&Containerd, String> {
        self.containerd.as_ref().map_err(Clone::clone)
    }

    /// podman, or why not.
    pub fn podman(&self) -> Result<&Podman, String> {
        self.podman.as_ref().map_err(Clone::clone)
    }

    /// One loader, or why not.
    pub fn get(&self, which: Loader) -> Result<&dyn Load, String> {
        match which {
            Loader::Docker => self.docker().map(|l| l as &dyn Load),
            Loader::Containerd => self.containerd().map(|l| l as &dyn Load),
            Loader::Podman => self.podman().map(|l| l as &dyn Load),
        }
    }

    /// Loads `path` with one loader, or says why that loader is not available.
    pub fn load(&self, which: Loader, path: &Path) -> Result<Outcome, String> {
        self.get(which).map(|l| l.load(path))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn major_minor(version: &str) -> String {
    let digits: Vec<&str> = version
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .collect();
    digits.join(".")
}

fn load_timeout() -> Duration {
    std::env::var("IMGTAR_LOADERS_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(LOAD_TIMEOUT)
}

fn absolute(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    })
}

/// The command on PATH, or in the system directories a non-root PATH may lack.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The temporary root, its owner, and stale roots of earlier runs
// ---------------------------------------------------------------------------------------------

/// The base for temporary roots: the system temp dir, unless its path is so long that
/// containerd's sockets below it would not fit in a Unix socket address (108 bytes).
fn temp_base() -> PathBuf {
    let t = std::env::temp_dir();
    if t.as_os_str().len() > 40 {
        PathBuf::from("/tmp")
    } else {
        t
    }
}

fn make_root() -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix(ROOT_PREFIX)
        .tempdir_in(temp_base())
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let root = dir.keep();
    let me = std::process::id();
    let start = process_start_time(me).unwrap_or_default();
    fs::write(root.join("owner"), format!("{me} {start}\n"))
        .map_err(|e| format!("cannot write {}: {e}", root.join("owner").display()))?;
    Ok(root)
}

/// Field 22 of /proc/PID/stat: the process's start time, which tells a live owner from a
/// reused PID.
fn process_start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19).map(str::to_string)
}

fn owner_alive(root: &Path) -> bool {
    let Ok(owner) = fs::read_to_string(root.join("owner")) else {
        // Being set up right now, or not one of ours: leave it alone unless it is old.
        return fs::metadata(root)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(3600));
    };
    let mut parts = owner.split_whitespace();
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    process_start_time(pid).is_some_and(|s| s == start)
}

/// Kills the daemons of roots whose owner process is gone (a run that was killed before its
/// watchdog could clean up), unmounts what they left mounted and removes the roots.
fn clean_stale_roots() {
    let base = temp_base();
    let Ok(entries) = fs::read_dir(&base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(ROOT_PREFIX) {
            continue;
        }
        let root = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) || owner_alive(&root) {
            continue;
        }
        for pidfile in [
            "watchdog.pid",
            "dockerd.child",
            "docker.pid",
            "docker-exec/containerd/containerd.pid",
        ] {
            if let Some(pid) = fs::read_to_string(root.join(pidfile))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                kill_if_under(pid, &root);
            }
        }
        thread::sleep(Duration::from_millis(200));
        unmount_below(&root);
        let _ = fs::remove_dir_all(&root);
    }
}

/// SIGKILL to `pid` if its command line names `root` (so a reused PID is left alone).
fn kill_if_under(pid: u32, root: &Path) {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return;
    };
    let needle = root.as_os_str().as_encoded_bytes();
    if cmdline.windows(needle.len()).any(|w| w == needle) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

fn unmount_below(root: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let root_s = root.to_string_lossy().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == &root_s || p.starts_with(&format!("{root_s}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount")
            .args(["-l", &p])
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// dockerd and its watchdog
// ---------------------------------------------------------------------------------------------

/// The watchdog: starts the daemon given as arguments (if any), waits for its standard input
/// to reach end of file (the test process holds the only write end, so this is when that
/// process has ended, however it ended), then stops the daemon (TERM, KILL after 30 s), kills
/// a containerd left behind, unmounts everything below the root and removes the root. It runs
/// in a process group of its own, so a Ctrl-C of the test run does not take it down before it
/// cleans up.
const WATCHDOG: &str = r#"
root=$1; shift
echo $$ > "$root/watchdog.pid"
sup=
if [ $# -gt 0 ]; then
    # A supervisor: an archive can crash dockerd (Docker 20.10 overflows its stack on a
    # legacy parent chain that loops); it is started again, on the same data root.
    (
        while [ ! -e "$root/stopping" ]; do
            "$@" >> "$root/dockerd.log" 2>&1 < /dev/null &
            echo $! > "$root/dockerd.child"
            wait $!
            [ -e "$root/stopping" ] && break
            echo "dockerd exited; starting it again" >> "$root/dockerd.log"
            # The containerd it managed is left behind; the next dockerd starts its own.
            cpid=$(cat "$root/docker-exec/containerd/containerd.pid" 2> /dev/null)
            if [ -n "$cpid" ] && tr '\0' ' ' < "/proc/$cpid/cmdline" 2> /dev/null | grep -qF "$root"; then
                kill -KILL "$cpid" 2> /dev/null
            fi
            # A stale pid file (its pid reused by another process) would make the next
            # dockerd wait for a containerd that is not there.
            rm -f "$root/docker-exec/containerd/containerd.pid"
            sleep 1
        done
    ) &
    sup=$!
fi
while read -r _; do :; done
if [ -n "$sup" ]; then
    : > "$root/stopping"
    daemon=$(cat "$root/dockerd.child" 2> /dev/null)
    kill -TERM "$daemon" 2> /dev/null
    ( sleep 30; kill -KILL "$daemon" 2> /dev/null ) > /dev/null 2>&1 &
    killer=$!
    wait "$sup"
    kill "$killer" 2> /dev/null
fi
cpid=$(cat "$root/docker-exec/containerd/containerd.pid" 2> /dev/null)
if [ -n "$cpid" ] && tr '\0' ' ' < "/proc/$cpid/cmdline" 2> /dev/null | grep -qF "$root"; then
    kill -KILL "$cpid" 2> /dev/null
    sleep 1
fi
awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2> /dev/null; done
rm -rf "$root"
"#;

struct Watchdog;

impl Watchdog {
    /// Starts the watchdog for `root` (and dockerd under it); the pipe it watches.
    fn spawn(root: &Path, dockerd: Option<&[std::ffi::OsString]>) -> Result<ChildStdin, String> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("imgtar-loaders-watchdog")
            .arg(root)
            .args(dockerd.unwrap_or_default())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the watchdog (sh): {e}"))?;
        let pipe = child.stdin.take().ok_or("no pipe to the watchdog")?;
        // The watchdog outlives this handle; init reaps it once this process has ended.
        drop(child);
        Ok(pipe)
    }
}

/// The dockerd command line, or why dockerd cannot run here.
fn dockerd_command(root: &Path) -> Result<Vec<std::ffi::OsString>, String> {
    let dockerd = find_binary("dockerd")
        .ok_or("dockerd is not installed (Debian package docker.io; .ci/install-deps)")?;
    if effective_uid() != Some(0) {
        return Err("dockerd needs root".into());
    }
    let data_root = root.join("docker-root");
    let exec_root = root.join("docker-exec");
    for d in [&data_root, &exec_root] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    Ok(vec![
        dockerd.into_os_string(),
        "--storage-driver=vfs".into(),
        "--iptables=false".into(),
        "--ip6tables=false".into(),
        "--bridge=none".into(),
        opt("--data-root=", &data_root),
        opt("--exec-root=", &exec_root),
        opt("--host=unix://", &root.join("docker.sock")),
        opt("--pidfile=", &root.join("docker.pid")),
    ])
}

/// The pid of the dockerd the watchdog started, while it has not exited.
fn dockerd_pid(root: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(root.join("dockerd.child"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?;
    (state != "Z" && state != "X").then_some(pid)
}

fn stop_dockerd(root: &Path) {
    if let Some(pid) = dockerd_pid(root) {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

struct Daemon {
    engine: Engine,
    version: String,
    containerd_socket: PathBuf,
}

impl Daemon {
    /// Waits until the dockerd the watchdog started answers `GET /version`.
    fn wait_ready(root: &Path) -> Result<Daemon, String> {
        let engine = Engine::new(&root.join("docker.sock"));
        let started = Instant::now();
        let version = loop {
            if let Ok(r) = engine.get(&format!("{API}/version")) {
                if r.status == 200 {
                    if let Ok(v) = r.json() {
                        break v;
                    }
                }
            }
            if started.elapsed() > DAEMON_START {
                return Err(format!(
                    "dockerd did not answer within {} s: {}",
                    DAEMON_START.as_secs(),
                    log_tail(&root.join("dockerd.log"))
                ));
            }
            // Give the watchdog a moment to start it before taking its absence as an exit.
            if started.elapsed() > Duration::from_secs(2) && dockerd_pid(root).is_none() {
                return Err(format!(
                    "dockerd exited: {}",
                    log_tail(&root.join("dockerd.log"))
                ));
            }
            thread::sleep(Duration::from_millis(100));
        };
        let version = version["Version"].as_str().unwrap_or("").to_string();
        let containerd_socket = root
            .join("docker-exec")
            .join("containerd")
            .join("containerd.sock");
        Ok(Daemon {
            engine,
            version,
            containerd_socket,
        })
    }
}

fn opt(flag: &str, path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(flag);
    s.push(path);
    s
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    if tail.is_empty() {
        "(no log)".into()
    } else {
        tail.join(" | ")
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands with a time limit
// ---------------------------------------------------------------------------------------------

/// A finished command.
#[derive(Clone, Debug)]
pub struct Ran {
    /// Exit code; `None` when killed.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Killed at the time limit.
    pub timed_out: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl Ran {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `cmd` with no standard input, capturing both outputs, killing it after `limit`.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Result<Ran, String> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut err = child.stderr.take().ok_or("no stderr pipe")?;
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for {:?}: {e}", cmd.get_program())),
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child
                .wait()
                .map_err(|e| format!("waiting for {:?}: {e}", cmd.get_program()))?;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    Ok(Ran {
        code: status.code(),
        stdout,
        stderr,
        timed_out,
        elapsed: started.elapsed(),
    })
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<Ran, String> {
    let ran = run_limited(cmd, SHORT_TIMEOUT)?;
    if ran.ok() {
        Ok(ran)
    } else {
        Err(format!(
            "{what} failed (exit {:?}{}): {}",
            ran.code,
            if ran.timed_out { ", timed out" } else { "" },
            ran.stderr.trim()
        ))
    }
}

fn outcome_of(
    loader: &'static str,
    version: &str,
    input: PathBuf,
    root: &Path,
    ran: Ran,
    images: Vec<LoadedImage>,
) -> Outcome {
    let mut message = ran.stderr.trim().to_string();
    if ran.timed_out {
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&format!(
            "(killed after {} s by the test harness)",
            ran.elapsed.as_secs()
        ));
    }
    Outcome {
        loader,
        version: version.to_string(),
        verdict: Verdict::from_run(ran.ok(), images.len()),
        images,
        message,
        exit_code: ran.code,
        stdout: ran.stdout.trim().to_string(),
        input,
        elapsed: ran.elapsed,
        root: root.to_path_buf(),
    }
}

fn group_images(pairs: impl IntoIterator<Item = (String, Option<String>)>) -> Vec<LoadedImage> {
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, tag) in pairs {
        let tags = by_id.entry(id).or_default();
        if let Some(t) = tag {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
    }
    by_id
        .into_iter()
        .map(|(id, mut tags)| {
            tags.sort();
            LoadedImage { id, tags }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// docker
// ---------------------------------------------------------------------------------------------

/// `docker load` against the private dockerd, and its Engine API.
pub struct Docker {
    root: PathBuf,
    engine: Engine,
    cli: PathBuf,
    config_dir: PathBuf,
    full_version: String,
    version: String,
    lock: Mutex<()>,
}

impl Docker {
    fn new(root: &Path, engine: Engine, full_version: &str) -> Result<Docker, String> {
        // Debian's client is the daemon's own version; any other client negotiates the API.
        let cli = [PathBuf::from("/usr/bin/docker")]
            .into_iter()
            .find(|p| is_executable(p))
            .or_else(|| find_binary("docker"))
            .ok_or("the docker client is not installed (Debian package docker.io)")?;
        let config_dir = root.join("docker-config");
        fs::create_dir_all(&config_dir).map_err(|e| format!("cannot create config dir: {e}"))?;
        Ok(Docker {
            root: root.to_path_buf(),
            engine,
            cli,
            config_dir,
            version: major_minor(full_version),
            full_version: full_version.to_string(),
            lock: Mutex::new(()),
        })
    }

    /// The Engine API of the private daemon.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A `docker` command for the private daemon (its own `DOCKER_HOST` and `DOCKER_CONFIG`).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.cli);
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.engine.socket.display()),
        )
        .env("DOCKER_CONFIG", &self.config_dir)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_API_VERSION");
        c
    }

    /// Loads `path` with `docker load -i`, gives the outcome and the Engine API to `f` while
    /// the images are loaded, then empties the store (also when `f` panics).
    pub fn with_loaded<R>(&self, path: &Path, f: impl FnOnce(&Outcome, &Engine) -> R) -> R {
        let _held = lock(&self.lock);
        let _clear = ClearOnDrop(|| {
            if let Err(e) = self.clear() {
                skipped("docker cleanup", &e);
            }
        });
        let outcome = self.load_locked(path);
        f(&outcome, &self.engine)
    }

    fn load_locked(&self, path: &Path) -> Outcome {
        if let Err(e) = self.clear() {
            panic!("docker: cannot empty the store before loading: {e}");
        }
        let input = absolute(path);
        let mut cmd = self.command();
        cmd.arg("load").arg("-i").arg(&input);
        let ran = run_limited(&mut cmd, load_timeout())
            .unwrap_or_else(|e| panic!("docker load {}: {e}", input.display()));
        let images = match self.images() {
            Ok(i) => i,
            Err(e) => {
                // The daemon died while loading: the load failed, whatever it had done. Wait
                // for the supervisor to start it again before the next load.
                if let Err(again) = Daemon::wait_ready(&self.root) {
                    panic!("docker: the daemon died while loading ({e}) and did not come back: {again}");
                }
                let mut ran = ran;
                ran.stderr = format!("dockerd crashed while loading: {}", ran.stderr.trim());
                ran.code = ran.code.filter(|c| *c != 0).or(Some(1));
                return outcome_of("docker", &self.version, input, &self.root, ran, Vec::new());
            }
        };
        outcome_of("docker", &self.version, input, &self.root, ran, images)
    }

    /// The images in the store (`GET /images/json?all=1`), `<none>:<none>` left out.
    pub fn images(&self) -> Result<Vec<LoadedImage>, String> {
        let (status, list) = self.engine.get_json(&format!("{API}/images/json?all=1"))?;
        if status != 200 {
            return Err(format!("GET /images/json: {status} {list}"));
        }
        let mut pairs = Vec::new();
        for img in list.as_array().cloned().unwrap_or_default() {
            let id = img["Id"].as_str().unwrap_or("").to_string();
            let tags: Vec<String> = img["RepoTags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter(|t| *t != "<none>:<none>")
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if tags.is_empty() {
                pairs.push((id, None));
            } else {
                pairs.extend(tags.into_iter().map(|t| (id.clone(), Some(t))));
            }
        }
        Ok(group_images(pairs))
    }

    /// Removes every container and image.
    pub fn clear(&self) -> Result<(), String> {
        let (status, list) = self
            .engine
            .get_json(&format!("{API}/containers/json?all=1"))?;
        if status != 200 {
            return Err(format!("GET /containers/json: {status} {list}"));
        }
        for c in list.as_array().cloned().unwrap_or_default() {
            if let Some(id) = c["Id"].as_str() {
                let r = self
                    .engine
                    .delete(&format!("{API}/containers/{id}?force=1&v=1"))
                    .map_err(|e| e.to_string())?;
                if r.status >= 300 && r.status != 404 {
                    return Err(format!("DELETE container {id}: {} {}", r.status, r.text()));
                }
            }
        }
        // Untagging can leave parents behind; a few passes remove whole chains.
        for _ in 0..8 {
            let images = self.images()?;
            if images.is_empty() {
                return Ok(());
            }
            for img in images {
                let r = self
                    .engine
                    .delete(&format!("{API}/images/{}?force=1", img.id))
                    .map_err(|e| e.to_string())?;
                if r.status >= 300 && r.status != 404 && r.status != 409 {
                    return Err(format!(
                        "DELETE image {}: {} {}",
                        img.id,
                        r.status,
                        r.text()
                    ));
                }
            }
        }
        let left = self.images()?;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("images left after removing: {left:?}"))
        }
    }

    /// The root filesystem of `image` as `docker export` of a created (never started)
    /// container writes it: `POST /containers/create`, `GET /containers/{id}/export`, then the
    /// container is removed. The image must be loaded (inside [`Docker::with_loaded`]).
    pub fn export_rootfs(&self, image: &str) -> Result<Vec<u8>, String> {
        let body = json!({
            "Image": image,
            "Cmd": ["/imgtar-never-runs"],
            "HostConfig": {"NetworkMode": "none"},
        });
        let (status, created) = self
            .engine
            .post_json(&format!("{API}/containers/create"), &body)?;
        if status != 201 {
            return Err(format!("POST /containers/create: {status} {created}"));
        }
        let id = created["Id"]
            .as_str()
            .ok_or_else(|| format!("no Id in {created}"))?
            .to_string();
        let exported = self
            .engine
            .get(&format!("{API}/containers/{id}/export"))
            .map_err(|e| e.to_string());
        let _ = self
            .engine
            .delete(&format!("{API}/containers/{id}?force=1&v=1"));
        let r = exported?;
        if r.status != 200 {
            return Err(format!(
                "GET /containers/{id}/export: {} {}",
                r.status,
                r.text()
            ));
        }
        Ok(r.body)
    }
}

impl Load for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn full_version(&self) -> &str {
        &self.full_version
    }
    fn load(&self, path: &Path) -> Outcome {
        self.with_loaded(path, |o, _| o.clone())
    }
}

struct ClearOnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for ClearOnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

// ---------------------------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------------------------

/// `ctr images import --all-platforms` into namespace `test` of dockerd's containerd.
pub struct Containerd {
    root: PathBuf,
    ctr: PathBuf,
    socket: PathBuf,
    full_version: String,
    version: String,
    lock: Mutex<()>,
}

impl Containerd {
    fn new(root: &Path, socket: &Path) -> Result<Containerd, String> {
        let ctr = find_binary("ctr")
            .ok_or("ctr is not installed (Debian package containerd; .ci/install-deps)")?;
        let mut c = Containerd {
            root: root.to_path_buf(),
            ctr,
            socket: socket.to_path_buf(),
            full_version: String::new(),
            version: String::new(),
            lock: Mutex::new(()),
        };
        let deadline = Instant::now() + DAEMON_START;
        let ran = loop {
            let ran = run_limited(c.command().arg("version"), SHORT_TIMEOUT)?;
            if ran.ok() || Instant::now() > deadline {
                break ran;
            }
            thread::sleep(Duration::from_millis(200));
        };
        if !ran.ok() {
            return Err(format!(
                "containerd at {} does not answer: {}",
                socket.display(),
                ran.stderr.trim()
            ));
        }
        // "Server:\n  Version:  1.6.20~ds1"
        let server = ran.stdout.split("Server:").nth(1).unwrap_or("");
        let full = server
            .lines()
            .find_map(|l| l.trim().strip_prefix("Version:"))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("no server version in {:?}", ran.stdout))?;
        c.version = major_minor(&full);
        c.full_version = full;
        Ok(c)
    }

    /// A `ctr` command for the private containerd and namespace `test`.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.ctr);
        c.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(CTR_NAMESPACE)
            .env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE");
        c
    }

    /// Imports `path`, gives the outcome and this containerd to `f` while the images are in
    /// the namespace, then empties it (also when `f` panics).
    pub fn with_loaded<R>(&self, path: &Path, f: impl FnOnce(&Outcome, &Containerd) -> R) -> R {
        let _held = lock(&self.lock);
        let _clear = ClearOnDrop(|| {
            if let Err(e) = self.clear() {
                skipped("containerd cleanup", &e);
            }
        });
        if let Err(e) = self.clear() {
            panic!("containerd: cannot empty namespace {CTR_NAMESPACE}: {e}");
        }
        let input = absolute(path);
        let mut cmd = self.command();
        cmd.args(["images", "import", "--all-platforms"])
            .arg(&input);
        let ran = run_limited(&mut cmd, load_timeout())
            .unwrap_or_else(|e| panic!("ctr images import {}: {e}", input.display()));
        let images = self
            .images()
            .unwrap_or_else(|e| panic!("containerd: cannot list images: {e}"));
        let outcome = outcome_of("containerd", &self.version, input, &self.root, ran, images);
        f(&outcome, self)
    }

    /// The images of the namespace: name and target digest (`ctr images ls`).
    pub fn images(&self) -> Result<Vec<LoadedImage>, String> {
        let ran = run_ok(self.command().args(["images", "ls"]), "ctr images ls")?;
        // REF TYPE DIGEST SIZE PLATFORMS LABELS
        let pairs = ran.stdout.lines().skip(1).filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            match (cols.first(), cols.get(2)) {
                (Some(name), Some(digest)) => Some((digest.to_string(), Some(name.to_string()))),
                _ => None,
            }
        });
        Ok(group_images(pairs))
    }

    fn list(&self, args: &[&str]) -> Result<Vec<String>, String> {
        let ran = run_ok(
            self.command().args(args),
            &format!("ctr {}", args.join(" ")),
        )?;
        Ok(ran
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Removes every image, lease, content blob and snapshot of the namespace.
    pub fn clear(&self) -> Result<(), String> {
        let names = self.list(&["images", "ls", "-q"])?;
        if !names.is_empty() {
            run_ok(
                self.command().args(["images", "rm", "--sync"]).args(&names),
                "ctr images rm",
            )?;
        }
        let leases = self.list(&["leases", "ls", "-q"])?;
        if !leases.is_empty() {
            run_ok(
                self.command()
                    .args(["leases", "rm", "--sync"])
                    .args(&leases),
                "ctr leases rm",
            )?;
        }
        let content = self.list(&["content", "ls", "-q"])?;
        if !content.is_empty() {
            run_ok(
                self.command().args(["content", "rm"]).args(&content),
                "ctr content rm",
            )?;
        }
        // Children before parents: a few passes over what is left.
        for _ in 0..64 {
            let snaps: Vec<String> = self
                .list(&["snapshots", "ls"])?
                .into_iter()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect();
            if snaps.is_empty() {
                return Ok(());
            }
            for s in snaps {
                let _ = run_limited(self.command().args(["snapshots", "rm", &s]), SHORT_TIMEOUT);
            }
        }
        Err("snapshots left in the namespace".into())
    }
}

impl Load for Containerd {
    fn name(&self) -> &'static str {
        "containerd"
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn full_version(&self) -> &str {
        &self.full_version
    }
    fn load(&self, path: &Path) -> Outcome {
        self.with_loaded(path, |o, _| o.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------------------------

/// Run inside `unshare --mount`: bind the store's directories over `/var/tmp` and
/// `/var/lib/containers`, then run podman.
const PRIVATE_MOUNTS: &str = r#"mount --bind "$1" /var/tmp && mount --bind "$2" /var/lib/containers && shift 2 && exec "$@""#;

/// `podman load` into a new private vfs store for each load.
pub struct Podman {
    root: PathBuf,
    podman: PathBuf,
    /// The store of the current load: removed and made anew for each.
    store: PathBuf,
    storage_conf: PathBuf,
    containers_conf: PathBuf,
    /// Whether loads run in a private mount namespace (see [`Podman::command`]).
    pub private_mounts: bool,
    full_version: String,
    version: String,
    lock: Mutex<()>,
}

impl Podman {
    fn new(root: &Path) -> Result<Podman, String> {
        let podman = find_binary("podman")
            .ok_or("podman is not installed (Debian package podman; .ci/install-deps)")?;
        let dir = root.join("podman");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // The machine's storage.conf (additional image stores, driver options) stays out.
        let storage_conf = dir.join("storage.conf");
        let unused = dir.join("unused");
        fs::write(
            &storage_conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                unused.join("root").display(),
                unused.join("run").display()
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", storage_conf.display()))?;
        // containers.conf: big temporary files (blob copies, decompressed archives) go below
        // the store (the default is /var/tmp). podman 4.3 extracts oci-archive input below
        // /var/tmp whatever this says; Podman::command covers that with a private mount.
        let store = dir.join("store");
        let containers_conf = dir.join("containers.conf");
        fs::write(
            &containers_conf,
            format!(
                "[engine]\nimage_copy_tmp_dir = \"{}\"\nevents_logger = \"none\"\ncgroup_manager = \"cgroupfs\"\n",
                store.join("tmp").display()
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", containers_conf.display()))?;
        let private_mounts = effective_uid() == Some(0)
            && find_binary("unshare").is_some()
            && (Path::new("/var/lib/containers").is_dir()
                || fs::create_dir_all("/var/lib/containers").is_ok())
            && run_limited(
                Command::new("unshare").args(["--mount", "--propagation", "private", "true"]),
                SHORT_TIMEOUT,
            )
            .is_ok_and(|r| r.ok());
        let mut p = Podman {
            root: root.to_path_buf(),
            podman,
            store,
            storage_conf,
            containers_conf,
            private_mounts,
            full_version: String::new(),
            version: String::new(),
            lock: Mutex::new(()),
        };
        p.reset_store()?;
        let ran = run_limited(p.command().arg("--version"), SHORT_TIMEOUT)?;
        if !ran.ok() {
            return Err(format!("podman --version failed: {}", ran.stderr.trim()));
        }
        // "podman version 4.3.1"
        let full = ran
            .stdout
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_string();
        p.version = major_minor(&full);
        p.full_version = full;
        Ok(p)
    }

    /// A `podman` command for the store of the current load. As root it runs in a mount
    /// namespace of its own where `/var/tmp` and `/var/lib/containers` are directories of the
    /// store: podman 4.3 extracts `oci-archive` input below `/var/tmp` and writes its blob
    /// info cache to `/var/lib/containers/cache` whatever its flags say.
    pub fn command(&self) -> Command {
        let mut c = if self.private_mounts {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--"])
                .args(["sh", "-c", PRIVATE_MOUNTS, "sh"])
                .arg(self.store.join("var-tmp"))
                .arg(self.store.join("var-lib-containers"))
                .arg(&self.podman);
            c
        } else {
            Command::new(&self.podman)
        };
        c.env("CONTAINERS_STORAGE_CONF", &self.storage_conf)
            .env("CONTAINERS_CONF", &self.containers_conf)
            .env("TMPDIR", self.store.join("tmp"))
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(self.store.join("root"))
            .arg("--runroot")
            .arg(self.store.join("run"))
            .arg("--tmpdir")
            .arg(self.store.join("libpod"))
            .arg("--events-backend")
            .arg("none")
            .arg("--cgroup-manager")
            .arg("cgroupfs");
        c
    }

    fn reset_store(&self) -> Result<(), String> {
        if self.store.exists() {
            unmount_below(&self.store);
            fs::remove_dir_all(&self.store)
                .map_err(|e| format!("cannot remove {}: {e}", self.store.display()))?;
        }
        for d in ["tmp", "var-tmp", "var-lib-containers"] {
            fs::create_dir_all(self.store.join(d))
                .map_err(|e| format!("cannot create {}: {e}", self.store.display()))?;
        }
        Ok(())
    }

    /// Loads `path` into a new store, gives the outcome and this podman (whose
    /// [`Podman::command`] reads that store) to `f`, then removes the store (also when `f`
    /// panics).
    pub fn with_loaded<R>(&self, path: &Path, f: impl FnOnce(&Outcome, &Podman) -> R) -> R {
        let _held = lock(&self.lock);
        let _clear = ClearOnDrop(|| {
            if self.store.exists() {
                unmount_below(&self.store);
                let _ = fs::remove_dir_all(&self.store);
            }
        });
        if let Err(e) = self.reset_store() {
            panic!("podman: {e}");
        }
        let input = absolute(path);
        let mut cmd = self.command();
        cmd.args(["load", "-q", "-i"]).arg(&input);
        let ran = run_limited(&mut cmd, load_timeout())
            .unwrap_or_else(|e| panic!("podman load {}: {e}", input.display()));
        let images = self
            .images()
            .unwrap_or_else(|e| panic!("podman: cannot list images: {e}"));
        let outcome = outcome_of("podman", &self.version, input, &self.root, ran, images);
        f(&outcome, self)
    }

    /// The images of the current store (`podman images -a --format json`), IDs as `sha256:…`.
    pub fn images(&self) -> Result<Vec<LoadedImage>, String> {
        let ran = run_ok(
            self.command().args(["images", "-a", "--format", "json"]),
            "podman images",
        )?;
        let list: Value = serde_json::from_str(ran.stdout.trim())
            .map_err(|e| format!("podman images: {e}: {}", ran.stdout))?;
        let mut pairs = Vec::new();
        for img in list.as_array().cloned().unwrap_or_default() {
            let id = img["Id"].as_str().unwrap_or("");
            let id = if id.starts_with("sha256:") {
                id.to_string()
            } else {
                format!("sha256:{id}")
            };
            let names: Vec<String> = img["Names"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() {
                pairs.push((id, None));
            } else {
                pairs.extend(names.into_iter().map(|n| (id.clone(), Some(n))));
            }
        }
        Ok(group_images(pairs))
    }
}

impl Load for Podman {
    fn name(&self) -> &'static str {
        "podman"
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn full_version(&self) -> &str {
        &self.full_version
    }
    fn load(&self, path: &Path) -> Outcome {
        self.with_loaded(path, |o, _| o.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// The Engine API over a Unix socket
// ---------------------------------------------------------------------------------------------

/// A minimal HTTP/1.1 client for the Engine API on a Unix socket: one connection per request
/// (`Connection: close`), request bodies with `Content-Length`, responses with
/// `Content-Length`, chunked transfer coding, or read to end of stream.
#[derive(Clone, Debug)]
pub struct Engine {
    socket: PathBuf,
    /// Read and write timeout of one request.
    pub timeout: Duration,
}

/// One HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as one JSON document.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("{e}: {}", self.text()))
    }

    /// The body as a stream of JSON documents (`/images/load`, `/images/create` progress).
    pub fn json_stream(&self) -> Result<Vec<Value>, String> {
        serde_json::Deserializer::from_slice(&self.body)
            .into_iter::<Value>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{e}: {}", self.text()))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request body.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes with their content type.
    Bytes(&'a str, &'a [u8]),
    /// JSON.
    Json(&'a Value),
    /// A file streamed with its content type (`application/x-tar` for `/images/load`).
    File(&'a str, &'a Path),
}

impl Engine {
    /// A client for the daemon listening on `socket`.
    pub fn new(socket: &Path) -> Engine {
        Engine {
            socket: socket.to_path_buf(),
            timeout: Duration::from_secs(600),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path` (the path names the API version: `/v1.41/images/json`).
    pub fn get(&self, path: &str) -> io::Result<Response> {
        self.request("GET", path, Body::Empty)
    }

    /// `GET path`, the body as JSON.
    pub fn get_json(&self, path: &str) -> Result<(u16, Value), String> {
        let r = self.get(path).map_err(|e| format!("GET {path}: {e}"))?;
        let v = r.json().map_err(|e| format!("GET {path}: {e}"))?;
        Ok((r.status, v))
    }

    /// `POST path` with a JSON body; the answer as JSON (`null` for an empty body).
    pub fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let r = self
            .request("POST", path, Body::Json(body))
            .map_err(|e| format!("POST {path}: {e}"))?;
        if r.body.iter().all(u8::is_ascii_whitespace) {
            return Ok((r.status, Value::Null));
        }
        let v = r.json().map_err(|e| format!("POST {path}: {e}"))?;
        Ok((r.status, v))
    }

    /// `POST path` with any body.
    pub fn post(&self, path: &str, body: Body<'_>) -> io::Result<Response> {
        self.request("POST", path, body)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> io::Result<Response> {
        self.request("DELETE", path, Body::Empty)
    }

    /// One request; the whole response body is read into memory.
    pub fn request(&self, method: &str, path: &str, body: Body<'_>) -> io::Result<Response> {
        let mut body_out = Vec::new();
        let (status, headers) = self.request_to(method, path, body, &mut body_out)?;
        Ok(Response {
            status,
            headers,
            body: body_out,
        })
    }

    /// One request; the response body is written to `out` as it arrives (large exports).
    pub fn request_to(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
        out: &mut dyn Write,
    ) -> io::Result<(u16, Vec<(String, String)>)> {
        let versioned = path == "/_ping"
            || path.starts_with("/_ping?")
            || (path.starts_with("/v") && path[2..].starts_with(|c: char| c.is_ascii_digit()));
        if !versioned {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path}: name the API version in the path, e.g. {API}/images/json"),
            ));
        }
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let json_bytes;
        let (content_type, length, mut reader): (Option<&str>, u64, Option<Box<dyn Read + '_>>) =
            match body {
                Body::Empty => (None, 0, None),
                Body::Bytes(ct, b) => (Some(ct), b.len() as u64, Some(Box::new(b))),
                Body::Json(v) => {
                    json_bytes = serde_json::to_vec(v).map_err(io::Error::other)?;
                    (
                        Some("application/json"),
                        json_bytes.len() as u64,
                        Some(Box::new(&json_bytes[..])),
                    )
                }
                Body::File(ct, p) => {
                    let f = fs::File::open(p)?;
                    let len = f.metadata()?.len();
                    (Some(ct), len, Some(Box::new(f)))
                }
            };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: imgtar-tests\r\nConnection: close\r\n"
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if reader.is_some() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {length}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if let Some(r) = reader.as_mut() {
            io::copy(r, &mut stream)?;
        }
        stream.flush()?;

        let mut rd = BufReader::new(stream);
        let (status, headers) = loop {
            let (status, headers) = read_head(&mut rd)?;
            // 1xx answers precede the real one.
            if !(100..200).contains(&status) {
                break (status, headers);
            }
        };
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.trim().to_string())
        };
        let no_body = method == "HEAD" || status == 204 || status == 304;
        if no_body {
            return Ok((status, headers));
        }
        let chunked = get("transfer-encoding").is_some_and(|te| {
            te.to_ascii_lowercase()
                .split(',')
                .any(|t| t.trim() == "chunked")
        });
        if chunked {
            read_chunked(&mut rd, out)?;
        } else if let Some(len) = get("content-length") {
            let len: u64 = len
                .parse()
                .map_err(|_| bad(format!("Content-Length {len}")))?;
            let copied = io::copy(&mut (&mut rd).take(len), out)?;
            if copied != len {
                return Err(bad(format!("body ended after {copied} of {len} bytes")));
            }
        } else {
            io::copy(&mut rd, out)?;
        }
        Ok((status, headers))
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_line(rd: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let n = rd.by_ref().take(64 * 1024).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if line.last() != Some(&b'\n') {
        return Err(bad("header line too long or cut".into()));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad("header is not UTF-8".into()))
}

fn read_head(rd: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = read_line(rd)?;
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or("");
    if !proto.starts_with("HTTP/1.") {
        return Err(bad(format!("not an HTTP/1 answer: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(rd)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok((status, headers))
}

fn read_chunked(rd: &mut impl BufRead, out: &mut dyn Write) -> io::Result<()> {
    loop {
        let line = read_line(rd)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                match read_line(rd) {
                    Ok(l) if l.is_empty() => return Ok(()),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
        let copied = io::copy(&mut rd.by_ref().take(size), out)?;
        if copied != size {
            return Err(bad(format!("chunk ended after {copied} of {size} bytes")));
        }
        let end = read_line(rd)?;
        if !end.is_empty() {
            return Err(bad(format!("no CRLF after a chunk: {end:?}")));
        }
    }
}
