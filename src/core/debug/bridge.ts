// Reaching a rank's debugger on a node behind the launching host. debugpy listens on the node's
// loopback only, so nothing can connect to it from another machine; instead the launching host runs a
// bridge that listens on *its* loopback and, per connection, starts a second bridge on the node through
// the path the launcher took there (RelayedNode: `ssh NODE`, `srun --jobid --overlap -w NODE`), which
// connects to the rank's port on the node's loopback. Bytes travel between the two bridges as base64
// lines over that command's stdin/stdout, which survives srun's and ssh's line-oriented forwarding.
// This machine reaches the launching host's bridge port directly (local) or through its ssh forward.
import type { Host, RunningProcess } from '../transport/host';

/** The one script of both bridges: `login ARGV...` on the launching host, `node PORT` on the node. */
export const BRIDGE_SCRIPT = String.raw`
import base64, os, socket, subprocess, sys, threading
def pump_lines(lines, sock):
    try:
        for line in lines:
            sock.sendall(base64.b64decode(line))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def pump_socket(sock, out):
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            out.write(base64.b64encode(data) + b"\n")
            out.flush()
    except (OSError, ValueError):
        pass
if sys.argv[1] == "node":
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pump_lines, args=(sys.stdin.buffer, sock), daemon=True).start()
    pump_socket(sock, sys.stdout.buffer)
    os._exit(0)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(4)
sys.stdout.write("distest-bridge-port %d\n" % server.getsockname()[1])
sys.stdout.flush()
def serve(conn):
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    threading.Thread(target=pump_lines, args=(proc.stdout, conn), daemon=True).start()
    pump_socket(conn, proc.stdin)
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    conn.close()
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
`;

export interface Bridge {
  /** The bridge's port on the launching host's loopback. */
  port: number;
  proc: RunningProcess;
}

/**
 * Starts the launching host's bridge to `port` on a node; `onNode` wraps an argv to run on that node.
 * Rejects with the bridge's own words when it does not come up within 30 s.
 */
export function startBridge(host: Host, python: string, onNode: (argv: string[]) => string[], port: number, env?: Record<string, string>): Promise<Bridge> {
  const proc = host.stream([python, '-c', BRIDGE_SCRIPT, 'login', ...onNode([python, '-c', BRIDGE_SCRIPT, 'node', String(port)])], env ? { env } : {});
  return new Promise<Bridge>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail('no answer in 30 s'), 30_000);
    function fail(why: string) {
      clearTimeout(timer);
      void proc.kill();
      reject(new Error(`the debug bridge on ${host.name} did not start (${why})${err.trim() ? `: ${err.trim().slice(-500)}` : ''}`));
    }
    proc.onStderr(b => (err += b.toString('utf8')));
    proc.onStdout(b => {
      out += b.toString('utf8');
      const m = /distest-bridge-port (\d+)\n/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({ port: Number(m[1]), proc });
    });
    void proc.exited.then(status => fail(status.error ?? `exited with ${status.code ?? status.signal}`));
  });
}
