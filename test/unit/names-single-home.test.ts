/**
 * Every label, annotation, DNS name, header prefix and default port has one home, lib/names.ts
 * (issue 23 item 5): a string literal in a product file that spells one of them is a second home,
 * which drifts. Reads string and template literals only (with the TypeScript parser), so comments
 * may still name them.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../../lib/process/paths.js';

const PRODUCT_FOLDERS = ['aggregator', 'sidecar', 'synchronizer', 'webhook', 'cli', 'lab', 'certs', 'lib'];
const HOME = 'lib/names.ts';
/** Pieces of names that only lib/names.ts may spell (compared in lower case). */
const NEEDLES = ['kubernetes.default', 'cluster-bridge.io/', 'x-bridge-', 'app.kubernetes.io/'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function literals(file: string, text: string): { line: number; text: string }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: { line: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) {
      found.push({ line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, text: node.text });
    }
    node.forEachChild(visit);
  };
  visit(source);
  return found;
}

const root = repoRoot();
const files = PRODUCT_FOLDERS.flatMap((folder) => sourceFiles(join(root, folder))).map((path) => relative(root, path).split('\\').join('/'));

/** Where a product file outside lib/names.ts spells a needle in a string, as `file:line: text`. */
function strayNames(file: string, text: string): string[] {
  if (file === HOME) return [];
  return literals(file, text)
    .filter((literal) => NEEDLES.some((needle) => literal.text.toLowerCase().includes(needle)))
    .map((literal) => `${file}:${literal.line}: ${literal.text}`);
}

describe('names have one home (lib/names.ts)', () => {
  it('reads the product folders', () => {
    expect(files).toContain(HOME);
    expect(files.length).toBeGreaterThan(100);
  });

  it('finds a stray name in a string or template literal, and none in a comment', () => {
    const text = "// the x-bridge- headers\nconst a = 'kubernetes.default.svc';\nconst b = `X-Bridge-${a}`;\n";
    expect(strayNames('sidecar/example.ts', text)).toEqual(['sidecar/example.ts:2: kubernetes.default.svc', 'sidecar/example.ts:3: X-Bridge-']);
    expect(strayNames(HOME, text)).toEqual([]);
  });

  it('no product file spells a label, annotation, API service DNS name or bridge header prefix', () => {
    expect(files.flatMap((file) => strayNames(file, readFileSync(join(root, file), 'utf8')))).toEqual([]);
  });

  it('one hop-by-hop header list (lib/proxy/headers.ts HOP_BY_HOP_HEADERS)', () => {
    const lists = files.filter((file) => literals(file, readFileSync(join(root, file), 'utf8')).some((literal) => literal.text === 'proxy-connection'));
    expect(lists).toEqual(['lib/proxy/headers.ts']);
  });

  it('no component config spells a default port as a number (lib/names.ts has them)', () => {
    const numeric = /portNumber\([^()]*,\s*\d+\s*\)/;
    const stray = files.filter((file) => numeric.test(readFileSync(join(root, file), 'utf8')));
    expect(stray).toEqual([]);
  });
});
