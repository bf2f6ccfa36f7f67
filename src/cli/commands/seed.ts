import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { seedDemo } from '../../seed/demo';
import { CliError, ONCE_WARNING, output, table, withDatabase, type CommonOptions } from '../runtime';

interface SeedOptions extends CommonOptions {
  demo?: boolean;
}

export function registerSeed(program: Command): void {
  program
    .command('seed')
    .description('Load sample data. --demo creates the tenant "Demo School" (slug demo): an administrator, 3 instructors,\n' +
      '30 students, 4 courses with posts, comments, reactions and a few grades, and prints one token per role.\n' +
      'Fails if the demo tenant already exists.')
    .option('--demo', 'create the demo tenant (required: it is the only data set)')
    .option('--json', 'print one JSON object: {"tenant", "counts", "tokens": [{"role", "email", "token"}]}')
    .action(async (opts: SeedOptions) => {
      if (!opts.demo) throw new CliError('Say which data to load: `custos seed --demo` is the only data set.', 2, 'USAGE');
      await withDatabase({ migrate: true }, async ({ em, config }) => {
        const { tenant, tokens, counts } = await seedDemo(em, { ttlDays: config.tokenTtlDays });
        output(opts, { tenant: { id: tenant.id, name: tenant.name, slug: tenant.slug }, counts, tokens }, () => [
          `Created the demo tenant "${tenant.name}" (slug ${tenant.slug}): ${counts.admins} administrator, ` +
            `${counts.instructors} instructors, ${counts.students} students, ${counts.courses} courses, ` +
            `${counts.enrollments} enrollments, ${counts.grades} grades, ${counts.posts} posts, ` +
            `${counts.comments} comments, ${counts.reactions} reactions.`,
          '',
          `One bearer token per role (valid ${config.tokenTtlDays} days):`,
          '',
          table(['ROLE', 'EMAIL', 'TOKEN'], tokens.map((t) => [t.role, t.email, t.token])),
          '',
          ONCE_WARNING,
        ].join('\n'));
      });
    });
}
