import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum UserRole {
  ADMIN = 'ADMIN',
  INSTRUCTOR = 'INSTRUCTOR',
  STUDENT = 'STUDENT',
}
registerEnumType(UserRole, { name: 'UserRole', description: 'A member\'s role in the tenant.' });

export enum UserStatus {
  ACTIVE = 'ACTIVE',
  DEACTIVATED = 'DEACTIVATED',
}
registerEnumType(UserStatus, { name: 'UserStatus' });

export enum RecordSource {
  MANUAL = 'MANUAL',
  SIS_IMPORT = 'SIS_IMPORT',
}
registerEnumType(RecordSource, {
  name: 'RecordSource',
  description: 'Where a record came from: entered in Custos, or imported from the student information system.',
});

/** A member of a tenant: administrator, instructor or student. */
@ObjectType({ description: 'A member of the tenant.' })
@Entity({ tableName: 'app_user' })
export class User {
  [OptionalProps]?: 'createdAt' | 'updatedAt' | 'status' | 'source' | 'studentNumber' | 'avatarUrl' | 'deactivatedAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  // Private fields are nullable in GraphQL: a caller who may not see one gets null for it (see
  // REDACTED_WHEN_DENIED in auth/permissions.ts), never a failed list.
  @Field(() => String, { nullable: true })
  @Property({ type: 'string' })
  email!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'string' })
  givenName!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'string' })
  familyName!: string;

  @Field(() => String)
  @Property({ type: 'string' })
  displayName!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'string', nullable: true })
  studentNumber: string | null = null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'string', nullable: true })
  avatarUrl: string | null = null;

  @Field(() => UserRole)
  @Enum({ items: () => UserRole, nativeEnumName: 'user_role' })
  role!: UserRole;

  @Field(() => UserStatus, { nullable: true })
  @Enum({ items: () => UserStatus, nativeEnumName: 'user_status' })
  status: UserStatus = UserStatus.ACTIVE;

  @Field(() => RecordSource, { nullable: true })
  @Enum({ items: () => RecordSource, nativeEnumName: 'record_source' })
  source: RecordSource = RecordSource.MANUAL;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime' })
  updatedAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  deactivatedAt: Date | null = null;
}
