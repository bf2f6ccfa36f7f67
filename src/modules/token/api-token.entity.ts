import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum TokenKind {
  USER = 'USER',
}
registerEnumType(TokenKind, { name: 'TokenKind', description: 'What a bearer token stands for.' });

/** A bearer credential. Only the SHA-256 of the secret is kept; the secret is shown once at creation. */
@ObjectType({ description: 'A bearer token (never its secret).' })
@Entity({ tableName: 'api_token' })
export class ApiToken {
  [OptionalProps]?: 'createdAt' | 'kind' | 'userId' | 'revokedAt' | 'lastUsedAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid', nullable: true })
  userId: string | null = null;

  @Field(() => TokenKind)
  @Enum({ items: () => TokenKind, nativeEnumName: 'token_kind' })
  kind: TokenKind = TokenKind.USER;

  @Field(() => String)
  @Property({ type: 'string' })
  label!: string;

  /** Hex SHA-256 of the secret. */
  @Property({ type: 'string', unique: true })
  tokenHash!: string;

  @Field(() => String, { description: 'First characters of the secret, to recognise a token without revealing it.' })
  @Property({ type: 'string' })
  prefix!: string;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Field(() => Date)
  @Property({ type: 'datetime' })
  expiresAt!: Date;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  lastUsedAt: Date | null = null;
}
