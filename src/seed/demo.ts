import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createTenant } from '../modules/tenant/tenant.service';
import { Tenant } from '../modules/tenant/tenant.entity';
import { createMember } from '../modules/user/user.service';
import { User, UserRole } from '../modules/user/user.entity';
import { createCourseIn, enrollIn } from '../modules/course/course.service';
import { CourseRole, Enrollment } from '../modules/course/enrollment.entity';
import { Post } from '../modules/content/post.entity';
import { Comment } from '../modules/content/comment.entity';
import { Reaction, ReactionKind } from '../modules/content/reaction.entity';
import { issueUserToken } from '../modules/token/token.service';
import { duplicate } from '../shared/errors';
import { prng } from '../shared/prng';

export const DEMO_TENANT = { name: 'Demo School', slug: 'demo' } as const;
export const DEMO_DOMAIN = 'demo.custos.test';
export const DEMO_ADMIN_EMAIL = `admin@${DEMO_DOMAIN}`;

export interface DemoToken {
  role: UserRole;
  email: string;
  token: string;
}

export interface DemoCounts {
  admins: number;
  instructors: number;
  students: number;
  courses: number;
  enrollments: number;
  grades: number;
  posts: number;
  comments: number;
  reactions: number;
}

export interface DemoResult {
  tenant: Tenant;
  /** One bearer token per role: ADMIN, INSTRUCTOR, STUDENT (in that order). */
  tokens: DemoToken[];
  counts: DemoCounts;
}

const ADMIN = { givenName: 'Helen', familyName: 'Castellanos', email: DEMO_ADMIN_EMAIL };

const INSTRUCTORS = [
  { givenName: 'Margaret', familyName: 'Okafor' },
  { givenName: 'Daniel', familyName: 'Lindqvist' },
  { givenName: 'Priya', familyName: 'Raman' },
];

const STUDENTS: [string, string][] = [
  ['Amara', 'Nwosu'], ['Lucas', 'Ferreira'], ['Sofia', 'Novak'], ['Kenji', 'Watanabe'], ['Isla', 'McKenzie'],
  ['Mateo', 'Alvarez'], ['Zara', 'Haddad'], ['Oliver', 'Brennan'], ['Leila', 'Moradi'], ['Tomas', 'Horvat'],
  ['Chloe', 'Dubois'], ['Samuel', 'Mensah'], ['Hana', 'Kobayashi'], ['Noah', 'Fischer'], ['Aisha', 'Rahman'],
  ['Elias', 'Johansson'], ['Maya', 'Patel'], ['Jonah', 'Whitfield'], ['Ingrid', 'Solberg'], ['Rafael', 'Costa'],
  ['Yara', 'Mansour'], ['Felix', 'Wagner'], ['Nadia', 'Kowalski'], ['Arjun', 'Mehta'], ['Freya', 'Lindgren'],
  ['Diego', 'Romero'], ['Mei', 'Chen'], ['Theo', 'Marchetti'], ['Esther', 'Adeyemi'], ['Liam', 'Gallagher'],
];

interface CourseSpec {
  code: string;
  title: string;
  description: string;
  /** Indexes into INSTRUCTORS. */
  instructors: number[];
  posts: string[];
}

const COURSES: CourseSpec[] = [
  {
    code: 'BIO-101', title: 'Introduction to Biology', instructors: [0],
    description: 'Cells, genetics, evolution and ecosystems, with weekly lab sessions.',
    posts: [
      'Welcome to BIO-101! Lab coats and goggles are required from week two. The first lab covers microscopy.',
      'Does anyone have notes on the difference between mitosis and meiosis? I missed the second half of Tuesday.',
      'The osmosis lab report template is confusing: do we include the raw mass measurements or only the percentages?',
      'Found a great animation of the Krebs cycle that finally made it click for me. Happy to share the link.',
      'Reminder: the field trip to the wetland reserve is on Friday. Bring boots and a notebook.',
    ],
  },
  {
    code: 'HIST-210', title: 'Modern European History', instructors: [1],
    description: 'From the revolutions of 1848 to the fall of the Berlin Wall.',
    posts: [
      'Reading for week three: chapters 4 and 5. Come ready to discuss the causes of the 1848 revolutions.',
      'Is the essay on the Congress of Vienna supposed to use primary sources only, or are textbooks fine too?',
      'The documentary on the Weimar Republic mentioned in class is available in the library media room.',
      'Study group for the midterm on Thursday evening, room 214. Everyone is welcome.',
      'I am struggling to keep the Balkan crises straight. Does anyone have a timeline that helped them?',
    ],
  },
  {
    code: 'MATH-150', title: 'Calculus I', instructors: [2],
    description: 'Limits, derivatives and integrals of functions of one variable.',
    posts: [
      'Problem set 2 is posted. Office hours move to Wednesday 3 pm this week only.',
      'For question 7, should we use the limit definition of the derivative or can we use the power rule?',
      'Tip: sketching the function before applying L\'Hôpital\'s rule saves a lot of mistakes.',
      'Can someone explain why the chain rule works intuitively? The proof in the book lost me.',
      'Practice exam solutions are up. Pay attention to the related rates problems.',
    ],
  },
  {
    code: 'LIT-220', title: 'World Literature', instructors: [0, 1],
    description: 'Novels, poetry and drama from five continents, read in translation.',
    posts: [
      'This term we start with Achebe\'s Things Fall Apart. Please finish part one before our first seminar.',
      'How much does the translation matter? I compared two versions of the same Neruda poem and they feel very different.',
      'Our presentation on magical realism is ready; thanks to everyone who helped with the slides.',
      'The reading list for the second half of term is now final. No changes after this week.',
      'Does anyone want to swap presentation slots? I have week nine and would prefer week eleven.',
    ],
  },
];

const COMMENTS = [
  'Thanks, this helps a lot.',
  'I had the same question.',
  'Good point, I had not thought about it that way.',
  'The notes from the last session cover this on page 3.',
  'Could we go over this again in class?',
  'I can share my notes after the lecture.',
  'This is explained well in the second reading.',
  'Count me in.',
  'I found the textbook chapter on this really clear.',
  'Great summary, thank you!',
];

const GRADES = ['A', 'A-', 'B+', 'B', 'B-', 'C+', 'C'];
const REACTIONS = Object.values(ReactionKind);
const HOUR = 3_600_000;

/**
 * Creates the demo tenant ("Demo School", slug "demo"): an administrator, 3 instructors, 30 students,
 * 4 courses with their members, a few grades, posts with comments and reactions, and one bearer token
 * per role. All of it in one transaction: it is created completely or not at all. The content is the
 * same on every run (ids, timestamps and secrets differ).
 */
export async function seedDemo(em: EntityManager, opts: { ttlDays?: number; now?: Date } = {}): Promise<DemoResult> {
  const now = opts.now ?? new Date();
  const rand = prng(20261122);
  return em.transactional(async (tem) => {
    if (await tem.findOne(Tenant, { slug: DEMO_TENANT.slug }, { fields: ['id'] })) {
      throw duplicate(
        `The demo tenant (slug "${DEMO_TENANT.slug}") already exists. To get a token for one of its members, run: ` +
          `custos token create --tenant ${DEMO_TENANT.slug} --email ${DEMO_ADMIN_EMAIL}`,
        'slug',
      );
    }
    const tenant = await createTenant(tem, DEMO_TENANT);
    const email = (given: string, family: string) =>
      `${given}.${family}@${DEMO_DOMAIN}`.toLowerCase().normalize('NFKD').replace(/[^\x00-\x7f]/g, '');

    const admin = await createMember(tem, tenant.id, { ...ADMIN, role: UserRole.ADMIN });
    const instructors: User[] = [];
    for (const i of INSTRUCTORS) {
      instructors.push(await createMember(tem, tenant.id, { ...i, email: email(i.givenName, i.familyName), role: UserRole.INSTRUCTOR }));
    }
    const students: User[] = [];
    for (const [n, [givenName, familyName]] of STUDENTS.entries()) {
      students.push(await createMember(tem, tenant.id, {
        givenName, familyName, email: email(givenName, familyName), role: UserRole.STUDENT,
        studentNumber: `DS-${String(24001 + n)}`,
      }));
    }

    let enrollments = 0;
    let grades = 0;
    const posts: Post[] = [];
    const comments: Comment[] = [];
    let reactions = 0;
    for (const [c, spec] of COURSES.entries()) {
      const course = await createCourseIn(tem, tenant.id, { code: spec.code, title: spec.title, description: spec.description });
      const teachers = spec.instructors.map((i) => instructors[i]);
      for (const t of teachers) {
        await enrollIn(tem, tenant.id, course.id, t.id, CourseRole.INSTRUCTOR);
        enrollments++;
      }
      // Every student takes two neighbouring courses: 15 students per course on average.
      const learners = students.filter((_, s) => s % COURSES.length === c || (s + 1) % COURSES.length === c);
      const seats: Enrollment[] = [];
      for (const s of learners) {
        seats.push(await enrollIn(tem, tenant.id, course.id, s.id, CourseRole.STUDENT));
        enrollments++;
      }
      // The first two courses have handed back a few final grades.
      if (c < 2) {
        for (const seat of seats.slice(0, 5)) {
          await tem.nativeUpdate(Enrollment, { id: seat.id }, {
            finalGrade: rand.pick(GRADES), gradedAt: new Date(now.getTime() - (2 + c) * 24 * HOUR),
          });
          grades++;
        }
      }

      const members = [...teachers, ...learners];
      const feed = spec.posts.map((body, p) => {
        // The first and last posts are the instructors'; students write the others.
        const author = p === 0 || p === spec.posts.length - 1 ? teachers[p % teachers.length] : rand.pick(learners);
        const createdAt = new Date(now.getTime() - (14 - p * 3) * 24 * HOUR + c * HOUR);
        return tem.create(Post, { id: randomUUID(), tenantId: tenant.id, courseId: course.id, authorId: author.id, body, createdAt });
      });
      posts.push(...feed);
      // Relations are plain ids, so the unit of work cannot order the inserts: posts go first.
      await tem.flush();
      for (const post of feed) {
        const others = members.filter((m) => m.id !== post.authorId);
        for (const [k, commenter] of rand.sample(others, rand.int(1, 3)).entries()) {
          comments.push(tem.create(Comment, {
            id: randomUUID(), tenantId: tenant.id, postId: post.id, authorId: commenter.id,
            body: rand.pick(COMMENTS), createdAt: new Date(post.createdAt.getTime() + (k + 1) * 37 * 60_000),
          }));
        }
        for (const reactor of rand.sample(others, rand.int(2, 6))) {
          tem.create(Reaction, {
            id: randomUUID(), tenantId: tenant.id, postId: post.id, userId: reactor.id, kind: rand.pick(REACTIONS),
            createdAt: new Date(post.createdAt.getTime() + rand.int(5, 600) * 60_000),
          });
          reactions++;
        }
      }
      await tem.flush();
    }

    const tokens: DemoToken[] = [];
    for (const user of [admin, instructors[0], students[0]]) {
      const { secret } = await issueUserToken(tem, user, { label: 'demo seed', ttlDays: opts.ttlDays ?? 30, now });
      tokens.push({ role: user.role, email: user.email, token: secret });
    }
    return {
      tenant,
      tokens,
      counts: {
        admins: 1, instructors: instructors.length, students: students.length, courses: COURSES.length,
        enrollments, grades, posts: posts.length, comments: comments.length, reactions,
      },
    };
  });
}
