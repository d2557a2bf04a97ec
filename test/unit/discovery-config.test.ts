import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { discoverFile, isTestFile } from '../../src/core/discovery/registry';
import { discoverFolder } from '../../src/core/discovery/folder';
import { loadPytestRules } from '../../src/core/discovery/rules';
import { locatePytestConfig, parseIni, parseToml } from '../../src/core/discovery/configFiles';
import { fnmatchEx, fnmatchRegExp, shlexSplit } from '../../src/core/discovery/pyText';
import { globPaths } from '../../src/core/discovery/rules';
import { baseConfig, parser, py } from './discovery-helpers';
import { makeTree } from './tmpTree';

test('fnmatch as Python has it: * crosses slashes, sets, literal brackets', () => {
  const cases: [string, string, boolean][] = [
    ['test_*.py', 'test_a.py', true], ['test_*.py', 'a_test.py', false], ['*', 'a/b', true], ['?x', 'ax', true],
    ['[ab]c', 'bc', true], ['[!ab]c', 'bc', false], ['[!ab]c', 'zc', true], ['a[', 'a[', true], ['*.PY', 'x.py', false],
    ['[]]', ']', true], ['a.b', 'axb', false], ['{arch}', '{arch}', true],
  ];
  for (const [pattern, name, expected] of cases) assert.equal(fnmatchRegExp(pattern).test(name), expected, `${pattern} ~ ${name}`);
  // pytest's fnmatch_ex: no slash, the last component; a slash, the whole path with `*/` in front.
  assert.equal(fnmatchEx('build')('/p/x/build'), true);
  assert.equal(fnmatchEx('tests/data')('/p/tests/data'), true);
  assert.equal(fnmatchEx('tests/data')('/p/other/data'), false);
});

test('shlex.split as Python has it', () => {
  assert.deepEqual(shlexSplit(`-p no:x --ignore="a b" 'c d'\\ e f\\"g "h\\"i\\j"`), ['-p', 'no:x', '--ignore=a b', 'c d e', 'f"g', 'h"i\\j']);
  assert.deepEqual(shlexSplit('\n  tests\n  other\n'), ['tests', 'other']);
  assert.throws(() => shlexSplit('"open'), /No closing quotation/);
});

test('ini files as iniconfig reads them', () => {
  const sections = parseIni(py(`
    # comment
    [pytest]
    addopts = -p no:cacheprovider
        --strict-markers
    ; another comment
    python_files: check_*.py
    markers =
        slow: slow tests
    [tool:pytest]
    url = http://x:80/
  `));
  const pytest = sections.get('pytest')!;
  assert.equal(pytest.get('addopts')!.value, '-p no:cacheprovider\n--strict-markers');
  assert.equal(pytest.get('python_files')!.value, 'check_*.py');
  assert.equal(pytest.get('markers')!.value, 'slow: slow tests');
  assert.equal(pytest.get('python_files')!.line, 6);
  assert.equal(sections.get('tool:pytest')!.get('url')!.value, 'http://x:80/');
  assert.throws(() => parseIni('key = value\n'), /no section header/);
});

test('TOML: tables, arrays over lines, strings of every kind, numbers', () => {
  const doc = parseToml(py(`
    title = "t" # comment
    [tool.pytest.ini_options]
    testpaths = [
      "tests",  # trailing comment
      'integration',
    ]
    minversion = 7.0
    xfail_strict = true
    addopts = """
    -ra \\
      -q"""
    literal = '''C:\\path'''
    count = 1_000
    [[tool.other]]
    a = { b = 1, "c.d" = [1, 2] }
  `));
  const options = (doc.tool as Record<string, Record<string, Record<string, unknown>>>).pytest.ini_options;
  assert.deepEqual(options.testpaths, ['tests', 'integration']);
  assert.equal(options.minversion, 7);
  assert.equal(options.xfail_strict, true);
  assert.equal(options.addopts, '-ra -q');
  assert.equal(options.literal, 'C:\\path');
  assert.equal(options.count, 1000n);
  assert.throws(() => parseToml('a = "x'), /unterminated|newline/);
});

test('the inifile is the first config file with a pytest section, walking up', () => {
  const root = makeTree({
    'tox.ini': '[tox]\nenvlist = py3\n',
    'setup.cfg': '[tool:pytest]\npython_files = cfg_*.py\n',
    'pyproject.toml': '[project]\nname = "x"\n',
    'sub/deeper/keep.txt': '',
    'other/pytest.ini': '',
    'other/tox.ini': '[pytest]\npython_files = tox_*.py\n',
  });
  try {
    const problems: never[] = [];
    assert.equal(locatePytestConfig(path.join(root, 'sub/deeper'), problems)?.path, path.join(root, 'setup.cfg'));
    // An empty pytest.ini wins over tox.ini's [pytest].
    const other = locatePytestConfig(path.join(root, 'other'), problems)!;
    assert.equal(other.path, path.join(root, 'other/pytest.ini'));
    assert.equal(other.options.size, 0);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('rules: addopts options, testpaths globbed only when the rootdir is the folder, TOML values as pytest reads them', () => {
  const root = makeTree({
    'pyproject.toml': py(`
      [tool.pytest.ini_options]
      testpaths = ["t*", "missing"]
      python_classes = "Test Spec*"
      addopts = "-p no:x --ignore=a/b --ignore-glob='*_old.py' --deselect t1/test_a.py::test_b -m 'not slow' --confcutdir=t1 t2"
      disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true
    `),
    't1/test_a.py': '', 't2/test_b.py': '', 'tx/test_c.py': '',
  });
  try {
    const rules = loadPytestRules(root);
    assert.equal(rules.inifile, path.join(root, 'pyproject.toml'));
    assert.deepEqual(rules.pythonClasses, ['Test', 'Spec*']);
    assert.deepEqual(rules.ignore, [path.join(root, 'a/b')]);
    assert.deepEqual(rules.ignoreGlob, [path.join(root, '*_old.py')]);
    assert.deepEqual(rules.deselect, ['t1/test_a.py::test_b']);
    assert.equal(rules.confcutdir, path.join(root, 't1'));
    assert.equal(rules.keepNonAsciiIds, true);
    // A path in addopts is an argument: testpaths no longer apply.
    assert.deepEqual(rules.args, [path.join(root, 't2')]);
    assert.match(rules.diagnostics[0].message, /-m "not slow"/);
    assert.equal(rules.diagnostics[0].file, 'pyproject.toml');

    fs.writeFileSync(path.join(root, 'pyproject.toml'), '[tool.pytest.ini_options]\ntestpaths = ["t*", "missing"]\n');
    assert.deepEqual(loadPytestRules(root).args, ['t1', 't2', 'tx'].map(d => path.join(root, d)));
    // Started below the rootdir, pytest ignores testpaths.
    assert.deepEqual(loadPytestRules(path.join(root, 't1')).args, [path.join(root, 't1')]);
    assert.deepEqual(globPaths(root, '**/test_*.py').sort(), ['t1/test_a.py', 't2/test_b.py', 'tx/test_c.py']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a broken config file is an error on it, and pytest\'s defaults apply', async () => {
  const root = makeTree({ 'tox.ini': '[pytest]\npython_files check_*.py\n', 'test_a.py': 'def test_a():\n    pass\n' });
  try {
    const files = await discoverFolder(root, baseConfig, await parser());
    assert.deepEqual(files.map(f => [f.file, f.tests.map(t => t.id), f.diagnostics.map(d => [d.range.line, d.message])]), [
      ['test_a.py', ['test_a.py::test_a'], []],
      ['tox.ini', [], [[2, 'pytest cannot read this file: unexpected line: "python_files check_*.py"']]],
    ]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a file discovered alone after its folder uses the folder\'s rules and conftest fixtures', async () => {
  const root = makeTree({
    'pytest.ini': '[pytest]\npython_functions = check_\n',
    'conftest.py': 'import pytest\n\n@pytest.fixture(params=[1, 2])\ndef n(request):\n    return request.param\n',
    'test_a.py': 'def check_a(n):\n    pass\n',
    'ignored/test_b.py': 'def check_b():\n    pass\n',
    'conftest_ignore.txt': '',
  });
  fs.appendFileSync(path.join(root, 'conftest.py'), 'collect_ignore = ["ignored"]\n');
  const config = { ...baseConfig };
  try {
    const p = await parser();
    await discoverFolder(root, config, p);
    const { discovery: alone } = discoverFile(p, 'test_a.py', 'def check_a(n):\n    pass\n\ndef check_new(n):\n    pass\n', config);
    assert.deepEqual(alone.tests.map(t => t.id), ['test_a.py::check_a[1]', 'test_a.py::check_a[2]', 'test_a.py::check_new[1]', 'test_a.py::check_new[2]']);
    assert.equal(isTestFile('test_a.py', config), true);
    assert.equal(isTestFile('ignored/test_b.py', config), false);
    // Another settings object knows nothing of the folder.
    assert.deepEqual(discoverFile(p, 'test_a.py', 'def check_a(n):\n    pass\n', { ...baseConfig }).discovery.tests, []);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
