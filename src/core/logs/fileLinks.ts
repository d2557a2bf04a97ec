/** `File "x.py", line 12` (Python tracebacks) and `x.py:12` (pytest, compilers). */
const FILE_LINE = /File "([^"]+)", line (\d+)|((?:[\w.~-]*\/)*[\w.-]+\.\w+):(\d+)/g;

export interface FileLink {
  /** Offset and length of the clickable text in the line. */
  start: number;
  length: number;
  file: string;
  line: number;
}

/** The file:line references in one line of log text (for the document's links and the webview's). */
export function fileLinks(text: string): FileLink[] {
  const links: FileLink[] = [];
  for (const m of text.matchAll(FILE_LINE)) {
    const file = m[1] ?? m[3];
    const start = m.index + (m[1] ? m[0].indexOf(`"${file}"`) + 1 : 0);
    const end = m.index + m[0].length;
    links.push({ start, length: end - start, file, line: Number(m[2] ?? m[4]) });
  }
  return links;
}
