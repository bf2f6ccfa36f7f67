import { generateKeyPairSync } from 'node:crypto';
import { signingKeyFromPem, type SigningKey } from './checkpoint';
import { readOrCreateKeyPem } from '../shared/key-file';

export const KEY_FILE = 'audit-signing-key.pem';

/**
 * The Ed25519 key that signs checkpoints: from configuration (a PEM file every instance shares), or,
 * for a single installation, generated once into the data folder and kept there (mode 0600).
 */
export async function loadSigningKey(opts: { keyFile: string | null; dataDir: string }): Promise<SigningKey> {
  return signingKeyFromPem(await readOrCreateKeyPem(opts, KEY_FILE,
    () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
}
