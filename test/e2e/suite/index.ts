// extensionTestsPath module: VS Code require()s it inside the extension host and awaits run().
// Loads every *.test.js next to it (the build bundles test/e2e/suite/*.ts into out/test/e2e/suite/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60_000, reporter: 'spec' });
  for (const f of fs.readdirSync(__dirname).filter(f => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    const runner = mocha.run(failures => {
      // The runner reports counts from this file; the workbench only passes on an exit code.
      const resultFile = process.env.DISTEST_E2E_RESULT;
      if (resultFile) fs.writeFileSync(resultFile, JSON.stringify({ passes: runner.stats?.passes ?? 0, failures }));
      if (failures) reject(new Error(`${failures} test(s) failed`));
      else resolve();
    });
  });
}
