import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ApiToken, TokenStatus } from './api-token.entity';
import { ApiTokenConnection, IssuedTokenPayload, IssueTokenInput, TokensArgs } from './token.types';
import * as tokens from './token.service';
import { User } from '../user/user.entity';
import type { RequestContext } from '../../server/context';
import { Personal } from '../../privacy/classify';

@Resolver(() => ApiToken)
export class TokenResolver {
  @Query(() => ApiTokenConnection, { description: 'The tenant\'s bearer tokens, newest first (administrators).' })
  tokens(@Args() args: TokensArgs, @Ctx() ctx: RequestContext) {
    return tokens.listTokens(ctx, args);
  }

  @Mutation(() => IssuedTokenPayload, { description: 'Issues a member, auditor or service token; the secret is shown once.' })
  issueToken(@Arg('input', () => IssueTokenInput) input: IssueTokenInput, @Ctx() ctx: RequestContext) {
    return tokens.issueTokenAsAdmin(ctx, input);
  }

  @Mutation(() => ApiToken, { description: 'Revokes a token; it stops working on the next request.' })
  revokeToken(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return tokens.revokeTokenAsAdmin(ctx, id);
  }

  @Personal('user.credential')
  @FieldResolver(() => TokenStatus)
  status(@Root() token: ApiToken) {
    return token.statusAt();
  }

  @FieldResolver(() => User, { nullable: true, description: 'The member a USER token signs in as.' })
  user(@Root() token: ApiToken, @Ctx() ctx: RequestContext) {
    return token.userId ? ctx.loaders.userById.load(token.userId) : null;
  }
}
