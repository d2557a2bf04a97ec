// Python's own string rules where pytest relies on them: fnmatch (python_files, norecursedirs,
// collect_ignore_glob, --ignore-glob), pytest's fnmatch_ex, and shlex.split (ini values of type "args").

/**
 * Python's fnmatch.fnmatchcase as a RegExp: `*` matches anything, `/` included; `?` one character;
 * `[seq]` / `[!seq]` a set; a `[` without its `]` is literal. Case-sensitive, as on POSIX.
 */
export function fnmatchRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') {
      out += '[\\s\\S]*';
      while (pattern[i + 1] === '*') i++;
    } else if (ch === '?') {
      out += '[\\s\\S]';
    } else if (ch === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, j);
      const negated = body.startsWith('!');
      if (negated) body = body.slice(1);
      const escaped = body.replace(/[\\\]^]/g, c => `\\${c}`);
      out += `[${negated ? '^' : ''}${escaped}]`;
      i = j;
    } else {
      out += ch.replace(/[.*+?^${}()|[\]\\/]/g, c => `\\${c}`);
    }
  }
  return new RegExp(`^${out}$`, 'u');
}

/**
 * pytest's fnmatch_ex: a pattern without `/` matches the last path component; one with `/` matches the
 * whole absolute path, a relative pattern with `*` and a slash put in front.
 */
export function fnmatchEx(pattern: string): (absolutePath: string) => boolean {
  if (!pattern.includes('/')) {
    const re = fnmatchRegExp(pattern);
    return p => re.test(p.slice(p.lastIndexOf('/') + 1));
  }
  const re = fnmatchRegExp(pattern.startsWith('/') ? pattern : `*/${pattern}`);
  return p => re.test(p);
}

export class ShlexError extends Error {}

/** Python's shlex.split(text) (POSIX mode, no comments). Throws ShlexError on an unclosed quote. */
export function shlexSplit(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === '\\') {
      if (i + 1 >= text.length) throw new ShlexError('No escaped character');
      word = (word ?? '') + text[++i];
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShlexError('No closing quotation');
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      word ??= '';
      for (i++; ; i++) {
        if (i >= text.length) throw new ShlexError('No closing quotation');
        const inner = text[i];
        if (inner === '"') break;
        // Inside double quotes a backslash escapes only a quote or another backslash.
        if (inner === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
        else word += inner;
      }
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
