/**
 * Typed access for frontends: openapi/openapi.d.ts is what openapi-typescript generates from the
 * committed openapi/openapi.json (drift check), and the documented example (test/frontend-example.ts)
 * type-checks against it, strictly, as a frontend project would compile it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..');
const SPEC = join(ROOT, 'openapi', 'openapi.json');
const TYPES = join(ROOT, 'openapi', 'openapi.d.ts');
const EXAMPLE = join(__dirname, 'frontend-example.ts');
const OPENAPI_TYPESCRIPT = join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');

describe('openapi/openapi.d.ts', () => {
  it('is what openapi-typescript generates from openapi/openapi.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openapi-types-'));
    try {
      const target = join(dir, 'openapi.d.ts');
      execFileSync(process.execPath, [OPENAPI_TYPESCRIPT, SPEC, '-o', target], {
        cwd: ROOT,
        stdio: 'pipe',
      });
      const committed = readFileSync(TYPES, 'utf8');
      if (committed !== readFileSync(target, 'utf8')) {
        throw new Error('openapi/openapi.d.ts is stale: run npm run openapi');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A frontend's strict compile (browser libs, bundler resolution), not this repo's Node setup. */
const FRONTEND_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  noUnusedLocals: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: [],
  skipLibCheck: false,
};

const sourceFiles = new Map<string, ts.SourceFile>();
let lastProgram: ts.Program | undefined;

/**
 * Diagnostics of the example, or of a variant of its text compiled in its place. The first
 * (unchanged) compile reports everything, the generated types included; variants report the
 * example's own diagnostics. Parsed library files are shared between compiles.
 */
function typeCheck(edit?: (source: string) => string): string[] {
  const text = (edit ?? ((source: string) => source))(readFileSync(EXAMPLE, 'utf8'));
  const host = ts.createCompilerHost(FRONTEND_OPTIONS);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    if (resolve(fileName) === EXAMPLE) {
      return ts.createSourceFile(fileName, text, languageVersion, true);
    }
    let file = sourceFiles.get(fileName);
    if (!file) {
      file = getSourceFile(fileName, languageVersion, ...rest);
      if (file) sourceFiles.set(fileName, file);
    }
    return file;
  };
  const program = ts.createProgram({
    rootNames: [EXAMPLE],
    options: FRONTEND_OPTIONS,
    host,
    oldProgram: lastProgram,
  });
  lastProgram = program;
  const example = program.getSourceFile(EXAMPLE);
  const diagnostics = edit
    ? [...program.getSyntacticDiagnostics(example), ...program.getSemanticDiagnostics(example)]
    : ts.getPreEmitDiagnostics(program);
  return diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

/** Replaces one exact piece of the example (failing loudly if the example no longer has it). */
function variant(from: string, to: string): (source: string) => string {
  return (source) => {
    if (!source.includes(from)) throw new Error(`test/frontend-example.ts no longer has: ${from}`);
    return source.replace(from, to);
  };
}

const ENUM = /not assignable to type '[012] \| [012] \| [012]'/;

describe('the documented frontend example (test/frontend-example.ts)', () => {
  it('type-checks against the generated types with zero diagnostics', () => {
    expect(typeCheck()).toEqual([]);
  });

  it.each([
    ['creationStatus as a string', variant('creationStatus: 1', "creationStatus: '1'"), ENUM],
    ['creationStatus outside 0/1/2', variant('creationStatus: 1', 'creationStatus: 3'), ENUM],
    ['a missing field', variant(', routineId: 1', ''), /routineId/],
    ['an unknown field', variant('routineId: 1', 'routineId: 1, note: 1'), /note/],
    ['a wrong route', variant("'/interventions/v2/rs/", "'/interventions/v1/rs/"), /v1/],
    ['an unknown response field', variant('data.data.id', 'data.data.identifier'), /identifier/],
  ])('rejects a variant with %s', (_name, edit, expected) => {
    const diagnostics = typeCheck(edit);
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(diagnostics.join('\n')).toMatch(expected);
  });
});
