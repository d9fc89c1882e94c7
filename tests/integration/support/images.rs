//! Container images for the tests, made on this host (no registry on the internet is
//! reachable): a root filesystem holding the static busybox, imported under the names the
//! seeds use, so the default pull policy (if not present) finds them.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// What the seeds' `devopscube/kubernetes-job-demo` runs: its `/script.sh` entrypoint
/// echoes a message as many times as its argument says.
const JOB_DEMO_SCRIPT: &str = "#!/bin/sh\necho \"This Job will echo message $1 times\"\n\
for i in $(seq 1 \"$1\"); do echo \":: $i :: Hey, I will run till the job completes.\"; done\n";

pub const BUSYBOX: &str = "docker.io/library/busybox:1.28";
pub const ALPINE: &str = "docker.io/library/alpine:latest";
pub const JOB_DEMO: &str = "docker.io/devopscube/kubernetes-job-demo:latest";
/// An image with an entrypoint (`echo ep`) and a cmd (`cmd`) of its own.
pub const EP_CMD: &str = "localhost/conveyor-test-ep-cmd:1";

/// The container runtime the tests drive (podman, installed by `scripts/setup.sh --test`).
pub fn podman() -> Command {
    let mut command = Command::new("podman");
    command.stdin(std::process::Stdio::null());
    command
}

/// Makes the images once per test process (and only those missing on this host).
pub fn seed_images() {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        let root = tempfile::tempdir().expect("temp dir");
        make_rootfs(root.path());
        for name in [BUSYBOX, ALPINE] {
            import(root.path(), name, &[]);
        }
        std::fs::write(root.path().join("script.sh"), JOB_DEMO_SCRIPT).expect("script");
        set_mode(&root.path().join("script.sh"), 0o755);
        import(root.path(), JOB_DEMO, &["ENTRYPOINT [\"/script.sh\"]"]);
        import(
            root.path(),
            EP_CMD,
            &["ENTRYPOINT [\"echo\", \"ep\"]", "CMD [\"cmd\"]"],
        );
    });
}

fn make_rootfs(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(root.join("tmp")).expect("tmp");
    let busybox = which::which("busybox").expect("busybox (Debian's busybox-static) is installed");
    std::fs::copy(&busybox, bin.join("busybox")).expect("copy busybox");
    set_mode(&bin.join("busybox"), 0o755);
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn import(root: &Path, name: &str, changes: &[&str]) {
    let exists = podman()
        .args(["image", "exists", name])
        .status()
        .expect("podman (installed by scripts/setup.sh --test)");
    if exists.success() {
        return;
    }
    let archive = root.with_extension("tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .expect("tar");
    assert!(tar.success(), "tar of the test root filesystem");
    let mut command = podman();
    command.arg("import").arg("--quiet");
    for change in changes {
        command.arg("--change").arg(change);
    }
    let output = command
        .arg(&archive)
        .arg(name)
        .output()
        .expect("podman import");
    assert!(
        output.status.success(),
        "podman import {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The containers a server (by its data directory) has on this host, running or not.
pub fn containers_of(data_dir: &Path) -> Vec<String> {
    let absolute = std::path::absolute(data_dir).expect("absolute");
    let output = podman()
        .args(["ps", "--all", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label=conveyor.data-dir={}", absolute.display()))
        .output()
        .expect("podman ps");
    assert!(output.status.success(), "podman ps");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}
