import { Migration } from '@mikro-orm/migrations';

/**
 * Sealing the access log into one RFC 6962 Merkle tree per tenant.
 *
 * - audit_leaf: which event is leaf i of its tenant's tree (leaf hashes live in audit_node, level 0).
 * - audit_node: every complete-subtree hash, once complete (so a proof reads O(log n) rows).
 * - audit_checkpoint: the signed tree heads {tenant, size, root, time, previous checkpoint hash}.
 * - audit_signing_key: the published Ed25519 public keys checkpoints are signed with.
 * - audit_seal_state: the transaction-id watermark below which every committed event is sealed.
 * Sealed data is append-only like the events themselves.
 */
export class Migration20261124200000_audit_seal extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table audit_signing_key (
        key_id text primary key check (key_id ~ '^[0-9a-f]{32}$'),
        public_key bytea not null unique check (length(public_key) = 32),
        created_at timestamptz(3) not null default now()
      );

      -- No foreign keys on the two high-volume tables: the per-row checks cost a third of sealing time,
      -- tenants are never deleted, events cannot be (triggers), and the verifier checks what a
      -- constraint would, against tampering that would simply drop a constraint first.
      create table audit_leaf (
        tenant_id uuid not null,
        leaf_index bigint not null check (leaf_index >= 0),
        event_id uuid not null unique,
        primary key (tenant_id, leaf_index)
      );

      create table audit_node (
        tenant_id uuid not null,
        level smallint not null check (level between 0 and 63),
        idx bigint not null check (idx >= 0),
        hash bytea not null check (length(hash) = 32),
        primary key (tenant_id, level, idx)
      );

      create table audit_checkpoint (
        tenant_id uuid not null references tenant (id),
        tree_size bigint not null check (tree_size > 0),
        root bytea not null check (length(root) = 32),
        created_at timestamptz(3) not null,
        previous_hash bytea check (length(previous_hash) = 32),
        key_id text not null references audit_signing_key (key_id),
        signature bytea not null check (length(signature) = 64),
        primary key (tenant_id, tree_size)
      );

      create table audit_seal_state (
        singleton boolean primary key default true check (singleton),
        sealed_below xid8 not null
      );
      insert into audit_seal_state (sealed_below) values ('0');
      revoke all on audit_seal_state from public;
    `);
    for (const table of ['audit_leaf', 'audit_node', 'audit_checkpoint', 'audit_signing_key']) {
      this.addSql(`
        create trigger ${table}_append_only before update or delete on ${table} for each row execute function custos_reject_log_change();
        create trigger ${table}_no_truncate before truncate on ${table} for each statement execute function custos_reject_log_change();
      `);
    }
    for (const table of ['audit_leaf', 'audit_node', 'audit_checkpoint']) {
      this.addSql(`
        alter table ${table} enable row level security;
        create policy tenant_isolation on ${table} using (tenant_id = custos_current_tenant());
      `);
    }
    this.addSql(`
      do $$
      declare r name := custos_app_role();
      begin
        -- The application serves checkpoints and proofs; only the sealer (the owner) writes them.
        execute format('grant select on audit_leaf, audit_node, audit_checkpoint, audit_signing_key to %I', r);
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql('drop table audit_seal_state, audit_checkpoint, audit_node, audit_leaf, audit_signing_key;');
  }
}
