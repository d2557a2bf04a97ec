import * as vscode from 'vscode';
import type { Fault, TestResult } from '../core/types';

interface Entry { uri: vscode.Uri; diagnostic: vscode.Diagnostic }

const KIND_WORDS: Record<Fault['kind'], string> = { hang: 'hang', signal: 'crash', core: 'core file', collection: 'collection error' };

/**
 * Hangs, crashes and core files as Problems at the line each rank waits or died in. Keyed by test: the
 * next run of a test replaces its diagnostics, and a run without faults (a pass) clears them.
 */
export class FaultDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('distest-faults');
  private readonly byTest = new Map<string, Entry[]>();

  /** `testKey` must be unique across workspace folders; `fileUri` resolves the result's relative paths. */
  update(testKey: string, result: TestResult, fileUri: (file: string) => vscode.Uri): void {
    const touched = new Set((this.byTest.get(testKey) ?? []).map(e => e.uri.toString()));
    const entries = diagnosticsOf(result, fileUri);
    if (entries.length) this.byTest.set(testKey, entries);
    else this.byTest.delete(testKey);
    for (const e of entries) touched.add(e.uri.toString());
    for (const uri of touched) {
      const all = [...this.byTest.values()].flat().filter(e => e.uri.toString() === uri);
      this.collection.set(vscode.Uri.parse(uri), all.map(e => e.diagnostic));
    }
  }

  dispose(): void {
    this.collection.dispose();
  }
}

/** One diagnostic per fault location, with the ranks (and hosts) that share it as related information. */
function diagnosticsOf(result: TestResult, fileUri: (file: string) => vscode.Uri): Entry[] {
  const groups = new Map<string, Fault[]>();
  for (const fault of result.faults ?? []) {
    if (!fault.file || !fault.line) continue;
    const key = JSON.stringify([fault.kind, fault.file, fault.line]);
    groups.set(key, [...(groups.get(key) ?? []), fault]);
  }
  return [...groups.values()].map(faults => {
    const { file, line, kind } = faults[0] as Required<Pick<Fault, 'file' | 'line'>> & Fault;
    const uri = fileUri(file);
    const range = new vscode.Range(line - 1, 0, line - 1, Number.MAX_SAFE_INTEGER);
    const said = result.messages.find(m => m.file === file && m.line === line && (kind !== 'core' || m.text.includes('core ')));
    const headline = said?.text.split('\n')[0] ?? `${KIND_WORDS[kind]} on ${faults.map(f => `rank ${f.rank}`).join(', ')}`;
    const diagnostic = new vscode.Diagnostic(range, `${result.id}: ${headline}`, vscode.DiagnosticSeverity.Error);
    diagnostic.source = 'distest';
    diagnostic.code = kind;
    diagnostic.relatedInformation = faults.map(f => new vscode.DiagnosticRelatedInformation(
      new vscode.Location(uri, range),
      `rank ${f.rank} on ${f.host}${f.signal ? `: ${f.signal}` : ''}${f.core ? ` (core ${f.core})` : ''}`,
    ));
    return { uri, diagnostic };
  });
}
