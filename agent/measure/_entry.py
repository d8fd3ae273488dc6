"""Entry point of the measurer's helper processes (internal; started by ``_proc.Helper``).

``python -m agent.measure._entry worker|forkserver FD [CPU,CPU,...]``: FD is the helper's end
of a socket pair; the optional CPU list pins the process (``os.sched_setaffinity``).

Helpers (and the memory children they fork) raise their own out-of-memory score to the
maximum, so that when a candidate exhausts the machine's memory the kernel kills the helper
measuring it, not the service.
"""

from __future__ import annotations

import logging
import os
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    role, fd = argv[0], int(argv[1])
    if len(argv) > 2 and argv[2]:
        os.sched_setaffinity(0, {int(c) for c in argv[2].split(",")})
    logging.basicConfig(
        level=os.environ.get("LTS_AGENT_LOG_LEVEL", "WARNING"),
        format=f"%(asctime)s {role}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass  # not Linux, or not allowed: the service is then no better protected
    conn = Connection(fd)
    if role == "worker":
        from agent.measure.local import serve_worker

        serve_worker(conn)
    elif role == "forkserver":
        from agent.measure.memory import serve_forkserver

        serve_forkserver(conn)
    else:
        raise SystemExit(f"unknown role {role!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
