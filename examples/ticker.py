"""A tiny long-running program for circus demos (standard library only).

Prints ``tick N from pid P`` every few seconds (``--every SECONDS``,
default 5) and exits 0 on SIGTERM, circus' default stop signal.
"""

import argparse
import os
import signal
import sys
import threading


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=5.0, help="seconds between ticks")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, lambda *_: stopping.set())
    count = 0
    while not stopping.wait(args.every):
        count += 1
        print("tick %d from pid %d" % (count, os.getpid()), flush=True)
    print("ticker[%d] stopping after %d ticks" % (os.getpid(), count), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
