"""Host-wide kernel counters hidden from runs.

A run sees the host's /proc and /sys, and some of their files are counters of the whole
machine that every run moves: sectors written per block device (/proc/diskstats, the
loop devices behind each run's /tmp and /output in /sys/block), forks since boot
(/proc/stat), free memory and page cache (/proc/meminfo, /proc/vmstat, NUMA node stats),
interrupts, idle-state entries, the number of cgroups. A scored run that moves one of
them on purpose (writes N MB, forks N times) can be read back by a later debug run of the
same team, whose log is shown in full: a channel out of the hidden data that no message
of ours carries. Masking them (the engine's own mechanism: HostConfig.MaskedPaths, an
empty file or an empty read-only directory in their place) closes the channels found so
far; a runtime that virtualises /proc (gVisor's runsc, PODIUM_SANDBOX_RUNTIME) closes the
kind. Docker's own defaults are kept: MaskedPaths replaces them, it does not add to them.
"""

from __future__ import annotations

import os
from pathlib import Path

# moby's oci.DefaultSpec() masked paths (kept: the list below replaces them).
DOCKER_DEFAULTS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

HOST_COUNTERS = (
    "/proc/diskstats",
    "/proc/partitions",
    "/proc/stat",
    "/proc/vmstat",
    "/proc/meminfo",
    "/proc/zoneinfo",
    "/proc/buddyinfo",
    "/proc/pagetypeinfo",
    "/proc/slabinfo",
    "/proc/loadavg",
    "/proc/interrupts",
    "/proc/softirqs",
    "/proc/schedstat",
    "/proc/pressure",
    "/proc/cgroups",
    "/proc/locks",
    "/proc/swaps",
    "/proc/sys/fs",
    "/proc/sys/kernel/random",
    "/sys/block",
    "/sys/class/block",
    "/sys/dev/block",
    "/sys/devices/virtual/block",
    "/sys/devices/system/node",
    "/sys/kernel",
)


def _host_globs(sys_root: Path) -> list[str]:
    """Per-device and per-CPU counter folders whose names depend on the host."""
    found: set[str] = set()
    block = sys_root / "block"
    if block.is_dir():
        for device in block.iterdir():
            # /sys/block/sda -> /sys/devices/pci0000:00/.../block/sda (physical disks:
            # a run's writes reach them through its loop device's backing file).
            real = Path(os.path.realpath(device))
            if real.is_relative_to(sys_root / "devices") and real.is_dir():
                found.add(str(real))
    cpus = sys_root / "devices" / "system" / "cpu"
    for pattern in ("cpu[0-9]*/cpuidle", "cpu[0-9]*/cpufreq", "cpufreq"):
        found.update(str(p) for p in cpus.glob(pattern) if p.is_dir())
    return sorted(found)


def masked_paths(sys_root: Path = Path("/sys")) -> list[str]:
    """The HostConfig.MaskedPaths of a run: Docker's defaults, the host-wide counters
    above, and this host's per-device and per-CPU counter folders."""
    return [*DOCKER_DEFAULTS, *HOST_COUNTERS, *_host_globs(sys_root)]
