#!/usr/bin/env -S node --initial-old-space-size=128
// --initial-old-space-size: without a floor under V8's old-generation limit, the server's small,
// fast-allocating main heap gets a full GC every ~0.6 s (pauses of 4–8 ms). V8 reads the flag only at
// startup, so it lives here; `npm start` and the benches run this file directly (docs/design.md).
// Runs the compiled CLI. The build (npm run build, run by npm ci/start/test) compiles src/ to dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('scopestream: not built yet; run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)) + '\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
