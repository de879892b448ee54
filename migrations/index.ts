import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261130000000InitialSchema } from './Migration20261130000000InitialSchema.js';
import { Migration20261202000000ForeignKeysWithoutUpdateCascade } from './Migration20261202000000ForeignKeysWithoutUpdateCascade.js';
import { Migration20261202010000ResultsRelease } from './Migration20261202010000ResultsRelease.js';
import { Migration20261202120000AuditRequestIds } from './Migration20261202120000AuditRequestIds.js';

/** Every migration, oldest first. Add new ones here after `npm run db:migration:create`. */
export const MIGRATIONS: MigrationObject[] = [
  { name: 'Migration20261130000000InitialSchema', class: Migration20261130000000InitialSchema },
  {
    name: 'Migration20261202000000ForeignKeysWithoutUpdateCascade',
    class: Migration20261202000000ForeignKeysWithoutUpdateCascade,
  },
  { name: 'Migration20261202010000ResultsRelease', class: Migration20261202010000ResultsRelease },
  { name: 'Migration20261202120000AuditRequestIds', class: Migration20261202120000AuditRequestIds },
];
