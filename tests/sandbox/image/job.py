"""The test submission: one script, behaviour chosen by PODIUM_TEST_MODE.

One image keeps the test session to a single build, save and load.
"""

import csv
import json
import os
import signal
import sys
import time

MODE = os.environ.get("PODIUM_TEST_MODE", "predict")


def attempt_write(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
    except OSError as exc:
        return type(exc).__name__ + ":" + str(exc.errno)
    return "ok"


def predict():
    with open("/data/train/train.csv") as handle:
        labels = [int(row["label"]) for row in csv.DictReader(handle)]
    majority = max(set(labels), key=labels.count)
    with open("/data/test/test.csv") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    # Burn some CPU so the stats sampler sees the run.
    deadline = time.time() + 2.5
    total = 0
    while time.time() < deadline:
        total += sum(range(10000))
    with open("/output/predictions.csv", "w") as handle:
        handle.write("id,label\n")
        for row_id in ids:
            handle.write(f"{row_id},{majority}\n")
    print("predicted", len(ids), "rows")


def probe():
    report = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "write_train": attempt_write("/data/train/evil.csv"),
        "write_sample": attempt_write("/data/sample_submission.csv"),
        "write_rootfs": attempt_write("/evil"),
        "write_etc": attempt_write("/etc/evil"),
        "write_tmp": attempt_write("/tmp/ok"),
        "write_output": attempt_write("/output/ok"),
        "env": {
            key: value
            for key, value in os.environ.items()
            if key.endswith("_THREADS") or key.startswith("PODIUM_")
        },
        "data": sorted(os.listdir("/data")),
    }
    print("REPORT " + json.dumps(report))


def memory_bomb():
    hog = []
    while True:
        hog.append(bytearray(16 * 2**20))


def sleep_forever():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("sleeping", flush=True)
    time.sleep(3600)


def fail():
    print("about to fail: marker-7f3a", flush=True)
    # stdout and stderr are copied by separate readers; keep their order unambiguous.
    time.sleep(0.2)
    print("traceback-ish line on stderr", file=sys.stderr, flush=True)
    sys.exit(3)


def symlink():
    os.symlink("/etc/passwd", "/output/predictions.csv")


def big_predictions():
    with open("/output/predictions.csv", "w") as handle:
        handle.write("id,label\n" + "1,0\n" * 1000)


def exhaust():
    """Fork until the pids limit bites and fill /tmp until its size limit bites."""
    children = []
    fork_error = None
    for _ in range(10000):
        try:
            pid = os.fork()
        except OSError as exc:
            fork_error = exc.errno
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    tmp_error = None
    try:
        with open("/tmp/fill", "wb") as handle:
            for _ in range(64):
                handle.write(b"x" * 2**20)
                handle.flush()
    except OSError as exc:
        tmp_error = exc.errno
    print(
        "REPORT "
        + json.dumps({"forks": len(children), "fork_error": fork_error, "tmp_error": tmp_error})
    )


MODES = {
    "exhaust": exhaust,
    "predict": predict,
    "probe": probe,
    "memory_bomb": memory_bomb,
    "sleep_forever": sleep_forever,
    "fail": fail,
    "no_predictions": lambda: print("forgot to write predictions"),
    "symlink": symlink,
    "big_predictions": big_predictions,
}

MODES[MODE]()
