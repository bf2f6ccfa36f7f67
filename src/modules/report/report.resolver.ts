import { Args, Ctx, Info, Query, Resolver } from 'type-graphql';
import type { GraphQLResolveInfo } from 'graphql';
import type { RequestContext } from '../../server/context';
import {
  AccessSummaryArgs, AccessSummaryReport, AuditChainStatus, DeniedAttemptsArgs, DeniedAttemptsReport, DisclosuresArgs, DisclosuresReport,
  PrivilegedAccessArgs, PrivilegedAccessReport, ReportRangeArgs, RequestComplianceReport,
} from './report.types';
import * as reports from './report.service';

/** Records the read of an audit surface (rows shown, no one's fields) on the root field being answered. */
function served<T>(ctx: RequestContext, info: GraphQLResolveInfo, report: T, rows: (r: T) => number): T {
  ctx.audit.served(String(info.path.key), rows(report));
  return report;
}

@Resolver()
export class ReportResolver {
  @Query(() => AccessSummaryReport, { description: 'Access to personal data by day, actor role, category, purpose and access kind (administrators, auditors).' })
  async accessSummaryReport(@Args() args: AccessSummaryArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo) {
    return served(ctx, info, await reports.accessSummary(ctx, args), (r) => r.rows.length);
  }

  @Query(() => DeniedAttemptsReport, { description: 'Refused attempts: who (pseudonym, role, credential), at what, how often.' })
  async deniedAttemptsReport(@Args() args: DeniedAttemptsArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo) {
    return served(ctx, info, await reports.deniedAttempts(ctx, args), (r) => r.rows.length);
  }

  @Query(() => PrivilegedAccessReport, { description: 'Administrators\' reads of students\' data.' })
  async privilegedAccessReport(@Args() args: PrivilegedAccessArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo) {
    return served(ctx, info, await reports.privilegedAccess(ctx, args), (r) => r.rows.length);
  }

  @Query(() => DisclosuresReport, { description: 'Personal data disclosed to recipients (tools), by recipient and category.' })
  async disclosuresReport(@Args() args: DisclosuresArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo) {
    return served(ctx, info, await reports.disclosures(ctx, args), (r) => r.rows.length);
  }

  @Query(() => RequestComplianceReport, { description: 'Data-subject requests filed in a range: counts, timeliness, overdue requests.' })
  async requestComplianceReport(@Args() args: ReportRangeArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo) {
    return served(ctx, info, await reports.requestCompliance(ctx, args), (r) => r.rows.length + r.overdue.length);
  }

  @Query(() => AuditChainStatus, { description: 'The tenant\'s sealed access log: latest checkpoint, sealing lag, last verification.' })
  async auditChainStatusReport(@Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo) {
    return served(ctx, info, await reports.auditChainStatus(ctx), () => 1);
  }
}
