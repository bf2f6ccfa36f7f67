import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildBareSchema } from './build';

/** The committed SDL. `--check` fails (exit 1) when it differs from what the code defines. */
export const SCHEMA_FILE = path.resolve(__dirname, '../../../schema/schema.graphql');

export async function renderSchema(): Promise<string> {
  const schema = await buildBareSchema();
  return `# Generated from the resolvers by \`npm run schema:emit\`. Do not edit by hand.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}

async function main() {
  const sdl = await renderSchema();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(SCHEMA_FILE, 'utf8');
    } catch {
      // missing file counts as stale
    }
    if (current !== sdl) {
      console.error(`schema/schema.graphql is stale: run \`npm run schema:emit\` and commit the result.`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(SCHEMA_FILE, sdl);
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
