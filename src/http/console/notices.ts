// What a page says after an action went well. An action redirects to its page with `?done=<key>`;
// only these texts can be shown, so no link can make a console page say something of its own.
const notices = {
  suspended: 'The company is suspended: its users cannot log in or call the API until it is reactivated.',
  reactivated: 'The company is active again.',
  archived: 'The company is archived: a verified backup was kept and its database dropped.',
  unarchived: 'The company is restored from its archive and active again.',
  migrated: 'Pending migrations were applied.',
  current: 'The company was already on the latest schema.',
  moved: 'The company was moved and is served from its new server.',
  'backup-started': 'A backup is running; the list below shows when it completes.',
  'restore-started': 'The restore has started; the audit log below shows its steps.',
  deleted: 'The company was deleted: its database and role are dropped; its backups are kept.',
  'server-added': 'The server is registered and its template prepared.',
  'server-changed': 'The server was changed.',
  'server-draining': 'The server is draining: new companies go elsewhere and its companies are being moved.',
  'server-removed': 'The server was removed.',
  'template-added': 'The template was added: every company sees it now.',
  'template-changed': 'The template was changed.',
  'template-deleted': 'The template was deleted.',
} as const;

export type NoticeKey = keyof typeof notices;

export function noticeFor(key: string | undefined): string | undefined {
  return key && Object.hasOwn(notices, key) ? notices[key as NoticeKey] : undefined;
}
