// Bundled by bench/ssh.mjs into .bench/ssh-entry.js: what the SSH benchmark drives.
export { SshHost } from '../src/core/transport/ssh/sshHost';
export { generateKey, sshdAvailable, startSshd } from '../test/integration/sshd';
