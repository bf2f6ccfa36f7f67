#!/usr/bin/env node
// The `custos` command. The TypeScript sources are compiled by `npm install` (prepare) and `npm start`.
try {
  require.resolve('../dist/src/cli/index.js');
} catch {
  console.error('Custos is not built yet: run `npm install` (or `npm run build`) first.');
  process.exit(1);
}
require('../dist/src/cli/index.js');
