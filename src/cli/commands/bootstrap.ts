import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { createTenant } from '../../modules/tenant/tenant.service';
import { createMember } from '../../modules/user/user.service';
import { CreateUserInput } from '../../modules/user/user.inputs';
import { UserRole } from '../../modules/user/user.entity';
import { issueUserToken } from '../../modules/token/token.service';
import { loadConfig } from '../../config/config';
import { ONCE_WARNING, output, tokenView, validateInput, wholeNumber, withDatabase, type CommonOptions } from '../runtime';

interface BootstrapOptions extends CommonOptions {
  tenant: string;
  slug?: string;
  adminEmail: string;
  adminGivenName?: string;
  adminFamilyName?: string;
  label: string;
  ttlDays?: number;
}

/** Names used when --admin-given-name / --admin-family-name are left out. */
export function defaultAdminNames(tenantName: string, given?: string, family?: string) {
  return {
    givenName: given ?? 'Admin',
    familyName: family ?? (tenantName.trim().replace(/\s+/g, ' ').slice(0, 100) || 'Admin'),
  };
}

export function registerBootstrap(program: Command): void {
  program
    .command('bootstrap')
    .description('Create a tenant, its first administrator and a bearer token for them (printed once).\n' +
      'Nothing is written unless all three succeed.')
    .requiredOption('--tenant <name>', 'the institution\'s name, e.g. "Northfield College"')
    .option('--slug <slug>', 'short identifier used by the CLI (default: derived from the name, "northfield-college")')
    .requiredOption('--admin-email <email>', 'email of the first administrator')
    .option('--admin-given-name <name>', 'administrator\'s given name (default: "Admin")')
    .option('--admin-family-name <name>', 'administrator\'s family name (default: the tenant name, at most 100 characters)')
    .option('--label <label>', 'label of the token', 'bootstrap')
    .option('--ttl-days <n>', 'days until the token expires (default: CUSTOS_TOKEN_TTL_DAYS, 30)', wholeNumber('--ttl-days', 1, 3650))
    .option('--json', 'print one JSON object: {"tenant", "admin", "token", "secret"}')
    .action(async (opts: BootstrapOptions) => {
      const config = loadConfig();
      const input = Object.assign(new CreateUserInput(), {
        email: opts.adminEmail,
        ...defaultAdminNames(opts.tenant, opts.adminGivenName, opts.adminFamilyName),
        role: UserRole.ADMIN,
      });
      await validateInput(input, { email: '--admin-email', givenName: '--admin-given-name', familyName: '--admin-family-name' });
      await withDatabase({ migrate: true }, async ({ em }) => {
        const { tenant, admin, issued } = await em.transactional(async (tem) => {
          const tenant = await createTenant(tem, { name: opts.tenant, slug: opts.slug });
          const admin = await createMember(tem, tenant.id, input);
          const issued = await issueUserToken(tem, admin, { label: opts.label, ttlDays: opts.ttlDays ?? config.tokenTtlDays });
          return { tenant, admin, issued };
        });
        const token = tokenView(issued.token, admin.email);
        output(
          opts,
          {
            tenant: { id: tenant.id, name: tenant.name, slug: tenant.slug },
            admin: { id: admin.id, email: admin.email, givenName: admin.givenName, familyName: admin.familyName, role: admin.role },
            token,
            secret: issued.secret,
          },
          () => [
            `Created tenant "${tenant.name}" (slug ${tenant.slug}) and its administrator ${admin.displayName} <${admin.email}>.`,
            '',
            `Bearer token for ${admin.email} (expires ${token.expiresAt}):`,
            '',
            `  ${issued.secret}`,
            '',
            ONCE_WARNING,
          ].join('\n'),
        );
      });
    });
}
