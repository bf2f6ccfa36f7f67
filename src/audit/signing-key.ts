import { generateKeyPairSync } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { signingKeyFromPem, type SigningKey } from './checkpoint';

export const KEY_FILE = 'audit-signing-key.pem';

/**
 * The Ed25519 key that signs checkpoints: from configuration (a PEM file every instance shares), or,
 * for a single installation, generated once into the data folder and kept there (mode 0600).
 */
export async function loadSigningKey(opts: { keyFile: string | null; dataDir: string }): Promise<SigningKey> {
  if (opts.keyFile) return signingKeyFromPem(await fs.readFile(opts.keyFile, 'utf8'));
  const file = path.join(opts.dataDir, KEY_FILE);
  if (!existsSync(file)) {
    await fs.mkdir(opts.dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    // wx: two instances starting at once must not each write their own key.
    await fs.writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  return signingKeyFromPem(await fs.readFile(file, 'utf8'));
}
