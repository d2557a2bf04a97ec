/**
 * POSIX shell quoting for commands that must pass through a remote login shell (ssh exec). The only
 * place in distest that builds a shell string: everything else passes argv arrays.
 */
export function shellQuote(argv: string[]): string {
  return argv.map(quoteWord).join(' ');
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

function quoteWord(word: string): string {
  if (word.includes('\0')) throw new Error(`argument contains a NUL byte and cannot be passed to a shell: ${JSON.stringify(word)}`);
  if (SAFE_WORD.test(word)) return word;
  // Inside single quotes nothing is special except the quote itself, which is closed, escaped, reopened.
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
