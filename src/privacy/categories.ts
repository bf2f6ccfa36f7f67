/**
 * The data categories Custos holds, fideslang-style keys extended for education. A closed list: a field
 * can only be classified under a category named here, and each category says what it covers (the
 * records of processing and the right-of-access export are written from these).
 */
export const DATA_CATEGORIES = {
  'user.name': 'Names: given, family and display name',
  'user.contact.email': 'Email address',
  'user.unique_id.student_number': 'Student number issued by the institution',
  'user.content.self_image': 'Profile picture',
  'user.account': 'Account facts: role, status, where the record came from, when it was created or changed',
  'user.education.enrollment': 'Courses a person is enrolled in, and their role in each',
  'user.education.grade': 'Final grades',
  'user.content.private': 'Posts and comments a person wrote in courses',
  'user.behavior.reaction': 'Reactions to posts',
  'user.credential': 'Bearer tokens issued to a person and their use',
  'user.device.ip_address': 'IP address a request came from',
  'user.device.user_agent': 'Browser or client a request came from',
  'user.access_history': 'Records of who accessed a person\'s data, when and why',
  'user.data_request': 'Requests a person made about their own data (access, rectification, erasure, restriction) and how each was handled',
} as const;

export type DataCategory = keyof typeof DATA_CATEGORIES;

export const isDataCategory = (value: string): value is DataCategory => Object.hasOwn(DATA_CATEGORIES, value);
