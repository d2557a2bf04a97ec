// With NODE_EXTRA_CA_CERTS set, node reads and parses every certificate it names before it runs any
// JavaScript: 30-40 ms of each start here (Debian's bundle). distest's own node processes open no TLS
// connection (the `distest` command, the discovery language server), so they start without it, and give
// it back to the programs they start. src/distest.sh does the first half for the command in shell.

const HELD = 'DISTEST_NODE_EXTRA_CA_CERTS';

/**
 * What to lay over the environment a distest node process is started with (undefined drops a variable):
 * NODE_EXTRA_CA_CERTS moves aside, for restoreExtraCaCerts to put back.
 */
export function startWithoutExtraCaCerts(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const certs = env.NODE_EXTRA_CA_CERTS;
  return certs === undefined ? {} : { NODE_EXTRA_CA_CERTS: undefined, [HELD]: certs };
}

/** First thing in a process started so: what it starts gets NODE_EXTRA_CA_CERTS back. */
export function restoreExtraCaCerts(): void {
  const certs = process.env[HELD];
  if (certs === undefined) return;
  process.env.NODE_EXTRA_CA_CERTS = certs;
  delete process.env[HELD];
}
