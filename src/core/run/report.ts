import type { ResultMessage, TestResult, TestSpec } from '../types';

/**
 * A result message as one text: messages already name their rank and usually their location (`rank 1
 * of 3: AssertionError ... at tests/x.py:19`); the location is appended only when the text lacks it.
 */
export function messageText(m: ResultMessage): string {
  const location = m.file ? `${m.file}${m.line ? `:${m.line}` : ''}` : '';
  if (!location || m.text.includes(location)) return m.text;
  const [first, ...rest] = m.text.split('\n');
  return [`${first} at ${location}`, ...rest].join('\n');
}

/** JUnit XML (the Jenkins/GitLab flavour) for a finished run; specs supply files, lines and classes. */
export function junitXml(results: TestResult[], specs: Map<string, TestSpec>, suiteName = 'distest'): string {
  const count = (state: TestResult['state']) => results.filter(r => r.state === state).length;
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const totalMs = results.reduce((n, r) => n + r.durationMs, 0);
  const counts = `tests="${results.length}" failures="${count('failed')}" errors="${count('errored')}" skipped="${count('skipped')}" time="${seconds(totalMs)}"`;
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="${attr(suiteName)}" ${counts}>`, `  <testsuite name="${attr(suiteName)}" ${counts}>`];
  for (const r of results) {
    const spec = specs.get(r.id);
    const { classname, name } = junitNames(r.id, spec);
    const where = spec ? ` file="${attr(spec.file)}" line="${spec.range.line}"` : '';
    lines.push(`    <testcase classname="${attr(classname)}" name="${attr(name)}"${where} time="${seconds(r.durationMs)}">`);
    const summary = r.messages.map(messageText).join('\n');
    const first = summary.split('\n')[0] ?? '';
    if (r.state === 'failed') lines.push(`      <failure message="${attr(first)}">${text(summary)}</failure>`);
    else if (r.state === 'errored') lines.push(`      <error message="${attr(first)}">${text(summary)}</error>`);
    else if (r.state === 'skipped' && r.pytestOutcome === 'xfailed') lines.push(`      <skipped type="pytest.xfail" message="${attr(xfailReason(r.messages[0]?.text ?? ''))}"/>`);
    else if (r.state === 'skipped') lines.push(`      <skipped message="${attr(first)}"/>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

/** The reason alone, as pytest's JUnit writes an xfail's message (the agent's text is `xfail (expected failure): reason`). */
function xfailReason(message: string): string {
  const prefix = 'xfail (expected failure)';
  return message.startsWith(prefix) ? message.slice(prefix.length).replace(/^: /, '') : message;
}

/** `tests/test_x.py::TestHalo::test_y[2]` → classname `tests.test_x.TestHalo`, name `test_y[2]`. */
function junitNames(id: string, spec: TestSpec | undefined): { classname: string; name: string } {
  const parts = id.split('::');
  const file = spec?.file ?? parts[0];
  const module = file.replace(/\.py$/, '').split('/').join('.');
  const name = parts[parts.length - 1];
  const classes = parts.slice(1, -1);
  return { classname: [module, ...classes].join('.'), name };
}

// XML 1.0 cannot carry most control characters even escaped; test output can contain them.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function text(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}
