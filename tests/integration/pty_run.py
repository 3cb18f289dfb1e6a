#!/usr/bin/python3
"""Run a command on a pseudo-terminal, as a person at a terminal would.

    pty_run.py LOG COMMAND [ARG...]

The command's terminal output goes to LOG, the command's pid (the leader of
its new session) to LOG.pid. SIGUSR1 to this process types
Ctrl-C on the terminal (the kernel's line discipline turns it into SIGINT
for the terminal's foreground process group, exactly as a keyboard does).
Exits with the command's exit status, or 128 + the signal that killed it.
"""
import os
import pty
import select
import signal
import sys

log_path, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    # As from a person's shell: a script's background job starts with
    # SIGINT and SIGQUIT ignored, which exec would hand on to make
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    os.execvp(argv[0], argv)
with open(log_path + ".pid", "w") as f:
    f.write(f"{pid}\n")
pending = []
signal.signal(signal.SIGUSR1, lambda *_: pending.append(b"\x03"))
with open(log_path, "ab", buffering=0) as log:
    while True:
        while pending:
            os.write(fd, pending.pop())
        try:
            ready, _, _ = select.select([fd], [], [], 0.1)
        except InterruptedError:
            continue
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            log.write(data)
_, status = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
