import DataLoader from 'dataloader';
import { Ctx, Field, FieldResolver, Float, Int, ObjectType, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../../server/context';
import { NotPersonal, Personal, PersonalData } from '../../../privacy/classify';
import { pgArray } from '../../../db/bound';
import { pgTimestamp } from '../../../db/timestamps';
import { DataRequestType, DataSubjectRequest } from '../dsr.entity';

/** Where an export is downloaded (GET, with the subject's or an administrator's bearer token). */
export const downloadPathOf = (requestId: string) => `/exports/${requestId}`;

@PersonalData({ subject: 'subjectId' })
@ObjectType({
  description: 'A right-of-access export: a signed ZIP of everything Custos holds about the person, downloadable until its link expires.',
})
export class DataExport {
  /** Whose export (not a GraphQL field; the access log reads it). */
  subjectId!: string;

  @Personal('user.data_request')
  @Field(() => Date)
  createdAt!: Date;

  @Personal('user.data_request')
  @Field(() => Date, { description: 'After this the file is deleted and the download answers 410.' })
  expiresAt!: Date;

  @Personal('user.data_request')
  @Field(() => Float, { description: 'Size of the ZIP in bytes.' })
  bytes!: number;

  @Personal('user.data_request')
  @Field(() => String, { description: 'SHA-256 of the ZIP, hex.' })
  sha256!: string;

  @Personal('user.data_request')
  @Field(() => Int, { description: 'Access events listed in access-history.csv, each proven against the manifest\'s audit checkpoint.' })
  events!: number;

  @NotPersonal()
  @Field(() => String, { description: 'Path of the download on this server: GET it with the same bearer token.' })
  downloadPath!: string;

  @Personal('user.data_request')
  @Field(() => Boolean, { description: 'The link has expired and the file is gone.' })
  expired!: boolean;
}

interface ExportRow {
  request_id: string;
  created_at: string;
  expires_at: string;
  deleted_at: string | null;
  bytes: string;
  sha256: string;
  events: number;
}

// One loader per request, so a list of requests costs one statement (the shared Loaders are per domain).
const loaders = new WeakMap<RequestContext, DataLoader<string, ExportRow | null>>();

function exportLoader(ctx: RequestContext): DataLoader<string, ExportRow | null> {
  let loader = loaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids: readonly string[]) => {
      const rows = await ctx.em.execute<ExportRow[]>(
        `select request_id, created_at, expires_at, deleted_at, bytes::text, sha256, events from data_export
          where tenant_id = ? and request_id = any(?::uuid[])`, [ctx.tenantId, pgArray(ids)]);
      const byId = new Map(rows.map((r) => [r.request_id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    });
    loaders.set(ctx, loader);
  }
  return loader;
}

/** Whether an export's link is gone: deleted, or past its expiry (the expiry job may not have run yet). */
export const isExpired = (expiresAt: Date, deletedAt: Date | null, now = new Date()) =>
  deletedAt !== null || expiresAt.getTime() <= now.getTime();

@Resolver(() => DataSubjectRequest)
export class DataExportResolver {
  @FieldResolver(() => DataExport, { nullable: true, description: 'ACCESS: the export, once built (null before, and for other types).' })
  async export(@Root() req: DataSubjectRequest, @Ctx() ctx: RequestContext): Promise<DataExport | null> {
    if (req.type !== DataRequestType.ACCESS) return null;
    const row = await exportLoader(ctx).load(req.id);
    if (!row) return null;
    const expiresAt = pgTimestamp(row.expires_at);
    const deletedAt = row.deleted_at ? pgTimestamp(row.deleted_at) : null;
    return {
      subjectId: req.subjectId, createdAt: pgTimestamp(row.created_at), expiresAt, bytes: Number(row.bytes), sha256: row.sha256,
      events: row.events, downloadPath: downloadPathOf(req.id), expired: isExpired(expiresAt, deletedAt),
    };
  }
}
