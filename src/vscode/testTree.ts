import * as vscode from 'vscode';
import { testName, type TestSpec } from '../core/types';

/** Tag every item with its rank count so users can filter the Test Explorer with `@distest:ranks:4`. */
const rankTags = new Map<number, vscode.TestTag>();
export function rankTag(ranks: number): vscode.TestTag {
  let tag = rankTags.get(ranks);
  if (!tag) rankTags.set(ranks, (tag = new vscode.TestTag(`ranks:${ranks}`)));
  return tag;
}

export function describeRanks(spec: TestSpec): string {
  if (spec.invalid) return 'invalid marker';
  if (spec.ranks === null) return '⚠ ranks decided at run time';
  return spec.ranks === 1 ? '1 rank' : `${spec.ranks} ranks`;
}

export function toVscodeRange(spec: TestSpec): vscode.Range {
  const r = spec.range;
  return new vscode.Range(r.line - 1, r.column, r.endLine - 1, r.endColumn);
}

/**
 * A TestItem's id: `<folder uri>|<pytest node id>`, so several workspace folders never collide; the
 * folder's own item (a multi-root workspace) is `<folder uri>|`.
 */
export function itemId(folderUri: vscode.Uri | string, nodeId: string): string {
  return `${folderUri.toString()}|${nodeId}`;
}

/** The folder URI and node id an item id holds; undefined for an id that is not one of ours. */
export function parseItemId(id: string): { folderUri: string; nodeId: string } | undefined {
  const bar = id.indexOf('|');
  return bar < 0 ? undefined : { folderUri: id.slice(0, bar), nodeId: id.slice(bar + 1) };
}

/**
 * The tests of one workspace folder as TestItems: folders → files → classes → tests, and, when one
 * test expands into several ids (a rank list or parametrize), a group item with one child per id.
 * Items are keyed by itemId.
 */
export class FolderTestTree {
  private readonly specsByItemId = new Map<string, TestSpec>();
  private readonly filesByRelPath = new Map<string, Set<string>>();

  constructor(
    private readonly controller: vscode.TestController,
    readonly folder: vscode.WorkspaceFolder,
    private readonly root: vscode.TestItemCollection,
  ) {}

  itemId(nodeId: string): string {
    return itemId(this.folder.uri, nodeId);
  }

  /** Whether the item belongs to this folder's tree. */
  owns(item: vscode.TestItem): boolean {
    return parseItemId(item.id)?.folderUri === this.folder.uri.toString();
  }

  specOf(item: vscode.TestItem): TestSpec | undefined {
    return this.specsByItemId.get(item.id);
  }

  /** Replaces everything known about one file; an empty list removes the file's items. */
  replaceFile(relFile: string, tests: TestSpec[]): void {
    for (const id of this.filesByRelPath.get(relFile) ?? []) this.specsByItemId.delete(id);
    this.filesByRelPath.delete(relFile);
    const fileItem = this.findPath(relFile);
    if (tests.length === 0) {
      if (fileItem) this.removeWithEmptyParents(fileItem);
      return;
    }
    const file = fileItem ?? this.createPath(relFile);
    const keep = new Set<string>();
    const ids = new Set<string>();
    const groups = new Map<string, vscode.TestItem>();
    for (const spec of tests) {
      const { item, group } = this.upsertTest(file, spec, keep);
      this.specsByItemId.set(item.id, spec);
      ids.add(item.id);
      if (group) groups.set(group.id, group);
    }
    for (const group of groups.values()) summarizeGroup(group, this.specsByItemId);
    this.filesByRelPath.set(relFile, ids);
    pruneExcept(file, keep);
  }

  /** All runnable leaves under the given items (or the whole folder). */
  leaves(items: Iterable<vscode.TestItem> | undefined, excluded: ReadonlySet<string>): vscode.TestItem[] {
    const out: vscode.TestItem[] = [];
    const visit = (item: vscode.TestItem) => {
      if (excluded.has(item.id)) return;
      if (this.specsByItemId.has(item.id)) out.push(item);
      item.children.forEach(visit);
    };
    if (items) for (const item of items) visit(item);
    else this.root.forEach(visit);
    return out;
  }

  private upsertTest(file: vscode.TestItem, spec: TestSpec, keep: Set<string>): { item: vscode.TestItem; group?: vscode.TestItem } {
    // The file, then classes, then the test; a parametrize id may itself contain `::`, so split before `[`.
    const bracket = spec.id.indexOf('[');
    const parts = (bracket >= 0 ? spec.id.slice(0, bracket) : spec.id).split('::');
    let parent = file;
    let prefix = parts[0];
    for (const cls of parts.slice(1, -1)) {
      prefix = `${prefix}::${cls}`;
      parent = this.child(parent, this.itemId(prefix), cls, file.uri, keep);
      if (spec.className === cls && !parent.range) parent.range = toVscodeRange(spec);
    }
    let group: vscode.TestItem | undefined;
    if (spec.groupId && spec.groupId !== spec.id) {
      const groupLabel = testName(spec.groupId);
      parent = group = this.child(parent, this.itemId(spec.groupId), groupLabel, file.uri, keep);
      group.range = toVscodeRange(spec);
    }
    const label = group ? suffixOf(spec.id) : spec.label;
    const item = this.child(parent, this.itemId(spec.id), label, file.uri, keep);
    item.range = toVscodeRange(spec);
    item.description = describeRanks(spec);
    item.tags = spec.ranks ? [rankTag(spec.ranks)] : [];
    item.error = spec.invalid ? new vscode.MarkdownString().appendText(spec.invalid) : undefined;
    return { item, group };
  }

  private child(parent: vscode.TestItem, id: string, label: string, uri: vscode.Uri | undefined, keep: Set<string>): vscode.TestItem {
    keep.add(id);
    let item = parent.children.get(id);
    if (!item) {
      item = this.controller.createTestItem(id, label, uri);
      parent.children.add(item);
    } else if (item.label !== label) {
      item.label = label;
    }
    return item;
  }

  private findPath(relFile: string): vscode.TestItem | undefined {
    let collection = this.root;
    let item: vscode.TestItem | undefined;
    const segments = relFile.split('/');
    for (let i = 0; i < segments.length; i++) {
      item = collection.get(this.itemId(segments.slice(0, i + 1).join('/')));
      if (!item) return undefined;
      collection = item.children;
    }
    return item;
  }

  private createPath(relFile: string): vscode.TestItem {
    let collection = this.root;
    let item: vscode.TestItem | undefined;
    const segments = relFile.split('/');
    for (let i = 0; i < segments.length; i++) {
      const rel = segments.slice(0, i + 1).join('/');
      const id = this.itemId(rel);
      item = collection.get(id);
      if (!item) {
        item = this.controller.createTestItem(id, segments[i], vscode.Uri.joinPath(this.folder.uri, rel));
        collection.add(item);
      }
      collection = item.children;
    }
    return item!;
  }

  private removeWithEmptyParents(item: vscode.TestItem): void {
    let current: vscode.TestItem | undefined = item;
    while (current) {
      const parent: vscode.TestItem | undefined = current.parent;
      (parent ? parent.children : this.root).delete(current.id);
      if (parent && parent.children.size === 0) current = parent;
      else break;
    }
  }
}

function suffixOf(id: string): string {
  const leaf = testName(id);
  const bracket = leaf.indexOf('[');
  return bracket >= 0 ? leaf.slice(bracket) : leaf;
}

function summarizeGroup(group: vscode.TestItem, specs: Map<string, TestSpec>): void {
  const counts = new Set<number>();
  group.children.forEach(c => {
    const ranks = specs.get(c.id)?.ranks;
    if (ranks) counts.add(ranks);
  });
  const sorted = [...counts].sort((a, b) => a - b);
  group.description = sorted.length ? `${sorted.join(', ')} ranks` : undefined;
}

function pruneExcept(item: vscode.TestItem, keep: Set<string>): void {
  const stale: string[] = [];
  item.children.forEach(child => {
    if (!keep.has(child.id)) stale.push(child.id);
    else pruneExcept(child, keep);
  });
  for (const id of stale) item.children.delete(id);
}
