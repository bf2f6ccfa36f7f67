import { Ctx, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { Tenant } from './tenant.entity';
import { User, UserRole } from '../user/user.entity';
import type { RequestContext } from '../../server/context';
import { ApiToken } from '../token/api-token.entity';

@ObjectType({ description: 'The caller: who they are, in which tenant, with which credential.' })
export class Viewer {
  @Field(() => User)
  user!: User;

  @Field(() => UserRole)
  role!: UserRole;

  @Field(() => Tenant)
  tenant!: Tenant;

  @Field(() => Date, { description: 'When the credential used for this request expires.' })
  credentialExpiresAt!: Date;
}

@Resolver()
export class TenantResolver {
  @Query(() => Viewer)
  async viewer(@Ctx() ctx: RequestContext): Promise<Viewer> {
    const { userId, tenantId, role, tokenId } = ctx.access.principal;
    const [user, tenant, token] = await Promise.all([
      ctx.loaders.userById.load(userId),
      ctx.em.findOneOrFail(Tenant, { id: tenantId }),
      ctx.em.findOneOrFail(ApiToken, { id: tokenId, tenantId }, { fields: ['expiresAt'] }),
    ]);
    return { user: user!, role, tenant, credentialExpiresAt: token.expiresAt };
  }

  @Query(() => Tenant, { description: 'The caller\'s tenant.' })
  tenant(@Ctx() ctx: RequestContext) {
    return ctx.em.findOneOrFail(Tenant, { id: ctx.tenantId });
  }
}
