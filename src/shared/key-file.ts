import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * A private key in PEM: from configuration (a file every instance shares) or, for a single
 * installation, generated once into the data folder (mode 0600) and reused from there. The new key is
 * written aside, then linked into place: two processes starting at once keep the first key, and
 * neither ever reads a half-written file.
 */
export async function readOrCreateKeyPem(opts: { keyFile: string | null; dataDir: string }, fileName: string,
  generate: () => string): Promise<string> {
  if (opts.keyFile) return fs.readFile(opts.keyFile, 'utf8');
  const file = path.join(opts.dataDir, fileName);
  if (!existsSync(file)) {
    await fs.mkdir(opts.dataDir, { recursive: true });
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await fs.writeFile(draft, generate(), { mode: 0o600, flag: 'wx' });
    try {
      await fs.link(draft, file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    } finally {
      await fs.unlink(draft);
    }
  }
  return fs.readFile(file, 'utf8');
}
