"""Starts the ranks of a command on a list of hosts without MPI (Parallel-Python style).

usage: python distest_spawn.py --hosts h1:2,h2:2 --np N [--env NAME ...] -- command ...

Rank r goes to the first host with a free slot, in order. Every rank gets RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR (the first host) and DISTEST_RANK / DISTEST_SIZE, plus the variables named
with --env, taken from this process. Hosts named localhost or like this machine start directly; others
through `ssh -o BatchMode=yes HOST` with every word quoted for the remote shell, in this folder.
Each output line is tagged `[1,r]<stdout>:` like OpenMPI's --tag-output, so distest reads ranks the same way.
SIGTERM / SIGINT stop every rank; distest's run-id sweep covers what a closed ssh session leaves behind.
A rank killed by a signal is announced the way mpirun does ("process rank 1 with PID 42 on node n2 exited
on signal 11 (Segmentation fault)"). The exit code is the first failing rank's, else 0. Standard library only.
"""
import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading

_write_lock = threading.Lock()


def parse_hosts(text):
    hosts = []
    for entry in text.split(","):
        name, _, slots = entry.partition(":")
        hosts.append((name, int(slots) if slots else 1))
    return hosts


def placement(hosts, np):
    """[(host, local_rank, local_size)] for ranks 0..np-1; more ranks than slots wrap around."""
    order = [host for host, slots in hosts for _ in range(slots)]
    chosen = [order[r % len(order)] for r in range(np)]
    counts = {}
    places = []
    for host in chosen:
        places.append((host, counts.get(host, 0)))
        counts[host] = counts.get(host, 0) + 1
    return [(host, local, counts[host]) for host, local in places]


def is_this_machine(host):
    names = {"localhost", "127.0.0.1", socket.gethostname(), socket.gethostname().split(".")[0], socket.getfqdn()}
    return host in names


def relay(stream, out, rank, name):
    tag = ("[1,%d]<%s>:" % (rank, name)).encode()
    for line in iter(stream.readline, b""):
        with _write_lock:
            out.write(tag + (line if line.endswith(b"\n") else line + b"\n"))
            out.flush()


def main(argv):
    parser = argparse.ArgumentParser(prog="distest_spawn")
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--np", type=int, required=True)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    hosts = parse_hosts(args.hosts)
    forwarded = {name: os.environ[name] for name in args.env if name in os.environ}
    children = []
    relays = []
    for rank, (host, local_rank, local_size) in enumerate(placement(hosts, args.np)):
        env = dict(forwarded, RANK=str(rank), WORLD_SIZE=str(args.np), LOCAL_RANK=str(local_rank),
                   LOCAL_WORLD_SIZE=str(local_size), MASTER_ADDR=hosts[0][0], DISTEST_RANK=str(rank),
                   DISTEST_SIZE=str(args.np))
        if is_this_machine(host):
            argv_ = command
            child_env = dict(os.environ, **env)
        else:
            # No exec: the remote shell turns a signal death into exit code 128 + N, which ssh passes on.
            remote = "cd %s && env %s %s" % (
                shlex.quote(os.getcwd()),
                " ".join(shlex.quote("%s=%s" % item) for item in sorted(env.items())),
                " ".join(shlex.quote(word) for word in command))
            argv_ = ["ssh", "-o", "BatchMode=yes", host, remote]
            child_env = None
        child = subprocess.Popen(argv_, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        children.append((child, host, child_env is None))
        for stream, out, name in ((child.stdout, sys.stdout.buffer, "stdout"), (child.stderr, sys.stderr.buffer, "stderr")):
            thread = threading.Thread(target=relay, args=(stream, out, rank, name), daemon=True)
            thread.start()
            relays.append(thread)

    def stop(signum, _frame):
        for child, _host, _remote in children:
            if child.poll() is None:
                child.terminate()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [child.wait() for child, _host, _remote in children]
    for thread in relays:
        thread.join()
    for rank, ((child, host, remote), code) in enumerate(zip(children, codes)):
        signum = -code if code < 0 else code - 128 if remote and 128 < code < 160 else None
        if signum:
            with _write_lock:
                sys.stderr.write("distest_spawn noticed that process rank %d with PID %d on node %s exited on signal %d (%s).\n"
                                 % (rank, child.pid, host, signum, signal.strsignal(signum) or "unknown signal"))
                sys.stderr.flush()
    failing = [code for code in codes if code != 0]
    if not failing:
        return 0
    return 128 - failing[0] if failing[0] < 0 else failing[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
