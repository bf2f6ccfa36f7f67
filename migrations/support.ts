/**
 * SQL the migrations share. Each returns plain SQL text for `addSql`, so a migration still reads as
 * the statements it runs.
 */

/** Row-level security on a tenant-owned table: rows of the request's tenant only, for every command. */
export const isolateByTenant = (table: string) => `
  alter table ${table} enable row level security;
  create policy tenant_isolation on ${table} using (tenant_id = custos_current_tenant()) with check (tenant_id = custos_current_tenant());
`;

/**
 * Grants to the application role, whatever its name in this database (`custos_app_role()`), e.g.
 * `grantToApp('select, insert on job')`.
 */
export const grantToApp = (...grants: string[]) => `
  do $$
  declare r name := custos_app_role();
  begin
${grants.map((g) => `    execute format('grant ${g} to %I', r);`).join('\n')}
  end $$;
`;
