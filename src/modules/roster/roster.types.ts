import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { NoPersonalData } from '../../privacy/classify';

/**
 * What an import answers holds no personal data in the registry's sense: it goes only to the integration
 * that sent the files, and repeats only what it sent (sourcedIds, its own cells in error messages) or counts.
 */

@InputType({ description: 'One OneRoster CSV file, by its name in the bulk format (e.g. "users.csv"), as UTF-8 text.' })
export class RosterFileInput {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  content!: string;
}

@InputType({ description: 'A OneRoster 1.1 set: either its CSV files (manifest.csv among them) or one ZIP of them, base64-encoded.' })
export class ImportRosterInput {
  @Field(() => [RosterFileInput], { nullable: true })
  files?: RosterFileInput[] | null;

  @Field(() => String, { nullable: true, description: 'A ZIP of the CSV files, base64.' })
  zipBase64?: string | null;

  @Field(() => Boolean, { defaultValue: false, description: 'Work out and return the changes, write nothing.' })
  dryRun!: boolean;

  @Field(() => Boolean, {
    defaultValue: false,
    description: 'Import the valid rows even when some rows have errors (the others, and rows that need them, are left out). ' +
      'Without it, a single error means nothing is written.',
  })
  importValidRows!: boolean;
}

@NoPersonalData()
@ObjectType({ description: 'A row (or a whole file, when line is null) that could not be imported.' })
export class RosterRowError {
  @Field(() => String) file!: string;
  @Field(() => Int, { nullable: true }) line!: number | null;
  @Field(() => String, { nullable: true }) sourcedId!: string | null;
  @Field(() => String, {
    description: 'MISSING_FILE, MISSING_COLUMN, UNEXPECTED_FILE, MANIFEST_VERSION, BAD_MANIFEST, FILE_TOO_LARGE, MALFORMED_CSV, ' +
      'MALFORMED_ROW, REQUIRED_FIELD, BAD_VALUE, UNKNOWN_ROLE, BAD_DATE, DUPLICATE_ID, DANGLING_REFERENCE or CONFLICT.',
  }) code!: string;

  @Field(() => String) message!: string;
}

@NoPersonalData()
@ObjectType({ description: 'A row deliberately not imported, and why.' })
export class RosterSkippedRow {
  @Field(() => String) file!: string;
  @Field(() => Int) line!: number;
  @Field(() => String) sourcedId!: string;
  @Field(() => String) reason!: string;
}

@NoPersonalData()
@ObjectType({ description: 'What an import changes in one kind of record.' })
export class RosterEntityDiff {
  @Field(() => String, { description: 'orgs, users, courses (the catalogue), classes (Custos courses) or enrollments.' })
  entity!: string;

  @Field(() => Int) created!: number;
  @Field(() => Int) updated!: number;
  @Field(() => Int, { description: 'Deactivated members, archived courses, removed enrollments.' }) deactivated!: number;
  @Field(() => Int) unchanged!: number;
  @Field(() => Int) skipped!: number;
}

@NoPersonalData()
@ObjectType()
export class RosterFileCount {
  @Field(() => String) file!: string;
  @Field(() => Int, { description: 'Data rows read (the header excluded).' }) rows!: number;
}

@NoPersonalData()
@ObjectType()
export class RosterIgnoredFile {
  @Field(() => String) name!: string;
  @Field(() => String) reason!: string;
}

@NoPersonalData()
@ObjectType({ description: 'The outcome of a roster import, or of its dry run.' })
export class RosterImportResultType {
  @Field(() => ID, { nullable: true, description: 'Set once the import is applied.' }) importId!: string | null;
  @Field(() => Boolean) applied!: boolean;
  @Field(() => Boolean) dryRun!: boolean;
  @Field(() => [RosterFileCount]) files!: RosterFileCount[];
  @Field(() => [RosterEntityDiff]) diff!: RosterEntityDiff[];
  @Field(() => [RosterRowError], { description: 'At most 1,000; errorCount has them all.' }) errors!: RosterRowError[];
  @Field(() => Int) errorCount!: number;
  @Field(() => [RosterSkippedRow], { description: 'At most 1,000; skippedCount has them all.' }) skipped!: RosterSkippedRow[];
  @Field(() => Int) skippedCount!: number;
  @Field(() => [RosterIgnoredFile]) ignoredFiles!: RosterIgnoredFile[];
}
