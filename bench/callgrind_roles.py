"""Instructions per round trip by thread role, from the per-thread profiles
bench/callgrind-echo.sh writes (callgrind --separate-threads=yes).

    python3 bench/callgrind_roles.py DIR ROUND_TRIPS

DIR holds 1r.out-NN and 3r.out-NN. A thread whose profile names may's event
loop is a scheduler thread (a worker, or a thread that took a worker's slot
in a hand-off); one that names greenstd's monitor loop is the monitor; the
rest is "other". Prints each role's first event (instructions) of 3r - 1r
divided by ROUND_TRIPS, the scheduler threads of each run and the hand-offs
the monitor tried in each (its calls of may's `hand_off`).
"""
import glob
import os
import re
import sys


def roles(d, run):
    out = {"scheduler": 0, "monitor": 0, "other": 0}
    threads = handoffs = 0
    for path in sorted(glob.glob(os.path.join(d, run + ".out-*"))):
        total, role = 0, "other"
        names, callee = {}, None
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("totals: "):
                    total = int(line.split()[1])
                    continue
                if "EventLoop::run" in line:
                    role = "scheduler"
                elif "shim_rt::monitor::run" in line and role == "other":
                    role = "monitor"
                # Names are compressed: "(id) name" the first time, "(id)"
                # after.
                m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line)
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2).split(" [")[0]
                    callee = names.get(m.group(1)) if line.startswith("cfn=") else None
                elif line.startswith("calls=") and callee == "may::monitor::hand_off":
                    handoffs += int(line.split()[0][len("calls="):])
        out[role] += total
        threads += role == "scheduler"
    return out, threads, handoffs


d, n = sys.argv[1], int(sys.argv[2])
a, ta, ha = roles(d, "1r")
b, tb, hb = roles(d, "3r")
print(
    "  by thread: "
    + ", ".join("%s %.1f" % (k, (b[k] - a[k]) / n) for k in a)
    + " per round trip; scheduler threads %d / %d, hand-offs tried %d / %d (1r / 3r)"
    % (ta, tb, ha, hb)
)
