import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const held = globalThis.__CUSTOS_TEST_PG__;
  if (!held) return;
  await held.db.stop();
  rmSync(held.dataDir, { recursive: true, force: true });
}
