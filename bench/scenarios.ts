import type { BenchData } from './seed';
import { SIZES } from './seed';

/** One kind of request, sent over and over: what a client would send, and how to tell a right answer. */
export interface Scenario {
  name: string;
  description: string;
  query: string;
  variables: Record<string, unknown>;
  /** Bearer secret the request is sent with. */
  token: string;
  /** Throws, saying what is wrong, unless `data` is the expected answer. */
  verify: (data: unknown) => void;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const ROSTER_QUERY = `query BenchRoster($id: ID!, $first: Int) {
  course(id: $id) {
    id
    roster(first: $first) {
      edges {
        node {
          id
          role
          finalGrade
          user { id displayName email studentNumber }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

const FEED_QUERY = `query BenchFeed($id: ID!, $first: Int, $comments: Int) {
  course(id: $id) {
    id
    posts(first: $first) {
      edges {
        node {
          id
          body
          author { displayName }
          commentCount
          comments(first: $comments) { edges { node { body author { displayName } } } }
          reactions { kind count viewerHasReacted }
        }
      }
      pageInfo { hasNextPage }
    }
  }
}`;

interface RosterData {
  course: { roster: { edges: { node: { role: string; finalGrade: string | null; user: { email: string | null; studentNumber: string | null } } }[]; pageInfo: { hasNextPage: boolean } } };
}

interface FeedData {
  course: { posts: { edges: { node: { author: { displayName: string }; commentCount: number; comments: { edges: unknown[] }; reactions: { count: number }[] } }[] } };
}

/** The scenarios, bound to a seeded data set. */
export function scenarios(data: BenchData): Scenario[] {
  // The servers run with CUSTOS_MAX_PAGE_SIZE=200 (see BASE_ENV in support.ts), so one page holds the roster.
  const rosterSize = SIZES.rosterStudents;
  return [
    {
      name: 'roster 200',
      description: `instructor reads roster(first: ${rosterSize}) of a ${rosterSize + 1}-member course with names, emails, student numbers, grades`,
      query: ROSTER_QUERY,
      variables: { id: data.rosterCourseId, first: rosterSize },
      token: data.tokens.instructor,
      verify(raw) {
        const edges = (raw as RosterData).course?.roster?.edges;
        check(Array.isArray(edges), 'no roster in the answer');
        check(edges.length === rosterSize, `expected ${rosterSize} roster rows, got ${edges.length}`);
        check(edges[0].node.role === 'INSTRUCTOR', 'the instructor is not listed first');
        const students = edges.filter((e) => e.node.role === 'STUDENT');
        check(students.every((e) => e.node.user.email && e.node.user.studentNumber),
          'an instructor should see every student\'s email and student number');
        check(students.some((e) => e.node.finalGrade !== null), 'an instructor should see final grades');
        check((raw as RosterData).course.roster.pageInfo.hasNextPage, 'the roster has one more member than the page');
      },
    },
    {
      name: 'feed 50',
      description: `student reads posts(first: ${SIZES.feedPosts}) with authors, comment counts, ${SIZES.commentsPerFeedPost} comments each and reaction summaries`,
      query: FEED_QUERY,
      variables: { id: data.feedCourseId, first: SIZES.feedPosts, comments: SIZES.commentsPerFeedPost },
      token: data.tokens.student,
      verify(raw) {
        const edges = (raw as FeedData).course?.posts?.edges;
        check(Array.isArray(edges), 'no feed in the answer');
        check(edges.length === SIZES.feedPosts, `expected ${SIZES.feedPosts} posts, got ${edges.length}`);
        for (const { node } of edges) {
          check(node.author?.displayName, 'a post without its author\'s name');
          check(node.commentCount === SIZES.commentsPerFeedPost, `expected commentCount ${SIZES.commentsPerFeedPost}, got ${node.commentCount}`);
          check(node.comments.edges.length === SIZES.commentsPerFeedPost, `expected ${SIZES.commentsPerFeedPost} comments, got ${node.comments.edges.length}`);
          check(node.reactions.length > 0, 'a post without reactions');
        }
      },
    },
  ];
}
