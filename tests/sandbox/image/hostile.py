"""Hostile submissions: one behaviour per image, chosen by the image's CMD argument.

Each mode attacks one limit the way a participant could, and prints a ``REPORT {json}``
line where the test needs to know what the attack saw from inside.
"""

import ctypes
import ctypes.util
import errno
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import time

MODE = sys.argv[1]


def report(**values):
    print("REPORT " + json.dumps(values), flush=True)


def errno_of(call):
    try:
        call()
    except OSError as exc:
        return exc.errno
    return 0


def fork_bomb():
    forks = 0
    refused = 0
    while True:
        try:
            pid = os.fork()
        except OSError as exc:
            refused += 1
            if refused == 1:
                print(f"fork refused after {forks} forks: errno {exc.errno}", flush=True)
            time.sleep(0.01)
            continue
        if pid == 0:
            forks = 0
            continue
        forks += 1


def memory_bomb():
    hog = []
    while True:
        hog.append(bytearray(16 * 2**20))


def fill(directory):
    with open(os.path.join(directory, "fill"), "wb") as handle:
        while True:
            handle.write(b"x" * 2**20)
            handle.flush()


def many_files(directory):
    for index in range(1_000_000):
        with open(os.path.join(directory, f"f{index}"), "w") as handle:
            handle.write("x")


def log_flood():
    line = b"y" * (2**20 - 1) + b"\n"
    out = sys.stdout.buffer
    for _ in range(int(os.environ.get("FLOOD_MB", "4096"))):
        out.write(line)
    out.flush()
    print("flood done", flush=True)
    with open("/output/predictions.csv", "w") as handle:
        handle.write("id,label\n10,1\n11,1\n")


def sleep_forever():
    def on_term(signum, frame):
        print("got SIGTERM, leaving", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print("sleeping", flush=True)
    while True:
        time.sleep(3600)


def sigkill_self():
    # What the kernel's OOM killer does, without the OOM event an engine may miss.
    print("killing myself with SIGKILL", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def ignore_sigterm():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("sleeping, deaf to SIGTERM", flush=True)
    while True:
        time.sleep(3600)


def _spin(seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        pass


def cpu_hog():
    workers = [multiprocessing.Process(target=_spin, args=(3,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with open("/output/predictions.csv", "w") as handle:
        handle.write("id,label\n10,1\n11,1\n")


def network():
    results = {}
    # TEST-NET-1 (RFC 5737): never routed, and there is no route out of the sandbox anyway.
    for name, address in (("tcp", ("192.0.2.1", 80)), ("loopback_host", ("172.17.0.1", 2375))):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2)
        results[name] = errno_of(lambda: sock.connect(address))  # noqa: B023
        sock.close()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    results["udp"] = errno_of(lambda: udp.sendto(b"x", ("192.0.2.1", 53)))
    try:
        socket.getaddrinfo("example.com", 80)
        results["dns"] = "resolved"
    except OSError as exc:
        results["dns"] = type(exc).__name__
    results["interfaces"] = sorted(os.listdir("/sys/class/net"))
    report(**results)


def _read(path, limit=65536):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode(errors="replace")
    except OSError as exc:
        return f"<{exc.errno}>"


def snoop():
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    texts = {
        "environ": _read("/proc/self/environ"),
        "init_environ": _read("/proc/1/environ"),
        "init_cmdline": _read("/proc/1/cmdline"),
        "mountinfo": _read("/proc/self/mountinfo"),
        "hostname": _read("/etc/hostname"),
        "hosts": _read("/etc/hosts"),
        "cgroup": _read("/proc/self/cgroup"),
    }
    sockets = [
        path
        for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd")
        if os.path.exists(path)
    ]
    mounts = sorted(line.split()[4] for line in texts["mountinfo"].splitlines())
    report(
        pids=pids,
        texts=texts,
        sockets=sockets,
        mounts=mounts,
        data=sorted(os.listdir("/data")),
        status=_read("/proc/self/status"),
    )


COUNTERS = [
    "/proc/diskstats",
    "/proc/stat",
    "/proc/vmstat",
    "/proc/meminfo",
    "/proc/loadavg",
    "/proc/interrupts",
    "/proc/cgroups",
    "/proc/sys/fs/file-nr",
]


def counters():
    """Read the host-wide counters an earlier run could have moved (a covert channel)."""
    folders = {}
    for folder in ("/sys/block", "/sys/class/block", "/sys/devices/virtual/block"):
        try:
            folders[folder] = sorted(os.listdir(folder))
        except OSError as exc:
            folders[folder] = f"<{exc.errno}>"
    report(
        files={path: _read(path) for path in COUNTERS},
        folders=folders,
        cpus=os.cpu_count(),
    )


def _attempt_write(path):
    def write():
        with open(path, "w") as handle:
            handle.write("x")

    return errno_of(write)


def vandal():
    report(
        rootfs=_attempt_write("/evil"),
        etc=_attempt_write("/etc/passwd"),
        usr=_attempt_write("/usr/bin/python3"),
        train_new=_attempt_write("/data/train/evil.csv"),
        train_overwrite=_attempt_write("/data/train/train.csv"),
        test_overwrite=_attempt_write("/data/test/test.csv"),
        sample=_attempt_write("/data/sample_submission.csv"),
        remove=errno_of(lambda: os.remove("/data/test/test.csv")),
        rename=errno_of(lambda: os.rename("/data/train/train.csv", "/data/train/x.csv")),
        chmod=errno_of(lambda: os.chmod("/data/test/test.csv", 0o777)),
    )


def escalate():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def libc_errno(result):
        return ctypes.get_errno() if result != 0 else 0

    status = _read("/proc/self/status")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    report(
        uid=os.getuid(),
        setuid=errno_of(lambda: os.setuid(0)),
        setgid=errno_of(lambda: os.setgid(0)),
        mount=libc_errno(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        # PTRACE_SEIZE (does not stop the tracee) on the run's own init, and PTRACE_ATTACH
        # on a pid that exists only outside the run's pid namespace.
        ptrace_init=libc_errno(libc.ptrace(0x4206, 1, None, None)),
        ptrace_outside=libc_errno(libc.ptrace(16, 4_000_000, None, None)),
        chown=errno_of(lambda: os.chown("/tmp", 0, 0)),
        mknod=errno_of(lambda: os.mknod("/tmp/dev", 0o600 | 0o020000, os.makedev(1, 3))),
        cap_eff=fields.get("CapEff", "").strip(),
        no_new_privs=fields.get("NoNewPrivs", "").strip(),
        seccomp=fields.get("Seccomp", "").strip(),
        core=__import__("resource").getrlimit(__import__("resource").RLIMIT_CORE),
    )


def symlink_out():
    hardlink = errno_of(lambda: os.link("/data/test/test.csv", "/output/predictions.csv"))
    print(f"hard link into /output: errno {hardlink} ({errno.errorcode.get(hardlink)})")
    os.symlink("/etc/shadow", "/output/predictions.csv")


def huge_predictions():
    # Sparse: 5 GB long, almost nothing on disk; the size check must refuse to read it.
    with open("/output/predictions.csv", "wb") as handle:
        handle.write(b"id,label\n")
        handle.truncate(5 * 2**30)


def checksum():
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk("/data")):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as handle:
                digest.update(handle.read())
    report(sha256=digest.hexdigest())


MODES = {
    "fork_bomb": fork_bomb,
    "memory_bomb": memory_bomb,
    "fill_tmp": lambda: fill("/tmp"),
    "fill_output": lambda: fill("/output"),
    "many_files_tmp": lambda: many_files("/tmp"),
    "many_files_output": lambda: many_files("/output"),
    "log_flood": log_flood,
    "sleep_forever": sleep_forever,
    "ignore_sigterm": ignore_sigterm,
    "sigkill_self": sigkill_self,
    "cpu_hog": cpu_hog,
    "network": network,
    "snoop": snoop,
    "counters": counters,
    "vandal": vandal,
    "escalate": escalate,
    "symlink_out": symlink_out,
    "huge_predictions": huge_predictions,
}

if __name__ == "__main__":
    MODES[MODE]()
