import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';

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
@PersonalData({ subject: 'id' })
@ObjectType({ description: 'A member of the tenant.' })
@Entity({ tableName: 'app_user' })
export class User {
  [OptionalProps]?: 'createdAt' | 'updatedAt' | 'status' | 'source' | 'studentNumber' | 'avatarUrl' | 'deactivatedAt';

  @NotPersonal()
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  // Private fields are nullable in GraphQL: a caller who may not see one gets null for it (see
  // REDACTED_WHEN_DENIED in auth/permissions.ts), never a failed list.
  @Personal('user.contact.email')
  @Field(() => String, { nullable: true })
  @Property({ type: 'string' })
  email!: string;

  @Personal('user.name')
  @Field(() => String, { nullable: true })
  @Property({ type: 'string' })
  givenName!: string;

  @Personal('user.name')
  @Field(() => String, { nullable: true })
  @Property({ type: 'string' })
  familyName!: string;

  @Personal('user.name')
  @Field(() => String)
  @Property({ type: 'string' })
  displayName!: string;

  @Personal('user.unique_id.student_number')
  @Field(() => String, { nullable: true })
  @Property({ type: 'string', nullable: true })
  studentNumber: string | null = null;

  @Personal('user.content.self_image')
  @Field(() => String, { nullable: true })
  @Property({ type: 'string', nullable: true })
  avatarUrl: string | null = null;

  @Personal('user.account')
  @Field(() => UserRole)
  @Enum({ items: () => UserRole, nativeEnumName: 'user_role' })
  role!: UserRole;

  @Personal('user.account')
  @Field(() => UserStatus, { nullable: true })
  @Enum({ items: () => UserStatus, nativeEnumName: 'user_status' })
  status: UserStatus = UserStatus.ACTIVE;

  @Personal('user.account')
  @Field(() => RecordSource, { nullable: true })
  @Enum({ items: () => RecordSource, nativeEnumName: 'record_source' })
  source: RecordSource = RecordSource.MANUAL;

  @Personal('user.account')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Personal('user.account')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime' })
  updatedAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  deactivatedAt: Date | null = null;
}
