import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { isEmail } from 'class-validator';
import { issueToken, MAX_TTL_DAYS, revokeToken } from '../../modules/token/token.service';
import { ApiToken, TokenKind } from '../../modules/token/api-token.entity';
import { User } from '../../modules/user/user.entity';
import { isServiceScope, SERVICE_SCOPES } from '../../auth/principal';
import { parseId } from '../../shared/errors';
import {
  CliError, isoTime, ONCE_WARNING, findMemberByEmail, findTenant, output, table, tokenView, when, wholeNumber, withDatabase,
  type CommonOptions, type TokenView,
} from '../runtime';

interface CreateOptions extends CommonOptions {
  tenant: string;
  kind?: TokenKind;
  email?: string;
  scope?: string[];
  label: string;
  ttlDays?: number;
  auditFrom?: Date;
  auditUntil?: Date;
}
interface RevokeOptions extends CommonOptions { tenant: string; id: string }
interface ListOptions extends CommonOptions { tenant: string; email?: string; kind?: TokenKind }

/** The kinds as typed on the command line (any case), e.g. `--kind auditor`. */
const KINDS = new Map<string, TokenKind>([['user', TokenKind.USER], ['auditor', TokenKind.AUDITOR], ['service', TokenKind.SERVICE]]);

/** `user`, `auditor`, `service`: how the CLI names a kind in its messages. */
const kindName = (kind: TokenKind) => kind.toLowerCase();
const aKind = (kind: TokenKind) => `${kind === TokenKind.AUDITOR ? 'an' : 'a'} ${kindName(kind)}`;

const usage = (message: string) => new CliError(message, 2, 'USAGE');

/** Parses --kind, case-insensitively. */
function parseKind(raw: string): TokenKind {
  const kind = KINDS.get(raw.trim().toLowerCase());
  if (!kind) throw usage(`--kind must be one of ${[...KINDS.keys()].join(', ')}, got "${raw}".`);
  return kind;
}

/** Collects repeated --scope options; each must be one of SERVICE_SCOPES. */
function collectScope(raw: string, previous: string[] | undefined): string[] {
  const scope = raw.trim();
  if (!isServiceScope(scope)) throw usage(`Unknown --scope "${raw}": the scopes are ${SERVICE_SCOPES.join(', ')}.`);
  const scopes = previous ?? [];
  return scopes.includes(scope) ? scopes : [...scopes, scope];
}

function checkEmail(email: string): void {
  if (!isEmail(email.trim())) throw new CliError(`Invalid --email: "${email}" is not an email address.`, 1, 'BAD_USER_INPUT');
}

/**
 * Checks the options of `token create` against each other before the database is opened, naming the
 * options; issueToken checks the same rules again (in the API's terms) before anything is written.
 */
function checkCreate(opts: CreateOptions): { kind: TokenKind; scopes: string[] } {
  const kind = opts.kind ?? TokenKind.USER;
  const scopes = opts.scope ?? [];
  if (kind === TokenKind.USER) {
    if (opts.email === undefined) {
      throw usage('required option \'--email <email>\' not specified: a user token signs in as a member ' +
        '(use --kind auditor or --kind service for a token without a member).');
    }
    checkEmail(opts.email);
  } else if (opts.email !== undefined) {
    throw usage(`--email is only for --kind user: ${aKind(kind)} token does not belong to a member.`);
  }
  if (kind === TokenKind.SERVICE && scopes.length === 0) {
    throw usage(`--kind service needs at least one --scope: ${SERVICE_SCOPES.join(', ')}.`);
  }
  if (kind !== TokenKind.SERVICE && scopes.length > 0) {
    throw usage(`--scope is only for --kind service: ${aKind(kind)} token carries no scopes.`);
  }
  const max = MAX_TTL_DAYS[kind];
  if (opts.ttlDays !== undefined && opts.ttlDays > max) {
    throw usage(`--ttl-days must be between 1 and ${max} for ${aKind(kind)} token, got ${opts.ttlDays}.`);
  }
  const label = opts.label.trim();
  if (label.length < 1 || label.length > 100) throw usage('--label must be 1 to 100 characters.');
  return { kind, scopes };
}

/** The token in a phrase: `user token <id> for ada@x.example (ADMIN)`, `auditor token <id> (read-only)`, `service token <id> with scopes roster:read`. */
function described(view: TokenView, role?: string): string {
  switch (view.kind) {
    case TokenKind.USER:
      return `user token ${view.id} for ${view.email ?? 'a member who no longer exists'}${role ? ` (${role})` : ''}`;
    case TokenKind.AUDITOR:
      return `auditor token ${view.id} (read-only)`;
    case TokenKind.SERVICE:
      return `service token ${view.id} with scopes ${view.scopes.join(', ')}`;
  }
}

function tokenRows(tokens: TokenView[]): string[][] {
  return tokens.map((t) => [
    t.id, t.prefix, t.kind, t.label, t.email ?? '-', t.scopes.length ? t.scopes.join(',') : '-',
    when(t.createdAt), when(t.expiresAt), when(t.revokedAt), when(t.lastUsedAt),
  ]);
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('Create, list and revoke bearer tokens: members\', auditors\' and services\'.');

  token
    .command('create')
    .description('Issue a bearer token for a member (--kind user, with --email), an external auditor (--kind auditor: ' +
      'read-only) or a system integration (--kind service, with one or more --scope). The secret is printed once and never stored.')
    .requiredOption('--tenant <slug>', 'the tenant\'s slug')
    .option('--kind <kind>', 'user (the default), auditor or service', parseKind)
    .option('--email <email>', 'the member\'s email (--kind user only, required there)')
    .option('--scope <scope>', `a right of a service token, repeatable: ${SERVICE_SCOPES.join(', ')}`, collectScope)
    .option('--label <label>', 'what the token is for', 'cli')
    .option('--ttl-days <n>', `days until it expires (default: CUSTOS_TOKEN_TTL_DAYS, 30; at most ${MAX_TTL_DAYS[TokenKind.AUDITOR]} for auditors)`,
      wholeNumber('--ttl-days', 1, Math.max(...Object.values(MAX_TTL_DAYS))))
    .option('--audit-from <time>', 'auditor tokens: the earliest events the auditor may see (ISO 8601)', isoTime('--audit-from'))
    .option('--audit-until <time>', 'auditor tokens: the auditor sees events before this time only (ISO 8601)', isoTime('--audit-until'))
    .option('--json', 'print one JSON object: {"tenant", "token", "secret"}')
    .action(async (opts: CreateOptions) => {
      const { kind, scopes } = checkCreate(opts);
      await withDatabase({ migrate: true }, async ({ em, config }) => {
        const tenant = await findTenant(em, opts.tenant);
        let user: User | null = null;
        if (kind === TokenKind.USER) {
          user = await findMemberByEmail(em, tenant, opts.email!);
          if (user.status !== 'ACTIVE') throw new CliError(`The member ${user.email} is deactivated; a token would not work.`, 1, 'BAD_USER_INPUT');
        }
        const issued = await issueToken(em, tenant.id, {
          kind,
          user,
          scopes,
          label: opts.label,
          ttlDays: opts.ttlDays ?? Math.min(config.tokenTtlDays, MAX_TTL_DAYS[kind]),
          auditWindow: opts.auditFrom || opts.auditUntil ? { from: opts.auditFrom ?? null, until: opts.auditUntil ?? null } : null,
        });
        const view = tokenView(issued.token, user?.email ?? null);
        output(opts, { tenant: tenant.slug, token: view, secret: issued.secret }, () => [
          `Issued ${described(view, user?.role)} in tenant ${tenant.slug}, expires ${view.expiresAt}:`,
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
            : `Revoked ${described(view)} (${view.prefix}…, "${view.label}") in tenant ${tenant.slug}.`,
        );
      });
    });

  token
    .command('list')
    .description('List a tenant\'s tokens (never their secrets), oldest first.')
    .requiredOption('--tenant <slug>', 'the tenant\'s slug')
    .option('--kind <kind>', 'only the tokens of this kind: user, auditor or service', parseKind)
    .option('--email <email>', 'only the tokens of this member')
    .option('--json', 'print one JSON object: {"tenant", "tokens": [...]}')
    .action(async (opts: ListOptions) => {
      if (opts.email !== undefined) {
        if (opts.kind !== undefined && opts.kind !== TokenKind.USER) {
          throw usage(`--email selects a member's tokens, which are user tokens; it cannot be combined with --kind ${kindName(opts.kind)}.`);
        }
        checkEmail(opts.email);
      }
      await withDatabase({ migrate: true }, async ({ em }) => {
        const tenant = await findTenant(em, opts.tenant);
        const member = opts.email !== undefined ? await findMemberByEmail(em, tenant, opts.email) : null;
        const tokens = await em.find(ApiToken, {
          tenantId: tenant.id,
          ...(member ? { userId: member.id } : {}),
          ...(opts.kind ? { kind: opts.kind } : {}),
        }, {
          orderBy: { createdAt: 'asc', id: 'asc' },
        });
        const userIds = [...new Set(tokens.map((t) => t.userId).filter((u): u is string => u !== null))];
        const users = userIds.length ? await em.find(User, { tenantId: tenant.id, id: { $in: userIds } }, { fields: ['id', 'email'] }) : [];
        const emails = new Map(users.map((u) => [u.id, u.email]));
        const views = tokens.map((t) => tokenView(t, t.userId ? emails.get(t.userId) ?? null : null));
        output(opts, { tenant: tenant.slug, tokens: views }, () =>
          views.length
            ? table(['ID', 'PREFIX', 'KIND', 'LABEL', 'USER', 'SCOPES', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST USED'], tokenRows(views))
            : `Tenant ${tenant.slug} has no ${opts.kind ? `${kindName(opts.kind)} ` : ''}tokens${member ? ` for ${member.email}` : ''}.`,
        );
      });
    });
}
