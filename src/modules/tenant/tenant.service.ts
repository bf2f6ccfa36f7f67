import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Tenant } from './tenant.entity';
import { badInput, duplicate } from '../../shared/errors';

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Derives a slug from a name: "St. Mary's School" → "st-mary-s-school". */
export function slugify(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[^\x00-\x7f]/g, '').replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '').slice(0, 63) || 'tenant';
}

/** Creates a tenant (CLI and seeds only: tenants are not created over the API). */
export async function createTenant(em: EntityManager, input: { name: string; slug?: string }): Promise<Tenant> {
  const name = input.name.trim().replace(/\s+/g, ' ');
  if (name.length < 1 || name.length > 200) throw badInput('The tenant name must be 1 to 200 characters.', 'name');
  const slug = input.slug ?? slugify(name);
  if (!SLUG.test(slug)) throw badInput('The slug must be lowercase letters, digits and dashes (at most 63).', 'slug');
  return em.transactional(async (tem) => {
    if (await tem.findOne(Tenant, { slug })) throw duplicate(`A tenant with the slug "${slug}" already exists.`, 'slug');
    const tenant = tem.create(Tenant, { id: randomUUID(), name, slug });
    await tem.flush();
    return tenant;
  });
}
