/**
 * Launcher templates (`distest.launchers`) are written like shell commands but never run by a shell:
 * they are split into words here, then placeholders are filled in word by word, so a file name with
 * spaces or `;` stays one argument and cannot inject anything.
 */

export class TemplateError extends Error {}

const OPERATORS = new Set(['|', ';', '&', '<', '>', '`', '$']);

/** Splits a command line into words like a POSIX shell would (quotes, backslashes), minus expansion. */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new TemplateError(`unterminated ' quote in launcher template: ${text}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= text.length) throw new TemplateError(`unterminated " quote in launcher template: ${text}`);
        const d = text[i];
        if (d === '"') break;
        if (d === '$' || d === '`') throw operatorError(d, text);
        if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1])) {
          i++;
          if (text[i] !== '\n') word += text[i];
        } else {
          word += d;
        }
      }
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new TemplateError(`launcher template ends with a lone backslash: ${text}`);
      i++;
      if (text[i] !== '\n') word += text[i];
      inWord = true;
    } else if (OPERATORS.has(c)) {
      throw operatorError(c, text);
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function operatorError(op: string, text: string): TemplateError {
  return new TemplateError(
    `launcher template uses the shell operator ${op} (distest never runs a shell; quote it with '...' if it is meant literally, ` +
      `or put the pipeline in a script and launch that): ${text}`,
  );
}

export interface TemplateValues { file: string; ranks: string; python: string; mpiexec: string | null; tests: string[] }

const PLACEHOLDER = /\{(\w+)\}/g;
const KNOWN = ['file', 'ranks', 'python', 'tests', 'mpiexec'];

/** Fills placeholders into split words; `{tests}` must be a word of its own and becomes one word per test. */
export function expandTemplate(words: string[], values: TemplateValues): string[] {
  const argv: string[] = [];
  for (const word of words) {
    if (word === '{tests}') {
      argv.push(...values.tests);
      continue;
    }
    argv.push(
      word.replace(PLACEHOLDER, (whole, name: string) => {
        switch (name) {
          case 'file':
          case 'ranks':
          case 'python':
            return values[name];
          case 'mpiexec':
            if (values.mpiexec === null) throw new TemplateError('launcher template uses {mpiexec} but no mpirun or mpiexec was found');
            return values.mpiexec;
          case 'tests':
            throw new TemplateError(`{tests} expands to several arguments and must stand alone, not inside "${word}"`);
          default:
            throw new TemplateError(`unknown placeholder ${whole} in launcher template (known: ${KNOWN.map(k => `{${k}}`).join(' ')})`);
        }
      }),
    );
  }
  return argv;
}

/** Whether a template (already split) mentions a placeholder. */
export function usesPlaceholder(words: string[], name: string): boolean {
  return words.some(w => w.includes(`{${name}}`));
}
