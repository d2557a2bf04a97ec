// Terminal answers for SshHost's questions, for the CLI (the editor asks through its own UI). Secrets
// are read without echo and never remembered: the CLI has no secret store.
import type { SecretAnswer, SecretRequest, UnknownHostInfo } from './connect';

export interface TerminalPrompts {
  askSecret(request: SecretRequest): Promise<SecretAnswer | undefined>;
  confirmUnknownHost(info: UnknownHostInfo): Promise<boolean>;
}

type Input = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };

/** Prompts on a terminal; undefined when `input` is not one (the caller then fails with a clear error). */
export function terminalPrompts(input: Input = process.stdin, output: NodeJS.WritableStream = process.stderr, requireTty = true): TerminalPrompts | undefined {
  if (requireTty && !input.isTTY) return undefined;
  return {
    async askSecret(request) {
      const what = request.kind === 'passphrase' ? `Passphrase for ${request.keyFile ?? 'key'} (${request.host})` : `Password for ${request.host}`;
      output.write(`${what}: `);
      const value = await readLine(input, false);
      output.write('\n');
      return value === undefined ? undefined : { value, remember: false };
    },
    async confirmUnknownHost(info) {
      output.write(`The authenticity of host '${info.host}' (port ${info.port}) can't be established.\n` +
        `${info.keyType} key fingerprint is ${info.fingerprintSha256}.\nAre you sure you want to continue connecting (yes/no)? `);
      const answer = await readLine(input, true);
      return answer?.trim().toLowerCase() === 'yes';
    },
  };
}

/** One line from `input`; without echo on a TTY unless `echo`. undefined at end of input or Ctrl-C. */
function readLine(input: Input, echo: boolean): Promise<string | undefined> {
  const raw = !echo && input.isTTY && typeof input.setRawMode === 'function';
  if (raw) input.setRawMode?.(true);
  return new Promise(resolve => {
    let line = '';
    const finish = (value: string | undefined): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      if (raw) input.setRawMode?.(false);
      input.pause();
      resolve(value);
    };
    const onEnd = (): void => finish(undefined);
    const onData = (chunk: Buffer | string): void => {
      const text = chunk.toString();
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (ch === '\u0003' || ch === '\u0004') return finish(undefined);
        if (ch === '\n' || ch === '\r') {
          // What follows belongs to the next question (piped answers).
          const rest = text.slice(i + (ch === '\r' && text[i + 1] === '\n' ? 2 : 1));
          finish(line);
          if (rest) input.unshift(Buffer.from(rest));
          return;
        }
        line = ch === '\u007f' || ch === '\b' ? line.slice(0, -1) : line + ch;
      }
    };
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
  });
}
