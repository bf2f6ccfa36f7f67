import { ArrayType, Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';

export enum TokenKind {
  USER = 'USER',
  AUDITOR = 'AUDITOR',
  SERVICE = 'SERVICE',
}
registerEnumType(TokenKind, {
  name: 'TokenKind',
  description: 'What a bearer token stands for: a member, an external auditor (read-only), or a system integration with scopes.',
});

export enum TokenStatus {
  ACTIVE = 'ACTIVE',
  EXPIRED = 'EXPIRED',
  REVOKED = 'REVOKED',
}
registerEnumType(TokenStatus, { name: 'TokenStatus' });

/** A bearer credential. Only the SHA-256 of the secret is kept; the secret is shown once at creation. */
@PersonalData({ subject: 'userId' })
@ObjectType({ description: 'A bearer token (never its secret).' })
@Entity({ tableName: 'api_token' })
export class ApiToken {
  [OptionalProps]?: 'createdAt' | 'kind' | 'userId' | 'revokedAt' | 'lastUsedAt' | 'scopes' | 'createdById' | 'auditFrom' | 'auditUntil';

  @NotPersonal()
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  /** The member a USER token signs in as; null for AUDITOR and SERVICE tokens. */
  @Property({ type: 'uuid', nullable: true })
  userId: string | null = null;

  @Personal('user.credential')
  @Field(() => TokenKind)
  @Enum({ items: () => TokenKind, nativeEnumName: 'token_kind' })
  kind: TokenKind = TokenKind.USER;

  @Personal('user.credential')
  @Field(() => [String], { description: 'Named rights of a SERVICE token (e.g. "roster:read"); empty for others.' })
  @Property({ type: ArrayType })
  scopes: string[] = [];

  @Personal('user.credential')
  @Field(() => String)
  @Property({ type: 'string' })
  label!: string;

  /** Hex SHA-256 of the secret. */
  @Property({ type: 'string', unique: true })
  tokenHash!: string;

  @Personal('user.credential')
  @Field(() => String, { description: 'First characters of the secret, to recognise a token without revealing it.' })
  @Property({ type: 'string' })
  prefix!: string;

  /** The administrator who issued it; null when issued from the command line. */
  @Property({ type: 'uuid', nullable: true })
  createdById: string | null = null;

  @Personal('user.credential')
  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Personal('user.credential')
  @Field(() => Date)
  @Property({ type: 'datetime' })
  expiresAt!: Date;

  @Personal('user.credential')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  @Personal('user.credential')
  @Field(() => Date, { nullable: true, description: 'Last request made with it, to the minute.' })
  @Property({ type: 'datetime', nullable: true })
  lastUsedAt: Date | null = null;

  // Only AUDITOR tokens carry a window, and they never belong to a member (api_token_member_kind): no one's data.
  @NotPersonal()
  @Field(() => Date, { nullable: true, description: 'AUDITOR only: the earliest events the auditor may see (null: no limit).' })
  @Property({ type: 'datetime', nullable: true })
  auditFrom: Date | null = null;

  @NotPersonal()
  @Field(() => Date, { nullable: true, description: 'AUDITOR only: the auditor sees events before this time only (null: no limit).' })
  @Property({ type: 'datetime', nullable: true })
  auditUntil: Date | null = null;

  /** Derived from revocation and expiry at the time of asking. */
  statusAt(now = new Date()): TokenStatus {
    if (this.revokedAt) return TokenStatus.REVOKED;
    return this.expiresAt.getTime() <= now.getTime() ? TokenStatus.EXPIRED : TokenStatus.ACTIVE;
  }
}
