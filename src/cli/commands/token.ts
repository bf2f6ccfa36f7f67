import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { isEmail } from 'class-validator';
import { issueUserToken, revokeToken } from '../../modules/token/token.service';
import { ApiToken } from '../../modules/token/api-token.entity';
import { User } from '../../modules/user/user.entity';
import { parseId } from '../../shared/errors';
import {
  CliError, ONCE_WARNING, findMemberByEmail, findTenant, output, table, tokenView, when, wholeNumber, withDatabase,
  type CommonOptions, type TokenView,
} from '../runtime';

interface CreateOptions extends CommonOptions { tenant: string; email: string; label: string; ttlDays?: number }
interface RevokeOptions extends CommonOptions { tenant: string; id: string }
interface ListOptions extends CommonOptions { tenant: string; email?: string }

function checkEmail(email: string): void {
  if (!isEmail(email.trim())) throw new CliError(`Invalid --email: "${email}" is not an email address.`, 1, 'BAD_USER_INPUT');
}

function tokenRows(tokens: TokenView[]): string[][] {
  return tokens.map((t) => [
    t.id, t.prefix, t.label, t.email ?? '-', when(t.createdAt), when(t.expiresAt), when(t.revokedAt), when(t.lastUsedAt),
  ]);
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('Create, list and revoke members\' bearer tokens.');

  token
    .command('create')
    .description('Issue a bearer token for a member. The secret is printed once and never stored.')
    .requiredOption('--tenant <slug>', 'the tenant\'s slug')
    .requiredOption('--email <email>', 'the member\'s email')
    .option('--label <label>', 'what the token is for', 'cli')
    .option('--ttl-days <n>', 'days until it expires (default: CUSTOS_TOKEN_TTL_DAYS, 30)', wholeNumber('--ttl-days', 1, 3650))
    .option('--json', 'print one JSON object: {"tenant", "token", "secret"}')
    .action(async (opts: CreateOptions) => {
      checkEmail(opts.email);
      await withDatabase({ migrate: true }, async ({ em, config }) => {
        const tenant = await findTenant(em, opts.tenant);
        const user = await findMemberByEmail(em, tenant, opts.email);
        if (user.status !== 'ACTIVE') throw new CliError(`The member ${user.email} is deactivated; a token would not work.`, 1, 'BAD_USER_INPUT');
        const issued = await issueUserToken(em, user, { label: opts.label, ttlDays: opts.ttlDays ?? config.tokenTtlDays });
        const view = tokenView(issued.token, user.email);
        output(opts, { tenant: tenant.slug, token: view, secret: issued.secret }, () => [
          `Token ${view.id} for ${user.email} (${user.role}) in tenant ${tenant.slug}, expires ${view.expiresAt}:`,
          '',
          `  ${issued.secret}`,
          '',
          ONCE_WARNING,
        ].join('\n'));
      });
    });

  token
    .command('revoke')
    .description('Revoke a token: it stops working at once. Revoking twice is harmless.')
    .requiredOption('--tenant <slug>', 'the tenant\'s slug')
    .requiredOption('--id <tokenId>', 'the token\'s id (see `custos token list`)')
    .option('--json', 'print one JSON object: {"tenant", "token", "alreadyRevoked"}')
    .action(async (opts: RevokeOptions) => {
      let id: string;
      try {
        id = parseId(opts.id.trim());
      } catch {
        throw new CliError(`Invalid --id: "${opts.id}" is not a token id (ids are UUIDs; see custos token list).`, 1, 'BAD_USER_INPUT');
      }
      await withDatabase({ migrate: true }, async ({ em }) => {
        const tenant = await findTenant(em, opts.tenant);
        const existing = await em.findOne(ApiToken, { id, tenantId: tenant.id });
        if (!existing) throw new CliError(`Tenant "${tenant.slug}" has no token with the id ${id}.`, 1, 'NOT_FOUND');
        const alreadyRevoked = existing.revokedAt !== null;
        const revoked = await revokeToken(em, tenant.id, id);
        const owner = revoked.userId ? await em.findOne(User, { id: revoked.userId, tenantId: tenant.id }) : null;
        const view = tokenView(revoked, owner?.email ?? null);
        output(opts, { tenant: tenant.slug, token: view, alreadyRevoked }, () =>
          alreadyRevoked
            ? `Token ${id} (${view.prefix}…) was already revoked at ${view.revokedAt}.`
            : `Revoked token ${id} (${view.prefix}…, "${view.label}") of ${view.email ?? 'no member'} in tenant ${tenant.slug}.`,
        );
      });
    });

  token
    .command('list')
    .description('List a tenant\'s tokens (never their secrets), oldest first.')
    .requiredOption('--tenant <slug>', 'the tenant\'s slug')
    .option('--email <email>', 'only the tokens of this member')
    .option('--json', 'print one JSON object: {"tenant", "tokens": [...]}')
    .action(async (opts: ListOptions) => {
      if (opts.email !== undefined) checkEmail(opts.email);
      await withDatabase({ migrate: true }, async ({ em }) => {
        const tenant = await findTenant(em, opts.tenant);
        const member = opts.email !== undefined ? await findMemberByEmail(em, tenant, opts.email) : null;
        const tokens = await em.find(ApiToken, { tenantId: tenant.id, ...(member ? { userId: member.id } : {}) }, {
          orderBy: { createdAt: 'asc', id: 'asc' },
        });
        const userIds = [...new Set(tokens.map((t) => t.userId).filter((u): u is string => u !== null))];
        const users = userIds.length ? await em.find(User, { tenantId: tenant.id, id: { $in: userIds } }, { fields: ['id', 'email'] }) : [];
        const emails = new Map(users.map((u) => [u.id, u.email]));
        const views = tokens.map((t) => tokenView(t, t.userId ? emails.get(t.userId) ?? null : null));
        output(opts, { tenant: tenant.slug, tokens: views }, () =>
          views.length
            ? table(['ID', 'PREFIX', 'LABEL', 'USER', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST USED'], tokenRows(views))
            : `Tenant ${tenant.slug} has no tokens${member ? ` for ${member.email}` : ''}.`,
        );
      });
    });
}
