import { Ctx, Field, ObjectType, Query, registerEnumType, Resolver } from 'type-graphql';
import { Tenant } from './tenant.entity';
import { User, UserRole } from '../user/user.entity';
import type { RequestContext } from '../../server/context';
import { CALLER, NotPersonal, Personal, PersonalData } from '../../privacy/classify';

export enum PrincipalKindValue {
  USER = 'USER',
  AUDITOR = 'AUDITOR',
  SERVICE = 'SERVICE',
}
registerEnumType(PrincipalKindValue, { name: 'PrincipalKind', description: 'A member, an external auditor, or a system integration.' });

@PersonalData({ subject: CALLER })
@ObjectType({ description: 'The caller: who they are, in which tenant, with which credential.' })
export class Viewer {
  @NotPersonal()
  @Field(() => PrincipalKindValue)
  kind!: PrincipalKindValue;

  @Field(() => User, { nullable: true, description: 'The member; null for auditors and services.' })
  user!: User | null;

  @Personal('user.account')
  @Field(() => UserRole, { nullable: true, description: 'The member\'s tenant role; null for auditors and services.' })
  role!: UserRole | null;

  @NotPersonal()
  @Field(() => [String], { description: 'Scopes of a service credential; empty otherwise.' })
  scopes!: string[];

  @Field(() => Tenant)
  tenant!: Tenant;

  @Personal('user.credential')
  @Field(() => Date, { description: 'When the credential used for this request expires.' })
  credentialExpiresAt!: Date;
}

@Resolver()
export class TenantResolver {
  @Query(() => Viewer)
  async viewer(@Ctx() ctx: RequestContext): Promise<Viewer> {
    const p = ctx.access.principal;
    const user = p.kind === 'USER' ? await ctx.loaders.userById.load(p.userId) : null;
    const tenant = await ctx.em.findOneOrFail(Tenant, { id: p.tenantId });
    return {
      kind: p.kind as PrincipalKindValue,
      user,
      role: p.kind === 'USER' ? p.role : null,
      scopes: p.kind === 'SERVICE' ? p.scopes : [],
      tenant,
      credentialExpiresAt: p.credential.expiresAt,
    };
  }

  @Query(() => Tenant, { description: 'The caller\'s tenant.' })
  tenant(@Ctx() ctx: RequestContext) {
    return ctx.em.findOneOrFail(Tenant, { id: ctx.tenantId });
  }
}
