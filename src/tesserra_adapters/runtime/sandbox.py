"""The sandbox of a process workload: bubblewrap, an unprivileged uid of its own, rlimits, pasta.

bubblewrap is started by the server (root) *without* a user namespace, so it can bind directories
that only root may enter (the workload's own home under the data dir, a tool's virtualenv), in new
pid, ipc, uts, net, cgroup and mount namespaces. Its root is an empty tmpfs holding only:

- the system read-only (``/usr``, ``/bin``, ``/sbin``, ``/lib``, ``/lib64``: those that exist) and a
  short list of ``/etc`` files (name resolution, users, certificates, time zone, the linker cache);
- a fresh ``/proc``, a minimal ``/dev``, a private ``/tmp`` (tmpfs);
- the workload's home (read-write, its working directory and ``HOME``), its mounts, and the program
  it runs when that lies outside the system: a Python virtualenv's directory and the base Python
  installation it was made from (read-only), or else the program file itself.

The data dir, the database, the secret key, other workloads' homes and the server's environment
are not there at all. Inside, ``prlimit`` sets the rlimits and ``setpriv`` drops to the workload's
uid (its real, effective and saved uid and gid, no supplementary groups, no capabilities, no new
privileges) before the command runs: a workload is never root, inside or outside the namespaces
(bubblewrap's ``--uid`` alone keeps the real uid 0 outside, which still reads /etc/shadow).

Each owner (``resource:<id>``, ``installation:<id>``) gets a uid of its own in
[``UID_BASE``, ``UID_BASE + UID_SPAN``), derived from the owner and claimed with a marker file in
``UIDS_DIR`` (host-wide, so two servers on one host never share a uid); its home and writable mounts
belong to it. Not ``--die-with-parent``: ``PR_SET_PDEATHSIG`` fires when the *thread* that forked
exits (the server starts workloads from worker threads), and workloads must outlive the server.
Not ``--new-session``: the runtime signals the workload's process group; there is no terminal to
inject into (stdio are pipes and files, and the server starts each sandbox in a session of its own).

The network namespace has only loopback until ``pasta`` (passt) is attached to it: it forwards a
host port on 127.0.0.1 to each declared port in the namespace, and gives outbound access without
mapping the host's loopback or gateway (``--no-map-gw``, no ``-T``/``-U`` forwards), so the
workload never reaches the server, PostgreSQL or Redis on 127.0.0.1, nor another workload.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tesserra_core.ports.runtime import WorkloadSpec

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "resolv.conf",
    "hosts",
    "host.conf",
    "gai.conf",
    "nsswitch.conf",
    "passwd",
    "group",
    "protocols",
    "services",
    "ssl",
    "ca-certificates",
    "pki",
    "localtime",
    "timezone",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "mime.types",
)
UID_BASE = 1_900_000_000
UID_SPAN = 247_483_648
"""Workload uids stay below 2**31: some tools read uids as signed integers."""
UIDS_DIR = Path("/run/tesserra-workload-uids")
DEFAULT_MEMORY_BYTES = 4 * 1024**3
"""RLIMIT_AS when the spec names no memory (per process: the kernel has no total here)."""
MAX_PROCESSES = 512
MAX_OPEN_FILES = 4096
MAX_CPU_SECONDS = 7 * 24 * 3600
PROBE_TIMEOUT = 10.0


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(f"{root}/") for root in roots)


def _trusted(path: Path) -> bool:
    """Owned by the server's user and writable by nobody else: no workload could have planted it."""
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def program_binds(program: str) -> list[str]:
    """What must be visible (read-only) for ``program`` to run, when it lies outside the system: a
    virtualenv it belongs to (its directory and its base Python), or else the file itself."""
    if not program.startswith("/") or _under(program, SYSTEM_DIRS):
        return []
    path = Path(program)
    interpreter = _shebang(path)
    for candidate in (path, Path(interpreter) if interpreter else None):
        if candidate is None:
            continue
        venv = candidate.parent.parent
        config = venv / "pyvenv.cfg"
        if config.is_file() and _trusted(config) and _trusted(venv):
            binds = [str(venv)]
            home = _pyvenv_home(config)
            if home is not None and not _under(home, SYSTEM_DIRS):
                binds.append(str(Path(home).parent))
            if candidate is not path:
                binds.append(str(path))
            return binds
    return [str(path)]


def _shebang(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode(errors="replace").split()
    return parts[0] if parts and parts[0].startswith("/") else None


def _pyvenv_home(config: Path) -> str | None:
    for line in config.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip().startswith("/"):
            return os.path.realpath(value.strip())
    return None


class Sandbox:
    def __init__(self, bwrap: str = "bwrap", pasta: str = "pasta", *, uids_dir: Path = UIDS_DIR) -> None:
        self._bwrap = shutil.which(bwrap) or bwrap
        self._pasta = shutil.which(pasta) or pasta
        self._uids = uids_dir

    @property
    def pasta(self) -> str:
        """The pasta executable, as found on the PATH when the sandbox was made."""
        return self._pasta

    @functools.cached_property
    def problem(self) -> str | None:
        """Why workloads cannot be sandboxed here (None: they can). Probed once: a sandboxed ``true``."""
        if os.geteuid() != 0:
            return "the server does not run as root, so it cannot give workloads uids of their own"
        for tool in (self._bwrap, self._pasta, "setpriv", "prlimit"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        argv = self.argv(
            WorkloadSpec(owner="probe", tenant_id="probe", command=("true",)), uid=UID_BASE, home=None, workdir="/"
        )
        try:
            done = subprocess.run(argv, umask=0o022, capture_output=True, timeout=PROBE_TIMEOUT, env={}, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap does not start: {exc}"
        if done.returncode != 0:
            return f"bubblewrap fails here: {done.stderr.decode(errors='replace').strip()[:200]}"
        pasta_options(self._pasta)  # asked now, off the event loop (``pasta_argv`` reads it)
        return None

    # -- uids -------------------------------------------------------------------------------------

    def claim_uid(self, owner: str) -> int:
        """The owner's uid: the same one while its marker lasts, never another owner's."""
        self._uids.mkdir(mode=0o700, exist_ok=True)
        start = int.from_bytes(hashlib.sha256(owner.encode()).digest()[:8], "big") % UID_SPAN
        for step in range(UID_SPAN):
            uid = UID_BASE + (start + step) % UID_SPAN
            marker = self._uids / str(uid)
            try:
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                if marker.read_text() == owner:
                    return uid
                continue
            with os.fdopen(fd, "w") as out:
                out.write(owner)
            return uid
        raise OSError("no workload uid left")

    def transfer_uid(self, owner: str, new_owner: str, uid: int) -> None:
        """``owner``'s uid becomes ``new_owner``'s (a pooled workload handed to a sandbox)."""
        marker = self._uids / str(uid)
        if marker.read_text() != owner:
            raise OSError(f"uid {uid} is not {owner}'s")
        temporary = marker.with_name(f".{uid}.{os.getpid()}")
        temporary.write_text(new_owner)
        temporary.chmod(0o600)
        os.replace(temporary, marker)

    def release_uid(self, owner: str, uid: int) -> None:
        marker = self._uids / str(uid)
        try:
            if marker.read_text() == owner:
                marker.unlink()
        except OSError:
            return

    # -- the sandbox ------------------------------------------------------------------------------

    def argv(
        self,
        spec: WorkloadSpec,
        *,
        uid: int,
        home: Path | None,
        workdir: str,
        info_fd: int | None = None,
        block_fd: int | None = None,
    ) -> list[str]:
        """bubblewrap's command line around ``spec.command``. The environment is the one bubblewrap
        is started with (never in this argv, which every user of the host may read)."""
        argv = [self._bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup"]
        argv += filesystem(spec, home)
        argv += ["--chdir", workdir]
        if info_fd is not None:
            argv += ["--info-fd", str(info_fd)]
        if block_fd is not None:
            argv += ["--block-fd", str(block_fd)]
        memory = spec.memory_bytes or DEFAULT_MEMORY_BYTES
        argv += ["--", *_default_signals()]
        argv += [
            "prlimit",
            f"--as={memory}",
            f"--nproc={MAX_PROCESSES}",
            f"--nofile={MAX_OPEN_FILES}",
            f"--cpu={MAX_CPU_SECONDS}",
        ]
        argv += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            *spec.command,
        ]
        return argv

    def pasta_argv(self, ports: Mapping[int, int], pid_file: Path) -> list[str]:
        """pasta attached to the namespace open on its standard input. Not by ``/proc/<pid>/ns/net``:
        pasta drops CAP_SYS_PTRACE before it opens the path, and the sandbox's first process is root
        with every capability, so the open fails; not by another inherited descriptor either: passt
        2024+ closes every one but 0-2 on start. ``--no-netns-quit``: pasta would watch the directory
        of the path it was given, ``/proc/self/fd`` of the process it forks from, and quit a second
        after that process exits; the runtime ends pasta with its workload (``end_pasta``)."""
        argv = [self._pasta, "--quiet", "--runas", "0", "--config-net", "--netns", "/proc/self/fd/0"]
        argv += ["--pid", str(pid_file), "--no-map-gw", "-T", "none", "-U", "none", "-u", "none"]
        argv += ["--no-dhcpv6", "--no-ra", "--no-netns-quit"]
        if HOST_LOOPBACK_TO_NS in pasta_options(self._pasta):
            argv.append(HOST_LOOPBACK_TO_NS)
        for declared, host_port in ports.items():
            argv += ["-t", f"127.0.0.1/{host_port}:{declared}"]
        if not ports:
            argv += ["-t", "none"]
        return argv


STREAMING_PASTA = "20250503"
"""The passt snapshot that ``scripts/install-pasta.sh`` builds, which streams large transfers through;
Debian 12's (20230309) now and then stalls them a megabyte or two before their end."""


HOST_LOOPBACK_TO_NS = "--host-lo-to-ns-lo"
"""passt 2024-09+ forwards the host's loopback to the namespace's external address, where a workload
listening on 127.0.0.1 is not found; this option restores what older pastas did (and the runtime
promised): a forwarded connection arrives on the namespace's loopback."""


def pasta_streams(version: str | None) -> bool:
    """Whether the pasta that reported ``version`` (``pasta_version``) is ``STREAMING_PASTA`` or newer
    (a build without a version, as Debian 12's, counts as older)."""
    snapshot = re.search(r"git(\d{8})", version or "")
    return snapshot is not None and snapshot[1] >= STREAMING_PASTA


def _pasta_says(pasta: str, option: str) -> str | None:
    """What ``pasta <option>`` writes, None when it fails. Read through a pseudo-terminal, as it
    writes: passt 2025 prints its version and help with stdio and exits without flushing, so a pipe
    gets nothing."""
    import pty

    leader, follower = pty.openpty()
    try:
        try:
            child = subprocess.Popen(  # noqa: S603 (the operator's configured pasta)
                [pasta, option], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
            )
        except OSError:
            return None
        os.close(follower)
        follower = -1
        out = b""
        with contextlib.suppress(OSError):  # EIO once the child has exited and everything is read
            while (chunk := os.read(leader, 4096)) and len(out) < 1 << 20:
                out += chunk
        try:
            code = child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            return None
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    return out.decode(errors="replace") if code == 0 else None


@functools.cache
def pasta_version(pasta: str) -> str | None:
    """The first line of ``pasta --version`` (``pasta 0.0~git20250503.587980c-...``), None when it
    does not run."""
    first = (_pasta_says(pasta, "--version") or "").strip().splitlines()[:1]
    return first[0].strip() if first else None


@functools.cache
def pasta_options(pasta: str) -> frozenset[str]:
    """The long options ``pasta --help`` lists (empty when it does not run)."""
    return frozenset(re.findall(r"(?m)^\s*(?:-\w,\s*)?(--[\w-]+)", _pasta_says(pasta, "--help") or ""))


@functools.cache
def _default_signals() -> tuple[str, ...]:
    """``env --default-signal`` (coreutils 8.31+): signals the server ignored are not ignored inside."""
    try:
        done = subprocess.run(
            ["env", "--default-signal", "true"],  # noqa: S607 (as the sandbox finds it)
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return ("env", "--default-signal") if done.returncode == 0 else ()


def filesystem(spec: WorkloadSpec, home: Path | None) -> list[str]:
    """bubblewrap's mounts: the system read-only, a short list of /etc files, a fresh /proc and /dev, a
    private /tmp, the program's own files, the workload's home and its declared mounts."""
    argv: list[str] = []
    made: set[str] = {"/"}

    def bind(kind: str, source: str, target: str) -> None:
        # bubblewrap makes missing parents 0700 (root's alone): make them traversable first.
        parents = [str(p) for p in reversed(Path(target).parents) if str(p) not in made]
        for parent in parents:
            argv.extend(["--perms", "0755", "--dir", parent])
            made.add(parent)
        argv.extend([kind, source, target])

    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):
            argv += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            bind("--ro-bind", directory, directory)
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            bind("--ro-bind", f"/etc/{name}", f"/etc/{name}")
    private_tmp = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not the host's /tmp
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", private_tmp]
    made.add(private_tmp)
    for path in program_binds(spec.command[0]):
        bind("--ro-bind", path, path)
    if home is not None:
        bind("--bind", str(home), str(home))
    for mount in spec.mounts:
        kind = "--ro-bind" if mount.read_only else "--bind"
        for place in dict.fromkeys((mount.source, mount.target)):
            bind(kind, mount.source, place)
    return argv
