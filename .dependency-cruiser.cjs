// The layering rule of src/, checked by `npm run deps` (part of `npm test`): imports point down only,
// and no file or folder imports itself back. docs/architecture.md describes the layers.
//
//   main.ts, bootstrap.ts, cli/, http/    the entry points and the composition root
//   operations/                          multi-step operations (provisioning, migrations, moves ...)
//   data-plane/                          tenant registry, pool map, tenant schema, company-plane services
//   providers/                           where databases come from besides a Postgres server (Neon)
//   control-plane/                       the management database
//   base/                                config, crypto, errors, logger, database helpers
//
// src/context.ts is the one exception: it is the type of the services every layer receives (built
// by bootstrap.ts), so it names types from several layers. Every import of it must be
// `import type` (a rule below), so it adds no edge at run time, and it is not followed: a cycle
// through it is a cycle of types only.

/** Forbids imports from a layer to anything in src/ outside the layers it may use. */
function layer(name, from, allowed, { context = true } = {}) {
  return {
    name,
    comment: `${from} may import only from ${allowed.join(', ')}${context ? ' (and the type of src/context.ts)' : ''}`,
    severity: 'error',
    from: { path: `^src/${from}/` },
    to: { path: '^src/', pathNot: [...allowed.map((a) => `^src/${a}/`), ...(context ? ['^src/context\\.ts$'] : [])] },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-file-cycle',
      comment: 'A file that imports itself back, directly or through others.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      comment: 'A folder whose files import, through other folders, a file of that folder.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'context-is-a-type',
      comment: 'src/context.ts names types from every layer: import it with `import type` only.',
      severity: 'error',
      from: {},
      to: { path: '^src/context\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    layer('base-is-the-bottom', 'base', ['base'], { context: false }),
    layer('control-plane-uses-base', 'control-plane', ['control-plane', 'base']),
    layer('providers-use-control-plane-and-base', 'providers', ['providers', 'control-plane', 'base']),
    layer('data-plane-uses-the-layers-below', 'data-plane', ['data-plane', 'providers', 'control-plane', 'base']),
    layer('operations-use-the-layers-below', 'operations', ['operations', 'data-plane', 'providers', 'control-plane', 'base']),
    layer('http-is-not-the-cli', 'http', ['http', 'operations', 'data-plane', 'providers', 'control-plane', 'base']),
    {
      name: 'cli-is-not-http',
      comment: 'The CLI and the HTTP app are two entry points side by side.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'only-entry-points-compose',
      comment:
        'main.ts starts the server (startup-summary.ts is its start-up log); bootstrap.ts is the composition root, used by main.ts and the CLI.',
      severity: 'error',
      from: { pathNot: '^src/(main\\.ts|startup-summary\\.ts|cli/)' },
      to: { path: '^src/(main|bootstrap)\\.ts$' },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that resolves to nothing.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '^src/context\\.ts$'] },
    // Type-only imports count: a layer must not name the types of a layer above it either.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.mjs', '.js'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'types', 'node', 'default'],
    },
  },
};
