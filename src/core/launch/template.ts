/**
 * Launcher templates (`distest.launchers`) are written like shell commands but never run by a shell:
 * they are split into words here, then placeholders are filled in word by word, so a file name with
 * spaces or `;` stays one argument. A word the launched program itself hands to a shell (the script of
 * `sh -c '...'`) never gets a value pasted in: the script refers to it as a positional parameter and the
 * value follows as an argument of its own. Shapes where no such rewrite is sound are refused.
 */
import path from 'node:path';

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

export interface TemplateValues { file: string; ranks: string; python: string; mpiexec: string | null; tests: string[]; files?: string[] }

type PlaceholderName = keyof TemplateValues;
const KNOWN: PlaceholderName[] = ['file', 'files', 'ranks', 'python', 'tests', 'mpiexec'];
/** Placeholders that expand to several arguments, one per value. */
const LISTS = new Set<PlaceholderName>(['tests', 'files']);
const PLACEHOLDER = /\{(\w+)\}/g;
const PLACEHOLDER_AT = /^\{(\w+)\}/;

/** Shells whose `-c` script distest rewrites to take values as positional parameters. */
const POSIX_SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'posh']);
/** Shell options that take the next word as their argument (`-o pipefail`, `--rcfile f`). */
const SHELL_OPTIONS_WITH_ARGUMENT = new Set(['--rcfile', '--init-file']);
/** Interpreters whose code is passed in a word (`python -c CODE`), with the flag letters that introduce it. */
const CODE_FLAGS: [RegExp, string, string][] = [
  [/^(python|pypy)[\d.]*$/, 'c', 'import sys; ... sys.argv[1]'],
  [/^perl[\d.]*$/, 'eE', '... $ARGV[0]'],
  [/^ruby[\d.]*$/, 'e', '... ARGV[0]'],
  [/^(node|nodejs)$/, 'ep', '... process.argv[1]'],
  [/^(csh|tcsh|fish)$/, 'c', '... (a script file that takes its arguments)'],
];
/** Programs that join the rest of their arguments into one command line a shell parses, and what to do instead. */
const REMOTE_ADVICE = 'for ranks on other hosts use a hosts allocation (distest.hosts) instead';
const COMMAND_LINE_JOINERS = new Map([
  ['ssh', REMOTE_ADVICE], ['rsh', REMOTE_ADVICE], ['pdsh', REMOTE_ADVICE], ['clush', REMOTE_ADVICE], ['mrsh', REMOTE_ADVICE],
  ['watch', 'leave placeholders out of its arguments'],
]);

/**
 * Fills placeholders into split words. A placeholder that is a word of its own becomes that one
 * argument (`{tests}`: one per test); one inside another word is pasted into it, except inside a
 * shell's `-c` script (passed positionally, see rewriteShellScript) and where no rewrite is safe
 * (interpreter code, commands for a remote shell): those are TemplateErrors saying how to write it.
 */
export function expandTemplate(words: string[], values: TemplateValues): string[] {
  const shape = templateShape(words);
  const argv: string[] = [];
  let script: { at: number; word: string; program: string } | null = null;
  for (const [i, word] of words.entries()) {
    const names = placeholdersIn(word);
    if (names.length === 0) {
      argv.push(word);
      continue;
    }
    for (const name of names) if (!KNOWN.includes(name as PlaceholderName)) throw unknownPlaceholder(name);
    if (shape.joinerAt !== null && i > shape.joinerAt) {
      const joiner = path.basename(words[shape.joinerAt]);
      throw new TemplateError(
        `${joiner} joins its arguments into one command line for a shell, so the placeholder {${names[0]}} in "${word}" would be parsed as code there; ` +
          `distest cannot quote values for that shell: ${COMMAND_LINE_JOINERS.get(joiner)}`,
      );
    }
    const code = shape.code.get(i);
    if (code) {
      throw new TemplateError(
        `placeholder {${names[0]}} inside the code of ${code.program} -${code.flag} ("${word}") would be pasted into that code; ` +
          `pass it as an argument after the code and read it there: ${code.program} -${code.flag} '${code.hint}' {${names[0]}}`,
      );
    }
    if (i === shape.scriptAt) {
      script = { at: argv.length, word, program: words[shape.shellAt ?? 0] };
      argv.push(word);
      continue;
    }
    const list = LISTS.has(word.slice(1, -1) as PlaceholderName) && word === `{${word.slice(1, -1)}}` ? listValue(word.slice(1, -1) as PlaceholderName, values) : null;
    if (list) argv.push(...list);
    else argv.push(word.replace(PLACEHOLDER, (_whole, name: string) => singleValue(name as PlaceholderName, word, values)));
  }
  if (script) {
    const { at, word, program } = script;
    const after = argv.length - at - 1;
    // `sh -c SCRIPT [NAME [ARGS...]]`: NAME is $0; the script's own arguments come first, ours after them.
    const first = Math.max(after, 1);
    const rewritten = rewriteShellScript(word, program, first, values);
    argv[at] = rewritten.script;
    if (after === 0) argv.push('distest-launch');
    argv.push(...rewritten.args);
  }
  return argv;
}

function singleValue(name: PlaceholderName, word: string, values: TemplateValues): string {
  switch (name) {
    case 'file':
    case 'ranks':
    case 'python':
      return values[name];
    case 'mpiexec':
      if (values.mpiexec === null) throw new TemplateError('launcher template uses {mpiexec} but no mpirun or mpiexec was found');
      return values.mpiexec;
    case 'tests':
    case 'files':
      throw new TemplateError(`{${name}} expands to several arguments and must stand alone, not inside "${word}"`);
  }
}

/** The values of a list placeholder: `{tests}`, or `{files}` (the file alone when the template runs one). */
function listValue(name: PlaceholderName, values: TemplateValues): string[] {
  return name === 'files' ? (values.files ?? [values.file]) : values.tests;
}

function unknownPlaceholder(name: string): TemplateError {
  return new TemplateError(`unknown placeholder {${name}} in launcher template (known: ${KNOWN.map(k => `{${k}}`).join(' ')})`);
}

function placeholdersIn(word: string): string[] {
  return [...word.matchAll(PLACEHOLDER)].map(m => m[1]);
}

/** Whether a template (already split) mentions a placeholder. */
export function usesPlaceholder(words: string[], name: string): boolean {
  return words.some(w => w.includes(`{${name}}`));
}

interface TemplateShape {
  /** The shell word whose `-c` script is `scriptAt`. */
  shellAt: number | null;
  scriptAt: number | null;
  /** Words that are interpreter code (`python -c CODE`), by index. */
  code: Map<number, { program: string; flag: string; hint: string }>;
  /** The first program that hands its arguments to a shell as one command line. */
  joinerAt: number | null;
}

/**
 * Finds the words other programs interpret as code. Any word may be a program (wrappers such as env,
 * mpirun, srun or timeout exec the rest of their arguments), so each word that names a shell or an
 * interpreter is looked at with the options that follow it.
 */
function templateShape(words: string[]): TemplateShape {
  const shape: TemplateShape = { shellAt: null, scriptAt: null, code: new Map(), joinerAt: null };
  words.forEach((word, i) => {
    if (word.startsWith('-') || word.includes('=')) return;
    const program = word === '{python}' ? 'python' : path.basename(word);
    if (shape.joinerAt === null && COMMAND_LINE_JOINERS.has(program)) shape.joinerAt = i;
    if (POSIX_SHELLS.has(program) && shape.scriptAt === null) {
      const scriptAt = shellScriptIndex(words, i);
      if (scriptAt !== null) {
        shape.shellAt = i;
        shape.scriptAt = scriptAt;
      }
      return;
    }
    const interpreter = CODE_FLAGS.find(([name]) => name.test(program));
    if (!interpreter) return;
    const [, letters, hint] = interpreter;
    for (let j = i + 1; j < words.length && words[j].startsWith('-') && words[j] !== '-' && words[j] !== '--'; j++) {
      const option = words[j];
      if (option.startsWith('--')) {
        const long = /^--(eval|print)(=|$)/.exec(option);
        if (long && program.startsWith('node')) shape.code.set(long[2] ? j : j + 1, { program, flag: `-${long[1]}`, hint });
        if (long) return;
        continue;
      }
      const at = [...option.slice(1)].findIndex(letter => letters.includes(letter));
      if (at >= 0) {
        // `-c CODE`, or the code attached to the flag (`-cCODE`).
        const attached = option.length > at + 2;
        shape.code.set(attached ? j : j + 1, { program, flag: option[at + 1], hint });
        return;
      }
      if (option === '-m') return; // the rest belongs to the module
      if (/^-[WX]$/.test(option)) j++; // python's options that take the next word
    }
  });
  return shape;
}

/** `sh [options] -c [options] SCRIPT ...`: the index of SCRIPT, or null for `sh file.sh` and the like. */
function shellScriptIndex(words: string[], shellAt: number): number | null {
  let sawC = false;
  for (let j = shellAt + 1; j < words.length; j++) {
    const word = words[j];
    if (word === '--' || word === '-') {
      return sawC && j + 1 < words.length ? j + 1 : null;
    }
    if (/^[-+]-?\w/.test(word)) {
      if (word.startsWith('--')) {
        if (SHELL_OPTIONS_WITH_ARGUMENT.has(word)) j++;
        continue;
      }
      if (word.slice(1).includes('c')) sawC = true;
      if (/[oO]/.test(word.slice(1))) j++;
      continue;
    }
    return sawC ? j : null;
  }
  return null;
}

type ScriptContext = 'plain' | 'single' | 'double' | 'substitution' | 'backtick' | 'parameter';

/** What replaces a placeholder, by the quoting around it: `"${1}"`, `${1}` inside "..", closing '..' around it. */
const REFERENCE: Partial<Record<ScriptContext, (n: number) => string>> = {
  plain: n => `"\${${n}}"`,
  double: n => `\${${n}}`,
  single: n => `'"\${${n}}"'`,
};

/**
 * Rewrites a `-c` script so each placeholder becomes a positional parameter (`"${1}"`, quoted to suit
 * where it stands) numbered from `first`; returns the script and the values in parameter order. The
 * shell expands a parameter as data, never as code, whatever the value holds. Placeholders inside
 * command substitutions, `${...}` or here-documents, and scripts that use their own positional
 * parameters, are refused: there the rewrite could change what the script means.
 */
export function rewriteShellScript(script: string, program: string, first: number, values: TemplateValues): { script: string; args: string[] } {
  const refuse = (why: string) =>
    new TemplateError(
      `cannot pass placeholders safely into the ${program} -c script "${script}": ${why}. ` +
        `Pass the values as arguments after the script and use them as "$1", "$2"...: ${program} -c 'exec "$@"' launch {python} {file} {tests}`,
    );
  if (/\$\{?[@*#1-9]|\bshift\b|\bset\s+--/.test(script)) throw refuse('it also uses its own positional parameters');
  if (script.includes('<<')) throw refuse('it has a here-document');
  const inner = reinterpreter(script);
  if (inner) throw refuse(`it hands text to ${inner}, where a value would be code again`);
  const args: string[] = [];
  const positions = new Map<string, number>();
  const reference = (name: PlaceholderName, context: ScriptContext): string => {
    const quote = REFERENCE[context];
    if (!quote) throw refuse(`{${name}} stands inside a command substitution or a \${...} expansion`);
    if (LISTS.has(name)) {
      if (context !== 'plain') throw refuse(`{${name}} expands to several arguments and must not stand inside quotes`);
      const list = listValue(name, values);
      if (!positions.has(name)) {
        positions.set(name, first + args.length);
        args.push(...list);
      }
      const start = positions.get(name) as number;
      return list.map((_, k) => quote(start + k)).join(' ');
    }
    if (!positions.has(name)) {
      positions.set(name, first + args.length);
      args.push(singleValue(name, script, values));
    }
    return quote(positions.get(name) as number);
  };

  const stack: { context: ScriptContext; depth: number }[] = [{ context: 'plain', depth: 0 }];
  let out = '';
  for (let i = 0; i < script.length; ) {
    const top = stack[stack.length - 1];
    const rest = script.slice(i);
    const placeholder = PLACEHOLDER_AT.exec(rest);
    if (placeholder) {
      const name = placeholder[1];
      if (!KNOWN.includes(name as PlaceholderName)) throw unknownPlaceholder(name);
      const nested = stack.length > 2 || (stack.length === 2 && top.context !== 'single' && top.context !== 'double');
      out += reference(name as PlaceholderName, nested ? 'substitution' : top.context);
      i += placeholder[0].length;
      continue;
    }
    const c = script[i];
    let take = 1;
    if (top.context === 'single') {
      if (c === "'") stack.pop();
    } else if (c === '\\') {
      take = 2;
    } else if (top.context === 'double') {
      if (c === '"') stack.pop();
      else take = openNested(rest, stack);
    } else {
      // plain, or the code inside $(...), `...` or ${...}
      if (c === "'") stack.push({ context: 'single', depth: 0 });
      else if (c === '"') stack.push({ context: 'double', depth: 0 });
      else if (rest.startsWith("$'")) throw refuse("it uses $'...' quoting, which dash reads differently from bash");
      else if (top.context === 'backtick' && c === '`') stack.pop();
      else if (top.context === 'substitution' && c === '(') top.depth++;
      else if (top.context === 'substitution' && c === ')') {
        if (top.depth === 0) stack.pop();
        else top.depth--;
      } else if (top.context === 'parameter' && c === '}') stack.pop();
      else if (c === '#' && top.context === 'plain' && (i === 0 || /[\s;&|(]/.test(script[i - 1]))) {
        const end = script.indexOf('\n', i);
        take = (end < 0 ? script.length : end) - i; // a comment: its quotes do not count
      } else take = openNested(rest, stack);
    }
    out += script.slice(i, i + take);
    i += take;
  }
  if (stack.length !== 1) throw refuse('its quotes or parentheses are not balanced');
  return { script: out, args };
}

/**
 * A rough look at the script's own commands: eval, a nested shell's -c, interpreter code or ssh would
 * parse a parameter's value as code again, so placeholders are refused in such scripts.
 */
function reinterpreter(script: string): string | null {
  const words = script.split(/[\s;&|()`]+/).map(w => w.replace(/^["']+|["']+$/g, '')).filter(Boolean);
  if (words.includes('eval')) return 'eval';
  const shape = templateShape(words);
  if (shape.scriptAt !== null && shape.shellAt !== null) return `${words[shape.shellAt]} -c`;
  const code = [...shape.code.values()][0];
  if (code) return `${code.program} -${code.flag}`;
  return shape.joinerAt !== null ? words[shape.joinerAt] : null;
}

/** `$(`, `${` or a backquote opens nested code (also inside double quotes); returns the characters consumed. */
function openNested(rest: string, stack: { context: ScriptContext; depth: number }[]): number {
  if (rest.startsWith('$(')) {
    stack.push({ context: 'substitution', depth: 0 });
    return 2;
  }
  if (rest.startsWith('${')) {
    const name = /^\$\{(\w+)\}/.exec(rest)?.[1];
    if (name && KNOWN.includes(name as PlaceholderName)) {
      throw new TemplateError(`"\${${name}}" in a -c script is shell syntax, not a placeholder: write {${name}} (distest passes it as a positional parameter)`);
    }
    stack.push({ context: 'parameter', depth: 0 });
    return 2;
  }
  if (rest[0] === '`') {
    stack.push({ context: 'backtick', depth: 0 });
    return 1;
  }
  return 1;
}
